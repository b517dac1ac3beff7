//! Benchmarks of durability: journal appends with and without group commit, the encoding and
//! decoding of journal records, recovery of a million journal entries, and a snapshot of a million waiting tokens and 100,000 seats (the
//! copy each actor pauses for, and the write that happens off the actors).
//!
//! `cargo bench --bench persistence`

use chrono::{DateTime, Duration, NaiveDate, Utc};
use concert_reservation::config::FsyncPolicy;
use concert_reservation::domain::concert::{ConcertRecord, NewDate};
use concert_reservation::domain::idempotency::{
    fingerprint, AnswerRecord, Endpoint, IdempotencyKey, Scope, StoredResponse,
};
use concert_reservation::domain::seat_map::SeatMap;
use concert_reservation::domain::user::User;
use concert_reservation::domain::waiting_room::{WaitingRoom, WaitingRoomLimits};
use concert_reservation::domain::wallet::{Wallet, WalletLimits};
use concert_reservation::domain::{ConcertId, ReservationId, TokenSecret, TransactionId, UserId};
use concert_reservation::persistence::data_dir::DataDir;
use concert_reservation::persistence::format::{self, FileKind};
use concert_reservation::persistence::journal::Journal;
use concert_reservation::persistence::recovery::{self, Limits, State};
use concert_reservation::persistence::{snapshot, Change, Entry, Part};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

const RECOVERED_ENTRIES: usize = 1_000_000;
const WAITING: usize = 1_000_000;
const DATES: u32 = 100;
const SEATS_PER_DATE: u32 = 1_000;
const FANS: usize = 10_000;

fn start() -> DateTime<Utc> {
    "2026-12-24T10:00:00Z".parse().expect("a valid time")
}

fn limits() -> Limits {
    Limits {
        room: WaitingRoomLimits {
            active_max: 100,
            active_ttl: Duration::minutes(10),
            waiting_idle_ttl: Duration::hours(1),
            waiting_max: u64::MAX,
        },
        wallet: WalletLimits {
            charge_max: 1_000_000,
            balance_max: i64::MAX / 2,
        },
        answer_retention: Duration::hours(24),
    }
}

fn charge_entry(seq: u64) -> Vec<u8> {
    let mut wallet = Wallet::new(limits().wallet);
    let event = wallet
        .charge(UserId::random(), 1_000, TransactionId::random(), start())
        .expect("a valid charge");
    let mut bytes = Vec::new();
    let change = Change::Wallet(event);
    format::encode_entry(Entry { seq, change }, &mut bytes);
    bytes
}

/// Appends `count` records from `writers` concurrent writers, each waiting for its own commit
/// before the next: one writer cannot batch, many share each sync.
fn append_all(journal: &Journal, count: usize, writers: usize) -> StdDuration {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a runtime");
    let record = charge_entry(1);
    let started = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..writers)
            .map(|_| {
                let journal = journal.clone();
                let record = record.clone();
                tokio::spawn(async move {
                    for _ in 0..count / writers {
                        journal.append(record.clone()).durable().await.expect("durable");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("the writer finishes");
        }
    });
    started.elapsed()
}

fn journal_appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("journal");
    group.sample_size(10);
    for (name, writers) in [
        ("append_1000_fsync_one_writer", 1),
        ("append_1000_fsync_64_writers", 64),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let dir = tempfile::tempdir().expect("a temporary dir");
                let data_dir = Arc::new(DataDir::open(dir.path()).expect("the dir opens"));
                let journal =
                    Journal::start(data_dir, 1, FsyncPolicy::Always, Default::default()).expect("the journal starts");
                (0..iterations).map(|_| append_all(&journal, 1_000, writers)).sum()
            })
        });
    }
    group.finish();
}

/// A thousand entries as fans write them in a busy minute: each takes a token and is admitted,
/// charges with an idempotency key (the charge and its answer in one record), holds a seat,
/// gives it back and leaves.
fn a_thousand_entries() -> Vec<Entry> {
    let concert_id = ConcertId::random();
    let date = NaiveDate::from_ymd_opt(2026, 12, 24).expect("a date");
    let mut room = WaitingRoom::new(limits().room);
    let mut map = SeatMap::new(concert_id, date, SEATS_PER_DATE, 1_000);
    let mut wallet = Wallet::new(limits().wallet);
    let mut changes = Vec::new();
    let mut round = 0;
    while changes.len() < 1_000 {
        let fan = UserId::random();
        let now = start() + Duration::milliseconds(round);
        let (token, issued) = room.issue(fan, TokenSecret::random(), now).expect("issued");
        changes.extend(issued.into_iter().map(Change::Queue));
        let charged = wallet.charge(fan, 10, TransactionId::random(), now).expect("charged");
        let key = IdempotencyKey::parse(&format!("charge-{round}")).expect("a valid key");
        let answer = AnswerRecord {
            scope: Scope {
                user: fan,
                endpoint: Endpoint::Charges,
                key,
            },
            fingerprint: fingerprint(br#"{"amount":10}"#),
            answer: StoredResponse::json(200, &wallet.balance(fan)),
            at: now,
        };
        let work = Box::new(Change::Wallet(charged));
        changes.push(Change::Keyed { work, answer });
        let reservation = ReservationId::random();
        let seat = round % i64::from(SEATS_PER_DATE) + 1;
        let held = map.hold(fan, seat, reservation, now, Duration::minutes(5), |_| true);
        let cancelled = map.cancel(reservation, fan, now).expect("cancelled");
        let seat_events = [held.expect("held")].into_iter().chain(cancelled);
        changes.extend(seat_events.map(|event| Change::Seat((concert_id, date), event)));
        changes.extend(room.leave(&token, now).expect("left").into_iter().map(Change::Queue));
        round += 1;
    }
    changes.truncate(1_000);
    let numbered = changes.into_iter().enumerate();
    numbered
        .map(|(seq, change)| Entry {
            seq: seq as u64 + 1,
            change,
        })
        .collect()
}

/// What a writer of state pays to turn entries into framed records, and recovery to read them
/// back, apart from any I/O.
fn journal_encoding(c: &mut Criterion) {
    let entries = a_thousand_entries();
    let mut group = c.benchmark_group("journal");
    group.bench_function("encode_1000_entries", |b| {
        b.iter_batched(
            || entries.clone(),
            |entries| {
                let mut bytes = Vec::new();
                for entry in entries {
                    format::encode_entry(entry, &mut bytes);
                }
                bytes
            },
            BatchSize::SmallInput,
        )
    });
    let mut segment = format::header(FileKind::Journal).to_vec();
    for entry in entries.clone() {
        format::encode_entry(entry, &mut segment);
    }
    group.bench_function("decode_1000_entries", |b| {
        b.iter(|| format::read_segment(&segment).expect("this version").records.len())
    });
    group.finish();
}

/// Entry numbers per stream, as the live writers keep them.
#[derive(Default)]
struct Streams {
    users: u64,
    concerts: u64,
    queue: u64,
    wallet: u64,
    dates: HashMap<(ConcertId, NaiveDate), u64>,
}

impl Streams {
    fn entry(&mut self, change: Change) -> Entry {
        let seq = match &change {
            Change::UserRegistered(_) => &mut self.users,
            Change::ConcertCreated(_) => &mut self.concerts,
            Change::Queue(_) => &mut self.queue,
            Change::Wallet(_) => &mut self.wallet,
            Change::Seat(key, _) => self.dates.entry(*key).or_default(),
            Change::Answered(_) | Change::Keyed { .. } => unreachable!("no answers in this journal"),
            Change::SaleCreated(_) | Change::Sale(..) => unreachable!("no sales in this journal"),
        };
        *seq += 1;
        Entry { seq: *seq, change }
    }
}

/// A journal of a busy day, a million entries: fans registering, queueing, being admitted and
/// leaving, charging, holding seats and cancelling.
fn busy_day_journal() -> Vec<u8> {
    let mut streams = Streams::default();
    let mut bytes = format::header(FileKind::Journal).to_vec();
    let mut push = |change: Change, bytes: &mut Vec<u8>| format::encode_entry(streams.entry(change), bytes);
    let fans: Vec<UserId> = (0..FANS).map(|_| UserId::random()).collect();
    for (number, fan) in fans.iter().enumerate() {
        let name = format!("fan {number}");
        push(Change::UserRegistered(User { user_id: *fan, name }), &mut bytes);
    }
    let concert_id = ConcertId::random();
    let date = NaiveDate::from_ymd_opt(2026, 12, 24).expect("a date");
    let dates = vec![NewDate {
        date,
        seat_count: SEATS_PER_DATE,
        price: 1_000,
    }];
    let title = "Winter concert".to_string();
    push(
        Change::ConcertCreated(ConcertRecord {
            concert_id,
            title,
            dates,
        }),
        &mut bytes,
    );
    let mut room = WaitingRoom::new(limits().room);
    let mut map = SeatMap::new(concert_id, date, SEATS_PER_DATE, 1_000);
    let mut wallet = Wallet::new(limits().wallet);
    let mut written = FANS + 1;
    let mut round = 0;
    while written < RECOVERED_ENTRIES {
        let fan = fans[round % FANS];
        let now = start() + Duration::milliseconds(round as i64);
        let (token, issued) = room.issue(fan, TokenSecret::random(), now).expect("issued");
        let mut events: Vec<Change> = issued.into_iter().map(Change::Queue).collect();
        let charged = wallet.charge(fan, 10, TransactionId::random(), now).expect("charged");
        events.push(Change::Wallet(charged));
        let reservation = ReservationId::random();
        let seat = (round % SEATS_PER_DATE as usize) as i64 + 1;
        let held = map
            .hold(fan, seat, reservation, now, Duration::minutes(5), |_| true)
            .expect("held");
        let cancelled = map.cancel(reservation, fan, now).expect("cancelled");
        let seat_events = [held].into_iter().chain(cancelled);
        events.extend(seat_events.map(|event| Change::Seat((concert_id, date), event)));
        events.extend(room.leave(&token, now).expect("left").into_iter().map(Change::Queue));
        written += events.len();
        for change in events {
            push(change, &mut bytes);
        }
        round += 1;
    }
    bytes
}

fn recovery_of_a_million_entries(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary dir");
    let journal = busy_day_journal();
    let entries = format::read_segment(&journal).expect("this version").records.len();
    assert!(entries >= RECOVERED_ENTRIES, "{entries} entries");
    std::fs::write(dir.path().join("journal-00000001.log"), &journal).expect("written");
    let mut group = c.benchmark_group("recovery");
    group.sample_size(10);
    group.bench_function("replay_1_000_000_journal_entries", |b| {
        b.iter(|| {
            let data_dir = DataDir::open(dir.path()).expect("the dir opens");
            let (state, report) = recovery::recover(&data_dir, &limits()).expect("recovered");
            assert_eq!(report.entries_replayed as usize, entries);
            black_box(state.wallet.state.totals())
        })
    });
    group.finish();
}

/// A million waiting tokens and a hundred dates of a thousand seats, half of them held.
fn crowded_state() -> State {
    let mut state = State::empty(&limits());
    let room = &mut state.room.state;
    for _ in 0..WAITING {
        room.issue(UserId::random(), TokenSecret::random(), start())
            .expect("room for everyone");
    }
    let concert_id = ConcertId::random();
    for day in 0..DATES {
        let date = NaiveDate::from_ymd_opt(2027, 1, 1).expect("a date") + Duration::days(i64::from(day));
        let mut map = SeatMap::new(concert_id, date, SEATS_PER_DATE, 1_000);
        for seat in (1..=i64::from(SEATS_PER_DATE)).step_by(2) {
            let held = map.hold(
                UserId::random(),
                seat,
                ReservationId::random(),
                start(),
                Duration::minutes(5),
                |_| true,
            );
            held.expect("a free seat");
        }
        state.dates.insert((concert_id, date), Part { seq: 0, state: map });
    }
    state
}

fn snapshots(c: &mut Criterion) {
    let state = crowded_state();
    let mut group = c.benchmark_group("snapshot");
    group.sample_size(10);
    // What each actor pauses for: the queue actor copies its room, a date actor its map.
    group.bench_function("queue_actor_pause_copying_1_000_000_waiting", |b| {
        b.iter(|| black_box(state.room.state.image()))
    });
    let map = &state.dates.values().next().expect("a date").state;
    group.bench_function("date_actor_pause_copying_1_000_seats", |b| {
        b.iter(|| black_box(map.clone()))
    });
    let dir = tempfile::tempdir().expect("a temporary dir");
    let data_dir = DataDir::open(dir.path()).expect("the dir opens");
    let image = state.image();
    let mut index = 0;
    group.bench_function("write_1_000_000_waiting_and_100_000_seats", |b| {
        b.iter(|| {
            index += 1;
            snapshot::write(&data_dir, index, &image).expect("written")
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    journal_appends,
    journal_encoding,
    recovery_of_a_million_entries,
    snapshots
);
criterion_main!(benches);
