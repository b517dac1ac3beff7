//! The payment saga across the date actor (the seat), the wallet actor (the money) and the queue
//! actor (the token).
//!
//! 1. The date actor marks the hold as being paid (`PaymentBegun`): it can no longer lapse or be
//!    cancelled.
//! 2. The wallet actor debits and records the payment (`PaymentCompleted`): the commit point,
//!    and the one record the fan waits to be durable.
//! 3. On success the seat becomes SOLD and the fan's token ends; on failure the hold is put back
//!    exactly as it was (`PaymentAborted`). The fan is answered once these are applied, not once
//!    they are on disk: the wallet's record already decides them.
//!
//! The journal keeps order, so step 1 is on disk whenever step 2 is. If a crash cuts the saga
//! between 2 and 3, the actors finish it when they start (`persistence::recovery::CutShort`): the date actor sells the
//! seats the wallet recorded and gives back holds whose payment it never recorded, and the queue
//! actor ends the tokens those payments were made with.
//!
//! An order of several seats is the same saga over every hold it names, on as many dates: each
//! is marked as being paid, the wallet's one `OrderPaid` record debits the sum (the commit
//! point), then every seat is SOLD and the token ends once. A hold that cannot be marked, or a
//! short balance, unmarks every hold marked, so nothing changes; recovery finishes an order cut
//! short after its record seat by seat, as it does a payment.
//!
//! The saga runs as its own task, so a client that hangs up mid-payment cannot leave a hold
//! marked as being paid.

use crate::actors::queue::Fan;
use crate::domain::idempotency::Answer;
use crate::domain::waitlist::EntryCode;
use crate::domain::wallet::Payment;
use crate::domain::{PaymentId, ReservationId, Token, UserId};
use crate::error::{ErrorCode, Result};
use crate::services::dates::{insist, DateHandle};
use crate::services::idempotency::AnswerSlot;
use crate::services::Services;
use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct PaymentReceipt {
    pub payment_id: PaymentId,
    pub reservation_id: ReservationId,
    pub amount: i64,
    /// The balance after the payment.
    pub balance: i64,
    pub paid_at: DateTime<Utc>,
}

/// Pays `reservation` with `fan`'s token, all or nothing. A user's payments run one at a time,
/// so a token that a payment ended cannot pay again. With `keyed`, the receipt is journaled with
/// the payment, as its keyed request's answer, which the function given makes of it.
pub async fn pay(
    services: Arc<Services>,
    fan: Fan,
    reservation: ReservationId,
    keyed: Option<(AnswerSlot, ReceiptAnswer)>,
) -> Result<PaymentReceipt> {
    let locks = &services.payment_locks;
    locks
        .run(&fan.user, pay_alone(&services, fan, reservation, keyed))
        .await
}

/// How a keyed payment's answer is made of its receipt.
pub type ReceiptAnswer = fn(&PaymentReceipt) -> Answer;

/// The user whose payment was made with `token`, while the waiting room remembers it.
pub fn payer_of(services: &Services, token: &Token) -> Option<UserId> {
    services.room_of(token).ok()?.paid_by(token)
}

async fn pay_alone(
    services: &Services,
    fan: Fan,
    reservation: ReservationId,
    keyed: Option<(AnswerSlot, ReceiptAnswer)>,
) -> Result<PaymentReceipt> {
    // A payment ahead of this one may have ended the token.
    services.room_of(&fan.token)?.authenticate(&fan.token)?;
    let date = services.catalog.date_of_reservation(reservation)?;
    let payer = Payer {
        user: fan.user,
        token: Some(fan.token),
    };
    pay_hold(services, payer, &date, reservation, keyed).await
}

/// Who pays a hold: its fan, and the queue token the payment ends, if any (a waiting list's
/// offer is paid with its entry's code, and ends no token).
#[derive(Debug, Clone, Copy)]
pub struct Payer {
    pub user: UserId,
    pub token: Option<Token>,
}

/// Pays the waiting list's offer to the entry `code` from its fan's wallet, all or nothing, as a
/// payment with a token is made; it ends no token. One payment of the fan at a time.
pub async fn pay_offer(
    services: Arc<Services>,
    code: EntryCode,
    keyed: Option<(AnswerSlot, ReceiptAnswer)>,
) -> Result<PaymentReceipt> {
    let date = services.catalog.date_of_entry(code)?;
    let entry = date
        .waitlist_entry(code)
        .await?
        .ok_or_else(super::waitlists::entry_not_found)?;
    let locks = &services.payment_locks;
    locks
        .run(&entry.user, async {
            // Read again under the lock: a payment ahead of this one may have bought it.
            let entry = date
                .waitlist_entry(code)
                .await?
                .ok_or_else(super::waitlists::entry_not_found)?;
            let reservation = super::waitlists::offered(&entry)?;
            let payer = Payer {
                user: entry.user,
                token: None,
            };
            pay_hold(&services, payer, &date, reservation, keyed).await
        })
        .await
}

async fn pay_hold(
    services: &Services,
    payer: Payer,
    date: &DateHandle,
    reservation: ReservationId,
    keyed: Option<(AnswerSlot, ReceiptAnswer)>,
) -> Result<PaymentReceipt> {
    let held = match date.begin_payment(reservation, payer.user).await {
        Ok(held) => held,
        // The beginning may have been made with its answer lost (a date served apart whose
        // owner died): it is undone, or the hold would stay marked as being paid for good.
        Err(unknown) if unknown.code == ErrorCode::Unavailable => {
            insist(&services.term_over(), || date.abort_payment(reservation)).await;
            return Err(unknown);
        }
        Err(refused) => return Err(refused),
    };
    let payment = Payment::for_hold(&held, services.clock.now());
    let (payment_id, amount, paid_at) = (payment.payment_id, payment.amount, payment.paid_at);
    let receipt = move |balance: i64| PaymentReceipt {
        payment_id,
        reservation_id: reservation,
        amount,
        balance,
        paid_at,
    };
    let keyed = keyed.map(|(slot, answer)| slot.keyed(move |balance: &i64| answer(&receipt(*balance))));
    match services.wallet.pay(payment, payer.token, keyed).await {
        Ok(balance) => {
            finish_committed(services, date, payer, reservation, payment_id).await;
            Ok(receipt(balance))
        }
        // The wallet's record may be stored with its answer lost (the log failed under it):
        // whether it was is for the next engine to read, which then sells the seat or gives the
        // hold back. Undone now, the seat could be sold to another while the money is gone.
        Err(unknown) if services.log.failure().is_some() => Err(unknown),
        Err(refused) => {
            // The hold must not stay marked as being paid, even while its date moves between
            // nodes: asked again until its owner answers.
            insist(&services.term_over(), || date.abort_payment(reservation)).await;
            Err(refused)
        }
    }
}

/// After the commit point the payment has happened, whatever follows: the seat is sold and the
/// token ended. Neither can be refused by a full mailbox; only a crashed actor (a bug, already
/// reported by its panic) fails them, and then the fan still learns the payment went through.
/// The two are independent, so they go at once; each answers once applied, so a read after the
/// fan's answer sees both, and the fan waits for no journal sync but the wallet's.
async fn finish_committed(
    services: &Services,
    date: &DateHandle,
    payer: Payer,
    reservation: ReservationId,
    payment: PaymentId,
) {
    let over = services.term_over();
    let end_token = async {
        let Some(token) = payer.token else {
            return Ok(());
        };
        // The token's room was found before the payment began; a room is never removed.
        services.room_of(&token)?.end_after_payment(token, payer.user).await
    };
    let (_, ended) = tokio::join!(insist(&over, || date.complete_payment(reservation, payment)), end_token);
    if let Err(error) = ended {
        tracing::error!(%payment, %error, "a committed payment could not end its token");
    }
}

/// What an order of several seats answers: the one debit, and a ticket per seat.
#[derive(Debug, Clone)]
pub struct OrderReceipt {
    /// The order's payment: its first seat's, under which the debit is recorded.
    pub payment_id: PaymentId,
    pub reservation_ids: Vec<ReservationId>,
    /// The sum of the seats' prices.
    pub amount: i64,
    /// The balance after the order.
    pub balance: i64,
    pub paid_at: DateTime<Utc>,
    /// The seats' payments, in the order's order: a ticket each.
    pub seats: Vec<Payment>,
}

/// How a keyed order's answer is made of its receipt.
pub type OrderAnswer = fn(&OrderReceipt) -> Answer;

/// Pays every hold in `reservations` (distinct, the fan's, on any dates) with `fan`'s token in
/// one order, all or nothing. One payment of the fan at a time, as for a single hold.
pub async fn pay_order(
    services: Arc<Services>,
    fan: Fan,
    reservations: Vec<ReservationId>,
    keyed: Option<(AnswerSlot, OrderAnswer)>,
) -> Result<OrderReceipt> {
    assert!(!reservations.is_empty(), "an order names a hold");
    let locks = &services.payment_locks;
    locks
        .run(&fan.user, order_alone(&services, fan, reservations, keyed))
        .await
}

async fn order_alone(
    services: &Services,
    fan: Fan,
    reservations: Vec<ReservationId>,
    keyed: Option<(AnswerSlot, OrderAnswer)>,
) -> Result<OrderReceipt> {
    // A payment ahead of this one may have ended the token.
    services.room_of(&fan.token)?.authenticate(&fan.token)?;
    let dates = (reservations.iter())
        .map(|reservation| services.catalog.date_of_reservation(*reservation))
        .collect::<Result<Vec<_>>>()?;
    let holds: Vec<(DateHandle, ReservationId)> = dates.into_iter().zip(reservations).collect();
    let held = begin_all(services, fan.user, &holds).await?;
    let now = services.clock.now();
    let seats: Vec<Payment> = held.iter().map(|hold| Payment::for_hold(hold, now)).collect();
    let receipt = order_receipt(&seats);
    let keyed = keyed.map(|(slot, answer)| {
        let receipt = receipt.clone();
        slot.keyed(move |balance: &i64| answer(&receipt(*balance)))
    });
    match services.wallet.pay_order(seats.clone(), fan.token, keyed).await {
        Ok(balance) => {
            finish_order(services, fan, &holds, &seats).await;
            Ok(receipt(balance))
        }
        // As for one payment: whether the record is stored is for the next engine to read.
        Err(unknown) if services.log.failure().is_some() => Err(unknown),
        Err(refused) => {
            abort_all(services, &holds).await;
            Err(refused)
        }
    }
}

/// A receipt of the order of `seats`, given the balance after it.
fn order_receipt(seats: &[Payment]) -> impl Fn(i64) -> OrderReceipt + Clone + Send + 'static {
    let seats = seats.to_vec();
    move |balance| OrderReceipt {
        payment_id: seats[0].payment_id,
        reservation_ids: seats.iter().map(|seat| seat.reservation_id).collect(),
        amount: seats.iter().map(|seat| seat.amount).sum(),
        balance,
        paid_at: seats[0].paid_at,
        seats: seats.clone(),
    }
}

/// Marks every hold as being paid, at once. If any is refused, every one marked (and any whose
/// answer was lost) is unmarked, and the first refusal in the order's order is the answer.
async fn begin_all(
    services: &Services,
    user: UserId,
    holds: &[(DateHandle, ReservationId)],
) -> Result<Vec<crate::domain::seat_map::Reservation>> {
    let begun = join_all(
        holds
            .iter()
            .map(|(date, reservation)| date.begin_payment(*reservation, user)),
    )
    .await;
    if begun.iter().all(Result::is_ok) {
        return Ok(begun.into_iter().map(|held| held.expect("all began")).collect());
    }
    let marked: Vec<(DateHandle, ReservationId)> = (holds.iter().zip(&begun))
        .filter(|(_, begun)| {
            begun
                .as_ref()
                .map_or_else(|error| error.code == ErrorCode::Unavailable, |_| true)
        })
        .map(|(hold, _)| hold.clone())
        .collect();
    abort_all(services, &marked).await;
    let refusal = begun.into_iter().find_map(Result::err).expect("one was refused");
    Err(refusal)
}

/// Unmarks every hold, each asked again until its date's owner answers.
async fn abort_all(services: &Services, holds: &[(DateHandle, ReservationId)]) {
    let over = services.term_over();
    let aborts = holds
        .iter()
        .map(|(date, reservation)| insist(&over, move || date.abort_payment(*reservation)));
    join_all(aborts).await;
}

/// After the order's record: every seat SOLD and the token ended once, all at once.
async fn finish_order(services: &Services, fan: Fan, holds: &[(DateHandle, ReservationId)], seats: &[Payment]) {
    let over = services.term_over();
    let sold = (holds.iter().zip(seats)).map(|((date, reservation), seat)| {
        let payment = seat.payment_id;
        insist(&over, move || date.complete_payment(*reservation, payment))
    });
    let end_token = async {
        services
            .room_of(&fan.token)?
            .end_after_payment(fan.token, fan.user)
            .await
    };
    let (_, ended) = tokio::join!(join_all(sold), end_token);
    if let Err(error) = ended {
        tracing::error!(payment = %seats[0].payment_id, %error, "a committed order could not end its token");
    }
}
