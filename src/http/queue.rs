//! `/queue/tokens`: taking a token, reading and leaving the queue, and the live event stream.

use super::client::Client;
use super::connections::Place;
use super::openapi::answers::{
    BodyErrors, BusyErrors, ChallengeErrors, ChallengeOff, ClientErrors, FanErrors, IssueErrors, KeyedErrors,
    SaleIssueErrors, StreamErrors,
};
use super::openapi::fields::{AltchaHeader, IdempotencyKeyHeader};
use super::HeadRequest;
use super::{at_most_once_per_key, json, json_answer, parse_json, resource, AppState, JsonBody};
use crate::actors::line_news::{Following, NewViews};
use crate::actors::queue::{Fan, QueueHandle};
use crate::domain::idempotency::{Answer, Endpoint};
use crate::domain::line_view::PlaceInLine;
use crate::domain::waiting_room;
use crate::domain::{ConcertId, Token, UserId};
use crate::error::{Error, ErrorCode, Result};
use crate::services::admission::{self, Admission};
use crate::services::proof_of_work::SOLUTION_CHARS_MAX;
use crate::services::sales::Sale;
use crate::services::Room;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use actix_web::HttpRequest;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Positions are sent at most this often: a stream looks at a new view of the line no sooner
/// than this after it last sent one.
const STREAM_INTERVAL: Duration = Duration::from_secs(1);
/// A comment line keeps idle connections open through proxies, and the write is how the server
/// notices a client that went away: its stream's place among the token's two is given back
/// within this. It is what a stream of a line that does not move costs.
const STREAM_KEEPALIVE: Duration = Duration::from_secs(5);

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/queue/challenge").get(challenge))
        .service(resource("/queue/tokens").post(issue))
        .service(resource("/queue/tokens/me").get(read).delete(leave))
        .service(resource("/queue/tokens/me/events").get(events));
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewToken {
    #[schema(value_type = uuid::Uuid)]
    pub user_id: UserId,
}

/// A token as a fan sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatus {
    #[schema(value_type = String)]
    pub token: Token,
    #[schema(value_type = uuid::Uuid)]
    pub user_id: UserId,
    /// The concert whose sale's room issued the token; null for the site-wide room.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub concert_id: Option<ConcertId>,
    pub status: TokenStatus,
    /// 1-based among WAITING tokens; 0 when ACTIVE; null while PREQUEUED (no place before the
    /// draw).
    pub position: Option<u64>,
    /// 0 when ACTIVE; null while PREQUEUED.
    pub estimated_wait_seconds: Option<u64>,
    #[serde(serialize_with = "json::time")]
    pub issued_at: DateTime<Utc>,
    #[serde(serialize_with = "json::optional_time")]
    pub active_until: Option<DateTime<Utc>>,
    /// In a sale's room: when the sale opens and the pre-queue's order is drawn.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "json::optional_time")]
    pub opens_at: Option<DateTime<Utc>>,
    /// While ACTIVE: a JWT (EdDSA) with `sub` the user, `sale` the concert or null, `exp`
    /// `activeUntil` and `jti` the token's entry, verifiable with `/.well-known/jwks.json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub admission: Option<Admission>,
}

impl QueueStatus {
    /// The status as the fan of a token of `sale`'s room (none for the site-wide room) sees it.
    pub fn of(status: &waiting_room::QueueStatus, sale: Option<&Sale>) -> Self {
        let placed = status.status != waiting_room::TokenStatus::Prequeued;
        Self {
            token: status.token,
            user_id: status.user_id,
            concert_id: sale.map(|sale| sale.concert_id),
            status: status.status.into(),
            position: placed.then_some(status.position),
            estimated_wait_seconds: placed.then_some(status.estimated_wait_seconds),
            issued_at: status.issued_at,
            active_until: status.active_until,
            opens_at: sale.map(Sale::opens_at),
            admission: (status.active_until)
                .filter(|_| status.status == waiting_room::TokenStatus::Active)
                .map(|until| {
                    let concert = sale.map(|sale| sale.concert_id);
                    admission::signer().admission(&status.token, status.user_id, concert, until)
                }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenStatus {
    /// In a sale's pre-queue, until the draw at `opensAt` gives it a place.
    Prequeued,
    Waiting,
    Active,
}

impl From<waiting_room::TokenStatus> for TokenStatus {
    fn from(status: waiting_room::TokenStatus) -> Self {
        match status {
            waiting_room::TokenStatus::Prequeued => Self::Prequeued,
            waiting_room::TokenStatus::Waiting => Self::Waiting,
            waiting_room::TokenStatus::Active => Self::Active,
        }
    }
}

/// An ALTCHA challenge: find `number` in 0..=`maxnumber` whose SHA-256 of `salt` followed by the
/// number in decimal is `challenge` (hex), then send `{algorithm, challenge, number, salt,
/// signature}` as base64 JSON in `X-Altcha`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PowChallenge {
    /// Always `SHA-256`.
    #[schema(example = "SHA-256")]
    pub algorithm: String,
    /// Lowercase hex of the SHA-256 to find.
    pub challenge: String,
    /// The largest number to try: the `--pow-difficulty`.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub maxnumber: u64,
    /// Hashed before the number; it carries the challenge's expiry, five minutes after issue.
    pub salt: String,
    /// The server's signature of `challenge`, sent back unchanged.
    pub signature: String,
}

/// With `--pow-difficulty 0` (the default) there is nothing to solve: 404 NOT_FOUND, and
/// `POST /queue/tokens` takes no `X-Altcha`. A client may ask here first and solve only on a 200.
#[utoipa::path(get, path = "/api/v1/queue/challenge", tag = "queue",
    responses((status = 200, body = PowChallenge, description = "A challenge good for five minutes, for one token request"),
        ChallengeOff, ClientErrors))]
pub async fn challenge(state: web::Data<AppState>, _: Client) -> Result<HttpResponse> {
    let challenge = state.services.proof_of_work.challenge()?;
    let body = PowChallenge {
        algorithm: challenge.algorithm.to_string(),
        challenge: challenge.challenge,
        maxnumber: challenge.maxnumber,
        salt: challenge.salt,
        signature: challenge.signature,
    };
    // A challenge is for one client: a cache handing it to several would leave all but one
    // with a spent solution.
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(body))
}

/// Takes a token. With proof of work on, `X-Altcha` must carry the solution of a challenge from
/// `GET /queue/challenge`, unexpired and never used (403 CHALLENGE_REQUIRED otherwise); a retry
/// with the same `Idempotency-Key` gets the first answer without spending another.
#[utoipa::path(post, path = "/api/v1/queue/tokens", tag = "queue", request_body = NewToken,
    params(IdempotencyKeyHeader, AltchaHeader),
    responses((status = 201, body = QueueStatus), ClientErrors, BodyErrors, KeyedErrors, ChallengeErrors, IssueErrors))]
pub async fn issue(
    state: web::Data<AppState>,
    _: Client,
    request: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse> {
    let new: NewToken = parse_json(&body)?;
    let user = new.user_id;
    state.services.users.get(user)?;
    let services = state.services.clone();
    let solution = altcha_header(&request)?;
    // The solution is spent inside the keyed run, after a remembered answer would have been
    // replayed: a retry of a keyed request gets its first answer, not a refusal of a spent proof.
    at_most_once_per_key(
        &state,
        &request,
        user,
        Endpoint::QueueTokens,
        &body,
        move |slot| async move {
            services.proof_of_work.redeem(solution.as_deref())?;
            let keyed = slot.map(|slot| slot.keyed(|status| issued(status, None)));
            let status = services.queue.issue(user, keyed).await?;
            issued(&status, None)
        },
    )
    .await
}

fn issued(status: &waiting_room::QueueStatus, sale: Option<&Sale>) -> Answer {
    json_answer(StatusCode::CREATED, &QueueStatus::of(status, sale))
}

/// Takes a token in a concert's sale's room: PREQUEUED from the pre-queue's opening until the
/// draw, then WAITING (or ACTIVE) behind the drawn. Limited per client and guarded by proof of
/// work like the site-wide room's; one live token per user in each room.
#[utoipa::path(post, path = "/api/v1/concerts/{concertId}/queue/tokens", tag = "sales", request_body = NewToken,
    params(("concertId" = uuid::Uuid, Path), IdempotencyKeyHeader, AltchaHeader),
    responses((status = 201, body = QueueStatus), ClientErrors, BodyErrors, KeyedErrors, ChallengeErrors, SaleIssueErrors))]
pub async fn issue_for_sale(
    state: web::Data<AppState>,
    _: Client,
    request: HttpRequest,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse> {
    let concert = super::params::id(&path, "concertId")?;
    let sale = state.services.sales.find(concert)?;
    let new: NewToken = parse_json(&body)?;
    let user = new.user_id;
    state.services.users.get(user)?;
    let services = state.services.clone();
    let solution = altcha_header(&request)?;
    // A key is the sale rooms' apart from the site-wide room's; the fingerprint names the
    // concert, so the same key for another sale's room is a key reused (422).
    let fingerprinted = serde_json::json!({"concertId": concert, "userId": user}).to_string();
    at_most_once_per_key(
        &state,
        &request,
        user,
        Endpoint::SaleQueueTokens,
        fingerprinted.as_bytes(),
        move |slot| async move {
            services.proof_of_work.redeem(solution.as_deref())?;
            let answered_sale = sale.clone();
            let keyed = slot.map(|slot| slot.keyed(move |status| issued(status, Some(&answered_sale))));
            let status = sale.room.issue(user, keyed).await?;
            issued(&status, Some(&sale))
        },
    )
    .await
}

/// `X-Altcha` as sent, if it has the shape of a solution (base64, at most 1,024 characters):
/// anything else is a malformed request, whether or not proof of work is on.
fn altcha_header(request: &HttpRequest) -> Result<Option<Vec<u8>>> {
    let Some(value) = request.headers().get("x-altcha") else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    let base64 = |byte: &u8| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'=');
    if bytes.is_empty() || bytes.len() > SOLUTION_CHARS_MAX || !bytes.iter().all(base64) {
        return Err(Error::invalid_request(
            "X-Altcha must be the base64 solution of a challenge, at most 1,024 characters.",
        ));
    }
    Ok(Some(bytes.to_vec()))
}

#[utoipa::path(get, path = "/api/v1/queue/tokens/me", tag = "queue", security(("queueToken" = [])),
    responses((status = 200, body = QueueStatus), FanErrors, BusyErrors))]
pub async fn read(state: web::Data<AppState>, fan: Fan) -> Result<HttpResponse> {
    let room = state.services.room_of(&fan.token)?;
    let status = room.read_status(fan.token).await?;
    // The path fans poll: its body is written into a buffer it fits (see `json`).
    json::ok(&QueueStatus::of(&status, room.sale()))
}

#[utoipa::path(delete, path = "/api/v1/queue/tokens/me", tag = "queue", security(("queueToken" = [])),
    responses((status = 204, description = "The token is dead at once, and its unpaid holds are given back"), FanErrors, BusyErrors))]
pub async fn leave(state: web::Data<AppState>, fan: Fan) -> Result<HttpResponse> {
    state.services.room_of(&fan.token)?.leave(fan.token).await?;
    state.services.release_holds_made_with(&fan.token, fan.user).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// The queue token: a browser's EventSource cannot send headers.
    pub token: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/queue/tokens/me/events", tag = "queue", security(("queueTokenQuery" = [])),
    responses((status = 200, description = "`text/event-stream` of `status` events, then `expired` if the token dies", content_type = "text/event-stream"),
        StreamErrors, BusyErrors))]
pub async fn events(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse> {
    let text = query
        .token
        .as_deref()
        .ok_or_else(|| Error::new(ErrorCode::TokenMissing, "Pass the token as ?token=."))?;
    let token =
        Token::from_client(text).ok_or_else(|| Error::new(ErrorCode::TokenInvalid, "The token is malformed."))?;
    let room = state.services.room_of(&token)?;
    let first = room.status(token).await?;
    if request.extensions().contains::<HeadRequest>() {
        // A HEAD asks whether the stream would open; a stream of no body would never end.
        return Ok(HttpResponse::Ok().content_type("text/event-stream").finish());
    }
    let place = state.streams.enter(token).ok_or_else(|| {
        Error::new(
            ErrorCode::RateLimited,
            "This token has two event streams open already; close one first.",
        )
        // A stream whose client went away gives its place back at its next keep-alive.
        .with_retry_after(STREAM_KEEPALIVE.as_secs())
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(status_stream(&state, &room, token, first, place)))
}

struct StreamState {
    queue: QueueHandle,
    /// The sale whose room the token is in, if any.
    sale: Option<Sale>,
    /// The token's place in line, told by the queue actor rather than asked of it.
    following: Following,
    views: NewViews,
    stopping: watch::Receiver<bool>,
    /// In a cluster, a node whose lease ran out ends its streams rather than tell from memory
    /// that may be behind.
    log: crate::persistence::log::SharedLog,
    token: Token,
    last_sent: Option<waiting_room::QueueStatus>,
    last_write: Instant,
    /// No new view is looked at before this: a second after the last status sent.
    next_look: Instant,
    /// The last look could not tell the place (the actor was busy, or the view was cut short
    /// by churn): look again at `next_look` whether or not a new view came.
    look_again: bool,
    pending_first: Option<waiting_room::QueueStatus>,
    finished: bool,
    /// The stream's place among its token's streams, given back when the stream ends or the
    /// client goes away.
    _place: Place<Token>,
}

/// Sends the status at once, then whenever position or status changes (at most once a
/// second), and ends after ACTIVE is sent, when the token dies, or when the server stops. While
/// the token waits the stream asks the queue actor nothing: it reads its position off the line's
/// published view, is woken when its token is admitted or ends, and keeps the token alive by
/// being followed (the actor renews a followed token's idle deadline).
fn status_stream(
    state: &AppState,
    room: &Room<'_>,
    token: Token,
    first: waiting_room::QueueStatus,
    place: Place<Token>,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    let following = room.follow(&token);
    let mut views = following.new_views();
    // A view published between the first status and the follow would wake nobody: the
    // stream looks once at the view there is.
    views.mark_changed();
    let state = StreamState {
        views,
        following,
        queue: (*room).clone(),
        sale: room.sale().cloned(),
        stopping: state.services.stopping.subscribe(),
        log: state.services.log.clone(),
        token,
        last_sent: None,
        last_write: Instant::now(),
        next_look: Instant::now(),
        look_again: false,
        pending_first: Some(first),
        finished: false,
        _place: place,
    };
    stream::unfold(state, |mut state| async move {
        if state.finished {
            return None;
        }
        let chunk = next_chunk(&mut state).await?;
        Some((Ok(chunk), state))
    })
}

/// The next piece of the stream, or None when the server is stopping.
async fn next_chunk(state: &mut StreamState) -> Option<Bytes> {
    if let Some(first) = state.pending_first.take() {
        return Some(status_event(state, first));
    }
    loop {
        let look = tokio::select! {
            _ = next_view(&mut state.views, state.next_look, state.look_again) => Look::View,
            _ = state.following.told() => Look::Told,
            _ = tokio::time::sleep_until((state.last_write + STREAM_KEEPALIVE).into()) => Look::KeepAlive,
            _ = state.stopping.wait_for(|stopping| *stopping) => return None,
        };
        if !state.log.serves() {
            return None;
        }
        let place = match look {
            Look::KeepAlive => {
                state.last_write = Instant::now();
                return Some(Bytes::from_static(b": keep-alive\n\n"));
            }
            Look::Told => PlaceInLine::Out,
            Look::View => state.following.view().place(state.token.seq()),
        };
        let status = match place {
            PlaceInLine::Waiting {
                position,
                estimated_wait_seconds,
            } => Ok(state.waiting(position, estimated_wait_seconds)),
            // Admitted or ended: only the room can say which, and it is asked once. An
            // incomplete view (a churn of fans leaving from inside the line) has it asked each
            // second until the churn passes.
            PlaceInLine::Out | PlaceInLine::Unknown => state.queue.peek(state.token).await,
        };
        state.look_again = matches!(place, PlaceInLine::Unknown) || status.is_err();
        if state.look_again {
            state.next_look = Instant::now() + STREAM_INTERVAL;
        }
        match status {
            Ok(status) if changed(state.last_sent.as_ref(), &status) => return Some(status_event(state, status)),
            // Unchanged (fans behind it left): a second before the next look, so that a line
            // moving behind a stream wakes it no more often than one moving ahead of it.
            Ok(_) => {
                state.next_look = Instant::now() + STREAM_INTERVAL;
                continue;
            }
            Err(error) if error.code == ErrorCode::TokenInvalid => {
                state.finished = true;
                let event = format!("event: expired\ndata: {{\"code\":\"{}\"}}\n\n", error.code);
                return Some(Bytes::from(event));
            }
            // Busy: look again in a second rather than end the fan's stream.
            Err(_) => continue,
        }
    }
}

/// What woke a stream.
enum Look {
    /// A new view of the line (or a second passed after a look that could not tell).
    View,
    /// The token was admitted or ended.
    Told,
    /// Nothing was written for a while.
    KeepAlive,
}

/// Resolves when a new view is to be looked at: once one was published, but no sooner than
/// `next_look`; at `next_look` itself if the last look could not tell.
async fn next_view(views: &mut NewViews, next_look: Instant, look_again: bool) {
    tokio::time::sleep_until(next_look.into()).await;
    if !look_again && views.changed().await.is_err() {
        // The line's news outlives every stream that follows it: never, but wait, not spin.
        std::future::pending::<()>().await;
    }
}

impl StreamState {
    /// The token's status at `position` in line, as the room would tell it.
    fn waiting(&self, position: u64, estimated_wait_seconds: u64) -> waiting_room::QueueStatus {
        let last = self
            .last_sent
            .as_ref()
            .expect("the first status is sent before the line is followed");
        waiting_room::QueueStatus {
            status: waiting_room::TokenStatus::Waiting,
            position,
            estimated_wait_seconds,
            active_until: None,
            ..last.clone()
        }
    }
}

fn changed(last: Option<&waiting_room::QueueStatus>, now: &waiting_room::QueueStatus) -> bool {
    last.is_none_or(|last| last.status != now.status || last.position != now.position)
}

fn status_event(state: &mut StreamState, status: waiting_room::QueueStatus) -> Bytes {
    state.finished = status.status == waiting_room::TokenStatus::Active;
    state.last_write = Instant::now();
    state.next_look = state.last_write + STREAM_INTERVAL;
    let data =
        serde_json::to_string(&QueueStatus::of(&status, state.sale.as_ref())).expect("a queue status serializes");
    state.last_sent = Some(status);
    Bytes::from(format!("event: status\ndata: {data}\n\n"))
}
