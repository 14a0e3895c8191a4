//! The command side's "decide" step: a command and the current projections in, the events
//! to append (or a typed rejection naming the field or state) out. Pure: no IO, no clock
//! (business dates come with the commands).

use adjudicator::premium::{
    SponsorGiven, Terms, apply_payment, expiry, policy_price, sponsor_match,
};
use adjudicator::{Scheme, adjudicate};
use ledger::event::NewEvent;
use ledger::event::*;
use ledger::ids::*;
use ledger::{Amount, Date, FieldError, MoneyError, RequestId, StreamId};
use projections::Projections;
use projections::claims::ClaimStatus;
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
            Rejection::UnknownClaim(_) | Rejection::ClaimState { .. } => "claim_id".into(),
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

fn fresh_receipt(p: &Projections, receipt: &ReceiptId) -> Result<(), Rejection> {
    if p.registry.receipts.contains(receipt) {
        Err(Rejection::DuplicateReceipt(receipt.to_string()))
    } else {
        Ok(())
    }
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
        } => publish_scheme(p, document, effective_from),
        Command::RegisterHousehold {
            household_id,
            scheme_id,
            location_code,
            socio_economic_category,
            registered_on,
        } => register_household(
            p,
            household_id,
            scheme_id,
            location_code,
            socio_economic_category,
            registered_on,
        ),
        Command::EnrollMember { .. } => enroll_member(p, command),
        Command::RecordContribution { .. } => contribution(p, command, &[]),
        Command::WithBudgets { command, left } => match command.as_ref() {
            Command::RecordContribution { .. } => contribution(p, command, left),
            other => decide_inner(p, other),
        },
        Command::RecordSponsorContribution {
            receipt_id,
            sponsor_id,
            household_id,
            amount,
            received_on,
        } => record_sponsor_contribution(
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
        } => pay_premium(
            p,
            &Premium {
                receipt_id,
                household_id,
                product_id,
                amount: *amount,
                source: *source,
                paid_on: *paid_on,
                period_start: *period_start,
            },
        ),
        Command::SubmitClaim { .. } => submit_claim(p, command),
        Command::ReviewClaim {
            claim_id,
            reviewer,
            reviewed_on,
            changes,
            comment,
        } => review(p, claim_id, reviewer, *reviewed_on, changes, comment),
        Command::ReverseClaim {
            claim_id,
            reason,
            reversed_on,
        } => reverse_claim(p, claim_id, reason, reversed_on),
        Command::RecordCopay {
            receipt_id,
            claim_id,
            amount,
            collected_on,
        } => record_copay(p, receipt_id, claim_id, amount, collected_on),
        Command::RecordStockVisit {
            facility_id,
            product_code,
            visited_on,
            stock_found,
            losses,
            delivered,
            unit_price,
        } => crate::stock_visit::record_stock_visit(
            p,
            &crate::stock_visit::Visit {
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
        } => crate::period_close::close_period(
            p,
            &crate::period_close::Close {
                period_id,
                scheme_id,
                starts_on: *starts_on,
                ends_on: *ends_on,
                closed_on: *closed_on,
            },
        ),
        Command::RecordStatements { parts } => crate::period_close::record_statements(p, parts),
        Command::RecordFacilityPayout { .. } => record_facility_payout(p, command),
    }
}

/// Decides [`Command::PublishScheme`].
fn publish_scheme(
    p: &Projections,
    document: &str,
    effective_from: &Date,
) -> Result<Decided, Rejection> {
    let scheme = Scheme::parse(document).map_err(|e| Rejection::InvalidScheme(e.to_string()))?;
    if let Some(existing) = p.registry.schemes.get(&scheme.id)
        && existing.iter().any(|s| s.version >= scheme.version)
    {
        return Err(Rejection::SchemeVersionExists {
            scheme: scheme.id.clone(),
            version: scheme.version,
        });
    }
    if let Some(latest) = p.registry.scheme(&scheme.id) {
        version_follows(latest, &scheme, *effective_from)?;
    }
    Ok(decided(single(
        StreamId::scheme(&scheme.id),
        Event::SchemePublished(SchemePublished {
            scheme_id: scheme.id.clone(),
            version: scheme.version,
            content_sha256: scheme.content_sha256,
            document: document.to_owned(),
            effective_from: *effective_from,
        }),
    )))
}

/// Decides [`Command::RegisterHousehold`].
fn register_household(
    p: &Projections,
    household_id: &HouseholdId,
    scheme_id: &SchemeId,
    location_code: &str,
    socio_economic_category: &str,
    registered_on: &Date,
) -> Result<Decided, Rejection> {
    if p.registry.households.contains_key(household_id) {
        return Err(Rejection::HouseholdExists(household_id.clone()));
    }
    if p.registry.scheme(scheme_id).is_none() {
        return Err(Rejection::UnknownScheme(scheme_id.clone()));
    }
    Ok(decided(single(
        StreamId::household(household_id),
        Event::HouseholdRegistered(HouseholdRegistered {
            household_id: household_id.clone(),
            scheme_id: scheme_id.clone(),
            location_code: location_code.to_owned(),
            socio_economic_category: socio_economic_category.to_owned(),
            registered_on: *registered_on,
        }),
    )))
}

/// Decides [`Command::EnrollMember`].
fn enroll_member(p: &Projections, command: &Command) -> Result<Decided, Rejection> {
    let Command::EnrollMember {
        member_id,
        household_id,
        gender,
        birth_date,
        is_head,
        facility_id,
        enrolled_on,
    } = command
    else {
        return Err(not_the_command("EnrollMember"));
    };
    since_registration(p, household_id, "enrolled_on", *enrolled_on)?;
    let scheme = scheme_of(p, household_id, "enrolled_on", *enrolled_on)?;
    if p.registry.members.contains_key(member_id) {
        return Err(Rejection::MemberExists(member_id.clone()));
    }
    if let Some(f) = facility_id
        && !scheme.scheme.facilities.contains_key(f)
    {
        return Err(Rejection::UnknownFacility(f.clone()));
    }
    Ok(decided(single(
        StreamId::household(household_id),
        Event::MemberEnrolled(MemberEnrolled {
            member_id: member_id.clone(),
            household_id: household_id.clone(),
            gender: *gender,
            birth_date: *birth_date,
            is_head: *is_head,
            facility_id: facility_id.clone(),
            enrolled_on: *enrolled_on,
        }),
    )))
}

/// Decides [`Command::RecordSponsorContribution`].
fn record_sponsor_contribution(
    p: &Projections,
    receipt_id: &ReceiptId,
    sponsor_id: &SponsorId,
    household_id: &HouseholdId,
    amount: &Amount,
    received_on: &Date,
) -> Result<Decided, Rejection> {
    since_registration(p, household_id, "received_on", *received_on)?;
    let published = scheme_of(p, household_id, "received_on", *received_on)?;
    check_amount(&published.scheme, *amount)?;
    fresh_receipt(p, receipt_id)?;
    if !published.scheme.sponsors.contains_key(sponsor_id) {
        return Err(Rejection::UnknownSponsor(sponsor_id.clone()));
    }
    Ok(decided(single(
        StreamId::household(household_id),
        Event::SponsorContributionReceived(SponsorContributionReceived {
            receipt_id: receipt_id.clone(),
            sponsor_id: sponsor_id.clone(),
            household_id: household_id.clone(),
            amount: *amount,
            matched_receipt_id: None,
            received_on: *received_on,
            member_id: None,
        }),
    )))
}

/// Decides [`Command::SubmitClaim`].
fn submit_claim(p: &Projections, command: &Command) -> Result<Decided, Rejection> {
    let Command::SubmitClaim {
        claim_code,
        facility_id,
        member_id,
        date_from,
        date_to,
        claim_date,
        diagnosis_codes,
        lines,
        today,
        today_given,
    } = command
    else {
        return Err(not_the_command("SubmitClaim"));
    };
    if let Some(existing) = p.claims.by_code(facility_id, claim_code) {
        return Ok(Decided {
            events: Vec::new(),
            subject: Subject::Claim(existing.clone()),
            resubmission: true,
        });
    }
    let member = p.registry.members.get(member_id);
    let household_id = member
        .map(|m| m.household_id.clone())
        .ok_or_else(|| Rejection::UnknownMember(member_id.clone()))?;
    // The version in force on the service date (the last day of care).
    let service_date = date_to.unwrap_or(*date_from);
    let field = if date_to.is_some() {
        "date_to"
    } else {
        "date_from"
    };
    let published = scheme_of(p, &household_id, field, service_date)?;
    let scheme = &published.scheme;
    for (i, line) in lines.iter().enumerate() {
        if let Some(price) = line.asked_unit_price
            && price.currency() != scheme.currency
        {
            return Err(Rejection::Invalid(FieldError::new(
                format!("lines[{i}].asked_unit_price"),
                format!("{price} is not in the scheme currency {}", scheme.currency),
            )));
        }
    }
    let claim_id: ClaimId = derived_id(p.claims.next_id(&household_id));
    let claim = ClaimSubmitted {
        claim_id: claim_id.clone(),
        claim_code: claim_code.clone(),
        facility_id: facility_id.clone(),
        member_id: member_id.clone(),
        household_id: household_id.clone(),
        date_from: *date_from,
        date_to: *date_to,
        claim_date: *claim_date,
        diagnosis_codes: diagnosis_codes.to_vec(),
        lines: lines.to_vec(),
    };
    Event::ClaimSubmitted(claim.clone())
        .validate_fields()
        .map_err(Rejection::Invalid)?;
    let household_members = p
        .registry
        .households
        .get(&household_id)
        .map_or(0, |h| h.members.len() as u32);
    // Earlier claims the duplicate and frequency checks can concern: those sharing a
    // code with this one, within the longest frequency among its codes.
    let window = lines
        .iter()
        .filter_map(|l| scheme.medical.get(&l.code))
        .map(|m| u64::from(m.frequency_days))
        .max()
        .unwrap_or(0);
    let prior = p.claims.prior_claims(
        member_id,
        lines.iter().map(|l| &l.code),
        service_date
            .checked_sub_days(chrono::Days::new(window))
            .unwrap_or(Date::MIN),
        service_date
            .checked_add_days(chrono::Days::new(window))
            .unwrap_or(Date::MAX),
    );
    let ctx = p.coverage.member_context(
        member_id,
        member,
        household_members,
        scheme.currency,
        prior,
        lines.iter().map(|l| &l.code),
    );
    let decision = adjudicate(&claim, &ctx, scheme, *today);
    let s = StreamId::claim(&claim_id);
    Ok(Decided {
        events: vec![
            NewEvent {
                stream: s.clone(),
                event: Event::ClaimSubmitted(claim),
            },
            NewEvent {
                stream: s,
                event: Event::ClaimAdjudicated(ClaimAdjudicated {
                    decided_on_given: *today_given,
                    ..decision.to_event(scheme)
                }),
            },
        ],
        subject: Subject::Claim(claim_id),
        resubmission: false,
    })
}

/// Decides [`Command::ReverseClaim`].
fn reverse_claim(
    p: &Projections,
    claim_id: &ClaimId,
    reason: &str,
    reversed_on: &Date,
) -> Result<Decided, Rejection> {
    let record = p
        .claims
        .get(claim_id)
        .ok_or_else(|| Rejection::UnknownClaim(claim_id.clone()))?;
    not_before(
        "reversed_on",
        *reversed_on,
        record.claim_date,
        "the claim's date",
    )?;
    if matches!(
        record.status,
        ClaimStatus::Reversed | ClaimStatus::Submitted
    ) {
        return Err(Rejection::ClaimState {
            claim: claim_id.clone(),
            action: "reversed",
            status: record.status,
        });
    }
    Ok(Decided {
        events: single(
            StreamId::claim(claim_id),
            Event::ClaimReversed(ClaimReversed {
                claim_id: claim_id.clone(),
                reason: reason.to_owned(),
                reversed_on: *reversed_on,
                // Everything the member paid towards the claim goes back.
                copay_refunded: record.copay_paid.filter(|paid| paid.is_positive()),
            }),
        ),
        subject: Subject::Claim(claim_id.clone()),
        resubmission: false,
    })
}

/// Decides [`Command::RecordCopay`].
fn record_copay(
    p: &Projections,
    receipt_id: &ReceiptId,
    claim_id: &ClaimId,
    amount: &Amount,
    collected_on: &Date,
) -> Result<Decided, Rejection> {
    let record = p
        .claims
        .get(claim_id)
        .ok_or_else(|| Rejection::UnknownClaim(claim_id.clone()))?;
    let member = &record.member_id;
    let household = &record.household_id;
    let service_date = record.service_date();
    let published = scheme_of(p, household, "claim_id", service_date)?;
    check_amount(&published.scheme, *amount)?;
    not_before(
        "collected_on",
        *collected_on,
        record.date_from,
        "the claim's service date",
    )?;
    fresh_receipt(p, receipt_id)?;
    // What is still owed: the copay as decided or reviewed, less what was paid.
    let outstanding = record
        .copay_outstanding()
        .unwrap_or(Amount::zero(published.scheme.currency));
    if amount.minor_units() > outstanding.minor_units() {
        return Err(Rejection::Overpayment {
            amount: *amount,
            outstanding,
        });
    }
    let balance = p.balances.wallet(household, published.scheme.currency);
    if balance.minor_units() < amount.minor_units() {
        return Err(Rejection::InsufficientWallet {
            household: household.clone(),
            balance,
            needed: *amount,
        });
    }
    Ok(decided(single(
        StreamId::household(household),
        Event::CopayRecorded(CopayRecorded {
            receipt_id: receipt_id.clone(),
            claim_id: claim_id.clone(),
            facility_id: record.facility_id.clone(),
            member_id: member.clone(),
            amount: *amount,
            collected_on: *collected_on,
        }),
    )))
}

/// Decides [`Command::RecordFacilityPayout`].
fn record_facility_payout(p: &Projections, command: &Command) -> Result<Decided, Rejection> {
    let Command::RecordFacilityPayout {
        payout_id,
        facility_id,
        period_id,
        amount,
        channel,
        reference,
        paid_on,
    } = command
    else {
        return Err(not_the_command("RecordFacilityPayout"));
    };
    if p.registry.payouts.contains(payout_id) {
        return Err(Rejection::DuplicatePayout(payout_id.clone()));
    }
    let statement = p
        .payments
        .statements
        .get(&(facility_id.clone(), period_id.clone()))
        .ok_or_else(|| Rejection::NoStatement {
            facility: facility_id.clone(),
            period: period_id.clone(),
        })?;
    if statement.more {
        return Err(Rejection::StatementIncomplete {
            facility: facility_id.clone(),
            period: period_id.clone(),
        });
    }
    let outstanding = statement.outstanding();
    if amount.currency() != outstanding.currency() {
        return Err(Rejection::WrongCurrency {
            amount: *amount,
            expected: outstanding.currency(),
        });
    }
    if !amount.is_positive() {
        return Err(Rejection::NotPositive(*amount));
    }
    if amount.minor_units() > outstanding.minor_units() {
        return Err(Rejection::Overpayment {
            amount: *amount,
            outstanding,
        });
    }
    Ok(decided(single(
        StreamId::facility(facility_id),
        Event::FacilityPaid(FacilityPaid {
            payout_id: payout_id.clone(),
            facility_id: facility_id.clone(),
            period_id: period_id.clone(),
            amount: *amount,
            channel: *channel,
            reference: reference.to_owned(),
            paid_on: *paid_on,
        }),
    )))
}

/// A household's own saving, and what each sponsor of its scheme adds ("crowding in").
/// `budgets_left`: what the ledger reserved of each listed sponsor's yearly budget for this
/// saving (across partitions); a sponsor not listed is held to its budget less what this
/// partition's projections say it gave (all of it, in a ledger of one partition).
fn contribution(
    p: &Projections,
    command: &Command,
    budgets_left: &[(SponsorId, Amount)],
) -> Result<Decided, Rejection> {
    let Command::RecordContribution {
        receipt_id,
        household_id,
        member_id,
        amount,
        channel,
        received_on,
    } = command
    else {
        return Err(Rejection::Invalid(FieldError::new(
            "command",
            "not a contribution",
        )));
    };
    since_registration(p, household_id, "received_on", *received_on)?;
    let published = scheme_of(p, household_id, "received_on", *received_on)?;
    let scheme = &published.scheme;
    check_amount(scheme, *amount)?;
    fresh_receipt(p, receipt_id)?;
    if let Some(m) = member_id {
        match p.registry.members.get(m) {
            None => return Err(Rejection::UnknownMember(m.clone())),
            Some(r) if &r.household_id != household_id => {
                return Err(Rejection::MemberOfAnotherHousehold {
                    member: m.clone(),
                    household: r.household_id.clone(),
                });
            }
            Some(_) => {}
        }
    }
    let s = StreamId::household(household_id);
    let mut events = single(
        s.clone(),
        Event::ContributionReceived(ContributionReceived {
            receipt_id: receipt_id.clone(),
            household_id: household_id.clone(),
            member_id: member_id.clone(),
            amount: *amount,
            channel: *channel,
            received_on: *received_on,
        }),
    );
    // Sponsors match the household's savings under their rule, caps and budget.
    let mut sponsors: Vec<_> = scheme.sponsors.values().collect();
    sponsors.sort_by(|a, b| a.id.cmp(&b.id));
    for sponsor in sponsors {
        let given = sponsor_given(
            p,
            &sponsor.id,
            household_id,
            member_id.as_ref(),
            *received_on,
            scheme.currency,
        );
        let share = match budgets_left.iter().find(|(id, _)| id == &sponsor.id) {
            // The ledger's reservation: the budget is what this partition gave plus it.
            Some((_, left)) => {
                let mut held = sponsor.clone();
                held.budget_per_year = Some(given.all_year.checked_add(*left)?);
                sponsor_match(scheme, &held, *amount, &given)?.amount
            }
            None => sponsor_match(scheme, sponsor, *amount, &given)?.amount,
        };
        if share.is_positive() {
            events.push(NewEvent {
                stream: s.clone(),
                event: Event::SponsorContributionReceived(SponsorContributionReceived {
                    receipt_id: derived_id(format!("{receipt_id}.{}", sponsor.id)),
                    sponsor_id: sponsor.id.clone(),
                    household_id: household_id.clone(),
                    amount: share,
                    matched_receipt_id: Some(receipt_id.clone()),
                    received_on: *received_on,
                    member_id: member_id.clone(),
                }),
            });
        }
    }
    Ok(decided(events))
}

/// What a sponsor has given, in the year and month of `on`, to the household, to the member
/// (if the saving names one) and to everyone: matches and direct subsidies alike count.
fn sponsor_given(
    p: &Projections,
    sponsor: &SponsorId,
    household: &HouseholdId,
    member: Option<&MemberId>,
    on: Date,
    currency: ledger::Currency,
) -> SponsorGiven {
    use projections::registry::{Recipient, Span};
    let given = |to: Recipient, span: Span| {
        Amount::new(
            projections::balances::saturated(p.registry.sponsored(sponsor, to, span)),
            currency,
        )
    };
    let (year, month) = (Span::year_of(on), Span::month_of(on));
    SponsorGiven {
        household_year: given(Recipient::Household(household.clone()), year),
        household_month: given(Recipient::Household(household.clone()), month),
        member_year: member.map(|m| given(Recipient::Member(m.clone()), year)),
        member_month: member.map(|m| given(Recipient::Member(m.clone()), month)),
        all_year: given(Recipient::All, year),
    }
}

/// A premium payment, as the command gives it.
struct Premium<'a> {
    receipt_id: &'a ReceiptId,
    household_id: &'a HouseholdId,
    product_id: &'a ProductId,
    amount: Amount,
    source: PremiumSource,
    paid_on: Date,
    period_start: Option<Date>,
}

/// The start of the period a payment is for: the one named (a start of the product's cycle),
/// or the cycle period containing the pay date; for a product whose periods start with
/// payment, the period being paid or covering the pay date, else the pay date.
fn target_period(
    product: &adjudicator::scheme::Product,
    periods: &[(&PolicyId, &projections::coverage::PolicyRecord)],
    paid_on: Date,
    period_start: Option<Date>,
) -> Result<Date, Rejection> {
    if let Some(start) = period_start {
        if let Some(cycle_start) = product.cycle.period_containing(start)
            && cycle_start != start
        {
            return Err(Rejection::Invalid(FieldError::new(
                "period_start",
                format!(
                    "{start} does not start a period of the product's cycle ({cycle_start} does)"
                ),
            )));
        }
        return Ok(start);
    }
    if let Some(start) = product.cycle.period_containing(paid_on) {
        return Ok(start);
    }
    Ok(periods
        .iter()
        .filter(|(_, r)| {
            r.current().status == PolicyStatus::Idle
                || (r.period_start <= paid_on && paid_on <= r.current().expires_on)
        })
        .map(|(_, r)| r.period_start)
        .max()
        .unwrap_or(paid_on.max(product.valid_from)))
}

fn pay_premium(p: &Projections, pay: &Premium<'_>) -> Result<Decided, Rejection> {
    let (receipt_id, household_id, product_id) = (pay.receipt_id, pay.household_id, pay.product_id);
    let (amount, source, paid_on) = (pay.amount, pay.source, pay.paid_on);
    since_registration(p, household_id, "paid_on", paid_on)?;
    let published = scheme_of(p, household_id, "paid_on", paid_on)?;
    let scheme = &published.scheme;
    check_amount(scheme, amount)?;
    fresh_receipt(p, receipt_id)?;
    let product = scheme
        .product(product_id)
        .ok_or_else(|| Rejection::UnknownProduct(product_id.clone()))?;
    if paid_on > product.valid_to {
        return Err(Rejection::PolicyNotPayable(format!(
            "the product is sold until {}",
            product.valid_to
        )));
    }
    let household = p
        .registry
        .households
        .get(household_id)
        .ok_or_else(|| Rejection::UnknownHousehold(household_id.clone()))?;
    if household.members.is_empty() {
        return Err(Rejection::PolicyNotPayable(
            "the household has no members".into(),
        ));
    }
    let periods: Vec<_> = p
        .coverage
        .household_policies(household_id)
        .filter(|(_, r)| &r.product_id == product_id)
        .collect();
    let target = target_period(product, &periods, paid_on, pay.period_start)?;
    let s = StreamId::household(household_id);
    let mut events = Vec::new();
    let existing = periods.iter().find(|(_, r)| r.period_start == target);
    let (policy_id, price, paid_before, start, renewal) = match existing {
        // A period still being paid: the payment adds to it.
        Some((id, r)) if r.current().status == PolicyStatus::Idle => {
            ((*id).clone(), r.price, r.paid, r.period_start, r.renewal)
        }
        Some((_, r)) => {
            return Err(Rejection::PolicyNotPayable(format!(
                "the period from {target} to {} is paid; name period_start to pay another",
                r.current().expires_on
            )));
        }
        None => {
            let expires_on = expiry(target, product.insurance_period_months);
            if let Some((_, r)) = periods
                .iter()
                .find(|(_, r)| r.period_start <= expires_on && target <= r.current().expires_on)
            {
                return Err(Rejection::PolicyNotPayable(format!(
                    "a period from {target} overlaps the one from {} to {}",
                    r.period_start,
                    r.current().expires_on
                )));
            }
            // A renewal follows a period that was paid: its original members wait no more.
            let renewal = periods
                .iter()
                .any(|(_, r)| r.period_start < target && r.current().status != PolicyStatus::Idle);
            let price = policy_price(
                product,
                household.members.len() as u32,
                Some(household.socio_economic_category.as_str()).filter(|c| !c.is_empty()),
                !renewal,
            )
            .map_err(|e| Rejection::PolicyNotPayable(e.to_string()))?;
            let policy_id: PolicyId = derived_id(format!(
                "POL.{household_id}.{product_id}.{}",
                periods.len() + 1
            ));
            events.push(NewEvent {
                stream: s.clone(),
                event: Event::CoverageChanged(CoverageChanged {
                    policy_id: policy_id.clone(),
                    household_id: household_id.clone(),
                    product_id: product_id.clone(),
                    status: PolicyStatus::Idle,
                    effective_from: target,
                    expires_on,
                    changed_on: paid_on,
                    period_start: target,
                    renewal,
                    price,
                }),
            });
            (
                policy_id,
                price,
                Amount::zero(scheme.currency),
                target,
                renewal,
            )
        }
    };
    let terms = Terms {
        price,
        start_date: start,
        grace_period_days: product.grace_period_days,
        insurance_period_months: product.insurance_period_months,
    };
    let outstanding = price.checked_sub(paid_before)?;
    if amount.minor_units() > outstanding.minor_units() {
        return Err(Rejection::Overpayment {
            amount,
            outstanding,
        });
    }
    if source == PremiumSource::Wallet {
        let balance = p.balances.wallet(household_id, scheme.currency);
        if balance.minor_units() < amount.minor_units() {
            return Err(Rejection::InsufficientWallet {
                household: household_id.clone(),
                balance,
                needed: amount,
            });
        }
    }
    let outcome = apply_payment(&terms, paid_before, amount, paid_on)?;
    events.push(NewEvent {
        stream: s.clone(),
        event: Event::PremiumPaid(PremiumPaid {
            receipt_id: receipt_id.clone(),
            policy_id: policy_id.clone(),
            household_id: household_id.clone(),
            product_id: product_id.clone(),
            amount,
            source,
            paid_on,
        }),
    });
    if let Some(activation) = outcome.activation {
        events.push(NewEvent {
            stream: s,
            event: Event::CoverageChanged(CoverageChanged {
                policy_id: policy_id.clone(),
                household_id: household_id.clone(),
                product_id: product_id.clone(),
                status: PolicyStatus::Active,
                effective_from: activation.effective_from,
                expires_on: activation.expires_on,
                changed_on: paid_on,
                period_start: start,
                renewal,
                price,
            }),
        });
    }
    Ok(Decided {
        events,
        subject: Subject::Policy(policy_id),
        resubmission: false,
    })
}

fn review(
    p: &Projections,
    claim_id: &ClaimId,
    reviewer: &str,
    reviewed_on: Date,
    changes: &[LineReview],
    comment: &str,
) -> Result<Decided, Rejection> {
    let record = p
        .claims
        .get(claim_id)
        .ok_or_else(|| Rejection::UnknownClaim(claim_id.clone()))?;
    not_before(
        "reviewed_on",
        reviewed_on,
        record.claim_date,
        "the claim's date",
    )?;
    if matches!(
        record.status,
        ClaimStatus::Reversed | ClaimStatus::Submitted | ClaimStatus::Rejected
    ) {
        return Err(Rejection::ClaimState {
            claim: claim_id.clone(),
            action: "reviewed",
            status: record.status,
        });
    }
    // The lines in force, without their findings: a review records the findings it adds.
    let mut lines = record.lines_in_force().to_vec();
    let mut changed = Vec::new();
    for (index, change) in changes.iter().enumerate() {
        let bad = |reason: String| Rejection::InvalidReview { index, reason };
        let line = lines
            .iter_mut()
            .find(|l| l.line_no == change.line_no)
            .ok_or_else(|| bad(format!("line {} is not on the claim", change.line_no)))?;
        if line.status == DecisionStatus::Rejected {
            return Err(bad(format!("line {} is already rejected", change.line_no)));
        }
        let zero = Amount::zero(line.allowed.currency());
        if change.reject {
            line.status = DecisionStatus::Rejected;
            line.reason_code = adjudicator::reason::REJECTED_BY_REVIEWER;
            line.approved_quantity = 0;
            line.allowed = zero;
            line.payer = zero;
            line.copay = zero;
            line.deductible = zero;
            line.ceiling_excess = zero;
        } else {
            let quantity = change.approved_quantity.unwrap_or(line.approved_quantity);
            let price = change.unit_price.unwrap_or(line.unit_price);
            if quantity > line.approved_quantity || quantity == 0 {
                return Err(bad(format!(
                    "approved_quantity {quantity} must be between 1 and {}",
                    line.approved_quantity
                )));
            }
            if price.currency() != line.unit_price.currency()
                || price.minor_units() > line.unit_price.minor_units()
                || price.is_negative()
            {
                return Err(bad(format!(
                    "unit_price {price} must be between 0 and {}",
                    line.unit_price
                )));
            }
            let allowed = price.checked_mul(i64::from(quantity))?;
            // The payer keeps its share of the allowed amount, rounded down (in the member's
            // favour only through the copay, which takes the remainder).
            let share = |a: Amount| -> Result<Amount, MoneyError> {
                if line.allowed.is_zero() {
                    return Ok(zero);
                }
                let v = i128::from(a.minor_units()) * i128::from(allowed.minor_units())
                    / i128::from(line.allowed.minor_units());
                Ok(Amount::new(
                    i64::try_from(v).map_err(|_| MoneyError::Overflow)?,
                    a.currency(),
                ))
            };
            let payer = share(line.payer)?;
            line.deductible = line.deductible.checked_min(allowed)?;
            line.status = DecisionStatus::Partial;
            line.approved_quantity = quantity;
            line.unit_price = price;
            line.allowed = allowed;
            line.payer = payer;
            line.copay = allowed.checked_sub(payer)?;
        }
        line.findings.push(format!("reviewed by {reviewer}"));
        changed.push(line.clone());
    }
    // Every version of a scheme has the same currency (publishing checks it).
    let currency = p
        .registry
        .household_scheme(&record.household_id)
        .map(|s| s.scheme.currency)
        .ok_or_else(|| Rejection::UnknownHousehold(record.household_id.clone()))?;
    let total_payer = Amount::checked_sum(currency, lines.iter().map(|l| l.payer))?;
    let total_copay = Amount::checked_sum(currency, lines.iter().map(|l| l.copay))?;
    Ok(Decided {
        events: single(
            StreamId::claim(claim_id),
            Event::ClaimReviewed(ClaimReviewed {
                claim_id: claim_id.clone(),
                reviewer: reviewer.to_owned(),
                reviewed_on,
                lines: changed,
                comment: comment.to_owned(),
                total_payer,
                total_copay,
                copay_refunded: copay_beyond(record.copay_paid, total_copay)?,
            }),
        ),
        subject: Subject::Claim(claim_id.clone()),
        resubmission: false,
    })
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
