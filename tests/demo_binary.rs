//! The real `demo` binary: what it seeds into an empty data dir, what it prints, and that a
//! restart on the same dir seeds nothing twice and prints the same fans.

mod common;

use common::client::Client;
use common::process::{Binary, Log};
use reqwest::Method;
use std::path::Path;

const ADMIN_KEY: &str = "demo-test-admin-key";

/// The demo's welcome, once it has printed it whole.
struct Welcome {
    api: Client,
    fan_links: Vec<String>,
}

/// Runs the demo on `data_dir` with `flags` until its welcome is printed, then `check` against
/// it, then a SIGTERM, which must stop it cleanly; gives back what `check` did.
async fn with_demo<F, Fut, T>(data_dir: &Path, flags: &[&str], check: F) -> T
where
    F: FnOnce(Welcome) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut demo = Binary::demo(data_dir)
        .admin_key(ADMIN_KEY)
        .args(flags)
        .log(Log::Inherit)
        .start();
    let lines = demo
        .process
        .lines_before(|line| line.trim_start().starts_with("data dir"));
    let base = demo.api.base();
    let fan_links = lines
        .iter()
        .filter_map(|line| line.split_whitespace().find(|word| word.contains("/?as=")))
        .map(str::to_string)
        .collect();
    assert!(
        lines
            .iter()
            .any(|line| line.contains(&format!("{base}/admin")) && line.contains(ADMIN_KEY)),
        "the operator page and its key are printed: {lines:?}"
    );
    let api = demo.api.clone();
    let checked = check(Welcome { api, fan_links }).await;
    assert!(demo.process.terminate().success());
    checked
}

#[tokio::test]
async fn an_empty_data_dir_gets_a_catalog_and_fans_with_money_once() {
    let data_dir = tempfile::tempdir().unwrap();
    let first_links = with_demo(data_dir.path(), &[], |welcome| async move {
        let figures = welcome.api.get_plain("/api/v1/admin/concerts").await;
        let concerts = figures.as_array().unwrap();
        assert_eq!(concerts.len(), 3);
        for concert in concerts {
            let dates = concert["dates"].as_array().unwrap();
            assert_eq!(dates.len(), 3, "{concert}");
            assert!(dates.iter().all(|date| date["totalSeats"] == 50), "{concert}");
        }
        let stats = welcome.api.get_plain("/api/v1/admin/stats").await;
        assert_eq!(stats["users"], 5);
        assert_eq!(stats["balancesTotal"], 5 * 500_000);
        assert_eq!(stats["chargedTotal"], 5 * 500_000);
        let queue = welcome.api.get_plain("/api/v1/admin/queue").await;
        assert_eq!(
            queue["waiting"].as_u64().unwrap() + queue["active"].as_u64().unwrap(),
            0
        );
        assert_eq!(welcome.fan_links.len(), 5);
        for link in &welcome.fan_links {
            let user_id = link.rsplit('=').next().unwrap();
            let user = welcome.api.get_plain(&format!("/api/v1/users/{user_id}")).await;
            assert!(!user["name"].as_str().unwrap().is_empty());
        }
        welcome.fan_links
    })
    .await;

    with_demo(data_dir.path(), &[], |welcome| async move {
        let concerts = welcome.api.get_plain("/api/v1/concerts").await;
        assert_eq!(concerts.as_array().unwrap().len(), 3, "nothing is seeded twice");
        let stats = welcome.api.get_plain("/api/v1/admin/stats").await;
        assert_eq!(stats["users"], 5);
        let paths = |links: &[String]| -> Vec<String> {
            links
                .iter()
                .map(|link| link.split_once("/?").unwrap().1.to_string())
                .collect()
        };
        assert_eq!(
            paths(&welcome.fan_links),
            paths(&first_links),
            "the same fans, printed again"
        );
    })
    .await;
}

#[tokio::test]
async fn with_proof_of_work_on_the_demo_seeds_its_fans_and_its_crowd_solves_its_way_in() {
    let data_dir = tempfile::tempdir().unwrap();
    // The crowd thinks a second between steps, so none of it has charged by the first look.
    let flags = ["--pow-difficulty", "20000", "--crowd", "3", "--think-time", "1s"];
    with_demo(data_dir.path(), &flags, |welcome| async move {
        let stats = welcome.api.get_plain("/api/v1/admin/stats").await;
        assert_eq!(
            stats["balancesTotal"],
            5 * 500_000,
            "every demo fan was given a token to charge"
        );
        let user_id = welcome.fan_links[0].rsplit('=').next().unwrap();
        let body = serde_json::json!({ "userId": user_id });
        let path = "/api/v1/queue/tokens";
        let (unsolved, _) = welcome.api.send(Method::POST, path, None, Some(&body)).await.unwrap();
        assert_eq!(unsolved, 403);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let queue = welcome.api.get_plain("/api/v1/admin/queue").await;
            if queue["admittedTotal"].as_u64().unwrap() > 5 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the crowd took no token: {queue}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
    .await;
}
