//! A concert date as the engine reaches it: its actor in this process, or, in a cluster, its
//! owner on another node (or this one) over NATS. For a date served apart, the engine keeps what
//! spans dates itself: each fan's holds against `hold_max`, and which date holds a reservation.

use crate::actors::concert_date::{ConcertDateHandle, DateContext, PublishedSeatMap};
use crate::actors::keyed::Keyed;
use crate::cluster::date_rpc::{CountedHold, RemoteDate};
use crate::domain::concert::DateKey;
use crate::domain::seat_map::EntryView;
use crate::domain::seat_map::{RecordedPayment, Reservation, SeatCounts, SeatMap};
use crate::domain::waitlist::EntryCode;
use crate::domain::{PaymentId, ReservationId, UserId};
use crate::error::{Error, ErrorCode, Result};
use crate::persistence::log::SharedLog;
use crate::persistence::Part;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Where the engine reaches the dates served apart from it.
#[derive(Clone)]
pub struct Spread {
    pub client: async_nats::Client,
    /// How long a call to a date's owner waits for its answer.
    pub within: Duration,
    /// Whether the engine's term is over.
    pub over: TermOver,
}

/// Where an engine's dates are served, as a node tells it.
pub struct SpreadOver {
    pub client: async_nats::Client,
    /// How long a call to a date's owner waits for its answer.
    pub within: Duration,
}

/// Whether an engine's term is over: it stepped down, or its log takes no more appends. What
/// it left under way is then the next engine's to end, from the streams.
#[derive(Clone)]
pub struct TermOver {
    stopping: tokio::sync::watch::Receiver<bool>,
    log: SharedLog,
}

impl TermOver {
    pub fn new(stopping: tokio::sync::watch::Receiver<bool>, log: SharedLog) -> Self {
        Self { stopping, log }
    }

    pub fn now(&self) -> bool {
        *self.stopping.borrow() || self.log.failure().is_some()
    }
}

/// How long a list of dates waits for a date's owner to tell its counts before it shows the
/// counts last told.
const SHOWN_COUNTS_WITHIN: Duration = Duration::from_millis(300);

/// How long a new concert's dates may take to be served before its creation is told
/// UNAVAILABLE (it is created all the same, and served once a node reads it).
const SERVED_WITHIN: Duration = Duration::from_secs(20);

impl Spread {
    /// Tells the nodes that the catalog has new dates, so that they look at once instead of at
    /// their next look; a message lost only delays that.
    pub async fn dates_added(&self) {
        let told = self
            .client
            .publish(crate::cluster::node::DATES_ADDED, bytes::Bytes::new())
            .await;
        if let Err(error) = told {
            tracing::debug!(%error, "the nodes will find the new dates at their next look");
        }
    }

    /// Waits until every one of `dates` answers from its owner.
    pub async fn until_served(&self, dates: &[DateHandle]) -> Result<()> {
        let started = std::time::Instant::now();
        for date in dates {
            while let Err(error) = date.counts().await {
                if error.code != ErrorCode::Unavailable || started.elapsed() >= SERVED_WITHIN {
                    return Err(error);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }
}

/// Asks again, a little later each time, while the date's owner cannot be reached: for a step
/// that must happen once decided (the end of a payment the wallet recorded, or gave up). Gives
/// up once the engine's term is `over`: the next engine ends the payment from the streams.
pub async fn insist<F, Fut>(over: &TermOver, mut call: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut pause = Duration::from_millis(100);
    loop {
        match call().await {
            Ok(()) => return,
            Err(error) if error.code == ErrorCode::Unavailable && over.now() => {
                tracing::info!(%error, "the term is over; the next engine ends this payment");
                return;
            }
            Err(error) if error.code == ErrorCode::Unavailable => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(error) => {
                tracing::error!(%error, "a payment's end was refused by its date");
                return;
            }
        }
    }
}

/// A keyed hold: where its answer goes, and the reservation id the same for every retry of it.
pub struct KeyedHold {
    pub answer: Keyed<Reservation>,
    pub named: ReservationId,
}

/// One date, wherever its actor runs.
#[derive(Clone)]
pub enum DateHandle {
    Local(ConcertDateHandle),
    Remote(Arc<RemoteDateOf>),
}

/// A date served by its owner over NATS, and the engine's account of the holds it took there.
pub struct RemoteDateOf {
    remote: RemoteDate,
    key: DateKey,
    context: DateContext,
    /// Each live hold's holder and the time it counts until, for the ledger; holds past their
    /// time and not being paid are let go every `PRUNE_EVERY` holds.
    holders: DashMap<ReservationId, Holder>,
    holds_taken: std::sync::atomic::AtomicUsize,
    /// True once the payments a crash of the former engine cut short on the date are ended:
    /// until then the date takes no call, as a date's actor in one process finishes them
    /// before anything else.
    ready: tokio::sync::watch::Receiver<bool>,
    /// The counts its owner last told, shown in a list of dates while the owner cannot answer.
    last_counts: parking_lot::Mutex<Option<SeatCounts>>,
}

impl DateHandle {
    /// A date served apart, whose holds as recovered in `map` the engine counts from now on.
    /// The payments a crash cut short on it are ended first: those the wallet `recorded` sell
    /// their seats, the others under way give their holds back. No saga of this engine began
    /// them, and the former engine can no longer commit one (the wallet is claimed), so each
    /// is decided for good; each end is asked again until the date's owner answers.
    pub fn remote(
        remote: RemoteDate,
        map: &SeatMap,
        context: DateContext,
        recorded: Vec<RecordedPayment>,
        over: TermOver,
    ) -> Self {
        let key = (map.concert(), map.date());
        let holders = DashMap::new();
        for reservation in map.reservation_ids() {
            context.reservations.insert(reservation, key);
        }
        for code in map.waitlist_codes() {
            context.waitlists.insert(code, key);
        }
        for (reservation, user, until) in map.live_holds() {
            context.ledger.restore(user, reservation, until);
            holders.insert(reservation, Holder::of(user, until));
        }
        let sold: HashSet<ReservationId> = recorded.iter().map(|payment| payment.reservation).collect();
        let given_back: Vec<ReservationId> = (map.payments_under_way())
            .filter(|reservation| !sold.contains(reservation))
            .collect();
        let unfinished = !recorded.is_empty() || !given_back.is_empty();
        let (finished, ready) = tokio::sync::watch::channel(!unfinished);
        let date = Arc::new(RemoteDateOf {
            remote,
            key,
            context,
            holders,
            holds_taken: Default::default(),
            ready,
            last_counts: Default::default(),
        });
        if unfinished {
            let finishing = date.clone();
            actix_web::rt::spawn(async move {
                for payment in recorded {
                    insist(&over, || {
                        finishing.end_payment(payment.reservation, Some(payment.payment))
                    })
                    .await;
                }
                for reservation in given_back {
                    insist(&over, || finishing.end_payment(reservation, None)).await;
                }
                let _ = finished.send(true);
            });
        }
        Self::Remote(date)
    }

    /// The version of the seat map published here, while true; a date served apart has none.
    pub fn published_version(&self) -> Option<u64> {
        match self {
            Self::Local(date) => date.published_version(),
            Self::Remote(_) => None,
        }
    }

    pub async fn seat_map(&self) -> Result<PublishedSeatMap> {
        match self {
            Self::Local(date) => date.seat_map().await,
            Self::Remote(date) => {
                date.ready().await?;
                let published = date.remote.seat_map().await?;
                date.told(published.counts);
                Ok(published)
            }
        }
    }

    pub async fn counts(&self) -> Result<SeatCounts> {
        match self {
            Self::Local(date) => date.counts().await,
            Self::Remote(date) => {
                date.ready().await?;
                let counts = date.remote.counts().await?;
                date.told(counts);
                Ok(counts)
            }
        }
    }

    /// The counts to show in a list of dates. A date served apart whose owner cannot answer
    /// now (a failover, or a node too busy to answer in time) shows the counts it last told:
    /// a list of dates is a guide for the fan, not a promise, and a seat is only ever taken
    /// from its date's owner. A date never told yet is UNAVAILABLE.
    /// Once told, the owner is given only a moment: a crowd listing dates during a failover
    /// must not each wait out a call, nor each keep asking NATS for a date nobody serves.
    pub async fn counts_to_show(&self) -> Result<SeatCounts> {
        let Self::Remote(date) = self else {
            return self.counts().await;
        };
        let Some(last) = *date.last_counts.lock() else {
            return self.counts().await;
        };
        if !*date.ready.borrow() {
            return Ok(last);
        }
        match date.remote.counts_within(SHOWN_COUNTS_WITHIN).await {
            Ok(counts) => {
                date.told(counts);
                Ok(counts)
            }
            Err(error) if error.code == ErrorCode::Unavailable => Ok(last),
            Err(refused) => Err(refused),
        }
    }

    /// Holds the seat. With `keyed`, the answer is journaled with the hold when the date is
    /// served here; a date served apart holds under the keyed request's own reservation id, so
    /// that a retry whose answer the engine never kept (it died first) is told the hold made,
    /// and the engine keeps the answer once it is told.
    pub async fn hold(
        &self,
        user: UserId,
        seat_number: i64,
        token_ends: DateTime<Utc>,
        keyed: Option<KeyedHold>,
    ) -> Result<Reservation> {
        match self {
            Self::Local(date) => {
                let keyed = keyed.map(|keyed| keyed.answer);
                date.hold(user, seat_number, token_ends, keyed).await
            }
            Self::Remote(date) => {
                date.ready().await?;
                let named = keyed.map(|keyed| keyed.named);
                date.hold(user, seat_number, token_ends, named).await
            }
        }
    }

    pub async fn cancel(&self, reservation: ReservationId, user: UserId) -> Result<()> {
        match self {
            Self::Local(date) => date.cancel(reservation, user).await,
            Self::Remote(date) => {
                date.ready().await?;
                date.remote.cancel(reservation, user).await?;
                date.forget(reservation);
                Ok(())
            }
        }
    }

    pub async fn reservation(&self, reservation: ReservationId, user: UserId) -> Result<Reservation> {
        match self {
            Self::Local(date) => date.reservation(reservation, user).await,
            Self::Remote(date) => {
                date.ready().await?;
                date.remote.reservation(reservation, user).await
            }
        }
    }

    pub async fn begin_payment(&self, reservation: ReservationId, user: UserId) -> Result<Reservation> {
        match self {
            Self::Local(date) => date.begin_payment(reservation, user).await,
            Self::Remote(date) => {
                date.ready().await?;
                let paying = date.remote.begin_payment(reservation, user).await?;
                date.paying(reservation, user);
                Ok(paying)
            }
        }
    }

    pub async fn complete_payment(&self, reservation: ReservationId, payment: PaymentId) -> Result<()> {
        match self {
            Self::Local(date) => date.complete_payment(reservation, payment).await,
            Self::Remote(date) => date.end_payment(reservation, Some(payment)).await,
        }
    }

    pub async fn abort_payment(&self, reservation: ReservationId) -> Result<()> {
        match self {
            Self::Local(date) => date.abort_payment(reservation).await,
            Self::Remote(date) => date.end_payment(reservation, None).await,
        }
    }

    /// Puts the fan on the sold-out date's waiting list: the entry's code and place.
    pub async fn join_waitlist(&self, user: UserId) -> Result<(EntryCode, u64)> {
        let (code, position) = match self {
            Self::Local(date) => date.join_waitlist(user).await?,
            Self::Remote(date) => {
                date.ready().await?;
                let joined = date.remote.join_waitlist(user).await?;
                date.context.waitlists.insert(joined.0, date.key);
                joined
            }
        };
        Ok((code, position))
    }

    /// The entry of `code`. An offer a date served apart made is learned here: its owner made
    /// it alone (on a lapse or a cancellation), and a fan knows its reservation only from the
    /// entry, so the engine finds its date when the fan names it afterwards.
    pub async fn waitlist_entry(&self, code: EntryCode) -> Result<Option<EntryView>> {
        match self {
            Self::Local(date) => date.waitlist_entry(code).await,
            Self::Remote(date) => {
                date.ready().await?;
                let entry = date.remote.waitlist_entry(code).await?;
                if let Some(offer) = entry.as_ref().and_then(|entry| entry.offer.as_ref()) {
                    date.context.reservations.insert(offer.reservation_id, date.key);
                }
                Ok(entry)
            }
        }
    }

    /// Frees the seat of a ticket the wallet refunded.
    pub async fn cancel_ticket(&self, reservation: ReservationId, refund: i64) -> Result<()> {
        match self {
            Self::Local(date) => date.cancel_ticket(reservation, refund).await,
            Self::Remote(date) => {
                date.ready().await?;
                date.remote.cancel_ticket(reservation, refund).await
            }
        }
    }

    /// The date's map for a snapshot, when its actor runs here.
    pub async fn image(&self) -> Result<Option<Part<SeatMap>>> {
        match self {
            Self::Local(date) => date.image().await.map(Some),
            Self::Remote(_) => Ok(None),
        }
    }
}

impl RemoteDateOf {
    fn told(&self, counts: SeatCounts) {
        *self.last_counts.lock() = Some(counts);
    }

    /// Waits, as long as a call would, for the payments cut short on the date to be ended.
    async fn ready(&self) -> Result<()> {
        let mut ready = self.ready.clone();
        let ended = tokio::time::timeout(self.remote.within(), ready.wait_for(|ready| *ready)).await;
        match ended {
            Ok(Ok(_)) => Ok(()),
            _ => Err(Error::new(
                ErrorCode::Unavailable,
                "The date's payments cut short by a failover are still being ended.",
            )
            .with_retry_after(1)),
        }
    }

    /// Ends a payment under way: sold with `payment`, or given back without.
    async fn end_payment(&self, reservation: ReservationId, payment: Option<PaymentId>) -> Result<()> {
        match payment {
            Some(payment) => {
                self.remote.complete_payment(reservation, payment).await?;
                self.forget(reservation);
            }
            None => {
                self.remote.abort_payment(reservation).await?;
                if let Some(mut holder) = self.holders.get_mut(&reservation) {
                    holder.paying = false;
                    self.context.ledger.extend(holder.user, reservation, holder.until);
                }
            }
        }
        Ok(())
    }

    /// Counts the hold against the fan's `hold_max` here, then asks the owner: the owner decides
    /// the seat, and refuses with HOLD_LIMIT_REACHED only where a single process would.
    async fn hold(
        &self,
        user: UserId,
        seat_number: i64,
        token_ends: DateTime<Utc>,
        named: Option<ReservationId>,
    ) -> Result<Reservation> {
        let context = &self.context;
        let now = context.clock.now();
        if token_ends <= now {
            return Err(Error::new(ErrorCode::TokenInvalid, "The token has expired."));
        }
        let reservation = named.unwrap_or_else(ReservationId::random);
        let until = now + context.hold_ttl.min(token_ends - now);
        let within_limit = (context.ledger).try_take(user, reservation, until, now, context.hold_max);
        let counted = Some(CountedHold {
            reservation,
            within_limit,
        });
        match self
            .hold_again_if_unanswered(user, seat_number, token_ends, counted)
            .await
        {
            Ok(held) => {
                context.reservations.insert(held.reservation_id, self.key);
                context.ledger.extend(user, reservation, held.held_until);
                self.holders.insert(reservation, Holder::of(user, held.held_until));
                self.let_go_of_lapsed_holds(now);
                Ok(held)
            }
            // The hold may have been made with its answer lost: it counts until its time.
            Err(unknown) if unknown.code == ErrorCode::Unavailable => Err(unknown),
            Err(refused) => {
                if within_limit {
                    context.ledger.release(user, reservation);
                }
                Err(refused)
            }
        }
    }

    /// Asks for the hold again under the same reservation while no answer comes (the owner's
    /// connection to NATS moving to another server, or the date moving to another owner), for
    /// as long as two calls would wait: the owner tells a hold it made again rather than make
    /// it twice, so a lost answer leaves no hold nobody knows of.
    async fn hold_again_if_unanswered(
        &self,
        user: UserId,
        seat_number: i64,
        token_ends: DateTime<Utc>,
        counted: Option<CountedHold>,
    ) -> Result<Reservation> {
        let started = std::time::Instant::now();
        loop {
            let held = self.remote.hold_as(user, seat_number, token_ends, counted).await;
            match held {
                Err(unknown)
                    if unknown.code == ErrorCode::Unavailable && started.elapsed() < self.remote.within() * 2 =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                held => return held,
            }
        }
    }

    /// The hold ended (cancelled or sold): it no longer counts.
    fn forget(&self, reservation: ReservationId) {
        if let Some((_, holder)) = self.holders.remove(&reservation) {
            self.context.ledger.release(holder.user, reservation);
        }
    }

    /// Being paid, the hold cannot lapse: it counts until its payment ends.
    fn paying(&self, reservation: ReservationId, user: UserId) {
        if let Some(mut holder) = self.holders.get_mut(&reservation) {
            holder.paying = true;
        }
        self.context.ledger.extend(user, reservation, DateTime::<Utc>::MAX_UTC);
    }

    /// Every `PRUNE_EVERY` holds, lets go of the holds that lapsed meanwhile: the ledger no
    /// longer counts them, and the owner freed their seats.
    fn let_go_of_lapsed_holds(&self, now: DateTime<Utc>) {
        let taken = self.holds_taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if taken.is_multiple_of(PRUNE_EVERY) {
            let_go_of_lapsed(&self.holders, now);
        }
    }
}

/// Keeps the holds still live at `now`, and those being paid whatever their time.
fn let_go_of_lapsed(holders: &DashMap<ReservationId, Holder>, now: DateTime<Utc>) {
    holders.retain(|_, holder| holder.paying || holder.until > now);
}

/// How many holds a date served apart takes between two lets-go of the lapsed ones.
const PRUNE_EVERY: usize = 256;

/// A hold as the engine counts it.
struct Holder {
    user: UserId,
    until: DateTime<Utc>,
    /// Its payment is under way: it counts until the payment ends, whatever `until` says.
    paying: bool,
}

impl Holder {
    fn of(user: UserId, until: DateTime<Utc>) -> Self {
        Self {
            user,
            until,
            paying: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lapsed_holds_are_let_go_but_not_those_being_paid() {
        let now: DateTime<Utc> = "2026-12-24T10:00:00Z".parse().unwrap();
        let holders = DashMap::new();
        let (lapsed, live, paid_past_its_time) = (
            ReservationId::random(),
            ReservationId::random(),
            ReservationId::random(),
        );
        holders.insert(lapsed, Holder::of(UserId::random(), now - chrono::Duration::seconds(1)));
        holders.insert(live, Holder::of(UserId::random(), now + chrono::Duration::minutes(1)));
        let mut paying = Holder::of(UserId::random(), now - chrono::Duration::minutes(1));
        paying.paying = true;
        holders.insert(paid_past_its_time, paying);
        let_go_of_lapsed(&holders, now);
        let kept: HashSet<ReservationId> = holders.iter().map(|entry| *entry.key()).collect();
        assert_eq!(kept, HashSet::from([live, paid_past_its_time]));
    }
}
