//! A sold-out date's waiting list in cluster mode, the date served apart from the engine: a
//! returned seat is offered to the first entry by the date's owner, and the offer is the fan's
//! through every node, by its reservation as by its entry's code.

use crate::common::client::{text, Client};
use crate::history::History;
use crate::nodes::{expect_json, fan, owner_of, Cluster};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const DATE: &str = "2026-12-24";

#[actix_rt::test]
async fn an_offer_made_by_a_date_served_apart_is_the_fans_through_every_node() {
    let cluster = Cluster::start("5s");
    let leader = cluster.leader(0).await;
    let concert = a_one_seat_date_served_apart_from(&cluster, leader).await;
    let history = History::default();
    let apis = [cluster.api(0), cluster.api(1), cluster.api(2)];
    let (kim, lee) = (fan(&history, 0, apis, 5_000).await, fan(&history, 1, apis, 5_000).await);

    // Kim holds the only seat, Lee joins the list, and Kim gives the seat back: the date's owner
    // offers it to Lee on its own.
    let hold = json!({"concertId": concert, "date": DATE, "seatNumber": 1});
    let held = cluster
        .api(1)
        .with_token(Method::POST, "/api/v1/reservations", &kim.token);
    let held = expect_json(held.json(&hold).send().await.unwrap(), 201, "the seat held").await;
    let join = format!("/api/v1/concerts/{concert}/dates/{DATE}/waitlist");
    let joined = cluster.api(2).with_token(Method::POST, &join, &lee.token).send().await;
    let code = text(&expect_json(joined.unwrap(), 201, "on the list").await["entryCode"]);
    let give_back = format!("/api/v1/reservations/{}", text(&held["reservationId"]));
    let given = cluster
        .api(0)
        .with_token(Method::DELETE, &give_back, &kim.token)
        .send()
        .await;
    assert_eq!(given.unwrap().status(), reqwest::StatusCode::NO_CONTENT);
    let offer = offer_made(cluster.api(0), &code).await;
    let reservation = text(&offer["reservationId"]);

    for (index, api) in cluster.running() {
        let path = format!("/api/v1/reservations/{reservation}");
        let read = api.with_token(Method::GET, &path, &lee.token).send().await.unwrap();
        let read = expect_json(read, 200, &format!("the offer through node {index}")).await;
        assert_eq!(
            (text(&read["status"]), read["seatNumber"].as_i64()),
            ("HELD".into(), Some(1))
        );
        let other = api.with_token(Method::GET, &path, &kim.token).send().await.unwrap();
        expect_json(other, 404, "another fan's offer is not shown").await;
    }
    let paying = cluster
        .api(1)
        .request(Method::POST, &format!("/api/v1/waitlist/{code}/payment"));
    let paid = expect_json(paying.send().await.unwrap(), 201, "the offer paid").await;
    assert_eq!(text(&paid["reservationId"]), reservation);
    for (index, api) in cluster.running() {
        let seats = format!("/api/v1/concerts/{concert}/dates/{DATE}/seats");
        let map = api.with_token(Method::GET, &seats, &kim.token).send().await.unwrap();
        let map = expect_json(map, 200, "the seat map").await;
        assert_eq!(text(&map["seats"][0]["status"]), "SOLD", "node {index}: {map}");
    }
}

/// A concert of one date of one seat that a node other than the leader serves.
async fn a_one_seat_date_served_apart_from(cluster: &Cluster, leader: usize) -> String {
    for _ in 0..20 {
        let body = json!({"title": "Waiting", "dates": [{"date": DATE, "seatCount": 1, "price": 1_000}]});
        let created = cluster.api(0).admin(Method::POST, "/api/v1/admin/concerts").json(&body);
        let concert = text(&expect_json(created.send().await.unwrap(), 201, "a concert").await["concertId"]);
        if owner_of(cluster, leader, &format!("date.{concert}.{DATE}")).await != leader {
            return concert;
        }
    }
    panic!("placement gave twenty dates in a row to the leader");
}

/// The entry's offer, once the returned seat is offered to it.
async fn offer_made(api: &Client, code: &str) -> Value {
    let started = Instant::now();
    loop {
        let entry = api
            .request(Method::GET, &format!("/api/v1/waitlist/{code}"))
            .send()
            .await;
        let entry = expect_json(entry.unwrap(), 200, "the entry").await;
        if !entry["offer"].is_null() {
            return entry["offer"].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the seat is offered: {entry}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
