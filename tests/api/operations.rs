//! `/healthz`, `/metrics` and `/openapi.json`.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeSet;

/// Every route of API.md, with its methods (and the operator page's per-date sales, `GET /admin/concerts`).
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
    ("/api/v1/admin/concerts", &["post", "get"]),
    ("/api/v1/admin/queue", &["get", "put"]),
    ("/api/v1/admin/stats", &["get"]),
    ("/healthz", &["get"]),
    ("/metrics", &["get"]),
    ("/openapi.json", &["get"]),
];

async fn metrics(app: &TestApp) -> String {
    let response = app.admin(reqwest::Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// The value of a plain gauge.
fn gauge(metrics: &str, name: &str) -> Option<i64> {
    let line = metrics.lines().find(|line| line.starts_with(&format!("{name} ")))?;
    line.rsplit(' ').next()?.parse().ok()
}

#[tokio::test]
async fn metrics_need_the_admin_key_on_the_public_listener() {
    let app = spawn_app();
    assert_problem(app.get("/metrics").await, 401, "ADMIN_KEY_INVALID").await;
    let wrong = app
        .request(reqwest::Method::GET, "/metrics")
        .header("X-Admin-Key", "x".repeat(24));
    assert_problem(wrong.send().await.unwrap(), 401, "ADMIN_KEY_INVALID").await;
    assert!(app.metrics_base.is_none());
    let disabled = spawn_app_with(|config| config.admin_key = None);
    assert_problem(disabled.get("/metrics").await, 403, "ADMIN_DISABLED").await;
}

#[tokio::test]
async fn metrics_are_served_without_a_key_on_the_metrics_address_and_stay_fresh() {
    let app = spawn_app_with(|config| config.metrics_addr = Some("127.0.0.1:0".parse().unwrap()));
    let private = app.metrics_base.clone().expect("a metrics listener");
    let scrape = || async {
        let response = reqwest::get(format!("{private}/metrics")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    };
    let concert = app.create_concert("Scraped", &[("2026-12-24", 10, 1_000)]).await;
    let fan = app.fan("Kim").await;
    app.held(&fan, &concert, "2026-12-24", 1).await;
    let started = std::time::Instant::now();
    while gauge(&scrape().await, "concert_seats_held") != Some(1) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the figures, refreshed every second, never show the hold"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(gauge(&scrape().await, "concert_users"), Some(1));
    let unknown = reqwest::get(format!("{private}/api/v1/concerts")).await.unwrap();
    assert_eq!(
        unknown.status(),
        StatusCode::NOT_FOUND,
        "the private listener serves /metrics alone"
    );
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
async fn metrics_count_a_head_as_its_get_and_invented_methods_under_one_label() {
    let app = spawn_app();
    let client = reqwest::Client::new();
    let healthz = format!("{}/healthz", app.base);
    let head = client.head(&healthz).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    for invented in ["FROB", "FROB2", "TWIDDLE"] {
        let method = reqwest::Method::from_bytes(invented.as_bytes()).unwrap();
        let refused = client.request(method, &healthz).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    app.get("/no/such/route").await;
    app.get("/no/such/route/either").await;
    let text = metrics(&app).await;
    assert_eq!(requests_counted(&text, "GET", "/healthz", 200), Some(1), "{text}");
    assert_eq!(requests_counted(&text, "OTHER", "/healthz", 405), Some(3), "{text}");
    assert!(!text.contains("FROB") && !text.contains("TWIDDLE"), "{text}");
    assert_eq!(requests_counted(&text, "GET", "unmatched", 404), Some(2), "{text}");
}

#[tokio::test]
async fn metrics_never_show_a_token_or_an_id() {
    let app = spawn_app_with(|config| config.active_max = 1);
    let active = app.fan("Active").await;
    let waiting = app.fan("Waiting").await;
    app.queue_of(&active).await;
    let mut events = app.events(&waiting).await;
    events.next(std::time::Duration::from_secs(5)).await;
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

#[tokio::test]
async fn the_fan_page_says_how_long_a_session_and_a_hold_last_on_this_server() {
    let app = spawn_app_with(|config| {
        config.active_ttl = std::time::Duration::from_secs(420);
        config.hold_ttl = std::time::Duration::from_secs(90);
    });
    let page = app.get("/").await.text().await.unwrap();
    assert!(page.contains(r#"data-session-seconds="420""#), "{page}");
    assert!(page.contains(r#"data-hold-seconds="90""#), "{page}");
}

/// A concrete path for a route pattern of the contract.
fn concrete(pattern: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    pattern
        .replace("{userId}", &id)
        .replace("{concertId}", &id)
        .replace("{reservationId}", &id)
        .replace("{date}", "2026-12-24")
}

#[tokio::test]
async fn a_method_a_route_does_not_take_is_405_with_allow_listing_what_it_does() {
    let app = spawn_app();
    for (pattern, methods) in CONTRACT_ROUTES {
        let response = app
            .admin(reqwest::Method::PATCH, &concrete(pattern))
            .send()
            .await
            .unwrap();
        let allow = header(&response, "allow");
        let mut listed: BTreeSet<String> = allow.split(", ").map(str::to_lowercase).collect();
        let mut expected: BTreeSet<String> = methods.iter().map(|m| m.to_string()).collect();
        if expected.contains("get") {
            expected.insert("head".into());
        }
        assert_eq!(listed, expected, "{pattern}: Allow: {allow}");
        listed.clear();
        assert_problem(response, 405, "METHOD_NOT_ALLOWED").await;
    }
}

#[tokio::test]
async fn head_answers_wherever_get_does_with_no_body() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    for (pattern, methods) in CONTRACT_ROUTES {
        if !methods.contains(&"get") {
            continue;
        }
        let path = if pattern.ends_with("/events") {
            format!("{pattern}?token={}", fan.token)
        } else {
            concrete(pattern)
        };
        let with_everything = |method| {
            app.admin(method, &path)
                .bearer_auth(&fan.token)
                .timeout(std::time::Duration::from_secs(5))
        };
        let get = with_everything(reqwest::Method::GET).send().await.unwrap();
        let head = with_everything(reqwest::Method::HEAD).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_eq!(
            header(&head, "content-type"),
            header(&get, "content-type"),
            "HEAD {path}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path} has a body");
    }
    for page in ["/", "/admin", "/assets/fan.js"] {
        let head = app.request(reqwest::Method::HEAD, page).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "HEAD {page}");
    }
}
