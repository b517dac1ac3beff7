//! Thin actix actors around the domain types, one writer per piece of state, each behind a typed
//! handle so HTTP code never touches a mailbox.
//!
//! - [`queue`]: the waiting room, publishing token states to a shared index for validation.
//! - [`concert_date`]: one actor per concert date: its seats, holds and sales.
//! - [`wallet`]: every balance, transaction and payment.

pub mod concert_date;
pub mod hold_ledger;
pub mod keyed;
pub mod queue;
pub mod wallet;

use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::persistence::journal::{Commit, StreamWriter};
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
    fn stream(&mut self) -> &mut StreamWriter;
    fn next_deadline(&self) -> Option<DateTime<Utc>>;
    /// Processes every deadline up to `now`; returns what happened.
    fn process_due(&mut self, now: DateTime<Utc>) -> Vec<Self::Event>;
    /// Keeps whatever depends on the events in step (shared indexes, caches).
    fn record(&mut self, events: &[Self::Event]);
    /// The event as the journal keeps it.
    fn change(&self, event: &Self::Event) -> Change;

    fn journal(&mut self, events: &[Self::Event]) -> Commit {
        let changes: Vec<Change> = events.iter().map(|event| self.change(event)).collect();
        self.stream().append(changes)
    }

    fn catch_up(&mut self) -> DateTime<Utc> {
        let now = self.clock().now();
        let due = self.process_due(now);
        self.record(&due);
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
    /// for the journal, while the actor goes on with its next message.
    fn run<T: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        command: impl FnOnce(&mut Self, DateTime<Utc>) -> Result<(T, Vec<Self::Event>)>,
    ) -> ActorResponse<Self, Result<T>> {
        self.run_keyed(ctx, None, command)
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
            self.record(&events);
            // Nobody waits: the wallet's record vouches for the payment.
            let _ = self.journal(&events);
            value
        });
        self.rearm(ctx);
        ActorResponse::reply(outcome)
    }

    /// `run` for a command that may carry a keyed request's answer slot: the answer is journaled
    /// in one entry with the command's last event.
    fn run_keyed<T: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        keyed: Option<Keyed<T>>,
        command: impl FnOnce(&mut Self, DateTime<Utc>) -> Result<(T, Vec<Self::Event>)>,
    ) -> ActorResponse<Self, Result<T>> {
        let now = self.catch_up();
        let outcome = command(self, now).map(|(value, events)| {
            self.record(&events);
            let mut changes: Vec<Change> = events.iter().map(|event| self.change(event)).collect();
            if let Some(last) = changes.pop() {
                changes.push(seal(keyed, &value, last));
            }
            (value, self.stream().append(changes))
        });
        self.rearm(ctx);
        answer_when_durable(outcome)
    }
}

/// The value, once its commit is durable: at once when there was nothing to write (a read, a
/// refusal), so those cost no allocation and no extra turn of the actor.
pub fn answer_when_durable<A: Actor, T: 'static>(outcome: Result<(T, Commit)>) -> ActorResponse<A, Result<T>>
where
    A::Context: AsyncContext<A>,
{
    match outcome {
        Err(refused) => ActorResponse::reply(Err(refused)),
        Ok((value, commit)) if commit.is_done() => ActorResponse::reply(Ok(value)),
        Ok((value, commit)) => ActorResponse::r#async(actix::fut::wrap_future(async move {
            commit.durable().await?;
            Ok(value)
        })),
    }
}
