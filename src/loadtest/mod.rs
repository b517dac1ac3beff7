//! The load harness behind the `loadtest` binary: fan journeys against a server (or one started
//! in-process on a temporary data dir), a report per endpoint, and the invariants checked after
//! every run.
//!
//! - [`options`]: the flags.
//! - [`client`]: the timed, recording HTTP client; [`sources`]: the addresses clients send from.
//! - [`journey`]: one fan's journey, shared with the demo's simulated crowd; [`crowd`]: many.
//! - [`raw`]: the server's address for connections of the harness's own.
//! - [`verify`]: the checks after a run; [`report`]: the table, the JSON and the plot.
//! - [`embedded`]: the server `--embedded` starts.

pub mod client;
pub mod crowd;
pub mod embedded;
pub mod journey;
pub mod options;
pub mod raw;
pub mod report;
pub mod sources;
pub mod verify;

pub use options::{Options, Scenario};

use clap::Parser;
use client::{Api, Recorder};
use crowd::Crowd;
use embedded::EmbeddedServer;
use journey::{FanRecord, Outcome, Venue};
use raw::Target;
use reqwest::Method;
use serde_json::json;
use sources::Sources;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `loadtest` binary.
pub fn main() -> ExitCode {
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    match runtime.block_on(run(options)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(problem) => {
            eprintln!("error: {problem}");
            ExitCode::from(2)
        }
    }
}

/// Runs the scenario, prints the report; true when every invariant held.
pub async fn run(options: Options) -> Result<bool, String> {
    let (base, admin_key, _embedded) = match &options.url {
        Some(url) => (url.clone(), options.admin_key.clone(), None),
        None => {
            let server = EmbeddedServer::start(&options)?;
            (server.base.clone(), Some(server.admin_key.clone()), Some(server))
        }
    };
    let recorder = Arc::new(Recorder::new());
    let target = Target::resolve(&base).await?;
    let sources = Sources::for_target(target.address, options.source_net);
    let harness = Harness {
        api: Api::new(&base, admin_key, recorder.clone()),
        sources,
        target,
        options,
    };
    load(&harness, &recorder).await
}

/// What every scenario works with: the harness's own client (with the admin key), the addresses
/// its other clients send from, the server's address for raw connections, and the flags.
pub struct Harness {
    pub api: Api,
    pub sources: Sources,
    pub target: Target,
    pub options: Options,
}

/// A rush, steady or ceiling run: the report and the invariants.
async fn load(harness: &Harness, recorder: &Recorder) -> Result<bool, String> {
    let (api, options) = (&harness.api, &harness.options);
    let ceiling_rps = match options.with_ceiling && options.scenario != Scenario::Ceiling {
        true => Some(ceiling(api, options.concurrency, options.duration.min(Duration::from_secs(5))).await),
        false => None,
    };
    let crowd = Crowd::new(api, &harness.sources, options.users);
    match options.scenario {
        Scenario::Ceiling => warm_up(api, options.concurrency).await,
        _ => crowd.warm_up(options.concurrency).await,
    }
    recorder.take();
    let started = Instant::now();
    let (fans, venue) = match options.scenario {
        Scenario::Ceiling => {
            ceiling(api, options.concurrency, options.duration).await;
            (Vec::new(), None)
        }
        _ => {
            let venue = create_venue(api, options).await?;
            (crowd.run(&venue, options).await, Some(venue))
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let recorded = recorder.take();
    let violations = match &venue {
        Some(venue) => verify::violations(api, venue, &fans, &recorded).await,
        None if recorded.server_errors > 0 => vec![format!("{} answers were 5xx", recorded.server_errors)],
        None => Vec::new(),
    };
    let scenario = format!("{:?}", options.scenario).to_lowercase();
    let report = report::Report::new(&scenario, seconds, &recorded, violations, ceiling_rps);
    println!("{}", journeys_line(&fans));
    finish(report, &recorded, options)
}

/// Prints the table, writes the JSON and the plot if asked; true when every invariant held.
fn finish(report: report::Report, recorded: &client::Recorded, options: &Options) -> Result<bool, String> {
    println!("{}", report.table());
    if let Some(path) = &options.json {
        report
            .write_json(path)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    if let Some(path) = &options.plot {
        report::write_plot(recorded, path)?;
    }
    Ok(report.invariants.ok)
}

fn journeys_line(fans: &[FanRecord]) -> String {
    let count = |wanted: fn(&Outcome) -> bool| fans.iter().filter(|fan| wanted(&fan.outcome)).count();
    let failed: Vec<&str> = fans
        .iter()
        .filter_map(|fan| match &fan.outcome {
            Outcome::Failed(why) => Some(why.as_str()),
            _ => None,
        })
        .take(3)
        .collect();
    format!(
        "journeys: {} fans, {} paid, {} gave their seat back, {} found no seat, {} failed{}",
        fans.len(),
        count(|o| matches!(o, Outcome::Paid { .. })),
        count(|o| matches!(o, Outcome::Abandoned)),
        count(|o| matches!(o, Outcome::NoSeat)),
        count(|o| matches!(o, Outcome::Failed(_))),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" (e.g. {})", failed.join("; "))
        }
    )
}

/// Opens the client's connections before the clock starts: what is measured is the server's
/// answers, not the harness's TCP handshakes.
async fn warm_up(api: &Api, concurrency: usize) {
    let calls = (0..concurrency.max(1)).map(|_| api.call("GET /healthz", Method::GET, "/healthz", None, None));
    futures_util::future::join_all(calls).await;
}

/// Requests a second `/healthz` answers with `concurrency` in flight for `duration`.
async fn ceiling(api: &Api, concurrency: usize, duration: Duration) -> f64 {
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move {
                let mut answered = 0u64;
                while started.elapsed() < duration {
                    if api
                        .call("GET /healthz", Method::GET, "/healthz", None, None)
                        .await
                        .is_ok()
                    {
                        answered += 1;
                    }
                }
                answered
            })
        })
        .collect();
    let mut answered = 0;
    for worker in workers {
        answered += worker.await.unwrap_or(0);
    }
    answered as f64 / started.elapsed().as_secs_f64()
}

async fn create_venue(api: &Api, options: &Options) -> Result<Venue, String> {
    let first = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).expect("a date");
    let dates: Vec<String> = (0..options.dates)
        .map(|day| (first + chrono::Duration::days(i64::from(day))).to_string())
        .collect();
    let price = 50_000;
    let body = json!({
        "title": "Load test live",
        "dates": dates.iter().map(|date| json!({ "date": date, "seatCount": options.seats, "price": price })).collect::<Vec<_>>(),
    });
    let created = api
        .call(
            "POST /admin/concerts",
            Method::POST,
            "/api/v1/admin/concerts",
            None,
            Some(&body),
        )
        .await
        .map_err(|e| format!("the server is unreachable: {}", e.0))?;
    let concert_id = created.body["concertId"].as_str().ok_or_else(|| {
        format!(
            "creating the concert answered {} {} (is --admin-key right?)",
            created.status, created.body
        )
    })?;
    Ok(Venue {
        concert_id: concert_id.to_string(),
        dates,
        seats: options.seats,
        price,
    })
}
