//! Real concurrent clients against the real server: exactly one winner per seat, no lost
//! charge, one winner for one balance.

use crate::helpers::*;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

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

/// A small deterministic generator, so a failing crowd can be replayed from its seed.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

const CROWD_DATES: [(&str, i64); 2] = [("2026-12-24", 7_000), ("2026-12-25", 9_000)];

/// What one fan saw succeed.
#[derive(Default)]
struct Ledger {
    charged: i64,
    paid: i64,
    /// (date, seat) of every seat this fan paid for.
    bought: Vec<(String, u64)>,
}

/// One fan doing random things: hold, cancel, charge, pay; a new token after each payment.
async fn wander(app: &TestApp, concert: &str, name: String, seed: u64) -> (Fan, Ledger) {
    let mut random = XorShift(seed);
    let mut fan = app.fan(&name).await;
    let mut held: Vec<Value> = Vec::new();
    let mut ledger = Ledger::default();
    for _ in 0..25 {
        match random.below(4) {
            0 => {
                let (date, _) = CROWD_DATES[random.below(2) as usize];
                let response = app.hold(&fan, concert, date, random.below(12) as i64 + 1).await;
                if response.status() == StatusCode::CREATED {
                    held.push(body(response).await);
                }
            }
            1 if !held.is_empty() => {
                let reservation = held.swap_remove(random.below(held.len() as u64) as usize);
                app.cancel(&fan, reservation["reservationId"].as_str().unwrap()).await;
            }
            2 => {
                let amount = random.below(20_000) as i64 + 1;
                if app.charge(&fan, amount).await.status() == StatusCode::OK {
                    ledger.charged += amount;
                }
            }
            3 if !held.is_empty() => {
                let reservation = held.swap_remove(random.below(held.len() as u64) as usize);
                let paid = app.pay(&fan, reservation["reservationId"].as_str().unwrap()).await;
                if paid.status() == StatusCode::CREATED {
                    ledger.paid += body(paid).await["amount"].as_i64().unwrap();
                    let seat = reservation["seatNumber"].as_u64().unwrap();
                    ledger
                        .bought
                        .push((reservation["date"].as_str().unwrap().to_string(), seat));
                    fan = app.token_for(&fan.user_id).await;
                }
            }
            _ => {}
        }
    }
    (fan, ledger)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crowd_doing_everything_at_once_leaves_every_invariant_intact() {
    let app = spawn_app_with(|config| {
        config.active_max = 1_000;
        config.hold_max = 3;
    });
    let dates: Vec<(&str, u32, i64)> = CROWD_DATES.iter().map(|(date, price)| (*date, 12, *price)).collect();
    let concert = app.create_concert("Crowd", &dates).await;
    let crowd = join_all((0..40u64).map(|i| wander(&app, &concert, format!("fan{i}"), 0x9E37_79B9 + i * 7919))).await;

    let mut sold = std::collections::HashSet::new();
    for (fan, ledger) in &crowd {
        assert_eq!(app.balance(fan).await, ledger.charged - ledger.paid, "{}", fan.user_id);
        for seat in &ledger.bought {
            assert!(sold.insert(seat.clone()), "{seat:?} was sold twice");
            assert_eq!(app.seat_status(fan, &concert, &seat.0, seat.1).await, "SOLD");
        }
    }
    let charged: i64 = crowd.iter().map(|(_, ledger)| ledger.charged).sum();
    let revenue: i64 = crowd.iter().map(|(_, ledger)| ledger.paid).sum();
    let stats = app.stats().await;
    assert_eq!(stats["chargedTotal"], charged);
    assert_eq!(stats["revenueTotal"], revenue);
    assert_eq!(stats["balancesTotal"], charged - revenue);
    assert_eq!(stats["seatsSold"], sold.len() as u64);
    assert!(!sold.is_empty(), "the crowd bought something");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_actor_answers_unavailable_at_once_instead_of_queueing_without_bound() {
    let app = spawn_app_with(|config| config.actor_requests_max = 1);
    let user = app.create_user("Impatient").await;
    // The room's one slot may be taken by the server's own periodic reading of its figures: the
    // token is asked for again, as the 503's Retry-After invites.
    let mut issued = app.issue_token(&user).await;
    for _ in 0..50 {
        if issued.status() != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        issued = app.issue_token(&user).await;
    }
    assert_eq!(issued.status(), StatusCode::CREATED);
    // A fan's status is read off the token index without the actor; the operator's count of
    // the line is the actor's to tell.
    let read = || async {
        app.admin(reqwest::Method::GET, "/api/v1/admin/queue")
            .send()
            .await
            .unwrap()
    };
    let reads = join_all((0..300).map(|_| read())).await;
    let mut answered = 0;
    let mut turned_away = 0;
    for response in reads {
        if response.status() == StatusCode::OK {
            answered += 1;
            continue;
        }
        assert_eq!(header(&response, "retry-after"), "1");
        let problem = assert_problem(response, 503, "UNAVAILABLE").await;
        assert_eq!(problem["title"], "The server is too busy to handle the request");
        turned_away += 1;
    }
    assert!(
        answered > 0 && turned_away > 0,
        "{answered} answered, {turned_away} turned away"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crowd_reading_its_status_asks_the_queue_actor_nothing() {
    // A mailbox of one: any read that went through the actor would be turned away at once.
    let app = spawn_app_with(|config| {
        config.actor_requests_max = 1;
        config.active_max = 1;
    });
    let mut fans = Vec::new();
    for name in ["Active", "First", "Second"] {
        let user = app.create_user(name).await;
        let mut issued = app.issue_token(&user).await;
        while issued.status() == StatusCode::SERVICE_UNAVAILABLE {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            issued = app.issue_token(&user).await;
        }
        let queue = body(issued).await;
        fans.push(Fan {
            token: queue["token"].as_str().unwrap().to_string(),
            user_id: user,
            queue,
        });
    }
    let reads = join_all((0..300).map(|i| app.queue_status(&fans[i % 3]))).await;
    for (i, response) in reads.into_iter().enumerate() {
        assert_eq!(response.status(), StatusCode::OK, "read {i}");
        let status = body(response).await;
        let expected = [("ACTIVE", 0), ("WAITING", 1), ("WAITING", 2)][i % 3];
        assert_eq!(
            (status["status"].as_str().unwrap(), status["position"].as_u64().unwrap()),
            expected
        );
        assert_eq!(status["issuedAt"], fans[i % 3].queue["issuedAt"]);
        assert_eq!(status["userId"], fans[i % 3].user_id.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crowd_trying_a_taken_seat_is_refused_without_the_dates_actor() {
    // A mailbox of one: any attempt that went through the actor would be turned away at once.
    let app = spawn_app_with(|config| config.actor_requests_max = 1);
    let concert = app.create_concert("Taken", &[("2026-12-24", 10, 1_000)]).await;
    let (holder, crowd) = (app.fan("Holder").await, app.fan("Crowd").await);
    app.held(&holder, &concert, "2026-12-24", 3).await;
    // A list of the dates publishes the date's counts, not its seats.
    let dates = app.get(&format!("/api/v1/concerts/{concert}/dates")).await;
    assert_eq!(dates.status(), StatusCode::OK);
    // The first refusal is the actor's, which publishes the map it refused off (nobody has
    // read the map yet). Every later attempt is the same refusal; none waits in the date
    // actor's mailbox, so none is turned away busy however many come at once.
    let first = app.hold(&crowd, &concert, "2026-12-24", 3).await;
    assert_problem(first, 409, "SEAT_UNAVAILABLE").await;
    let attempts = join_all((0..300).map(|_| app.hold(&crowd, &concert, "2026-12-24", 3))).await;
    for response in attempts {
        assert_problem(response, 409, "SEAT_UNAVAILABLE").await;
    }
}
