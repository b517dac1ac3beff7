//! Each fan's live holds across all concert dates, so the `hold_max` limit holds even when two
//! date actors take holds for the same fan at once.

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
    use chrono::Duration;

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
}
