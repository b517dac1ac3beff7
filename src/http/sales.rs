//! A concert's own sale: the operator schedules it and changes its limits, anyone reads it
//! (its draw's commitment from the pre-queue's opening, its seed and the drawn entries after
//! the opening), and fans take its tokens (in `queue.rs`).

use super::auth::Admin;
use super::concerts::ConcertPath;
use super::openapi::answers::{AdminErrors, BodyErrors, BusyErrors, ParameterErrors, SaleChangeErrors, SaleNotFound};
use super::{parse_json, resource, AppState, JsonBody};
use crate::actors::queue::SaleState;
use crate::domain::ids::hex;
use crate::domain::refund::{RefundPolicy, RefundStep};
use crate::domain::sale::{SaleGate, SalePhase, SaleSchedule};
use crate::domain::ConcertId;
use crate::error::{Error, Result};
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/concerts/{concertId}/sale").get(read_sale))
        .service(resource("/concerts/{concertId}/sale/draw").get(read_draw))
        .service(resource("/concerts/{concertId}/queue/tokens").post(super::queue::issue_for_sale))
        .service(resource("/admin/concerts/{concertId}/sale").put(set_sale));
}

/// What an operator sets for a sale.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SaleSettings {
    /// When fans may join the pre-queue; no later than `opensAt`.
    pub prequeue_opens_at: DateTime<Utc>,
    /// When the pre-queue's order is drawn and admission begins.
    pub opens_at: DateTime<Utc>,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub active_max: u32,
    /// Admissions a minute, spread evenly; null for as fast as slots free.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub admissions_per_minute: Option<u32>,
    /// Steps from the most days before the date to the fewest; empty or absent for no refunds.
    #[serde(default)]
    #[schema(min_items = 0, max_items = 10)]
    pub refund_policy: Vec<RefundStep>,
}

impl SaleSettings {
    fn schedule(self) -> Result<SaleSchedule> {
        let schedule = SaleSchedule {
            prequeue_opens_at: self.prequeue_opens_at,
            opens_at: self.opens_at,
            active_max: self.active_max,
            admissions_per_minute: self.admissions_per_minute,
            refund_policy: RefundPolicy::new(self.refund_policy)?,
        };
        schedule.validate()?;
        Ok(schedule)
    }
}

/// Where a sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SaleStateName {
    Scheduled,
    Prequeue,
    Open,
}

/// A sale as anyone reads it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sale {
    #[schema(value_type = uuid::Uuid)]
    pub concert_id: ConcertId,
    pub prequeue_opens_at: DateTime<Utc>,
    pub opens_at: DateTime<Utc>,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub active_max: u32,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub admissions_per_minute: Option<u32>,
    pub refund_policy: Vec<RefundStep>,
    pub state: SaleStateName,
    /// Tokens in the pre-queue, until the draw.
    pub prequeued: u64,
    pub waiting: u64,
    pub active: u64,
    pub admitted_total: u64,
    /// SHA-256 (hex) of the draw's seed: published when the pre-queue opens, null before.
    pub draw_commitment: Option<String>,
    /// The draw's 32-byte seed (hex): published at the opening, null before.
    pub draw_seed: Option<String>,
}

impl Sale {
    fn of(concert_id: ConcertId, state: &SaleState, now: DateTime<Utc>) -> Self {
        let SaleState { gate, stats, .. } = state;
        let schedule = &gate.schedule;
        let phase = gate.phase(now);
        Self {
            concert_id,
            prequeue_opens_at: schedule.prequeue_opens_at,
            opens_at: schedule.opens_at,
            active_max: schedule.active_max,
            admissions_per_minute: schedule.admissions_per_minute,
            refund_policy: schedule.refund_policy.steps().to_vec(),
            state: match phase {
                SalePhase::Scheduled => SaleStateName::Scheduled,
                SalePhase::Prequeue => SaleStateName::Prequeue,
                SalePhase::Open => SaleStateName::Open,
            },
            prequeued: stats.prequeued,
            waiting: stats.waiting,
            active: stats.active,
            admitted_total: stats.admitted_total,
            draw_commitment: (phase != SalePhase::Scheduled).then(|| gate.seed.commitment()),
            draw_seed: published_seed(gate),
        }
    }
}

/// The seed, once the draw has used it: never before, or the order could be foreseen.
fn published_seed(gate: &SaleGate) -> Option<String> {
    gate.drawn.as_ref().map(|_| gate.seed.to_hex())
}

/// Sets a concert's sale: the first time it is made, with a fresh secret seed; after, its times
/// may move until the pre-queue opens, and its limits at any time (admitting waiters at once if
/// they grew).
#[utoipa::path(put, path = "/api/v1/admin/concerts/{concertId}/sale", tag = "sales", security(("adminKey" = [])),
    params(("concertId" = uuid::Uuid, Path)), request_body = SaleSettings,
    responses((status = 200, body = Sale), AdminErrors, BodyErrors, ParameterErrors, SaleChangeErrors, BusyErrors))]
pub async fn set_sale(
    state: web::Data<AppState>,
    _: Admin,
    path: web::Path<ConcertPath>,
    body: JsonBody,
) -> Result<HttpResponse> {
    let concert = ConcertId::try_from(path.into_inner())?;
    let settings: SaleSettings = parse_json(&body)?;
    state.services.catalog.concert(concert)?;
    let set = state.services.sales.set(concert, settings.schedule()?).await?;
    state.sale_reads.forget(concert);
    Ok(HttpResponse::Ok().json(Sale::of(concert, &set, state.services.clock.now())))
}

#[utoipa::path(get, path = "/api/v1/concerts/{concertId}/sale", tag = "sales",
    params(("concertId" = uuid::Uuid, Path)),
    responses((status = 200, body = Sale), ParameterErrors, SaleNotFound, BusyErrors))]
pub async fn read_sale(state: web::Data<AppState>, path: web::Path<ConcertPath>) -> Result<HttpResponse> {
    let concert = ConcertId::try_from(path.into_inner())?;
    let sale = state.services.sales.find(concert)?;
    let now = state.services.clock.now();
    let render = |read: &SaleState| json_bytes(&Sale::of(concert, read, now));
    let json = state.sale_reads.sale(concert, &sale.room, now, render).await?;
    Ok(HttpResponse::Ok().content_type("application/json").body(json))
}

fn json_bytes(value: &impl Serialize) -> Result<Bytes> {
    serde_json::to_vec(value).map(Bytes::from).map_err(Error::internal)
}

/// A sale's draw, for anyone to check: the seed against the commitment, and the order again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Draw {
    pub draw_commitment: String,
    pub draw_seed: String,
    /// One entry per drawn token, in issue order: the first 16 bytes (32 hex digits) of SHA-256
    /// of the token's secret, its last 48 hex digits read as 24 bytes. The order is ChaCha20
    /// seeded with the seed, and Fisher–Yates over these entries (see the README).
    pub entries: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/concerts/{concertId}/sale/draw", tag = "sales",
    params(("concertId" = uuid::Uuid, Path)),
    responses((status = 200, body = Draw),
        (status = 409, description = "SALE_NOT_OPEN: the draw is made at `opensAt`", body = super::problem::Problem, content_type = "application/problem+json"),
        ParameterErrors, SaleNotFound, BusyErrors))]
pub async fn read_draw(state: web::Data<AppState>, path: web::Path<ConcertPath>) -> Result<HttpResponse> {
    let concert = ConcertId::try_from(path.into_inner())?;
    let sale = state.services.sales.find(concert)?;
    // A hundred thousand drawn entries make megabytes: written out once, not for every read.
    let json = state.sale_reads.draw(concert, || draw_json(sale)).await?;
    Ok(HttpResponse::Ok().content_type("application/json").body(json))
}

async fn draw_json(sale: crate::services::sales::Sale) -> Result<Bytes> {
    let read = sale.room.sale().await?;
    let (Some(drawn), Some(seed)) = (&read.gate.drawn, published_seed(&read.gate)) else {
        return Err(Error::new(
            crate::error::ErrorCode::SaleNotOpen,
            "The draw is made when the sale opens.",
        ));
    };
    let draw = Draw {
        draw_commitment: read.gate.seed.commitment(),
        draw_seed: seed,
        entries: drawn.entries().iter().map(|entry| hex(entry)).collect(),
    };
    json_bytes(&draw)
}

/// The keys admissions are signed with, for any other service to verify them.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "sales",
    responses((status = 200, description = "A JSON Web Key Set (RFC 7517) of Ed25519 keys (`kty` OKP, `alg` EdDSA)",
        body = Object, content_type = "application/jwk-set+json")))]
pub async fn jwks() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .json(crate::services::admission::signer().jwks())
}
