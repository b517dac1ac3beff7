//! The draw of a sale's pre-queue: a secret seed committed to when the pre-queue opens, and one
//! uniformly random order of the pre-queued tokens drawn from it when the sale opens. The order
//! is spelled out here to the last step, so that anyone holding the published seed and the list
//! of tokens can recompute it with any ChaCha20 implementation, and check the commitment.
//!
//! The order, for `n` tokens listed in issue order:
//! 1. a ChaCha20 generator (20 rounds, the RFC 7539 block function as `rand_chacha`'s
//!    `ChaCha20Rng` runs it) is seeded with the 32 bytes of the seed;
//! 2. for `i` from `n - 1` down to `1`, a `j` is drawn uniformly from `0..=i` and the tokens at
//!    `i` and `j` swap places (Fisher–Yates);
//! 3. `j` is drawn by rejection: take the generator's next 64-bit output `x`, refuse it while
//!    `x >= 2^64 - 1 - ((2^64 - 1) mod (i + 1))`, then `j = x mod (i + 1)`.

use super::ids::hex;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The seed a sale draws its order from: kept secret until the draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawSeed([u8; 32]);

impl DrawSeed {
    /// A fresh seed from the operating system's randomness, through the thread's CSPRNG.
    pub fn random() -> Self {
        Self(rand::random())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The seed as published after the draw: 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// What the sale publishes when its pre-queue opens: SHA-256 of the seed's 32 bytes, in hex.
    pub fn commitment(&self) -> String {
        hex(&Sha256::digest(self.0))
    }

    /// `tokens`, given in issue order, in the order drawn from this seed.
    pub fn order<T>(&self, mut tokens: Vec<T>) -> Vec<T> {
        let mut generator = ChaCha20Rng::from_seed(self.0);
        for i in (1..tokens.len()).rev() {
            let j = uniform_up_to(&mut generator, i as u64) as usize;
            tokens.swap(i, j);
        }
        tokens
    }
}

/// A number drawn uniformly from `0..=top`, by rejecting the generator's outputs that would make
/// some numbers likelier than others.
fn uniform_up_to(generator: &mut ChaCha20Rng, top: u64) -> u64 {
    let bound = top + 1;
    let limit = u64::MAX - u64::MAX % bound;
    loop {
        let drawn = generator.next_u64();
        if drawn < limit {
            return drawn % bound;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ChaCha20Rng, DrawSeed, RngCore, SeedableRng};
    use proptest::prelude::{any, prop_assert_eq, prop_assert_ne, prop_assume, proptest};

    #[test]
    fn the_commitment_is_the_sha256_of_the_seed() {
        // SHA-256 of 32 zero bytes, as any tool computes it.
        let zero = DrawSeed::from_bytes([0; 32]);
        assert_eq!(
            zero.commitment(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        assert_eq!(zero.to_hex(), "0".repeat(64));
    }

    #[test]
    fn the_order_of_a_known_seed_is_the_documented_one() {
        // The first outputs of ChaCha20 under the zero key and nonce (RFC 7539's test vector 1,
        // as little-endian 64-bit words) decide this order by the steps in the module's doc.
        let mut generator = ChaCha20Rng::from_seed([0; 32]);
        assert_eq!(
            generator.next_u64(),
            u64::from_le_bytes([0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90])
        );
        let words = {
            let mut generator = ChaCha20Rng::from_seed([0; 32]);
            [generator.next_u64(), generator.next_u64(), generator.next_u64()]
        };
        // Four tokens: i = 3, 2, 1 take j = w0 mod 4, w1 mod 3, w2 mod 2 (no word is rejected
        // this near 2^64 only with a chance of about 2^-62).
        let mut expected = vec!['a', 'b', 'c', 'd'];
        for (i, word) in (1..4).rev().zip(words) {
            expected.swap(i, (word % (i as u64 + 1)) as usize);
        }
        assert_eq!(DrawSeed::from_bytes([0; 32]).order(vec!['a', 'b', 'c', 'd']), expected);
    }

    proptest! {
        #[test]
        fn a_draw_is_a_permutation_reproducible_from_its_seed(seed in any::<[u8; 32]>(), n in 0usize..300) {
            let seed = DrawSeed::from_bytes(seed);
            let tokens: Vec<usize> = (0..n).collect();
            let order = seed.order(tokens.clone());
            let mut sorted = order.clone();
            sorted.sort_unstable();
            prop_assert_eq!(&sorted, &tokens, "every token once");
            prop_assert_eq!(seed.order(tokens), order, "the same seed, the same order");
        }

        #[test]
        fn a_seed_matches_its_own_commitment_only(first in any::<[u8; 32]>(), second in any::<[u8; 32]>()) {
            prop_assume!(first != second);
            let (first, second) = (DrawSeed::from_bytes(first), DrawSeed::from_bytes(second));
            prop_assert_eq!(first.commitment(), first.commitment());
            prop_assert_ne!(first.commitment(), second.commitment());
        }
    }

    /// Each of 6 tokens lands at each of the 6 places about equally often over 60,000 seeds: a
    /// chi-square over the 36 cells with 25 degrees of freedom stays far below what a biased
    /// shuffle (say, `j` drawn from `0..n` at every step) reaches.
    #[test]
    fn each_token_is_equally_likely_at_each_place() {
        const TOKENS: usize = 6;
        const DRAWS: usize = 60_000;
        let mut counts = [[0u32; TOKENS]; TOKENS];
        for draw in 0..DRAWS {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(draw as u64).to_le_bytes());
            let order = DrawSeed::from_bytes(seed).order((0..TOKENS).collect());
            for (place, token) in order.into_iter().enumerate() {
                counts[token][place] += 1;
            }
        }
        let expected = (DRAWS / TOKENS) as f64;
        let chi_square: f64 = (counts.iter().flatten())
            .map(|&count| (f64::from(count) - expected).powi(2) / expected)
            .sum();
        // The 99.99th percentile of chi-square with 25 degrees of freedom is about 62.
        assert!(chi_square < 62.0, "chi-square {chi_square:.1}: {counts:?}");
    }
}
