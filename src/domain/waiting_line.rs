//! The line of WAITING tokens, by sequence number: push at the back, remove from anywhere, pop the
//! front, and tell a token's 1-based position in O(log n), even with a million waiting.
//!
//! Presence bits sit in a window of sequence numbers `[base, base + capacity)`, counted by a
//! Fenwick tree. When a push falls past the window, the window slides to start at the front of
//! the line and doubles its free room, so the rebuild costs amortised O(1) a push.

const CAPACITY_MIN: usize = 1024;

#[derive(Debug, Clone)]
pub struct WaitingLine {
    /// The sequence number at index 0 of the window.
    base: u64,
    present: Vec<bool>,
    /// Fenwick tree over `present`; `tree[i - 1]` covers the 1-based node `i`.
    tree: Vec<u32>,
    /// No entry waits below this index.
    head: usize,
    /// The smallest sequence number a push may still use.
    next_seq_min: u64,
    len: usize,
}

impl Default for WaitingLine {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitingLine {
    pub fn new() -> Self {
        Self {
            base: 0,
            present: vec![false; CAPACITY_MIN],
            tree: vec![0; CAPACITY_MIN],
            head: 0,
            next_seq_min: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Puts `seq` at the back. Sequence numbers must grow: the line is in issue order.
    pub fn push_back(&mut self, seq: u64) {
        assert!(
            seq >= self.next_seq_min,
            "sequence numbers must grow: {seq} < {}",
            self.next_seq_min
        );
        if seq - self.base >= self.present.len() as u64 {
            self.slide_window_to_fit(seq);
        }
        let index = (seq - self.base) as usize;
        self.present[index] = true;
        self.add(index, 1);
        self.next_seq_min = seq + 1;
        self.len += 1;
    }

    /// Takes `seq` out of the line wherever it stands; false if it was not waiting.
    pub fn remove(&mut self, seq: u64) -> bool {
        let Some(index) = self.index_of(seq) else {
            return false;
        };
        self.present[index] = false;
        self.add(index, -1);
        self.len -= 1;
        true
    }

    pub fn front(&mut self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        // Some entry waits at or after `head`, so the scan stops inside the window.
        while !self.present[self.head] {
            self.head += 1;
        }
        Some(self.base + self.head as u64)
    }

    pub fn pop_front(&mut self) -> Option<u64> {
        let seq = self.front()?;
        self.remove(seq);
        Some(seq)
    }

    /// 1-based position of `seq` among the waiting, or None if it does not wait.
    pub fn position(&self, seq: u64) -> Option<u64> {
        let index = self.index_of(seq)?;
        Some(u64::from(self.prefix_count(index)))
    }

    fn index_of(&self, seq: u64) -> Option<usize> {
        let index = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        (index < self.present.len() && self.present[index]).then_some(index)
    }

    /// Live entries at indices `0..=index`.
    fn prefix_count(&self, index: usize) -> u32 {
        let mut node = index + 1;
        let mut count = 0;
        while node > 0 {
            count += self.tree[node - 1];
            node &= node - 1;
        }
        count
    }

    fn add(&mut self, index: usize, delta: i32) {
        let mut node = index + 1;
        while node <= self.tree.len() {
            self.tree[node - 1] = self.tree[node - 1].wrapping_add_signed(delta);
            node += node & node.wrapping_neg();
        }
    }

    fn slide_window_to_fit(&mut self, seq: u64) {
        // An empty line starts its window at the push: a sale's tokens are numbered from far up
        // (their band), and nothing below them is kept.
        let new_base = if self.len == 0 {
            seq
        } else {
            self.base + self.head as u64
        };
        let span = (seq - new_base + 1) as usize;
        let capacity = (span * 2).next_power_of_two().max(CAPACITY_MIN);
        let mut present = vec![false; capacity];
        let kept = if self.len == 0 {
            &[][..]
        } else {
            &self.present[self.head..]
        };
        present[..kept.len()].copy_from_slice(kept);
        self.present = present;
        self.base = new_base;
        self.head = 0;
        self.rebuild_tree();
    }

    /// Linear-time Fenwick construction: each node passes its sum to its parent.
    fn rebuild_tree(&mut self) {
        self.tree = self.present.iter().map(|&p| u32::from(p)).collect();
        for node in 1..=self.tree.len() {
            let parent = node + (node & node.wrapping_neg());
            if parent <= self.tree.len() {
                self.tree[parent - 1] += self.tree[node - 1];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn an_empty_line_takes_a_push_far_up_without_a_window_to_it() {
        let mut line = WaitingLine::new();
        let far = 3 << 40;
        line.push_back(far);
        line.push_back(far + 2);
        assert_eq!(line.present.len(), CAPACITY_MIN, "the window starts at the push");
        assert_eq!((line.front(), line.position(far + 2)), (Some(far), Some(2)));
    }

    #[test]
    fn positions_close_up_after_a_departure_from_the_middle() {
        let mut line = WaitingLine::new();
        for seq in [3, 5, 8, 13] {
            line.push_back(seq);
        }
        assert_eq!(line.position(8), Some(3));
        assert!(line.remove(5));
        assert_eq!(line.position(8), Some(2));
        assert_eq!(line.position(5), None);
        assert_eq!(line.pop_front(), Some(3));
        assert_eq!(line.position(13), Some(2));
        assert_eq!(line.len(), 2);
    }

    #[test]
    fn the_window_slides_without_losing_anyone() {
        let mut line = WaitingLine::new();
        for seq in 0..10_000u64 {
            line.push_back(seq * 3);
            if seq % 2 == 0 {
                line.pop_front();
            }
        }
        assert_eq!(line.len(), 5_000);
        let front = line.front().unwrap();
        assert_eq!(line.position(front), Some(1));
        assert_eq!(line.position(9_999 * 3), Some(5_000));
    }

    #[derive(Debug, Clone)]
    enum Step {
        Push(u8),
        Remove(u16),
        Pop,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => any::<u8>().prop_map(Step::Push),
            2 => any::<u16>().prop_map(Step::Remove),
            1 => Just(Step::Pop),
        ]
    }

    proptest! {
        #[test]
        fn agrees_with_an_ordered_set(steps in proptest::collection::vec(step(), 1..400)) {
            let mut line = WaitingLine::new();
            let mut model = BTreeSet::new();
            let mut next = 0u64;
            for step in steps {
                match step {
                    Step::Push(gap) => {
                        next += u64::from(gap) * 17 + 1;
                        line.push_back(next);
                        model.insert(next);
                    }
                    Step::Remove(pick) => {
                        let seq = u64::from(pick) * 7;
                        prop_assert_eq!(line.remove(seq), model.remove(&seq));
                    }
                    Step::Pop => prop_assert_eq!(line.pop_front(), model.pop_first()),
                }
                prop_assert_eq!(line.len(), model.len());
                for (rank, seq) in model.iter().enumerate() {
                    prop_assert_eq!(line.position(*seq), Some(rank as u64 + 1));
                }
            }
        }
    }
}
