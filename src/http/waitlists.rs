//! A sold-out date's waiting list: a fan joins with an ACTIVE token, and follows and pays the
//! seat offered with the entry's code alone, as a ticket is read with its code.

use super::auth::{require_active, require_room_of};
use super::concerts::DatePath;
use super::openapi::answers::{
    BusyErrors, EntryNotFound, FanErrors, KeyedErrors, OfferPaymentErrors, ParameterErrors, WaitlistJoinErrors,
    WrongSale,
};
use super::openapi::fields::IdempotencyKeyHeader;
use super::payments::PaymentReceipt;
use super::{at_most_once_per_key, json_answer, resource, AppState};
use crate::actors::queue::Fan;
use crate::domain::concert::DateKey;
use crate::domain::idempotency::{Answer, Endpoint};
use crate::domain::waitlist::{EntryCode, EntryState};
use crate::error::{Error, Result};
use crate::services::{payments, waitlists};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/concerts/{concertId}/dates/{date}/waitlist").post(join))
        .service(resource("/waitlist/{entryCode}").get(read))
        .service(resource("/waitlist/{entryCode}/payment").post(pay));
}

/// A place on the waiting list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Joined {
    /// The entry's capability: whoever holds it follows the entry and pays its offer.
    #[schema(value_type = String, example = "q0Zb3yVn2kQ8mT1xWc5pLA")]
    pub entry_code: EntryCode,
    /// 1-based among the fans still waiting.
    pub position: u64,
}

#[utoipa::path(post, path = "/api/v1/concerts/{concertId}/dates/{date}/waitlist", tag = "sales", security(("queueToken" = [])),
    params(("concertId" = uuid::Uuid, Path), ("date" = super::params::ConcertDate, Path)),
    responses((status = 201, body = Joined), FanErrors, ParameterErrors, WrongSale, WaitlistJoinErrors, BusyErrors))]
pub async fn join(state: web::Data<AppState>, fan: Fan, path: web::Path<DatePath>) -> Result<HttpResponse> {
    let (concert, date) = DateKey::try_from(path.into_inner())?;
    require_room_of(&state, &fan, concert)?;
    require_active(&state, &fan).await?;
    let handle = state.services.catalog.date(concert, date)?;
    let (entry_code, position) = handle.join_waitlist(fan.user).await?;
    Ok(HttpResponse::Created().json(Joined { entry_code, position }))
}

/// `/waitlist/{entryCode}` as the path spells it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EntryPath {
    /// The code joining gave: 22 characters of URL-safe base64.
    #[param(
        rename = "entryCode",
        min_length = 22,
        max_length = 22,
        pattern = "^[A-Za-z0-9_-]{21}[AQgw]$"
    )]
    #[serde(rename = "entryCode")]
    entry_code: String,
}

fn code_of(path: &EntryPath) -> Result<EntryCode> {
    EntryCode::from_client(&path.entry_code)
        .ok_or_else(|| Error::invalid_request("entryCode must be the 22 characters of URL-safe base64 joining gave."))
}

/// The seat offered to an entry, held in its fan's name until `heldUntil`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    #[schema(value_type = uuid::Uuid)]
    pub reservation_id: crate::domain::ReservationId,
    pub seat_number: u32,
    pub price: i64,
    pub held_until: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntryStatus {
    /// In line for a seat that comes back.
    Waiting,
    /// A seat is held for the fan: pay it before `heldUntil`.
    Offered,
    /// The offer was paid.
    Bought,
    /// The offer lapsed (or was given back) and went to the next fan.
    Lapsed,
}

/// An entry as its code shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitlistEntry {
    /// 1-based among the fans still waiting; 0 once offered or done.
    pub position: u64,
    pub status: EntryStatus,
    pub offer: Option<Offer>,
}

#[utoipa::path(get, path = "/api/v1/waitlist/{entryCode}", tag = "sales", params(EntryPath),
    responses((status = 200, body = WaitlistEntry), ParameterErrors, EntryNotFound, BusyErrors))]
pub async fn read(state: web::Data<AppState>, path: web::Path<EntryPath>) -> Result<HttpResponse> {
    let code = code_of(&path)?;
    let date = state.services.catalog.date_of_entry(code)?;
    let entry = date
        .waitlist_entry(code)
        .await?
        .ok_or_else(waitlists::entry_not_found)?;
    let status = match entry.state {
        EntryState::Waiting => EntryStatus::Waiting,
        EntryState::Offered(_) => EntryStatus::Offered,
        EntryState::Bought(_) => EntryStatus::Bought,
        EntryState::Lapsed(_) => EntryStatus::Lapsed,
    };
    let offer = entry.offer.map(|held| Offer {
        reservation_id: held.reservation_id,
        seat_number: held.seat_number,
        price: held.price,
        held_until: held.held_until,
    });
    Ok(HttpResponse::Ok().json(WaitlistEntry {
        position: entry.position,
        status,
        offer,
    }))
}

/// Pays the entry's offer from its fan's wallet, exactly as `POST /payments` pays a hold, but
/// with the entry's code instead of a token (and ending none).
#[utoipa::path(post, path = "/api/v1/waitlist/{entryCode}/payment", tag = "sales", params(EntryPath, IdempotencyKeyHeader),
    responses((status = 201, body = PaymentReceipt), ParameterErrors, EntryNotFound, OfferPaymentErrors, KeyedErrors, BusyErrors))]
pub async fn pay(state: web::Data<AppState>, request: HttpRequest, path: web::Path<EntryPath>) -> Result<HttpResponse> {
    let code = code_of(&path)?;
    let date = state.services.catalog.date_of_entry(code)?;
    let entry = date
        .waitlist_entry(code)
        .await?
        .ok_or_else(waitlists::entry_not_found)?;
    let services = state.services.clone();
    // The code is the request: a key reused for another entry is a key reused (422).
    let fingerprinted = format!("waitlist-payment:{code}");
    at_most_once_per_key(
        &state,
        &request,
        entry.user,
        Endpoint::OfferPayments,
        fingerprinted.as_bytes(),
        move |slot| async move {
            let keyed = slot.map(|slot| (slot, paid as payments::ReceiptAnswer));
            let receipt = payments::pay_offer(services, code, keyed).await?;
            paid(&receipt)
        },
    )
    .await
}

fn paid(receipt: &payments::PaymentReceipt) -> Answer {
    json_answer(StatusCode::CREATED, &PaymentReceipt::from(receipt))
}
