//! `/concerts`: the catalog, the dates with seats left, and the seat map of a date.

use super::auth::require_active;
use super::openapi::answers::{ActiveErrors, BusyErrors, ConcertNotFound, DateNotFound, FanErrors, ParameterErrors};
use super::openapi::fields::ConcertDate;
use super::users::parse_uuid;
use super::{resource, AppState};
use crate::actors::concert_date::SeatMapView;
use crate::actors::queue::Fan;
use crate::domain::ConcertId;
use crate::error::{Error, Result};
use crate::services::catalog::{ConcertSummary, DateSummary};
use actix_web::{web, HttpResponse};
use chrono::NaiveDate;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/concerts").get(list))
        .service(resource("/concerts/{concertId}/dates").get(available_dates))
        .service(resource("/concerts/{concertId}/dates/{date}/seats").get(seat_map));
}

/// The dates a concert may have: a year 0 or 9999 is a typing slip, not a show.
const DATES: std::ops::RangeInclusive<NaiveDate> = {
    let (Some(first), Some(last)) = (
        NaiveDate::from_ymd_opt(2000, 1, 1),
        NaiveDate::from_ymd_opt(2099, 12, 31),
    ) else {
        panic!("the date bounds are real dates");
    };
    first..=last
};

/// A concert date as `YYYY-MM-DD` in 2000..=2099; anything else is 400 INVALID_REQUEST.
pub fn parse_date(text: &str) -> Result<NaiveDate> {
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shaped
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .filter(|date| DATES.contains(date))
        .ok_or_else(|| {
            Error::invalid_request(format!(
                "{text:?} is not a date written YYYY-MM-DD from 2000-01-01 to 2099-12-31."
            ))
        })
}

#[utoipa::path(get, path = "/api/v1/concerts", tag = "concerts", responses((status = 200, body = [ConcertSummary])))]
pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.services.catalog.list())
}

#[utoipa::path(get, path = "/api/v1/concerts/{concertId}/dates", tag = "concerts",
    params(("concertId" = uuid::Uuid, Path)),
    responses((status = 200, description = "Dates with at least one AVAILABLE seat, ascending", body = [DateSummary]),
        ParameterErrors, ConcertNotFound, BusyErrors))]
pub async fn available_dates(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse> {
    let concert = ConcertId(parse_uuid(&path, "concertId")?);
    let mut dates = state.services.catalog.date_summaries(concert).await?;
    dates.retain(|date| date.available_seats > 0);
    Ok(HttpResponse::Ok().json(dates))
}

#[utoipa::path(get, path = "/api/v1/concerts/{concertId}/dates/{date}/seats", tag = "concerts", security(("queueToken" = [])),
    params(("concertId" = uuid::Uuid, Path), ("date" = ConcertDate, Path)),
    responses((status = 200, description = "Every seat, by seat number; a lapsed hold shows AVAILABLE at once", body = SeatMapView),
        FanErrors, ParameterErrors, ActiveErrors, DateNotFound, BusyErrors))]
pub async fn seat_map(state: web::Data<AppState>, fan: Fan, path: web::Path<(String, String)>) -> Result<HttpResponse> {
    let (concert, date) = path.into_inner();
    let concert = ConcertId(parse_uuid(&concert, "concertId")?);
    let date = parse_date(&date)?;
    require_active(&state, &fan).await?;
    let handle = state.services.catalog.date(concert, date)?;
    let body = handle.seat_map_json().await?;
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}
