//! The mixed iPUSH workload the command benches share (`benches/commands.rs`,
//! `benches/kafka.rs`): one household's commands, in order.

use claims_ledger::command::Command;
use ledger::event::{ClaimLine, Gender, LineKind, PaymentChannel, PremiumSource};
use ledger::{Amount, Currency, Date};

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

pub fn day(n: u64) -> Date {
    Date::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(n)
}

/// The commands of one household, in order.
pub fn household_commands(h: usize) -> Vec<Command> {
    let hh = format!("HH-{h}");
    let mut c = vec![Command::RegisterHousehold {
        household_id: id(&hh),
        scheme_id: id("ipush-ke"),
        location_code: "KSM".into(),
        socio_economic_category: String::new(),
        registered_on: day(1),
    }];
    for m in 0..2 {
        c.push(Command::EnrollMember {
            member_id: id(&format!("M-{h}-{m}")),
            household_id: id(&hh),
            gender: if m == 0 { Gender::Female } else { Gender::Male },
            birth_date: Date::from_ymd_opt(1990, 1, 1).unwrap(),
            is_head: m == 0,
            facility_id: None,
            enrolled_on: day(1),
        });
    }
    for k in 0..3 {
        c.push(Command::RecordContribution {
            receipt_id: id(&format!("MP-{h}-{k}")),
            household_id: id(&hh),
            member_id: None,
            amount: Amount::new(150_000, Currency::KES),
            channel: PaymentChannel::MobileMoney,
            received_on: day(10 + k),
        });
    }
    c.push(Command::PayPremium {
        period_start: None,
        receipt_id: id(&format!("PR-{h}")),
        household_id: id(&hh),
        product_id: id("NHIF-SUPA"),
        amount: Amount::new(600_000, Currency::KES),
        source: PremiumSource::Wallet,
        paid_on: day(20),
    });
    for k in 0..3u64 {
        c.push(Command::SubmitClaim {
            claim_code: id(&format!("C-{h}-{k}")),
            facility_id: id(if k % 2 == 0 {
                "KE-KSM-NYALENDA"
            } else {
                "KE-KSM-LUMUMBA"
            }),
            member_id: id(&format!("M-{h}-0")),
            date_from: day(30 + 30 * k),
            date_to: None,
            claim_date: day(30 + 30 * k),
            diagnosis_codes: vec![],
            lines: vec![
                ClaimLine {
                    line_no: 1,
                    kind: LineKind::Service,
                    code: id("OPD-VISIT"),
                    quantity: 1,
                    asked_unit_price: None,
                },
                ClaimLine {
                    line_no: 2,
                    kind: LineKind::Item,
                    code: id("FEFOL-60"),
                    quantity: 1 + k as u32,
                    asked_unit_price: None,
                },
            ],
            today: day(30 + 30 * k),
            today_given: true,
        });
    }
    c
}

/// The commands of `households` households spread over `clients` lanes (household h in lane
/// h % clients, its commands in order), each with its request id.
pub fn household_lanes(households: usize, clients: usize) -> Vec<Vec<(String, Command)>> {
    (0..clients)
        .map(|lane| {
            (lane..households)
                .step_by(clients)
                .flat_map(|h| {
                    household_commands(h)
                        .into_iter()
                        .enumerate()
                        .map(move |(k, c)| (format!("r-{h}-{k}"), c))
                })
                .collect()
        })
        .collect()
}
