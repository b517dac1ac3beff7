//! The actix-web front end of the API contract: one file per resource, problem+json errors, a
//! per-user rate limit, metrics and the OpenAPI document.

pub mod admin;
pub mod auth;
pub mod client;
pub mod concerts;
pub mod connections;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod payments;
pub mod problem;
pub mod queue;
pub mod rate_limit;
pub mod reservations;
pub mod users;
pub mod wallet;

use crate::domain::idempotency::{fingerprint, Answer, Endpoint, IdempotencyKey, Scope, StoredResponse};
use crate::domain::UserId;
use crate::error::{Error, ErrorCode, Result};
use crate::services::idempotency::AnswerSlot;
use crate::services::Services;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use metrics::Metrics;
use rate_limit::{ClientRateLimiter, UserRateLimiter};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;

/// What every handler can reach.
pub struct AppState {
    pub services: Arc<Services>,
    pub limiter: UserRateLimiter,
    pub clients: ClientRateLimiter,
    /// Event streams open per token.
    pub streams: Arc<connections::Occupancy<crate::domain::Token>>,
    pub metrics: Metrics,
}

/// Registers every route of the API.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::scope("/api/v1")
                .configure(users::routes)
                .configure(queue::routes)
                .configure(concerts::routes)
                .configure(reservations::routes)
                .configure(wallet::routes)
                .configure(payments::routes)
                .configure(admin::routes),
        )
        .service(resource("/healthz").route(web::get().to(metrics::healthz)))
        .service(resource("/metrics").route(web::get().to(metrics::prometheus)))
        .service(resource("/openapi.json").route(web::get().to(openapi::document)))
        .configure(pages::routes)
        .default_service(web::to(not_found));
}

/// A resource that answers 405 METHOD_NOT_ALLOWED to the methods it has no route for.
pub fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn not_found() -> Result<HttpResponse> {
    Err(Error::new(ErrorCode::NotFound, "No such route."))
}

async fn method_not_allowed() -> Result<HttpResponse> {
    Err(Error::new(
        ErrorCode::MethodNotAllowed,
        "This route does not take that method.",
    ))
}

/// How long a body may take where no configuration says (never on the server itself).
const BODY_TIMEOUT_UNCONFIGURED: std::time::Duration = std::time::Duration::from_secs(10);

/// A request body that says it is JSON. Anything else is 415 before the body is read: a browser
/// may send `text/plain` or a form to another site without asking, so accepting those would let
/// any web page make its visitors register users or take tokens here.
pub struct JsonBody(web::Bytes);

impl std::ops::Deref for JsonBody {
    type Target = web::Bytes;

    fn deref(&self) -> &web::Bytes {
        &self.0
    }
}

impl actix_web::FromRequest for JsonBody {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, std::result::Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let declared = require_json_content_type(request);
        let state = request.app_data::<web::Data<AppState>>();
        let within = state.map_or(BODY_TIMEOUT_UNCONFIGURED, |state| state.services.config.client_timeout);
        let bytes = web::Bytes::from_request(request, payload);
        Box::pin(async move {
            declared?;
            // A body sent a byte at a time would hold the connection for as long as it liked.
            let bytes = actix_web::rt::time::timeout(within, bytes).await.map_err(|_| {
                Error::invalid_request(format!(
                    "The body did not arrive within {}.",
                    humantime::format_duration(within)
                ))
            })?;
            Ok(JsonBody(bytes?))
        })
    }
}

/// `application/json`, with or without parameters; a body-less request may say nothing.
fn require_json_content_type(request: &HttpRequest) -> Result<()> {
    let content_type = request.headers().get(actix_web::http::header::CONTENT_TYPE);
    let has_body = request
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .is_some_and(|length| length.as_bytes() != b"0")
        || request
            .headers()
            .contains_key(actix_web::http::header::TRANSFER_ENCODING);
    let is_json = content_type
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if is_json || (content_type.is_none() && !has_body) {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::UnsupportedMediaType,
        "Send the body as `Content-Type: application/json`.",
    ))
}

/// Parses a JSON request body; anything malformed or mistyped is 400 INVALID_REQUEST.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::invalid_request(format!("The body is not the expected JSON: {e}.")))
}

/// A JSON answer with a status.
pub fn json_answer(status: StatusCode, value: &impl Serialize) -> Answer {
    StoredResponse::json(status.as_u16(), value)
}

pub fn into_response(answer: Answer) -> Result<HttpResponse> {
    let stored = answer?;
    let status = StatusCode::from_u16(stored.status).map_err(Error::internal)?;
    Ok(HttpResponse::build(status)
        .content_type("application/json")
        .body(stored.body))
}

/// The request's `Idempotency-Key`, if it sent one.
pub fn idempotency_key(request: &HttpRequest) -> Result<Option<IdempotencyKey>> {
    match request.headers().get("idempotency-key") {
        None => Ok(None),
        Some(value) => IdempotencyKey::parse(value.to_str().unwrap_or_default()).map(Some),
    }
}

/// Runs `work` once per idempotency key (or simply once without one), in a task of its own so a
/// client hanging up cannot cut it in half. With a key, `work` gets the slot its answer goes to,
/// for the actor that makes its change to journal the two together.
pub async fn run_keyed<F, Fut>(
    state: &AppState,
    request: &HttpRequest,
    user: UserId,
    endpoint: Endpoint,
    body: &[u8],
    work: F,
) -> Result<HttpResponse>
where
    F: FnOnce(Option<AnswerSlot>) -> Fut + 'static,
    Fut: Future<Output = Answer> + 'static,
{
    let key = idempotency_key(request)?;
    let services = state.services.clone();
    let fingerprint = fingerprint(body);
    let task = async move {
        match key {
            Some(key) => {
                services
                    .idempotency
                    .run(Scope { user, endpoint, key }, fingerprint, work)
                    .await
            }
            None => work(None).await,
        }
    };
    let answer = actix_web::rt::spawn(task).await.map_err(Error::internal)?;
    into_response(answer)
}
