//! `/openapi.json`: the OpenAPI 3 document of the whole API, generated from the handlers.

use super::{admin, concerts, metrics, payments, queue, reservations, users, wallet};
use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Concert reservation API", description = "A fair waiting room, seat holds, a wallet and payments for a concert on sale. Errors are application/problem+json with a stable `code`; titles are Korean when Accept-Language prefers ko."),
    paths(
        users::register, users::read,
        queue::challenge, queue::issue, queue::read, queue::leave, queue::events,
        concerts::list, concerts::available_dates, concerts::seat_map,
        reservations::hold, reservations::read, reservations::cancel,
        wallet::balance, wallet::charge, wallet::transactions,
        payments::pay, payments::list,
        admin::create_concert, admin::concert_figures, admin::queue, admin::set_active_max, admin::stats,
        metrics::healthz, metrics::prometheus, document,
    ),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "queueToken",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "adminKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Admin-Key"))),
        );
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "This document")))]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
