//! Adjudicated claim lines per second on one core, on a realistic mix: claims of 1-5 lines
//! against a generated scheme with 300 items and 60 services, a member with two products and
//! some usage. Side by side in the same run with a baseline that only resolves each line's
//! item and price (the lookups any adjudicator must do).
//!
//! Run: `cargo bench -p adjudicator --bench adjudicate`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write;
use std::hint::black_box;
use std::time::Instant;

use adjudicator::context::Member;
use adjudicator::{MemberContext, Policy, PolicyContext, Scheme, Usage, adjudicate};
use ledger::event::{ClaimLine, ClaimSubmitted, Gender, LineKind, PolicyStatus};
use ledger::ids::*;
use ledger::{Currency, Date};

const ITEMS: usize = 300;
const SERVICES: usize = 60;

fn scheme_document() -> String {
    let mut doc = String::from(
        "[scheme]\nid = \"bench\"\nname = \"Benchmark scheme\"\nversion = 1\ncurrency = \"KES\"\n\n",
    );
    for i in 0..ITEMS {
        let freq = if i % 10 == 0 { 7 } else { 0 };
        writeln!(
            doc,
            "[items.IT-{i:03}]\nname = \"Item {i}\"\ncare_type = \"B\"\nfrequency_days = {freq}\n"
        )
        .unwrap();
    }
    let categories = ["consultation", "other", "antenatal", "other", "other"];
    for i in 0..SERVICES {
        writeln!(
            doc,
            "[services.SV-{i:03}]\nname = \"Service {i}\"\ncare_type = \"B\"\ncategory = \"{}\"\n",
            categories[i % categories.len()]
        )
        .unwrap();
    }
    for (p, pct) in [("MAIN", 80), ("TOPUP", 50)] {
        writeln!(
            doc,
            "[[products]]\nid = \"{p}\"\nname = \"{p}\"\nvalid_from = \"2026-01-01\"\nvalid_to = \"2030-12-31\"\n\
             insurance_period_months = 12\npremium = {{ per_member = \"500 KES\" }}\n\
             max_counts = {{ consultations = 50, antenatal = 8 }}\n\
             deductible = {{ per_member = \"200 KES\" }}\n\
             ceiling = {{ per_member = \"500000 KES\", per_household = \"2000000 KES\" }}\n"
        )
        .unwrap();
        writeln!(doc, "[products.items]").unwrap();
        for i in 0..ITEMS {
            let limit = if i % 7 == 0 {
                ", max_quantity = 100"
            } else {
                ""
            };
            writeln!(doc, "IT-{i:03} = {{ coinsurance_percent = {pct}{limit} }}").unwrap();
        }
        writeln!(doc, "[products.services]").unwrap();
        for i in 0..SERVICES {
            writeln!(doc, "SV-{i:03} = {{ coinsurance_percent = 100 }}").unwrap();
        }
        writeln!(doc).unwrap();
    }
    writeln!(doc, "[[price_lists]]\nid = \"PL\"\nprices = [").unwrap();
    for i in 0..ITEMS {
        writeln!(
            doc,
            "  {{ code = \"IT-{i:03}\", price = \"{}.50 KES\", valid_from = \"2026-01-01\" }},",
            10 + i
        )
        .unwrap();
    }
    for i in 0..SERVICES {
        writeln!(
            doc,
            "  {{ code = \"SV-{i:03}\", price = \"{} KES\", valid_from = \"2026-01-01\" }},",
            500 + 10 * i
        )
        .unwrap();
    }
    writeln!(doc, "]\n\n[[facilities]]\nid = \"FAC\"\nname = \"Facility\"\ncare_type = \"B\"\npayment_method = \"fee_for_service\"\nprice_list = \"PL\"").unwrap();
    doc
}

/// A tiny deterministic generator (splitmix64).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

fn claims(n: usize) -> Vec<ClaimSubmitted> {
    let mut rng = Rng(42);
    let d = |day: u64| Date::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(day);
    (0..n)
        .map(|i| {
            let lines = 1 + rng.below(5) as usize;
            let date = d(rng.below(200));
            ClaimSubmitted {
                claim_id: ClaimId::new(format!("CL-{i}")).unwrap(),
                claim_code: ClaimCode::new(format!("C-{i}")).unwrap(),
                facility_id: FacilityId::new("FAC").unwrap(),
                member_id: MemberId::new("M-1").unwrap(),
                household_id: HouseholdId::new("HH-1").unwrap(),
                date_from: date,
                date_to: None,
                claim_date: date,
                diagnosis_codes: Vec::new(),
                lines: (0..lines)
                    .map(|l| {
                        let service = rng.below(4) == 0;
                        let (kind, code) = if service {
                            (
                                LineKind::Service,
                                format!("SV-{:03}", rng.below(SERVICES as u64)),
                            )
                        } else {
                            (LineKind::Item, format!("IT-{:03}", rng.below(ITEMS as u64)))
                        };
                        ClaimLine {
                            line_no: l as u32 + 1,
                            kind,
                            code: Code::new(code).unwrap(),
                            quantity: 1 + rng.below(20) as u32,
                            asked_unit_price: None,
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

fn context(scheme: &Scheme) -> MemberContext {
    let policy = |p: &str| {
        let mut usage = Usage::empty(Currency::KES);
        for i in (0..ITEMS).step_by(3) {
            usage
                .quantities
                .insert(Code::new(format!("IT-{i:03}")).unwrap(), 5);
        }
        PolicyContext {
            policy: Policy {
                id: PolicyId::new(format!("POL-{p}")).unwrap(),
                product_id: ProductId::new(p).unwrap(),
                status: PolicyStatus::Active,
                start_date: Date::from_ymd_opt(2026, 1, 1).unwrap(),
                effective_from: Date::from_ymd_opt(2026, 1, 1).unwrap(),
                expires_on: Date::from_ymd_opt(2026, 12, 31).unwrap(),
                renewal: true,
                household_members: 5,
            },
            usage,
        }
    };
    assert!(scheme.products.len() == 2);
    MemberContext {
        member: Some(Member {
            id: MemberId::new("M-1").unwrap(),
            household_id: HouseholdId::new("HH-1").unwrap(),
            gender: Gender::Female,
            birth_date: Date::from_ymd_opt(1992, 4, 2).unwrap(),
            enrolled_on: Date::from_ymd_opt(2025, 1, 1).unwrap(),
        }),
        policies: vec![policy("MAIN"), policy("TOPUP")],
        prior_claims: Vec::new(),
    }
}

fn main() {
    let scheme = Scheme::parse(&scheme_document()).unwrap();
    let ctx = context(&scheme);
    let claims = claims(200_000);
    let lines: usize = claims.iter().map(|c| c.lines.len()).sum();
    let today = Date::from_ymd_opt(2026, 12, 31).unwrap();
    let price_list = &scheme.price_lists["PL"];

    // Baseline: resolve each line's item and price, nothing else.
    let start = Instant::now();
    let mut found = 0usize;
    for c in &claims {
        for l in &c.lines {
            if scheme.medical.contains_key(&l.code)
                && price_list.price(&l.code, c.date_from).is_some()
            {
                found += 1;
            }
        }
    }
    let baseline = start.elapsed();
    black_box(found);

    let start = Instant::now();
    let mut paid = 0i64;
    for c in &claims {
        let decision = adjudicate(c, &ctx, &scheme, today);
        paid += decision.total_payer.minor_units();
    }
    let full = start.elapsed();
    black_box(paid);

    let rate = |d: std::time::Duration| lines as f64 / d.as_secs_f64();
    println!("| claims | lines | lookup baseline | adjudicate | adjudicate / baseline |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {lines} | {:.2}M lines/s | {:.2}M lines/s | {:.2}x |",
        claims.len(),
        rate(baseline) / 1e6,
        rate(full) / 1e6,
        rate(full) / rate(baseline)
    );
}
