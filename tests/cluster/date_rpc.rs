//! A date's actor served over a real nats-server and asked through a `RemoteDate`: every call
//! answers as the local handle would, refusals keep their codes, and a date nobody serves is
//! UNAVAILABLE with a Retry-After.

use crate::common::nats::{self, NatsServer};
use concert_reservation::actors::concert_date::{ConcertDateHandle, DateContext};
use concert_reservation::clock::{ManualClock, SharedClock};
use concert_reservation::cluster::date_rpc::{self, CountedHold, RemoteDate};
use concert_reservation::domain::seat_map::{ReservationStatus, SeatMap, SeatStatus};
use concert_reservation::domain::{ConcertId, PaymentId, ReservationId, UserId};
use concert_reservation::error::ErrorCode;
use concert_reservation::persistence::log::SharedLog;
use concert_reservation::persistence::memory_log::MemoryLog;
use concert_reservation::persistence::Part;
use std::sync::Arc;
use std::time::Duration;

const PARTITION: &str = "date.test.2026-12-24";

fn start_date(clock: &SharedClock, seats: u32) -> (ConcertDateHandle, SharedLog) {
    let log: SharedLog = MemoryLog::new();
    let context = DateContext {
        clock: clock.clone(),
        hold_ttl: chrono::Duration::minutes(5),
        hold_max: 4,
        ledger: Arc::default(),
        reservations: Arc::default(),
        waitlists: Arc::default(),
        requests_max: 64,
        log: log.clone(),
    };
    let map = SeatMap::new(ConcertId::random(), "2026-12-24".parse().unwrap(), seats, 1_000);
    let map = Part { seq: 0, state: map };
    let date = ConcertDateHandle::start(map, Vec::new(), context, &actix::Arbiter::current());
    (date, log)
}

/// A date of `seats` seats served over a nats-server of its own, until the task is aborted
/// (inside the runtime: a subscription dropped outside it panics).
async fn served(seats: u32) -> (NatsServer, SharedClock, actix_web::rt::task::JoinHandle<()>) {
    let server = NatsServer::start();
    let clock: SharedClock = Arc::new(ManualClock::starting_at("2026-12-24T10:00:00Z".parse().unwrap()));
    let (date, log) = start_date(&clock, seats);
    let subject = date_rpc::subject_of(PARTITION);
    let serving = date_rpc::serve(nats::connect(&server.url()).await, subject, date, log)
        .await
        .expect("the date is served");
    (server, clock, serving)
}

#[actix_rt::test]
async fn a_date_asked_over_nats_answers_as_its_actor_does() {
    let (server, clock, serving) = served(3).await;
    let remote = RemoteDate::new(nats::connect(&server.url()).await, PARTITION, Duration::from_secs(5));
    let (kim, lee) = (UserId::random(), UserId::random());
    let token_ends = clock.now() + chrono::Duration::hours(1);

    let held = remote.hold(kim, 2, token_ends).await.expect("a free seat is held");
    assert_eq!((held.seat_number, held.status), (2, ReservationStatus::Held));
    let taken = remote.hold(lee, 2, token_ends).await.unwrap_err();
    assert_eq!(taken.code, ErrorCode::SeatUnavailable);
    let missing = remote.hold(lee, 9, token_ends).await.unwrap_err();
    assert_eq!(missing.code, ErrorCode::SeatNotFound, "{missing}");
    assert_eq!(remote.reservation(held.reservation_id, kim).await.unwrap(), held);
    assert_eq!(
        remote.reservation(held.reservation_id, lee).await.unwrap_err().code,
        ErrorCode::ReservationNotFound,
        "another fan's reservation is not shown"
    );

    let seen = remote.seat_map().await.unwrap();
    let statuses: Vec<SeatStatus> = seen.seats.iter().map(|seat| seat.status).collect();
    assert_eq!(
        statuses,
        [SeatStatus::Available, SeatStatus::Held, SeatStatus::Available]
    );
    assert_eq!((seen.counts.total, seen.counts.held), (3, 1));

    let paying = remote.begin_payment(held.reservation_id, kim).await.unwrap();
    assert_eq!(paying.reservation_id, held.reservation_id);
    remote
        .complete_payment(held.reservation_id, PaymentId::random())
        .await
        .unwrap();
    let counts = remote.counts().await.unwrap();
    assert_eq!((counts.sold, counts.held, counts.revenue), (1, 0, 1_000));

    let other = remote.hold(lee, 3, token_ends).await.unwrap();
    remote.cancel(other.reservation_id, lee).await.unwrap();
    assert_eq!(
        remote.counts().await.unwrap().held,
        0,
        "the cancelled seat is free again"
    );

    // The owner stops serving the date (it died, or gave the date up): nobody answers, and
    // nothing is guessed.
    serving.abort();
    let _ = serving.await;
    let impatient = RemoteDate::new(
        nats::connect(&server.url()).await,
        PARTITION,
        Duration::from_millis(300),
    );
    let gone = impatient.hold(lee, 1, token_ends).await.unwrap_err();
    assert_eq!(gone.code, ErrorCode::Unavailable);
    assert_eq!(gone.retry_after_seconds, Some(1));
}

/// A date between owners (one gave it up, the next not serving it yet) is asked again while the
/// call may wait: the fan is answered by the next owner, not told UNAVAILABLE.
#[actix_rt::test]
async fn a_call_to_a_date_between_owners_is_answered_by_the_next_one() {
    let server = NatsServer::start();
    let clock: SharedClock = Arc::new(ManualClock::starting_at("2026-12-24T10:00:00Z".parse().unwrap()));
    let remote = RemoteDate::new(nats::connect(&server.url()).await, PARTITION, Duration::from_secs(10));
    let token_ends = clock.now() + chrono::Duration::hours(1);
    let asked = actix_web::rt::spawn(async move { remote.hold(UserId::random(), 2, token_ends).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!asked.is_finished(), "nobody serves the date yet: the call waits");

    let (date, log) = start_date(&clock, 3);
    let subject = date_rpc::subject_of(PARTITION);
    let serving = date_rpc::serve(nats::connect(&server.url()).await, subject, date, log)
        .await
        .expect("the date is served");
    let held = asked.await.unwrap().expect("the next owner holds the seat");
    assert_eq!((held.seat_number, held.status), (2, ReservationStatus::Held));
    serving.abort();
    let _ = serving.await;
}

/// The engine asks again when an answer was lost (the owner's connection moving, the engine
/// dying before it kept a keyed hold's answer): a hold asked again under its reservation is told
/// again, and a payment's end asked again is done once.
#[actix_rt::test]
async fn a_call_asked_again_after_a_lost_answer_is_told_again_not_done_twice() {
    let (server, clock, serving) = served(3).await;
    let remote = RemoteDate::new(nats::connect(&server.url()).await, PARTITION, Duration::from_secs(5));
    let kim = UserId::random();
    let token_ends = clock.now() + chrono::Duration::hours(1);
    let named = CountedHold {
        reservation: ReservationId::random(),
        within_limit: true,
    };

    let held = remote.hold_as(kim, 2, token_ends, Some(named)).await.unwrap();
    assert_eq!(held.reservation_id, named.reservation);
    let again = remote.hold_as(kim, 2, token_ends, Some(named)).await;
    assert_eq!(again.unwrap(), held, "the hold made is told, not refused as taken");
    assert_eq!(remote.counts().await.unwrap().held, 1);

    let (paid, given_back) = (held.reservation_id, ReservationId::random());
    remote.begin_payment(paid, kim).await.unwrap();
    let payment = PaymentId::random();
    remote.complete_payment(paid, payment).await.unwrap();
    remote.complete_payment(paid, payment).await.unwrap();
    let other = CountedHold {
        reservation: given_back,
        within_limit: true,
    };
    remote.hold_as(kim, 3, token_ends, Some(other)).await.unwrap();
    remote.begin_payment(given_back, kim).await.unwrap();
    remote.abort_payment(given_back).await.unwrap();
    remote.abort_payment(given_back).await.unwrap();
    let counts = remote.counts().await.unwrap();
    assert_eq!((counts.sold, counts.held, counts.revenue), (1, 1, 1_000));
    assert_eq!(
        remote.reservation(given_back, kim).await.unwrap().status,
        ReservationStatus::Held,
        "a payment given back twice leaves the hold as once"
    );
    serving.abort();
    let _ = serving.await;
}

#[actix_rt::test]
async fn of_many_fans_asking_over_nats_for_one_seat_exactly_one_wins() {
    let (server, clock, serving) = served(1).await;
    let token_ends = clock.now() + chrono::Duration::hours(1);
    let mut asking = Vec::new();
    for _ in 0..4 {
        // Fans come through several nodes: a connection each. The owner answers the 64 in turn:
        // a call may wait for all the others on a slow machine.
        let remote = RemoteDate::new(nats::connect(&server.url()).await, PARTITION, Duration::from_secs(30));
        for _ in 0..16 {
            let remote = remote.clone();
            asking.push(actix_rt::spawn(async move {
                remote.hold(UserId::random(), 1, token_ends).await
            }));
        }
    }
    let mut won = 0;
    for ask in asking {
        match ask.await.unwrap() {
            Ok(_) => won += 1,
            Err(refused) => assert_eq!(refused.code, ErrorCode::SeatUnavailable),
        }
    }
    assert_eq!(won, 1);
    serving.abort();
    let _ = serving.await;
}

/// A ticket cancelled and a waiting list over NATS, as the date's actor answers them: the list
/// taken only when sold out, the returned seat offered to the first fan, read by the entry's code.
#[actix_rt::test]
async fn a_waiting_list_and_a_cancelled_ticket_are_answered_over_nats_as_the_actor_does() {
    let (server, clock, serving) = served(1).await;
    let remote = RemoteDate::new(nats::connect(&server.url()).await, PARTITION, Duration::from_secs(5));
    let (kim, lee) = (UserId::random(), UserId::random());
    let token_ends = clock.now() + chrono::Duration::hours(1);
    let refused = remote.join_waitlist(lee).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::SeatsAvailable);

    let held = remote.hold(kim, 1, token_ends).await.unwrap();
    remote.begin_payment(held.reservation_id, kim).await.unwrap();
    remote
        .complete_payment(held.reservation_id, PaymentId::random())
        .await
        .unwrap();
    let (code, position) = remote.join_waitlist(lee).await.expect("a sold-out date takes the list");
    assert_eq!(position, 1);
    let again = remote.join_waitlist(lee).await.unwrap_err();
    assert_eq!(again.code, ErrorCode::AlreadyWaitlisted);

    remote.cancel_ticket(held.reservation_id, 800).await.unwrap();
    // Asked again after a lost answer: done once.
    remote.cancel_ticket(held.reservation_id, 800).await.unwrap();
    let entry = remote.waitlist_entry(code).await.unwrap().expect("the entry is listed");
    let offer = entry.offer.expect("the returned seat is offered");
    assert_eq!((offer.user_id, offer.seat_number, entry.position), (lee, 1, 0));
    let counts = remote.counts().await.unwrap();
    assert_eq!((counts.sold, counts.held, counts.revenue), (0, 1, 200), "the fee stays");
    serving.abort();
    let _ = serving.await;
}
