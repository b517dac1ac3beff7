//! The seat map of one concert date: seats AVAILABLE, HELD by a fan until a deadline, or SOLD;
//! the reservations made on it; and the payment mark that keeps a hold from lapsing mid-payment.

use super::waitlist::{Entry, EntryCode, EntryState, Waitlist, WAITLIST_MAX};
use super::{ConcertId, PaymentId, ReservationId, UserId};
use crate::error::{Error, ErrorCode, Result};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    Held,
    Confirmed,
    Expired,
    Cancelled,
}

/// The refusal of a hold on a seat someone else holds, is paying or bought.
pub fn seat_unavailable(seat_number: i64) -> Error {
    Error::new(
        ErrorCode::SeatUnavailable,
        format!("Seat {seat_number} is already reserved."),
    )
    .with_korean(format!("{seat_number}번 좌석은 이미 다른 분이 선택했습니다."))
}

/// What happened on a seat map; `apply` replays these exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatEvent {
    SeatHeld {
        reservation: ReservationId,
        user: UserId,
        seat_number: u32,
        at: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    HoldCancelled {
        reservation: ReservationId,
        at: DateTime<Utc>,
    },
    HoldLapsed {
        reservation: ReservationId,
        at: DateTime<Utc>,
    },
    SeatSold {
        reservation: ReservationId,
        payment: PaymentId,
        at: DateTime<Utc>,
    },
    /// A payment of the hold began: it can neither lapse nor be cancelled until the payment
    /// ends, by `SeatSold` or `PaymentAborted`.
    PaymentBegun {
        reservation: ReservationId,
        at: DateTime<Utc>,
    },
    /// The payment did not happen: the hold is as it was, lapsing at its own deadline.
    PaymentAborted {
        reservation: ReservationId,
        at: DateTime<Utc>,
    },
    /// The sold seat's ticket was cancelled and `refund` won of its price given back: the seat
    /// is for sale again, and the date keeps the fee as revenue.
    TicketCancelled {
        reservation: ReservationId,
        refund: i64,
        at: DateTime<Utc>,
    },
    /// A fan joined the sold-out date's waiting list.
    Waitlisted {
        code: EntryCode,
        user: UserId,
        at: DateTime<Utc>,
    },
    /// A seat came back and was offered to the first waiting fan, as a hold in their name
    /// until `until`.
    OfferMade {
        code: EntryCode,
        reservation: ReservationId,
        seat_number: u32,
        at: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

/// A waiting-list entry as its fan sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    pub user: UserId,
    /// 1-based among those still waiting; 0 once offered or done.
    pub position: u64,
    pub state: EntryState,
    /// The offer, while it stands (paid or being paid included).
    pub offer: Option<Reservation>,
}

/// A payment the wallet recorded for a hold whose seat is not sold yet: a crash came between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedPayment {
    pub reservation: ReservationId,
    pub payment: PaymentId,
    pub paid_at: DateTime<Utc>,
}

/// One seat as the seat map shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatView {
    pub seat_number: u32,
    pub status: SeatStatus,
    pub price: i64,
}

/// A reservation as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub reservation_id: ReservationId,
    pub user_id: UserId,
    pub concert_id: ConcertId,
    pub date: NaiveDate,
    pub seat_number: u32,
    pub price: i64,
    pub status: ReservationStatus,
    pub held_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// Held, sold and total seat counts at one moment, and what the sold seats brought in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatCounts {
    pub total: u64,
    pub held: u64,
    pub sold: u64,
    /// The prices of the sold seats, in won.
    pub revenue: i64,
}

impl SeatCounts {
    pub fn available(&self) -> u64 {
        self.total - self.held - self.sold
    }
}

/// Who a seat belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occupant {
    Free,
    Held(ReservationId),
    Sold(ReservationId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub price: i64,
    pub occupant: Occupant,
}

/// A reservation as the map keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub view: Reservation,
    /// A payment is under way: the hold cannot lapse or be cancelled until it ends.
    pub paying: bool,
}

/// A seat map as a snapshot keeps it: every field, the counts that follow from the others
/// included, so that replaying events onto the restored map continues exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatMapImage {
    pub concert: ConcertId,
    pub date: NaiveDate,
    pub seats: Vec<Seat>,
    pub reservations: Vec<(ReservationId, Record)>,
    pub hold_deadlines: Vec<(DateTime<Utc>, ReservationId)>,
    pub held: u64,
    pub sold: u64,
    pub revenue: i64,
    pub version: u64,
    /// In the order the fans joined.
    pub waitlist: Vec<Entry>,
}

#[derive(Debug, Clone)]
pub struct SeatMap {
    concert: ConcertId,
    date: NaiveDate,
    seats: Vec<Seat>,
    reservations: HashMap<ReservationId, Record>,
    /// Deadlines of live holds not being paid.
    hold_deadlines: BTreeSet<(DateTime<Utc>, ReservationId)>,
    held: u64,
    sold: u64,
    /// The prices of the sold seats.
    revenue: i64,
    /// Grows with every applied event, so a cached rendering knows when it is stale.
    version: u64,
    waitlist: Waitlist,
    /// How long an offer to a waiting fan is held: the server's hold TTL (not kept, since every
    /// offer's event carries its deadline).
    offer_ttl: Duration,
}

/// An offer's hold before the server says otherwise: the brief's five minutes.
const OFFER_TTL_DEFAULT: Duration = Duration::minutes(5);

impl SeatMap {
    /// Seats are numbered 1..=`seat_count`, all at `price`.
    pub fn new(concert: ConcertId, date: NaiveDate, seat_count: u32, price: i64) -> Self {
        assert!(seat_count >= 1 && price >= 0, "a date has seats with a price");
        let seats = (0..seat_count)
            .map(|_| Seat {
                price,
                occupant: Occupant::Free,
            })
            .collect();
        Self {
            concert,
            date,
            seats,
            reservations: HashMap::new(),
            hold_deadlines: BTreeSet::new(),
            held: 0,
            sold: 0,
            revenue: 0,
            version: 0,
            waitlist: Waitlist::default(),
            offer_ttl: OFFER_TTL_DEFAULT,
        }
    }

    /// Offers are held this long: the server's hold TTL.
    pub fn set_offer_ttl(&mut self, ttl: Duration) {
        self.offer_ttl = ttl;
    }

    pub fn concert(&self) -> ConcertId {
        self.concert
    }

    pub fn date(&self) -> NaiveDate {
        self.date
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// The map as a snapshot keeps it; reservations in no particular order.
    pub fn image(&self) -> SeatMapImage {
        SeatMapImage {
            concert: self.concert,
            date: self.date,
            seats: self.seats.clone(),
            reservations: (self.reservations.iter())
                .map(|(id, record)| (*id, record.clone()))
                .collect(),
            hold_deadlines: self.hold_deadlines.iter().copied().collect(),
            held: self.held,
            sold: self.sold,
            revenue: self.revenue,
            version: self.version,
            waitlist: self.waitlist.entries().to_vec(),
        }
    }

    /// The map a snapshot kept.
    pub fn restore(image: SeatMapImage) -> Self {
        let occupied = |held: bool| {
            let seats = image.seats.iter();
            seats
                .filter(|seat| match seat.occupant {
                    Occupant::Free => false,
                    Occupant::Held(_) => held,
                    Occupant::Sold(_) => !held,
                })
                .count() as u64
        };
        assert_eq!(occupied(true), image.held, "the held count matches the seats");
        assert_eq!(occupied(false), image.sold, "the sold count matches the seats");
        Self {
            concert: image.concert,
            date: image.date,
            seats: image.seats,
            reservations: image.reservations.into_iter().collect(),
            hold_deadlines: image.hold_deadlines.into_iter().collect(),
            held: image.held,
            sold: image.sold,
            revenue: image.revenue,
            version: image.version,
            waitlist: Waitlist::restore(image.waitlist),
            offer_ttl: OFFER_TTL_DEFAULT,
        }
    }

    /// Holds `seat_number` for `user` until `now + hold_ttl`. `within_hold_limit` is asked last,
    /// once the seat is known to be free, and must reserve the user's hold slot if it says yes.
    pub fn hold(
        &mut self,
        user: UserId,
        seat_number: i64,
        reservation: ReservationId,
        now: DateTime<Utc>,
        hold_ttl: Duration,
        within_hold_limit: impl FnOnce(DateTime<Utc>) -> bool,
    ) -> Result<SeatEvent> {
        self.assert_nothing_due(now);
        let index = self.seat_index(seat_number)?;
        if self.seats[index].occupant != Occupant::Free {
            return Err(seat_unavailable(seat_number));
        }
        let until = now + hold_ttl;
        if !within_hold_limit(until) {
            return Err(Error::new(
                ErrorCode::HoldLimitReached,
                "This user already holds the most seats allowed at once.",
            )
            .with_korean("한 번에 선점할 수 있는 좌석 수를 모두 채웠습니다. 선점한 좌석을 결제하거나 취소해 주세요."));
        }
        let held = SeatEvent::SeatHeld {
            reservation,
            user,
            seat_number: index as u32 + 1,
            at: now,
            until,
        };
        self.apply(&held);
        Ok(held)
    }

    /// The fan gives a hold back; the seat is AVAILABLE again at once.
    pub fn cancel(&mut self, reservation: ReservationId, user: UserId, now: DateTime<Utc>) -> Result<Vec<SeatEvent>> {
        self.assert_nothing_due(now);
        self.unpaid_hold(reservation, user)?;
        let cancelled = SeatEvent::HoldCancelled { reservation, at: now };
        self.apply(&cancelled);
        let mut events = vec![cancelled];
        events.extend(self.offer_free_seats(now));
        Ok(events)
    }

    /// The fan joins the date's waiting list: only while no seat is AVAILABLE, once.
    pub fn join_waitlist(&mut self, user: UserId, code: EntryCode, now: DateTime<Utc>) -> Result<SeatEvent> {
        self.assert_nothing_due(now);
        if self.counts(now).available() > 0 {
            return Err(Error::new(
                ErrorCode::SeatsAvailable,
                "This date has seats available: hold one instead.",
            )
            .with_korean("이 날짜에는 예매 가능한 좌석이 있습니다. 좌석을 선택해 주세요."));
        }
        if self.waitlist.is_listed(user) {
            return Err(Error::new(
                ErrorCode::AlreadyWaitlisted,
                "This user is on this date's waiting list already.",
            )
            .with_korean("이미 이 날짜의 대기 명단에 등록되어 있습니다."));
        }
        if self.waitlist.len() >= WAITLIST_MAX {
            return Err(Error::new(ErrorCode::QueueFull, "This date's waiting list is full.")
                .with_korean("이 날짜의 대기 명단이 가득 찼습니다.")
                .with_retry_after(60));
        }
        let joined = SeatEvent::Waitlisted { code, user, at: now };
        self.apply(&joined);
        Ok(joined)
    }

    /// Offers every free seat, in seat order, to the waiting fans in the order they joined.
    fn offer_free_seats(&mut self, now: DateTime<Utc>) -> Vec<SeatEvent> {
        let mut events = Vec::new();
        while let Some(entry) = self.waitlist.next_waiting() {
            let Some(index) = self.seats.iter().position(|seat| seat.occupant == Occupant::Free) else {
                break;
            };
            let offered = SeatEvent::OfferMade {
                code: entry.code,
                reservation: ReservationId::random(),
                seat_number: index as u32 + 1,
                at: now,
                until: now + self.offer_ttl,
            };
            self.apply(&offered);
            events.push(offered);
        }
        events
    }

    /// The waiting-list entry `code` as of `now`.
    pub fn waitlist_entry(&self, code: EntryCode, now: DateTime<Utc>) -> Option<EntryView> {
        let (entry, position) = self.waitlist.entry(code)?;
        let offer = match entry.state {
            EntryState::Offered(reservation) => Some(self.reservation(reservation, entry.user, now).ok()?),
            _ => None,
        };
        Some(EntryView {
            user: entry.user,
            position,
            state: entry.state,
            offer,
        })
    }

    /// Every entry of the waiting list, for the index of codes.
    pub fn waitlist_codes(&self) -> impl Iterator<Item = EntryCode> + '_ {
        self.waitlist.entries().iter().map(|entry| entry.code)
    }

    /// Marks a live hold as being paid, so it can neither lapse nor be cancelled until
    /// `complete_payment` or `abort_payment`.
    pub fn begin_payment(
        &mut self,
        reservation: ReservationId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(Reservation, SeatEvent)> {
        self.assert_nothing_due(now);
        self.unpaid_hold(reservation, user)?;
        let begun = SeatEvent::PaymentBegun { reservation, at: now };
        self.apply(&begun);
        Ok((self.reservations[&reservation].view.clone(), begun))
    }

    /// The payment did not happen: the hold is as it was, and lapses at once if its time passed.
    pub fn abort_payment(&mut self, reservation: ReservationId, now: DateTime<Utc>) -> Vec<SeatEvent> {
        let aborted = SeatEvent::PaymentAborted { reservation, at: now };
        self.apply(&aborted);
        let mut events = vec![aborted];
        events.extend(self.lapse_due(now));
        events
    }

    /// The money moved: the seat is SOLD to the payer.
    pub fn complete_payment(
        &mut self,
        reservation: ReservationId,
        payment: PaymentId,
        now: DateTime<Utc>,
    ) -> SeatEvent {
        let record = &self.reservations[&reservation];
        assert!(record.paying, "only a payment under way completes");
        let sold = SeatEvent::SeatSold {
            reservation,
            payment,
            at: now,
        };
        self.apply(&sold);
        sold
    }

    /// Ends the payments a crash cut short, as they would have ended: a hold whose payment the
    /// wallet `recorded` is sold, whatever the clock says; a hold whose payment began but was
    /// never recorded is given back, as an aborted payment is (and lapses if its time passed).
    pub fn finish_payments(&mut self, recorded: &[RecordedPayment], now: DateTime<Utc>) -> Vec<SeatEvent> {
        let mut events = Vec::new();
        for payment in recorded {
            events.extend(self.finish_recorded_payment(payment.reservation, payment.payment, payment.paid_at));
        }
        let never_recorded: Vec<ReservationId> = self.payments_under_way().collect();
        for reservation in never_recorded {
            events.extend(self.abort_payment(reservation, now));
        }
        events
    }

    /// The wallet recorded a payment of this hold, and a crash came before the seat was sold:
    /// the seat is sold now, as the payment would have sold it, whatever the clock says.
    pub fn finish_recorded_payment(
        &mut self,
        reservation: ReservationId,
        payment: PaymentId,
        paid_at: DateTime<Utc>,
    ) -> Vec<SeatEvent> {
        let record = &self.reservations[&reservation];
        assert_eq!(
            record.view.status,
            ReservationStatus::Held,
            "a recorded payment's hold is live"
        );
        let mut events = Vec::new();
        if !record.paying {
            // A journal written before payments began by an event of their own.
            events.push(SeatEvent::PaymentBegun {
                reservation,
                at: paid_at,
            });
            self.apply(&events[0]);
        }
        events.push(self.complete_payment(reservation, payment, paid_at));
        events
    }

    /// The wallet refunded the sold seat's ticket: the seat is AVAILABLE again. Nothing happens
    /// if it was already (a retried or finished cancellation).
    pub fn cancel_ticket(&mut self, reservation: ReservationId, refund: i64, now: DateTime<Utc>) -> Vec<SeatEvent> {
        let record = &self.reservations[&reservation];
        match record.view.status {
            ReservationStatus::Cancelled => Vec::new(),
            status => {
                assert_eq!(
                    status,
                    ReservationStatus::Confirmed,
                    "only a sold seat's ticket is cancelled"
                );
                let cancelled = SeatEvent::TicketCancelled {
                    reservation,
                    refund,
                    at: now,
                };
                self.apply(&cancelled);
                let mut events = vec![cancelled];
                events.extend(self.offer_free_seats(now));
                events
            }
        }
    }

    /// Lapses every hold whose time has come, earliest first.
    pub fn lapse_due(&mut self, now: DateTime<Utc>) -> Vec<SeatEvent> {
        let mut events = Vec::new();
        while let Some(&(until, reservation)) = self.hold_deadlines.first() {
            if until > now {
                break;
            }
            let lapsed = SeatEvent::HoldLapsed { reservation, at: until };
            self.apply(&lapsed);
            events.push(lapsed);
        }
        if !events.is_empty() {
            events.extend(self.offer_free_seats(now));
        }
        events
    }

    /// Every reservation ever made on this date.
    pub fn reservation_ids(&self) -> impl Iterator<Item = ReservationId> + '_ {
        self.reservations.keys().copied()
    }

    /// Every live hold a fan took: its reservation, holder and deadline (the far future while
    /// being paid). A waiting-list offer is left out, as it is live: it counts against no limit
    /// of the fan's, and no token's end gives it back.
    pub fn live_holds(&self) -> impl Iterator<Item = (ReservationId, UserId, DateTime<Utc>)> + '_ {
        self.reservations
            .values()
            .filter(|record| record.view.status == ReservationStatus::Held)
            .filter(|record| !self.waitlist.is_offer(record.view.reservation_id))
            .map(|record| {
                let until = if record.paying {
                    DateTime::<Utc>::MAX_UTC
                } else {
                    record.view.held_until
                };
                (record.view.reservation_id, record.view.user_id, until)
            })
    }

    /// Holds whose payment began and has not ended: after a crash, those the wallet never
    /// recorded are aborted and the others sold, when the date's actor starts.
    pub fn payments_under_way(&self) -> impl Iterator<Item = ReservationId> + '_ {
        let paying = self.reservations.values().filter(|record| record.paying);
        paying.map(|record| record.view.reservation_id)
    }

    /// Whether a payment of `reservation` is under way.
    pub fn is_paying(&self, reservation: ReservationId) -> bool {
        self.reservations.get(&reservation).is_some_and(|record| record.paying)
    }

    /// The status of a reservation as recorded, without regard to the clock.
    pub fn recorded_status(&self, reservation: ReservationId) -> Option<ReservationStatus> {
        self.reservations.get(&reservation).map(|record| record.view.status)
    }

    /// Who made `reservation`.
    pub fn holder(&self, reservation: ReservationId) -> UserId {
        self.reservations[&reservation].view.user_id
    }

    /// Who made `reservation`, and until when it is held when nobody pays it.
    pub fn hold_of(&self, reservation: ReservationId) -> (UserId, DateTime<Utc>) {
        let view = &self.reservations[&reservation].view;
        (view.user_id, view.held_until)
    }

    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.hold_deadlines.first().map(|(at, _)| *at)
    }

    /// The seats in number order as of `now`: a hold whose time has passed shows AVAILABLE.
    pub fn seats(&self, now: DateTime<Utc>) -> Vec<SeatView> {
        (0..self.seats.len())
            .map(|index| SeatView {
                seat_number: index as u32 + 1,
                status: self.seat_status(index, now),
                price: self.seats[index].price,
            })
            .collect()
    }

    pub fn counts(&self, now: DateTime<Utc>) -> SeatCounts {
        // A lapsed hold not yet swept shows AVAILABLE, unless fans wait for it: the sweep offers
        // it to them first.
        let lapsed_unswept = match self.waitlist.has_waiting() {
            true => 0,
            false => self
                .hold_deadlines
                .iter()
                .take_while(|(until, _)| *until <= now)
                .count() as u64,
        };
        SeatCounts {
            total: self.seats.len() as u64,
            held: self.held - lapsed_unswept,
            sold: self.sold,
            revenue: self.revenue,
        }
    }

    /// The owner's reservation as of `now`; someone else's is not found.
    pub fn reservation(&self, reservation: ReservationId, user: UserId, now: DateTime<Utc>) -> Result<Reservation> {
        let record = self.owned(reservation, user)?;
        let mut view = record.view.clone();
        if view.status == ReservationStatus::Held && !record.paying && view.held_until <= now {
            view.status = ReservationStatus::Expired;
        }
        Ok(view)
    }

    /// Changes state by one event; never fails, never reads the clock.
    pub fn apply(&mut self, event: &SeatEvent) {
        self.version += 1;
        match *event {
            SeatEvent::SeatHeld {
                reservation,
                user,
                seat_number,
                at,
                until,
            } => self.apply_held(reservation, user, seat_number, at, until),
            SeatEvent::HoldCancelled { reservation, .. } => self.free_hold(reservation, ReservationStatus::Cancelled),
            SeatEvent::HoldLapsed { reservation, .. } => self.free_hold(reservation, ReservationStatus::Expired),
            SeatEvent::SeatSold { reservation, .. } => self.apply_sold(reservation),
            SeatEvent::PaymentBegun { reservation, .. } => self.mark_paying(reservation, true),
            SeatEvent::PaymentAborted { reservation, .. } => self.mark_paying(reservation, false),
            SeatEvent::TicketCancelled {
                reservation, refund, ..
            } => self.apply_ticket_cancelled(reservation, refund),
            SeatEvent::Waitlisted { code, user, at } => self.waitlist.join(code, user, at),
            SeatEvent::OfferMade {
                code,
                reservation,
                seat_number,
                at,
                until,
            } => {
                let user = (self.waitlist.entry(code)).expect("an offer's entry is listed").0.user;
                self.apply_held(reservation, user, seat_number, at, until);
                self.waitlist.offer(code, reservation);
            }
        }
    }

    fn apply_ticket_cancelled(&mut self, reservation: ReservationId, refund: i64) {
        let record = self
            .reservations
            .get_mut(&reservation)
            .expect("a cancelled ticket's seat was sold");
        assert_eq!(
            record.view.status,
            ReservationStatus::Confirmed,
            "only a sold seat's ticket is cancelled"
        );
        record.view.status = ReservationStatus::Cancelled;
        let seat = &mut self.seats[record.view.seat_number as usize - 1];
        assert_eq!(
            seat.occupant,
            Occupant::Sold(reservation),
            "the seat is sold to this reservation"
        );
        seat.occupant = Occupant::Free;
        self.sold -= 1;
        self.revenue -= refund;
    }

    fn apply_held(
        &mut self,
        reservation: ReservationId,
        user: UserId,
        seat_number: u32,
        at: DateTime<Utc>,
        until: DateTime<Utc>,
    ) {
        let seat = &mut self.seats[seat_number as usize - 1];
        assert_eq!(seat.occupant, Occupant::Free, "a seat has at most one holder or buyer");
        seat.occupant = Occupant::Held(reservation);
        let view = Reservation {
            reservation_id: reservation,
            user_id: user,
            concert_id: self.concert,
            date: self.date,
            seat_number,
            price: seat.price,
            status: ReservationStatus::Held,
            held_until: until,
            created_at: at,
        };
        self.reservations.insert(reservation, Record { view, paying: false });
        self.hold_deadlines.insert((until, reservation));
        self.held += 1;
    }

    /// A live hold being paid has no deadline; one whose payment ended without a sale has its
    /// own again.
    fn mark_paying(&mut self, reservation: ReservationId, paying: bool) {
        let record = self.reservations.get_mut(&reservation).expect("a paid hold exists");
        assert_eq!(record.view.status, ReservationStatus::Held, "only a live hold is paid");
        assert_ne!(record.paying, paying, "a payment begins once and ends once");
        record.paying = paying;
        let deadline = (record.view.held_until, reservation);
        if paying {
            self.hold_deadlines.remove(&deadline);
        } else {
            self.hold_deadlines.insert(deadline);
        }
    }

    fn free_hold(&mut self, reservation: ReservationId, status: ReservationStatus) {
        self.end_hold(reservation, status, Occupant::Free);
        self.waitlist.offer_ended(reservation, false);
    }

    fn apply_sold(&mut self, reservation: ReservationId) {
        self.end_hold(reservation, ReservationStatus::Confirmed, Occupant::Sold(reservation));
        self.waitlist.offer_ended(reservation, true);
        self.sold += 1;
        self.revenue += self.reservations[&reservation].view.price;
    }

    /// A live hold ends as `status`, leaving its seat to `next`.
    fn end_hold(&mut self, reservation: ReservationId, status: ReservationStatus, next: Occupant) {
        let record = self.reservations.get_mut(&reservation).expect("an ended hold exists");
        assert_eq!(record.view.status, ReservationStatus::Held, "only a live hold ends");
        record.view.status = status;
        record.paying = false;
        self.hold_deadlines.remove(&(record.view.held_until, reservation));
        let seat = &mut self.seats[record.view.seat_number as usize - 1];
        assert_eq!(
            seat.occupant,
            Occupant::Held(reservation),
            "the seat is held by this reservation"
        );
        seat.occupant = next;
        self.held -= 1;
    }

    fn seat_status(&self, index: usize, now: DateTime<Utc>) -> SeatStatus {
        match self.seats[index].occupant {
            Occupant::Free => SeatStatus::Available,
            Occupant::Sold(_) => SeatStatus::Sold,
            Occupant::Held(reservation) => {
                let record = &self.reservations[&reservation];
                // A lapsed hold is the next waiting fan's before anyone else sees it free.
                if record.paying || record.view.held_until > now || self.waitlist.has_waiting() {
                    SeatStatus::Held
                } else {
                    SeatStatus::Available
                }
            }
        }
    }

    fn seat_index(&self, seat_number: i64) -> Result<usize> {
        usize::try_from(seat_number)
            .ok()
            .filter(|number| (1..=self.seats.len()).contains(number))
            .map(|number| number - 1)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::SeatNotFound,
                    format!("Seat {seat_number} does not exist on {}.", self.date),
                )
                .with_korean(format!("{}에는 {seat_number}번 좌석이 없습니다.", self.date))
            })
    }

    fn owned(&self, reservation: ReservationId, user: UserId) -> Result<&Record> {
        self.reservations
            .get(&reservation)
            .filter(|record| record.view.user_id == user)
            .ok_or_else(|| Error::new(ErrorCode::ReservationNotFound, "No such reservation for this user."))
    }

    /// The user's live hold with no payment under way.
    fn unpaid_hold(&self, reservation: ReservationId, user: UserId) -> Result<&Record> {
        let record = self.owned(reservation, user)?;
        Self::ensure_held(record)?;
        if record.paying {
            let detail = "A payment for this reservation is under way.";
            return Err(
                Error::new(ErrorCode::ReservationNotHeld, detail).with_korean("이 예약은 결제가 진행 중입니다.")
            );
        }
        Ok(record)
    }

    fn ensure_held(record: &Record) -> Result<()> {
        match record.view.status {
            ReservationStatus::Held => Ok(()),
            ReservationStatus::Expired => Err(Error::new(ErrorCode::ReservationExpired, "The hold has lapsed.")
                .with_korean("좌석 선점 시간이 지났습니다. 좌석을 다시 선택해 주세요.")),
            ReservationStatus::Confirmed | ReservationStatus::Cancelled => Err(Error::new(
                ErrorCode::ReservationNotHeld,
                "The reservation was already paid or cancelled.",
            )),
        }
    }

    /// Commands decide against a map whose lapsed holds up to `now` are swept: the caller runs
    /// `lapse_due(now)` first and keeps its events.
    fn assert_nothing_due(&self, now: DateTime<Utc>) {
        debug_assert!(
            self.next_deadline().is_none_or(|at| at > now),
            "lapse_due(now) must run before a command"
        );
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod waitlist_tests;
