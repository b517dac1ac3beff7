//! A per-user request budget on token-authenticated endpoints, so one client hammering the seat
//! map or the hold endpoint cannot crowd out the other fans.

use crate::domain::UserId;
use crate::error::{Error, ErrorCode, Result};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

pub struct UserRateLimiter {
    limiter: Option<DefaultKeyedRateLimiter<UserId>>,
}

impl UserRateLimiter {
    /// `per_second` requests a second with bursts of twice that; 0 turns the limit off.
    pub fn new(per_second: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(per_second.saturating_mul(2)).expect("twice a positive rate is positive");
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self { limiter }
    }

    pub fn check(&self, user: UserId) -> Result<()> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&user).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Error::new(ErrorCode::RateLimited, "Too many requests from this user; slow down.")
                .with_retry_after(wait.as_secs_f64().ceil() as u64)
        })
    }

    /// Forgets users whose budget is full again, so memory follows the active users.
    pub fn forget_idle_users(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
    }
}
