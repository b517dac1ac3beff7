//! The reads whose throughput the `watchers` scenario compares with and without its streams open:
//! a WAITING token's status and a date's seat map read with an ACTIVE token, `--concurrency` in
//! flight for a span each, the tokens taken in turn.

use super::client::Api;
use super::sources::Sources;
use reqwest::Method;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Readers that share a source address: well within the server's per-client connections (256).
const READERS_PER_ADDRESS: usize = 32;

/// How long the readers run before the first span, unmeasured: connections opened and the
/// server's caches warm, so that the first span is not the slower for being first.
const WARM_UP: Duration = Duration::from_secs(1);

const STATUS_PATH: &str = "/api/v1/queue/tokens/me";

/// Whether the streams were open while the reads were measured: before they opened, while they
/// are, or after they closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Before,
    WithStreams,
    After,
}

impl Phase {
    fn status_endpoint(self) -> &'static str {
        match self {
            Phase::Before => "GET /queue/tokens/me (before streams)",
            Phase::WithStreams => "GET /queue/tokens/me (streams open)",
            Phase::After => "GET /queue/tokens/me (after streams)",
        }
    }

    fn seat_map_endpoint(self) -> &'static str {
        match self {
            Phase::Before => "GET seat map (before streams)",
            Phase::WithStreams => "GET seat map (streams open)",
            Phase::After => "GET seat map (after streams)",
        }
    }
}

/// One span of reads: answered 200, answered otherwise, not answered, and over how long.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReadRate {
    pub ok: u64,
    pub refused: u64,
    pub unanswered: u64,
    pub seconds: f64,
}

impl ReadRate {
    /// Reads a second answered 200.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.seconds.max(f64::EPSILON)
    }

    /// Reads that did not get a 200.
    pub fn failed(&self) -> u64 {
        self.refused + self.unanswered
    }

    fn add(&mut self, other: ReadRate) {
        self.ok += other.ok;
        self.refused += other.refused;
        self.unanswered += other.unanswered;
    }
}

/// Both reads' rates in one phase.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Throughput {
    pub status: ReadRate,
    pub seat_map: ReadRate,
}

/// What is read: WAITING tokens' status, and one date's seat map with ACTIVE tokens.
#[derive(Debug, Clone)]
pub struct ReadTargets {
    pub waiting_tokens: Arc<[String]>,
    pub active_tokens: Arc<[String]>,
    pub seat_map_path: String,
}

/// `--concurrency` readers, a few to each source address.
pub struct Readers {
    apis: Vec<Api>,
    concurrency: usize,
}

impl Readers {
    pub fn new(api: &Api, sources: &Sources, concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        let addresses = concurrency.div_ceil(READERS_PER_ADDRESS);
        Self {
            apis: (0..addresses).map(|_| api.bound_to(sources.take())).collect(),
            concurrency,
        }
    }

    /// Warms up, then reads each for `span`: statuses, then seat maps.
    pub async fn measure(&self, targets: &ReadTargets, span: Duration, phase: Phase) -> Throughput {
        let (waiting, active, seat_map) = (&targets.waiting_tokens, &targets.active_tokens, &targets.seat_map_path);
        let warm_up = WARM_UP.min(span) / 2;
        self.read_for("warm-up GET /queue/tokens/me", waiting, STATUS_PATH, warm_up)
            .await;
        self.read_for("warm-up GET seat map", active, seat_map, warm_up).await;
        Throughput {
            status: self.read_for(phase.status_endpoint(), waiting, STATUS_PATH, span).await,
            seat_map: self.read_for(phase.seat_map_endpoint(), active, seat_map, span).await,
        }
    }

    /// Every reader reads `path` as `endpoint` with the next token in turn until `span` is over.
    async fn read_for(&self, endpoint: &'static str, tokens: &Arc<[String]>, path: &str, span: Duration) -> ReadRate {
        let started = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let readers: Vec<_> = (0..self.concurrency)
            .map(|reader| {
                let api = self.apis[reader / READERS_PER_ADDRESS].clone();
                let (tokens, next, path) = (tokens.clone(), next.clone(), path.to_string());
                tokio::spawn(async move {
                    let mut rate = ReadRate::default();
                    while started.elapsed() < span && !tokens.is_empty() {
                        let token = &tokens[next.fetch_add(1, Ordering::Relaxed) % tokens.len()];
                        match api.call(endpoint, Method::GET, &path, Some(token), None).await {
                            Ok(reply) if reply.status.as_u16() == 200 => rate.ok += 1,
                            Ok(_) => rate.refused += 1,
                            Err(_) => rate.unanswered += 1,
                        }
                    }
                    rate
                })
            })
            .collect();
        let mut total = ReadRate::default();
        for reader in readers {
            total.add(reader.await.unwrap_or_default());
        }
        total.seconds = started.elapsed().as_secs_f64();
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_counts_only_the_reads_answered_200() {
        let rate = ReadRate {
            ok: 5_000,
            refused: 30,
            unanswered: 2,
            seconds: 2.0,
        };
        assert_eq!(rate.rps(), 2_500.0);
        assert_eq!(rate.failed(), 32);
        assert_eq!(ReadRate::default().rps(), 0.0, "no reads in no time");
    }
}
