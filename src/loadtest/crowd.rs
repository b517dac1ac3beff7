//! The crowd of a rush or a steady run: fans `--concurrency` at a time or arriving on schedule,
//! a few to each source address, as fans behind their own connections would be.

use super::client::Api;
use super::journey::{self, Behaviour, FanRecord, Venue};
use super::options::{Options, Scenario};
use super::sources::Sources;
use rand::rngs::StdRng;
use rand::SeedableRng;
use reqwest::Method;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fans who share a source address: their registrations and tokens (two requests each) stay
/// well within a default per-client burst of 40.
const FANS_PER_ADDRESS: u64 = 8;

/// Source addresses a crowd uses at most; past that, fans share them in turn.
const ADDRESSES_MAX: u64 = 4_096;

/// How long a fan waits in line before leaving: a run must end by itself even when the line
/// does not move.
const WAIT_PATIENCE: Duration = Duration::from_secs(120);

/// The clients of a crowd, one per source address and node.
pub struct Crowd {
    /// By source address, then by node.
    apis: Vec<Vec<Api>>,
}

impl Crowd {
    /// Clients enough for `fans`, each from an address of its own when there are any.
    pub fn new(api: &Api, sources: &Sources, fans: u64) -> Self {
        let count = match sources.distinct() {
            true => fans.div_ceil(FANS_PER_ADDRESS).clamp(1, ADDRESSES_MAX),
            false => 1,
        };
        let on_every_node = |source: Api| (0..api.nodes()).map(|node| source.on_node(node)).collect();
        Self {
            apis: (0..count)
                .map(|_| on_every_node(api.bound_to(sources.take())))
                .collect(),
        }
    }

    /// The fan's client: its source address, and the node it is spread to. Fans take the
    /// addresses in turn, so that each address's few fans come one after another and reuse its
    /// connection: given to consecutive fans, every address's connections sat idle to the end of
    /// the run once its fans were done, and a rush of ten thousand held ten thousand of them (and
    /// an embedded server the other ends), past the process's descriptors.
    pub fn api_of(&self, fan: u64) -> &Api {
        let source = &self.apis[(fan % self.apis.len() as u64) as usize];
        &source[(fan % source.len() as u64) as usize]
    }

    /// Opens the connections of the first `concurrency` fans before the clock starts, as a crowd
    /// of fans would each have theirs: what is measured is the server's answers, not the
    /// harness's TCP handshakes.
    pub async fn warm_up(&self, concurrency: usize) {
        let calls = (0..concurrency.max(1) as u64).map(|fan| {
            self.api_of(fan)
                .call("GET /healthz", Method::GET, "/healthz", None, None)
        });
        futures_util::future::join_all(calls).await;
    }

    /// Runs every fan's journey: `--concurrency` at a time, or arriving on schedule.
    pub async fn run(&self, venue: &Venue, options: &Options) -> Vec<FanRecord> {
        let behaviour = behaviour(options);
        let rate = options.arrival_rate();
        let progress = progress_bar(options.crowd_size());
        let slots = Arc::new(tokio::sync::Semaphore::new(if rate.is_some() {
            usize::MAX >> 4
        } else {
            options.concurrency.max(1)
        }));
        let started = Instant::now();
        let deadline = (options.scenario == Scenario::Steady).then(|| started + options.duration);
        let mut journeys = Vec::new();
        for fan in 0..options.crowd_size() {
            let due = rate.map(|rate| started + Duration::from_secs_f64(fan as f64 / rate));
            // A steady run's fans are the ones due before its end, however late the harness wakes
            // for them: the count follows the schedule, not the machine's load.
            if deadline.zip(due).is_some_and(|(deadline, due)| due >= deadline) {
                break;
            }
            if let Some(due) = due {
                tokio::time::sleep_until(due.into()).await;
            }
            let permit = slots.clone().acquire_owned().await.expect("the semaphore stays open");
            let (api, venue, behaviour, progress) = (
                self.api_of(fan).clone(),
                venue.clone(),
                behaviour.clone(),
                progress.clone(),
            );
            let seed = options.seed.wrapping_mul(1_000_003).wrapping_add(fan);
            journeys.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed);
                let patience = Some(Instant::now() + WAIT_PATIENCE);
                let name = format!("fan {fan}");
                let record = journey::run_within(&api, &venue, &behaviour, &mut rng, name, patience).await;
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
}

fn behaviour(options: &Options) -> Behaviour {
    Behaviour {
        abandon_ratio: options.abandon_ratio,
        popular_share: options.popular_share,
        popular_seats: 5,
        hold_attempts: 3,
        poll_interval: options.poll_interval,
        think_time: Duration::ZERO,
        seats_left_min: 0,
        order_sizes: options.seats_per_order.clone(),
    }
}

fn progress_bar(fans: u64) -> indicatif::ProgressBar {
    let progress = indicatif::ProgressBar::new(fans);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} fans done {msg}")
            .expect("a valid template"),
    );
    progress
}
