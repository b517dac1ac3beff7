//! Request budgets: per user on token-authenticated endpoints, so one fan hammering the seat map
//! or the hold endpoint cannot crowd out the others, and per client on the endpoints that need no
//! token, so one script cannot mint users and tokens by the thousand.

use crate::domain::UserId;
use crate::error::{Error, ErrorCode, Result};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

/// A budget per key: `per_second` requests a second with bursts of twice that.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    /// Who is told to slow down, for the problem's detail.
    who: &'static str,
}

pub type UserRateLimiter = KeyedLimiter<UserId>;
pub type ClientRateLimiter = KeyedLimiter<IpAddr>;

impl UserRateLimiter {
    /// 0 turns the limit off.
    pub fn new(per_second: u32) -> Self {
        KeyedLimiter::with_rate(per_second, "this user")
    }
}

impl ClientRateLimiter {
    /// 0 turns the limit off.
    pub fn new(per_second: u32) -> Self {
        KeyedLimiter::with_rate(per_second, "this client")
    }
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    fn with_rate(per_second: u32, who: &'static str) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(per_second.saturating_mul(2)).expect("twice a positive rate is positive");
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self { limiter, who }
    }

    pub fn check(&self, key: &K) -> Result<()> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            // The limiter's own clock: a new one would calibrate itself first, which costs a
            // refused request tens of microseconds.
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
