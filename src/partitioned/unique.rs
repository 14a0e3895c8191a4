//! The ids unique across the ledger that a command uses, and those its events record.

use ledger::event::Event;
use ledger::ids::{ClaimCode, FacilityId, MemberId, PayoutId, ReceiptId};
use ledger::partition::Partition;
use projections::Projections;

use super::directory::{HeldElsewhere, Owners, Reservation};
use crate::command::{Command, Rejection};

/// Every directory of unique ids, and where each id is held.
#[derive(Debug, Clone, Default)]
pub struct Directories {
    pub members: Owners<MemberId>,
    pub receipts: Owners<ReceiptId>,
    pub payouts: Owners<PayoutId>,
    pub claim_codes: Owners<(FacilityId, ClaimCode)>,
}

/// The reservations of one command, released when it is answered (when dropped).
pub struct Held {
    _members: Reservation<MemberId>,
    _receipts: Reservation<ReceiptId>,
    _payouts: Reservation<PayoutId>,
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
        self.receipts
            .extend(partition, p.registry.receipts.iter().cloned());
        self.payouts
            .extend(partition, p.registry.payouts.iter().cloned());
        self.claim_codes
            .extend(partition, p.claims.codes().cloned());
    }

    /// Reserves for `partition` the ids `command` would record (a claim's code is reserved
    /// where it is routed, [`Owners::reserve_with_holder`]). Err: what one partition answers
    /// when the id is already used: it is, in another partition.
    pub fn reserve(&self, partition: Partition, command: &Command) -> Result<Held, Rejection> {
        let (members, receipts, payouts) = ids_of(command);
        let members = reserve(&self.members, partition, members, Rejection::MemberExists)?;
        let receipts = reserve(&self.receipts, partition, receipts, |r| {
            Rejection::DuplicateReceipt(r.to_string())
        })?;
        let payouts = reserve(
            &self.payouts,
            partition,
            payouts,
            Rejection::DuplicatePayout,
        )?;
        Ok(Held {
            _members: members,
            _receipts: receipts,
            _payouts: payouts,
        })
    }

    /// Records the ids `events`, appended in `partition`, hold.
    pub fn recorded(&self, partition: Partition, events: &[Event]) {
        for event in events {
            match event {
                Event::MemberEnrolled(e) => self.members.recorded(partition, [e.member_id.clone()]),
                Event::ContributionReceived(e) => {
                    self.receipts.recorded(partition, [e.receipt_id.clone()])
                }
                Event::SponsorContributionReceived(e) => {
                    self.receipts.recorded(partition, [e.receipt_id.clone()])
                }
                Event::PremiumPaid(e) => self.receipts.recorded(partition, [e.receipt_id.clone()]),
                Event::CopayRecorded(e) => {
                    self.receipts.recorded(partition, [e.receipt_id.clone()])
                }
                Event::FacilityPaid(e) => self.payouts.recorded(partition, [e.payout_id.clone()]),
                Event::ClaimSubmitted(e) => self
                    .claim_codes
                    .recorded(partition, [(e.facility_id.clone(), e.claim_code.clone())]),
                _ => {}
            }
        }
    }
}

type Ids = (Vec<MemberId>, Vec<ReceiptId>, Vec<PayoutId>);

/// The unique ids a command would record (a claim's code aside: it routes the claim).
fn ids_of(command: &Command) -> Ids {
    let mut ids: Ids = Default::default();
    match command {
        Command::EnrollMember { member_id, .. } => ids.0.push(member_id.clone()),
        Command::RecordContribution { receipt_id, .. }
        | Command::RecordSponsorContribution { receipt_id, .. }
        | Command::PayPremium { receipt_id, .. }
        | Command::RecordCopay { receipt_id, .. } => ids.1.push(receipt_id.clone()),
        Command::RecordFacilityPayout { payout_id, .. } => ids.2.push(payout_id.clone()),
        Command::WithBudgets { command, .. } => return ids_of(command),
        _ => {}
    }
    ids
}
