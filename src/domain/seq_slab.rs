//! Values keyed by a dense, growing sequence number, stored in place in a deque: what the
//! waiting room and the token index keep their million tokens in.
//!
//! Sequence numbers are issued in order and die roughly in order, so a deque indexed from the
//! oldest live number holds them without a hash table's empty buckets or a box per value. The gap
//! a dead value leaves costs one slot until every value before it is gone.

use std::collections::VecDeque;

/// Below this many slots a slab keeps its room: shrinking small deques saves nothing.
const SLOTS_KEPT_MIN: usize = 1024;

#[derive(Debug, Clone)]
pub struct SeqSlab<T> {
    /// The sequence number of `slots[0]`.
    base: u64,
    slots: VecDeque<Option<T>>,
}

impl<T> Default for SeqSlab<T> {
    fn default() -> Self {
        Self {
            base: 0,
            slots: VecDeque::new(),
        }
    }
}

impl<T> SeqSlab<T> {
    /// Stores `value` under `seq`, which must be past every number stored so far.
    pub fn insert(&mut self, seq: u64, value: T) {
        if self.slots.is_empty() {
            self.base = seq;
        }
        let end = self.end();
        assert!(seq >= end, "sequence numbers grow: {seq} < {end}");
        self.slots.extend((end..seq).map(|_| None));
        self.slots.push_back(Some(value));
    }

    /// One past the last slot.
    fn end(&self) -> u64 {
        self.base + self.slots.len() as u64
    }

    fn slot(&self, seq: u64) -> Option<usize> {
        usize::try_from(seq.checked_sub(self.base)?).ok()
    }

    pub fn get(&self, seq: u64) -> Option<&T> {
        self.slots.get(self.slot(seq)?)?.as_ref()
    }

    pub fn get_mut(&mut self, seq: u64) -> Option<&mut T> {
        let slot = self.slot(seq)?;
        self.slots.get_mut(slot)?.as_mut()
    }

    /// Takes the value out; a dead front is let go at once.
    pub fn remove(&mut self, seq: u64) -> Option<T> {
        let slot = self.slot(seq)?;
        let value = self.slots.get_mut(slot)?.take()?;
        while matches!(self.slots.front(), Some(None)) {
            self.slots.pop_front();
            self.base += 1;
        }
        self.give_back_room();
        Some(value)
    }

    /// After a surge has gone (a million waiting, then admitted), the room it needed goes back to
    /// the allocator. Shrinking only below a quarter keeps the cost amortised.
    fn give_back_room(&mut self) {
        let capacity = self.slots.capacity();
        if capacity > SLOTS_KEPT_MIN && self.slots.len() < capacity / 4 {
            self.slots.shrink_to((self.slots.len() * 2).max(SLOTS_KEPT_MIN));
        }
    }

    /// The live values in sequence order.
    pub fn values(&self) -> impl Iterator<Item = &T> + '_ {
        self.slots.iter().flatten()
    }

    /// Slots in use, dead gaps included: what the slab costs.
    pub fn span(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_kept_by_sequence_number_and_the_dead_front_is_let_go() {
        let mut slab = SeqSlab::default();
        slab.insert(5, "five");
        slab.insert(6, "six");
        slab.insert(9, "nine");
        assert_eq!(slab.values().copied().collect::<Vec<_>>(), ["five", "six", "nine"]);
        assert!(slab.get(7).is_none() && slab.get(4).is_none() && slab.get(10).is_none());
        assert_eq!(slab.remove(6), Some("six"));
        assert_eq!(slab.remove(6), None);
        assert_eq!(slab.span(), 5, "a gap in the middle stays");
        assert_eq!(slab.remove(5), Some("five"));
        assert_eq!((slab.base, slab.span()), (9, 1), "the dead front is let go");
        *slab.get_mut(9).unwrap() = "NINE";
        assert_eq!(slab.get(9), Some(&"NINE"));
        slab.remove(9);
        slab.insert(12, "twelve");
        assert_eq!(
            (slab.base, slab.span()),
            (12, 1),
            "an emptied slab starts again at the next number"
        );
    }

    #[test]
    fn the_room_a_surge_needed_is_given_back_when_it_is_gone() {
        let mut slab = SeqSlab::default();
        (0..100_000).for_each(|seq| slab.insert(seq, seq));
        let surge = slab.slots.capacity();
        (0..99_990).for_each(|seq| assert_eq!(slab.remove(seq), Some(seq)));
        assert!(
            slab.slots.capacity() < surge / 4,
            "{} of {surge}",
            slab.slots.capacity()
        );
        assert_eq!(
            slab.values().copied().collect::<Vec<_>>(),
            (99_990..100_000).collect::<Vec<_>>()
        );
    }

    #[test]
    #[should_panic(expected = "sequence numbers grow")]
    fn a_number_below_the_last_is_a_bug() {
        let mut slab = SeqSlab::default();
        slab.insert(3, ());
        slab.insert(2, ());
    }
}
