//! The hoard: waves of throwaway users each take a token, hold as many seats of one date as the
//! server lets them, and leave the line. Leaving must give every seat back at once: honest fans
//! who come next must see them all AVAILABLE and hold one each.

use super::client::Api;
use super::journey::Venue;
use super::line::{self, Member};
use super::verdict::{Rules, Verdict};
use super::Harness;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

/// How long a fan or the observer waits in line: the hoarders have left by then.
const PATIENCE: Duration = Duration::from_secs(30);

/// Holds one hoarder tries: past the server's `--hold-max` it is refused anyway.
const HOLD_TRIES_MAX: usize = 32;

/// Hoarders who share a source address: their registrations and tokens stay within a default
/// per-client burst, so the hoard is about holds, not the rate limit.
const HOARDERS_PER_ADDRESS: u64 = 8;

/// Seats of the date by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SeatCounts {
    available: u64,
    held: u64,
}

/// What a hoard run saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoardFigures {
    pub seats: u64,
    pub rounds: u32,
    /// Hoarders who got an ACTIVE token, over all waves.
    pub hoarders_in: u64,
    /// Seats the hoarders held together, at most, before a wave left.
    pub held_peak: u64,
    /// Seats still HELD after a wave had left, at most.
    pub held_after_leave: u64,
    /// Seats AVAILABLE after the last wave had left.
    pub available_after_leave: u64,
    pub fans: u64,
    /// Fans whose seat map showed every seat AVAILABLE.
    pub fans_saw_all: u64,
    /// Fans who held a seat.
    pub fans_held: u64,
    /// The first refusals hoarders and fans met, for the report.
    pub problems: Vec<String>,
}

/// Runs the hoard on the venue's first date and gives its verdict.
pub async fn run(harness: &Harness, venue: &Venue) -> Result<Verdict, String> {
    let observer_api = harness.api.bound_to(harness.sources.take());
    let mut observer = line::join(&observer_api, "hoard observer").await?;
    if !line::wait_until_active(&observer_api, &mut observer, Instant::now() + PATIENCE).await {
        return Err("the observer's token did not become ACTIVE".into());
    }
    let date = venue.dates.first().ok_or("the venue has no date")?.clone();
    let looker = Looker {
        api: &observer_api,
        token: &observer.token,
        venue,
        date: &date,
    };
    let mut figures = HoardFigures {
        seats: u64::from(venue.seats),
        rounds: harness.options.rounds,
        fans: harness.options.fans,
        ..HoardFigures::default()
    };
    let groups = harness.options.hoarders.div_ceil(HOARDERS_PER_ADDRESS);
    let apis: Vec<Api> = (0..groups)
        .map(|_| harness.api.bound_to(harness.sources.take()))
        .collect();
    for round in 0..harness.options.rounds {
        wave(harness, &apis, &looker, round, &mut figures).await?;
    }
    honest_fans(harness, &looker, &mut figures).await;
    line::leave(&observer_api, &observer.token).await;
    Ok(verdict(&figures))
}

/// One wave: every hoarder joins and holds what it can, the seats are counted, every hoarder
/// leaves, and the seats are counted again.
async fn wave(
    harness: &Harness,
    apis: &[Api],
    looker: &Looker<'_>,
    round: u32,
    figures: &mut HoardFigures,
) -> Result<(), String> {
    let hoarders = (0..harness.options.hoarders).map(|hoarder| {
        let api = apis[(hoarder / HOARDERS_PER_ADDRESS) as usize].clone();
        let seed = harness.options.seed ^ (u64::from(round) << 32) ^ hoarder;
        async move {
            hoard(&api, looker, seed)
                .await
                .map(|member| member.map(|member| (api, member)))
        }
    });
    let mut inside = Vec::new();
    for outcome in futures_util::future::join_all(hoarders).await {
        match outcome {
            Ok(Some(hoarder)) => inside.push(hoarder),
            Ok(None) => {}
            Err(problem) => note(figures, problem),
        }
    }
    figures.hoarders_in += inside.len() as u64;
    figures.held_peak = figures.held_peak.max(looker.count().await?.held);
    let leaves = inside.iter().map(|(api, member)| line::leave(api, &member.token));
    futures_util::future::join_all(leaves).await;
    let after = looker.count().await?;
    figures.held_after_leave = figures.held_after_leave.max(after.held);
    figures.available_after_leave = after.available;
    Ok(())
}

/// A throwaway user joins and holds every seat it can; None when the room was full (it leaves
/// the line at once then: a hoarder has no use for a place in it).
async fn hoard(api: &Api, looker: &Looker<'_>, seed: u64) -> Result<Option<Member>, String> {
    let member = line::join(api, "hoarder").await?;
    if !member.active {
        line::leave(api, &member.token).await;
        return Ok(None);
    }
    let mut seats = looker.available_seats(api, &member.token).await?;
    seats.shuffle(&mut StdRng::seed_from_u64(seed));
    for seat in seats.into_iter().take(HOLD_TRIES_MAX) {
        let reply = looker.hold(api, &member.token, seat).await?;
        if matches!(reply.as_deref(), Some("HOLD_LIMIT_REACHED")) {
            break;
        }
    }
    Ok(Some(member))
}

/// Honest fans, each from an address of its own, join once the hoarders have gone and look at
/// the date, all of them before any holds (so that none sees another's hold); then each holds a
/// seat, and they leave again, which gives their seats back.
async fn honest_fans(harness: &Harness, looker: &Looker<'_>, figures: &mut HoardFigures) {
    let looks = (0..harness.options.fans).map(|fan| {
        let api = harness.api.bound_to(harness.sources.take());
        async move {
            let looked = honest_look(&api, looker, fan).await;
            (api, looked)
        }
    });
    let looked = futures_util::future::join_all(looks).await;
    let holds = looked.iter().enumerate().map(|(fan, (api, looked))| async move {
        let (member, saw_all) = looked.as_ref().map_err(Clone::clone)?;
        let held = honest_hold(api, looker, member, fan as u64).await;
        line::leave(api, &member.token).await;
        held.map(|held| (*saw_all, held))
    });
    for outcome in futures_util::future::join_all(holds).await {
        match outcome {
            Ok((saw_all, held)) => {
                figures.fans_saw_all += u64::from(saw_all);
                figures.fans_held += u64::from(held);
            }
            Err(problem) => note(figures, problem),
        }
    }
}

/// A fan joins, waits to be ACTIVE and reads the seat map: whether every seat was AVAILABLE.
async fn honest_look(api: &Api, looker: &Looker<'_>, fan: u64) -> Result<(Member, bool), String> {
    let mut member = line::join(api, &format!("honest fan {fan}")).await?;
    if !line::wait_until_active(api, &mut member, Instant::now() + PATIENCE).await {
        line::leave(api, &member.token).await;
        return Err("an honest fan's token did not become ACTIVE".into());
    }
    let available = looker.available_seats(api, &member.token).await?;
    Ok((member, available.len() as u64 == u64::from(looker.venue.seats)))
}

/// Holds a seat: the fan's own, or the next ones along if another fan was quicker.
async fn honest_hold(api: &Api, looker: &Looker<'_>, member: &Member, fan: u64) -> Result<bool, String> {
    let seats = u64::from(looker.venue.seats);
    for step in 0..4 {
        let seat = ((fan + step) % seats + 1) as i64;
        match looker.hold(api, &member.token, seat).await? {
            None => return Ok(true),
            Some(code) if code == "SEAT_UNAVAILABLE" => continue,
            Some(code) => return Err(format!("an honest fan's hold was refused: {code}")),
        }
    }
    Ok(false)
}

fn note(figures: &mut HoardFigures, problem: String) {
    if figures.problems.len() < 3 {
        figures.problems.push(problem);
    }
}

/// Reads and holds seats of the hoarded date.
struct Looker<'a> {
    /// The observer's client and token, ACTIVE throughout, to count seats with.
    api: &'a Api,
    token: &'a str,
    venue: &'a Venue,
    date: &'a str,
}

impl Looker<'_> {
    async fn seat_map(&self, api: &Api, token: &str) -> Result<Vec<(i64, String)>, String> {
        let path = format!("/api/v1/concerts/{}/dates/{}/seats", self.venue.concert_id, self.date);
        let map = api
            .call_within_limits(
                "GET /concerts/{id}/dates/{date}/seats",
                Method::GET,
                &path,
                Some(token),
                None,
            )
            .await
            .map_err(|e| format!("unreachable: {}", e.0))?;
        let seats = map.body["seats"]
            .as_array()
            .ok_or_else(|| line::refusal("read the seat map", &map))?;
        Ok(seats
            .iter()
            .filter_map(|seat| Some((seat["seatNumber"].as_i64()?, seat["status"].as_str()?.to_string())))
            .collect())
    }

    async fn available_seats(&self, api: &Api, token: &str) -> Result<Vec<i64>, String> {
        let map = self.seat_map(api, token).await?;
        Ok(map
            .into_iter()
            .filter(|(_, status)| status == "AVAILABLE")
            .map(|(seat, _)| seat)
            .collect())
    }

    /// The date's seats by status, as the observer sees them.
    async fn count(&self) -> Result<SeatCounts, String> {
        let map = self.seat_map(self.api, self.token).await?;
        let count = |wanted: &str| map.iter().filter(|(_, status)| status == wanted).count() as u64;
        Ok(SeatCounts {
            available: count("AVAILABLE"),
            held: count("HELD"),
        })
    }

    /// Holds `seat`: None when held, else the refusal's code.
    async fn hold(&self, api: &Api, token: &str, seat: i64) -> Result<Option<String>, String> {
        let body = json!({ "concertId": self.venue.concert_id, "date": self.date, "seatNumber": seat });
        let reply = api
            .call_within_limits(
                "POST /reservations",
                Method::POST,
                "/api/v1/reservations",
                Some(token),
                Some(&body),
            )
            .await
            .map_err(|e| format!("unreachable: {}", e.0))?;
        Ok((!reply.ok()).then(|| reply.code().unwrap_or(reply.status.as_str()).to_string()))
    }
}

/// PASS when the hoarders held seats, none was still HELD once they had left, and every honest
/// fan then saw every seat AVAILABLE and held one (as many as there are seats).
pub fn verdict(figures: &HoardFigures) -> Verdict {
    let fans_to_hold = figures.fans.min(figures.seats);
    let mut rules = Rules::default();
    rules
        .figure(format!(
            "{} waves, {} hoarders in: at most {} of {} seats HELD at once; after they left {} HELD, {} AVAILABLE",
            figures.rounds,
            figures.hoarders_in,
            figures.held_peak,
            figures.seats,
            figures.held_after_leave,
            figures.available_after_leave
        ))
        .figure(format!(
            "honest fans: {} of {} saw every seat AVAILABLE, {} of {} holds succeeded",
            figures.fans_saw_all, figures.fans, figures.fans_held, fans_to_hold
        ))
        .require(figures.held_peak > 0, || {
            "the hoarders held no seat, so the hoard showed nothing".into()
        })
        .require(figures.held_after_leave == 0, || {
            format!("{} seats still HELD after the hoarders left", figures.held_after_leave)
        })
        .require(figures.fans_saw_all == figures.fans, || {
            format!(
                "{} honest fans found seats not AVAILABLE",
                figures.fans - figures.fans_saw_all
            )
        })
        .require(figures.fans_held >= fans_to_hold, || {
            format!("only {} of {fans_to_hold} honest fans held a seat", figures.fans_held)
        });
    if !figures.problems.is_empty() {
        rules.figure(format!("refusals met: {}", figures.problems.join("; ")));
    }
    rules.verdict("hoard")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passing() -> HoardFigures {
        HoardFigures {
            seats: 50,
            rounds: 2,
            hoarders_in: 40,
            held_peak: 50,
            held_after_leave: 0,
            available_after_leave: 50,
            fans: 10,
            fans_saw_all: 10,
            fans_held: 10,
            problems: Vec::new(),
        }
    }

    #[test]
    fn seats_given_back_and_held_by_every_fan_pass() {
        let verdict = verdict(&passing());
        assert!(verdict.pass, "{}", verdict.lines());
        assert!(verdict
            .lines()
            .contains("at most 50 of 50 seats HELD at once; after they left 0 HELD"));
    }

    #[test]
    fn seats_still_held_after_the_hoarders_left_fail() {
        let figures = HoardFigures {
            held_after_leave: 12,
            fans_saw_all: 0,
            fans_held: 7,
            ..passing()
        };
        let verdict = verdict(&figures);
        assert!(!verdict.pass);
        assert_eq!(verdict.broken.len(), 3, "{}", verdict.lines());
        assert!(verdict
            .lines()
            .contains("broken: 12 seats still HELD after the hoarders left"));
    }

    #[test]
    fn a_hoard_that_held_nothing_proves_nothing() {
        let figures = HoardFigures {
            held_peak: 0,
            ..passing()
        };
        assert!(!verdict(&figures).pass);
    }
}
