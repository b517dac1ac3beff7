//! Benchmarks of the domain state machines on their own, without actors or HTTP: the memory and
//! the reads and writes of a waiting room of a million, seat holds and sales on a 1,000-seat date,
//! and wallet charges and debits.
//!
//! `cargo bench --bench domain`

mod common;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::resident_bytes;
use concert_reservation::actors::queue::TokenIndex;
use concert_reservation::domain::draw::DrawSeed;
use concert_reservation::domain::refund::RefundPolicy;
use concert_reservation::domain::sale::{SaleRecord, SaleSchedule};
use concert_reservation::domain::seat_map::SeatMap;
use concert_reservation::domain::waiting_room::{QueueEvent, TokenStatus, WaitingRoom, WaitingRoomLimits};
use concert_reservation::domain::wallet::{Payment, Wallet, WalletLimits};
use concert_reservation::domain::{ConcertId, PaymentId, ReservationId, Token, TokenSecret, TransactionId, UserId};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::collections::VecDeque;
use std::time::{Duration as StdDuration, Instant};

const WAITING: usize = 1_000_000;
const SEATS: u32 = 1_000;
const FANS: usize = 10_000;
/// Steps between two renewals of a state the steps use up; large enough that the renewal, done
/// off the clock, is rare.
const ROUND: u64 = 10_000;
/// Coprime with a million: stepping through the tokens by it visits every one, in an order that
/// defeats the cache as a crowd of fans would.
const STRIDE: usize = 7_919;

/// 2026-12-24T10:00:00Z, built from its Unix time: steps call this, and parsing text would cost
/// more than some of the steps measured.
fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_798_106_400, 0).expect("a valid time")
}

fn date() -> NaiveDate {
    "2026-12-24".parse().expect("a valid date")
}

fn room_limits() -> WaitingRoomLimits {
    WaitingRoomLimits {
        active_max: 100,
        active_ttl: Duration::minutes(10),
        waiting_idle_ttl: Duration::hours(1),
        waiting_max: u64::MAX,
    }
}

/// Runs `iters` timed steps. Before each round of `round` steps an untimed `renew` restores what
/// the steps use up (free seats, waiting fans, memory), so the state stays as described.
fn in_rounds<S>(
    state: &mut S,
    iters: u64,
    round: u64,
    mut renew: impl FnMut(&mut S),
    mut step: impl FnMut(&mut S),
) -> StdDuration {
    let mut elapsed = StdDuration::ZERO;
    let mut done = 0;
    while done < iters {
        renew(state);
        let steps = round.min(iters - done);
        let started = Instant::now();
        for _ in 0..steps {
            step(state);
        }
        elapsed += started.elapsed();
        done += steps;
    }
    elapsed
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn crowded_room() -> (WaitingRoom, Vec<Token>) {
    let mut room = WaitingRoom::new(room_limits());
    let tokens = (0..WAITING)
        .map(|_| {
            let issued = room.issue(UserId::random(), TokenSecret::random(), start());
            issued.expect("room for everyone").0
        })
        .collect();
    (room, tokens)
}

/// A million waiting with their index, measured as they are built; keeps every 1000th token.
fn measured_million() -> (WaitingRoom, TokenIndex, Vec<Token>) {
    let before = resident_bytes();
    let started = Instant::now();
    let mut room = WaitingRoom::new(room_limits());
    for _ in 0..WAITING {
        room.issue(UserId::random(), TokenSecret::random(), start())
            .expect("room for everyone");
    }
    let built = started.elapsed();
    let with_room = resident_bytes();
    // The queue actor's index, as it is built at recovery: one entry per live token.
    let index = TokenIndex::of(&room, 0);
    let with_index = resident_bytes();
    report_memory(before, with_room, with_index, built);
    let sample = room.live_tokens().step_by(1000).map(|(token, ..)| token).collect();
    (room, index, sample)
}

fn report_memory(before: u64, with_room: u64, with_index: u64, built: StdDuration) {
    let room = with_room - before;
    let index = with_index - with_room;
    let total = with_index - before;
    println!(
        "memory: {WAITING} waiting: room {:.0} MB, token index {:.0} MB, together {:.0} MB \
         ({} bytes a token; MB = 10^6 bytes); room built in {:.2} s, {:.0} issues a second",
        megabytes(room),
        megabytes(index),
        megabytes(total),
        total / WAITING as u64,
        built.as_secs_f64(),
        WAITING as f64 / built.as_secs_f64(),
    );
}

/// The figure this group is for is printed: the resident memory a million waiting tokens and
/// their index take. The timed part, a lookup in that index, is what validating a token costs.
fn memory(c: &mut Criterion) {
    let mut built = None;
    c.bench_function("memory/resident_set_of_1_000_000_waiting", |b| {
        let (_, index, sample) = built.get_or_insert_with(measured_million);
        let mut next = 0;
        b.iter(|| {
            next = (next + 1) % sample.len();
            black_box(index.authenticate(&sample[next], start()).expect("live"))
        })
    });
}

fn waiting_room_reads(c: &mut Criterion, room: &mut WaitingRoom, tokens: &[Token]) {
    let middle = tokens[WAITING / 2];
    c.bench_function("waiting_room/position_of_one_in_a_million", |b| {
        b.iter(|| black_box(room.status(black_box(&middle), start()).expect("live")))
    });
    // A different fan each time, as under load: the maps and the line are out of the cache.
    c.bench_function("waiting_room/position_of_any_of_a_million", |b| {
        let mut next = 0;
        b.iter(|| {
            next = (next + STRIDE) % WAITING;
            black_box(room.status(&tokens[next], start()).expect("live"))
        })
    });
    c.bench_function("waiting_room/peek_position_of_any_of_a_million", |b| {
        let mut next = 0;
        b.iter(|| {
            next = (next + STRIDE) % WAITING;
            black_box(room.peek(&tokens[next], start()).expect("live"))
        })
    });
}

/// Tokens issued in the current round, to be taken out again off the clock, and the users
/// ready for the next round.
struct Issuing {
    room: WaitingRoom,
    issued: Vec<Token>,
    users: Vec<UserId>,
}

impl Issuing {
    fn renew(&mut self) {
        for token in self.issued.drain(..) {
            self.room.leave(&token, start()).expect("live");
        }
        self.users = (0..ROUND).map(|_| UserId::random()).collect();
    }

    /// What the queue actor does to issue: a fresh token, then the room's decision.
    fn issue(&mut self) {
        let user = self.users[self.issued.len()];
        let (token, _) = self.room.issue(user, TokenSecret::random(), start()).expect("room");
        self.issued.push(token);
    }
}

fn waiting_room_issue(c: &mut Criterion, room: WaitingRoom) -> WaitingRoom {
    // Each issue is undone by a leave, so the room stays at a million however long it runs.
    let mut issuing = Issuing {
        room,
        issued: Vec::new(),
        users: Vec::new(),
    };
    c.bench_function("waiting_room/issue_and_leave_behind_a_million", |b| {
        b.iter(|| {
            let (token, _) = (issuing.room)
                .issue(UserId::random(), TokenSecret::random(), start())
                .expect("room");
            issuing.room.leave(&token, start()).expect("live");
        })
    });
    let mut group = c.benchmark_group("waiting_room");
    group.throughput(Throughput::Elements(1));
    group.bench_function("issue_behind_a_million", |b| {
        b.iter_custom(|iters| in_rounds(&mut issuing, iters, ROUND, Issuing::renew, Issuing::issue))
    });
    group.finish();
    issuing.room
}

/// A room at a million where the ACTIVE tokens leave one by one, each admitting the head.
struct Admitting {
    room: WaitingRoom,
    active: VecDeque<Token>,
}

impl Admitting {
    fn new(room: WaitingRoom) -> Self {
        let active = room
            .live_tokens()
            .filter(|(_, _, status, ..)| *status == TokenStatus::Active)
            .map(|(token, ..)| token)
            .collect();
        Self { room, active }
    }

    /// Tops the line up to a million again, at its back.
    fn renew(&mut self) {
        let missing = (WAITING as u64).saturating_sub(self.room.stats().waiting);
        for _ in 0..missing {
            self.room
                .issue(UserId::random(), TokenSecret::random(), start())
                .expect("room");
        }
    }

    fn free_a_slot(&mut self) {
        let leaving = self.active.pop_front().expect("an active token");
        for event in self.room.leave(&leaving, start()).expect("live") {
            if let QueueEvent::TokenAdmitted { token, .. } = event {
                self.active.push_back(token);
            }
        }
    }
}

fn waiting_room_admit(c: &mut Criterion, room: WaitingRoom) {
    let mut admitting = Admitting::new(room);
    c.bench_function("waiting_room/admit_the_head_of_a_million_as_a_slot_frees", |b| {
        b.iter_custom(|iters| in_rounds(&mut admitting, iters, ROUND, Admitting::renew, Admitting::free_a_slot))
    });
}

fn waiting_room(c: &mut Criterion) {
    let (mut room, tokens) = crowded_room();
    waiting_room_reads(c, &mut room, &tokens);
    drop(tokens);
    let room = waiting_room_issue(c, room);
    waiting_room_admit(c, room);
    c.bench_function("ids/token_secret_random", |b| b.iter(TokenSecret::random));
}

/// The seat to use next on a 1,000-seat date, and the map as it was before any was used.
struct Selling {
    fresh: SeatMap,
    map: SeatMap,
    seat: i64,
    user: UserId,
    payment: PaymentId,
}

impl Selling {
    fn renew(&mut self) {
        self.map = self.fresh.clone();
        self.seat = 0;
    }

    /// Hold, pay and confirm, as the payment saga drives the date actor.
    fn sell_next_seat(&mut self) {
        self.seat += 1;
        let reservation = ReservationId::random();
        let now = start();
        let map = &mut self.map;
        map.hold(self.user, self.seat, reservation, now, Duration::minutes(5), |_| true)
            .expect("free");
        map.begin_payment(reservation, self.user, now).expect("held");
        black_box(map.complete_payment(reservation, self.payment, now));
    }
}

fn seat_map(c: &mut Criterion) {
    let now = start();
    let fresh = SeatMap::new(ConcertId::random(), date(), SEATS, 50_000);
    c.bench_function("seat_map/hold_then_cancel_on_1000_seats", |b| {
        let mut map = fresh.clone();
        let user = UserId::random();
        let mut seat = 0i64;
        b.iter(|| {
            seat = seat % i64::from(SEATS) + 1;
            let reservation = ReservationId::random();
            map.hold(user, seat, reservation, now, Duration::minutes(5), |_| true)
                .expect("free");
            map.cancel(reservation, user, now).expect("held");
        })
    });
    // A sold seat stays sold, so every 1,000 sales the date starts again from a fresh copy.
    let mut selling = Selling {
        map: fresh.clone(),
        fresh,
        seat: 0,
        user: UserId::random(),
        payment: PaymentId::random(),
    };
    c.bench_function("seat_map/hold_pay_and_confirm_on_1000_seats", |b| {
        b.iter_custom(|iters| {
            in_rounds(
                &mut selling,
                iters,
                u64::from(SEATS),
                Selling::renew,
                Selling::sell_next_seat,
            )
        })
    });
}

/// Wallets of 10,000 fans, and the copy each round starts from so the histories stay short.
struct Paying {
    funded: Wallet,
    wallet: Wallet,
    users: Vec<UserId>,
    next: usize,
    payment: Payment,
    paid_with: Token,
}

impl Paying {
    fn new() -> Self {
        let limits = WalletLimits {
            charge_max: 1_000_000,
            balance_max: i64::MAX / 2,
        };
        let mut funded = Wallet::new(limits);
        let users: Vec<UserId> = (0..FANS).map(|_| UserId::random()).collect();
        for user in &users {
            funded
                .charge(*user, 1_000_000, TransactionId::random(), start())
                .expect("charged");
        }
        let payment = Payment {
            payment_id: PaymentId::random(),
            reservation_id: ReservationId::random(),
            user_id: users[0],
            concert_id: ConcertId::random(),
            date: date(),
            seat_number: 1,
            amount: 50,
            paid_at: start(),
        };
        Self {
            wallet: funded.clone(),
            funded,
            users,
            next: 0,
            payment,
            paid_with: Token::new(1, TokenSecret::random()),
        }
    }

    fn renew(&mut self) {
        self.wallet = self.funded.clone();
    }

    fn next_user(&mut self) -> UserId {
        self.next = (self.next + 1) % self.users.len();
        self.users[self.next]
    }

    fn charge(&mut self) {
        let user = self.next_user();
        let charged = self.wallet.charge(user, 1, TransactionId::random(), start());
        black_box(charged.expect("charged"));
    }

    /// The wallet does not look at the payment's ids or token, so one payment serves every fan.
    fn debit(&mut self) {
        let payment = Payment {
            user_id: self.next_user(),
            ..self.payment.clone()
        };
        let paid = self.wallet.pay(payment, TransactionId::random(), Some(self.paid_with));
        black_box(paid.expect("paid"));
    }
}

fn wallet(c: &mut Criterion) {
    let mut paying = Paying::new();
    c.bench_function("wallet/charge_among_10000_fans", |b| {
        b.iter_custom(|iters| in_rounds(&mut paying, iters, ROUND, Paying::renew, Paying::charge))
    });
    c.bench_function("wallet/debit_a_payment_among_10000_fans", |b| {
        b.iter_custom(|iters| in_rounds(&mut paying, iters, ROUND, Paying::renew, Paying::debit))
    });
}

/// A sale's room with 100,000 fans pre-queued, just before its opening.
fn prequeued_sale() -> (WaitingRoom, DateTime<Utc>) {
    let opens_at = start() + Duration::hours(1);
    let record = SaleRecord {
        concert_id: ConcertId::random(),
        number: 1,
        schedule: SaleSchedule {
            prequeue_opens_at: start(),
            opens_at,
            active_max: 1_000,
            admissions_per_minute: None,
            refund_policy: RefundPolicy::default(),
        },
        seed: DrawSeed::from_bytes([7; 32]),
        at: start(),
    };
    let mut room = record.room(room_limits());
    for _ in 0..PREQUEUED {
        room.issue(UserId::random(), TokenSecret::random(), start())
            .expect("pre-queued");
    }
    (room, opens_at)
}

const PREQUEUED: usize = 100_000;

/// The opening of a sale with 100,000 fans pre-queued: the draw (the order from the seed, every
/// token moved to its place in line, its published entry) and the first thousand admitted, as
/// the room's actor does it in one step; and what the room and its index hold for them after.
fn sale_opening(c: &mut Criterion) {
    // First, in a process that has grown no heap yet: what the room and its index hold.
    let before = resident_bytes();
    let (mut room, opens_at) = prequeued_sale();
    let prequeued = resident_bytes();
    room.expire_due(opens_at);
    let drawn = resident_bytes();
    let index = TokenIndex::of(&room, 0);
    let indexed = resident_bytes();
    println!(
        "memory: {PREQUEUED} pre-queued: room {:.1} MB before the draw, {:.1} MB after it (places and entries), \
         token index {:.1} MB; {} bytes a fan in all",
        megabytes(prequeued - before),
        megabytes(drawn - before),
        megabytes(indexed - drawn),
        (indexed - before) / PREQUEUED as u64,
    );
    drop((room, index));
    let mut group = c.benchmark_group("sale");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PREQUEUED as u64));
    group.bench_function("draw_and_admit_100_000_prequeued", |b| {
        b.iter_batched(
            prequeued_sale,
            |(mut room, opens_at)| black_box(room.expire_due(opens_at).len()),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, sale_opening, memory, waiting_room, seat_map, wallet);
criterion_main!(benches);
