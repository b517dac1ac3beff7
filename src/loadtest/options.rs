//! The harness's flags: which scenario, against which server, with how many fans and attackers.

use crate::config::FsyncPolicy;
use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Fans arriving a second in a steady run without `--arrival-rate`.
const STEADY_ARRIVAL_RATE: f64 = 50.0;

/// Fans in a rush without `--users`.
const RUSH_USERS: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// `--users` fans arrive at once (or at `--arrival-rate`) for a few seats.
    Rush,
    /// Fans arrive at `--arrival-rate` a second for `--duration`.
    Steady,
    /// `/healthz` as fast as it answers: the framework's ceiling on this machine.
    Ceiling,
    /// Waves of throwaway users hold all the seats they may of a date and leave; then honest
    /// fans must find every seat AVAILABLE and hold one.
    Hoard,
    /// One client registers users and takes tokens as fast as it can for `--duration` while
    /// honest fans join from addresses of their own; the flood must be refused and the fans
    /// stay near the front.
    Flood,
    /// Bodies sent a byte at a time and idle event streams, from several addresses; a write
    /// must still succeed at once, and the server must cut the slow bodies at `--client-timeout`.
    Slow,
    /// `--watchers` WAITING fans each hold their event stream open: token status and seat map
    /// reads must keep their throughput, and every admitted fan must hear of it within a second.
    Watchers,
    /// A concert's own sale: `--users` fans (2,000 unless given) join its pre-queue over
    /// `--duration` and a fifth in a burst at the opening; the admission order must be the one
    /// drawn from the published seed, independent of arrival, and no faster than
    /// `--admissions-per-minute`.
    Onsale,
    /// A date of a concert with its own sale is sold out, `--users` fans (200 unless given) join
    /// its waiting list and `--cancellations` tickets are cancelled: every returned seat must be
    /// offered to the earliest waiting fans in the order they joined, paid or (`--abandon-ratio`)
    /// given back to the next, with no seat sold twice and the refunds and money adding up.
    Waitlist,
}

/// The harness's options.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "loadtest",
    version,
    about = "Drives fan journeys against the concert server and checks its invariants"
)]
pub struct Options {
    /// The server to drive, e.g. http://127.0.0.1:8080; or a cluster's nodes, comma-separated,
    /// to spread the fans over them (each fan keeps to one node).
    #[arg(long, required_unless_present = "embedded", conflicts_with = "embedded")]
    pub url: Option<String>,
    /// Start a server in this process, on a temporary data dir.
    #[arg(long)]
    pub embedded: bool,
    /// The server's admin key (to create the concert and read the totals); `--embedded` makes its own.
    #[arg(long, env = "CONCERT_ADMIN_KEY")]
    pub admin_key: Option<String>,
    #[arg(long, value_enum, default_value_t = Scenario::Rush)]
    pub scenario: Scenario,
    /// Fans in a rush (1000 unless given). A steady run has as many as arrive at the rate over
    /// `--duration` unless given, and refuses fewer: they would all have arrived before its end.
    /// The fans of an on-sale, and those on a waitlist run's list.
    #[arg(long)]
    pub users: Option<u64>,
    /// Fans (or, for `ceiling`, requests) in flight at once, in the closed model.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// How long a steady, ceiling or flood run lasts (with `--with-flood`, the flood's longest);
    /// each span of reads in a watchers run.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Fans arriving a second, on schedule whatever the answers' speed (open model). Without it
    /// a rush runs `--concurrency` fans at a time (closed model), and a steady run has 50.
    #[arg(long)]
    pub arrival_rate: Option<f64>,
    /// Dates of the concert the fans go for.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub dates: u32,
    /// Seats on each date.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub seats: u32,
    /// Share of fans who give their seat back instead of paying (0 to 1); in a waitlist run, of
    /// the fans offered a returned seat.
    #[arg(long, default_value_t = 0.2, value_parser = share)]
    pub abandon_ratio: f64,
    /// How many seats a fan buys in one order, as a mix of sizes 1 to 4 and their weights:
    /// `1` (every fan one seat), `2`, or `1:50,2:30,4:20`.
    #[arg(long, default_value = "1", value_parser = order_mix)]
    pub seats_per_order: OrderMix,
    /// Share of hold attempts aimed at the five popular seats (0 to 1).
    #[arg(long, default_value_t = 0.5, value_parser = share)]
    pub popular_share: f64,
    /// Makes the fans' choices repeatable.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Measure the `/healthz` ceiling first and report throughput as a ratio to it.
    #[arg(long)]
    pub with_ceiling: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw throughput, p50 and p99 latency over time as SVG here.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// `onsale`: the sale's admissions a minute, spread evenly; none for as fast as slots free.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub admissions_per_minute: Option<u32>,
    /// `waitlist`: tickets cancelled once the date is sold out, at most `--seats`.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub cancellations: u32,
    /// `--embedded`: tokens ACTIVE at once (and an on-sale's `activeMax`).
    #[arg(long, default_value_t = 100)]
    pub active_max: u32,
    /// `--embedded`: whether writes wait for the disk.
    #[arg(long, value_enum, default_value_t = FsyncPolicy::Always)]
    pub fsync: FsyncPolicy,
    /// How often a waiting fan asks for its status.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// `rush` or `steady`: one client floods `POST /users` and `POST /queue/tokens` alongside the
    /// fans, until they are done or `--duration` has passed.
    #[arg(long)]
    pub with_flood: bool,
    /// `hoard`: throwaway users in each wave of hoarders.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub hoarders: u64,
    /// `hoard`: waves of hoarders; each joins, holds and leaves together.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,
    /// `hoard`, `flood`: honest fans who join after (or during) the attack.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub fans: u64,
    /// `slow`: connections that send a body a byte at a time.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub slow_connections: u32,
    /// `slow`: WAITING tokens that each hold open the two event streams the server allows.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub streams: u32,
    /// `watchers`: WAITING fans, each holding one event stream open. The process must have a
    /// descriptor for each (two with `--embedded`, which holds both ends).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub watchers: u32,
    /// `watchers` against `--url`: the server's process id, to read its memory before and after
    /// the streams open.
    #[arg(long, requires = "url")]
    pub server_pid: Option<u32>,
    /// The server's `--client-rate-limit`: `--embedded` starts with it, and a flood's bound is
    /// reckoned from it.
    #[arg(long, default_value_t = 20)]
    pub client_rate_limit: u32,
    /// The server's `--client-timeout`: `--embedded` starts with it, and `slow` expects its
    /// bodies cut after it.
    #[arg(long, default_value = "10s", value_parser = timeout)]
    pub client_timeout: Duration,
    /// Local IPv4 addresses (a CIDR) the clients send from, one per fan or small group; by
    /// default all of 127.0.0.0/8 when the server is on loopback, and none otherwise.
    #[arg(long)]
    pub source_net: Option<ipnet::Ipv4Net>,
}

impl Options {
    /// The scenario's name as the report and the verdict give it.
    pub fn scenario_name(&self) -> String {
        let name = format!("{:?}", self.scenario).to_lowercase();
        match self.with_flood {
            true => format!("{name} under flood"),
            false => name,
        }
    }

    /// The fans of a rush or a steady run: `--users`, or by default a thousand in a rush and as
    /// many as arrive over `--duration` in a steady run.
    pub fn crowd_size(&self) -> u64 {
        match (self.users, self.arrivals_over_duration()) {
            (Some(users), _) => users,
            (None, Some(arrivals)) => arrivals,
            (None, None) => RUSH_USERS,
        }
    }

    /// A steady run's arrivals at its rate over `--duration`; none for the other scenarios.
    fn arrivals_over_duration(&self) -> Option<u64> {
        let rate = self.arrival_rate().filter(|_| self.scenario == Scenario::Steady)?;
        Some((rate * self.duration.as_secs_f64()).ceil() as u64)
    }

    /// Refuses a steady run whose `--users` would all have arrived before `--duration` is over:
    /// it would end early and report the wrong run.
    pub fn check_crowd_size(&self) -> Result<(), String> {
        match (self.users, self.arrivals_over_duration()) {
            (Some(users), Some(arrivals)) if users < arrivals => Err(format!(
                "--users {users} arriving at {} a second have all arrived after {:.1} s, before --duration {} is over: \
                 give --users {arrivals} or more, or leave --users out",
                self.arrival_rate().unwrap_or_default(),
                users as f64 / self.arrival_rate().unwrap_or(1.0),
                humantime::format_duration(self.duration)
            )),
            _ => Ok(()),
        }
    }

    /// Fans arriving a second: a steady run's default, or `--arrival-rate`.
    pub fn arrival_rate(&self) -> Option<f64> {
        match self.scenario {
            Scenario::Steady => Some(self.arrival_rate.unwrap_or(STEADY_ARRIVAL_RATE)),
            _ => self.arrival_rate,
        }
    }
}

fn timeout(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    (Duration::from_millis(100)..=Duration::from_secs(600))
        .contains(&duration)
        .then_some(duration)
        .ok_or_else(|| "a client timeout is between 100ms and 10m".into())
}

/// Order sizes (1 to 4 seats) and their weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderMix(pub Vec<(u32, u32)>);

impl OrderMix {
    /// One seat a fan.
    pub fn single() -> Self {
        Self(vec![(1, 1)])
    }

    /// A size drawn by weight.
    pub fn pick(&self, rng: &mut impl rand::Rng) -> u32 {
        let total: u32 = self.0.iter().map(|(_, weight)| weight).sum();
        let mut at = rng.random_range(0..total);
        for (size, weight) in &self.0 {
            if at < *weight {
                return *size;
            }
            at -= weight;
        }
        unreachable!("a draw below the total weight falls on a size")
    }
}

fn order_mix(text: &str) -> Result<OrderMix, String> {
    let part = |part: &str| -> Result<(u32, u32), String> {
        let (size, weight) = part.split_once(':').unwrap_or((part, "1"));
        let size: u32 = size
            .trim()
            .parse()
            .map_err(|_| format!("{size} is not a number of seats"))?;
        let weight: u32 = weight.trim().parse().map_err(|_| format!("{weight} is not a weight"))?;
        match (1..=4).contains(&size) && weight > 0 {
            true => Ok((size, weight)),
            false => Err("an order is 1 to 4 seats, with a weight above 0".into()),
        }
    };
    text.split(',').map(part).collect::<Result<Vec<_>, _>>().map(OrderMix)
}

fn share(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("{text} is not a number"))?;
    (0.0..=1.0)
        .contains(&value)
        .then_some(value)
        .ok_or_else(|| "a share is between 0 and 1".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Options from a command line written as one string, after `loadtest --embedded`.
    fn options(line: &str) -> Options {
        Options::parse_from(["loadtest", "--embedded"].into_iter().chain(line.split_whitespace()))
    }

    #[test]
    fn a_steady_run_without_users_has_as_many_as_arrive_over_its_duration() {
        let steady = options("--scenario steady --arrival-rate 200 --duration 30s");
        assert_eq!(steady.crowd_size(), 6_000);
        assert_eq!(options("--scenario steady").crowd_size(), 500, "50 a second for 10 s");
        assert_eq!(options("").crowd_size(), 1_000);
        assert_eq!(options("--users 300").crowd_size(), 300);
    }

    #[test]
    fn a_steady_run_whose_users_would_all_arrive_before_its_end_is_refused() {
        let cut_short = options("--scenario steady --arrival-rate 200 --duration 30s --users 1000");
        let refusal = cut_short.check_crowd_size().unwrap_err();
        assert!(refusal.contains("have all arrived after 5.0 s"), "{refusal}");
        assert!(refusal.contains("give --users 6000 or more"), "{refusal}");
        let enough = options("--scenario steady --arrival-rate 200 --duration 30s --users 6000");
        assert_eq!(enough.check_crowd_size(), Ok(()));
        assert_eq!(
            options("--users 10").check_crowd_size(),
            Ok(()),
            "a rush has no duration"
        );
    }

    #[test]
    fn an_order_mix_is_sizes_of_one_to_four_seats_with_weights() {
        assert_eq!(options("").seats_per_order, OrderMix::single());
        let mix = options("--seats-per-order 1:50,2:30,4:20").seats_per_order;
        assert_eq!(mix, OrderMix(vec![(1, 50), (2, 30), (4, 20)]));
        assert_eq!(options("--seats-per-order 4").seats_per_order, OrderMix(vec![(4, 1)]));
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
        let mut drawn = [0u32; 5];
        for _ in 0..10_000 {
            drawn[mix.pick(&mut rng) as usize] += 1;
        }
        assert_eq!(drawn[3], 0, "a size not in the mix is never drawn");
        assert!(
            (4_700..5_300).contains(&drawn[1]) && (1_700..2_300).contains(&drawn[4]),
            "{drawn:?}"
        );
        for wrong in ["0", "5", "1:0", "two", "1:x"] {
            let refused = Options::try_parse_from(["loadtest", "--embedded", "--seats-per-order", wrong]);
            assert!(refused.is_err(), "{wrong} is refused");
        }
    }
}
