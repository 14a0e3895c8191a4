//! Domain events: everything that can happen in a health-financing scheme, as facts.
//!
//! These types are what the rest of the system works with; `crate::codec` converts them to and
//! from the protobuf encoding (proto/ledger/v1/events.proto) in one place. `Event::validate`
//! checks the rules every stored event obeys (positive payments, balanced decisions, one
//! currency per event), so the log refuses a bad event before anything is appended.

use std::fmt;

use thiserror::Error;

use crate::bounds;
use crate::ids::{
    ClaimCode, ClaimId, Code, FacilityId, HouseholdId, IdError, MemberId, PayoutId, PeriodId,
    PolicyId, ProductId, ReceiptId, SchemeId, SponsorId,
};
use crate::money::{Amount, Currency};

/// A business date (calendar date in the scheme's time zone).
pub type Date = chrono::NaiveDate;

/// Most lines one claim may carry.
pub const CLAIM_LINES_MAX: usize = 256;
/// Most diagnosis codes one claim may carry.
pub const CLAIM_DIAGNOSES_MAX: usize = 16;
/// Most lines one facility statement event may carry (as stored; the ledger writes parts of
/// at most [`STATEMENT_PART_LINES_MAX`]).
pub const STATEMENT_LINES_MAX: usize = 100_000;
/// Most lines the ledger puts in one part of a statement. A line is at most
/// [`STATEMENT_LINE_BYTES_MAX`] encoded, so a part stays well under the log's largest event
/// (1 MiB by default; a test checks it).
pub const STATEMENT_PART_LINES_MAX: usize = 400;
/// Largest encoded statement line: description and reference of at most [`TEXT_BYTES_MAX`]
/// each, a quantity and an amount, with their keys and lengths.
pub const STATEMENT_LINE_BYTES_MAX: usize = 2 * (TEXT_BYTES_MAX + 3) + 11 + 40 + 3;
/// Longest free-text field (reasons, comments, findings), in bytes.
pub const TEXT_BYTES_MAX: usize = 1024;

/// A field of an event (or a request) that is not acceptable, named by its path.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl fmt::Display) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.to_string(),
        }
    }

    /// Prefixes the field path with `parent.`.
    pub fn within(self, parent: &str) -> Self {
        FieldError {
            field: format!("{parent}.{}", self.field),
            reason: self.reason,
        }
    }

    pub(crate) fn id(field: &str, err: IdError) -> Self {
        FieldError::new(field, err)
    }
}

/// The kind of aggregate a stream belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamKind {
    Scheme,
    Household,
    Facility,
    Claim,
    Sponsor,
    Period,
}

impl StreamKind {
    pub const ALL: [StreamKind; 6] = [
        StreamKind::Scheme,
        StreamKind::Household,
        StreamKind::Facility,
        StreamKind::Claim,
        StreamKind::Sponsor,
        StreamKind::Period,
    ];

    /// A stable one-byte tag (used in index keys; never change).
    pub fn tag(self) -> u8 {
        match self {
            StreamKind::Scheme => 1,
            StreamKind::Household => 2,
            StreamKind::Facility => 3,
            StreamKind::Claim => 4,
            StreamKind::Sponsor => 5,
            StreamKind::Period => 6,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Scheme => "scheme",
            StreamKind::Household => "household",
            StreamKind::Facility => "facility",
            StreamKind::Claim => "claim",
            StreamKind::Sponsor => "sponsor",
            StreamKind::Period => "period",
        }
    }
}

/// One event to append, and the stream it belongs to: what deciding a command produces
/// (here, not in `log`, so deciding needs no log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub stream: StreamId,
    pub event: Event,
}

/// The stream (aggregate) an event belongs to: a household, a claim, a facility...
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    kind: StreamKind,
    id: String,
}

impl StreamId {
    /// A stream of `kind` named `id` (same syntax as every typed id).
    pub fn new(kind: StreamKind, id: impl Into<String>) -> Result<Self, IdError> {
        // The typed-id rules, checked in place (no interim id to allocate and copy).
        let id = id.into();
        crate::ids::validate(&id)?;
        Ok(StreamId { kind, id })
    }

    /// A stream named by an id that was validated when it was made (every typed id has the
    /// stream id syntax), so this cannot fail.
    fn of(kind: StreamKind, id: &str) -> Self {
        StreamId {
            kind,
            id: id.to_owned(),
        }
    }

    pub fn household(id: &HouseholdId) -> Self {
        StreamId::of(StreamKind::Household, id.as_str())
    }

    pub fn claim(id: &ClaimId) -> Self {
        StreamId::of(StreamKind::Claim, id.as_str())
    }

    pub fn facility(id: &FacilityId) -> Self {
        StreamId::of(StreamKind::Facility, id.as_str())
    }

    pub fn scheme(id: &SchemeId) -> Self {
        StreamId::of(StreamKind::Scheme, id.as_str())
    }

    pub fn period(id: &PeriodId) -> Self {
        StreamId::of(StreamKind::Period, id.as_str())
    }

    pub fn kind(&self) -> StreamKind {
        self.kind
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The stable byte key of the stream: its kind tag followed by the id.
    pub fn key(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(1 + self.id.len());
        key.push(self.kind.tag());
        key.extend_from_slice(self.id.as_bytes());
        key
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.name(), self.id)
    }
}

/// Parses the display form, `kind/id` (e.g. `household/HH-1`).
impl std::str::FromStr for StreamId {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (kind, id) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not kind/id"))?;
        let kind = StreamKind::ALL
            .into_iter()
            .find(|k| k.name() == kind)
            .ok_or_else(|| format!("{kind:?} is not a stream kind"))?;
        StreamId::new(kind, id).map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Gender {
    Female,
    Male,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PaymentChannel {
    MobileMoney,
    Cash,
    Bank,
    Payroll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PremiumSource {
    Wallet,
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PolicyStatus {
    Idle,
    Active,
    Suspended,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LineKind {
    Item,
    Service,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ClaimCategory {
    Surgery,
    Delivery,
    Antenatal,
    Hospitalization,
    Consultation,
    Visit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum DecisionStatus {
    Accepted,
    Partial,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PaymentMethod {
    FeeForService,
    Capitation,
    Consumption,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SchemePublished {
    pub scheme_id: SchemeId,
    pub version: u32,
    #[cfg_attr(feature = "serde", serde(with = "hex_digest"))]
    pub content_sha256: [u8; 32],
    pub document: String,
    pub effective_from: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HouseholdRegistered {
    pub household_id: HouseholdId,
    pub scheme_id: SchemeId,
    pub location_code: String,
    pub socio_economic_category: String,
    pub registered_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MemberEnrolled {
    pub member_id: MemberId,
    pub household_id: HouseholdId,
    pub gender: Gender,
    pub birth_date: Date,
    pub is_head: bool,
    pub facility_id: Option<FacilityId>,
    pub enrolled_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ContributionReceived {
    pub receipt_id: ReceiptId,
    pub household_id: HouseholdId,
    pub member_id: Option<MemberId>,
    pub amount: Amount,
    pub channel: PaymentChannel,
    pub received_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SponsorContributionReceived {
    pub receipt_id: ReceiptId,
    pub sponsor_id: SponsorId,
    pub household_id: HouseholdId,
    pub amount: Amount,
    pub matched_receipt_id: Option<ReceiptId>,
    pub received_on: Date,
    /// The member whose saving a match is for (counts against the sponsor's member caps).
    pub member_id: Option<MemberId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PremiumPaid {
    pub receipt_id: ReceiptId,
    pub policy_id: PolicyId,
    pub household_id: HouseholdId,
    pub product_id: ProductId,
    pub amount: Amount,
    pub source: PremiumSource,
    pub paid_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CoverageChanged {
    pub policy_id: PolicyId,
    pub household_id: HouseholdId,
    pub product_id: ProductId,
    pub status: PolicyStatus,
    pub effective_from: Date,
    pub expires_on: Date,
    pub changed_on: Date,
    /// First day of the policy period (waiting periods count from it).
    pub period_start: Date,
    /// A renewal of an earlier period of the same household and product.
    pub renewal: bool,
    /// The price of the period.
    pub price: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClaimLine {
    pub line_no: u32,
    pub kind: LineKind,
    pub code: Code,
    pub quantity: u32,
    pub asked_unit_price: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClaimSubmitted {
    pub claim_id: ClaimId,
    pub claim_code: ClaimCode,
    pub facility_id: FacilityId,
    pub member_id: MemberId,
    pub household_id: HouseholdId,
    pub date_from: Date,
    pub date_to: Option<Date>,
    pub claim_date: Date,
    pub diagnosis_codes: Vec<Code>,
    pub lines: Vec<ClaimLine>,
}

/// The adjudicator's decision for one line. `payer + copay = allowed` always.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LineDecision {
    pub line_no: u32,
    pub status: DecisionStatus,
    /// openIMIS numbering: 0 accepted, -1 rejected by reviewer, 1..=21 rule codes.
    pub reason_code: i32,
    pub approved_quantity: u32,
    pub unit_price: Amount,
    pub allowed: Amount,
    pub payer: Amount,
    pub copay: Amount,
    pub deductible: Amount,
    pub ceiling_excess: Amount,
    pub product_id: Option<ProductId>,
    pub findings: Vec<String>,
    /// The policy period that paid; its usage counts this line.
    pub policy_id: Option<PolicyId>,
    /// The payer amount does not count against ceilings.
    pub ceiling_excluded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClaimAdjudicated {
    pub claim_id: ClaimId,
    pub scheme_id: SchemeId,
    pub scheme_version: u32,
    #[cfg_attr(feature = "serde", serde(with = "hex_digest"))]
    pub scheme_content_sha256: [u8; 32],
    pub decided_on: Date,
    /// The caller gave `decided_on` (an offline import by an admin or insurer); false when
    /// it is the server's date.
    #[cfg_attr(feature = "serde", serde(default))]
    pub decided_on_given: bool,
    pub category: ClaimCategory,
    pub status: DecisionStatus,
    pub reason_code: i32,
    pub lines: Vec<LineDecision>,
    pub total_allowed: Amount,
    pub total_payer: Amount,
    pub total_copay: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClaimReviewed {
    pub claim_id: ClaimId,
    pub reviewer: String,
    pub reviewed_on: Date,
    /// The lines the review changed (the others stand as decided). Their findings are those
    /// the review adds; a review recorded before that rule repeats the line's earlier ones
    /// first.
    pub lines: Vec<LineDecision>,
    pub comment: String,
    /// The claim's totals after the review.
    pub total_payer: Amount,
    pub total_copay: Amount,
    /// Copay the member had paid beyond the reviewed copay, given back to the wallet.
    pub copay_refunded: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClaimReversed {
    pub claim_id: ClaimId,
    pub reason: String,
    pub reversed_on: Date,
    /// The copay the member had paid, given back to the wallet.
    pub copay_refunded: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CopayRecorded {
    pub receipt_id: ReceiptId,
    pub claim_id: ClaimId,
    pub facility_id: FacilityId,
    pub member_id: MemberId,
    pub amount: Amount,
    pub collected_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StockVisitRecorded {
    pub facility_id: FacilityId,
    pub product_code: Code,
    pub visited_on: Date,
    pub stock_found: u64,
    pub losses: u64,
    pub delivered: u64,
    pub unit_price: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PaymentPeriodClosed {
    pub period_id: PeriodId,
    pub scheme_id: SchemeId,
    pub starts_on: Date,
    pub ends_on: Date,
    pub closed_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StatementLine {
    pub description: String,
    pub reference: String,
    pub quantity: u64,
    pub amount: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FacilityStatementIssued {
    pub period_id: PeriodId,
    pub facility_id: FacilityId,
    pub method: PaymentMethod,
    /// This part's lines (a statement too long for one event comes in parts).
    pub lines: Vec<StatementLine>,
    /// What this part's lines add up to; the statement's due is the sum over its parts.
    pub amount_due: Amount,
    /// 0 for a statement's first part, then 1, 2, ...
    pub part: u32,
    /// More parts follow; the statement is complete at the part where this is false.
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FacilityPaid {
    pub payout_id: PayoutId,
    pub facility_id: FacilityId,
    pub period_id: PeriodId,
    pub amount: Amount,
    pub channel: PaymentChannel,
    pub reference: String,
    pub paid_on: Date,
}

/// Everything that can happen, as a fact recorded in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Event {
    SchemePublished(SchemePublished),
    HouseholdRegistered(HouseholdRegistered),
    MemberEnrolled(MemberEnrolled),
    ContributionReceived(ContributionReceived),
    SponsorContributionReceived(SponsorContributionReceived),
    PremiumPaid(PremiumPaid),
    CoverageChanged(CoverageChanged),
    ClaimSubmitted(ClaimSubmitted),
    ClaimAdjudicated(ClaimAdjudicated),
    ClaimReviewed(ClaimReviewed),
    ClaimReversed(ClaimReversed),
    CopayRecorded(CopayRecorded),
    StockVisitRecorded(StockVisitRecorded),
    PaymentPeriodClosed(PaymentPeriodClosed),
    FacilityStatementIssued(FacilityStatementIssued),
    FacilityPaid(FacilityPaid),
}

fn positive(field: &str, amount: Amount) -> Result<(), FieldError> {
    if amount.is_positive() {
        bounds::amount(field, amount)
    } else {
        Err(FieldError::new(
            field,
            format!("must be positive, is {amount}"),
        ))
    }
}

fn non_negative(field: &str, amount: Amount) -> Result<(), FieldError> {
    if amount.is_negative() {
        Err(FieldError::new(
            field,
            format!("must not be negative, is {amount}"),
        ))
    } else {
        bounds::amount(field, amount)
    }
}

fn currency_is(field: &str, amount: Amount, currency: Currency) -> Result<(), FieldError> {
    if amount.currency() == currency {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("is in {}, expected {currency}", amount.currency()),
        ))
    }
}

fn text(field: &str, value: &str) -> Result<(), FieldError> {
    if value.len() > TEXT_BYTES_MAX {
        Err(FieldError::new(
            field,
            format!("is {} bytes, the maximum is {TEXT_BYTES_MAX}", value.len()),
        ))
    } else {
        Ok(())
    }
}

fn not_before(
    field: &str,
    date: Date,
    earliest: Date,
    earliest_name: &str,
) -> Result<(), FieldError> {
    if date < earliest {
        Err(FieldError::new(
            field,
            format!("{date} is before {earliest_name} {earliest}"),
        ))
    } else {
        Ok(())
    }
}

fn at_most(field: &str, len: usize, max: usize) -> Result<(), FieldError> {
    if len > max {
        Err(FieldError::new(
            field,
            format!("has {len} entries, the maximum is {max}"),
        ))
    } else {
        Ok(())
    }
}

impl LineDecision {
    /// Amounts are non-negative, in `currency`, and `payer + copay = allowed`.
    pub fn validate(&self, currency: Currency) -> Result<(), FieldError> {
        for (name, amount) in [
            ("unit_price", self.unit_price),
            ("allowed", self.allowed),
            ("payer", self.payer),
            ("copay", self.copay),
            ("deductible", self.deductible),
            ("ceiling_excess", self.ceiling_excess),
        ] {
            currency_is(name, amount, currency)?;
            non_negative(name, amount)?;
        }
        bounds::unit_price("unit_price", self.unit_price)?;
        if self.approved_quantity > bounds::QUANTITY_MAX {
            bounds::quantity("approved_quantity", self.approved_quantity)?;
        }
        let split = self
            .payer
            .checked_add(self.copay)
            .map_err(|e| FieldError::new("payer", e))?;
        if split != self.allowed {
            return Err(FieldError::new(
                "payer",
                format!(
                    "payer {} + copay {} must equal allowed {}",
                    self.payer, self.copay, self.allowed
                ),
            ));
        }
        if self.status == DecisionStatus::Rejected && !self.payer.is_zero() {
            return Err(FieldError::new("payer", "a rejected line pays nothing"));
        }
        for finding in &self.findings {
            text("findings", finding)?;
        }
        Ok(())
    }
}

fn validate_lines(
    lines: &[LineDecision],
    currency: Currency,
    total_payer: Amount,
    total_copay: Amount,
) -> Result<(), FieldError> {
    at_most("lines", lines.len(), CLAIM_LINES_MAX)?;
    for (i, line) in lines.iter().enumerate() {
        line.validate(currency)
            .map_err(|e| e.within(&format!("lines[{i}]")))?;
    }
    let payer = Amount::checked_sum(currency, lines.iter().map(|l| l.payer))
        .map_err(|e| FieldError::new("total_payer", e))?;
    let copay = Amount::checked_sum(currency, lines.iter().map(|l| l.copay))
        .map_err(|e| FieldError::new("total_copay", e))?;
    if payer != total_payer {
        return Err(FieldError::new(
            "total_payer",
            format!("is {total_payer}, the lines add up to {payer}"),
        ));
    }
    if copay != total_copay {
        return Err(FieldError::new(
            "total_copay",
            format!("is {total_copay}, the lines add up to {copay}"),
        ));
    }
    Ok(())
}

/// An id the ledger records at most once: a receipt (money in: savings, subsidies, premiums,
/// copays) or a payout (money out). The log indexes them and refuses an append that records
/// one a second time (`AppendError::IdUsed`), so the decide state need not remember them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UniqueId {
    Receipt(ReceiptId),
    Payout(PayoutId),
}

impl UniqueId {
    /// The index key: a kind byte, then the id.
    pub fn key(&self) -> Vec<u8> {
        let (kind, id) = match self {
            UniqueId::Receipt(id) => (b'r', id.as_str()),
            UniqueId::Payout(id) => (b'p', id.as_str()),
        };
        let mut key = Vec::with_capacity(1 + id.len());
        key.push(kind);
        key.extend_from_slice(id.as_bytes());
        key
    }
}

impl fmt::Display for UniqueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UniqueId::Receipt(id) => write!(f, "receipt id {id}"),
            UniqueId::Payout(id) => write!(f, "payout id {id}"),
        }
    }
}

impl Event {
    /// The snake_case name of the event kind (the protobuf oneof field name).
    pub fn name(&self) -> &'static str {
        match self {
            Event::SchemePublished(_) => "scheme_published",
            Event::HouseholdRegistered(_) => "household_registered",
            Event::MemberEnrolled(_) => "member_enrolled",
            Event::ContributionReceived(_) => "contribution_received",
            Event::SponsorContributionReceived(_) => "sponsor_contribution_received",
            Event::PremiumPaid(_) => "premium_paid",
            Event::CoverageChanged(_) => "coverage_changed",
            Event::ClaimSubmitted(_) => "claim_submitted",
            Event::ClaimAdjudicated(_) => "claim_adjudicated",
            Event::ClaimReviewed(_) => "claim_reviewed",
            Event::ClaimReversed(_) => "claim_reversed",
            Event::CopayRecorded(_) => "copay_recorded",
            Event::StockVisitRecorded(_) => "stock_visit_recorded",
            Event::PaymentPeriodClosed(_) => "payment_period_closed",
            Event::FacilityStatementIssued(_) => "facility_statement_issued",
            Event::FacilityPaid(_) => "facility_paid",
        }
    }

    /// The id this event records once in the whole ledger, if any.
    pub fn unique_id(&self) -> Option<UniqueId> {
        match self {
            Event::ContributionReceived(e) => Some(UniqueId::Receipt(e.receipt_id.clone())),
            Event::SponsorContributionReceived(e) => Some(UniqueId::Receipt(e.receipt_id.clone())),
            Event::PremiumPaid(e) => Some(UniqueId::Receipt(e.receipt_id.clone())),
            Event::CopayRecorded(e) => Some(UniqueId::Receipt(e.receipt_id.clone())),
            Event::FacilityPaid(e) => Some(UniqueId::Payout(e.payout_id.clone())),
            _ => None,
        }
    }

    /// Checks the rules every stored event obeys. The error's field path starts with the event
    /// name, e.g. `contribution_received.amount: must be positive, is 0 KES`.
    pub fn validate(&self) -> Result<(), FieldError> {
        self.validate_fields().map_err(|e| e.within(self.name()))
    }

    /// [`Event::validate`], naming the field without the event's name: a command's events
    /// carry the request's fields under the same names (`amount`, `lines[2].quantity`), so
    /// this is what a refused request is told.
    pub fn validate_fields(&self) -> Result<(), FieldError> {
        self.validate_dates().and_then(|()| self.validate_body())
    }

    /// Every business date of the event, by field name.
    pub fn dates(&self) -> Vec<(&'static str, Date)> {
        match self {
            Event::SchemePublished(e) => vec![("effective_from", e.effective_from)],
            Event::HouseholdRegistered(e) => vec![("registered_on", e.registered_on)],
            Event::MemberEnrolled(e) => {
                vec![("birth_date", e.birth_date), ("enrolled_on", e.enrolled_on)]
            }
            Event::ContributionReceived(e) => vec![("received_on", e.received_on)],
            Event::SponsorContributionReceived(e) => vec![("received_on", e.received_on)],
            Event::PremiumPaid(e) => vec![("paid_on", e.paid_on)],
            Event::CoverageChanged(e) => vec![
                ("effective_from", e.effective_from),
                ("expires_on", e.expires_on),
                ("changed_on", e.changed_on),
                ("period_start", e.period_start),
            ],
            Event::ClaimSubmitted(e) => {
                let mut dates = vec![("date_from", e.date_from), ("claim_date", e.claim_date)];
                dates.extend(e.date_to.map(|d| ("date_to", d)));
                dates
            }
            Event::ClaimAdjudicated(e) => vec![("decided_on", e.decided_on)],
            Event::ClaimReviewed(e) => vec![("reviewed_on", e.reviewed_on)],
            Event::ClaimReversed(e) => vec![("reversed_on", e.reversed_on)],
            Event::CopayRecorded(e) => vec![("collected_on", e.collected_on)],
            Event::StockVisitRecorded(e) => vec![("visited_on", e.visited_on)],
            Event::PaymentPeriodClosed(e) => vec![
                ("starts_on", e.starts_on),
                ("ends_on", e.ends_on),
                ("closed_on", e.closed_on),
            ],
            Event::FacilityStatementIssued(_) => Vec::new(),
            Event::FacilityPaid(e) => vec![("paid_on", e.paid_on)],
        }
    }

    fn validate_dates(&self) -> Result<(), FieldError> {
        self.dates()
            .into_iter()
            .try_for_each(|(field, date)| bounds::date(field, date))
    }

    fn validate_body(&self) -> Result<(), FieldError> {
        match self {
            Event::SchemePublished(e) => {
                if e.version == 0 {
                    return Err(FieldError::new("version", "must be at least 1"));
                }
                if e.document.is_empty() {
                    return Err(FieldError::new("document", "is empty"));
                }
                let actual = crate::chain::sha256(e.document.as_bytes());
                if actual != e.content_sha256 {
                    return Err(FieldError::new(
                        "content_sha256",
                        "is not the SHA-256 of the document",
                    ));
                }
                Ok(())
            }
            Event::HouseholdRegistered(e) => {
                text("location_code", &e.location_code)?;
                text("socio_economic_category", &e.socio_economic_category)
            }
            Event::MemberEnrolled(e) => {
                if e.birth_date > e.enrolled_on {
                    return Err(FieldError::new(
                        "birth_date",
                        format!("{} is after enrolled_on {}", e.birth_date, e.enrolled_on),
                    ));
                }
                Ok(())
            }
            Event::ContributionReceived(e) => positive("amount", e.amount),
            Event::SponsorContributionReceived(e) => positive("amount", e.amount),
            Event::PremiumPaid(e) => positive("amount", e.amount),
            Event::CoverageChanged(e) => {
                non_negative("price", e.price)?;
                not_before(
                    "expires_on",
                    e.expires_on,
                    e.effective_from,
                    "effective_from",
                )
            }
            Event::ClaimSubmitted(e) => {
                if e.lines.is_empty() {
                    return Err(FieldError::new("lines", "a claim needs at least one line"));
                }
                at_most("lines", e.lines.len(), CLAIM_LINES_MAX)?;
                at_most(
                    "diagnosis_codes",
                    e.diagnosis_codes.len(),
                    CLAIM_DIAGNOSES_MAX,
                )?;
                if let Some(date_to) = e.date_to {
                    not_before("date_to", date_to, e.date_from, "date_from")?;
                }
                let service_end = e.date_to.unwrap_or(e.date_from);
                not_before("claim_date", e.claim_date, service_end, "the service date")?;
                let mut currency = None;
                for (i, line) in e.lines.iter().enumerate() {
                    let field = |name: &str| format!("lines[{i}].{name}");
                    if line.line_no == 0 || line.line_no as usize > e.lines.len() {
                        return Err(FieldError::new(
                            field("line_no"),
                            format!(
                                "{} must be between 1 and {}, the number of lines",
                                line.line_no,
                                e.lines.len()
                            ),
                        ));
                    }
                    bounds::quantity(&field("quantity"), line.quantity)?;
                    if let Some(price) = line.asked_unit_price {
                        non_negative(&field("asked_unit_price"), price)?;
                        bounds::unit_price(&field("asked_unit_price"), price)?;
                        let expected = *currency.get_or_insert(price.currency());
                        currency_is(&field("asked_unit_price"), price, expected)?;
                    }
                    if e.lines[..i].iter().any(|l| l.line_no == line.line_no) {
                        return Err(FieldError::new(
                            field("line_no"),
                            format!("{} is used twice", line.line_no),
                        ));
                    }
                }
                Ok(())
            }
            Event::ClaimAdjudicated(e) => {
                let currency = e.total_allowed.currency();
                non_negative("total_allowed", e.total_allowed)?;
                validate_lines(&e.lines, currency, e.total_payer, e.total_copay)?;
                let allowed = Amount::checked_sum(currency, e.lines.iter().map(|l| l.allowed))
                    .map_err(|err| FieldError::new("total_allowed", err))?;
                if allowed != e.total_allowed {
                    return Err(FieldError::new(
                        "total_allowed",
                        format!("is {}, the lines add up to {allowed}", e.total_allowed),
                    ));
                }
                Ok(())
            }
            Event::ClaimReviewed(e) => {
                // The lines are the changed ones; the totals are the whole claim's after the
                // review, so they are checked for sign and currency, not summed.
                text("reviewer", &e.reviewer)?;
                text("comment", &e.comment)?;
                let currency = e.total_payer.currency();
                at_most("lines", e.lines.len(), CLAIM_LINES_MAX)?;
                for (i, line) in e.lines.iter().enumerate() {
                    line.validate(currency)
                        .map_err(|err| err.within(&format!("lines[{i}]")))?;
                }
                non_negative("total_payer", e.total_payer)?;
                non_negative("total_copay", e.total_copay)?;
                currency_is("total_copay", e.total_copay, currency)?;
                match e.copay_refunded {
                    Some(refund) => {
                        positive("copay_refunded", refund)?;
                        currency_is("copay_refunded", refund, currency)
                    }
                    None => Ok(()),
                }
            }
            Event::ClaimReversed(e) => {
                text("reason", &e.reason)?;
                e.copay_refunded
                    .map_or(Ok(()), |refund| positive("copay_refunded", refund))
            }
            Event::CopayRecorded(e) => positive("amount", e.amount),
            Event::StockVisitRecorded(e) => {
                bounds::stock_units("stock_found", e.stock_found)?;
                bounds::stock_units("losses", e.losses)?;
                bounds::stock_units("delivered", e.delivered)?;
                non_negative("unit_price", e.unit_price)?;
                bounds::unit_price("unit_price", e.unit_price)
            }
            Event::PaymentPeriodClosed(e) => {
                not_before("ends_on", e.ends_on, e.starts_on, "starts_on")?;
                not_before("closed_on", e.closed_on, e.ends_on, "ends_on")
            }
            Event::FacilityStatementIssued(e) => {
                let currency = e.amount_due.currency();
                if e.part == 0 && !e.more {
                    // A part of a longer statement may list more reversals than accruals;
                    // a whole statement never owes less than nothing.
                    non_negative("amount_due", e.amount_due)?;
                }
                at_most("lines", e.lines.len(), STATEMENT_LINES_MAX)?;
                for (i, line) in e.lines.iter().enumerate() {
                    currency_is(&format!("lines[{i}].amount"), line.amount, currency)?;
                    bounds::amount(&format!("lines[{i}].amount"), line.amount)?;
                    text(&format!("lines[{i}].description"), &line.description)?;
                    text(&format!("lines[{i}].reference"), &line.reference)?;
                }
                let sum = Amount::checked_sum(currency, e.lines.iter().map(|l| l.amount))
                    .map_err(|err| FieldError::new("amount_due", err))?;
                if sum != e.amount_due {
                    return Err(FieldError::new(
                        "amount_due",
                        format!("is {}, the lines add up to {sum}", e.amount_due),
                    ));
                }
                Ok(())
            }
            Event::FacilityPaid(e) => {
                text("reference", &e.reference)?;
                positive("amount", e.amount)
            }
        }
    }
}

/// SHA-256 digests as lower-case hex in human-readable formats (the JSON Lines export), as
/// bytes in binary ones (checkpoints).
#[cfg(feature = "serde")]
mod hex_digest {
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    pub fn serialize<S: Serializer>(digest: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&crate::chain::hex(digest))
        } else {
            digest.serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        if d.is_human_readable() {
            crate::chain::from_hex(&String::deserialize(d)?).map_err(D::Error::custom)
        } else {
            <[u8; 32]>::deserialize(d)
        }
    }
}
