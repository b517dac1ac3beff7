//! Real concurrent clients against the real server: exactly one winner per seat, no lost
//! charge, one winner for one balance.

use crate::helpers::*;
use futures_util::future::join_all;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_sixty_four_fans_racing_for_one_seat_exactly_one_wins() {
    let app = spawn_app_with(|config| config.active_max = 1_000);
    let concert = app.create_concert("Rush", &[("2026-12-24", 50, 10_000)]).await;
    let fans = join_all((0..64).map(|i| {
        let app = &app;
        async move { app.fan(&format!("fan{i}")).await }
    }))
    .await;
    let attempts = join_all(fans.iter().map(|fan| app.hold(fan, &concert, "2026-12-24", 7))).await;
    let statuses: Vec<StatusCode> = attempts.iter().map(|r| r.status()).collect();
    let winners = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((winners, refused), (1, 63), "{statuses:?}");
    let stats = app.stats().await;
    assert_eq!(stats["seatsHeld"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_charges_sum_exactly() {
    let app = spawn_app();
    let fan = app.fan("Saver").await;
    let charges = join_all((1..=200).map(|amount| app.charge(&fan, amount))).await;
    assert!(charges.iter().all(|r| r.status() == StatusCode::OK));
    let wallet = body(
        app.with_token(reqwest::Method::GET, "/api/v1/wallet", &fan.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(wallet["balance"], 200 * 201 / 2);
    let stats = app.stats().await;
    assert_eq!(stats["chargedTotal"], 200 * 201 / 2);
}

/// Two holds paid at once with one token; returns the two statuses, sorted, and the app.
async fn pay_two_holds_at_once(balance: i64) -> (Vec<u16>, TestApp) {
    let app = spawn_app();
    let concert = app.create_concert("Duo", &[("2026-12-24", 10, 30_000)]).await;
    let fan = app.fan("Both").await;
    let first = body(app.hold(&fan, &concert, "2026-12-24", 1).await).await;
    let second = body(app.hold(&fan, &concert, "2026-12-24", 2).await).await;
    assert_eq!(app.charge(&fan, balance).await.status(), StatusCode::OK);
    let ids = [
        first["reservationId"].as_str().unwrap(),
        second["reservationId"].as_str().unwrap(),
    ];
    let payments = join_all(ids.iter().map(|id| app.pay(&fan, id))).await;
    let mut statuses: Vec<u16> = payments.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    (statuses, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_payments_racing_for_one_balance_leave_one_winner_and_nothing_left() {
    for _ in 0..10 {
        let (statuses, app) = pay_two_holds_at_once(30_000).await;
        // The winner's payment ends the token, so the other finds it dead.
        assert_eq!(statuses, [201, 401]);
        let stats = app.stats().await;
        assert_eq!(stats["seatsSold"], 1);
        assert_eq!(stats["balancesTotal"], 0);
        assert_eq!(stats["revenueTotal"], 30_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_token_pays_once_even_when_asked_twice_at_once_with_money_for_both() {
    for _ in 0..10 {
        let (statuses, app) = pay_two_holds_at_once(60_000).await;
        assert_eq!(statuses, [201, 401]);
        let stats = app.stats().await;
        assert_eq!(stats["seatsSold"], 1);
        assert_eq!(stats["seatsHeld"], 1);
        assert_eq!(stats["balancesTotal"], 30_000);
        assert_eq!(stats["revenueTotal"], 30_000);
    }
}
