//! The latency of one payment through the services as the server runs it: the date actor, the
//! wallet actor and the queue actor, the journal syncing every write (`--fsync always`) or not
//! at all. Each payment is of its own fan's hold, made beforehand and not timed.
//!
//! `cargo bench --bench payment`

use actix::System;
use concert_reservation::actors::queue::Fan;
use concert_reservation::clock::SystemClock;
use concert_reservation::config::{Config, FsyncPolicy};
use concert_reservation::domain::concert::NewDate;
use concert_reservation::domain::ReservationId;
use concert_reservation::services::{payments, Services};
use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEATS: u32 = 100_000;

/// Fans with a balance, an ACTIVE token and a hold each, ready to pay.
async fn ready_to_pay(services: &Services, count: u64) -> Vec<(Fan, ReservationId)> {
    let date = "2026-12-24".parse().unwrap();
    let new_date = NewDate {
        date,
        seat_count: SEATS,
        price: 1_000,
    };
    let concert = services.catalog.create("Bench".into(), vec![new_date]).await.unwrap();
    let handle = services.catalog.date(concert.concert_id, date).unwrap();
    let mut ready = Vec::new();
    for seat in 1..=count as i64 {
        let user = services.users.register("Fan").await.unwrap().user_id;
        services.wallet.charge(user, 1_000, None).await.unwrap();
        let token = services.queue.issue(user, None).await.unwrap().token;
        let fan = services.queue.authenticate(&token).unwrap();
        let held = handle.hold(user, seat, fan.deadline, None).await.unwrap();
        ready.push((fan, held.reservation_id));
    }
    ready
}

fn payments_with(c: &mut Criterion, fsync: FsyncPolicy, name: &str) {
    let system = System::new();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults();
    config.data_dir = dir.path().to_path_buf();
    config.fsync = fsync;
    config.active_max = 1_000_000;
    let services = system.block_on(async { Services::recover(config, Arc::new(SystemClock)).unwrap() });
    let mut group = c.benchmark_group("payment");
    group.sample_size(20);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let ready = ready_to_pay(&services, iters).await;
                let mut spent = Duration::ZERO;
                for (fan, reservation) in ready {
                    let started = Instant::now();
                    payments::pay(services.clone(), fan, reservation, None).await.unwrap();
                    spent += started.elapsed();
                }
                spent
            })
        })
    });
    group.finish();
    system.block_on(services.log.stop());
    services.threads.stop();
}

fn payment(c: &mut Criterion) {
    payments_with(c, FsyncPolicy::Always, "one_payment_fsync_always");
    payments_with(c, FsyncPolicy::Never, "one_payment_fsync_never");
}

criterion_group!(benches, payment);
criterion_main!(benches);
