//! `/healthz`, `/metrics` and `/openapi.json`.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeSet;

/// Every route of API.md, with its methods.
const CONTRACT_ROUTES: [(&str, &[&str]); 21] = [
    ("/api/v1/users", &["post"]),
    ("/api/v1/users/{userId}", &["get"]),
    ("/api/v1/queue/challenge", &["get"]),
    ("/api/v1/queue/tokens", &["post"]),
    ("/api/v1/queue/tokens/me", &["get", "delete"]),
    ("/api/v1/queue/tokens/me/events", &["get"]),
    ("/api/v1/concerts", &["get"]),
    ("/api/v1/concerts/{concertId}/dates", &["get"]),
    ("/api/v1/concerts/{concertId}/dates/{date}/seats", &["get"]),
    ("/api/v1/reservations", &["post"]),
    ("/api/v1/reservations/{reservationId}", &["get", "delete"]),
    ("/api/v1/wallet", &["get"]),
    ("/api/v1/wallet/charges", &["post"]),
    ("/api/v1/wallet/transactions", &["get"]),
    ("/api/v1/payments", &["post", "get"]),
    ("/api/v1/admin/concerts", &["post"]),
    ("/api/v1/admin/queue", &["get", "put"]),
    ("/api/v1/admin/stats", &["get"]),
    ("/healthz", &["get"]),
    ("/metrics", &["get"]),
    ("/openapi.json", &["get"]),
];

async fn metrics(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// The value of the request counter for one method, route and status.
fn requests_counted(metrics: &str, method: &str, route: &str, status: u16) -> Option<u64> {
    let labels = [
        format!(r#"method="{method}""#),
        format!(r#"route="{route}""#),
        format!(r#"status="{status}""#),
    ];
    metrics
        .lines()
        .filter(|line| line.starts_with("concert_http_requests_total{"))
        .find(|line| labels.iter().all(|label| line.contains(label.as_str())))
        .map(|line| line.rsplit(' ').next().unwrap().parse().unwrap())
}

#[tokio::test]
async fn health_is_ok() {
    let app = spawn_app();
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, json!({"status": "ok"}));
}

#[tokio::test]
async fn metrics_count_requests_by_method_route_and_status() {
    let app = spawn_app();
    for _ in 0..3 {
        assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    }
    let unknown = uuid::Uuid::new_v4();
    app.get(&format!("/api/v1/users/{unknown}")).await;
    let text = metrics(&app).await;
    assert_eq!(requests_counted(&text, "GET", "/healthz", 200), Some(3), "{text}");
    assert_eq!(
        requests_counted(&text, "GET", "/api/v1/users/{userId}", 404),
        Some(1),
        "{text}"
    );

    app.get("/healthz").await;
    assert_eq!(requests_counted(&metrics(&app).await, "GET", "/healthz", 200), Some(4));
}

#[tokio::test]
async fn metrics_never_show_a_token_or_an_id() {
    let app = spawn_app_with(|config| config.active_max = 1);
    let active = app.fan("Active").await;
    let waiting = app.fan("Waiting").await;
    app.queue_of(&active).await;
    let mut events = app.events(&waiting).await;
    events.next(std::time::Duration::from_secs(1)).await;
    app.get(&format!("/api/v1/users/{}", active.user_id)).await;
    let text = metrics(&app).await;
    for secret in [&active.token, &waiting.token, &active.user_id] {
        assert!(!text.contains(secret.as_str()), "{secret} appears in the metrics");
    }
}

#[tokio::test]
async fn the_openapi_document_is_openapi_3_and_lists_every_route_of_the_contract() {
    let app = spawn_app();
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let document = body(response).await;
    let version = document["openapi"].as_str().unwrap();
    assert!(version.starts_with("3."), "{version}");
    let paths = document["paths"].as_object().unwrap();
    let mut missing = BTreeSet::new();
    for (path, methods) in CONTRACT_ROUTES {
        for method in methods {
            if paths.get(path).and_then(|p| p.get(*method)).is_none() {
                missing.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(missing.is_empty(), "missing from the document: {missing:?}");
}

#[tokio::test]
async fn the_fan_and_operator_pages_and_their_files_are_served_from_the_binary() {
    let app = spawn_app();
    for (path, content_type, marker) in [
        ("/", "text/html", "/assets/fan.js"),
        ("/admin", "text/html", "/assets/admin.js"),
        ("/assets/style.css", "text/css", ".seat"),
        ("/assets/common.js", "text/javascript", "function api("),
        ("/assets/fan.js", "text/javascript", "EventSource"),
        ("/assets/pow.js", "text/javascript", "crypto.subtle.digest"),
        ("/assets/admin.js", "text/javascript", "/api/v1/admin/queue"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(header(&response, "content-type").starts_with(content_type), "{path}");
        assert!(response.text().await.unwrap().contains(marker), "{path}");
    }
    let page = app.get("/").await;
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    let policy = header(&page, "content-security-policy");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("worker-src 'self'"), "{policy}");
    assert_problem(app.get("/assets/missing.js").await, 404, "NOT_FOUND").await;
    assert_problem(app.get("/assets/../Cargo.toml").await, 404, "NOT_FOUND").await;
}
