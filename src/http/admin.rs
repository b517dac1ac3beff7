//! `/admin`: creating concerts, watching and widening the queue gate, and the money and seat
//! totals. Every route needs `X-Admin-Key`.

use super::auth::Admin;
use super::concerts::DateSummary;
use super::openapi::answers::{AdminErrors, BodyErrors, BusyErrors};
use super::openapi::fields;
use super::params::ConcertDate;
use super::{parse_json, resource, AppState, JsonBody};
use crate::config::Config;
use crate::domain::concert::NewDate;
use crate::domain::text::display_text;
use crate::domain::waiting_room;
use crate::domain::ConcertId;
use crate::error::{Error, Result};
use crate::services::catalog;
use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

pub const TITLE_CHARS_MAX: usize = 200;
pub(crate) const DATES_MAX: usize = 366;
pub(crate) const ACTIVE_MAX_LIMIT: u32 = 1_000_000;
/// A concert of 366 dates is about 20 KiB of JSON, more than the fans' default body limit; the
/// operator's request may be this large.
const CONCERT_BODY_LIMIT: usize = 256 * 1024;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(
            resource("/admin/concerts")
                .app_data(web::PayloadConfig::new(CONCERT_BODY_LIMIT))
                .post(create_concert)
                .get(concert_figures),
        )
        .service(resource("/admin/queue").get(queue).put(set_active_max))
        .service(resource("/admin/stats").get(stats));
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewConcertDate {
    /// Unique within the concert.
    #[schema(value_type = ConcertDate)]
    pub date: String,
    /// Up to the server's seats-per-date limit.
    #[schema(minimum = 1)]
    pub seat_count: u32,
    /// Won, for every seat of the date, up to the server's charge limit.
    #[schema(minimum = 0)]
    pub price: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewConcert {
    #[schema(schema_with = fields::title)]
    pub title: String,
    /// No date twice.
    #[schema(min_items = 1, max_items = 366)]
    pub dates: Vec<NewConcertDate>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedConcert {
    #[schema(value_type = uuid::Uuid)]
    pub concert_id: ConcertId,
    pub title: String,
    pub dates: Vec<DateSummary>,
}

/// A concert's dates as the operator sees them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertFigures {
    #[schema(value_type = uuid::Uuid)]
    pub concert_id: ConcertId,
    pub title: String,
    /// Ascending.
    pub dates: Vec<DateFigures>,
}

impl From<catalog::ConcertFigures> for ConcertFigures {
    fn from(figures: catalog::ConcertFigures) -> Self {
        Self {
            concert_id: figures.concert_id,
            title: figures.title,
            dates: figures.dates.iter().map(DateFigures::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DateFigures {
    pub date: NaiveDate,
    pub total_seats: u64,
    pub seats_held: u64,
    pub seats_sold: u64,
    /// The prices of the sold seats, in won.
    pub revenue: i64,
}

impl From<&catalog::DateFigures> for DateFigures {
    fn from(figures: &catalog::DateFigures) -> Self {
        Self {
            date: figures.date,
            total_seats: figures.total_seats,
            seats_held: figures.seats_held,
            seats_sold: figures.seats_sold,
            revenue: figures.revenue,
        }
    }
}

/// Counters for the operator.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub waiting: u64,
    pub active: u64,
    pub active_max: u32,
    pub admitted_total: u64,
    pub expired_total: u64,
}

impl From<waiting_room::QueueStats> for QueueStats {
    fn from(stats: waiting_room::QueueStats) -> Self {
        Self {
            waiting: stats.waiting,
            active: stats.active,
            active_max: stats.active_max,
            admitted_total: stats.admitted_total,
            expired_total: stats.expired_total,
        }
    }
}

/// A concert that passed every rule.
struct ValidConcert {
    title: String,
    dates: Vec<NewDate>,
}

impl ValidConcert {
    fn parse(new: NewConcert, config: &Config) -> Result<Self> {
        let title = display_text(&new.title, TITLE_CHARS_MAX, "title")?;
        if new.dates.is_empty() || new.dates.len() > DATES_MAX {
            return Err(Error::invalid_request("A concert has 1 to 366 dates."));
        }
        let dates: Vec<NewDate> = new
            .dates
            .iter()
            .map(|date| parse_new_date(date, config))
            .collect::<Result<_>>()?;
        let distinct: HashSet<_> = dates.iter().map(|d| d.date).collect();
        if distinct.len() != dates.len() {
            return Err(Error::invalid_request("Each date may appear once."));
        }
        Ok(Self { title, dates })
    }
}

fn parse_new_date(new: &NewConcertDate, config: &Config) -> Result<NewDate> {
    let date: ConcertDate = new.date.parse()?;
    if !(1..=config.seats_per_date_max).contains(&new.seat_count) {
        return Err(Error::invalid_request(format!(
            "seatCount must be from 1 to {}.",
            config.seats_per_date_max
        )));
    }
    if !(0..=config.charge_max).contains(&new.price) {
        return Err(Error::invalid_request(format!(
            "price must be from 0 to {} won.",
            config.charge_max
        )));
    }
    Ok(NewDate {
        date: date.get(),
        seat_count: new.seat_count,
        price: new.price,
    })
}

#[utoipa::path(post, path = "/api/v1/admin/concerts", tag = "admin", security(("adminKey" = [])), request_body = NewConcert,
    responses((status = 201, body = CreatedConcert), AdminErrors, BodyErrors, BusyErrors))]
pub async fn create_concert(state: web::Data<AppState>, _: Admin, body: JsonBody) -> Result<HttpResponse> {
    let valid = ValidConcert::parse(parse_json(&body)?, &state.services.config)?;
    let mut dates: Vec<DateSummary> = (valid.dates.iter())
        .map(|new| DateSummary::from(&catalog::DateSummary::untouched(new)))
        .collect();
    dates.sort_by_key(|d| d.date);
    let concert = state.services.catalog.create(valid.title, valid.dates).await?;
    let created = CreatedConcert {
        concert_id: concert.concert_id,
        title: concert.title.clone(),
        dates,
    };
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(get, path = "/api/v1/admin/concerts", tag = "admin", security(("adminKey" = [])),
    responses((status = 200, body = Vec<ConcertFigures>), AdminErrors, BusyErrors))]
pub async fn concert_figures(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse> {
    let figures = state.services.catalog.figures().await?;
    Ok(HttpResponse::Ok().json(figures.into_iter().map(ConcertFigures::from).collect::<Vec<_>>()))
}

#[utoipa::path(get, path = "/api/v1/admin/queue", tag = "admin", security(("adminKey" = [])),
    responses((status = 200, body = QueueStats), AdminErrors, BusyErrors))]
pub async fn queue(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(QueueStats::from(state.services.queue.stats().await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveMax {
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub active_max: u32,
}

#[utoipa::path(put, path = "/api/v1/admin/queue", tag = "admin", security(("adminKey" = [])), request_body = ActiveMax,
    responses((status = 200, description = "Takes effect at once, admitting waiting tokens if it grew", body = QueueStats),
        AdminErrors, BodyErrors, BusyErrors))]
pub async fn set_active_max(state: web::Data<AppState>, _: Admin, body: JsonBody) -> Result<HttpResponse> {
    let request: ActiveMax = parse_json(&body)?;
    if !(1..=ACTIVE_MAX_LIMIT).contains(&request.active_max) {
        return Err(Error::invalid_request("activeMax must be from 1 to 1,000,000."));
    }
    let stats = state.services.queue.set_active_max(request.active_max).await?;
    Ok(HttpResponse::Ok().json(QueueStats::from(stats)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub users: u64,
    pub seats_total: u64,
    pub seats_held: u64,
    pub seats_sold: u64,
    /// Payments made: a seat paid alone, or an order of several seats, counts one.
    pub orders_total: u64,
    /// Always balancesTotal + revenueTotal.
    pub charged_total: i64,
    pub balances_total: i64,
    pub revenue_total: i64,
}

/// The totals, gathered from every actor.
pub async fn gather_stats(state: &AppState) -> Result<Stats> {
    let seats = state.services.catalog.seat_totals().await?;
    let money = state.services.wallet.totals().await?;
    let orders = state.services.wallet.orders().await?;
    Ok(Stats {
        users: state.services.users.count(),
        seats_total: seats.total,
        seats_held: seats.held,
        seats_sold: seats.sold,
        orders_total: orders,
        charged_total: money.charged,
        balances_total: money.balances,
        revenue_total: money.revenue,
    })
}

#[utoipa::path(get, path = "/api/v1/admin/stats", tag = "admin", security(("adminKey" = [])),
    responses((status = 200, body = Stats), AdminErrors, BusyErrors))]
pub async fn stats(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(gather_stats(&state).await?))
}
