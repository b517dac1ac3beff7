//! The actor of one concert date: sole writer of its seat map, so of any number of concurrent
//! requests for one seat exactly one wins. It publishes a rendered seat map that readers reuse
//! until something changes or a hold in it lapses.

use super::{Alarm, DeadlineActor, Mailbox};
use crate::clock::SharedClock;
use crate::domain::seat_map::{Reservation, SeatCounts, SeatEvent, SeatMap, SeatView};
use crate::domain::{ConcertId, PaymentId, ReservationId, UserId};
use crate::error::Result;
use crate::services::hold_ledger::HoldLedger;
use actix::prelude::*;
use actix_web::web::Bytes;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use dashmap::DashMap;
use parking_lot::RwLock;
use serde::Serialize;
use std::sync::Arc;

/// Where a reservation lives: its concert date.
pub type DateKey = (ConcertId, NaiveDate);

/// The seat map of a date as the API returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapView {
    #[schema(value_type = uuid::Uuid)]
    pub concert_id: ConcertId,
    pub date: NaiveDate,
    pub available_seats: u64,
    pub seats: Vec<SeatView>,
}

/// The last rendering of the seat map, good until `valid_until` (the next hold deadline) or until
/// the map changes.
#[derive(Debug, Clone, Default)]
struct Published {
    stale: bool,
    valid_until: Option<DateTime<Utc>>,
    body: Bytes,
    counts: SeatCounts,
}

impl Published {
    fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        !self.stale && self.valid_until.is_none_or(|until| now < until)
    }
}

/// Limits and shared indexes every date actor uses.
#[derive(Clone)]
pub struct DateContext {
    pub clock: SharedClock,
    pub hold_ttl: Duration,
    pub hold_max: u32,
    pub ledger: Arc<HoldLedger>,
    pub reservations: Arc<DashMap<ReservationId, DateKey>>,
}

pub struct ConcertDateActor {
    map: SeatMap,
    context: DateContext,
    published: Arc<RwLock<Published>>,
    alarm: Alarm,
}

impl ConcertDateActor {
    fn render(&self, now: DateTime<Utc>) -> Published {
        let counts = self.map.counts(now);
        let view = SeatMapView {
            concert_id: self.map.concert(),
            date: self.map.date(),
            available_seats: counts.available(),
            seats: self.map.seats(now),
        };
        let body = serde_json::to_vec(&view).expect("a seat map serializes");
        Published {
            stale: false,
            valid_until: self.map.next_deadline(),
            body: Bytes::from(body),
            counts,
        }
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

    fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.map.next_deadline()
    }

    fn process_due(&mut self, now: DateTime<Utc>) -> Vec<SeatEvent> {
        self.map.lapse_due(now)
    }

    /// Keeps the shared indexes in step with what happened and marks the rendering stale.
    fn record(&mut self, events: &[SeatEvent]) {
        for event in events {
            match *event {
                SeatEvent::SeatHeld { reservation, .. } => {
                    self.context
                        .reservations
                        .insert(reservation, (self.map.concert(), self.map.date()));
                }
                SeatEvent::HoldCancelled { reservation, .. }
                | SeatEvent::HoldLapsed { reservation, .. }
                | SeatEvent::SeatSold { reservation, .. } => {
                    self.context.ledger.release(self.map.holder(reservation), reservation);
                }
            }
        }
        if !events.is_empty() {
            self.published.write().stale = true;
        }
    }
}

impl Actor for ConcertDateActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(super::MAILBOX_REQUESTS_MAX);
        self.rearm(ctx);
    }
}

#[derive(Message)]
#[rtype(result = "Result<Reservation>")]
pub struct HoldSeat {
    pub user: UserId,
    pub seat_number: i64,
}

impl Handler<HoldSeat> for ConcertDateActor {
    type Result = Result<Reservation>;

    fn handle(&mut self, message: HoldSeat, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, now| {
            let reservation = ReservationId::random();
            let context = &actor.context;
            let within_limit = |until| {
                context
                    .ledger
                    .try_take(message.user, reservation, until, now, context.hold_max)
            };
            let held = actor.map.hold(
                message.user,
                message.seat_number,
                reservation,
                now,
                context.hold_ttl,
                within_limit,
            )?;
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
    type Result = Result<()>;

    fn handle(&mut self, message: CancelHold, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, now| {
            Ok(((), vec![actor.map.cancel(message.reservation, message.user, now)?]))
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
    type Result = Result<Reservation>;

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
    type Result = Result<Reservation>;

    fn handle(&mut self, message: BeginPayment, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, now| {
            let claim = actor.map.begin_payment(message.reservation, message.user, now)?;
            Ok((claim.reservation, Vec::new()))
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
    type Result = Result<()>;

    fn handle(&mut self, message: CompletePayment, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, now| {
            Ok((
                (),
                vec![actor.map.complete_payment(message.reservation, message.payment, now)],
            ))
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
    type Result = Result<()>;

    fn handle(&mut self, message: AbortPayment, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, now| {
            Ok(((), actor.map.abort_payment(message.reservation, now)))
        })
    }
}

/// Renders the seat map if the published one is stale, and returns it.
#[derive(Message)]
#[rtype(result = "(Bytes, SeatCounts)")]
struct Render;

impl Handler<Render> for ConcertDateActor {
    type Result = MessageResult<Render>;

    fn handle(&mut self, _: Render, ctx: &mut Context<Self>) -> Self::Result {
        let now = self.catch_up();
        self.rearm(ctx);
        let mut published = self.published.write();
        if !published.is_fresh(now) {
            *published = self.render(now);
        }
        MessageResult((published.body.clone(), published.counts))
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
    pub fn start(map: SeatMap, context: DateContext, arbiter: &ArbiterHandle) -> Self {
        let clock = context.clock.clone();
        let published = Arc::new(RwLock::new(Published {
            stale: true,
            ..Published::default()
        }));
        let actor = ConcertDateActor {
            map,
            context,
            published: published.clone(),
            alarm: Alarm::default(),
        };
        let address = ConcertDateActor::start_in_arbiter(arbiter, |_| actor);
        Self {
            mailbox: Mailbox::new(address),
            published,
            clock,
        }
    }

    /// The seat map as JSON, from the published rendering when it is still true.
    pub async fn seat_map_json(&self) -> Result<Bytes> {
        Ok(self.rendering().await?.0)
    }

    pub async fn counts(&self) -> Result<SeatCounts> {
        Ok(self.rendering().await?.1)
    }

    async fn rendering(&self) -> Result<(Bytes, SeatCounts)> {
        {
            let published = self.published.read();
            if published.is_fresh(self.clock.now()) {
                return Ok((published.body.clone(), published.counts));
            }
        }
        self.mailbox.ask(Render).await
    }

    pub async fn hold(&self, user: UserId, seat_number: i64) -> Result<Reservation> {
        self.mailbox.ask(HoldSeat { user, seat_number }).await?
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
}
