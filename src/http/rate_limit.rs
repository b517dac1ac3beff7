//! Request budgets: per user on token-authenticated endpoints, so one fan hammering the seat map
//! or the hold endpoint cannot crowd out the others, and per client on the endpoints that need no
//! token, so one script cannot mint users and tokens by the thousand.

use crate::clock::SharedClock;
use crate::domain::UserId;
use crate::error::{Error, ErrorCode, Result};
use chrono::{DateTime, Utc};
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

/// A budget per key: `per_second` requests a second with bursts of twice that.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: Option<RateLimiter<K, DefaultKeyedStateStore<K>, BudgetClock, NoOpMiddleware<Nanos>>>,
    /// Who is told to slow down, for the problem's detail.
    who: &'static str,
}

pub type UserRateLimiter = KeyedLimiter<UserId>;
pub type ClientRateLimiter = KeyedLimiter<IpAddr>;

impl UserRateLimiter {
    /// 0 turns the limit off.
    pub fn new(per_second: u32, clock: SharedClock) -> Self {
        KeyedLimiter::with_rate(per_second, "this user", clock)
    }
}

impl ClientRateLimiter {
    /// 0 turns the limit off.
    pub fn new(per_second: u32, clock: SharedClock) -> Self {
        KeyedLimiter::with_rate(per_second, "this client", clock)
    }
}

/// The budgets' time: the service's clock, like every other deadline, so that a test on an
/// injected clock sees no budget refill between its requests. A wall clock stepped back delays
/// the budgets' refills by as much; a time before the limiter's start reads as its start.
struct BudgetClock {
    clock: SharedClock,
    origin_nanos: i64,
}

impl BudgetClock {
    fn new(clock: SharedClock) -> Self {
        let origin_nanos = nanos_of(clock.now());
        Self { clock, origin_nanos }
    }
}

/// Nanoseconds since the epoch, saturating past 2262.
fn nanos_of(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

impl Clock for BudgetClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let since = nanos_of(self.clock.now()).saturating_sub(self.origin_nanos);
        Nanos::from(u64::try_from(since).unwrap_or(0))
    }
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    fn with_rate(per_second: u32, who: &'static str, clock: SharedClock) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(per_second.saturating_mul(2)).expect("twice a positive rate is positive");
            let quota = Quota::per_second(rate).allow_burst(burst);
            RateLimiter::new(quota, DefaultKeyedStateStore::default(), BudgetClock::new(clock))
        });
        Self { limiter, who }
    }

    pub fn check(&self, key: &K) -> Result<()> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            Error::new(
                ErrorCode::RateLimited,
                format!("Too many requests from {}; slow down.", self.who),
            )
            .with_retry_after(wait.as_secs_f64().ceil() as u64)
        })
    }

    /// Forgets keys whose budget is full again, so memory follows the active users and clients.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
    }
}
