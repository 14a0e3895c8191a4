//! Which partition decides a command.
//!
//! - a household's commands (registration, enrolment, savings, subsidies, premiums) in the
//!   partition of its household id;
//! - a claim in its member's household's partition (the member directory says which), and
//!   the claim's later commands (review, reversal, copay) where it was decided: its id
//!   carries the household's hash ([`projections::claims::partition_hash_of`]);
//! - a facility's own commands (stock visits, payouts) in the partition of its facility id;
//! - what every partition must know (a scheme version, a period close) in all of them,
//!   decided first in partition 0.

use ledger::ids::{ClaimId, FacilityId, HouseholdId, MemberId};

use crate::command::Command;

/// Where a command goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    Household(&'a HouseholdId),
    /// Through the member directory to the member's household.
    Member(&'a MemberId),
    /// To the partition its id names (or, for an id of another form, the one that holds it).
    Claim(&'a ClaimId),
    Facility(&'a FacilityId),
    /// Every partition, partition 0 first.
    Every,
}

pub fn route(command: &Command) -> Route<'_> {
    match command {
        Command::PublishScheme { .. } | Command::ClosePaymentPeriod { .. } => Route::Every,
        Command::RegisterHousehold { household_id, .. }
        | Command::EnrollMember { household_id, .. }
        | Command::RecordContribution { household_id, .. }
        | Command::RecordSponsorContribution { household_id, .. }
        | Command::PayPremium { household_id, .. } => Route::Household(household_id),
        Command::SubmitClaim { member_id, .. } => Route::Member(member_id),
        Command::ReviewClaim { claim_id, .. }
        | Command::ReverseClaim { claim_id, .. }
        | Command::RecordCopay { claim_id, .. } => Route::Claim(claim_id),
        Command::RecordStockVisit { facility_id, .. }
        | Command::RecordFacilityPayout { facility_id, .. } => Route::Facility(facility_id),
        Command::WithBudgets { command, .. } => route(command),
        Command::RecordStatements { parts } => match parts.first() {
            Some(part) => Route::Facility(&part.facility_id),
            None => Route::Every,
        },
    }
}
