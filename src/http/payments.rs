//! `/payments`: paying a hold, or an order of several, from the wallet, and the fan's payments.

use super::auth::{bearer_token, require_active};
use super::openapi::answers::{ActiveErrors, BodyErrors, BusyErrors, FanErrors, KeyedErrors, PaymentErrors};
use super::openapi::fields::IdempotencyKeyHeader;
use super::{
    at_most_once_per_key, idempotency_key, into_response, json_answer, params, parse_json, resource, AppState, JsonBody,
};
use crate::actors::queue::Fan;
use crate::domain::idempotency::{fingerprint, Answer, Endpoint, Scope};
use crate::domain::wallet;
use crate::domain::{ConcertId, PaymentId, ReservationId, TicketCode, UserId};
use crate::error::{Error, ErrorCode, Result};
use crate::services::payments;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(resource("/payments").post(pay).get(list));
}

/// One hold (`reservationId`), or an order of several (`reservationIds`): one of the two, never
/// both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum NewPayment {
    One(OneHold),
    Order(SeveralHolds),
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OneHold {
    #[schema(value_type = uuid::Uuid)]
    pub reservation_id: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeveralHolds {
    #[schema(schema_with = super::openapi::fields::reservation_ids)]
    pub reservation_ids: Vec<String>,
}

/// What a payment request pays.
enum Paying {
    One(ReservationId),
    Order(Vec<ReservationId>),
}

impl NewPayment {
    fn paying(self, hold_max: u32) -> Result<Paying> {
        match self {
            Self::One(one) => Ok(Paying::One(params::id(&one.reservation_id, "reservationId")?)),
            Self::Order(several) => order_of(&several.reservation_ids, hold_max).map(Paying::Order),
        }
    }
}

/// An order's holds: 1 to `hold_max` of them, each once.
fn order_of(ids: &[String], hold_max: u32) -> Result<Vec<ReservationId>> {
    if ids.is_empty() || ids.len() > hold_max as usize {
        let detail = format!("reservationIds names 1 to {hold_max} holds.");
        return Err(Error::invalid_request(detail));
    }
    let order: Vec<ReservationId> = ids
        .iter()
        .map(|id| params::id(id, "reservationIds"))
        .collect::<Result<_>>()?;
    let distinct: std::collections::HashSet<_> = order.iter().collect();
    if distinct.len() != order.len() {
        return Err(Error::invalid_request("reservationIds names each hold once."));
    }
    Ok(order)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
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
    /// The ticket's code: whoever holds it reads the ticket at `/api/v1/tickets/{ticketCode}`,
    /// with no token.
    #[schema(value_type = String, example = "q0Zb3yVn2kQ8mT1xWc5pLA")]
    pub ticket_code: TicketCode,
}

impl From<&payments::PaymentReceipt> for PaymentReceipt {
    fn from(receipt: &payments::PaymentReceipt) -> Self {
        Self {
            payment_id: receipt.payment_id,
            reservation_id: receipt.reservation_id,
            amount: receipt.amount,
            balance: receipt.balance,
            paid_at: receipt.paid_at,
            ticket_code: TicketCode::of(receipt.payment_id),
        }
    }
}

/// One seat of an order, with its ticket.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderTicket {
    #[schema(value_type = uuid::Uuid)]
    pub reservation_id: ReservationId,
    #[schema(value_type = String, example = "q0Zb3yVn2kQ8mT1xWc5pLA")]
    pub ticket_code: TicketCode,
    #[schema(value_type = uuid::Uuid)]
    pub concert_id: ConcertId,
    pub date: NaiveDate,
    pub seat_number: u32,
    pub price: i64,
}

/// An order of several seats, paid: one debit of their sum, a ticket each.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderReceipt {
    /// The order's payment (its first seat's), under which the debit is recorded.
    #[schema(value_type = uuid::Uuid)]
    pub payment_id: PaymentId,
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub reservation_ids: Vec<ReservationId>,
    /// The sum of the seats' prices.
    pub amount: i64,
    /// The balance after the order.
    pub balance: i64,
    pub paid_at: DateTime<Utc>,
    pub tickets: Vec<OrderTicket>,
}

impl From<&payments::OrderReceipt> for OrderReceipt {
    fn from(receipt: &payments::OrderReceipt) -> Self {
        let ticket = |seat: &wallet::Payment| OrderTicket {
            reservation_id: seat.reservation_id,
            ticket_code: TicketCode::of(seat.payment_id),
            concert_id: seat.concert_id,
            date: seat.date,
            seat_number: seat.seat_number,
            price: seat.amount,
        };
        Self {
            payment_id: receipt.payment_id,
            reservation_ids: receipt.reservation_ids.clone(),
            amount: receipt.amount,
            balance: receipt.balance,
            paid_at: receipt.paid_at,
            tickets: receipt.seats.iter().map(ticket).collect(),
        }
    }
}

/// What a payment answers: a receipt of one hold, or of an order of several.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PaymentAnswer {
    One(PaymentReceipt),
    Order(OrderReceipt),
}

/// A completed payment for one seat.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    #[schema(value_type = uuid::Uuid)]
    pub payment_id: PaymentId,
    #[schema(value_type = uuid::Uuid)]
    pub reservation_id: ReservationId,
    #[schema(value_type = uuid::Uuid)]
    pub user_id: UserId,
    #[schema(value_type = uuid::Uuid)]
    pub concert_id: ConcertId,
    pub date: NaiveDate,
    pub seat_number: u32,
    pub amount: i64,
    pub paid_at: DateTime<Utc>,
    /// The ticket's code, as the payment's answer gave it.
    #[schema(value_type = String)]
    pub ticket_code: TicketCode,
}

impl From<&wallet::Payment> for Payment {
    fn from(payment: &wallet::Payment) -> Self {
        Self {
            payment_id: payment.payment_id,
            reservation_id: payment.reservation_id,
            user_id: payment.user_id,
            concert_id: payment.concert_id,
            date: payment.date,
            seat_number: payment.seat_number,
            amount: payment.amount,
            paid_at: payment.paid_at,
            ticket_code: TicketCode::of(payment.payment_id),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/payments", tag = "payments", security(("queueToken" = [])),
    request_body = NewPayment, params(IdempotencyKeyHeader),
    responses((status = 201, description = "Paid: the seat (or every seat of the order, then an OrderReceipt) is SOLD to the payer and the token has ended", body = PaymentAnswer),
        FanErrors, BodyErrors, ActiveErrors, PaymentErrors, KeyedErrors, BusyErrors))]
pub async fn pay(state: web::Data<AppState>, request: HttpRequest, body: JsonBody) -> Result<HttpResponse> {
    let fan = match Fan::extract(&request).await {
        Ok(fan) => fan,
        Err(error) if error.code == ErrorCode::TokenInvalid => {
            return replay_after_payment(&state, &request, &body)
                .await
                .unwrap_or(Err(error))
        }
        Err(error) => return Err(error),
    };
    let new: NewPayment = parse_json(&body)?;
    let paying = new.paying(state.services.config.hold_max)?;
    require_active(&state, &fan).await?;
    let services = state.services.clone();
    at_most_once_per_key(
        &state,
        &request,
        fan.user,
        Endpoint::Payments,
        &body,
        move |slot| async move {
            match paying {
                Paying::One(reservation) => {
                    let keyed = slot.map(|slot| (slot, paid as payments::ReceiptAnswer));
                    paid(&payments::pay(services, fan, reservation, keyed).await?)
                }
                Paying::Order(reservations) => {
                    let keyed = slot.map(|slot| (slot, ordered as payments::OrderAnswer));
                    ordered(&payments::pay_order(services, fan, reservations, keyed).await?)
                }
            }
        },
    )
    .await
}

fn paid(receipt: &payments::PaymentReceipt) -> Answer {
    json_answer(StatusCode::CREATED, &PaymentAnswer::One(receipt.into()))
}

fn ordered(receipt: &payments::OrderReceipt) -> Answer {
    json_answer(StatusCode::CREATED, &PaymentAnswer::Order(receipt.into()))
}

/// A payment ends its token, so the client's retry arrives with a dead token: with the same
/// Idempotency-Key it still gets the first answer.
async fn replay_after_payment(state: &AppState, request: &HttpRequest, body: &[u8]) -> Option<Result<HttpResponse>> {
    let token = bearer_token(request).ok()?;
    let user = payments::payer_of(&state.services, &token)?;
    let key = idempotency_key(request).ok()??;
    let scope = Scope {
        user,
        endpoint: Endpoint::Payments,
        key,
    };
    let answer = state.services.idempotency.replay(&scope, &fingerprint(body)).await?;
    Some(into_response(answer))
}

#[utoipa::path(get, path = "/api/v1/payments", tag = "payments", security(("queueToken" = [])),
    responses((status = 200, description = "Newest first", body = [Payment]), FanErrors, BusyErrors))]
pub async fn list(state: web::Data<AppState>, fan: Fan) -> Result<HttpResponse> {
    let payments = state.services.wallet.payments(fan.user).await?;
    Ok(HttpResponse::Ok().json(payments.iter().map(Payment::from).collect::<Vec<_>>()))
}
