//! Recovery at start, partition by partition through a [`LogReader`]: each partition's newest
//! snapshot, then every entry of its own log after it through the same `apply` that live
//! requests use, and nothing else. A payment a crash cut in half is finished by the actors when
//! they start, as the payment itself would have finished it.

use super::data_dir::DataDir;
use super::file_log::FileReader;
pub use super::file_log::Report;
use super::format::UnknownVersion;
use super::frame::Damage;
use super::log::{LogReader, PartState, Partition};
use super::{Change, Entry, Image, Part};
use crate::domain::concert::{ConcertRecord, DateKey};
use crate::domain::idempotency::IdempotencyStore;
use crate::domain::sale::{room_number_of, SaleRecord};
use crate::domain::seat_map::{RecordedPayment, ReservationStatus, SeatMap};
use crate::domain::user::User;
use crate::domain::waiting_room::{WaitingRoom, WaitingRoomLimits, PAID_TOKEN_MEMORY};
use crate::domain::wallet::{Wallet, WalletLimits};
use crate::domain::{ConcertId, Token, UserId};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::path::PathBuf;

/// The limits configured now; replay itself never depends on them.
#[derive(Debug, Clone)]
pub struct Limits {
    pub room: WaitingRoomLimits,
    pub wallet: WalletLimits,
    pub answer_retention: chrono::Duration,
}

/// The whole state, as recovery rebuilds it and the services start from it.
#[derive(Clone)]
pub struct State {
    pub users: Part<Vec<User>>,
    pub concerts: Part<Vec<ConcertRecord>>,
    pub dates: HashMap<DateKey, Part<SeatMap>>,
    pub room: Part<WaitingRoom>,
    pub wallet: Part<Wallet>,
    pub answers: Part<IdempotencyStore>,
    pub sales: Part<Vec<SaleRecord>>,
    pub sale_rooms: HashMap<ConcertId, Part<WaitingRoom>>,
    /// The limits a sale's room begins under (its `active_max` is its own).
    room_limits: WaitingRoomLimits,
}

/// Why the state cannot be recovered; the server refuses to start rather than lose writes.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("reading the data dir: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "the journal segment {} cannot be read past byte {offset} ({damage}), {found}: cutting it there would lose acknowledged writes, so the server refuses to start and has changed nothing on disk (see \"Damage on disk\" in the README)",
        path.display()
    )]
    DamagedSegment {
        segment: u64,
        path: PathBuf,
        /// Where the first damaged record starts.
        offset: u64,
        damage: Damage,
        found: Corruption,
    },
    #[error(
        "{} is of {version}: the server refuses to start and has changed nothing on disk; start it with a build that reads that version",
        path.display()
    )]
    UnknownVersion { path: PathBuf, version: UnknownVersion },
    #[error("the log of partition {partition}: {problem}")]
    Inconsistent { partition: String, problem: String },
    #[error("no snapshot could be read and the journal no longer starts at the beginning (segment {first})")]
    NoStartingPoint { first: u64 },
}

/// What makes damage in the journal corruption rather than a torn tail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    #[error("and a whole record follows at byte {0}")]
    RecordFollows(u64),
    #[error("and segment {0} follows it")]
    SegmentFollows(u64),
    #[error("which another version of the server wrote")]
    OtherFormat,
}

impl State {
    pub fn empty(limits: &Limits) -> Self {
        Self {
            users: Part {
                seq: 0,
                state: Vec::new(),
            },
            concerts: Part {
                seq: 0,
                state: Vec::new(),
            },
            dates: HashMap::new(),
            room: Part {
                seq: 0,
                state: WaitingRoom::new(limits.room.clone()),
            },
            wallet: Part {
                seq: 0,
                state: Wallet::new(limits.wallet),
            },
            answers: Part {
                seq: 0,
                state: IdempotencyStore::new(limits.answer_retention),
            },
            sales: Part {
                seq: 0,
                state: Vec::new(),
            },
            sale_rooms: HashMap::new(),
            room_limits: limits.room.clone(),
        }
    }

    pub fn from_image(image: Image, limits: &Limits) -> Self {
        let mut state = Self::empty(limits);
        for (partition, part) in image.into_parts() {
            state.restore(partition, part, limits);
        }
        state
    }

    /// Puts a partition's snapshot in place.
    fn restore(&mut self, partition: Partition, part: Part<PartState>, limits: &Limits) {
        let seq = part.seq;
        match (partition, part.state) {
            (Partition::Users, PartState::Users(users)) => self.users = Part { seq, state: users },
            (Partition::Catalog, PartState::Catalog(concerts)) => {
                // A date has no snapshot of its own until its writer keeps one (in a cluster,
                // the node serving it does, apart from the catalog's), and the catalog's entries
                // that created it may be gone: its concert creates it afresh, and its own
                // entries follow. A date's own snapshot, restored before or after, wins.
                for concert in &concerts {
                    add_dates(&mut self.dates, concert);
                }
                self.concerts = Part { seq, state: concerts }
            }
            (Partition::Room, PartState::Room(image)) => {
                let state = WaitingRoom::restore(limits.room.clone(), image);
                self.room = Part { seq, state };
            }
            (Partition::Wallet, PartState::Wallet(wallet)) => {
                let state = wallet.with_limits(limits.wallet);
                self.wallet = Part { seq, state };
            }
            (Partition::Answers, PartState::Answers(answers)) => self.answers = Part { seq, state: answers },
            (Partition::Date(key), PartState::Date(map)) => {
                self.dates.insert(key, Part { seq, state: map });
            }
            (Partition::Sales, PartState::Sales(sales)) => {
                // As for the dates: a sale's room begins from its record until its own
                // snapshot, restored before or after, takes its place.
                for sale in &sales {
                    add_sale_room(&mut self.sale_rooms, sale, limits.room.clone());
                }
                self.sales = Part { seq, state: sales }
            }
            (Partition::Sale(concert), PartState::SaleRoom(image)) => {
                let state = WaitingRoom::restore(limits.room.clone(), image);
                self.sale_rooms.insert(concert, Part { seq, state });
            }
            (partition, state) => panic!("partition {partition} holds the state of another: {state:?}"),
        }
    }

    /// The number of `partition`'s last entry this state holds; 0 for a date it does not know.
    pub fn seq_of(&self, partition: Partition) -> u64 {
        match partition {
            Partition::Users => self.users.seq,
            Partition::Catalog => self.concerts.seq,
            Partition::Room => self.room.seq,
            Partition::Wallet => self.wallet.seq,
            Partition::Answers => self.answers.seq,
            Partition::Date(key) => self.dates.get(&key).map_or(0, |part| part.seq),
            Partition::Sales => self.sales.seq,
            Partition::Sale(concert) => self.sale_rooms.get(&concert).map_or(0, |part| part.seq),
        }
    }

    /// Every partition's last entry this state holds.
    pub fn seqs(&self) -> HashMap<Partition, u64> {
        let dates = self.dates.keys().map(|key| Partition::Date(*key));
        let sales = self.sale_rooms.keys().map(|concert| Partition::Sale(*concert));
        (Partition::FIXED.into_iter().chain(dates).chain(sales))
            .map(|partition| (partition, self.seq_of(partition)))
            .collect()
    }

    /// The state as a snapshot keeps it.
    pub fn image(&self) -> Image {
        Image {
            users: self.users.clone(),
            concerts: self.concerts.clone(),
            dates: self.dates.iter().map(|(key, part)| (*key, part.clone())).collect(),
            room: Part {
                seq: self.room.seq,
                state: self.room.state.image(),
            },
            wallet: self.wallet.clone(),
            answers: self.answers.clone(),
            sales: self.sales.clone(),
            sale_rooms: (self.sale_rooms.iter())
                .map(|(concert, part)| {
                    let state = part.state.image();
                    (*concert, Part { seq: part.seq, state })
                })
                .collect(),
        }
    }

    /// Applies one journal entry unless this state already holds it. An entry must follow the
    /// last one of its stream: a gap means a lost record.
    pub fn apply(&mut self, entry: Entry) -> Result<(), String> {
        let Entry { seq, change } = entry;
        match change {
            Change::UserRegistered(user) => follow(&mut self.users, seq, |users| users.push(user)),
            Change::ConcertCreated(concert) => {
                let dates = &mut self.dates;
                follow(&mut self.concerts, seq, |concerts| {
                    add_dates(dates, &concert);
                    concerts.push(concert)
                })
            }
            Change::Queue(event) => follow(&mut self.room, seq, |room| room.apply(&event)),
            Change::Seat(key, event) => {
                let part = self.dates.get_mut(&key).ok_or_else(|| format!("no date {key:?}"))?;
                follow(part, seq, |map| map.apply(&event))
            }
            Change::Wallet(event) => follow(&mut self.wallet, seq, |wallet| wallet.apply(&event)),
            Change::Answered(record) => follow(&mut self.answers, seq, |answers| answers.apply(&record)),
            Change::SaleCreated(sale) => {
                let (rooms, limits) = (&mut self.sale_rooms, &self.room_limits);
                follow(&mut self.sales, seq, |sales| {
                    add_sale_room(rooms, &sale, limits.clone());
                    sales.push(sale)
                })
            }
            Change::Sale(concert, event) => {
                let part = (self.sale_rooms.get_mut(&concert)).ok_or_else(|| format!("no sale of {concert:?}"))?;
                follow(part, seq, |room| room.apply(&event))
            }
            Change::Keyed { work, answer } => {
                self.apply(Entry { seq, change: *work })?;
                self.answers.state.remember_once(&answer);
                Ok(())
            }
        }
    }
}

/// What a crash cut short between the wallet's record of a payment and its end: found in the
/// recovered state, finished by the actors as they start.
pub struct CutShort {
    /// Per date, the payments the wallet recorded whose seats are not sold yet.
    pub seats: HashMap<DateKey, Vec<RecordedPayment>>,
    /// The tokens of recent payments the site-wide room does not know as paid: (token, user).
    pub tokens: Vec<(Token, UserId)>,
    /// Likewise for the tokens of each sale's room.
    pub sale_tokens: HashMap<ConcertId, Vec<(Token, UserId)>>,
    /// Tickets the wallet refunded whose seats are still sold: (date, reservation, refund).
    pub refunded_seats: Vec<(DateKey, crate::domain::ReservationId, i64)>,
}

impl CutShort {
    /// What the recovered `state` leaves unfinished, as of `now`.
    pub fn of(state: &State, now: DateTime<Utc>) -> Self {
        let mut cut_short = Self {
            seats: HashMap::new(),
            tokens: Vec::new(),
            sale_tokens: HashMap::new(),
            refunded_seats: Vec::new(),
        };
        for (payment, refund) in state.wallet.state.refunds() {
            let key = (payment.concert_id, payment.date);
            let map = &state.dates.get(&key).expect("a payment's date exists").state;
            if map.recorded_status(payment.reservation_id) == Some(ReservationStatus::Confirmed) {
                cut_short.refunded_seats.push((key, payment.reservation_id, refund));
            }
        }
        let sale_of_number: HashMap<u32, ConcertId> = (state.sales.state.iter())
            .map(|sale| (sale.number, sale.concert_id))
            .collect();
        for (payment, token) in state.wallet.state.payments_with_tokens() {
            let key = (payment.concert_id, payment.date);
            let map = &state.dates.get(&key).expect("a payment's date exists").state;
            if map.recorded_status(payment.reservation_id) == Some(ReservationStatus::Held) {
                cut_short.seats.entry(key).or_default().push(RecordedPayment {
                    reservation: payment.reservation_id,
                    payment: payment.payment_id,
                    paid_at: payment.paid_at,
                });
            }
            // A payment a version 2 snapshot kept does not name its token; that token ended then.
            let Some(token) = token else { continue };
            // The room remembers the token and ends it in two records; a crash may keep the first.
            let (room, unfinished) = match room_number_of(token.seq()) {
                0 => (&state.room.state, &mut cut_short.tokens),
                number => {
                    let concert = sale_of_number.get(&number).expect("a sale token's sale exists");
                    let room = &state.sale_rooms.get(concert).expect("a sale has its room").state;
                    (room, cut_short.sale_tokens.entry(*concert).or_default())
                }
            };
            let unremembered = payment.paid_at + PAID_TOKEN_MEMORY > now && room.paid_by(&token).is_none();
            let alive = room.deadline(&token).is_some();
            if unremembered || alive {
                unfinished.push((token, payment.user_id));
            }
        }
        cut_short
    }
}

/// Applies the entry numbered `seq` to `part` if it is the next one; skips it if `part` has it.
fn follow<T>(part: &mut Part<T>, seq: u64, apply: impl FnOnce(&mut T)) -> Result<(), String> {
    if seq <= part.seq {
        return Ok(());
    }
    if seq != part.seq + 1 {
        return Err(format!("entry {seq} follows entry {}: records are missing", part.seq));
    }
    apply(&mut part.state);
    part.seq = seq;
    Ok(())
}

fn add_sale_room(rooms: &mut HashMap<ConcertId, Part<WaitingRoom>>, sale: &SaleRecord, limits: WaitingRoomLimits) {
    rooms.entry(sale.concert_id).or_insert_with(|| Part {
        seq: 0,
        state: sale.room(limits),
    });
}

fn add_dates(dates: &mut HashMap<DateKey, Part<SeatMap>>, concert: &ConcertRecord) {
    for new in &concert.dates {
        // A snapshot may hold a date whose concert came after the catalog's part was taken.
        dates.entry((concert.concert_id, new.date)).or_insert_with(|| Part {
            seq: 0,
            state: SeatMap::new(concert.concert_id, new.date, new.seat_count, new.price),
        });
    }
}

/// Rebuilds the state from what `reader` holds: every partition's snapshot, then each
/// partition's own entries after it. The catalog goes before the dates, which its concerts
/// create; the answers before the partitions whose entries carry answers too, so that an answer
/// one of those carries is kept only if the answers' own log has none for its key that came
/// later (a key reused after its retention).
pub fn rebuild(reader: &mut dyn LogReader, limits: &Limits) -> Result<State, RecoveryError> {
    let mut state = State::empty(limits);
    for partition in reader.partitions() {
        if let Some(part) = reader.take_snapshot(partition) {
            state.restore(partition, part, limits);
        }
    }
    for partition in [
        Partition::Users,
        Partition::Catalog,
        Partition::Answers,
        Partition::Sales,
    ] {
        read_partition(&mut state, reader, partition)?;
    }
    let mut dates: Vec<Partition> = state.dates.keys().map(|key| Partition::Date(*key)).collect();
    dates.sort();
    let mut sales: Vec<Partition> = state
        .sale_rooms
        .keys()
        .map(|concert| Partition::Sale(*concert))
        .collect();
    sales.sort();
    for partition in dates
        .into_iter()
        .chain(sales)
        .chain([Partition::Room, Partition::Wallet])
    {
        read_partition(&mut state, reader, partition)?;
    }
    Ok(state)
}

fn read_partition(state: &mut State, reader: &mut dyn LogReader, partition: Partition) -> Result<(), RecoveryError> {
    let after = state.seq_of(partition);
    reader.read(partition, after, &mut |entry| state.apply(entry))
}

/// Rebuilds the state from the files of `dir`: the newest readable snapshot, then the journal
/// after it. A torn tail is cut off with a warning once everything else has replayed;
/// corruption refuses and changes nothing.
pub fn recover(dir: &DataDir, limits: &Limits) -> Result<(State, Report), RecoveryError> {
    let mut reader = FileReader::open(dir)?;
    let state = rebuild(&mut reader, limits)?;
    let report = reader.finish(dir)?;
    Ok((state, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::concert::NewDate;
    use crate::domain::{ConcertId, ReservationId, UserId};
    use crate::persistence::log::Loaded;

    fn limits() -> Limits {
        crate::services::recovery_limits(&crate::config::Config::defaults())
    }

    /// A catalog kept only as a snapshot (its entries purged after it), and a date that has no
    /// snapshot of its own, only entries: the date is there, with its entries.
    #[test]
    fn a_date_without_a_snapshot_of_its_own_is_made_from_a_snapshotted_catalog_and_read() {
        let concert = ConcertRecord {
            concert_id: ConcertId::random(),
            title: "Snapshotted".into(),
            dates: vec![NewDate {
                date: "2026-12-24".parse().unwrap(),
                seat_count: 3,
                price: 1_000,
            }],
        };
        let key = (concert.concert_id, concert.dates[0].date);
        let now: DateTime<Utc> = "2026-12-24T10:00:00Z".parse().unwrap();
        let mut map = SeatMap::new(key.0, key.1, 3, 1_000);
        let held = map
            .hold(
                UserId::random(),
                2,
                ReservationId::random(),
                now,
                chrono::Duration::minutes(5),
                |_| true,
            )
            .unwrap();
        let mut loaded = Loaded::default();
        let catalog = Part {
            seq: 7,
            state: PartState::Catalog(vec![concert]),
        };
        loaded.snapshots.insert(Partition::Catalog, catalog);
        let hold = Entry {
            seq: 1,
            change: Change::Seat(key, held),
        };
        loaded.entries.insert(Partition::Date(key), vec![hold]);

        let state = rebuild(&mut loaded, &limits()).unwrap();
        let date = &state.dates[&key];
        assert_eq!(date.seq, 1, "the date's entry was read");
        assert_eq!(date.state.counts(now).held, 1);
        assert_eq!(loaded.unread(), None);
    }
}
