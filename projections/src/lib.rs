//! Projections: pure folds over the event log. No IO: events in, values out.
//!
//! [`Projections`] holds every read model and applies events in log order:
//! - [`registry`]: schemes, households, members, used receipt ids;
//! - [`balances`]: double-entry postings for every financial event, account balances (also
//!   as of a business date or a log position) and the trial balance, always zero;
//! - [`coverage`]: policies (status, periods, payments) and the usage counters the adjudicator
//!   needs, per member and household;
//! - [`claims`]: each claim's submission, decision, reviews, reversal and status;
//! - [`payments`]: per facility accruals, statements, payouts; stock and consumption.
//!
//! Rebuilding from position 0 gives the same state as live application: [`Projections::digests`]
//! hashes a canonical rendering of each model (ordered maps only) to prove it, exactly, for
//! one partition. [`canonical::ledger_digests`] is the whole ledger's, without positions or
//! indexes: the same for the same commands whatever the partition count.

pub mod balances;
pub mod canonical;
pub mod claims;
pub mod coverage;
mod fold;
pub mod keyed;
pub mod payments;
pub mod registry;

use std::fmt::Write as _;

use ledger::event::{Event, PaymentMethod};
use ledger::{Amount, MoneyError};
use sha2::{Digest, Sha256};
use thiserror::Error;

use balances::{Account, Balances, Entry};
use claims::Claims;
use coverage::Coverage;
use payments::Payments;
use registry::Registry;

/// An amount that becomes owed to a facility, and the statement line that explains it.
struct Owed<'a> {
    facility: &'a ledger::ids::FacilityId,
    reference: &'a str,
    description: String,
    quantity: u64,
    amount: Amount,
}

/// Events that cannot be applied: the log and the projections disagree.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProjectionError {
    #[error("event at position {got} applied, expected position {expected}")]
    OutOfOrder { expected: u64, got: u64 },
    #[error("event at position {position} cannot be applied: {reason}")]
    Inconsistent { position: u64, reason: String },
}

/// Every read model, and the position of the next event to apply.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Projections {
    position: u64,
    pub registry: Registry,
    pub balances: Balances,
    pub coverage: Coverage,
    pub claims: Claims,
    pub payments: Payments,
}

/// SHA-256 of each read model: of one partition exactly ([`Projections::digests`]), or of
/// the whole ledger whatever its partition count ([`canonical::ledger_digests`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digests {
    pub position: u64,
    pub registry: [u8; 32],
    pub balances: [u8; 32],
    pub coverage: [u8; 32],
    pub claims: [u8; 32],
    pub payments: [u8; 32],
}

impl Digests {
    /// One hash over the models' (not the position: a ledger of more partitions records
    /// more events for the same commands, the schemes and closes in each).
    pub fn combined(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for d in [
            self.registry,
            self.balances,
            self.coverage,
            self.claims,
            self.payments,
        ] {
            h.update(d);
        }
        h.finalize().into()
    }
}

/// Hashes a value's `Debug` rendering without building the string. Every model keeps its
/// collections in ordered maps, so the rendering is canonical for a given code version.
fn digest_of(value: &impl std::fmt::Debug) -> [u8; 32] {
    struct Hasher(Sha256);
    impl std::fmt::Write for Hasher {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.update(s.as_bytes());
            Ok(())
        }
    }
    let mut h = Hasher(Sha256::new());
    let _ = write!(h, "{value:?}");
    h.0.finalize().into()
}

impl Projections {
    pub fn new() -> Self {
        Projections::default()
    }

    /// The position of the next event to apply (= events applied).
    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn digests(&self) -> Digests {
        Digests {
            position: self.position,
            registry: digest_of(&self.registry),
            balances: digest_of(&self.balances),
            coverage: digest_of(&self.coverage),
            claims: digest_of(&self.claims),
            payments: digest_of(&self.payments),
        }
    }

    /// Applies the event at `position` (which must be the next one).
    pub fn apply(&mut self, position: u64, event: &Event) -> Result<(), ProjectionError> {
        if position != self.position {
            return Err(ProjectionError::OutOfOrder {
                expected: self.position,
                got: position,
            });
        }
        let inconsistent = |reason: String| ProjectionError::Inconsistent { position, reason };
        self.apply_event(position, event).map_err(inconsistent)?;
        self.position += 1;
        Ok(())
    }

    fn post(&mut self, entry: Result<Entry, MoneyError>) -> Result<(), String> {
        let entry = entry.map_err(|e| e.to_string())?;
        self.balances.post(&entry).map_err(|e| e.to_string())
    }

    /// A claim changes what its facility is owed by `amount` (negative: less), when the
    /// facility is paid fee for service; capitation and consumption pay it otherwise.
    fn owe_for_claim(
        &mut self,
        position: u64,
        date: ledger::Date,
        scheme_id: &ledger::ids::SchemeId,
        (facility, claim_id): (&ledger::ids::FacilityId, &ledger::ids::ClaimId),
        description: String,
        amount: Amount,
    ) -> Result<(), String> {
        if amount.is_zero() || self.payment_method(facility) != PaymentMethod::FeeForService {
            return Ok(());
        }
        self.owe_facility(
            position,
            date,
            Account::ClaimsExpense(scheme_id.clone()),
            Owed {
                facility,
                reference: claim_id.as_str(),
                description,
                quantity: 1,
                amount,
            },
        )
    }

    /// Copay given back to the member's wallet: the facility is owed that much less (a
    /// negative accrual against the wallet), and the claim's paid copay drops by it.
    fn refund_copay(
        &mut self,
        position: u64,
        date: ledger::Date,
        claim: &claims::ClaimRecord,
        refund: Amount,
    ) -> Result<(), String> {
        let negative = refund.checked_neg().map_err(|err| err.to_string())?;
        self.claims.copay_paid(&claim.claim_id, negative)?;
        self.owe_facility(
            position,
            date,
            Account::Wallet(claim.household_id.clone()),
            Owed {
                facility: &claim.facility_id,
                reference: claim.claim_id.as_str(),
                description: format!(
                    "copay for claim {} given back to the wallet",
                    claim.claim_id
                ),
                quantity: 1,
                amount: negative,
            },
        )
    }

    /// Something becomes owed to a facility (a negative amount: less is owed): debits
    /// `from`, credits what is payable to the facility, and accrues a line for its next
    /// statement.
    fn owe_facility(
        &mut self,
        position: u64,
        date: ledger::Date,
        from: Account,
        owed: Owed<'_>,
    ) -> Result<(), String> {
        self.post(Entry::transfer(
            position,
            date,
            from,
            Account::FacilityPayable(owed.facility.clone()),
            owed.amount,
        ))?;
        self.payments.accrue_quantity(
            owed.facility,
            date,
            owed.reference,
            owed.description,
            owed.quantity,
            owed.amount,
        );
        Ok(())
    }

    /// Months of stock `product` is topped up to at `facility`: the scheme listing the facility
    /// says, per item (two when it does not).
    pub fn months_of_stock(
        &self,
        facility: &ledger::ids::FacilityId,
        product: &ledger::ids::Code,
    ) -> u32 {
        self.registry
            .schemes
            .values()
            .filter_map(|v| v.last())
            .find(|p| p.scheme.facilities.contains_key(facility))
            .and_then(|p| p.scheme.medical.get(product))
            .map_or(adjudicator::scheme::MONTHS_OF_STOCK_DEFAULT, |m| {
                m.months_of_stock
            })
    }

    /// The payment method of a facility, from the scheme that lists it (fee-for-service when
    /// no scheme does).
    pub fn payment_method(&self, facility: &ledger::ids::FacilityId) -> PaymentMethod {
        self.registry
            .schemes
            .values()
            .filter_map(|v| v.last())
            .find_map(|p| p.scheme.facilities.get(facility))
            .map_or(PaymentMethod::FeeForService, |f| f.payment_method)
    }

    /// The household wallet balance.
    pub fn wallet(&self, household: &ledger::ids::HouseholdId) -> Option<Amount> {
        let scheme = self.registry.household_scheme(household)?;
        Some(self.balances.wallet(household, scheme.scheme.currency))
    }
}
