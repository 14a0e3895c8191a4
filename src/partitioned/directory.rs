//! Directories of ids that are unique across the ledger, and the partition holding each.
//!
//! - members: member-keyed requests (a claim, an eligibility check) name a member, not a
//!   household; the member directory routes them to the member's household's partition;
//! - receipt ids (savings, subsidies, premiums, copays, and the sponsors' matches derived
//!   from them) and payout ids: each used once in the whole ledger;
//! - (facility, claim code): a claim resubmitted under the same code is answered with the
//!   original, which may be in another partition (another member's household).
//!
//! Each directory is built at start from every partition's projections and kept as
//! commands are answered. A key in flight is reserved for the partition deciding it, so a
//! command with the same key in another partition is refused meanwhile, while one in the
//! same partition (a retry, the same id twice) is decided there, exactly as with one
//! partition.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use ledger::partition::Partition;

#[derive(Debug)]
struct Entries<K> {
    /// Recorded: the partition that holds the key.
    owners: HashMap<K, Partition>,
    /// In flight: the partition deciding it, and how many commands.
    pending: HashMap<K, (Partition, u32)>,
}

impl<K> Default for Entries<K> {
    fn default() -> Self {
        Entries {
            owners: HashMap::new(),
            pending: HashMap::new(),
        }
    }
}

/// Key -> the partition that holds it, shared by every request.
#[derive(Debug)]
pub struct Owners<K> {
    entries: Arc<Mutex<Entries<K>>>,
}

impl<K> Clone for Owners<K> {
    fn clone(&self) -> Self {
        Owners {
            entries: self.entries.clone(),
        }
    }
}

impl<K> Default for Owners<K> {
    fn default() -> Self {
        Owners {
            entries: Arc::default(),
        }
    }
}

/// The key is held, or being decided, in another partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldElsewhere(pub Partition);

/// Keys in flight: while held, other partitions cannot take them.
#[must_use]
pub struct Reservation<K: Eq + Hash + Clone> {
    owners: Owners<K>,
    keys: Vec<K>,
}

impl<K: Eq + Hash + Clone> Drop for Reservation<K> {
    fn drop(&mut self) {
        let mut entries = self.owners.lock();
        for key in self.keys.drain(..) {
            if let Some((_, count)) = entries.pending.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    entries.pending.remove(&key);
                }
            }
        }
    }
}

impl<K: Eq + Hash + Clone> Owners<K> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<K>> {
        // The maps are consistent after every statement: a panic elsewhere cannot tear them.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records keys a partition holds (at start, from its projections).
    pub fn extend(&self, partition: Partition, keys: impl IntoIterator<Item = K>) {
        let mut entries = self.lock();
        for key in keys {
            entries.owners.entry(key).or_insert(partition);
        }
    }

    /// The partition holding `key`, if any does.
    pub fn owner(&self, key: &K) -> Option<Partition> {
        self.lock().owners.get(key).copied()
    }

    pub fn len(&self) -> usize {
        self.lock().owners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reserves `keys` for a command decided in `partition`. Err: one of them is held, or
    /// being decided, in another partition (nothing is reserved then).
    pub fn reserve(
        &self,
        partition: Partition,
        keys: Vec<K>,
    ) -> Result<Reservation<K>, HeldElsewhere> {
        let mut entries = self.lock();
        for key in &keys {
            let elsewhere = entries
                .owners
                .get(key)
                .copied()
                .or_else(|| entries.pending.get(key).map(|(p, _)| *p))
                .filter(|p| *p != partition);
            if let Some(other) = elsewhere {
                return Err(HeldElsewhere(other));
            }
        }
        for key in &keys {
            entries
                .pending
                .entry(key.clone())
                .or_insert((partition, 0))
                .1 += 1;
        }
        Ok(Reservation {
            owners: self.clone(),
            keys,
        })
    }

    /// Reserves `key` in the partition that holds it (recorded or in flight), else in
    /// `default`; returns that partition (None: no partition holds it and none is given).
    pub fn reserve_with_holder(
        &self,
        key: K,
        default: Option<Partition>,
    ) -> Option<(Partition, Reservation<K>)> {
        let mut entries = self.lock();
        let partition = entries
            .owners
            .get(&key)
            .copied()
            .or_else(|| entries.pending.get(&key).map(|(p, _)| *p))
            .or(default)?;
        entries
            .pending
            .entry(key.clone())
            .or_insert((partition, 0))
            .1 += 1;
        drop(entries);
        Some((
            partition,
            Reservation {
                owners: self.clone(),
                keys: vec![key],
            },
        ))
    }

    /// Records keys a partition's log took.
    pub fn recorded(&self, partition: Partition, keys: impl IntoIterator<Item = K>) {
        self.extend(partition, keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::partition::Partitions;

    fn two() -> (Partition, Partition) {
        let p = Partitions::new(4).unwrap();
        (p.get(0).unwrap(), p.get(1).unwrap())
    }

    #[test]
    fn a_key_is_held_by_one_partition_only() {
        let (a, b) = two();
        let owners: Owners<String> = Owners::default();
        let key = || vec!["M-1".to_owned()];
        let held = owners.reserve(a, key()).unwrap();
        // While in flight: another partition is refused, the same one may proceed (a retry).
        assert_eq!(owners.reserve(b, key()).err(), Some(HeldElsewhere(a)));
        drop(owners.reserve(a, key()).unwrap());
        owners.recorded(a, key());
        drop(held);
        assert_eq!(owners.reserve(b, key()).err(), Some(HeldElsewhere(a)));
        assert_eq!(owners.owner(&"M-1".to_owned()), Some(a));
    }

    #[test]
    fn a_refused_command_frees_its_keys() {
        let (a, b) = two();
        let owners: Owners<String> = Owners::default();
        drop(owners.reserve(a, vec!["R-1".to_owned()]).unwrap());
        assert!(owners.reserve(b, vec!["R-1".to_owned()]).is_ok());
        assert!(owners.is_empty());
        // A command with several keys reserves all of them or none.
        owners.recorded(a, ["R-2".to_owned()]);
        let refused = owners.reserve(b, vec!["R-3".to_owned(), "R-2".to_owned()]);
        assert!(refused.is_err());
        assert!(owners.reserve(a, vec!["R-3".to_owned()]).is_ok());
    }
}
