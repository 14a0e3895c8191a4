//! The member directory: which household (and so which partition) each member belongs to.
//!
//! Member-keyed requests (a claim, an eligibility check) name a member, not a household; the
//! directory routes them. It is built at start from every partition's enrolments and kept
//! as enrolments are answered. A member id is unique across the ledger: an enrolment names
//! its household, and the directory refuses one whose member is enrolled (or being
//! enrolled) in a household of another partition. Within one partition the partition's
//! own rules decide (a retry, the same member twice), exactly as with one partition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use ledger::ids::{HouseholdId, MemberId};
use ledger::partition::{Partition, Partitions};

#[derive(Debug, Default)]
struct Entries {
    /// Enrolled: the member's household.
    members: HashMap<MemberId, HouseholdId>,
    /// Enrolments in flight: the partition deciding them, and how many.
    pending: HashMap<MemberId, (Partition, u32)>,
}

/// Member id -> household id, shared by every request.
#[derive(Debug, Clone)]
pub struct Directory {
    partitions: Partitions,
    entries: Arc<Mutex<Entries>>,
}

/// The member is enrolled, or being enrolled, in another partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrolledElsewhere;

/// An enrolment in flight: holding it keeps other partitions from enrolling the member.
#[must_use]
pub struct Reservation {
    directory: Directory,
    member: MemberId,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut entries = self.directory.lock();
        if let Some((_, count)) = entries.pending.get_mut(&self.member) {
            *count -= 1;
            if *count == 0 {
                entries.pending.remove(&self.member);
            }
        }
    }
}

impl Directory {
    pub fn new(partitions: Partitions) -> Self {
        Directory {
            partitions,
            entries: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map is consistent after every statement: a panic elsewhere cannot tear it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records enrolled members (at start, from a partition's registry).
    pub fn extend(&self, members: impl IntoIterator<Item = (MemberId, HouseholdId)>) {
        self.lock().members.extend(members);
    }

    /// The household of `member`, if enrolled.
    pub fn household(&self, member: &MemberId) -> Option<HouseholdId> {
        self.lock().members.get(member).cloned()
    }

    pub fn len(&self) -> usize {
        self.lock().members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reserves `member` for an enrolment into `household`. Err: the member is enrolled in
    /// (or being enrolled into) a household of another partition.
    pub fn reserve(
        &self,
        member: &MemberId,
        household: &HouseholdId,
    ) -> Result<Reservation, EnrolledElsewhere> {
        let partition = self.partitions.of(household.as_str());
        let mut entries = self.lock();
        if let Some(existing) = entries.members.get(member)
            && self.partitions.of(existing.as_str()) != partition
        {
            return Err(EnrolledElsewhere);
        }
        let pending = entries
            .pending
            .entry(member.clone())
            .or_insert((partition, 0));
        if pending.0 != partition {
            return Err(EnrolledElsewhere);
        }
        pending.1 += 1;
        Ok(Reservation {
            directory: self.clone(),
            member: member.clone(),
        })
    }

    /// Records an enrolment the log took.
    pub fn enrolled(&self, member: MemberId, household: HouseholdId) {
        self.lock().members.insert(member, household);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id<T: std::str::FromStr>(s: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        s.parse().unwrap()
    }

    /// Two household ids in different partitions of 4.
    fn households_apart(p: Partitions) -> (HouseholdId, HouseholdId) {
        let first: HouseholdId = id("HH-0");
        let other = (1..)
            .map(|i| id::<HouseholdId>(&format!("HH-{i}")))
            .find(|h| p.of(h.as_str()) != p.of(first.as_str()))
            .unwrap();
        (first, other)
    }

    #[test]
    fn a_member_is_enrolled_in_one_partition_only() {
        let p = Partitions::new(4).unwrap();
        let directory = Directory::new(p);
        let (a, b) = households_apart(p);
        let member: MemberId = id("M-1");
        let held = directory.reserve(&member, &a).unwrap();
        // While in flight: another partition is refused, the same one may proceed (a retry).
        assert_eq!(
            directory.reserve(&member, &b).err(),
            Some(EnrolledElsewhere)
        );
        drop(directory.reserve(&member, &a).unwrap());
        directory.enrolled(member.clone(), a.clone());
        drop(held);
        assert_eq!(
            directory.reserve(&member, &b).err(),
            Some(EnrolledElsewhere)
        );
        assert_eq!(directory.household(&member), Some(a));
    }

    #[test]
    fn a_refused_enrolment_frees_the_member() {
        let p = Partitions::new(4).unwrap();
        let directory = Directory::new(p);
        let (a, b) = households_apart(p);
        let member: MemberId = id("M-1");
        drop(directory.reserve(&member, &a).unwrap());
        assert!(directory.reserve(&member, &b).is_ok());
        assert!(directory.is_empty());
    }
}
