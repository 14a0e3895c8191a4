//! The command side's "decide" step: a command and the current projections in, the events
//! to append (or a typed rejection naming the field or state) out. Pure: no IO, no clock
//! (business dates come with the commands).
//!
//! Here: the commands, the rejections, the shared checks and the dispatch; one function per
//! command in a file per family: [`registry`] (schemes, households, members), [`wallet`]
//! (savings, sponsors, premiums), [`claims`] (submission, review, reversal, copays),
//! [`stock_visit`], [`period_close`] (the cut and the statements) and [`payout`].

mod claims;
mod payout;
pub mod period_close;
mod registry;
pub mod stock_visit;
mod wallet;

use adjudicator::premium::{
    SponsorGiven, Terms, apply_payment, expiry, policy_price, sponsor_match,
};
use adjudicator::{Scheme, adjudicate};
use ledger::event::NewEvent;
use ledger::event::*;
use ledger::ids::*;
use ledger::{Amount, Date, FieldError, MoneyError, RequestId, StreamId};
use projections::Projections;
use projections::claims::{ClaimRecord, ClaimStatus};
use projections::registry::Published;
use thiserror::Error;

/// A change someone asks the ledger to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    PublishScheme {
        document: String,
        effective_from: Date,
    },
    RegisterHousehold {
        household_id: HouseholdId,
        scheme_id: SchemeId,
        location_code: String,
        socio_economic_category: String,
        registered_on: Date,
    },
    EnrollMember {
        member_id: MemberId,
        household_id: HouseholdId,
        gender: Gender,
        birth_date: Date,
        is_head: bool,
        facility_id: Option<FacilityId>,
        enrolled_on: Date,
    },
    /// A household's own savings into its wallet. Every sponsor of the scheme with a match
    /// rule adds its share in the same append ("crowding in").
    RecordContribution {
        receipt_id: ReceiptId,
        household_id: HouseholdId,
        member_id: Option<MemberId>,
        amount: Amount,
        channel: PaymentChannel,
        received_on: Date,
    },
    /// A sponsor's direct subsidy to a household wallet.
    RecordSponsorContribution {
        receipt_id: ReceiptId,
        sponsor_id: SponsorId,
        household_id: HouseholdId,
        amount: Amount,
        received_on: Date,
    },
    /// A premium towards the household's policy for a product: from the wallet or directly.
    PayPremium {
        receipt_id: ReceiptId,
        household_id: HouseholdId,
        product_id: ProductId,
        amount: Amount,
        source: PremiumSource,
        paid_on: Date,
        /// The period the payment is for: a start of the product's cycle (or, for a product
        /// whose periods start with payment, any day). None: the period that contains
        /// `paid_on` (or the one being paid). Prepaying the next period names it.
        period_start: Option<Date>,
    },
    /// A facility's claim; adjudicated once, here, and the decision recorded in full.
    SubmitClaim {
        claim_code: ClaimCode,
        facility_id: FacilityId,
        member_id: MemberId,
        date_from: Date,
        date_to: Option<Date>,
        claim_date: Date,
        diagnosis_codes: Vec<Code>,
        lines: Vec<ClaimLine>,
        /// The business date of the decision.
        today: Date,
        /// `today` was given by the caller (an admin or insurer import), not the server's.
        today_given: bool,
    },
    /// A medical officer lowers quantities or prices, or rejects lines.
    ReviewClaim {
        claim_id: ClaimId,
        reviewer: String,
        reviewed_on: Date,
        changes: Vec<LineReview>,
        comment: String,
    },
    ReverseClaim {
        claim_id: ClaimId,
        reason: String,
        reversed_on: Date,
    },
    /// A copay for a claim, paid from the member's wallet to the facility.
    RecordCopay {
        receipt_id: ReceiptId,
        claim_id: ClaimId,
        amount: Amount,
        collected_on: Date,
    },
    RecordStockVisit {
        facility_id: FacilityId,
        product_code: Code,
        visited_on: Date,
        stock_found: u64,
        losses: u64,
        delivered: u64,
        /// None: the price list's; given: must be the price list's.
        unit_price: Option<Amount>,
    },
    ClosePaymentPeriod {
        period_id: PeriodId,
        scheme_id: SchemeId,
        starts_on: Date,
        ends_on: Date,
        closed_on: Date,
    },
    RecordFacilityPayout {
        payout_id: PayoutId,
        facility_id: FacilityId,
        period_id: PeriodId,
        amount: Amount,
        channel: PaymentChannel,
        reference: String,
        paid_on: Date,
    },
    /// The statement parts a period close issues in a facility's partition, built from what
    /// every partition assigned to the period (`period_close::next_statements`). Not a
    /// request anyone sends: the close sends it.
    RecordStatements { parts: Vec<FacilityStatementIssued> },
    /// A command decided with what the ledger reserved for it of sponsors' yearly budgets,
    /// across its partitions (`partitioned::budgets`). Not a request anyone sends.
    WithBudgets {
        command: Box<Command>,
        left: Vec<(SponsorId, Amount)>,
    },
}

/// A reviewer's change to one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineReview {
    pub line_no: u32,
    /// Lower the approved quantity to this.
    pub approved_quantity: Option<u32>,
    /// Lower the unit price to this.
    pub unit_price: Option<Amount>,
    /// Reject the line (reason -1).
    pub reject: bool,
}

/// Why a command was refused. Nothing was appended.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    #[error("{0}")]
    Invalid(FieldError),
    #[error("document: {0}")]
    InvalidScheme(String),
    #[error("scheme_id: scheme {0} is not published")]
    UnknownScheme(SchemeId),
    #[error("version: scheme {scheme} version {version} is already published")]
    SchemeVersionExists { scheme: SchemeId, version: u32 },
    #[error("{field}: no version of scheme {scheme} is in force on {on}")]
    SchemeNotInForce {
        scheme: SchemeId,
        field: &'static str,
        on: Date,
    },
    #[error("effective_from: {reason}")]
    SchemeVersionOutOfOrder { reason: String },
    #[error("household_id: household {0} is not registered")]
    UnknownHousehold(HouseholdId),
    #[error("household_id: household {0} is already registered")]
    HouseholdExists(HouseholdId),
    #[error("member_id: member {0} is not enrolled")]
    UnknownMember(MemberId),
    #[error("member_id: member {0} is already enrolled")]
    MemberExists(MemberId),
    #[error("member_id: member {member} belongs to household {household}")]
    MemberOfAnotherHousehold {
        member: MemberId,
        household: HouseholdId,
    },
    #[error("receipt_id: receipt {0} was already recorded")]
    DuplicateReceipt(String),
    #[error("amount: {amount} is not in the scheme currency {expected}")]
    WrongCurrency {
        amount: Amount,
        expected: ledger::Currency,
    },
    #[error("amount: {0} must be positive")]
    NotPositive(Amount),
    #[error("amount: the wallet of household {household} holds {balance}, {needed} is needed")]
    InsufficientWallet {
        household: HouseholdId,
        balance: Amount,
        needed: Amount,
    },
    #[error("product_id: {0} is not a product of the household's scheme")]
    UnknownProduct(ProductId),
    #[error("product_id: policy not payable: {0}")]
    PolicyNotPayable(String),
    #[error("sponsor_id: {0} is not a sponsor of the household's scheme")]
    UnknownSponsor(SponsorId),
    #[error("claim_id: claim {0} does not exist")]
    UnknownClaim(ClaimId),
    #[error(
        "claim_id: claim {0} is closed: a period close of its scheme ended more than the \
         scheme's claims_open_days after its service date"
    )]
    ClaimClosed(ClaimId),
    #[error("claim_id: claim {claim} cannot be {action}: it is {status:?}")]
    ClaimState {
        claim: ClaimId,
        action: &'static str,
        status: ClaimStatus,
    },
    #[error("changes[{index}]: {reason}")]
    InvalidReview { index: usize, reason: String },
    #[error("facility_id: facility {0} is not in any published scheme")]
    UnknownFacility(FacilityId),
    #[error("period_id: period {0} is already closed")]
    PeriodClosed(PeriodId),
    #[error("period_id: facility {facility} has no statement for period {period}")]
    NoStatement {
        facility: FacilityId,
        period: PeriodId,
    },
    #[error(
        "period_id: the statement of facility {facility} for period {period} is still being issued (close the period again to continue)"
    )]
    StatementIncomplete {
        facility: FacilityId,
        period: PeriodId,
    },
    #[error("amount: {amount} is more than the {outstanding} outstanding")]
    Overpayment { amount: Amount, outstanding: Amount },
    #[error("payout_id: payout {0} was already recorded")]
    DuplicatePayout(PayoutId),
    #[error("amount: {0}")]
    Money(#[from] MoneyError),
    #[error("request_id: {0} was already used for a different command")]
    RequestIdReused(RequestId),
}

impl Rejection {
    /// The refusal of a command whose receipt or payout id was recorded before.
    pub fn id_used(id: ledger::UniqueId) -> Rejection {
        match id {
            ledger::UniqueId::Receipt(receipt) => Rejection::DuplicateReceipt(receipt.to_string()),
            ledger::UniqueId::Payout(payout) => Rejection::DuplicatePayout(payout),
        }
    }

    /// The request field (or state) the rejection is about, as its message starts.
    pub fn field(&self) -> String {
        match self {
            Rejection::Invalid(e) => e.field.clone(),
            Rejection::InvalidScheme(_) => "document".into(),
            Rejection::UnknownScheme(_) => "scheme_id".into(),
            Rejection::SchemeVersionExists { .. } => "version".into(),
            Rejection::SchemeNotInForce { field, .. } => (*field).into(),
            Rejection::SchemeVersionOutOfOrder { .. } => "effective_from".into(),
            Rejection::UnknownHousehold(_) | Rejection::HouseholdExists(_) => "household_id".into(),
            Rejection::UnknownMember(_)
            | Rejection::MemberExists(_)
            | Rejection::MemberOfAnotherHousehold { .. } => "member_id".into(),
            Rejection::DuplicateReceipt(_) => "receipt_id".into(),
            Rejection::WrongCurrency { .. }
            | Rejection::NotPositive(_)
            | Rejection::InsufficientWallet { .. }
            | Rejection::Overpayment { .. }
            | Rejection::Money(_) => "amount".into(),
            Rejection::UnknownProduct(_) | Rejection::PolicyNotPayable(_) => "product_id".into(),
            Rejection::UnknownSponsor(_) => "sponsor_id".into(),
            Rejection::UnknownClaim(_)
            | Rejection::ClaimClosed(_)
            | Rejection::ClaimState { .. } => "claim_id".into(),
            Rejection::InvalidReview { index, .. } => format!("changes[{index}]"),
            Rejection::UnknownFacility(_) => "facility_id".into(),
            Rejection::PeriodClosed(_)
            | Rejection::NoStatement { .. }
            | Rejection::StatementIncomplete { .. } => "period_id".into(),
            Rejection::DuplicatePayout(_) => "payout_id".into(),
            Rejection::RequestIdReused(_) => "request_id".into(),
        }
    }

    /// A stable UPPER_SNAKE name for clients to branch on (`ErrorInfo.reason` on the wire).
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Invalid(_) => "INVALID_FIELD",
            Rejection::InvalidScheme(_) => "INVALID_SCHEME",
            Rejection::UnknownScheme(_) => "UNKNOWN_SCHEME",
            Rejection::SchemeVersionExists { .. } => "SCHEME_VERSION_EXISTS",
            Rejection::SchemeNotInForce { .. } => "SCHEME_NOT_IN_FORCE",
            Rejection::SchemeVersionOutOfOrder { .. } => "SCHEME_VERSION_OUT_OF_ORDER",
            Rejection::UnknownHousehold(_) => "UNKNOWN_HOUSEHOLD",
            Rejection::HouseholdExists(_) => "HOUSEHOLD_EXISTS",
            Rejection::UnknownMember(_) => "UNKNOWN_MEMBER",
            Rejection::MemberExists(_) => "MEMBER_EXISTS",
            Rejection::MemberOfAnotherHousehold { .. } => "MEMBER_OF_ANOTHER_HOUSEHOLD",
            Rejection::DuplicateReceipt(_) => "DUPLICATE_RECEIPT",
            Rejection::WrongCurrency { .. } => "WRONG_CURRENCY",
            Rejection::NotPositive(_) => "NOT_POSITIVE",
            Rejection::InsufficientWallet { .. } => "INSUFFICIENT_WALLET",
            Rejection::UnknownProduct(_) => "UNKNOWN_PRODUCT",
            Rejection::PolicyNotPayable(_) => "POLICY_NOT_PAYABLE",
            Rejection::UnknownSponsor(_) => "UNKNOWN_SPONSOR",
            Rejection::UnknownClaim(_) => "UNKNOWN_CLAIM",
            Rejection::ClaimClosed(_) => "CLAIM_CLOSED",
            Rejection::ClaimState { .. } => "CLAIM_STATE",
            Rejection::InvalidReview { .. } => "INVALID_REVIEW",
            Rejection::UnknownFacility(_) => "UNKNOWN_FACILITY",
            Rejection::PeriodClosed(_) => "PERIOD_CLOSED",
            Rejection::NoStatement { .. } => "NO_STATEMENT",
            Rejection::StatementIncomplete { .. } => "STATEMENT_INCOMPLETE",
            Rejection::Overpayment { .. } => "OVERPAYMENT",
            Rejection::DuplicatePayout(_) => "DUPLICATE_PAYOUT",
            Rejection::Money(_) => "INVALID_AMOUNT",
            Rejection::RequestIdReused(_) => "REQUEST_ID_REUSED",
        }
    }
}

/// What a decided command produced, besides its events.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Subject {
    None,
    Claim(ClaimId),
    Policy(PolicyId),
}

/// The events to append for a command, and what they concern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub events: Vec<NewEvent>,
    pub subject: Subject,
    /// A claim resubmitted under the same (facility, claim code): nothing to append, the
    /// original decision stands.
    pub resubmission: bool,
}

fn single(stream: StreamId, event: Event) -> Vec<NewEvent> {
    vec![NewEvent { stream, event }]
}

pub(crate) fn decided(events: Vec<NewEvent>) -> Decided {
    Decided {
        events,
        subject: Subject::None,
        resubmission: false,
    }
}

/// The version of the household's scheme in force on `on`, the business date that governs
/// the command (the request's `field`): the service date of a claim, the pay date of a
/// premium, the day a saving is received.
fn scheme_of<'a>(
    p: &'a Projections,
    household: &HouseholdId,
    field: &'static str,
    on: Date,
) -> Result<&'a Published, Rejection> {
    let h = p
        .registry
        .households
        .get(household)
        .ok_or_else(|| Rejection::UnknownHousehold(household.clone()))?;
    p.registry
        .scheme_on(&h.scheme_id, on)
        .ok_or_else(|| Rejection::SchemeNotInForce {
            scheme: h.scheme_id.clone(),
            field,
            on,
        })
}

fn check_amount(scheme: &Scheme, amount: Amount) -> Result<(), Rejection> {
    if amount.currency() != scheme.currency {
        return Err(Rejection::WrongCurrency {
            amount,
            expected: scheme.currency,
        });
    }
    if !amount.is_positive() {
        return Err(Rejection::NotPositive(amount));
    }
    Ok(())
}

/// A new version of a scheme takes effect on or after the latest one, in the same currency:
/// versions in force follow each other in the order published.
fn version_follows(
    latest: &Published,
    scheme: &Scheme,
    effective_from: Date,
) -> Result<(), Rejection> {
    if effective_from < latest.effective_from {
        return Err(Rejection::SchemeVersionOutOfOrder {
            reason: format!(
                "{effective_from} is before {}, when version {} of {} took effect",
                latest.effective_from, latest.version, scheme.id
            ),
        });
    }
    if scheme.currency != latest.scheme.currency {
        return Err(Rejection::InvalidScheme(format!(
            "currency: {} is not {}, the currency of version {}",
            scheme.currency, latest.scheme.currency, latest.version
        )));
    }
    Ok(())
}

/// The copay paid beyond a claim's copay of `due` after a review, given back to the member.
fn copay_beyond(paid: Option<Amount>, due: Amount) -> Result<Option<Amount>, Rejection> {
    let Some(paid) = paid else {
        return Ok(None);
    };
    let beyond = paid.checked_sub(due)?;
    Ok(beyond.is_positive().then_some(beyond))
}

/// `date` (the request's `field`) is not before `earliest`, the day its subject began.
fn not_before(field: &str, date: Date, earliest: Date, subject: &str) -> Result<(), Rejection> {
    if date < earliest {
        Err(Rejection::Invalid(FieldError::new(
            field,
            format!("{date} is before {subject} on {earliest}"),
        )))
    } else {
        Ok(())
    }
}

/// `date` (the request's `field`) is not before the household's registration: nothing
/// happens to a household before it exists.
fn since_registration(
    p: &Projections,
    household: &HouseholdId,
    field: &str,
    date: Date,
) -> Result<(), Rejection> {
    let registered = p
        .registry
        .households
        .get(household)
        .map(|h| h.registered_on)
        .ok_or_else(|| Rejection::UnknownHousehold(household.clone()))?;
    not_before(field, date, registered, "the household's registration")
}

/// An id built from parts; ids longer than the limit are shortened with a hash.
fn derived_id<T: std::str::FromStr<Err = IdError>>(text: String) -> T {
    let text = if text.len() > ledger::ids::ID_BYTES_MAX {
        let hash = ledger::chain::hex(&ledger::chain::sha256(text.as_bytes()));
        format!("id-{}", &hash[..40])
    } else {
        text
    };
    text.parse()
        .unwrap_or_else(|_| "invalid-id".parse().unwrap_or_else(|_| unreachable!()))
}

/// The refusal of a per-command function given another command (a bug, never input).
fn not_the_command(expected: &str) -> Rejection {
    Rejection::Invalid(FieldError::new(
        "command",
        format!("not a {expected} command"),
    ))
}

/// Decides a command against the current projections.
pub fn decide(p: &Projections, command: &Command) -> Result<Decided, Rejection> {
    let result = decide_inner(p, command)?;
    for e in &result.events {
        e.event.validate_fields().map_err(Rejection::Invalid)?;
    }
    Ok(result)
}

/// [`decide`] without validating the events: for the command processor, whose
/// `AppendRequest::checked` validates and encodes them once, before they are applied.
pub(crate) fn decide_unchecked(p: &Projections, command: &Command) -> Result<Decided, Rejection> {
    decide_inner(p, command)
}

fn decide_inner(p: &Projections, command: &Command) -> Result<Decided, Rejection> {
    match command {
        Command::PublishScheme {
            document,
            effective_from,
        } => registry::publish_scheme(p, document, effective_from),
        Command::RegisterHousehold {
            household_id,
            scheme_id,
            location_code,
            socio_economic_category,
            registered_on,
        } => registry::register_household(
            p,
            household_id,
            scheme_id,
            location_code,
            socio_economic_category,
            registered_on,
        ),
        Command::EnrollMember { .. } => registry::enroll_member(p, command),
        Command::RecordContribution { .. } => wallet::contribution(p, command, &[]),
        Command::WithBudgets { command, left } => match command.as_ref() {
            Command::RecordContribution { .. } => wallet::contribution(p, command, left),
            other => decide_inner(p, other),
        },
        Command::RecordSponsorContribution {
            receipt_id,
            sponsor_id,
            household_id,
            amount,
            received_on,
        } => wallet::record_sponsor_contribution(
            p,
            receipt_id,
            sponsor_id,
            household_id,
            amount,
            received_on,
        ),
        Command::PayPremium {
            receipt_id,
            household_id,
            product_id,
            amount,
            source,
            paid_on,
            period_start,
        } => wallet::pay_premium(
            p,
            &wallet::Premium {
                receipt_id,
                household_id,
                product_id,
                amount: *amount,
                source: *source,
                paid_on: *paid_on,
                period_start: *period_start,
            },
        ),
        Command::SubmitClaim { .. } => claims::submit_claim(p, command),
        Command::ReviewClaim {
            claim_id,
            reviewer,
            reviewed_on,
            changes,
            comment,
        } => claims::review(p, claim_id, reviewer, *reviewed_on, changes, comment),
        Command::ReverseClaim {
            claim_id,
            reason,
            reversed_on,
        } => claims::reverse_claim(p, claim_id, reason, reversed_on),
        Command::RecordCopay {
            receipt_id,
            claim_id,
            amount,
            collected_on,
        } => claims::record_copay(p, receipt_id, claim_id, amount, collected_on),
        Command::RecordStockVisit {
            facility_id,
            product_code,
            visited_on,
            stock_found,
            losses,
            delivered,
            unit_price,
        } => crate::command::stock_visit::record_stock_visit(
            p,
            &crate::command::stock_visit::Visit {
                facility_id,
                product_code,
                visited_on: *visited_on,
                stock_found: *stock_found,
                losses: *losses,
                delivered: *delivered,
                unit_price: *unit_price,
            },
        ),
        Command::ClosePaymentPeriod {
            period_id,
            scheme_id,
            starts_on,
            ends_on,
            closed_on,
        } => crate::command::period_close::close_period(
            p,
            &crate::command::period_close::Close {
                period_id,
                scheme_id,
                starts_on: *starts_on,
                ends_on: *ends_on,
                closed_on: *closed_on,
            },
        ),
        Command::RecordStatements { parts } => {
            crate::command::period_close::record_statements(p, parts)
        }
        Command::RecordFacilityPayout { .. } => payout::record_facility_payout(p, command),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The field a rejection names in its details is the one its message starts with.
    #[test]
    fn every_rejection_message_starts_with_its_field() {
        let kes = |n| Amount::new(n, "KES".parse().unwrap());
        let rejections = vec![
            Rejection::Invalid(FieldError::new("lines[0].code", "is empty")),
            Rejection::InvalidScheme("products: missing".into()),
            Rejection::UnknownScheme("s".parse().unwrap()),
            Rejection::SchemeVersionExists {
                scheme: "s".parse().unwrap(),
                version: 2,
            },
            Rejection::UnknownHousehold("h".parse().unwrap()),
            Rejection::HouseholdExists("h".parse().unwrap()),
            Rejection::UnknownMember("m".parse().unwrap()),
            Rejection::MemberExists("m".parse().unwrap()),
            Rejection::MemberOfAnotherHousehold {
                member: "m".parse().unwrap(),
                household: "h".parse().unwrap(),
            },
            Rejection::DuplicateReceipt("r".into()),
            Rejection::WrongCurrency {
                amount: kes(1),
                expected: "XOF".parse().unwrap(),
            },
            Rejection::NotPositive(kes(0)),
            Rejection::InsufficientWallet {
                household: "h".parse().unwrap(),
                balance: kes(1),
                needed: kes(2),
            },
            Rejection::UnknownProduct("p".parse().unwrap()),
            Rejection::PolicyNotPayable("expired".into()),
            Rejection::UnknownSponsor("s".parse().unwrap()),
            Rejection::UnknownClaim("c".parse().unwrap()),
            Rejection::ClaimClosed("c".parse().unwrap()),
            Rejection::ClaimState {
                claim: "c".parse().unwrap(),
                action: "reviewed",
                status: ClaimStatus::Reversed,
            },
            Rejection::InvalidReview {
                index: 3,
                reason: "no such line".into(),
            },
            Rejection::UnknownFacility("f".parse().unwrap()),
            Rejection::PeriodClosed("p".parse().unwrap()),
            Rejection::NoStatement {
                facility: "f".parse().unwrap(),
                period: "p".parse().unwrap(),
            },
            Rejection::StatementIncomplete {
                facility: "f".parse().unwrap(),
                period: "p".parse().unwrap(),
            },
            Rejection::SchemeNotInForce {
                scheme: "s".parse().unwrap(),
                field: "paid_on",
                on: Date::MIN,
            },
            Rejection::SchemeVersionOutOfOrder { reason: "x".into() },
            Rejection::Overpayment {
                amount: kes(2),
                outstanding: kes(1),
            },
            Rejection::DuplicatePayout("p".parse().unwrap()),
            Rejection::Money(MoneyError::Overflow),
            Rejection::RequestIdReused("r-1".parse().unwrap()),
        ];
        let mut reasons = std::collections::HashSet::new();
        for r in &rejections {
            let message = r.to_string();
            assert!(
                message.starts_with(&format!("{}: ", r.field())),
                "{:?}: {message}",
                r.reason()
            );
            assert!(reasons.insert(r.reason()), "{} twice", r.reason());
        }
    }
}
