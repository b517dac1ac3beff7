//! The engine on the JetStream log: what it acknowledged comes back from JetStream alone, a
//! writer whose partition another took over is refused by JetStream, and a new partition is
//! claimed by one writer only.

use crate::common::nats::{self, NatsCluster, NatsServer};
use concert_reservation::clock::ManualClock;
use concert_reservation::config::Config;
use concert_reservation::domain::concert::{DateKey, NewDate};
use concert_reservation::domain::UserId;
use concert_reservation::error::ErrorCode;
use concert_reservation::persistence::jetstream_log::{JetStreamLog, JetStreamReader, JetStreamSettings};
use concert_reservation::persistence::log::{EventLog, Partition};
use concert_reservation::persistence::recovery;
use concert_reservation::persistence::Change;
use concert_reservation::services::{payments, recovery_limits, Services};
use std::sync::Arc;
use std::time::Duration;

/// Every test is bounded: a wedged cluster fails it instead of hanging the suite.
const WITHIN: Duration = Duration::from_secs(120);

pub(crate) fn run(test: impl std::future::Future<Output = ()>) {
    actix_rt::System::new().block_on(async {
        tokio::time::timeout(WITHIN, test).await.expect("the test ends in time");
    });
}

pub(crate) fn clock() -> ManualClock {
    ManualClock::starting_at("2026-12-01T10:00:00Z".parse().unwrap())
}

pub(crate) async fn log_on(urls: &str, replicas: usize) -> Arc<JetStreamLog> {
    let client = nats::connect(urls).await;
    JetStreamLog::open(client, &JetStreamSettings { replicas })
        .await
        .expect("the log opens")
}

/// Starts the engine on everything the stream holds, owning every partition.
pub(crate) async fn start(log: Arc<JetStreamLog>, clock: &ManualClock) -> Arc<Services> {
    let config = Config::defaults();
    let mut reader = JetStreamReader::load_all(&log).await.expect("JetStream reads");
    log.resume_from(&reader);
    let state = recovery::rebuild(&mut reader, &recovery_limits(&config)).expect("the log replays");
    Services::start_on(config, Arc::new(clock.clone()), state, log)
}

pub(crate) async fn stop(services: Arc<Services>) {
    services.log.stop().await;
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
pub(crate) async fn a_fans_day(services: &Arc<Services>) -> (UserId, DateKey) {
    let user = services.users.register("Kim").await.unwrap().user_id;
    let date = "2026-12-24".parse().unwrap();
    let new = NewDate {
        date,
        seat_count: 4,
        price: 1_000,
    };
    let concert = services.catalog.create("On JetStream".into(), vec![new]).await.unwrap();
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

#[test]
fn what_the_engine_acknowledged_comes_back_from_jetstream_alone() {
    let server = NatsServer::start();
    run(async {
        let clock = clock();
        let services = start(log_on(&server.url(), 1).await, &clock).await;
        let (user, key) = a_fans_day(&services).await;
        services.snapshot().await.unwrap();
        services.wallet.charge(user, 700, None).await.unwrap();
        let seen = observe(&services, user, key).await;
        assert!(seen.starts_with("4700 ["), "{seen}");
        stop(services).await;

        let again = start(log_on(&server.url(), 1).await, &clock).await;
        assert_eq!(observe(&again, user, key).await, seen);
        // It goes on appending after what it read.
        again.wallet.charge(user, 300, None).await.unwrap();
        stop(again).await;
        let third = start(log_on(&server.url(), 1).await, &clock).await;
        assert_eq!(third.wallet.balance(user).await.unwrap(), 5_000);
        stop(third).await;
    });
}

#[test]
fn a_writer_whose_partition_another_took_over_is_refused_by_jetstream() {
    let server = NatsServer::start();
    run(async {
        let clock = clock();
        let first = start(log_on(&server.url(), 1).await, &clock).await;
        let (user, key) = a_fans_day(&first).await;

        // A second process takes every partition over while the first still runs.
        let second = start(log_on(&server.url(), 1).await, &clock).await;
        assert_eq!(second.wallet.charge(user, 100, None).await.unwrap(), 4_100);
        let refused = first.wallet.charge(user, 100, None).await.unwrap_err();
        assert_eq!(
            refused.code,
            ErrorCode::Unavailable,
            "the former owner's write is refused"
        );

        assert_eq!(second.wallet.charge(user, 100, None).await.unwrap(), 4_200);
        let seen = observe(&second, user, key).await;
        stop(first).await;
        stop(second).await;
        let third = start(log_on(&server.url(), 1).await, &clock).await;
        assert_eq!(
            observe(&third, user, key).await,
            seen,
            "JetStream holds the new owner's writes only"
        );
        stop(third).await;
    });
}

#[test]
fn a_new_partition_is_claimed_by_one_writer_only() {
    let server = NatsServer::start();
    run(async {
        let one = log_on(&server.url(), 1).await;
        let other = log_on(&server.url(), 1).await;
        let user = |name: &str| {
            Change::UserRegistered(concert_reservation::domain::user::User {
                user_id: UserId::random(),
                name: name.into(),
            })
        };
        let first = one.append(Partition::Users, 0, vec![user("Kim")]);
        let second = other.append(Partition::Users, 0, vec![user("Lee")]);
        let (first, second) = futures_util::join!(first.durable(), second.durable());
        assert!(
            first.is_ok() != second.is_ok(),
            "exactly one claims entry 1: {first:?} {second:?}"
        );
        let fenced = if first.is_ok() { &other } else { &one };
        assert!(fenced.fenced(Partition::Users).is_some());
    });
}

#[test]
fn appends_go_on_while_one_of_three_servers_is_killed() {
    let mut cluster = NatsCluster::start();
    let urls = cluster.urls();
    run(async {
        let clock = clock();
        let services = start(log_on(&urls, 3).await, &clock).await;
        let (user, key) = a_fans_day(&services).await;
        for _ in 0..20 {
            services.wallet.charge(user, 10, None).await.unwrap();
        }
        cluster.servers[0].kill();
        for _ in 0..20 {
            // A charge may meet the election of a new stream leader: it is retried, never lost.
            services.wallet.charge(user, 10, None).await.unwrap();
        }
        let seen = observe(&services, user, key).await;
        assert!(seen.starts_with("4400 ["), "{seen}");
        stop(services).await;
        let again = start(log_on(&urls, 3).await, &clock).await;
        assert_eq!(observe(&again, user, key).await, seen);
        stop(again).await;
    });
}

#[test]
fn a_damaged_message_stops_a_takeover_and_names_its_partition() {
    let server = NatsServer::start();
    run(async {
        let clock = clock();
        let services = start(log_on(&server.url(), 1).await, &clock).await;
        let (user, _) = a_fans_day(&services).await;
        services.wallet.charge(user, 700, None).await.unwrap();
        stop(services).await;

        // The wallet's last message again with one byte flipped, as a buggy or hostile client
        // with access to NATS could publish it: JetStream's own checksums cannot tell.
        let client = nats::connect(&server.url()).await;
        let js = async_nats::jetstream::new(client);
        let stream = js.get_stream("CONCERT_LOG").await.unwrap();
        let last = stream.direct_get_last_for_subject("concert.log.wallet").await.unwrap();
        let mut damaged = last.payload.to_vec();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0x40;
        let published = js.publish("concert.log.wallet", damaged.into()).await.unwrap();
        published.await.unwrap();

        let log = log_on(&server.url(), 1).await;
        let refused = match JetStreamReader::load_all(&log).await {
            Ok(_) => panic!("a damaged message was replayed"),
            Err(refused) => refused.to_string(),
        };
        assert!(refused.contains("wallet") && refused.contains("damaged"), "{refused}");
    });
}
