//! The real `loadtest` binary: a short rush against an embedded server passes its checks, and
//! writes the JSON report and the plot it was asked for.

use serde_json::Value;
use std::process::Command;

#[test]
fn a_short_embedded_rush_passes_its_checks_and_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let plot = dir.path().join("plot.svg");
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args([
            "--embedded",
            "--users",
            "300",
            "--seats",
            "20",
            "--concurrency",
            "64",
            "--seed",
            "7",
        ])
        .args(["--fsync", "never", "--json"])
        .arg(&json)
        .arg("--plot")
        .arg(&plot)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("invariants: all hold"), "{stdout}");
    assert!(stdout.contains("POST /reservations"), "{stdout}");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["scenario"], "rush");
    assert_eq!(report["invariants"]["ok"], true);
    assert_eq!(report["ceilingRatio"], Value::Null);
    assert_eq!(
        report["errors"]["RATE_LIMITED"],
        Value::Null,
        "fans a few to an address stay within a default server's per-client budget"
    );
    let payments = &report["endpoints"]["POST /payments"];
    let paid = payments["count"].as_u64().unwrap();
    assert!(paid > 0 && paid <= 40, "at most the 40 seats are paid for: {paid}");
    assert!(payments["p99Ms"].as_f64().unwrap() >= payments["p50Ms"].as_f64().unwrap());
    let refused_holds = report["endpoints"]["POST /reservations"]["errors"]["SEAT_UNAVAILABLE"].as_u64();
    assert_eq!(
        refused_holds,
        report["errors"]["SEAT_UNAVAILABLE"].as_u64(),
        "only holds are refused a seat"
    );
    assert_eq!(
        report["endpoints"]["POST /users"]["count"], 300,
        "the checks after the run are not counted"
    );
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));
}

#[test]
fn the_ceiling_scenario_measures_healthz_alone() {
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args([
            "--embedded",
            "--scenario",
            "ceiling",
            "--duration",
            "1s",
            "--concurrency",
            "16",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("GET /healthz"), "{stdout}");
    assert!(!stdout.contains("POST /users"), "{stdout}");
}

#[test]
fn a_run_without_a_server_to_drive_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest")).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["--embedded", "--abandon-ratio", "1.5"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("between 0 and 1"));
}
