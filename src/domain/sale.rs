//! A concert's own sale: when its pre-queue and its opening come, how many of its fans may be
//! ACTIVE and how fast they are let in, its refund policy, and the seed its draw is made from.
//! The sale's room is a [`WaitingRoom`](super::waiting_room::WaitingRoom) that carries a
//! [`SaleGate`]; this module holds what the gate decides on its own.

use super::draw::DrawSeed;
use super::refund::RefundPolicy;
use super::waiting_room::{WaitingRoom, WaitingRoomLimits};
use super::{ConcertId, TokenSecret};
use crate::error::{Error, ErrorCode, Result};
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The most admissions a minute a sale may set.
pub const ADMISSIONS_PER_MINUTE_MAX: u32 = 1_000_000;

/// The most tokens ACTIVE at once a sale may set, as for the site-wide room.
pub const SALE_ACTIVE_MAX: u32 = 1_000_000;

/// A sale's tokens are numbered in a band of their own: the sale's number times this, up. A
/// token's number thus tells which room issued it, and the site-wide room's (band 0) are as
/// they always were. 2^40 tokens fit in a band.
pub const SEQ_BAND: u64 = 1 << 40;

/// The room whose band `seq` is in: 0 for the site-wide room, a sale's number otherwise.
pub fn room_number_of(seq: u64) -> u32 {
    u32::try_from(seq / SEQ_BAND).unwrap_or(u32::MAX)
}

/// What an operator sets for a sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleSchedule {
    pub prequeue_opens_at: DateTime<Utc>,
    pub opens_at: DateTime<Utc>,
    pub active_max: u32,
    /// None for no rate: admitted as fast as slots free.
    pub admissions_per_minute: Option<u32>,
    pub refund_policy: RefundPolicy,
}

/// Where a sale stands, by the clock and its draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SalePhase {
    /// Before the pre-queue opens: nobody may join.
    Scheduled,
    /// Fans join the pre-queue; their order is drawn at the opening.
    Prequeue,
    /// Drawn: later fans queue behind, first come first served.
    Open,
}

impl SaleSchedule {
    /// The schedule if it makes one: the pre-queue no later than the opening, and the limits in
    /// their bounds.
    pub fn validate(&self) -> Result<()> {
        if self.prequeue_opens_at > self.opens_at {
            return Err(invalid("prequeueOpensAt must not be after opensAt."));
        }
        if !(1..=SALE_ACTIVE_MAX).contains(&self.active_max) {
            return Err(invalid(format!("activeMax must be 1..={SALE_ACTIVE_MAX}.")));
        }
        if (self.admissions_per_minute).is_some_and(|rate| !(1..=ADMISSIONS_PER_MINUTE_MAX).contains(&rate)) {
            return Err(invalid(format!(
                "admissionsPerMinute must be 1..={ADMISSIONS_PER_MINUTE_MAX}, or null for no rate."
            )));
        }
        Ok(())
    }

    /// The time between two admissions when a rate is set: a minute spread evenly over it.
    pub fn admission_interval(&self) -> Option<Duration> {
        let rate = self.admissions_per_minute?;
        Some(Duration::nanoseconds(60_000_000_000 / i64::from(rate)))
    }

    /// Whether `changed` keeps the times of this schedule, which cannot move once the pre-queue
    /// has opened.
    pub fn keeps_times_of(&self, changed: &SaleSchedule) -> bool {
        self.prequeue_opens_at == changed.prequeue_opens_at && self.opens_at == changed.opens_at
    }
}

/// Which token numbers a draw gave which places in line. The pre-queued tokens keep the
/// numbers they were issued under (their fans hold them); their places are numbered after
/// them, in the drawn order, and tokens issued after the draw take the places after those, so
/// a later token's place is its own number. Shared by the room and the views it publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawnPlaces {
    /// The number of the first token the pre-queue issued.
    first_seq: u64,
    /// The place of token `first_seq + i`, or 0 if it was not drawn (it ended before).
    places: Arc<[u64]>,
    /// The drawn tokens' entries ([`entry_of`]), in issue order: what the sale publishes with
    /// its seed, so that anyone can draw the order again and a fan find their own token in it.
    entries: Arc<[DrawEntry]>,
}

/// A drawn token as the sale publishes it: the first 16 bytes of SHA-256 of the token's 24
/// secret bytes, which its fan can compute from the token (the secret is its last 48 hex
/// digits) and nobody can turn back into the token.
pub type DrawEntry = [u8; 16];

/// The entry of the token whose secret is `secret`.
pub fn entry_of(secret: &TokenSecret) -> DrawEntry {
    let digest = Sha256::digest(secret.bytes());
    let mut entry = [0; 16];
    entry.copy_from_slice(&digest[..16]);
    entry
}

impl DrawnPlaces {
    pub fn new(first_seq: u64, places: Vec<u64>, entries: Vec<DrawEntry>) -> Self {
        Self {
            first_seq,
            places: places.into(),
            entries: entries.into(),
        }
    }

    /// The drawn tokens' entries, in issue order.
    pub fn entries(&self) -> &[DrawEntry] {
        &self.entries
    }

    /// The place in line of the token numbered `seq`: its own number unless the draw placed it.
    pub fn place_of(&self, seq: u64) -> u64 {
        let drawn = seq
            .checked_sub(self.first_seq)
            .and_then(|offset| self.places.get(usize::try_from(offset).ok()?));
        match drawn {
            Some(&place) if place != 0 => place,
            _ => seq,
        }
    }

    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Place by token number from `first_seq` on, 0 for a token not drawn.
    pub fn places(&self) -> &[u64] {
        &self.places
    }
}

/// A sale as the catalog of sales records it when an operator first sets it: the rest of its
/// life is in its own room's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRecord {
    pub concert_id: ConcertId,
    /// The sale's number, from 1: its tokens' band.
    pub number: u32,
    pub schedule: SaleSchedule,
    pub seed: DrawSeed,
    pub at: DateTime<Utc>,
}

impl SaleRecord {
    /// The sale's room as it begins, before any entry of its own log.
    pub fn room(&self, limits: WaitingRoomLimits) -> WaitingRoom {
        let gate = SaleGate::new(self.schedule.clone(), self.seed);
        WaitingRoom::for_sale(limits, u64::from(self.number) * SEQ_BAND, gate)
    }
}

/// The sale a room belongs to, as the room keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleGate {
    pub schedule: SaleSchedule,
    pub seed: DrawSeed,
    /// Set by the draw.
    pub drawn: Option<DrawnPlaces>,
    /// The last admission from the line, for the rate.
    pub last_admission: Option<DateTime<Utc>>,
}

impl SaleGate {
    pub fn new(schedule: SaleSchedule, seed: DrawSeed) -> Self {
        Self {
            schedule,
            seed,
            drawn: None,
            last_admission: None,
        }
    }

    /// The phase at `now`. The opening is passed only once the draw is made (the room draws
    /// before any command at or after the opening).
    pub fn phase(&self, now: DateTime<Utc>) -> SalePhase {
        if self.drawn.is_some() {
            SalePhase::Open
        } else if now < self.schedule.prequeue_opens_at {
            SalePhase::Scheduled
        } else {
            SalePhase::Prequeue
        }
    }

    /// The next moment after `now` at which the phase turns without any event: the pre-queue's
    /// opening, then the opening (which turns it once the draw is made); none once drawn.
    pub fn next_turn(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let turns = [self.schedule.prequeue_opens_at, self.schedule.opens_at];
        turns.into_iter().find(|at| *at > now).filter(|_| self.drawn.is_none())
    }

    /// When the draw is due, until it is made.
    pub fn draw_due(&self) -> Option<DateTime<Utc>> {
        self.drawn.is_none().then_some(self.schedule.opens_at)
    }

    /// The earliest moment the next admission may be made: at once without a rate.
    pub fn next_admission_at(&self) -> Option<DateTime<Utc>> {
        Some(self.last_admission? + self.schedule.admission_interval()?)
    }

    /// Whether the rate lets a token in at `now`.
    pub fn may_admit(&self, now: DateTime<Utc>) -> bool {
        self.next_admission_at().is_none_or(|at| at <= now)
    }

    /// The place in line of the token numbered `seq`.
    pub fn place_of(&self, seq: u64) -> u64 {
        self.drawn.as_ref().map_or(seq, |drawn| drawn.place_of(seq))
    }

    /// The refusal of a token asked for before the pre-queue opens.
    pub fn not_open(&self) -> Error {
        Error::new(
            ErrorCode::SaleNotOpen,
            format!(
                "The pre-queue of this sale opens at {}.",
                self.schedule
                    .prequeue_opens_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        )
        .with_korean(format!(
            "이 공연의 사전 대기열은 {}에 열립니다.",
            self.schedule
                .prequeue_opens_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))
        .with_field(
            "prequeueOpensAt",
            serde_json::json!(self
                .schedule
                .prequeue_opens_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        )
    }
}

fn invalid(detail: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidRequest, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-24T19:00:00Z").unwrap().to_utc() + Duration::minutes(minute.into())
    }

    fn schedule() -> SaleSchedule {
        SaleSchedule {
            prequeue_opens_at: at(0),
            opens_at: at(60),
            active_max: 10,
            admissions_per_minute: Some(120),
            refund_policy: RefundPolicy::default(),
        }
    }

    #[test]
    fn a_schedule_keeps_its_pre_queue_before_its_opening_and_its_limits_in_bounds() {
        assert!(schedule().validate().is_ok());
        let same_minute = SaleSchedule {
            opens_at: at(0),
            ..schedule()
        };
        assert!(same_minute.validate().is_ok(), "a sale may open with no pre-queue");
        let backwards = SaleSchedule {
            prequeue_opens_at: at(61),
            ..schedule()
        };
        for wrong in [
            backwards,
            SaleSchedule {
                active_max: 0,
                ..schedule()
            },
            SaleSchedule {
                admissions_per_minute: Some(0),
                ..schedule()
            },
            SaleSchedule {
                admissions_per_minute: Some(ADMISSIONS_PER_MINUTE_MAX + 1),
                ..schedule()
            },
        ] {
            assert_eq!(
                wrong.validate().unwrap_err().code,
                ErrorCode::InvalidRequest,
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn admissions_are_spread_evenly_over_the_minute() {
        let gate = SaleGate {
            last_admission: Some(at(61)),
            ..SaleGate::new(schedule(), DrawSeed::from_bytes([0; 32]))
        };
        assert_eq!(schedule().admission_interval(), Some(Duration::milliseconds(500)));
        assert!(!gate.may_admit(at(61) + Duration::milliseconds(499)));
        assert!(gate.may_admit(at(61) + Duration::milliseconds(500)));
        let no_rate = SaleGate::new(
            SaleSchedule {
                admissions_per_minute: None,
                ..schedule()
            },
            DrawSeed::from_bytes([0; 32]),
        );
        assert!(no_rate.may_admit(at(0)));
        assert_eq!(no_rate.next_admission_at(), None);
    }

    #[test]
    fn the_phase_follows_the_clock_until_the_draw() {
        let mut gate = SaleGate::new(schedule(), DrawSeed::from_bytes([0; 32]));
        assert_eq!(gate.phase(at(0) - Duration::seconds(1)), SalePhase::Scheduled);
        assert_eq!(gate.phase(at(0)), SalePhase::Prequeue);
        assert_eq!(
            gate.phase(at(90)),
            SalePhase::Prequeue,
            "not open before the draw is made"
        );
        assert_eq!(gate.draw_due(), Some(at(60)));
        gate.drawn = Some(DrawnPlaces::new(5, vec![9, 0, 8], vec![[1; 16], [3; 16]]));
        assert_eq!(gate.phase(at(0)), SalePhase::Open);
        assert_eq!(gate.draw_due(), None);
    }

    #[test]
    fn a_drawn_token_is_found_at_its_place_and_any_other_at_its_own_number() {
        let drawn = DrawnPlaces::new(5, vec![9, 0, 8], vec![[1; 16], [3; 16]]);
        assert_eq!(drawn.place_of(5), 9);
        assert_eq!(drawn.place_of(6), 6, "ended before the draw");
        assert_eq!(drawn.place_of(7), 8);
        assert_eq!(drawn.place_of(4), 4);
        assert_eq!(drawn.place_of(10), 10, "issued after the draw");
    }

    #[test]
    fn a_token_number_tells_its_room() {
        assert_eq!(room_number_of(0), 0);
        assert_eq!(room_number_of(SEQ_BAND - 1), 0);
        assert_eq!(room_number_of(3 * SEQ_BAND + 17), 3);
    }
}
