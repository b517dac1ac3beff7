//! Benchmarks of the domain state machines on their own, without actors or HTTP.
//!
//! `cargo bench --bench domain`

use chrono::{DateTime, Duration, Utc};
use concert_reservation::domain::seat_map::SeatMap;
use concert_reservation::domain::waiting_room::{WaitingRoom, WaitingRoomLimits};
use concert_reservation::domain::{ConcertId, ReservationId, Token, UserId};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

const WAITING: usize = 1_000_000;

fn start() -> DateTime<Utc> {
    "2026-12-24T10:00:00Z".parse().expect("a valid time")
}

fn crowded_room() -> (WaitingRoom, Vec<Token>) {
    let limits = WaitingRoomLimits {
        active_max: 100,
        active_ttl: Duration::minutes(10),
        waiting_idle_ttl: Duration::hours(1),
        waiting_max: u64::MAX,
    };
    let mut room = WaitingRoom::new(limits);
    let tokens: Vec<Token> = (0..WAITING).map(|_| Token::random()).collect();
    for token in &tokens {
        room.issue(UserId::random(), *token, start())
            .expect("room for everyone");
    }
    (room, tokens)
}

fn waiting_room(c: &mut Criterion) {
    let (mut room, tokens) = crowded_room();
    let middle = tokens[WAITING / 2];
    c.bench_function("waiting_room/position_of_one_in_a_million", |b| {
        b.iter(|| black_box(room.status(black_box(&middle), start()).expect("live")))
    });
    // Each issue is undone by a leave, so the room stays at a million however long it runs.
    c.bench_function("waiting_room/issue_and_leave_behind_a_million", |b| {
        b.iter(|| {
            let token = Token::random();
            room.issue(UserId::random(), token, start()).expect("room");
            room.leave(&token, start()).expect("live");
        })
    });
}

fn seat_map(c: &mut Criterion) {
    let now = start();
    c.bench_function("seat_map/hold_then_cancel_on_1000_seats", |b| {
        let mut map = SeatMap::new(ConcertId::random(), "2026-12-24".parse().expect("date"), 1000, 50_000);
        let user = UserId::random();
        let mut seat = 0i64;
        b.iter(|| {
            seat = seat % 1000 + 1;
            let reservation = ReservationId::random();
            map.hold(user, seat, reservation, now, Duration::minutes(5), |_| true)
                .expect("free");
            map.cancel(reservation, user, now).expect("held");
        })
    });
}

criterion_group!(benches, waiting_room, seat_map);
criterion_main!(benches);
