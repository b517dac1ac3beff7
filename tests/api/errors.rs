//! What every endpoint shares: problem documents, unknown routes and methods, bad bodies, the
//! body limit, Korean titles, token errors and the per-user rate limit.

use crate::helpers::*;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::json;

fn has_hangul(text: &str) -> bool {
    text.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
}

/// Every endpoint that reads a body, with whatever credentials it needs.
fn body_endpoints(app: &TestApp, fan: &Fan) -> Vec<RequestBuilder> {
    vec![
        app.request(Method::POST, "/api/v1/users"),
        app.request(Method::POST, "/api/v1/queue/tokens"),
        app.with_token(Method::POST, "/api/v1/reservations", &fan.token),
        app.with_token(Method::POST, "/api/v1/wallet/charges", &fan.token),
        app.with_token(Method::POST, "/api/v1/payments", &fan.token),
        app.admin(Method::POST, "/api/v1/admin/concerts"),
        app.admin(Method::PUT, "/api/v1/admin/queue"),
    ]
}

#[tokio::test]
async fn an_unknown_route_is_not_found() {
    let app = spawn_app();
    for path in ["/nope", "/api/v1/nope", "/api/v2/concerts", "/api/v1/users/a/b", "/api"] {
        let problem = assert_problem(app.get(path).await, 404, "NOT_FOUND").await;
        assert_eq!(problem["type"], "/problems/not-found", "{path}");
    }
}

#[tokio::test]
async fn a_known_route_with_another_method_is_method_not_allowed() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    let requests = [
        app.request(Method::DELETE, "/api/v1/users"),
        app.request(Method::PUT, "/api/v1/concerts"),
        app.request(Method::POST, "/healthz"),
        app.with_token(Method::PATCH, "/api/v1/wallet", &fan.token),
        app.with_token(Method::GET, "/api/v1/wallet/charges", &fan.token),
        app.with_token(Method::POST, "/api/v1/queue/tokens/me", &fan.token),
        app.admin(Method::DELETE, "/api/v1/admin/concerts"),
        app.admin(Method::DELETE, "/api/v1/admin/stats"),
    ];
    for request in requests {
        let problem = assert_problem(request.send().await.unwrap(), 405, "METHOD_NOT_ALLOWED").await;
        assert_eq!(problem["type"], "/problems/method-not-allowed");
    }
}

#[tokio::test]
async fn malformed_json_is_an_invalid_request_everywhere() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    for request in body_endpoints(&app, &fan) {
        let response = request
            .header("content-type", "application/json")
            .body(r#"{"name": "#)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 400, "INVALID_REQUEST").await;
        assert_eq!(problem["type"], "/problems/invalid-request");
    }
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_an_invalid_request_everywhere() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    for shape in [json!([]), json!(null), json!("text"), json!({})] {
        for request in body_endpoints(&app, &fan) {
            let response = request.json(&shape).send().await.unwrap();
            assert_problem(response, 400, "INVALID_REQUEST").await;
        }
    }
    let empty = app.request(Method::POST, "/api/v1/users").send().await.unwrap();
    assert_problem(empty, 400, "INVALID_REQUEST").await;
}

#[tokio::test]
async fn wrongly_typed_fields_are_invalid_requests() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    let requests = [
        app.request(Method::POST, "/api/v1/users").json(&json!({"name": 5})),
        app.request(Method::POST, "/api/v1/queue/tokens")
            .json(&json!({"userId": 5})),
        app.with_token(Method::POST, "/api/v1/payments", &fan.token)
            .json(&json!({"reservationId": true})),
        app.with_token(Method::POST, "/api/v1/reservations", &fan.token)
            .json(&json!({"concertId": 1, "date": "2026-12-24", "seatNumber": 1})),
        app.admin(Method::PUT, "/api/v1/admin/queue")
            .json(&json!({"activeMax": "3"})),
        app.admin(Method::POST, "/api/v1/admin/concerts")
            .json(&json!({"title": ["x"], "dates": []})),
    ];
    for request in requests {
        assert_problem(request.send().await.unwrap(), 400, "INVALID_REQUEST").await;
    }
    assert_eq!(app.stats().await["users"], 1);
}

#[tokio::test]
async fn an_invalid_idempotency_key_is_refused_by_every_keyed_endpoint() {
    let app = spawn_app();
    let concert = app.create_concert("Keys", &[("2026-12-24", 10, 0)]).await;
    let fan = app.fan("Kim").await;
    let reservation = app.held(&fan, &concert, "2026-12-24", 1).await;
    let key = "k".repeat(65);
    let requests = [
        app.with_token(Method::POST, "/api/v1/wallet/charges", &fan.token)
            .json(&json!({"amount": 1_000})),
        app.with_token(Method::POST, "/api/v1/reservations", &fan.token)
            .json(&json!({"concertId": concert, "date": "2026-12-24", "seatNumber": 2})),
        app.with_token(Method::POST, "/api/v1/payments", &fan.token)
            .json(&json!({"reservationId": reservation["reservationId"]})),
    ];
    for request in requests {
        let response = request.header("Idempotency-Key", key.as_str()).send().await.unwrap();
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    let stats = app.stats().await;
    assert_eq!(
        (
            stats["chargedTotal"].as_i64(),
            stats["seatsHeld"].as_u64(),
            stats["seatsSold"].as_u64()
        ),
        (Some(0), Some(1), Some(0))
    );
}

#[tokio::test]
async fn a_body_past_the_default_limit_is_payload_too_large() {
    let app = spawn_app();
    let name = "a".repeat(17 * 1024);
    let response = app
        .request(Method::POST, "/api/v1/users")
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 413, "PAYLOAD_TOO_LARGE").await;
    assert_eq!(problem["type"], "/problems/payload-too-large");
}

#[tokio::test]
async fn the_body_limit_is_the_configured_one() {
    let app = spawn_app_with(|config| config.body_limit = 1024);
    let fan = app.fan("Kim").await;
    let padded = |size: usize| format!(r#"{{"amount": 100{}}}"#, " ".repeat(size - 15));
    let small = padded(1000);
    let large = padded(1100);
    assert_eq!((small.len(), large.len()), (1000, 1100));
    let charge = |body: String| {
        app.with_token(Method::POST, "/api/v1/wallet/charges", &fan.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(charge(small).await.unwrap().status(), StatusCode::OK);
    assert_problem(charge(large).await.unwrap(), 413, "PAYLOAD_TOO_LARGE").await;
    assert_eq!(app.balance(&fan).await, 100);
}

#[tokio::test]
async fn a_seat_taken_is_told_in_korean_when_the_fan_prefers_it() {
    let app = spawn_app();
    let concert = app.create_concert("Seoul", &[("2026-12-24", 10, 1_000)]).await;
    let holder = app.fan("Holder").await;
    let rival = app.fan("Rival").await;
    app.held(&holder, &concert, "2026-12-24", 7).await;
    let request = json!({"concertId": concert, "date": "2026-12-24", "seatNumber": 7});
    let hold_in = |language: Option<&str>| {
        let mut builder = app.with_token(Method::POST, "/api/v1/reservations", &rival.token);
        if let Some(language) = language {
            builder = builder.header("Accept-Language", language);
        }
        builder.json(&request).send()
    };
    for korean in ["ko", "ko-KR,ko;q=0.9,en;q=0.8", "fr, ko;q=0.4"] {
        let problem = assert_problem(hold_in(Some(korean)).await.unwrap(), 409, "SEAT_UNAVAILABLE").await;
        assert_eq!(problem["title"], "해당 좌석은 이미 예약되었습니다", "{korean}");
        assert_eq!(problem["detail"], "7번 좌석은 이미 다른 분이 선택했습니다.", "{korean}");
    }
    for english in [None, Some("en"), Some("en-US,ko;q=0.5"), Some("de")] {
        let problem = assert_problem(hold_in(english).await.unwrap(), 409, "SEAT_UNAVAILABLE").await;
        for field in ["title", "detail"] {
            let text = problem[field].as_str().unwrap();
            assert!(!has_hangul(text), "{english:?}: {text}");
        }
    }
}

#[tokio::test]
async fn service_errors_have_korean_titles_when_ko_is_preferred() {
    let app = spawn_app();
    let unknown = uuid::Uuid::new_v4();
    let requests = [
        (
            app.request(Method::GET, &format!("/api/v1/users/{unknown}")),
            "USER_NOT_FOUND",
        ),
        (app.request(Method::GET, "/api/v1/wallet"), "TOKEN_MISSING"),
        (
            app.with_token(Method::GET, "/api/v1/wallet", "nonsense"),
            "TOKEN_INVALID",
        ),
        (app.request(Method::GET, "/api/v1/admin/stats"), "ADMIN_KEY_INVALID"),
        (
            app.request(Method::POST, "/api/v1/users")
                .header("content-type", "application/json")
                .body("{"),
            "INVALID_REQUEST",
        ),
        (
            app.request(Method::POST, "/api/v1/users")
                .header("content-type", "application/json")
                .body("x".repeat(20_000)),
            "PAYLOAD_TOO_LARGE",
        ),
    ];
    for (request, code) in requests {
        let response = request.header("Accept-Language", "ko").send().await.unwrap();
        let status = response.status().as_u16();
        let problem = assert_problem(response, status, code).await;
        for field in ["title", "detail"] {
            let text = problem[field].as_str().unwrap();
            assert!(has_hangul(text), "{code}: {field} {text}");
        }
    }
}

#[tokio::test]
async fn a_short_balance_says_in_korean_by_how_much() {
    let app = spawn_app();
    let concert = app.create_concert("Seoul", &[("2026-12-24", 10, 99_000)]).await;
    let fan = app.fan("Kim").await;
    assert_eq!(app.charge(&fan, 60_000).await.status(), reqwest::StatusCode::OK);
    let reservation_id = text(&app.held(&fan, &concert, "2026-12-24", 3).await["reservationId"]);
    let paying = app
        .with_token(Method::POST, "/api/v1/payments", &fan.token)
        .header("Accept-Language", "ko-KR,ko;q=0.9")
        .json(&json!({"reservationId": reservation_id}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(paying, 409, "INSUFFICIENT_BALANCE").await;
    assert_eq!(
        problem["detail"], "잔액이 39,000원 부족합니다 (잔액 60,000원, 좌석 가격 99,000원).",
        "{problem}"
    );
}

#[tokio::test]
async fn an_unknown_route_is_told_in_korean_when_ko_is_preferred() {
    let app = spawn_app();
    let response = app
        .request(Method::GET, "/api/v1/nope")
        .header("Accept-Language", "ko")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 404, "NOT_FOUND").await;
    assert!(has_hangul(problem["title"].as_str().unwrap()), "{problem}");
}

#[tokio::test]
async fn a_wrong_method_is_told_in_korean_when_ko_is_preferred() {
    let app = spawn_app();
    let response = app
        .request(Method::DELETE, "/api/v1/users")
        .header("Accept-Language", "ko")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 405, "METHOD_NOT_ALLOWED").await;
    assert!(has_hangul(problem["title"].as_str().unwrap()), "{problem}");
}

#[tokio::test]
async fn a_problem_carries_type_title_status_detail_and_code() {
    let app = spawn_app();
    let unknown = uuid::Uuid::new_v4();
    let response = app.get(&format!("/api/v1/concerts/{unknown}/dates")).await;
    let problem = assert_problem(response, 404, "CONCERT_NOT_FOUND").await;
    assert_eq!(problem["type"], "/problems/concert-not-found");
    assert_eq!(problem["status"], 404);
    assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(problem["title"].as_str().is_some_and(|t| !t.is_empty()));
}

#[tokio::test]
async fn no_bearer_token_is_token_missing_and_a_bad_one_is_token_invalid() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    let with_authorization = |value: Option<&str>| {
        let builder = app.request(Method::GET, "/api/v1/wallet");
        match value {
            Some(value) => builder.header("Authorization", value),
            None => builder,
        }
        .send()
    };
    for missing in [None, Some("Basic a2ltOnB3"), Some("Bearer "), Some(fan.token.as_str())] {
        let response = with_authorization(missing).await.unwrap();
        assert_eq!(header(&response, "www-authenticate"), "Bearer");
        let problem = assert_problem(response, 401, "TOKEN_MISSING").await;
        assert_eq!(problem["type"], "/problems/token-missing");
    }
    let unknown = "0123456789abcdef".repeat(4);
    for invalid in [
        "Bearer nonsense".to_string(),
        format!("Bearer {unknown}"),
        format!("Bearer {}x", fan.token),
    ] {
        let response = with_authorization(Some(&invalid)).await.unwrap();
        assert_eq!(header(&response, "www-authenticate"), "Bearer");
        let problem = assert_problem(response, 401, "TOKEN_INVALID").await;
        assert_eq!(problem["type"], "/problems/token-invalid");
    }
    let bearer = format!("bearer {}", fan.token);
    assert_eq!(
        with_authorization(Some(&bearer)).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_burst_past_the_users_rate_limit_is_rate_limited_with_retry_after() {
    // On the injected clock: no budget refills between the requests unless the test says so.
    let app = spawn_app_with_clock(|config| config.user_rate_limit = 1);
    let fan = app.fan("Eager").await;
    let calm = app.fan("Calm").await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..4 {
        let response = app.get_as(&fan, "/api/v1/wallet").await;
        statuses.push(response.status().as_u16());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
        }
    }
    // The limit allows a burst of twice the rate.
    assert_eq!(statuses, [200, 200, 429, 429]);
    let limited = limited.unwrap();
    let retry_after: u64 = header(&limited, "retry-after")
        .parse()
        .expect("Retry-After is whole seconds");
    assert_eq!(retry_after, 1, "one request a second comes back after a second");
    let problem = assert_problem(limited, 429, "RATE_LIMITED").await;
    assert_eq!(problem["type"], "/problems/rate-limited");
    app.advance(chrono::Duration::seconds(1));
    let refilled = app.get_as(&fan, "/api/v1/wallet").await.status();
    assert_eq!(
        refilled,
        StatusCode::OK,
        "a second later the budget has one request again"
    );
    assert_eq!(
        app.get_as(&fan, "/api/v1/wallet").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    assert_eq!(app.get_as(&calm, "/api/v1/wallet").await.status(), StatusCode::OK);
    for _ in 0..5 {
        assert_eq!(app.get("/api/v1/concerts").await.status(), StatusCode::OK);
    }
}
