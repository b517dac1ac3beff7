//! Runs keyed requests at most once: the first answer is remembered and replayed to retries; two
//! concurrent requests with one key are serialized so the second sees the first's answer.
//!
//! A request that changes state has its answer journaled in the same entry as the change, by the
//! actor that makes it (an [`AnswerSlot`] travels with the command), so no crash can leave the
//! change on disk without its answer and let a retry do the work twice. Answers that change
//! nothing (a refusal) are journaled on their own.

use crate::actors::keyed::Keyed;
use crate::clock::SharedClock;
use crate::domain::idempotency::{Answer, AnswerRecord, IdempotencyStore, Recall, Scope, KEYS_PER_USER_MAX};
use crate::domain::UserId;
use crate::error::{Error, ErrorCode};
use crate::persistence::log::{Partition, PartitionWriter, SharedLog};
use crate::persistence::{Change, Part};
use crate::services::keyed_locks::KeyedLocks;
use chrono::Duration;
use parking_lot::Mutex;
use sha2::Digest;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

/// What a user at the key limit is told to wait: keys free up one by one as the oldest expire.
const KEY_SLOT_RETRY_SECONDS: u64 = 60;

/// How long an answer is remembered.
pub const RETENTION: Duration = Duration::hours(24);

/// The answers and their journal stream, changed together.
struct Book {
    store: IdempotencyStore,
    stream: PartitionWriter,
    /// Keys whose work is under way and whose answer is not kept yet: they count against their
    /// user's limit as if kept.
    under_way: HashSet<Scope>,
    under_way_per_user: HashMap<UserId, u32>,
}

impl Book {
    /// Counts a new key as under way, unless its user has as many as allowed.
    fn reserve(&mut self, scope: &Scope) -> Result<(), Error> {
        let user = scope.user;
        let under_way = self.under_way_per_user.get(&user).copied().unwrap_or(0);
        if self.store.kept_for(user) + under_way >= KEYS_PER_USER_MAX {
            return Err(Error::new(
                ErrorCode::RateLimited,
                "This user has 1,000 Idempotency-Keys remembered, the most allowed; each is forgotten 24 hours after its use.",
            )
            .with_retry_after(KEY_SLOT_RETRY_SECONDS));
        }
        self.under_way.insert(scope.clone());
        *self.under_way_per_user.entry(user).or_insert(0) += 1;
        Ok(())
    }

    /// The key is kept, or its work ended without an answer to keep: it is no longer under way.
    fn settle(&mut self, scope: &Scope) {
        if !self.under_way.remove(scope) {
            return;
        }
        let count = self
            .under_way_per_user
            .get_mut(&scope.user)
            .expect("counted when reserved");
        *count -= 1;
        if *count == 0 {
            self.under_way_per_user.remove(&scope.user);
        }
    }

    fn keep(&mut self, record: &AnswerRecord) {
        self.store.remember_once(record);
        self.settle(&record.scope);
    }
}

/// A key under way, settled however its work ends.
struct UnderWay {
    book: Arc<Mutex<Book>>,
    scope: Scope,
}

impl Drop for UnderWay {
    fn drop(&mut self) {
        self.book.lock().settle(&self.scope);
    }
}

pub struct Idempotency {
    book: Arc<Mutex<Book>>,
    in_flight: KeyedLocks<Scope>,
    clock: SharedClock,
}

impl Idempotency {
    /// The answers recovered, continuing their journal stream.
    pub fn restore(answers: Part<IdempotencyStore>, log: SharedLog, clock: SharedClock) -> Self {
        Self {
            book: Arc::new(Mutex::new(Book {
                stream: PartitionWriter::new(log, Partition::Answers, answers.seq),
                store: answers.state,
                under_way: HashSet::new(),
                under_way_per_user: HashMap::new(),
            })),
            in_flight: KeyedLocks::default(),
            clock,
        }
    }

    /// Every remembered answer, for a snapshot.
    pub fn image(&self) -> Part<IdempotencyStore> {
        let book = self.book.lock();
        Part {
            seq: book.stream.seq(),
            state: book.store.clone(),
        }
    }

    /// Answers from memory when `scope` was answered before with the same `fingerprint`, runs
    /// `work` otherwise and remembers its answer unless it is a 5xx.
    pub async fn run<F, Fut>(&self, scope: Scope, fingerprint: String, work: F) -> Answer
    where
        F: FnOnce(Option<AnswerSlot>) -> Fut,
        Fut: Future<Output = Answer>,
    {
        let key = scope.clone();
        self.in_flight.run(&key, self.run_alone(scope, fingerprint, work)).await
    }

    /// The remembered answer to `scope`, without running anything: for a retry that can no
    /// longer do the work (a payment's retry, whose token the payment ended). A first request
    /// still under way is waited for, so its answer is found.
    pub async fn replay(&self, scope: &Scope, fingerprint: &str) -> Option<Answer> {
        let recall = || match self.book.lock().store.recall(scope, fingerprint) {
            Recall::Replay(answer) => Some(answer),
            Recall::Mismatch => Some(Err(key_reused())),
            Recall::Unknown => None,
        };
        self.in_flight.run(scope, async { recall() }).await
    }

    async fn run_alone<F, Fut>(&self, scope: Scope, fingerprint: String, work: F) -> Answer
    where
        F: FnOnce(Option<AnswerSlot>) -> Fut,
        Fut: Future<Output = Answer>,
    {
        let recalled = self.book.lock().store.recall(&scope, &fingerprint);
        match recalled {
            Recall::Replay(answer) => answer,
            Recall::Mismatch => Err(key_reused()),
            Recall::Unknown => {
                self.book.lock().reserve(&scope)?;
                let _under_way = UnderWay {
                    book: self.book.clone(),
                    scope: scope.clone(),
                };
                let slot = AnswerSlot {
                    scope: scope.clone(),
                    fingerprint: fingerprint.clone(),
                    book: self.book.clone(),
                    clock: self.clock.clone(),
                };
                let answer = work(Some(slot)).await;
                let filled = self.book.lock().store.recall(&scope, &fingerprint) != Recall::Unknown;
                if is_kept(&answer) && !filled {
                    self.remember(scope, fingerprint, answer.clone()).await?;
                }
                answer
            }
        }
    }

    /// Keeps the answer, durably: a retry after a crash must find it rather than do the work
    /// again.
    async fn remember(&self, scope: Scope, fingerprint: String, answer: Answer) -> Result<(), Error> {
        let record = AnswerRecord {
            scope,
            fingerprint,
            answer,
            at: self.clock.now(),
        };
        let commit = {
            let mut book = self.book.lock();
            book.store.apply(&record);
            book.settle(&record.scope);
            book.stream.append([Change::Answered(record)])
        };
        commit.durable().await
    }
}

/// Where the answer to a keyed request goes.
pub struct AnswerSlot {
    scope: Scope,
    fingerprint: String,
    book: Arc<Mutex<Book>>,
    clock: SharedClock,
}

impl AnswerSlot {
    /// An id the same for every run of this keyed request and no other: work done under it
    /// elsewhere (a hold on a date served by another node) is found again by a retry whose
    /// answer was never kept, instead of being done twice.
    pub fn work_id(&self) -> uuid::Uuid {
        let named = format!(
            "concert-keyed-work:{}:{:?}:{}:{}",
            self.scope.user,
            self.scope.endpoint,
            self.scope.key.as_str(),
            self.fingerprint
        );
        let digest = sha2::Sha256::digest(named.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    }

    /// The slot as an actor takes it: `render` makes the answer from the actor's reply.
    pub fn keyed<T>(self, render: impl FnOnce(&T) -> Answer + Send + 'static) -> Keyed<T> {
        Keyed::new(move |reply, work| self.seal(render(reply), work))
    }

    /// Remembers `answer` and joins it to `work`, the change that made it, for the journal.
    fn seal(self, answer: Answer, work: Change) -> Change {
        if !is_kept(&answer) {
            return work;
        }
        let record = AnswerRecord {
            scope: self.scope,
            fingerprint: self.fingerprint,
            answer,
            at: self.clock.now(),
        };
        self.book.lock().keep(&record);
        Change::Keyed {
            work: Box::new(work),
            answer: record,
        }
    }
}

fn key_reused() -> Error {
    Error::new(
        ErrorCode::IdempotencyKeyReused,
        "This Idempotency-Key was already used with a different request body.",
    )
}

/// 5xx answers are not kept: the work may succeed on a retry. Nor is a 401 or a
/// CHALLENGE_REQUIRED: they speak of the token or the proof of work the request came with, not of
/// the work, and a retry with a live token or a fresh solution deserves a try.
fn is_kept(answer: &Answer) -> bool {
    match answer {
        Ok(_) => true,
        Err(error) => {
            error.code.status() < 500 && error.code.status() != 401 && error.code != ErrorCode::ChallengeRequired
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::domain::idempotency::{Endpoint, IdempotencyKey, StoredResponse};
    use crate::domain::UserId;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn scope() -> Scope {
        let key = IdempotencyKey::parse("key-1").unwrap();
        Scope {
            user: UserId::random(),
            endpoint: Endpoint::Payments,
            key,
        }
    }

    fn idempotency() -> (Idempotency, tempfile::TempDir) {
        let (log, dir) = crate::persistence::scratch_log();
        let answers = Part {
            seq: 0,
            state: IdempotencyStore::new(RETENTION),
        };
        (Idempotency::restore(answers, log, Arc::new(SystemClock)), dir)
    }

    /// Runs `answer` under `scope` and counts how often the work really ran.
    async fn run_counting(idempotency: &Idempotency, scope: &Scope, runs: &AtomicUsize, answer: Answer) -> Answer {
        idempotency
            .run(scope.clone(), "body".into(), |_| async {
                runs.fetch_add(1, Ordering::SeqCst);
                answer
            })
            .await
    }

    #[tokio::test]
    async fn a_success_or_a_conflict_is_answered_again_without_running_again() {
        let (idempotency, _dir) = idempotency();
        let runs = AtomicUsize::new(0);
        let created = Ok(StoredResponse {
            status: 201,
            body: "{}".into(),
        });
        for answer in [created, Err(Error::new(ErrorCode::InsufficientBalance, "short"))] {
            let scope = scope();
            let first = run_counting(&idempotency, &scope, &runs, answer.clone()).await;
            let again = run_counting(
                &idempotency,
                &scope,
                &runs,
                Ok(StoredResponse {
                    status: 200,
                    body: "[]".into(),
                }),
            )
            .await;
            assert_eq!(first, again);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_token_or_proof_refusal_or_a_server_error_is_not_remembered() {
        let (idempotency, _dir) = idempotency();
        let runs = AtomicUsize::new(0);
        let refusals = [
            Error::new(ErrorCode::TokenInvalid, "dead"),
            Error::unavailable(),
            Error::new(ErrorCode::ChallengeRequired, "no proof"),
        ];
        for refusal in refusals {
            let scope = scope();
            let first = run_counting(&idempotency, &scope, &runs, Err(refusal.clone())).await;
            assert_eq!(first, Err(refusal));
            let retry = run_counting(
                &idempotency,
                &scope,
                &runs,
                Ok(StoredResponse {
                    status: 201,
                    body: "{}".into(),
                }),
            )
            .await;
            assert_eq!(retry.unwrap().status, 201);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 6);
    }

    /// The work id a run of `scope` with `fingerprint` is given; the run fails unkept, as a run
    /// whose engine died before it kept the answer.
    async fn work_id_of(idempotency: &Idempotency, scope: &Scope, fingerprint: &str) -> uuid::Uuid {
        let seen = parking_lot::Mutex::new(None);
        let _ = idempotency
            .run(scope.clone(), fingerprint.into(), |slot| async {
                *seen.lock() = slot.map(|slot| slot.work_id());
                Err(Error::unavailable())
            })
            .await;
        seen.into_inner().expect("a keyed run has a slot")
    }

    #[tokio::test]
    async fn a_retry_whose_answer_was_never_kept_does_its_work_under_the_same_id() {
        let (idempotency, _dir) = idempotency();
        let scope = scope();
        let first = work_id_of(&idempotency, &scope, "body").await;
        assert_eq!(work_id_of(&idempotency, &scope, "body").await, first);
        assert_ne!(work_id_of(&idempotency, &scope, "another body").await, first);
        let another_key = Scope {
            key: IdempotencyKey::parse("key-2").unwrap(),
            ..scope.clone()
        };
        assert_ne!(work_id_of(&idempotency, &another_key, "body").await, first);
        let another_fan = Scope {
            user: UserId::random(),
            ..scope
        };
        assert_ne!(work_id_of(&idempotency, &another_fan, "body").await, first);
    }
}
