//! Orders of two seats on two dates while a node dies: whatever the node was doing for an
//! order (the engine's saga and wallet, or one of the dates' seats), every order ends whole or
//! not at all, every acknowledged one is kept, and money is conserved on every node.

use crate::common::client::{int, text, Client};
use crate::history::History;
use crate::nodes::{expect_json, fan, owner_of, stats_once, Cluster, Fan, Victim, SERVED_AGAIN_WITHIN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// More fans than orders the seats allow, so that seats are fought over across the failover.
const FANS: usize = 36;
const SEATS: u32 = 20;
const PRICE: i64 = 1_000;
const CHARGED: i64 = 5_000;
const DATES: [&str; 2] = ["2026-12-24", "2026-12-25"];

#[actix_rt::test]
async fn a_leader_killed_mid_order_leaves_every_order_whole_or_undone() {
    orders_through_a_kill(Victim::Leader).await;
}

#[actix_rt::test]
async fn a_date_owner_killed_mid_order_leaves_every_order_whole_or_undone() {
    orders_through_a_kill(Victim::DateOwner).await;
}

/// An order a fan asked for, and what they were told.
#[derive(Debug)]
struct Ordered {
    fan: usize,
    reservations: [String; 2],
    told: Told,
    /// When its payment was first sent, and when its last answer came.
    sent: Instant,
    answered: Instant,
}

#[derive(Debug, PartialEq)]
enum Told {
    Paid,
    Refused(String),
    /// Every try failed with a 5xx or no answer: the order may or may not have happened.
    Unknown,
}

/// What the fans share: the nodes, the concert, the orders paid so far and the end.
#[derive(Clone)]
struct Shop {
    apis: Vec<Client>,
    concert: String,
    paid: Arc<AtomicU32>,
    /// Orders whose payment is under way.
    paying: Arc<AtomicU32>,
    over: Arc<AtomicBool>,
}

async fn orders_through_a_kill(victim: Victim) {
    let mut cluster = Cluster::start("5s");
    let leader = cluster.leader(0).await;
    let (concert, killed_node) = match victim {
        Victim::Leader => (create_concert(cluster.api(0)).await, leader),
        Victim::DateOwner => a_date_served_apart_from(&cluster, leader).await,
    };
    let history = History::default();
    let mut fans = Vec::new();
    for index in 0..FANS {
        let apis: Vec<&Client> = (0..3).map(|offset| cluster.api((index + offset) % 3)).collect();
        fans.push(fan(&history, index, [apis[0], apis[1], apis[2]], CHARGED).await);
    }
    let shop = Shop {
        apis: cluster.running().map(|(_, api)| api.clone()).collect(),
        concert,
        paid: Arc::default(),
        paying: Arc::default(),
        over: Arc::default(),
    };
    // The fans go on until told to stop, once orders are paid again after the failover; this
    // bounds a failover that never ends.
    let until = Instant::now() + SERVED_AGAIN_WITHIN + Duration::from_secs(30);
    let shopping = actix_rt::spawn(shop_for_pairs(shop.clone(), fans.clone(), until));
    // The victim dies with orders paid and, as far as can be arranged, one under way.
    while shop.paid.load(Ordering::Relaxed) < 4 || shop.paying.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < until, "the fans paid four orders");
        // A payment through the cluster takes milliseconds: a millisecond's look finds one.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let paid_at_kill = shop.paid.load(Ordering::Relaxed);
    let killed_at = Instant::now();
    cluster.nodes[killed_node]
        .take()
        .expect("the victim runs")
        .process
        .crash();
    let survivor = (killed_node + 1) % 3;
    served_again(cluster.api(survivor), killed_at).await;
    while shop.paid.load(Ordering::Relaxed) <= paid_at_kill {
        assert!(
            killed_at.elapsed() < SERVED_AGAIN_WITHIN,
            "orders are paid after the failover"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A moment more for the orders under way then to end.
    tokio::time::sleep(Duration::from_secs(2)).await;
    shop.over.store(true, Ordering::Relaxed);
    let ordered = shopping.await.expect("the fans' tasks end");

    let acknowledged = ordered.iter().filter(|order| order.told == Told::Paid).count();
    let unknown = ordered.iter().filter(|order| order.told == Told::Unknown).count();
    let cut = (ordered.iter())
        .filter(|order| order.sent < killed_at && killed_at < order.answered)
        .count();
    eprintln!(
        "{acknowledged} orders acknowledged ({paid_at_kill} before the kill), {cut} under way at the kill, \
         {unknown} never answered"
    );
    assert!(
        acknowledged > paid_at_kill as usize,
        "orders went on after the failover"
    );
    assert!(
        cut > 0,
        "the kill cut an order under way, which is what this test is about"
    );
    let api = cluster.api(survivor);
    let mut tokens = Vec::new();
    for fan in &fans {
        tokens.push(live_token(api, fan).await);
    }
    let paid = paid_reservations(api, &tokens).await;
    every_order_whole_or_undone(&ordered, &paid);
    money_kept(&cluster, &tokens, &paid).await;
}

/// A concert of two dates, each of `SEATS` seats at `PRICE`.
async fn create_concert(api: &Client) -> String {
    let dates: Vec<Value> = (DATES.iter())
        .map(|date| json!({"date": date, "seatCount": SEATS, "price": PRICE}))
        .collect();
    let body = json!({"title": "Orders", "dates": dates});
    let created = api
        .admin(Method::POST, "/api/v1/admin/concerts")
        .json(&body)
        .send()
        .await;
    text(&expect_json(created.unwrap(), 201, "a concert").await["concertId"])
}

/// A concert one of whose dates a node other than the leader serves, and that node.
async fn a_date_served_apart_from(cluster: &Cluster, leader: usize) -> (String, usize) {
    for _ in 0..20 {
        let concert = create_concert(cluster.api(0)).await;
        for date in DATES {
            let owner = owner_of(cluster, leader, &format!("date.{concert}.{date}")).await;
            if owner != leader {
                return (concert, owner);
            }
        }
    }
    panic!("placement gave forty dates in a row to the leader");
}

/// Waits until the survivor's stats answer, which needs every date served again.
async fn served_again(api: &Client, killed_at: Instant) {
    loop {
        let stats = api.admin(Method::GET, "/api/v1/admin/stats").send().await.unwrap();
        if stats.status() == StatusCode::OK {
            eprintln!("served again {:?} after the kill", killed_at.elapsed());
            return;
        }
        assert!(killed_at.elapsed() < SERVED_AGAIN_WITHIN, "the dates are served again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every fan tries pairs of seats, one on each date, through node `fan % 3` (the next one once
/// it does not answer), until they pay an order or the shop closes; every order asked for.
async fn shop_for_pairs(shop: Shop, fans: Vec<Fan>, until: Instant) -> Vec<Ordered> {
    let tasks = fans.into_iter().map(|fan| {
        let shop = shop.clone();
        actix_rt::spawn(async move {
            let mut node = fan.index % shop.apis.len();
            let mut ordered = Vec::new();
            for attempt in 1.. {
                let paid = ordered.iter().any(|order: &Ordered| order.told == Told::Paid);
                if paid || Instant::now() >= until || shop.over.load(Ordering::Relaxed) {
                    break;
                }
                let seats = [
                    1 + (fan.index * 7 + attempt * 13) as u32 % SEATS,
                    1 + (fan.index * 11 + attempt * 5) as u32 % SEATS,
                ];
                match order_pair(&shop, node, &fan, seats).await {
                    Tried::Unreachable => node = (node + 1) % shop.apis.len(),
                    Tried::NotHeld => {}
                    Tried::Ordered(order) => {
                        if order.told == Told::Paid {
                            shop.paid.fetch_add(1, Ordering::Relaxed);
                        }
                        ordered.push(order);
                    }
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            ordered
        })
    });
    let mut ordered = Vec::new();
    for fan in futures_util::future::join_all(tasks).await {
        ordered.extend(fan.expect("a fan's task ends"));
    }
    ordered
}

enum Tried {
    /// The node did not take the connection.
    Unreachable,
    /// A seat of the pair could not be held: nothing was ordered.
    NotHeld,
    Ordered(Ordered),
}

/// Holds `seats` (one per date) through node `node` and pays them as one order.
async fn order_pair(shop: &Shop, node: usize, fan: &Fan, seats: [u32; 2]) -> Tried {
    let api = &shop.apis[node];
    let mut held = Vec::new();
    for (date, seat) in DATES.iter().zip(seats) {
        let hold = json!({"concertId": shop.concert, "date": date, "seatNumber": seat});
        let answer = api
            .with_token(Method::POST, "/api/v1/reservations", &fan.token)
            .json(&hold)
            .send()
            .await;
        let answer = match answer {
            Err(error) if error.is_connect() => return Tried::Unreachable,
            Err(_) => None,
            Ok(answer) if answer.status() == StatusCode::CREATED => answer.json::<Value>().await.ok(),
            Ok(_) => None,
        };
        match answer {
            Some(hold) => held.push(text(&hold["reservationId"])),
            None => {
                give_back(api, fan, &held).await;
                return Tried::NotHeld;
            }
        }
    }
    let reservations: [String; 2] = held.try_into().expect("two holds");
    let sent = Instant::now();
    shop.paying.fetch_add(1, Ordering::Relaxed);
    let told = pay_order(shop, node, fan, &reservations).await;
    shop.paying.fetch_sub(1, Ordering::Relaxed);
    if matches!(told, Told::Refused(_)) {
        give_back(api, fan, &reservations).await;
    }
    Tried::Ordered(Ordered {
        fan: fan.index,
        reservations,
        told,
        sent,
        answered: Instant::now(),
    })
}

/// Pays the pair as one order, tried again under the same key while a failover turns it away,
/// through the next node when one does not answer, as a fan's page would.
async fn pay_order(shop: &Shop, node: usize, fan: &Fan, reservations: &[String; 2]) -> Told {
    let key = format!("order-{}", reservations[0]);
    let body = json!({ "reservationIds": reservations });
    for attempt in 0..100 {
        let api = &shop.apis[(node + attempt / 5) % shop.apis.len()];
        let paying = api
            .with_token(Method::POST, "/api/v1/payments", &fan.token)
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await;
        match paying {
            Ok(paid) if paid.status() == StatusCode::CREATED => return Told::Paid,
            Ok(refused) if refused.status().is_client_error() => {
                let body = refused.json::<Value>().await.unwrap_or_default();
                return Told::Refused(text(&body["code"]));
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    Told::Unknown
}

async fn give_back(api: &Client, fan: &Fan, reservations: &[String]) {
    for reservation in reservations {
        let path = format!("/api/v1/reservations/{reservation}");
        let _ = api.with_token(Method::DELETE, &path, &fan.token).send().await;
    }
}

/// Every fan's paid reservations, by fan, read through `api` with each fan's live token; no
/// reservation or seat of a date is paid twice.
async fn paid_reservations(api: &Client, tokens: &[String]) -> HashMap<usize, HashSet<String>> {
    let mut paid = HashMap::new();
    let mut seats = HashSet::new();
    for (fan, token) in tokens.iter().enumerate() {
        let payments = expect_json(
            api.with_token(Method::GET, "/api/v1/payments", token)
                .send()
                .await
                .unwrap(),
            200,
            "payments",
        )
        .await;
        let mine: &mut HashSet<String> = paid.entry(fan).or_default();
        for payment in payments.as_array().cloned().unwrap_or_default() {
            assert!(mine.insert(text(&payment["reservationId"])), "a reservation paid twice");
            let seat = (text(&payment["date"]), int(&payment["seatNumber"]));
            assert!(seats.insert(seat), "a seat sold twice: {payment}");
        }
    }
    paid
}

/// The fan's token, or a new one where a payment ended it.
async fn live_token(api: &Client, fan: &Fan) -> String {
    let reissued = api
        .request(Method::POST, "/api/v1/queue/tokens")
        .json(&json!({"userId": fan.user}))
        .send()
        .await
        .unwrap();
    match reissued.status() {
        StatusCode::CREATED => text(&reissued.json::<Value>().await.unwrap()["token"]),
        _ => fan.token.clone(),
    }
}

/// An acknowledged order has both seats paid, a refused one neither, and one never answered
/// either both or neither: never one seat of an order.
fn every_order_whole_or_undone(ordered: &[Ordered], paid: &HashMap<usize, HashSet<String>>) {
    for order in ordered {
        let mine = &paid[&order.fan];
        let seats_paid = (order.reservations.iter())
            .filter(|reservation| mine.contains(*reservation))
            .count();
        match &order.told {
            Told::Paid => assert_eq!(seats_paid, 2, "an acknowledged order is kept whole: {order:?}"),
            Told::Refused(_) => assert_eq!(seats_paid, 0, "a refused order changed nothing: {order:?}"),
            Told::Unknown => assert!(seats_paid != 1, "an order cut short is whole or undone: {order:?}"),
        }
    }
}

/// On every node: money conserved, every charge there once, the revenue the seats sold, and
/// each fan's balance what they were charged less their seats.
async fn money_kept(cluster: &Cluster, tokens: &[String], paid: &HashMap<usize, HashSet<String>>) {
    let seats_paid: usize = paid.values().map(HashSet::len).sum();
    for (index, api) in cluster.running() {
        // An order the new leader resumed sells its seats after its debit, as its dates'
        // owners answer.
        let stats = stats_once(api, |stats| int(&stats["seatsSold"]) as usize == seats_paid).await;
        let charged = int(&stats["chargedTotal"]);
        assert_eq!(charged, CHARGED * FANS as i64, "node {index}: every charge once");
        assert_eq!(
            charged,
            int(&stats["balancesTotal"]) + int(&stats["revenueTotal"]),
            "node {index}: money is conserved"
        );
        assert_eq!(int(&stats["seatsSold"]) as usize, seats_paid, "node {index}: {stats}");
        assert_eq!(int(&stats["revenueTotal"]), PRICE * seats_paid as i64, "node {index}");
    }
    let (_, api) = cluster.running().next().expect("a node runs");
    for (fan, token) in tokens.iter().enumerate() {
        let wallet = api
            .with_token(Method::GET, "/api/v1/wallet", token)
            .send()
            .await
            .unwrap();
        let balance = int(&expect_json(wallet, 200, "a wallet").await["balance"]);
        let seats = paid[&fan].len() as i64;
        assert_eq!(balance, CHARGED - PRICE * seats, "fan {fan}: one debit per seat paid");
    }
}
