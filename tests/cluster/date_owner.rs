//! A date taken over by a node of its own, against a real nats-server: it is read from
//! JetStream with everything the engine acknowledged on it, served over NATS, leaves a payment
//! under way for its saga to finish, fences the engine's actor off the date, and a former owner
//! that another claimed the date from answers nothing more.

use crate::common::nats::{self, NatsServer};
use crate::jetstream_log::{a_fans_day, clock, log_on, run, start, stop};
use concert_reservation::clock::Clock;
use concert_reservation::clock::ManualClock;
use concert_reservation::cluster::date_owner::{DateOwner, DateOwners};
use concert_reservation::cluster::date_rpc::RemoteDate;
use concert_reservation::cluster::lease::{Holder, Leases};
use concert_reservation::cluster::ownership::{Owner, Ownership};
use concert_reservation::cluster::placement;
use concert_reservation::config::Config;
use concert_reservation::domain::concert::NewDate;
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

        // The owner's snapshot of the date is what the next owner reads from.
        assert!(served.snapshot().await.unwrap() > 0);
        let name = Partition::Date(key).to_string();
        let stored = snapshot_names(&server).await;
        assert!(
            stored.iter().any(|stored| stored.starts_with(&format!("{name}@"))),
            "{stored:?}"
        );
        served.stop().await;
        let next = owner
            .take_over(key, Instant::now() + Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(statuses(&remote).await, [Sold, Held, Sold, Held]);
        next.stop().await;
        stop(engine).await;
    });
}

/// The names of the snapshots JetStream keeps.
async fn snapshot_names(server: &NatsServer) -> Vec<String> {
    use futures_util::StreamExt;
    let js = async_nats::jetstream::new(nats::connect(&server.url()).await);
    let store = js.get_object_store("concert-snapshots").await.unwrap();
    let listed: Vec<_> = store.list().await.unwrap().collect().await;
    listed.into_iter().map(|info| info.unwrap().name).collect()
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

/// A node's share of the dates: its ownership of their leases and the dates it serves.
struct DateNode {
    name: String,
    owners: Arc<DateOwners>,
    looking: tokio::task::JoinHandle<()>,
}

/// Long enough that three nodes sharing one thread, each snapshotting what it serves between
/// looks, renew their leases in time on a slow machine.
const TTL: Duration = Duration::from_secs(6);

async fn date_node(server: &NatsServer, name: &str, clock: &ManualClock) -> DateNode {
    let client = nats::connect(&server.url()).await;
    let js = async_nats::jetstream::new(client.clone());
    let leases = Leases::open(&js, "test-date-leases", TTL, 1).await.unwrap();
    let members = Leases::open(&js, "test-date-nodes", TTL, 1).await.unwrap();
    let me = Holder {
        node_id: name.into(),
        peer_url: String::new(),
        url: String::new(),
        term: String::new(),
    };
    let ownership = Ownership::new(leases, members, me);
    let owner = DateOwner::new(client, &config(), Arc::new(clock.clone()), actix::Arbiter::current());
    let owners = Arc::new(DateOwners::new(owner));
    let looking_owners = owners.clone();
    let looking = actix_rt::spawn(async move {
        loop {
            let _ = ownership.announce().await;
            if let Ok(dates) = looking_owners.dates_in_catalog().await {
                let _ = ownership.look(&dates, &*looking_owners).await;
            }
            // As often as a node would under a rush's load: takeovers read from snapshots.
            looking_owners.snapshot_served().await;
            tokio::time::sleep(TTL / 3).await;
        }
    });
    DateNode {
        name: name.into(),
        owners,
        looking,
    }
}

/// Waits until every date is served by the one of `nodes` that placement names, and answers
/// over NATS.
async fn every_date_served(nodes: &[&DateNode], dates: &[String], remote: impl Fn(&str) -> RemoteDate) {
    let placed = |node: &DateNode| -> Vec<String> {
        let names = nodes.iter().map(|node| node.name.as_str());
        (dates.iter())
            .filter(|date| placement::owner(date, names.clone()) == Some(node.name.as_str()))
            .cloned()
            .collect()
    };
    let started = Instant::now();
    while !nodes.iter().all(|node| node.owners.served() == placed(node)) {
        let served: Vec<Vec<String>> = nodes.iter().map(|node| node.owners.served()).collect();
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "served {served:?} of {dates:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for date in dates {
        remote(date)
            .counts()
            .await
            .unwrap_or_else(|error| panic!("{date}: {error}"));
    }
}

#[test]
fn dates_spread_over_nodes_and_move_with_their_holds_when_a_node_dies() {
    let server = NatsServer::start();
    run(async {
        let clock = clock();
        let engine = start(log_on(&server.url(), 1).await, &clock).await;
        let new_dates = (1..=6).map(|day| NewDate {
            date: format!("2026-12-{day:02}").parse().unwrap(),
            seat_count: 3,
            price: 1_000,
        });
        let concert = engine
            .catalog
            .create("Spread".into(), new_dates.collect())
            .await
            .unwrap();
        stop(engine).await;
        let mut dates: Vec<String> = (concert.dates.iter())
            .map(|date| Partition::Date((concert.concert_id, *date)).to_string())
            .collect();
        dates.sort();
        let client = nats::connect(&server.url()).await;
        let remote = |date: &str| RemoteDate::new(client.clone(), date, Duration::from_secs(5));

        let a = date_node(&server, "node-a", &clock).await;
        let b = date_node(&server, "node-b", &clock).await;
        let c = date_node(&server, "node-c", &clock).await;
        every_date_served(&[&a, &b, &c], &dates, remote).await;
        let ends = clock.now() + chrono::Duration::hours(1);
        for date in &dates {
            remote(date).hold(UserId::random(), 2, ends).await.unwrap();
        }

        // The node serving the most dates (two at least) dies: it looks no more, answers
        // nothing, and gives no lease back.
        let mut nodes = vec![a, b, c];
        nodes.sort_by_key(|node| node.owners.served().len());
        let dead = nodes.pop().expect("three nodes");
        dead.looking.abort();
        let orphaned = dead.owners.served();
        for date in &orphaned {
            dead.owners.lost(date).await;
        }
        every_date_served(&[&nodes[0], &nodes[1]], &dates, remote).await;
        for date in &dates {
            let seen = statuses(&remote(date)).await;
            assert_eq!(
                seen,
                [SeatStatus::Available, SeatStatus::Held, SeatStatus::Available],
                "{date}"
            );
        }
        for date in &orphaned {
            let taken = remote(date).hold(UserId::random(), 2, ends).await.unwrap_err();
            assert_eq!(taken.code, ErrorCode::SeatUnavailable, "the hold moved with {date}");
        }
        // Everything stops inside the runtime: a subscription dropped outside it panics.
        for node in nodes {
            node.looking.abort();
            for date in node.owners.served() {
                node.owners.lost(&date).await;
            }
        }
    });
}
