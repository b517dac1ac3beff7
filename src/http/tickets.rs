//! `/tickets/{ticketCode}`: a paid seat's ticket, shown to whoever holds its code, with no token,
//! for as long as the ticket exists (the payment's token is long dead by then); and its
//! cancellation, with the refund its sale's policy gives.

use super::openapi::answers::{BusyErrors, ParameterErrors, RefundErrors, TicketNotFound};
use super::openapi::fields::TicketCodePath;
use super::{resource, AppState};
use crate::actors::wallet::TicketRecord;
use crate::domain::{ConcertId, PaymentId, TicketCode};
use crate::error::{Error, ErrorCode, Result};
use crate::services::refunds;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(resource("/tickets/{ticketCode}").get(read).delete(cancel));
}

/// A ticket: the seat, its concert and date, and the payment that bought it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    #[schema(value_type = String)]
    pub ticket_code: TicketCode,
    #[schema(value_type = uuid::Uuid)]
    pub concert_id: ConcertId,
    pub title: String,
    pub date: NaiveDate,
    pub seat_number: u32,
    pub price: i64,
    #[schema(value_type = uuid::Uuid)]
    pub payment_id: PaymentId,
    pub paid_at: DateTime<Utc>,
    pub status: TicketStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketStatus {
    /// Paid, and good for the seat.
    Valid,
    /// Cancelled and refunded: the seat went back on sale.
    Cancelled,
}

/// What a cancellation gave back, kept as the fee, and the buyer's balance after.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Refunded {
    pub refund: i64,
    pub fee: i64,
    pub balance: i64,
}

#[utoipa::path(get, path = "/api/v1/tickets/{ticketCode}", tag = "payments",
    params(TicketCodePath),
    responses((status = 200, body = Ticket), ParameterErrors, TicketNotFound, BusyErrors))]
pub async fn read(state: web::Data<AppState>, path: web::Path<TicketCodePath>) -> Result<HttpResponse> {
    let code = parse_code(&path.ticket_code)?;
    let TicketRecord { payment, refunded } = state.services.wallet.ticket(code).await?.ok_or_else(not_found)?;
    let title = state.services.catalog.concert(payment.concert_id)?.title.clone();
    Ok(HttpResponse::Ok().json(Ticket {
        ticket_code: code,
        concert_id: payment.concert_id,
        title,
        date: payment.date,
        seat_number: payment.seat_number,
        price: payment.amount,
        payment_id: payment.payment_id,
        paid_at: payment.paid_at,
        status: match refunded {
            Some(_) => TicketStatus::Cancelled,
            None => TicketStatus::Valid,
        },
    }))
}

/// Cancels the ticket: the refund its sale's `refundPolicy` gives (the price less the fee for
/// the days left before the date) goes back to the buyer's wallet and the seat back on sale,
/// all or nothing. A repeat answers the same refund and changes nothing.
#[utoipa::path(delete, path = "/api/v1/tickets/{ticketCode}", tag = "payments",
    params(TicketCodePath),
    responses((status = 200, body = Refunded), ParameterErrors, TicketNotFound, RefundErrors, BusyErrors))]
pub async fn cancel(state: web::Data<AppState>, path: web::Path<TicketCodePath>) -> Result<HttpResponse> {
    let code = parse_code(&path.ticket_code)?;
    let receipt = refunds::cancel_ticket(&state.services, code).await?;
    Ok(HttpResponse::Ok().json(Refunded {
        refund: receipt.refund,
        fee: receipt.fee,
        balance: receipt.balance,
    }))
}

fn parse_code(text: &str) -> Result<TicketCode> {
    TicketCode::from_client(text).ok_or_else(|| {
        Error::invalid_request("ticketCode must be the 22 characters of URL-safe base64 a payment gave.")
    })
}

fn not_found() -> Error {
    Error::new(ErrorCode::TicketNotFound, "No ticket has this code.")
}
