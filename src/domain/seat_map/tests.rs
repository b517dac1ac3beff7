use super::*;
use proptest::prelude::*;
use std::collections::HashMap as Model;

fn start() -> DateTime<Utc> {
    "2026-12-24T10:00:00Z".parse().unwrap()
}

fn map(seats: u32) -> SeatMap {
    SeatMap::new(ConcertId::random(), "2026-12-24".parse().unwrap(), seats, 50_000)
}

fn hold(map: &mut SeatMap, user: UserId, seat: i64, now: DateTime<Utc>) -> Result<ReservationId> {
    map.lapse_due(now);
    let reservation = ReservationId::random();
    map.hold(user, seat, reservation, now, Duration::minutes(5), |_| true)?;
    Ok(reservation)
}

#[test]
fn a_held_seat_cannot_be_held_again() {
    let mut map = map(50);
    hold(&mut map, UserId::random(), 7, start()).unwrap();
    let taken = hold(&mut map, UserId::random(), 7, start()).unwrap_err();
    assert_eq!(taken.code, ErrorCode::SeatUnavailable);
    assert_eq!(map.seats(start())[6].status, SeatStatus::Held);
    assert_eq!(map.counts(start()).available(), 49);
}

#[test]
fn seats_outside_the_map_are_not_found() {
    let mut map = map(50);
    for seat in [0, -1, 51, i64::MAX] {
        assert_eq!(
            hold(&mut map, UserId::random(), seat, start()).unwrap_err().code,
            ErrorCode::SeatNotFound
        );
    }
}

#[test]
fn a_lapsed_hold_frees_the_seat_at_once_before_any_sweep() {
    let mut map = map(50);
    let user = UserId::random();
    let reservation = hold(&mut map, user, 3, start()).unwrap();
    let lapsed = start() + Duration::minutes(5);
    assert_eq!(map.seats(lapsed)[2].status, SeatStatus::Available);
    assert_eq!(map.counts(lapsed).available(), 50);
    assert_eq!(
        map.reservation(reservation, user, lapsed).unwrap().status,
        ReservationStatus::Expired
    );
    let events = map.lapse_due(lapsed);
    assert_eq!(
        events,
        vec![SeatEvent::HoldLapsed {
            reservation,
            at: lapsed
        }]
    );
    assert!(hold(&mut map, UserId::random(), 3, lapsed).is_ok());
}

#[test]
fn the_hold_limit_is_asked_only_for_a_free_seat() {
    let mut map = map(50);
    hold(&mut map, UserId::random(), 1, start()).unwrap();
    let mut asked = false;
    let taken = map.hold(
        UserId::random(),
        1,
        ReservationId::random(),
        start(),
        Duration::minutes(5),
        |_| {
            asked = true;
            true
        },
    );
    assert_eq!(taken.unwrap_err().code, ErrorCode::SeatUnavailable);
    assert!(!asked);
    let refused = map.hold(
        UserId::random(),
        2,
        ReservationId::random(),
        start(),
        Duration::minutes(5),
        |_| false,
    );
    assert_eq!(refused.unwrap_err().code, ErrorCode::HoldLimitReached);
    assert_eq!(map.seats(start())[1].status, SeatStatus::Available);
}

#[test]
fn cancelling_frees_the_seat_and_cannot_happen_twice() {
    let mut map = map(50);
    let user = UserId::random();
    let reservation = hold(&mut map, user, 9, start()).unwrap();
    map.cancel(reservation, user, start()).unwrap();
    assert_eq!(map.seats(start())[8].status, SeatStatus::Available);
    assert_eq!(
        map.cancel(reservation, user, start()).unwrap_err().code,
        ErrorCode::ReservationNotHeld
    );
    assert_eq!(
        map.reservation(reservation, user, start()).unwrap().status,
        ReservationStatus::Cancelled
    );
}

#[test]
fn someone_elses_reservation_is_not_found() {
    let mut map = map(50);
    let reservation = hold(&mut map, UserId::random(), 9, start()).unwrap();
    let stranger = UserId::random();
    assert_eq!(
        map.reservation(reservation, stranger, start()).unwrap_err().code,
        ErrorCode::ReservationNotFound
    );
    assert_eq!(
        map.cancel(reservation, stranger, start()).unwrap_err().code,
        ErrorCode::ReservationNotFound
    );
}

#[test]
fn a_hold_being_paid_does_not_lapse_and_a_paid_one_is_sold() {
    let mut map = map(50);
    let user = UserId::random();
    let reservation = hold(&mut map, user, 4, start()).unwrap();
    map.begin_payment(reservation, user, start()).unwrap();
    let late = start() + Duration::minutes(6);
    assert!(map.lapse_due(late).is_empty());
    assert_eq!(map.seats(late)[3].status, SeatStatus::Held);
    assert_eq!(
        map.cancel(reservation, user, late).unwrap_err().code,
        ErrorCode::ReservationNotHeld
    );
    map.complete_payment(reservation, PaymentId::random(), late);
    assert_eq!(map.seats(late)[3].status, SeatStatus::Sold);
    assert_eq!(
        map.reservation(reservation, user, late).unwrap().status,
        ReservationStatus::Confirmed
    );
    assert_eq!(
        map.begin_payment(reservation, user, late).unwrap_err().code,
        ErrorCode::ReservationNotHeld
    );
}

#[test]
fn an_aborted_payment_leaves_the_hold_as_it_was_or_lapses_it_if_its_time_passed() {
    let mut map = map(50);
    let user = UserId::random();
    let kept = hold(&mut map, user, 1, start()).unwrap();
    map.begin_payment(kept, user, start()).unwrap();
    assert_eq!(
        map.abort_payment(kept, start()),
        [SeatEvent::PaymentAborted {
            reservation: kept,
            at: start()
        }]
    );
    assert_eq!(
        map.reservation(kept, user, start()).unwrap().status,
        ReservationStatus::Held
    );
    assert_eq!(map.next_deadline(), Some(start() + Duration::minutes(5)));

    map.begin_payment(kept, user, start()).unwrap();
    let late = start() + Duration::minutes(7);
    assert_eq!(map.abort_payment(kept, late).len(), 2, "aborted, then lapsed");
    assert_eq!(map.seats(late)[0].status, SeatStatus::Available);
}

#[test]
fn beginning_or_aborting_a_payment_changes_the_version() {
    let mut map = map(50);
    let user = UserId::random();
    let reservation = hold(&mut map, user, 1, start()).unwrap();
    let held = map.version();
    map.begin_payment(reservation, user, start()).unwrap();
    let paying = map.version();
    map.abort_payment(reservation, start());
    assert!(held < paying && paying < map.version());
}

#[test]
fn a_payment_the_wallet_recorded_sells_the_seat_even_past_the_holds_deadline() {
    let mut map = map(50);
    let user = UserId::random();
    let begun = hold(&mut map, user, 1, start()).unwrap();
    map.begin_payment(begun, user, start()).unwrap();
    let never_begun = hold(&mut map, user, 2, start()).unwrap();
    let late = start() + Duration::minutes(9);
    for reservation in [begun, never_begun] {
        let events = map.finish_recorded_payment(reservation, PaymentId::random(), late);
        assert!(matches!(events.last(), Some(SeatEvent::SeatSold { .. })));
    }
    assert_eq!(map.seats(late)[0].status, SeatStatus::Sold);
    assert_eq!(map.seats(late)[1].status, SeatStatus::Sold);
    assert!(map.lapse_due(late).is_empty(), "a sold hold never lapses");
    assert_eq!(map.payments_under_way().count(), 0);
}

#[test]
fn paying_a_lapsed_hold_is_refused_as_expired() {
    let mut map = map(50);
    let user = UserId::random();
    let reservation = hold(&mut map, user, 1, start()).unwrap();
    let late = start() + Duration::minutes(5);
    map.lapse_due(late);
    assert_eq!(
        map.begin_payment(reservation, user, late).unwrap_err().code,
        ErrorCode::ReservationExpired
    );
    assert_eq!(
        map.cancel(reservation, user, late).unwrap_err().code,
        ErrorCode::ReservationExpired
    );
}

#[derive(Debug, Clone)]
enum Command {
    Hold { user: u8, seat: i64 },
    Cancel(usize),
    Pay { pick: usize, succeeds: bool },
    Wait(u16),
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        5 => (0u8..6, -1i64..12).prop_map(|(user, seat)| Command::Hold { user, seat }),
        2 => any::<usize>().prop_map(Command::Cancel),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, succeeds)| Command::Pay { pick, succeeds }),
        2 => (0u16..400).prop_map(Command::Wait),
    ]
}

proptest! {
    #[test]
    fn a_seat_has_at_most_one_holder_or_buyer_and_replay_agrees(
        commands in proptest::collection::vec(command(), 1..150)
    ) {
        let users: Vec<UserId> = (0..6).map(|_| UserId::random()).collect();
        let mut map = map(10);
        let mut now = start();
        let mut journal = Vec::new();
        let mut made: Vec<(ReservationId, UserId)> = Vec::new();
        let mut owner_of_sold: Model<u32, UserId> = Model::new();
        for command in commands {
            journal.extend(map.lapse_due(now));
            match command {
                Command::Hold { user, seat } => {
                    let reservation = ReservationId::random();
                    let user = users[usize::from(user)];
                    if let Ok(event) = map.hold(user, seat, reservation, now, Duration::minutes(5), |_| true) {
                        journal.push(event);
                        made.push((reservation, user));
                    }
                }
                Command::Cancel(pick) if !made.is_empty() => {
                    let (reservation, user) = made[pick % made.len()];
                    if let Ok(events) = map.cancel(reservation, user, now) {
                        journal.extend(events);
                    }
                }
                Command::Pay { pick, succeeds } if !made.is_empty() => {
                    let (reservation, user) = made[pick % made.len()];
                    if let Ok((held, begun)) = map.begin_payment(reservation, user, now) {
                        journal.push(begun);
                        if succeeds {
                            journal.push(map.complete_payment(reservation, PaymentId::random(), now));
                            prop_assert!(owner_of_sold.insert(held.seat_number, user).is_none(), "a seat sold twice");
                        } else {
                            journal.extend(map.abort_payment(reservation, now));
                        }
                    }
                }
                Command::Wait(seconds) => now += Duration::seconds(i64::from(seconds)),
                _ => {}
            }
            let seats = map.seats(now);
            let counts = map.counts(now);
            prop_assert_eq!(counts.held, seats.iter().filter(|s| s.status == SeatStatus::Held).count() as u64);
            prop_assert_eq!(counts.sold, owner_of_sold.len() as u64);
        }
        let mut replayed = SeatMap::new(map.concert(), map.date(), 10, 50_000);
        for event in &journal {
            replayed.apply(event);
        }
        prop_assert_eq!(replayed.seats(now), map.seats(now));
        for (reservation, user) in &made {
            prop_assert_eq!(replayed.reservation(*reservation, *user, now), map.reservation(*reservation, *user, now));
        }
    }
}
