//! A sold-out date's waiting list: fans in the order they joined, each known by an entry code
//! (a capability, like a ticket's), and the seat each was offered when one came back. The seat
//! map keeps it, so that a seat coming back and its offer are one decision.

use super::{ReservationId, UserId};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// The most fans one date's list holds: past it, joining is refused as a full waiting room is.
pub const WAITLIST_MAX: usize = 100_000;

/// An entry's code: 128 random bits, printed as 22 characters of URL-safe base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryCode([u8; 16]);

impl EntryCode {
    pub fn random() -> Self {
        Self(rand::random())
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub fn bytes(&self) -> [u8; 16] {
        self.0
    }

    /// Reads a code a client sent; anything that is not 22 characters of URL-safe base64 of
    /// 16 bytes is no code.
    pub fn from_client(text: &str) -> Option<Self> {
        super::ids::code_from_client(text).map(Self)
    }
}

impl fmt::Display for EntryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::ids::code_to_text(&self.0))
    }
}

impl serde::Serialize for EntryCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for EntryCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_client(&text).ok_or_else(|| serde::de::Error::custom("not an entry code"))
    }
}

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EntryState {
    /// In line for a seat.
    Waiting,
    /// Offered the seat this hold (in the fan's name) is on.
    Offered(ReservationId),
    /// Paid the offer: done.
    Bought(ReservationId),
    /// Let the offer lapse or gave it back: done, the seat went to the next.
    Lapsed(ReservationId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub code: EntryCode,
    pub user: UserId,
    pub joined_at: DateTime<Utc>,
    pub state: EntryState,
}

/// The list, in the order fans joined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waitlist {
    entries: Vec<Entry>,
    by_code: HashMap<EntryCode, usize>,
    by_offer: HashMap<ReservationId, usize>,
    /// The fans waiting or offered a seat: a join is refused for one of them without a walk of
    /// the list.
    listed: HashSet<UserId>,
    /// Entries before this one wait no more.
    first_waiting: usize,
}

impl Waitlist {
    /// The list a snapshot kept, entries in the order they joined.
    pub fn restore(entries: Vec<Entry>) -> Self {
        let mut list = Self::default();
        for entry in entries {
            list.push(entry);
        }
        list
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn push(&mut self, entry: Entry) {
        let index = self.entries.len();
        assert!(
            self.by_code.insert(entry.code, index).is_none(),
            "an entry code is used once"
        );
        if let EntryState::Offered(reservation) = entry.state {
            self.by_offer.insert(reservation, index);
        }
        if matches!(entry.state, EntryState::Waiting | EntryState::Offered(_)) {
            self.listed.insert(entry.user);
        }
        self.entries.push(entry);
        self.skip_to_waiting();
    }

    /// Adds a fan at the back.
    pub fn join(&mut self, code: EntryCode, user: UserId, at: DateTime<Utc>) {
        self.push(Entry {
            code,
            user,
            joined_at: at,
            state: EntryState::Waiting,
        });
    }

    /// Whether the user is on the list and not done.
    pub fn is_listed(&self, user: UserId) -> bool {
        self.listed.contains(&user)
    }

    /// Every entry ever made, done ones included: what bounds the list.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first entry still waiting for a seat.
    pub fn next_waiting(&self) -> Option<&Entry> {
        self.entries.get(self.first_waiting)
    }

    /// Offers the hold `reservation` to the entry `code`, which must be the first waiting: offers
    /// go in the order fans joined, so every entry from the first waiting on still waits.
    pub fn offer(&mut self, code: EntryCode, reservation: ReservationId) {
        let index = self.by_code[&code];
        assert_eq!(index, self.first_waiting, "an offer goes to the first waiting entry");
        self.entries[index].state = EntryState::Offered(reservation);
        self.by_offer.insert(reservation, index);
        self.skip_to_waiting();
    }

    /// Whether the hold `reservation` is an offer still standing (being paid included).
    pub fn is_offer(&self, reservation: ReservationId) -> bool {
        self.by_offer.contains_key(&reservation)
    }

    /// The hold `reservation` ended: bought, or not. False if it was no offer.
    pub fn offer_ended(&mut self, reservation: ReservationId, bought: bool) -> bool {
        let Some(index) = self.by_offer.remove(&reservation) else {
            return false;
        };
        self.entries[index].state = match bought {
            true => EntryState::Bought(reservation),
            false => EntryState::Lapsed(reservation),
        };
        self.listed.remove(&self.entries[index].user);
        true
    }

    /// The entry `code`, and its 1-based place among those still waiting (0 once it waits no
    /// more). Every entry from the first waiting on waits, so the place is a subtraction: a fan
    /// reading it every few seconds costs nothing however long the list.
    pub fn entry(&self, code: EntryCode) -> Option<(&Entry, u64)> {
        let index = *self.by_code.get(&code)?;
        let entry = &self.entries[index];
        let position = match entry.state {
            EntryState::Waiting => (index - self.first_waiting) as u64 + 1,
            _ => 0,
        };
        Some((entry, position))
    }

    /// Whether any fan waits for a seat.
    pub fn has_waiting(&self) -> bool {
        self.next_waiting().is_some()
    }

    fn skip_to_waiting(&mut self) {
        while (self.entries.get(self.first_waiting)).is_some_and(|entry| entry.state != EntryState::Waiting) {
            self.first_waiting += 1;
        }
    }
}
