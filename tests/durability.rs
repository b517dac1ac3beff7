//! Durability of the real `server` binary: every acknowledged write survives `kill -9` at random
//! moments under load, a graceful stop keeps the whole state, and one data dir serves one process.

mod common;

use common::client::{int, list, text, Client};
use common::process::{Binary, Log, Process, Server};
use concert_reservation::persistence::format::{FORMAT_VERSION, HEADER_BYTES};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ADMIN_KEY: &str = "durability-admin-key";
const SEATS_PER_DATE: u64 = 50;
const PRICE: i64 = 1000;
/// The largest page of wallet history the server gives; a fan's whole history must fit in it.
const HISTORY_MAX: usize = 1000;

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------

/// Flags every test starts the server with: nothing expires and nobody is rate limited.
const CALM: &[&str] = &["--user-rate-limit", "0", "--active-ttl", "1h", "--hold-ttl", "1h"];

/// A request the server does not answer in whole within this has failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The binary on `data_dir` with the admin key, `CALM` and `extra` flags.
fn server_binary(data_dir: &Path, extra: &[&str]) -> Binary {
    Binary::server(data_dir).admin_key(ADMIN_KEY).args(CALM).args(extra)
}

/// Starts the binary on `data_dir` with `CALM` and `extra` flags; its log goes to `log`.
fn start(data_dir: &Path, log: &Path, extra: &[&str]) -> Server {
    start_binary(server_binary(data_dir, extra), log)
}

/// Starts `binary`, its log going to `log`, and waits until it says where it listens.
fn start_binary(binary: Binary, log: &Path) -> Server {
    let server = binary.log(Log::File(log.to_path_buf())).start();
    Server {
        api: server.api.with_timeout(REQUEST_TIMEOUT),
        ..server
    }
}

/// The file descriptors `process` has open below `limit`: the numbers it may still use, leaving
/// out any it inherited above.
fn fds_open_below(process: &Process, limit: usize) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{}/fd", process.id())) else {
        return 0;
    };
    let numbers = fds.filter_map(|fd| fd.ok()?.file_name().to_str()?.parse::<usize>().ok());
    numbers.filter(|number| *number < limit).count()
}

// ---------------------------------------------------------------------------------------------
// A tiny replayable random source (no `rand` here)
// ---------------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    /// Seeded from `DURABILITY_SEED` when set, else from the clock; the seed is printed.
    fn seeded() -> Self {
        let seed = std::env::var("DURABILITY_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        println!("durability seed: {seed} (replay with DURABILITY_SEED={seed})");
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn fork(&mut self) -> Rng {
        Rng(self.next() | 1)
    }
}

// ---------------------------------------------------------------------------------------------
// The world the tests build: a concert and fans, and what the server acknowledged to each fan
// ---------------------------------------------------------------------------------------------

struct Venue {
    concert_id: String,
    dates: Vec<String>,
}

impl Venue {
    fn seats_path(&self, date: &str) -> String {
        format!("/api/v1/concerts/{}/dates/{date}/seats", self.concert_id)
    }
}

async fn create_concert(api: &Client, dates: &[&str], seats: u64, price: i64) -> Venue {
    let dates_body: Vec<Value> = dates
        .iter()
        .map(|date| json!({"date": date, "seatCount": seats, "price": price}))
        .collect();
    let concert = api
        .post(
            "/api/v1/admin/concerts",
            None,
            json!({"title": "Durability", "dates": dates_body}),
        )
        .await;
    Venue {
        concert_id: text(&concert["concertId"]),
        dates: dates.iter().map(|date| date.to_string()).collect(),
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Hold {
    reservation_id: String,
    date: String,
    seat: i64,
}

#[derive(Debug, Clone)]
struct Paid {
    payment_id: String,
    reservation_id: String,
    amount: i64,
    ticket_code: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Charge,
    Hold,
    Pay,
}

#[derive(Debug, Clone, Default)]
struct Fan {
    name: String,
    user_id: String,
    /// The fan's live token as far as the test knows; `None` once a payment ended it.
    token: Option<String>,
    /// Acknowledged charges, by amount (every amount is unique in the whole test).
    charges: Vec<i64>,
    /// Acknowledged holds.
    holds: Vec<Hold>,
    /// Acknowledged holds last seen HELD: what the fan may still pay.
    held: Vec<Hold>,
    /// Acknowledged payments.
    payments: Vec<Paid>,
    /// The request that was under way when the server died, if any.
    unanswered: Option<Op>,
    /// Whether the fan pays in the load. A payment ends the token, and a token is only taken
    /// while the server is sure to answer, so a payer rests until the next crash; the others keep
    /// the load going until each crash.
    pays: bool,
}

impl Fan {
    fn token(&self) -> &str {
        self.token.as_deref().expect("the fan has a live token")
    }
}

/// Registers a fan and takes an ACTIVE token for them.
async fn register_fan(api: &Client, name: &str) -> Fan {
    let user = api.post("/api/v1/users", None, json!({"name": name})).await;
    let mut fan = Fan {
        name: name.to_string(),
        user_id: text(&user["userId"]),
        ..Fan::default()
    };
    fan.token = Some(issue_token(api, &fan.user_id).await);
    fan
}

async fn issue_token(api: &Client, user_id: &str) -> String {
    let queue = api.post("/api/v1/queue/tokens", None, json!({"userId": user_id})).await;
    assert_eq!(queue["status"], "ACTIVE", "{queue}");
    text(&queue["token"])
}

// ---------------------------------------------------------------------------------------------
// Load: each fan charges, holds and pays, one request at a time, until the server dies
// ---------------------------------------------------------------------------------------------

/// Percent of steps that pay a held seat (when the fan has one) and that charge; the rest hold.
const PAY_PERCENT: u64 = 4;
const CHARGE_PERCENT: u64 = 45;
/// Past this a fan only holds, so that its whole history stays within one page on a fast machine.
const CHARGES_PER_FAN_MAX: usize = HISTORY_MAX - 100;

/// Runs the fan until its token is ended by a payment or the server stops answering. Answers the
/// contract does not allow for this traffic come back as problems.
async fn drive(
    api: Client,
    mut fan: Fan,
    venue: Arc<Venue>,
    mut rng: Rng,
    amounts: Arc<AtomicI64>,
) -> (Fan, Vec<String>) {
    let mut problems = Vec::new();
    while fan.token.is_some() {
        match step(&api, &mut fan, &venue, &mut rng, &amounts).await {
            Ok(true) => fan.unanswered = None,
            Ok(false) => break,
            Err(problem) => {
                problems.push(format!("{}: {problem}", fan.name));
                break;
            }
        }
    }
    (fan, problems)
}

/// One request: `Ok(true)` to go on, `Ok(false)` when the server is gone (the request stays in
/// `fan.unanswered`), `Err` for an answer the contract does not allow here.
async fn step(api: &Client, fan: &mut Fan, venue: &Venue, rng: &mut Rng, amounts: &AtomicI64) -> Result<bool, String> {
    let token = fan.token().to_string();
    let roll = rng.below(100);
    if fan.pays && roll < PAY_PERCENT && !fan.held.is_empty() {
        let index = rng.below(fan.held.len() as u64) as usize;
        let hold = fan.held[index].clone();
        fan.unanswered = Some(Op::Pay);
        let body = json!({"reservationId": hold.reservation_id});
        let Ok((status, answer)) = api
            .send(Method::POST, "/api/v1/payments", Some(&token), Some(&body))
            .await
        else {
            return Ok(false);
        };
        match (status.as_u16(), answer["code"].as_str()) {
            (201, _) => {
                fan.payments.push(Paid {
                    payment_id: text(&answer["paymentId"]),
                    reservation_id: hold.reservation_id,
                    amount: int(&answer["amount"]),
                    ticket_code: text(&answer["ticketCode"]),
                });
                fan.held.remove(index);
                // A payment ends the token's life.
                fan.token = None;
            }
            (409, Some("INSUFFICIENT_BALANCE")) => {}
            _ => return Err(format!("paying {hold:?} answered {status} {answer}")),
        }
    } else if roll < PAY_PERCENT + CHARGE_PERCENT && fan.charges.len() < CHARGES_PER_FAN_MAX {
        let amount = amounts.fetch_add(1, Ordering::Relaxed);
        fan.unanswered = Some(Op::Charge);
        let body = json!({"amount": amount});
        let Ok((status, answer)) = api
            .send(Method::POST, "/api/v1/wallet/charges", Some(&token), Some(&body))
            .await
        else {
            return Ok(false);
        };
        match status.as_u16() {
            200 => fan.charges.push(amount),
            _ => return Err(format!("charging {amount} answered {status} {answer}")),
        }
    } else {
        let date = venue.dates[rng.below(venue.dates.len() as u64) as usize].clone();
        let seat = 1 + rng.below(SEATS_PER_DATE) as i64;
        fan.unanswered = Some(Op::Hold);
        let body = json!({"concertId": venue.concert_id, "date": date, "seatNumber": seat});
        let Ok((status, answer)) = api
            .send(Method::POST, "/api/v1/reservations", Some(&token), Some(&body))
            .await
        else {
            return Ok(false);
        };
        match (status.as_u16(), answer["code"].as_str()) {
            (201, _) => {
                let hold = Hold {
                    reservation_id: text(&answer["reservationId"]),
                    date,
                    seat,
                };
                fan.holds.push(hold.clone());
                fan.held.push(hold);
            }
            (409, Some("SEAT_UNAVAILABLE" | "HOLD_LIMIT_REACHED")) => {}
            _ => return Err(format!("holding {date} seat {seat} answered {status} {answer}")),
        }
    }
    Ok(true)
}

/// Lets every fan loose on the server for `for_how_long`, then SIGKILLs it with requests in
/// flight; returns the fans with what the server acknowledged to them.
async fn load_then_crash(
    server: &mut Server,
    fans: Vec<Fan>,
    venue: &Arc<Venue>,
    rng: &mut Rng,
    amounts: &Arc<AtomicI64>,
    for_how_long: Duration,
) -> Vec<Fan> {
    let tasks: Vec<_> = fans
        .into_iter()
        .map(|fan| {
            tokio::spawn(drive(
                server.api.clone(),
                fan,
                venue.clone(),
                rng.fork(),
                amounts.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(for_how_long).await;
    server.process.crash();
    let mut fans = Vec::new();
    let mut problems = Vec::new();
    for task in tasks {
        let (fan, found) = task.await.unwrap();
        fans.push(fan);
        problems.extend(found);
    }
    assert!(
        problems.is_empty(),
        "answers the contract does not allow: {problems:#?}"
    );
    fans
}

// ---------------------------------------------------------------------------------------------
// Checking a recovered server against what it acknowledged
// ---------------------------------------------------------------------------------------------

/// What the checks of all fans add up to, for comparing with the admin stats and the seat maps.
#[derive(Default)]
struct Totals {
    charged: i64,
    balances: i64,
    revenue: i64,
    /// (date, seat) of every payment any fan has.
    sold: BTreeSet<(String, i64)>,
    /// (date, seat) of every acknowledged hold still HELD.
    held: BTreeSet<(String, i64)>,
}

/// Gives every fan a live token again: a token issued before a crash must still be valid unless a
/// payment ended it. Returns whether the token was ended by a payment the fan never heard about.
async fn revive_token(api: &Client, fan: &mut Fan, when: &str) -> bool {
    let mut ended_unheard = false;
    if let Some(token) = fan.token.clone() {
        let (status, queue) = api
            .send(Method::GET, "/api/v1/queue/tokens/me", Some(&token), None)
            .await
            .unwrap();
        if status == StatusCode::OK {
            assert_eq!(queue["userId"], fan.user_id.as_str(), "{when}: {queue}");
            assert_eq!(queue["status"], "ACTIVE", "{when}: {}'s token {queue}", fan.name);
        } else {
            assert_eq!(
                fan.unanswered,
                Some(Op::Pay),
                "{when}: {}'s token, issued before the crash and not ended by a payment, answers {status} {queue}",
                fan.name
            );
            fan.token = None;
            ended_unheard = true;
        }
    }
    if fan.token.is_none() {
        fan.token = Some(issue_token(api, &fan.user_id).await);
    }
    fan.unanswered = None;
    ended_unheard
}

/// Checks one fan's wallet, payments and reservations against what was acknowledged to them.
async fn check_fan(api: &Client, fan: &mut Fan, totals: &mut Totals, when: &str) {
    let ended_unheard = revive_token(api, fan, when).await;
    let token = fan.token().to_string();
    let who = format!("{when}, {}", fan.name);

    let balance = int(&api.get("/api/v1/wallet", &token).await["balance"]);
    let history = list(
        api.get(&format!("/api/v1/wallet/transactions?limit={HISTORY_MAX}"), &token)
            .await,
    );
    assert!(
        history.len() < HISTORY_MAX,
        "{who}: the history no longer fits one page; make the load smaller"
    );
    let mut charged_amounts = HashSet::new();
    let (mut charged, mut spent) = (0, 0);
    let mut payment_transactions = BTreeSet::new();
    for transaction in &history {
        let amount = int(&transaction["amount"]);
        match transaction["type"].as_str() {
            Some("CHARGE") => {
                assert!(
                    charged_amounts.insert(amount),
                    "{who}: the charge of {amount} is there twice"
                );
                charged += amount;
            }
            Some("PAYMENT") => {
                spent += amount;
                payment_transactions.insert(text(&transaction["paymentId"]));
            }
            _ => panic!("{who}: a transaction of no known type: {transaction}"),
        }
    }
    for amount in &fan.charges {
        assert!(
            charged_amounts.contains(amount),
            "{who}: the acknowledged charge of {amount} was lost"
        );
    }
    assert_eq!(
        balance,
        charged - spent,
        "{who}: the balance is not the charges less the payments"
    );

    let payments = list(api.get("/api/v1/payments", &token).await);
    let payment_ids: BTreeSet<String> = payments.iter().map(|payment| text(&payment["paymentId"])).collect();
    assert_eq!(
        payment_ids, payment_transactions,
        "{who}: payments and PAYMENT transactions differ"
    );
    for paid in &fan.payments {
        let found = payments
            .iter()
            .find(|payment| payment["paymentId"] == paid.payment_id.as_str())
            .unwrap_or_else(|| panic!("{who}: the acknowledged payment {paid:?} was lost"));
        assert_eq!(found["reservationId"], paid.reservation_id.as_str(), "{who}: {found}");
        assert_eq!(int(&found["amount"]), paid.amount, "{who}: {found}");
        // The ticket its code named when the payment was acknowledged, read with no token.
        assert_eq!(found["ticketCode"], paid.ticket_code.as_str(), "{who}: {found}");
        let ticket = api.get_plain(&format!("/api/v1/tickets/{}", paid.ticket_code)).await;
        assert_eq!(ticket["paymentId"], paid.payment_id.as_str(), "{who}: {ticket}");
        assert_eq!(
            (&ticket["seatNumber"], &ticket["date"]),
            (&found["seatNumber"], &found["date"]),
            "{who}: {ticket}"
        );
    }
    if ended_unheard {
        assert!(
            payments.len() > fan.payments.len(),
            "{who}: the token died though no payment of the fan went through"
        );
    }
    for payment in &payments {
        let reservation_id = text(&payment["reservationId"]);
        let reservation = api.get(&format!("/api/v1/reservations/{reservation_id}"), &token).await;
        assert_eq!(
            reservation["status"], "CONFIRMED",
            "{who}: a paid reservation {reservation}"
        );
        assert_eq!(
            payment["date"], reservation["date"],
            "{who}: {payment} vs {reservation}"
        );
        assert_eq!(
            payment["seatNumber"], reservation["seatNumber"],
            "{who}: {payment} vs {reservation}"
        );
        let seat = (text(&payment["date"]), int(&payment["seatNumber"]));
        assert!(totals.sold.insert(seat.clone()), "{who}: seat {seat:?} was sold twice");
        totals.revenue += int(&payment["amount"]);
    }

    fan.held.clear();
    for hold in &fan.holds {
        let reservation = api
            .get(&format!("/api/v1/reservations/{}", hold.reservation_id), &token)
            .await;
        assert_eq!(reservation["date"], hold.date.as_str(), "{who}: {reservation}");
        assert_eq!(int(&reservation["seatNumber"]), hold.seat, "{who}: {reservation}");
        match reservation["status"].as_str() {
            Some("HELD") => {
                totals.held.insert((hold.date.clone(), hold.seat));
                fan.held.push(hold.clone());
            }
            Some("CONFIRMED") => {}
            _ => panic!("{who}: the acknowledged hold {hold:?} is now {reservation}"),
        }
    }
    totals.charged += charged;
    totals.balances += balance;
}

/// Checks everything the server acknowledged so far, and that money and seats add up.
async fn check_everything(api: &Client, venue: &Venue, fans: &mut [Fan], when: &str) {
    let mut totals = Totals::default();
    for fan in fans.iter_mut() {
        check_fan(api, fan, &mut totals, when).await;
    }

    let stats = api.get_plain("/api/v1/admin/stats").await;
    let stat = |name: &str| int(&stats[name]);
    assert_eq!(
        stat("chargedTotal"),
        stat("balancesTotal") + stat("revenueTotal"),
        "{when}: money is not conserved: {stats}"
    );
    assert_eq!(
        stat("chargedTotal"),
        totals.charged,
        "{when}: charges in the histories vs {stats}"
    );
    assert_eq!(
        stat("balancesTotal"),
        totals.balances,
        "{when}: the fans' balances vs {stats}"
    );
    assert_eq!(
        stat("revenueTotal"),
        totals.revenue,
        "{when}: the fans' payments vs {stats}"
    );
    assert_eq!(
        stat("seatsSold"),
        totals.sold.len() as i64,
        "{when}: the fans' payments vs {stats}"
    );
    assert_eq!(stat("users"), fans.len() as i64, "{when}: {stats}");
    assert_eq!(
        stat("seatsTotal"),
        (venue.dates.len() as u64 * SEATS_PER_DATE) as i64,
        "{when}: {stats}"
    );

    let (mut sold, mut held) = (BTreeSet::new(), BTreeSet::new());
    for date in &venue.dates {
        let map = api.get(&venue.seats_path(date), fans[0].token()).await;
        for seat in map["seats"].as_array().unwrap() {
            let key = (date.clone(), int(&seat["seatNumber"]));
            match seat["status"].as_str() {
                Some("SOLD") => sold.insert(key),
                Some("HELD") => held.insert(key),
                _ => false,
            };
        }
    }
    assert_eq!(
        sold, totals.sold,
        "{when}: the SOLD seats are not the seats of the payments"
    );
    let lost: Vec<_> = totals.held.difference(&held).collect();
    assert!(
        lost.is_empty(),
        "{when}: acknowledged holds not HELD on the seat map: {lost:?}"
    );
    assert_eq!(stat("seatsHeld"), held.len() as i64, "{when}: the seat maps vs {stats}");
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

const CRASHES: usize = 4;
const FANS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_repeated_sigkill() {
    let mut rng = Rng::seeded();
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let flags = [
        "--snapshot-interval",
        "300ms",
        "--hold-max",
        "4",
        "--active-max",
        "1000",
    ];
    let amounts = Arc::new(AtomicI64::new(200));

    let mut server = start(data.path(), &logs.path().join("start-0.log"), &flags);
    let venue = Arc::new(create_concert(&server.api, &["2026-12-24", "2026-12-25"], SEATS_PER_DATE, PRICE).await);
    let mut fans = Vec::new();
    for index in 0..FANS {
        let mut fan = register_fan(&server.api, &format!("fan-{index}")).await;
        fan.pays = index % 2 == 0;
        fans.push(fan);
    }
    check_everything(&server.api, &venue, &mut fans, "before any crash").await;

    for crash in 1..=CRASHES {
        let run_for = Duration::from_millis(200 + rng.below(601));
        fans = load_then_crash(&mut server, fans, &venue, &mut rng, &amounts, run_for).await;
        let in_flight = fans.iter().filter(|fan| fan.unanswered.is_some()).count();
        println!(
            "crash {crash} after {run_for:?}: {} charges, {} holds, {} payments acknowledged so far; {in_flight} requests in flight",
            fans.iter().map(|fan| fan.charges.len()).sum::<usize>(),
            fans.iter().map(|fan| fan.holds.len()).sum::<usize>(),
            fans.iter().map(|fan| fan.payments.len()).sum::<usize>(),
        );
        assert!(
            in_flight > 0,
            "crash {crash} found the server idle, which tests nothing"
        );
        server = start(data.path(), &logs.path().join(format!("start-{crash}.log")), &flags);
        check_everything(&server.api, &venue, &mut fans, &format!("after crash {crash}")).await;
    }

    let snapshots = files_named(data.path(), "snapshot-");
    assert!(!snapshots.is_empty(), "no snapshot was taken between the crashes");
    let status = server.process.terminate();
    assert!(status.success(), "{status}");
    let server = start(data.path(), &logs.path().join("after-stop.log"), &flags);
    check_everything(&server.api, &venue, &mut fans, "after the crashes and a graceful stop").await;
}

fn files_named(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

/// Everything a client can read back, keyed by what it is. Time-dependent fields (the estimated
/// wait) are left out.
async fn picture(
    api: &Client,
    venue: &Venue,
    fans: &[Fan],
    reservations: &[(usize, String)],
) -> BTreeMap<String, Value> {
    let mut picture = BTreeMap::new();
    picture.insert("stats".into(), api.get_plain("/api/v1/admin/stats").await);
    let queue = api.get_plain("/api/v1/admin/queue").await;
    picture.insert(
        "queue".into(),
        json!({"waiting": queue["waiting"], "active": queue["active"]}),
    );
    picture.insert("concerts".into(), api.get_plain("/api/v1/concerts").await);
    let dates_path = format!("/api/v1/concerts/{}/dates", venue.concert_id);
    picture.insert("dates".into(), api.get_plain(&dates_path).await);
    let active = fans.iter().find(|fan| fan.name == "baek").unwrap().token();
    for date in &venue.dates {
        picture.insert(format!("seats {date}"), api.get(&venue.seats_path(date), active).await);
    }
    for fan in fans {
        let token = fan.token();
        let name = &fan.name;
        picture.insert(
            format!("{name} user"),
            api.get_plain(&format!("/api/v1/users/{}", fan.user_id)).await,
        );
        let mut queue = api.get("/api/v1/queue/tokens/me", token).await;
        queue.as_object_mut().unwrap().remove("estimatedWaitSeconds");
        picture.insert(format!("{name} queue"), queue);
        picture.insert(format!("{name} wallet"), api.get("/api/v1/wallet", token).await);
        picture.insert(
            format!("{name} transactions"),
            api.get("/api/v1/wallet/transactions?limit=100", token).await,
        );
        picture.insert(format!("{name} payments"), api.get("/api/v1/payments", token).await);
    }
    for (owner, reservation_id) in reservations {
        let path = format!("/api/v1/reservations/{reservation_id}");
        picture.insert(
            format!("reservation {reservation_id}"),
            api.get(&path, fans[*owner].token()).await,
        );
    }
    picture
}

async fn charge(api: &Client, fan: &Fan, amount: i64, idempotency_key: Option<&str>) -> Value {
    let body = json!({"amount": amount});
    let mut request = api.build(Method::POST, "/api/v1/wallet/charges", Some(fan.token()), Some(&body));
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn hold(api: &Client, fan: &Fan, venue: &Venue, date: usize, seat: i64) -> String {
    let body = json!({"concertId": venue.concert_id, "date": venue.dates[date], "seatNumber": seat});
    text(&api.post("/api/v1/reservations", Some(fan.token()), body).await["reservationId"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_keeps_everything() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    // Three ACTIVE places, so that one fan waits; no periodic snapshot, so the one found after the
    // stop is the stop's own.
    let flags = ["--active-max", "3", "--snapshot-interval", "1h"];
    let mut server = start(data.path(), &logs.path().join("first.log"), &flags);
    let api = server.api.clone();

    let venue = create_concert(&api, &["2026-12-24", "2026-12-25"], 10, PRICE).await;
    let mut fans = Vec::new();
    for name in ["ahn", "baek", "choi"] {
        fans.push(register_fan(&api, name).await);
    }
    let mut reservations = Vec::new();
    let first_charge = charge(&api, &fans[0], 5000, Some("first-charge")).await;
    let paid = hold(&api, &fans[0], &venue, 0, 1).await;
    reservations.push((0, paid.clone()));
    reservations.push((0, hold(&api, &fans[0], &venue, 1, 2).await));
    charge(&api, &fans[1], 300, None).await;
    charge(&api, &fans[1], 1200, None).await;
    reservations.push((1, hold(&api, &fans[1], &venue, 0, 3).await));
    let cancelled = hold(&api, &fans[2], &venue, 0, 4).await;
    let path = format!("/api/v1/reservations/{cancelled}");
    api.expect(204, Method::DELETE, &path, Some(fans[2].token()), None)
        .await;
    reservations.push((2, cancelled));
    reservations.push((2, hold(&api, &fans[2], &venue, 1, 5).await));
    // A fourth fan waits behind the three; ahn's payment ends ahn's token and lets dong in, and
    // ahn's new token waits in turn.
    let dong = register_fan_waiting(&api, "dong").await;
    fans.push(dong);
    api.post(
        "/api/v1/payments",
        Some(fans[0].token()),
        json!({"reservationId": paid}),
    )
    .await;
    fans[0].token = Some(text(
        &api.post("/api/v1/queue/tokens", None, json!({"userId": fans[0].user_id}))
            .await["token"],
    ));

    let before = picture(&api, &venue, &fans, &reservations).await;
    assert_eq!(before["ahn queue"]["status"], "WAITING", "{}", before["ahn queue"]);
    assert_eq!(before["dong queue"]["status"], "ACTIVE", "{}", before["dong queue"]);
    assert_eq!(int(&before["stats"]["seatsSold"]), 1, "{}", before["stats"]);

    let status = server.process.terminate();
    assert!(status.success(), "a graceful stop exits 0, not {status}");
    let snapshots = files_named(data.path(), "snapshot-");
    assert!(
        !snapshots.is_empty(),
        "the stop left no snapshot: {:?}",
        files_named(data.path(), "")
    );

    let server = start(data.path(), &logs.path().join("second.log"), &flags);
    let api = server.api.clone();
    let after = picture(&api, &venue, &fans, &reservations).await;
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
    let changed: Vec<String> = before
        .iter()
        .filter(|(what, value)| after[*what] != **value)
        .map(|(what, value)| format!("{what}:\n  before {value}\n  after  {}", after[what]))
        .collect();
    assert!(
        changed.is_empty(),
        "changed across a graceful restart:\n{}",
        changed.join("\n")
    );

    // The idempotency key of the first charge is remembered too: a repeat changes nothing.
    assert_eq!(charge(&api, &fans[0], 5000, Some("first-charge")).await, first_charge);
    assert_eq!(api.get("/api/v1/wallet", fans[0].token()).await, before["ahn wallet"]);
}

/// Registers a fan whose token must wait, all ACTIVE places being taken.
async fn register_fan_waiting(api: &Client, name: &str) -> Fan {
    let user = api.post("/api/v1/users", None, json!({"name": name})).await;
    let user_id = text(&user["userId"]);
    let queue = api.post("/api/v1/queue/tokens", None, json!({"userId": user_id})).await;
    assert_eq!(queue["status"], "WAITING", "{queue}");
    Fan {
        name: name.to_string(),
        user_id,
        token: Some(text(&queue["token"])),
        ..Fan::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let first = start(data.path(), &logs.path().join("first.log"), &[]);

    let (status, message) = start_refused(data.path(), &logs.path().join("second.log")).await;
    assert_eq!(status.code(), Some(1), "{status}: {message}");
    assert!(message.contains("in use by another server process"), "{message}");

    // The first one is undisturbed.
    let health = first.api.expect(200, Method::GET, "/healthz", None, None).await;
    assert_eq!(health["status"], "ok");
}

/// Starts the binary on `data_dir` expecting it to refuse: its exit status and its log.
async fn start_refused(data_dir: &Path, log: &Path) -> (ExitStatus, String) {
    let mut process = server_binary(data_dir, &[]).log(Log::File(log.to_path_buf())).spawn();
    let status = process.exit_within(Duration::from_secs(20)).await;
    (status, process.log())
}

// ---------------------------------------------------------------------------------------------
// Damage on disk
// ---------------------------------------------------------------------------------------------

/// Charges made before the damage tests crash the server: one record each, at the journal's end.
const DAMAGE_CHARGES: i64 = 13;

/// A server that registered a fan and took `DAMAGE_CHARGES` charges of 10, 20, … won, then was
/// SIGKILLed; the path of its only journal segment.
async fn charged_then_crashed(data_dir: &Path, log: &Path) -> std::path::PathBuf {
    let mut server = start(data_dir, log, &["--snapshot-interval", "1h"]);
    let fan = register_fan(&server.api, "eun").await;
    for charge_number in 1..=DAMAGE_CHARGES {
        charge(&server.api, &fan, 10 * charge_number, None).await;
    }
    server.process.crash();
    let segments = files_named(data_dir, "journal-");
    assert_eq!(segments, ["journal-00000001.log"], "one segment and nothing beside it");
    data_dir.join(&segments[0])
}

/// Where each record of a journal segment starts, after the segment's header.
fn record_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut offset = HEADER_BYTES;
    while offset < bytes.len() {
        starts.push(offset);
        let length = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
        offset += 8 + length;
    }
    assert_eq!(offset, bytes.len(), "the segment holds whole records");
    starts
}

/// Every file of the dir and its bytes.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_inside_the_journal_refuses_the_start_and_changes_nothing_on_disk() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let segment = charged_then_crashed(data.path(), &logs.path().join("first.log")).await;
    let bytes = std::fs::read(&segment).unwrap();
    let starts = record_starts(&bytes);
    // The seventh of the thirteen charges.
    let damaged = starts[starts.len() - DAMAGE_CHARGES as usize + 6];
    let next = starts[starts.len() - DAMAGE_CHARGES as usize + 7];
    flip_byte(&segment, (damaged + next) / 2);
    let before = contents(data.path());

    let (status, message) = start_refused(data.path(), &logs.path().join("refused.log")).await;
    assert_eq!(status.code(), Some(1), "{status}: {message}");
    assert!(message.contains("journal-00000001.log"), "the file is named: {message}");
    assert!(
        message.contains(&format!("byte {damaged}")),
        "the offset is named: {message}"
    );
    assert!(
        contents(data.path()) == before,
        "the refused start changed the data dir"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_of_an_unknown_format_version_refuses_the_start_naming_the_file_and_both_versions() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let segment = charged_then_crashed(data.path(), &logs.path().join("first.log")).await;
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[HEADER_BYTES - 4..HEADER_BYTES].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    std::fs::write(&segment, bytes).unwrap();
    let before = contents(data.path());

    let (status, message) = start_refused(data.path(), &logs.path().join("refused.log")).await;
    assert_eq!(status.code(), Some(1), "{status}: {message}");
    assert!(message.contains("journal-00000001.log"), "the file is named: {message}");
    let found = format!("format version {}", FORMAT_VERSION + 1);
    let known = format!("reads only versions 3 to {FORMAT_VERSION}");
    assert!(
        message.contains(&found) && message.contains(&known),
        "both versions are named: {message}"
    );
    assert!(
        contents(data.path()) == before,
        "the refused start changed the data dir"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_in_the_last_record_is_a_torn_tail_cut_and_kept_beside_the_segment() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let segment = charged_then_crashed(data.path(), &logs.path().join("first.log")).await;
    let bytes = std::fs::read(&segment).unwrap();
    let last = *record_starts(&bytes).last().unwrap();
    flip_byte(&segment, (last + bytes.len()) / 2);

    let server = start(data.path(), &logs.path().join("second.log"), &[]);
    let stats = server.api.get_plain("/api/v1/admin/stats").await;
    let all_but_the_last: i64 = (1..DAMAGE_CHARGES).map(|charge_number| 10 * charge_number).sum();
    assert_eq!(int(&stats["chargedTotal"]), all_but_the_last, "{stats}");
    assert_eq!(std::fs::read(&segment).unwrap(), bytes[..last], "the tail is cut");
    let kept = data.path().join(format!("journal-00000001.log.torn-{last}"));
    let mut damaged_tail = bytes[last..].to_vec();
    damaged_tail[(bytes.len() - last) / 2] ^= 0x5a;
    assert_eq!(std::fs::read(&kept).unwrap(), damaged_tail, "the cut bytes are kept");
}

// ---------------------------------------------------------------------------------------------
// Running out of file descriptors
// ---------------------------------------------------------------------------------------------

/// The server's descriptor limit in the test: one HTTP worker needs about thirty at rest, and
/// the server keeps 128 for its files, so it takes 64 connections at most.
const FDS_MAX: usize = 192;

/// Polls `done` every 20 ms for at most ten seconds.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "waited in vain until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The index of the newest snapshot in the dir, 0 if none.
fn newest_snapshot(dir: &Path) -> u64 {
    let names = files_named(dir, "snapshot-");
    let indexes = names
        .iter()
        .filter_map(|name| name.strip_prefix("snapshot-")?.strip_suffix(".snap")?.parse().ok());
    indexes.max().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_never_takes_the_descriptors_the_journal_and_snapshots_need() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("server.log");
    let flags = ["--snapshot-interval", "200ms", "--workers", "1"];
    let limited = server_binary(data.path(), &flags).after_shell(&format!("ulimit -n {FDS_MAX}"));
    let mut server = start_binary(limited, &log);
    let fan = register_fan(&server.api, "fei").await;
    charge(&server.api, &fan, 10, None).await;
    let lowered = server.process.log();
    assert!(lowered.contains("more than the descriptor limit allows"), "{lowered}");

    let address = server.api.base().trim_start_matches("http://").to_string();
    let mut connections = Vec::new();
    while connections.len() < 2 * FDS_MAX {
        // Past the accepted ones and the listen backlog, a connect waits: the door is shut.
        let connect = tokio::net::TcpStream::connect(&address);
        match tokio::time::timeout(Duration::from_millis(200), connect).await {
            Ok(Ok(stream)) => connections.push(stream),
            _ => break,
        }
    }
    assert!(connections.len() > FDS_MAX, "{} connections", connections.len());
    let open = fds_open_below(&server.process, FDS_MAX);
    assert!(open < FDS_MAX - 64, "{open} descriptors open under a flood");
    let snapshot_during = newest_snapshot(data.path());
    let snapshot_taken = || newest_snapshot(data.path()) > snapshot_during;
    wait_until("a snapshot is taken while the flood holds", snapshot_taken).await;
    let text = server.process.log();
    assert!(!text.contains("Too many open files"), "{text}");

    drop(connections);
    assert_eq!(charge_status(&server.api, &fan, 30).await, StatusCode::OK);
    let health = server.api.expect(200, Method::GET, "/healthz", None, None).await;
    assert_eq!(health["status"], "ok", "{health}");

    server.process.crash();
    let server = start(data.path(), &logs.path().join("after.log"), &[]);
    let stats = server.api.get_plain("/api/v1/admin/stats").await;
    assert_eq!(
        int(&stats["chargedTotal"]),
        40,
        "every acknowledged charge is kept: {stats}"
    );
}

/// The status a charge is answered with.
async fn charge_status(api: &Client, fan: &Fan, amount: i64) -> StatusCode {
    let body = json!({"amount": amount});
    let path = "/api/v1/wallet/charges";
    let (status, _) = api
        .send(Method::POST, path, Some(fan.token()), Some(&body))
        .await
        .unwrap();
    status
}

// ---------------------------------------------------------------------------------------------
// A write the disk refuses
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_disk_refuses_stops_acknowledgements_until_a_restart_which_loses_nothing_acknowledged() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("server.log");
    // Files of at most 8 KiB; a write past that fails with EFBIG rather than killing the process,
    // as a full disk would fail it with ENOSPC.
    let limited = server_binary(data.path(), &[]).after_shell("trap '' XFSZ; ulimit -f 16");
    let mut server = start_binary(limited, &log);
    let fan = register_fan(&server.api, "gil").await;
    let mut acknowledged = 0;
    let mut refused = None;
    for amount in 1..=1000 {
        match charge_status(&server.api, &fan, amount).await {
            StatusCode::OK => acknowledged += amount,
            status => {
                refused = Some(status);
                break;
            }
        }
    }
    assert_eq!(
        refused,
        Some(StatusCode::SERVICE_UNAVAILABLE),
        "8 KiB of journal fill up"
    );
    assert_eq!(
        charge_status(&server.api, &fan, 1).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "nothing more is acknowledged"
    );
    let (status, health) = server.api.send(Method::GET, "/healthz", None, None).await.unwrap();
    assert_eq!(status.as_u16(), 503, "/healthz answers {status} {health}");
    assert_eq!(health["status"], "failing", "{health}");
    let reason = health["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("could not write or sync segment 1"), "{health}");
    let text = server.process.log();
    assert!(text.contains("could not write or sync segment 1"), "{text}");

    server.process.crash();
    let server = start(data.path(), &logs.path().join("after.log"), &[]);
    let stats = server.api.get_plain("/api/v1/admin/stats").await;
    assert_eq!(int(&stats["chargedTotal"]), acknowledged, "{stats}");
    let health = server.api.expect(200, Method::GET, "/healthz", None, None).await;
    assert_eq!(health["status"], "ok", "{health}");
}

// ---------------------------------------------------------------------------------------------
// A sale across crashes
// ---------------------------------------------------------------------------------------------

/// Every pre-queued fan's status, by token: what a restart must give back exactly.
async fn sale_statuses(api: &Client, tokens: &[String]) -> Vec<Value> {
    let mut statuses = Vec::new();
    for token in tokens {
        let mut status = api.get("/api/v1/queue/tokens/me", token).await;
        // The wait is an estimate from the pace of admissions, which a restart measures afresh.
        status["estimatedWaitSeconds"] = Value::Null;
        statuses.push(status);
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_survives_a_crash_in_its_pre_queue_and_one_right_after_its_draw() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let flags = ["--snapshot-interval", "1h"];
    let mut server = start(data.path(), &logs.path().join("first.log"), &flags);
    let api = server.api.clone();
    let venue = create_concert(&api, &["2026-12-24"], 10, PRICE).await;
    // The pre-queue is open now; the sale opens in twenty seconds, on the servers' own clock:
    // time for the fans to join and a crash and restart on a slow machine, before the draw.
    let opens_at = chrono::Utc::now() + chrono::Duration::seconds(20);
    let settings = json!({
        "prequeueOpensAt": chrono::Utc::now().to_rfc3339(),
        "opensAt": opens_at.to_rfc3339(),
        "activeMax": 3,
    });
    let path = format!("/api/v1/admin/concerts/{}/sale", venue.concert_id);
    let sale = api.expect(200, Method::PUT, &path, None, Some(&settings)).await;
    let commitment = text(&sale["drawCommitment"]);
    let mut tokens = Vec::new();
    for n in 0..20 {
        let user = api
            .post("/api/v1/users", None, json!({"name": format!("fan {n}")}))
            .await;
        let tokens_path = format!("/api/v1/concerts/{}/queue/tokens", venue.concert_id);
        let queue = api.post(&tokens_path, None, json!({"userId": user["userId"]})).await;
        assert_eq!(queue["status"], "PREQUEUED", "{queue}");
        tokens.push(text(&queue["token"]));
    }
    let sale_path = format!("/api/v1/concerts/{}/sale", venue.concert_id);
    let before = sale_statuses(&api, &tokens).await;

    // A crash in the pre-queue: every fan is still there, and the commitment is the same.
    server.process.crash();
    let mut server = start(data.path(), &logs.path().join("second.log"), &flags);
    let api = server.api.clone();
    assert_eq!(sale_statuses(&api, &tokens).await, before);
    let sale = api.get_plain(&sale_path).await;
    assert_eq!(
        (text(&sale["drawCommitment"]), int(&sale["prequeued"])),
        (commitment.clone(), 20)
    );
    assert!(
        chrono::Utc::now() < opens_at,
        "the pre-queue was checked before the draw"
    );

    // The draw, on time, then a crash right after it: the same order, the same seed.
    let until_open = (opens_at - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_open + Duration::from_millis(300)).await;
    let drawn = api.get_plain(&sale_path).await;
    assert_eq!(drawn["state"], "OPEN", "{drawn}");
    let draw = api.get_plain(&format!("{sale_path}/draw")).await;
    let after_draw = sale_statuses(&api, &tokens).await;
    let active = after_draw.iter().filter(|status| status["status"] == "ACTIVE").count();
    assert_eq!(active, 3, "{after_draw:?}");
    let keys = api.get_plain("/.well-known/jwks.json").await;
    server.process.crash();
    let server = start(data.path(), &logs.path().join("third.log"), &flags);
    let api = server.api.clone();
    assert_eq!(api.get_plain(&format!("{sale_path}/draw")).await, draw);
    // The admissions too: signed with the same key (Ed25519 signs the same claims the same).
    assert_eq!(
        api.get_plain("/.well-known/jwks.json").await,
        keys,
        "the admission key is kept"
    );
    assert_eq!(sale_statuses(&api, &tokens).await, after_draw);

    // And the order is the seed's over the entries, as anyone can draw it again.
    let seed = text(&draw["drawSeed"]);
    let seed: [u8; 32] = std::array::from_fn(|i| u8::from_str_radix(&seed[2 * i..2 * i + 2], 16).unwrap());
    let entries: Vec<String> = list(draw["entries"].clone()).iter().map(text).collect();
    let order = concert_reservation::domain::draw::DrawSeed::from_bytes(seed).order(entries.clone());
    let entry_of = |token: &str| {
        let secret: Vec<u8> = (0..24)
            .map(|i| u8::from_str_radix(&token[16 + 2 * i..18 + 2 * i], 16).unwrap())
            .collect();
        use sha2::Digest;
        sha2::Sha256::digest(&secret)[..16]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    };
    for (token, status) in tokens.iter().zip(&after_draw) {
        let rank = order.iter().position(|entry| *entry == entry_of(token)).unwrap() as i64;
        match rank {
            0..3 => assert_eq!(status["status"], "ACTIVE", "drawn {rank}"),
            _ => assert_eq!(int(&status["position"]), rank - 2, "drawn {rank}: {status}"),
        }
    }
}

/// A waiting-list offer is no hold of the fan's choosing: across a restart, as before it, it
/// counts against none of the fan's limits and outlives the fan's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_list_offer_outlives_a_crash_and_then_its_fans_token() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let mut server = start(data.path(), &logs.path().join("first.log"), &[]);
    let api = server.api.clone();
    let sold_out = create_concert(&api, &["2026-12-24"], 1, PRICE).await;
    let other = create_concert(&api, &["2026-12-25"], 4, PRICE).await;
    let (holder, waiter) = (register_fan(&api, "holder").await, register_fan(&api, "waiter").await);
    let given_back = hold(&api, &holder, &sold_out, 0, 1).await;
    let waitlist = format!(
        "/api/v1/concerts/{}/dates/{}/waitlist",
        sold_out.concert_id, sold_out.dates[0]
    );
    let code = text(&api.post(&waitlist, Some(waiter.token()), json!({})).await["entryCode"]);
    charge(&api, &waiter, PRICE, None).await;
    let path = format!("/api/v1/reservations/{given_back}");
    api.expect(204, Method::DELETE, &path, Some(holder.token()), None).await;
    let entry = format!("/api/v1/waitlist/{code}");
    assert_eq!(api.get_plain(&entry).await["status"], "OFFERED");

    server.process.crash();
    let server = start(data.path(), &logs.path().join("second.log"), &[]);
    let api = server.api.clone();
    for seat in 1..=4 {
        hold(&api, &waiter, &other, 0, seat).await;
    }
    api.expect(
        204,
        Method::DELETE,
        "/api/v1/queue/tokens/me",
        Some(waiter.token()),
        None,
    )
    .await;
    let read = api.get_plain(&entry).await;
    assert_eq!(read["status"], "OFFERED", "the token's end took the offer: {read}");
    let paid = api.post(&format!("{entry}/payment"), None, json!({})).await;
    assert_eq!(int(&paid["amount"]), PRICE, "{paid}");
    let seats = api.get_plain("/api/v1/admin/stats").await;
    assert_eq!(int(&seats["seatsSold"]), 1, "{seats}");
    assert_eq!(
        int(&seats["seatsHeld"]),
        0,
        "the token's own holds went with it: {seats}"
    );
}
