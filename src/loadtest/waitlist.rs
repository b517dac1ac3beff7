//! `--scenario waitlist`: a sold-out date's waiting list, from the sell-out to the last returned
//! seat. A fan a seat buys out one date of a concert with its own sale and a refund policy;
//! `--users` fans (200 unless given) join the date's waiting list at once; `--cancellations`
//! tickets are cancelled at once; then each fan offered a returned seat pays it with the
//! entry's code, or (`--abandon-ratio`) gives it back, which passes it to the next. This module
//! drives the fans and records what the server answered; [`super::waitlist_verdict`] judges it.

use super::client::Api;
use super::crowd::Crowd;
use super::journey::Venue;
use super::options::Options;
use super::verdict::Verdict;
use super::waitlist_verdict::{Entry, Offer, Paid, Record, Refund, Seen, Sold, TicketRead, Timings, Totals};
use super::Harness;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// Fans on the waiting list without `--users`.
pub const WAITLIST_USERS: u64 = 200;

/// The sale's one refund step: a tenth of the price kept, up to the day of the date.
const FEE_PERCENT: i64 = 10;

/// Days from today to the date: well within the refund policy, whenever the run is made.
const DAYS_AHEAD: u64 = 30;

/// How long a fan's token may take to be ACTIVE in a room with a place for everyone.
const ACTIVE_PATIENCE: Duration = Duration::from_secs(30);

/// Rounds of reading the list and answering its offers before the run gives up on them: each
/// round settles every offer it finds, so only a server that keeps making offers needs more.
const ROUNDS_MAX: u32 = 1_000;

/// Offered seats someone off the list tries to hold in a round, at most: a sample spread over
/// the round's offers, within the burst a default server's per-user budget allows one fan.
const TRIES_PER_ROUND: usize = 40;

/// A call the run makes: the name the report gives it, its method, and the status it succeeds with.
struct Endpoint {
    name: &'static str,
    method: Method,
    success: StatusCode,
}

const fn endpoint(name: &'static str, method: Method, success: StatusCode) -> Endpoint {
    Endpoint { name, method, success }
}

const SET_SALE: Endpoint = endpoint("PUT /admin/concerts/{id}/sale", Method::PUT, StatusCode::OK);
const STATS: Endpoint = endpoint("GET /admin/stats", Method::GET, StatusCode::OK);
const REGISTER: Endpoint = endpoint("POST /users", Method::POST, StatusCode::CREATED);
const TAKE_TOKEN: Endpoint = endpoint("POST /concerts/{id}/queue/tokens", Method::POST, StatusCode::CREATED);
const READ_TOKEN: Endpoint = endpoint("GET /queue/tokens/me", Method::GET, StatusCode::OK);
const CHARGE: Endpoint = endpoint("POST /wallet/charges", Method::POST, StatusCode::OK);
const HOLD: Endpoint = endpoint("POST /reservations", Method::POST, StatusCode::CREATED);
const PAY: Endpoint = endpoint("POST /payments", Method::POST, StatusCode::CREATED);
const DATES: Endpoint = endpoint("GET /concerts/{id}/dates", Method::GET, StatusCode::OK);
const SEAT_MAP: Endpoint = endpoint("GET /concerts/{id}/dates/{date}/seats", Method::GET, StatusCode::OK);
const JOIN: Endpoint = endpoint(
    "POST /concerts/{id}/dates/{date}/waitlist",
    Method::POST,
    StatusCode::CREATED,
);
const READ_ENTRY: Endpoint = endpoint("GET /waitlist/{code}", Method::GET, StatusCode::OK);
const PAY_OFFER: Endpoint = endpoint("POST /waitlist/{code}/payment", Method::POST, StatusCode::CREATED);
const GIVE_BACK: Endpoint = endpoint("DELETE /reservations/{id}", Method::DELETE, StatusCode::NO_CONTENT);
const CANCEL_TICKET: Endpoint = endpoint("DELETE /tickets/{code}", Method::DELETE, StatusCode::OK);
const READ_TICKET: Endpoint = endpoint("GET /tickets/{code}", Method::GET, StatusCode::OK);

/// Refuses more cancellations than the date has seats, before anything starts.
pub fn check(options: &Options) -> Result<(), String> {
    match options.cancellations > options.seats {
        true => Err(format!(
            "--cancellations {} is more than the {} --seats there are to cancel",
            options.cancellations, options.seats
        )),
        false => Ok(()),
    }
}

pub async fn run(harness: &Harness) -> Result<Verdict, String> {
    let (api, options) = (&harness.api, &harness.options);
    let (seats, listed) = (u64::from(options.seats), options.users.unwrap_or(WAITLIST_USERS));
    let first = Utc::now().date_naive() + chrono::Days::new(DAYS_AHEAD);
    let venue = super::create_concert(api, first, 1, options.seats).await?;
    let before = totals(api).await?;
    // A place in the room for every fan at once: the waiting room is not what is measured.
    open_sale(api, &venue, seats + listed + 1).await?;
    let crowd = Crowd::new(api, &harness.sources, seats + listed + 1);
    crowd.warm_up(options.concurrency).await;
    let fans = Fans {
        crowd: &crowd,
        venue: &venue,
        concurrency: options.concurrency,
        poll: options.poll_interval,
    };
    let mut timings = Timings::default();
    let sold = fans.sell_out(seats).await?;
    let left_after_sell_out = fans.available().await?;
    let gives_back = decisions(options.seed, options.abandon_ratio, listed);
    let waiters = fans.join_list(seats, &gives_back, &mut timings).await?;
    let returned = chosen(options.seed, &sold, options.cancellations);
    let refunds = fans.cancel(&returned, &mut timings).await?;
    let left_after_returns = fans.available().await?;
    let checker = fans.active_token(seats + listed, "waitlist checker").await?;
    let followed = fans.settle(&waiters, &checker, &mut timings).await;
    let tickets = fans.read_tickets(&sold, &followed.entries).await;
    let seat_map = fans.seat_map(&checker).await?;
    let record = Record {
        price: venue.price,
        fee_percent: FEE_PERCENT,
        sold,
        left_after_sell_out,
        positions: waiters.iter().map(|waiter| waiter.position).collect(),
        refunds,
        left_after_returns,
        rounds: followed.rounds,
        order_broken: followed.order_broken,
        tried_by_others: followed.tried_by_others,
        taken_by_others: followed.taken_by_others,
        failures: followed.failures,
        entries: followed.entries,
        tickets,
        seat_map,
        before,
        after: totals(api).await?,
        timings,
    };
    Ok(record.judge(&options.scenario_name()))
}

/// Gives the concert a sale open now, whose refund policy keeps `FEE_PERCENT` until the date.
async fn open_sale(api: &Api, venue: &Venue, active_max: u64) -> Result<(), String> {
    let now = Utc::now().to_rfc3339();
    let body = json!({
        "prequeueOpensAt": now,
        "opensAt": now,
        "activeMax": active_max.clamp(1, 1_000_000),
        "admissionsPerMinute": null,
        "refundPolicy": [{"untilDaysBefore": 0, "feePercent": FEE_PERCENT}],
    });
    let path = format!("/api/v1/admin/concerts/{}/sale", venue.concert_id);
    expect(api, &SET_SALE, &path, None, Some(&body)).await.map(drop)
}

async fn totals(api: &Api) -> Result<Totals, String> {
    let stats = expect(api, &STATS, "/api/v1/admin/stats", None, None).await?;
    let total = |name: &str| (stats[name].as_i64()).ok_or_else(|| format!("admin stats without {name}: {stats}"));
    Ok(Totals {
        charged: total("chargedTotal")?,
        balances: total("balancesTotal")?,
        revenue: total("revenueTotal")?,
        seats_sold: total("seatsSold")?,
        seats_held: total("seatsHeld")?,
    })
}

/// Which places of the list give their offer back, if offered one: the same for the same seed.
fn decisions(seed: u64, share: f64, fans: u64) -> Vec<bool> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..fans).map(|_| rng.random_bool(share)).collect()
}

/// The tickets cancelled: `count` of those sold, the same for the same seed.
fn chosen(seed: u64, sold: &[Sold], count: u32) -> Vec<Sold> {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(1));
    let picked = rand::seq::index::sample(&mut rng, sold.len(), (count as usize).min(sold.len()));
    picked.into_iter().map(|index| sold[index].clone()).collect()
}

/// The call's body when it succeeded; otherwise what it answered, in words.
async fn expect(
    api: &Api,
    endpoint: &Endpoint,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<Value, String> {
    let name = endpoint.name;
    let reply = (api
        .call_within_limits(name, endpoint.method.clone(), path, token, body)
        .await)
        .map_err(|e| format!("{name}: no answer: {}", e.0))?;
    match reply.status == endpoint.success {
        true => Ok(reply.body),
        false => Err(format!("{name} answered {} {}", reply.status.as_u16(), reply.body)),
    }
}

/// Like [`expect`] with no body, and the time the call took.
async fn timed(api: &Api, endpoint: &Endpoint, path: &str, token: Option<&str>) -> (Result<Value, String>, Duration) {
    let started = Instant::now();
    let answer = expect(api, endpoint, path, token, None).await;
    (answer, started.elapsed())
}

/// Runs `work` for `0..count`, `concurrency` at a time; the first failure fails them all.
async fn each<T, F: Future<Output = Result<T, String>>>(
    count: u64,
    concurrency: usize,
    work: impl Fn(u64) -> F,
) -> Result<Vec<T>, String> {
    let slots = &tokio::sync::Semaphore::new(concurrency.max(1));
    let calls = (0..count).map(|index| {
        let call = work(index);
        async move {
            let _slot = slots.acquire().await;
            call.await
        }
    });
    futures_util::future::try_join_all(calls).await
}

/// A fan of the list as its join answered.
struct Waiter {
    fan: u64,
    token: String,
    code: String,
    position: u64,
    gives_back: bool,
}

/// What following the list found: each entry in join order, and what went wrong on the way.
#[derive(Default)]
struct Followed {
    entries: Vec<Entry>,
    rounds: u32,
    order_broken: Vec<String>,
    tried_by_others: u64,
    taken_by_others: u64,
    failures: Vec<String>,
}

/// The run's fans: their clients, the date they go for, and how they pace themselves.
struct Fans<'a> {
    crowd: &'a Crowd,
    venue: &'a Venue,
    concurrency: usize,
    poll: Duration,
}

impl Fans<'_> {
    fn date(&self) -> &str {
        &self.venue.dates[0]
    }

    /// Registers fan `fan` as `name` and takes a token of the sale's room, ACTIVE.
    async fn active_token(&self, fan: u64, name: &str) -> Result<String, String> {
        let api = self.crowd.api_of(fan);
        let user = expect(api, &REGISTER, "/api/v1/users", None, Some(&json!({"name": name}))).await?;
        let path = format!("/api/v1/concerts/{}/queue/tokens", self.venue.concert_id);
        let body = json!({"userId": user["userId"]});
        let mut status = expect(api, &TAKE_TOKEN, &path, None, Some(&body)).await?;
        let token = (status["token"].as_str())
            .map(str::to_string)
            .ok_or("a token without its token")?;
        let patience = Instant::now() + ACTIVE_PATIENCE;
        // The room has a place for everyone, but admission may come a moment after the token.
        while status["status"] != "ACTIVE" {
            if Instant::now() >= patience {
                return Err(format!(
                    "{name}'s token is not ACTIVE after {ACTIVE_PATIENCE:?}: {status}"
                ));
            }
            tokio::time::sleep(self.poll).await;
            status = expect(api, &READ_TOKEN, "/api/v1/queue/tokens/me", Some(&token), None).await?;
        }
        Ok(token)
    }

    async fn charge(&self, fan: u64, token: &str) -> Result<(), String> {
        let body = json!({"amount": self.venue.price});
        let api = self.crowd.api_of(fan);
        expect(api, &CHARGE, "/api/v1/wallet/charges", Some(token), Some(&body))
            .await
            .map(drop)
    }

    /// Fan `n` buys seat `n + 1`, for each seat of the date.
    async fn sell_out(&self, seats: u64) -> Result<Vec<Sold>, String> {
        each(seats, self.concurrency, |fan| self.buy(fan)).await
    }

    async fn buy(&self, fan: u64) -> Result<Sold, String> {
        let token = self.active_token(fan, &format!("waitlist buyer {fan}")).await?;
        self.charge(fan, &token).await?;
        let api = self.crowd.api_of(fan);
        let seat = json!({"concertId": self.venue.concert_id, "date": self.date(), "seatNumber": fan + 1});
        let held = expect(api, &HOLD, "/api/v1/reservations", Some(&token), Some(&seat)).await?;
        let order = json!({"reservationId": held["reservationId"]});
        let paid = expect(api, &PAY, "/api/v1/payments", Some(&token), Some(&order)).await?;
        let code = paid["ticketCode"]
            .as_str()
            .ok_or_else(|| format!("a payment without a ticket: {paid}"))?;
        Ok(Sold {
            fan,
            seat: fan + 1,
            code: code.to_string(),
        })
    }

    /// The date's AVAILABLE seats, as the catalog lists them (a date with none is not listed).
    async fn available(&self) -> Result<u64, String> {
        let path = format!("/api/v1/concerts/{}/dates", self.venue.concert_id);
        let dates = expect(self.crowd.api_of(0), &DATES, &path, None, None).await?;
        let ours = (dates.as_array().into_iter().flatten()).find(|date| date["date"] == self.date());
        Ok(ours.and_then(|date| date["availableSeats"].as_u64()).unwrap_or(0))
    }

    /// Fans `from..` join the list, all at once; in the order of the places they were given,
    /// the fan at place `n` giving an offer back if `gives_back[n - 1]`.
    async fn join_list(&self, from: u64, gives_back: &[bool], timings: &mut Timings) -> Result<Vec<Waiter>, String> {
        let path = &format!(
            "/api/v1/concerts/{}/dates/{}/waitlist",
            self.venue.concert_id,
            self.date()
        );
        let joined = each(gives_back.len() as u64, self.concurrency, |index| async move {
            let fan = from + index;
            let token = self.active_token(fan, &format!("waitlist fan {index}")).await?;
            // Enough for the one seat an offer is.
            self.charge(fan, &token).await?;
            let (entry, took) = timed(self.crowd.api_of(fan), &JOIN, path, Some(&token)).await;
            let entry = entry?;
            let waiter = Waiter {
                fan,
                token,
                code: entry["entryCode"].as_str().unwrap_or_default().to_string(),
                position: entry["position"].as_u64().unwrap_or(0),
                gives_back: false,
            };
            Ok((waiter, took))
        })
        .await?;
        let mut waiters = Vec::new();
        for (waiter, took) in joined {
            timings.joins.push(took);
            waiters.push(waiter);
        }
        waiters.sort_by_key(|waiter| waiter.position);
        // Decided by place, not by fan: which fan gets which place is the server's race, and
        // the same seed must give the same offers back.
        for (waiter, gives_back) in waiters.iter_mut().zip(gives_back) {
            waiter.gives_back = *gives_back;
        }
        Ok(waiters)
    }

    /// Cancels the tickets, all at once: the refunds as answered.
    async fn cancel(&self, returned: &[Sold], timings: &mut Timings) -> Result<Vec<Refund>, String> {
        let calls = returned.iter().map(|sold| async move {
            let path = format!("/api/v1/tickets/{}", sold.code);
            let (answer, took) = timed(self.crowd.api_of(sold.fan), &CANCEL_TICKET, &path, None).await;
            let answer = answer?;
            let amount = |name: &str| {
                answer[name]
                    .as_i64()
                    .ok_or_else(|| format!("a refund without {name}: {answer}"))
            };
            let refund = Refund {
                seat: sold.seat,
                refund: amount("refund")?,
                fee: amount("fee")?,
                balance: amount("balance")?,
            };
            Ok::<_, String>((refund, took))
        });
        let mut refunds = Vec::new();
        for (refund, took) in futures_util::future::try_join_all(calls).await? {
            timings.cancellations.push(took);
            refunds.push(refund);
        }
        Ok(refunds)
    }

    /// Reads the list round after round, answering each offer as it appears (the fan pays it or
    /// gives it back), until a round finds no offer it had not seen: every seat returned has
    /// then gone to a fan who paid, or back on sale once the list ran out.
    async fn settle(&self, waiters: &[Waiter], checker: &str, timings: &mut Timings) -> Followed {
        let mut followed = Followed {
            entries: waiters.iter().map(|_| Entry::default()).collect(),
            ..Followed::default()
        };
        while followed.rounds < ROUNDS_MAX {
            followed.rounds += 1;
            let seen = self.read_list(waiters, timings).await;
            if let Some(broken) = super::waitlist_verdict::skipped(&seen) {
                followed
                    .order_broken
                    .push(format!("read {}: {broken}", followed.rounds));
            }
            let fresh = take_fresh_offers(&mut followed.entries, &seen);
            for (entry, last) in followed.entries.iter_mut().zip(seen) {
                entry.last = last;
            }
            if fresh.is_empty() {
                break;
            }
            let (tried, taken) = self.try_to_take(checker, &followed.entries, &fresh).await;
            followed.tried_by_others += tried;
            followed.taken_by_others += taken;
            self.answer_offers(waiters, &fresh, &mut followed, timings).await;
        }
        followed
    }

    /// Every entry once, the last joined first: an offer to an entry is made after the offers
    /// to every entry before it, so read this way a later entry seen offered means each earlier
    /// one, read after it, must be offered too.
    async fn read_list(&self, waiters: &[Waiter], timings: &mut Timings) -> Vec<Seen> {
        let mut seen = vec![Seen::default(); waiters.len()];
        for (index, waiter) in waiters.iter().enumerate().rev() {
            let path = format!("/api/v1/waitlist/{}", waiter.code);
            let (entry, took) = timed(self.crowd.api_of(waiter.fan), &READ_ENTRY, &path, None).await;
            timings.reads.push(took);
            seen[index] = entry.map_or_else(Seen::Unread, |entry| seen_of(&entry));
        }
        seen
    }

    /// Someone off the list tries to hold seats just offered (a sample of them): an offer is
    /// held in its fan's name, so each try must be refused SEAT_UNAVAILABLE. The tries, and
    /// those that were not refused so.
    async fn try_to_take(&self, checker: &str, entries: &[Entry], fresh: &[usize]) -> (u64, u64) {
        let (mut tried, mut taken) = (0, 0);
        let every = fresh.len().div_ceil(TRIES_PER_ROUND).max(1);
        for offer in fresh
            .iter()
            .step_by(every)
            .filter_map(|&index| entries[index].offer.as_ref())
        {
            let body = json!({"concertId": self.venue.concert_id, "date": self.date(), "seatNumber": offer.seat});
            let (api, path) = (self.crowd.api_of(0), "/api/v1/reservations");
            let try_hold = api.call_within_limits(HOLD.name, Method::POST, path, Some(checker), Some(&body));
            let refused = try_hold
                .await
                .is_ok_and(|reply| reply.code() == Some("SEAT_UNAVAILABLE"));
            tried += 1;
            taken += u64::from(!refused);
        }
        (tried, taken)
    }

    /// Each fan offered a seat pays it with the entry's code, or gives it back with their token.
    async fn answer_offers(&self, waiters: &[Waiter], fresh: &[usize], followed: &mut Followed, timings: &mut Timings) {
        let answers = fresh.iter().map(|&index| {
            let (waiter, entry) = (&waiters[index], &followed.entries[index]);
            async move { (index, self.answer(waiter, entry.offer.as_ref()).await) }
        });
        let answered = futures_util::future::join_all(answers).await;
        for (index, answer) in answered {
            let entry = &mut followed.entries[index];
            match answer {
                Ok(Answer::Paid(paid, took)) => {
                    timings.payments.push(took);
                    entry.paid = Some(paid);
                }
                Ok(Answer::GaveBack) => entry.gave_back = true,
                Err(why) => followed.failures.push(format!("the fan at {}: {why}", index + 1)),
            }
        }
    }

    async fn answer(&self, waiter: &Waiter, offer: Option<&Offer>) -> Result<Answer, String> {
        let api = self.crowd.api_of(waiter.fan);
        let offer = offer.ok_or("no offer")?;
        if waiter.gives_back {
            let path = format!("/api/v1/reservations/{}", offer.reservation);
            expect(api, &GIVE_BACK, &path, Some(&waiter.token), None).await?;
            return Ok(Answer::GaveBack);
        }
        let path = format!("/api/v1/waitlist/{}/payment", waiter.code);
        let (receipt, took) = timed(api, &PAY_OFFER, &path, None).await;
        let receipt = receipt?;
        let paid = Paid {
            ticket: receipt["ticketCode"].as_str().unwrap_or_default().to_string(),
            amount: receipt["amount"].as_i64().unwrap_or(-1),
            balance: receipt["balance"].as_i64().unwrap_or(-1),
        };
        Ok(Answer::Paid(paid, took))
    }

    /// Every ticket of the run as its code reads: those sold first, and those the list bought.
    /// `--concurrency` at a time, spread over the fans' addresses as their connections are.
    async fn read_tickets(&self, sold: &[Sold], entries: &[Entry]) -> HashMap<String, TicketRead> {
        let bought = entries.iter().filter_map(|entry| entry.paid.as_ref());
        let codes: Vec<&str> = (sold.iter().map(|sold| sold.code.as_str()))
            .chain(bought.map(|paid| paid.ticket.as_str()))
            .collect();
        let codes = &codes;
        let read = |index: u64| async move {
            let code = codes[index as usize];
            let path = format!("/api/v1/tickets/{code}");
            let ticket = expect(self.crowd.api_of(index), &READ_TICKET, &path, None, None).await;
            let read = ticket.map_or_else(
                |why| TicketRead { status: why, seat: 0 },
                |ticket| TicketRead {
                    status: ticket["status"].as_str().unwrap_or_default().to_string(),
                    seat: ticket["seatNumber"].as_u64().unwrap_or(0),
                },
            );
            Ok((code.to_string(), read))
        };
        let reads = each(codes.len() as u64, self.concurrency, read).await;
        reads.unwrap_or_default().into_iter().collect()
    }

    /// The date's seats and their status, by seat number.
    async fn seat_map(&self, token: &str) -> Result<Vec<(u64, String)>, String> {
        let path = format!("/api/v1/concerts/{}/dates/{}/seats", self.venue.concert_id, self.date());
        let map = expect(self.crowd.api_of(0), &SEAT_MAP, &path, Some(token), None).await?;
        let seats = map["seats"].as_array().into_iter().flatten();
        let status = |seat: &Value| seat["status"].as_str().unwrap_or_default().to_string();
        Ok(seats
            .map(|seat| (seat["seatNumber"].as_u64().unwrap_or(0), status(seat)))
            .collect())
    }
}

/// How a fan answered an offer.
enum Answer {
    Paid(Paid, Duration),
    GaveBack,
}

/// Notes each offer seen for the first time on its entry; the entries that have one.
fn take_fresh_offers(entries: &mut [Entry], seen: &[Seen]) -> Vec<usize> {
    let mut fresh = Vec::new();
    for (index, (entry, seen)) in entries.iter_mut().zip(seen).enumerate() {
        if let (Seen::Offered(offer), None) = (seen, &entry.offer) {
            entry.offer = Some(offer.clone());
            fresh.push(index);
        }
    }
    fresh
}

/// An entry as `GET /waitlist/{code}` shows it.
fn seen_of(entry: &Value) -> Seen {
    let offer = &entry["offer"];
    match entry["status"].as_str() {
        Some("WAITING") => Seen::Waiting {
            position: entry["position"].as_u64().unwrap_or(0),
        },
        Some("OFFERED") => Seen::Offered(Offer {
            reservation: offer["reservationId"].as_str().unwrap_or_default().to_string(),
            seat: offer["seatNumber"].as_u64().unwrap_or(0),
            price: offer["price"].as_i64().unwrap_or(-1),
            held_until: (offer["heldUntil"].as_str())
                .and_then(|at| at.parse::<DateTime<Utc>>().ok())
                .unwrap_or_default(),
        }),
        Some("BOUGHT") => Seen::Bought,
        Some("LAPSED") => Seen::Lapsed,
        _ => Seen::Unread(format!("an entry read as {entry}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_as_its_status_says_and_anything_else_is_unread() {
        let offered = json!({"position": 0, "status": "OFFERED", "offer": {
            "reservationId": "r", "seatNumber": 7, "price": 50_000, "heldUntil": "2027-01-01T10:00:00Z"}});
        assert_eq!(
            seen_of(&offered),
            Seen::Offered(Offer {
                reservation: "r".into(),
                seat: 7,
                price: 50_000,
                held_until: "2027-01-01T10:00:00Z".parse().unwrap(),
            })
        );
        let waiting = json!({"position": 3, "status": "WAITING", "offer": null});
        assert_eq!(seen_of(&waiting), Seen::Waiting { position: 3 });
        assert!(matches!(seen_of(&json!({"position": 1})), Seen::Unread(_)));
    }

    #[test]
    fn the_same_seed_gives_back_and_cancels_the_same() {
        assert_eq!(decisions(3, 0.5, 50), decisions(3, 0.5, 50));
        assert!(decisions(3, 0.0, 50).iter().all(|gives_back| !gives_back));
        let sold: Vec<Sold> = (0..20)
            .map(|fan| Sold {
                fan,
                seat: fan + 1,
                code: format!("code {fan}"),
            })
            .collect();
        let seats = |picked: Vec<Sold>| picked.into_iter().map(|sold| sold.seat).collect::<Vec<_>>();
        assert_eq!(seats(chosen(3, &sold, 8)), seats(chosen(3, &sold, 8)));
        let mut distinct = seats(chosen(3, &sold, 8));
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 8);
    }
}
