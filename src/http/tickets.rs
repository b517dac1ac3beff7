//! `/tickets/{ticketCode}`: a paid seat's ticket, shown to whoever holds its code, with no token,
//! for as long as the ticket exists (the payment's token is long dead by then).

use super::openapi::answers::{BusyErrors, ParameterErrors, TicketNotFound};
use super::openapi::fields::TicketCodePath;
use super::{resource, AppState};
use crate::domain::{ConcertId, PaymentId, TicketCode};
use crate::error::{Error, ErrorCode, Result};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(resource("/tickets/{ticketCode}").get(read));
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
}

#[utoipa::path(get, path = "/api/v1/tickets/{ticketCode}", tag = "payments",
    params(TicketCodePath),
    responses((status = 200, body = Ticket), ParameterErrors, TicketNotFound, BusyErrors))]
pub async fn read(state: web::Data<AppState>, path: web::Path<TicketCodePath>) -> Result<HttpResponse> {
    let code = TicketCode::from_client(&path.ticket_code).ok_or_else(|| {
        Error::invalid_request("ticketCode must be the 22 characters of URL-safe base64 a payment gave.")
    })?;
    let payment = state.services.wallet.ticket(code).await?.ok_or_else(not_found)?;
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
    }))
}

fn not_found() -> Error {
    Error::new(ErrorCode::TicketNotFound, "No ticket has this code.")
}
