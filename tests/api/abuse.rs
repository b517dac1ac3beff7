//! "Abuse, limits and faults": what a script can send that a fan's page never would, and what the
//! server must answer instead of doing it.

use crate::helpers::*;
use reqwest::{Method, RequestBuilder};
use serde_json::json;

/// Every endpoint that reads a body, each with a body it would accept as JSON.
fn body_requests(app: &TestApp, fan: &Fan, user_id: &str) -> Vec<(RequestBuilder, String)> {
    vec![
        (
            app.request(Method::POST, "/api/v1/users"),
            json!({"name": "Lee"}).to_string(),
        ),
        (
            app.request(Method::POST, "/api/v1/queue/tokens"),
            json!({"userId": user_id}).to_string(),
        ),
        (
            app.with_token(Method::POST, "/api/v1/wallet/charges", &fan.token),
            json!({"amount": 1_000}).to_string(),
        ),
        (
            app.admin(Method::PUT, "/api/v1/admin/queue"),
            json!({"activeMax": 7}).to_string(),
        ),
    ]
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_unsupported_and_changes_nothing() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    let other = app.create_user("Park").await;
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        for (request, body) in body_requests(&app, &fan, &other) {
            let request = match content_type {
                Some(content_type) => request.header("content-type", content_type),
                None => request,
            };
            let response = request.body(body).send().await.unwrap();
            assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
        }
    }
    let stats = app.stats().await;
    assert_eq!(
        (stats["users"].as_u64(), stats["chargedTotal"].as_i64()),
        (Some(2), Some(0))
    );
    assert_eq!(app.queue_stats().await["activeMax"], 100);
    let charset = app
        .with_token(Method::POST, "/api/v1/wallet/charges", &fan.token)
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(json!({"amount": 1_000}).to_string());
    assert_eq!(charset.send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn names_and_titles_refuse_control_and_format_characters() {
    let app = spawn_app();
    for name in [
        "a\u{0}b",
        "\u{1b}[2Jgone",
        "two\r\nlines",
        "evil\u{202e}gpj.exe",
        "\u{200b}",
        " \u{200b} ",
    ] {
        let response = app
            .request(Method::POST, "/api/v1/users")
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "INVALID_REQUEST").await;
        let concert = json!({"title": name, "dates": [{"date": "2026-12-24", "seatCount": 1, "price": 0}]});
        assert_problem(app.post_concert(&concert).await, 400, "INVALID_REQUEST").await;
    }
    let stats = app.stats().await;
    assert_eq!(
        (stats["users"].as_u64(), stats["seatsTotal"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        app.get("/api/v1/concerts")
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap(),
        json!([])
    );
}

#[tokio::test]
async fn dates_outside_this_century_are_invalid() {
    let app = spawn_app();
    for date in ["0000-01-01", "1999-12-31", "2100-01-01", "9999-12-31"] {
        let concert = json!({"title": "Far", "dates": [{"date": date, "seatCount": 1, "price": 0}]});
        assert_problem(app.post_concert(&concert).await, 400, "INVALID_REQUEST").await;
    }
    let concert = app
        .create_concert("Edges", &[("2000-01-01", 1, 0), ("2099-12-31", 1, 0)])
        .await;
    let dates: serde_json::Value = app
        .get(&format!("/api/v1/concerts/{concert}/dates"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dates.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn uuids_are_read_hyphenated_only() {
    let app = spawn_app();
    let user = app.create_user("Kim").await;
    let parsed = uuid::Uuid::parse_str(&user).unwrap();
    for other in [
        parsed.simple().to_string(),
        parsed.braced().to_string(),
        parsed.urn().to_string(),
        user.to_uppercase().replace('-', ""),
    ] {
        assert_problem(app.get(&format!("/api/v1/users/{other}")).await, 400, "INVALID_REQUEST").await;
        assert_problem(app.issue_token(&other).await, 400, "INVALID_REQUEST").await;
    }
    assert_eq!(app.get(&format!("/api/v1/users/{user}")).await.status(), 200);
    assert_eq!(app.queue_stats().await["active"], 0);
}

/// Throwaway users that each hold `hold_max` seats and leave the queue at once.
async fn hoard(app: &TestApp, concert: &str, hoarder: usize) {
    let fan = app.fan(&format!("Bot {hoarder}")).await;
    for seat in 1..=4 {
        let seat_number = (hoarder * 4 + seat) as i64;
        assert_eq!(app.hold(&fan, concert, "2026-12-24", seat_number).await.status(), 201);
    }
    assert_eq!(app.leave(&fan).await.status(), 204);
}

#[tokio::test]
async fn holds_die_with_the_token_that_left_so_hoarders_take_nothing() {
    let app = spawn_app_with(|config| config.active_max = 1_000);
    let concert = app.create_concert("Hoarded", &[("2026-12-24", 100, 1_000)]).await;
    let hoarders = (0..25).map(|hoarder| hoard(&app, &concert, hoarder));
    futures_util::future::join_all(hoarders).await;

    assert_eq!(app.stats().await["seatsHeld"], 0);
    let fan = app.fan("Honest").await;
    let map = body(app.seat_map(&fan, &concert, "2026-12-24").await).await;
    assert_eq!(map["availableSeats"], 100);
    assert_eq!(app.hold(&fan, &concert, "2026-12-24", 1).await.status(), 201);
}

#[tokio::test]
async fn a_hold_lapses_when_its_token_expires_even_before_the_hold_ttl() {
    let app = spawn_app_with_clock(|config| {
        config.active_ttl = std::time::Duration::from_secs(120);
        config.hold_ttl = std::time::Duration::from_secs(300);
    });
    let concert = app.create_concert("Short tokens", &[("2026-12-24", 2, 1_000)]).await;
    let fan = app.fan("Kim").await;
    let held = app.held(&fan, &concert, "2026-12-24", 1).await;
    assert_eq!(held["heldUntil"], fan.queue["activeUntil"], "{held}");

    app.advance(chrono::Duration::seconds(120));
    let other = app.fan("Lee").await;
    assert_eq!(app.seat_status(&other, &concert, "2026-12-24", 1).await, "AVAILABLE");
    assert_eq!(app.stats().await["seatsHeld"], 0);
}

#[tokio::test]
async fn a_token_request_retried_with_its_key_gets_the_same_token_instead_of_a_lock_out() {
    let app = spawn_app_with(|config| config.active_max = 1);
    app.fan("First").await;
    let user = app.create_user("Kim").await;
    let issue = |key: &'static str| {
        app.request(Method::POST, "/api/v1/queue/tokens")
            .header("Idempotency-Key", key)
            .json(&json!({ "userId": user }))
            .send()
    };
    let first = issue("join-1").await.unwrap();
    assert_eq!(first.status(), 201);
    let first = body(first).await;
    assert_eq!(first["status"], "WAITING");
    let retried = issue("join-1").await.unwrap();
    assert_eq!(retried.status(), 201, "the answer that was lost, again");
    assert_eq!(body(retried).await, first);
    assert_problem(app.issue_token(&user).await, 409, "TOKEN_ALREADY_ISSUED").await;
    assert_problem(issue("join-2").await.unwrap(), 409, "TOKEN_ALREADY_ISSUED").await;
    assert_eq!(app.queue_stats().await["waiting"], 1);
}

#[tokio::test]
async fn a_user_keeps_at_most_a_thousand_idempotency_keys() {
    let app = spawn_app();
    let fan = app.fan("Keys").await;
    let charge = |key: String| {
        app.with_token(Method::POST, "/api/v1/wallet/charges", &fan.token)
            .header("Idempotency-Key", key)
            .json(&json!({"amount": 1}))
            .send()
    };
    for batch in 0..20 {
        let charges = (0..50).map(|i| charge(format!("key-{}", batch * 50 + i)));
        for response in futures_util::future::join_all(charges).await {
            assert_eq!(response.unwrap().status(), 200);
        }
    }
    let refused = charge("key-1000".to_string()).await.unwrap();
    assert!(refused.headers().contains_key("retry-after"));
    assert_problem(refused, 429, "RATE_LIMITED").await;
    assert_eq!(app.balance(&fan).await, 1_000, "the refused charge did nothing");
    assert_eq!(
        charge("key-7".to_string()).await.unwrap().status(),
        200,
        "a kept key still replays"
    );
    let without_key = app.charge(&fan, 5).await;
    assert_eq!(without_key.status(), 200, "requests without a key go on");
    assert_eq!(app.balance(&fan).await, 1_005);
}

async fn register_from(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app.request(Method::POST, "/api/v1/users").json(&json!({"name": "Bot"}));
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn requests_without_a_token_are_limited_per_client() {
    // On the injected clock: no budget refills between the requests.
    let app = spawn_app_with_clock(|config| config.client_rate_limit = 2);
    let answers = futures_util::future::join_all((0..6).map(|_| register_from(&app, None))).await;
    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|status| **status == 201).count(),
        4,
        "a burst of twice the rate: {statuses:?}"
    );
    let refused = answers.into_iter().find(|answer| answer.status() == 429).unwrap();
    assert!(refused.headers().contains_key("retry-after"));
    assert_problem(refused, 429, "RATE_LIMITED").await;
    let spoofed = register_from(&app, Some("198.51.100.1")).await;
    assert_eq!(
        spoofed.status(),
        429,
        "X-Forwarded-For from an untrusted peer is ignored"
    );
    assert_eq!(app.stats().await["users"], 4);
    assert_eq!(
        app.get("/api/v1/concerts").await.status(),
        200,
        "catalog reads are not limited per client"
    );
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = spawn_app_with_clock(|config| {
        config.client_rate_limit = 1;
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    });
    for _ in 0..2 {
        assert_eq!(register_from(&app, Some("198.51.100.1")).await.status(), 201);
    }
    assert_eq!(register_from(&app, Some("198.51.100.1")).await.status(), 429);
    let spoofing = register_from(&app, Some("203.0.113.5, 198.51.100.1")).await;
    assert_eq!(
        spoofing.status(),
        429,
        "the right-most untrusted hop counts, not what the client wrote"
    );
    assert_eq!(register_from(&app, Some("198.51.100.2")).await.status(), 201);
}

#[tokio::test]
async fn a_token_does_not_tell_how_many_were_issued_before_it() {
    let app = spawn_app();
    let mut numbers = Vec::new();
    for fan in 0..40 {
        let token = app.fan(&format!("Fan {fan}")).await.token;
        assert_eq!(token.len(), 64);
        numbers.push(u64::from_str_radix(&token[..16], 16).unwrap());
    }
    let consecutive = numbers
        .windows(2)
        .filter(|pair| pair[1] == pair[0].wrapping_add(1))
        .count();
    assert_eq!(consecutive, 0, "{numbers:x?}");
    assert!(numbers.iter().all(|number| *number > 1 << 32), "{numbers:x?}");
}
