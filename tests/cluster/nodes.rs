//! Nodes of a cluster as real processes: three nats-server and three server nodes on loopback.
//! Every node answers every request as one process would; the node serving the partitions is
//! killed, paused or stopped, and another serves them, losing nothing acknowledged and deciding
//! nothing twice.

use crate::common::client::{int, text, Client};
use crate::common::nats::NatsCluster;
use crate::common::process::{Binary, Log, Server, SERVER};
use crate::history::{Asked, FanIndex, History, SeatStatus, Thread, Told as Answer};
use concert_reservation::cluster::placement;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const KEY: &str = "cluster-test-admin-key";
/// Long enough for any takeover on a loaded machine; the failover time itself is measured in
/// BENCHMARKS.md, not asserted.
pub(crate) const SERVED_AGAIN_WITHIN: Duration = Duration::from_secs(60);

pub(crate) struct Cluster {
    // The nodes go before the NATS servers they use.
    pub(crate) nodes: Vec<Option<Server>>,
    nats: NatsCluster,
}

fn node(urls: &str, id: &str, lease_ttl: &str, extra: &[&str]) -> Server {
    Binary::new(SERVER)
        .args(extra.iter().copied())
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
    pub(crate) fn start(lease_ttl: &str) -> Self {
        Self::start_with(lease_ttl, &[])
    }

    /// Three nodes started with `extra` flags too.
    pub(crate) fn start_with(lease_ttl: &str, extra: &[&str]) -> Self {
        let nats = NatsCluster::start();
        let urls = nats.urls();
        let nodes = (1..=3)
            .map(|index| Some(node(&urls, &format!("node-{index}"), lease_ttl, extra)))
            .collect();
        Self { nodes, nats }
    }

    /// The first `count` of three nodes, started with `extra` flags too; the others can join
    /// later.
    fn start_nodes(lease_ttl: &str, count: usize, extra: &[&str]) -> Self {
        let nats = NatsCluster::start();
        let urls = nats.urls();
        let nodes = (1..=3)
            .map(|index| (index <= count).then(|| node(&urls, &format!("node-{index}"), lease_ttl, extra)))
            .collect();
        Self { nodes, nats }
    }

    pub(crate) fn api(&self, index: usize) -> &Client {
        &self.nodes[index].as_ref().expect("the node runs").api
    }

    pub(crate) fn running(&self) -> impl Iterator<Item = (usize, &Client)> {
        (self.nodes.iter().enumerate()).filter_map(|(index, node)| Some((index, &node.as_ref()?.api)))
    }

    /// The index of the node serving the partitions, once one does, as `asked` sees it.
    pub(crate) async fn leader(&self, asked: usize) -> usize {
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
        // The engine's partitions; a date may be served by another node.
        (partitions.iter())
            .find(|partition| !text(&partition["name"]).starts_with("date."))
            .map(|partition| text(&partition["owner"]))
    }
}

/// A fan: their index in the test's history, id and token.
#[derive(Clone)]
pub(crate) struct Fan {
    pub(crate) index: FanIndex,
    pub(crate) user: String,
    pub(crate) token: String,
}

pub(crate) async fn expect_json(response: reqwest::Response, status: u16, what: &str) -> Value {
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

/// A new fan with an ACTIVE token and `amount` charged, the charge in `history`.
pub(crate) async fn fan(
    history: &History,
    index: FanIndex,
    [register, issue, charge]: [&Client; 3],
    amount: i64,
) -> Fan {
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
    let thread = history.thread();
    thread.asked(Asked::Charge { fan: index, amount });
    let charged = charge
        .with_token(Method::POST, "/api/v1/wallet/charges", &token)
        .json(&json!({"amount": amount}))
        .send()
        .await
        .unwrap();
    let charged = expect_json(charged, 200, "a charge").await;
    thread.told(Answer::Balance(int(&charged["balance"])));
    Fan { index, user, token }
}

#[actix_rt::test]
async fn every_node_answers_every_request_as_one_process_would() {
    let cluster = Cluster::start("5s");
    let leader = cluster.leader(0).await;
    let (concert, date) = create_concert(cluster.api(0), 10).await;
    let kim = fan(
        &History::default(),
        0,
        [cluster.api(1), cluster.api(2), cluster.api(0)],
        5_000,
    )
    .await;

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
    // The ticket's code is the same on every node: each reads it with no token.
    let ticket_path = format!("/api/v1/tickets/{}", text(&paid["ticketCode"]));
    for (_, api) in cluster.running() {
        let ticket = api.get_plain(&ticket_path).await;
        assert_eq!(ticket["paymentId"], paid["paymentId"], "{ticket}");
        assert_eq!(ticket["seatNumber"], 3, "{ticket}");
    }

    let mut date_owners = None;
    for (index, api) in cluster.running() {
        let stats = stats_of(api).await;
        assert_eq!(
            (int(&stats["seatsSold"]), int(&stats["revenueTotal"])),
            (1, 1_000),
            "node {index}"
        );
        let view = whole_view(api).await;
        assert_eq!(
            text(&view["nodeId"]),
            format!("node-{}", index + 1),
            "each node names itself"
        );
        assert_eq!(view["nodes"].as_array().map(Vec::len), Some(3), "{view}");
        let partitions = view["partitions"].as_array().cloned().unwrap_or_default();
        // The engine's partitions are the leader's; the date is served by whichever node
        // placement gave it, and every node tells of the same owner.
        let (dates, engines): (Vec<&Value>, Vec<&Value>) = partitions
            .iter()
            .partition(|partition| text(&partition["name"]).starts_with("date."));
        assert!(engines
            .iter()
            .all(|partition| text(&partition["owner"]) == format!("node-{}", leader + 1)));
        let date_owner = dates.first().map(|partition| text(&partition["owner"]));
        assert!(date_owner.is_some(), "the date is served: {view}");
        assert_eq!(date_owners.get_or_insert_with(|| date_owner.clone()), &date_owner);
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

/// What a rush is about: a date of `seats` seats at `PRICE` each.
#[derive(Clone)]
struct Rush {
    apis: Vec<Client>,
    concert: String,
    date: String,
    seats: u32,
    history: History,
    /// Payments acknowledged so far.
    sold: std::sync::Arc<std::sync::atomic::AtomicU32>,
    /// Set to end the rush early: fans stop trying.
    over: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

const PRICE: i64 = 1_000;

/// Fans rush for the seats, each through node `fan % nodes` (the next one once it does not
/// answer at all, as a fan's browser would), trying one seat after another until they pay or
/// `until`, retrying what a failover turns away.
async fn rush(rush: Rush, fans: Vec<Fan>, until: Instant) -> Told {
    let tasks = fans.into_iter().enumerate().map(|(index, fan)| {
        let (rush, sold) = (rush.clone(), rush.sold.clone());
        actix_rt::spawn(async move {
            let mut node = index % rush.apis.len();
            let mut thread = rush.history.thread();
            let mut told = Told::default();
            let mut attempt = 0;
            let sold_out = || sold.load(std::sync::atomic::Ordering::Relaxed) >= rush.seats;
            let over = || rush.over.load(std::sync::atomic::Ordering::Relaxed);
            while Instant::now() < until && told.paid.is_empty() && !sold_out() && !over() {
                attempt += 1;
                let seat = 1 + ((index * 7 + attempt * 13) as u32 % rush.seats);
                let api = &rush.apis[node];
                match hold_and_pay(api, &fan, &mut thread, &rush, seat).await {
                    Some(paid) => {
                        sold.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        told.paid.push(paid);
                    }
                    None if api.request(Method::GET, "/healthz").send().await.is_err() => {
                        node = (node + 1) % rush.apis.len();
                    }
                    None => {}
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
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

/// Records the end of what `thread` asked from the answer: `definite` says what a success, or
/// a refusal the answer names, tells; a 5xx or a lost answer leaves it unknown, and a request
/// that never reached a node did nothing.
fn record<T>(thread: &mut Thread, sent: &Result<reqwest::Response, reqwest::Error>, definite: T) -> Option<T> {
    match sent {
        Err(error) if error.is_connect() => {
            thread.told(Answer::Nothing);
            None
        }
        Ok(answer) if !answer.status().is_server_error() => Some(definite),
        _ => {
            thread.never_told();
            None
        }
    }
}

/// Holds `seat` and pays it; the payment as acknowledged: (token, payment, reservation).
async fn hold_and_pay(
    api: &Client,
    fan: &Fan,
    thread: &mut Thread,
    rush: &Rush,
    seat: u32,
) -> Option<(String, String, String)> {
    thread.asked(Asked::Hold { fan: fan.index, seat });
    let (status, held) = hold_until_answered(api, fan, thread, rush, seat).await?;
    if status != StatusCode::CREATED {
        match text(&held["code"]).as_str() {
            "SEAT_UNAVAILABLE" => thread.told(Answer::Taken),
            _ => thread.never_told(),
        }
        return None;
    }
    thread.told(Answer::Held);
    let reservation = text(&held["reservationId"]);
    if let Some(paid) = pay(api, fan, thread, seat, &reservation).await {
        return Some((fan.token.clone(), paid, reservation));
    }
    thread.asked(Asked::Cancel { fan: fan.index, seat });
    let cancel = format!("/api/v1/reservations/{reservation}");
    let cancelled = api.with_token(Method::DELETE, &cancel, &fan.token).send().await;
    if let Some(status) = record(thread, &cancelled, ()).and(cancelled.ok().map(|answer| answer.status())) {
        thread.told(match status {
            StatusCode::NO_CONTENT => Answer::Released,
            _ => Answer::Refused,
        });
    }
    None
}

/// Asks for the hold of `seat` again under the same key while a node answers 5xx (a failover
/// under way), as a fan's page would: a hold made with its answer lost would otherwise keep its
/// seat from every fan for the hold's five minutes. A node that cannot be reached at the first
/// ask did nothing, and the fan turns to another; after an ask that went out, nothing is known.
async fn hold_until_answered(
    api: &Client,
    fan: &Fan,
    thread: &mut Thread,
    rush: &Rush,
    seat: u32,
) -> Option<(StatusCode, Value)> {
    let hold = json!({"concertId": rush.concert, "date": rush.date, "seatNumber": seat});
    let key = format!("hold-{}-{seat}-{}", fan.index, uuid::Uuid::new_v4());
    for ask in 0..100 {
        let holding = api
            .with_token(Method::POST, "/api/v1/reservations", &fan.token)
            .header("Idempotency-Key", &key);
        match holding.json(&hold).send().await {
            Err(error) if error.is_connect() && ask == 0 => {
                thread.told(Answer::Nothing);
                return None;
            }
            Err(error) if error.is_connect() => break,
            Ok(held) if !held.status().is_server_error() => {
                let status = held.status();
                let Ok(held) = held.json::<Value>().await else { break };
                return Some((status, held));
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    thread.never_told();
    None
}

/// Pays the hold of `seat`; the payment's id, as acknowledged. A payment turned away by a failover
/// is tried again under the same key, as a fan's page would: the first answer that went through
/// is the one every retry gets.
async fn pay(api: &Client, fan: &Fan, thread: &mut Thread, seat: u32, reservation: &str) -> Option<String> {
    thread.asked(Asked::Pay {
        fan: fan.index,
        seat,
        price: PRICE,
    });
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
                let Ok(paid) = paid.json::<Value>().await else { break };
                thread.told(Answer::Paid {
                    balance: int(&paid["balance"]),
                });
                return Some(text(&paid["paymentId"]));
            }
            status if status.is_server_error() => tokio::time::sleep(Duration::from_millis(200)).await,
            _ => {
                thread.told(Answer::Refused);
                return None;
            }
        }
    }
    thread.never_told();
    None
}

/// Reads the seat map and the fans' wallets through every node in turn until `stop`, into the
/// rush's history: what a read says must be what was done, not what a node once knew.
async fn watch(rush: Rush, reader: Fan, fans: Vec<Fan>, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let thread = rush.history.thread();
    let seats_path = format!("/api/v1/concerts/{}/dates/{}/seats", rush.concert, rush.date);
    for round in 0.. {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let api = &rush.apis[round % rush.apis.len()];
        thread.asked(Asked::ReadSeats { seats: rush.seats });
        let read = api.with_token(Method::GET, &seats_path, &reader.token).send().await;
        thread.told(seats_read(read, rush.seats).await);
        let fan = &fans[round % fans.len()];
        thread.asked(Asked::ReadWallet { fan: fan.index });
        let read = api.with_token(Method::GET, "/api/v1/wallet", &fan.token).send().await;
        thread.told(balance_read(read).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A read that went wrong read nothing; one that answered says what it saw.
async fn seats_read(read: Result<reqwest::Response, reqwest::Error>, seats: u32) -> Answer {
    let Some(map) = answered(read).await else {
        return Answer::Nothing;
    };
    let mut statuses = vec![None; seats as usize];
    for seat in map["seats"].as_array().expect("the seats") {
        statuses[int(&seat["seatNumber"]) as usize - 1] = Some(SeatStatus::parse(&text(&seat["status"])));
    }
    Answer::Seats(statuses.into_iter().map(|status| status.expect("every seat")).collect())
}

async fn balance_read(read: Result<reqwest::Response, reqwest::Error>) -> Answer {
    match answered(read).await {
        Some(wallet) => Answer::Balance(int(&wallet["balance"])),
        None => Answer::Nothing,
    }
}

async fn answered(read: Result<reqwest::Response, reqwest::Error>) -> Option<Value> {
    let read = read.ok()?;
    if read.status() != StatusCode::OK {
        return None;
    }
    read.json().await.ok()
}

/// A rush of `fans` fans with `seats` seats, watched; the fans and the watcher's stop.
async fn rush_watched(cluster: &Cluster, history: &History, fans: usize, seats: u32) -> (Rush, Vec<Fan>, Fan) {
    let concert = create_concert(cluster.api(0), seats).await;
    rush_watched_on(cluster, history, fans, seats, concert).await
}

/// A rush of `fans` on the date of `concert`, and a reader watching it.
async fn rush_watched_on(
    cluster: &Cluster,
    history: &History,
    fans: usize,
    seats: u32,
    (concert, date): (String, String),
) -> (Rush, Vec<Fan>, Fan) {
    let mut rushing = Vec::new();
    for index in 0..=fans {
        let apis: Vec<&Client> = (0..3).map(|offset| cluster.api((index + offset) % 3)).collect();
        rushing.push(fan(history, index, [apis[0], apis[1], apis[2]], 3_000).await);
    }
    let reader = rushing.pop().expect("a reader");
    let apis = cluster.running().map(|(_, api)| api.clone()).collect();
    let rush = Rush {
        apis,
        concert,
        date,
        seats,
        history: history.clone(),
        sold: Default::default(),
        over: Default::default(),
    };
    (rush, rushing, reader)
}

/// The stats `api` tells once they are `settled`, or as they are after a failover's bound: a
/// payment a new leader resumed is debited before its seat is sold.
pub(crate) async fn stats_once(api: &Client, settled: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let stats = stats_of(api).await;
        if settled(&stats) || started.elapsed() >= SERVED_AGAIN_WITHIN {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The admin stats, as a client that retries a 503 sees them once a node serves. A connection
/// the node closed while it sat idle in the client's pool is tried again too.
pub(crate) async fn stats_of(api: &Client) -> Value {
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

async fn list_dates(api: &Client, path: &str) -> reqwest::Response {
    api.request(Method::GET, path).send().await.expect("the node answers")
}

/// Who dies in the middle of a rush.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Victim {
    /// The node serving the engine (the room, the wallets, the catalog, the payments' sagas);
    /// the dates are served wherever placement put them.
    Leader,
    /// A node serving a rushed date, apart from the engine.
    DateOwner,
}

#[actix_rt::test]
async fn a_killed_leader_is_replaced_and_nothing_acknowledged_is_lost_or_sold_twice() {
    rush_through_a_kill(Victim::Leader).await;
}

#[actix_rt::test]
async fn a_killed_date_owner_is_replaced_and_nothing_acknowledged_is_lost_or_sold_twice() {
    rush_through_a_kill(Victim::DateOwner).await;
}

/// A concert whose date is served by another node than the leader (placement gives it to the
/// leader a third of the time): its id, its date and the index of the date's owner.
async fn served_apart_from(cluster: &Cluster, leader: usize, seats: u32) -> (String, String, usize) {
    for _ in 0..20 {
        let (concert, date) = create_concert(cluster.api(0), seats).await;
        let owner = date_owner(cluster, leader, &concert, &date).await;
        if owner != leader {
            return (concert, date, owner);
        }
    }
    panic!("placement gave twenty dates in a row to the leader");
}

/// The cluster as `api` tells it once it sees three nodes and a date served: a peer slow to
/// answer is left out of one view, so a view is asked again for as long as a failover may take.
async fn whole_view(api: &Client) -> Value {
    let started = Instant::now();
    loop {
        let view = api.admin(Method::GET, "/api/v1/admin/cluster").send().await.unwrap();
        let view = expect_json(view, 200, "the cluster").await;
        let nodes = view["nodes"].as_array().map_or(0, Vec::len);
        let partitions = view["partitions"].as_array().cloned().unwrap_or_default();
        let date_served = (partitions.iter()).any(|partition| text(&partition["name"]).starts_with("date."));
        if (nodes == 3 && date_served) || started.elapsed() >= SERVED_AGAIN_WITHIN {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The index of the node serving the date, as the cluster view tells.
async fn date_owner(cluster: &Cluster, asked: usize, concert: &str, date: &str) -> usize {
    owner_of(cluster, asked, &format!("date.{concert}.{date}")).await
}

/// The index of the node serving `partition`, as node `asked` tells once it sees it served: a
/// peer slow to answer is left out of one view, and a new date is taken up at its owner's look.
pub(crate) async fn owner_of(cluster: &Cluster, asked: usize, partition: &str) -> usize {
    let started = Instant::now();
    loop {
        let owners = owners_seen_by(cluster, asked).await;
        if let Some(owner) = owners.get(partition) {
            let number = owner.trim_start_matches("node-").parse::<usize>();
            return number.expect("a node's number") - 1;
        }
        assert!(
            started.elapsed() < SERVED_AGAIN_WITHIN,
            "{partition} is served: {owners:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn rush_through_a_kill(victim: Victim) {
    // More fans than seats, so that seats are fought over on both sides of the failover.
    const FANS: usize = 60;
    const SEATS: u32 = 40;
    let mut cluster = Cluster::start("5s");
    let leader = cluster.leader(0).await;
    let history = History::default();
    let (concert, date, killed_node) = match victim {
        Victim::Leader => {
            let (concert, date) = create_concert(cluster.api(0), SEATS).await;
            (concert, date, leader)
        }
        Victim::DateOwner => served_apart_from(&cluster, leader, SEATS).await,
    };
    let (rush_of, fans, reader) = rush_watched_on(&cluster, &history, FANS, SEATS, (concert.clone(), date)).await;
    let mut told = Told::default();
    for fan in fans.iter().chain([&reader]) {
        told.charged.push((fan.user.clone(), 3_000));
    }
    // The rush is ended once every seat is taken after the failover; this only bounds it.
    let until = Instant::now() + SERVED_AGAIN_WITHIN * 2;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watching = actix_rt::spawn(watch(rush_of.clone(), reader, fans.clone(), stop.clone()));
    let (rush_sold, rush_over) = (rush_of.sold.clone(), rush_of.over.clone());
    let rushing = actix_rt::spawn(rush(rush_of, fans.clone(), until));
    // The victim dies in the middle of the rush: some seats paid, most still wanted.
    while rush_sold.load(std::sync::atomic::Ordering::Relaxed) < 10 {
        assert!(Instant::now() < until, "ten seats are sold before the kill");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed_at = Instant::now();
    eprintln!("{} events in the history at the kill", history.len());
    let paid_at_kill = std::sync::atomic::AtomicU32::new(rush_sold.load(std::sync::atomic::Ordering::Relaxed));
    let survivor = (killed_node + 1) % 3;
    let dates_path = format!("/api/v1/concerts/{concert}/dates");
    let listed_before = list_dates(cluster.api(survivor), &dates_path).await;
    let mut killed = cluster.nodes[killed_node].take().expect("the victim runs");
    killed.process.crash();
    if victim == Victim::Leader {
        let next = cluster.leader(survivor).await;
        assert_ne!(next, leader);
    } else {
        // The engine lives on; while the date has no owner, its list shows the counts last told.
        let listed = list_dates(cluster.api(survivor), &dates_path).await;
        assert_eq!(
            listed.status(),
            StatusCode::OK,
            "the dates are listed through the failover"
        );
        assert_eq!(
            listed.json::<Value>().await.unwrap()[0]["date"],
            listed_before.json::<Value>().await.unwrap()[0]["date"]
        );
    }
    let served_again = loop {
        // Stats count every date's seats from its owner, and so answer only once one serves.
        let stats = cluster
            .api(survivor)
            .admin(Method::GET, "/api/v1/admin/stats")
            .send()
            .await
            .unwrap();
        if stats.status() == StatusCode::OK {
            break killed_at.elapsed();
        }
        assert!(killed_at.elapsed() < SERVED_AGAIN_WITHIN, "the date is served again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("the date was served again {served_again:?} after the kill");
    // Sales go on after the failover, until every seat is sold or held.
    let paid_before = i64::from(paid_at_kill.load(std::sync::atomic::Ordering::Relaxed));
    until_taken(cluster.api(survivor), paid_before, i64::from(SEATS)).await;
    rush_over.store(true, std::sync::atomic::Ordering::Relaxed);
    let rushed = rushing.await.expect("the rush ends");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    watching.await.expect("the watcher ends");
    told.paid.extend(rushed.paid);
    let paid_at_kill = paid_at_kill.load(std::sync::atomic::Ordering::Relaxed) as usize;
    eprintln!(
        "{} payments acknowledged, {paid_at_kill} of them before the kill",
        told.paid.len()
    );
    assert!(told.paid.len() > paid_at_kill, "the rush went on after the failover");
    // Holds made as the leader died, whose answers were lost, keep their seats for the hold's
    // five minutes: every seat is sold or held, none is free while fans still want one.
    let stats = stats_of(cluster.api(survivor)).await;
    assert_eq!(
        int(&stats["seatsSold"]) + int(&stats["seatsHeld"]),
        i64::from(SEATS),
        "every seat was taken: {stats}"
    );

    for (index, api) in cluster.running() {
        let sold_as_paid = |stats: &Value| int(&stats["revenueTotal"]) == 1_000 * int(&stats["seatsSold"]);
        let stats = stats_once(api, sold_as_paid).await;
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
        assert!(int(&stats["seatsSold"]) <= i64::from(SEATS));
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
    eprintln!("{} events in the history", history.len());
    history.assert_linearizable();
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
    let cluster = Cluster::start("5s");
    let paused = cluster.leader(0).await;
    let other = (paused + 1) % 3;
    let history = History::default();
    let kim = fan(&history, 0, [cluster.api(other); 3], 1_000).await;
    let paused_node = cluster.nodes[paused].as_ref().expect("the leader runs");
    send_signal(paused_node, libc::SIGSTOP);

    // A charge sent to the paused node waits in its socket while another node takes over.
    let stalled_api = cluster.api(paused).clone().with_timeout(Duration::from_secs(60));
    let (stalled_fan, mut stalled_thread) = (kim.clone(), history.thread());
    let kim_again = kim.clone();
    let stalled = actix_rt::spawn(async move {
        stalled_thread.asked(Asked::Charge { fan: 0, amount: 100 });
        let charge = stalled_api.with_token(Method::POST, "/api/v1/wallet/charges", &stalled_fan.token);
        let charged = charge.json(&json!({"amount": 100})).send().await;
        let balance = match answered(charged).await {
            Some(wallet) => int(&wallet["balance"]),
            None => return stalled_thread.never_told(),
        };
        stalled_thread.told(Answer::Balance(balance));
    });
    let next = cluster.leader(other).await;
    assert_ne!(next, paused, "another node serves");
    let thread = history.thread();
    thread.asked(Asked::Charge { fan: 0, amount: 10 });
    let charged = cluster
        .api(other)
        .with_token(Method::POST, "/api/v1/wallet/charges", &kim.token)
        .json(&json!({"amount": 10}))
        .send()
        .await
        .unwrap();
    let charged = expect_json(charged, 200, "a charge through the new owner").await;
    thread.told(Answer::Balance(int(&charged["balance"])));
    // A read asked after that charge was acknowledged, waiting in the paused node's socket: the
    // first thing it does when it wakes is answer it, and it must not answer from its memory.
    let (stalled_api, stalled_history) = (cluster.api(paused).clone(), history.clone());
    let stalled_read = actix_rt::spawn(async move {
        let stalled_api = stalled_api.with_timeout(Duration::from_secs(60));
        read_balance(&stalled_history, &stalled_api, &kim_again).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    send_signal(paused_node, libc::SIGCONT);

    stalled.await.expect("the stalled charge ends");
    stalled_read.await.expect("the stalled read ends");
    // Whatever the resumed node answers is either a refusal or the truth, never its old memory.
    for _ in 0..30 {
        read_balance(&history, cluster.api(paused), &kim).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Each node answers once it knows who serves the wallet; every read asked is in the history.
    let mut seen = std::collections::BTreeSet::new();
    for (index, api) in cluster.running() {
        let started = Instant::now();
        let balance = loop {
            if let Some(balance) = read_balance(&history, api, &kim).await {
                break balance;
            }
            assert!(started.elapsed() < SERVED_AGAIN_WITHIN, "node {index} answers");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        seen.insert(balance);
    }
    assert_eq!(seen.len(), 1, "every node tells the same balance: {seen:?}");
    history.assert_linearizable();
}

/// Waits until more than `paid_before` seats are sold and all `seats` are sold or held, as
/// `api` counts them, for as long as a failover may take.
async fn until_taken(api: &Client, paid_before: i64, seats: i64) {
    let started = Instant::now();
    loop {
        let stats = stats_of(api).await;
        let sold = int(&stats["seatsSold"]);
        if sold > paid_before && sold + int(&stats["seatsHeld"]) == seats {
            return;
        }
        assert!(
            started.elapsed() < SERVED_AGAIN_WITHIN,
            "the rush took every seat after the failover: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads `fan`'s balance through `api` into `history`.
async fn read_balance(history: &History, api: &Client, fan: &Fan) -> Option<i64> {
    let thread = history.thread();
    thread.asked(Asked::ReadWallet { fan: fan.index });
    let read = api.with_token(Method::GET, "/api/v1/wallet", &fan.token).send().await;
    let told = balance_read(read).await;
    thread.told(told.clone());
    match told {
        Answer::Balance(balance) => Some(balance),
        _ => None,
    }
}

#[actix_rt::test]
async fn a_stopped_leader_hands_its_partitions_over_before_its_lease_would_expire() {
    // Long enough that the stop, a look by another node and its replay, on a slow machine, are
    // well within it: only a lease given back is taken up this soon.
    let lease_ttl = Duration::from_secs(30);
    let mut cluster = Cluster::start("30s");
    let leader = cluster.leader(0).await;
    let other = (leader + 1) % 3;
    let kim = fan(&History::default(), 0, [cluster.api(other); 3], 2_500).await;
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
async fn the_load_harness_spreads_fans_and_their_orders_over_the_nodes_and_checks_every_invariant_on_each() {
    // Nothing here waits for a lease to run out: a long one keeps a node starved by the
    // harness's own load from losing its partitions, whose 503s the harness counts as errors.
    let cluster = Cluster::start("15s");
    cluster.leader(0).await;
    let urls: Vec<&str> = cluster.running().map(|(_, api)| api.base()).collect();
    let output = Binary::new(crate::common::process::LOADTEST)
        .args([
            "--url",
            &urls.join(","),
            "--admin-key",
            KEY,
            // More seats than the fans want, and none more popular than another: whether a
            // fan holds every seat they wanted must not hang on who wins a race on a loaded
            // machine, or every order could be of one seat.
            "--users",
            "120",
            "--seats",
            "200",
            "--popular-share",
            "0",
            "--seed",
            "7",
            // Orders of one, two and four seats: an order's saga through the gateways and
            // the dates' owners, wherever they run.
            "--seats-per-order",
            "1:1,2:1,4:1",
        ])
        .output();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("invariants: all hold"), "{report}");
    // Every node counts the same seats and orders, and orders of several seats were paid.
    let mut counted = Vec::new();
    for (_, api) in cluster.running() {
        let stats = stats_of(api).await;
        counted.push((int(&stats["seatsSold"]), int(&stats["ordersTotal"])));
    }
    let (seats, orders) = counted[0];
    assert!(counted.iter().all(|each| *each == (seats, orders)), "{counted:?}");
    assert!(
        seats > orders && orders > 0,
        "orders of several seats were paid: {counted:?}\n{report}"
    );
}

#[actix_rt::test]
async fn a_rush_goes_on_while_one_of_the_three_nats_servers_is_killed() {
    let mut cluster = Cluster::start("5s");
    cluster.leader(0).await;
    let history = History::default();
    let (rush_of, fans, reader) = rush_watched(&cluster, &history, 30, 20).await;
    // Long enough for the NATS servers to elect new leaders on a slow machine; the rush ends
    // as soon as every seat is sold.
    let until = Instant::now() + SERVED_AGAIN_WITHIN;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watching = actix_rt::spawn(watch(rush_of.clone(), reader, fans.clone(), stop.clone()));
    let rushing = actix_rt::spawn(rush(rush_of, fans, until));
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.nats.servers[0].kill();
    let told = rushing.await.expect("the rush ends");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    watching.await.expect("the watcher ends");
    assert_eq!(told.paid.len(), 20, "every seat was sold through the rush");
    for (index, api) in cluster.running() {
        let stats = stats_of(api).await;
        assert_eq!(int(&stats["seatsSold"]), 20, "node {index}");
        assert_eq!(
            int(&stats["chargedTotal"]),
            int(&stats["balancesTotal"]) + int(&stats["revenueTotal"]),
            "node {index}"
        );
        assert_eq!(int(&stats["chargedTotal"]), 93_000, "node {index}: every charge once");
    }
    history.assert_linearizable();
}

/// Slow-body connections from `client` (a loopback address): headers that promise 16,000 bytes,
/// then one.
async fn slow_bodies(address: std::net::SocketAddr, client: &str, count: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let mut streams = Vec::new();
    for _ in 0..count {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{client}:0").parse().unwrap()).unwrap();
        let Ok(Ok(mut stream)) = tokio::time::timeout(Duration::from_millis(200), socket.connect(address)).await else {
            continue;
        };
        let head = "POST /api/v1/users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 16000\r\n\r\n{";
        if stream.write_all(head.as_bytes()).await.is_ok() {
            streams.push(stream);
        }
    }
    streams
}

/// How many of `streams` the server has neither answered nor closed.
fn still_waiting(streams: &[tokio::net::TcpStream]) -> usize {
    let mut byte = [0u8; 1];
    (streams.iter())
        .filter(
            |stream| matches!(stream.try_read(&mut byte), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        )
        .count()
}

#[actix_rt::test]
async fn a_flood_of_slow_connections_at_one_gateway_is_bounded_and_leaves_other_fans_served() {
    let flags = ["--max-connections-per-client", "32", "--client-timeout", "10s"];
    let cluster = Cluster::start_with("5s", &flags);
    cluster.leader(0).await;
    let address: std::net::SocketAddr = cluster.api(0).base().trim_start_matches("http://").parse().unwrap();
    let flood = slow_bodies(address, "127.0.0.2", 200).await;
    // Connections the node has yet to accept look held too: it closes those past the client's
    // share as it gets to them, well before the client timeout would close the rest.
    let started = Instant::now();
    let held = loop {
        let held = still_waiting(&flood);
        if held <= 32 {
            break held;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "one client holds {held} connections of the gateway"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(held > 0, "the client's share is held");

    // Another fan, through the same node, is served while the flood waits.
    let history = History::default();
    let kim = fan(&history, 0, [cluster.api(0); 3], 1_000).await;
    assert_eq!(balance(cluster.api(0), &kim).await, Some(1_000));

    // The slow bodies are given up after --client-timeout.
    let started = Instant::now();
    while still_waiting(&flood) > 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "slow bodies are timed out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The owner of each partition as `asked` tells, by name.
pub(crate) async fn owners_seen_by(cluster: &Cluster, asked: usize) -> std::collections::HashMap<String, String> {
    let view = expect_json(
        (cluster
            .api(asked)
            .admin(Method::GET, "/api/v1/admin/cluster")
            .send()
            .await)
            .unwrap(),
        200,
        "the cluster",
    )
    .await;
    (view["partitions"].as_array().cloned().unwrap_or_default().iter())
        .map(|partition| (text(&partition["name"]), text(&partition["owner"])))
        .collect()
}

/// Waits until every one of `dates` is served by the node placement names among `members`.
async fn until_placed(cluster: &Cluster, dates: &[String], members: &[&str]) {
    let started = Instant::now();
    loop {
        let owners = owners_seen_by(cluster, 0).await;
        let misplaced: Vec<&String> = (dates.iter())
            .filter(|date| owners.get(*date).map(String::as_str) != placement::owner(date, members.iter().copied()))
            .collect();
        if misplaced.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < SERVED_AGAIN_WITHIN,
            "{misplaced:?} not served as placement says over {members:?}: {owners:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix_rt::test]
async fn dates_spread_over_the_nodes_as_placement_says_and_move_with_their_holds_to_a_node_that_joins() {
    // Snapshots every second: the catalog's entries are purged behind its snapshot, and the
    // nodes must still find every date in it.
    const SNAPSHOTS: [&str; 2] = ["--snapshot-interval", "1s"];
    let mut cluster = Cluster::start_nodes("5s", 2, &SNAPSHOTS);
    cluster.leader(0).await;
    let kim = fan(
        &History::default(),
        0,
        [cluster.api(0), cluster.api(1), cluster.api(0)],
        1_000,
    )
    .await;
    let (two, three) = (["node-1", "node-2"], ["node-1", "node-2", "node-3"]);
    // Concerts until both first nodes serve a date and the third will take some: placement is
    // a pure function of the names, so the test knows where each date belongs.
    let mut dates = Vec::new();
    let mut holds = Vec::new();
    let placed_on = |dates: &[String], members: &[&str], node: &str| {
        (dates.iter())
            .filter(|date| placement::owner(date, members.iter().copied()) == Some(node))
            .count()
    };
    while placed_on(&dates, &two, "node-1") == 0
        || placed_on(&dates, &two, "node-2") == 0
        || placed_on(&dates, &three, "node-3") < 2
    {
        assert!(dates.len() < 40, "placement keeps forty dates from a node");
        let (concert, date) = create_concert(cluster.api(0), 4).await;
        let hold = json!({"concertId": concert, "date": date, "seatNumber": 1});
        let held = (cluster
            .api(1)
            .with_token(Method::POST, "/api/v1/reservations", &kim.token))
        .json(&hold)
        .send()
        .await
        .unwrap();
        let held = expect_json(held, 201, "a hold").await;
        holds.push(text(&held["reservationId"]));
        dates.push(format!("date.{concert}.{date}"));
    }
    until_placed(&cluster, &dates, &two).await;

    // Past a snapshot of the engine's partitions and of every date.
    tokio::time::sleep(Duration::from_secs(3)).await;
    until_placed(&cluster, &dates, &two).await;
    cluster.nodes[2] = Some(node(&cluster.nats.urls(), "node-3", "5s", &SNAPSHOTS));
    until_placed(&cluster, &dates, &three).await;
    // The dates that moved kept their holds, read through the node that now serves them. A
    // date is unavailable for the moment its new owner takes it up (the lease is placed before
    // the date is read back): a 503 then is asked again, within the bound a move has.
    for reservation in &holds {
        let path = format!("/api/v1/reservations/{reservation}");
        let started = Instant::now();
        let read = loop {
            let read = (cluster.api(2))
                .with_token(Method::GET, &path, &kim.token)
                .send()
                .await
                .unwrap();
            if read.status() != StatusCode::SERVICE_UNAVAILABLE || started.elapsed() >= SERVED_AGAIN_WITHIN {
                break read;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let read = expect_json(read, 200, "a hold made before the join").await;
        assert_eq!(text(&read["status"]), "HELD", "{read}");
    }
}

/// A request that must be answered `status` by some node of the cluster: asked of each running
/// node in turn, again while a failover leaves none serving (503), for as long as one may take.
async fn answered_by_a_survivor(
    cluster: &Cluster,
    status: u16,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Value {
    let started = Instant::now();
    loop {
        for (_, api) in cluster.running() {
            let Ok((got, value)) = api.send(method.clone(), path, None, body).await else {
                continue;
            };
            if got.as_u16() == status {
                return value;
            }
            assert_eq!(got.as_u16(), 503, "{method} {path}: {value}");
        }
        assert!(
            started.elapsed() < SERVED_AGAIN_WITHIN,
            "{method} {path} is served again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every fan's status by token, through any node: what a failover must give back exactly.
async fn sale_statuses(cluster: &Cluster, tokens: &[String]) -> Vec<Value> {
    let mut statuses = Vec::new();
    for token in tokens {
        let started = Instant::now();
        let status = loop {
            let (_, api) = cluster.running().next().expect("a node runs");
            let answer = api
                .with_token(Method::GET, "/api/v1/queue/tokens/me", token)
                .send()
                .await
                .unwrap();
            if answer.status() == StatusCode::OK {
                break answer.json::<Value>().await.unwrap();
            }
            assert!(started.elapsed() < SERVED_AGAIN_WITHIN, "the status is served again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mut status = status;
        // An estimate from the pace of admissions, which a new engine measures afresh.
        status["estimatedWaitSeconds"] = Value::Null;
        statuses.push(status);
    }
    statuses
}

#[actix_rt::test]
async fn a_sales_pre_queue_and_draw_outlive_the_nodes_that_served_them() {
    let mut cluster = Cluster::start("3s");
    let leader = cluster.leader(0).await;
    let (concert, _) = create_concert(cluster.api(0), 10).await;
    // The pre-queue is open now; the sale opens in forty seconds, on the nodes' clocks: time
    // for the fans to join and the leader's failover on a slow machine, before the draw.
    let opens_at = chrono::Utc::now() + chrono::Duration::seconds(40);
    let settings = json!({
        "prequeueOpensAt": chrono::Utc::now().to_rfc3339(),
        "opensAt": opens_at.to_rfc3339(),
        "activeMax": 3,
    });
    let sale_path = format!("/api/v1/admin/concerts/{concert}/sale");
    let sale = expect_json(
        cluster
            .api(0)
            .admin(Method::PUT, &sale_path)
            .json(&settings)
            .send()
            .await
            .unwrap(),
        200,
        "a sale",
    )
    .await;
    let commitment = text(&sale["drawCommitment"]);
    let mut tokens = Vec::new();
    for n in 0..12 {
        let api = cluster.api(n % 3);
        let user = api
            .post("/api/v1/users", None, json!({"name": format!("fan {n}")}))
            .await;
        let queue = api
            .post(
                &format!("/api/v1/concerts/{concert}/queue/tokens"),
                None,
                json!({"userId": user["userId"]}),
            )
            .await;
        assert_eq!(queue["status"], "PREQUEUED", "{queue}");
        tokens.push(text(&queue["token"]));
    }
    let before = sale_statuses(&cluster, &tokens).await;

    // The leader dies in the pre-queue: every fan is still pre-queued, under the same commitment.
    cluster.nodes[leader].take().expect("the leader runs").process.crash();
    let read_path = format!("/api/v1/concerts/{concert}/sale");
    let sale = answered_by_a_survivor(&cluster, 200, Method::GET, &read_path, None).await;
    assert_eq!(
        (text(&sale["drawCommitment"]), int(&sale["prequeued"])),
        (commitment, 12)
    );
    assert_eq!(sale_statuses(&cluster, &tokens).await, before);
    assert!(
        chrono::Utc::now() < opens_at,
        "the pre-queue was checked before the draw"
    );

    // The draw on time, then the new leader dies right after it: the same order, the same seed.
    let until_open = (opens_at - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_open + Duration::from_millis(500)).await;
    let draw_path = format!("{read_path}/draw");
    let draw = answered_by_a_survivor(&cluster, 200, Method::GET, &draw_path, None).await;
    let after_draw = sale_statuses(&cluster, &tokens).await;
    let active = after_draw.iter().filter(|status| status["status"] == "ACTIVE").count();
    assert_eq!(active, 3, "{after_draw:?}");
    let survivor = cluster.running().next().expect("a node runs").0;
    let second = cluster.leader(survivor).await;
    cluster.nodes[second]
        .take()
        .expect("the second leader runs")
        .process
        .crash();
    assert_eq!(
        answered_by_a_survivor(&cluster, 200, Method::GET, &draw_path, None).await,
        draw
    );
    assert_eq!(sale_statuses(&cluster, &tokens).await, after_draw);
}
