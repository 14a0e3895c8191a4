//! Eligibility returns what is LEFT; premiums, activation and sponsor matches.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use adjudicator::context::Member;
use adjudicator::eligibility::{CoverageStatus, Left};
use adjudicator::premium::{
    MatchLimit, PremiumError, SponsorGiven, Terms, apply_payment, expiry, policy_price,
    sponsor_match,
};
use adjudicator::scheme::Sponsor;
use adjudicator::{MemberContext, Policy, PolicyContext, Scheme, Usage, eligibility, examples};
use ledger::event::{ClaimCategory, Gender, PolicyStatus};
use ledger::ids::*;
use ledger::{Amount, Currency, Date};

fn d(s: &str) -> Date {
    Date::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn tzs(n: i64) -> Amount {
    Amount::new(n * 100, Currency::TZS)
}

fn code(c: &str) -> Code {
    Code::new(c).unwrap()
}

fn ctx(renewal: bool, start: &str) -> MemberContext {
    MemberContext {
        member: Some(Member {
            id: MemberId::new("M-1").unwrap(),
            household_id: HouseholdId::new("HH-1").unwrap(),
            gender: Gender::Female,
            birth_date: d("1990-01-01"),
            enrolled_on: d("2025-01-01"),
        }),
        policies: vec![PolicyContext {
            policy: Policy {
                id: PolicyId::new("POL-1").unwrap(),
                product_id: ProductId::new("CHF-BASIC").unwrap(),
                status: PolicyStatus::Active,
                start_date: d(start),
                effective_from: d(start),
                expires_on: expiry(d(start), 12),
                renewal,
                household_members: 7,
            },
            usage: Usage::empty(Currency::TZS),
        }],
        prior_claims: Vec::new(),
    }
}

#[test]
fn eligibility_returns_the_remainders_not_the_maximums() {
    let scheme = Scheme::parse(examples::OPENIMIS_TZ).unwrap();
    let mut x = ctx(true, "2026-01-01");
    let usage = &mut x.policies[0].usage;
    usage.counts.add(ClaimCategory::Consultation, 4);
    usage.quantities.insert(code("AMOX-500"), 25);
    *usage.member_ceiling.slot(false) = tzs(120_000);
    *usage.household_ceiling.slot(false) = tzs(800_000);
    *usage.member_deductible.slot(true) = tzs(4_000);
    let codes = [
        code("AMOX-500"),
        code("XRAY-CHEST"),
        code("COSMETIC-CREAM"),
        code("INSULIN-VIAL"),
        code("NOPE"),
    ];
    let e = eligibility(&x, &scheme, d("2026-07-15"), &codes);
    assert!(e.member_known && e.covered);
    let p = &e.products[0];
    assert_eq!(p.status, CoverageStatus::Active);
    assert!(p.counts_left.contains(&(ClaimCategory::Consultation, 2)));
    assert!(p.counts_left.contains(&(ClaimCategory::Delivery, 1)));
    assert_eq!(
        p.ceiling_left_outpatient,
        Left {
            per_member: Some(tzs(380_000)),
            // 7 members: 1,500,000 + 3 x 250,000 capped at 2,000,000, less 800,000 used.
            per_household: Some(tzs(1_200_000)),
        }
    );
    assert_eq!(p.deductible_left_inpatient.per_member, Some(tzs(6_000)));
    assert_eq!(p.deductible_left_outpatient.per_member, None);
    let items: Vec<(&str, i32, Option<u32>)> = p
        .items
        .iter()
        .map(|i| (i.code.as_str(), i.reason_code, i.quantity_left))
        .collect();
    assert_eq!(
        items,
        vec![
            ("AMOX-500", 0, Some(15)),
            ("XRAY-CHEST", 0, None),
            ("COSMETIC-CREAM", 16, Some(0)),
            ("INSULIN-VIAL", 0, None),
            ("NOPE", 1, Some(0)),
        ]
    );
}

#[test]
fn eligibility_reports_waiting_and_periods() {
    let scheme = Scheme::parse(examples::OPENIMIS_TZ).unwrap();
    let x = ctx(false, "2026-06-01");
    let waiting = eligibility(&x, &scheme, d("2026-07-15"), &[code("AMOX-500")]);
    assert!(!waiting.covered);
    assert_eq!(
        waiting.products[0].status,
        CoverageStatus::Waiting {
            until: d("2026-08-01")
        }
    );
    assert_eq!(waiting.products[0].items[0].reason_code, 17);
    assert_eq!(
        eligibility(&x, &scheme, d("2026-08-01"), &[]).products[0].status,
        CoverageStatus::Active
    );
    assert_eq!(
        eligibility(&x, &scheme, d("2026-05-31"), &[]).products[0].status,
        CoverageStatus::NotYetEffective {
            from: d("2026-06-01")
        }
    );
    let mut idle = ctx(true, "2026-01-01");
    idle.policies[0].policy.status = PolicyStatus::Idle;
    assert_eq!(
        eligibility(&idle, &scheme, d("2026-07-15"), &[]).products[0].status,
        CoverageStatus::Idle
    );
    let unknown = MemberContext::default();
    assert!(!eligibility(&unknown, &scheme, d("2026-07-15"), &[]).member_known);
}

#[test]
fn premiums_per_member_household_lump_sum_and_category() {
    let tz = Scheme::parse(examples::OPENIMIS_TZ).unwrap();
    let basic = &tz.products[0];
    // Lump sum 30,000 up to 6 members, 5,000 per extra member, 2,000 registration when new.
    assert_eq!(policy_price(basic, 4, None, false).unwrap(), tzs(30_000));
    assert_eq!(policy_price(basic, 6, None, false).unwrap(), tzs(30_000));
    assert_eq!(policy_price(basic, 8, None, false).unwrap(), tzs(40_000));
    assert_eq!(policy_price(basic, 8, None, true).unwrap(), tzs(42_000));
    assert_eq!(
        policy_price(basic, 0, None, false),
        Err(PremiumError::NoMembers)
    );

    let pesinet = Scheme::parse(examples::PESINET_ML).unwrap();
    assert_eq!(
        policy_price(&pesinet.products[0], 3, None, false).unwrap(),
        Amount::new(1_500, Currency::XOF)
    );

    let cbhi = Scheme::parse(examples::CBHI_RW).unwrap();
    let p = &cbhi.products[0];
    assert_eq!(
        policy_price(p, 5, Some("3"), false).unwrap(),
        Amount::new(15_000, Currency::RWF)
    );
    assert_eq!(
        policy_price(p, 5, Some("1"), false).unwrap(),
        Amount::new(0, Currency::RWF)
    );
    assert_eq!(
        policy_price(p, 5, Some("9"), false),
        Err(PremiumError::UnknownCategory("9".into()))
    );
    assert_eq!(
        policy_price(p, 5, None, false),
        Err(PremiumError::MissingCategory)
    );
}

#[test]
fn payments_accumulate_and_activate_within_or_after_grace() {
    let terms = Terms {
        price: Amount::new(15_000, Currency::RWF),
        start_date: d("2026-07-01"),
        grace_period_days: 30,
        insurance_period_months: 12,
    };
    let rwf = |n| Amount::new(n, Currency::RWF);
    // Instalments: 5,000 then 5,000 (idle), then 5,000 completes on day 20 of the grace
    // period: cover from the start.
    let first = apply_payment(&terms, rwf(0), rwf(5_000), d("2026-06-20")).unwrap();
    assert_eq!((first.outstanding, first.activation), (rwf(10_000), None));
    let second = apply_payment(&terms, first.paid, rwf(5_000), d("2026-07-05")).unwrap();
    assert_eq!(second.activation, None);
    let third = apply_payment(&terms, second.paid, rwf(5_000), d("2026-07-20")).unwrap();
    let activation = third.activation.unwrap();
    assert_eq!(third.outstanding, rwf(0));
    assert_eq!(activation.effective_from, d("2026-07-01"));
    assert_eq!(activation.expires_on, d("2027-06-30"));
    // Completed on the last day of grace: still back-dated; a day later: cover from payment.
    let on_last_day = apply_payment(&terms, rwf(10_000), rwf(5_000), d("2026-07-31")).unwrap();
    assert_eq!(
        on_last_day.activation.unwrap().effective_from,
        d("2026-07-01")
    );
    let late = apply_payment(&terms, rwf(10_000), rwf(5_000), d("2026-08-01")).unwrap();
    assert_eq!(late.activation.unwrap().effective_from, d("2026-08-01"));
    assert_eq!(late.activation.unwrap().expires_on, d("2027-06-30"));
    // Paying early covers from the start, not before.
    let early = apply_payment(&terms, rwf(0), rwf(15_000), d("2026-06-01")).unwrap();
    assert_eq!(early.activation.unwrap().effective_from, d("2026-07-01"));
    // A payment after the policy is complete activates nothing again.
    let extra = apply_payment(&terms, rwf(15_000), rwf(1), d("2026-09-01")).unwrap();
    assert_eq!((extra.activation, extra.outstanding), (None, rwf(0)));
    // Expiry is start + period - 1 day, across month ends and leap years.
    assert_eq!(expiry(d("2027-03-01"), 12), d("2028-02-29"));
    assert_eq!(expiry(d("2026-01-31"), 1), d("2026-02-27"));
}

/// What a sponsor gave: `household_year` to the household this year, `all_year` to everyone.
fn given(household_year: &str, all_year: &str) -> SponsorGiven {
    let kes = |s: &str| s.parse::<Amount>().unwrap();
    SponsorGiven {
        household_year: kes(household_year),
        household_month: kes("0 KES"),
        member_year: None,
        member_month: None,
        all_year: kes(all_year),
    }
}

#[test]
fn sponsors_match_savings_up_to_their_cap() {
    let ke = Scheme::parse(examples::IPUSH_KE).unwrap();
    let county = &ke.sponsors[&SponsorId::new("kisumu-county").unwrap()];
    let donor = &ke.sponsors[&SponsorId::new("phi-donor").unwrap()];
    let kes = |s: &str| s.parse::<Amount>().unwrap();
    let amount = |s: &Sponsor, saved: &str, g: SponsorGiven| {
        sponsor_match(&ke, s, kes(saved), &g).unwrap().amount
    };
    assert_eq!(
        amount(county, "500 KES", given("0 KES", "0 KES")),
        kes("500 KES")
    );
    assert_eq!(
        amount(county, "500 KES", given("2800 KES", "0 KES")),
        kes("200 KES")
    );
    assert_eq!(
        amount(county, "500 KES", given("3000 KES", "0 KES")),
        kes("0 KES")
    );
    // 50% of 333.33 KES = 166.665 -> 166.66 (half-even), no cap.
    assert_eq!(
        amount(donor, "333.33 KES", given("99999 KES", "0 KES")),
        kes("166.66 KES")
    );
}

#[test]
fn sponsor_ratios_caps_per_member_and_month_and_budgets() {
    let doc = examples::IPUSH_KE.replace(
        "match_percent = 50",
        "match_ratio = 2\ncap_per_member_per_month = \"700 KES\"\nbudget_per_year = \"1000 KES\"",
    );
    let ke = Scheme::parse(&doc).unwrap();
    let donor = &ke.sponsors[&SponsorId::new("phi-donor").unwrap()];
    let kes = |s: &str| s.parse::<Amount>().unwrap();
    assert_eq!(donor.match_percent, rust_decimal::Decimal::from(200));
    // 2:1 of 300 = 600, within the member's 700 a month.
    let mut g = given("0 KES", "0 KES");
    g.member_month = Some(kes("0 KES"));
    let m = sponsor_match(&ke, donor, kes("300 KES"), &g).unwrap();
    assert_eq!((m.amount, m.limited_by), (kes("600 KES"), None));
    // The member had 600 this month: 100 left of the cap.
    g.member_month = Some(kes("600 KES"));
    let m = sponsor_match(&ke, donor, kes("300 KES"), &g).unwrap();
    assert_eq!(
        (m.amount, m.limited_by),
        (kes("100 KES"), Some(MatchLimit::MemberMonthCap))
    );
    // 950 of the 1,000 budget given: 50 left, whatever the caps allow.
    g.member_month = Some(kes("0 KES"));
    g.all_year = kes("950 KES");
    let m = sponsor_match(&ke, donor, kes("300 KES"), &g).unwrap();
    assert_eq!(
        (m.amount, m.limited_by),
        (kes("50 KES"), Some(MatchLimit::Budget))
    );
    // A saving that names no member is not held to the member caps.
    g.member_month = None;
    g.all_year = kes("0 KES");
    let m = sponsor_match(&ke, donor, kes("300 KES"), &g).unwrap();
    assert_eq!(m.amount, kes("600 KES"));
}

#[test]
fn product_cycles_place_a_date_in_its_period() {
    use adjudicator::scheme::Cycle;
    // Rwanda's CBHI year starts on 1 July: 10 January 2027 is in the year from 1 July 2026.
    let cbhi = Cycle::StartDates(vec![(7, 1)]);
    assert_eq!(
        cbhi.period_containing(d("2027-01-10")),
        Some(d("2026-07-01"))
    );
    assert_eq!(
        cbhi.period_containing(d("2026-07-01")),
        Some(d("2026-07-01"))
    );
    // Four fixed dates a year, as openIMIS allows.
    let quarters = Cycle::StartDates(vec![(1, 1), (4, 1), (7, 1), (10, 1)]);
    assert_eq!(
        quarters.period_containing(d("2026-05-31")),
        Some(d("2026-04-01"))
    );
    assert_eq!(
        Cycle::CalendarMonth.period_containing(d("2026-02-28")),
        Some(d("2026-02-01"))
    );
    assert_eq!(Cycle::FirstPayment.period_containing(d("2026-02-28")), None);
    // A scheme names its cycle; a bad one is refused with its path.
    let yearly = examples::CBHI_RW.replace(
        "insurance_period_months = 12",
        "insurance_period_months = 12\ncycle_start_dates = [\"07-01\"]",
    );
    let scheme = Scheme::parse(&yearly).unwrap();
    assert_eq!(scheme.products[0].cycle, Cycle::StartDates(vec![(7, 1)]));
    let bad = examples::CBHI_RW.replace(
        "insurance_period_months = 12",
        "insurance_period_months = 12\ncycle_start_dates = [\"02-30\"]",
    );
    let problems = Scheme::parse(&bad).unwrap_err().to_string();
    assert!(problems.contains("cycle_start_dates[0]"), "{problems}");
}
