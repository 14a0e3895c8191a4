//! One test (at least) per adjudication rule and boundary of domain.md, against the
//! openIMIS-like example scheme (adjudicator/schemes/openimis-tz.toml). Each would fail if its
//! rule were removed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use adjudicator::context::{BySetting, CategoryCounts, Member, PriorClaim, PriorLine};
use adjudicator::{
    Decision, MemberContext, Policy, PolicyContext, Scheme, Usage, adjudicate, examples, reason,
};
use ledger::event::{
    ClaimCategory, ClaimLine, ClaimSubmitted, DecisionStatus, Event, Gender, LineKind, PolicyStatus,
};
use ledger::ids::*;
use ledger::{Amount, Currency, Date};

fn d(s: &str) -> Date {
    Date::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// `n` shillings (TZS has two decimals: n x 100 minor units).
fn tzs(n: i64) -> Amount {
    Amount::new(n * 100, Currency::TZS)
}

fn scheme() -> Scheme {
    Scheme::parse(examples::OPENIMIS_TZ).unwrap()
}

const TODAY: &str = "2026-08-01";
const HOSPITAL: &str = "TZ-HOSP-MOROGORO"; // care type B
const DISPENSARY: &str = "TZ-DISP-MVOMERO"; // care type O
const ANNEX: &str = "TZ-WARD-ANNEX"; // care type I

fn item(code: &str, qty: u32) -> (LineKind, &str, u32) {
    (LineKind::Item, code, qty)
}

fn service(code: &str, qty: u32) -> (LineKind, &str, u32) {
    (LineKind::Service, code, qty)
}

fn claim(
    facility: &str,
    from: &str,
    to: Option<&str>,
    lines: &[(LineKind, &str, u32)],
) -> ClaimSubmitted {
    ClaimSubmitted {
        claim_id: ClaimId::new("CL-1").unwrap(),
        claim_code: ClaimCode::new("F-001").unwrap(),
        facility_id: FacilityId::new(facility).unwrap(),
        member_id: MemberId::new("M-1").unwrap(),
        household_id: HouseholdId::new("HH-1").unwrap(),
        date_from: d(from),
        date_to: to.map(d),
        claim_date: d(to.unwrap_or(from)),
        diagnosis_codes: vec![Code::new("A09").unwrap()],
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, (kind, code, qty))| ClaimLine {
                line_no: i as u32 + 1,
                kind: *kind,
                code: Code::new(*code).unwrap(),
                quantity: *qty,
                asked_unit_price: None,
            })
            .collect(),
    }
}

fn member(gender: Gender, birth: &str) -> Member {
    Member {
        id: MemberId::new("M-1").unwrap(),
        household_id: HouseholdId::new("HH-1").unwrap(),
        gender,
        birth_date: d(birth),
        enrolled_on: d("2025-01-01"),
    }
}

fn policy(
    product: &str,
    status: PolicyStatus,
    start: &str,
    end: &str,
    renewal: bool,
) -> PolicyContext {
    policy_in(Currency::TZS, product, status, start, end, renewal)
}

fn policy_in(
    currency: Currency,
    product: &str,
    status: PolicyStatus,
    start: &str,
    end: &str,
    renewal: bool,
) -> PolicyContext {
    PolicyContext {
        policy: Policy {
            id: PolicyId::new(format!("POL-{product}")).unwrap(),
            product_id: ProductId::new(product).unwrap(),
            status,
            start_date: d(start),
            effective_from: d(start),
            expires_on: d(end),
            renewal,
            household_members: 5,
        },
        usage: Usage::empty(currency),
    }
}

/// An adult woman with the basic product, renewed (no waiting period), nothing used yet.
fn ctx() -> MemberContext {
    MemberContext {
        member: Some(member(Gender::Female, "1990-03-14")),
        policies: vec![policy(
            "CHF-BASIC",
            PolicyStatus::Active,
            "2026-01-01",
            "2026-12-31",
            true,
        )],
        prior_claims: Vec::new(),
    }
}

fn decide(c: &ClaimSubmitted, x: &MemberContext) -> Decision {
    let s = scheme();
    let decision = adjudicate(c, x, &s, d(TODAY));
    // Every decision is a valid event, whatever it says.
    Event::ClaimAdjudicated(decision.to_event(&s))
        .validate()
        .unwrap();
    decision
}

fn codes(decision: &Decision) -> Vec<i32> {
    decision.lines.iter().map(|l| l.reason_code).collect()
}

/// (allowed, payer, copay) of a line, in whole shillings.
fn amounts(decision: &Decision, line: usize) -> (i64, i64, i64) {
    let l = &decision.lines[line];
    let major = |a: Amount| {
        assert_eq!(a.minor_units() % 100, 0, "{a} has cents");
        a.minor_units() / 100
    };
    (major(l.allowed), major(l.payer), major(l.copay))
}

// ---- accepted claims and valuation ----

#[test]
fn a_consultation_covered_in_full_is_paid_in_full() {
    let dec = decide(
        &claim(HOSPITAL, "2026-07-15", None, &[service("OPD-CONSULT", 1)]),
        &ctx(),
    );
    assert_eq!(dec.status, DecisionStatus::Accepted);
    assert_eq!(dec.category, ClaimCategory::Consultation);
    assert_eq!(amounts(&dec, 0), (10_000, 10_000, 0));
    assert_eq!(dec.total_payer, tzs(10_000));
}

#[test]
fn coinsurance_splits_the_allowed_amount() {
    let dec = decide(
        &claim(HOSPITAL, "2026-07-15", None, &[item("AMOX-500", 10)]),
        &ctx(),
    );
    assert_eq!(amounts(&dec, 0), (2_000, 1_800, 200));
    assert_eq!(dec.category, ClaimCategory::Visit);
}

#[test]
fn the_price_valid_on_the_service_date_is_used() {
    let before = decide(
        &claim(DISPENSARY, "2026-06-30", None, &[item("AMOX-500", 1)]),
        &ctx(),
    );
    let after = decide(
        &claim(DISPENSARY, "2026-07-01", None, &[item("AMOX-500", 1)]),
        &ctx(),
    );
    assert_eq!(before.lines[0].unit_price, tzs(150));
    assert_eq!(after.lines[0].unit_price, tzs(175));
}

#[test]
fn rates_are_rounded_once_the_schemes_way() {
    // Pesinet (half_even): 50% of 901 XOF is 450.5 -> 450.
    let pesinet = Scheme::parse(examples::PESINET_ML).unwrap();
    let mut x = ctx();
    x.member = Some(member(Gender::Male, "2022-05-01"));
    x.policies = vec![policy_in(
        Currency::XOF,
        "PESINET-CHILD",
        PolicyStatus::Active,
        "2026-07-01",
        "2026-07-31",
        true,
    )];
    let mut c = claim(
        "CSCOM-BKO-BANCONI",
        "2026-07-15",
        None,
        &[item("ACT-PAED", 1)],
    );
    c.diagnosis_codes.clear();
    let dec = adjudicate(&c, &x, &pesinet, d(TODAY));
    assert_eq!(
        (
            dec.lines[0].payer.minor_units(),
            dec.lines[0].copay.minor_units()
        ),
        (450, 451)
    );
    // CBHI (half_up): 90% of 2005 RWF is 1804.5 -> 1805.
    let cbhi = Scheme::parse(examples::CBHI_RW).unwrap();
    x.member = Some(member(Gender::Female, "1980-01-01"));
    x.policies = vec![policy_in(
        Currency::RWF,
        "CBHI-2026",
        PolicyStatus::Active,
        "2026-07-01",
        "2027-06-30",
        true,
    )];
    let c = claim(
        "RW-HC-KIMIRONKO",
        "2026-07-15",
        None,
        &[service("HC-CONSULT", 1)],
    );
    let dec = adjudicate(&c, &x, &cbhi, d(TODAY));
    assert_eq!(dec.lines[0].payer.minor_units(), 1805);
    assert_eq!(dec.lines[0].copay.minor_units(), 200);
}

#[test]
fn fixed_limit_then_inpatient_deductible() {
    // 3 ward days at 20,000; the product pays at most 15,000 a day (45,000), less the
    // inpatient deductible of 10,000 per member.
    let dec = decide(
        &claim(
            HOSPITAL,
            "2026-07-10",
            Some("2026-07-13"),
            &[service("WARD-DAY", 3)],
        ),
        &ctx(),
    );
    assert_eq!(dec.category, ClaimCategory::Hospitalization);
    assert!(dec.inpatient);
    assert_eq!(amounts(&dec, 0), (60_000, 35_000, 25_000));
    assert_eq!(dec.lines[0].deductible, tzs(10_000));
    // Deductible already met this period: none taken.
    let mut x = ctx();
    *x.policies[0].usage.member_deductible.slot(true) = tzs(10_000);
    let dec = decide(
        &claim(
            HOSPITAL,
            "2026-07-10",
            Some("2026-07-13"),
            &[service("WARD-DAY", 3)],
        ),
        &x,
    );
    assert_eq!(amounts(&dec, 0), (60_000, 45_000, 15_000));
    assert_eq!(dec.usage[0].deductible, tzs(0));
}

#[test]
fn the_per_claim_category_cap_limits_a_surgery_claim() {
    let dec = decide(
        &claim(
            HOSPITAL,
            "2026-07-10",
            Some("2026-07-12"),
            &[service("APPENDECTOMY", 2)],
        ),
        &ctx(),
    );
    assert_eq!(dec.category, ClaimCategory::Surgery);
    // (900,000 - 10,000 deductible) x 80% = 712,000, capped at 400,000 per surgery claim.
    assert_eq!(amounts(&dec, 0), (900_000, 400_000, 500_000));
}

#[test]
fn the_member_ceiling_pays_what_is_left_and_records_the_excess() {
    let mut x = ctx();
    *x.policies[0].usage.member_ceiling.slot(false) = tzs(495_000);
    let dec = decide(
        &claim(HOSPITAL, "2026-07-15", None, &[service("XRAY-CHEST", 1)]),
        &x,
    );
    // 75% of 25,000 = 18,750, but only 5,000 is left of the 500,000 member ceiling.
    assert_eq!(amounts(&dec, 0), (25_000, 5_000, 20_000));
    assert_eq!(dec.lines[0].ceiling_excess, tzs(13_750));
}

#[test]
fn ceiling_exclusions_are_paid_beyond_the_ceiling() {
    let mut x = ctx();
    x.member = Some(member(Gender::Male, "2020-01-01"));
    *x.policies[0].usage.member_ceiling.slot(false) = tzs(500_000);
    let dec = decide(
        &claim(
            HOSPITAL,
            "2026-07-15",
            None,
            &[item("ORS", 2), item("AMOX-500", 1)],
        ),
        &x,
    );
    assert_eq!(
        amounts(&dec, 0),
        (1_200, 1_200, 0),
        "ORS is excluded from ceilings"
    );
    assert_eq!(amounts(&dec, 1), (200, 0, 200), "AMOX hits the ceiling");
    assert_eq!(dec.lines[1].ceiling_excess, tzs(180));
}

#[test]
fn the_household_ceiling_grows_per_extra_member_up_to_its_cap() {
    let mut x = ctx();
    *x.policies[0].usage.household_ceiling.slot(false) = tzs(1_999_000);
    let c = claim(HOSPITAL, "2026-07-15", None, &[service("XRAY-CHEST", 1)]);
    // 7 members: 1,500,000 + 3 x 250,000 = 2,250,000, capped at 2,000,000: 1,000 left.
    x.policies[0].policy.household_members = 7;
    assert_eq!(amounts(&decide(&c, &x), 0), (25_000, 1_000, 24_000));
    // 4 members: no growth, 1,500,000 is already used up.
    x.policies[0].policy.household_members = 4;
    assert_eq!(amounts(&decide(&c, &x), 0), (25_000, 0, 25_000));
    // 5 members: 1,750,000 -> used up too; with less used, the growth shows.
    x.policies[0].policy.household_members = 5;
    *x.policies[0].usage.household_ceiling.slot(false) = tzs(1_740_000);
    assert_eq!(amounts(&decide(&c, &x), 0), (25_000, 10_000, 15_000));
}

#[test]
fn the_product_that_leaves_the_member_paying_least_pays() {
    let mut x = ctx();
    x.policies.push(policy(
        "CHF-CHRONIC",
        PolicyStatus::Active,
        "2026-01-01",
        "2026-12-31",
        true,
    ));
    let dec = decide(
        &claim(
            HOSPITAL,
            "2026-07-15",
            None,
            &[item("INSULIN-VIAL", 1), item("AMOX-500", 10)],
        ),
        &x,
    );
    // Insulin 12,000: basic pays 50% (copay 6,000), chronic pays a fixed 9,000 (copay 3,000).
    assert_eq!(
        dec.lines[0].product_id.as_ref().unwrap().as_str(),
        "CHF-CHRONIC"
    );
    assert_eq!(amounts(&dec, 0), (12_000, 9_000, 3_000));
    // Amoxicillin: basic pays 90%, chronic 50%.
    assert_eq!(
        dec.lines[1].product_id.as_ref().unwrap().as_str(),
        "CHF-BASIC"
    );
    assert_eq!(dec.usage.len(), 2, "usage is recorded per product used");
}

// ---- claim-level rules ----

#[test]
fn r9_service_date_in_the_future_or_after_the_claim_date() {
    let future = claim(HOSPITAL, "2026-08-02", None, &[service("OPD-CONSULT", 1)]);
    let dec = decide(&future, &ctx());
    assert_eq!(
        (dec.status, dec.reason_code),
        (DecisionStatus::Rejected, reason::SERVICE_DATE)
    );
    assert_eq!(codes(&dec), vec![9]);
    let mut late = claim(HOSPITAL, "2026-07-15", None, &[service("OPD-CONSULT", 1)]);
    late.claim_date = d("2026-07-14");
    assert_eq!(decide(&late, &ctx()).reason_code, reason::SERVICE_DATE);
    // Today itself is fine.
    let today = claim(HOSPITAL, TODAY, None, &[service("OPD-CONSULT", 1)]);
    assert_eq!(decide(&today, &ctx()).status, DecisionStatus::Accepted);
}

#[test]
fn r9_is_checked_before_r7() {
    let mut x = ctx();
    x.member = None;
    let future = claim(HOSPITAL, "2026-09-01", None, &[service("OPD-CONSULT", 1)]);
    assert_eq!(decide(&future, &x).reason_code, reason::SERVICE_DATE);
}

#[test]
fn r7_unknown_member_or_wrong_household() {
    let c = claim(
        HOSPITAL,
        "2026-07-15",
        None,
        &[service("OPD-CONSULT", 1), item("AMOX-500", 2)],
    );
    let mut x = ctx();
    x.member = None;
    let dec = decide(&c, &x);
    assert_eq!((dec.reason_code, codes(&dec)), (7, vec![7, 7]));
    let mut x = ctx();
    x.member.as_mut().unwrap().household_id = HouseholdId::new("HH-2").unwrap();
    assert_eq!(decide(&c, &x).reason_code, reason::MEMBER_INVALID);
}

#[test]
fn r21_no_policy_covers_the_service_date() {
    let c = claim(HOSPITAL, "2026-07-15", None, &[service("OPD-CONSULT", 1)]);
    for status in [PolicyStatus::Idle, PolicyStatus::Suspended] {
        let mut x = ctx();
        x.policies[0].policy.status = status;
        assert_eq!(
            decide(&c, &x).reason_code,
            reason::NO_COVERAGE,
            "{status:?}"
        );
    }
    let mut x = ctx();
    x.policies[0].policy.expires_on = d("2026-07-14");
    assert_eq!(decide(&c, &x).reason_code, reason::NO_COVERAGE);
    x.policies[0].policy.expires_on = d("2026-07-15");
    assert_eq!(
        decide(&c, &x).status,
        DecisionStatus::Accepted,
        "the last day is covered"
    );
    let mut x = ctx();
    x.policies[0].policy.effective_from = d("2026-07-16");
    assert_eq!(decide(&c, &x).reason_code, reason::NO_COVERAGE);
}

#[test]
fn an_expired_policy_still_pays_for_care_inside_its_window() {
    let mut x = ctx();
    x.policies[0].policy.status = PolicyStatus::Expired;
    x.policies[0].policy.expires_on = d("2026-07-20");
    let dec = decide(
        &claim(HOSPITAL, "2026-07-15", None, &[service("OPD-CONSULT", 1)]),
        &x,
    );
    assert_eq!(dec.status, DecisionStatus::Accepted);
}

#[test]
fn an_unknown_facility_rejects_every_line_with_2() {
    let dec = decide(
        &claim(
            "TZ-NOWHERE",
            "2026-07-15",
            None,
            &[service("OPD-CONSULT", 1)],
        ),
        &ctx(),
    );
    assert_eq!((dec.reason_code, codes(&dec)), (2, vec![2]));
}

#[test]
fn r8_unknown_diagnosis() {
    let mut c = claim(HOSPITAL, "2026-07-15", None, &[service("OPD-CONSULT", 1)]);
    c.diagnosis_codes = vec![Code::new("Z99.9").unwrap()];
    assert_eq!(decide(&c, &ctx()).reason_code, reason::DIAGNOSIS_UNKNOWN);
}

#[test]
fn r6_same_member_date_facility_and_lines_under_another_code_is_a_duplicate() {
    let c = claim(
        HOSPITAL,
        "2026-07-15",
        None,
        &[service("OPD-CONSULT", 1), item("AMOX-500", 10)],
    );
    let prior = |code: &str, qty: u32, date: &str| PriorClaim {
        claim_id: ClaimId::new("CL-0").unwrap(),
        facility_id: FacilityId::new(HOSPITAL).unwrap(),
        claim_code: ClaimCode::new(code).unwrap(),
        service_date: d(date),
        lines: vec![
            PriorLine {
                code: Code::new("AMOX-500").unwrap(),
                quantity: qty,
                passed: true,
            },
            PriorLine {
                code: Code::new("OPD-CONSULT").unwrap(),
                quantity: 1,
                passed: true,
            },
        ],
    };
    let mut x = ctx();
    x.prior_claims = vec![prior("F-000", 10, "2026-07-15")];
    assert_eq!(decide(&c, &x).reason_code, reason::DUPLICATE);
    // Other quantities, another day, or the same claim code (a resubmission, handled by the
    // command side) are not duplicates.
    for p in [
        prior("F-000", 9, "2026-07-15"),
        prior("F-000", 10, "2026-07-14"),
        prior("F-001", 10, "2026-07-15"),
    ] {
        x.prior_claims = vec![p];
        assert_eq!(decide(&c, &x).status, DecisionStatus::Accepted);
    }
}

#[test]
fn category_maxima_reject_the_whole_claim_with_their_code() {
    /// (category, lines, date_to, facility, reason code)
    type Case<'a> = (
        ClaimCategory,
        &'a [(LineKind, &'a str, u32)],
        Option<&'a str>,
        &'a str,
        i32,
    );
    let cases: [Case; 6] = [
        (
            ClaimCategory::Consultation,
            &[(LineKind::Service, "OPD-CONSULT", 1)],
            None,
            HOSPITAL,
            13,
        ),
        (
            ClaimCategory::Antenatal,
            &[(LineKind::Service, "ANC-VISIT", 1)],
            None,
            DISPENSARY,
            19,
        ),
        (
            ClaimCategory::Delivery,
            &[(LineKind::Service, "DELIVERY-NORMAL", 1)],
            None,
            HOSPITAL,
            15,
        ),
        (
            ClaimCategory::Surgery,
            &[(LineKind::Service, "APPENDECTOMY", 1)],
            Some("2026-07-12"),
            HOSPITAL,
            14,
        ),
        (
            ClaimCategory::Hospitalization,
            &[(LineKind::Service, "WARD-DAY", 1)],
            Some("2026-07-12"),
            HOSPITAL,
            11,
        ),
        (
            ClaimCategory::Visit,
            &[(LineKind::Item, "AMOX-500", 1)],
            None,
            HOSPITAL,
            12,
        ),
    ];
    for (category, lines, to, facility, code) in cases {
        let c = claim(facility, "2026-07-10", to, lines);
        let mut x = ctx();
        let max = scheme().products[0]
            .max_counts
            .for_category(category)
            .0
            .unwrap();
        x.policies[0].usage.counts.add(category, max - 1);
        let below = decide(&c, &x);
        assert_eq!(below.category, category);
        assert_ne!(
            below.status,
            DecisionStatus::Rejected,
            "{category:?} below the maximum"
        );
        x.policies[0].usage.counts.add(category, 1);
        let at = decide(&c, &x);
        assert_eq!(
            (at.status, at.reason_code),
            (DecisionStatus::Rejected, code),
            "{category:?}"
        );
    }
}

#[test]
fn a_category_maximum_of_one_product_leaves_the_others_to_pay() {
    let mut x = ctx();
    x.policies[0].usage.counts.add(ClaimCategory::Visit, 10);
    x.policies.push(policy(
        "CHF-CHRONIC",
        PolicyStatus::Active,
        "2026-01-01",
        "2026-12-31",
        true,
    ));
    let dec = decide(
        &claim(
            HOSPITAL,
            "2026-07-15",
            None,
            &[item("AMOX-500", 10), service("XRAY-CHEST", 1)],
        ),
        &x,
    );
    assert_eq!(
        dec.lines[0].product_id.as_ref().unwrap().as_str(),
        "CHF-CHRONIC"
    );
    assert_eq!(amounts(&dec, 0), (2_000, 1_000, 1_000));
    // The X-ray is only in the blocked product: rejected with the category's code, not 3.
    assert_eq!(dec.lines[1].reason_code, reason::MAX_VISITS);
}

// ---- line rules ----

#[test]
fn r1_unknown_code_or_wrong_kind_and_the_claim_code_when_all_lines_fail() {
    let dec = decide(
        &claim(
            HOSPITAL,
            "2026-07-15",
            None,
            &[item("NOT-A-DRUG", 1), item("OPD-CONSULT", 1)],
        ),
        &ctx(),
    );
    assert_eq!(codes(&dec), vec![1, 1]);
    assert_eq!(
        (dec.status, dec.reason_code),
        (DecisionStatus::Rejected, reason::UNKNOWN_ITEM)
    );
    let partial = decide(
        &claim(
            HOSPITAL,
            "2026-07-15",
            None,
            &[item("NOT-A-DRUG", 1), service("OPD-CONSULT", 1)],
        ),
        &ctx(),
    );
    assert_eq!(
        (partial.status, codes(&partial)),
        (DecisionStatus::Partial, vec![1, 0])
    );
    assert_eq!(partial.total_payer, tzs(10_000));
}

#[test]
fn r2_not_in_the_facilitys_price_list_on_the_date() {
    // ANC visits are priced at the dispensary only.
    let dec = decide(
        &claim(HOSPITAL, "2026-07-15", None, &[service("ANC-VISIT", 1)]),
        &ctx(),
    );
    assert_eq!(codes(&dec), vec![2]);
    // Priced from 2026-01-01: not before.
    let mut x = ctx();
    x.policies[0].policy.start_date = d("2025-01-01");
    x.policies[0].policy.effective_from = d("2025-01-01");
    let old = decide(
        &claim(DISPENSARY, "2025-12-31", None, &[service("ANC-VISIT", 1)]),
        &x,
    );
    assert_eq!(codes(&old), vec![2]);
}

#[test]
fn r10_the_care_type_matrix() {
    let x = ctx();
    let out = |f, lines: &[(LineKind, &str, u32)]| {
        codes(&decide(&claim(f, "2026-07-10", None, lines), &x))
    };
    let inp = |f, lines: &[(LineKind, &str, u32)]| {
        codes(&decide(
            &claim(f, "2026-07-10", Some("2026-07-12"), lines),
            &x,
        ))
    };
    // An outpatient facility rejects inpatient claims.
    assert_eq!(inp(DISPENSARY, &[service("OPD-CONSULT", 1)]), vec![10]);
    // An inpatient facility rejects outpatient lines.
    assert_eq!(
        inp(ANNEX, &[service("OPD-CONSULT", 1), service("WARD-DAY", 1)]),
        vec![10, 0]
    );
    // A facility of both: I lines only on inpatient claims, O lines only on outpatient ones,
    // B lines on both.
    assert_eq!(out(HOSPITAL, &[service("WARD-DAY", 1)]), vec![10]);
    assert_eq!(inp(HOSPITAL, &[service("OPD-CONSULT", 1)]), vec![10]);
    assert_eq!(out(HOSPITAL, &[service("XRAY-CHEST", 1)]), vec![0]);
    assert_eq!(inp(HOSPITAL, &[service("XRAY-CHEST", 1)]), vec![0]);
}

#[test]
fn r4_patient_category_by_gender_and_age_on_the_service_date() {
    let c = |code: &str| {
        claim(
            DISPENSARY,
            "2026-07-15",
            None,
            &[(LineKind::Service, code, 1)],
        )
    };
    let mut x = ctx();
    x.member = Some(member(Gender::Male, "1990-01-01"));
    assert_eq!(
        codes(&decide(&c("ANC-VISIT"), &x)),
        vec![4],
        "antenatal care is for women"
    );
    let insulin = claim(HOSPITAL, "2026-07-15", None, &[item("INSULIN-VIAL", 1)]);
    let ors = claim(HOSPITAL, "2026-07-15", None, &[item("ORS", 1)]);
    // 18 on the service date is an adult; the day before, a minor.
    x.member = Some(member(Gender::Male, "2008-07-15"));
    assert_eq!(codes(&decide(&insulin, &x)), vec![0]);
    assert_eq!(codes(&decide(&ors, &x)), vec![4]);
    x.member = Some(member(Gender::Male, "2008-07-16"));
    assert_eq!(codes(&decide(&insulin, &x)), vec![4]);
    assert_eq!(codes(&decide(&ors, &x)), vec![0]);
    x.member = Some(member(Gender::Other, "2008-07-16"));
    assert_eq!(codes(&decide(&ors, &x)), vec![0], "other counts with male");
}

#[test]
fn r5_frequency_allows_a_gap_of_exactly_the_frequency() {
    let prior = |date: &str, passed: bool| PriorClaim {
        claim_id: ClaimId::new("CL-0").unwrap(),
        facility_id: FacilityId::new(DISPENSARY).unwrap(),
        claim_code: ClaimCode::new("F-000").unwrap(),
        service_date: d(date),
        lines: vec![PriorLine {
            code: Code::new("ALU-20-120").unwrap(),
            quantity: 6,
            passed,
        }],
    };
    let c = |date: &str| {
        claim(
            DISPENSARY,
            date,
            None,
            &[item("AMOX-500", 1), item("ALU-20-120", 6)],
        )
    };
    let mut x = ctx();
    x.prior_claims = vec![prior("2026-07-01", true)];
    // 13 days later: too soon. 14 days (the frequency): allowed.
    assert_eq!(codes(&decide(&c("2026-07-14"), &x)), vec![0, 5]);
    assert_eq!(codes(&decide(&c("2026-07-15"), &x)), vec![0, 0]);
    // A rejected earlier line does not count.
    x.prior_claims = vec![prior("2026-07-01", false)];
    assert_eq!(codes(&decide(&c("2026-07-14"), &x)), vec![0, 0]);
}

#[test]
fn r17_waiting_period_for_new_policies_and_members_added_later() {
    let c = claim(HOSPITAL, "2026-07-15", None, &[service("OPD-CONSULT", 1)]);
    let mut x = ctx();
    // A new policy started 2026-06-01: adults wait 2 months, until 2026-08-01.
    x.policies[0] = policy(
        "CHF-BASIC",
        PolicyStatus::Active,
        "2026-06-01",
        "2027-05-31",
        false,
    );
    assert_eq!(codes(&decide(&c, &x)), vec![17]);
    let on_the_day = claim(HOSPITAL, "2026-08-01", None, &[service("OPD-CONSULT", 1)]);
    assert_eq!(codes(&decide(&on_the_day, &x)), vec![0]);
    // Children wait 1 month, until 2026-07-01.
    x.member = Some(member(Gender::Female, "2015-01-01"));
    assert_eq!(codes(&decide(&c, &x)), vec![0]);
    // A renewal: original members do not wait; a member added after the start does.
    let mut x = ctx();
    x.policies[0].policy.start_date = d("2026-06-01");
    x.policies[0].policy.effective_from = d("2026-06-01");
    assert_eq!(codes(&decide(&c, &x)), vec![0]);
    x.member.as_mut().unwrap().enrolled_on = d("2026-06-20");
    assert_eq!(codes(&decide(&c, &x)), vec![17]);
}

#[test]
fn r17_only_rejects_when_no_product_passes() {
    let mut x = ctx();
    x.policies[0] = policy(
        "CHF-BASIC",
        PolicyStatus::Active,
        "2026-06-01",
        "2027-05-31",
        false,
    );
    x.policies.push(policy(
        "CHF-CHRONIC",
        PolicyStatus::Active,
        "2026-01-01",
        "2026-12-31",
        true,
    ));
    let dec = decide(
        &claim(
            HOSPITAL,
            "2026-07-15",
            None,
            &[item("AMOX-500", 10), service("XRAY-CHEST", 1)],
        ),
        &x,
    );
    assert_eq!(
        dec.lines[0].product_id.as_ref().unwrap().as_str(),
        "CHF-CHRONIC"
    );
    assert_eq!(
        codes(&dec),
        vec![0, 17],
        "X-ray is only in the product still waiting"
    );
}

#[test]
fn r16_quantity_limits_truncate_then_reject_and_zero_never_covers() {
    let c = |qty| claim(HOSPITAL, "2026-07-15", None, &[item("AMOX-500", qty)]);
    let mut x = ctx();
    x.policies[0]
        .usage
        .quantities
        .insert(Code::new("AMOX-500").unwrap(), 35);
    let partial = decide(&c(10), &x);
    assert_eq!(partial.lines[0].status, DecisionStatus::Partial);
    assert_eq!(
        (
            partial.lines[0].approved_quantity,
            partial.lines[0].reason_code
        ),
        (5, 16)
    );
    assert_eq!(amounts(&partial, 0), (1_000, 900, 100));
    assert_eq!(
        partial.usage[0].quantities,
        vec![(Code::new("AMOX-500").unwrap(), 5)]
    );
    assert_eq!(
        decide(&c(5), &x).lines[0].status,
        DecisionStatus::Accepted,
        "exactly the rest"
    );
    x.policies[0]
        .usage
        .quantities
        .insert(Code::new("AMOX-500").unwrap(), 40);
    assert_eq!(codes(&decide(&c(1), &x)), vec![16]);
    // Lines of the same claim count against each other.
    let two_lines = claim(
        HOSPITAL,
        "2026-07-15",
        None,
        &[item("AMOX-500", 30), item("AMOX-500", 30)],
    );
    let dec = decide(&two_lines, &ctx());
    assert_eq!(
        dec.lines
            .iter()
            .map(|l| l.approved_quantity)
            .collect::<Vec<_>>(),
        vec![30, 10]
    );
    // Limit 0: never covered.
    let cream = decide(
        &claim(DISPENSARY, "2026-07-15", None, &[item("COSMETIC-CREAM", 1)]),
        &ctx(),
    );
    assert_eq!(codes(&cream), vec![16]);
}

#[test]
fn r3_no_product_of_the_member_covers_the_line() {
    let mut x = ctx();
    x.policies = vec![policy(
        "CHF-CHRONIC",
        PolicyStatus::Active,
        "2026-01-01",
        "2026-12-31",
        true,
    )];
    let dec = decide(
        &claim(
            HOSPITAL,
            "2026-07-15",
            None,
            &[service("XRAY-CHEST", 1), item("AMOX-500", 2)],
        ),
        &x,
    );
    assert_eq!(codes(&dec), vec![3, 0]);
}

#[test]
fn rejected_lines_pay_nothing_and_decisions_are_deterministic() {
    let c = claim(
        HOSPITAL,
        "2026-07-15",
        None,
        &[
            item("NOT-A-DRUG", 1),
            service("OPD-CONSULT", 1),
            item("AMOX-500", 50),
        ],
    );
    let mut x = ctx();
    x.policies[0].usage = Usage {
        counts: CategoryCounts::default(),
        quantities: [(Code::new("AMOX-500").unwrap(), 20)].into_iter().collect(),
        member_deductible: BySetting::zero(Currency::TZS),
        member_ceiling: BySetting::zero(Currency::TZS),
        household_deductible: BySetting::zero(Currency::TZS),
        household_ceiling: BySetting::zero(Currency::TZS),
    };
    let a = decide(&c, &x);
    let b = decide(&c, &x);
    assert_eq!(a, b);
    assert_eq!(amounts(&a, 0), (0, 0, 0));
    assert!(
        a.to_event(&scheme()).lines[2]
            .findings
            .iter()
            .any(|f| f.contains("20 of 50 approved"))
    );
}
