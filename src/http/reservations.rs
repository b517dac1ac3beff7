//! `/reservations`: holding a seat, reading a hold back, and giving it up.

use super::auth::{require_active, require_room_of};
use super::openapi::answers::{
    BodyErrors, BusyErrors, CancelErrors, FanErrors, HoldErrors, KeyedErrors, ParameterErrors, ReservationNotFound,
    WrongSale,
};
use super::openapi::fields::IdempotencyKeyHeader;
use super::params::{self, ConcertDate};
use super::{at_most_once_per_key, json_answer, parse_json, resource, AppState, JsonBody};
use crate::actors::queue::Fan;
use crate::domain::concert::DateKey;
use crate::domain::idempotency::{Answer, Endpoint};
use crate::domain::seat_map;
use crate::domain::{ConcertId, ReservationId, UserId};
use crate::error::{Error, Result};
use crate::services::dates::KeyedHold;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/reservations").post(hold))
        .service(resource("/reservations/{reservationId}").get(read).delete(cancel));
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewReservation {
    #[schema(value_type = uuid::Uuid)]
    pub concert_id: ConcertId,
    #[schema(value_type = ConcertDate)]
    pub date: String,
    /// Any integer, however large; one the date lacks is 404 SEAT_NOT_FOUND.
    #[schema(schema_with = any_integer)]
    pub seat_number: Box<serde_json::value::RawValue>,
}

/// A seat asked for: its date and its number, which the date may lack.
struct SeatWanted {
    date: DateKey,
    seat_number: i64,
}

impl TryFrom<&NewReservation> for SeatWanted {
    type Error = Error;

    fn try_from(new: &NewReservation) -> Result<Self> {
        let date: ConcertDate = new.date.parse()?;
        Ok(Self {
            date: (new.concert_id, date.get()),
            seat_number: new.seat_number()?,
        })
    }
}

impl NewReservation {
    /// The seat number as written. Read from the raw text, since an integer too large for 64
    /// bits would otherwise arrive as a float; such a number is no seat of any date.
    fn seat_number(&self) -> Result<i64> {
        let text = self.seat_number.get().trim();
        let digits = text.strip_prefix('-').unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid_request("seatNumber must be an integer."));
        }
        let beyond = if text.starts_with('-') { i64::MIN } else { i64::MAX };
        Ok(text.parse().unwrap_or(beyond))
    }
}

/// `/reservations/{reservationId}` as the path spells it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationPath {
    reservation_id: String,
}

impl TryFrom<ReservationPath> for ReservationId {
    type Error = Error;

    fn try_from(path: ReservationPath) -> Result<Self> {
        params::id(&path.reservation_id, "reservationId")
    }
}

/// A reservation as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    #[schema(value_type = uuid::Uuid)]
    pub reservation_id: ReservationId,
    #[schema(value_type = uuid::Uuid)]
    pub user_id: UserId,
    #[schema(value_type = uuid::Uuid)]
    pub concert_id: ConcertId,
    pub date: NaiveDate,
    pub seat_number: u32,
    pub price: i64,
    pub status: ReservationStatus,
    pub held_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl From<&seat_map::Reservation> for Reservation {
    fn from(reservation: &seat_map::Reservation) -> Self {
        Self {
            reservation_id: reservation.reservation_id,
            user_id: reservation.user_id,
            concert_id: reservation.concert_id,
            date: reservation.date,
            seat_number: reservation.seat_number,
            price: reservation.price,
            status: reservation.status.into(),
            held_until: reservation.held_until,
            created_at: reservation.created_at,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    Held,
    Confirmed,
    Expired,
    Cancelled,
}

impl From<seat_map::ReservationStatus> for ReservationStatus {
    fn from(status: seat_map::ReservationStatus) -> Self {
        match status {
            seat_map::ReservationStatus::Held => Self::Held,
            seat_map::ReservationStatus::Confirmed => Self::Confirmed,
            seat_map::ReservationStatus::Expired => Self::Expired,
            seat_map::ReservationStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// Any integer: the seat number is read from the raw text, so no width bounds it.
fn any_integer() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Integer)
        .build()
}

/// Holds a seat for `hold_ttl`, or until the token ends if that is sooner.
#[utoipa::path(post, path = "/api/v1/reservations", tag = "reservations", security(("queueToken" = [])),
    request_body = NewReservation, params(IdempotencyKeyHeader),
    responses((status = 201, body = Reservation), FanErrors, BodyErrors, WrongSale, HoldErrors, KeyedErrors, BusyErrors))]
pub async fn hold(state: web::Data<AppState>, fan: Fan, request: HttpRequest, body: JsonBody) -> Result<HttpResponse> {
    let new: NewReservation = parse_json(&body)?;
    let wanted = SeatWanted::try_from(&new)?;
    require_room_of(&state, &fan, wanted.date.0)?;
    // A hold lives no longer than the token that made it.
    let token_ends = require_active(&state, &fan).await?;
    let services = state.services.clone();
    at_most_once_per_key(
        &state,
        &request,
        fan.user,
        Endpoint::Reservations,
        &body,
        move |slot| async move {
            let (concert, date) = wanted.date;
            let handle = services.catalog.date(concert, date)?;
            let keyed = slot.map(|slot| KeyedHold {
                named: ReservationId::from_uuid(slot.work_id()),
                answer: slot.keyed(held),
            });
            let reservation = handle.hold(fan.user, wanted.seat_number, token_ends, keyed).await?;
            held(&reservation)
        },
    )
    .await
}

fn held(reservation: &seat_map::Reservation) -> Answer {
    json_answer(StatusCode::CREATED, &Reservation::from(reservation))
}

#[utoipa::path(get, path = "/api/v1/reservations/{reservationId}", tag = "reservations", security(("queueToken" = [])),
    params(("reservationId" = uuid::Uuid, Path)),
    responses((status = 200, body = Reservation), FanErrors, ParameterErrors, ReservationNotFound, BusyErrors))]
pub async fn read(state: web::Data<AppState>, fan: Fan, path: web::Path<ReservationPath>) -> Result<HttpResponse> {
    let reservation = ReservationId::try_from(path.into_inner())?;
    let handle = state.services.catalog.date_of_reservation(reservation)?;
    let held = handle.reservation(reservation, fan.user).await?;
    Ok(HttpResponse::Ok().json(Reservation::from(&held)))
}

#[utoipa::path(delete, path = "/api/v1/reservations/{reservationId}", tag = "reservations", security(("queueToken" = [])),
    params(("reservationId" = uuid::Uuid, Path)),
    responses((status = 204, description = "The seat is AVAILABLE again"), FanErrors, ParameterErrors, CancelErrors, BusyErrors))]
pub async fn cancel(state: web::Data<AppState>, fan: Fan, path: web::Path<ReservationPath>) -> Result<HttpResponse> {
    let reservation = ReservationId::try_from(path.into_inner())?;
    let handle = state.services.catalog.date_of_reservation(reservation)?;
    handle.cancel(reservation, fan.user).await?;
    Ok(HttpResponse::NoContent().finish())
}
