//! The engine on an event log that is not files: the actors, the payment saga, snapshots and
//! recovery reach the log only through its trait, so a day's work on the memory log comes back
//! whole from that log alone, and a second owner that takes the partitions over fences the
//! first, as a replicated log's owners must.

use super::{payments, recovery_limits, Services};
use crate::clock::ManualClock;
use crate::config::Config;
use crate::domain::concert::{DateKey, NewDate};
use crate::domain::UserId;
use crate::error::ErrorCode;
use crate::persistence::log::Partition;
use crate::persistence::memory_log::MemoryLog;
use crate::persistence::recovery;
use std::sync::Arc;

/// Starts the engine on whatever `log` holds.
fn start(log: Arc<MemoryLog>, clock: &ManualClock) -> Arc<Services> {
    let config = Config::defaults();
    let state = recovery::rebuild(&mut log.reader(), &recovery_limits(&config)).expect("the log replays");
    Services::start_on(config, Arc::new(clock.clone()), state, log)
}

fn stop(services: Arc<Services>) {
    services.threads.stop();
}

/// What the engine shows of a fan and a date.
async fn observe(services: &Services, user: UserId, key: DateKey) -> String {
    let balance = services.wallet.balance(user).await.unwrap();
    let payments = services.wallet.payments(user).await.unwrap();
    let counts = services.catalog.date(key.0, key.1).unwrap().counts().await.unwrap();
    let totals = services.wallet.totals().await.unwrap();
    format!("{balance} {payments:?} {counts:?} {totals:?}")
}

/// A fan who has charged 5,000, paid a seat and holds another; the date they are on.
async fn a_fans_day(services: &Arc<Services>) -> (UserId, DateKey) {
    let user = services.users.register("Kim").await.unwrap().user_id;
    let date = "2026-12-24".parse().unwrap();
    let new = NewDate {
        date,
        seat_count: 4,
        price: 1_000,
    };
    let concert = services.catalog.create("On any log".into(), vec![new]).await.unwrap();
    let key = (concert.concert_id, date);
    services.wallet.charge(user, 5_000, None).await.unwrap();
    let token = services.queue.issue(user, None).await.unwrap().token;
    let fan = services.queue.authenticate(&token).unwrap();
    let handle = services.catalog.date(key.0, key.1).unwrap();
    let held = handle.hold(user, 1, fan.deadline, None).await.unwrap();
    payments::pay(services.clone(), fan, held.reservation_id, None)
        .await
        .unwrap();
    let token = services.queue.issue(user, None).await.unwrap().token;
    let fan = services.queue.authenticate(&token).unwrap();
    handle.hold(user, 2, fan.deadline, None).await.unwrap();
    (user, key)
}

#[actix_rt::test]
async fn a_day_on_the_memory_log_comes_back_whole_from_that_log_alone() {
    let clock = ManualClock::starting_at("2026-12-01T10:00:00Z".parse().unwrap());
    let log = MemoryLog::new();
    let services = start(log.clone(), &clock);
    let (user, key) = a_fans_day(&services).await;
    services.snapshot().await.unwrap();
    services.wallet.charge(user, 700, None).await.unwrap();
    let seen = observe(&services, user, key).await;
    assert!(seen.starts_with("4700 ["), "{seen}");
    assert_eq!(
        log.entries(Partition::Wallet).len(),
        1,
        "the snapshot lets go of the entries it covers"
    );
    stop(services);

    let again = start(log.handle(), &clock);
    assert_eq!(observe(&again, user, key).await, seen);
    stop(again);
}

#[actix_rt::test]
async fn an_owner_whose_partition_was_taken_over_acknowledges_nothing_more() {
    let clock = ManualClock::starting_at("2026-12-01T10:00:00Z".parse().unwrap());
    let log = MemoryLog::new();
    let first = start(log.clone(), &clock);
    let (user, key) = a_fans_day(&first).await;

    // A second process takes every partition over while the first still runs.
    let second = start(log.handle(), &clock);
    assert_eq!(second.wallet.charge(user, 100, None).await.unwrap(), 4_100);
    let refused = first.wallet.charge(user, 100, None).await.unwrap_err();
    assert_eq!(
        refused.code,
        ErrorCode::Unavailable,
        "the former owner's write is refused"
    );
    let reason = first.log.failure().expect("the former owner knows why");
    assert!(reason.contains("partition wallet"), "{reason}");
    let user_again = first.users.register("Lee").await.unwrap_err();
    assert_eq!(user_again.code, ErrorCode::Unavailable, "nothing more is acknowledged");

    assert_eq!(second.wallet.charge(user, 100, None).await.unwrap(), 4_200);
    let seen = observe(&second, user, key).await;
    stop(first);
    stop(second);
    let third = start(log.handle(), &clock);
    assert_eq!(
        observe(&third, user, key).await,
        seen,
        "the log holds the new owner's writes only"
    );
    stop(third);
}
