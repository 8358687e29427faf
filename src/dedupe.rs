//! Remembering what was recently seen: a bounded set of 64-bit hashes, oldest forgotten first.
//!
//! Sources use it to drop events (by `metadata.uid`) or objects they already delivered. The
//! set stores hashes, not the strings, so its memory is 8 bytes an entry plus the table, and it
//! can be persisted as a flat file of little-endian `u64`s.

use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasherDefault;

/// FNV-1a of a string: the strings come from ConductorOne or S3, not an attacker, so a fast
/// non-keyed hash is enough (SipHash cost more than the rest of the dedupe).
pub(crate) fn hash_str(text: &str) -> u64 {
    hash_bytes(0xcbf2_9ce4_8422_2325, text.as_bytes())
}

/// FNV-1a continued from `hash` over `bytes` (to hash several parts without joining them).
pub(crate) fn hash_bytes(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Hashes the `u64`s of a [`RecentSet`] as themselves: they already are hashes.
#[derive(Default)]
pub(crate) struct PrehashedHasher(u64);

impl std::hash::Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 << 8) | u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// A set of hashes that are already hashes.
pub(crate) type HashSetU64 = HashSet<u64, BuildHasherDefault<PrehashedHasher>>;

/// The last `capacity` distinct hashes inserted.
#[derive(Debug, Clone)]
pub(crate) struct RecentSet {
    capacity: usize,
    seen: HashSetU64,
    order: VecDeque<u64>,
}

impl RecentSet {
    /// An empty set remembering at most `capacity` (at least 1) hashes.
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            seen: HashSetU64::with_capacity_and_hasher(capacity.min(1 << 20), Default::default()),
            order: VecDeque::with_capacity(capacity.min(1 << 20)),
        }
    }

    /// Records `hash`; false if it was already there. The oldest hash is forgotten when full.
    pub(crate) fn insert(&mut self, hash: u64) -> bool {
        if !self.seen.insert(hash) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.order.push_back(hash);
        true
    }

    /// Whether `hash` is remembered.
    pub(crate) fn contains(&self, hash: u64) -> bool {
        self.seen.contains(&hash)
    }

    /// Hashes remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// The hashes, oldest first, as little-endian `u64`s (see [`from_bytes`](Self::from_bytes)).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        self.order
            .iter()
            .flat_map(|hash| hash.to_le_bytes())
            .collect()
    }

    /// A set of `capacity` holding the newest hashes of `bytes` (from [`to_bytes`](Self::to_bytes));
    /// a trailing partial entry is ignored.
    pub(crate) fn from_bytes(bytes: &[u8], capacity: usize) -> Self {
        let mut set = Self::new(capacity);
        for chunk in bytes.chunks_exact(8) {
            set.insert(u64::from_le_bytes(chunk.try_into().expect("chunks of 8")));
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_when_full_and_round_trips_through_bytes() {
        let mut set = RecentSet::new(3);
        for hash in [1, 2, 3] {
            assert!(set.insert(hash));
        }
        assert!(!set.insert(2));
        assert!(set.insert(4));
        assert!(!set.contains(1) && set.contains(2) && set.contains(4));
        let restored = RecentSet::from_bytes(&set.to_bytes(), 2);
        assert_eq!(restored.len(), 2);
        assert!(restored.contains(3) && restored.contains(4) && !restored.contains(2));
        assert_ne!(hash_str("a"), hash_str("b"));
        assert_eq!(hash_bytes(hash_str("ab"), b"c"), hash_str("abc"));
    }
}
