//! The fan page at `/` and the operator page at `/admin`: plain HTML, CSS and JavaScript built into
//! the binary, so the server needs no files, no CDN and no build step to show them.

use super::{resource, AppState};
use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::{web, HttpResponse};

const FAN_PAGE: &str = include_str!("pages/index.html");
const OPERATOR_PAGE: &str = include_str!("pages/admin.html");

/// The files the pages load, by the name they are served under.
const ASSETS: [(&str, &str, &str); 10] = [
    ("style.css", "text/css; charset=utf-8", include_str!("pages/style.css")),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_str!("pages/common.js"),
    ),
    ("fan.js", "text/javascript; charset=utf-8", include_str!("pages/fan.js")),
    (
        "i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("pages/i18n.js"),
    ),
    ("pow.js", "text/javascript; charset=utf-8", include_str!("pages/pow.js")),
    (
        "onsale.js",
        "text/javascript; charset=utf-8",
        include_str!("pages/onsale.js"),
    ),
    (
        "admin-sales.js",
        "text/javascript; charset=utf-8",
        include_str!("pages/admin-sales.js"),
    ),
    // Kazuhiko Arase's QR code generator (MIT, npm qrcode-generator 1.4.4), as published.
    (
        "qrcode.js",
        "text/javascript; charset=utf-8",
        include_str!("pages/qrcode.js"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_str!("pages/admin.js"),
    ),
    ("admin.css", "text/css; charset=utf-8", include_str!("pages/admin.css")),
];

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/").get(fan_page))
        .service(resource("/admin").get(operator_page))
        .service(resource("/assets/{name}").get(asset));
}

async fn fan_page(state: web::Data<AppState>) -> HttpResponse {
    html(fan_page_for(&state.services.config))
}

/// The fan page told how long a session and a hold last on this server, so that a fan still in
/// line knows what to expect once admitted, and how many seats one payment may take.
fn fan_page_for(config: &Config) -> String {
    FAN_PAGE
        .replace("{session_seconds}", &config.active_ttl.as_secs().to_string())
        .replace("{hold_seconds}", &config.hold_ttl.as_secs().to_string())
        .replace("{hold_max}", &config.hold_max.to_string())
}

async fn operator_page() -> HttpResponse {
    html(OPERATOR_PAGE)
}

/// Pages load only their own files and may not be framed by another site (a framed Pay button
/// could be clicked for the fan). Workers come from the page's own files too: the fan page
/// solves the proof of work in one.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; style-src 'self' 'unsafe-inline'; worker-src 'self'; frame-ancestors 'none'";

fn html(page: impl actix_web::body::MessageBody + 'static) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(page)
}

async fn asset(name: web::Path<String>) -> Result<HttpResponse> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(asset, _, _)| *asset == name.as_str())
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "No such file."))?;
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(*body))
}
