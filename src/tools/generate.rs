//! The load generator: a scheme's history of N households over M months, deterministic from a
//! seed, as the commands that make it (the iPUSH programme: weekly wallet top-ups matched by
//! its sponsors, monthly premium instalments from the wallet, members' claims at the
//! facilities, monthly stock visits, a period close at each month's end). Pure: it yields
//! commands; whoever applies them (the scale benchmark, a ledger of any partition count)
//! decides them.

use ledger::event::{ClaimLine, Gender, LineKind, PaymentChannel, PremiumSource};
use ledger::{Amount, Currency, Date, RequestId};

use crate::command::Command;
use crate::tools::rng::SplitMix64;

/// Most households one generator makes (ids and dates stay within their bounds).
pub const HOUSEHOLDS_MAX: usize = 10_000_000;
/// Most months of history one generator makes (its months are of 28 days: 300 are 23 years).
pub const MONTHS_MAX: u32 = 300;
/// Days the generated scheme keeps its claims open (`scheme.claims_open_days`): a quarter,
/// a common deadline for submissions and appeals; iPUSH's document leaves the default year.
pub const CLAIMS_OPEN_DAYS: u32 = 90;
/// Members of a household: 1 to this many.
pub const MEMBERS_PER_HOUSEHOLD_MAX: u64 = 5;

/// The iPUSH scheme, its claims open for [`CLAIMS_OPEN_DAYS`], its product sold until 2050
/// (the example's ends in 2030) so that every month of a long history is insured.
fn scheme_document() -> String {
    adjudicator::examples::IPUSH_KE
        .replacen(
            "currency = \"KES\"\n",
            &format!("currency = \"KES\"\nclaims_open_days = {CLAIMS_OPEN_DAYS}\n"),
            1,
        )
        .replacen("valid_to = \"2030-12-31\"", "valid_to = \"2050-12-31\"", 1)
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    pub households: usize,
    pub months: u32,
    pub seed: u64,
}

/// The commands of a plan, in the order they happen, each with its request id.
pub struct Generator {
    plan: Plan,
    rng: SplitMix64,
    /// Commands of the current step, handed out one by one.
    queue: std::collections::VecDeque<(RequestId, Command)>,
    step: Step,
    members: Vec<u8>,
    sent: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Scheme,
    /// Registers households from this one, a chunk at a time; then enrols their members.
    Register(usize),
    Enrol(usize),
    Week {
        month: u32,
        week: u32,
    },
    Close(u32),
    Done,
}

const FACILITIES: [&str; 2] = ["KE-KSM-NYALENDA", "KE-KSM-LUMUMBA"];
/// Households registered (then enrolled) per step.
const SETUP_CHUNK: usize = 1000;
const WEEKS_PER_MONTH: u32 = 4;

fn first_day() -> Date {
    Date::from_ymd_opt(2026, 1, 1).unwrap_or(Date::MIN)
}

fn day_of(month: u32, week: u32) -> Date {
    first_day() + chrono::Days::new(u64::from(month) * 28 + u64::from(week) * 7 + 1)
}

fn kes(shillings: i64) -> Amount {
    Amount::new(shillings * 100, Currency::KES)
}

fn id<T: std::str::FromStr>(text: String) -> Option<T> {
    text.parse().ok()
}

impl Generator {
    /// A generator of `plan`; Err names what is beyond its maxima.
    pub fn new(plan: Plan) -> Result<Generator, String> {
        if plan.households == 0 || plan.households > HOUSEHOLDS_MAX {
            return Err(format!("households: 1 to {HOUSEHOLDS_MAX}"));
        }
        if plan.months == 0 || plan.months > MONTHS_MAX {
            return Err(format!("months: 1 to {MONTHS_MAX}"));
        }
        let mut rng = SplitMix64::new(plan.seed);
        let members = (0..plan.households)
            .map(|_| rng.range(1, MEMBERS_PER_HOUSEHOLD_MAX) as u8)
            .collect();
        Ok(Generator {
            plan,
            rng,
            queue: Default::default(),
            step: Step::Scheme,
            members,
            sent: 0,
        })
    }

    /// Members of the plan (for per-member figures).
    pub fn members(&self) -> u64 {
        self.members.iter().map(|&m| u64::from(m)).sum()
    }

    fn push(&mut self, command: Option<Command>) {
        let Some(command) = command else { return };
        self.sent += 1;
        if let Ok(request) = RequestId::new(format!("gen-{}", self.sent)) {
            self.queue.push_back((request, command));
        }
    }

    /// Fills the queue with the next step's commands; false once the plan is done.
    fn advance(&mut self) -> bool {
        match self.step {
            Step::Scheme => {
                self.push(Some(Command::PublishScheme {
                    document: scheme_document(),
                    effective_from: first_day(),
                }));
                self.step = Step::Register(0);
            }
            Step::Register(from) if from < self.plan.households => {
                let to = (from + SETUP_CHUNK).min(self.plan.households);
                for h in from..to {
                    self.register(h);
                }
                self.step = Step::Enrol(from);
            }
            Step::Register(_) => self.step = Step::Week { month: 0, week: 0 },
            Step::Enrol(from) => {
                let to = (from + SETUP_CHUNK).min(self.plan.households);
                for h in from..to {
                    self.enrol(h);
                }
                self.step = Step::Register(to);
            }
            Step::Week { month, .. } if month >= self.plan.months => self.step = Step::Done,
            Step::Week { month, week } => {
                self.week(month, week);
                self.step = if week + 1 < WEEKS_PER_MONTH {
                    Step::Week {
                        month,
                        week: week + 1,
                    }
                } else {
                    self.month_end(month);
                    Step::Close(month)
                };
            }
            Step::Close(month) => {
                self.close(month);
                self.step = Step::Week {
                    month: month + 1,
                    week: 0,
                };
            }
            Step::Done => return false,
        }
        true
    }

    fn register(&mut self, h: usize) {
        let on = first_day();
        self.push(Some(Command::RegisterHousehold {
            household_id: match id(format!("HH-{h}")) {
                Some(id) => id,
                None => return,
            },
            scheme_id: match id("ipush-ke".to_owned()) {
                Some(id) => id,
                None => return,
            },
            location_code: "KSM".into(),
            socio_economic_category: String::new(),
            registered_on: on,
        }));
    }

    fn enrol(&mut self, h: usize) {
        let on = first_day();
        for m in 0..self.members[h] {
            let enrol = (|| {
                Some(Command::EnrollMember {
                    member_id: id(format!("M-{h}-{m}"))?,
                    household_id: id(format!("HH-{h}"))?,
                    gender: if m % 2 == 0 {
                        Gender::Female
                    } else {
                        Gender::Male
                    },
                    birth_date: Date::from_ymd_opt(1960 + i32::from(m) * 9, 1, 1)?,
                    is_head: m == 0,
                    facility_id: None,
                    enrolled_on: on,
                })
            })();
            self.push(enrol);
        }
    }

    /// A week: every household tops up its wallet; some members claim.
    fn week(&mut self, month: u32, week: u32) {
        let on = day_of(month, week);
        for h in 0..self.plan.households {
            let amount = kes(self.rng.range(100, 800) as i64);
            let top_up = (|| {
                Some(Command::RecordContribution {
                    receipt_id: id(format!("MP-{h}-{month}-{week}"))?,
                    household_id: id(format!("HH-{h}"))?,
                    member_id: None,
                    amount,
                    channel: PaymentChannel::MobileMoney,
                    received_on: on,
                })
            })();
            self.push(top_up);
            for m in 0..self.members[h] {
                if self.rng.chance(8) {
                    let claim = self.claim(h, m, month, week, on);
                    self.push(claim);
                }
            }
        }
    }

    fn claim(&mut self, h: usize, m: u8, month: u32, week: u32, on: Date) -> Option<Command> {
        let facility = FACILITIES[self.rng.range(0, 1) as usize];
        let mut lines = vec![ClaimLine {
            line_no: 1,
            kind: LineKind::Service,
            code: id("OPD-VISIT".to_owned())?,
            quantity: 1,
            asked_unit_price: None,
        }];
        if self.rng.chance(50) {
            lines.push(ClaimLine {
                line_no: 2,
                kind: LineKind::Item,
                code: id("FEFOL-60".to_owned())?,
                quantity: self.rng.range(1, 3) as u32,
                asked_unit_price: None,
            });
        }
        Some(Command::SubmitClaim {
            claim_code: id(format!("C-{h}-{m}-{month}-{week}"))?,
            facility_id: id(facility.to_owned())?,
            member_id: id(format!("M-{h}-{m}"))?,
            date_from: on,
            date_to: None,
            claim_date: on,
            diagnosis_codes: vec![],
            lines,
            today: on,
            today_given: true,
        })
    }

    /// A month's end: premium instalments from the wallets, stock visits.
    fn month_end(&mut self, month: u32) {
        let on = day_of(month, WEEKS_PER_MONTH - 1);
        for h in 0..self.plan.households {
            let instalment = (|| {
                Some(Command::PayPremium {
                    receipt_id: id(format!("PR-{h}-{month}"))?,
                    household_id: id(format!("HH-{h}"))?,
                    product_id: id("NHIF-SUPA".to_owned())?,
                    amount: kes(500),
                    source: PremiumSource::Wallet,
                    paid_on: on,
                    period_start: None,
                })
            })();
            self.push(instalment);
        }
        for facility in FACILITIES {
            let visit = (|| {
                Some(Command::RecordStockVisit {
                    facility_id: id(facility.to_owned())?,
                    product_code: id("FEFOL-60".to_owned())?,
                    visited_on: on,
                    stock_found: self.rng.range(10, 200),
                    losses: 0,
                    delivered: 300,
                    unit_price: None,
                })
            })();
            self.push(visit);
        }
    }

    /// The month's period close, after everything of the month.
    fn close(&mut self, month: u32) {
        let on = day_of(month, WEEKS_PER_MONTH - 1);
        let close = (|| {
            Some(Command::ClosePaymentPeriod {
                period_id: id(format!("P-{month}"))?,
                scheme_id: id("ipush-ke".to_owned())?,
                starts_on: day_of(month, 0),
                ends_on: on,
                closed_on: on,
            })
        })();
        self.push(close);
    }
}

impl Generator {
    /// The next step's commands (the scheme; households; their members; a week; a month's
    /// end; a close):
    /// commands of different households within a step may be applied in any order, the
    /// steps in order.
    pub fn next_step(&mut self) -> Option<Vec<(RequestId, Command)>> {
        while self.queue.is_empty() {
            if !self.advance() {
                return None;
            }
        }
        Some(self.queue.drain(..).collect())
    }
}

impl Iterator for Generator {
    type Item = (RequestId, Command);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(next) = self.queue.pop_front() {
                return Some(next);
            }
            if !self.advance() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64) -> Plan {
        Plan {
            households: 20,
            months: 2,
            seed,
        }
    }

    #[test]
    fn the_same_seed_makes_the_same_history() {
        let a: Vec<_> = Generator::new(plan(7))
            .unwrap()
            .map(|(r, c)| (r, format!("{c:?}")))
            .collect();
        let b: Vec<_> = Generator::new(plan(7))
            .unwrap()
            .map(|(r, c)| (r, format!("{c:?}")))
            .collect();
        let c: Vec<_> = Generator::new(plan(8))
            .unwrap()
            .map(|(_, c)| format!("{c:?}"))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(), c);
        // A scheme, the households with their members, 8 weeks of top-ups, 2 month ends.
        let top_ups = a
            .iter()
            .filter(|(_, c)| c.starts_with("RecordContribution"))
            .count();
        assert_eq!(top_ups, 20 * 8);
        let closes = a
            .iter()
            .filter(|(_, c)| c.starts_with("ClosePaymentPeriod"))
            .count();
        assert_eq!(closes, 2);
    }

    #[test]
    fn plans_beyond_the_maxima_are_refused() {
        assert!(
            Generator::new(Plan {
                households: 0,
                months: 1,
                seed: 1
            })
            .is_err()
        );
        assert!(
            Generator::new(Plan {
                households: 1,
                months: MONTHS_MAX + 1,
                seed: 1
            })
            .is_err()
        );
    }
}
