//! Conversions between the engine's types and the format's, both ways. Every struct is taken
//! apart field by field and every enum matched variant by variant, so a field or a variant the
//! engine gains does not compile until the format says how it is written.
//!
//! Writing cannot fail. Reading can, for values the format holds but the engine refuses (an
//! idempotency key it would not accept, queue JSON that does not parse): [`Invalid`].

use super::numbers;
use super::records as disk;
use super::snapshot as disk_snapshot;
use crate::domain::concert::{ConcertRecord, DateKey, NewDate};
use crate::domain::draw::DrawSeed;
use crate::domain::idempotency::{
    self, Answer, AnswerRecord, IdempotencyKey, IdempotencyStore, Scope, StoreImage, StoredResponse,
};
use crate::domain::refund::{RefundPolicy, RefundStep};
use crate::domain::sale::{DrawnPlaces, SaleGate, SaleRecord, SaleSchedule};
use crate::domain::seat_map::{
    Occupant, Record as SeatRecord, Reservation, ReservationStatus, Seat, SeatEvent, SeatMap, SeatMapImage,
};
use crate::domain::user::User;
use crate::domain::waiting_room::{QueueEvent, RoomImage, TokenEnd, TokenRecord, TokenStatus};
use crate::domain::waitlist::{self, EntryCode, EntryState};
use crate::domain::wallet::{
    Account, MoneyTotals, Payment, Transaction, TransactionType, Wallet, WalletEvent, WalletImage, WalletLimits,
};
use crate::domain::{ConcertId, PaymentId, ReservationId, Token, TokenSecret, TransactionId, UserId};
use crate::error::Error;
use crate::persistence::log::{PartState, Partition};
use crate::persistence::{Change, Entry, Image, Part};

/// A value the format holds but the engine cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

// ---------------------------------------------------------------------------------------------
// Journal records
// ---------------------------------------------------------------------------------------------

impl From<Entry> for disk::Record {
    fn from(Entry { seq, change }: Entry) -> Self {
        Self {
            seq,
            change: change.into(),
        }
    }
}

impl TryFrom<disk::Record> for Entry {
    type Error = Invalid;

    fn try_from(disk::Record { seq, change }: disk::Record) -> Result<Self, Invalid> {
        Ok(Self {
            seq,
            change: change.try_into()?,
        })
    }
}

impl From<Change> for disk::Change {
    fn from(change: Change) -> Self {
        match change {
            Change::UserRegistered(user) => Self::UserRegistered(user.into()),
            Change::ConcertCreated(concert) => Self::ConcertCreated(concert.into()),
            Change::Queue(event) => Self::Queue(event.into()),
            Change::Seat(key, event) => Self::Seat(key.into(), event.into()),
            Change::Wallet(event) => Self::Wallet(event.into()),
            Change::Answered(record) => Self::Answered(record.into()),
            Change::Keyed { work, answer } => Self::Keyed {
                work: Box::new((*work).into()),
                answer: answer.into(),
            },
            Change::SaleCreated(sale) => Self::SaleCreated(sale.into()),
            Change::Sale(concert, event) => Self::Sale(concert.as_uuid(), event.into()),
        }
    }
}

impl TryFrom<disk::Change> for Change {
    type Error = Invalid;

    fn try_from(change: disk::Change) -> Result<Self, Invalid> {
        Ok(match change {
            disk::Change::UserRegistered(user) => Self::UserRegistered(user.into()),
            disk::Change::ConcertCreated(concert) => Self::ConcertCreated(concert.into()),
            disk::Change::Queue(event) => Self::Queue(event.try_into()?),
            disk::Change::Seat(key, event) => Self::Seat(key.into(), event.into()),
            disk::Change::Wallet(event) => Self::Wallet(event.into()),
            disk::Change::Answered(record) => Self::Answered(record.try_into()?),
            disk::Change::Keyed { work, answer } => Self::Keyed {
                work: Box::new((*work).try_into()?),
                answer: answer.try_into()?,
            },
            disk::Change::SaleCreated(sale) => Self::SaleCreated(sale.try_into()?),
            disk::Change::Sale(concert, event) => Self::Sale(ConcertId::from_uuid(concert), event.try_into()?),
        })
    }
}

impl From<User> for disk::User {
    fn from(User { user_id, name }: User) -> Self {
        Self {
            user_id: user_id.as_uuid(),
            name,
        }
    }
}

impl From<disk::User> for User {
    fn from(disk::User { user_id, name }: disk::User) -> Self {
        Self {
            user_id: UserId::from_uuid(user_id),
            name,
        }
    }
}

impl From<ConcertRecord> for disk::Concert {
    fn from(
        ConcertRecord {
            concert_id,
            title,
            dates,
        }: ConcertRecord,
    ) -> Self {
        Self {
            concert_id: concert_id.as_uuid(),
            title,
            dates: dates.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<disk::Concert> for ConcertRecord {
    fn from(
        disk::Concert {
            concert_id,
            title,
            dates,
        }: disk::Concert,
    ) -> Self {
        Self {
            concert_id: ConcertId::from_uuid(concert_id),
            title,
            dates: dates.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<NewDate> for disk::NewDate {
    fn from(
        NewDate {
            date,
            seat_count,
            price,
        }: NewDate,
    ) -> Self {
        Self {
            date,
            seat_count,
            price,
        }
    }
}

impl From<disk::NewDate> for NewDate {
    fn from(
        disk::NewDate {
            date,
            seat_count,
            price,
        }: disk::NewDate,
    ) -> Self {
        Self {
            date,
            seat_count,
            price,
        }
    }
}

impl From<DateKey> for disk::DateKey {
    fn from((concert, date): DateKey) -> Self {
        Self {
            concert: concert.as_uuid(),
            date,
        }
    }
}

impl From<disk::DateKey> for DateKey {
    fn from(disk::DateKey { concert, date }: disk::DateKey) -> Self {
        (ConcertId::from_uuid(concert), date)
    }
}

impl From<Token> for disk::Token {
    fn from(token: Token) -> Self {
        Self {
            seq: token.seq(),
            secret: token.secret().bytes(),
        }
    }
}

impl From<disk::Token> for Token {
    fn from(disk::Token { seq, secret }: disk::Token) -> Self {
        Token::new(seq, TokenSecret::from_bytes(secret))
    }
}

impl From<QueueEvent> for disk::QueueEvent {
    fn from(event: QueueEvent) -> Self {
        match event {
            QueueEvent::TokenIssued { seq, token, user, at } => Self::TokenIssued {
                seq,
                token: token.into(),
                user: user.as_uuid(),
                at,
            },
            QueueEvent::TokenAdmitted {
                seq,
                token,
                at,
                active_until,
            } => Self::TokenAdmitted {
                seq,
                token: token.into(),
                at,
                active_until,
            },
            QueueEvent::TokenEnded { seq, token, at, reason } => Self::TokenEnded {
                seq,
                token: token.into(),
                at,
                reason: reason.into(),
            },
            QueueEvent::ActiveMaxChanged { active_max, at } => Self::ActiveMaxChanged { active_max, at },
            QueueEvent::TokenPaid { token, user, at } => Self::TokenPaid {
                token: token.into(),
                user: user.as_uuid(),
                at,
            },
            QueueEvent::PaidTokenForgotten { token, at } => Self::PaidTokenForgotten {
                token: token.into(),
                at,
            },
            QueueEvent::SaleChanged { schedule, at } => Self::SaleChanged {
                schedule: schedule.into(),
                at,
            },
            QueueEvent::PrequeueDrawn { at } => Self::PrequeueDrawn { at },
        }
    }
}

impl TryFrom<disk::QueueEvent> for QueueEvent {
    type Error = Invalid;

    fn try_from(event: disk::QueueEvent) -> Result<Self, Invalid> {
        Ok(match event {
            disk::QueueEvent::TokenIssued { seq, token, user, at } => Self::TokenIssued {
                seq,
                token: token.into(),
                user: UserId::from_uuid(user),
                at,
            },
            disk::QueueEvent::TokenAdmitted {
                seq,
                token,
                at,
                active_until,
            } => Self::TokenAdmitted {
                seq,
                token: token.into(),
                at,
                active_until,
            },
            disk::QueueEvent::TokenEnded { seq, token, at, reason } => Self::TokenEnded {
                seq,
                token: token.into(),
                at,
                reason: reason.into(),
            },
            disk::QueueEvent::ActiveMaxChanged { active_max, at } => Self::ActiveMaxChanged { active_max, at },
            disk::QueueEvent::TokenPaid { token, user, at } => Self::TokenPaid {
                token: token.into(),
                user: UserId::from_uuid(user),
                at,
            },
            disk::QueueEvent::PaidTokenForgotten { token, at } => Self::PaidTokenForgotten {
                token: token.into(),
                at,
            },
            disk::QueueEvent::SaleChanged { schedule, at } => Self::SaleChanged {
                schedule: schedule.try_into()?,
                at,
            },
            disk::QueueEvent::PrequeueDrawn { at } => Self::PrequeueDrawn { at },
        })
    }
}

impl From<SaleRecord> for disk::Sale {
    fn from(
        SaleRecord {
            concert_id,
            number,
            schedule,
            seed,
            at,
        }: SaleRecord,
    ) -> Self {
        Self {
            concert: concert_id.as_uuid(),
            number,
            schedule: schedule.into(),
            seed: seed.bytes(),
            at,
        }
    }
}

impl TryFrom<disk::Sale> for SaleRecord {
    type Error = Invalid;

    fn try_from(
        disk::Sale {
            concert,
            number,
            schedule,
            seed,
            at,
        }: disk::Sale,
    ) -> Result<Self, Invalid> {
        Ok(Self {
            concert_id: ConcertId::from_uuid(concert),
            number,
            schedule: schedule.try_into()?,
            seed: DrawSeed::from_bytes(seed),
            at,
        })
    }
}

impl From<SaleSchedule> for disk::SaleSchedule {
    fn from(
        SaleSchedule {
            prequeue_opens_at,
            opens_at,
            active_max,
            admissions_per_minute,
            refund_policy,
        }: SaleSchedule,
    ) -> Self {
        let refund_policy = (refund_policy.steps().iter())
            .map(
                |&RefundStep {
                     until_days_before,
                     fee_percent,
                 }| disk::RefundStep {
                    until_days_before,
                    fee_percent,
                },
            )
            .collect();
        Self {
            prequeue_opens_at,
            opens_at,
            active_max,
            admissions_per_minute,
            refund_policy,
        }
    }
}

impl TryFrom<disk::SaleSchedule> for SaleSchedule {
    type Error = Invalid;

    fn try_from(
        disk::SaleSchedule {
            prequeue_opens_at,
            opens_at,
            active_max,
            admissions_per_minute,
            refund_policy,
        }: disk::SaleSchedule,
    ) -> Result<Self, Invalid> {
        let steps = (refund_policy.into_iter())
            .map(
                |disk::RefundStep {
                     until_days_before,
                     fee_percent,
                 }| RefundStep {
                    until_days_before,
                    fee_percent,
                },
            )
            .collect();
        let refund_policy =
            RefundPolicy::new(steps).map_err(|error| Invalid(format!("a refund policy: {}", error.detail)))?;
        Ok(Self {
            prequeue_opens_at,
            opens_at,
            active_max,
            admissions_per_minute,
            refund_policy,
        })
    }
}

impl From<TokenEnd> for disk::TokenEnd {
    fn from(reason: TokenEnd) -> Self {
        match reason {
            TokenEnd::Left => Self::Left,
            TokenEnd::ActiveExpired => Self::ActiveExpired,
            TokenEnd::IdledOut => Self::IdledOut,
            TokenEnd::Paid => Self::Paid,
        }
    }
}

impl From<disk::TokenEnd> for TokenEnd {
    fn from(reason: disk::TokenEnd) -> Self {
        match reason {
            disk::TokenEnd::Left => Self::Left,
            disk::TokenEnd::ActiveExpired => Self::ActiveExpired,
            disk::TokenEnd::IdledOut => Self::IdledOut,
            disk::TokenEnd::Paid => Self::Paid,
        }
    }
}

impl From<SeatEvent> for disk::SeatEvent {
    fn from(event: SeatEvent) -> Self {
        match event {
            SeatEvent::SeatHeld {
                reservation,
                user,
                seat_number,
                at,
                until,
            } => Self::SeatHeld {
                reservation: reservation.as_uuid(),
                user: user.as_uuid(),
                seat_number,
                at,
                until,
            },
            SeatEvent::HoldCancelled { reservation, at } => Self::HoldCancelled {
                reservation: reservation.as_uuid(),
                at,
            },
            SeatEvent::HoldLapsed { reservation, at } => Self::HoldLapsed {
                reservation: reservation.as_uuid(),
                at,
            },
            SeatEvent::SeatSold {
                reservation,
                payment,
                at,
            } => Self::SeatSold {
                reservation: reservation.as_uuid(),
                payment: payment.as_uuid(),
                at,
            },
            SeatEvent::PaymentBegun { reservation, at } => Self::PaymentBegun {
                reservation: reservation.as_uuid(),
                at,
            },
            SeatEvent::PaymentAborted { reservation, at } => Self::PaymentAborted {
                reservation: reservation.as_uuid(),
                at,
            },
            SeatEvent::TicketCancelled {
                reservation,
                refund,
                at,
            } => Self::TicketCancelled {
                reservation: reservation.as_uuid(),
                refund,
                at,
            },
            SeatEvent::Waitlisted { code, user, at } => Self::Waitlisted {
                code: code.bytes(),
                user: user.as_uuid(),
                at,
            },
            SeatEvent::OfferMade {
                code,
                reservation,
                seat_number,
                at,
                until,
            } => Self::OfferMade {
                code: code.bytes(),
                reservation: reservation.as_uuid(),
                seat_number,
                at,
                until,
            },
        }
    }
}

impl From<disk::SeatEvent> for SeatEvent {
    fn from(event: disk::SeatEvent) -> Self {
        match event {
            disk::SeatEvent::SeatHeld {
                reservation,
                user,
                seat_number,
                at,
                until,
            } => Self::SeatHeld {
                reservation: ReservationId::from_uuid(reservation),
                user: UserId::from_uuid(user),
                seat_number,
                at,
                until,
            },
            disk::SeatEvent::HoldCancelled { reservation, at } => Self::HoldCancelled {
                reservation: ReservationId::from_uuid(reservation),
                at,
            },
            disk::SeatEvent::HoldLapsed { reservation, at } => Self::HoldLapsed {
                reservation: ReservationId::from_uuid(reservation),
                at,
            },
            disk::SeatEvent::SeatSold {
                reservation,
                payment,
                at,
            } => Self::SeatSold {
                reservation: ReservationId::from_uuid(reservation),
                payment: PaymentId::from_uuid(payment),
                at,
            },
            disk::SeatEvent::PaymentBegun { reservation, at } => Self::PaymentBegun {
                reservation: ReservationId::from_uuid(reservation),
                at,
            },
            disk::SeatEvent::PaymentAborted { reservation, at } => Self::PaymentAborted {
                reservation: ReservationId::from_uuid(reservation),
                at,
            },
            disk::SeatEvent::TicketCancelled {
                reservation,
                refund,
                at,
            } => Self::TicketCancelled {
                reservation: ReservationId::from_uuid(reservation),
                refund,
                at,
            },
            disk::SeatEvent::Waitlisted { code, user, at } => Self::Waitlisted {
                code: EntryCode::from_bytes(code),
                user: UserId::from_uuid(user),
                at,
            },
            disk::SeatEvent::OfferMade {
                code,
                reservation,
                seat_number,
                at,
                until,
            } => Self::OfferMade {
                code: EntryCode::from_bytes(code),
                reservation: ReservationId::from_uuid(reservation),
                seat_number,
                at,
                until,
            },
        }
    }
}

impl From<WalletEvent> for disk::WalletEvent {
    fn from(event: WalletEvent) -> Self {
        match event {
            WalletEvent::Charged {
                transaction,
                user,
                amount,
                at,
            } => Self::Charged {
                transaction: transaction.as_uuid(),
                user: user.as_uuid(),
                amount,
                at,
            },
            WalletEvent::PaymentCompleted {
                transaction,
                payment,
                paid_with: Some(paid_with),
            } => Self::PaymentCompleted {
                transaction: transaction.as_uuid(),
                payment: payment.into(),
                paid_with: paid_with.into(),
            },
            WalletEvent::PaymentCompleted {
                transaction,
                payment,
                paid_with: None,
            } => Self::OfferPaid {
                transaction: transaction.as_uuid(),
                payment: payment.into(),
            },
            WalletEvent::OrderPaid {
                transaction,
                payments,
                paid_with,
            } => Self::OrderPaid {
                transaction: transaction.as_uuid(),
                payments: payments.into_iter().map(Into::into).collect(),
                paid_with: paid_with.into(),
            },
            WalletEvent::Refunded {
                transaction,
                user,
                payment,
                refund,
                at,
            } => Self::Refunded {
                transaction: transaction.as_uuid(),
                user: user.as_uuid(),
                payment: payment.as_uuid(),
                refund,
                at,
            },
        }
    }
}

impl From<disk::WalletEvent> for WalletEvent {
    fn from(event: disk::WalletEvent) -> Self {
        match event {
            disk::WalletEvent::Charged {
                transaction,
                user,
                amount,
                at,
            } => Self::Charged {
                transaction: TransactionId::from_uuid(transaction),
                user: UserId::from_uuid(user),
                amount,
                at,
            },
            disk::WalletEvent::PaymentCompleted {
                transaction,
                payment,
                paid_with,
            } => Self::PaymentCompleted {
                transaction: TransactionId::from_uuid(transaction),
                payment: payment.into(),
                paid_with: Some(paid_with.into()),
            },
            disk::WalletEvent::OfferPaid { transaction, payment } => Self::PaymentCompleted {
                transaction: TransactionId::from_uuid(transaction),
                payment: payment.into(),
                paid_with: None,
            },
            disk::WalletEvent::OrderPaid {
                transaction,
                payments,
                paid_with,
            } => Self::OrderPaid {
                transaction: TransactionId::from_uuid(transaction),
                payments: payments.into_iter().map(Into::into).collect(),
                paid_with: paid_with.into(),
            },
            disk::WalletEvent::Refunded {
                transaction,
                user,
                payment,
                refund,
                at,
            } => Self::Refunded {
                transaction: TransactionId::from_uuid(transaction),
                user: UserId::from_uuid(user),
                payment: PaymentId::from_uuid(payment),
                refund,
                at,
            },
        }
    }
}

impl From<Payment> for disk::Payment {
    fn from(
        Payment {
            payment_id,
            reservation_id,
            user_id,
            concert_id,
            date,
            seat_number,
            amount,
            paid_at,
        }: Payment,
    ) -> Self {
        Self {
            payment_id: payment_id.as_uuid(),
            reservation_id: reservation_id.as_uuid(),
            user_id: user_id.as_uuid(),
            concert_id: concert_id.as_uuid(),
            date,
            seat_number,
            amount,
            paid_at,
        }
    }
}

impl From<disk::Payment> for Payment {
    fn from(
        disk::Payment {
            payment_id,
            reservation_id,
            user_id,
            concert_id,
            date,
            seat_number,
            amount,
            paid_at,
        }: disk::Payment,
    ) -> Self {
        Self {
            payment_id: PaymentId::from_uuid(payment_id),
            reservation_id: ReservationId::from_uuid(reservation_id),
            user_id: UserId::from_uuid(user_id),
            concert_id: ConcertId::from_uuid(concert_id),
            date,
            seat_number,
            amount,
            paid_at,
        }
    }
}

impl From<AnswerRecord> for disk::AnswerRecord {
    fn from(
        AnswerRecord {
            scope,
            fingerprint,
            answer,
            at,
        }: AnswerRecord,
    ) -> Self {
        Self {
            scope: scope.into(),
            fingerprint,
            answer: answer.into(),
            at,
        }
    }
}

impl TryFrom<disk::AnswerRecord> for AnswerRecord {
    type Error = Invalid;

    fn try_from(
        disk::AnswerRecord {
            scope,
            fingerprint,
            answer,
            at,
        }: disk::AnswerRecord,
    ) -> Result<Self, Invalid> {
        Ok(Self {
            scope: scope.try_into()?,
            fingerprint,
            answer: answer_of(answer)?,
            at,
        })
    }
}

impl From<Scope> for disk::Scope {
    fn from(Scope { user, endpoint, key }: Scope) -> Self {
        Self {
            user: user.as_uuid(),
            endpoint: numbers::endpoint_number(endpoint),
            key: key.as_str().to_string(),
        }
    }
}

impl TryFrom<disk::Scope> for Scope {
    type Error = Invalid;

    fn try_from(disk::Scope { user, endpoint, key }: disk::Scope) -> Result<Self, Invalid> {
        let endpoint = numbers::endpoint_of(endpoint).ok_or_else(|| {
            Invalid(format!(
                "idempotency endpoint number {endpoint} is not one this build knows"
            ))
        })?;
        let key = IdempotencyKey::parse(&key).map_err(|error| Invalid(format!("idempotency key {key:?}: {error}")))?;
        Ok(Self {
            user: UserId::from_uuid(user),
            endpoint,
            key,
        })
    }
}

impl From<Answer> for disk::Answer {
    fn from(answer: Answer) -> Self {
        match answer {
            Ok(StoredResponse { status, body }) => Self::Done(disk::Response { status, body }),
            // A remembered refusal keeps its English detail; replayed to a Korean reader it
            // carries the Korean title as its detail.
            Err(Error {
                code,
                detail,
                queue,
                retry_after_seconds,
                detail_ko: _,
                fields: _,
            }) => Self::Refused(disk::Refusal {
                code: numbers::error_code_number(code),
                detail,
                queue: queue.map(|queue| queue.to_string()),
                retry_after_seconds,
            }),
        }
    }
}

fn answer_of(answer: disk::Answer) -> Result<Answer, Invalid> {
    Ok(match answer {
        disk::Answer::Done(disk::Response { status, body }) => Ok(StoredResponse { status, body }),
        disk::Answer::Refused(disk::Refusal {
            code,
            detail,
            queue,
            retry_after_seconds,
        }) => {
            let code = numbers::error_code_of(code)
                .ok_or_else(|| Invalid(format!("error code number {code} is not one this build knows")))?;
            let queue = queue
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|error| Invalid(format!("the queue status of a remembered {code}: {error}")))?;
            Err(Error {
                queue,
                retry_after_seconds,
                ..Error::new(code, detail)
            })
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

impl From<&Image> for disk_snapshot::Snapshot {
    fn from(
        Image {
            users,
            concerts,
            dates,
            room,
            wallet,
            answers,
            sales,
            sale_rooms,
        }: &Image,
    ) -> Self {
        let image_dates = dates;
        let mut sale_rooms: Vec<_> = (sale_rooms.iter())
            .map(|(concert, part)| (concert.as_uuid(), part_of(part, sale_room_of)))
            .collect();
        sale_rooms.sort_unstable_by_key(|(concert, _)| *concert);
        let mut dates: Vec<_> = (dates.iter())
            .map(|(key, part)| (disk::DateKey::from(*key), part_of(part, |map| map.image().into())))
            .collect();
        dates.sort_unstable_by_key(|(key, _)| *key);
        let mut waitlists: Vec<_> = (image_dates.iter())
            .map(|(key, part)| (disk::DateKey::from(*key), waitlist_of(&part.state)))
            .filter(|(_, entries)| !entries.is_empty())
            .collect();
        waitlists.sort_unstable_by_key(|(key, _)| *key);
        Self {
            users: part_of(users, |users| users.iter().cloned().map(Into::into).collect()),
            concerts: part_of(concerts, |concerts| concerts.iter().cloned().map(Into::into).collect()),
            dates,
            queue: part_of(room, queue_of),
            wallet: part_of(wallet, |wallet| wallet.image().into()),
            answers: part_of(answers, |store| store.image().into()),
            sales: part_of(sales, |sales| sales.iter().cloned().map(Into::into).collect()),
            sale_rooms,
            waitlists,
        }
    }
}

/// The waiting list of a date's map, as a snapshot keeps it.
fn waitlist_of(map: &SeatMap) -> Vec<disk_snapshot::WaitlistEntry> {
    (map.image().waitlist.into_iter()).map(Into::into).collect()
}

impl From<waitlist::Entry> for disk_snapshot::WaitlistEntry {
    fn from(
        waitlist::Entry {
            code,
            user,
            joined_at,
            state,
        }: waitlist::Entry,
    ) -> Self {
        let state = match state {
            EntryState::Waiting => disk_snapshot::EntryState::Waiting,
            EntryState::Offered(reservation) => disk_snapshot::EntryState::Offered(reservation.as_uuid()),
            EntryState::Bought(reservation) => disk_snapshot::EntryState::Bought(reservation.as_uuid()),
            EntryState::Lapsed(reservation) => disk_snapshot::EntryState::Lapsed(reservation.as_uuid()),
        };
        Self {
            code: code.bytes(),
            user: user.as_uuid(),
            joined_at,
            state,
        }
    }
}

impl From<disk_snapshot::WaitlistEntry> for waitlist::Entry {
    fn from(
        disk_snapshot::WaitlistEntry {
            code,
            user,
            joined_at,
            state,
        }: disk_snapshot::WaitlistEntry,
    ) -> Self {
        let id = ReservationId::from_uuid;
        let state = match state {
            disk_snapshot::EntryState::Waiting => EntryState::Waiting,
            disk_snapshot::EntryState::Offered(reservation) => EntryState::Offered(id(reservation)),
            disk_snapshot::EntryState::Bought(reservation) => EntryState::Bought(id(reservation)),
            disk_snapshot::EntryState::Lapsed(reservation) => EntryState::Lapsed(id(reservation)),
        };
        Self {
            code: EntryCode::from_bytes(code),
            user: UserId::from_uuid(user),
            joined_at,
            state,
        }
    }
}

/// The map a snapshot kept, with the waiting list kept beside it.
fn map_with_waitlist(map: disk_snapshot::SeatMap, waitlist: Vec<disk_snapshot::WaitlistEntry>) -> SeatMap {
    let mut image = SeatMapImage::from(map);
    image.waitlist = waitlist.into_iter().map(Into::into).collect();
    SeatMap::restore(image)
}

impl TryFrom<disk_snapshot::Snapshot> for Image {
    type Error = Invalid;

    fn try_from(
        disk_snapshot::Snapshot {
            users,
            concerts,
            dates,
            queue,
            wallet,
            answers,
            sales,
            sale_rooms,
            waitlists,
        }: disk_snapshot::Snapshot,
    ) -> Result<Self, Invalid> {
        let mut waitlists: std::collections::BTreeMap<disk::DateKey, _> = waitlists.into_iter().collect();
        let sale_rooms = (sale_rooms.into_iter())
            .map(|(concert, part)| Ok((ConcertId::from_uuid(concert), try_part_from(part, room_of_sale)?)))
            .collect::<Result<_, Invalid>>()?;
        let dates = (dates.into_iter())
            .map(|(key, part)| {
                let waitlist = waitlists.remove(&key).unwrap_or_default();
                (key.into(), part_from(part, |map| map_with_waitlist(map, waitlist)))
            })
            .collect();
        Ok(Self {
            users: part_from(users, |users| users.into_iter().map(Into::into).collect()),
            concerts: part_from(concerts, |concerts| concerts.into_iter().map(Into::into).collect()),
            dates,
            room: part_from(queue, room_of),
            wallet: part_from(wallet, |wallet| Wallet::restore(wallet.into())),
            answers: Part {
                seq: answers.seq,
                state: IdempotencyStore::restore(answers.state.try_into()?),
            },
            sales: try_part_from(sales, sales_of)?,
            sale_rooms,
        })
    }
}

fn sales_of(sales: Vec<disk::Sale>) -> Result<Vec<SaleRecord>, Invalid> {
    sales.into_iter().map(TryInto::try_into).collect()
}

impl From<(Partition, &Part<PartState>)> for disk_snapshot::PartSnapshot {
    fn from((partition, part): (Partition, &Part<PartState>)) -> Self {
        use disk_snapshot::PartSnapshot as Disk;
        fn whole<T>(seq: u64, state: T) -> disk_snapshot::Part<T> {
            disk_snapshot::Part { seq, state }
        }
        let seq = part.seq;
        match (partition, &part.state) {
            (Partition::Users, PartState::Users(users)) => {
                Disk::Users(whole(seq, users.iter().cloned().map(Into::into).collect()))
            }
            (Partition::Catalog, PartState::Catalog(concerts)) => {
                Disk::Catalog(whole(seq, concerts.iter().cloned().map(Into::into).collect()))
            }
            (Partition::Room, PartState::Room(room)) => Disk::Queue(whole(seq, queue_of(room))),
            (Partition::Wallet, PartState::Wallet(wallet)) => Disk::Wallet(whole(seq, wallet.image().into())),
            (Partition::Answers, PartState::Answers(store)) => Disk::Answers(whole(seq, store.image().into())),
            (Partition::Date(key), PartState::Date(map)) => match waitlist_of(map) {
                waitlist if waitlist.is_empty() => Disk::Date(key.into(), whole(seq, map.image().into())),
                waitlist => Disk::DateWithWaitlist(key.into(), whole(seq, map.image().into()), waitlist),
            },
            (Partition::Sales, PartState::Sales(sales)) => {
                Disk::Sales(whole(seq, sales.iter().cloned().map(Into::into).collect()))
            }
            (Partition::Sale(concert), PartState::SaleRoom(room)) => {
                Disk::SaleRoom(concert.as_uuid(), whole(seq, sale_room_of(room)))
            }
            (partition, state) => panic!("partition {partition} holds the state of another: {state:?}"),
        }
    }
}

impl TryFrom<disk_snapshot::PartSnapshot> for (Partition, Part<PartState>) {
    type Error = Invalid;

    fn try_from(part: disk_snapshot::PartSnapshot) -> Result<Self, Invalid> {
        use disk_snapshot::PartSnapshot as Disk;
        Ok(match part {
            Disk::Users(users) => (
                Partition::Users,
                part_from(users, |users| {
                    PartState::Users(users.into_iter().map(Into::into).collect())
                }),
            ),
            Disk::Catalog(concerts) => (
                Partition::Catalog,
                part_from(concerts, |concerts| {
                    PartState::Catalog(concerts.into_iter().map(Into::into).collect())
                }),
            ),
            Disk::Queue(queue) => (
                Partition::Room,
                part_from(queue, |queue| PartState::Room(room_of(queue))),
            ),
            Disk::Wallet(wallet) => (
                Partition::Wallet,
                part_from(wallet, |wallet| PartState::Wallet(Wallet::restore(wallet.into()))),
            ),
            Disk::Answers(answers) => (
                Partition::Answers,
                Part {
                    seq: answers.seq,
                    state: PartState::Answers(IdempotencyStore::restore(answers.state.try_into()?)),
                },
            ),
            Disk::Date(key, map) => (
                Partition::Date(key.into()),
                part_from(map, |map| PartState::Date(SeatMap::restore(map.into()))),
            ),
            Disk::DateWithWaitlist(key, map, waitlist) => (
                Partition::Date(key.into()),
                part_from(map, |map| PartState::Date(map_with_waitlist(map, waitlist))),
            ),
            Disk::Sales(sales) => (
                Partition::Sales,
                try_part_from(sales, |sales| Ok(PartState::Sales(sales_of(sales)?)))?,
            ),
            Disk::SaleRoom(concert, room) => (
                Partition::Sale(ConcertId::from_uuid(concert)),
                try_part_from(room, |room| Ok(PartState::SaleRoom(room_of_sale(room)?)))?,
            ),
        })
    }
}

fn part_of<T, U>(part: &Part<T>, convert: impl FnOnce(&T) -> U) -> disk_snapshot::Part<U> {
    disk_snapshot::Part {
        seq: part.seq,
        state: convert(&part.state),
    }
}

fn try_part_from<T, U>(
    part: disk_snapshot::Part<T>,
    convert: impl FnOnce(T) -> Result<U, Invalid>,
) -> Result<Part<U>, Invalid> {
    Ok(Part {
        seq: part.seq,
        state: convert(part.state)?,
    })
}

fn part_from<T, U>(part: disk_snapshot::Part<T>, convert: impl FnOnce(T) -> U) -> Part<U> {
    Part {
        seq: part.seq,
        state: convert(part.state),
    }
}

impl From<SeatMapImage> for disk_snapshot::SeatMap {
    fn from(
        SeatMapImage {
            concert,
            date,
            seats,
            reservations,
            hold_deadlines,
            held,
            sold,
            revenue,
            version,
            // Kept beside the map (`waitlist_of`), so that a date without one is written as
            // version 3 wrote it.
            waitlist: _,
        }: SeatMapImage,
    ) -> Self {
        let mut reservations: Vec<_> = (reservations.into_iter())
            .map(|(id, record)| (id.as_uuid(), record.into()))
            .collect();
        reservations.sort_unstable_by_key(|(id, _)| *id);
        Self {
            concert: concert.as_uuid(),
            date,
            seats: seats.into_iter().map(Into::into).collect(),
            reservations,
            hold_deadlines: (hold_deadlines.into_iter())
                .map(|(at, reservation)| (at, reservation.as_uuid()))
                .collect(),
            held,
            sold,
            revenue,
            version,
        }
    }
}

impl From<disk_snapshot::SeatMap> for SeatMapImage {
    fn from(
        disk_snapshot::SeatMap {
            concert,
            date,
            seats,
            reservations,
            hold_deadlines,
            held,
            sold,
            revenue,
            version,
        }: disk_snapshot::SeatMap,
    ) -> Self {
        Self {
            concert: ConcertId::from_uuid(concert),
            date,
            seats: seats.into_iter().map(Into::into).collect(),
            reservations: (reservations.into_iter())
                .map(|(id, record)| (ReservationId::from_uuid(id), record.into()))
                .collect(),
            hold_deadlines: (hold_deadlines.into_iter())
                .map(|(at, reservation)| (at, ReservationId::from_uuid(reservation)))
                .collect(),
            held,
            sold,
            revenue,
            version,
            waitlist: Vec::new(),
        }
    }
}

impl From<Seat> for disk_snapshot::Seat {
    fn from(Seat { price, occupant }: Seat) -> Self {
        let occupant = match occupant {
            Occupant::Free => disk_snapshot::Occupant::Free,
            Occupant::Held(reservation) => disk_snapshot::Occupant::Held(reservation.as_uuid()),
            Occupant::Sold(reservation) => disk_snapshot::Occupant::Sold(reservation.as_uuid()),
        };
        Self { price, occupant }
    }
}

impl From<disk_snapshot::Seat> for Seat {
    fn from(disk_snapshot::Seat { price, occupant }: disk_snapshot::Seat) -> Self {
        let occupant = match occupant {
            disk_snapshot::Occupant::Free => Occupant::Free,
            disk_snapshot::Occupant::Held(reservation) => Occupant::Held(ReservationId::from_uuid(reservation)),
            disk_snapshot::Occupant::Sold(reservation) => Occupant::Sold(ReservationId::from_uuid(reservation)),
        };
        Self { price, occupant }
    }
}

impl From<SeatRecord> for disk_snapshot::Reservation {
    fn from(SeatRecord { view, paying }: SeatRecord) -> Self {
        let Reservation {
            reservation_id,
            user_id,
            concert_id,
            date,
            seat_number,
            price,
            status,
            held_until,
            created_at,
        } = view;
        let status = match status {
            ReservationStatus::Held => disk_snapshot::ReservationStatus::Held,
            ReservationStatus::Confirmed => disk_snapshot::ReservationStatus::Confirmed,
            ReservationStatus::Expired => disk_snapshot::ReservationStatus::Expired,
            ReservationStatus::Cancelled => disk_snapshot::ReservationStatus::Cancelled,
        };
        let view = disk_snapshot::ReservationView {
            reservation_id: reservation_id.as_uuid(),
            user_id: user_id.as_uuid(),
            concert_id: concert_id.as_uuid(),
            date,
            seat_number,
            price,
            status,
            held_until,
            created_at,
        };
        Self { view, paying }
    }
}

impl From<disk_snapshot::Reservation> for SeatRecord {
    fn from(disk_snapshot::Reservation { view, paying }: disk_snapshot::Reservation) -> Self {
        let disk_snapshot::ReservationView {
            reservation_id,
            user_id,
            concert_id,
            date,
            seat_number,
            price,
            status,
            held_until,
            created_at,
        } = view;
        let status = match status {
            disk_snapshot::ReservationStatus::Held => ReservationStatus::Held,
            disk_snapshot::ReservationStatus::Confirmed => ReservationStatus::Confirmed,
            disk_snapshot::ReservationStatus::Expired => ReservationStatus::Expired,
            disk_snapshot::ReservationStatus::Cancelled => ReservationStatus::Cancelled,
        };
        let view = Reservation {
            reservation_id: ReservationId::from_uuid(reservation_id),
            user_id: UserId::from_uuid(user_id),
            concert_id: ConcertId::from_uuid(concert_id),
            date,
            seat_number,
            price,
            status,
            held_until,
            created_at,
        };
        Self { view, paying }
    }
}

fn queue_of(room: &RoomImage) -> disk_snapshot::Queue {
    let RoomImage {
        records,
        next_seq,
        admitted_total,
        expired_total,
        admissions_per_second,
        active_max_chosen,
        paid,
        // A sale's room keeps its gate beside it (`sale_room_of`).
        sale: _,
    } = room;
    let mut paid_tokens: Vec<_> = (paid.iter())
        .map(|&(token, user, at)| disk_snapshot::PaidToken {
            token: token.into(),
            user: user.as_uuid(),
            at,
        })
        .collect();
    paid_tokens.sort_unstable_by_key(|paid| paid.token);
    let room = disk_snapshot::Room {
        records: records.iter().copied().map(Into::into).collect(),
        next_seq: *next_seq,
        admitted_total: *admitted_total,
        expired_total: *expired_total,
        admissions_per_second: admissions_per_second.iter().copied().collect(),
    };
    disk_snapshot::Queue {
        room,
        paid_tokens,
        active_max_chosen: *active_max_chosen,
    }
}

fn room_of(queue: disk_snapshot::Queue) -> RoomImage {
    let disk_snapshot::Queue {
        room,
        paid_tokens,
        active_max_chosen,
    } = queue;
    let disk_snapshot::Room {
        records,
        next_seq,
        admitted_total,
        expired_total,
        admissions_per_second,
    } = room;
    let paid = (paid_tokens.into_iter())
        .map(|disk_snapshot::PaidToken { token, user, at }| (token.into(), UserId::from_uuid(user), at))
        .collect();
    RoomImage {
        records: records.into_iter().map(Into::into).collect(),
        next_seq,
        admitted_total,
        expired_total,
        admissions_per_second: admissions_per_second.into_iter().collect(),
        active_max_chosen,
        paid,
        sale: None,
    }
}

fn sale_room_of(room: &RoomImage) -> disk_snapshot::SaleRoom {
    let SaleGate {
        schedule,
        seed,
        drawn,
        last_admission,
    } = room.sale.clone().expect("a sale's room has its sale");
    disk_snapshot::SaleRoom {
        queue: queue_of(room),
        schedule: schedule.into(),
        seed: seed.bytes(),
        drawn: drawn.map(|drawn| disk_snapshot::Drawn {
            first_seq: drawn.first_seq(),
            places: drawn.places().to_vec(),
            entries: drawn.entries().to_vec(),
        }),
        last_admission,
    }
}

fn room_of_sale(
    disk_snapshot::SaleRoom {
        queue,
        schedule,
        seed,
        drawn,
        last_admission,
    }: disk_snapshot::SaleRoom,
) -> Result<RoomImage, Invalid> {
    let gate = SaleGate {
        schedule: schedule.try_into()?,
        seed: DrawSeed::from_bytes(seed),
        drawn: drawn.map(|drawn| DrawnPlaces::new(drawn.first_seq, drawn.places, drawn.entries)),
        last_admission,
    };
    Ok(RoomImage {
        sale: Some(gate),
        ..room_of(queue)
    })
}

impl From<TokenRecord> for disk_snapshot::TokenRecord {
    fn from(
        TokenRecord {
            token,
            user,
            issued_at,
            status,
            deadline,
        }: TokenRecord,
    ) -> Self {
        let status = match status {
            TokenStatus::Waiting => disk_snapshot::TokenStatus::Waiting,
            TokenStatus::Active => disk_snapshot::TokenStatus::Active,
            TokenStatus::Prequeued => disk_snapshot::TokenStatus::Prequeued,
        };
        Self {
            token: token.into(),
            user: user.as_uuid(),
            issued_at,
            status,
            deadline,
        }
    }
}

impl From<disk_snapshot::TokenRecord> for TokenRecord {
    fn from(
        disk_snapshot::TokenRecord {
            token,
            user,
            issued_at,
            status,
            deadline,
        }: disk_snapshot::TokenRecord,
    ) -> Self {
        let status = match status {
            disk_snapshot::TokenStatus::Waiting => TokenStatus::Waiting,
            disk_snapshot::TokenStatus::Active => TokenStatus::Active,
            disk_snapshot::TokenStatus::Prequeued => TokenStatus::Prequeued,
        };
        Self {
            token: token.into(),
            user: UserId::from_uuid(user),
            issued_at,
            status,
            deadline,
        }
    }
}

impl From<WalletImage> for disk_snapshot::Wallet {
    fn from(
        WalletImage {
            limits,
            accounts,
            totals,
        }: WalletImage,
    ) -> Self {
        let WalletLimits {
            charge_max,
            balance_max,
        } = limits;
        let MoneyTotals {
            charged,
            balances,
            revenue,
        } = totals;
        let mut accounts: Vec<_> = (accounts.into_iter())
            .map(|(user, account)| (user.as_uuid(), account.into()))
            .collect();
        accounts.sort_unstable_by_key(|(user, _)| *user);
        Self {
            limits: disk_snapshot::WalletLimits {
                charge_max,
                balance_max,
            },
            accounts,
            totals: disk_snapshot::MoneyTotals {
                charged,
                balances,
                revenue,
            },
        }
    }
}

impl From<disk_snapshot::Wallet> for WalletImage {
    fn from(
        disk_snapshot::Wallet {
            limits,
            accounts,
            totals,
        }: disk_snapshot::Wallet,
    ) -> Self {
        let disk_snapshot::WalletLimits {
            charge_max,
            balance_max,
        } = limits;
        let disk_snapshot::MoneyTotals {
            charged,
            balances,
            revenue,
        } = totals;
        Self {
            limits: WalletLimits {
                charge_max,
                balance_max,
            },
            accounts: (accounts.into_iter())
                .map(|(user, account)| (UserId::from_uuid(user), account.into()))
                .collect(),
            totals: MoneyTotals {
                charged,
                balances,
                revenue,
            },
        }
    }
}

impl From<Account> for disk_snapshot::Account {
    fn from(
        Account {
            balance,
            transactions,
            payments,
        }: Account,
    ) -> Self {
        Self {
            balance,
            transactions: transactions.into_iter().map(Into::into).collect(),
            payments: (payments.into_iter())
                .map(|(payment, paid_with)| disk_snapshot::PaidPayment {
                    payment: payment.into(),
                    paid_with: paid_with.map(Into::into),
                })
                .collect(),
        }
    }
}

impl From<disk_snapshot::Account> for Account {
    fn from(
        disk_snapshot::Account {
            balance,
            transactions,
            payments,
        }: disk_snapshot::Account,
    ) -> Self {
        Self {
            balance,
            transactions: transactions.into_iter().map(Into::into).collect(),
            payments: (payments.into_iter())
                .map(|disk_snapshot::PaidPayment { payment, paid_with }| (payment.into(), paid_with.map(Into::into)))
                .collect(),
        }
    }
}

impl From<Transaction> for disk_snapshot::Transaction {
    fn from(
        Transaction {
            transaction_id,
            kind,
            amount,
            balance_after,
            at,
            payment_id,
        }: Transaction,
    ) -> Self {
        let kind = match kind {
            TransactionType::Charge => disk_snapshot::TransactionType::Charge,
            TransactionType::Payment => disk_snapshot::TransactionType::Payment,
            TransactionType::Refund => disk_snapshot::TransactionType::Refund,
        };
        Self {
            transaction_id: transaction_id.as_uuid(),
            kind,
            amount,
            balance_after,
            at,
            payment_id: payment_id.map(|payment| payment.as_uuid()),
        }
    }
}

impl From<disk_snapshot::Transaction> for Transaction {
    fn from(
        disk_snapshot::Transaction {
            transaction_id,
            kind,
            amount,
            balance_after,
            at,
            payment_id,
        }: disk_snapshot::Transaction,
    ) -> Self {
        let kind = match kind {
            disk_snapshot::TransactionType::Charge => TransactionType::Charge,
            disk_snapshot::TransactionType::Payment => TransactionType::Payment,
            disk_snapshot::TransactionType::Refund => TransactionType::Refund,
        };
        Self {
            transaction_id: TransactionId::from_uuid(transaction_id),
            kind,
            amount,
            balance_after,
            at,
            payment_id: payment_id.map(PaymentId::from_uuid),
        }
    }
}

impl From<StoreImage> for disk_snapshot::AnswerStore {
    fn from(
        StoreImage {
            retention,
            entries,
            by_age,
        }: StoreImage,
    ) -> Self {
        assert!(retention >= chrono::Duration::zero(), "a retention is never negative");
        let mut entries: Vec<_> = (entries.into_iter())
            .map(|(scope, idempotency::Entry { fingerprint, answer })| {
                let answer = answer.into();
                (scope.into(), disk_snapshot::KeptAnswer { fingerprint, answer })
            })
            .collect();
        entries.sort_unstable_by(|(a, _), (b, _)| disk_snapshot::scope_order(a).cmp(&disk_snapshot::scope_order(b)));
        Self {
            retention: disk_snapshot::Duration {
                seconds: retention.num_seconds(),
                nanoseconds: retention.subsec_nanos(),
            },
            entries,
            by_age: by_age.into_iter().map(|(at, scope)| (at, scope.into())).collect(),
        }
    }
}

impl TryFrom<disk_snapshot::AnswerStore> for StoreImage {
    type Error = Invalid;

    fn try_from(
        disk_snapshot::AnswerStore {
            retention,
            entries,
            by_age,
        }: disk_snapshot::AnswerStore,
    ) -> Result<Self, Invalid> {
        let disk_snapshot::Duration { seconds, nanoseconds } = retention;
        let retention = u32::try_from(nanoseconds)
            .ok()
            .and_then(|nanoseconds| chrono::Duration::new(seconds, nanoseconds))
            .ok_or_else(|| Invalid(format!("a retention of {seconds} s and {nanoseconds} ns")))?;
        let entries = (entries.into_iter())
            .map(|(scope, disk_snapshot::KeptAnswer { fingerprint, answer })| {
                let answer = answer_of(answer)?;
                Ok((scope.try_into()?, idempotency::Entry { fingerprint, answer }))
            })
            .collect::<Result<_, Invalid>>()?;
        let by_age = (by_age.into_iter())
            .map(|(at, scope)| Ok((at, scope.try_into()?)))
            .collect::<Result<_, Invalid>>()?;
        Ok(Self {
            retention,
            entries,
            by_age,
        })
    }
}
