//! Each fan's live holds across all concert dates, so the `hold_max` limit holds even when two
//! date actors take holds for the same fan at once.

use crate::domain::seat_map::{SeatEvent, SeatMap};
use crate::domain::{ReservationId, UserId};
use chrono::{DateTime, Utc};
use dashmap::DashMap;

#[derive(Default)]
pub struct HoldLedger {
    holds: DashMap<UserId, Vec<(ReservationId, DateTime<Utc>)>>,
}

impl HoldLedger {
    /// Records a hold until `until` if the user has fewer than `hold_max` live ones at `now`.
    /// The map entry is locked throughout, so two dates cannot both take the last slot. A hold
    /// asked again under its own reservation (a keyed retry whose answer was lost) counts once.
    pub fn try_take(
        &self,
        user: UserId,
        reservation: ReservationId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        hold_max: u32,
    ) -> bool {
        let mut holds = self.holds.entry(user).or_default();
        // A hold past its time is free at once, even before its date actor sweeps it.
        holds.retain(|(_, held_until)| *held_until > now);
        if holds.iter().any(|(held, _)| *held == reservation) {
            return true;
        }
        if holds.len() >= hold_max as usize {
            return false;
        }
        holds.push((reservation, until));
        true
    }

    /// Enters a recovered hold, which was within the limit when it was taken.
    pub fn restore(&self, user: UserId, reservation: ReservationId, until: DateTime<Utc>) {
        self.holds.entry(user).or_default().push((reservation, until));
    }

    /// Enters the live holds of a recovered date: what following its events live had counted.
    pub fn restore_date(&self, map: &SeatMap) {
        for (reservation, user, until) in map.live_holds() {
            self.restore(user, reservation, until);
        }
    }

    /// Keeps the count in step with `event`, which the date's `map` has applied. A hold is
    /// counted when it is taken (`try_take`), before its event exists.
    pub fn follow(&self, event: &SeatEvent, map: &SeatMap) {
        match *event {
            SeatEvent::HoldCancelled { reservation, .. }
            | SeatEvent::HoldLapsed { reservation, .. }
            | SeatEvent::SeatSold { reservation, .. } => self.release(map.holder(reservation), reservation),
            // A hold being paid cannot lapse, so it counts against the limit until it ends.
            SeatEvent::PaymentBegun { reservation, .. } => {
                self.extend(map.holder(reservation), reservation, DateTime::<Utc>::MAX_UTC);
            }
            SeatEvent::PaymentAborted { reservation, .. } => {
                let (holder, until) = map.hold_of(reservation);
                self.extend(holder, reservation, until);
            }
            // An offer is not the fan's choice: it counts against no limit of theirs. A sold
            // seat counts against nobody's holds.
            SeatEvent::SeatHeld { .. }
            | SeatEvent::OfferMade { .. }
            | SeatEvent::TicketCancelled { .. }
            | SeatEvent::Waitlisted { .. } => {}
        }
    }

    /// Moves the time a hold counts until.
    pub fn extend(&self, user: UserId, reservation: ReservationId, until: DateTime<Utc>) {
        if let Some(mut holds) = self.holds.get_mut(&user) {
            for hold in holds.iter_mut().filter(|(held, _)| *held == reservation) {
                hold.1 = until;
            }
        }
    }

    /// The user's holds, live or being paid.
    pub fn holds_of(&self, user: UserId) -> Vec<ReservationId> {
        let holds = self.holds.get(&user);
        holds
            .map(|holds| holds.iter().map(|(held, _)| *held).collect())
            .unwrap_or_default()
    }

    pub fn release(&self, user: UserId, reservation: ReservationId) {
        if let Some(mut holds) = self.holds.get_mut(&user) {
            holds.retain(|(held, _)| *held != reservation);
        }
        self.holds.remove_if(&user, |_, holds| holds.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::waitlist::EntryCode;
    use crate::domain::{ConcertId, PaymentId};
    use chrono::Duration;
    use proptest::prelude::*;

    #[test]
    fn the_limit_counts_only_live_holds() {
        let ledger = HoldLedger::default();
        let user = UserId::random();
        let now: DateTime<Utc> = "2026-12-24T10:00:00Z".parse().unwrap();
        let first = ReservationId::random();
        assert!(ledger.try_take(user, first, now + Duration::minutes(5), now, 2));
        assert!(ledger.try_take(user, ReservationId::random(), now + Duration::minutes(6), now, 2));
        assert!(!ledger.try_take(user, ReservationId::random(), now + Duration::minutes(5), now, 2));
        ledger.release(user, first);
        assert!(ledger.try_take(user, ReservationId::random(), now + Duration::minutes(5), now, 2));
        let later = now + Duration::minutes(6);
        assert!(ledger.try_take(user, ReservationId::random(), later + Duration::minutes(5), later, 2));
    }

    #[test]
    fn a_hold_asked_again_under_its_reservation_counts_once() {
        let ledger = HoldLedger::default();
        let user = UserId::random();
        let now: DateTime<Utc> = "2026-12-24T10:00:00Z".parse().unwrap();
        let asked_twice = ReservationId::random();
        let until = now + Duration::minutes(5);
        assert!(ledger.try_take(user, asked_twice, until, now, 2));
        assert!(ledger.try_take(user, asked_twice, until, now, 2));
        assert!(ledger.try_take(user, ReservationId::random(), until, now, 2));
        ledger.release(user, asked_twice);
        assert!(ledger.try_take(user, ReservationId::random(), until, now, 2));
        assert!(!ledger.try_take(user, ReservationId::random(), until, now, 2));
    }

    #[test]
    fn an_extended_hold_keeps_counting() {
        let ledger = HoldLedger::default();
        let user = UserId::random();
        let now: DateTime<Utc> = "2026-12-24T10:00:00Z".parse().unwrap();
        let paying = ReservationId::random();
        assert!(ledger.try_take(user, paying, now + Duration::minutes(5), now, 1));
        ledger.extend(user, paying, DateTime::<Utc>::MAX_UTC);
        let later = now + Duration::minutes(6);
        assert!(!ledger.try_take(user, ReservationId::random(), later + Duration::minutes(5), later, 1));
    }

    /// The user's holds that count at `now`, in order: what two ledgers compare by.
    fn counted(ledger: &HoldLedger, user: UserId, now: DateTime<Utc>) -> Vec<(ReservationId, DateTime<Utc>)> {
        let mut holds: Vec<_> = (ledger.holds.get(&user))
            .map(|holds| holds.iter().copied().filter(|(_, until)| *until > now).collect())
            .unwrap_or_default();
        holds.sort();
        holds
    }

    #[derive(Debug, Clone)]
    enum Step {
        Hold { user: usize, seat: i64 },
        Cancel(usize),
        Pay { pick: usize, succeeds: bool },
        Join(usize),
        Refund(usize),
        Wait(u16),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            5 => (0..USERS, 1i64..=SEATS).prop_map(|(user, seat)| Step::Hold { user, seat }),
            2 => any::<usize>().prop_map(Step::Cancel),
            2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, succeeds)| Step::Pay { pick, succeeds }),
            2 => (0..USERS).prop_map(Step::Join),
            1 => any::<usize>().prop_map(Step::Refund),
            2 => (0u16..400).prop_map(Step::Wait),
        ]
    }

    const USERS: usize = 5;
    const SEATS: i64 = 3;

    /// A date, the ledger following it as its actor does, and what the test may act on.
    struct Followed {
        map: SeatMap,
        ledger: HoldLedger,
        users: Vec<UserId>,
        /// Holds and offers, with their holder.
        made: Vec<(ReservationId, UserId)>,
        sold: Vec<ReservationId>,
        listed: std::collections::HashMap<EntryCode, UserId>,
    }

    impl Followed {
        /// Runs `step` at `now` as the actor would: what is due, the command, then every event
        /// followed once the map applied them all.
        fn run(&mut self, step: Step, now: DateTime<Utc>) {
            let mut events = self.map.lapse_due(now);
            events.extend(self.command(step, now));
            for event in &events {
                self.ledger.follow(event, &self.map);
                match *event {
                    SeatEvent::OfferMade { code, reservation, .. } => self.made.push((reservation, self.listed[&code])),
                    SeatEvent::SeatSold { reservation, .. } => self.sold.push(reservation),
                    _ => {}
                }
            }
        }

        fn command(&mut self, step: Step, now: DateTime<Utc>) -> Vec<SeatEvent> {
            let picked = |pick: usize, from: usize| (from > 0).then(|| pick % from);
            match step {
                Step::Hold { user, seat } => {
                    let (user, reservation) = (self.users[user], ReservationId::random());
                    let ledger = &self.ledger;
                    let taken = |until| ledger.try_take(user, reservation, until, now, 2);
                    let held = self.map.hold(user, seat, reservation, now, Duration::minutes(5), taken);
                    let held: Vec<SeatEvent> = held.into_iter().collect();
                    if !held.is_empty() {
                        self.made.push((reservation, user));
                    }
                    held
                }
                Step::Cancel(pick) => picked(pick, self.made.len())
                    .and_then(|index| self.map.cancel(self.made[index].0, self.made[index].1, now).ok())
                    .unwrap_or_default(),
                Step::Pay { pick, succeeds } => match picked(pick, self.made.len()) {
                    Some(index) => self.pay(self.made[index], succeeds, now),
                    None => Vec::new(),
                },
                Step::Join(user) => {
                    let code = EntryCode::random();
                    self.listed.insert(code, self.users[user]);
                    self.map
                        .join_waitlist(self.users[user], code, now)
                        .into_iter()
                        .collect()
                }
                Step::Refund(pick) => match picked(pick, self.sold.len()) {
                    Some(index) => self.map.cancel_ticket(self.sold[index], 500, now),
                    None => Vec::new(),
                },
                Step::Wait(_) => Vec::new(),
            }
        }

        fn pay(
            &mut self,
            (reservation, user): (ReservationId, UserId),
            succeeds: bool,
            now: DateTime<Utc>,
        ) -> Vec<SeatEvent> {
            let Ok((_, begun)) = self.map.begin_payment(reservation, user, now) else {
                return Vec::new();
            };
            let mut events = vec![begun];
            match succeeds {
                true => events.push(self.map.complete_payment(reservation, PaymentId::random(), now)),
                false => events.extend(self.map.abort_payment(reservation, now)),
            }
            events
        }
    }

    proptest! {
        /// What a date's actor counts by following its events live is what a restart counts
        /// from the date's map: holds taken, lapsed, given back, paid or being paid, seats
        /// coming back and offered to a waiting list, tickets refunded.
        #[test]
        fn a_ledger_followed_live_counts_what_one_restored_from_the_map_counts(
            steps in proptest::collection::vec(step(), 1..120)
        ) {
            let mut date = Followed {
                map: SeatMap::new(ConcertId::random(), "2026-12-24".parse().unwrap(), SEATS as u32, 1_000),
                ledger: HoldLedger::default(),
                users: (0..USERS).map(|_| UserId::random()).collect(),
                made: Vec::new(),
                sold: Vec::new(),
                listed: Default::default(),
            };
            let mut now: DateTime<Utc> = "2026-12-24T10:00:00Z".parse().unwrap();
            for step in steps {
                if let Step::Wait(seconds) = step {
                    now += Duration::seconds(i64::from(seconds));
                }
                date.run(step, now);
                let restored = HoldLedger::default();
                restored.restore_date(&date.map);
                for user in &date.users {
                    prop_assert_eq!(counted(&date.ledger, *user, now), counted(&restored, *user, now));
                }
            }
        }
    }
}
