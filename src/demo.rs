//! The embedded demo: the whole server in this process on its own data dir, a catalog and a few
//! fans with money seeded when the data dir is empty, and optionally a crowd of simulated fans
//! (the load harness's journeys at a human pace) so the queue moves and seats go while you watch.

use crate::config::Config;
use crate::loadtest::client::{Api, Recorder, Reply};
use crate::loadtest::journey::{self, Behaviour, Venue};
use crate::Application;
use chrono::{Days, Utc};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where the demo keeps its state unless told otherwise: apart from a real server's.
const DEMO_DATA_DIR: &str = "snapshots/demo";
/// Names the demo fans' sign-in links in the data dir, so later starts can print them again.
const DEMO_FANS_FILE: &str = "demo-fans.json";
const DEMO_FAN_NAMES: [&str; 5] = ["Minji", "Jisoo", "Hyunwoo", "Seoyeon", "Daniel"];
const DEMO_FAN_BALANCE: i64 = 500_000;
const SEATS_PER_DATE: u32 = 50;
/// The crowd passes over a date with this many seats left or fewer, so whoever opens the fan
/// page can still buy one however long the demo has run.
const SEATS_LEFT_FOR_PEOPLE: u64 = 10;

/// The concerts seeded into an empty data dir: title, price in won, and days from today.
const CATALOG: [(&str, i64, [u64; 3]); 3] = [
    ("Aurora Nights — Live at Olympic Hall", 132_000, [14, 15, 21]),
    ("Han River Philharmonic: New Year Gala", 99_000, [36, 37, 38]),
    ("Neon Tigers World Tour 2027 — Seoul", 165_000, [50, 51, 57]),
];

#[derive(Debug, Parser)]
#[command(
    name = "demo",
    version,
    about = "The concert server with a seeded catalog and, with --crowd, simulated fans"
)]
pub struct DemoOptions {
    #[command(flatten)]
    pub server: Config,

    /// Simulated fans going through the queue at a human pace, over and over.
    #[arg(long, env = "CONCERT_DEMO_CROWD", default_value_t = 0)]
    pub crowd: usize,

    /// A simulated fan's pause between steps (more than zero: a crowd at full speed is the load
    /// harness's job).
    #[arg(long, env = "CONCERT_DEMO_THINK_TIME", default_value = "2s", value_parser = parse_think_time)]
    pub think_time: Duration,
}

impl DemoOptions {
    /// The flags, with the demo's own data dir unless one was given.
    pub fn parse_with_demo_defaults() -> Self {
        let matches = Self::command().get_matches();
        let mut options = Self::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
        options.apply_demo_defaults(&matches);
        options
    }

    /// Only `--data-dir` itself moves the demo's data: a `CONCERT_DATA_DIR` exported for a real
    /// server must not have the demo seed and sell into that server's data.
    fn apply_demo_defaults(&mut self, matches: &ArgMatches) {
        if matches.value_source("data_dir") != Some(ValueSource::CommandLine) {
            self.server.data_dir = PathBuf::from(DEMO_DATA_DIR);
        }
        if self.server.admin_key.is_none() {
            self.server.admin_key = Some(uuid::Uuid::new_v4().simple().to_string());
        }
        // The simulated crowd is many fans behind this one address, beside the people at the
        // pages: a per-client budget would throttle them all as one.
        if self.crowd > 0 && matches.value_source("client_rate_limit") != Some(ValueSource::CommandLine) {
            self.server.client_rate_limit = 0;
        }
    }
}

fn parse_think_time(text: &str) -> Result<Duration, String> {
    let pause = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if pause.is_zero() {
        return Err("the think time must be more than zero".into());
    }
    Ok(pause)
}

/// A seeded fan and the link that signs the browser in as them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DemoFan {
    name: String,
    user_id: String,
}

/// Starts the server, seeds an empty data dir, prints where to go, runs the crowd, and serves
/// until SIGINT or SIGTERM.
pub async fn run(options: DemoOptions) -> std::io::Result<()> {
    let data_dir = options.server.data_dir.clone();
    std::fs::create_dir_all(&data_dir)?;
    let admin_key = options.server.admin_key.clone().unwrap_or_default();
    let mut application = Application::build(options.server)?;
    application.stop_on_signals()?;
    let base = format!("http://{}", application.address());
    let server = actix_web::rt::spawn(application.run_until_stopped());
    let api = Api::new(&base, Some(admin_key.clone()), Arc::new(Recorder::without_timeline()));
    let fans = prepare(&api, &data_dir).await?;
    print_welcome(&base, &admin_key, &fans, options.crowd, &data_dir);
    if options.crowd > 0 {
        start_crowd(api, options.crowd, options.think_time).await;
    }
    server.await.map_err(std::io::Error::other)?
}

/// Seeds the catalog into a data dir without concerts, and the demo fans into one without the
/// file that names them; each is decided apart, so a demo stopped halfway seeds the rest next time.
async fn prepare(api: &Api, data_dir: &Path) -> std::io::Result<Vec<DemoFan>> {
    let concerts = call(api, Method::GET, "/api/v1/concerts", None, None).await?;
    if concerts.body.as_array().is_none_or(|list| list.is_empty()) {
        seed_catalog(api).await?;
    }
    let fans_file = data_dir.join(DEMO_FANS_FILE);
    if let Ok(saved) = std::fs::read(&fans_file) {
        return serde_json::from_slice(&saved).map_err(std::io::Error::other);
    }
    let mut fans = Vec::new();
    for name in DEMO_FAN_NAMES {
        fans.push(seed_fan(api, name).await?);
    }
    // Written whole or not at all: a temporary file renamed over the name.
    let written = data_dir.join(format!("{DEMO_FANS_FILE}.tmp"));
    std::fs::write(&written, serde_json::to_vec_pretty(&fans)?)?;
    std::fs::rename(&written, &fans_file)?;
    Ok(fans)
}

async fn seed_catalog(api: &Api) -> std::io::Result<()> {
    let today = Utc::now().date_naive();
    for (title, price, days) in CATALOG {
        let dates: Vec<_> = days
            .iter()
            .map(|days| {
                let date = today.checked_add_days(Days::new(*days)).expect("a date this century");
                json!({ "date": date.to_string(), "seatCount": SEATS_PER_DATE, "price": price })
            })
            .collect();
        let concert = json!({ "title": title, "dates": dates });
        expect_ok(call(api, Method::POST, "/api/v1/admin/concerts", None, Some(concert)).await?)?;
    }
    Ok(())
}

/// A fan with money: registered, given a token to charge the wallet, and out of the queue again.
async fn seed_fan(api: &Api, name: &str) -> std::io::Result<DemoFan> {
    let user = expect_ok(call(api, Method::POST, "/api/v1/users", None, Some(json!({ "name": name }))).await?)?;
    let user_id = user.body["userId"].as_str().unwrap_or_default().to_string();
    let token = api.take_token(&user_id).await;
    let token = expect_ok(token.map_err(|unreachable| std::io::Error::other(unreachable.0))?)?;
    let token = token.body["token"].as_str().unwrap_or_default().to_string();
    let charge = json!({ "amount": DEMO_FAN_BALANCE });
    expect_ok(call(api, Method::POST, "/api/v1/wallet/charges", Some(&token), Some(charge)).await?)?;
    expect_ok(call(api, Method::DELETE, "/api/v1/queue/tokens/me", Some(&token), None).await?)?;
    Ok(DemoFan {
        name: name.to_string(),
        user_id,
    })
}

async fn call(
    api: &Api,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> std::io::Result<Reply> {
    api.call("demo", method, path, token, body.as_ref())
        .await
        .map_err(|unreachable| std::io::Error::other(unreachable.0))
}

fn expect_ok(reply: Reply) -> std::io::Result<Reply> {
    if reply.ok() {
        return Ok(reply);
    }
    Err(std::io::Error::other(format!(
        "seeding the demo was refused: {}",
        reply.body
    )))
}

fn print_welcome(base: &str, admin_key: &str, fans: &[DemoFan], crowd: usize, data_dir: &Path) {
    println!("listening on {base}");
    println!();
    println!("  fan page       {base}/");
    println!("  operator page  {base}/admin    admin key: {admin_key}");
    if !fans.is_empty() {
        println!("  demo fans with ₩{DEMO_FAN_BALANCE} each (open a link to be them):");
        for fan in fans {
            println!("    {:<9} {base}/?as={}", fan.name, fan.user_id);
        }
    }
    if crowd > 0 {
        println!("  a crowd of {crowd} simulated fans is on its way");
    }
    println!("  data dir       {}", data_dir.display());
}

/// `crowd` fans, each going through the whole journey at a human pace and then coming back as
/// someone new, for as long as the demo runs.
async fn start_crowd(api: Api, crowd: usize, think_time: Duration) {
    let venues = match venues(&api).await {
        Ok(venues) if !venues.is_empty() => venues,
        _ => {
            tracing::warn!("no concert to send the crowd to");
            return;
        }
    };
    let behaviour = Behaviour {
        abandon_ratio: 0.3,
        popular_share: 0.3,
        popular_seats: 5,
        hold_attempts: 3,
        poll_interval: Duration::from_secs(1),
        think_time,
        seats_left_min: SEATS_LEFT_FOR_PEOPLE,
        // Most fans buy one seat, some a pair, a few four: what a real crowd does.
        order_sizes: crate::loadtest::options::OrderMix(vec![(1, 6), (2, 3), (4, 1)]),
    };
    for fan in 0..crowd {
        let (api, venues, behaviour) = (api.clone(), venues.clone(), behaviour.clone());
        actix_web::rt::spawn(async move {
            let mut rng = StdRng::from_os_rng();
            // Arrivals spread over the first moments rather than all in the same instant.
            tokio::time::sleep(think_time.mul_f64(rng.random_range(0.0..3.0))).await;
            for round in 0.. {
                let venue = &venues[rng.random_range(0..venues.len())];
                journey::run(&api, venue, &behaviour, &mut rng, format!("Fan {fan}-{round}")).await;
                // A rest between two visits, so a crowd takes minutes, not seconds, to sell a date out.
                tokio::time::sleep(think_time.mul_f64(rng.random_range(5.0..15.0))).await;
            }
        });
    }
}

/// Every concert as a journey's venue. A journey reads a concert's dates live (the crowd must see
/// what is left), so the venue's own list, which only the harness's checks use, stays empty.
async fn venues(api: &Api) -> std::io::Result<Vec<Venue>> {
    let concerts = call(api, Method::GET, "/api/v1/concerts", None, None).await?;
    let venues = (concerts.body.as_array().into_iter().flatten())
        .filter_map(|concert| concert["concertId"].as_str())
        .map(|concert_id| Venue {
            concert_id: concert_id.to_string(),
            dates: Vec::new(),
            seats: SEATS_PER_DATE,
            price: 0,
        })
        .collect();
    Ok(venues)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> DemoOptions {
        let matches = DemoOptions::command().get_matches_from(args);
        let mut options = DemoOptions::from_arg_matches(&matches).unwrap();
        options.apply_demo_defaults(&matches);
        options
    }

    #[test]
    fn the_demo_keeps_its_own_data_dir_and_makes_an_admin_key_unless_told() {
        let options = parsed(&["demo"]);
        assert_eq!(options.server.data_dir, PathBuf::from(DEMO_DATA_DIR));
        assert_eq!(options.server.admin_key.as_ref().map(String::len), Some(32));
        assert_eq!(options.crowd, 0);

        let options = parsed(&[
            "demo",
            "--data-dir",
            "/tmp/elsewhere",
            "--admin-key",
            "operator-key-for-the-demo",
            "--crowd",
            "7",
            "--active-max",
            "3",
        ]);
        assert_eq!(options.server.data_dir, PathBuf::from("/tmp/elsewhere"));
        assert_eq!(options.server.admin_key.as_deref(), Some("operator-key-for-the-demo"));
        assert_eq!((options.crowd, options.server.active_max), (7, 3));
    }

    #[test]
    fn a_crowd_needs_a_pause_between_steps() {
        let refused = DemoOptions::command().try_get_matches_from(["demo", "--think-time", "0s"]);
        assert!(refused.is_err());
        assert_eq!(parse_think_time("150ms"), Ok(Duration::from_millis(150)));
    }
}
