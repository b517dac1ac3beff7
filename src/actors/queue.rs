//! The queue actor: sole writer of the waiting room, and of the token index that request
//! handlers read to validate a token without a mailbox hop.

use super::keyed::Keyed;
use super::line_news::{Following, LineNews};
use super::{Alarm, DeadlineActor, Mailbox};
use crate::clock::SharedClock;
use crate::domain::line_view::{LineView, PlaceInLine};
use crate::domain::sale::{SaleGate, SaleSchedule};
use crate::domain::seq_slab::SeqSlab;
use crate::domain::waiting_room::{QueueEvent, QueueStats, QueueStatus, RoomImage, TokenStatus, WaitingRoom};
use crate::domain::{ConcertId, Token, TokenSecret, UserId};
use crate::error::{Error, ErrorCode, Result};
use crate::persistence::journal::Commit;
use crate::persistence::log::{Partition, PartitionWriter, SharedLog};
use crate::persistence::{Change, Part};
use actix::prelude::*;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

/// A live token as validation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fan {
    pub token: Token,
    pub user: UserId,
    pub status: TokenStatus,
    /// When the token dies unless kept alive: `activeUntil` while ACTIVE.
    pub deadline: DateTime<Utc>,
    /// Whether the record that made the token ACTIVE is durable: a hold may be decided on an
    /// admission only once a crash or a failover can no longer take it back.
    pub admission_durable: bool,
}

/// How many locks the token index spreads its tokens over, so that fans validating tokens seldom
/// wait on the queue actor's writes or on each other.
const INDEX_SHARDS: u64 = 16;

#[derive(Debug)]
struct IndexEntry {
    token: Token,
    user: UserId,
    status: TokenStatus,
    /// The token is dead from this moment, even before the queue actor's timer sweeps it,
    /// unless a read keeps it alive longer (`read_until`).
    deadline: DateTime<Utc>,
    /// The room's entry that admitted the token, counted from the index's first (0 for one
    /// recovered or waiting), in 3 bytes.
    admitted_in: Counted,
    issued_at: DateTime<Utc>,
    /// A WAITING token read off the index lives until here (milliseconds since the Unix
    /// epoch; 0 if never): the reader sets it under the shard's read lock, and the queue
    /// actor carries it over to the room when the token's idle deadline comes.
    read_until: AtomicI64,
}

/// A room entry's number counted from the index's first, in 24 bits; an admission past what
/// they count is never taken as durable from the index: the queue is asked instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counted([u8; 3]);

impl Counted {
    const NEVER_VOUCHED: Self = Self([0xff; 3]);

    fn of(entry: u64, first_entry: u64) -> Self {
        match entry.checked_sub(first_entry) {
            Some(counted) if counted < 0xff_ffff => {
                let [low, middle, high, ..] = counted.to_le_bytes();
                Self([low, middle, high])
            }
            _ => Self::NEVER_VOUCHED,
        }
    }

    /// The entry's number, unless it was past counting.
    fn entry(self, first_entry: u64) -> Option<u64> {
        let [low, middle, high] = self.0;
        (self != Self::NEVER_VOUCHED).then(|| first_entry + u64::from_le_bytes([low, middle, high, 0, 0, 0, 0, 0]))
    }
}

/// Token → user and status, for every live token; written only by the queue actor (but for the
/// time a read keeps a token alive, which its reader sets). Entries sit in place by sequence
/// number (a token carries its own), 88 bytes each, so the copy validation and status reads use
/// costs a million waiting tokens 88 MB rather than a hash map's 150 or more.
pub struct TokenIndex {
    live: Box<[RwLock<SeqSlab<IndexEntry>>]>,
    /// Tokens payments were made with, and whose: mirrors the room's memory of them.
    paid: DashMap<Token, UserId>,
    /// The room's entries known durable, up to this number (kept by the room's writer).
    durable_through: Arc<AtomicU64>,
    /// The number of the room's last entry when the index was made.
    first_entry: u64,
    /// How long a read keeps a WAITING token alive: the room's idle TTL.
    idle_ttl: chrono::Duration,
}

impl Default for TokenIndex {
    fn default() -> Self {
        Self {
            live: (0..INDEX_SHARDS).map(|_| RwLock::default()).collect(),
            paid: DashMap::new(),
            durable_through: Arc::default(),
            first_entry: 0,
            idle_ttl: chrono::Duration::zero(),
        }
    }
}

impl TokenIndex {
    /// The index of a room recovered up to its entry numbered `last_entry`.
    pub fn of(room: &WaitingRoom, last_entry: u64) -> Self {
        let index = Self {
            first_entry: last_entry,
            idle_ttl: room.idle_ttl(),
            ..Self::default()
        };
        // By the tokens' own numbers, which the room's order of places is not after a draw.
        let mut live: Vec<_> = room.live_tokens().collect();
        live.sort_unstable_by_key(|(token, ..)| token.seq());
        for (token, user, status, deadline, issued_at) in live {
            index.insert(IndexEntry {
                token,
                user,
                status,
                deadline,
                admitted_in: Counted::default(),
                issued_at,
                read_until: AtomicI64::new(0),
            });
        }
        for (token, user, _) in room.paid_tokens() {
            index.paid.insert(token, user);
        }
        index
    }

    /// The shard a token's entry lives in, and its number within the shard.
    fn shard(&self, token: &Token) -> (&RwLock<SeqSlab<IndexEntry>>, u64) {
        let seq = token.seq();
        (&self.live[(seq % INDEX_SHARDS) as usize], seq / INDEX_SHARDS)
    }

    fn insert(&self, entry: IndexEntry) {
        let (shard, key) = self.shard(&entry.token);
        shard.write().insert(key, entry);
    }

    /// What `look` makes of the token's entry, read under its shard's read lock.
    fn entry<R>(&self, token: &Token, look: impl FnOnce(&IndexEntry) -> R) -> Option<R> {
        let (shard, key) = self.shard(token);
        shard.read().get(key).filter(|entry| entry.token.is(token)).map(look)
    }

    fn update(&self, token: &Token, change: impl FnOnce(&mut IndexEntry)) {
        let (shard, key) = self.shard(token);
        if let Some(entry) = shard.write().get_mut(key).filter(|entry| entry.token.is(token)) {
            change(entry);
        }
    }

    fn remove(&self, token: &Token) {
        let (shard, key) = self.shard(token);
        let mut shard = shard.write();
        if shard.get(key).is_some_and(|entry| entry.token.is(token)) {
            shard.remove(key);
        }
    }

    /// The live token's fan. A token past its deadline (active or idle) is dead at once, before
    /// the queue actor's timer has swept it.
    pub fn authenticate(&self, token: &Token, now: DateTime<Utc>) -> Result<Fan> {
        let fan = self.entry(token, |entry| entry.alive(now).then(|| self.fan_of(entry)));
        fan.flatten().ok_or_else(token_invalid)
    }

    fn fan_of(&self, entry: &IndexEntry) -> Fan {
        Fan {
            token: entry.token,
            user: entry.user,
            status: entry.status,
            deadline: entry.deadline,
            admission_durable: self.is_durable(entry.admitted_in),
        }
    }

    /// The fan of a WAITING token the index holds, whatever its idle deadline.
    fn waiting(&self, token: &Token) -> Option<Fan> {
        let fan = self.entry(token, |entry| self.fan_of(entry))?;
        (fan.status == TokenStatus::Waiting).then_some(Fan {
            admission_durable: false,
            ..fan
        })
    }

    /// The token's status as its fan reads it, told by the index and the line's `view` alone,
    /// or None when they cannot tell (a token unknown or past its deadline, an admission not
    /// yet durable, a waiting token the view has out of line or cannot place): the room is
    /// asked then. A WAITING token read is kept alive for another idle TTL from `now`.
    fn read(
        &self,
        token: &Token,
        now: DateTime<Utc>,
        view: impl FnOnce() -> Option<Arc<LineView>>,
    ) -> Option<QueueStatus> {
        self.entry(token, |entry| {
            let status = match (entry.alive(now), entry.status) {
                (true, TokenStatus::Active) if self.is_durable(entry.admitted_in) => QueueStatus {
                    position: 0,
                    estimated_wait_seconds: 0,
                    active_until: Some(entry.deadline),
                    ..entry.status_as_issued()
                },
                (true, TokenStatus::Prequeued) => entry.status_as_issued(),
                (true, TokenStatus::Waiting) => match view()?.place(token.seq()) {
                    PlaceInLine::Waiting {
                        position,
                        estimated_wait_seconds,
                    } => QueueStatus {
                        position,
                        estimated_wait_seconds,
                        ..entry.status_as_issued()
                    },
                    PlaceInLine::Out | PlaceInLine::Unknown => return None,
                },
                _ => return None,
            };
            if status.status == TokenStatus::Waiting {
                entry.keep_alive_until(now + self.idle_ttl);
            }
            Some(status)
        })
        .flatten()
    }

    /// Until when the token numbered `seq` was last read to live, if it was read off the index.
    fn read_until(&self, seq: u64) -> Option<DateTime<Utc>> {
        let shard = self.live[(seq % INDEX_SHARDS) as usize].read();
        shard.get(seq / INDEX_SHARDS).and_then(IndexEntry::read_until)
    }

    fn is_durable(&self, admitted_in: Counted) -> bool {
        let durable_through = self.durable_through.load(Ordering::Acquire);
        admitted_in
            .entry(self.first_entry)
            .is_some_and(|entry| entry <= durable_through)
    }

    /// The user a token belonged to if a payment ended it.
    pub fn paid_by(&self, token: &Token) -> Option<UserId> {
        self.paid.get(token).map(|entry| *entry.value())
    }

    /// Brings the index in step with one event, to be recorded in the room's entry numbered
    /// `entry` at the latest; `room` has already applied it (and maybe later ones of the same
    /// command).
    fn publish(&self, event: &QueueEvent, room: &WaitingRoom, entry: u64) {
        match *event {
            QueueEvent::TokenIssued { token, user, at, .. } => {
                // Admitted by a later event of the same command, if at all.
                let prequeued = room.status_of_token(&token) == Some(TokenStatus::Prequeued);
                self.insert(IndexEntry {
                    token,
                    user,
                    status: if prequeued {
                        TokenStatus::Prequeued
                    } else {
                        TokenStatus::Waiting
                    },
                    deadline: room.deadline(&token).unwrap_or(at),
                    admitted_in: Counted::default(),
                    issued_at: at,
                    read_until: AtomicI64::new(0),
                });
            }
            QueueEvent::TokenAdmitted {
                token, active_until, ..
            } => self.update(&token, |indexed| {
                indexed.status = TokenStatus::Active;
                indexed.deadline = active_until;
                indexed.admitted_in = Counted::of(entry, self.first_entry);
            }),
            QueueEvent::TokenEnded { token, .. } => self.remove(&token),
            QueueEvent::TokenPaid { token, user, .. } => {
                self.paid.insert(token, user);
            }
            QueueEvent::PaidTokenForgotten { token, .. } => {
                self.paid.remove(&token);
            }
            QueueEvent::PrequeueDrawn { at } => self.draw(room, at + self.idle_ttl),
            QueueEvent::ActiveMaxChanged { .. } | QueueEvent::SaleChanged { .. } => {}
        }
    }

    /// The draw put every pre-queued token in line, waiting until `idle_deadline` unless read.
    fn draw(&self, room: &WaitingRoom, idle_deadline: DateTime<Utc>) {
        for (token, ..) in room.live_tokens() {
            self.update(&token, |entry| {
                if entry.status == TokenStatus::Prequeued {
                    entry.status = TokenStatus::Waiting;
                    entry.deadline = idle_deadline;
                }
            });
        }
    }

    /// A read moved a waiting token's idle deadline.
    fn refresh(&self, token: &Token, room: &WaitingRoom) {
        if let Some(deadline) = room.deadline(token) {
            self.update(token, |entry| entry.deadline = deadline);
        }
    }
}

impl IndexEntry {
    /// Before its deadline, or while WAITING before the moment its last read keeps it until (a
    /// read while it waited does not lengthen an ACTIVE slot).
    fn alive(&self, now: DateTime<Utc>) -> bool {
        let read_lately = || self.read_until().is_some_and(|until| until > now);
        self.deadline > now || (self.status == TokenStatus::Waiting && read_lately())
    }

    fn read_until(&self) -> Option<DateTime<Utc>> {
        let millis = self.read_until.load(Ordering::Relaxed);
        (millis != 0).then(|| DateTime::from_timestamp_millis(millis)).flatten()
    }

    /// Readers race here only to set about the same moment: the latest wins.
    fn keep_alive_until(&self, until: DateTime<Utc>) {
        self.read_until.fetch_max(until.timestamp_millis(), Ordering::Relaxed);
    }

    /// The token's status with what never changes filled in.
    fn status_as_issued(&self) -> QueueStatus {
        QueueStatus {
            token: self.token,
            user_id: self.user,
            status: self.status,
            position: 0,
            estimated_wait_seconds: 0,
            issued_at: self.issued_at,
            active_until: None,
        }
    }
}

fn token_invalid() -> Error {
    Error::new(
        ErrorCode::TokenInvalid,
        "The token is unknown, expired, left or ended by a payment.",
    )
}

pub struct QueueActor {
    room: WaitingRoom,
    /// The concert whose sale the room is, or none for the site-wide room.
    sale: Option<ConcertId>,
    clock: SharedClock,
    index: Arc<TokenIndex>,
    stream: PartitionWriter,
    alarm: Alarm,
    /// Payments a crash cut short before their tokens were ended: (token, user), finished
    /// first thing at start.
    unfinished_payments: Vec<(Token, UserId)>,
    /// What the event streams are told instead of asking.
    news: Arc<LineNews>,
    /// Token requests waiting to be issued together.
    issues: Arc<IssueQueue>,
    /// The front of the line moved or a token ended since the view was last published.
    view_stale: bool,
    /// Counts the events published, for [`QueueHandle::changes`].
    changes: Arc<AtomicU64>,
}

/// How often the line's view is published when it changed: streams see a new position within
/// this of the change (and send it at most once a second), however many are open.
const VIEW_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// The most tokens left from inside the line for which its view is published with every change.
const VIEW_AT_ONCE_GAPS_MAX: usize = 256;

impl QueueActor {
    /// Publishes the line's view if it changed; it shows the room as of its entry numbered
    /// `through`.
    fn publish_view_if_stale(&mut self, through: u64) {
        if std::mem::take(&mut self.view_stale) {
            let now = self.clock.now();
            self.news.publish(self.room.line_view(now), through);
        }
    }

    /// Ends the tokens of payments the wallet recorded before a crash, as the payment would
    /// have, before any request is served.
    fn finish_payments(&mut self) {
        let now = self.catch_up();
        let paid_with = std::mem::take(&mut self.unfinished_payments);
        let events = self.room.finish_payments(&paid_with, now);
        if !events.is_empty() {
            tracing::info!(events = events.len(), "ended the tokens of payments a crash cut short");
        }
        self.publish(&events);
        let _ = self.journal(&events);
    }
}

impl DeadlineActor for QueueActor {
    type Event = QueueEvent;

    fn clock(&self) -> &SharedClock {
        &self.clock
    }

    fn alarm(&mut self) -> &mut Alarm {
        &mut self.alarm
    }

    fn stream(&mut self) -> &mut PartitionWriter {
        &mut self.stream
    }

    fn change(&self, event: &QueueEvent) -> Change {
        match self.sale {
            None => Change::Queue(event.clone()),
            Some(concert) => Change::Sale(concert, event.clone()),
        }
    }

    fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.room.next_deadline()
    }

    /// Tokens some stream follows are kept alive, as reads would; then what is due ends.
    fn process_due(&mut self, now: DateTime<Utc>) -> Vec<QueueEvent> {
        let (news, index, idle_ttl) = (&self.news, &self.index, self.room.idle_ttl());
        let alive_until = |seq| match news.is_followed(seq) {
            true => Some(now + idle_ttl),
            false => index.read_until(seq),
        };
        for token in self.room.keep_watched_alive(now, alive_until) {
            self.index.refresh(&token, &self.room);
        }
        self.room.expire_due(now)
    }

    /// Publishes what happened to the token index, before the events are appended: each is in
    /// one of the next `events.len()` entries.
    fn publish(&mut self, events: &[QueueEvent]) {
        self.changes.fetch_add(events.len() as u64, Ordering::Release);
        let last_entry = self.stream.seq() + events.len() as u64;
        // An admission, and any change of the line, is shown to readers only once durable:
        // its append is noted when it is.
        let moves_the_line = |event: &QueueEvent| {
            matches!(
                event,
                QueueEvent::TokenAdmitted { .. } | QueueEvent::TokenEnded { .. } | QueueEvent::PrequeueDrawn { .. }
            )
        };
        if events.iter().any(moves_the_line) {
            self.stream.vouch_for_next_append();
        }
        for event in events {
            self.index.publish(event, &self.room, last_entry);
            self.tell_streams(event);
        }
        // A line with few gaps costs little to copy: its view is published at once, so that a
        // status read off it is as fresh as the room. A churned line waits for the interval.
        if self.view_stale && self.room.gaps_in_line() <= VIEW_AT_ONCE_GAPS_MAX {
            self.publish_view_if_stale(last_entry);
        }
    }
}

impl QueueActor {
    /// A token's admission or end wakes its streams at once; either, or an admission of
    /// another, changes the line that the next view shows.
    fn tell_streams(&mut self, event: &QueueEvent) {
        match *event {
            // Streams follow the token's own number, which is not its place if a draw placed it.
            QueueEvent::TokenAdmitted { token, .. } | QueueEvent::TokenEnded { token, .. } => {
                self.news.tell(token.seq());
                self.view_stale = true;
            }
            QueueEvent::PrequeueDrawn { .. } => self.view_stale = true,
            _ => {}
        }
    }
}

impl Actor for QueueActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(super::MAILBOX_CAPACITY);
        self.finish_payments();
        self.rearm(ctx);
        ctx.run_interval(VIEW_INTERVAL, |actor, _| {
            let through = actor.stream.seq();
            actor.publish_view_if_stale(through)
        });
    }

    /// Requests that came too late for the actor are answered, not left waiting for ever.
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.issues.refuse_all();
    }
}

/// A fan's request for a token, answered once its issue is durable.
struct IssueRequest {
    user: UserId,
    keyed: Option<Keyed<QueueStatus>>,
    answer: oneshot::Sender<Result<QueueStatus>>,
}

/// Token requests gathered for the actor to issue as one batch: the first request into an empty
/// queue tells the actor to take them all, and those that come while it is busy go with the
/// next batch. A rush's issues thus cost the actor one message, one catch-up, one journal append
/// and one timer update a batch rather than each.
#[derive(Default)]
pub struct IssueQueue(parking_lot::Mutex<Vec<IssueRequest>>);

impl IssueQueue {
    /// Adds a request; true if it is the first since the actor last took them.
    fn push(&self, request: IssueRequest) -> bool {
        let mut queued = self.0.lock();
        queued.push(request);
        queued.len() == 1
    }

    /// Up to `ISSUES_PER_BATCH` of the requests, oldest first; true if more are left.
    fn take_batch(&self) -> (Vec<IssueRequest>, bool) {
        let mut queued = self.0.lock();
        let batch = match queued.len() > ISSUES_PER_BATCH {
            true => queued.drain(..ISSUES_PER_BATCH).collect(),
            false => std::mem::take(&mut *queued),
        };
        (batch, !queued.is_empty())
    }

    /// Answers every request still queued: the actor is gone.
    fn refuse_all(&self) {
        for request in std::mem::take(&mut *self.0.lock()) {
            let _ = request.answer.send(Err(Error::unavailable()));
        }
    }
}

/// The most requests one batch issues: its changes go to the log as one append, which must stay
/// well within what one message of the cluster's log may carry (a keyed issue journals its
/// answer, some 300 bytes).
const ISSUES_PER_BATCH: usize = 256;

/// Tells the actor that token requests are waiting.
#[derive(Message)]
#[rtype(result = "()")]
struct IssueWaiting;

impl Handler<IssueWaiting> for QueueActor {
    type Result = ();

    fn handle(&mut self, _: IssueWaiting, ctx: &mut Context<Self>) {
        let (requests, more) = self.issues.take_batch();
        if more {
            // Pushes add to a queue that is not empty and tell no one: the actor tells itself.
            ctx.notify(IssueWaiting);
        }
        if requests.is_empty() {
            return;
        }
        if !self.stream.has_room() {
            for request in requests {
                let _ = request.answer.send(Err(Error::unavailable()));
            }
            return;
        }
        let (answers, changes) = self.issue_all(requests);
        let commit = match changes.is_empty() {
            true => self.stream.settled(),
            false => self.stream.append(changes),
        };
        self.rearm(ctx);
        ctx.spawn(actix::fut::wrap_future(answer_issues(answers, commit)));
    }
}

/// Each request's answer, and what the journal is to hold.
type Issued = (
    Vec<(oneshot::Sender<Result<QueueStatus>>, Result<QueueStatus>)>,
    Vec<Change>,
);

impl QueueActor {
    /// Decides every request in turn at one moment; each keyed answer is journaled in one entry
    /// with its own issue's last event.
    fn issue_all(&mut self, requests: Vec<IssueRequest>) -> Issued {
        let now = self.catch_up();
        let mut answers = Vec::with_capacity(requests.len());
        let mut events = Vec::new();
        let mut changes = Vec::new();
        for IssueRequest { user, keyed, answer } in requests {
            let issued = self
                .room
                .issue(user, TokenSecret::random(), now)
                .and_then(|(token, happened)| {
                    // A peek: the token was issued this instant, so there is no idle deadline to move.
                    Ok((self.room.peek(&token, now)?, happened))
                });
            match issued {
                Ok((status, happened)) => {
                    let mut sealed: Vec<Change> = happened.iter().map(|event| self.change(event)).collect();
                    if let Some(last) = sealed.pop() {
                        sealed.push(super::keyed::seal(keyed, &status, last));
                    }
                    changes.extend(sealed);
                    events.extend(happened);
                    answers.push((answer, Ok(status)));
                }
                Err(refused) => answers.push((answer, Err(refused))),
            }
        }
        // Published before the append, as every command's events are: each is in one of the
        // next `events.len()` entries.
        self.publish(&events);
        (answers, changes)
    }
}

/// Answers every request of a batch once what it issued is durable; a refusal waits too, for
/// what it saw.
async fn answer_issues(answers: Vec<(oneshot::Sender<Result<QueueStatus>>, Result<QueueStatus>)>, commit: Commit) {
    let durable = commit.durable().await;
    for (answer, outcome) in answers {
        let _ = answer.send(durable.clone().and(outcome));
    }
}

/// Reads a token's status; reading keeps a WAITING token alive.
#[derive(Message)]
#[rtype(result = "Result<QueueStatus>")]
pub struct ReadStatus {
    pub token: Token,
}

impl Handler<ReadStatus> for QueueActor {
    type Result = ActorResponse<Self, Result<QueueStatus>>;

    fn handle(&mut self, message: ReadStatus, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, now| {
            let status = actor.room.status(&message.token, now)?;
            actor.index.refresh(&message.token, &actor.room);
            Ok((status, Vec::new()))
        })
    }
}

/// Reads a token's status without keeping it alive.
#[derive(Message)]
#[rtype(result = "Result<QueueStatus>")]
pub struct PeekStatus {
    pub token: Token,
}

impl Handler<PeekStatus> for QueueActor {
    type Result = ActorResponse<Self, Result<QueueStatus>>;

    fn handle(&mut self, message: PeekStatus, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, now| {
            Ok((actor.room.peek(&message.token, now)?, Vec::new()))
        })
    }
}

#[derive(Message)]
#[rtype(result = "Result<()>")]
pub struct LeaveQueue {
    pub token: Token,
}

impl Handler<LeaveQueue> for QueueActor {
    type Result = ActorResponse<Self, Result<()>>;

    fn handle(&mut self, message: LeaveQueue, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, now| Ok(((), actor.room.leave(&message.token, now)?)))
    }
}

#[derive(Message)]
#[rtype(result = "Result<()>")]
pub struct EndAfterPayment {
    pub token: Token,
    pub user: UserId,
}

impl Handler<EndAfterPayment> for QueueActor {
    type Result = ActorResponse<Self, Result<()>>;

    fn handle(&mut self, message: EndAfterPayment, ctx: &mut Context<Self>) -> Self::Result {
        self.run_applied(ctx, |actor, now| {
            Ok(((), actor.room.end_after_payment(&message.token, message.user, now)))
        })
    }
}

#[derive(Message)]
#[rtype(result = "Result<QueueStats>")]
pub struct SetActiveMax {
    pub active_max: u32,
}

impl Handler<SetActiveMax> for QueueActor {
    type Result = ActorResponse<Self, Result<QueueStats>>;

    fn handle(&mut self, message: SetActiveMax, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, now| {
            let events = actor.room.set_active_max(message.active_max, now);
            Ok((actor.room.stats(), events))
        })
    }
}

#[derive(Message)]
#[rtype(result = "Result<QueueStats>")]
pub struct ReadQueueStats;

impl Handler<ReadQueueStats> for QueueActor {
    type Result = ActorResponse<Self, Result<QueueStats>>;

    fn handle(&mut self, _: ReadQueueStats, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, _| Ok((actor.room.stats(), Vec::new())))
    }
}

/// A sale as its room keeps it, and its counters.
#[derive(Debug, Clone)]
pub struct SaleState {
    pub gate: SaleGate,
    pub stats: QueueStats,
    /// The room's next deadline (an expiry, an admission, the draw) as of the read: what the
    /// read shows may change then without any request.
    pub next_deadline: Option<DateTime<Utc>>,
}

#[derive(Message)]
#[rtype(result = "Result<SaleState>")]
pub struct ChangeSale {
    pub schedule: SaleSchedule,
}

impl Handler<ChangeSale> for QueueActor {
    type Result = ActorResponse<Self, Result<SaleState>>;

    fn handle(&mut self, message: ChangeSale, ctx: &mut Context<Self>) -> Self::Result {
        self.run(ctx, |actor, now| {
            let events = actor.room.change_sale(message.schedule, now)?;
            Ok((actor.sale_state(), events))
        })
    }
}

#[derive(Message)]
#[rtype(result = "Result<SaleState>")]
pub struct ReadSale;

impl Handler<ReadSale> for QueueActor {
    type Result = ActorResponse<Self, Result<SaleState>>;

    fn handle(&mut self, _: ReadSale, ctx: &mut Context<Self>) -> Self::Result {
        // Run like a command, so that a draw that is due is made (and durable) before the sale
        // reads as OPEN with its seed.
        self.run(ctx, |actor, _| Ok((actor.sale_state(), Vec::new())))
    }
}

impl QueueActor {
    fn sale_state(&self) -> SaleState {
        SaleState {
            gate: self
                .room
                .sale()
                .expect("only a sale's room is asked of its sale")
                .clone(),
            stats: self.room.stats(),
            next_deadline: self.room.next_deadline(),
        }
    }
}

/// The room as a snapshot keeps it.
#[derive(Message)]
#[rtype(result = "Part<RoomImage>")]
pub struct CaptureImage;

impl Handler<CaptureImage> for QueueActor {
    type Result = MessageResult<CaptureImage>;

    fn handle(&mut self, _: CaptureImage, _: &mut Context<Self>) -> Self::Result {
        MessageResult(Part {
            seq: self.stream.seq(),
            state: self.room.image(),
        })
    }
}

/// The typed handle HTTP code uses.
#[derive(Clone)]
pub struct QueueHandle {
    mailbox: Mailbox<QueueActor>,
    index: Arc<TokenIndex>,
    news: Arc<LineNews>,
    issues: Arc<IssueQueue>,
    clock: SharedClock,
    changes: Arc<AtomicU64>,
}

impl QueueHandle {
    /// Starts the actor on a recovered room, continuing its journal stream; it first ends the
    /// tokens of `unfinished_payments` (token, user) that are not ended yet.
    pub fn start(
        room: Part<WaitingRoom>,
        unfinished_payments: Vec<(Token, UserId)>,
        log: SharedLog,
        clock: SharedClock,
        arbiter: &ArbiterHandle,
        requests_max: usize,
    ) -> Self {
        let stream = PartitionWriter::new(log, Partition::Room, room.seq);
        Self::start_writing(room, None, unfinished_payments, stream, clock, arbiter, requests_max)
    }

    /// Starts the actor of a concert's sale on its recovered room.
    pub fn start_sale(
        concert: ConcertId,
        room: Part<WaitingRoom>,
        unfinished_payments: Vec<(Token, UserId)>,
        log: SharedLog,
        clock: SharedClock,
        arbiter: &ArbiterHandle,
        requests_max: usize,
    ) -> Self {
        let stream = PartitionWriter::new(log, Partition::Sale(concert), room.seq);
        Self::start_writing(
            room,
            Some(concert),
            unfinished_payments,
            stream,
            clock,
            arbiter,
            requests_max,
        )
    }

    fn start_writing(
        room: Part<WaitingRoom>,
        sale: Option<ConcertId>,
        unfinished_payments: Vec<(Token, UserId)>,
        stream: PartitionWriter,
        clock: SharedClock,
        arbiter: &ArbiterHandle,
        requests_max: usize,
    ) -> Self {
        let index = Arc::new(TokenIndex::of(&room.state, room.seq));
        let mut room = room;
        let news = Arc::new(LineNews::new(room.state.line_view(clock.now()), room.seq));
        let issues = Arc::new(IssueQueue::default());
        let changes = Arc::new(AtomicU64::new(0));
        let actor = QueueActor {
            changes: changes.clone(),
            news: news.clone(),
            issues: issues.clone(),
            view_stale: false,
            room: room.state,
            sale,
            clock: clock.clone(),
            index: index.clone(),
            stream: stream.keeping_durable_through(index.durable_through.clone()),
            alarm: Alarm::default(),
            unfinished_payments,
        };
        let address = QueueActor::start_in_arbiter(arbiter, |_| actor);
        Self {
            mailbox: Mailbox::new(address, requests_max),
            index,
            news,
            issues,
            clock,
            changes,
        }
    }

    /// How many events the room has published: a read of the room made while the count was
    /// `n` is current for as long as the count stays `n` (and no deadline passes).
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Follows a token's place in line without asking the actor: its view of the line, and a
    /// wake-up when the token is admitted or ends.
    pub fn follow(&self, token: &Token) -> Following {
        self.news.follow(token.seq())
    }

    /// Event streams following a token, over every token.
    pub fn follows(&self) -> usize {
        self.news.follows()
    }

    /// The live token's fan. A waiting token some stream follows is alive past its idle
    /// deadline: the actor renews it when it gets to that deadline, which the index shows only
    /// then.
    pub fn authenticate(&self, token: &Token) -> Result<Fan> {
        let now = self.clock.now();
        self.index.authenticate(token, now).or_else(|error| {
            let followed = self.news.is_followed(token.seq());
            self.index.waiting(token).filter(|_| followed).ok_or(error)
        })
    }

    pub fn paid_by(&self, token: &Token) -> Option<UserId> {
        self.index.paid_by(token)
    }

    /// Issues a token; with `keyed`, its answer is journaled with the issue, so a retry after a
    /// lost answer (or a crash) gets the same token rather than TOKEN_ALREADY_ISSUED.
    /// Issues go to the actor in batches (see [`IssueQueue`]); they count against the mailbox's
    /// bound like any request.
    pub async fn issue(&self, user: UserId, keyed: Option<Keyed<QueueStatus>>) -> Result<QueueStatus> {
        let _permit = self.mailbox.permits.try_acquire().map_err(|_| Error::unavailable())?;
        let (answer, answered) = oneshot::channel();
        if self.issues.push(IssueRequest { user, keyed, answer }) {
            self.mailbox.address.do_send(IssueWaiting);
        }
        if !self.mailbox.address.connected() {
            // Stopped (a node stepping down): no one will take the queue.
            self.issues.refuse_all();
        }
        answered.await.map_err(|_| Error::unavailable())?
    }

    /// The token's status; this read keeps a WAITING token alive.
    pub async fn status(&self, token: Token) -> Result<QueueStatus> {
        self.mailbox.ask(ReadStatus { token }).await?
    }

    /// The token's status as its fan reads it, which keeps a WAITING token alive. Told by the
    /// token index and the line's published view without a hop to the actor, so that a crowd
    /// refreshing its status costs the actor nothing; the actor is asked only when they cannot
    /// tell (see [`TokenIndex::read`]).
    pub async fn read_status(&self, token: Token) -> Result<QueueStatus> {
        let now = self.clock.now();
        // Only a waiting token's read needs the view, whose reference count every reader
        // shares; a view that shows what is not yet durable is not used (the actor answers once
        // it is, as for an admission).
        let durable_view = || {
            self.news
                .view_durable_by(self.index.durable_through.load(Ordering::Acquire))
        };
        match self.index.read(&token, now, durable_view) {
            Some(status) => Ok(status),
            None => self.status(token).await,
        }
    }

    /// The token's status, without keeping it alive.
    pub async fn peek(&self, token: Token) -> Result<QueueStatus> {
        self.mailbox.ask(PeekStatus { token }).await?
    }

    pub async fn leave(&self, token: Token) -> Result<()> {
        self.mailbox.ask(LeaveQueue { token }).await?
    }

    /// The payment made with `token` completed: the token ends.
    pub async fn end_after_payment(&self, token: Token, user: UserId) -> Result<()> {
        self.mailbox.insist(EndAfterPayment { token, user }).await?
    }

    pub async fn set_active_max(&self, active_max: u32) -> Result<QueueStats> {
        self.mailbox.ask(SetActiveMax { active_max }).await?
    }

    pub async fn stats(&self) -> Result<QueueStats> {
        self.mailbox.ask(ReadQueueStats).await?
    }

    /// The sale of a sale's room, with any draw that is due made first.
    pub async fn sale(&self) -> Result<SaleState> {
        self.mailbox.ask(ReadSale).await?
    }

    pub async fn change_sale(&self, schedule: SaleSchedule) -> Result<SaleState> {
        self.mailbox.ask(ChangeSale { schedule }).await?
    }

    pub async fn image(&self) -> Result<Part<RoomImage>> {
        self.mailbox.insist(CaptureImage).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::waiting_room::WaitingRoomLimits;
    use chrono::Duration;

    fn start() -> DateTime<Utc> {
        "2026-12-24T10:00:00Z".parse().unwrap()
    }

    fn room(active_max: u32) -> WaitingRoom {
        WaitingRoom::new(WaitingRoomLimits {
            active_max,
            active_ttl: Duration::minutes(10),
            waiting_idle_ttl: Duration::minutes(5),
            waiting_max: 1_000,
        })
    }

    /// What the actor does: the room decides, the index is told every event.
    fn issue(room: &mut WaitingRoom, index: &TokenIndex) -> Token {
        let (token, events) = room.issue(UserId::random(), TokenSecret::random(), start()).unwrap();
        events.iter().for_each(|event| index.publish(event, room, 0));
        token
    }

    #[test]
    fn the_index_follows_the_room_through_issue_admission_and_end() {
        let (mut room, index) = (room(1), TokenIndex::default());
        // More tokens than shards, so that every shard holds some and trims its own front.
        let tokens: Vec<Token> = (0..40).map(|_| issue(&mut room, &index)).collect();
        assert_eq!(
            index.authenticate(&tokens[0], start()).unwrap().status,
            TokenStatus::Active
        );
        assert_eq!(
            index.authenticate(&tokens[39], start()).unwrap().status,
            TokenStatus::Waiting
        );
        for event in room.leave(&tokens[0], start()).unwrap() {
            index.publish(&event, &room, 0);
        }
        assert_eq!(
            index.authenticate(&tokens[0], start()).unwrap_err().code,
            ErrorCode::TokenInvalid
        );
        assert_eq!(
            index.authenticate(&tokens[1], start()).unwrap().status,
            TokenStatus::Active
        );
        for token in &tokens[1..] {
            room.leave(token, start())
                .unwrap()
                .iter()
                .for_each(|event| index.publish(event, &room, 0));
        }
        let spans: usize = index.live.iter().map(|shard| shard.read().span()).sum();
        assert_eq!(spans, 0, "every shard let go of its dead tokens");
    }

    #[test]
    fn a_status_read_off_the_index_is_the_rooms_own_or_none() {
        let (mut room, index) = (room(1), TokenIndex::default());
        let index = TokenIndex {
            idle_ttl: room.idle_ttl(),
            ..index
        };
        // Each issue in a room entry of its own, the first (admitted at once) in entry 1.
        let tokens: Vec<Token> = (1..=4)
            .map(|entry| {
                let (token, events) = room.issue(UserId::random(), TokenSecret::random(), start()).unwrap();
                events.iter().for_each(|event| index.publish(event, &room, entry));
                token
            })
            .collect();
        let view = Arc::new(room.line_view(start()));
        assert_eq!(index.read(&tokens[1], start(), || None), None, "a view not yet durable");
        for token in &tokens[1..] {
            assert_eq!(
                index.read(token, start(), || Some(view.clone())),
                Some(room.peek(token, start()).unwrap())
            );
        }
        assert_eq!(
            index.read(&tokens[0], start(), || Some(view.clone())),
            None,
            "an admission not yet durable"
        );
        index.durable_through.store(1, Ordering::Release);
        let admitted = index.read(&tokens[0], start(), || Some(view.clone()));
        assert_eq!(admitted, Some(room.peek(&tokens[0], start()).unwrap()));
        // Gone from the line since the view: the room is asked.
        room.leave(&tokens[1], start())
            .unwrap()
            .iter()
            .for_each(|event| index.publish(event, &room, 0));
        assert_eq!(index.read(&tokens[1], start(), || Some(view.clone())), None);
        assert_eq!(
            index.read(&tokens[2], start(), || Some(Arc::new(room.line_view(start())))),
            Some(room.peek(&tokens[2], start()).unwrap())
        );
        // A read keeps the waiting token alive past its idle deadline, for the index and the room.
        let later = start() + Duration::minutes(4);
        assert!(index
            .read(&tokens[3], later, || Some(Arc::new(room.line_view(later))))
            .is_some());
        let idled = start() + Duration::minutes(5);
        assert!(index.authenticate(&tokens[3], idled).is_ok());
        assert!(index.authenticate(&tokens[2], idled).is_err());
        let renewed = room.keep_watched_alive(idled, |seq| index.read_until(seq));
        assert_eq!(renewed, [tokens[3]]);
        assert_eq!(room.deadline(&tokens[3]), Some(later + Duration::minutes(5)));
    }

    #[test]
    fn a_read_while_waiting_does_not_lengthen_the_active_slot_that_follows() {
        let mut room = WaitingRoom::new(WaitingRoomLimits {
            active_max: 1,
            active_ttl: Duration::minutes(1),
            waiting_idle_ttl: Duration::minutes(5),
            waiting_max: 1_000,
        });
        let index = TokenIndex {
            idle_ttl: room.idle_ttl(),
            ..TokenIndex::default()
        };
        let (active, waiting) = (issue(&mut room, &index), issue(&mut room, &index));
        let view = Arc::new(room.line_view(start()));
        assert!(
            index.read(&waiting, start(), || Some(view.clone())).is_some(),
            "read until 10:05"
        );
        let left = start() + Duration::seconds(30);
        for event in room.leave(&active, left).unwrap() {
            index.publish(&event, &room, 0);
        }
        let slot_over = left + Duration::minutes(1);
        assert!(index.authenticate(&waiting, slot_over - Duration::seconds(1)).is_ok());
        assert_eq!(
            index.authenticate(&waiting, slot_over).unwrap_err().code,
            ErrorCode::TokenInvalid,
            "admitted at 10:00:30 for a minute"
        );
    }

    #[test]
    fn a_forged_secret_or_a_passed_deadline_does_not_authenticate() {
        let (mut room, index) = (room(1), TokenIndex::default());
        let active = issue(&mut room, &index);
        let waiting = issue(&mut room, &index);
        let forged = Token::new(active.seq(), TokenSecret::random());
        assert_eq!(
            index.authenticate(&forged, start()).unwrap_err().code,
            ErrorCode::TokenInvalid
        );
        index.remove(&forged);
        index.update(&forged, |entry| entry.status = TokenStatus::Waiting);
        assert_eq!(
            index.authenticate(&active, start()).unwrap().status,
            TokenStatus::Active
        );
        let idled = start() + Duration::minutes(5);
        assert_eq!(
            index.authenticate(&waiting, idled).unwrap_err().code,
            ErrorCode::TokenInvalid
        );
        assert!(
            index.authenticate(&active, idled).is_ok(),
            "an active token lives its full slot"
        );
    }

    #[test]
    fn an_index_entry_costs_88_bytes() {
        // A million of these sit in place in the shards; a field that grows them shows here.
        assert_eq!(std::mem::size_of::<Option<IndexEntry>>(), 88);
    }

    #[test]
    fn the_index_of_a_sale_recovered_after_its_draw_holds_every_drawn_token() {
        use crate::domain::draw::DrawSeed;
        use crate::domain::sale::{SaleRecord, SaleSchedule};
        let record = SaleRecord {
            concert_id: ConcertId::random(),
            number: 1,
            schedule: SaleSchedule {
                prequeue_opens_at: start(),
                opens_at: start() + Duration::minutes(1),
                active_max: 2,
                admissions_per_minute: None,
                refund_policy: Default::default(),
            },
            seed: DrawSeed::from_bytes([3; 32]),
            at: start(),
        };
        let mut room = record.room(WaitingRoomLimits {
            active_max: 1,
            active_ttl: Duration::minutes(10),
            waiting_idle_ttl: Duration::minutes(5),
            waiting_max: 1_000,
        });
        // Several to a shard, so that the drawn order puts some in a shard out of number order.
        let tokens: Vec<Token> = (0..4 * INDEX_SHARDS)
            .map(|_| room.issue(UserId::random(), TokenSecret::random(), start()).unwrap().0)
            .collect();
        let opened = start() + Duration::minutes(1);
        room.expire_due(opened);
        let index = TokenIndex::of(&room, 0);
        for token in &tokens {
            let fan = index
                .authenticate(token, opened)
                .expect("a drawn token is in the index");
            assert_eq!(Some(fan.status), room.status_of_token(token));
        }
    }

    #[test]
    fn a_recovered_index_holds_every_live_token_of_the_room() {
        let (mut room, live) = (room(2), TokenIndex::default());
        let tokens: Vec<Token> = (0..20).map(|_| issue(&mut room, &live)).collect();
        let recovered = TokenIndex::of(&room, 0);
        for token in &tokens {
            assert_eq!(
                recovered.authenticate(token, start()),
                live.authenticate(token, start())
            );
        }
    }

    /// Lee is admitted when Kim leaves, in the same record: until it is durable, a crash or a
    /// failover could take the admission back, so authentication does not vouch for it.
    #[actix_rt::test]
    async fn an_admission_is_vouched_for_only_once_it_is_durable() {
        let clock = crate::clock::ManualClock::starting_at(start());
        let (log, gate, _dir) = crate::persistence::file_log::FileLog::held_up(1 << 20);
        gate.open();
        let room = Part { seq: 0, state: room(1) };
        let arbiter = actix::Arbiter::current();
        let queue = QueueHandle::start(room, Vec::new(), log, Arc::new(clock), &arbiter, 64);
        let kim = queue.issue(UserId::random(), None).await.unwrap().token;
        let lee = queue.issue(UserId::random(), None).await.unwrap().token;
        assert!(queue.authenticate(&kim).unwrap().admission_durable);
        assert_eq!(queue.authenticate(&lee).unwrap().status, TokenStatus::Waiting);
        gate.close();
        let leaving = actix_rt::spawn({
            let queue = queue.clone();
            async move { queue.leave(kim).await }
        });
        let admitted = loop {
            let lee = queue.authenticate(&lee).unwrap();
            if lee.status == TokenStatus::Active {
                break lee;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        };
        assert!(
            !admitted.admission_durable,
            "an admission waiting for the disk was vouched for"
        );
        gate.open();
        leaving.await.unwrap().unwrap();
        // The queue learns it durable at its next append or read, as the hold that found the
        // admission unvouched reads it.
        queue.peek(lee).await.unwrap();
        assert!(queue.authenticate(&lee).unwrap().admission_durable);
    }

    /// A rush's requests reach the actor together: each is answered only once what it was
    /// issued is durable, each with its own token in the order asked, and a user who already
    /// holds one is refused alone.
    #[actix_rt::test]
    async fn requests_issued_together_are_each_answered_once_durable() {
        let clock = crate::clock::ManualClock::starting_at(start());
        let (log, gate, _dir) = crate::persistence::file_log::FileLog::held_up(1 << 20);
        let room = Part { seq: 0, state: room(1) };
        let queue = QueueHandle::start(
            room,
            Vec::new(),
            log,
            Arc::new(clock),
            &actix::Arbiter::current(),
            1_000,
        );
        let mut users: Vec<UserId> = (0..300).map(|_| UserId::random()).collect();
        users.push(users[7]);
        let asked = futures_util::future::join_all(users.iter().map(|user| queue.issue(*user, None)));
        let mut asked = Box::pin(asked);
        let early = tokio::time::timeout(std::time::Duration::from_millis(200), &mut asked).await;
        assert!(early.is_err(), "answered before the disk had the tokens");
        gate.open();
        let answers = asked.await;
        let (refused, issued) = answers.split_last().unwrap();
        assert_eq!(refused.as_ref().unwrap_err().code, ErrorCode::TokenAlreadyIssued);
        let seqs: Vec<u64> = issued
            .iter()
            .map(|answer| answer.as_ref().unwrap().token.seq())
            .collect();
        assert_eq!(
            seqs,
            (0..300).collect::<Vec<u64>>(),
            "one token each, in the order asked"
        );
        for (answer, user) in issued.iter().zip(&users) {
            assert_eq!(answer.as_ref().unwrap().user_id, *user);
        }
    }

    /// A node stepping down stops its queue actor: a request for a token then is answered
    /// UNAVAILABLE rather than left waiting for ever, and so is every one after it.
    #[actix_rt::test]
    async fn a_request_to_a_stopped_queue_is_answered_unavailable() {
        let clock = crate::clock::ManualClock::starting_at(start());
        let (log, gate, _dir) = crate::persistence::file_log::FileLog::held_up(1 << 20);
        gate.open();
        let arbiter = actix::Arbiter::new();
        let room = Part { seq: 0, state: room(1) };
        let queue = QueueHandle::start(room, Vec::new(), log, Arc::new(clock), &arbiter.handle(), 64);
        queue.issue(UserId::random(), None).await.unwrap();
        arbiter.stop();
        arbiter.join().unwrap();
        for _ in 0..2 {
            let asked = queue.issue(UserId::random(), None);
            let answer = tokio::time::timeout(std::time::Duration::from_secs(5), asked).await;
            assert_eq!(answer.expect("answered").unwrap_err().code, ErrorCode::Unavailable);
        }
    }

    #[test]
    fn an_admission_past_what_the_index_counts_is_never_vouched_for() {
        let first = 1_000;
        assert_eq!(Counted::of(first + 5, first).entry(first), Some(first + 5));
        assert_eq!(
            Counted::of(first + 0xff_fffe, first).entry(first),
            Some(first + 0xff_fffe)
        );
        for past in [first + 0xff_ffff, first + (1 << 40), first - 1] {
            assert_eq!(Counted::of(past, first).entry(first), None, "{past}");
        }
    }
}
