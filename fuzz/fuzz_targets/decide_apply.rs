//! Commands built from fuzzed bytes (extreme amounts, dates, counts; unknown ids) decided
//! against a small iPUSH ledger: `decide` never panics, and whatever it decides applies to the
//! projections (nothing is ever decided that the folds refuse).
#![no_main]

use claims_ledger::command::Command;
use ledger::event::{ClaimLine, LineKind, PaymentChannel, PremiumSource};
use ledger::{Amount, Currency, Date};
use libfuzzer_sys::fuzz_target;

#[path = "small_ledger.rs"]
mod small_ledger;

/// Reads values from the fuzzer's bytes (zeros once they run out).
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }
    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |v, _| (v << 8) | u64::from(self.u8()))
    }
    fn i64(&mut self) -> i64 {
        match self.u8() % 4 {
            0 => i64::MAX - i64::from(self.u8()),
            1 => i64::MIN + i64::from(self.u8()),
            2 => ledger::bounds::AMOUNT_MAX - 2 + i64::from(self.u8() % 4),
            _ => self.u64() as i64 % 10_000_000,
        }
    }
    fn u32(&mut self) -> u32 {
        match self.u8() % 3 {
            0 => u32::MAX - u32::from(self.u8()),
            1 => ledger::bounds::QUANTITY_MAX - 2 + u32::from(self.u8() % 4),
            _ => u32::from(self.u8()),
        }
    }
    fn date(&mut self) -> Date {
        match self.u8() % 5 {
            0 => Date::MIN,
            1 => Date::MAX,
            2 => ledger::bounds::LATEST_DATE,
            3 => Date::from_ymd_opt(0, 1, 1).unwrap_or(Date::MIN),
            _ => {
                let start = Date::from_ymd_opt(2026, 1, 1).unwrap_or(Date::MIN);
                start + chrono::Days::new(u64::from(self.u8()) * 2)
            }
        }
    }
    fn amount(&mut self) -> Amount {
        let currency = if self.u8() % 8 == 0 {
            Currency::USD
        } else {
            Currency::KES
        };
        Amount::new(self.i64(), currency)
    }
    fn pick<'s>(&mut self, options: &[&'s str]) -> &'s str {
        options[usize::from(self.u8()) % options.len()]
    }
}

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("a valid id")
}

fn command(b: &mut Bytes) -> Command {
    let household = id(b.pick(&["HH-1", "HH-2"]));
    let receipt = id(&format!("R-{}", b.u8()));
    match b.u8() % 6 {
        0 => Command::RecordContribution {
            receipt_id: receipt,
            household_id: household,
            member_id: None,
            amount: b.amount(),
            channel: PaymentChannel::MobileMoney,
            received_on: b.date(),
        },
        1 => Command::PayPremium {
 period_start: None,
            receipt_id: receipt,
            household_id: household,
            product_id: id("NHIF-SUPA"),
            amount: b.amount(),
            source: if b.u8() % 2 == 0 {
                PremiumSource::Wallet
            } else {
                PremiumSource::Direct
            },
            paid_on: b.date(),
        },
        2 => {
            let on = b.date();
            let lines = (0..1 + b.u8() % 3)
                .map(|i| ClaimLine {
                    line_no: if b.u8() % 8 == 0 { 0 } else { u32::from(i) + 1 },
                    kind: LineKind::Item,
                    code: id(b.pick(&["FEFOL-60", "OPD-VISIT", "UNKNOWN"])),
                    quantity: b.u32(),
                    asked_unit_price: (b.u8() % 2 == 0).then(|| b.amount()),
                })
                .collect();
            Command::SubmitClaim {
                claim_code: id(&format!("C-{}", b.u8())),
                facility_id: id("KE-KSM-NYALENDA"),
                member_id: id(b.pick(&["M-1", "M-2"])),
                date_from: on,
                date_to: None,
                claim_date: on,
                diagnosis_codes: vec![],
                lines,
                today: b.date(),
                today_given: b.u8() % 2 == 0,
            }
        }
        3 => Command::RecordStockVisit {
            facility_id: id("KE-KSM-NYALENDA"),
            product_code: id("FEFOL-60"),
            visited_on: b.date(),
            stock_found: b.u64(),
            losses: b.u64() % 100,
            delivered: b.u64(),
            unit_price: (b.u8() % 2 == 0).then(|| b.amount()),
        },
        4 => {
            let (starts_on, ends_on) = (b.date(), b.date());
            Command::ClosePaymentPeriod {
                period_id: id(&format!("P-{}", b.u8())),
                scheme_id: id("ipush-ke"),
                starts_on,
                ends_on,
                closed_on: ends_on,
            }
        }
        _ => Command::RecordCopay {
            receipt_id: receipt,
            claim_id: id("CL-0000000001"),
            amount: b.amount(),
            collected_on: b.date(),
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let mut p = small_ledger::base().clone();
    let mut bytes = Bytes(data);
    for _ in 0..8 {
        if bytes.0.is_empty() {
            break;
        }
        let command = command(&mut bytes);
        small_ledger::apply(&mut p, &command);
    }
});
