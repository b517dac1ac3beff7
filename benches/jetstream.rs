//! The latency of an append to the JetStream log, acknowledged once JetStream stored it: one
//! change waited for before the next, and 64 changes in flight at once (group commit: they go
//! out together behind the publish in flight). On one nats-server (`--replicas 1`) and on three
//! (`--replicas 3`, stored on a quorum), each syncing every write, on loopback. And the read a
//! takeover does: a partition of 10,000 messages after its snapshot, loaded.
//!
//! `cargo bench --bench jetstream` (installs the pinned nats-server on first use, or takes
//! `NATS_SERVER_BIN`)

// The tests' helpers, of which the bench uses some.
#[allow(dead_code)]
#[path = "../tests/common/nats.rs"]
mod nats;

use concert_reservation::domain::user::User;
use concert_reservation::domain::UserId;
use concert_reservation::persistence::jetstream_log::{JetStreamLog, JetStreamReader, JetStreamSettings};
use concert_reservation::persistence::log::{EventLog, LogReader, Partition};
use concert_reservation::persistence::Change;
use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// A log on `urls` and the runtime it runs on; appends go to the users' partition.
struct Bench {
    runtime: Runtime,
    log: Arc<JetStreamLog>,
    last: u64,
}

impl Bench {
    fn on(urls: &str, replicas: usize) -> Self {
        let runtime = Runtime::new().expect("a runtime");
        let log = runtime.block_on(async {
            let client = nats::connect(urls).await;
            JetStreamLog::open(client, &JetStreamSettings { replicas })
                .await
                .expect("the log opens")
        });
        Self { runtime, log, last: 0 }
    }

    /// Appends `in_flight` changes at once, `rounds` times; the time they took.
    fn append(&mut self, rounds: u64, in_flight: u64) -> Duration {
        let started = Instant::now();
        for _ in 0..rounds {
            let commits: Vec<_> = (0..in_flight)
                .map(|_| {
                    let after = self.last;
                    self.last += 1;
                    self.log.append(Partition::Users, after, vec![a_fan()])
                })
                .collect();
            self.runtime.block_on(async {
                for commit in commits {
                    commit.durable().await.expect("JetStream stores the change");
                }
            });
        }
        started.elapsed()
    }
}

fn a_fan() -> Change {
    Change::UserRegistered(User {
        user_id: UserId::random(),
        name: "Kim".into(),
    })
}

/// A change of `date`'s partition (which change does not matter to the log).
fn a_seat_event(date: Partition) -> Change {
    let Partition::Date(key) = date else {
        panic!("a date's partition")
    };
    let event = concert_reservation::domain::seat_map::SeatEvent::HoldCancelled {
        reservation: concert_reservation::domain::ReservationId::random(),
        at: chrono::Utc::now(),
    };
    Change::Seat(key, event)
}

fn appends(c: &mut Criterion) {
    let alone = nats::NatsServer::start();
    let three = nats::NatsCluster::start();
    let mut group = c.benchmark_group("jetstream_append");
    group.measurement_time(Duration::from_secs(10));
    for (name, urls, replicas) in [("r1", alone.url(), 1), ("r3", three.urls(), 3)] {
        let mut bench = Bench::on(&urls, replicas);
        group.bench_function(format!("{name}_one_change_waited_for"), |b| {
            b.iter_custom(|rounds| bench.append(rounds, 1))
        });
        group.bench_function(format!("{name}_64_changes_in_flight"), |b| {
            b.iter_custom(|rounds| bench.append(rounds, 64))
        });
    }
    group.finish();
}

/// Messages in the partition a takeover reads.
const TAKEN_OVER: u64 = 10_000;

fn takeover(c: &mut Criterion) {
    let three = nats::NatsCluster::start();
    let mut bench = Bench::on(&three.urls(), 3);
    // Each append waited for: one message each, as a partition written at a slow pace holds.
    bench.append(TAKEN_OVER, 1);
    let mut group = c.benchmark_group("jetstream_takeover");
    group.sample_size(10);
    group.bench_function("r3_load_10000_messages", |b| {
        b.iter(|| {
            let mut reader = bench
                .runtime
                .block_on(JetStreamReader::load(&bench.log, &[Partition::Users]))
                .expect("the partition loads");
            let mut entries = 0;
            let counted = reader.read(Partition::Users, 0, &mut |_| {
                entries += 1;
                Ok(())
            });
            counted.expect("the entries read");
            assert_eq!(entries, TAKEN_OVER);
        })
    });
    group.finish();
}

/// Dates in the sale a takeover reads, each with a few messages.
const DATES: usize = 100;

fn takeover_of_many_dates(c: &mut Criterion) {
    let three = nats::NatsCluster::start();
    let bench = Bench::on(&three.urls(), 3);
    let concert = concert_reservation::domain::ConcertId::random();
    let first: chrono::NaiveDate = "2026-12-01".parse().expect("a date");
    let dates: Vec<Partition> = (0..DATES)
        .map(|day| Partition::Date((concert, first + chrono::Days::new(day as u64))))
        .collect();
    bench.runtime.block_on(async {
        for &date in &dates {
            for after in 0..5 {
                let commit = bench.log.append(date, after, vec![a_seat_event(date)]);
                commit.durable().await.expect("JetStream stores the change");
            }
        }
    });
    let mut group = c.benchmark_group("jetstream_takeover");
    group.sample_size(10);
    group.bench_function("r3_load_100_dates_of_5_messages", |b| {
        b.iter(|| {
            let reader = bench
                .runtime
                .block_on(JetStreamReader::load(&bench.log, &dates))
                .expect("the dates load");
            assert_eq!(reader.partitions().len(), DATES);
        })
    });
    group.finish();
}

criterion_group!(benches, appends, takeover, takeover_of_many_dates);
criterion_main!(benches);
