//! What every request to the engine passes through, as one middleware: the cluster's guard,
//! HEAD answered as GET, the time a body has to arrive, errors as problem documents, and the
//! request's count and latency. One layer costs a request one boxed future where five did.

use super::connections::{bound_body, unless_late};
use super::problem::{as_problem, language_of};
use super::{AppState, PEER_KEY_HEADER, TERM_HEADER};
use crate::error::{Error, ErrorCode};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use std::time::Instant;

/// The engine's middleware. Its order within: the guard first (a refused request is done
/// nothing for), then HEAD and the body's bound, the handler, the answer's rendering, and last
/// the count, of the answer as sent.
pub async fn engine(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<EitherBody<impl MessageBody>>>, actix_web::Error> {
    let started = Instant::now();
    let state = request
        .app_data::<web::Data<AppState>>()
        .expect("the application state is registered")
        .clone();
    if let Some(refused) = engine_refusal(&state, &request) {
        let answer = refused.to_response(language_of(request.request()));
        let response = request.into_response(answer).map_into_right_body();
        state
            .metrics
            .count(response.request(), response.status(), started.elapsed());
        return Ok(response);
    }
    answer_head_as_get(&mut request);
    let late = bound_body(&mut request);
    let response = next.call(request).await?;
    let response = as_problem(unless_late(response, late)).map_into_left_body();
    state
        .metrics
        .count(response.request(), response.status(), started.elapsed());
    Ok(response)
}

/// A cluster's gateway's middleware: the body's bound and errors as problem documents.
pub async fn gateway(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<EitherBody<impl MessageBody>>>, actix_web::Error> {
    let late = bound_body(&mut request);
    let response = next.call(request).await?;
    Ok(as_problem(unless_late(response, late)))
}

/// In a cluster, the engine refuses (403 ADMIN_KEY_INVALID) a request that does not show the
/// peer key: only the nodes' gateways may reach it, and the engine believes their
/// `X-Forwarded-For`. And once its log says it no longer holds the partitions (a lease run out,
/// say after the process was paused), every request is 503 UNAVAILABLE: another node may have
/// moved on, so even a read from this memory could be a stale answer.
fn engine_refusal(state: &AppState, request: &ServiceRequest) -> Option<Error> {
    if let Some((key, term)) = &state.peer_key {
        let shown = request.headers().get(PEER_KEY_HEADER).map(|value| value.as_bytes());
        if shown != Some(key.as_bytes()) {
            let refused = Error::new(
                ErrorCode::AdminKeyInvalid,
                "Only the cluster's nodes may ask this listener.",
            );
            return Some(refused);
        }
        // A request forwarded to an earlier term (and left waiting in the listener's backlog)
        // was answered 503 by its gateway long ago: it must not be done now.
        let named = request.headers().get(TERM_HEADER).map(|value| value.as_bytes());
        if named != Some(term.as_bytes()) {
            let over = Error::new(ErrorCode::Unavailable, "That term of this node is over.");
            return Some(over.with_retry_after(1));
        }
    }
    if !state.services.log.serves() {
        let moved = Error::new(ErrorCode::Unavailable, "This node no longer serves these partitions.");
        return Some(moved.with_retry_after(1));
    }
    None
}

/// A HEAD request is answered as its GET would be, without the body (the server drops a HEAD
/// answer's body on the wire). Handlers that stream learn it was a HEAD from
/// [`super::HeadRequest`].
fn answer_head_as_get(request: &mut ServiceRequest) {
    if request.method() == Method::HEAD {
        request.extensions_mut().insert(super::HeadRequest);
        request.head_mut().method = Method::GET;
    }
}
