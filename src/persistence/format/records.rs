//! The journal's record types, and the values they share with snapshots.
//!
//! Every enum here is written as its variant's number, which each variant's comment states;
//! new variants go last and no variant is ever removed or moved (`tests.rs` pins the numbers).
//! Struct fields are written in order and without names: a field is never added, removed or
//! moved within a format version.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One journal record: a change and its number in its writer's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// Written as 0.
    UserRegistered(User),
    /// Written as 1.
    ConcertCreated(Concert),
    /// Written as 2.
    Queue(QueueEvent),
    /// Written as 3.
    Seat(DateKey, SeatEvent),
    /// Written as 4.
    Wallet(WalletEvent),
    /// Written as 5.
    Answered(AnswerRecord),
    /// Written as 6.
    Keyed { work: Box<Change>, answer: AnswerRecord },
    /// Written as 7 (version 4 on).
    SaleCreated(Sale),
    /// Written as 8 (version 4 on): a change in the room of the concert's sale.
    Sale(Uuid, QueueEvent),
}

/// A concert's sale as first set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub concert: Uuid,
    pub number: u32,
    pub schedule: SaleSchedule,
    pub seed: [u8; 32],
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleSchedule {
    pub prequeue_opens_at: DateTime<Utc>,
    pub opens_at: DateTime<Utc>,
    pub active_max: u32,
    pub admissions_per_minute: Option<u32>,
    pub refund_policy: Vec<RefundStep>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundStep {
    pub until_days_before: u32,
    pub fee_percent: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub user_id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concert {
    pub concert_id: Uuid,
    pub title: String,
    pub dates: Vec<NewDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDate {
    pub date: NaiveDate,
    pub seat_count: u32,
    pub price: i64,
}

/// A concert date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DateKey {
    pub concert: Uuid,
    pub date: NaiveDate,
}

/// A queue token: its sequence number and its 24 secret bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Token {
    pub seq: u64,
    pub secret: [u8; 24],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueueEvent {
    /// Written as 0.
    TokenIssued {
        seq: u64,
        token: Token,
        user: Uuid,
        at: DateTime<Utc>,
    },
    /// Written as 1.
    TokenAdmitted {
        seq: u64,
        token: Token,
        at: DateTime<Utc>,
        active_until: DateTime<Utc>,
    },
    /// Written as 2.
    TokenEnded {
        seq: u64,
        token: Token,
        at: DateTime<Utc>,
        reason: TokenEnd,
    },
    /// Written as 3.
    ActiveMaxChanged { active_max: u32, at: DateTime<Utc> },
    /// Written as 4.
    TokenPaid {
        token: Token,
        user: Uuid,
        at: DateTime<Utc>,
    },
    /// Written as 5.
    PaidTokenForgotten { token: Token, at: DateTime<Utc> },
    /// Written as 6 (version 4 on).
    SaleChanged { schedule: SaleSchedule, at: DateTime<Utc> },
    /// Written as 7 (version 4 on).
    PrequeueDrawn { at: DateTime<Utc> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenEnd {
    /// Written as 0.
    Left,
    /// Written as 1.
    ActiveExpired,
    /// Written as 2.
    IdledOut,
    /// Written as 3.
    Paid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeatEvent {
    /// Written as 0.
    SeatHeld {
        reservation: Uuid,
        user: Uuid,
        seat_number: u32,
        at: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    /// Written as 1.
    HoldCancelled { reservation: Uuid, at: DateTime<Utc> },
    /// Written as 2.
    HoldLapsed { reservation: Uuid, at: DateTime<Utc> },
    /// Written as 3.
    SeatSold {
        reservation: Uuid,
        payment: Uuid,
        at: DateTime<Utc>,
    },
    /// Written as 4.
    PaymentBegun { reservation: Uuid, at: DateTime<Utc> },
    /// Written as 5.
    PaymentAborted { reservation: Uuid, at: DateTime<Utc> },
    /// Written as 6 (version 4 on).
    TicketCancelled {
        reservation: Uuid,
        refund: i64,
        at: DateTime<Utc>,
    },
    /// Written as 7 (version 4 on).
    Waitlisted {
        code: [u8; 16],
        user: Uuid,
        at: DateTime<Utc>,
    },
    /// Written as 8 (version 4 on).
    OfferMade {
        code: [u8; 16],
        reservation: Uuid,
        seat_number: u32,
        at: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WalletEvent {
    /// Written as 0.
    Charged {
        transaction: Uuid,
        user: Uuid,
        amount: i64,
        at: DateTime<Utc>,
    },
    /// Written as 1.
    PaymentCompleted {
        transaction: Uuid,
        payment: Payment,
        paid_with: Token,
    },
    /// Written as 2 (version 4 on).
    Refunded {
        transaction: Uuid,
        user: Uuid,
        payment: Uuid,
        refund: i64,
        at: DateTime<Utc>,
    },
    /// Written as 3 (version 4 on): a waiting list's offer paid through its entry's code, with
    /// no queue token.
    OfferPaid { transaction: Uuid, payment: Payment },
    /// Written as 4 (version 5 on): an order of several seats, one debit of their sum.
    OrderPaid {
        transaction: Uuid,
        payments: Vec<Payment>,
        paid_with: Token,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub payment_id: Uuid,
    pub reservation_id: Uuid,
    pub user_id: Uuid,
    pub concert_id: Uuid,
    pub date: NaiveDate,
    pub seat_number: u32,
    pub amount: i64,
    pub paid_at: DateTime<Utc>,
}

/// The first answer to a keyed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerRecord {
    pub scope: Scope,
    pub fingerprint: String,
    pub answer: Answer,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub user: Uuid,
    /// The endpoint's number in `numbers.rs`.
    pub endpoint: u32,
    /// The client's idempotency key.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// Written as 0: the work was done; its response.
    Done(Response),
    /// Written as 1: the request was refused; the error.
    Refused(Refusal),
}

/// A successful response as it went out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// An error as it went out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The code's number in `numbers.rs`.
    pub code: u32,
    pub detail: String,
    /// The queue status that went with TOKEN_NOT_ACTIVE, as JSON text.
    pub queue: Option<String>,
    pub retry_after_seconds: Option<u64>,
}
