//! `/healthz` and `/metrics`: request counts and latencies per route, and the live queue, seat
//! and money figures, in the Prometheus text format. The figures are gathered from the actors
//! once a second by one task, so any number of scrapers costs the actors nothing.

use super::admin::gather_stats;
use super::auth::Admin;
use super::openapi::answers::AdminErrors;
use super::AppState;
use crate::error::{Error, Result};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use parking_lot::RwLock;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// Live figures, refreshed from the actors once a second.
#[derive(Default)]
struct Figures {
    queue_waiting: Gauge,
    queue_active: Gauge,
    seats_held: Gauge,
    seats_sold: Gauge,
    revenue_won: Gauge,
    balances_won: Gauge,
    users: Gauge,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    figures: Figures,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("concert");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            latency.clone(),
        );
        let figures = Figures::default();
        registry.register("queue_waiting", "Tokens waiting", figures.queue_waiting.clone());
        registry.register("queue_active", "Tokens active", figures.queue_active.clone());
        registry.register("seats_held", "Seats held now", figures.seats_held.clone());
        registry.register("seats_sold", "Seats sold", figures.seats_sold.clone());
        registry.register("revenue_won", "Money paid for seats", figures.revenue_won.clone());
        registry.register("balances_won", "Money in wallets", figures.balances_won.clone());
        registry.register("users", "Registered users", figures.users.clone());
        Self {
            registry,
            requests,
            latency,
            figures,
        }
    }
}

/// A resource's share of the metrics: its route pattern, found once, and the counter and
/// histogram of each of its methods and statuses, taken from the families once each. A request
/// then costs neither a second walk of the routes (to name its pattern) nor label allocations.
#[derive(Default)]
pub struct RouteMetrics {
    pattern: OnceLock<String>,
    counters: RwLock<Vec<((&'static str, u16), Counter)>>,
    latencies: RwLock<Vec<(&'static str, Histogram)>>,
}

impl RouteMetrics {
    fn count(&self, method: &'static str, status: u16, make: impl FnOnce() -> Counter) {
        cached(&self.counters, (method, status), make, |counter| {
            counter.inc();
        });
    }

    fn time(&self, method: &'static str, elapsed: Duration, make: impl FnOnce() -> Histogram) {
        cached(&self.latencies, method, make, |histogram| {
            histogram.observe(elapsed.as_secs_f64())
        });
    }
}

/// Uses the handle kept under `key`, made and kept first if there is none. A handle found is
/// used under the read lock: no reference count moves on the path every request takes.
fn cached<K: PartialEq, M: Clone>(kept: &RwLock<Vec<(K, M)>>, key: K, make: impl FnOnce() -> M, use_it: impl Fn(&M)) {
    if let Some((_, handle)) = kept.read().iter().find(|(k, _)| *k == key) {
        return use_it(handle);
    }
    let handle = make();
    use_it(&handle);
    kept.write().push((key, handle));
}

/// The method as a label: one of the standard ones, or OTHER, so that a client inventing
/// methods cannot grow the metrics without bound.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
        Method::TRACE,
        Method::CONNECT,
    ];
    let standard = STANDARD.iter().find(|standard| *standard == method);
    standard.map_or("OTHER", Method::as_str)
}

impl Metrics {
    /// Counts an answered request and its latency by route pattern (never the raw path or
    /// query, which may carry a token). A resource declared with [`super::resource`] carries
    /// its [`RouteMetrics`]; any other request names its pattern each time.
    pub fn count(&self, request: &HttpRequest, status: StatusCode, elapsed: Duration) {
        let method = method_label(request.method());
        let status = status.as_u16();
        let found_once = request.app_data::<Arc<RouteMetrics>>();
        let pattern = match found_once {
            Some(route) => route.pattern.get_or_init(|| pattern_of(request)).as_str().into(),
            None => std::borrow::Cow::Owned(pattern_of(request)),
        };
        tracing::debug!(%method, route = %pattern, status, elapsed_us = elapsed.as_micros() as u64, "answered");
        let labels = || RouteLabels {
            method: method.to_string(),
            route: pattern.to_string(),
        };
        let counter = || {
            let RouteLabels { method, route } = labels();
            self.requests
                .get_or_create(&RequestLabels { method, route, status })
                .clone()
        };
        let histogram = || self.latency.get_or_create(&labels()).clone();
        match found_once {
            Some(route) => {
                route.count(method, status, counter);
                route.time(method, elapsed, histogram);
            }
            None => {
                counter().inc();
                histogram().observe(elapsed.as_secs_f64());
            }
        }
    }
}

fn pattern_of(request: &HttpRequest) -> String {
    request.match_pattern().unwrap_or_else(|| "unmatched".to_string())
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses(
    (status = 200, description = "The journal can write", body = serde_json::Value, example = json!({"status": "ok"})),
    (status = 503, description = "The journal cannot write: nothing is acknowledged until the server is restarted", body = serde_json::Value,
        example = json!({"status": "failing", "reason": "the journal could not write or sync segment 7: No space left on device (os error 28)"})),
))]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.services.log.failure() {
        // The answer every probe gets, made once.
        None => HttpResponse::Ok()
            .content_type(actix_web::http::header::ContentType::json())
            .body(r#"{"status":"ok"}"#),
        // Only a restart brings the disk and memory back in step: this tells a supervisor to.
        Some(reason) => {
            HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "failing", "reason": reason }))
        }
    }
}

/// How often the live figures are gathered from the actors; a scrape reads what is there.
pub const FIGURES_INTERVAL: Duration = Duration::from_secs(1);

/// Gathers the live figures from the actors, once a second, for as long as the server runs.
pub async fn refresh_figures_periodically(state: web::Data<AppState>) {
    let mut interval = actix_web::rt::time::interval(FIGURES_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(error) = refresh_figures(&state).await {
            tracing::debug!(%error, "the figures were not refreshed this second");
        }
    }
}

async fn refresh_figures(state: &AppState) -> Result<()> {
    let queue = state.services.queue.stats().await?;
    let stats = gather_stats(state).await?;
    let figures = &state.metrics.figures;
    figures.queue_waiting.set(queue.waiting as i64);
    figures.queue_active.set(queue.active as i64);
    figures.seats_held.set(stats.seats_held as i64);
    figures.seats_sold.set(stats.seats_sold as i64);
    figures.revenue_won.set(stats.revenue_total);
    figures.balances_won.set(stats.balances_total);
    figures.users.set(stats.users as i64);
    Ok(())
}

#[utoipa::path(get, path = "/metrics", tag = "operations", security(("adminKey" = [])),
    responses((status = 200, description = "The OpenMetrics text format; figures at most a second old", body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"), AdminErrors))]
pub async fn prometheus(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse> {
    exposition(&state)
}

/// `/metrics` on `--metrics-addr`, a listener the operator keeps private: no key needed.
pub async fn prometheus_unguarded(state: web::Data<AppState>) -> Result<HttpResponse> {
    exposition(&state)
}

fn exposition(state: &AppState) -> Result<HttpResponse> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &state.metrics.registry).map_err(Error::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}
