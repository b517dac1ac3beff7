//! The numbers error codes and idempotency endpoints are written as. They are the format's, not
//! the place of a variant in the engine's enums: those may be reordered, these never change. A
//! new code or endpoint takes the next unused number, in both directions of its table. A number
//! this build does not know is refused when reading (see `convert.rs`), naming it.

use crate::domain::idempotency::Endpoint;
use crate::error::ErrorCode;

/// The number `code` is written as.
pub fn error_code_number(code: ErrorCode) -> u32 {
    use ErrorCode::*;
    match code {
        InvalidRequest => 0,
        InvalidAmount => 1,
        TokenMissing => 2,
        TokenInvalid => 3,
        AdminKeyInvalid => 4,
        TokenNotActive => 5,
        AdminDisabled => 6,
        UserNotFound => 7,
        ConcertNotFound => 8,
        DateNotFound => 9,
        SeatNotFound => 10,
        NotFound => 11,
        MethodNotAllowed => 12,
        ReservationNotFound => 13,
        TokenAlreadyIssued => 14,
        SeatUnavailable => 15,
        HoldLimitReached => 16,
        ReservationExpired => 17,
        ReservationNotHeld => 18,
        InsufficientBalance => 19,
        BalanceLimitExceeded => 20,
        PayloadTooLarge => 21,
        IdempotencyKeyReused => 22,
        RateLimited => 23,
        Internal => 24,
        QueueFull => 25,
        Unavailable => 26,
        UnsupportedMediaType => 27,
        ChallengeRequired => 28,
        RequestTimeout => 29,
        UriTooLong => 30,
        HeadersTooLarge => 31,
        TicketNotFound => 32,
        TokenWrongSale => 33,
        SaleNotFound => 34,
        SaleNotOpen => 35,
        SaleAlreadyOpen => 36,
        SeatsAvailable => 37,
        AlreadyWaitlisted => 38,
        RefundClosed => 39,
    }
}

/// The code written as `number`, if this build knows it.
pub fn error_code_of(number: u32) -> Option<ErrorCode> {
    use ErrorCode::*;
    Some(match number {
        0 => InvalidRequest,
        1 => InvalidAmount,
        2 => TokenMissing,
        3 => TokenInvalid,
        4 => AdminKeyInvalid,
        5 => TokenNotActive,
        6 => AdminDisabled,
        7 => UserNotFound,
        8 => ConcertNotFound,
        9 => DateNotFound,
        10 => SeatNotFound,
        11 => NotFound,
        12 => MethodNotAllowed,
        13 => ReservationNotFound,
        14 => TokenAlreadyIssued,
        15 => SeatUnavailable,
        16 => HoldLimitReached,
        17 => ReservationExpired,
        18 => ReservationNotHeld,
        19 => InsufficientBalance,
        20 => BalanceLimitExceeded,
        21 => PayloadTooLarge,
        22 => IdempotencyKeyReused,
        23 => RateLimited,
        24 => Internal,
        25 => QueueFull,
        26 => Unavailable,
        27 => UnsupportedMediaType,
        28 => ChallengeRequired,
        29 => RequestTimeout,
        30 => UriTooLong,
        31 => HeadersTooLarge,
        32 => TicketNotFound,
        33 => TokenWrongSale,
        34 => SaleNotFound,
        35 => SaleNotOpen,
        36 => SaleAlreadyOpen,
        37 => SeatsAvailable,
        38 => AlreadyWaitlisted,
        39 => RefundClosed,
        _ => return None,
    })
}

/// The number `endpoint` is written as.
pub fn endpoint_number(endpoint: Endpoint) -> u32 {
    match endpoint {
        Endpoint::Charges => 0,
        Endpoint::Reservations => 1,
        Endpoint::Payments => 2,
        Endpoint::QueueTokens => 3,
        Endpoint::SaleQueueTokens => 4,
        Endpoint::OfferPayments => 5,
    }
}

/// The endpoint written as `number`, if this build knows it.
pub fn endpoint_of(number: u32) -> Option<Endpoint> {
    Some(match number {
        0 => Endpoint::Charges,
        1 => Endpoint::Reservations,
        2 => Endpoint::Payments,
        3 => Endpoint::QueueTokens,
        4 => Endpoint::SaleQueueTokens,
        5 => Endpoint::OfferPayments,
        _ => return None,
    })
}
