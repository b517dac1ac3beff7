//! Errors on the wire: every error leaves as `application/problem+json`, with the title and the
//! detail in English or, when the request prefers it, Korean.

use crate::error::{Error, ErrorCode, Language};
use actix_web::body::EitherBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The stable, machine-readable error code.
    pub code: String,
    /// With TOKEN_NOT_ACTIVE: the token's current queue status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<serde_json::Value>,
    /// Members some codes carry besides, such as SALE_NOT_OPEN's `prequeueOpensAt`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl Error {
    pub fn to_problem(&self, language: Language) -> Problem {
        Problem {
            kind: format!(
                "/problems/{}",
                self.code.as_str().to_ascii_lowercase().replace('_', "-")
            ),
            title: self.code.title(language).to_string(),
            status: self.code.status(),
            detail: self.detail_in(language),
            code: self.code.as_str().to_string(),
            queue: self.queue.clone(),
            fields: self.fields.as_deref().cloned().unwrap_or_default(),
        }
    }

    pub fn to_response(&self, language: Language) -> HttpResponse {
        let status = StatusCode::from_u16(self.code.status()).expect("error statuses are valid");
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if matches!(self.code, ErrorCode::TokenMissing | ErrorCode::TokenInvalid) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(seconds) = self.retry_after_seconds {
            response.insert_header((header::RETRY_AFTER, seconds.max(1).to_string()));
        }
        response.json(self.to_problem(language))
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).expect("error statuses are valid")
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response(Language::English)
    }
}

/// An error's answer as a problem document in the request's language, errors raised outside the
/// service's own code (the framework's 404, 405, 413, …) too; any other answer unchanged.
pub fn as_problem<B>(response: ServiceResponse<B>) -> ServiceResponse<EitherBody<B>> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response.map_into_left_body();
    }
    let language = language_of(response.request());
    let error = match response.response().error() {
        Some(error) => match error.as_error::<Error>() {
            Some(ours) => ours.clone(),
            None => framework_error(status),
        },
        // A handler's own answer, such as /healthz's 503, is what it meant to say.
        None => return response.map_into_left_body(),
    };
    response
        .into_response(error.to_response(language))
        .map_into_right_body()
}

/// The language the request prefers its problems in.
pub fn language_of(request: &actix_web::HttpRequest) -> Language {
    let accept_language = request.headers().get(header::ACCEPT_LANGUAGE);
    Language::preferred_by(accept_language.and_then(|value| value.to_str().ok()))
}

fn framework_error(status: StatusCode) -> Error {
    let code = match status.as_u16() {
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        413 => ErrorCode::PayloadTooLarge,
        400..=499 => ErrorCode::InvalidRequest,
        _ => return Error::internal(format!("the framework answered {status}")),
    };
    Error::new(code, status.canonical_reason().unwrap_or("error").to_string())
}
