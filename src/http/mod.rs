//! The actix-web front end of the API contract: one file per resource, with the views it answers
//! with (built from domain values) and the paths and bodies it reads (parsed into them),
//! problem+json errors, a per-user rate limit, metrics and the OpenAPI document.

pub mod admin;
pub mod auth;
pub mod client;
pub mod concerts;
pub mod connections;
pub mod envelope;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod params;
pub mod payments;
pub mod problem;
pub mod queue;
pub mod rate_limit;
pub mod reservations;
pub mod sale_reads;
pub mod sales;
pub mod seat_maps;
pub mod tickets;
pub mod users;
pub mod waitlists;
pub mod wallet;
pub mod wire;

use crate::domain::idempotency::{fingerprint, Answer, Endpoint, IdempotencyKey, Scope, StoredResponse};
use crate::domain::UserId;
use crate::error::{Error, ErrorCode, Result};
use crate::services::idempotency::AnswerSlot;
use crate::services::Services;
use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Responder};
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
    /// The seat maps' JSON, kept for as long as their dates' actors publish no change.
    pub seat_maps: seat_maps::SeatMaps,
    /// The sales' JSON, kept while their rooms publish no change, and their draws'.
    pub sale_reads: sale_reads::SaleReads,
    /// In a cluster, the engine serves only the nodes' gateways, which show this key and name
    /// this term of the node's lease.
    pub peer_key: Option<(String, String)>,
}

/// Registers every route of the API.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            // The router tries each dynamic path's pattern in turn, in this order: a rush's
            // most asked come first (seat maps and holds, then the line's static paths).
            web::scope("/api/v1")
                .configure(concerts::routes)
                .configure(reservations::routes)
                .configure(queue::routes)
                .configure(users::routes)
                .configure(wallet::routes)
                .configure(payments::routes)
                .configure(tickets::routes)
                .configure(admin::routes)
                .configure(sales::routes)
                .configure(waitlists::routes),
        )
        .service(resource("/.well-known/jwks.json").get(sales::jwks))
        .service(resource("/healthz").get(metrics::healthz))
        .service(resource("/metrics").get(metrics::prometheus))
        .service(resource("/openapi.json").get(openapi::document))
        .configure(pages::routes)
        .default_service(web::to(not_found));
}

/// A path and the methods it answers; every other method is 405 METHOD_NOT_ALLOWED with an
/// `Allow` header that lists these (HEAD wherever GET is).
pub fn resource(path: &str) -> Routes {
    Routes {
        resource: web::resource(path).app_data(Arc::new(metrics::RouteMetrics::default())),
        allowed: Vec::new(),
    }
}

/// A resource being declared: its routes and the methods they take.
pub struct Routes {
    resource: actix_web::Resource,
    allowed: Vec<Method>,
}

/// The methods a resource may be given, each a route for one method.
macro_rules! method_routes {
    ($($name:ident => $method:ident),* $(,)?) => {
        $(
            pub fn $name<F, Args>(self, handler: F) -> Self
            where
                F: Handler<Args>,
                Args: FromRequest + 'static,
                F::Output: Responder + 'static,
            {
                self.route(Method::$method, handler)
            }
        )*
    };
}

impl Routes {
    method_routes!(get => GET, post => POST, put => PUT, delete => DELETE);

    /// Data for this resource's handlers alone (a larger body limit, say).
    pub fn app_data<U: 'static>(mut self, data: U) -> Self {
        self.resource = self.resource.app_data(data);
        self
    }

    fn route<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self.resource.route(web::method(method.clone()).to(handler));
        self.allowed.push(method);
        self
    }

    /// The `Allow` header's value.
    fn allow(&self) -> String {
        let mut methods: Vec<&str> = self.allowed.iter().map(Method::as_str).collect();
        if self.allowed.contains(&Method::GET) {
            methods.push("HEAD");
        }
        methods.join(", ")
    }
}

impl HttpServiceFactory for Routes {
    fn register(self, config: &mut AppService) {
        let allow = self.allow();
        let refuse = move |request: HttpRequest| {
            let allow = allow.clone();
            async move { method_not_allowed(&request, &allow) }
        };
        self.resource.default_service(web::to(refuse)).register(config);
    }
}

/// The header a cluster's gateway proves itself to an engine with.
pub const PEER_KEY_HEADER: &str = "x-concert-peer-key";
/// The header naming the term of the lease a gateway forwards to: an engine serves its own only.
pub const TERM_HEADER: &str = "x-concert-term";

/// Marks a request that came as HEAD.
#[derive(Debug, Clone, Copy)]
pub struct HeadRequest;

async fn not_found() -> Result<HttpResponse> {
    Err(Error::new(ErrorCode::NotFound, "No such route."))
}

fn method_not_allowed(request: &HttpRequest, allow: &str) -> HttpResponse {
    let error = Error::new(ErrorCode::MethodNotAllowed, format!("This route takes {allow}."));
    let mut response = error.to_response(problem::language_of(request));
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(allow) {
        response.headers_mut().insert(actix_web::http::header::ALLOW, value);
    }
    response
}

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
        // A body sent a byte at a time is cut off by `connections::bound_body`.
        let bytes = web::Bytes::from_request(request, payload);
        Box::pin(async move {
            declared?;
            Ok(JsonBody(bytes.await?))
        })
    }
}

/// `application/json`, with or without parameters; a body-less request may say nothing.
fn require_json_content_type(request: &HttpRequest) -> Result<()> {
    let content_type = request.headers().get(actix_web::http::header::CONTENT_TYPE);
    let has_body = connections::declares_body(request.headers());
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
pub async fn at_most_once_per_key<F, Fut>(
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
    // Only a keyed request needs its body's fingerprint: parsing it again costs the rest nothing.
    let fingerprint = key.as_ref().map(|_| fingerprint(body));
    let task = async move {
        match (key, fingerprint) {
            (Some(key), Some(fingerprint)) => {
                services
                    .idempotency
                    .run(Scope { user, endpoint, key }, fingerprint, work)
                    .await
            }
            _ => work(None).await,
        }
    };
    let answer = actix_web::rt::spawn(task).await.map_err(Error::internal)?;
    into_response(answer)
}
