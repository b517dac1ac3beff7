//! Deadlines on the real clock, with short TTLs: what the actors' timers do when nobody asks.

use crate::helpers::*;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// Short enough to wait out, long enough that a slow machine's synced writes before the check
/// of a live hold or token fit well inside it.
const TTL: Duration = Duration::from_secs(3);
/// Past a TTL, by enough for the timer to have fired.
const PAST_TTL: Duration = Duration::from_millis(3_500);

#[tokio::test]
async fn a_hold_with_a_short_ttl_lapses_and_frees_its_seat_and_the_fans_hold_slot() {
    let app = spawn_app_with(|config| {
        config.hold_ttl = TTL;
        config.hold_max = 1;
    });
    let concert = app.create_concert("Quick", &[("2026-12-24", 2, 1_000)]).await;
    let fan = app.fan("Slow").await;
    let rival = app.fan("Rival").await;
    let asked = Instant::now();
    let held = app.held(&fan, &concert, "2026-12-24", 1).await;
    let reservation = held["reservationId"].as_str().unwrap();
    assert_problem(
        app.hold(&fan, &concert, "2026-12-24", 2).await,
        409,
        "HOLD_LIMIT_REACHED",
    )
    .await;

    tokio::time::sleep_until((asked + PAST_TTL).into()).await;
    let lapsed = body(app.reservation(&fan, reservation).await).await;
    assert_eq!(lapsed["status"], "EXPIRED");
    assert_eq!(app.stats().await["seatsHeld"], 0);
    assert_problem(app.pay(&fan, reservation).await, 409, "RESERVATION_EXPIRED").await;
    assert_eq!(
        app.hold(&rival, &concert, "2026-12-24", 1).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.hold(&fan, &concert, "2026-12-24", 2).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn an_active_token_with_a_short_ttl_dies_and_its_slot_goes_to_the_next_in_line() {
    let app = spawn_app_with(|config| {
        config.active_max = 1;
        config.active_ttl = TTL;
    });
    let asked = Instant::now();
    let first = app.fan("First").await;
    let second = app.fan("Second").await;
    assert_eq!(second.queue["status"], "WAITING");

    tokio::time::sleep_until((asked + PAST_TTL).into()).await;
    assert_problem(app.queue_status(&first).await, 401, "TOKEN_INVALID").await;
    // The second was admitted when the first's slot freed (and may itself have run out since,
    // on a slow machine).
    let queue = app.queue_stats().await;
    assert_eq!(queue["admittedTotal"], 2);
    assert_eq!(queue["waiting"], 0);
    assert!(queue["expiredTotal"].as_u64().unwrap() >= 1);
}
