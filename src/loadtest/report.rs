//! The run's report: a table per endpoint, the JSON document of `--json`, the SVG of `--plot`.

use super::client::Recorded;
use super::verdict::Verdict;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointReport {
    pub count: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub errors: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct Invariants {
    pub ok: bool,
    pub violations: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub scenario: String,
    pub duration_seconds: f64,
    pub requests: u64,
    pub throughput_rps: f64,
    pub errors: BTreeMap<String, u64>,
    pub endpoints: BTreeMap<String, EndpointReport>,
    pub invariants: Invariants,
    pub ceiling_ratio: Option<f64>,
    /// An attack scenario's verdict.
    pub verdict: Option<Verdict>,
}

fn millis(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

impl Report {
    pub fn new(
        scenario: &str,
        seconds: f64,
        recorded: &Recorded,
        violations: Vec<String>,
        ceiling_rps: Option<f64>,
    ) -> Self {
        let endpoints: BTreeMap<String, EndpointReport> = recorded
            .endpoints
            .iter()
            .map(|(name, figures)| {
                let h = &figures.latency_micros;
                let report = EndpointReport {
                    count: h.len(),
                    rps: h.len() as f64 / seconds,
                    p50_ms: millis(h.value_at_quantile(0.5)),
                    p90_ms: millis(h.value_at_quantile(0.9)),
                    p99_ms: millis(h.value_at_quantile(0.99)),
                    p999_ms: millis(h.value_at_quantile(0.999)),
                    max_ms: millis(h.max()),
                    errors: figures.errors.clone(),
                };
                (name.to_string(), report)
            })
            .collect();
        let requests = endpoints.values().map(|e| e.count).sum::<u64>();
        let throughput_rps = requests as f64 / seconds;
        Self {
            scenario: scenario.to_string(),
            duration_seconds: seconds,
            requests,
            throughput_rps,
            errors: recorded.errors.clone(),
            endpoints,
            invariants: Invariants {
                ok: violations.is_empty(),
                violations,
            },
            ceiling_ratio: ceiling_rps.filter(|rps| *rps > 0.0).map(|rps| throughput_rps / rps),
            verdict: None,
        }
    }

    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<40} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8}  {}\n",
            "endpoint", "count", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "refusals"
        );
        for (name, e) in &self.endpoints {
            let refusals: Vec<String> = e.errors.iter().map(|(code, count)| format!("{code}={count}")).collect();
            out += &format!(
                "{name:<40} {:>9} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {}\n",
                e.count,
                e.rps,
                e.p50_ms,
                e.p90_ms,
                e.p99_ms,
                e.p999_ms,
                e.max_ms,
                refusals.join(" ")
            );
        }
        out += &format!(
            "\n{} requests in {:.1} s: {:.1} req/s",
            self.requests, self.duration_seconds, self.throughput_rps
        );
        if let Some(ratio) = self.ceiling_ratio {
            out += &format!(" ({ratio:.2} of the /healthz ceiling)");
        }
        out += "\nrefusals by code:";
        if self.errors.is_empty() {
            out += " none";
        }
        for (code, count) in &self.errors {
            out += &format!(" {code}={count}");
        }
        out += if self.invariants.ok {
            "\ninvariants: all hold\n"
        } else {
            "\ninvariants: VIOLATED\n"
        };
        for violation in &self.invariants.violations {
            out += &format!("  - {violation}\n");
        }
        out
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }
}

/// Throughput and p99 latency, second by second, as two stacked line charts.
pub fn write_plot(recorded: &Recorded, path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let throughput: Vec<(f64, f64)> = recorded
        .timeline
        .iter()
        .enumerate()
        .map(|(s, second)| (s as f64, second.requests as f64))
        .collect();
    let p99: Vec<(f64, f64)> = recorded
        .timeline
        .iter()
        .enumerate()
        .map(|(s, second)| (s as f64, millis(second.latency_micros.value_at_quantile(0.99))))
        .collect();
    let seconds = (throughput.len().max(2) - 1) as f64;
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (top, bottom) = root.split_vertically(300);
    for (area, series, caption, colour) in [
        (top, throughput, "requests per second", BLUE),
        (bottom, p99, "p99 latency (ms)", RED),
    ] {
        let peak = series.iter().map(|(_, y)| *y).fold(1.0, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(&area)
            .caption(caption, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..seconds, 0.0..peak)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(series, &colour))
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}
