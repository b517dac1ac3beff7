//! The actor of one concert date: sole writer of its seat map, so of any number of concurrent
//! requests for one seat exactly one wins. It publishes its seat counts and seats, numbered by a
//! version, for readers to use until something changes or a hold in it lapses.

use super::hold_ledger::HoldLedger;
use super::keyed::Keyed;
use super::{Alarm, DeadlineActor, Mailbox};
use crate::clock::SharedClock;
use crate::domain::concert::DateKey;
use crate::domain::seat_map::EntryView;
use crate::domain::seat_map::{
    RecordedPayment, Reservation, ReservationStatus, SeatCounts, SeatEvent, SeatMap, SeatStatus, SeatView,
};
use crate::domain::waitlist::EntryCode;
use crate::domain::{PaymentId, ReservationId, UserId};
use crate::error::{Error, ErrorCode, Result};
use crate::persistence::log::{Partition, PartitionWriter, SharedLog};
use crate::persistence::{Change, Part};
use actix::prelude::*;
use chrono::{DateTime, Duration, Utc};
use dashmap::DashMap;
use parking_lot::RwLock;
use std::sync::Arc;

/// What readers may use without asking the actor: the seat counts and, once someone asked for
/// them, the seats. Good until `valid_until` (the next hold deadline) or until the map changes,
/// whichever comes first.
#[derive(Debug, Clone)]
struct Published {
    stale: bool,
    /// Grows with every publication: what a reader made of one publication is true of every
    /// other of the same version.
    version: u64,
    /// The seat map's own version when this was published or marked stale: a view made before a
    /// change is published only if no change came after it.
    map_version: u64,
    valid_until: Option<DateTime<Utc>>,
    counts: SeatCounts,
    seats: Option<Arc<[SeatView]>>,
}

impl Published {
    fn nothing_yet(map_version: u64) -> Self {
        Self {
            stale: true,
            version: 0,
            map_version,
            valid_until: None,
            counts: SeatCounts::default(),
            seats: None,
        }
    }

    fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        !self.stale && self.valid_until.is_none_or(|until| now < until)
    }

    fn seat_map(&self) -> Option<PublishedSeatMap> {
        Some(PublishedSeatMap {
            version: self.version,
            counts: self.counts,
            seats: self.seats.clone()?,
        })
    }
}

/// A date's seats as its actor published them, with the version of that publication.
#[derive(Debug, Clone)]
pub struct PublishedSeatMap {
    pub version: u64,
    pub counts: SeatCounts,
    /// By seat number.
    pub seats: Arc<[SeatView]>,
}

/// Limits and shared indexes every date actor uses.
#[derive(Clone)]
pub struct DateContext {
    pub clock: SharedClock,
    pub hold_ttl: Duration,
    pub hold_max: u32,
    pub ledger: Arc<HoldLedger>,
    pub reservations: Arc<DashMap<ReservationId, DateKey>>,
    /// Which date each waiting-list entry is on, by its code.
    pub waitlists: Arc<DashMap<EntryCode, DateKey>>,
    /// Requests one date actor takes in flight before answering UNAVAILABLE.
    pub requests_max: usize,
    pub log: SharedLog,
}

pub struct ConcertDateActor {
    map: SeatMap,
    /// Payments a crash cut short, finished first thing at start; none when another runs the
    /// payments' sagas and finishes them itself (a cluster's engine, for a date a node serves).
    unfinished_payments: Option<Vec<RecordedPayment>>,
    context: DateContext,
    stream: PartitionWriter,
    published: Arc<RwLock<Published>>,
    /// The map's version when `published` was last marked stale or refreshed.
    seen_version: u64,
    /// The view made for readers while its changes were not yet durable, shared by every reader
    /// of the same map version until it is published: a thousand readers during a rush cost
    /// one copy of the seats, not a thousand.
    awaiting: Option<Published>,
    alarm: Alarm,
}

impl ConcertDateActor {
    /// Makes `published` true at `now` under a new version, with the seats too when
    /// `with_seats`. The seats are gathered outside the lock, so readers are never held up by it.
    /// Only for a map whose every change is durable (see the `Refresh` handler).
    fn refresh(&mut self, now: DateTime<Utc>, with_seats: bool) -> Published {
        let fresh = self.published.read().is_fresh(now);
        if !fresh {
            let view = self.view(now, false);
            publish_unless_changed(&self.published, view);
        }
        let published = self.published.read().clone();
        if published.seats.is_some() || !with_seats {
            return published;
        }
        let seats: Arc<[SeatView]> = self.map.seats(now).into();
        self.published.write().seats = Some(seats.clone());
        Published {
            seats: Some(seats),
            ..published
        }
    }

    /// A refused hold publishes the map, seats and all, if it is stale and every change is
    /// durable: the next attempts on a taken seat are then refused off it without asking the
    /// actor (see `ConcertDateHandle::hold`). Once a change, as a seat map read would.
    fn publish_for_refusals(&mut self, now: DateTime<Utc>) {
        let published = self.published.read();
        let without_seats = !published.is_fresh(now) || published.seats.is_none();
        drop(published);
        if without_seats && self.stream.settled().is_done() {
            self.refresh(now, true);
        }
    }

    /// The view readers wait on for the map as it stands: the one made for an earlier reader
    /// while nothing changed since, or a new one.
    fn awaiting_view(&mut self, now: DateTime<Utc>, with_seats: bool) -> Published {
        let version = self.map.version();
        let reusable = self.awaiting.as_ref().filter(|view| {
            view.map_version == version
                && view.valid_until.is_none_or(|until| now < until)
                && (view.seats.is_some() || !with_seats)
        });
        if let Some(view) = reusable {
            return view.clone();
        }
        let view = self.view(now, with_seats);
        self.awaiting = Some(view.clone());
        view
    }

    /// The map as it stands at `now`, not yet published.
    fn view(&self, now: DateTime<Utc>, with_seats: bool) -> Published {
        Published {
            stale: false,
            version: 0,
            map_version: self.map.version(),
            valid_until: self.map.next_deadline(),
            counts: self.map.counts(now),
            seats: with_seats.then(|| self.map.seats(now).into()),
        }
    }
}

/// Publishes `view` under a new version unless the map changed after it was made; returns it
/// with its version either way (the version is never given to another view).
fn publish_unless_changed(published: &RwLock<Published>, mut view: Published) -> Published {
    let mut current = published.write();
    current.version += 1;
    view.version = current.version;
    if current.map_version == view.map_version {
        *current = view.clone();
    }
    view
}

impl ConcertDateActor {
    /// Ends the payments a crash cut short, before any request and before any hold lapses (see
    /// `SeatMap::finish_payments`).
    fn finish_payments(&mut self) {
        let Some(recorded) = self.unfinished_payments.take() else {
            return;
        };
        let events = self.map.finish_payments(&recorded, self.context.clock.now());
        if !events.is_empty() {
            tracing::info!(events = events.len(), "finished the payments a crash cut short");
        }
        self.publish(&events);
        let _ = self.journal(&events);
    }
}

impl DeadlineActor for ConcertDateActor {
    type Event = SeatEvent;

    fn clock(&self) -> &SharedClock {
        &self.context.clock
    }

    fn alarm(&mut self) -> &mut Alarm {
        &mut self.alarm
    }

    fn stream(&mut self) -> &mut PartitionWriter {
        &mut self.stream
    }

    fn change(&self, event: &SeatEvent) -> Change {
        Change::Seat((self.map.concert(), self.map.date()), event.clone())
    }

    fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.map.next_deadline()
    }

    fn process_due(&mut self, now: DateTime<Utc>) -> Vec<SeatEvent> {
        self.map.lapse_due(now)
    }

    /// Keeps the shared indexes in step with what happened and marks the rendering stale.
    fn publish(&mut self, events: &[SeatEvent]) {
        let key = (self.map.concert(), self.map.date());
        for event in events {
            self.context.ledger.follow(event, &self.map);
            match *event {
                SeatEvent::SeatHeld { reservation, .. } | SeatEvent::OfferMade { reservation, .. } => {
                    self.context.reservations.insert(reservation, key);
                }
                SeatEvent::Waitlisted { code, .. } => {
                    self.context.waitlists.insert(code, key);
                }
                _ => {}
            }
        }
        // Any change, events or not (a payment begun or aborted), outdates what readers see.
        if self.map.version() != self.seen_version {
            self.seen_version = self.map.version();
            let mut published = self.published.write();
            published.stale = true;
            published.map_version = self.seen_version;
        }
    }
}

impl Actor for ConcertDateActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(super::MAILBOX_CAPACITY);
        self.finish_payments();
        self.rearm(ctx);
    }
}

#[derive(Message)]
#[rtype(result = "Result<Reservation>")]
pub struct HoldSeat {
    pub user: UserId,
    pub seat_number: i64,
    /// When the token that asks dies; the hold ends then at the latest.
    pub token_ends: DateTime<Utc>,
    pub keyed: Option<Keyed<Reservation>>,
    /// Where the fan's holds across dates are counted elsewhere (a cluster's engine, for a date a
    /// node serves apart from it): the reservation's id and whether the fan is within
    /// `hold_max`, as counted there. Otherwise this process's ledger counts.
    pub counted: Option<(ReservationId, bool)>,
}

impl Handler<HoldSeat> for ConcertDateActor {
    type Result = ActorResponse<Self, Result<Reservation>>;

    fn handle(&mut self, message: HoldSeat, ctx: &mut Context<Self>) -> Self::Result {
        self.run_admitted(ctx, message.keyed, |actor, now| {
            if message.token_ends <= now {
                return Err(Error::new(ErrorCode::TokenInvalid, "The token has expired."));
            }
            // A hold asked again under the same reservation (its answer was lost on the way to
            // another node) is told again, not made twice.
            if let Some((id, _)) = message.counted {
                if let Ok(made) = actor.map.reservation(id, message.user, now) {
                    return Ok((made, Vec::new()));
                }
            }
            let reservation = message.counted.map_or_else(ReservationId::random, |(id, _)| id);
            let context = &actor.context;
            let within_limit = |until| match message.counted {
                Some((_, within)) => within,
                None => (context.ledger).try_take(message.user, reservation, until, now, context.hold_max),
            };
            let held = actor.map.hold(
                message.user,
                message.seat_number,
                reservation,
                now,
                context.hold_ttl.min(message.token_ends - now),
                within_limit,
            );
            if held
                .as_ref()
                .is_err_and(|refused| refused.code == ErrorCode::SeatUnavailable)
            {
                actor.publish_for_refusals(now);
            }
            let held = held?;
            Ok((actor.map.reservation(reservation, message.user, now)?, vec![held]))
        })
    }
}

#[derive(Message)]
#[rtype(result = "Result<()>")]
pub struct CancelHold {
    pub reservation: ReservationId,
    pub user: UserId,
}

impl Handler<CancelHold> for ConcertDateActor {
    type Result = ActorResponse<Self, Result<()>>;

    fn handle(&mut self, message: CancelHold, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, now| {
            Ok(((), actor.map.cancel(message.reservation, message.user, now)?))
        })
    }
}

#[derive(Message)]
#[rtype(result = "Result<Reservation>")]
pub struct ReadReservation {
    pub reservation: ReservationId,
    pub user: UserId,
}

impl Handler<ReadReservation> for ConcertDateActor {
    type Result = ActorResponse<Self, Result<Reservation>>;

    fn handle(&mut self, message: ReadReservation, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, now| {
            Ok((
                actor.map.reservation(message.reservation, message.user, now)?,
                Vec::new(),
            ))
        })
    }
}

/// Step one of a payment: the hold is marked so it cannot lapse or be cancelled meanwhile.
#[derive(Message)]
#[rtype(result = "Result<Reservation>")]
pub struct BeginPayment {
    pub reservation: ReservationId,
    pub user: UserId,
}

impl Handler<BeginPayment> for ConcertDateActor {
    type Result = ActorResponse<Self, Result<Reservation>>;

    fn handle(&mut self, message: BeginPayment, ctx: &mut Context<Self>) -> Self::Result {
        // A payment begun writes its mark and, if refused, its end: a new payment is admitted
        // only while the journal keeps up, like any command that makes something new.
        if !self.stream().has_room() {
            return ActorResponse::reply(Err(Error::unavailable()));
        }
        self.run_applied(ctx, |actor, now| {
            let (held, begun) = actor.map.begin_payment(message.reservation, message.user, now)?;
            Ok((held, vec![begun]))
        })
    }
}

/// The money moved: the seat is SOLD.
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub struct CompletePayment {
    pub reservation: ReservationId,
    pub payment: PaymentId,
}

impl Handler<CompletePayment> for ConcertDateActor {
    type Result = ActorResponse<Self, Result<()>>;

    fn handle(&mut self, message: CompletePayment, ctx: &mut Context<Self>) -> Self::Result {
        self.run_applied(ctx, |actor, now| {
            // Asked again after an answer was lost (a date served apart from the engine): what
            // is done is done.
            match (
                actor.map.recorded_status(message.reservation),
                actor.map.is_paying(message.reservation),
            ) {
                (Some(ReservationStatus::Confirmed), _) => Ok(((), Vec::new())),
                (Some(ReservationStatus::Held), true) => Ok((
                    (),
                    vec![actor.map.complete_payment(message.reservation, message.payment, now)],
                )),
                _ => Err(Error::internal(format!(
                    "a payment of {} completed with no payment under way",
                    message.reservation
                ))),
            }
        })
    }
}

/// The money did not move: the hold is as it was.
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub struct AbortPayment {
    pub reservation: ReservationId,
}

impl Handler<AbortPayment> for ConcertDateActor {
    type Result = ActorResponse<Self, Result<()>>;

    fn handle(&mut self, message: AbortPayment, ctx: &mut Context<Self>) -> Self::Result {
        self.run_applied(ctx, |actor, now| {
            // Asked again after an answer was lost, or for a payment whose beginning never
            // arrived: a hold not being paid is as an aborted payment leaves it.
            if !actor.map.is_paying(message.reservation) {
                return Ok(((), Vec::new()));
            }
            Ok(((), actor.map.abort_payment(message.reservation, now)))
        })
    }
}

/// The wallet refunded the sold seat's ticket: the seat is for sale again.
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub struct CancelTicket {
    pub reservation: ReservationId,
    pub refund: i64,
}

impl Handler<CancelTicket> for ConcertDateActor {
    type Result = ActorResponse<Self, Result<()>>;

    fn handle(&mut self, message: CancelTicket, ctx: &mut Context<Self>) -> Self::Result {
        self.run_applied(ctx, |actor, now| {
            // Asked again after an answer was lost, or to finish one a crash cut short: a seat
            // already for sale again stays as it is.
            Ok(((), actor.map.cancel_ticket(message.reservation, message.refund, now)))
        })
    }
}

/// Puts the fan on the sold-out date's waiting list.
#[derive(Message)]
#[rtype(result = "Result<(EntryCode, u64)>")]
pub struct JoinWaitlist {
    pub user: UserId,
}

impl Handler<JoinWaitlist> for ConcertDateActor {
    type Result = ActorResponse<Self, Result<(EntryCode, u64)>>;

    fn handle(&mut self, message: JoinWaitlist, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, now| {
            let code = EntryCode::random();
            let joined = actor.map.join_waitlist(message.user, code, now)?;
            let position = (actor.map.waitlist_entry(code, now)).map_or(0, |entry| entry.position);
            Ok(((code, position), vec![joined]))
        })
    }
}

#[derive(Message)]
#[rtype(result = "Result<Option<EntryView>>")]
pub struct ReadWaitlistEntry {
    pub code: EntryCode,
}

impl Handler<ReadWaitlistEntry> for ConcertDateActor {
    type Result = ActorResponse<Self, Result<Option<EntryView>>>;

    fn handle(&mut self, message: ReadWaitlistEntry, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, now| {
            Ok((actor.map.waitlist_entry(message.code, now), Vec::new()))
        })
    }
}

/// Brings the published counts (and the seats, if asked) up to date, and returns them.
#[derive(Message)]
#[rtype(result = "Result<Published>")]
struct Refresh {
    with_seats: bool,
}

impl Handler<Refresh> for ConcertDateActor {
    type Result = ActorResponse<Self, Result<Published>>;

    /// A map with changes not yet durable is shown, and published for other readers, only once
    /// they are: no reader sees a hold that a crash could still take back.
    fn handle(&mut self, message: Refresh, ctx: &mut Context<Self>) -> Self::Result {
        let now = self.catch_up();
        self.rearm(ctx);
        let settled = self.stream.settled();
        if settled.is_done() || self.published.read().is_fresh(now) {
            return ActorResponse::reply(Ok(self.refresh(now, message.with_seats)));
        }
        let view = self.awaiting_view(now, message.with_seats);
        let published = self.published.clone();
        ActorResponse::r#async(actix::fut::wrap_future(async move {
            settled.durable().await?;
            Ok(publish_unless_changed(&published, view))
        }))
    }
}

/// The seat map as a snapshot keeps it.
#[derive(Message)]
#[rtype(result = "Part<SeatMap>")]
pub struct CaptureImage;

impl Handler<CaptureImage> for ConcertDateActor {
    type Result = MessageResult<CaptureImage>;

    fn handle(&mut self, _: CaptureImage, _: &mut Context<Self>) -> Self::Result {
        MessageResult(Part {
            seq: self.stream.seq(),
            state: self.map.clone(),
        })
    }
}

/// The typed handle of one date's actor.
#[derive(Clone)]
pub struct ConcertDateHandle {
    mailbox: Mailbox<ConcertDateActor>,
    published: Arc<RwLock<Published>>,
    clock: SharedClock,
}

impl ConcertDateHandle {
    /// Starts the actor on a new or recovered map, continuing its journal stream, and enters
    /// the map's reservations and live holds in the shared indexes. The actor first finishes
    /// the payments a crash cut short: `recorded` are those the wallet recorded.
    pub fn start(
        map: Part<SeatMap>,
        recorded: Vec<RecordedPayment>,
        context: DateContext,
        arbiter: &ArbiterHandle,
    ) -> Self {
        Self::start_finishing(map, Some(recorded), context, arbiter)
    }

    /// Starts the actor on a map taken over from another node, leaving the payments under way
    /// as they are: the saga that began each one (or the engine that takes the saga's place
    /// after a crash) finishes or aborts it, since only it knows whether the wallet recorded it.
    pub fn start_leaving_payments(map: Part<SeatMap>, context: DateContext, arbiter: &ArbiterHandle) -> Self {
        Self::start_finishing(map, None, context, arbiter)
    }

    fn start_finishing(
        map: Part<SeatMap>,
        recorded: Option<Vec<RecordedPayment>>,
        context: DateContext,
        arbiter: &ArbiterHandle,
    ) -> Self {
        let clock = context.clock.clone();
        let requests_max = context.requests_max;
        let published = Arc::new(RwLock::new(Published::nothing_yet(map.state.version())));
        let Part { seq, state: map } = map;
        let key = (map.concert(), map.date());
        for reservation in map.reservation_ids() {
            context.reservations.insert(reservation, key);
        }
        for code in map.waitlist_codes() {
            context.waitlists.insert(code, key);
        }
        context.ledger.restore_date(&map);
        let mut map = map;
        map.set_offer_ttl(context.hold_ttl);
        let actor = ConcertDateActor {
            unfinished_payments: recorded,
            seen_version: map.version(),
            awaiting: None,
            stream: PartitionWriter::new(context.log.clone(), Partition::Date(key), seq),
            map,
            context,
            published: published.clone(),
            alarm: Alarm::default(),
        };
        let address = ConcertDateActor::start_in_arbiter(arbiter, |_| actor);
        Self {
            mailbox: Mailbox::new(address, requests_max),
            published,
            clock,
        }
    }

    /// The version of what is published, while it is still true: a reader that made something
    /// of the seat map of this version may use it again without asking the actor.
    pub fn published_version(&self) -> Option<u64> {
        self.published_now(|published| Some(published.version))
    }

    /// The seats and counts, from what is published while it is still true.
    pub async fn seat_map(&self) -> Result<PublishedSeatMap> {
        if let Some(seat_map) = self.published_now(Published::seat_map) {
            return Ok(seat_map);
        }
        let published = self.mailbox.ask(Refresh { with_seats: true }).await??;
        Ok(published
            .seat_map()
            .expect("a refresh asked for the seats publishes them"))
    }

    pub async fn counts(&self) -> Result<SeatCounts> {
        if let Some(counts) = self.published_now(|published| Some(published.counts)) {
            return Ok(counts);
        }
        Ok(self.mailbox.ask(Refresh { with_seats: false }).await??.counts)
    }

    /// Reads from the published state if it is true now.
    fn published_now<T>(&self, read: impl FnOnce(&Published) -> Option<T>) -> Option<T> {
        let published = self.published.read();
        published.is_fresh(self.clock.now()).then(|| read(&published)).flatten()
    }

    /// Holds the seat; with `keyed`, the answer is journaled with the hold.
    pub async fn hold(
        &self,
        user: UserId,
        seat_number: i64,
        token_ends: DateTime<Utc>,
        keyed: Option<Keyed<Reservation>>,
    ) -> Result<Reservation> {
        // A keyed refusal is the actor's to journal with its key, and a token past its end is
        // the actor's to refuse first.
        if keyed.is_none() && token_ends > self.clock.now() {
            self.refuse_if_seen_taken(seat_number)?;
        }
        self.mailbox
            .ask(HoldSeat {
                user,
                seat_number,
                token_ends,
                keyed,
                counted: None,
            })
            .await?
    }

    /// Refuses a hold on a seat the published map shows taken while it is still true: the
    /// answer the actor would give (a seat taken is refused before anything else is looked at),
    /// without asking it. A crowd trying the same taken seats then costs the actor nothing.
    fn refuse_if_seen_taken(&self, seat_number: i64) -> Result<()> {
        let taken = self.published_now(|published| {
            let index = usize::try_from(seat_number).ok()?.checked_sub(1)?;
            let seat = published.seats.as_ref()?.get(index)?;
            Some(seat.status != SeatStatus::Available)
        });
        match taken {
            Some(true) => Err(crate::domain::seat_map::seat_unavailable(seat_number)),
            _ => Ok(()),
        }
    }

    /// Holds the seat for a fan whose holds across dates are counted elsewhere: under
    /// `reservation`, and only if `within_limit`.
    pub async fn hold_counted(
        &self,
        user: UserId,
        seat_number: i64,
        token_ends: DateTime<Utc>,
        reservation: ReservationId,
        within_limit: bool,
    ) -> Result<Reservation> {
        self.mailbox
            .ask(HoldSeat {
                user,
                seat_number,
                token_ends,
                keyed: None,
                counted: Some((reservation, within_limit)),
            })
            .await?
    }

    pub async fn cancel(&self, reservation: ReservationId, user: UserId) -> Result<()> {
        self.mailbox.ask(CancelHold { reservation, user }).await?
    }

    pub async fn reservation(&self, reservation: ReservationId, user: UserId) -> Result<Reservation> {
        self.mailbox.ask(ReadReservation { reservation, user }).await?
    }

    pub async fn begin_payment(&self, reservation: ReservationId, user: UserId) -> Result<Reservation> {
        self.mailbox.ask(BeginPayment { reservation, user }).await?
    }

    pub async fn complete_payment(&self, reservation: ReservationId, payment: PaymentId) -> Result<()> {
        self.mailbox.insist(CompletePayment { reservation, payment }).await?
    }

    pub async fn abort_payment(&self, reservation: ReservationId) -> Result<()> {
        self.mailbox.insist(AbortPayment { reservation }).await?
    }

    pub async fn join_waitlist(&self, user: UserId) -> Result<(EntryCode, u64)> {
        self.mailbox.ask(JoinWaitlist { user }).await?
    }

    pub async fn waitlist_entry(&self, code: EntryCode) -> Result<Option<EntryView>> {
        self.mailbox.ask(ReadWaitlistEntry { code }).await?
    }

    /// Frees the seat of a refunded ticket; after the wallet's refund, so never refused for a
    /// full mailbox.
    pub async fn cancel_ticket(&self, reservation: ReservationId, refund: i64) -> Result<()> {
        self.mailbox.insist(CancelTicket { reservation, refund }).await?
    }

    pub async fn image(&self) -> Result<Part<SeatMap>> {
        self.mailbox.insist(CaptureImage).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::domain::seat_map::SeatStatus;
    use crate::domain::ConcertId;

    /// A date actor journaling into a temporary dir, which lives as long as the returned guard.
    fn start_date(clock: &ManualClock, seats: u32) -> (ConcertDateHandle, tempfile::TempDir) {
        let (log, dir) = crate::persistence::scratch_log();
        start_date_on(clock, seats, log, dir)
    }

    fn start_date_on(
        clock: &ManualClock,
        seats: u32,
        log: SharedLog,
        dir: tempfile::TempDir,
    ) -> (ConcertDateHandle, tempfile::TempDir) {
        let context = DateContext {
            clock: Arc::new(clock.clone()),
            hold_ttl: Duration::minutes(5),
            hold_max: 4,
            ledger: Arc::default(),
            reservations: Arc::default(),
            waitlists: Arc::default(),
            requests_max: 64,
            log,
        };
        let map = SeatMap::new(ConcertId::random(), "2026-12-24".parse().unwrap(), seats, 1_000);
        let map = Part { seq: 0, state: map };
        (
            ConcertDateHandle::start(map, Vec::new(), context, &actix::Arbiter::current()),
            dir,
        )
    }

    /// A token that outlives any hold of these tests.
    fn token_ends(clock: &ManualClock) -> DateTime<Utc> {
        clock.now() + Duration::hours(1)
    }

    #[actix_rt::test]
    async fn a_hold_is_seen_by_readers_and_refused_to_others_only_once_it_is_durable() {
        let clock = ManualClock::starting_at("2026-12-24T10:00:00Z".parse().unwrap());
        let (log, gate, dir) = crate::persistence::file_log::FileLog::held_up(1 << 20);
        let (date, _dir) = start_date_on(&clock, 2, log, dir);
        let (kim, lee) = (UserId::random(), UserId::random());
        let ends = token_ends(&clock);
        let holding = actix_rt::spawn({
            let date = date.clone();
            async move { date.hold(kim, 1, ends, None).await }
        });
        let reading = actix_rt::spawn({
            let date = date.clone();
            async move { seat_statuses(&date).await }
        });
        let refusing = actix_rt::spawn({
            let date = date.clone();
            async move { date.hold(lee, 1, ends, None).await }
        });
        // Kim's hold is applied and waits for the disk: a crash now would take it back, so
        // nobody may be shown it yet, neither by a read nor by a refusal.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!reading.is_finished(), "a read showed a hold that was not durable");
        assert!(!refusing.is_finished(), "a refusal told of a hold that was not durable");
        gate.open();
        assert!(holding.await.unwrap().is_ok());
        assert_eq!(reading.await.unwrap(), [SeatStatus::Held, SeatStatus::Available]);
        let refused = refusing.await.unwrap().unwrap_err();
        assert_eq!(refused.code, ErrorCode::SeatUnavailable);
        assert_eq!(
            seat_statuses(&date).await,
            [SeatStatus::Held, SeatStatus::Available],
            "published once durable, read again without waiting"
        );
    }

    #[actix_rt::test]
    async fn readers_waiting_on_the_same_changes_share_one_copy_of_the_seats() {
        let clock = ManualClock::starting_at("2026-12-24T10:00:00Z".parse().unwrap());
        let (log, gate, dir) = crate::persistence::file_log::FileLog::held_up(1 << 20);
        let (date, _dir) = start_date_on(&clock, 1_000, log, dir);
        let holding = actix_rt::spawn({
            let (date, ends) = (date.clone(), token_ends(&clock));
            async move { date.hold(UserId::random(), 1, ends, None).await }
        });
        // The hold is applied and waits for the disk before the readers ask.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let readers: Vec<_> = (0..50)
            .map(|_| {
                let date = date.clone();
                actix_rt::spawn(async move { date.seat_map().await })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        gate.open();
        holding.await.unwrap().unwrap();
        let mut maps = Vec::new();
        for reader in readers {
            maps.push(reader.await.unwrap().unwrap());
        }
        assert_eq!(maps[0].counts.held, 1);
        assert!(
            maps.iter().all(|map| Arc::ptr_eq(&map.seats, &maps[0].seats)),
            "every waiting reader got the one copy made for the map's version"
        );
    }

    #[actix_rt::test]
    async fn a_hold_ends_when_the_token_that_made_it_does() {
        let clock = ManualClock::starting_at("2026-12-24T10:00:00Z".parse().unwrap());
        let (date, _dir) = start_date(&clock, 2);
        let user = UserId::random();
        let token_ends = clock.now() + Duration::minutes(2);
        let held = date.hold(user, 1, token_ends, None).await.unwrap();
        assert_eq!(
            held.held_until, token_ends,
            "capped by the token, not the 5-minute hold"
        );
        clock.advance(Duration::minutes(2));
        assert_eq!(
            seat_statuses(&date).await,
            [SeatStatus::Available, SeatStatus::Available]
        );
        let refused = date.hold(user, 2, token_ends, None).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::TokenInvalid, "a dead token holds nothing");
    }

    async fn seat_statuses(date: &ConcertDateHandle) -> Vec<SeatStatus> {
        let seat_map = date.seat_map().await.unwrap();
        assert_eq!(
            seat_map.counts.available(),
            seat_map
                .seats
                .iter()
                .filter(|seat| seat.status == SeatStatus::Available)
                .count() as u64,
            "the counts and the seats are of one moment"
        );
        seat_map.seats.iter().map(|seat| seat.status).collect()
    }

    #[actix_rt::test]
    async fn a_seat_map_read_mid_payment_does_not_outlive_an_aborted_payment() {
        let clock = ManualClock::starting_at("2026-12-24T10:00:00Z".parse().unwrap());
        let (date, _dir) = start_date(&clock, 2);
        let user = UserId::random();
        let held = date.hold(user, 1, token_ends(&clock), None).await.unwrap();
        date.begin_payment(held.reservation_id, user).await.unwrap();
        assert_eq!(seat_statuses(&date).await, [SeatStatus::Held, SeatStatus::Available]);
        date.abort_payment(held.reservation_id).await.unwrap();
        clock.advance(Duration::minutes(6));
        assert_eq!(
            seat_statuses(&date).await,
            [SeatStatus::Available, SeatStatus::Available]
        );
        assert_eq!(date.counts().await.unwrap().available(), 2);
    }

    #[actix_rt::test]
    async fn counts_and_the_seat_map_follow_every_change() {
        let clock = ManualClock::starting_at("2026-12-24T10:00:00Z".parse().unwrap());
        let (date, _dir) = start_date(&clock, 3);
        assert_eq!(date.counts().await.unwrap().available(), 3);
        let user = UserId::random();
        let held = date.hold(user, 2, token_ends(&clock), None).await.unwrap();
        assert_eq!(date.counts().await.unwrap().held, 1);
        assert_eq!(seat_statuses(&date).await[1], SeatStatus::Held);
        date.cancel(held.reservation_id, user).await.unwrap();
        assert_eq!(seat_statuses(&date).await[1], SeatStatus::Available);
        date.hold(user, 3, token_ends(&clock), None).await.unwrap();
        clock.advance(Duration::minutes(5));
        assert_eq!(seat_statuses(&date).await[2], SeatStatus::Available);
        assert_eq!(date.counts().await.unwrap().held, 0);
    }

    #[actix_rt::test]
    async fn the_published_seat_map_keeps_its_version_until_the_map_changes() {
        let clock = ManualClock::starting_at("2026-12-24T10:00:00Z".parse().unwrap());
        let (date, _dir) = start_date(&clock, 2);
        assert_eq!(date.published_version(), None, "nothing is published before a read");
        date.counts().await.unwrap();
        let counted = date.published_version().expect("the counts are published");
        let first = date.seat_map().await.unwrap();
        assert_eq!(first.version, counted, "the seats join the publication of the counts");
        let again = date.seat_map().await.unwrap();
        assert_eq!(again.version, first.version);
        assert!(
            Arc::ptr_eq(&again.seats, &first.seats),
            "read again, not gathered again"
        );
        let user = UserId::random();
        date.hold(user, 1, token_ends(&clock), None).await.unwrap();
        assert_eq!(date.published_version(), None, "a change outdates what is published");
        let held = date.seat_map().await.unwrap();
        assert!(held.version > first.version);
        assert_eq!(held.seats[0].status, SeatStatus::Held);
        clock.advance(Duration::minutes(5));
        assert_eq!(date.published_version(), None, "so does a hold falling due");
        let lapsed = date.seat_map().await.unwrap();
        assert!(lapsed.version > held.version);
        assert_eq!(lapsed.seats[0].status, SeatStatus::Available);
    }
}
