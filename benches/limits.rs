//! What the abuse limits cost a request, on their own: the per-user and per-client budgets (a
//! request served and one refused), the event-stream bound, reading a token with its masked
//! number, and checking a name.
//!
//! `cargo bench --bench limits`

use concert_reservation::domain::text::display_text;
use concert_reservation::domain::{Token, TokenSecret, UserId};
use concert_reservation::http::connections::Occupancy;
use concert_reservation::http::rate_limit::{ClientRateLimiter, UserRateLimiter};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::net::{IpAddr, Ipv4Addr};

/// The wall clock, as the server's budgets read it.
fn clock() -> concert_reservation::clock::SharedClock {
    std::sync::Arc::new(concert_reservation::clock::SystemClock)
}

/// As many users as a crowd keeps busy at once; each stays within its budget.
const USERS: usize = 2_000;

fn budgets(c: &mut Criterion) {
    let users: Vec<UserId> = (0..USERS).map(|_| UserId::random()).collect();
    let limiter = UserRateLimiter::new(u32::MAX / 2, clock());
    let mut next = 0;
    c.bench_function("limits/user_budget_served_among_2000", |b| {
        b.iter(|| {
            next = (next + 1) % USERS;
            black_box(limiter.check(&users[next]).is_ok())
        })
    });
    let clients: Vec<IpAddr> = (0..USERS as u32)
        .map(|n| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)))
        .collect();
    let limiter = ClientRateLimiter::new(u32::MAX / 2, clock());
    c.bench_function("limits/client_budget_served_among_2000", |b| {
        b.iter(|| {
            next = (next + 1) % USERS;
            black_box(limiter.check(&clients[next]).is_ok())
        })
    });
    let spent = UserRateLimiter::new(1, clock());
    let user = users[0];
    while spent.check(&user).is_ok() {}
    c.bench_function("limits/user_budget_refused", |b| {
        b.iter(|| black_box(spent.check(&user).is_err()))
    });
}

fn streams(c: &mut Criterion) {
    let occupancy = Occupancy::new(2);
    let token = Token::new(7, TokenSecret::random());
    c.bench_function("limits/event_stream_place_taken_and_given_back", |b| {
        b.iter(|| drop(black_box(occupancy.enter(token))))
    });
}

fn tokens_and_names(c: &mut Criterion) {
    let text = Token::new(123_456, TokenSecret::random()).to_string();
    c.bench_function("limits/token_read_with_its_masked_number", |b| {
        b.iter(|| black_box(Token::from_client(black_box(&text))))
    });
    c.bench_function("limits/name_checked_for_hidden_characters", |b| {
        b.iter(|| black_box(display_text(black_box("  김민지 Kim Min-ji "), 64, "name").is_ok()))
    });
}

criterion_group!(benches, budgets, streams, tokens_and_names);
criterion_main!(benches);
