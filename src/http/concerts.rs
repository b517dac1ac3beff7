//! `/concerts`: the catalog, the dates with seats left, and the seat map of a date.

use super::auth::require_active;
use super::openapi::answers::{ActiveErrors, BusyErrors, ConcertNotFound, DateNotFound, FanErrors, ParameterErrors};
use super::params::{self, ConcertDate};
use super::{resource, AppState};
use crate::actors::concert_date::SeatMapView;
use crate::actors::queue::Fan;
use crate::domain::concert::DateKey;
use crate::domain::ConcertId;
use crate::error::{Error, Result};
use crate::services::catalog::{ConcertSummary, DateSummary};
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/concerts").get(list))
        .service(resource("/concerts/{concertId}/dates").get(available_dates))
        .service(resource("/concerts/{concertId}/dates/{date}/seats").get(seat_map));
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

#[utoipa::path(get, path = "/api/v1/concerts", tag = "concerts", responses((status = 200, body = [ConcertSummary])))]
pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.services.catalog.list())
}

#[utoipa::path(get, path = "/api/v1/concerts/{concertId}/dates", tag = "concerts",
    params(("concertId" = uuid::Uuid, Path)),
    responses((status = 200, description = "Dates with at least one AVAILABLE seat, ascending", body = [DateSummary]),
        ParameterErrors, ConcertNotFound, BusyErrors))]
pub async fn available_dates(state: web::Data<AppState>, path: web::Path<ConcertPath>) -> Result<HttpResponse> {
    let concert = ConcertId::try_from(path.into_inner())?;
    let mut dates = state.services.catalog.date_summaries(concert).await?;
    dates.retain(|date| date.available_seats > 0);
    Ok(HttpResponse::Ok().json(dates))
}

#[utoipa::path(get, path = "/api/v1/concerts/{concertId}/dates/{date}/seats", tag = "concerts", security(("queueToken" = [])),
    params(("concertId" = uuid::Uuid, Path), ("date" = ConcertDate, Path)),
    responses((status = 200, description = "Every seat, by seat number; a lapsed hold shows AVAILABLE at once", body = SeatMapView),
        FanErrors, ParameterErrors, ActiveErrors, DateNotFound, BusyErrors))]
pub async fn seat_map(state: web::Data<AppState>, fan: Fan, path: web::Path<DatePath>) -> Result<HttpResponse> {
    let (concert, date) = DateKey::try_from(path.into_inner())?;
    require_active(&state, &fan).await?;
    let handle = state.services.catalog.date(concert, date)?;
    let body = handle.seat_map_json().await?;
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}
