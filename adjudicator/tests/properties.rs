//! Property tests over random claims, members and usage against the openIMIS-like scheme:
//! payer + copay = allowed, nothing negative, rejections never pay, decisions are
//! deterministic and valid events, and ceilings and quantity limits hold across any sequence
//! of claims when each decision's usage is fed back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use adjudicator::context::{Member, PriorClaim};
use adjudicator::{MemberContext, Policy, PolicyContext, Scheme, Usage, adjudicate, examples};
use ledger::event::{
    ClaimLine, ClaimSubmitted, DecisionStatus, Event, Gender, LineKind, PolicyStatus,
};
use ledger::ids::*;
use ledger::{Amount, Currency, Date};
use proptest::prelude::*;

const CODES: [(&str, LineKind); 11] = [
    ("OPD-CONSULT", LineKind::Service),
    ("ANC-VISIT", LineKind::Service),
    ("DELIVERY-NORMAL", LineKind::Service),
    ("APPENDECTOMY", LineKind::Service),
    ("WARD-DAY", LineKind::Service),
    ("XRAY-CHEST", LineKind::Service),
    ("AMOX-500", LineKind::Item),
    ("ALU-20-120", LineKind::Item),
    ("ORS", LineKind::Item),
    ("COSMETIC-CREAM", LineKind::Item),
    ("INSULIN-VIAL", LineKind::Item),
];
const FACILITIES: [&str; 3] = ["TZ-HOSP-MOROGORO", "TZ-DISP-MVOMERO", "TZ-WARD-ANNEX"];

fn day(n: u32) -> Date {
    Date::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(u64::from(n))
}

#[derive(Debug, Clone)]
struct ClaimSpec {
    facility: usize,
    start_day: u32,
    nights: u32,
    lines: Vec<(usize, u32)>,
}

fn claim_spec() -> impl Strategy<Value = ClaimSpec> {
    (
        0..FACILITIES.len(),
        0u32..200,
        prop_oneof![3 => Just(0u32), 1 => 1u32..6],
        proptest::collection::vec((0..CODES.len(), 1u32..60), 1..5),
    )
        .prop_map(|(facility, start_day, nights, lines)| ClaimSpec {
            facility,
            start_day,
            nights,
            lines,
        })
}

fn build_claim(i: usize, spec: &ClaimSpec) -> ClaimSubmitted {
    let from = day(spec.start_day);
    let to = day(spec.start_day + spec.nights);
    ClaimSubmitted {
        claim_id: ClaimId::new(format!("CL-{i}")).unwrap(),
        claim_code: ClaimCode::new(format!("F-{i}")).unwrap(),
        facility_id: FacilityId::new(FACILITIES[spec.facility]).unwrap(),
        member_id: MemberId::new("M-1").unwrap(),
        household_id: HouseholdId::new("HH-1").unwrap(),
        date_from: from,
        date_to: (spec.nights > 0).then_some(to),
        claim_date: to,
        diagnosis_codes: vec![Code::new("A09").unwrap()],
        lines: spec
            .lines
            .iter()
            .enumerate()
            .map(|(n, (c, qty))| ClaimLine {
                line_no: n as u32 + 1,
                kind: CODES[*c].1,
                code: Code::new(CODES[*c].0).unwrap(),
                quantity: *qty,
                asked_unit_price: None,
            })
            .collect(),
    }
}

fn context(birth_year: i32, female: bool, chronic: bool, renewal: bool) -> MemberContext {
    let policy = |product: &str| PolicyContext {
        policy: Policy {
            id: PolicyId::new(format!("POL-{product}")).unwrap(),
            product_id: ProductId::new(product).unwrap(),
            status: PolicyStatus::Active,
            start_date: day(0),
            effective_from: day(0),
            expires_on: Date::from_ymd_opt(2026, 12, 31).unwrap(),
            renewal,
            household_members: 6,
        },
        usage: Usage::empty(Currency::TZS),
    };
    let mut policies = vec![policy("CHF-BASIC")];
    if chronic {
        policies.push(policy("CHF-CHRONIC"));
    }
    MemberContext {
        member: Some(Member {
            id: MemberId::new("M-1").unwrap(),
            household_id: HouseholdId::new("HH-1").unwrap(),
            gender: if female { Gender::Female } else { Gender::Male },
            birth_date: Date::from_ymd_opt(birth_year, 6, 15).unwrap(),
            enrolled_on: Date::from_ymd_opt(2025, 1, 1).unwrap(),
        }),
        policies,
        prior_claims: Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_decision_balances_and_is_deterministic(
        spec in claim_spec(),
        birth_year in 1950i32..2025,
        female in any::<bool>(),
        chronic in any::<bool>(),
        renewal in any::<bool>(),
    ) {
        let scheme = Scheme::parse(examples::OPENIMIS_TZ).unwrap();
        let claim = build_claim(0, &spec);
        let ctx = context(birth_year, female, chronic, renewal);
        let today = Date::from_ymd_opt(2026, 12, 31).unwrap();
        let decision = adjudicate(&claim, &ctx, &scheme, today);
        prop_assert_eq!(&decision, &adjudicate(&claim, &ctx, &scheme, today));
        for line in &decision.lines {
            prop_assert_eq!(line.payer.checked_add(line.copay).unwrap(), line.allowed);
            for a in [line.allowed, line.payer, line.copay, line.deductible, line.ceiling_excess] {
                prop_assert!(!a.is_negative(), "{:?}", line);
            }
            if line.status == DecisionStatus::Rejected {
                prop_assert!(line.payer.is_zero() && line.allowed.is_zero(), "{:?}", line);
                prop_assert!(line.reason_code != 0);
            } else {
                prop_assert!(line.approved_quantity >= 1);
            }
        }
        Event::ClaimAdjudicated(decision.to_event(&scheme)).validate().unwrap();
    }

    #[test]
    fn ceilings_and_limits_hold_across_any_sequence_of_claims(
        specs in proptest::collection::vec(claim_spec(), 1..25),
        birth_year in 1950i32..2025,
        female in any::<bool>(),
    ) {
        let scheme = Scheme::parse(examples::OPENIMIS_TZ).unwrap();
        let mut ctx = context(birth_year, female, false, true);
        let today = Date::from_ymd_opt(2026, 12, 31).unwrap();
        let mut paid_op = Amount::zero(Currency::TZS);
        let mut amox = 0u32;
        for (i, spec) in specs.iter().enumerate() {
            let claim = build_claim(i, spec);
            let decision = adjudicate(&claim, &ctx, &scheme, today);
            for delta in &decision.usage {
                let pc = ctx.policies.iter_mut().find(|p| p.policy.id == delta.policy_id).unwrap();
                pc.usage.record(delta).unwrap();
            }
            for line in &decision.lines {
                if line.status != DecisionStatus::Rejected && !decision.inpatient {
                    let code = &claim.lines.iter().find(|l| l.line_no == line.line_no).unwrap().code;
                    if code.as_str() != "ORS" {
                        paid_op = paid_op.checked_add(line.payer).unwrap();
                    }
                    if code.as_str() == "AMOX-500" {
                        amox += line.approved_quantity;
                    }
                }
            }
            ctx.prior_claims.push(PriorClaim::from_decision(&claim, &decision));
        }
        // Member outpatient ceiling 500,000 TZS; ORS is excluded from ceilings.
        prop_assert!(paid_op.minor_units() <= 500_000 * 100, "paid {}", paid_op);
        prop_assert!(ctx.policies[0].usage.quantities.get(&Code::new("AMOX-500").unwrap()).copied().unwrap_or(0) <= 40);
        prop_assert!(amox <= 40);
        prop_assert!(ctx.policies[0].usage.counts.consultations <= 6);
    }
}
