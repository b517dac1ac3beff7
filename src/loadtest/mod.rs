//! The load harness behind the `loadtest` binary: fan journeys against a server (or one started
//! in-process on a temporary data dir), a report per endpoint, and the invariants checked after
//! every run.
//!
//! - [`client`]: the timed, recording HTTP client.
//! - [`journey`]: one fan's journey, shared with the demo's simulated crowd.
//! - [`proof_of_work`]: solving the server's challenge before a token, when it asks for one.
//! - [`verify`]: the checks after a run.
//! - [`report`]: the table, the JSON and the plot.

pub mod client;
pub mod journey;
pub mod proof_of_work;
pub mod report;
pub mod verify;

use crate::config::{Config, FsyncPolicy};
use crate::startup::Application;
use clap::{Parser, ValueEnum};
use client::{Api, Recorder};
use journey::{Behaviour, FanRecord, Outcome, Venue};
use rand::rngs::StdRng;
use rand::SeedableRng;
use reqwest::Method;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// `--users` fans arrive at once (or at `--arrival-rate`) for a few seats.
    Rush,
    /// Fans arrive at `--arrival-rate` a second for `--duration`.
    Steady,
    /// `/healthz` as fast as it answers: the framework's ceiling on this machine.
    Ceiling,
}

/// The harness's options.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "loadtest",
    version,
    about = "Drives fan journeys against the concert server and checks its invariants"
)]
pub struct Options {
    /// The server to drive, e.g. http://127.0.0.1:8080.
    #[arg(long, required_unless_present = "embedded", conflicts_with = "embedded")]
    pub url: Option<String>,
    /// Start a server in this process, on a temporary data dir.
    #[arg(long)]
    pub embedded: bool,
    /// The server's admin key (to create the concert and read the totals); `--embedded` makes its own.
    #[arg(long, env = "CONCERT_ADMIN_KEY")]
    pub admin_key: Option<String>,
    #[arg(long, value_enum, default_value_t = Scenario::Rush)]
    pub scenario: Scenario,
    /// Fans in a rush; the most fans a steady run starts.
    #[arg(long, default_value_t = 1_000)]
    pub users: u64,
    /// Fans (or, for `ceiling`, requests) in flight at once, in the closed model.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// How long a steady or ceiling run lasts.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Fans arriving a second, on schedule whatever the answers' speed (open model). Without it
    /// a rush runs `--concurrency` fans at a time (closed model).
    #[arg(long)]
    pub arrival_rate: Option<f64>,
    /// Dates of the concert the fans go for.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub dates: u32,
    /// Seats on each date.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub seats: u32,
    /// Share of fans who give their seat back instead of paying (0 to 1).
    #[arg(long, default_value_t = 0.2, value_parser = share)]
    pub abandon_ratio: f64,
    /// Share of hold attempts aimed at the five popular seats (0 to 1).
    #[arg(long, default_value_t = 0.5, value_parser = share)]
    pub popular_share: f64,
    /// Makes the fans' choices repeatable.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Measure the `/healthz` ceiling first and report throughput as a ratio to it.
    #[arg(long)]
    pub with_ceiling: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw throughput and p99 latency over time as SVG here.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// `--embedded`: tokens ACTIVE at once.
    #[arg(long, default_value_t = 100)]
    pub active_max: u32,
    /// `--embedded`: whether writes wait for the disk.
    #[arg(long, value_enum, default_value_t = FsyncPolicy::Always)]
    pub fsync: FsyncPolicy,
    /// How often a waiting fan asks for its status.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
}

fn share(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("{text} is not a number"))?;
    (0.0..=1.0)
        .contains(&value)
        .then_some(value)
        .ok_or_else(|| "a share is between 0 and 1".into())
}

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
    let api = Api::new(&base, admin_key, recorder.clone());
    let ceiling_rps = match options.with_ceiling && options.scenario != Scenario::Ceiling {
        true => Some(ceiling(&api, options.concurrency, options.duration.min(Duration::from_secs(5))).await),
        false => None,
    };
    warm_up(&api, options.concurrency).await;
    recorder.take();
    let started = Instant::now();
    let (fans, venue) = match options.scenario {
        Scenario::Ceiling => {
            ceiling(&api, options.concurrency, options.duration).await;
            (Vec::new(), None)
        }
        _ => {
            let venue = create_venue(&api, &options).await?;
            (crowd(&api, &venue, &options).await, Some(venue))
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let recorded = recorder.take();
    let violations = match &venue {
        Some(venue) => verify::violations(&api, venue, &fans, &recorded).await,
        None if recorded.server_errors > 0 => vec![format!("{} answers were 5xx", recorded.server_errors)],
        None => Vec::new(),
    };
    let scenario = format!("{:?}", options.scenario).to_lowercase();
    let report = report::Report::new(&scenario, seconds, &recorded, violations, ceiling_rps);
    println!("{}", journeys_line(&fans));
    println!("{}", report.table());
    if let Some(path) = &options.json {
        report
            .write_json(path)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    if let Some(path) = &options.plot {
        report::write_plot(&recorded, path)?;
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

/// Opens the client's connections before the clock starts, as a crowd of fans would each have
/// theirs: what is measured is the server's answers, not the harness's TCP handshakes.
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

/// Runs every fan's journey: `--concurrency` at a time, or arriving on schedule.
async fn crowd(api: &Api, venue: &Venue, options: &Options) -> Vec<FanRecord> {
    let behaviour = Behaviour {
        abandon_ratio: options.abandon_ratio,
        popular_share: options.popular_share,
        popular_seats: 5,
        hold_attempts: 3,
        poll_interval: options.poll_interval,
        think_time: Duration::ZERO,
        seats_left_min: 0,
    };
    let rate = match options.scenario {
        Scenario::Steady => Some(options.arrival_rate.unwrap_or(50.0)),
        _ => options.arrival_rate,
    };
    let deadline = (options.scenario == Scenario::Steady).then(|| Instant::now() + options.duration);
    let progress = indicatif::ProgressBar::new(options.users);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} fans done {msg}")
            .expect("a valid template"),
    );
    let slots = Arc::new(tokio::sync::Semaphore::new(if rate.is_some() {
        usize::MAX >> 4
    } else {
        options.concurrency.max(1)
    }));
    let started = Instant::now();
    let mut journeys = Vec::new();
    for fan in 0..options.users {
        if let Some(rate) = rate {
            let due = started + Duration::from_secs_f64(fan as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        let permit = slots.clone().acquire_owned().await.expect("the semaphore stays open");
        let (api, venue, behaviour, progress) = (api.clone(), venue.clone(), behaviour.clone(), progress.clone());
        let seed = options.seed.wrapping_mul(1_000_003).wrapping_add(fan);
        journeys.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let record = journey::run(&api, &venue, &behaviour, &mut rng, format!("fan {fan}")).await;
            progress.inc(1);
            drop(permit);
            record
        }));
    }
    let mut fans = Vec::new();
    for journey in journeys {
        if let Ok(record) = journey.await {
            fans.push(record);
        }
    }
    progress.finish_and_clear();
    fans
}

/// A server started in this process on a temporary data dir, for `--embedded`.
struct EmbeddedServer {
    base: String,
    admin_key: String,
    _data_dir: tempfile::TempDir,
}

impl EmbeddedServer {
    fn start(options: &Options) -> Result<Self, String> {
        let data_dir = tempfile::tempdir().map_err(|e| format!("a temporary data dir: {e}"))?;
        let admin_key = uuid::Uuid::new_v4().to_string();
        let mut config = Config::defaults();
        config.addr = "127.0.0.1:0".parse().expect("an address");
        config.data_dir = data_dir.path().to_path_buf();
        config.admin_key = Some(admin_key.clone());
        // Every simulated fan is on this one address.
        config.user_rate_limit = 0;
        config.client_rate_limit = 0;
        config.active_max = options.active_max;
        config.fsync = options.fsync;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                match Application::build(config) {
                    Ok(application) => {
                        let _ = sender.send(Ok(application.port()));
                        let _ = application.run_until_stopped().await;
                    }
                    Err(error) => {
                        let _ = sender.send(Err(error.to_string()));
                    }
                }
            })
        });
        let port = receiver.recv().map_err(|e| e.to_string())??;
        Ok(Self {
            base: format!("http://127.0.0.1:{port}"),
            admin_key,
            _data_dir: data_dir,
        })
    }
}
