//! Nodes of a cluster as real processes: three nats-server and three server nodes on loopback.
//! Every node answers every request as one process would; the node serving the partitions is
//! killed, paused or stopped, and another serves them, losing nothing acknowledged and deciding
//! nothing twice.

use crate::common::client::{int, text, Client};
use crate::common::nats::NatsCluster;
use crate::common::process::{Binary, Log, Server, SERVER};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const KEY: &str = "cluster-test-admin-key";
/// Long enough for any takeover on a loaded machine; the failover time itself is measured in
/// BENCHMARKS.md, not asserted.
const SERVED_AGAIN_WITHIN: Duration = Duration::from_secs(60);

struct Cluster {
    // The nodes go before the NATS servers they use.
    nodes: Vec<Option<Server>>,
    nats: NatsCluster,
}

fn node(urls: &str, id: &str, lease_ttl: &str) -> Server {
    Binary::new(SERVER)
        .args(["--addr", ":0", "--nats", urls, "--node-id", id, "--replicas", "3"])
        .args([
            "--lease-ttl",
            lease_ttl,
            "--user-rate-limit",
            "0",
            "--client-rate-limit",
            "0",
        ])
        .args(["--hold-max", "50"])
        .admin_key(KEY)
        .log(Log::Capture)
        .start()
}

impl Cluster {
    fn start(lease_ttl: &str) -> Self {
        let nats = NatsCluster::start();
        let urls = nats.urls();
        let nodes = (1..=3)
            .map(|index| Some(node(&urls, &format!("node-{index}"), lease_ttl)))
            .collect();
        Self { nodes, nats }
    }

    fn api(&self, index: usize) -> &Client {
        &self.nodes[index].as_ref().expect("the node runs").api
    }

    fn running(&self) -> impl Iterator<Item = (usize, &Client)> {
        (self.nodes.iter().enumerate()).filter_map(|(index, node)| Some((index, &node.as_ref()?.api)))
    }

    /// The index of the node serving the partitions, once one does, as `asked` sees it.
    async fn leader(&self, asked: usize) -> usize {
        let started = Instant::now();
        loop {
            if let Some(owner) = self.owner_seen_by(asked).await {
                let index = owner
                    .trim_start_matches("node-")
                    .parse::<usize>()
                    .expect("a node's index")
                    - 1;
                if self.nodes[index].is_some() {
                    return index;
                }
            }
            assert!(started.elapsed() < SERVED_AGAIN_WITHIN, "a node serves the partitions");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn owner_seen_by(&self, asked: usize) -> Option<String> {
        let answer = self
            .api(asked)
            .admin(Method::GET, "/api/v1/admin/cluster")
            .send()
            .await
            .ok()?;
        if answer.status() != StatusCode::OK {
            return None;
        }
        let view: Value = answer.json().await.ok()?;
        let partitions = view["partitions"].as_array()?;
        partitions.first().map(|partition| text(&partition["owner"]))
    }
}

/// A fan: their id and token.
#[derive(Clone)]
struct Fan {
    user: String,
    token: String,
}

async fn expect_json(response: reqwest::Response, status: u16, what: &str) -> Value {
    let got = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(got, status, "{what}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

async fn create_concert(api: &Client, seats: u32) -> (String, String) {
    let body = json!({"title": "Cluster", "dates": [{"date": "2026-12-24", "seatCount": seats, "price": 1000}]});
    let concert = expect_json(
        api.admin(Method::POST, "/api/v1/admin/concerts")
            .json(&body)
            .send()
            .await
            .unwrap(),
        201,
        "a concert",
    )
    .await;
    (text(&concert["concertId"]), "2026-12-24".into())
}

async fn fan(register: &Client, issue: &Client, charge: &Client, amount: i64) -> Fan {
    let user = expect_json(
        register
            .request(Method::POST, "/api/v1/users")
            .json(&json!({"name": "Kim"}))
            .send()
            .await
            .unwrap(),
        201,
        "a user",
    )
    .await;
    let user = text(&user["userId"]);
    let status = expect_json(
        issue
            .request(Method::POST, "/api/v1/queue/tokens")
            .json(&json!({"userId": user}))
            .send()
            .await
            .unwrap(),
        201,
        "a token",
    )
    .await;
    let token = text(&status["token"]);
    let charged = charge
        .with_token(Method::POST, "/api/v1/wallet/charges", &token)
        .json(&json!({"amount": amount}))
        .send()
        .await
        .unwrap();
    expect_json(charged, 200, "a charge").await;
    Fan { user, token }
}

#[actix_rt::test]
async fn every_node_answers_every_request_as_one_process_would() {
    let cluster = Cluster::start("2s");
    let leader = cluster.leader(0).await;
    let (concert, date) = create_concert(cluster.api(0), 10).await;
    let kim = fan(cluster.api(1), cluster.api(2), cluster.api(0), 5_000).await;

    let hold = json!({"concertId": concert, "date": date, "seatNumber": 3});
    let held = cluster
        .api(1)
        .with_token(Method::POST, "/api/v1/reservations", &kim.token)
        .json(&hold)
        .send()
        .await
        .unwrap();
    let held = expect_json(held, 201, "a hold").await;
    let again = cluster
        .api(2)
        .with_token(Method::POST, "/api/v1/reservations", &kim.token)
        .json(&hold)
        .send()
        .await
        .unwrap();
    expect_json(again, 409, "the same seat from another node").await;
    let pay = json!({"reservationId": held["reservationId"]});
    let paid = cluster
        .api(2)
        .with_token(Method::POST, "/api/v1/payments", &kim.token)
        .json(&pay)
        .send()
        .await
        .unwrap();
    let paid = expect_json(paid, 201, "a payment").await;
    assert_eq!(int(&paid["balance"]), 4_000);

    for (index, api) in cluster.running() {
        let stats = stats_of(api).await;
        assert_eq!(
            (int(&stats["seatsSold"]), int(&stats["revenueTotal"])),
            (1, 1_000),
            "node {index}"
        );
        let view = expect_json(
            api.admin(Method::GET, "/api/v1/admin/cluster").send().await.unwrap(),
            200,
            "the cluster",
        )
        .await;
        assert_eq!(
            text(&view["nodeId"]),
            format!("node-{}", index + 1),
            "each node names itself"
        );
        assert_eq!(view["nodes"].as_array().map(Vec::len), Some(3), "{view}");
        let partitions = view["partitions"].as_array().cloned().unwrap_or_default();
        assert!(partitions
            .iter()
            .all(|partition| text(&partition["owner"]) == format!("node-{}", leader + 1)));
        let dates: Vec<String> = (partitions.iter())
            .map(|partition| text(&partition["name"]))
            .filter(|name| name.starts_with("date."))
            .collect();
        assert_eq!(
            dates,
            [format!("date.{concert}.{date}")],
            "a date's partition names its concert and date"
        );
    }
    let dead = cluster
        .api(0)
        .with_token(Method::GET, "/api/v1/queue/tokens/me", &kim.token)
        .send()
        .await
        .unwrap();
    expect_json(dead, 401, "the paying token ended on every node").await;
    let kim_user = cluster
        .api(1)
        .request(Method::GET, &format!("/api/v1/users/{}", kim.user))
        .send()
        .await
        .unwrap();
    expect_json(kim_user, 200, "a user from any node").await;
}

/// What the fans were told, in a rush spread over the nodes.
#[derive(Default)]
struct Told {
    charged: Vec<(String, i64)>,
    paid: Vec<(String, String, String)>,
}

/// Fans rush for `seats` seats, each through node `fan % nodes`, trying one seat after another
/// until they pay or `until`, retrying what a failover turns away.
async fn rush(apis: Vec<Client>, fans: Vec<Fan>, concert: String, date: String, seats: u32, until: Instant) -> Told {
    let sold = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let tasks = fans.into_iter().enumerate().map(|(index, fan)| {
        let api = apis[index % apis.len()].clone();
        let (concert, date, sold) = (concert.clone(), date.clone(), sold.clone());
        actix_rt::spawn(async move {
            let mut told = Told::default();
            let mut attempt = 0;
            let sold_out = || sold.load(std::sync::atomic::Ordering::Relaxed) >= seats;
            while Instant::now() < until && told.paid.is_empty() && !sold_out() {
                attempt += 1;
                let seat = 1 + ((index * 7 + attempt * 13) as u32 % seats);
                if let Some(paid) = hold_and_pay(&api, &fan, &concert, &date, seat).await {
                    sold.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    told.paid.push(paid);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            told
        })
    });
    let mut told = Told::default();
    for task in futures_util::future::join_all(tasks).await {
        let fan = task.expect("a fan's task ends");
        told.paid.extend(fan.paid);
    }
    told
}

/// Holds `seat` and pays it; the payment as acknowledged: (token, payment, reservation).
async fn hold_and_pay(
    api: &Client,
    fan: &Fan,
    concert: &str,
    date: &str,
    seat: u32,
) -> Option<(String, String, String)> {
    let hold = json!({"concertId": concert, "date": date, "seatNumber": seat});
    let held = api
        .with_token(Method::POST, "/api/v1/reservations", &fan.token)
        .json(&hold)
        .send()
        .await
        .ok()?;
    if held.status() != StatusCode::CREATED {
        return None;
    }
    let held: Value = held.json().await.ok()?;
    let reservation = text(&held["reservationId"]);
    // A payment turned away by a failover is tried again under the same key, as a fan's page
    // would: the first answer that went through is the one every retry gets.
    let key = format!("pay-{reservation}");
    let pay = json!({"reservationId": reservation});
    for _ in 0..100 {
        let paying = api
            .with_token(Method::POST, "/api/v1/payments", &fan.token)
            .header("Idempotency-Key", &key);
        let Ok(paid) = paying.json(&pay).send().await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        match paid.status() {
            StatusCode::CREATED => {
                let paid: Value = paid.json().await.ok()?;
                return Some((fan.token.clone(), text(&paid["paymentId"]), reservation));
            }
            status if status.is_server_error() => tokio::time::sleep(Duration::from_millis(200)).await,
            _ => break,
        }
    }
    let cancel = format!("/api/v1/reservations/{reservation}");
    let _ = api.with_token(Method::DELETE, &cancel, &fan.token).send().await;
    None
}

/// The admin stats, as a client that retries a 503 sees them once a node serves. A connection
/// the node closed while it sat idle in the client's pool is tried again too.
async fn stats_of(api: &Client) -> Value {
    let started = Instant::now();
    loop {
        let answer = api.admin(Method::GET, "/api/v1/admin/stats").send().await;
        let give_up = started.elapsed() > SERVED_AGAIN_WITHIN;
        match answer {
            Ok(answer) if answer.status() != StatusCode::SERVICE_UNAVAILABLE || give_up => {
                return expect_json(answer, 200, "stats").await;
            }
            Err(error) if give_up => panic!("stats: {error}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[actix_rt::test]
async fn a_killed_leader_is_replaced_and_nothing_acknowledged_is_lost_or_sold_twice() {
    let mut cluster = Cluster::start("5s");
    let leader = cluster.leader(0).await;
    let (concert, date) = create_concert(cluster.api(0), 20).await;
    let mut fans = Vec::new();
    let mut told = Told::default();
    for index in 0..30 {
        let apis: Vec<&Client> = (0..3).map(|offset| cluster.api((index + offset) % 3)).collect();
        let fan = fan(apis[0], apis[1], apis[2], 3_000).await;
        told.charged.push((fan.user.clone(), 3_000));
        fans.push(fan);
    }
    let apis: Vec<Client> = cluster.running().map(|(_, api)| api.clone()).collect();
    let until = Instant::now() + Duration::from_secs(20);
    let rushing = actix_rt::spawn(rush(apis, fans.clone(), concert.clone(), date.clone(), 20, until));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed_at = Instant::now();
    let mut killed = cluster.nodes[leader].take().expect("the leader runs");
    killed.process.crash();
    let survivor = (leader + 1) % 3;
    let next = cluster.leader(survivor).await;
    assert_ne!(next, leader);
    let served_again = loop {
        let dates = cluster
            .api(survivor)
            .request(Method::GET, &format!("/api/v1/concerts/{concert}/dates"))
            .send()
            .await
            .unwrap();
        if dates.status() == StatusCode::OK {
            break killed_at.elapsed();
        }
        assert!(killed_at.elapsed() < SERVED_AGAIN_WITHIN, "the date is served again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("the date was served again {served_again:?} after the kill");
    let rushed = rushing.await.expect("the rush ends");
    told.paid.extend(rushed.paid);
    eprintln!("{} payments acknowledged", told.paid.len());
    assert_eq!(
        told.paid.len(),
        20,
        "the rush went on after the failover and sold every seat"
    );

    for (index, api) in cluster.running() {
        let stats = stats_of(api).await;
        let charged = int(&stats["chargedTotal"]);
        assert_eq!(
            charged,
            int(&stats["balancesTotal"]) + int(&stats["revenueTotal"]),
            "node {index}: money is conserved"
        );
        assert_eq!(
            charged,
            told.charged.iter().map(|(_, amount)| amount).sum::<i64>(),
            "node {index}: every charge is there once"
        );
        assert!(int(&stats["seatsSold"]) <= 20);
        assert_eq!(
            int(&stats["revenueTotal"]),
            1_000 * int(&stats["seatsSold"]),
            "node {index}: a sale for every seat sold"
        );
        assert!(
            int(&stats["seatsSold"]) as usize >= told.paid.len(),
            "node {index}: every acknowledged payment's seat is sold"
        );
    }
    let api = cluster.api(survivor);
    let mut paid_seats = std::collections::HashSet::new();
    let mut seat_numbers = std::collections::HashSet::new();
    for fan in &fans {
        let user = fan.user.clone();
        let reissued = api
            .request(Method::POST, "/api/v1/queue/tokens")
            .json(&json!({"userId": user}))
            .send()
            .await
            .unwrap();
        let token = match reissued.status() {
            StatusCode::CREATED => text(&reissued.json::<Value>().await.unwrap()["token"]),
            _ => fan.token.clone(),
        };
        let payments = expect_json(
            api.with_token(Method::GET, "/api/v1/payments", &token)
                .send()
                .await
                .unwrap(),
            200,
            "payments",
        )
        .await;
        for payment in payments.as_array().cloned().unwrap_or_default() {
            assert!(
                paid_seats.insert(text(&payment["reservationId"])),
                "a reservation paid twice"
            );
            assert!(
                seat_numbers.insert(int(&payment["seatNumber"])),
                "a seat sold twice: {payment}"
            );
        }
    }
    let stats = stats_of(api).await;
    assert_eq!(
        int(&stats["seatsSold"]) as usize,
        paid_seats.len(),
        "every seat sold has its payment"
    );
    for (_, payment, reservation) in &told.paid {
        assert!(
            paid_seats.contains(reservation),
            "acknowledged payment {payment} is kept"
        );
    }
}

fn send_signal(server: &Server, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(server.process.id()).expect("a pid");
    // SAFETY: kill only sends a signal to the process named, one of this test's children.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "signal {signal} sent");
}

async fn balance(api: &Client, fan: &Fan) -> Option<i64> {
    let answer = api
        .with_token(Method::GET, "/api/v1/wallet", &fan.token)
        .send()
        .await
        .ok()?;
    if answer.status() != StatusCode::OK {
        return None;
    }
    Some(int(&answer.json::<Value>().await.ok()?["balance"]))
}

#[actix_rt::test]
async fn a_paused_leader_decides_and_tells_nothing_once_another_took_over() {
    let cluster = Cluster::start("2s");
    let paused = cluster.leader(0).await;
    let other = (paused + 1) % 3;
    let kim = fan(cluster.api(other), cluster.api(other), cluster.api(other), 1_000).await;
    let paused_node = cluster.nodes[paused].as_ref().expect("the leader runs");
    send_signal(paused_node, libc::SIGSTOP);

    // A charge sent to the paused node waits in its socket while another node takes over.
    let stalled_api = cluster.api(paused).clone().with_timeout(Duration::from_secs(60));
    let stalled_fan = kim.clone();
    let stalled = actix_rt::spawn(async move {
        let charge = stalled_api.with_token(Method::POST, "/api/v1/wallet/charges", &stalled_fan.token);
        let answer = charge.json(&json!({"amount": 100})).send().await.ok()?;
        (answer.status() == StatusCode::OK).then_some(())
    });
    let next = cluster.leader(other).await;
    assert_ne!(next, paused, "another node serves");
    let charged = cluster
        .api(other)
        .with_token(Method::POST, "/api/v1/wallet/charges", &kim.token)
        .json(&json!({"amount": 10}))
        .send()
        .await
        .unwrap();
    expect_json(charged, 200, "a charge through the new owner").await;
    send_signal(paused_node, libc::SIGCONT);

    let stalled_told = stalled.await.expect("the stalled charge ends").is_some();
    let expected = 1_010 + if stalled_told { 100 } else { 0 };
    // Whatever the resumed node answers is either a refusal or the truth, never its old memory.
    for _ in 0..30 {
        if let Some(seen) = balance(cluster.api(paused), &kim).await {
            assert_eq!(seen, expected, "the resumed node answers from the new owner");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (index, api) in cluster.running() {
        assert_eq!(
            balance(api, &kim).await,
            Some(expected),
            "node {index}: exactly what was acknowledged"
        );
    }
}

#[actix_rt::test]
async fn a_stopped_leader_hands_its_partitions_over_before_its_lease_would_expire() {
    let lease_ttl = Duration::from_secs(10);
    let mut cluster = Cluster::start("10s");
    let leader = cluster.leader(0).await;
    let other = (leader + 1) % 3;
    let kim = fan(cluster.api(other), cluster.api(other), cluster.api(other), 2_500).await;
    let mut stopped = cluster.nodes[leader].take().expect("the leader runs");
    let stopped_at = Instant::now();
    let status = stopped.process.terminate();
    assert!(status.success(), "a graceful stop: {status}");
    let handed_over = loop {
        if balance(cluster.api(other), &kim).await == Some(2_500) {
            break stopped_at.elapsed();
        }
        assert!(stopped_at.elapsed() < SERVED_AGAIN_WITHIN, "another node serves");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("served again {handed_over:?} after SIGTERM");
    assert!(
        handed_over < lease_ttl,
        "the lease was given back, not left to expire: {handed_over:?}"
    );
}

#[actix_rt::test]
async fn the_load_harness_spreads_fans_over_the_nodes_and_checks_every_invariant_on_each() {
    let cluster = Cluster::start("5s");
    cluster.leader(0).await;
    let urls: Vec<&str> = cluster.running().map(|(_, api)| api.base()).collect();
    let output = Binary::new(crate::common::process::LOADTEST)
        .args([
            "--url",
            &urls.join(","),
            "--admin-key",
            KEY,
            "--users",
            "300",
            "--seats",
            "20",
            "--seed",
            "7",
        ])
        .output();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("invariants: all hold"), "{report}");
    for (index, api) in cluster.running() {
        let stats = stats_of(api).await;
        assert_eq!(
            int(&stats["seatsSold"]),
            int(&stats["seatsTotal"]),
            "node {index}: the fans bought every seat"
        );
    }
}

#[actix_rt::test]
async fn a_rush_goes_on_while_one_of_the_three_nats_servers_is_killed() {
    let mut cluster = Cluster::start("5s");
    cluster.leader(0).await;
    let (concert, date) = create_concert(cluster.api(0), 20).await;
    let mut fans = Vec::new();
    for index in 0..30 {
        fans.push(
            fan(
                cluster.api(index % 3),
                cluster.api(index % 3),
                cluster.api(index % 3),
                3_000,
            )
            .await,
        );
    }
    let apis: Vec<Client> = cluster.running().map(|(_, api)| api.clone()).collect();
    let until = Instant::now() + Duration::from_secs(20);
    let rushing = actix_rt::spawn(rush(apis, fans, concert, date, 20, until));
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.nats.servers[0].kill();
    let told = rushing.await.expect("the rush ends");
    assert_eq!(told.paid.len(), 20, "every seat was sold through the rush");
    for (index, api) in cluster.running() {
        let stats = stats_of(api).await;
        assert_eq!(int(&stats["seatsSold"]), 20, "node {index}");
        assert_eq!(
            int(&stats["chargedTotal"]),
            int(&stats["balancesTotal"]) + int(&stats["revenueTotal"]),
            "node {index}"
        );
        assert_eq!(int(&stats["chargedTotal"]), 90_000, "node {index}: every charge once");
    }
}
