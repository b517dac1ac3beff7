//! A sold-out date's waiting list on the seat map: who may join, the offers a seat coming back
//! makes, in order, and replay and snapshots of them.

use super::*;

fn start() -> DateTime<Utc> {
    "2026-12-24T10:00:00Z".parse().unwrap()
}

fn map(seats: u32) -> SeatMap {
    SeatMap::new(ConcertId::random(), "2026-12-24".parse().unwrap(), seats, 50_000)
}

/// A map and every event it made, as the actor keeps them: what is due first, then the command.
struct Date {
    map: SeatMap,
    events: Vec<SeatEvent>,
}

impl Date {
    fn at(&mut self, now: DateTime<Utc>) {
        let due = self.map.lapse_due(now);
        self.events.extend(due);
    }

    fn hold(&mut self, user: UserId, seat: i64, now: DateTime<Utc>) -> ReservationId {
        self.at(now);
        let reservation = ReservationId::random();
        let held = self
            .map
            .hold(user, seat, reservation, now, Duration::minutes(5), |_| true)
            .unwrap();
        self.events.push(held);
        reservation
    }

    fn sell(&mut self, reservation: ReservationId, user: UserId, now: DateTime<Utc>) {
        self.at(now);
        let (_, begun) = self.map.begin_payment(reservation, user, now).unwrap();
        self.events.push(begun);
        let sold = self.map.complete_payment(reservation, PaymentId::random(), now);
        self.events.push(sold);
    }

    fn join(&mut self, user: UserId, now: DateTime<Utc>) -> Result<EntryCode> {
        self.at(now);
        let code = EntryCode::random();
        let joined = self.map.join_waitlist(user, code, now)?;
        self.events.push(joined);
        Ok(code)
    }

    fn entry(&self, code: EntryCode, now: DateTime<Utc>) -> EntryView {
        self.map.waitlist_entry(code, now).expect("the entry is listed")
    }
}

/// A date of two seats: one sold, one held until 10:05.
fn sold_out() -> (Date, ReservationId, ReservationId) {
    let mut date = Date {
        map: map(2),
        events: Vec::new(),
    };
    let buyer = UserId::random();
    let sold = date.hold(buyer, 1, start());
    date.sell(sold, buyer, start());
    let held = date.hold(UserId::random(), 2, start());
    (date, sold, held)
}

#[test]
fn only_a_date_with_no_seat_available_takes_a_waiting_list_and_each_fan_once() {
    let mut date = Date {
        map: map(1),
        events: Vec::new(),
    };
    let fan = UserId::random();
    assert_eq!(date.join(fan, start()).unwrap_err().code, ErrorCode::SeatsAvailable);
    date.hold(UserId::random(), 1, start());
    let code = date.join(fan, start()).unwrap();
    assert_eq!(date.entry(code, start()).position, 1);
    assert_eq!(date.join(fan, start()).unwrap_err().code, ErrorCode::AlreadyWaitlisted);
    let second = date.join(UserId::random(), start()).unwrap();
    assert_eq!(date.entry(second, start()).position, 2);
}

#[test]
fn a_seat_that_comes_back_is_offered_to_the_first_fan_before_anyone_sees_it() {
    let (mut date, _, held) = sold_out();
    let (first, second) = (UserId::random(), UserId::random());
    let first_code = date.join(first, start()).unwrap();
    let second_code = date.join(second, start()).unwrap();
    // The hold lapsed at 10:05 and is not swept yet: nobody sees the seat free.
    let lapsed = start() + Duration::minutes(6);
    assert_eq!(date.map.seats(lapsed)[1].status, SeatStatus::Held);
    assert_eq!(date.map.counts(lapsed).available(), 0);
    date.at(lapsed);
    let offered = date.entry(first_code, lapsed);
    assert_eq!(
        (offered.position, offered.offer.as_ref().map(|offer| offer.seat_number)),
        (0, Some(2))
    );
    let offer = offered.offer.unwrap();
    assert_eq!(
        (offer.user_id, offer.held_until),
        (first, lapsed + Duration::minutes(5))
    );
    assert_ne!(offer.reservation_id, held);
    assert_eq!(date.entry(second_code, lapsed).position, 1, "now first in line");
    // The offer lapses in turn: the seat goes to the next fan.
    let later = lapsed + Duration::minutes(5);
    date.at(later);
    assert!(matches!(date.entry(first_code, later).state, EntryState::Lapsed(_)));
    let next = date.entry(second_code, later);
    assert_eq!(next.offer.map(|offer| offer.user_id), Some(second));
    assert!(
        hold_refused(&mut date, later),
        "the offered seat is not anyone else's to hold"
    );
}

fn hold_refused(date: &mut Date, now: DateTime<Utc>) -> bool {
    date.at(now);
    let refused = date.map.hold(
        UserId::random(),
        2,
        ReservationId::random(),
        now,
        Duration::minutes(5),
        |_| true,
    );
    refused.is_err_and(|error| error.code == ErrorCode::SeatUnavailable)
}

#[test]
fn a_paid_offer_sells_the_seat_and_a_cancelled_ticket_goes_to_the_list_first() {
    let (mut date, sold, held) = sold_out();
    let fans = [UserId::random(), UserId::random()];
    let codes = [
        date.join(fans[0], start()).unwrap(),
        date.join(fans[1], start()).unwrap(),
    ];
    let now = start() + Duration::minutes(1);
    date.at(now);
    // The held seat is given back: offered to the first.
    let holder = date.map.holder(held);
    let cancelled = date.map.cancel(held, holder, now).unwrap();
    assert!(matches!(
        cancelled[..],
        [SeatEvent::HoldCancelled { .. }, SeatEvent::OfferMade { .. }]
    ));
    date.events.extend(cancelled);
    let offer = date.entry(codes[0], now).offer.unwrap();
    date.sell(offer.reservation_id, fans[0], now);
    assert!(matches!(date.entry(codes[0], now).state, EntryState::Bought(_)));
    assert_eq!(date.map.counts(now).sold, 2);
    // A ticket cancelled: its seat is the second fan's.
    let freed = date.map.cancel_ticket(sold, 40_000, now);
    date.events.extend(freed);
    let second = date.entry(codes[1], now).offer.expect("offered the returned seat");
    assert_eq!(second.seat_number, 1);
    // Replay and a snapshot make the same list.
    let mut replayed = map(2);
    replayed.concert = date.map.concert();
    for event in &date.events {
        replayed.apply(event);
    }
    let restored = SeatMap::restore(date.map.image());
    for other in [&replayed, &restored] {
        for code in codes {
            assert_eq!(other.waitlist_entry(code, now), date.map.waitlist_entry(code, now));
        }
        assert_eq!(other.counts(now), date.map.counts(now));
    }
}

#[test]
fn a_full_list_refuses_a_new_fan() {
    let (mut date, _, _) = sold_out();
    for _ in 0..WAITLIST_MAX {
        date.join(UserId::random(), start()).unwrap();
    }
    let refused = date.join(UserId::random(), start()).unwrap_err();
    assert_eq!(
        refused.code,
        ErrorCode::QueueFull,
        "throwaway users cannot grow a list without end"
    );
    assert_eq!(refused.retry_after_seconds, Some(60));
}
