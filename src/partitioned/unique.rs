//! The ids unique across the ledger that a command uses, and those its events record.
//!
//! Member ids and (facility, claim code) are kept in directories (they route requests).
//! Receipt and payout ids are not: they grow with history, and each partition's log indexes
//! the ones it recorded (`EventLog::id_position`). A command reserves its id while it is
//! decided (so no other partition takes it meanwhile), and is refused if another partition's
//! log recorded it; its own partition's writer checks its own log.

use ledger::UniqueId;
use ledger::event::Event;
use ledger::ids::{ClaimCode, FacilityId, MemberId};
use ledger::log::EventLog;
use ledger::partition::Partition;
use projections::Projections;

use super::Ledger;
use super::directory::{HeldElsewhere, Owners, Reservation};
use crate::command::{Command, Rejection};
use crate::processor::CommandError;

/// Every directory of unique ids, and where each id is held.
#[derive(Debug, Clone, Default)]
pub struct Directories {
    pub members: Owners<MemberId>,
    /// Receipt and payout ids being decided (never recorded here: the logs index them).
    pub ids: Owners<UniqueId>,
    pub claim_codes: Owners<(FacilityId, ClaimCode)>,
}

/// The reservations of one command, released when it is answered (when dropped).
pub struct Held {
    _members: Reservation<MemberId>,
    _ids: Reservation<UniqueId>,
}

/// Reserves `keys` (at most one of each kind per command) or refuses with what `used` says
/// of the first.
fn reserve<K: Eq + std::hash::Hash + Clone>(
    owners: &Owners<K>,
    partition: Partition,
    keys: Vec<K>,
    used: impl FnOnce(K) -> Rejection,
) -> Result<Reservation<K>, Rejection> {
    let first = keys.first().cloned();
    owners
        .reserve(partition, keys)
        .map_err(|HeldElsewhere(_)| match first {
            Some(key) => used(key),
            None => Rejection::Invalid(ledger::FieldError::new("command", "no id to reserve")),
        })
}

impl Directories {
    /// Records what `p`, partition `partition`'s projections, holds (at start).
    pub fn extend(&self, partition: Partition, p: &Projections) {
        self.members
            .extend(partition, p.registry.members.iter().map(|(m, _)| m.clone()));
        self.claim_codes
            .extend(partition, p.claims.codes().cloned());
    }

    /// Reserves for `partition` the ids `command` would record (a claim's code is reserved
    /// where it is routed, [`Owners::reserve_with_holder`]). Err: what one partition answers
    /// when the id is already used: it is, in another partition.
    pub fn reserve(&self, partition: Partition, command: &Command) -> Result<Held, Rejection> {
        let (members, ids) = ids_of(command);
        let members = reserve(&self.members, partition, members, Rejection::MemberExists)?;
        let ids = reserve(&self.ids, partition, ids, Rejection::id_used)?;
        Ok(Held {
            _members: members,
            _ids: ids,
        })
    }

    /// Records the routing ids `events`, appended in `partition`, hold.
    pub fn recorded(&self, partition: Partition, events: &[Event]) {
        for event in events {
            match event {
                Event::MemberEnrolled(e) => self.members.recorded(partition, [e.member_id.clone()]),
                Event::ClaimSubmitted(e) => self
                    .claim_codes
                    .recorded(partition, [(e.facility_id.clone(), e.claim_code.clone())]),
                _ => {}
            }
        }
    }
}

/// Refuses `command` when a partition other than `partition` recorded its receipt or payout
/// id. Called with the id reserved, so no other partition can record it meanwhile.
pub async fn recorded_elsewhere<L: EventLog>(
    ledger: &Ledger<L>,
    partition: Partition,
    command: &Command,
) -> Result<(), CommandError> {
    for id in ids_of(command).1 {
        for other in ledger.partitions().all().filter(|p| *p != partition) {
            let recorded = ledger
                .service(other)
                .log()
                .id_position(&id)
                .await
                .map_err(|e| CommandError::Unavailable(format!("looking up {id}: {e}")))?;
            if recorded.is_some() {
                return Err(CommandError::Rejected(Rejection::id_used(id)));
            }
        }
    }
    Ok(())
}

/// The unique ids a command would record (a claim's code aside: it routes the claim).
fn ids_of(command: &Command) -> (Vec<MemberId>, Vec<UniqueId>) {
    match command {
        Command::EnrollMember { member_id, .. } => (vec![member_id.clone()], Vec::new()),
        Command::RecordContribution { receipt_id, .. }
        | Command::RecordSponsorContribution { receipt_id, .. }
        | Command::PayPremium { receipt_id, .. }
        | Command::RecordCopay { receipt_id, .. } => {
            (Vec::new(), vec![UniqueId::Receipt(receipt_id.clone())])
        }
        Command::RecordFacilityPayout { payout_id, .. } => {
            (Vec::new(), vec![UniqueId::Payout(payout_id.clone())])
        }
        Command::WithBudgets { command, .. } => ids_of(command),
        _ => (Vec::new(), Vec::new()),
    }
}
