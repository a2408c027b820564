//! The one source of randomness in sfko.
//!
//! Every random choice in a plan comes from a [`Stream`] derived from the run's [`Seed`] and a *label* (plus indices),
//! never from draw order. Adding a bucket therefore does not shift the objects of the other buckets, and two runs with
//! the same seed resolve to the same plan on every machine.
//!
//! Only raw `next_u64` of PCG-64 (MCG variant) is used, with sfko's own bounded sampling and shuffling: rand's
//! `gen_range`/`shuffle`/`choose` are allowed to change values between releases; ours are pinned by golden tests.

use rand_pcg::rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

/// blake3 `derive_key` context for every sub-stream. Changing it changes every plan: bump the journal format.
const DERIVE_CONTEXT: &str = "sfko 2026-11 seed stream v1";

/// The run's master seed, as typed by the user (`--seed N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Seed(pub u64);

impl Seed {
    /// A seed drawn from the OS, for runs started without `--seed`. It is printed, so the run can still be repeated.
    pub fn from_os() -> Seed {
        let mut bytes = [0u8; 8];
        // RandomState is seeded from the OS; hashing a counter through it gives us an OS-random u64 without a new dep.
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
        );
        bytes.copy_from_slice(&hasher.finish().to_le_bytes());
        // Keep seeds short enough to type: 48 bits.
        Seed(u64::from_le_bytes(bytes) & 0xFFFF_FFFF_FFFF)
    }

    /// Key material for a labelled sub-stream: blake3 `derive_key` over the seed, the label and the indices.
    pub fn key(self, label: &str, indices: &[u64]) -> [u8; 32] {
        let mut material = Vec::with_capacity(8 + label.len() + 1 + indices.len() * 8);
        material.extend_from_slice(&self.0.to_le_bytes());
        material.extend_from_slice(label.as_bytes());
        material.push(0);
        for index in indices {
            material.extend_from_slice(&index.to_le_bytes());
        }
        blake3::derive_key(DERIVE_CONTEXT, &material)
    }

    /// A random stream for `label` and `indices`, independent of every other label and index.
    pub fn stream(self, label: &str, indices: &[u64]) -> Stream {
        Stream::from_key(self.key(label, indices))
    }
}

impl std::fmt::Display for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A deterministic random stream with value-stable sampling helpers.
#[derive(Debug, Clone)]
pub struct Stream {
    rng: Pcg64Mcg,
}

impl Stream {
    /// A stream seeded from 32 bytes of key material (the first 16 seed the MCG state).
    pub fn from_key(key: [u8; 32]) -> Stream {
        let mut seed = [0u8; 16];
        seed.copy_from_slice(&key[..16]);
        Stream { rng: Pcg64Mcg::from_seed(seed) }
    }

    /// The next raw 64-bit output.
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Uniform-ish integer in `0..n` (Lemire's multiply-shift; bias below 2^-64 · n, irrelevant here). `n == 0` gives 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Integer in `lo..=hi` (inclusive). Returns `lo` when `hi <= lo`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// True with probability `numerator / denominator`.
    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }

    /// Index into a slice of `len` elements, or `None` if it is empty.
    pub fn index(&mut self, len: usize) -> Option<usize> {
        (len > 0).then(|| self.below(len as u64) as usize)
    }

    /// Fisher–Yates shuffle driven only by [`Stream::below`].
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// 32 bytes of key material for a child stream or a content seed.
    pub fn key(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_depend_on_label_and_index_not_draw_order() {
        let seed = Seed(42);
        let a = seed.stream("object", &[0, 1]).next_u64();
        let _ = seed.stream("object", &[0, 0]).next_u64();
        assert_eq!(a, seed.stream("object", &[0, 1]).next_u64());
        assert_ne!(a, seed.stream("object", &[0, 2]).next_u64());
        assert_ne!(a, seed.stream("bucket", &[0, 1]).next_u64());
    }

    /// Pins the exact outputs: if this fails, every plan changed; bump the journal format version deliberately.
    #[test]
    fn golden_stream_outputs() {
        let mut s = Seed(42).stream("golden", &[7]);
        let got: Vec<u64> = (0..3).map(|_| s.next_u64()).collect();
        let mut s = Seed(42).stream("golden", &[7]);
        let bounded: Vec<u64> = (0..5).map(|_| s.below(10)).collect();
        let mut items = [1, 2, 3, 4, 5, 6];
        Seed(42).stream("shuffle", &[]).shuffle(&mut items);
        let pinned = format!("{got:?} {bounded:?} {items:?}");
        assert_eq!(pinned, GOLDEN_STREAM, "seed stream outputs changed");
    }

    const GOLDEN_STREAM: &str =
        "[10174815216838415923, 6144798697800075631, 9431893831007597354] [5, 3, 5, 9, 5] [6, 2, 1, 5, 4, 3]";

    #[test]
    fn between_is_inclusive_and_total() {
        let mut s = Seed(1).stream("between", &[]);
        for _ in 0..1000 {
            let v = s.between(3, 5);
            assert!((3..=5).contains(&v));
        }
        assert_eq!(s.between(9, 2), 9);
        let _ = s.between(0, u64::MAX);
    }
}
