//! A concert date's actor reached over NATS request/reply: the node that owns the date serves
//! its actor on the date's subject, and any other node asks it through a [`RemoteDate`] with the
//! same calls as the local handle. Every call is answered by the one actor that owns the date,
//! so a seat is still decided by one writer; a call nobody answers in time is UNAVAILABLE with a
//! Retry-After, never a guess.
//!
//! The wire is JSON: error codes go by their names, so nodes of different builds understand each
//! other during a rolling upgrade.

use crate::actors::concert_date::{ConcertDateHandle, PublishedSeatMap};
use crate::domain::seat_map::EntryView;
use crate::domain::seat_map::{Reservation, SeatCounts, SeatView};
use crate::domain::waitlist::EntryCode;
use crate::domain::{PaymentId, ReservationId, UserId};
use crate::error::{Error, ErrorCode, Result};
use crate::persistence::log::SharedLog;
use async_nats::RequestErrorKind;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How long a call waits before it is sent again to a date nobody serves for the moment, at
/// first and at most.
const NO_OWNER_PAUSE: Duration = Duration::from_millis(50);
const NO_OWNER_PAUSE_MAX: Duration = Duration::from_secs(1);

/// The subject a date's owner serves it on: the partition's name, under its own prefix.
pub fn subject_of(partition: &str) -> String {
    format!("concert.date.{partition}")
}

/// What one node asks of a date's actor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "call")]
pub enum DateCall {
    #[serde(rename_all = "camelCase")]
    Hold {
        user: UserId,
        seat_number: i64,
        token_ends: DateTime<Utc>,
        /// Where the caller counts the fan's holds across dates: the reservation's id, and
        /// whether the fan is within `hold_max`.
        #[serde(default)]
        counted: Option<CountedHold>,
    },
    Cancel {
        reservation: ReservationId,
        user: UserId,
    },
    Reservation {
        reservation: ReservationId,
        user: UserId,
    },
    BeginPayment {
        reservation: ReservationId,
        user: UserId,
    },
    CompletePayment {
        reservation: ReservationId,
        payment: PaymentId,
    },
    AbortPayment {
        reservation: ReservationId,
    },
    CancelTicket {
        reservation: ReservationId,
        refund: i64,
    },
    JoinWaitlist {
        user: UserId,
    },
    WaitlistEntry {
        code: EntryCode,
    },
    SeatMap,
    Counts,
}

/// A hold whose fan's holds across dates the caller counts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountedHold {
    pub reservation: ReservationId,
    pub within_limit: bool,
}

/// The actor's answer, or its refusal with the code a single process would give.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "answer")]
pub enum DateAnswer {
    Reservation {
        reservation: Reservation,
    },
    Done,
    Waitlisted {
        code: EntryCode,
        position: u64,
    },
    Entry {
        entry: Option<EntryView>,
    },
    SeatMap {
        version: u64,
        counts: SeatCounts,
        seats: Vec<SeatView>,
    },
    Counts {
        counts: SeatCounts,
    },
    #[serde(rename_all = "camelCase")]
    Refused {
        code: ErrorCode,
        detail: String,
        retry_after_seconds: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail_ko: Option<String>,
    },
}

impl From<Error> for DateAnswer {
    fn from(error: Error) -> Self {
        Self::Refused {
            code: error.code,
            detail: error.detail,
            retry_after_seconds: error.retry_after_seconds,
            detail_ko: error.detail_ko,
        }
    }
}

/// Serves `date`, appending to `log`, on `subject` until the returned task is aborted (the node
/// lost the date) or the connection closes. Each call runs on its own, so a slow one holds up no
/// other; the actor orders them.
///
/// A call is answered only while `log` serves, checked again once the answer is made: a former
/// owner (paused past its lease, or fenced by another's claim) stays silent rather than tell
/// what may no longer be true, and the caller hears the present owner, who is subscribed too.
pub async fn serve(
    client: async_nats::Client,
    subject: String,
    date: ConcertDateHandle,
    log: SharedLog,
) -> Result<actix_web::rt::task::JoinHandle<()>> {
    let mut calls = client.subscribe(subject).await.map_err(unavailable)?;
    Ok(actix_web::rt::spawn(async move {
        while let Some(message) = calls.next().await {
            let Some(reply) = message.reply.clone() else {
                continue;
            };
            if !log.serves() {
                continue;
            }
            let (client, date, log) = (client.clone(), date.clone(), log.clone());
            actix_web::rt::spawn(async move {
                let answer = match serde_json::from_slice::<DateCall>(&message.payload) {
                    Ok(call) => answer_durably(&date, call, &log).await,
                    Err(error) => Error::invalid_request(format!("a date call: {error}")).into(),
                };
                if !log.serves() {
                    return;
                }
                let body = serde_json::to_vec(&answer).expect("an answer encodes");
                if let Err(error) = client.publish(reply, body.into()).await {
                    tracing::debug!(%error, "a date call's answer could not be sent");
                }
            });
        }
    }))
}

/// The answer, told only once what it tells is durable. A payment's steps on the date are
/// answered by the actor once applied: in one process the journal keeps them in order with the
/// wallet's record, which vouches for them after a crash. Asked from another node, whose wallet
/// journals apart, they wait for the disk: a payment's beginning must be stored before the
/// wallet can commit it, and its end before the saga forgets it, or a new owner of the date
/// could find it otherwise than its saga believes.
async fn answer_durably(date: &ConcertDateHandle, call: DateCall, log: &SharedLog) -> DateAnswer {
    let a_payments_step = matches!(
        call,
        DateCall::BeginPayment { .. }
            | DateCall::CompletePayment { .. }
            | DateCall::AbortPayment { .. }
            | DateCall::CancelTicket { .. }
    );
    let answer = answer(date, call).await;
    if a_payments_step && !matches!(answer, DateAnswer::Refused { .. }) {
        if let Err(error) = log.barrier().await {
            return error.into();
        }
    }
    answer
}

async fn answer(date: &ConcertDateHandle, call: DateCall) -> DateAnswer {
    let answered = match call {
        DateCall::Hold {
            user,
            seat_number,
            token_ends,
            counted,
        } => {
            let held = match counted {
                Some(CountedHold {
                    reservation,
                    within_limit,
                }) => {
                    date.hold_counted(user, seat_number, token_ends, reservation, within_limit)
                        .await
                }
                None => date.hold(user, seat_number, token_ends, None).await,
            };
            held.map(|reservation| DateAnswer::Reservation { reservation })
        }
        DateCall::Cancel { reservation, user } => date.cancel(reservation, user).await.map(|()| DateAnswer::Done),
        DateCall::Reservation { reservation, user } => {
            (date.reservation(reservation, user).await).map(|reservation| DateAnswer::Reservation { reservation })
        }
        DateCall::BeginPayment { reservation, user } => {
            (date.begin_payment(reservation, user).await).map(|reservation| DateAnswer::Reservation { reservation })
        }
        DateCall::CompletePayment { reservation, payment } => {
            (date.complete_payment(reservation, payment).await).map(|()| DateAnswer::Done)
        }
        DateCall::AbortPayment { reservation } => date.abort_payment(reservation).await.map(|()| DateAnswer::Done),
        DateCall::CancelTicket { reservation, refund } => {
            (date.cancel_ticket(reservation, refund).await).map(|()| DateAnswer::Done)
        }
        DateCall::JoinWaitlist { user } => {
            (date.join_waitlist(user).await).map(|(code, position)| DateAnswer::Waitlisted { code, position })
        }
        DateCall::WaitlistEntry { code } => (date.waitlist_entry(code).await).map(|entry| DateAnswer::Entry { entry }),
        DateCall::SeatMap => date.seat_map().await.map(|published| DateAnswer::SeatMap {
            version: published.version,
            counts: published.counts,
            seats: published.seats.to_vec(),
        }),
        DateCall::Counts => date.counts().await.map(|counts| DateAnswer::Counts { counts }),
    };
    answered.unwrap_or_else(DateAnswer::from)
}

/// A date owned by another node (or this one), asked over NATS.
#[derive(Clone)]
pub struct RemoteDate {
    client: async_nats::Client,
    subject: String,
    /// How long a call waits for its answer before it is UNAVAILABLE.
    within: Duration,
}

impl RemoteDate {
    pub fn new(client: async_nats::Client, partition: &str, within: Duration) -> Self {
        Self {
            client,
            subject: subject_of(partition),
            within,
        }
    }

    /// How long a call waits for its answer.
    pub fn within(&self) -> Duration {
        self.within
    }

    /// Holds the seat, the fan's holds across dates counted by the owner.
    pub async fn hold(&self, user: UserId, seat_number: i64, token_ends: DateTime<Utc>) -> Result<Reservation> {
        self.hold_as(user, seat_number, token_ends, None).await
    }

    /// Holds the seat, the fan's holds across dates counted by the caller when `counted`.
    pub async fn hold_as(
        &self,
        user: UserId,
        seat_number: i64,
        token_ends: DateTime<Utc>,
        counted: Option<CountedHold>,
    ) -> Result<Reservation> {
        let call = DateCall::Hold {
            user,
            seat_number,
            token_ends,
            counted,
        };
        reservation_of(self.ask(&call).await?)
    }

    pub async fn cancel(&self, reservation: ReservationId, user: UserId) -> Result<()> {
        done(self.ask(&DateCall::Cancel { reservation, user }).await?)
    }

    pub async fn reservation(&self, reservation: ReservationId, user: UserId) -> Result<Reservation> {
        reservation_of(self.ask(&DateCall::Reservation { reservation, user }).await?)
    }

    pub async fn begin_payment(&self, reservation: ReservationId, user: UserId) -> Result<Reservation> {
        reservation_of(self.ask(&DateCall::BeginPayment { reservation, user }).await?)
    }

    pub async fn complete_payment(&self, reservation: ReservationId, payment: PaymentId) -> Result<()> {
        done(self.ask(&DateCall::CompletePayment { reservation, payment }).await?)
    }

    pub async fn abort_payment(&self, reservation: ReservationId) -> Result<()> {
        done(self.ask(&DateCall::AbortPayment { reservation }).await?)
    }

    pub async fn cancel_ticket(&self, reservation: ReservationId, refund: i64) -> Result<()> {
        done(self.ask(&DateCall::CancelTicket { reservation, refund }).await?)
    }

    pub async fn join_waitlist(&self, user: UserId) -> Result<(EntryCode, u64)> {
        match self.ask(&DateCall::JoinWaitlist { user }).await? {
            DateAnswer::Waitlisted { code, position } => Ok((code, position)),
            other => Err(unexpected(other)),
        }
    }

    pub async fn waitlist_entry(&self, code: EntryCode) -> Result<Option<EntryView>> {
        match self.ask(&DateCall::WaitlistEntry { code }).await? {
            DateAnswer::Entry { entry } => Ok(entry),
            other => Err(unexpected(other)),
        }
    }

    pub async fn seat_map(&self) -> Result<PublishedSeatMap> {
        match self.ask(&DateCall::SeatMap).await? {
            DateAnswer::SeatMap { version, counts, seats } => Ok(PublishedSeatMap {
                version,
                counts,
                seats: Arc::from(seats),
            }),
            other => Err(unexpected(other)),
        }
    }

    pub async fn counts(&self) -> Result<SeatCounts> {
        self.counts_within(self.within).await
    }

    /// The date's counts, if its owner tells them `within` that time.
    pub async fn counts_within(&self, within: Duration) -> Result<SeatCounts> {
        match self.ask_within(&DateCall::Counts, within).await? {
            DateAnswer::Counts { counts } => Ok(counts),
            other => Err(unexpected(other)),
        }
    }

    /// The owner's answer; its refusal as the error it was.
    async fn ask(&self, call: &DateCall) -> Result<DateAnswer> {
        self.ask_within(call, self.within).await
    }

    async fn ask_within(&self, call: &DateCall, within: Duration) -> Result<DateAnswer> {
        let body: bytes::Bytes = serde_json::to_vec(call).expect("a call encodes").into();
        let deadline = tokio::time::Instant::now() + within;
        let mut pause = NO_OWNER_PAUSE;
        let message = loop {
            let request = self.client.request(self.subject.clone(), body.clone());
            match tokio::time::timeout_at(deadline, request).await {
                Ok(Ok(message)) => break message,
                // Nobody serves the date now: the call was not delivered, so it is sent again
                // while the date moves to its next owner (a node joining, leaving or dying).
                Ok(Err(error)) if error.kind() == RequestErrorKind::NoResponders => {
                    let again = tokio::time::Instant::now() + pause;
                    if again >= deadline {
                        return Err(unavailable(error));
                    }
                    tokio::time::sleep_until(again).await;
                    // Doubling: a failover's wait costs NATS a few requests per call, not a hundred.
                    pause = (pause * 2).min(NO_OWNER_PAUSE_MAX);
                }
                Ok(Err(error)) => return Err(unavailable(error)),
                // The owner did not answer in time: the call may or may not have been made.
                Err(_) => return Err(unavailable("the date's owner did not answer in time")),
            }
        };
        match serde_json::from_slice(&message.payload).map_err(Error::internal)? {
            DateAnswer::Refused {
                code,
                detail,
                retry_after_seconds,
                detail_ko,
            } => Err(Error {
                retry_after_seconds,
                detail_ko,
                ..Error::new(code, detail)
            }),
            answer => Ok(answer),
        }
    }
}

fn reservation_of(answer: DateAnswer) -> Result<Reservation> {
    match answer {
        DateAnswer::Reservation { reservation } => Ok(reservation),
        other => Err(unexpected(other)),
    }
}

fn done(answer: DateAnswer) -> Result<()> {
    match answer {
        DateAnswer::Done => Ok(()),
        other => Err(unexpected(other)),
    }
}

/// A well-formed answer to another call: a bug on one side of the wire.
fn unexpected(answer: DateAnswer) -> Error {
    Error::internal(format!("a date answered {answer:?} to another call"))
}

fn unavailable(error: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorCode::Unavailable,
        format!("The date's owner cannot be reached: {error}"),
    )
    .with_retry_after(1)
}
