//! A date taken over by a node of its own, against a real nats-server: it is read from
//! JetStream with everything the engine acknowledged on it, served over NATS, leaves a payment
//! under way for its saga to finish, fences the engine's actor off the date, and a former owner
//! that another claimed the date from answers nothing more.

use crate::common::nats::{self, NatsServer};
use crate::jetstream_log::{a_fans_day, clock, log_on, run, start, stop};
use concert_reservation::clock::Clock;
use concert_reservation::cluster::date_owner::DateOwner;
use concert_reservation::cluster::date_rpc::RemoteDate;
use concert_reservation::config::Config;
use concert_reservation::domain::seat_map::SeatStatus;
use concert_reservation::domain::{PaymentId, UserId};
use concert_reservation::error::ErrorCode;
use concert_reservation::persistence::log::Partition;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config() -> Config {
    Config {
        replicas: 1,
        ..Config::defaults()
    }
}

async fn statuses(remote: &RemoteDate) -> Vec<SeatStatus> {
    let seen = remote.seat_map().await.expect("the date is served");
    seen.seats.iter().map(|seat| seat.status).collect()
}

#[test]
fn a_date_taken_over_by_a_node_of_its_own_is_served_with_everything_acknowledged_on_it() {
    let server = NatsServer::start();
    run(async {
        let clock = clock();
        let engine = start(log_on(&server.url(), 1).await, &clock).await;
        // Seat 1 sold, seat 2 held; seat 3's payment begun and not yet finished.
        let (_, key) = a_fans_day(&engine).await;
        let lee = engine.users.register("Lee").await.unwrap().user_id;
        let on_engine = engine.catalog.date(key.0, key.1).unwrap();
        let paying = on_engine
            .hold(lee, 3, clock.now() + chrono::Duration::hours(1), None)
            .await
            .unwrap();
        on_engine.begin_payment(paying.reservation_id, lee).await.unwrap();

        let client = nats::connect(&server.url()).await;
        let owner = DateOwner::new(
            client.clone(),
            &config(),
            Arc::new(clock.clone()),
            actix::Arbiter::current(),
        );
        let served = owner
            .take_over(key, Instant::now() + Duration::from_secs(60))
            .await
            .unwrap();
        let remote = RemoteDate::new(client, &Partition::Date(key).to_string(), Duration::from_secs(5));
        use SeatStatus::{Available, Held, Sold};
        assert_eq!(statuses(&remote).await, [Sold, Held, Held, Available]);

        // The saga that began the payment finishes it on the date's new owner.
        remote
            .complete_payment(paying.reservation_id, PaymentId::random())
            .await
            .unwrap();
        let another = remote
            .hold(UserId::random(), 4, clock.now() + chrono::Duration::hours(1))
            .await;
        assert!(another.is_ok(), "{another:?}");
        assert_eq!(statuses(&remote).await, [Sold, Held, Sold, Held]);

        // The engine's own actor for the date still thinks seat 4 free: its append is refused.
        let fenced = on_engine
            .hold(UserId::random(), 4, clock.now() + chrono::Duration::hours(1), None)
            .await;
        assert_eq!(fenced.unwrap_err().code, ErrorCode::Unavailable);

        served.stop().await;
        stop(engine).await;
    });
}

#[test]
fn a_former_owner_of_a_date_answers_nothing_once_another_claimed_it() {
    let server = NatsServer::start();
    run(async {
        let clock = clock();
        let engine = start(log_on(&server.url(), 1).await, &clock).await;
        let (_, key) = a_fans_day(&engine).await;
        stop(engine).await;
        let client = nats::connect(&server.url()).await;
        let first = DateOwner::new(
            client.clone(),
            &config(),
            Arc::new(clock.clone()),
            actix::Arbiter::current(),
        );
        let second = DateOwner::new(
            client.clone(),
            &config(),
            Arc::new(clock.clone()),
            actix::Arbiter::current(),
        );
        // A lease long enough for the first to believe it still owns the date (it was paused,
        // say) when the second takes it.
        let stale = first
            .take_over(key, Instant::now() + Duration::from_secs(60))
            .await
            .unwrap();
        let present = second
            .take_over(key, Instant::now() + Duration::from_secs(60))
            .await
            .unwrap();
        let ends = clock.now() + chrono::Duration::hours(1);
        let refused = stale.date().hold(UserId::random(), 3, ends, None).await.unwrap_err();
        assert_eq!(
            refused.code,
            ErrorCode::Unavailable,
            "the former owner's append is refused"
        );
        assert!(stale.failure().is_some());

        // Both are still subscribed to the date; only the present owner answers, every time.
        let remote = RemoteDate::new(client, &Partition::Date(key).to_string(), Duration::from_secs(5));
        for seat in 3..=4 {
            remote.hold(UserId::random(), seat, ends).await.unwrap();
        }
        for _ in 0..20 {
            use SeatStatus::{Held, Sold};
            assert_eq!(statuses(&remote).await, [Sold, Held, Held, Held]);
        }
        stale.stop().await;
        present.stop().await;
    });
}
