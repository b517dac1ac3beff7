//! `/queue/tokens`: issuing tokens, the order of admission, idle and active expiry, leaving, and
//! the live event stream.

use crate::helpers::*;
use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration as StdDuration;

/// A stream's first event comes at once, and later ones within a couple of its one-second
/// polls: the bounds only keep a stream that says nothing from hanging the test, with room for
/// a slow machine.
const AT_ONCE: StdDuration = StdDuration::from_secs(5);
const WITHIN_POLLS: StdDuration = StdDuration::from_secs(8);

/// One ACTIVE slot whose holder outlives the test, so the second fan keeps waiting.
fn one_slot_for_an_hour(config: &mut concert_reservation::Config) {
    config.active_max = 1;
    config.active_ttl = StdDuration::from_secs(3600);
}

#[tokio::test]
async fn a_token_is_active_at_once_while_a_slot_is_free_and_nobody_waits() {
    let app = spawn_app_with_clock(|_| {});
    let fan = app.fan("Kim").await;
    let queue = &fan.queue;
    assert_eq!(queue["status"], "ACTIVE");
    assert_eq!(queue["position"], 0);
    assert_eq!(queue["estimatedWaitSeconds"], 0);
    assert_eq!(queue["userId"], fan.user_id.as_str());
    assert_eq!(time(&queue["issuedAt"]), instant(CLOCK_START));
    assert_eq!(time(&queue["activeUntil"]), instant("2026-12-24T10:10:00Z"));
    assert!(fan.token.len() >= 22, "a token carries at least 122 random bits");

    let read = app.queue_of(&fan).await;
    assert_eq!(read, fan.queue);
}

#[tokio::test]
async fn a_live_tokens_number_with_another_secret_is_refused_everywhere() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    let concert_id = app.create_concert("Forgery Night", &[("2026-12-24", 10, 100)]).await;
    // The same sequence number (the first 16 hex digits), the secret's last digit changed.
    let mut forged = fan.token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let forger = Fan {
        token: forged,
        ..fan.clone()
    };
    assert_problem(app.queue_status(&forger).await, 401, "TOKEN_INVALID").await;
    assert_problem(
        app.hold(&forger, &concert_id, "2026-12-24", 1).await,
        401,
        "TOKEN_INVALID",
    )
    .await;
    assert_problem(app.leave(&forger).await, 401, "TOKEN_INVALID").await;
    assert_problem(
        app.pay(&forger, &uuid::Uuid::new_v4().to_string()).await,
        401,
        "TOKEN_INVALID",
    )
    .await;
    let stream = app
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/queue/tokens/me/events?token={}", forger.token),
        )
        .send()
        .await
        .unwrap();
    assert_problem(stream, 401, "TOKEN_INVALID").await;
    assert_eq!(app.queue_of(&fan).await["status"], "ACTIVE", "the real token lives on");
}

#[tokio::test]
async fn tokens_are_unique_per_user() {
    let app = spawn_app();
    let first = app.fan("One").await;
    let second = app.fan("Two").await;
    assert_ne!(first.token, second.token);
    assert_ne!(first.token, first.user_id);
}

#[tokio::test]
async fn past_active_max_a_fan_waits_with_a_position_and_an_estimated_wait() {
    let app = spawn_app_with_clock(|config| config.active_max = 2);
    app.fan("A").await;
    app.fan("B").await;
    let third = app.fan("C").await;
    let fourth = app.fan("D").await;
    assert_eq!(third.queue["status"], "WAITING");
    assert_eq!(third.queue["position"], 1);
    assert!(third.queue["activeUntil"].is_null());
    // Before any admission is observed: one every active_ttl / active_max = 600 s / 2.
    assert_eq!(third.queue["estimatedWaitSeconds"], 300);
    assert_eq!(fourth.queue["position"], 2);
    assert_eq!(fourth.queue["estimatedWaitSeconds"], 600);
    let queue = app.queue_stats().await;
    assert_eq!(
        (queue["active"].as_u64(), queue["waiting"].as_u64()),
        (Some(2), Some(2))
    );
}

#[tokio::test]
async fn a_waiting_fan_is_refused_the_seat_map_and_told_its_place() {
    let app = spawn_app_with(|config| config.active_max = 2);
    let concert = app.create_concert("Gate", &[("2026-12-24", 10, 1_000)]).await;
    app.fan("A").await;
    app.fan("B").await;
    let waiting = app.fan("C").await;
    let response = app.seat_map(&waiting, &concert, "2026-12-24").await;
    let problem = assert_problem(response, 403, "TOKEN_NOT_ACTIVE").await;
    assert_eq!(problem["queue"]["status"], "WAITING");
    assert_eq!(problem["queue"]["position"], 1);
    assert_eq!(problem["queue"]["token"], waiting.token.as_str());
    assert_eq!(problem["queue"]["userId"], waiting.user_id.as_str());
}

#[tokio::test]
async fn a_fan_leaving_admits_the_first_waiter_and_the_line_closes_up() {
    let app = spawn_app_with(|config| config.active_max = 2);
    let concert = app.create_concert("Leave", &[("2026-12-24", 10, 1_000)]).await;
    let first = app.fan("A").await;
    app.fan("B").await;
    let c = app.fan("C").await;
    let d = app.fan("D").await;
    let e = app.fan("E").await;
    assert_eq!([&c, &d, &e].map(|f| f.queue["position"].as_u64().unwrap()), [1, 2, 3]);

    let response = app.leave(&first).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(app.queue_status(&first).await, 401, "TOKEN_INVALID").await;

    let admitted = app.queue_of(&c).await;
    assert_eq!(admitted["status"], "ACTIVE");
    assert_eq!(admitted["position"], 0);
    assert_eq!(admitted["estimatedWaitSeconds"], 0);
    assert!(admitted["activeUntil"].is_string());
    assert_eq!(app.seat_map(&c, &concert, "2026-12-24").await.status(), StatusCode::OK);
    assert_eq!(app.queue_of(&d).await["position"], 1);
    assert_eq!(app.queue_of(&e).await["position"], 2);

    assert_eq!(app.leave(&d).await.status(), StatusCode::NO_CONTENT);
    let last = app.queue_of(&e).await;
    assert_eq!(
        (last["status"].as_str(), last["position"].as_u64()),
        (Some("WAITING"), Some(1))
    );
}

#[tokio::test]
async fn tokens_are_admitted_strictly_in_the_order_they_were_issued() {
    let app = spawn_app_with(|config| config.active_max = 1);
    let first = app.fan("A").await;
    let second = app.fan("B").await;
    let third = app.fan("C").await;
    assert_eq!(app.leave(&first).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.queue_of(&second).await["status"], "ACTIVE");
    assert_eq!(app.queue_of(&third).await["status"], "WAITING");
    assert_eq!(app.leave(&second).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.queue_of(&third).await["status"], "ACTIVE");
}

#[tokio::test]
async fn a_user_holds_one_live_token_at_a_time() {
    let app = spawn_app_with(|config| config.active_max = 1);
    let active = app.fan("Active").await;
    let response = app.issue_token(&active.user_id).await;
    assert_problem(response, 409, "TOKEN_ALREADY_ISSUED").await;

    let waiting = app.fan("Waiting").await;
    assert_eq!(waiting.queue["status"], "WAITING");
    let response = app.issue_token(&waiting.user_id).await;
    assert_problem(response, 409, "TOKEN_ALREADY_ISSUED").await;

    assert_eq!(app.leave(&waiting).await.status(), StatusCode::NO_CONTENT);
    let again = app.token_for(&waiting.user_id).await;
    assert_ne!(again.token, waiting.token);
    assert_problem(app.queue_status(&waiting).await, 401, "TOKEN_INVALID").await;
    assert_eq!(app.queue_of(&again).await["position"], 1);
}

#[tokio::test]
async fn past_waiting_max_the_waiting_room_is_full() {
    let app = spawn_app_with(|config| {
        config.active_max = 1;
        config.waiting_max = 1;
    });
    app.fan("Active").await;
    let waiting = app.fan("Waiting").await;
    assert_eq!(waiting.queue["status"], "WAITING");
    let late = app.create_user("Late").await;
    assert_problem(app.issue_token(&late).await, 503, "QUEUE_FULL").await;
    assert_eq!(app.queue_stats().await["waiting"], 1);

    assert_eq!(app.leave(&waiting).await.status(), StatusCode::NO_CONTENT);
    let response = app.issue_token(&late).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(body(response).await["position"], 1);
}

#[tokio::test]
async fn a_token_for_an_unknown_or_malformed_user_is_refused() {
    let app = spawn_app();
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_problem(app.issue_token(&unknown).await, 404, "USER_NOT_FOUND").await;
    assert_problem(app.issue_token("not-a-uuid").await, 400, "INVALID_REQUEST").await;
    let response = app
        .request(Method::POST, "/api/v1/queue/tokens")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "INVALID_REQUEST").await;
    assert_eq!(app.queue_stats().await["active"], 0);
}

#[tokio::test]
async fn a_waiting_token_unread_for_the_idle_ttl_is_dropped() {
    let app = spawn_app_with_clock(one_slot_for_an_hour);
    app.fan("Active").await;
    let waiting = app.fan("Waiting").await;
    app.advance(Duration::minutes(5) - Duration::seconds(1));
    assert_eq!(app.queue_of(&waiting).await["status"], "WAITING");
    app.advance(Duration::minutes(5));
    assert_problem(app.queue_status(&waiting).await, 401, "TOKEN_INVALID").await;
    let queue = app.queue_stats().await;
    assert_eq!(
        (queue["waiting"].as_u64(), queue["expiredTotal"].as_u64()),
        (Some(0), Some(1))
    );
}

#[tokio::test]
async fn a_dropped_waiting_token_is_refused_by_the_wallet_too() {
    let app = spawn_app_with_clock(one_slot_for_an_hour);
    app.fan("Active").await;
    let waiting = app.fan("Waiting").await;
    assert_eq!(app.get_as(&waiting, "/api/v1/wallet").await.status(), StatusCode::OK);
    app.advance(Duration::minutes(5));
    // The first request after the deadline is not a queue read.
    let response = app.get_as(&waiting, "/api/v1/wallet").await;
    assert_problem(response, 401, "TOKEN_INVALID").await;
}

#[tokio::test]
async fn reading_its_status_keeps_a_waiting_token_alive() {
    let app = spawn_app_with_clock(one_slot_for_an_hour);
    app.fan("Active").await;
    let waiting = app.fan("Waiting").await;
    // Reads told off the token index, each within the idle TTL of the last, over six TTLs:
    // the room carries each over when the token's idle deadline comes.
    for _ in 0..8 {
        app.advance(Duration::minutes(4));
        assert_eq!(app.queue_of(&waiting).await["status"], "WAITING");
    }
    app.advance(Duration::minutes(5));
    assert_problem(app.queue_status(&waiting).await, 401, "TOKEN_INVALID").await;
    let queue = app.queue_stats().await;
    assert_eq!(
        (queue["waiting"].as_u64(), queue["expiredTotal"].as_u64()),
        (Some(0), Some(1)),
        "the room ended it too"
    );
}

#[tokio::test]
async fn an_active_token_dies_active_ttl_after_admission() {
    let app = spawn_app_with_clock(|_| {});
    let fan = app.fan("Kim").await;
    app.advance(Duration::minutes(10) - Duration::seconds(1));
    assert_eq!(app.get_as(&fan, "/api/v1/wallet").await.status(), StatusCode::OK);
    app.advance(Duration::seconds(1));
    assert_problem(app.get_as(&fan, "/api/v1/wallet").await, 401, "TOKEN_INVALID").await;
    assert_problem(app.queue_status(&fan).await, 401, "TOKEN_INVALID").await;
    let queue = app.queue_stats().await;
    assert_eq!(
        (queue["active"].as_u64(), queue["expiredTotal"].as_u64()),
        (Some(0), Some(1))
    );
}

#[tokio::test]
async fn when_an_active_token_runs_out_the_first_waiter_is_admitted() {
    let app = spawn_app_with_clock(|config| {
        config.active_max = 1;
        config.waiting_idle_ttl = StdDuration::from_secs(3600);
    });
    let concert = app.create_concert("Turn", &[("2026-12-24", 10, 1_000)]).await;
    app.fan("First").await;
    let next = app.fan("Next").await;
    assert_eq!(next.queue["status"], "WAITING");
    app.advance(Duration::minutes(10));
    // The admitted fan's first request is the seat map, not a queue read.
    assert_eq!(
        app.seat_map(&next, &concert, "2026-12-24").await.status(),
        StatusCode::OK
    );
    let queue = app.queue_of(&next).await;
    assert_eq!(queue["status"], "ACTIVE");
    assert_eq!(time(&queue["activeUntil"]), instant("2026-12-24T10:20:00Z"));
}

#[tokio::test]
async fn an_admitted_token_lives_active_ttl_from_its_admission() {
    let app = spawn_app_with_clock(|config| config.active_max = 1);
    let first = app.fan("First").await;
    let next = app.fan("Next").await;
    app.advance(Duration::minutes(3));
    assert_eq!(app.leave(&first).await.status(), StatusCode::NO_CONTENT);
    let queue = app.queue_of(&next).await;
    assert_eq!(time(&queue["issuedAt"]), instant(CLOCK_START));
    assert_eq!(time(&queue["activeUntil"]), instant("2026-12-24T10:13:00Z"));
    app.advance(Duration::minutes(10) - Duration::seconds(1));
    assert_eq!(app.get_as(&next, "/api/v1/wallet").await.status(), StatusCode::OK);
    app.advance(Duration::seconds(1));
    assert_problem(app.get_as(&next, "/api/v1/wallet").await, 401, "TOKEN_INVALID").await;
}

#[tokio::test]
async fn a_payment_frees_the_payers_slot_for_the_next_fan() {
    let app = spawn_app_with(|config| config.active_max = 1);
    let concert = app.create_concert("Turnover", &[("2026-12-24", 10, 1_000)]).await;
    let payer = app.fan("Payer").await;
    let next = app.fan("Next").await;
    assert_eq!(next.queue["status"], "WAITING");
    assert_eq!(app.charge(&payer, 1_000).await.status(), StatusCode::OK);
    let reservation = app.held(&payer, &concert, "2026-12-24", 1).await;
    assert_eq!(
        app.pay(&payer, &text(&reservation["reservationId"])).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.queue_of(&next).await["status"], "ACTIVE");
    let queue = app.queue_stats().await;
    assert_eq!(
        (queue["active"].as_u64(), queue["waiting"].as_u64()),
        (Some(1), Some(0))
    );
}

#[tokio::test]
async fn leaving_is_refused_to_a_token_already_gone() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    assert_eq!(app.leave(&fan).await.status(), StatusCode::NO_CONTENT);
    assert_problem(app.leave(&fan).await, 401, "TOKEN_INVALID").await;
    assert_eq!(app.queue_stats().await["active"], 0);
}

#[tokio::test]
async fn the_event_stream_sends_the_current_status_at_once_and_ends_when_active() {
    let app = spawn_app();
    let fan = app.fan("Kim").await;
    let mut events = app.events(&fan).await;
    let first = events.next(AT_ONCE).await.expect("a first event");
    assert_eq!(first.name, "status");
    assert_eq!(first.data["status"], "ACTIVE");
    assert_eq!(first.data["token"], fan.token.as_str());
    assert!(
        events.next(WITHIN_POLLS).await.is_none(),
        "the stream ends after ACTIVE"
    );
}

#[tokio::test]
async fn a_waiting_fans_stream_delivers_active_once_a_slot_frees_and_then_ends() {
    let app = spawn_app_with(|config| config.active_max = 1);
    let active = app.fan("Active").await;
    let waiting = app.fan("Waiting").await;
    let mut events = app.events(&waiting).await;
    let first = events.next(AT_ONCE).await.expect("a first event");
    assert_eq!(first.name, "status");
    assert_eq!(
        (first.data["status"].as_str(), first.data["position"].as_u64()),
        (Some("WAITING"), Some(1))
    );

    assert_eq!(app.leave(&active).await.status(), StatusCode::NO_CONTENT);
    let admitted = events.next(WITHIN_POLLS).await.expect("an event on admission");
    assert_eq!(admitted.name, "status");
    assert_eq!(admitted.data["status"], "ACTIVE");
    assert_eq!(admitted.data["position"], 0);
    assert!(
        events.next(WITHIN_POLLS).await.is_none(),
        "the stream ends after ACTIVE"
    );
}

#[tokio::test]
async fn a_stream_sends_each_new_position() {
    let app = spawn_app_with(|config| config.active_max = 1);
    app.fan("Active").await;
    let ahead = app.fan("Ahead").await;
    let behind = app.fan("Behind").await;
    let mut events = app.events(&behind).await;
    assert_eq!(events.next(AT_ONCE).await.unwrap().data["position"], 2);
    assert_eq!(app.leave(&ahead).await.status(), StatusCode::NO_CONTENT);
    let moved = events.next(WITHIN_POLLS).await.expect("an event when the line moves");
    assert_eq!(
        (moved.name.as_str(), moved.data["position"].as_u64()),
        ("status", Some(1))
    );
}

#[tokio::test]
async fn a_stream_reports_expired_when_its_token_dies_and_ends() {
    let app = spawn_app_with(|config| config.active_max = 1);
    app.fan("Active").await;
    let waiting = app.fan("Waiting").await;
    let mut events = app.events(&waiting).await;
    assert_eq!(events.next(AT_ONCE).await.unwrap().data["status"], "WAITING");
    assert_eq!(app.leave(&waiting).await.status(), StatusCode::NO_CONTENT);
    let expired = events.next(WITHIN_POLLS).await.expect("an expired event");
    assert_eq!(expired.name, "expired");
    assert!(
        events.next(WITHIN_POLLS).await.is_none(),
        "the stream ends after expired"
    );
}

#[tokio::test]
async fn an_open_stream_keeps_a_waiting_token_alive() {
    let app = spawn_app_with_clock(one_slot_for_an_hour);
    app.fan("Active").await;
    let waiting = app.fan("Waiting").await;
    let mut events = app.events(&waiting).await;
    assert_eq!(events.next(AT_ONCE).await.unwrap().data["status"], "WAITING");
    // Each advance stays under the 5-minute idle TTL from the stream's last look, but the
    // total passes it twice over.
    for _ in 0..3 {
        app.advance(Duration::minutes(4));
        tokio::time::sleep(StdDuration::from_millis(1_500)).await;
    }
    assert_eq!(app.queue_of(&waiting).await["status"], "WAITING");
}

#[tokio::test]
async fn a_followed_token_outlives_its_idle_ttl_many_times_over_with_no_read_at_all() {
    let app = spawn_app_with_clock(one_slot_for_an_hour);
    app.fan("Active").await;
    let (followed, unfollowed) = (app.fan("Followed").await, app.fan("Unfollowed").await);
    let mut events = app.events(&followed).await;
    assert_eq!(events.next(AT_ONCE).await.unwrap().data["position"], 1);
    // Six idle TTLs in one step: nothing reads either token in between, and the stream asks
    // the queue nothing; being followed is what keeps the first alive.
    app.advance(Duration::minutes(30));
    assert_eq!(app.queue_of(&followed).await["status"], "WAITING");
    assert_problem(app.queue_status(&unfollowed).await, 401, "TOKEN_INVALID").await;
    drop(events);
}

#[tokio::test]
async fn the_event_stream_takes_a_live_token_in_the_query() {
    let app = spawn_app();
    let response = app.get("/api/v1/queue/tokens/me/events").await;
    assert_problem(response, 401, "TOKEN_MISSING").await;
    let response = app.get("/api/v1/queue/tokens/me/events?token=nonsense").await;
    assert_problem(response, 401, "TOKEN_INVALID").await;
    let fan = app.fan("Gone").await;
    assert_eq!(app.leave(&fan).await.status(), StatusCode::NO_CONTENT);
    let response = app
        .get(&format!("/api/v1/queue/tokens/me/events?token={}", fan.token))
        .await;
    assert_problem(response, 401, "TOKEN_INVALID").await;
}
