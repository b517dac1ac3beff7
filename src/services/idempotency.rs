//! Runs keyed requests at most once: the first answer is remembered and replayed to retries; two
//! concurrent requests with one key are serialized so the second sees the first's answer.

use crate::clock::SharedClock;
use crate::domain::idempotency::{Answer, IdempotencyStore, Recall, Scope};
use crate::error::{Error, ErrorCode};
use crate::services::keyed_locks::KeyedLocks;
use chrono::Duration;
use parking_lot::Mutex;
use std::future::Future;

/// How long an answer is remembered.
pub const RETENTION: Duration = Duration::hours(24);

pub struct Idempotency {
    store: Mutex<IdempotencyStore>,
    in_flight: KeyedLocks<Scope>,
    clock: SharedClock,
}

impl Idempotency {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            store: Mutex::new(IdempotencyStore::new(RETENTION)),
            in_flight: KeyedLocks::default(),
            clock,
        }
    }

    /// Answers from memory when `scope` was answered before with the same `fingerprint`, runs
    /// `work` otherwise and remembers its answer unless it is a 5xx.
    pub async fn run<F, Fut>(&self, scope: Scope, fingerprint: String, work: F) -> Answer
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Answer>,
    {
        let key = scope.clone();
        self.in_flight.run(&key, self.run_alone(scope, fingerprint, work)).await
    }

    /// The remembered answer to `scope`, without running anything: for a retry that can no
    /// longer do the work (a payment's retry, whose token the payment ended). A first request
    /// still under way is waited for, so its answer is found.
    pub async fn replay(&self, scope: &Scope, fingerprint: &str) -> Option<Answer> {
        let recall = || match self.store.lock().recall(scope, fingerprint) {
            Recall::Replay(answer) => Some(answer),
            Recall::Mismatch => Some(Err(key_reused())),
            Recall::Unknown => None,
        };
        self.in_flight.run(scope, async { recall() }).await
    }

    async fn run_alone<F, Fut>(&self, scope: Scope, fingerprint: String, work: F) -> Answer
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Answer>,
    {
        let recalled = self.store.lock().recall(&scope, &fingerprint);
        match recalled {
            Recall::Replay(answer) => answer,
            Recall::Mismatch => Err(key_reused()),
            Recall::Unknown => {
                let answer = work().await;
                if is_kept(&answer) {
                    let now = self.clock.now();
                    let mut store = self.store.lock();
                    store.forget_expired(now);
                    store.remember(scope, fingerprint, answer.clone(), now);
                }
                answer
            }
        }
    }
}

fn key_reused() -> Error {
    Error::new(
        ErrorCode::IdempotencyKeyReused,
        "This Idempotency-Key was already used with a different request body.",
    )
}

/// 5xx answers are not kept: the work may succeed on a retry.
fn is_kept(answer: &Answer) -> bool {
    match answer {
        Ok(_) => true,
        Err(error) => error.code.status() < 500,
    }
}
