//! The rules engine: claim + member context + scheme -> decision, with openIMIS reason codes
//! and the findings that explain every amount (an explanation of benefits).
//!
//! Order (domain.md): 9; then 7 / 21 (each rejects the whole claim), with the facility, the
//! diagnoses (8) and duplicates (6) also checked for the whole claim; the category maxima
//! (11-15, 19) reject the whole claim when every covering product has reached them; then per
//! line 1, 2, 10, 4, 5, and the product loop (17, 16, category maxima), else 3. A passed line
//! is valued under the product that leaves the member paying least:
//! price -> fixed limit -> deductible -> co-insurance -> per-claim category cap -> ceiling
//! exclusion -> ceiling. `payer + copay = allowed` on every line.

use std::fmt;

use ledger::event::{
    ClaimAdjudicated, ClaimCategory, ClaimSubmitted, DecisionStatus, Gender, LineDecision, LineKind,
};
use ledger::ids::{ClaimId, Code, FacilityId, PolicyId, ProductId};
use ledger::{Amount, Date, MoneyError};
use rust_decimal::Decimal;

use crate::context::{MemberContext, PolicyContext};
use crate::scheme::{CareType, Cover, Limitation, PatientMask, Product, Scheme, ServiceCategory};

/// openIMIS rejection reason codes (kept as openIMIS numbers them).
pub mod reason {
    pub const ACCEPTED: i32 = 0;
    pub const REJECTED_BY_REVIEWER: i32 = -1;
    pub const UNKNOWN_ITEM: i32 = 1;
    pub const NOT_IN_PRICE_LIST: i32 = 2;
    pub const NO_COVERING_PRODUCT: i32 = 3;
    pub const PATIENT_CATEGORY: i32 = 4;
    pub const FREQUENCY: i32 = 5;
    pub const DUPLICATE: i32 = 6;
    pub const MEMBER_INVALID: i32 = 7;
    pub const DIAGNOSIS_UNKNOWN: i32 = 8;
    pub const SERVICE_DATE: i32 = 9;
    pub const CARE_TYPE: i32 = 10;
    pub const MAX_HOSPITAL_ADMISSIONS: i32 = 11;
    pub const MAX_VISITS: i32 = 12;
    pub const MAX_CONSULTATIONS: i32 = 13;
    pub const MAX_SURGERIES: i32 = 14;
    pub const MAX_DELIVERIES: i32 = 15;
    pub const QUANTITY: i32 = 16;
    pub const WAITING_PERIOD: i32 = 17;
    pub const MAX_ANTENATAL: i32 = 19;
    pub const NO_COVERAGE: i32 = 21;
}

/// One explained step of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    ServiceDateInFuture {
        service_date: Date,
        today: Date,
    },
    ServiceDateAfterClaimDate {
        service_date: Date,
        claim_date: Date,
    },
    MemberUnknown,
    HouseholdMismatch,
    FacilityUnknown(FacilityId),
    NoCoverageOn(Date),
    DiagnosisUnknown(Code),
    DuplicateOf(ClaimId),
    CategoryMaximum {
        product: ProductId,
        category: ClaimCategory,
        max: u32,
    },
    UnknownCode(Code),
    WrongKind(Code),
    NotInPriceList {
        price_list: String,
        date: Date,
    },
    CareType {
        facility: CareType,
        line: CareType,
        inpatient: bool,
    },
    PatientCategory {
        adult: bool,
        female: bool,
    },
    Frequency {
        previous: Date,
        frequency_days: u32,
    },
    Waiting {
        product: ProductId,
        until: Date,
    },
    NeverCovered {
        product: ProductId,
    },
    QuantityExhausted {
        product: ProductId,
        max: u32,
    },
    QuantityTruncated {
        product: ProductId,
        asked: u32,
        approved: u32,
    },
    NoProductCovers,
    /// Amount arithmetic failed (overflow, or usage in another currency).
    AmountError(MoneyError),
    Priced {
        unit_price: Amount,
        asked: bool,
    },
    FixedLimit {
        per_unit: Amount,
    },
    Deductible {
        taken: Amount,
    },
    Coinsurance {
        percent: Decimal,
    },
    ClaimCap {
        category: ClaimCategory,
        cap: Amount,
    },
    CeilingExcluded,
    CeilingExcess {
        excess: Amount,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::ServiceDateInFuture {
                service_date,
                today,
            } => {
                write!(f, "service date {service_date} is after today {today}")
            }
            Finding::ServiceDateAfterClaimDate {
                service_date,
                claim_date,
            } => write!(
                f,
                "service date {service_date} is after the claim date {claim_date}"
            ),
            Finding::MemberUnknown => write!(f, "the member is not enrolled in the scheme"),
            Finding::HouseholdMismatch => {
                write!(f, "the member does not belong to the claimed household")
            }
            Finding::FacilityUnknown(id) => write!(f, "facility {id} is not in the scheme"),
            Finding::NoCoverageOn(d) => write!(f, "no policy covers the member on {d}"),
            Finding::DiagnosisUnknown(c) => write!(f, "diagnosis {c} is not in the scheme"),
            Finding::DuplicateOf(id) => {
                write!(f, "same member, date, facility and lines as claim {id}")
            }
            Finding::CategoryMaximum {
                product,
                category,
                max,
            } => write!(
                f,
                "{product}: maximum of {max} {category:?} claims per period reached"
            ),
            Finding::UnknownCode(c) => write!(f, "{c} is not an item or service of the scheme"),
            Finding::WrongKind(c) => write!(f, "{c} is claimed as the wrong kind (item/service)"),
            Finding::NotInPriceList { price_list, date } => {
                write!(f, "not in price list {price_list} on {date}")
            }
            Finding::CareType {
                facility,
                line,
                inpatient,
            } => write!(
                f,
                "care type {line:?} not allowed at a {facility:?} facility on an {} claim",
                if *inpatient {
                    "inpatient"
                } else {
                    "outpatient"
                }
            ),
            Finding::PatientCategory { adult, female } => write!(
                f,
                "not for {} {} patients",
                if *adult { "adult" } else { "minor" },
                if *female { "female" } else { "male" }
            ),
            Finding::Frequency {
                previous,
                frequency_days,
            } => write!(
                f,
                "already given on {previous}; at most once every {frequency_days} days"
            ),
            Finding::Waiting { product, until } => {
                write!(f, "{product}: waiting period until {until}")
            }
            Finding::NeverCovered { product } => write!(f, "{product}: never covered (limit 0)"),
            Finding::QuantityExhausted { product, max } => {
                write!(f, "{product}: the limit of {max} per period is used up")
            }
            Finding::QuantityTruncated {
                product,
                asked,
                approved,
            } => write!(
                f,
                "{product}: {approved} of {asked} approved (quantity limit)"
            ),
            Finding::NoProductCovers => write!(f, "no product of the member covers it"),
            Finding::AmountError(e) => write!(f, "cannot value the line: {e}"),
            Finding::Priced { unit_price, asked } => write!(
                f,
                "unit price {unit_price} ({})",
                if *asked { "asked price" } else { "price list" }
            ),
            Finding::FixedLimit { per_unit } => write!(f, "fixed limit {per_unit} per unit"),
            Finding::Deductible { taken } => write!(f, "deductible {taken}"),
            Finding::Coinsurance { percent } => write!(f, "scheme pays {percent}%"),
            Finding::ClaimCap { category, cap } => {
                write!(f, "capped at {cap} per {category:?} claim")
            }
            Finding::CeilingExcluded => write!(f, "excluded from ceilings"),
            Finding::CeilingExcess { excess } => write!(f, "ceiling reached, {excess} not paid"),
        }
    }
}

/// The decision for one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineOutcome {
    pub line_no: u32,
    pub status: DecisionStatus,
    pub reason_code: i32,
    pub approved_quantity: u32,
    pub unit_price: Amount,
    pub allowed: Amount,
    pub payer: Amount,
    pub copay: Amount,
    pub deductible: Amount,
    pub ceiling_excess: Amount,
    pub product_id: Option<ProductId>,
    /// The policy period that paid.
    pub policy_id: Option<PolicyId>,
    pub ceiling_excluded: bool,
    pub findings: Vec<Finding>,
}

/// What a decision consumes of one policy period (so usage is counted once, from the event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    pub policy_id: PolicyId,
    pub product_id: ProductId,
    pub category: ClaimCategory,
    pub inpatient: bool,
    pub quantities: Vec<(Code, u32)>,
    pub deductible: Amount,
    /// Payer amounts that count against ceilings.
    pub ceiling: Amount,
}

/// The adjudicator's decision for a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub claim_id: ClaimId,
    pub decided_on: Date,
    pub category: ClaimCategory,
    pub inpatient: bool,
    pub status: DecisionStatus,
    pub reason_code: i32,
    pub claim_findings: Vec<Finding>,
    pub lines: Vec<LineOutcome>,
    pub total_allowed: Amount,
    pub total_payer: Amount,
    pub total_copay: Amount,
    pub usage: Vec<UsageDelta>,
}

impl Decision {
    /// The event that records this decision in full.
    pub fn to_event(&self, scheme: &Scheme) -> ClaimAdjudicated {
        ClaimAdjudicated {
            claim_id: self.claim_id.clone(),
            scheme_id: scheme.id.clone(),
            scheme_version: scheme.version,
            scheme_content_sha256: scheme.content_sha256,
            decided_on: self.decided_on,
            decided_on_given: false,
            category: self.category,
            status: self.status,
            reason_code: self.reason_code,
            lines: self
                .lines
                .iter()
                .map(|l| LineDecision {
                    line_no: l.line_no,
                    status: l.status,
                    reason_code: l.reason_code,
                    approved_quantity: l.approved_quantity,
                    unit_price: l.unit_price,
                    allowed: l.allowed,
                    payer: l.payer,
                    copay: l.copay,
                    deductible: l.deductible,
                    ceiling_excess: l.ceiling_excess,
                    product_id: l.product_id.clone(),
                    policy_id: l.policy_id.clone(),
                    ceiling_excluded: l.ceiling_excluded,
                    findings: self
                        .claim_findings
                        .iter()
                        .chain(&l.findings)
                        .map(ToString::to_string)
                        .collect(),
                })
                .collect(),
            total_allowed: self.total_allowed,
            total_payer: self.total_payer,
            total_copay: self.total_copay,
        }
    }
}

/// What a claim has used of one policy so far, line by line.
#[derive(Debug, Clone, Default)]
struct Running {
    quantities: Vec<(Code, u32)>,
    deductible: Option<Amount>,
    ceiling: Option<Amount>,
    payer: Option<Amount>,
    used: bool,
}

impl Running {
    fn quantity(&self, code: &Code) -> u32 {
        self.quantities
            .iter()
            .find(|(c, _)| c == code)
            .map_or(0, |(_, q)| *q)
    }
}

fn or_zero(a: Option<Amount>, like: Amount) -> Amount {
    a.unwrap_or(Amount::zero(like.currency()))
}

/// A line valued under one product.
struct Valuation {
    approved: u32,
    unit_price: Amount,
    allowed: Amount,
    payer: Amount,
    copay: Amount,
    deductible: Amount,
    ceiling_excess: Amount,
    counts_to_ceiling: bool,
    findings: Vec<Finding>,
}

/// The claim's facts, worked out once.
struct ClaimFacts<'a> {
    claim: &'a ClaimSubmitted,
    service_date: Date,
    inpatient: bool,
    category: ClaimCategory,
}

fn service_date(claim: &ClaimSubmitted) -> Date {
    claim.date_to.unwrap_or(claim.date_from)
}

fn claim_category(claim: &ClaimSubmitted, scheme: &Scheme, inpatient: bool) -> ClaimCategory {
    let has = |wanted: ServiceCategory| {
        claim.lines.iter().any(|l| {
            l.kind == LineKind::Service
                && scheme
                    .medical
                    .get(&l.code)
                    .is_some_and(|m| m.category == wanted)
        })
    };
    if has(ServiceCategory::Surgery) {
        ClaimCategory::Surgery
    } else if has(ServiceCategory::Delivery) {
        ClaimCategory::Delivery
    } else if has(ServiceCategory::Antenatal) {
        ClaimCategory::Antenatal
    } else if inpatient || has(ServiceCategory::Hospitalization) {
        ClaimCategory::Hospitalization
    } else if has(ServiceCategory::Consultation) {
        ClaimCategory::Consultation
    } else {
        ClaimCategory::Visit
    }
}

/// Decides a claim. `today` is the business date of the decision (service dates after it are
/// refused). Pure and deterministic: the same inputs give the same decision.
pub fn adjudicate(
    claim: &ClaimSubmitted,
    ctx: &MemberContext,
    scheme: &Scheme,
    today: Date,
) -> Decision {
    let sd = service_date(claim);
    let inpatient = claim.date_to.is_some_and(|to| to > claim.date_from);
    let facts = ClaimFacts {
        claim,
        service_date: sd,
        inpatient,
        category: claim_category(claim, scheme, inpatient),
    };
    match claim_level(&facts, ctx, scheme, today) {
        Err((code, findings)) => reject_all(&facts, scheme, code, findings, today),
        Ok(policies) => decide_lines(&facts, ctx, scheme, &policies, today),
    }
}

/// Policies covering the service date, split by whether a category maximum blocks them.
struct Policies {
    /// Indexes (into `MemberContext::policies`) of the policies that may pay.
    open: Vec<usize>,
    /// Policies at their maximum for the claim's category, with the code and finding.
    blocked: Vec<(usize, i32, Finding)>,
}

/// The claim-wide rules. Ok: the covering policies. Err: the code rejecting the whole claim.
fn claim_level(
    f: &ClaimFacts<'_>,
    ctx: &MemberContext,
    scheme: &Scheme,
    today: Date,
) -> Result<Policies, (i32, Vec<Finding>)> {
    let claim = f.claim;
    if f.service_date > today {
        return Err((
            reason::SERVICE_DATE,
            vec![Finding::ServiceDateInFuture {
                service_date: f.service_date,
                today,
            }],
        ));
    }
    if f.service_date > claim.claim_date {
        return Err((
            reason::SERVICE_DATE,
            vec![Finding::ServiceDateAfterClaimDate {
                service_date: f.service_date,
                claim_date: claim.claim_date,
            }],
        ));
    }
    let Some(member) = &ctx.member else {
        return Err((reason::MEMBER_INVALID, vec![Finding::MemberUnknown]));
    };
    if member.household_id != claim.household_id || member.id != claim.member_id {
        return Err((reason::MEMBER_INVALID, vec![Finding::HouseholdMismatch]));
    }
    let covering: Vec<usize> = ctx
        .policies
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.policy.covers(f.service_date) && scheme.product(&p.policy.product_id).is_some()
        })
        .map(|(i, _)| i)
        .collect();
    if covering.is_empty() {
        return Err((
            reason::NO_COVERAGE,
            vec![Finding::NoCoverageOn(f.service_date)],
        ));
    }
    if !scheme.facilities.contains_key(&claim.facility_id) {
        return Err((
            reason::NOT_IN_PRICE_LIST,
            vec![Finding::FacilityUnknown(claim.facility_id.clone())],
        ));
    }
    if !scheme.diagnoses.is_empty()
        && let Some(unknown) = claim
            .diagnosis_codes
            .iter()
            .find(|d| !scheme.diagnoses.contains(*d))
    {
        return Err((
            reason::DIAGNOSIS_UNKNOWN,
            vec![Finding::DiagnosisUnknown(unknown.clone())],
        ));
    }
    if let Some(original) = ctx.prior_claims.iter().find(|p| {
        p.facility_id == claim.facility_id
            && p.claim_code != claim.claim_code
            && p.service_date == f.service_date
            && same_lines(&p.lines, claim)
    }) {
        return Err((
            reason::DUPLICATE,
            vec![Finding::DuplicateOf(original.claim_id.clone())],
        ));
    }
    // Category maxima: a product that reached its maximum cannot pay for this claim; when
    // none can, the whole claim is rejected with the category's code.
    let mut open = Vec::with_capacity(covering.len());
    let mut blocked = Vec::new();
    for i in covering {
        let pc = &ctx.policies[i];
        let Some(product) = scheme.product(&pc.policy.product_id) else {
            continue;
        };
        let (max, code) = product.max_counts.for_category(f.category);
        match max {
            Some(max) if pc.usage.counts.get(f.category) >= max => blocked.push((
                i,
                code,
                Finding::CategoryMaximum {
                    product: product.id.clone(),
                    category: f.category,
                    max,
                },
            )),
            _ => open.push(i),
        }
    }
    if open.is_empty()
        && let Some((_, code, _)) = blocked.first()
    {
        let code = *code;
        return Err((
            code,
            blocked.into_iter().map(|(_, _, finding)| finding).collect(),
        ));
    }
    Ok(Policies { open, blocked })
}

/// Same line codes and quantities, in any order.
fn same_lines(prior: &[crate::context::PriorLine], claim: &ClaimSubmitted) -> bool {
    if prior.len() != claim.lines.len() {
        return false;
    }
    let mut a: Vec<(&str, u32)> = prior
        .iter()
        .map(|l| (l.code.as_str(), l.quantity))
        .collect();
    let mut b: Vec<(&str, u32)> = claim
        .lines
        .iter()
        .map(|l| (l.code.as_str(), l.quantity))
        .collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

fn reject_all(
    f: &ClaimFacts<'_>,
    scheme: &Scheme,
    code: i32,
    findings: Vec<Finding>,
    today: Date,
) -> Decision {
    let zero = Amount::zero(scheme.currency);
    Decision {
        claim_id: f.claim.claim_id.clone(),
        decided_on: today,
        category: f.category,
        inpatient: f.inpatient,
        status: DecisionStatus::Rejected,
        reason_code: code,
        claim_findings: findings,
        lines: f
            .claim
            .lines
            .iter()
            .map(|l| rejected_line(l.line_no, code, zero, Vec::new()))
            .collect(),
        total_allowed: zero,
        total_payer: zero,
        total_copay: zero,
        usage: Vec::new(),
    }
}

fn rejected_line(
    line_no: u32,
    code: i32,
    unit_price: Amount,
    findings: Vec<Finding>,
) -> LineOutcome {
    let zero = Amount::zero(unit_price.currency());
    LineOutcome {
        line_no,
        status: DecisionStatus::Rejected,
        reason_code: code,
        approved_quantity: 0,
        unit_price,
        allowed: zero,
        payer: zero,
        copay: zero,
        deductible: zero,
        ceiling_excess: zero,
        product_id: None,
        policy_id: None,
        ceiling_excluded: false,
        findings,
    }
}

fn care_type_ok(facility: CareType, line: CareType, inpatient: bool) -> bool {
    match facility {
        CareType::Outpatient => !inpatient && line != CareType::Inpatient,
        CareType::Inpatient => line != CareType::Outpatient,
        CareType::Both => match line {
            CareType::Both => true,
            CareType::Inpatient => inpatient,
            CareType::Outpatient => !inpatient,
        },
    }
}

fn decide_lines(
    f: &ClaimFacts<'_>,
    ctx: &MemberContext,
    scheme: &Scheme,
    policies: &Policies,
    today: Date,
) -> Decision {
    let claim = f.claim;
    let zero = Amount::zero(scheme.currency);
    let member = match &ctx.member {
        Some(m) => m,
        None => {
            return reject_all(
                f,
                scheme,
                reason::MEMBER_INVALID,
                vec![Finding::MemberUnknown],
                today,
            );
        }
    };
    let adult = member.is_adult_on(f.service_date);
    let female = member.gender == Gender::Female;
    let gender_bit = if female {
        PatientMask::FEMALE
    } else {
        PatientMask::MALE
    };
    let age_bit = if adult {
        PatientMask::ADULT
    } else {
        PatientMask::MINOR
    };
    // `claim_level` checked the facility exists.
    let facility = &scheme.facilities[&claim.facility_id];
    let price_list = scheme.price_lists.get(&facility.price_list);
    let mut running: Vec<Running> = vec![Running::default(); ctx.policies.len()];
    let mut lines = Vec::with_capacity(claim.lines.len());

    // Products of the open policies, looked up once per claim.
    let products: Vec<(usize, &Product)> = policies
        .open
        .iter()
        .filter_map(|&pi| {
            scheme
                .product(&ctx.policies[pi].policy.product_id)
                .map(|p| (pi, p))
        })
        .collect();
    let mut order: Vec<usize> = (0..claim.lines.len()).collect();
    if !claim.lines.is_sorted_by_key(|l| l.line_no) {
        order.sort_by_key(|&i| claim.lines[i].line_no);
    }
    for i in order {
        let line = &claim.lines[i];
        let reject = |code: i32, price: Amount, finding: Finding| {
            rejected_line(line.line_no, code, price, vec![finding])
        };
        let Some(medical) = scheme.medical.get(&line.code) else {
            lines.push(reject(
                reason::UNKNOWN_ITEM,
                zero,
                Finding::UnknownCode(line.code.clone()),
            ));
            continue;
        };
        if medical.kind != line.kind {
            lines.push(reject(
                reason::UNKNOWN_ITEM,
                zero,
                Finding::WrongKind(line.code.clone()),
            ));
            continue;
        }
        let Some(list_price) = price_list.and_then(|pl| pl.price(&line.code, f.service_date))
        else {
            lines.push(reject(
                reason::NOT_IN_PRICE_LIST,
                zero,
                Finding::NotInPriceList {
                    price_list: facility.price_list.clone(),
                    date: f.service_date,
                },
            ));
            continue;
        };
        if !care_type_ok(facility.care_type, medical.care_type, f.inpatient) {
            lines.push(reject(
                reason::CARE_TYPE,
                list_price,
                Finding::CareType {
                    facility: facility.care_type,
                    line: medical.care_type,
                    inpatient: f.inpatient,
                },
            ));
            continue;
        }
        if !medical.patients.allows(gender_bit, age_bit) {
            lines.push(reject(
                reason::PATIENT_CATEGORY,
                list_price,
                Finding::PatientCategory { adult, female },
            ));
            continue;
        }
        if medical.frequency_days > 0
            && let Some(previous) =
                too_frequent(ctx, &line.code, f.service_date, medical.frequency_days)
        {
            lines.push(reject(
                reason::FREQUENCY,
                list_price,
                Finding::Frequency {
                    previous,
                    frequency_days: medical.frequency_days,
                },
            ));
            continue;
        }

        // The product loop: every open policy whose product covers the line.
        let mut best: Option<(usize, Valuation)> = None;
        let mut failure: Option<(i32, Finding)> = None;
        let mut covered_somewhere = false;
        for &(pi, product) in &products {
            let pc = &ctx.policies[pi];
            let Some(cover) = product.covers.get(&line.code) else {
                continue;
            };
            covered_somewhere = true;
            match product_check(
                pc,
                product,
                cover,
                member,
                adult,
                line,
                &running[pi],
                f.service_date,
            ) {
                Err(fail) => {
                    if failure.is_none() {
                        failure = Some(fail);
                    }
                }
                Ok((approved, truncated)) => {
                    let unit_price = match (product.use_asked_price, line.asked_unit_price) {
                        (true, Some(asked)) if asked.currency() == scheme.currency => asked,
                        _ => list_price,
                    };
                    match value(
                        scheme,
                        product,
                        cover,
                        pc,
                        &running[pi],
                        f,
                        approved,
                        unit_price,
                        unit_price != list_price,
                    ) {
                        Ok(mut v) => {
                            if let Some(t) = truncated {
                                v.findings.insert(0, t);
                            }
                            let better = best
                                .as_ref()
                                .is_none_or(|(_, b)| v.copay.minor_units() < b.copay.minor_units());
                            if better {
                                best = Some((pi, v));
                            }
                        }
                        Err(e) => {
                            if failure.is_none() {
                                failure = Some((reason::QUANTITY, Finding::AmountError(e)));
                            }
                        }
                    }
                }
            }
        }
        match best {
            Some((pi, v)) => {
                let product_id = ctx.policies[pi].policy.product_id.clone();
                let r = &mut running[pi];
                r.used = true;
                match r.quantities.iter_mut().find(|(c, _)| *c == line.code) {
                    Some((_, q)) => *q = q.saturating_add(v.approved),
                    None => r.quantities.push((line.code.clone(), v.approved)),
                }
                // Sums of amounts already validated as non-overflowing in `value`.
                r.deductible = Some(
                    or_zero(r.deductible, zero)
                        .checked_add(v.deductible)
                        .unwrap_or(zero),
                );
                r.payer = Some(or_zero(r.payer, zero).checked_add(v.payer).unwrap_or(zero));
                if v.counts_to_ceiling {
                    r.ceiling = Some(
                        or_zero(r.ceiling, zero)
                            .checked_add(v.payer)
                            .unwrap_or(zero),
                    );
                }
                let findings = v.findings;
                lines.push(LineOutcome {
                    line_no: line.line_no,
                    status: if v.approved < line.quantity {
                        DecisionStatus::Partial
                    } else {
                        DecisionStatus::Accepted
                    },
                    reason_code: if v.approved < line.quantity {
                        reason::QUANTITY
                    } else {
                        reason::ACCEPTED
                    },
                    approved_quantity: v.approved,
                    unit_price: v.unit_price,
                    allowed: v.allowed,
                    payer: v.payer,
                    copay: v.copay,
                    deductible: v.deductible,
                    ceiling_excess: v.ceiling_excess,
                    product_id: Some(product_id),
                    policy_id: Some(ctx.policies[pi].policy.id.clone()),
                    ceiling_excluded: !v.counts_to_ceiling,
                    findings,
                });
            }
            None => {
                // A product at its category maximum that would cover the line explains the
                // rejection better than "no covering product".
                let blocked_cover = policies.blocked.iter().find(|(pi, _, _)| {
                    scheme
                        .product(&ctx.policies[*pi].policy.product_id)
                        .is_some_and(|p| p.covers.contains_key(&line.code))
                });
                let (code, finding) = match (failure, blocked_cover) {
                    (Some(fail), _) if covered_somewhere => fail,
                    (_, Some((_, code, finding))) => (*code, finding.clone()),
                    _ => (reason::NO_COVERING_PRODUCT, Finding::NoProductCovers),
                };
                lines.push(reject(code, list_price, finding));
            }
        }
    }

    let passed = lines
        .iter()
        .filter(|l| l.status != DecisionStatus::Rejected)
        .count();
    let (status, reason_code) = if passed == 0 {
        (DecisionStatus::Rejected, reason::UNKNOWN_ITEM)
    } else if passed < lines.len() || lines.iter().any(|l| l.status == DecisionStatus::Partial) {
        (DecisionStatus::Partial, reason::ACCEPTED)
    } else {
        (DecisionStatus::Accepted, reason::ACCEPTED)
    };
    let sum = |get: fn(&LineOutcome) -> Amount| {
        Amount::checked_sum(scheme.currency, lines.iter().map(get)).unwrap_or(zero)
    };
    let usage = running
        .iter()
        .enumerate()
        .filter(|(_, r)| r.used)
        .map(|(pi, r)| UsageDelta {
            policy_id: ctx.policies[pi].policy.id.clone(),
            product_id: ctx.policies[pi].policy.product_id.clone(),
            category: f.category,
            inpatient: f.inpatient,
            quantities: r.quantities.clone(),
            deductible: or_zero(r.deductible, zero),
            ceiling: or_zero(r.ceiling, zero),
        })
        .collect();
    Decision {
        claim_id: claim.claim_id.clone(),
        decided_on: today,
        category: f.category,
        inpatient: f.inpatient,
        status,
        reason_code,
        claim_findings: Vec::new(),
        total_allowed: sum(|l| l.allowed),
        total_payer: sum(|l| l.payer),
        total_copay: sum(|l| l.copay),
        lines,
        usage,
    }
}

/// The earliest passed use of `code` less than `frequency_days` days from `date`.
fn too_frequent(ctx: &MemberContext, code: &Code, date: Date, frequency_days: u32) -> Option<Date> {
    ctx.prior_claims
        .iter()
        .filter(|p| {
            let gap = (p.service_date - date).num_days().unsigned_abs();
            gap < u64::from(frequency_days) && p.lines.iter().any(|l| l.passed && &l.code == code)
        })
        .map(|p| p.service_date)
        .min()
}

/// Waiting period and quantity limit of one product. Ok: the approved quantity and, if it was
/// cut, the finding saying so.
#[allow(clippy::too_many_arguments)]
fn product_check(
    pc: &PolicyContext,
    product: &Product,
    cover: &Cover,
    member: &crate::context::Member,
    adult: bool,
    line: &ledger::event::ClaimLine,
    running: &Running,
    service_date: Date,
) -> Result<(u32, Option<Finding>), (i32, Finding)> {
    let months = if adult {
        product.waiting_months_adult
    } else {
        product.waiting_months_child
    };
    if let Some(until) = pc.policy.waiting_until(member.enrolled_on, months)
        && service_date < until
    {
        return Err((
            reason::WAITING_PERIOD,
            Finding::Waiting {
                product: product.id.clone(),
                until,
            },
        ));
    }
    match cover.max_quantity {
        None => Ok((line.quantity, None)),
        Some(0) => Err((
            reason::QUANTITY,
            Finding::NeverCovered {
                product: product.id.clone(),
            },
        )),
        Some(max) => {
            let used = pc
                .usage
                .quantities
                .get(&line.code)
                .copied()
                .unwrap_or(0)
                .saturating_add(running.quantity(&line.code));
            if used >= max {
                return Err((
                    reason::QUANTITY,
                    Finding::QuantityExhausted {
                        product: product.id.clone(),
                        max,
                    },
                ));
            }
            let approved = line.quantity.min(max - used);
            let truncated = (approved < line.quantity).then(|| Finding::QuantityTruncated {
                product: product.id.clone(),
                asked: line.quantity,
                approved,
            });
            Ok((approved, truncated))
        }
    }
}

/// The least of the remaining amounts of the levels that are set (None: no level is set).
fn remaining(levels: [(Option<Amount>, Amount); 3]) -> Result<Option<Amount>, MoneyError> {
    let mut least: Option<Amount> = None;
    for (limit, used) in levels {
        if let Some(limit) = limit {
            let left = limit.checked_sub(used)?;
            let left = if left.is_negative() {
                Amount::zero(left.currency())
            } else {
                left
            };
            least = Some(match least {
                Some(l) => l.checked_min(left)?,
                None => left,
            });
        }
    }
    Ok(least)
}

/// Values a line under one product (see the module docs for the order).
#[allow(clippy::too_many_arguments)]
fn value(
    scheme: &Scheme,
    product: &Product,
    cover: &Cover,
    pc: &PolicyContext,
    running: &Running,
    f: &ClaimFacts<'_>,
    approved: u32,
    unit_price: Amount,
    asked: bool,
) -> Result<Valuation, MoneyError> {
    let zero = Amount::zero(scheme.currency);
    let mut findings = Vec::with_capacity(4);
    findings.push(Finding::Priced { unit_price, asked });
    let allowed = unit_price.checked_mul(i64::from(approved))?;
    let inpatient = f.inpatient;
    let usage = &pc.usage;

    // Fixed limit: the scheme pays at most a fixed amount per unit.
    let coverable = match cover.limitation {
        Limitation::Fixed(per_unit) => {
            findings.push(Finding::FixedLimit { per_unit });
            allowed.checked_min(per_unit.checked_mul(i64::from(approved))?)?
        }
        Limitation::Coinsurance(_) => allowed,
    };

    // Deductible: the member pays the first part, per claim / member / household.
    let d = product.deductible.for_claim(inpatient);
    let claim_deductible = or_zero(running.deductible, zero);
    let deductible_left = remaining([
        (d.per_claim, claim_deductible),
        (
            d.per_member,
            usage
                .member_deductible
                .get(inpatient)
                .checked_add(claim_deductible)?,
        ),
        (
            d.per_household,
            usage
                .household_deductible
                .get(inpatient)
                .checked_add(claim_deductible)?,
        ),
    ])?;
    let deductible = match deductible_left {
        Some(left) => coverable.checked_min(left)?,
        None => zero,
    };
    if deductible.is_positive() {
        findings.push(Finding::Deductible { taken: deductible });
    }
    let after_deductible = coverable.checked_sub(deductible)?;

    // Co-insurance: the scheme pays its percentage (rounded once, the scheme's way).
    let mut payer = match cover.limitation {
        Limitation::Coinsurance(percent) => {
            if percent != Decimal::ONE_HUNDRED {
                findings.push(Finding::Coinsurance { percent });
            }
            scheme.apply_percent(after_deductible, percent)
        }
        Limitation::Fixed(_) => after_deductible,
    };

    // Per-claim cap by claim category.
    if let Some(cap) = product.claim_caps.get(&f.category) {
        let left = cap.checked_sub(or_zero(running.payer, zero))?;
        let left = if left.is_negative() { zero } else { left };
        if payer.minor_units() > left.minor_units() {
            payer = left;
            findings.push(Finding::ClaimCap {
                category: f.category,
                cap: *cap,
            });
        }
    }

    // Ceilings, unless the item is excluded from them.
    let mut ceiling_excess = zero;
    if cover.ceiling_excluded {
        findings.push(Finding::CeilingExcluded);
    } else {
        let c = product.ceiling.for_claim(inpatient);
        let claim_ceiling = or_zero(running.ceiling, zero);
        let household_limit = match (c.per_household, product.ceiling_growth) {
            (Some(base), Some(g)) => {
                let extra = pc
                    .policy
                    .household_members
                    .saturating_sub(g.threshold_members);
                let grown = base.checked_add(g.per_extra_member.checked_mul(i64::from(extra))?)?;
                Some(match g.max {
                    Some(max) => grown.checked_min(max)?,
                    None => grown,
                })
            }
            (limit, _) => limit,
        };
        let left = remaining([
            (c.per_claim, claim_ceiling),
            (
                c.per_member,
                usage
                    .member_ceiling
                    .get(inpatient)
                    .checked_add(claim_ceiling)?,
            ),
            (
                household_limit,
                usage
                    .household_ceiling
                    .get(inpatient)
                    .checked_add(claim_ceiling)?,
            ),
        ])?;
        if let Some(left) = left
            && payer.minor_units() > left.minor_units()
        {
            ceiling_excess = payer.checked_sub(left)?;
            payer = left;
            findings.push(Finding::CeilingExcess {
                excess: ceiling_excess,
            });
        }
    }
    let copay = allowed.checked_sub(payer)?;
    Ok(Valuation {
        approved,
        unit_price,
        allowed,
        payer,
        copay,
        deductible,
        ceiling_excess,
        counts_to_ceiling: !cover.ceiling_excluded,
        findings,
    })
}

// What a decision does to the adjudicator's inputs (here, with the decision's types, so
// the context module does not depend on this one).
impl crate::context::Usage {
    /// Counts what a decision consumed of this policy period (its `UsageDelta`).
    pub fn record(&mut self, delta: &UsageDelta) -> Result<(), ledger::MoneyError> {
        self.counts.add(delta.category, 1);
        for (code, quantity) in &delta.quantities {
            let used = self.quantities.entry(code.clone()).or_insert(0);
            *used = used.saturating_add(*quantity);
        }
        let ip = delta.inpatient;
        for (slot, add) in [
            (self.member_deductible.slot(ip), delta.deductible),
            (self.household_deductible.slot(ip), delta.deductible),
            (self.member_ceiling.slot(ip), delta.ceiling),
            (self.household_ceiling.slot(ip), delta.ceiling),
        ] {
            *slot = slot.checked_add(add)?;
        }
        Ok(())
    }
}

impl crate::context::PriorClaim {
    /// The earlier-claim record of a decided claim (for frequency and duplicate checks).
    pub fn from_decision(
        claim: &ledger::event::ClaimSubmitted,
        decision: &Decision,
    ) -> crate::context::PriorClaim {
        crate::context::PriorClaim {
            claim_id: claim.claim_id.clone(),
            facility_id: claim.facility_id.clone(),
            claim_code: claim.claim_code.clone(),
            service_date: claim.date_to.unwrap_or(claim.date_from),
            lines: claim
                .lines
                .iter()
                .map(|l| crate::context::PriorLine {
                    code: l.code.clone(),
                    quantity: l.quantity,
                    passed: decision.lines.iter().any(|o| {
                        o.line_no == l.line_no
                            && o.status != ledger::event::DecisionStatus::Rejected
                    }),
                })
                .collect(),
        }
    }
}
