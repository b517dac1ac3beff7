//! Who is asking: the fan behind a bearer token (with a per-user rate limit), and the operator
//! behind the admin key.

use super::AppState;
use crate::actors::queue::Fan;
use crate::domain::sale::room_number_of;
use crate::domain::waiting_room::TokenStatus;
use crate::domain::{ConcertId, Token};
use crate::error::{Error, ErrorCode, Result};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::{DateTime, Utc};
use futures_util::future::{ready, Ready};
use sha2::{Digest, Sha256};

/// The token in `Authorization: Bearer <token>`, not yet checked against the queue.
pub fn bearer_token(request: &HttpRequest) -> Result<Token> {
    let value = request.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        Error::new(
            ErrorCode::TokenMissing,
            "Send the queue token as `Authorization: Bearer <token>`.",
        )
    })?;
    let text = value.to_str().unwrap_or_default();
    let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Error::new(
            ErrorCode::TokenMissing,
            "Send the queue token as `Authorization: Bearer <token>`.",
        ));
    }
    Token::from_client(token.trim()).ok_or_else(|| Error::new(ErrorCode::TokenInvalid, "The token is malformed."))
}

fn state(request: &HttpRequest) -> &web::Data<AppState> {
    request
        .app_data::<web::Data<AppState>>()
        .expect("the application state is registered")
}

/// Any live token (WAITING or ACTIVE), within its user's rate limit.
impl FromRequest for Fan {
    type Error = Error;
    type Future = Ready<Result<Fan>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(request))
    }
}

fn authenticate(request: &HttpRequest) -> Result<Fan> {
    let state = state(request);
    let token = bearer_token(request)?;
    let fan = state.services.room_of(&token)?.authenticate(&token)?;
    state.limiter.check(&fan.user)?;
    Ok(fan)
}

/// Requires the fan's token to be ACTIVE, and tells when it stops being so; a WAITING one is told
/// its place in the queue.
pub async fn require_active(state: &AppState, fan: &Fan) -> Result<DateTime<Utc>> {
    if fan.status == TokenStatus::Active && fan.admission_durable {
        return Ok(fan.deadline);
    }
    // The index may not yet show an admission that fell due a moment ago, or shows one that a
    // crash could still take back: the queue answers once what it shows is durable.
    let room = state.services.room_of(&fan.token)?;
    let queue = room.peek(fan.token).await?;
    if let (TokenStatus::Active, Some(active_until)) = (queue.status, queue.active_until) {
        return Ok(active_until);
    }
    let queue = serde_json::to_value(super::queue::QueueStatus::of(&queue, room.sale())).map_err(Error::internal)?;
    Err(
        Error::new(ErrorCode::TokenNotActive, "The token is still waiting in the queue.")
            .with_korean("아직 대기열에서 순서를 기다리는 중입니다.")
            .with_queue(queue),
    )
}

/// Refuses a token of another room than the concert's: a sale's token on another concert, or a
/// site-wide token on a concert that has a sale of its own.
pub fn require_room_of(state: &AppState, fan: &Fan, concert: ConcertId) -> Result<()> {
    if room_number_of(fan.token.seq()) == state.services.sales.room_number_of_concert(concert) {
        return Ok(());
    }
    let detail = match room_number_of(fan.token.seq()) {
        0 => "This concert has a sale of its own: take a token of its room.",
        _ => "This token is of another concert's sale.",
    };
    Err(Error::new(ErrorCode::TokenWrongSale, detail)
        .with_korean("이 대기열 토큰으로는 이 공연을 예매할 수 없습니다. 해당 공연의 대기열에 참여해 주세요."))
}

/// The operator: a request carrying the configured `X-Admin-Key`.
pub struct Admin;

impl FromRequest for Admin {
    type Error = Error;
    type Future = Ready<Result<Admin>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check_admin(request))
    }
}

fn check_admin(request: &HttpRequest) -> Result<Admin> {
    let Some(expected) = state(request).services.config.admin_key.as_deref() else {
        return Err(Error::new(
            ErrorCode::AdminDisabled,
            "The server was started without an admin key.",
        ));
    };
    let given = request
        .headers()
        .get("x-admin-key")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !constant_time_equal(given, expected.as_bytes()) {
        return Err(Error::new(
            ErrorCode::AdminKeyInvalid,
            "The X-Admin-Key header is missing or wrong.",
        ));
    }
    Ok(Admin)
}

/// Compares the SHA-256 digests of the two keys without stopping at the first difference: the
/// digests have one length whatever was sent, so neither the key's bytes nor its length can be
/// found from timings.
fn constant_time_equal(given: &[u8], expected: &[u8]) -> bool {
    let (given, expected) = (Sha256::digest(given), Sha256::digest(expected));
    let difference = given.iter().zip(expected.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_equal;

    #[test]
    fn keys_match_only_whole() {
        let key = b"an-admin-key-of-32-characters!!!";
        assert!(constant_time_equal(key, key));
        assert!(!constant_time_equal(&key[..16], key), "a prefix is not the key");
        assert!(!constant_time_equal(b"", key));
        assert!(
            !constant_time_equal(b"an-admin-key-of-32-characters!!!x", key),
            "nor a longer key"
        );
    }
}
