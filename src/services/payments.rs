//! The payment saga across the date actor (the seat) and the wallet actor (the money).
//!
//! 1. The date actor marks the hold as being paid: it can no longer lapse or be cancelled.
//! 2. The wallet actor debits and records the payment: the commit point.
//! 3. On success the seat becomes SOLD and the fan's token ends; on failure the hold is put back
//!    exactly as it was.
//!
//! The saga runs as its own task, so a client that hangs up mid-payment cannot leave a hold
//! marked as being paid.

use crate::actors::queue::Fan;
use crate::domain::wallet::Payment;
use crate::domain::{PaymentId, ReservationId};
use crate::error::Result;
use crate::services::Services;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentReceipt {
    #[schema(value_type = uuid::Uuid)]
    pub payment_id: PaymentId,
    #[schema(value_type = uuid::Uuid)]
    pub reservation_id: ReservationId,
    pub amount: i64,
    /// The balance after the payment.
    pub balance: i64,
    pub paid_at: DateTime<Utc>,
}

/// Pays `reservation` with `fan`'s token, all or nothing. A user's payments run one at a time,
/// so a token that a payment ended cannot pay again.
pub async fn pay(services: Arc<Services>, fan: Fan, reservation: ReservationId) -> Result<PaymentReceipt> {
    let locks = &services.payment_locks;
    locks.run(&fan.user, pay_alone(&services, fan, reservation)).await
}

async fn pay_alone(services: &Services, fan: Fan, reservation: ReservationId) -> Result<PaymentReceipt> {
    // A payment ahead of this one may have ended the token.
    services.queue.authenticate(&fan.token)?;
    let user = fan.user;
    let date = services.catalog.date_of_reservation(reservation)?;
    let held = date.begin_payment(reservation, user).await?;
    let payment = Payment {
        payment_id: PaymentId::random(),
        reservation_id: reservation,
        user_id: user,
        concert_id: held.concert_id,
        date: held.date,
        seat_number: held.seat_number,
        amount: held.price,
        paid_at: services.clock.now(),
    };
    let receipt_base = (payment.payment_id, payment.amount, payment.paid_at);
    match services.wallet.pay(payment).await {
        Ok(balance) => {
            date.complete_payment(reservation, receipt_base.0).await?;
            services.queue.end_after_payment(fan.token, user).await?;
            let (payment_id, amount, paid_at) = receipt_base;
            Ok(PaymentReceipt {
                payment_id,
                reservation_id: reservation,
                amount,
                balance,
                paid_at,
            })
        }
        Err(refused) => {
            date.abort_payment(reservation).await?;
            Err(refused)
        }
    }
}
