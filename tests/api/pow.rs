//! Proof of work before a queue token: challenges solved for real, by brute force, and what a
//! script does with a solution — replay it, share it, forge it, keep it too long.

use crate::helpers::*;
use base64::Engine;
use futures_util::future::join_all;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Small, so a debug build solves one in milliseconds.
const DIFFICULTY: u64 = 3_000;

fn pow_app() -> TestApp {
    spawn_app_with(|config| config.pow_difficulty = DIFFICULTY)
}

/// The number in 0..=maxnumber whose SHA-256 of salt + number is the challenge.
fn solve(challenge: &Value) -> u64 {
    let salt = challenge["salt"].as_str().unwrap();
    let target = challenge["challenge"].as_str().unwrap();
    let maxnumber = challenge["maxnumber"].as_u64().unwrap();
    (0..=maxnumber)
        .find(|number| hex(&Sha256::digest(format!("{salt}{number}"))) == target)
        .expect("the challenge has a solution within maxnumber")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The `X-Altcha` header for `number` as the answer to `challenge`.
fn payload(challenge: &Value, number: u64) -> String {
    let solution = json!({
        "algorithm": challenge["algorithm"],
        "challenge": challenge["challenge"],
        "number": number,
        "salt": challenge["salt"],
        "signature": challenge["signature"],
    });
    base64::engine::general_purpose::STANDARD.encode(solution.to_string())
}

async fn challenge(app: &TestApp) -> Value {
    let response = app.get("/api/v1/queue/challenge").await;
    assert_eq!(response.status(), StatusCode::OK);
    body(response).await
}

/// A fresh challenge of the app, solved.
async fn solution(app: &TestApp) -> String {
    let challenge = challenge(app).await;
    payload(&challenge, solve(&challenge))
}

async fn take_token(app: &TestApp, user_id: &str, solution: Option<&str>, key: Option<&str>) -> Response {
    let mut request = app
        .request(Method::POST, "/api/v1/queue/tokens")
        .json(&json!({ "userId": user_id }));
    if let Some(solution) = solution {
        request = request.header("X-Altcha", solution);
    }
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

async fn tokens_issued(app: &TestApp) -> u64 {
    let queue = app.queue_stats().await;
    queue["waiting"].as_u64().unwrap() + queue["active"].as_u64().unwrap()
}

#[tokio::test]
async fn with_proof_of_work_off_there_is_no_challenge_and_a_token_needs_no_solution() {
    let app = spawn_app();
    let problem = assert_problem(app.get("/api/v1/queue/challenge").await, 404, "NOT_FOUND").await;
    assert!(problem["detail"].as_str().unwrap().contains("off"), "{problem}");
    let user = app.create_user("Kim").await;
    assert_eq!(take_token(&app, &user, None, None).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_challenge_is_an_altcha_challenge_no_cache_may_keep() {
    let app = pow_app();
    let response = app.get("/api/v1/queue/challenge").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "cache-control"), "no-store");
    let challenge = body(response).await;
    let mut fields: Vec<&str> = challenge.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["algorithm", "challenge", "maxnumber", "salt", "signature"]);
    assert_eq!(challenge["algorithm"], "SHA-256");
    assert_eq!(challenge["maxnumber"], DIFFICULTY);
    assert_eq!(challenge["challenge"].as_str().unwrap().len(), 64);
    assert_ne!(challenge["salt"], self::challenge(&app).await["salt"], "no two alike");
}

#[tokio::test]
async fn a_token_request_without_a_valid_solution_is_challenge_required_and_takes_nothing() {
    let app = pow_app();
    let user = app.create_user("Kim").await;
    for solution in [None, Some("e30="), Some("AAAA")] {
        let response = take_token(&app, &user, solution, None).await;
        assert_problem(response, 403, "CHALLENGE_REQUIRED").await;
    }
    let huge = "A".repeat(8 * 1024);
    for malformed in ["not base64!", huge.as_str()] {
        let response = take_token(&app, &user, Some(malformed), None).await;
        assert_problem(response, 400, "INVALID_REQUEST").await;
    }
    let challenge = challenge(&app).await;
    let wrong = (solve(&challenge) + 1) % (DIFFICULTY + 1);
    let response = take_token(&app, &user, Some(&payload(&challenge, wrong)), None).await;
    assert_problem(response, 403, "CHALLENGE_REQUIRED").await;
    let korean = app
        .request(Method::POST, "/api/v1/queue/tokens")
        .header("Accept-Language", "ko")
        .json(&json!({ "userId": user }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(korean, 403, "CHALLENGE_REQUIRED").await;
    assert_eq!(problem["title"], "유효하고 사용되지 않은 작업 증명이 필요합니다");
    assert_eq!(tokens_issued(&app).await, 0);
}

#[tokio::test]
async fn a_solution_buys_one_token_and_never_a_second_for_anyone() {
    let app = pow_app();
    let solution = solution(&app).await;
    let first = app.create_user("Kim").await;
    assert_eq!(
        take_token(&app, &first, Some(&solution), None).await.status(),
        StatusCode::CREATED
    );
    for name in ["Lee", "Park", "Choi"] {
        let other = app.create_user(name).await;
        let response = take_token(&app, &other, Some(&solution), None).await;
        assert_problem(response, 403, "CHALLENGE_REQUIRED").await;
    }
    assert_eq!(tokens_issued(&app).await, 1);
    let next = app.create_user("Jung").await;
    let fresh = self::solution(&app).await;
    assert_eq!(
        take_token(&app, &next, Some(&fresh), None).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_tampered_signature_or_one_of_another_servers_key_is_refused() {
    let app = pow_app();
    let user = app.create_user("Kim").await;
    let mut challenge = challenge(&app).await;
    let number = solve(&challenge);
    let signature = challenge["signature"].as_str().unwrap().to_string();
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    challenge["signature"] = json!(format!("{flipped}{}", &signature[1..]));
    let response = take_token(&app, &user, Some(&payload(&challenge, number)), None).await;
    assert_problem(response, 403, "CHALLENGE_REQUIRED").await;

    let elsewhere = altcha_lib_rs::create_challenge(altcha_lib_rs::ChallengeOptions {
        hmac_key: "the key of another server",
        max_number: Some(DIFFICULTY),
        expires: Some(chrono::Utc::now() + chrono::Duration::minutes(5)),
        ..Default::default()
    })
    .unwrap();
    let foreign = serde_json::to_value(&elsewhere).unwrap();
    let response = take_token(&app, &user, Some(&payload(&foreign, solve(&foreign))), None).await;
    assert_problem(response, 403, "CHALLENGE_REQUIRED").await;
    assert_eq!(tokens_issued(&app).await, 0);
}

#[tokio::test]
async fn a_challenge_expires_five_minutes_after_it_was_given() {
    let app = spawn_app_with_clock(|config| config.pow_difficulty = DIFFICULTY);
    let in_time = solution(&app).await;
    let too_late = solution(&app).await;
    app.advance(chrono::Duration::minutes(5));
    let first = app.create_user("Kim").await;
    assert_eq!(
        take_token(&app, &first, Some(&in_time), None).await.status(),
        StatusCode::CREATED
    );
    app.advance(chrono::Duration::seconds(1));
    let second = app.create_user("Lee").await;
    let response = take_token(&app, &second, Some(&too_late), None).await;
    let problem = assert_problem(response, 403, "CHALLENGE_REQUIRED").await;
    assert!(problem["detail"].as_str().unwrap().contains("expired"), "{problem}");
}

#[tokio::test]
async fn of_a_hundred_concurrent_replays_of_one_solution_exactly_one_wins() {
    let app = pow_app();
    let solution = solution(&app).await;
    let mut users = Vec::new();
    for fan in 0..100 {
        users.push(app.create_user(&format!("Fan {fan}")).await);
    }
    let responses = join_all(users.iter().map(|user| take_token(&app, user, Some(&solution), None))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 99, "{statuses:?}");
    assert_eq!(tokens_issued(&app).await, 1);
}

#[tokio::test]
async fn a_keyed_retry_gets_its_first_answer_though_its_solution_is_spent() {
    let app = pow_app();
    let user = app.create_user("Kim").await;
    let solution = solution(&app).await;
    let first = take_token(&app, &user, Some(&solution), Some("join-1")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = body(first).await;
    let retry = take_token(&app, &user, Some(&solution), Some("join-1")).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(body(retry).await, first);
    let other_key = take_token(&app, &user, Some(&solution), Some("join-2")).await;
    assert_problem(other_key, 403, "CHALLENGE_REQUIRED").await;
    assert_eq!(tokens_issued(&app).await, 1);
}

#[tokio::test]
async fn a_keyed_request_refused_for_its_proof_is_not_remembered() {
    let app = pow_app();
    let user = app.create_user("Kim").await;
    let refused = take_token(&app, &user, None, Some("join-1")).await;
    assert_problem(refused, 403, "CHALLENGE_REQUIRED").await;
    let solution = solution(&app).await;
    let retry = take_token(&app, &user, Some(&solution), Some("join-1")).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_malformed_solution_is_an_invalid_request_even_with_proof_of_work_off() {
    let app = spawn_app();
    let user = app.create_user("Kim").await;
    let response = take_token(&app, &user, Some("*,not base64"), None).await;
    assert_problem(response, 400, "INVALID_REQUEST").await;
    assert_eq!(app.queue_stats().await["active"], 0, "no token was issued");
    let ignored = take_token(&app, &user, Some("e30="), None).await;
    assert_eq!(
        ignored.status(),
        201,
        "a well-formed one is ignored while proof of work is off"
    );
}
