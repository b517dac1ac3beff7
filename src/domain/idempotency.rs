//! Idempotency records: the first answer to a request made with an `Idempotency-Key`, kept per
//! user and endpoint for `retention`, so a retry gets that answer instead of doing the work again.

use super::UserId;
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};

pub const KEY_LENGTH_MAX: usize = 64;

/// A client's idempotency key: 1..=64 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<Self> {
        let visible = text.bytes().all(|b| b.is_ascii_graphic());
        if text.is_empty() || text.len() > KEY_LENGTH_MAX || !visible {
            return Err(Error::invalid_request(
                "Idempotency-Key must be 1 to 64 visible ASCII characters.",
            ));
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The endpoints that honour idempotency keys. On disk each is a number of its own (see
/// `persistence::format`), so this list may be reordered freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Charges,
    Reservations,
    Payments,
    QueueTokens,
    /// A token in a sale's room: a key used for the site-wide room's token is another scope.
    SaleQueueTokens,
    /// A waiting-list offer paid by its entry's code.
    OfferPayments,
}

/// Keys are scoped to the user and the endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub user: UserId,
    pub endpoint: Endpoint,
    pub key: IdempotencyKey,
}

/// A successful answer as it went out: its status and JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// The first answer to a keyed request, errors included (5xx excepted: those are not kept).
pub type Answer = std::result::Result<StoredResponse, Error>;

impl StoredResponse {
    /// `value` as a JSON answer with `status`.
    pub fn json(status: u16, value: &impl Serialize) -> Answer {
        let body = serde_json::to_string(value).map_err(Error::internal)?;
        Ok(Self { status, body })
    }
}

/// What the store knows of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Recall {
    /// Never seen: do the work.
    Unknown,
    /// Seen with the same body: answer this.
    Replay(Answer),
    /// Seen with a different body.
    Mismatch,
}

/// A remembered answer and the fingerprint of the request it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub fingerprint: String,
    pub answer: Answer,
}

/// One remembered answer as the journal keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRecord {
    pub scope: Scope,
    pub fingerprint: String,
    pub answer: Answer,
    pub at: DateTime<Utc>,
}

/// Keys one user may have remembered at once: past it a script minting a key per request would
/// grow the store by a kilobyte a request for a day.
pub const KEYS_PER_USER_MAX: u32 = 1_000;

/// Remembered answers, forgotten oldest first once older than `retention`.
#[derive(Debug, Clone)]
pub struct IdempotencyStore {
    retention: Duration,
    entries: HashMap<Scope, Entry>,
    by_age: VecDeque<(DateTime<Utc>, Scope)>,
    /// Answers kept per user; counted from `entries`, so not in an image.
    per_user: HashMap<UserId, u32>,
}

/// The store as snapshots keep it: its fields but the derived counts.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreImage {
    pub retention: Duration,
    /// In no particular order.
    pub entries: Vec<(Scope, Entry)>,
    /// Oldest first: each kept answer's scope and when it was remembered.
    pub by_age: VecDeque<(DateTime<Utc>, Scope)>,
}

impl IdempotencyStore {
    pub fn new(retention: Duration) -> Self {
        Self {
            retention,
            entries: HashMap::new(),
            by_age: VecDeque::new(),
            per_user: HashMap::new(),
        }
    }

    /// The store as a snapshot keeps it.
    pub fn image(&self) -> StoreImage {
        StoreImage {
            retention: self.retention,
            entries: (self.entries.iter())
                .map(|(scope, entry)| (scope.clone(), entry.clone()))
                .collect(),
            by_age: self.by_age.clone(),
        }
    }

    /// The store a snapshot kept.
    pub fn restore(image: StoreImage) -> Self {
        assert_eq!(
            image.entries.len(),
            image.by_age.len(),
            "every kept answer has its age, once"
        );
        let mut per_user = HashMap::new();
        for (scope, _) in &image.entries {
            *per_user.entry(scope.user).or_insert(0) += 1;
        }
        Self {
            retention: image.retention,
            entries: image.entries.into_iter().collect(),
            by_age: image.by_age,
            per_user,
        }
    }

    /// Answers kept for `user` now.
    pub fn kept_for(&self, user: UserId) -> u32 {
        self.per_user.get(&user).copied().unwrap_or(0)
    }

    pub fn recall(&self, scope: &Scope, fingerprint: &str) -> Recall {
        match self.entries.get(scope) {
            None => Recall::Unknown,
            Some(entry) if entry.fingerprint == fingerprint => Recall::Replay(entry.answer.clone()),
            Some(_) => Recall::Mismatch,
        }
    }

    /// Keeps the first answer to `scope`; a later one for the same scope is a bug of the caller.
    pub fn remember(&mut self, scope: Scope, fingerprint: String, answer: Answer, now: DateTime<Utc>) {
        let previous = self.entries.insert(scope.clone(), Entry { fingerprint, answer });
        assert!(previous.is_none(), "an idempotency key is answered once");
        *self.per_user.entry(scope.user).or_insert(0) += 1;
        // Live answers come in time order and go last; on replay an answer kept with the change
        // it answers comes with its partition's log, so it may be older than some kept already.
        let place = self.by_age.partition_point(|(at, _)| *at <= now);
        self.by_age.insert(place, (now, scope));
    }

    /// Remembers an answer as `remember` did live: what had expired by then is forgotten first,
    /// so a key reused after its retention is accepted on replay as it was live.
    pub fn apply(&mut self, record: &AnswerRecord) {
        self.forget_expired(record.at);
        let answer = record.answer.clone();
        self.remember(record.scope.clone(), record.fingerprint.clone(), answer, record.at);
    }

    /// Remembers an answer unless one is already kept for its scope: an answer written with the
    /// change it answers may reach the store twice on replay (in a snapshot and in the journal).
    pub fn remember_once(&mut self, record: &AnswerRecord) {
        self.forget_expired(record.at);
        if !self.entries.contains_key(&record.scope) {
            self.remember(
                record.scope.clone(),
                record.fingerprint.clone(),
                record.answer.clone(),
                record.at,
            );
        }
    }

    pub fn forget_expired(&mut self, now: DateTime<Utc>) {
        while let Some((at, _)) = self.by_age.front() {
            if *at + self.retention > now {
                break;
            }
            let (_, scope) = self.by_age.pop_front().expect("checked above");
            self.entries.remove(&scope);
            self.uncount(scope.user);
        }
    }

    fn uncount(&mut self, user: UserId) {
        let count = self.per_user.get_mut(&user).expect("a kept answer is counted");
        *count -= 1;
        if *count == 0 {
            self.per_user.remove(&user);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every remembered answer, in no particular order.
    pub fn answers(&self) -> impl Iterator<Item = (&Scope, &Answer)> + '_ {
        self.entries.iter().map(|(scope, entry)| (scope, &entry.answer))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A SHA-256 of the request body in a form where key order and white space do not matter, so
/// the same JSON sent twice is recognised as the same request while only 64 characters are kept.
pub fn fingerprint(body: &[u8]) -> String {
    let canonical = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => canonical(&value),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    super::ids::hex(&Sha256::digest(canonical.as_bytes()))
}

fn canonical(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut fields: Vec<_> = map.iter().collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = fields
                .into_iter()
                .map(|(key, value)| format!("{}:{}", serde_json::Value::from(key.as_str()), canonical(value)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        serde_json::Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-24T10:00:00Z".parse().unwrap()
    }

    fn scope(key: &str) -> Scope {
        Scope {
            user: UserId::from_uuid(uuid::Uuid::nil()),
            endpoint: Endpoint::Charges,
            key: IdempotencyKey::parse(key).unwrap(),
        }
    }

    fn answer(status: u16) -> Answer {
        Ok(StoredResponse {
            status,
            body: "{}".into(),
        })
    }

    #[test]
    fn keys_are_one_to_sixty_four_visible_ascii_characters() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(64)).is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(65)).is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse("키").is_err());
    }

    #[test]
    fn the_same_body_replays_and_a_different_body_is_a_mismatch() {
        let mut store = IdempotencyStore::new(Duration::hours(24));
        let body = fingerprint(br#"{"amount": 5, "x": [1, {"b":1,"a":2}]}"#);
        assert_eq!(store.recall(&scope("k1"), &body), Recall::Unknown);
        store.remember(scope("k1"), body.clone(), answer(200), now());
        let same = fingerprint(br#"{"x":[1,{"a":2,"b":1}],"amount":5}"#);
        assert_eq!(store.recall(&scope("k1"), &same), Recall::Replay(answer(200)));
        assert_eq!(
            store.recall(&scope("k1"), &fingerprint(br#"{"amount": 6}"#)),
            Recall::Mismatch
        );
        assert_eq!(store.recall(&scope("k2"), &body), Recall::Unknown);
        assert_eq!(body.len(), 64);
    }

    #[test]
    fn answers_are_counted_per_user_through_a_snapshot_and_forgetting() {
        let mut store = IdempotencyStore::new(Duration::hours(24));
        let other = Scope {
            user: UserId::from_uuid(uuid::Uuid::from_u128(1)),
            ..scope("x")
        };
        store.remember(scope("a"), "a".into(), answer(201), now());
        store.remember(other.clone(), "x".into(), answer(201), now());
        store.remember(scope("b"), "b".into(), answer(201), now() + Duration::hours(1));
        let mut restored = IdempotencyStore::restore(store.image());
        assert_eq!(
            (restored.kept_for(scope("a").user), restored.kept_for(other.user)),
            (2, 1)
        );
        restored.forget_expired(now() + Duration::hours(24));
        assert_eq!(
            (restored.kept_for(scope("a").user), restored.kept_for(other.user)),
            (1, 0)
        );
    }

    #[test]
    fn answers_are_kept_for_the_retention_and_then_forgotten() {
        let mut store = IdempotencyStore::new(Duration::hours(24));
        store.remember(scope("old"), "a".into(), answer(201), now());
        store.remember(scope("new"), "b".into(), answer(201), now() + Duration::hours(1));
        store.forget_expired(now() + Duration::hours(23));
        assert_eq!(store.len(), 2);
        store.forget_expired(now() + Duration::hours(24));
        assert_eq!(store.recall(&scope("old"), "a"), Recall::Unknown);
        assert_eq!(store.recall(&scope("new"), "b"), Recall::Replay(answer(201)));
    }
}
