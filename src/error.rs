//! The one error type of the service: its stable codes, HTTP statuses and English/Korean titles.
//!
//! Operating conditions (a seat taken, a balance short) are values of [`Error`]; bugs panic.
//! Every error leaves the server as `application/problem+json` (RFC 9457) with a stable `code`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The stable, machine-readable error codes of the API contract. On disk (remembered answers)
/// each is a number of its own (see `persistence::format`), so this list may be reordered freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidAmount,
    TokenMissing,
    TokenInvalid,
    AdminKeyInvalid,
    TokenNotActive,
    AdminDisabled,
    UserNotFound,
    ConcertNotFound,
    DateNotFound,
    SeatNotFound,
    NotFound,
    MethodNotAllowed,
    ReservationNotFound,
    TicketNotFound,
    TokenAlreadyIssued,
    SeatUnavailable,
    HoldLimitReached,
    ReservationExpired,
    ReservationNotHeld,
    InsufficientBalance,
    BalanceLimitExceeded,
    PayloadTooLarge,
    IdempotencyKeyReused,
    RateLimited,
    Internal,
    QueueFull,
    Unavailable,
    UnsupportedMediaType,
    ChallengeRequired,
    RequestTimeout,
    UriTooLong,
    HeadersTooLarge,
    TokenWrongSale,
    SaleNotFound,
    SaleNotOpen,
    SaleAlreadyOpen,
    SeatsAvailable,
    AlreadyWaitlisted,
    RefundClosed,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 40] = [
        Self::InvalidRequest,
        Self::InvalidAmount,
        Self::TokenMissing,
        Self::TokenInvalid,
        Self::AdminKeyInvalid,
        Self::TokenNotActive,
        Self::AdminDisabled,
        Self::UserNotFound,
        Self::ConcertNotFound,
        Self::DateNotFound,
        Self::SeatNotFound,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::ReservationNotFound,
        Self::TicketNotFound,
        Self::TokenAlreadyIssued,
        Self::SeatUnavailable,
        Self::HoldLimitReached,
        Self::ReservationExpired,
        Self::ReservationNotHeld,
        Self::InsufficientBalance,
        Self::BalanceLimitExceeded,
        Self::PayloadTooLarge,
        Self::IdempotencyKeyReused,
        Self::RateLimited,
        Self::Internal,
        Self::QueueFull,
        Self::Unavailable,
        Self::UnsupportedMediaType,
        Self::ChallengeRequired,
        Self::RequestTimeout,
        Self::UriTooLong,
        Self::HeadersTooLarge,
        Self::TokenWrongSale,
        Self::SaleNotFound,
        Self::SaleNotOpen,
        Self::SaleAlreadyOpen,
        Self::SeatsAvailable,
        Self::AlreadyWaitlisted,
        Self::RefundClosed,
    ];

    /// The code as it appears in the `code` field.
    pub fn as_str(self) -> &'static str {
        self.texts().0
    }

    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidRequest | InvalidAmount => 400,
            TokenMissing | TokenInvalid | AdminKeyInvalid => 401,
            TokenNotActive | AdminDisabled | ChallengeRequired | TokenWrongSale => 403,
            UserNotFound | ConcertNotFound | DateNotFound | SeatNotFound | NotFound | ReservationNotFound
            | TicketNotFound | SaleNotFound => 404,
            MethodNotAllowed => 405,
            RequestTimeout => 408,
            TokenAlreadyIssued | SeatUnavailable | HoldLimitReached | ReservationExpired | ReservationNotHeld
            | InsufficientBalance | BalanceLimitExceeded | SaleNotOpen | SaleAlreadyOpen | SeatsAvailable
            | AlreadyWaitlisted | RefundClosed => 409,
            PayloadTooLarge => 413,
            UriTooLong => 414,
            UnsupportedMediaType => 415,
            IdempotencyKeyReused => 422,
            RateLimited => 429,
            HeadersTooLarge => 431,
            Internal => 500,
            QueueFull | Unavailable => 503,
        }
    }

    pub fn title(self, language: Language) -> &'static str {
        let (_, english, korean) = self.texts();
        match language {
            Language::English => english,
            Language::Korean => korean,
        }
    }

    /// (code, English title, Korean title). The Korean wording follows the original brief where
    /// it has one.
    fn texts(self) -> (&'static str, &'static str, &'static str) {
        use ErrorCode::*;
        match self {
            InvalidRequest => ("INVALID_REQUEST", "The request is invalid", "잘못된 요청입니다"),
            InvalidAmount => ("INVALID_AMOUNT", "The amount is invalid", "유효하지 않은 금액입니다"),
            TokenMissing => ("TOKEN_MISSING", "A queue token is required", "대기열 토큰이 필요합니다"),
            TokenInvalid => ("TOKEN_INVALID", "The token is invalid", "유효하지 않은 토큰"),
            AdminKeyInvalid => (
                "ADMIN_KEY_INVALID",
                "The admin key is invalid",
                "관리자 키가 올바르지 않습니다",
            ),
            TokenNotActive => (
                "TOKEN_NOT_ACTIVE",
                "The token is still waiting in the queue",
                "아직 대기열에서 대기 중입니다",
            ),
            AdminDisabled => (
                "ADMIN_DISABLED",
                "The admin API is disabled",
                "관리자 API가 비활성화되어 있습니다",
            ),
            UserNotFound => ("USER_NOT_FOUND", "The user does not exist", "유효하지 않은 사용자"),
            ConcertNotFound => (
                "CONCERT_NOT_FOUND",
                "The concert does not exist",
                "해당 콘서트가 존재하지 않습니다",
            ),
            DateNotFound => (
                "DATE_NOT_FOUND",
                "There is no seat information for this date",
                "해당 날짜에 대한 좌석 정보가 존재하지 않습니다",
            ),
            SeatNotFound => (
                "SEAT_NOT_FOUND",
                "The seat does not exist",
                "해당 좌석이 존재하지 않습니다",
            ),
            NotFound => ("NOT_FOUND", "No such resource", "요청한 리소스가 존재하지 않습니다"),
            MethodNotAllowed => (
                "METHOD_NOT_ALLOWED",
                "The method is not allowed on this resource",
                "허용되지 않는 메서드입니다",
            ),
            ReservationNotFound => (
                "RESERVATION_NOT_FOUND",
                "The reservation does not exist",
                "해당 예약이 존재하지 않습니다",
            ),
            TicketNotFound => (
                "TICKET_NOT_FOUND",
                "No ticket has this code",
                "해당 코드의 티켓이 없습니다",
            ),
            TokenAlreadyIssued => (
                "TOKEN_ALREADY_ISSUED",
                "A live token already exists for this user",
                "이미 활성화된 토큰이 존재합니다",
            ),
            TokenWrongSale => (
                "TOKEN_WRONG_SALE",
                "The token is not of this concert's sale",
                "이 공연의 예매 대기열에서 받은 토큰이 아닙니다",
            ),
            SaleNotFound => (
                "SALE_NOT_FOUND",
                "The concert has no sale",
                "이 공연의 예매 일정이 없습니다",
            ),
            SaleNotOpen => (
                "SALE_NOT_OPEN",
                "The sale's pre-queue has not opened yet",
                "아직 예매 대기열이 열리지 않았습니다",
            ),
            SaleAlreadyOpen => (
                "SALE_ALREADY_OPEN",
                "The sale's times cannot change once its pre-queue has opened",
                "사전 대기열이 열린 뒤에는 예매 일정을 바꿀 수 없습니다",
            ),
            SeatsAvailable => (
                "SEATS_AVAILABLE",
                "The date still has seats available",
                "아직 예매 가능한 좌석이 있습니다",
            ),
            AlreadyWaitlisted => (
                "ALREADY_WAITLISTED",
                "The user is already on this date's waiting list",
                "이미 이 날짜의 예매 대기 명단에 있습니다",
            ),
            RefundClosed => (
                "REFUND_CLOSED",
                "The ticket can no longer be refunded",
                "환불 가능 기간이 지났습니다",
            ),
            SeatUnavailable => (
                "SEAT_UNAVAILABLE",
                "The seat is already reserved",
                "해당 좌석은 이미 예약되었습니다",
            ),
            HoldLimitReached => (
                "HOLD_LIMIT_REACHED",
                "The user already holds the most seats allowed",
                "임시 예약 가능한 좌석 수를 초과했습니다",
            ),
            ReservationExpired => (
                "RESERVATION_EXPIRED",
                "The temporary reservation has expired",
                "임시 예약이 만료되었습니다",
            ),
            ReservationNotHeld => (
                "RESERVATION_NOT_HELD",
                "The reservation is no longer held",
                "이미 결제되었거나 취소된 예약입니다",
            ),
            InsufficientBalance => (
                "INSUFFICIENT_BALANCE",
                "The balance is insufficient",
                "잔액이 부족합니다",
            ),
            BalanceLimitExceeded => (
                "BALANCE_LIMIT_EXCEEDED",
                "The charge would exceed the balance limit",
                "충전 한도를 초과했습니다",
            ),
            PayloadTooLarge => (
                "PAYLOAD_TOO_LARGE",
                "The request body is too large",
                "요청 본문이 너무 큽니다",
            ),
            IdempotencyKeyReused => (
                "IDEMPOTENCY_KEY_REUSED",
                "The idempotency key was used with a different request",
                "멱등성 키가 다른 요청에 이미 사용되었습니다",
            ),
            UnsupportedMediaType => (
                "UNSUPPORTED_MEDIA_TYPE",
                "The body must be JSON",
                "요청 본문은 JSON이어야 합니다",
            ),
            ChallengeRequired => (
                "CHALLENGE_REQUIRED",
                "A valid, unused proof of work is required",
                "유효하고 사용되지 않은 작업 증명이 필요합니다",
            ),
            RequestTimeout => (
                "REQUEST_TIMEOUT",
                "The request did not arrive in time",
                "요청이 제한 시간 안에 도착하지 않았습니다",
            ),
            UriTooLong => (
                "URI_TOO_LONG",
                "The request target is too long",
                "요청 주소가 너무 깁니다",
            ),
            HeadersTooLarge => (
                "HEADERS_TOO_LARGE",
                "The request headers are too large",
                "요청 헤더가 너무 큽니다",
            ),
            RateLimited => ("RATE_LIMITED", "Too many requests", "요청이 너무 많습니다"),
            Internal => ("INTERNAL", "Internal server error", "서버 오류가 발생했습니다"),
            QueueFull => ("QUEUE_FULL", "The waiting room is full", "대기열이 가득 찼습니다"),
            Unavailable => (
                "UNAVAILABLE",
                "The server is too busy to handle the request",
                "서버가 혼잡하여 요청을 처리할 수 없습니다",
            ),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The language of a problem's `title`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    English,
    Korean,
}

impl Language {
    /// Picks the supported language the `Accept-Language` header prefers: the one with the
    /// highest quality among English and Korean, English when neither is named.
    pub fn preferred_by(accept_language: Option<&str>) -> Self {
        let Some(header) = accept_language else {
            return Self::English;
        };
        let mut best: Option<(f32, Self)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = pieces
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let language = match tag.split('-').next() {
                Some("ko") => Self::Korean,
                Some("en") => Self::English,
                _ => continue,
            };
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, language));
            }
        }
        best.map_or(Self::English, |(_, language)| language)
    }
}

/// An operating condition the caller is told about, as a problem document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Error {
    pub code: ErrorCode,
    pub detail: String,
    /// For TOKEN_NOT_ACTIVE: the token's current queue status.
    pub queue: Option<serde_json::Value>,
    /// For RATE_LIMITED and UNAVAILABLE: seconds after which a retry may succeed.
    pub retry_after_seconds: Option<u64>,
    /// The detail in Korean, where the refusal says more than its title; otherwise a Korean
    /// reader is told the Korean title.
    pub detail_ko: Option<String>,
    /// Members the problem document carries besides its own, such as SALE_NOT_OPEN's
    /// `prequeueOpensAt`.
    /// Boxed: most errors carry none, and every result carries the error's size.
    pub fields: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

impl Error {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            queue: None,
            retry_after_seconds: None,
            detail_ko: None,
            fields: None,
        }
    }

    /// The same refusal, with its detail in Korean too.
    pub fn with_korean(mut self, detail: impl Into<String>) -> Self {
        self.detail_ko = Some(detail.into());
        self
    }

    /// The detail in `language`.
    pub fn detail_in(&self, language: Language) -> String {
        match (language, &self.detail_ko) {
            (Language::English, _) => self.detail.clone(),
            (Language::Korean, Some(korean)) => korean.clone(),
            (Language::Korean, None) => format!("{}.", self.code.title(Language::Korean)),
        }
    }

    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, detail)
    }

    /// A bug or a broken internal channel; the cause is logged, never shown.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(ErrorCode::Internal, "An internal error occurred; it has been logged.")
    }

    pub fn unavailable() -> Self {
        Self {
            retry_after_seconds: Some(1),
            ..Self::new(ErrorCode::Unavailable, "The server is busy; retry shortly.")
        }
    }

    pub fn with_queue(mut self, queue: serde_json::Value) -> Self {
        self.queue = Some(queue);
        self
    }

    /// The same refusal, its problem document carrying `name` too.
    pub fn with_field(mut self, name: &'static str, value: serde_json::Value) -> Self {
        (self.fields.get_or_insert_default()).insert(name.to_string(), value);
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = Some(seconds);
        self
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_spells_itself_as_its_serde_name() {
        for code in ErrorCode::ALL {
            let serialized = serde_json::to_value(code).unwrap();
            assert_eq!(serialized, code.as_str());
        }
    }

    #[test]
    fn the_challenge_is_refused_as_forbidden() {
        assert_eq!(ErrorCode::ChallengeRequired.status(), 403);
    }

    #[test]
    fn korean_is_chosen_only_when_preferred_over_english() {
        assert_eq!(
            Language::preferred_by(Some("ko-KR,ko;q=0.9,en;q=0.8")),
            Language::Korean
        );
        assert_eq!(Language::preferred_by(Some("en-US,ko;q=0.5")), Language::English);
        assert_eq!(Language::preferred_by(Some("fr, ko;q=0.4")), Language::Korean);
        assert_eq!(Language::preferred_by(Some("ko;q=0")), Language::English);
        assert_eq!(Language::preferred_by(Some("de")), Language::English);
        assert_eq!(Language::preferred_by(None), Language::English);
    }

    #[test]
    fn the_seat_unavailable_title_follows_the_brief() {
        assert_eq!(
            ErrorCode::SeatUnavailable.title(Language::Korean),
            "해당 좌석은 이미 예약되었습니다"
        );
        assert_eq!(ErrorCode::SeatUnavailable.status(), 409);
    }
}
