//! Benchmarks through the actors' typed handles, each actor on its own thread as in the server: a
//! round trip to the wallet actor (a read, and a journaled charge), token issues through the queue
//! actor, the resident memory of a million waiting tokens as the queue actor holds them, and a
//! date's seat map read as the API serves it, unchanged and just changed.
//!
//! `cargo bench --bench actors`

mod common;

use actix::{Arbiter, System, SystemRunner};
use chrono::{Duration, NaiveDate, Utc};
use common::resident_bytes;
use concert_reservation::actors::concert_date::{ConcertDateHandle, DateContext};
use concert_reservation::actors::queue::QueueHandle;
use concert_reservation::actors::wallet::WalletHandle;
use concert_reservation::clock::{SharedClock, SystemClock};
use concert_reservation::config::FsyncPolicy;
use concert_reservation::domain::seat_map::SeatMap;
use concert_reservation::domain::waiting_room::{WaitingRoom, WaitingRoomLimits};
use concert_reservation::domain::wallet::{Wallet, WalletLimits};
use concert_reservation::domain::{ConcertId, Token, UserId};
use concert_reservation::http::seat_maps::SeatMaps;
use concert_reservation::persistence::data_dir::DataDir;
use concert_reservation::persistence::file_log::FileLog;
use concert_reservation::persistence::log::SharedLog;
use concert_reservation::persistence::Part;
use concert_reservation::services::dates::DateHandle;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use futures_util::future::join_all;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};
use tempfile::TempDir;

const WAITING: usize = 1_000_000;
/// Requests sent at once, as many connections would: the queue actor answers them in turn.
const BATCH: usize = 1_000;
/// Enough that no request of a batch is turned away as over the bound.
const REQUESTS_MAX: usize = 16_384;

/// An actix system, one actor thread and a journal that writes without syncing, so a round trip
/// measures the actors and not the disk.
struct Rig {
    system: SystemRunner,
    arbiter: Arbiter,
    log: SharedLog,
    clock: SharedClock,
    _dir: TempDir,
}

impl Rig {
    fn new() -> Self {
        let system = System::new();
        let dir = tempfile::tempdir().expect("a temporary dir");
        let data_dir = Arc::new(DataDir::open(dir.path()).expect("the dir opens"));
        let log: SharedLog =
            FileLog::start(data_dir, 1, FsyncPolicy::Never, Default::default()).expect("the log starts");
        Self {
            system,
            arbiter: Arbiter::new(),
            log,
            clock: Arc::new(SystemClock),
            _dir: dir,
        }
    }

    fn stop(self) {
        self.arbiter.stop();
        self.arbiter.join().expect("the actor thread ends");
        self.system.block_on(self.log.stop());
    }
}

/// Times `iters` sequential round trips, each awaited before the next.
fn round_trips<F: std::future::Future>(rig: &Rig, iters: u64, mut ask: impl FnMut() -> F) -> StdDuration {
    rig.system.block_on(async {
        let started = Instant::now();
        for _ in 0..iters {
            black_box(ask().await);
        }
        started.elapsed()
    })
}

/// Times `iters` batches of requests sent at once, each batch answered in full before the next.
fn batches<F: std::future::Future>(rig: &Rig, iters: u64, ask: impl Fn(usize) -> F) -> StdDuration {
    rig.system.block_on(async {
        let started = Instant::now();
        for _ in 0..iters {
            black_box(join_all((0..BATCH).map(&ask)).await);
        }
        started.elapsed()
    })
}

fn wallet_actor(c: &mut Criterion) {
    let rig = Rig::new();
    let limits = WalletLimits {
        charge_max: 1_000_000,
        balance_max: i64::MAX / 2,
    };
    let part = Part {
        seq: 0,
        state: Wallet::new(limits),
    };
    let arbiter = rig.arbiter.handle();
    let wallet = WalletHandle::start(part, rig.log.clone(), rig.clock.clone(), &arbiter, REQUESTS_MAX);
    let users: Vec<UserId> = (0..BATCH).map(|_| UserId::random()).collect();
    let user = users[0];
    let mut group = c.benchmark_group("wallet_actor");
    // One request at a time: the caller and the actor sleep between requests, so on an idle
    // machine this is mostly the time it takes to wake them.
    group.bench_function("balance_round_trip", |b| {
        b.iter_custom(|iters| round_trips(&rig, iters, || async { wallet.balance(user).await.expect("answered") }))
    });
    // The answer waits for the journal writer to have written the charge, as every write does.
    group.bench_function("charge_round_trip_journaled_without_fsync", |b| {
        b.iter_custom(|iters| {
            round_trips(&rig, iters, || async {
                wallet.charge(user, 1, None).await.expect("charged")
            })
        })
    });
    // Many requests in flight, as under load: what each costs once the waits overlap.
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("balance_1000_at_once", |b| {
        b.iter_custom(|iters| batches(&rig, iters, |i| wallet.balance(users[i])))
    });
    group.bench_function("charge_1000_at_once_journaled_without_fsync", |b| {
        b.iter_custom(|iters| batches(&rig, iters, |i| wallet.charge(users[i], 1, None)))
    });
    group.finish();
    rig.stop();
}

/// Issues a token to each user at once and waits for every answer.
async fn issue_all(queue: &QueueHandle, users: &[UserId]) -> Vec<Token> {
    let answers = join_all(users.iter().map(|user| queue.issue(*user, None))).await;
    answers
        .into_iter()
        .map(|answer| answer.expect("issued").token)
        .collect()
}

/// Fills the queue actor's room with a million waiting, printing what that costs in memory and
/// time: the room and the token index request handlers read. Returns every 1000th token.
async fn gather_a_million(queue: &QueueHandle) -> Vec<Token> {
    let before = resident_bytes();
    let started = Instant::now();
    let mut sample = Vec::new();
    for _ in 0..WAITING / BATCH {
        let users: Vec<UserId> = (0..BATCH).map(|_| UserId::random()).collect();
        sample.push(issue_all(queue, &users).await[0]);
    }
    let elapsed = started.elapsed();
    let grown = resident_bytes() - before;
    println!(
        "memory: {WAITING} waiting in the queue actor (room and token index): {:.0} MB \
         ({} bytes a token; MB = 10^6 bytes); issued in {:.2} s, {:.0} a second, {BATCH} at a time",
        grown as f64 / 1e6,
        grown / WAITING as u64,
        elapsed.as_secs_f64(),
        WAITING as f64 / elapsed.as_secs_f64(),
    );
    sample
}

/// Times batches of issues; each batch leaves again off the clock, so the room stays at a million.
async fn issue_and_leave(queue: &QueueHandle, iters: u64) -> StdDuration {
    let mut elapsed = StdDuration::ZERO;
    for _ in 0..iters {
        let users: Vec<UserId> = (0..BATCH).map(|_| UserId::random()).collect();
        let started = Instant::now();
        let tokens = issue_all(queue, &users).await;
        elapsed += started.elapsed();
        join_all(tokens.into_iter().map(|token| queue.leave(token))).await;
    }
    elapsed
}

fn queue_actor(c: &mut Criterion) {
    let rig = Rig::new();
    let limits = WaitingRoomLimits {
        active_max: 100,
        active_ttl: Duration::minutes(10),
        waiting_idle_ttl: Duration::hours(1),
        waiting_max: u64::MAX,
    };
    let part = Part {
        seq: 0,
        state: WaitingRoom::new(limits),
    };
    let arbiter = rig.arbiter.handle();
    let queue = QueueHandle::start(
        part,
        Vec::new(),
        rig.log.clone(),
        rig.clock.clone(),
        &arbiter,
        REQUESTS_MAX,
    );
    // Gathered on first use, so a run filtered to other benchmarks does not pay for it.
    let mut sample = None;
    let mut gathered = || -> Vec<Token> {
        let sample = sample.get_or_insert_with(|| rig.system.block_on(gather_a_million(&queue)));
        sample.clone()
    };
    let mut group = c.benchmark_group("queue_actor");
    group.bench_function("position_round_trip_among_a_million", |b| {
        let sample = gathered();
        let mut next = 0;
        b.iter_custom(|iters| {
            round_trips(&rig, iters, || {
                next = (next + 1) % sample.len();
                let (queue, token) = (&queue, sample[next]);
                async move { queue.status(token).await.expect("live") }
            })
        })
    });
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    group.bench_function("peek_1000_at_once_among_a_million", |b| {
        let sample = gathered();
        b.iter_custom(|iters| batches(&rig, iters, |i| queue.peek(sample[i])))
    });
    group.bench_function("issue_1000_at_once_behind_a_million", |b| {
        gathered();
        b.iter_custom(|iters| rig.system.block_on(issue_and_leave(&queue, iters)))
    });
    group.finish();
    rig.stop();
}

/// Seats of the date whose seat map is read: the configuration's default bound.
const SEATS: u32 = 1_000;

fn seat_map(c: &mut Criterion) {
    let rig = Rig::new();
    let context = DateContext {
        clock: rig.clock.clone(),
        hold_ttl: Duration::minutes(5),
        hold_max: 4,
        ledger: Arc::default(),
        reservations: Arc::default(),
        waitlists: Arc::default(),
        requests_max: REQUESTS_MAX,
        log: rig.log.clone(),
    };
    let key = (
        ConcertId::random(),
        NaiveDate::from_ymd_opt(2026, 12, 24).expect("a date"),
    );
    let map = Part {
        seq: 0,
        state: SeatMap::new(key.0, key.1, SEATS, 1_000),
    };
    let date = DateHandle::Local(ConcertDateHandle::start(
        map,
        Vec::new(),
        context,
        &rig.arbiter.handle(),
    ));
    let seat_maps = SeatMaps::default();
    let user = UserId::random();
    let token_ends = Utc::now() + Duration::hours(1);
    rig.system.block_on(date.hold(user, 7, token_ends, None)).expect("held");
    let mut group = c.benchmark_group("seat_map");
    // What a hot date costs: the rendering is fresh, so neither the actor nor serde is asked.
    group.bench_function("read_1000_seats_while_unchanged", |b| {
        b.iter_custom(|iters| round_trips(&rig, iters, || seat_maps.json(key, &date)))
    });
    // A hold and its cancellation off the clock, then the read that renders the map anew.
    group.bench_function("read_1000_seats_after_a_change", |b| {
        b.iter_custom(|iters| {
            rig.system.block_on(async {
                let mut elapsed = StdDuration::ZERO;
                for _ in 0..iters {
                    let held = date.hold(user, 9, token_ends, None).await.expect("held");
                    date.cancel(held.reservation_id, user).await.expect("cancelled");
                    let started = Instant::now();
                    black_box(seat_maps.json(key, &date).await.expect("read"));
                    elapsed += started.elapsed();
                }
                elapsed
            })
        })
    });
    group.finish();
    rig.stop();
}

criterion_group!(benches, queue_actor, wallet_actor, seat_map);
criterion_main!(benches);
