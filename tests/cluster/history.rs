//! The history of what clients asked the cluster and were told, as they saw it in real time, and
//! its check: per seat and per wallet the operations must be linearizable. Linearizability is
//! local (Herlihy and Wing), so each object is checked on its own.
//!
//! The check is Wing and Gong's search with Lowe's memory of the configurations already tried (a
//! set of operations linearized and the state they lead to): without it the search is exponential
//! in the operations that overlap, and a chaos run's history (hundreds of reads overlapping
//! operations whose answers were lost) could not be decided in minutes.
//!
//! An operation whose answer never came, or came as a 5xx, may or may not have happened: it stays
//! in flight for ever, and its client goes on under a new thread id.

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How long the linearizability check of one run may take.
const CHECK_WITHIN: std::time::Duration = std::time::Duration::from_secs(120);

/// A fan, by their index in the test.
pub type FanIndex = usize;

/// What a client asked.
#[derive(Clone, Debug)]
pub enum Asked {
    Charge { fan: FanIndex, amount: i64 },
    ReadWallet { fan: FanIndex },
    Hold { fan: FanIndex, seat: u32 },
    Pay { fan: FanIndex, seat: u32, price: i64 },
    Cancel { fan: FanIndex, seat: u32 },
    ReadSeats { seats: u32 },
}

/// What a client was told, for an operation that was told anything definite.
#[derive(Clone, Debug)]
pub enum Told {
    /// A charge went through, or a wallet was read: the balance.
    Balance(i64),
    Held,
    /// SEAT_UNAVAILABLE.
    Taken,
    Paid {
        balance: i64,
    },
    /// A payment or cancellation turned away with a 4xx.
    Refused,
    Released,
    /// The status of every seat, by number from 1.
    Seats(Vec<SeatStatus>),
    /// Nothing was done: a read turned away (a 503 during a failover, a token that ended), or a
    /// request that never reached a node (its connection was refused).
    Nothing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

impl SeatStatus {
    pub fn parse(status: &str) -> Self {
        match status {
            "AVAILABLE" => Self::Available,
            "HELD" => Self::Held,
            "SOLD" => Self::Sold,
            other => panic!("a seat status: {other}"),
        }
    }
}

#[derive(Clone, Debug)]
enum Event {
    Asked(u64, Asked),
    Told(u64, Told),
}

/// The events of a run in the order they happened, shared by every client task.
#[derive(Clone, Default)]
pub struct History {
    events: Arc<Mutex<Vec<Event>>>,
    threads: Arc<AtomicU64>,
}

/// One client's sequence of operations: one at a time, each asked and then told (or not).
pub struct Thread {
    history: History,
    id: u64,
}

impl History {
    pub fn thread(&self) -> Thread {
        Thread {
            history: self.clone(),
            id: self.threads.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub fn len(&self) -> usize {
        self.events.lock().len()
    }

    /// Panics, naming the object and its history, unless every seat's and every wallet's
    /// operations are linearizable.
    pub fn assert_linearizable(&self) {
        let events = self.events.lock().clone();
        let (told, answer) = std::sync::mpsc::channel();
        std::thread::spawn(move || told.send(check(&events)));
        // The search is exponential in the worst case even with its memory: a history too tangled
        // to decide in time fails the test rather than hanging the suite.
        let started = std::time::Instant::now();
        let checked = answer.recv_timeout(CHECK_WITHIN);
        eprintln!("the history was checked in {:?}", started.elapsed());
        match checked {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => panic!("{failure}"),
            Err(_) => panic!("the history could not be checked within {CHECK_WITHIN:?}"),
        }
    }
}

impl Thread {
    pub fn asked(&self, asked: Asked) {
        self.history.events.lock().push(Event::Asked(self.id, asked));
    }

    pub fn told(&self, told: Told) {
        self.history.events.lock().push(Event::Told(self.id, told));
    }

    /// The last operation's outcome is unknown: it stays in flight, and this client goes on as a
    /// new thread.
    pub fn never_told(&mut self) {
        *self = self.history.thread();
    }
}

/// An object of the check: a seat of the date, or a fan's wallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Object {
    Seat(u32),
    Wallet(FanIndex),
}

/// One operation on one object: asked at one event of the history, told at a later one or never.
#[derive(Clone, Debug)]
struct Operation<S: Spec> {
    op: S::Op,
    /// None while in flight: it may have happened, with any outcome, or not at all.
    ret: Option<S::Ret>,
    asked_at: usize,
    told_at: Option<usize>,
}

/// Every seat's and every wallet's operations, in the order they were asked.
#[derive(Default)]
struct Objects {
    seats: BTreeMap<u32, Vec<Operation<Seat>>>,
    wallets: BTreeMap<FanIndex, Vec<Operation<Wallet>>>,
}

/// Where one thread's operation in flight sits in each object's list.
type Pending = Vec<(Object, usize)>;

fn check(events: &[Event]) -> Result<(), String> {
    let objects = objects_of(events)?;
    for (seat, operations) in &objects.seats {
        if !linearizable(operations) {
            return Err(format!("seat {seat} is not linearizable: {operations:#?}"));
        }
    }
    for (fan, operations) in &objects.wallets {
        if !linearizable(operations) {
            return Err(format!("the wallet of fan {fan} is not linearizable: {operations:#?}"));
        }
    }
    Ok(())
}

/// Splits the history by object. An operation told that nothing was done is left out: it
/// constrains nothing.
fn objects_of(events: &[Event]) -> Result<Objects, String> {
    let mut objects = Objects::default();
    let mut pending: BTreeMap<u64, (Asked, Pending)> = BTreeMap::new();
    for (at, event) in events.iter().enumerate() {
        match event {
            Event::Asked(thread, asked) => {
                let placed = invocations(asked)
                    .into_iter()
                    .map(|(object, op)| (object, objects.ask(object, op, at)))
                    .collect();
                pending.insert(*thread, (asked.clone(), placed));
            }
            Event::Told(thread, told) => {
                let (asked, placed) = pending.remove(thread).ok_or("told without being asked")?;
                if let Told::Nothing = told {
                    objects.forget(&placed);
                    continue;
                }
                for ((object, ret), (placed_object, index)) in returns(&asked, told).into_iter().zip(placed) {
                    assert_eq!(object, placed_object, "an answer comes from the object asked");
                    objects.tell(object, index, ret, at);
                }
            }
        }
    }
    objects
        .seats
        .values_mut()
        .for_each(|operations| operations.retain(|o| !o.forgotten()));
    objects
        .wallets
        .values_mut()
        .for_each(|operations| operations.retain(|o| !o.forgotten()));
    Ok(objects)
}

impl Objects {
    fn ask(&mut self, object: Object, op: Op, at: usize) -> usize {
        match (object, op) {
            (Object::Seat(seat), Op::Seat(op)) => push(self.seats.entry(seat).or_default(), op, at),
            (Object::Wallet(fan), Op::Wallet(op)) => push(self.wallets.entry(fan).or_default(), op, at),
            _ => unreachable!("an operation goes to its own kind of object"),
        }
    }

    fn tell(&mut self, object: Object, index: usize, ret: Ret, at: usize) {
        match (object, ret) {
            (Object::Seat(seat), Ret::Seat(ret)) => self.seats.get_mut(&seat).expect("asked")[index].told(ret, at),
            (Object::Wallet(fan), Ret::Wallet(ret)) => self.wallets.get_mut(&fan).expect("asked")[index].told(ret, at),
            _ => unreachable!("an answer comes from its own kind of object"),
        }
    }

    /// Marks operations that were told nothing was done, to be left out.
    fn forget(&mut self, placed: &Pending) {
        for (object, index) in placed {
            match object {
                Object::Seat(seat) => self.seats.get_mut(seat).expect("asked")[*index].told_at = Some(FORGOTTEN),
                Object::Wallet(fan) => self.wallets.get_mut(fan).expect("asked")[*index].told_at = Some(FORGOTTEN),
            }
        }
    }
}

/// The told-at mark of an operation left out of the check.
const FORGOTTEN: usize = usize::MAX;

fn push<S: Spec>(operations: &mut Vec<Operation<S>>, op: S::Op, at: usize) -> usize {
    operations.push(Operation {
        op,
        ret: None,
        asked_at: at,
        told_at: None,
    });
    operations.len() - 1
}

impl<S: Spec> Operation<S> {
    fn told(&mut self, ret: S::Ret, at: usize) {
        self.ret = Some(ret);
        self.told_at = Some(at);
    }

    fn forgotten(&self) -> bool {
        self.told_at == Some(FORGOTTEN)
    }
}

/// An object's sequential behaviour.
trait Spec: Clone + Default + Eq + Hash + Debug {
    type Op: Debug + Clone;
    type Ret: Debug + Clone + PartialEq;

    /// What the object tells of `op`, and its state afterwards.
    fn invoke(&self, op: &Self::Op) -> (Self::Ret, Self);

    /// The state after `op` was told `ret` (any outcome when in flight), if it could have been.
    fn step(&self, op: &Self::Op, ret: Option<&Self::Ret>) -> Option<Self> {
        let (told, next) = self.invoke(op);
        ret.is_none_or(|ret| *ret == told).then_some(next)
    }
}

/// Whether some order of the operations, each placed between its asking and its telling, is one
/// the object's sequential behaviour allows (an operation in flight may be placed anywhere after
/// its asking, or nowhere).
///
/// Two prunings keep the search polynomial on chaos histories. An operation in flight that would
/// change nothing where it is tried is never placed there: placing it is the same as leaving it
/// out. An answered operation that changes nothing and is allowed where it is tried (a read, a
/// refusal) is placed there for good: any order that places it later can place it here instead,
/// so when what follows fails, the search undoes it and goes back further, not sideways.
fn linearizable<S: Spec>(operations: &[Operation<S>]) -> bool {
    let mut search = Search::new(operations);
    let mut state = S::default();
    let mut linearized = vec![0u64; operations.len().div_ceil(64)];
    let mut tried: HashSet<(Vec<u64>, S)> = HashSet::new();
    let mut placed: Vec<Placed<S>> = Vec::new();
    let mut answered_left = operations.iter().filter(|o| o.told_at.is_some()).count();
    let mut cursor = search.first();
    while answered_left > 0 {
        match search.entries[cursor] {
            Entry::Asked(index) => {
                let operation = &operations[index];
                let next = state.step(&operation.op, operation.ret.as_ref());
                let Some(next) = next.filter(|next| operation.ret.is_some() || *next != state) else {
                    cursor = search.next[cursor];
                    continue;
                };
                linearized[index / 64] |= 1 << (index % 64);
                if !tried.insert((linearized.clone(), next.clone())) {
                    linearized[index / 64] &= !(1 << (index % 64));
                    cursor = search.next[cursor];
                    continue;
                }
                placed.push(Placed {
                    index,
                    for_good: next == state,
                    before: std::mem::replace(&mut state, next),
                });
                search.lift(index);
                answered_left -= usize::from(operation.told_at.is_some());
                cursor = search.first();
            }
            // An answered operation's telling is reached with it not yet placed (or the end of
            // the history with answered ones left): undo placements back to the last one that
            // has alternatives, and try the next.
            Entry::Told(_) | Entry::End => loop {
                let Some(last) = placed.pop() else {
                    return false;
                };
                state = last.before;
                linearized[last.index / 64] &= !(1 << (last.index % 64));
                search.unlift(last.index);
                answered_left += usize::from(operations[last.index].told_at.is_some());
                if !last.for_good {
                    cursor = search.next[search.asked[last.index]];
                    break;
                }
            },
        }
    }
    true
}

/// An operation placed in the order being tried, with the state before it.
struct Placed<S> {
    index: usize,
    before: S,
    for_good: bool,
}

#[derive(Clone, Copy)]
enum Entry {
    Asked(usize),
    Told(usize),
    End,
}

/// The askings and tellings not yet placed, in the order they happened, as a list that an
/// operation is lifted out of when placed and put back into when the placement is undone.
struct Search {
    /// A head at 0, then the entries in order, then the end.
    entries: Vec<Entry>,
    next: Vec<usize>,
    previous: Vec<usize>,
    asked: Vec<usize>,
    told: Vec<Option<usize>>,
}

impl Search {
    fn new<S: Spec>(operations: &[Operation<S>]) -> Self {
        let mut timed: Vec<(usize, Entry)> = Vec::new();
        for (index, operation) in operations.iter().enumerate() {
            timed.push((operation.asked_at, Entry::Asked(index)));
            if let Some(at) = operation.told_at {
                timed.push((at, Entry::Told(index)));
            }
        }
        timed.sort_by_key(|(at, _)| *at);
        let mut entries = vec![Entry::End];
        entries.extend(timed.into_iter().map(|(_, entry)| entry));
        entries.push(Entry::End);
        let count = entries.len();
        let mut asked = vec![0; operations.len()];
        let mut told = vec![None; operations.len()];
        for (position, entry) in entries.iter().enumerate() {
            match *entry {
                Entry::Asked(index) => asked[index] = position,
                Entry::Told(index) => told[index] = Some(position),
                Entry::End => {}
            }
        }
        Self {
            entries,
            next: (1..=count).collect(),
            previous: (0..count).map(|position| position.saturating_sub(1)).collect(),
            asked,
            told,
        }
    }

    fn first(&self) -> usize {
        self.next[0]
    }

    fn lift(&mut self, index: usize) {
        self.unlink(self.asked[index]);
        if let Some(told) = self.told[index] {
            self.unlink(told);
        }
    }

    /// Puts an operation back: the reverse of its lifting, so every link is restored.
    fn unlift(&mut self, index: usize) {
        if let Some(told) = self.told[index] {
            self.relink(told);
        }
        self.relink(self.asked[index]);
    }

    fn unlink(&mut self, position: usize) {
        let (previous, next) = (self.previous[position], self.next[position]);
        self.next[previous] = next;
        self.previous[next] = previous;
    }

    fn relink(&mut self, position: usize) {
        let (previous, next) = (self.previous[position], self.next[position]);
        self.next[previous] = position;
        self.previous[next] = position;
    }
}

enum Op {
    Seat(SeatOp),
    Wallet(WalletOp),
}

enum Ret {
    Seat(SeatRet),
    Wallet(WalletRet),
}

/// The operation each object sees of what was asked.
fn invocations(asked: &Asked) -> Vec<(Object, Op)> {
    match *asked {
        Asked::Charge { fan, amount } => vec![(Object::Wallet(fan), Op::Wallet(WalletOp::Charge(amount)))],
        Asked::ReadWallet { fan } => vec![(Object::Wallet(fan), Op::Wallet(WalletOp::Read))],
        Asked::Hold { fan, seat } => vec![(Object::Seat(seat), Op::Seat(SeatOp::Hold(fan)))],
        Asked::Pay { fan, seat, price } => vec![
            (Object::Seat(seat), Op::Seat(SeatOp::Pay(fan))),
            (Object::Wallet(fan), Op::Wallet(WalletOp::Pay(price))),
        ],
        Asked::Cancel { fan, seat } => vec![(Object::Seat(seat), Op::Seat(SeatOp::Cancel(fan)))],
        Asked::ReadSeats { seats } => (1..=seats)
            .map(|seat| (Object::Seat(seat), Op::Seat(SeatOp::Read)))
            .collect(),
    }
}

/// The answer each object gave of what was told.
fn returns(asked: &Asked, told: &Told) -> Vec<(Object, Ret)> {
    let seat_ret = |seat: u32, ret: SeatRet| (Object::Seat(seat), Ret::Seat(ret));
    let wallet_ret = |fan: FanIndex, ret: WalletRet| (Object::Wallet(fan), Ret::Wallet(ret));
    match (asked, told) {
        (Asked::Charge { fan, .. } | Asked::ReadWallet { fan }, Told::Balance(balance)) => {
            vec![wallet_ret(*fan, WalletRet::Balance(*balance))]
        }
        (Asked::Hold { seat, .. }, Told::Held) => vec![seat_ret(*seat, SeatRet::Held)],
        (Asked::Hold { seat, .. }, Told::Taken) => vec![seat_ret(*seat, SeatRet::Taken)],
        (Asked::Pay { fan, seat, .. }, Told::Paid { balance }) => vec![
            seat_ret(*seat, SeatRet::Paid),
            wallet_ret(*fan, WalletRet::Balance(*balance)),
        ],
        (Asked::Pay { fan, seat, .. }, Told::Refused) => {
            vec![seat_ret(*seat, SeatRet::Refused), wallet_ret(*fan, WalletRet::Refused)]
        }
        (Asked::Cancel { seat, .. }, Told::Released) => vec![seat_ret(*seat, SeatRet::Released)],
        (Asked::Cancel { seat, .. }, Told::Refused) => vec![seat_ret(*seat, SeatRet::Refused)],
        (Asked::ReadSeats { seats }, Told::Seats(statuses)) => {
            assert_eq!(statuses.len(), *seats as usize, "a status for every seat");
            (1..=*seats)
                .zip(statuses)
                .map(|(seat, status)| seat_ret(seat, SeatRet::Seen(*status)))
                .collect()
        }
        (asked, told) => panic!("{asked:?} cannot be told {told:?}"),
    }
}

/// A seat, as one fan at a time may hold and pay it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
enum Seat {
    #[default]
    Available,
    Held(FanIndex),
    Sold(FanIndex),
}

#[derive(Clone, Debug)]
enum SeatOp {
    Hold(FanIndex),
    Pay(FanIndex),
    Cancel(FanIndex),
    Read,
}

#[derive(Clone, Debug, PartialEq)]
enum SeatRet {
    Held,
    Taken,
    Paid,
    Refused,
    Released,
    Seen(SeatStatus),
}

impl Spec for Seat {
    type Op = SeatOp;
    type Ret = SeatRet;

    fn invoke(&self, op: &SeatOp) -> (SeatRet, Self) {
        match (op, self) {
            (SeatOp::Hold(fan), Seat::Available) => (SeatRet::Held, Seat::Held(*fan)),
            (SeatOp::Hold(_), _) => (SeatRet::Taken, self.clone()),
            (SeatOp::Pay(fan), Seat::Held(holder)) if holder == fan => (SeatRet::Paid, Seat::Sold(*fan)),
            (SeatOp::Cancel(fan), Seat::Held(holder)) if holder == fan => (SeatRet::Released, Seat::Available),
            (SeatOp::Pay(_) | SeatOp::Cancel(_), _) => (SeatRet::Refused, self.clone()),
            (SeatOp::Read, seat) => (SeatRet::Seen(seat.status()), self.clone()),
        }
    }
}

impl Seat {
    fn status(&self) -> SeatStatus {
        match self {
            Seat::Available => SeatStatus::Available,
            Seat::Held(_) => SeatStatus::Held,
            Seat::Sold(_) => SeatStatus::Sold,
        }
    }
}

/// A wallet's balance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Wallet {
    balance: i64,
}

#[derive(Clone, Debug)]
enum WalletOp {
    Charge(i64),
    Pay(i64),
    Read,
}

#[derive(Clone, Debug, PartialEq)]
enum WalletRet {
    Balance(i64),
    /// Short of money, or refused for the seat's sake.
    Refused,
}

impl Spec for Wallet {
    type Op = WalletOp;
    type Ret = WalletRet;

    fn invoke(&self, op: &WalletOp) -> (WalletRet, Self) {
        let balance = match *op {
            WalletOp::Charge(amount) => self.balance + amount,
            WalletOp::Pay(price) if price <= self.balance => self.balance - price,
            WalletOp::Pay(_) => return (WalletRet::Refused, self.clone()),
            WalletOp::Read => self.balance,
        };
        (WalletRet::Balance(balance), Wallet { balance })
    }

    /// A payment refused for its seat leaves the wallet as it was, whatever the balance.
    fn step(&self, op: &WalletOp, ret: Option<&WalletRet>) -> Option<Self> {
        if let (WalletOp::Pay(_), Some(WalletRet::Refused)) = (op, ret) {
            return Some(self.clone());
        }
        let (told, next) = self.invoke(op);
        ret.is_none_or(|ret| *ret == told).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(history: &History, asked: Asked, told: Told) {
        let thread = history.thread();
        thread.asked(asked);
        thread.told(told);
    }

    fn linearizable(history: &History) -> bool {
        check(&history.events.lock()).is_ok()
    }

    #[test]
    fn a_seat_held_by_one_fan_then_refused_to_the_next_is_linearizable() {
        let history = History::default();
        one(&history, Asked::Hold { fan: 0, seat: 1 }, Told::Held);
        one(&history, Asked::Hold { fan: 1, seat: 1 }, Told::Taken);
        one(&history, Asked::Charge { fan: 0, amount: 1_000 }, Told::Balance(1_000));
        let pay = Asked::Pay {
            fan: 0,
            seat: 1,
            price: 1_000,
        };
        one(&history, pay, Told::Paid { balance: 0 });
        let seen = vec![SeatStatus::Sold, SeatStatus::Available];
        one(&history, Asked::ReadSeats { seats: 2 }, Told::Seats(seen));
        assert!(linearizable(&history));
    }

    #[test]
    fn a_seat_held_by_two_fans_one_after_the_other_is_not() {
        let history = History::default();
        one(&history, Asked::Hold { fan: 0, seat: 1 }, Told::Held);
        one(&history, Asked::Hold { fan: 1, seat: 1 }, Told::Held);
        assert!(!linearizable(&history));
    }

    #[test]
    fn a_read_that_misses_a_hold_already_told_is_not() {
        let history = History::default();
        one(&history, Asked::Hold { fan: 0, seat: 1 }, Told::Held);
        one(
            &history,
            Asked::ReadSeats { seats: 1 },
            Told::Seats(vec![SeatStatus::Available]),
        );
        assert!(!linearizable(&history));
    }

    #[test]
    fn a_read_concurrent_with_a_hold_may_see_it_or_not() {
        for seen in [SeatStatus::Available, SeatStatus::Held] {
            let history = History::default();
            let (holder, reader) = (history.thread(), history.thread());
            holder.asked(Asked::Hold { fan: 0, seat: 1 });
            reader.asked(Asked::ReadSeats { seats: 1 });
            reader.told(Told::Seats(vec![seen]));
            holder.told(Told::Held);
            assert!(linearizable(&history), "{seen:?}");
        }
    }

    #[test]
    fn an_unanswered_hold_may_have_happened_or_not() {
        for seen in [SeatStatus::Available, SeatStatus::Held] {
            let history = History::default();
            let mut holder = history.thread();
            holder.asked(Asked::Hold { fan: 0, seat: 1 });
            holder.never_told();
            one(&history, Asked::ReadSeats { seats: 1 }, Told::Seats(vec![seen]));
            assert!(linearizable(&history), "{seen:?}");
        }
        let history = History::default();
        let mut holder = history.thread();
        holder.asked(Asked::Hold { fan: 0, seat: 1 });
        holder.never_told();
        one(
            &history,
            Asked::ReadSeats { seats: 1 },
            Told::Seats(vec![SeatStatus::Held]),
        );
        one(
            &history,
            Asked::ReadSeats { seats: 1 },
            Told::Seats(vec![SeatStatus::Available]),
        );
        assert!(!linearizable(&history), "a hold seen cannot be unseen");
    }

    #[test]
    fn a_balance_read_from_before_an_acknowledged_charge_is_not_linearizable() {
        let history = History::default();
        one(&history, Asked::Charge { fan: 0, amount: 1_000 }, Told::Balance(1_000));
        one(&history, Asked::Charge { fan: 0, amount: 10 }, Told::Balance(1_010));
        one(&history, Asked::ReadWallet { fan: 0 }, Told::Balance(1_000));
        assert!(!linearizable(&history));
    }

    #[test]
    fn a_payment_debits_once_even_when_told_through_a_retry() {
        let history = History::default();
        one(&history, Asked::Charge { fan: 0, amount: 3_000 }, Told::Balance(3_000));
        one(&history, Asked::Hold { fan: 0, seat: 1 }, Told::Held);
        let pay = Asked::Pay {
            fan: 0,
            seat: 1,
            price: 1_000,
        };
        one(&history, pay, Told::Paid { balance: 2_000 });
        one(&history, Asked::ReadWallet { fan: 0 }, Told::Balance(1_000));
        assert!(!linearizable(&history), "a second debit nobody asked for");
    }

    /// Fans whose holds were never answered, racing for one seat while readers watch it: the
    /// search without memory tried every order of the unanswered holds before each read.
    #[test]
    fn a_seat_watched_through_many_unanswered_holds_is_decided() {
        let history = History::default();
        let mut holders: Vec<Thread> = (0..40).map(|_| history.thread()).collect();
        for (fan, holder) in holders.iter_mut().enumerate() {
            holder.asked(Asked::Hold { fan, seat: 1 });
            holder.never_told();
        }
        let readers: Vec<Thread> = (0..200).map(|_| history.thread()).collect();
        for reader in &readers {
            reader.asked(Asked::ReadSeats { seats: 1 });
        }
        for (round, reader) in readers.iter().enumerate() {
            let seen = if round < 100 {
                SeatStatus::Available
            } else {
                SeatStatus::Held
            };
            reader.told(Told::Seats(vec![seen]));
        }
        assert!(linearizable(&history));
        one(
            &history,
            Asked::ReadSeats { seats: 1 },
            Told::Seats(vec![SeatStatus::Available]),
        );
        assert!(
            !linearizable(&history),
            "a hold seen by a read told before cannot be unseen"
        );
    }

    /// The search's answer equals that of trying every order of every admissible subset, on
    /// small random histories of one seat.
    mod against_every_order {
        use super::super::*;
        use proptest::prelude::*;

        fn seat_op() -> impl Strategy<Value = SeatOp> {
            prop_oneof![
                (0..2usize).prop_map(SeatOp::Hold),
                (0..2usize).prop_map(SeatOp::Pay),
                (0..2usize).prop_map(SeatOp::Cancel),
                Just(SeatOp::Read),
            ]
        }

        fn seat_ret() -> impl Strategy<Value = SeatRet> {
            prop_oneof![
                Just(SeatRet::Held),
                Just(SeatRet::Taken),
                Just(SeatRet::Paid),
                Just(SeatRet::Refused),
                Just(SeatRet::Released),
                Just(SeatRet::Seen(SeatStatus::Available)),
                Just(SeatRet::Seen(SeatStatus::Held)),
                Just(SeatRet::Seen(SeatStatus::Sold)),
            ]
        }

        /// The answer an operation would get in some order: often right, so that histories are
        /// linearizable about as often as not.
        fn operation() -> impl Strategy<Value = (SeatOp, Option<SeatRet>, usize, Option<usize>)> {
            (
                seat_op(),
                prop::option::weighted(0.8, seat_ret()),
                0..12usize,
                1..8usize,
            )
                .prop_map(|(op, ret, asked_at, lasting)| {
                    let told_at = ret.as_ref().map(|_| asked_at + lasting);
                    (op, ret, asked_at, told_at)
                })
        }

        fn operations(drawn: Vec<(SeatOp, Option<SeatRet>, usize, Option<usize>)>) -> Vec<Operation<Seat>> {
            // Distinct instants: asked and told events are never simultaneous in a history.
            drawn
                .into_iter()
                .enumerate()
                .map(|(index, (op, ret, asked_at, told_at))| Operation {
                    op,
                    ret,
                    asked_at: asked_at * 16 + index,
                    told_at: told_at.map(|at| at * 16 + 8 + index),
                })
                .collect()
        }

        fn in_some_order(operations: &[Operation<Seat>]) -> bool {
            let count = operations.len();
            (0u32..1 << count).any(|subset| {
                let chosen: Vec<usize> = (0..count).filter(|i| subset & (1 << i) != 0).collect();
                let answered_all = operations
                    .iter()
                    .enumerate()
                    .all(|(i, o)| o.told_at.is_none() || chosen.contains(&i));
                answered_all && permutations(&chosen).iter().any(|order| allowed(operations, order))
            })
        }

        fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
            if items.is_empty() {
                return vec![vec![]];
            }
            let mut all = Vec::new();
            for (position, item) in items.iter().enumerate() {
                let mut rest = items.to_vec();
                rest.remove(position);
                for mut tail in permutations(&rest) {
                    tail.insert(0, *item);
                    all.push(tail);
                }
            }
            all
        }

        fn allowed(operations: &[Operation<Seat>], order: &[usize]) -> bool {
            let respects_real_time = order.iter().enumerate().all(|(position, &earlier)| {
                order[position + 1..].iter().all(|&later| {
                    operations[later]
                        .told_at
                        .is_none_or(|told| told > operations[earlier].asked_at)
                })
            });
            let mut state = Seat::default();
            respects_real_time
                && order.iter().all(|&index| {
                    let operation = &operations[index];
                    state
                        .step(&operation.op, operation.ret.as_ref())
                        .map(|next| state = next)
                        .is_some()
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]
            #[test]
            fn the_search_agrees(drawn in prop::collection::vec(operation(), 0..7)) {
                let operations = operations(drawn);
                prop_assert_eq!(linearizable(&operations), in_some_order(&operations), "{:#?}", operations);
            }
        }
    }
}
