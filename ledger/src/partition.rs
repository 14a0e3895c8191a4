//! Partitions: which of a ledger's P partitions a key belongs to.
//!
//! A household's streams live in the partition of its household id, a facility's in the
//! partition of its facility id. The function is Kafka's default partitioner for keyed
//! records (`Utils.murmur2` of the key's UTF-8 bytes, made positive with `& 0x7fffffff`,
//! modulo the partition count), so a Java, librdkafka (`murmur2_random`) or any other Kafka
//! client sending the same key reaches the same partition. It is stable: it never changes for
//! a data directory, and the count P is fixed when a ledger is created (changing it is an
//! export and an import).

use std::fmt;

/// Most partitions a ledger may have.
pub const PARTITIONS_MAX: u32 = 256;

/// Kafka's murmur2 (the 32-bit MurmurHash2 with Kafka's seed), as `Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        let mut k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = words.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if let Some(&first) = rest.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: the hash with its sign bit cleared.
pub fn positive_hash(key: &str) -> u32 {
    (murmur2(key.as_bytes()) as u32) & 0x7fff_ffff
}

/// The number of partitions of a ledger: 1 to [`PARTITIONS_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Partitions(u32);

/// A partition count out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("partitions: {0} is not between 1 and {PARTITIONS_MAX}")]
pub struct PartitionsOutOfRange(pub u64);

impl Partitions {
    pub const ONE: Partitions = Partitions(1);

    pub fn new(count: u64) -> Result<Self, PartitionsOutOfRange> {
        match u32::try_from(count) {
            Ok(n) if (1..=PARTITIONS_MAX).contains(&n) => Ok(Partitions(n)),
            _ => Err(PartitionsOutOfRange(count)),
        }
    }

    pub fn count(self) -> u32 {
        self.0
    }

    /// The partition of `key` (a household or facility id).
    pub fn of(self, key: &str) -> Partition {
        Partition(positive_hash(key) % self.0)
    }

    /// The partition of a key's hash ([`positive_hash`]), e.g. the one a claim id carries.
    pub fn of_hash(self, hash: u32) -> Partition {
        Partition((hash & 0x7fff_ffff) % self.0)
    }

    /// Every partition, in order.
    pub fn all(self) -> impl Iterator<Item = Partition> {
        (0..self.0).map(Partition)
    }

    /// `partition` when it is one of these.
    pub fn get(self, partition: u32) -> Option<Partition> {
        (partition < self.0).then_some(Partition(partition))
    }
}

impl fmt::Display for Partitions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One partition's number, below its ledger's [`Partitions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Partition(u32);

impl Partition {
    /// The only partition of a one-partition ledger, and the one that decides what every
    /// partition records (scheme versions, period closes).
    pub const FIRST: Partition = Partition(0);

    pub fn index(self) -> usize {
        self.0 as usize
    }

    pub fn number(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values Kafka's own `Utils.murmur2` gives (its UtilsTest and the Java client on these
    /// keys), so any Kafka client agrees on a key's partition.
    #[test]
    fn murmur2_is_kafkas() {
        let cases: [(&str, i32); 6] = [
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            ("abc", 479470107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key.as_bytes()), expected, "{key}");
        }
    }

    #[test]
    fn a_key_lands_where_kafkas_default_partitioner_puts_it() {
        // toPositive(-790332482) % 4 = (0x7fffffff & -790332482) % 4
        let expected = ((-790332482i32 as u32) & 0x7fff_ffff) % 4;
        assert_eq!(Partitions::new(4).unwrap().of("foobar").number(), expected);
        assert_eq!(Partitions::ONE.of("foobar"), Partition::FIRST);
    }

    #[test]
    fn keys_spread_over_every_partition() {
        let p = Partitions::new(8).unwrap();
        let mut counts = [0u32; 8];
        for i in 0..8000 {
            counts[p.of(&format!("HH-{i}")).index()] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn counts_are_bounded() {
        assert!(Partitions::new(0).is_err());
        assert!(Partitions::new(u64::from(PARTITIONS_MAX) + 1).is_err());
        assert_eq!(Partitions::new(3).unwrap().all().count(), 3);
        assert_eq!(Partitions::new(3).unwrap().get(3), None);
    }
}
