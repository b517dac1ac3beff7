//! The load harness behind the `loadtest` binary: fan journeys against a server (or one started
//! in-process on a temporary data dir), a report per endpoint, and the invariants checked after
//! every run.
//!
//! The attack scenarios (`hoard`, `flood`, `slow`, and a crowd `--with-flood`), the `watchers`,
//! `onsale` and `waitlist` scenarios end in a verdict, PASS or FAIL with the figures it was
//! decided on.
//!
//! - [`options`]: the flags; [`settings`]: the flags as the report gives them.
//! - [`client`]: the timed, recording HTTP client; [`sources`]: the addresses clients send from.
//! - [`journey`]: one fan's journey, shared with the demo's simulated crowd; [`crowd`]: many;
//!   [`journeys`]: the crowd's own figures.
//! - [`mod@line`]: joining and leaving the line, for the attack scenarios.
//! - [`proof_of_work`]: solving the server's challenge before a token, when it asks for one.
//! - [`hoard`], [`flood`], [`slow`], [`under_flood`]: the attacks and their verdicts
//!   ([`verdict`]); [`raw`]: connections no client library would make.
//! - [`watchers`]: thousands of open event streams, each a [`watcher`] reading its [`sse`]
//!   events; the [`reads`] measured beside them, the [`admissions`] they must hear of at once, and
//!   the descriptors and memory they take ([`resources`]).
//! - [`verify`]: the checks after a run; [`report`]: the table, the JSON and the plot, whose
//!   points come from the [`timeline`], and whose refusals are told from errors by [`refusals`].
//! - [`onsale`]: a concert's own sale, its draw and its outflow; [`waitlist`]: a sold-out date's
//!   waiting list served as tickets are cancelled, judged by [`waitlist_verdict`].
//! - [`embedded`]: the server `--embedded` starts.

pub mod admissions;
pub mod client;
pub mod crowd;
pub mod embedded;
pub mod flood;
pub mod hoard;
pub mod journey;
pub mod journeys;
pub mod line;
pub mod onsale;
pub mod options;
pub mod proof_of_work;
pub mod raw;
pub mod reads;
pub mod refusals;
pub mod report;
pub mod resources;
pub mod settings;
pub mod slow;
pub mod sources;
pub mod sse;
pub mod timeline;
pub mod under_flood;
pub mod verdict;
pub mod verify;
pub mod waitlist;
pub mod waitlist_verdict;
pub mod watcher;
pub mod watchers;

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
use under_flood::Flooding;

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

/// Runs the scenario, prints the report (and an attack's verdict); true when every invariant held
/// and the verdict, if any, is PASS.
pub async fn run(options: Options) -> Result<bool, String> {
    check_combination(&options)?;
    let (base, admin_key, _embedded) = match &options.url {
        Some(url) => (url.clone(), options.admin_key.clone(), None),
        None => {
            let server = EmbeddedServer::start(&options)?;
            (server.base.clone(), Some(server.admin_key.clone()), Some(server))
        }
    };
    let recorder = Arc::new(Recorder::new());
    let first = base.split(',').next().unwrap_or_default();
    let target = Target::resolve(first).await?;
    let sources = Sources::for_target(target.address, options.source_net);
    if needs_distinct_sources(&options) && !sources.distinct() {
        return Err(format!(
            "{} needs clients on addresses of their own: drive a server on loopback, or give --source-net",
            options.scenario_name()
        ));
    }
    let harness = Harness {
        api: Api::new(&base, admin_key, recorder.clone()),
        sources,
        target,
        options,
    };
    match harness.options.scenario {
        Scenario::Hoard
        | Scenario::Flood
        | Scenario::Slow
        | Scenario::Watchers
        | Scenario::Onsale
        | Scenario::Waitlist => attack(&harness, &recorder).await,
        Scenario::Rush | Scenario::Steady | Scenario::Ceiling => load(&harness, &recorder).await,
    }
}

/// What every scenario works with: the harness's own client (with the admin key), the addresses
/// its other clients send from, the server's address for raw connections, and the flags.
pub struct Harness {
    pub api: Api,
    pub sources: Sources,
    pub target: Target,
    pub options: Options,
}

fn check_combination(options: &Options) -> Result<(), String> {
    if options.with_flood && !matches!(options.scenario, Scenario::Rush | Scenario::Steady) {
        return Err("--with-flood goes with the rush or steady scenario only".into());
    }
    if options.scenario == Scenario::Watchers {
        // Before the embedded server starts: both sides' sockets count.
        watchers::check_descriptors(options)?;
    }
    if options.scenario == Scenario::Waitlist {
        waitlist::check(options)?;
    }
    options.check_crowd_size()
}

/// A flood told apart from the fans, or slow connections and streams spread over several
/// clients, need addresses of their own.
fn needs_distinct_sources(options: &Options) -> bool {
    options.with_flood || matches!(options.scenario, Scenario::Flood | Scenario::Slow | Scenario::Watchers)
}

/// A rush, steady or ceiling run, with a flood alongside if asked: the report, the invariants,
/// and the flood's verdict.
async fn load(harness: &Harness, recorder: &Recorder) -> Result<bool, String> {
    let (api, options) = (&harness.api, &harness.options);
    let ceiling_rps = match options.with_ceiling && options.scenario != Scenario::Ceiling {
        true => Some(ceiling(api, options.concurrency, options.duration.min(Duration::from_secs(5))).await),
        false => None,
    };
    let crowd = Crowd::new(api, &harness.sources, options.crowd_size());
    match options.scenario {
        Scenario::Ceiling => warm_up(api, options.concurrency).await,
        _ => crowd.warm_up(options.concurrency).await,
    }
    recorder.take();
    let started = Instant::now();
    let (fans, venue, flooded) = match options.scenario {
        Scenario::Ceiling => {
            ceiling(api, options.concurrency, options.duration).await;
            (Vec::new(), None, None)
        }
        _ => {
            let venue = create_venue(api, options).await?;
            let flooding = match options.with_flood {
                true => Some(Flooding::start(harness).await?),
                false => None,
            };
            let fans = crowd.run(&venue, options).await;
            let flooded = match flooding {
                Some(flooding) => Some(flooding.stop().await),
                None => None,
            };
            (fans, Some(venue), flooded)
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let recorded = recorder.take();
    if let Some(flooded) = &flooded {
        // Before the checks, whose own fan must get into the room.
        flooded.leave().await;
    }
    let violations = match &venue {
        Some(venue) => verify::violations(api, venue, &fans, &recorded).await,
        None if recorded.server_errors > 0 => vec![format!("{} answers were 5xx", recorded.server_errors)],
        None => Vec::new(),
    };
    let verdict = flooded.map(|flooded| {
        let figures = under_flood::CrowdFigures {
            fans: &fans,
            tally: &flooded.tally,
            bound: flooded.bound(options.client_rate_limit),
            waiting_before: flooded.waiting_before,
            violations: violations.len(),
        };
        under_flood::verdict(&options.scenario_name(), &figures)
    });
    let mut report = report::Report::new(options, seconds, &recorded, violations, ceiling_rps);
    report.journeys = venue.is_some().then(|| journeys::JourneyFigures::of(&fans));
    report.verdict = verdict;
    println!("{}", journeys_line(&fans));
    finish(report, &recorded, options)
}

/// An attack scenario: its verdict, with the report of every call it made.
async fn attack(harness: &Harness, recorder: &Recorder) -> Result<bool, String> {
    let options = &harness.options;
    recorder.take();
    let started = Instant::now();
    let verdict = match options.scenario {
        Scenario::Hoard => {
            let venue = create_venue(&harness.api, options).await?;
            hoard::run(harness, &venue).await?
        }
        Scenario::Flood => flood::run(harness).await?,
        Scenario::Watchers => {
            let venue = create_venue(&harness.api, options).await?;
            watchers::run(harness, &venue).await?
        }
        Scenario::Onsale => {
            let venue = create_venue(&harness.api, options).await?;
            onsale::run(harness, &venue).await?
        }
        Scenario::Waitlist => waitlist::run(harness).await?,
        _ => slow::run(harness).await?,
    };
    let seconds = started.elapsed().as_secs_f64();
    let recorded = recorder.take();
    let violations = match recorded.server_errors {
        0 => Vec::new(),
        errors => vec![format!("{errors} answers were 5xx")],
    };
    let mut report = report::Report::new(options, seconds, &recorded, violations, None);
    report.verdict = Some(verdict);
    finish(report, &recorded, options)
}

/// Prints the table and the verdict, writes the JSON and the plot if asked; true when the run
/// passed.
fn finish(report: report::Report, recorded: &client::Recorded, options: &Options) -> Result<bool, String> {
    println!("{}", report.table());
    if let Some(verdict) = &report.verdict {
        print!("{}", verdict.lines());
    }
    if let Some(path) = &options.json {
        report
            .write_json(path)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    if let Some(path) = &options.plot {
        report::write_plot(recorded, &report.settings.line(), path)?;
    }
    Ok(report.invariants.ok && report.verdict.as_ref().is_none_or(|verdict| verdict.pass))
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
    create_concert(api, first, options.dates, options.seats).await
}

/// A concert of `dates` days in a row from `first`, of `seats` seats each at the harness's price.
async fn create_concert(api: &Api, first: chrono::NaiveDate, dates: u32, seats: u32) -> Result<Venue, String> {
    let dates: Vec<String> = (0..dates)
        .map(|day| (first + chrono::Duration::days(i64::from(day))).to_string())
        .collect();
    let price = 50_000;
    let body = json!({
        "title": "Load test live",
        "dates": dates.iter().map(|date| json!({ "date": date, "seatCount": seats, "price": price })).collect::<Vec<_>>(),
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
        seats,
        price,
    })
}
