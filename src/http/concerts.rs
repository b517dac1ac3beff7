//! `/concerts`: the catalog, the dates with seats left, and the seat map of a date.

use super::auth::{require_active, require_room_of};
use super::openapi::answers::{BusyErrors, ConcertNotFound, DateNotFound, FanErrors, ParameterErrors, WrongSale};
use super::params::{self, ConcertDate};
use super::{resource, AppState};
use crate::actors::queue::Fan;
use crate::domain::concert::DateKey;
use crate::domain::seat_map;
use crate::domain::ConcertId;
use crate::error::{Error, Result};
use crate::services::catalog;
use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/concerts/{concertId}/dates/{date}/seats").get(seat_map))
        .service(resource("/concerts").get(list))
        .service(resource("/concerts/{concertId}/dates").get(available_dates));
}

/// `/concerts/{concertId}` as the path spells it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConcertPath {
    concert_id: String,
}

impl TryFrom<ConcertPath> for ConcertId {
    type Error = Error;

    fn try_from(path: ConcertPath) -> Result<Self> {
        params::id(&path.concert_id, "concertId")
    }
}

/// `/concerts/{concertId}/dates/{date}` as the path spells it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatePath {
    concert_id: String,
    date: String,
}

impl TryFrom<DatePath> for DateKey {
    type Error = Error;

    fn try_from(path: DatePath) -> Result<Self> {
        let concert = params::id(&path.concert_id, "concertId")?;
        let date: ConcertDate = path.date.parse()?;
        Ok((concert, date.get()))
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertSummary {
    #[schema(value_type = uuid::Uuid)]
    pub concert_id: ConcertId,
    pub title: String,
    pub date_count: usize,
}

impl From<catalog::ConcertSummary> for ConcertSummary {
    fn from(summary: catalog::ConcertSummary) -> Self {
        Self {
            concert_id: summary.concert_id,
            title: summary.title,
            date_count: summary.date_count,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DateSummary {
    pub date: NaiveDate,
    pub total_seats: u64,
    pub available_seats: u64,
}

impl From<&catalog::DateSummary> for DateSummary {
    fn from(summary: &catalog::DateSummary) -> Self {
        Self {
            date: summary.date,
            total_seats: summary.total_seats,
            available_seats: summary.available_seats,
        }
    }
}

/// The seat map of a date as the API returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapView {
    #[schema(value_type = uuid::Uuid)]
    pub concert_id: ConcertId,
    pub date: NaiveDate,
    pub available_seats: u64,
    pub seats: Vec<SeatView>,
}

/// One seat as the seat map shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatView {
    pub seat_number: u32,
    pub status: SeatStatus,
    pub price: i64,
}

impl From<&seat_map::SeatView> for SeatView {
    fn from(seat: &seat_map::SeatView) -> Self {
        Self {
            seat_number: seat.seat_number,
            status: seat.status.into(),
            price: seat.price,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

impl From<seat_map::SeatStatus> for SeatStatus {
    fn from(status: seat_map::SeatStatus) -> Self {
        match status {
            seat_map::SeatStatus::Available => Self::Available,
            seat_map::SeatStatus::Held => Self::Held,
            seat_map::SeatStatus::Sold => Self::Sold,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/concerts", tag = "concerts", responses((status = 200, body = [ConcertSummary])))]
pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    let concerts = state.services.catalog.list().into_iter().map(ConcertSummary::from);
    HttpResponse::Ok().json(concerts.collect::<Vec<_>>())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct DatesQuery {
    /// `true` lists the sold-out dates too (with `availableSeats` 0), for a fan who would join a
    /// date's waiting list; by default only dates with an AVAILABLE seat.
    #[param(nullable = false)]
    pub sold_out: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/concerts/{concertId}/dates", tag = "concerts",
    params(("concertId" = uuid::Uuid, Path), DatesQuery),
    responses((status = 200, description = "Dates with at least one AVAILABLE seat (every date with soldOut=true), ascending", body = [DateSummary]),
        ParameterErrors, ConcertNotFound, BusyErrors))]
pub async fn available_dates(
    state: web::Data<AppState>,
    path: web::Path<ConcertPath>,
    query: web::Query<DatesQuery>,
) -> Result<HttpResponse> {
    let concert = ConcertId::try_from(path.into_inner())?;
    let dates = state.services.catalog.date_summaries(concert).await?;
    let with_sold_out = query.sold_out.unwrap_or(false);
    let shown = dates.iter().filter(|date| with_sold_out || date.available_seats > 0);
    Ok(HttpResponse::Ok().json(shown.map(DateSummary::from).collect::<Vec<_>>()))
}

#[utoipa::path(get, path = "/api/v1/concerts/{concertId}/dates/{date}/seats", tag = "concerts", security(("queueToken" = [])),
    params(("concertId" = uuid::Uuid, Path), ("date" = ConcertDate, Path)),
    responses((status = 200, description = "Every seat, by seat number; a lapsed hold shows AVAILABLE at once", body = SeatMapView),
        FanErrors, ParameterErrors, WrongSale, DateNotFound, BusyErrors))]
pub async fn seat_map(state: web::Data<AppState>, fan: Fan, path: web::Path<DatePath>) -> Result<HttpResponse> {
    let (concert, date) = DateKey::try_from(path.into_inner())?;
    require_room_of(&state, &fan, concert)?;
    require_active(&state, &fan).await?;
    let handle = state.services.catalog.date(concert, date)?;
    let body = state.seat_maps.json((concert, date), &handle).await?;
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}
