//! The snapshot's types: the whole state, each part with the number of the last journal record
//! of its stream that it includes.
//!
//! The rules of `records.rs` hold here too: enums are written as the numbers their variants'
//! comments state, struct fields in order. Collections the engine keeps in maps are written as
//! sequences sorted by key, so that one state always gives the same bytes.

use super::records::{Answer, Concert, DateKey, Payment, Sale, SaleSchedule, Scope, Token, User};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub users: Part<Vec<User>>,
    pub concerts: Part<Vec<Concert>>,
    /// Sorted by date.
    pub dates: Vec<(DateKey, Part<SeatMap>)>,
    pub queue: Part<Queue>,
    pub wallet: Part<Wallet>,
    pub answers: Part<AnswerStore>,
    /// Version 4 on.
    pub sales: Part<Vec<Sale>>,
    /// Version 4 on; sorted by concert.
    pub sale_rooms: Vec<(Uuid, Part<SaleRoom>)>,
    /// Version 4 on: the waiting list of each date that has one (a part of the date's state,
    /// taken with its map), sorted by date.
    pub waitlists: Vec<(DateKey, Vec<WaitlistEntry>)>,
}

/// A fan on a date's waiting list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitlistEntry {
    pub code: [u8; 16],
    pub user: Uuid,
    pub joined_at: DateTime<Utc>,
    pub state: EntryState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryState {
    /// Written as 0.
    Waiting,
    /// Written as 1: offered the seat held under this reservation.
    Offered(Uuid),
    /// Written as 2.
    Bought(Uuid),
    /// Written as 3.
    Lapsed(Uuid),
}

/// The room of a concert's sale: a room like the site-wide one, and its gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleRoom {
    pub queue: Queue,
    pub schedule: SaleSchedule,
    pub seed: [u8; 32],
    pub drawn: Option<Drawn>,
    pub last_admission: Option<DateTime<Utc>>,
}

/// Where a sale's draw put its pre-queued tokens: the place of token `first_seq + i`, or 0;
/// and the drawn tokens' published entries, in issue order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drawn {
    pub first_seq: u64,
    pub places: Vec<u64>,
    pub entries: Vec<[u8; 16]>,
}

/// One partition's part, as a replicated log keeps each partition's snapshot on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartSnapshot {
    /// Written as 0.
    Users(Part<Vec<User>>),
    /// Written as 1.
    Catalog(Part<Vec<Concert>>),
    /// Written as 2.
    Queue(Part<Queue>),
    /// Written as 3.
    Wallet(Part<Wallet>),
    /// Written as 4.
    Answers(Part<AnswerStore>),
    /// Written as 5.
    Date(DateKey, Part<SeatMap>),
    /// Written as 6 (version 4 on).
    Sales(Part<Vec<Sale>>),
    /// Written as 7 (version 4 on).
    SaleRoom(Uuid, Part<SaleRoom>),
    /// Written as 8 (version 4 on): a date with a waiting list (one without is written as 5).
    DateWithWaitlist(DateKey, Part<SeatMap>, Vec<WaitlistEntry>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part<T> {
    pub seq: u64,
    pub state: T,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatMap {
    pub concert: Uuid,
    pub date: NaiveDate,
    /// In seat number order, from 1.
    pub seats: Vec<Seat>,
    /// Every reservation made on the date, sorted by id.
    pub reservations: Vec<(Uuid, Reservation)>,
    /// The deadlines of the live holds not being paid, earliest first.
    pub hold_deadlines: Vec<(DateTime<Utc>, Uuid)>,
    pub held: u64,
    pub sold: u64,
    pub revenue: i64,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    pub price: i64,
    pub occupant: Occupant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Occupant {
    /// Written as 0.
    Free,
    /// Written as 1: held under this reservation.
    Held(Uuid),
    /// Written as 2: sold under this reservation.
    Sold(Uuid),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub view: ReservationView,
    /// A payment was under way when the snapshot was taken.
    pub paying: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationView {
    pub reservation_id: Uuid,
    pub user_id: Uuid,
    pub concert_id: Uuid,
    pub date: NaiveDate,
    pub seat_number: u32,
    pub price: i64,
    pub status: ReservationStatus,
    pub held_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReservationStatus {
    /// Written as 0.
    Held,
    /// Written as 1.
    Confirmed,
    /// Written as 2.
    Expired,
    /// Written as 3.
    Cancelled,
}

/// The queue's stream: the waiting room, the tokens payments were made with, and the operator's
/// choice of how many may be ACTIVE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queue {
    pub room: Room,
    /// Sorted by token.
    pub paid_tokens: Vec<PaidToken>,
    /// Version 3 on.
    pub active_max_chosen: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// The live tokens, in sequence order.
    pub records: Vec<TokenRecord>,
    pub next_seq: u64,
    pub admitted_total: u64,
    pub expired_total: u64,
    /// (unix second, admissions from the line in it), oldest first.
    pub admissions_per_second: Vec<(i64, u64)>,
}

/// A live token. Its times are nanoseconds since the Unix epoch, the most compact: a snapshot
/// may hold millions of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub token: Token,
    pub user: Uuid,
    #[serde(with = "chrono::serde::ts_nanoseconds")]
    pub issued_at: DateTime<Utc>,
    pub status: TokenStatus,
    /// While WAITING, the idle deadline; once ACTIVE, the end of the slot.
    #[serde(with = "chrono::serde::ts_nanoseconds")]
    pub deadline: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenStatus {
    /// Written as 0.
    Waiting,
    /// Written as 1.
    Active,
    /// Written as 2 (version 4 on).
    Prequeued,
}

/// A token a payment ended, so that a retried payment is still answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidToken {
    pub token: Token,
    pub user: Uuid,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallet {
    /// The limits of the day the snapshot was taken; recovery applies those configured now.
    pub limits: WalletLimits,
    /// Sorted by user.
    pub accounts: Vec<(Uuid, Account)>,
    pub totals: MoneyTotals,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletLimits {
    pub charge_max: i64,
    pub balance_max: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoneyTotals {
    pub charged: i64,
    pub balances: i64,
    pub revenue: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub balance: i64,
    /// Oldest first.
    pub transactions: Vec<Transaction>,
    /// Oldest first.
    pub payments: Vec<PaidPayment>,
}

/// A payment and the queue token it was made with (version 3 on; unknown in version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidPayment {
    pub payment: Payment,
    pub paid_with: Option<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub transaction_id: Uuid,
    pub kind: TransactionType,
    pub amount: i64,
    pub balance_after: i64,
    pub at: DateTime<Utc>,
    pub payment_id: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionType {
    /// Written as 0.
    Charge,
    /// Written as 1.
    Payment,
    /// Written as 2 (version 4 on).
    Refund,
}

/// The remembered answers to keyed requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerStore {
    pub retention: Duration,
    /// Sorted by scope: user, endpoint number, key.
    pub entries: Vec<(Scope, KeptAnswer)>,
    /// Each kept answer's scope and when it was remembered, oldest first.
    pub by_age: Vec<(DateTime<Utc>, Scope)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptAnswer {
    pub fingerprint: String,
    pub answer: Answer,
}

/// A length of time: whole seconds and the nanoseconds past them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duration {
    pub seconds: i64,
    pub nanoseconds: i32,
}

/// The order answers are written in: by user, then endpoint, then key.
pub fn scope_order(scope: &Scope) -> (Uuid, u32, &str) {
    (scope.user, scope.endpoint, &scope.key)
}

/// The snapshot as version 3 wrote it: the same but for the sales. Read, never written.
pub mod v3 {
    use super::{AnswerStore, Part, Queue, SeatMap, Wallet};
    use crate::persistence::format::records::{Concert, DateKey, User};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Snapshot {
        pub users: Part<Vec<User>>,
        pub concerts: Part<Vec<Concert>>,
        pub dates: Vec<(DateKey, Part<SeatMap>)>,
        pub queue: Part<Queue>,
        pub wallet: Part<Wallet>,
        pub answers: Part<AnswerStore>,
    }

    impl From<Snapshot> for super::Snapshot {
        fn from(old: Snapshot) -> Self {
            Self {
                users: old.users,
                concerts: old.concerts,
                dates: old.dates,
                queue: old.queue,
                wallet: old.wallet,
                answers: old.answers,
                sales: Part {
                    seq: 0,
                    state: Vec::new(),
                },
                sale_rooms: Vec::new(),
                waitlists: Vec::new(),
            }
        }
    }
}

/// The snapshot as version 2 wrote it: the same but for the queue (no operator's `active_max`)
/// and the wallet's accounts (payments without their tokens). Read, never written.
pub mod v2 {
    use super::{AnswerStore, MoneyTotals, PaidToken, Part, Payment, Room, SeatMap, Transaction, WalletLimits};
    use crate::persistence::format::records::{Concert, DateKey, User};
    use serde::{Deserialize, Serialize};
    use uuid::Uuid;

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Snapshot {
        pub users: Part<Vec<User>>,
        pub concerts: Part<Vec<Concert>>,
        pub dates: Vec<(DateKey, Part<SeatMap>)>,
        pub queue: Part<Queue>,
        pub wallet: Part<Wallet>,
        pub answers: Part<AnswerStore>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Queue {
        pub room: Room,
        pub paid_tokens: Vec<PaidToken>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Wallet {
        pub limits: WalletLimits,
        pub accounts: Vec<(Uuid, Account)>,
        pub totals: MoneyTotals,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Account {
        pub balance: i64,
        pub transactions: Vec<Transaction>,
        pub payments: Vec<Payment>,
    }

    impl From<Snapshot> for super::v3::Snapshot {
        fn from(old: Snapshot) -> Self {
            Self {
                users: old.users,
                concerts: old.concerts,
                dates: old.dates,
                queue: upgrade(old.queue, |queue| super::Queue {
                    room: queue.room,
                    paid_tokens: queue.paid_tokens,
                    active_max_chosen: None,
                }),
                wallet: upgrade(old.wallet, |wallet| super::Wallet {
                    limits: wallet.limits,
                    accounts: wallet
                        .accounts
                        .into_iter()
                        .map(|(user, account)| (user, account.into()))
                        .collect(),
                    totals: wallet.totals,
                }),
                answers: old.answers,
            }
        }
    }

    impl From<Account> for super::Account {
        fn from(old: Account) -> Self {
            let paid = |payment| super::PaidPayment {
                payment,
                paid_with: None,
            };
            Self {
                balance: old.balance,
                transactions: old.transactions,
                payments: old.payments.into_iter().map(paid).collect(),
            }
        }
    }

    fn upgrade<T, U>(part: Part<T>, change: impl FnOnce(T) -> U) -> Part<U> {
        Part {
            seq: part.seq,
            state: change(part.state),
        }
    }
}
