//! The waiting room: tokens issued in order, admitted to ACTIVE strictly in issue order while fewer
//! than `active_max` are active, with their deadlines, positions and estimated waits.

use super::ids::TokenSecret;
use super::line_view::{LineView, GAPS_IN_A_VIEW_MAX};
use super::sale::{entry_of, DrawnPlaces, SaleGate, SalePhase, SaleSchedule};
use super::seq_slab::SeqSlab;
use super::waiting_line::WaitingLine;
use super::{Token, UserId};
use crate::error::{Error, ErrorCode, Result};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// How far back admissions count towards the observed admission rate.
const ADMISSION_RATE_WINDOW_SECONDS: i64 = 60;

#[derive(Debug, Clone)]
pub struct WaitingRoomLimits {
    pub active_max: u32,
    pub active_ttl: Duration,
    pub waiting_idle_ttl: Duration,
    pub waiting_max: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenStatus {
    Waiting,
    Active,
    /// In a sale's pre-queue: no place in line until the draw at the opening.
    Prequeued,
}

/// Why a token died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEnd {
    Left,
    ActiveExpired,
    IdledOut,
    Paid,
}

/// What happened in the waiting room; `apply` replays these exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueEvent {
    TokenIssued {
        seq: u64,
        token: Token,
        user: UserId,
        at: DateTime<Utc>,
    },
    TokenAdmitted {
        seq: u64,
        token: Token,
        at: DateTime<Utc>,
        active_until: DateTime<Utc>,
    },
    TokenEnded {
        seq: u64,
        token: Token,
        at: DateTime<Utc>,
        reason: TokenEnd,
    },
    /// The operator chose how many tokens may be ACTIVE at once; the choice outlives restarts.
    ActiveMaxChanged { active_max: u32, at: DateTime<Utc> },
    /// A payment was made with `token`: the room remembers whose it was for
    /// [`PAID_TOKEN_MEMORY`], so a retried payment with that token is still answered.
    TokenPaid {
        token: Token,
        user: UserId,
        at: DateTime<Utc>,
    },
    /// A paid token's memory ran out.
    PaidTokenForgotten { token: Token, at: DateTime<Utc> },
    /// The operator changed a sale's schedule or limits.
    SaleChanged { schedule: SaleSchedule, at: DateTime<Utc> },
    /// The sale's opening came: every pre-queued token took its place in line in the order
    /// drawn from the sale's seed. Replay draws the same order from the same tokens.
    PrequeueDrawn { at: DateTime<Utc> },
}

/// How long a token a payment was made with still names its user, so that a client retrying the
/// payment (its token now ended) gets the first answer rather than TOKEN_INVALID. As long as an
/// idempotency key is kept.
pub const PAID_TOKEN_MEMORY: Duration = Duration::hours(24);

/// A token as a fan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStatus {
    pub token: Token,
    pub user_id: UserId,
    pub status: TokenStatus,
    /// 1-based among WAITING tokens; 0 when ACTIVE.
    pub position: u64,
    pub estimated_wait_seconds: u64,
    pub issued_at: DateTime<Utc>,
    pub active_until: Option<DateTime<Utc>>,
}

/// Counters for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStats {
    pub prequeued: u64,
    pub waiting: u64,
    pub active: u64,
    pub active_max: u32,
    pub admitted_total: u64,
    pub expired_total: u64,
}

/// A live token, 80 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRecord {
    pub token: Token,
    pub user: UserId,
    pub issued_at: DateTime<Utc>,
    pub status: TokenStatus,
    /// When the token dies unless something happens first: while WAITING, its idle deadline
    /// (moved by every read); once ACTIVE, the end of its slot.
    pub deadline: DateTime<Utc>,
}

impl TokenRecord {
    fn active_until(&self) -> Option<DateTime<Utc>> {
        (self.status == TokenStatus::Active).then_some(self.deadline)
    }
}

/// The waiting room in a snapshot: the live tokens and the counters. The indexes are rebuilt
/// from them on restore, so taking an image costs one pass over the tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomImage {
    /// In sequence order.
    pub records: Vec<TokenRecord>,
    pub next_seq: u64,
    pub admitted_total: u64,
    pub expired_total: u64,
    /// Admissions from the line per second: (unix second, count), oldest first.
    pub admissions_per_second: VecDeque<(i64, u64)>,
    /// The operator's choice of `active_max`, if one was made: it stands over the configured one.
    pub active_max_chosen: Option<u32>,
    /// Tokens payments were made with: token, user, when paid.
    pub paid: Vec<(Token, UserId, DateTime<Utc>)>,
    /// The sale the room belongs to, if it is a sale's.
    pub sale: Option<SaleGate>,
}

#[derive(Debug, Clone)]
pub struct WaitingRoom {
    limits: WaitingRoomLimits,
    /// Live tokens by place in line, which is a token's own sequence number but for the tokens
    /// a sale's draw placed (see [`DrawnPlaces`]); a token carries its number, so no map by
    /// token is needed.
    records: SeqSlab<TokenRecord>,
    seq_by_user: HashMap<UserId, u64>,
    line: WaitingLine,
    active_deadlines: BTreeSet<(DateTime<Utc>, u64)>,
    idle_deadlines: BTreeSet<(DateTime<Utc>, u64)>,
    next_seq: u64,
    active: u64,
    admitted_total: u64,
    expired_total: u64,
    /// Admissions from the line per second, for the estimated wait: (unix second, count).
    admissions_per_second: VecDeque<(i64, u64)>,
    /// The operator's choice of `active_max`, if one was made: it stands over the configured one.
    active_max_chosen: Option<u32>,
    /// Tokens payments were made with, and whose: token → (user, when paid).
    paid: HashMap<Token, (UserId, DateTime<Utc>)>,
    /// When each paid token is forgotten, earliest first.
    paid_deadlines: BTreeSet<(DateTime<Utc>, Token)>,
    /// Tokens that ended while waiting, for the line's view; those the front has passed are
    /// dropped when the next view is taken.
    gaps: BTreeSet<u64>,
    /// A sale's room: its schedule, its draw and its rate.
    sale: Option<SaleGate>,
    /// Tokens in the sale's pre-queue.
    prequeued: u64,
}

impl WaitingRoom {
    pub fn new(limits: WaitingRoomLimits) -> Self {
        assert!(limits.active_max >= 1, "active_max must allow at least one token");
        Self {
            limits,
            records: SeqSlab::default(),
            seq_by_user: HashMap::new(),
            line: WaitingLine::new(),
            active_deadlines: BTreeSet::new(),
            idle_deadlines: BTreeSet::new(),
            next_seq: 0,
            active: 0,
            admitted_total: 0,
            expired_total: 0,
            admissions_per_second: VecDeque::new(),
            active_max_chosen: None,
            paid: HashMap::new(),
            paid_deadlines: BTreeSet::new(),
            gaps: BTreeSet::new(),
            sale: None,
            prequeued: 0,
        }
    }

    /// The room of a sale: its tokens are numbered from `first_seq` (the sale's band), its
    /// `active_max` is the schedule's.
    pub fn for_sale(mut limits: WaitingRoomLimits, first_seq: u64, gate: SaleGate) -> Self {
        limits.active_max = gate.schedule.active_max;
        let mut room = Self::new(limits);
        room.next_seq = first_seq;
        room.sale = Some(gate);
        room
    }

    /// The sale the room belongs to, if any.
    pub fn sale(&self) -> Option<&SaleGate> {
        self.sale.as_ref()
    }

    /// The operator changes the sale's schedule: the times only before the pre-queue opens, the
    /// limits at any time (admitting waiters if they grew).
    pub fn change_sale(&mut self, schedule: SaleSchedule, now: DateTime<Utc>) -> Result<Vec<QueueEvent>> {
        self.assert_nothing_due(now);
        schedule.validate()?;
        let gate = self.sale.as_ref().expect("only a sale's room changes its sale");
        if gate.phase(now) != SalePhase::Scheduled && !gate.schedule.keeps_times_of(&schedule) {
            return Err(Error::new(
                ErrorCode::SaleAlreadyOpen,
                "The pre-queue has opened: the sale's times can no longer change (its limits can).",
            ));
        }
        let changed = QueueEvent::SaleChanged { schedule, at: now };
        self.apply(&changed);
        let mut events = vec![changed];
        events.extend(self.admit_waiting(now));
        Ok(events)
    }

    /// Whether a token issued now goes to the pre-queue: a sale's, not yet drawn.
    fn in_prequeue(&self) -> bool {
        self.sale.as_ref().is_some_and(|gate| gate.drawn.is_none())
    }

    /// Where the token numbered `seq` is kept.
    fn place_of(&self, seq: u64) -> u64 {
        self.sale.as_ref().map_or(seq, |gate| gate.place_of(seq))
    }

    /// Issues a token to `user` under the next sequence number, made unguessable by `secret`:
    /// WAITING, or ACTIVE at once when a slot is free and nobody waits.
    pub fn issue(&mut self, user: UserId, secret: TokenSecret, now: DateTime<Utc>) -> Result<(Token, Vec<QueueEvent>)> {
        self.assert_nothing_due(now);
        let mut events = Vec::new();
        if let Some(gate) = self
            .sale
            .as_ref()
            .filter(|gate| gate.phase(now) == SalePhase::Scheduled)
        {
            return Err(gate.not_open());
        }
        if self.seq_by_user.contains_key(&user) {
            return Err(Error::new(
                ErrorCode::TokenAlreadyIssued,
                "This user already holds a live queue token.",
            ));
        }
        let will_wait = self.in_prequeue() || !self.line.is_empty() || self.active >= u64::from(self.limits.active_max);
        if will_wait && self.line.len() as u64 + self.prequeued >= self.limits.waiting_max {
            return Err(
                Error::new(ErrorCode::QueueFull, "The waiting room is full; try again later.")
                    .with_korean("대기실이 가득 찼습니다. 잠시 후 다시 시도해 주세요.")
                    .with_retry_after(self.seconds_per_admission().ceil() as u64),
            );
        }
        let token = Token::new(self.next_seq, secret);
        let issued = QueueEvent::TokenIssued {
            seq: self.next_seq,
            token,
            user,
            at: now,
        };
        self.apply(&issued);
        events.push(issued);
        events.extend(self.admit_waiting(now));
        Ok((token, events))
    }

    /// The fan's view of a token. Reading a WAITING token keeps it alive for another idle TTL.
    pub fn status(&mut self, token: &Token, now: DateTime<Utc>) -> Result<QueueStatus> {
        self.assert_nothing_due(now);
        let seq = self.live_seq(token)?;
        self.keep_alive(seq, now);
        Ok(self.status_of(seq, now))
    }

    /// The fan's view of a token without counting as a read: for other routes that need to
    /// know, which must not keep a WAITING token alive.
    pub fn peek(&self, token: &Token, now: DateTime<Utc>) -> Result<QueueStatus> {
        self.assert_nothing_due(now);
        Ok(self.status_of(self.live_seq(token)?, now))
    }

    /// The token leaves the queue (or gives up its ACTIVE slot) and dies at once.
    pub fn leave(&mut self, token: &Token, now: DateTime<Utc>) -> Result<Vec<QueueEvent>> {
        self.assert_nothing_due(now);
        let seq = self.live_seq(token)?;
        Ok(self.end(seq, now, TokenEnd::Left))
    }

    /// A completed payment ends the token that paid, if it is still alive, and the room
    /// remembers whose it was (first, so that the token never reads as nobody's in between).
    pub fn end_after_payment(&mut self, token: &Token, user: UserId, now: DateTime<Utc>) -> Vec<QueueEvent> {
        self.assert_nothing_due(now);
        let mut events = Vec::new();
        if !self.paid.contains_key(token) {
            let paid = QueueEvent::TokenPaid {
                token: *token,
                user,
                at: now,
            };
            self.apply(&paid);
            events.push(paid);
        }
        if let Ok(seq) = self.live_seq(token) {
            events.extend(self.end(seq, now, TokenEnd::Paid));
        }
        events
    }

    /// Ends the tokens of payments a crash cut short, `(token, user)`, as the payments would
    /// have: the deadlines up to `now` first, like any command.
    pub fn finish_payments(&mut self, paid_with: &[(Token, UserId)], now: DateTime<Utc>) -> Vec<QueueEvent> {
        let mut events = self.expire_due(now);
        for (token, user) in paid_with {
            events.extend(self.end_after_payment(token, *user, now));
        }
        events
    }

    /// The user whose payment was made with `token`, while the room remembers it.
    pub fn paid_by(&self, token: &Token) -> Option<UserId> {
        self.paid.get(token).map(|(user, _)| *user)
    }

    /// Every paid token the room remembers: token, user, when paid.
    pub fn paid_tokens(&self) -> impl Iterator<Item = (Token, UserId, DateTime<Utc>)> + '_ {
        self.paid.iter().map(|(token, (user, at))| (*token, *user, *at))
    }

    /// Changes how many tokens may be ACTIVE at once, admitting waiters if it grew.
    pub fn set_active_max(&mut self, active_max: u32, now: DateTime<Utc>) -> Vec<QueueEvent> {
        assert!(active_max >= 1, "active_max must allow at least one token");
        self.assert_nothing_due(now);
        let changed = QueueEvent::ActiveMaxChanged { active_max, at: now };
        self.apply(&changed);
        let mut events = vec![changed];
        events.extend(self.admit_waiting(now));
        events
    }

    /// Commands decide against a room whose deadlines up to `now` have been processed: the
    /// caller runs `expire_due(now)` first and keeps its events.
    fn assert_nothing_due(&self, now: DateTime<Utc>) {
        debug_assert!(
            self.next_deadline().is_none_or(|at| at > now),
            "expire_due(now) must run before a command"
        );
    }

    /// Ends every token whose deadline has come, earliest first, admitting into each freed slot
    /// at the moment it freed.
    pub fn expire_due(&mut self, now: DateTime<Utc>) -> Vec<QueueEvent> {
        let mut events = self.forget_paid_due(now);
        if self
            .sale
            .as_ref()
            .and_then(SaleGate::draw_due)
            .is_some_and(|due| due <= now)
        {
            let drawn = QueueEvent::PrequeueDrawn { at: now };
            self.apply(&drawn);
            events.push(drawn);
        }
        while let Some((deadline, seq, reason)) = self.earliest_deadline().filter(|(at, _, _)| *at <= now) {
            if reason == TokenEnd::IdledOut && !self.idle_entry_is_due(deadline, seq) {
                continue;
            }
            events.extend(self.end(seq, deadline, reason));
        }
        events.extend(self.admit_waiting(now));
        events
    }

    /// Forgets every paid token whose memory ran out by `now`.
    fn forget_paid_due(&mut self, now: DateTime<Utc>) -> Vec<QueueEvent> {
        let mut events = Vec::new();
        while let Some(&(at, token)) = self.paid_deadlines.first().filter(|(at, _)| *at <= now) {
            let forgotten = QueueEvent::PaidTokenForgotten { token, at };
            self.apply(&forgotten);
            events.push(forgotten);
        }
        events
    }

    /// Idle deadlines move lazily: a read only moves the record's, and its entry in the ordered
    /// set is put right when it comes first. True if the entry is a real deadline now due; an
    /// entry of a token that moved on or was read since is dropped or filed again.
    fn idle_entry_is_due(&mut self, deadline: DateTime<Utc>, seq: u64) -> bool {
        let current = self
            .records
            .get(seq)
            .filter(|record| record.status == TokenStatus::Waiting)
            .map(|record| record.deadline);
        match current {
            Some(idle_deadline) if idle_deadline == deadline => true,
            moved => {
                self.idle_deadlines.remove(&(deadline, seq));
                if let Some(idle_deadline) = moved {
                    self.idle_deadlines.insert((idle_deadline, seq));
                }
                false
            }
        }
    }

    fn earliest_deadline(&self) -> Option<(DateTime<Utc>, u64, TokenEnd)> {
        let active = self
            .active_deadlines
            .first()
            .map(|&(at, seq)| (at, seq, TokenEnd::ActiveExpired));
        let idle = self
            .idle_deadlines
            .first()
            .map(|&(at, seq)| (at, seq, TokenEnd::IdledOut));
        active.into_iter().chain(idle).min_by_key(|(at, seq, _)| (*at, *seq))
    }

    /// The earliest moment something expires by itself.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        let token = self.earliest_deadline().map(|(at, _, _)| at);
        let paid = self.paid_deadlines.first().map(|(at, _)| *at);
        let sale = self.sale.as_ref().and_then(|gate| {
            let may_admit = !self.line.is_empty() && self.active < u64::from(self.limits.active_max);
            let paced = may_admit.then(|| gate.next_admission_at()).flatten();
            gate.draw_due().into_iter().chain(paced).min()
        });
        token.into_iter().chain(paid).chain(sale).min()
    }

    /// When a live token dies unless something happens first: its idle deadline while WAITING
    /// (moved by every read), the end of its slot once ACTIVE.
    pub fn deadline(&self, token: &Token) -> Option<DateTime<Utc>> {
        Some(self.live_record(token)?.deadline)
    }

    pub fn stats(&self) -> QueueStats {
        QueueStats {
            prequeued: self.prequeued,
            waiting: self.line.len() as u64,
            active: self.active,
            active_max: self.limits.active_max,
            admitted_total: self.admitted_total,
            expired_total: self.expired_total,
        }
    }

    /// The room as a snapshot keeps it.
    pub fn image(&self) -> RoomImage {
        RoomImage {
            records: self.records.values().copied().collect(),
            next_seq: self.next_seq,
            admitted_total: self.admitted_total,
            expired_total: self.expired_total,
            admissions_per_second: self.admissions_per_second.clone(),
            active_max_chosen: self.active_max_chosen,
            paid: self.paid_tokens().collect(),
            sale: self.sale.clone(),
        }
    }

    /// The room a snapshot kept, under the limits configured now, except an `active_max` the
    /// operator chose.
    pub fn restore(mut limits: WaitingRoomLimits, image: RoomImage) -> Self {
        limits.active_max = image.active_max_chosen.unwrap_or(limits.active_max);
        if let Some(gate) = &image.sale {
            limits.active_max = gate.schedule.active_max;
        }
        let mut room = Self::new(limits);
        room.active_max_chosen = image.active_max_chosen;
        room.sale = image.sale;
        let mut records: Vec<(u64, TokenRecord)> = (image.records.into_iter())
            .map(|record| (room.place_of(record.token.seq()), record))
            .collect();
        records.sort_unstable_by_key(|(place, _)| *place);
        for (place, record) in records {
            room.restore_record(place, record);
        }
        assert!(
            room.next_seq <= image.next_seq,
            "sequence numbers in an image are below its next"
        );
        room.next_seq = image.next_seq;
        room.gaps = room.ended_in_line();
        room.admitted_total = image.admitted_total;
        room.expired_total = image.expired_total;
        room.admissions_per_second = image.admissions_per_second;
        for (token, user, at) in image.paid {
            room.apply(&QueueEvent::TokenPaid { token, user, at });
        }
        room
    }

    fn restore_record(&mut self, seq: u64, record: TokenRecord) {
        assert!(
            self.seq_by_user.insert(record.user, seq).is_none(),
            "one live token per user"
        );
        match record.status {
            TokenStatus::Waiting => {
                self.line.push_back(seq);
                self.idle_deadlines.insert((record.deadline, seq));
            }
            TokenStatus::Active => {
                self.active_deadlines.insert((record.deadline, seq));
                self.active += 1;
            }
            TokenStatus::Prequeued => self.prequeued += 1,
        }
        self.records.insert(seq, record);
        self.next_seq = seq + 1;
    }

    /// The numbers from the front of the line up that wait no more: an image keeps only the
    /// live tokens, so those that ended while waiting are missing from it.
    fn ended_in_line(&mut self) -> BTreeSet<u64> {
        let Some(front) = self.line.front() else {
            return BTreeSet::new();
        };
        (front..self.next_seq)
            .filter(|seq| self.line.position(*seq).is_none())
            .collect()
    }

    /// How many tokens left from inside the line, at most (some may be behind the front now).
    pub fn gaps_in_line(&self) -> usize {
        self.gaps.len()
    }

    /// The line as a stream sees it: its front, the tokens that left from inside it, and the
    /// observed pace of admissions.
    pub fn line_view(&mut self, now: DateTime<Utc>) -> LineView {
        let seconds_per_admission = self.observed_seconds_per_admission(now);
        let Some(front) = self.line.front() else {
            self.gaps.clear();
            return LineView {
                drawn: self.drawn_places(),
                ..LineView::empty(self.next_seq, seconds_per_admission)
            };
        };
        self.gaps = self.gaps.split_off(&front);
        if self.gaps.len() > GAPS_IN_A_VIEW_MAX {
            return LineView {
                complete: false,
                ..LineView::empty(front, seconds_per_admission)
            };
        }
        LineView {
            front,
            gaps: self.gaps.iter().copied().collect::<Vec<_>>().into(),
            seconds_per_admission,
            complete: true,
            drawn: self.drawn_places(),
        }
    }

    /// The places a sale's draw gave, for views to find drawn tokens by.
    fn drawn_places(&self) -> Option<DrawnPlaces> {
        self.sale.as_ref()?.drawn.clone()
    }

    /// Gives each WAITING token whose idle deadline has come, and that `alive_until` says was
    /// read or is followed live until a later moment, that moment as its deadline: an open
    /// event stream, or a status read off the token index, keeps its token alive without
    /// asking the room; `alive_until` is asked by the token's own number. The renewed tokens.
    pub fn keep_watched_alive(
        &mut self,
        now: DateTime<Utc>,
        alive_until: impl Fn(u64) -> Option<DateTime<Utc>>,
    ) -> Vec<Token> {
        let due: Vec<(u64, DateTime<Utc>)> = self
            .idle_deadlines
            .iter()
            .take_while(|(deadline, _)| *deadline <= now)
            .filter_map(|(_, place)| {
                let seq = self.records.get(*place)?.token.seq();
                Some((*place, alive_until(seq).filter(|until| *until > now)?))
            })
            .collect();
        let mut renewed = Vec::with_capacity(due.len());
        for (seq, until) in due {
            let waiting = self
                .records
                .get_mut(seq)
                .filter(|record| record.status == TokenStatus::Waiting);
            if let Some(record) = waiting {
                record.deadline = record.deadline.max(until);
                renewed.push(record.token);
            }
        }
        renewed
    }

    /// How long a WAITING token lives after its last read.
    pub fn idle_ttl(&self) -> Duration {
        self.limits.waiting_idle_ttl
    }

    /// Every live token: its user, status and the moment it dies unless something happens.
    pub fn live_tokens(&self) -> impl Iterator<Item = (Token, UserId, TokenStatus, DateTime<Utc>, DateTime<Utc>)> + '_ {
        (self.records.values()).map(|record| {
            (
                record.token,
                record.user,
                record.status,
                record.deadline,
                record.issued_at,
            )
        })
    }

    /// The status of a live token.
    pub fn status_of_token(&self, token: &Token) -> Option<TokenStatus> {
        Some(self.live_record(token)?.status)
    }

    /// The user of a live token.
    pub fn user_of(&self, token: &Token) -> Option<UserId> {
        Some(self.live_record(token)?.user)
    }

    /// Gives every WAITING token a full idle TTL from `now` if it had less. Reads that keep a
    /// token alive are not journaled, so after a restart nobody can tell which fans were still
    /// reading; none of them loses a place for that.
    pub fn renew_idle_deadlines(&mut self, now: DateTime<Utc>) {
        let renewed = now + self.limits.waiting_idle_ttl;
        let stale: Vec<(DateTime<Utc>, u64)> = self
            .idle_deadlines
            .iter()
            .take_while(|(deadline, _)| *deadline < renewed)
            .copied()
            .collect();
        for (deadline, seq) in stale {
            self.idle_deadlines.remove(&(deadline, seq));
            // An entry may belong to a token that moved on (deadlines move lazily).
            let waiting = self
                .records
                .get_mut(seq)
                .filter(|record| record.status == TokenStatus::Waiting);
            if let Some(record) = waiting {
                record.deadline = record.deadline.max(renewed);
                self.idle_deadlines.insert((record.deadline, seq));
            }
        }
    }

    /// Changes state by one event; never fails, never reads the clock.
    pub fn apply(&mut self, event: &QueueEvent) {
        match *event {
            QueueEvent::TokenIssued { seq, token, user, at } => self.apply_issued(seq, token, user, at),
            QueueEvent::TokenAdmitted {
                seq, at, active_until, ..
            } => self.apply_admitted(seq, at, active_until),
            QueueEvent::TokenEnded { seq, reason, .. } => self.apply_ended(seq, reason),
            QueueEvent::ActiveMaxChanged { active_max, .. } => {
                self.limits.active_max = active_max;
                self.active_max_chosen = Some(active_max);
            }
            QueueEvent::TokenPaid { token, user, at } => {
                assert!(self.paid.insert(token, (user, at)).is_none(), "a token pays once");
                self.paid_deadlines.insert((at + PAID_TOKEN_MEMORY, token));
            }
            QueueEvent::PaidTokenForgotten { token, .. } => {
                let (_, at) = self.paid.remove(&token).expect("a forgotten paid token was remembered");
                self.paid_deadlines.remove(&(at + PAID_TOKEN_MEMORY, token));
            }
            QueueEvent::SaleChanged { ref schedule, .. } => {
                let gate = self.sale.as_mut().expect("only a sale's room changes its sale");
                gate.schedule = schedule.clone();
                self.limits.active_max = schedule.active_max;
            }
            QueueEvent::PrequeueDrawn { at } => self.apply_drawn(at),
        }
    }

    /// Puts every pre-queued token in line, in the order drawn from the sale's seed over the
    /// tokens in issue order, each at the next place; they wait from `at`.
    fn apply_drawn(&mut self, at: DateTime<Utc>) {
        let gate = self.sale.as_ref().expect("only a sale draws");
        assert!(gate.drawn.is_none(), "a sale draws once");
        let seed = gate.seed;
        let prequeued: Vec<u64> = (self.records.values())
            .filter(|record| record.status == TokenStatus::Prequeued)
            .map(|record| record.token.seq())
            .collect();
        let entries = (prequeued.iter())
            .map(|seq| entry_of(&self.record(*seq).token.secret()))
            .collect();
        let first_seq = prequeued.first().copied().unwrap_or(self.next_seq);
        let mut places = vec![0; (self.next_seq - first_seq) as usize];
        let idle_deadline = at + self.limits.waiting_idle_ttl;
        for seq in seed.order(prequeued) {
            let place = self.next_seq;
            self.next_seq += 1;
            places[(seq - first_seq) as usize] = place;
            let mut record = self.records.remove(seq).expect("a pre-queued token has a record");
            record.status = TokenStatus::Waiting;
            record.deadline = idle_deadline;
            self.seq_by_user.insert(record.user, place);
            self.records.insert(place, record);
            self.line.push_back(place);
            self.idle_deadlines.insert((idle_deadline, place));
        }
        self.prequeued = 0;
        let gate = self.sale.as_mut().expect("only a sale draws");
        gate.drawn = Some(DrawnPlaces::new(first_seq, places, entries));
    }

    fn apply_issued(&mut self, seq: u64, token: Token, user: UserId, at: DateTime<Utc>) {
        assert!(seq >= self.next_seq, "token sequence numbers must grow");
        assert_eq!(token.seq(), seq, "a token carries its sequence number");
        assert!(self.seq_by_user.insert(user, seq).is_none(), "one live token per user");
        self.next_seq = seq + 1;
        if let Some(gate) = self.sale.as_ref().filter(|gate| gate.drawn.is_none()) {
            // Its idle time starts only at the opening, when the draw gives it a place: a fan
            // who joined early loses nothing by waiting for it.
            let deadline = gate.schedule.opens_at + self.limits.waiting_idle_ttl;
            self.records.insert(
                seq,
                TokenRecord {
                    token,
                    user,
                    issued_at: at,
                    status: TokenStatus::Prequeued,
                    deadline,
                },
            );
            self.prequeued += 1;
            return;
        }
        let idle_deadline = at + self.limits.waiting_idle_ttl;
        let record = TokenRecord {
            token,
            user,
            issued_at: at,
            status: TokenStatus::Waiting,
            deadline: idle_deadline,
        };
        self.records.insert(seq, record);
        self.line.push_back(seq);
        self.idle_deadlines.insert((idle_deadline, seq));
    }

    fn apply_admitted(&mut self, seq: u64, at: DateTime<Utc>, active_until: DateTime<Utc>) {
        let record = self.records.get_mut(seq).expect("an admitted token exists");
        assert_eq!(record.status, TokenStatus::Waiting, "only a waiting token is admitted");
        let waited = at > record.issued_at;
        self.idle_deadlines.remove(&(record.deadline, seq));
        record.status = TokenStatus::Active;
        record.deadline = active_until;
        assert_eq!(self.line.pop_front(), Some(seq), "admission follows issue order");
        self.active_deadlines.insert((active_until, seq));
        self.active += 1;
        self.admitted_total += 1;
        if let Some(gate) = self.sale.as_mut() {
            gate.last_admission = Some(at);
        }
        if waited {
            self.count_admission(at);
        }
    }

    fn apply_ended(&mut self, seq: u64, reason: TokenEnd) {
        let record = self.records.remove(seq).expect("an ended token exists");
        self.seq_by_user.remove(&record.user);
        match record.status {
            TokenStatus::Waiting => {
                self.line.remove(seq);
                self.idle_deadlines.remove(&(record.deadline, seq));
                self.gaps.insert(seq);
            }
            TokenStatus::Active => {
                self.active_deadlines.remove(&(record.deadline, seq));
                self.active -= 1;
            }
            TokenStatus::Prequeued => self.prequeued -= 1,
        }
        if matches!(reason, TokenEnd::ActiveExpired | TokenEnd::IdledOut) {
            self.expired_total += 1;
        }
    }

    fn admit_waiting(&mut self, now: DateTime<Utc>) -> Vec<QueueEvent> {
        let mut events = Vec::new();
        while self.active < u64::from(self.limits.active_max) {
            // A sale's rate lets one in per interval: the next waits for its own moment.
            if self.sale.as_ref().is_some_and(|gate| !gate.may_admit(now)) {
                break;
            }
            let Some(seq) = self.line.front() else { break };
            let admitted = QueueEvent::TokenAdmitted {
                seq,
                token: self.record(seq).token,
                at: now,
                active_until: now + self.limits.active_ttl,
            };
            self.apply(&admitted);
            events.push(admitted);
        }
        events
    }

    fn end(&mut self, seq: u64, at: DateTime<Utc>, reason: TokenEnd) -> Vec<QueueEvent> {
        let token = self.record(seq).token;
        let ended = QueueEvent::TokenEnded { seq, token, at, reason };
        self.apply(&ended);
        let mut events = vec![ended];
        events.extend(self.admit_waiting(at));
        events
    }

    fn live_seq(&self, token: &Token) -> Result<u64> {
        let place = self.place_of(token.seq());
        (self.records.get(place))
            .filter(|record| record.token.is(token))
            .map(|_| place)
            .ok_or_else(|| Error::new(ErrorCode::TokenInvalid, "The token is unknown, expired or ended."))
    }

    /// The record of a live token: the one under its number, if the secret matches too.
    fn live_record(&self, token: &Token) -> Option<&TokenRecord> {
        (self.records.get(self.place_of(token.seq()))).filter(|record| record.token.is(token))
    }

    fn record(&self, seq: u64) -> &TokenRecord {
        self.records.get(seq).expect("a live token has a record")
    }

    /// Moves a waiting token's idle deadline; its entry in the ordered set, now early, is put
    /// right only when it comes first (see `idle_entry_is_due`), so a read costs no set update.
    fn keep_alive(&mut self, seq: u64, now: DateTime<Utc>) {
        let record = self.records.get_mut(seq).expect("a live token has a record");
        if record.status == TokenStatus::Waiting {
            record.deadline = now + self.limits.waiting_idle_ttl;
        }
    }

    fn status_of(&self, seq: u64, now: DateTime<Utc>) -> QueueStatus {
        let record = self.record(seq);
        let position = match record.status {
            TokenStatus::Active | TokenStatus::Prequeued => 0,
            TokenStatus::Waiting => self.line.position(seq).expect("a waiting token is in the line"),
        };
        QueueStatus {
            token: record.token,
            user_id: record.user,
            status: record.status,
            position,
            estimated_wait_seconds: self.estimated_wait_seconds(position, now),
            issued_at: record.issued_at,
            active_until: record.active_until(),
        }
    }

    /// Position times the seconds between admissions observed over the last minute.
    fn estimated_wait_seconds(&self, position: u64, now: DateTime<Utc>) -> u64 {
        if position == 0 {
            return 0;
        }
        (position as f64 * self.observed_seconds_per_admission(now)).ceil() as u64
    }

    /// The seconds between admissions from the line over the last minute; before any is seen,
    /// one admission every `active_ttl / active_max`.
    fn observed_seconds_per_admission(&self, now: DateTime<Utc>) -> f64 {
        let window_start = now.timestamp() - ADMISSION_RATE_WINDOW_SECONDS;
        let mut recent = self
            .admissions_per_second
            .iter()
            .filter(|(second, _)| *second > window_start)
            .peekable();
        let first = recent.peek().map(|(second, _)| *second);
        let admitted: u64 = recent.map(|(_, count)| count).sum();
        match first {
            Some(first_second) if admitted > 0 => {
                let observed_seconds = (now.timestamp() - first_second + 1).max(1);
                observed_seconds as f64 / admitted as f64
            }
            _ => self.seconds_per_admission(),
        }
    }

    fn seconds_per_admission(&self) -> f64 {
        self.limits.active_ttl.num_milliseconds() as f64 / 1000.0 / f64::from(self.limits.active_max)
    }

    fn count_admission(&mut self, at: DateTime<Utc>) {
        let second = at.timestamp();
        match self.admissions_per_second.back_mut() {
            Some((last, count)) if *last == second => *count += 1,
            _ => self.admissions_per_second.push_back((second, 1)),
        }
        while self
            .admissions_per_second
            .front()
            .is_some_and(|(s, _)| *s <= second - ADMISSION_RATE_WINDOW_SECONDS)
        {
            self.admissions_per_second.pop_front();
        }
    }
}

#[cfg(test)]
mod sale_tests;
#[cfg(test)]
mod tests;
