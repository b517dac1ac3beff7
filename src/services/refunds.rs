//! Cancelling a ticket: the refund its sale's policy gives goes back to the buyer's wallet (the
//! commit point), then the seat goes back on sale. All or nothing, and once: a retry, or the
//! start after a crash between the two, finishes what the wallet recorded and refunds nothing
//! twice.

use super::dates::insist;
use super::Services;
use crate::actors::wallet::TicketRecord;
use crate::domain::concert::DateKey;
use crate::domain::refund::RefundPolicy;
use crate::domain::{ConcertId, ReservationId, TicketCode};
use crate::error::{Error, ErrorCode, Result};
use std::sync::Arc;

/// What a cancellation gave back and kept, and the buyer's balance after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundReceipt {
    pub refund: i64,
    pub fee: i64,
    pub balance: i64,
}

/// Cancels the ticket that has `code`, one cancellation or payment of its buyer at a time.
pub async fn cancel_ticket(services: &Arc<Services>, code: TicketCode) -> Result<RefundReceipt> {
    let record = services.wallet.ticket(code).await?.ok_or_else(ticket_not_found)?;
    let buyer = record.payment.user_id;
    services.payment_locks.run(&buyer, cancel(services, code)).await
}

async fn cancel(services: &Services, code: TicketCode) -> Result<RefundReceipt> {
    // Read again under the lock: a cancellation ahead of this one may have refunded it.
    let TicketRecord { payment, refunded } = services.wallet.ticket(code).await?.ok_or_else(ticket_not_found)?;
    let refund = match refunded {
        Some(refund) => refund,
        None => {
            let policy = refund_policy(services, payment.concert_id).await?;
            policy
                .refund(payment.amount, payment.date, services.clock.now())?
                .refund
        }
    };
    let balance = services
        .wallet
        .refund(payment.user_id, payment.payment_id, refund)
        .await?;
    free_seat(
        services,
        (payment.concert_id, payment.date),
        payment.reservation_id,
        refund,
    )
    .await;
    Ok(RefundReceipt {
        refund,
        fee: payment.amount - refund,
        balance,
    })
}

/// The refund policy of the concert's sale; none (so no refund) without a sale.
async fn refund_policy(services: &Services, concert: ConcertId) -> Result<RefundPolicy> {
    match services.sales.of_concert(concert) {
        Some(sale) => Ok(sale.room.sale().await?.gate.schedule.refund_policy),
        None => Ok(RefundPolicy::default()),
    }
}

/// After the wallet's refund the cancellation has happened: the seat is freed, asked again
/// until its date answers.
async fn free_seat(services: &Services, key: DateKey, reservation: ReservationId, refund: i64) {
    let Ok(date) = services.catalog.date(key.0, key.1) else {
        unreachable!("a sold seat's date exists");
    };
    insist(&services.term_over(), || date.cancel_ticket(reservation, refund)).await;
}

/// Frees the seats of tickets the wallet refunded before a crash cut their cancellation short.
pub async fn finish_cut_short(services: Arc<Services>, refunded: Vec<(DateKey, ReservationId, i64)>) {
    for (key, reservation, refund) in refunded {
        free_seat(&services, key, reservation, refund).await;
    }
}

fn ticket_not_found() -> Error {
    Error::new(ErrorCode::TicketNotFound, "No ticket has this code.")
}
