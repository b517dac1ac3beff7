//! Thin actix actors around the domain types, one writer per piece of state, each behind a typed
//! handle so HTTP code never touches a mailbox.
//!
//! - [`queue`]: the waiting room, publishing token states to a shared index for validation.
//! - [`concert_date`]: one actor per concert date: its seats, holds and sales.
//! - [`wallet`]: every balance, transaction and payment.

pub mod concert_date;
pub mod hold_ledger;
pub mod keyed;
pub mod line_news;
pub mod queue;
pub mod wallet;

use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::persistence::journal::Commit;
use crate::persistence::log::PartitionWriter;
use crate::persistence::Change;
use actix::dev::ToEnvelope;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use keyed::{seal, Keyed};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Messages an actor's mailbox holds before `send` waits for room. Requests in flight are bounded
/// before that by each `Mailbox` (`--actor-requests-max`); only `insist` can pass the bound.
pub const MAILBOX_CAPACITY: usize = 16_384;

/// An actor's address with a bound on requests in flight: past it a caller gets 503 UNAVAILABLE
/// at once instead of a latency that grows without limit.
pub struct Mailbox<A: Actor> {
    address: Addr<A>,
    permits: Arc<Semaphore>,
}

impl<A: Actor> Clone for Mailbox<A> {
    fn clone(&self) -> Self {
        Self {
            address: self.address.clone(),
            permits: self.permits.clone(),
        }
    }
}

impl<A: Actor> Mailbox<A> {
    /// At most `requests_max` requests may be in flight at once.
    pub fn new(address: Addr<A>, requests_max: usize) -> Self {
        Self {
            address,
            permits: Arc::new(Semaphore::new(requests_max)),
        }
    }

    /// Asks the actor, or answers UNAVAILABLE when its mailbox is full.
    pub async fn ask<M>(&self, message: M) -> Result<M::Result>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let _permit = self.permits.try_acquire().map_err(|_| Error::unavailable())?;
        self.address.send(message).await.map_err(Error::internal)
    }

    /// Asks the actor even when its mailbox is full: for the second half of work already begun
    /// (completing or aborting a payment), which must never be refused.
    pub async fn insist<M>(&self, message: M) -> Result<M::Result>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        self.address.send(message).await.map_err(Error::internal)
    }
}

/// One timer an actor sets for its earliest deadline, so expiry happens on time without sweeping
/// on a fixed period.
#[derive(Default)]
pub struct Alarm {
    armed: Option<(DateTime<Utc>, SpawnHandle)>,
}

impl Alarm {
    /// Sets the timer for `deadline` unless it is already set for it; `wake` runs then.
    pub fn set<A>(
        &mut self,
        ctx: &mut Context<A>,
        deadline: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        wake: fn(&mut A, &mut Context<A>),
    ) where
        A: Actor<Context = Context<A>>,
    {
        if self.armed.as_ref().map(|(at, _)| *at) == deadline {
            return;
        }
        if let Some((_, handle)) = self.armed.take() {
            ctx.cancel_future(handle);
        }
        if let Some(deadline) = deadline {
            // A millisecond late rather than early, so the wake finds the deadline passed.
            let wait = (deadline - now).to_std().unwrap_or_default() + std::time::Duration::from_millis(1);
            let handle = ctx.run_later(wait, wake);
            self.armed = Some((deadline, handle));
        }
    }

    /// Called first thing by `wake`: the timer is spent.
    pub fn rang(&mut self) {
        self.armed = None;
    }
}

/// An actor whose state has deadlines and goes to the journal. Every command first processes
/// what fell due, so it decides against the state as it is at `now`; what happened is applied,
/// recorded and journaled; the timer is set for the next deadline; and the answer goes out once
/// the journal holds what happened.
pub trait DeadlineActor: Actor<Context = Context<Self>> {
    type Event;

    fn clock(&self) -> &SharedClock;
    fn alarm(&mut self) -> &mut Alarm;
    fn stream(&mut self) -> &mut PartitionWriter;
    fn next_deadline(&self) -> Option<DateTime<Utc>>;
    /// Processes every deadline up to `now`; returns what happened.
    fn process_due(&mut self, now: DateTime<Utc>) -> Vec<Self::Event>;
    /// Publishes what happened to whatever readers share outside the actor (the token index, the
    /// hold ledger, the seat map's published state).
    fn publish(&mut self, events: &[Self::Event]);
    /// The event as the journal keeps it.
    fn change(&self, event: &Self::Event) -> Change;

    fn journal(&mut self, events: &[Self::Event]) -> Commit {
        let changes: Vec<Change> = events.iter().map(|event| self.change(event)).collect();
        self.stream().append(changes)
    }

    fn catch_up(&mut self) -> DateTime<Utc> {
        let now = self.clock().now();
        let due = self.process_due(now);
        self.publish(&due);
        // Nobody waits for these: the journal keeps order, so the next acknowledged write of
        // this actor vouches for them.
        let _ = self.journal(&due);
        now
    }

    fn rearm(&mut self, ctx: &mut Context<Self>) {
        let now = self.clock().now();
        let deadline = self.next_deadline();
        self.alarm().set(ctx, deadline, now, Self::wake);
    }

    fn wake(&mut self, ctx: &mut Context<Self>) {
        self.alarm().rang();
        self.catch_up();
        self.rearm(ctx);
    }

    /// Runs one command: catch up, decide, record, journal, re-arm the timer; the answer waits
    /// for the journal, while the actor goes on with its next message. Never refused for want of
    /// room in the journal: it serves reads and the commands that end what a keyed command began
    /// (a cancellation, a departure, the second half of a payment), which must go through and
    /// cannot write more than was admitted.
    fn run<T: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        command: impl FnOnce(&mut Self, DateTime<Utc>) -> Result<(T, Vec<Self::Event>)>,
    ) -> ActorResponse<Self, Result<T>> {
        let decided = decide(self, None, command);
        self.rearm(ctx);
        answer_when_durable(decided)
    }

    /// `run` for a step of a payment around the wallet's record, which alone decides the
    /// payment: the answer goes out once the change is applied and handed to the journal,
    /// without waiting for the disk. The journal keeps order, so a step before the wallet's
    /// record is on disk when that record is; a step after it is finished again at start if a
    /// crash lost it (see `services::payments`).
    fn run_applied<T: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        command: impl FnOnce(&mut Self, DateTime<Utc>) -> Result<(T, Vec<Self::Event>)>,
    ) -> ActorResponse<Self, Result<T>> {
        let now = self.catch_up();
        let outcome = command(self, now).map(|(value, events)| {
            self.publish(&events);
            // Nobody waits: the wallet's record vouches for the payment.
            let _ = self.journal(&events);
            value
        });
        self.rearm(ctx);
        ActorResponse::reply(outcome)
    }

    /// `run` for a command that makes something new (a hold, a token), admitted only while the
    /// journal keeps up with the disk: refused before it decides anything otherwise, since once
    /// applied a change must be appended. It may carry a keyed request's answer slot: the answer
    /// is journaled in one entry with the command's last event.
    fn run_admitted<T: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        keyed: Option<Keyed<T>>,
        command: impl FnOnce(&mut Self, DateTime<Utc>) -> Result<(T, Vec<Self::Event>)>,
    ) -> ActorResponse<Self, Result<T>> {
        if !self.stream().has_room() {
            return ActorResponse::reply(Err(Error::unavailable()));
        }
        let decided = decide(self, keyed, command);
        self.rearm(ctx);
        answer_when_durable(decided)
    }
}

/// Catches up, decides, records and journals one command; the outcome and what its answer
/// waits for. A command that changes nothing (a read, a refusal) waits for what it saw: a seat
/// is said to be taken only once the hold that took it is durable.
fn decide<A: DeadlineActor, T>(
    actor: &mut A,
    keyed: Option<Keyed<T>>,
    command: impl FnOnce(&mut A, DateTime<Utc>) -> Result<(T, Vec<A::Event>)>,
) -> (Result<T>, Commit) {
    let now = actor.catch_up();
    match command(actor, now) {
        Ok((value, events)) if events.is_empty() => (Ok(value), actor.stream().settled()),
        Ok((value, events)) => {
            actor.publish(&events);
            let mut changes: Vec<Change> = events.iter().map(|event| actor.change(event)).collect();
            if let Some(last) = changes.pop() {
                changes.push(seal(keyed, &value, last));
            }
            (Ok(value), actor.stream().append(changes))
        }
        Err(refused) => (Err(refused), actor.stream().settled()),
    }
}

/// The outcome, once its commit is durable: at once when there is nothing to wait for, so most
/// reads and refusals cost no allocation and no extra turn of the actor.
pub fn answer_when_durable<A: Actor, T: 'static>((outcome, commit): (Result<T>, Commit)) -> ActorResponse<A, Result<T>>
where
    A::Context: AsyncContext<A>,
{
    if commit.is_done() {
        return ActorResponse::reply(outcome);
    }
    ActorResponse::r#async(actix::fut::wrap_future(async move {
        commit.durable().await?;
        outcome
    }))
}

/// A read's answer, once everything `stream` appended before it is durable: what a read shows,
/// a crash cannot take back.
pub fn answer_settled<A: Actor, T: 'static>(stream: &mut PartitionWriter, value: T) -> ActorResponse<A, Result<T>>
where
    A::Context: AsyncContext<A>,
{
    answer_when_durable((Ok(value), stream.settled()))
}

#[cfg(test)]
mod tests {
    use super::concert_date::{ConcertDateHandle, DateContext};
    use crate::clock::{Clock, ManualClock};
    use crate::domain::seat_map::SeatMap;
    use crate::domain::{ConcertId, PaymentId, UserId};
    use crate::error::ErrorCode;
    use crate::persistence::file_log::FileLog;
    use crate::persistence::journal::Gate;
    use crate::persistence::Part;
    use chrono::{DateTime, Duration, Utc};
    use std::sync::Arc;

    /// Room in the journal of these tests: less than one record.
    const QUEUED_BYTES: usize = 64;

    struct Rig {
        clock: ManualClock,
        log: Arc<FileLog>,
        gate: Gate,
        date: ConcertDateHandle,
        _dir: tempfile::TempDir,
    }

    /// A date of `seats` seats whose journal has room for `QUEUED_BYTES` and whose writer waits
    /// until the gate is opened.
    fn rig(seats: u32) -> Rig {
        let clock = ManualClock::starting_at("2026-12-24T10:00:00Z".parse().unwrap());
        let (log, gate, dir) = FileLog::held_up(QUEUED_BYTES);
        let context = DateContext {
            clock: Arc::new(clock.clone()),
            hold_ttl: Duration::minutes(5),
            hold_max: 4,
            ledger: Arc::default(),
            reservations: Arc::default(),
            waitlists: Arc::default(),
            requests_max: 64,
            log: log.clone(),
        };
        let map = SeatMap::new(ConcertId::random(), "2026-12-24".parse().unwrap(), seats, 1_000);
        let date = ConcertDateHandle::start(
            Part { seq: 0, state: map },
            Vec::new(),
            context,
            &actix::Arbiter::current(),
        );
        Rig {
            clock,
            log,
            gate,
            date,
            _dir: dir,
        }
    }

    impl Rig {
        fn token_ends(&self) -> DateTime<Utc> {
            self.clock.now() + Duration::hours(1)
        }

        /// Returns once the actor has taken every message sent before: it takes them in order,
        /// and answers a copy of its map at once (a read would wait for the journal).
        async fn taken_in_order(&self) {
            self.date.image().await.expect("the actor answers");
        }

        /// Fills the journal's room with records the disk has not taken yet.
        fn fill_journal(&self) -> super::Commit {
            let queued = self.log.journal().append(vec![0; QUEUED_BYTES]);
            assert!(!self.log.journal().has_room());
            queued
        }
    }

    #[actix_rt::test]
    async fn a_payment_is_not_begun_while_the_journal_is_behind() {
        let rig = rig(2);
        let user = UserId::random();
        rig.gate.open();
        let held = rig.date.hold(user, 1, rig.token_ends(), None).await.unwrap();
        rig.gate.close();
        let queued = rig.fill_journal();
        let refused = rig.date.begin_payment(held.reservation_id, user).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::Unavailable);
        rig.gate.open();
        queued.durable().await.unwrap();
        rig.date.begin_payment(held.reservation_id, user).await.unwrap();
        rig.log.journal().barrier().await.unwrap();
        let refused_again = rig.date.cancel(held.reservation_id, user).await.unwrap_err();
        assert_eq!(
            refused_again.code,
            ErrorCode::ReservationNotHeld,
            "the payment is under way now"
        );
    }

    #[actix_rt::test]
    async fn a_hold_is_refused_and_changes_nothing_while_the_journal_is_behind_then_goes_through() {
        let rig = rig(2);
        let user = UserId::random();
        let queued = rig.fill_journal();

        let (refused, available) = tokio::join!(rig.date.hold(user, 1, rig.token_ends(), None), async {
            rig.taken_in_order().await;
            let available = rig.date.counts().await.unwrap().available();
            // Opened whatever the hold did, so that a hold let through fails the test below
            // instead of waiting for the disk forever.
            rig.gate.open();
            available
        });
        assert_eq!(available, 2, "the seat stayed AVAILABLE");
        let refused = refused.unwrap_err();
        assert_eq!(refused.code, ErrorCode::Unavailable);
        assert_eq!(refused.retry_after_seconds, Some(1));

        queued.durable().await.unwrap();
        let held = rig.date.hold(user, 1, rig.token_ends(), None).await.unwrap();
        assert_eq!(held.seat_number, 1);
        assert_eq!(rig.date.counts().await.unwrap().held, 1);
    }

    #[actix_rt::test]
    async fn the_second_half_of_a_payment_goes_through_while_the_journal_is_behind() {
        let rig = rig(2);
        let user = UserId::random();
        rig.gate.open();
        let paid = rig.date.hold(user, 1, rig.token_ends(), None).await.unwrap();
        let aborted = rig.date.hold(user, 2, rig.token_ends(), None).await.unwrap();
        rig.date.begin_payment(paid.reservation_id, user).await.unwrap();
        // The mark nobody waited for is on disk before the next payment asks for room.
        rig.log.journal().barrier().await.unwrap();
        rig.date.begin_payment(aborted.reservation_id, user).await.unwrap();
        rig.log.journal().barrier().await.unwrap();
        rig.gate.close();
        let queued = rig.fill_journal();

        let (sold, put_back, ()) = tokio::join!(
            rig.date.complete_payment(paid.reservation_id, PaymentId::random()),
            rig.date.abort_payment(aborted.reservation_id),
            async {
                rig.taken_in_order().await;
                rig.gate.open();
            },
        );
        sold.unwrap();
        put_back.unwrap();
        queued.durable().await.unwrap();
        let counts = rig.date.counts().await.unwrap();
        assert_eq!(
            (counts.sold, counts.held),
            (1, 1),
            "one seat sold, the other held as before"
        );
    }
}
