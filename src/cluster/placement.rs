//! Which live node should own a partition: rendezvous (highest random weight) hashing of the
//! partition's name against each node's id. Every node computes the same answer from the same
//! list of members, with no coordination; a node that joins takes only the partitions it now
//! scores highest on, and a node that leaves gives up only its own, so a change of members moves
//! as few partitions as it can (Thaler and Ravishankar).
//!
//! The placement says who *should* own a partition; the lease says who does. A node that should
//! own a partition takes its lease once free, and a node that should no longer own one gives it
//! back, so partitions move back when nodes join.

use siphasher::sip::SipHasher13;
use std::hash::Hasher;

/// The node among `members` (by id) that should own `partition`, or none without members.
pub fn owner<'a>(partition: &str, members: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Ties (never seen in practice with 64-bit scores) go to the smaller id, so that every node
    // picks the same one.
    members
        .into_iter()
        .max_by(|a, b| score(partition, a).cmp(&score(partition, b)).then_with(|| b.cmp(a)))
}

/// The weight of `node` for `partition`: the same on every node and every build, as SipHash-1-3
/// with fixed keys is defined to be.
fn score(partition: &str, node: &str) -> u64 {
    let mut hasher = SipHasher13::new_with_keys(0x636f_6e63_6572_7473, 0x7061_7274_6974_696f);
    // Lengths first, so that ("ab", "c") and ("a", "bc") differ.
    hasher.write_usize(partition.len());
    hasher.write(partition.as_bytes());
    hasher.write_usize(node.len());
    hasher.write(node.as_bytes());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn partitions(count: usize) -> Vec<String> {
        (0..count)
            .map(|n| format!("date.{n:08x}.2026-12-{:02}", n % 28 + 1))
            .collect()
    }

    fn placed<'a>(partitions: &'a [String], members: &[&'a str]) -> HashMap<&'a str, &'a str> {
        (partitions.iter())
            .map(|partition| {
                (
                    partition.as_str(),
                    owner(partition, members.iter().copied()).expect("members"),
                )
            })
            .collect()
    }

    #[test]
    fn nobody_owns_anything_without_members() {
        assert_eq!(owner("room", std::iter::empty()), None);
    }

    #[test]
    fn the_owner_does_not_depend_on_the_order_members_are_listed_in() {
        let forward = ["node-a", "node-b", "node-c"];
        let backward = ["node-c", "node-b", "node-a"];
        for partition in partitions(200) {
            assert_eq!(owner(&partition, forward), owner(&partition, backward), "{partition}");
        }
    }

    #[test]
    fn partitions_spread_evenly_over_the_members() {
        let partitions = partitions(3_000);
        let members = ["node-a", "node-b", "node-c"];
        let placed = placed(&partitions, &members);
        for member in members {
            let owned = placed.values().filter(|owner| **owner == member).count();
            // A third is 1,000; a binomial spread stays well within ±15% of it.
            assert!((850..=1_150).contains(&owned), "{member} owns {owned} of 3,000");
        }
    }

    proptest! {
        /// Read the other way round, the same pair of placements shows that a leaving node gives
        /// up only its own partitions.
        #[test]
        fn a_joining_node_takes_only_partitions_it_then_owns(
            count in 1usize..6,
            seed in any::<u32>(),
        ) {
            let names: Vec<String> = (0..=count).map(|n| format!("node-{seed:x}-{n}")).collect();
            let (before, after): (Vec<&str>, Vec<&str>) = (
                names[..count].iter().map(String::as_str).collect(),
                names.iter().map(String::as_str).collect(),
            );
            let joining = names[count].as_str();
            let partitions = partitions(300);
            let (was, is) = (placed(&partitions, &before), placed(&partitions, &after));
            for partition in &partitions {
                let (was, is) = (was[partition.as_str()], is[partition.as_str()]);
                prop_assert!(was == is || is == joining, "{partition} moved from {was} to {is}");
            }
        }
    }
}
