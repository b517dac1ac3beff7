//! Proofs of work already spent, each kept only until its challenge expires: past that the expiry
//! refuses it anyway, so memory follows the proofs of the last few minutes, never the whole sale.

use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};

/// A proof's identity: the SHA-256 its challenge names. Every variant of one solution that the
/// signature accepts names the same challenge, so keying on it leaves no variant to spend twice.
pub type ProofId = [u8; 32];

/// Why a proof cannot be spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It was spent before.
    Spent,
    /// As many proofs as allowed are kept; the first of them is forgotten at `until`.
    Full { until: DateTime<Utc> },
}

/// The proofs spent and not yet expired.
#[derive(Debug)]
pub struct SpentProofs {
    expiry_of: HashMap<ProofId, DateTime<Utc>>,
    /// The same proofs by expiry, so the expired ones are forgotten from the front without a
    /// sweep over all of them.
    by_expiry: BTreeSet<(DateTime<Utc>, ProofId)>,
    kept_max: usize,
}

impl SpentProofs {
    pub fn new(kept_max: usize) -> Self {
        assert!(kept_max > 0, "a proof must fit");
        Self {
            expiry_of: HashMap::new(),
            by_expiry: BTreeSet::new(),
            kept_max,
        }
    }

    /// Spends `proof`, whose challenge is good until `expires`, unless it was spent before.
    /// Proofs expired at `now` are forgotten first.
    pub fn spend(&mut self, proof: ProofId, expires: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Refusal> {
        self.forget_expired(now);
        if self.expiry_of.contains_key(&proof) {
            return Err(Refusal::Spent);
        }
        if let Some((until, _)) = self.by_expiry.first().filter(|_| self.len() >= self.kept_max) {
            return Err(Refusal::Full { until: *until });
        }
        self.expiry_of.insert(proof, expires);
        self.by_expiry.insert((expires, proof));
        assert_eq!(
            self.expiry_of.len(),
            self.by_expiry.len(),
            "both views hold the same proofs"
        );
        Ok(())
    }

    /// Proofs kept.
    pub fn len(&self) -> usize {
        self.expiry_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.expiry_of.is_empty()
    }

    /// A challenge is good up to and including its expiry second, so a proof is kept that long.
    fn forget_expired(&mut self, now: DateTime<Utc>) {
        while let Some((expires, proof)) = self.by_expiry.first().copied() {
            if expires >= now {
                break;
            }
            self.by_expiry.pop_first();
            let removed = self.expiry_of.remove(&proof);
            assert_eq!(removed, Some(expires), "both views hold the same proofs");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn a_proof_is_spent_once() {
        let mut spent = SpentProofs::new(10);
        assert_eq!(spent.spend([1; 32], at(300), at(0)), Ok(()));
        assert_eq!(spent.spend([1; 32], at(300), at(1)), Err(Refusal::Spent));
        assert_eq!(spent.spend([2; 32], at(300), at(1)), Ok(()));
    }

    #[test]
    fn a_proof_is_kept_through_its_last_second_and_forgotten_after() {
        let mut spent = SpentProofs::new(10);
        spent.spend([1; 32], at(300), at(0)).unwrap();
        assert_eq!(spent.spend([1; 32], at(300), at(300)), Err(Refusal::Spent));
        spent.spend([2; 32], at(600), at(301)).unwrap();
        assert_eq!(spent.len(), 1, "the first proof's challenge has expired");
    }

    #[test]
    fn memory_follows_the_last_minutes_whatever_was_spent_before() {
        let mut spent = SpentProofs::new(1_000);
        for second in 0..10_000_i64 {
            let mut proof = [0; 32];
            proof[..8].copy_from_slice(&second.to_le_bytes());
            let now = at(second);
            spent.spend(proof, now + Duration::seconds(300), now).unwrap();
            assert!(spent.len() <= 301);
        }
    }

    #[test]
    fn past_the_bound_a_proof_is_refused_until_the_first_one_expires() {
        let mut spent = SpentProofs::new(2);
        spent.spend([1; 32], at(100), at(0)).unwrap();
        spent.spend([2; 32], at(200), at(0)).unwrap();
        assert_eq!(
            spent.spend([3; 32], at(300), at(0)),
            Err(Refusal::Full { until: at(100) })
        );
        assert_eq!(spent.spend([3; 32], at(300), at(101)), Ok(()));
        assert_eq!(
            spent.spend([1; 32], at(300), at(101)),
            Err(Refusal::Full { until: at(200) })
        );
    }
}
