//! The problem answers operations share, as `IntoResponses` sets for `#[utoipa::path]`: a set
//! for each extractor or kind of work, so a handler lists the sets of what it uses beside its
//! own 404s and 409s, and every error is documented as `application/problem+json`.

use std::collections::BTreeMap;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Type};

/// One problem answer: its status, the codes it carries and the headers always sent with it.
pub struct Answer {
    status: u16,
    description: &'static str,
    headers: &'static [Header],
}

/// A header some problem answers always carry.
#[derive(Clone, Copy)]
enum Header {
    /// Whole seconds, at least 1, after which a retry may succeed.
    RetryAfter,
    /// `Bearer`: the scheme a refused token must use.
    WwwAuthenticate,
}

const fn answer(status: u16, description: &'static str) -> Answer {
    Answer {
        status,
        description,
        headers: &[],
    }
}

pub const INVALID_REQUEST: Answer = answer(
    400,
    "INVALID_REQUEST: malformed JSON, a missing, mistyped or out-of-bounds field, or a bad path, query or header parameter",
);
pub const TOKEN_REFUSED: Answer = Answer {
    headers: &[Header::WwwAuthenticate],
    ..answer(
        401,
        "TOKEN_MISSING, or TOKEN_INVALID: unknown, expired, left, or ended by a payment",
    )
};
pub const ADMIN_KEY_INVALID: Answer = answer(401, "ADMIN_KEY_INVALID: the X-Admin-Key header is missing or wrong");
pub const ADMIN_DISABLED: Answer = answer(403, "ADMIN_DISABLED: the server was started without an admin key");
pub const TOKEN_NOT_ACTIVE: Answer = answer(
    403,
    "TOKEN_NOT_ACTIVE: the token still waits; `queue` carries its current status",
);
pub const PAYLOAD_TOO_LARGE: Answer = answer(413, "PAYLOAD_TOO_LARGE: the body is over the limit");
pub const UNSUPPORTED_MEDIA_TYPE: Answer = answer(
    415,
    "UNSUPPORTED_MEDIA_TYPE: a body whose Content-Type is not application/json",
);
pub const KEY_REUSED: Answer = answer(
    422,
    "IDEMPOTENCY_KEY_REUSED: the Idempotency-Key was used with another body",
);
pub const RATE_LIMITED: Answer = Answer {
    headers: &[Header::RetryAfter],
    ..answer(
        429,
        "RATE_LIMITED: over the per-user or per-client budget, or the user keeps 1,000 Idempotency-Keys already",
    )
};
pub const UNAVAILABLE: Answer = Answer {
    headers: &[Header::RetryAfter],
    ..answer(
        503,
        "UNAVAILABLE: the server is too busy, or storage cannot make the write durable",
    )
};

pub const USER_NOT_FOUND: Answer = answer(404, "USER_NOT_FOUND");
pub const RESERVATION_NOT_FOUND: Answer = answer(404, "RESERVATION_NOT_FOUND, also for another user's");

/// The answers of the sets listed, in one map; a status two of them share keeps one meaning.
fn responses(answers: &[&Answer]) -> BTreeMap<String, RefOr<Response>> {
    answers
        .iter()
        .map(|answer| (answer.status.to_string(), RefOr::T(problem_response(answer))))
        .collect()
}

fn problem_response(answer: &Answer) -> Response {
    let problem = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    let mut response = ResponseBuilder::new()
        .description(answer.description)
        .content("application/problem+json", problem);
    for header in answer.headers {
        response = match header {
            Header::RetryAfter => response.header("Retry-After", retry_after()),
            Header::WwwAuthenticate => response.header("WWW-Authenticate", www_authenticate()),
        };
    }
    response.build()
}

fn retry_after() -> utoipa::openapi::header::Header {
    let seconds = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1));
    HeaderBuilder::new()
        .schema(seconds)
        .description(Some("Seconds after which a retry may succeed"))
        .build()
}

fn www_authenticate() -> utoipa::openapi::header::Header {
    let bearer = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["Bearer"]));
    HeaderBuilder::new()
        .schema(bearer)
        .description(Some("The token goes in `Authorization: Bearer <token>`"))
        .build()
}

/// Declares `IntoResponses` sets of answers.
macro_rules! answer_sets {
    ($($(#[$meta:meta])* $set:ident = [$($answer:expr),+ $(,)?];)+) => {$(
        $(#[$meta])*
        pub struct $set;

        impl utoipa::IntoResponses for $set {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                responses(&[$(&$answer),+])
            }
        }
    )+};
}

answer_sets! {
    /// `Fan`: a bearer token refused, or its user over the per-user budget.
    FanErrors = [TOKEN_REFUSED, RATE_LIMITED];
    /// `Admin`: the key is wrong, or the server has none.
    AdminErrors = [ADMIN_KEY_INVALID, ADMIN_DISABLED];
    /// `Client`: over the per-client budget of the endpoints that need no token.
    ClientErrors = [RATE_LIMITED];
    /// `require_active`: the token still waits.
    ActiveErrors = [TOKEN_NOT_ACTIVE];
    /// `JsonBody`: not declared JSON, too large, or not the expected shape and bounds.
    BodyErrors = [INVALID_REQUEST, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE];
    /// A path or query parameter that must parse: a UUID, a date, a limit.
    ParameterErrors = [INVALID_REQUEST];
    /// `at_most_once_per_key`: a malformed Idempotency-Key, one used with another body, or one too many.
    KeyedErrors = [INVALID_REQUEST, KEY_REUSED, RATE_LIMITED];
    /// Work an actor or the journal does: a full mailbox, or storage that cannot write.
    BusyErrors = [UNAVAILABLE];

    UserNotFound = [USER_NOT_FOUND];
    /// `POST /queue/tokens`.
    IssueErrors = [
        USER_NOT_FOUND,
        answer(409, "TOKEN_ALREADY_ISSUED: the user holds a live token already"),
        Answer {
            headers: &[Header::RetryAfter],
            ..answer(503, "QUEUE_FULL: the waiting room is full; or UNAVAILABLE, as for any write")
        },
    ];
    /// `POST /concerts/{concertId}/queue/tokens`.
    SaleIssueErrors = [
        answer(404, "USER_NOT_FOUND; or SALE_NOT_FOUND: the concert has no sale"),
        answer(409, "TOKEN_ALREADY_ISSUED: the user holds a live token of this room already; or SALE_NOT_OPEN: the pre-queue opens at `prequeueOpensAt`, which the body carries"),
        Answer {
            headers: &[Header::RetryAfter],
            ..answer(503, "QUEUE_FULL: the sale's room is full; or UNAVAILABLE, as for any write")
        },
    ];
    /// `POST /concerts/{concertId}/dates/{date}/waitlist`.
    WaitlistJoinErrors = [
        answer(404, "CONCERT_NOT_FOUND or DATE_NOT_FOUND"),
        answer(409, "SEATS_AVAILABLE: the date has an AVAILABLE seat; or ALREADY_WAITLISTED"),
        Answer {
            headers: &[Header::RetryAfter],
            ..answer(503, "QUEUE_FULL: the date's waiting list is full; or UNAVAILABLE, as for any write")
        },
    ];
    /// A code no waiting-list entry has.
    EntryNotFound = [answer(404, "NOT_FOUND: no waiting-list entry has this code")];
    /// `POST /waitlist/{entryCode}/payment`.
    OfferPaymentErrors = [answer(
        409,
        "RESERVATION_NOT_HELD: no offer yet, or paid already; RESERVATION_EXPIRED: the offer lapsed; INSUFFICIENT_BALANCE",
    )];
    /// `GET /concerts/{concertId}/sale`.
    SaleNotFound = [answer(404, "SALE_NOT_FOUND: the concert has no sale")];
    /// `PUT /admin/concerts/{concertId}/sale`.
    SaleChangeErrors = [
        answer(404, "CONCERT_NOT_FOUND"),
        answer(409, "SALE_ALREADY_OPEN: the pre-queue has opened, so the times cannot change (the limits can)"),
    ];
    /// A token of another room than the concert's: a sale's token on another concert, or a
    /// site-wide token on a concert with a sale.
    WrongSale = [answer(403, "TOKEN_WRONG_SALE: the token's room is not this concert's; or TOKEN_NOT_ACTIVE, with the token's `queue` status")];
    /// The event stream's: a token in the query refused, or a third stream for one token.
    StreamErrors = [TOKEN_REFUSED, Answer {
        headers: &[Header::RetryAfter],
        ..answer(429, "RATE_LIMITED: this token has two event streams open already")
    }];
    /// `X-Altcha` on `POST /queue/tokens`, with proof of work on.
    ChallengeErrors = [answer(
        403,
        "CHALLENGE_REQUIRED: proof of work is on and X-Altcha carries no valid, unexpired, unused solution",
    )];
    /// `GET /queue/challenge` with proof of work off.
    ChallengeOff = [answer(404, "NOT_FOUND: proof of work is off; take a token without X-Altcha")];
    ConcertNotFound = [answer(404, "CONCERT_NOT_FOUND")];
    DateNotFound = [answer(404, "CONCERT_NOT_FOUND or DATE_NOT_FOUND")];
    /// `POST /reservations`.
    HoldErrors = [
        answer(404, "CONCERT_NOT_FOUND, DATE_NOT_FOUND, or SEAT_NOT_FOUND for any seat number the date lacks"),
        answer(409, "SEAT_UNAVAILABLE: the seat is HELD or SOLD; or HOLD_LIMIT_REACHED"),
    ];
    /// Reading a reservation: one of another user is not found either.
    ReservationNotFound = [RESERVATION_NOT_FOUND];
    /// `GET /tickets/{ticketCode}`.
    TicketNotFound = [answer(404, "TICKET_NOT_FOUND: no ticket has this code")];
    /// `DELETE /tickets/{ticketCode}`.
    RefundErrors = [answer(409, "REFUND_CLOSED: past the last step of the sale's refund policy, or the concert has no sale")];
    /// `DELETE /reservations/{reservationId}`.
    CancelErrors = [
        RESERVATION_NOT_FOUND,
        answer(409, "RESERVATION_NOT_HELD: paid, cancelled, or being paid; or RESERVATION_EXPIRED"),
    ];
    /// `POST /wallet/charges`, listed after `BodyErrors`: its 400 also names INVALID_AMOUNT.
    ChargeErrors = [
        answer(400, "INVALID_AMOUNT: not a whole number of won from 1 to the charge limit; or INVALID_REQUEST, as for any body"),
        answer(409, "BALANCE_LIMIT_EXCEEDED: the charge would take the balance past its limit"),
    ];
    /// `POST /payments`.
    PaymentErrors = [
        RESERVATION_NOT_FOUND,
        answer(409, "RESERVATION_EXPIRED, RESERVATION_NOT_HELD or INSUFFICIENT_BALANCE"),
    ];
}
