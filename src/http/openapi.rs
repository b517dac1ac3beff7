//! `/openapi.json`: the OpenAPI 3 document of the whole API, generated from the handlers' own
//! annotations, with the bounds of the running server's configuration.

pub mod answers;
pub mod fields;

use super::params::ConcertDate;
use super::problem::Problem;
use super::{
    admin, concerts, metrics, payments, queue, reservations, sales, tickets, users, waitlists, wallet, AppState,
};
use crate::config::Config;
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use std::sync::LazyLock;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, Type};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Concert reservation API", description = "A fair waiting room, seat holds, a wallet and payments for a concert on sale. \
        Errors are application/problem+json with a stable `code`; titles and details are Korean when Accept-Language prefers ko. \
        HEAD answers wherever GET does; a method a path does not list is 405 METHOD_NOT_ALLOWED with `Allow` \
        (`#/components/responses/MethodNotAllowed`). A request the HTTP parser refuses before any operation sees it \
        is a problem too, on any path: 400 INVALID_REQUEST, 408 REQUEST_TIMEOUT, 414 URI_TOO_LONG, 431 HEADERS_TOO_LARGE \
        (`#/components/responses/ParserRefused`)."),
    paths(
        users::register, users::read,
        queue::challenge, queue::issue, queue::read, queue::leave, queue::events,
        sales::set_sale, sales::read_sale, sales::read_draw, queue::issue_for_sale, sales::jwks,
        waitlists::join, waitlists::read, waitlists::pay,
        concerts::list, concerts::available_dates, concerts::seat_map,
        reservations::hold, reservations::read, reservations::cancel,
        wallet::balance, wallet::charge, wallet::transactions,
        payments::pay, payments::list, tickets::read, tickets::cancel,
        admin::create_concert, admin::concert_figures, admin::queue, admin::set_active_max, admin::stats,
        metrics::healthz, metrics::prometheus, document,
    ),
    components(schemas(Problem, ConcertDate)),
    modifiers(&SecuritySchemes, &MethodNotAllowed, &ParserRefused),
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("The queue token, opaque, bound to one user"))
            .build();
        components.add_security_scheme("queueToken", SecurityScheme::Http(bearer));
        let in_query = ApiKeyValue::with_description(
            "token",
            "The queue token in the query, since a browser's EventSource cannot send headers",
        );
        components.add_security_scheme("queueTokenQuery", SecurityScheme::ApiKey(ApiKey::Query(in_query)));
        let admin = ApiKeyValue::with_description("X-Admin-Key", "The key the server was started with");
        components.add_security_scheme("adminKey", SecurityScheme::ApiKey(ApiKey::Header(admin)));
    }
}

/// The answer to a method a path does not list, which no operation can name as its own.
struct MethodNotAllowed;

impl Modify for MethodNotAllowed {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let allow = HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::String))
            .description(Some("The methods the path takes, HEAD wherever GET is"))
            .build();
        let problem = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build();
        let response = ResponseBuilder::new()
            .description("METHOD_NOT_ALLOWED")
            .content("application/problem+json", problem)
            .header("Allow", allow)
            .build();
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .responses
            .insert("MethodNotAllowed".to_string(), response.into());
    }
}

/// The answers to a request the HTTP parser refuses, on any path, before any operation runs.
struct ParserRefused;

impl Modify for ParserRefused {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let problem = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build();
        let response = ResponseBuilder::new()
            .description(
                "400 INVALID_REQUEST (not HTTP/1.1), 408 REQUEST_TIMEOUT (the head or the body did not arrive within the client timeout), \
                 414 URI_TOO_LONG (a request target over 65,534 bytes), 431 HEADERS_TOO_LARGE (a head over 128 KiB or with \
                 more than 96 headers); the connection is closed after it",
            )
            .content("application/problem+json", problem)
            .build();
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .responses
            .insert("ParserRefused".to_string(), response.into());
    }
}

/// The document as the annotations make it, with what they cannot say, before any
/// configuration: built once.
static ANNOTATED: LazyLock<Value> = LazyLock::new(|| {
    let mut document = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    // A date twice is refused, so the same item twice is too; utoipa says so only of sets.
    set(&mut document, "NewConcert/properties/dates/uniqueItems", json!(true));
    require_response_headers(&mut document);
    as_openapi_3_0(&mut document);
    document
});

/// Rewrites utoipa's OpenAPI 3.1 as 3.0.3, whose schemas follow JSON Schema draft 4: there an
/// `integer` is a number written without a fraction or exponent, as the contract's integers are
/// and as the server reads them, where in 3.1 (JSON Schema 2020-12) `7.0` is an integer too. The
/// document uses nothing else of 3.1 but `null` in a list of types and `examples`.
fn as_openapi_3_0(document: &mut Value) {
    document["openapi"] = json!("3.0.3");
    rewrite_schemas_as_draft_4(document);
}

fn rewrite_schemas_as_draft_4(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(Value::Array(types)) = object.get("type") {
                let nullable = types.iter().any(|name| name == "null");
                let others: Vec<Value> = types.iter().filter(|name| *name != "null").cloned().collect();
                assert_eq!(others.len(), 1, "a schema of one type, or of one type or null");
                object.insert("type".to_string(), others[0].clone());
                if nullable {
                    object.insert("nullable".to_string(), json!(true));
                }
            }
            // A schema's `examples` is a list; a media type's is a map, the same in 3.0.
            if let Some(Value::Array(examples)) = object.get("examples") {
                let first = examples[0].clone();
                object.remove("examples");
                object.insert("example".to_string(), first);
            }
            object.values_mut().for_each(rewrite_schemas_as_draft_4);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_schemas_as_draft_4),
        _ => {}
    }
}

/// The document for a server of this configuration: the limits it was started with bound the
/// fields they limit.
pub fn document_for(config: &Config) -> Value {
    let mut document = ANNOTATED.clone();
    let charge_max = json!(config.charge_max);
    set(&mut document, "NewCharge/properties/amount/maximum", charge_max.clone());
    set(&mut document, "NewConcertDate/properties/price/maximum", charge_max);
    let seats_max = json!(config.seats_per_date_max);
    set(&mut document, "NewConcertDate/properties/seatCount/maximum", seats_max);
    document
}

/// Sets a keyword of a component schema, which must exist: a renamed field fails here, not in
/// a fuzzer's run.
fn set(document: &mut Value, path: &str, value: Value) {
    let (at, keyword) = path.rsplit_once('/').expect("a path to a keyword");
    let pointer = format!("/components/schemas/{at}");
    let schema = document
        .pointer_mut(&pointer)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no schema at {pointer}"));
    schema.insert(keyword.to_string(), value);
}

/// Every header this document names on an answer is always sent with it. (utoipa's `Header`
/// has no `required` to say so.)
fn require_response_headers(document: &mut Value) {
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        let items = paths.values_mut().filter_map(Value::as_object_mut);
        for operation in items.flat_map(|item| item.values_mut()) {
            if let Some(responses) = operation.get_mut("responses") {
                require_headers(responses);
            }
        }
    }
    if let Some(shared) = document.pointer_mut("/components/responses") {
        require_headers(shared);
    }
}

fn require_headers(responses: &mut Value) {
    let answers = responses
        .as_object_mut()
        .into_iter()
        .flat_map(|answers| answers.values_mut());
    let headers = answers.filter_map(|answer| answer.get_mut("headers").and_then(Value::as_object_mut));
    for header in headers.flat_map(|headers| headers.values_mut()) {
        header["required"] = json!(true);
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object)))]
pub async fn document(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(document_for(&state.services.config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::idempotency::KEY_LENGTH_MAX;

    fn at<'a>(pointer: &str) -> &'a Value {
        ANNOTATED
            .pointer(pointer)
            .unwrap_or_else(|| panic!("nothing at {pointer}"))
    }

    /// utoipa takes bounds as literals only: these are the constants the handlers check.
    #[test]
    fn the_annotated_bounds_are_the_ones_the_handlers_check() {
        let active_max = at("/components/schemas/ActiveMax/properties/activeMax/maximum");
        assert_eq!(active_max, &json!(admin::ACTIVE_MAX_LIMIT));
        assert_eq!(
            at("/components/schemas/NewConcert/properties/dates/maxItems"),
            &json!(admin::DATES_MAX)
        );
        let limit = at("/paths/~1api~1v1~1wallet~1transactions/get/parameters/0/schema/maximum");
        assert_eq!(limit, &json!(wallet::TRANSACTIONS_LIMIT_MAX));
        let key = at("/paths/~1api~1v1~1payments/post/parameters/0/schema/maxLength");
        assert_eq!(key, &json!(KEY_LENGTH_MAX));
    }
}
