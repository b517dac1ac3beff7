//! `/openapi.json`: the OpenAPI 3 document of the whole API, generated from the handlers' own
//! annotations.

pub mod answers;

use super::problem::Problem;
use super::{admin, concerts, metrics, payments, queue, reservations, users, wallet};
use actix_web::HttpResponse;
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
        Errors are application/problem+json with a stable `code`; titles are Korean when Accept-Language prefers ko. \
        HEAD answers wherever GET does; a method a path does not list is 405 METHOD_NOT_ALLOWED with `Allow` \
        (`#/components/responses/MethodNotAllowed`)."),
    paths(
        users::register, users::read,
        queue::issue, queue::read, queue::leave, queue::events,
        concerts::list, concerts::available_dates, concerts::seat_map,
        reservations::hold, reservations::read, reservations::cancel,
        wallet::balance, wallet::charge, wallet::transactions,
        payments::pay, payments::list,
        admin::create_concert, admin::concert_figures, admin::queue, admin::set_active_max, admin::stats,
        metrics::healthz, metrics::prometheus, document,
    ),
    components(schemas(Problem)),
    modifiers(&SecuritySchemes, &MethodNotAllowed),
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

/// The document as the annotations make it, with what they cannot say: built once.
static ANNOTATED: LazyLock<Value> = LazyLock::new(|| {
    let mut document = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    require_response_headers(&mut document);
    document
});

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
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(&*ANNOTATED)
}
