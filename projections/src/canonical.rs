//! The ledger's digest, independent of how it is partitioned: the same commands give the
//! same digest with one partition or many.
//!
//! Each model renders its state as lines without log positions (offsets differ with the
//! partition count) and without indexes (they follow from the lines), of three kinds:
//! - **owned**: what one partition holds (a household, a claim, a statement) or a part of a
//!   whole every partition adds to (an accrual to a facility): hashed and summed modulo
//!   2^256, so neither their order nor their partition matters, and two equal lines count
//!   twice;
//! - **shared**: what every partition holds alike (a published scheme, a period's close):
//!   counted once;
//! - **sums**: amounts a whole has parts of in several partitions (an account's balance and
//!   its day totals, a sponsor's gifts to everyone): added up per key.
//!
//! [`Canonicals::merge`] adds partitions together; [`Canonicals::digests`] hashes the result.
//! A statement's lines are a [`LineSum`] too: a statement lists what every partition
//! assigned to it, in partition order, and the lines stay in the log.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use sha2::{Digest, Sha256};

use crate::{Digests, Projections};

/// A multiset of lines as one value: the SHA-256 of each line's rendering, added as 256-bit
/// little-endian numbers (modulo 2^256), and how many there are. Order does not matter; a
/// line added twice counts twice.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct LineSum {
    sum: [u64; 4],
    lines: u64,
}

impl LineSum {
    pub fn add(&mut self, line: &impl Debug) {
        self.merge(&LineSum {
            sum: limbs(sha256_of(line)),
            lines: 1,
        });
    }

    pub fn merge(&mut self, other: &LineSum) {
        let mut carry = 0u64;
        for (sum, add) in self.sum.iter_mut().zip(&other.sum) {
            let (s, c1) = sum.overflowing_add(*add);
            let (s, c2) = s.overflowing_add(carry);
            *sum = s;
            carry = u64::from(c1) + u64::from(c2);
        }
        self.lines = self.lines.wrapping_add(other.lines);
    }

    fn update(&self, h: &mut Sha256) {
        for limb in self.sum {
            h.update(limb.to_le_bytes());
        }
        h.update(self.lines.to_le_bytes());
    }
}

/// One model's lines, as a mergeable summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Canonical {
    owned: LineSum,
    shared: BTreeSet<[u8; 32]>,
    sums: BTreeMap<String, i128>,
}

fn sha256_of(line: &impl Debug) -> [u8; 32] {
    Sha256::digest(format!("{line:?}").as_bytes()).into()
}

impl Canonical {
    pub fn owned(&mut self, line: impl Debug) {
        self.owned.add(&line);
    }

    /// Lines already summed (a model's lines that left it, such as closed claims).
    pub fn owned_lines(&mut self, lines: &LineSum) {
        self.owned.merge(lines);
    }

    pub fn shared(&mut self, line: impl Debug) {
        self.shared.insert(sha256_of(&line));
    }

    pub fn sum(&mut self, key: impl Debug, value: i128) {
        let slot = self.sums.entry(format!("{key:?}")).or_default();
        // Parts of one ledger's balances: their sum is a balance, within `i128`.
        *slot = slot.wrapping_add(value);
    }

    pub fn merge(&mut self, other: &Canonical) {
        self.owned.merge(&other.owned);
        self.shared.extend(other.shared.iter().copied());
        for (key, value) in &other.sums {
            let slot = self.sums.entry(key.clone()).or_default();
            *slot = slot.wrapping_add(*value);
        }
    }

    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        self.owned.update(&mut h);
        for line in &self.shared {
            h.update(line);
        }
        for (key, value) in &self.sums {
            // A part that came to zero is no part: the same as a partition without it.
            if *value != 0 {
                h.update(key.as_bytes());
                h.update(value.to_le_bytes());
            }
        }
        h.finalize().into()
    }
}

fn limbs(hash: [u8; 32]) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (limb, bytes) in out.iter_mut().zip(hash.chunks_exact(8)) {
        let mut le = [0u8; 8];
        le.copy_from_slice(bytes);
        *limb = u64::from_le_bytes(le);
    }
    out
}

/// Every model's lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Canonicals {
    pub events: u64,
    pub registry: Canonical,
    pub balances: Canonical,
    pub coverage: Canonical,
    pub claims: Canonical,
    pub payments: Canonical,
}

impl Canonicals {
    /// One partition's.
    pub fn of(p: &Projections) -> Canonicals {
        let mut c = Canonicals {
            events: p.position(),
            ..Canonicals::default()
        };
        p.registry.canonical(&mut c.registry);
        p.balances.canonical(&mut c.balances);
        p.coverage.canonical(&mut c.coverage);
        p.claims.canonical(&mut c.claims);
        p.payments.canonical(&mut c.payments);
        c
    }

    /// Adds another partition's.
    pub fn merge(&mut self, other: &Canonicals) {
        self.events = self.events.saturating_add(other.events);
        self.registry.merge(&other.registry);
        self.balances.merge(&other.balances);
        self.coverage.merge(&other.coverage);
        self.claims.merge(&other.claims);
        self.payments.merge(&other.payments);
    }

    /// The ledger's digests: `position` is the number of events over every partition.
    pub fn digests(&self) -> Digests {
        Digests {
            position: self.events,
            registry: self.registry.digest(),
            balances: self.balances.digest(),
            coverage: self.coverage.digest(),
            claims: self.claims.digest(),
            payments: self.payments.digest(),
        }
    }
}

/// The digests of a ledger whose partitions hold `parts`.
pub fn ledger_digests<'a>(parts: impl IntoIterator<Item = &'a Projections>) -> Digests {
    let mut all = Canonicals::default();
    for p in parts {
        all.merge(&Canonicals::of(p));
    }
    all.digests()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_lines_add_up_in_any_order_and_count_twice() {
        let (mut a, mut b, mut one) = (
            Canonical::default(),
            Canonical::default(),
            Canonical::default(),
        );
        a.owned("x");
        b.owned("y");
        b.owned("x");
        for line in ["y", "x", "x"] {
            one.owned(line);
        }
        a.merge(&b);
        assert_eq!(a.digest(), one.digest());
        let mut fewer = Canonical::default();
        fewer.owned("x");
        fewer.owned("y");
        assert_ne!(fewer.digest(), one.digest());
    }

    #[test]
    fn shared_lines_count_once_and_sums_add() {
        let (mut a, mut b, mut one) = (
            Canonical::default(),
            Canonical::default(),
            Canonical::default(),
        );
        a.shared("scheme");
        b.shared("scheme");
        a.sum("premium-income", 30);
        b.sum("premium-income", 12);
        b.sum("wallet", 0);
        one.shared("scheme");
        one.sum("premium-income", 42);
        a.merge(&b);
        assert_eq!(a.digest(), one.digest());
        one.sum("premium-income", 1);
        assert_ne!(a.digest(), one.digest());
    }
}
