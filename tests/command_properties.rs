//! Property tests over random command sequences through the real command processor:
//! the trial balance is always zero, no wallet goes negative, a rebuild from position 0 gives
//! the live digest, retries change nothing, and what each facility is owed equals the payer
//! amounts of its claims plus wallet copays, less payouts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use adjudicator::examples;
use claims_ledger::api::history;
use claims_ledger::command::{Command, LineReview};
use claims_ledger::partitioned::Ledger;
use claims_ledger::processor::{Service, rebuild};
use ledger::event::{ClaimLine, Gender, LineKind, PaymentChannel, PremiumSource};
use ledger::ids::*;
use ledger::{Amount, Currency, Date, EventLog, MemoryLog, RequestId};
use projections::claims::ClaimStatus;
use proptest::prelude::*;

const HOUSEHOLDS: usize = 3;
const FACILITIES: [&str; 2] = ["KE-KSM-NYALENDA", "KE-KSM-LUMUMBA"];
const CODES: [(LineKind, &str); 4] = [
    (LineKind::Service, "OPD-VISIT"),
    (LineKind::Service, "ANC-VISIT"),
    (LineKind::Item, "FEFOL-60"),
    (LineKind::Item, "TT-VACCINE"),
];

#[derive(Debug, Clone)]
enum Op {
    Contribute {
        hh: usize,
        shillings: i64,
    },
    Premium {
        hh: usize,
        shillings: i64,
        wallet: bool,
    },
    Claim {
        member: usize,
        facility: usize,
        lines: Vec<(usize, u32)>,
    },
    Review {
        claim: usize,
        reject: bool,
    },
    Reverse {
        claim: usize,
    },
    Copay {
        claim: usize,
    },
    Close,
    Payout {
        facility: usize,
        shillings: i64,
    },
    Retry {
        back: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..HOUSEHOLDS, 1i64..4000).prop_map(|(hh, shillings)| Op::Contribute { hh, shillings }),
        2 => (0..HOUSEHOLDS, 1i64..7000, any::<bool>()).prop_map(|(hh, shillings, wallet)| Op::Premium { hh, shillings, wallet }),
        4 => (0..HOUSEHOLDS * 2, 0..FACILITIES.len(), proptest::collection::vec((0..CODES.len(), 1u32..4), 1..4))
            .prop_map(|(member, facility, lines)| Op::Claim { member, facility, lines }),
        1 => (0usize..20, any::<bool>()).prop_map(|(claim, reject)| Op::Review { claim, reject }),
        1 => (0usize..20).prop_map(|claim| Op::Reverse { claim }),
        1 => (0usize..20).prop_map(|claim| Op::Copay { claim }),
        1 => Just(Op::Close),
        1 => (0..FACILITIES.len(), 1i64..3000).prop_map(|(facility, shillings)| Op::Payout { facility, shillings }),
        1 => (1usize..10).prop_map(|back| Op::Retry { back }),
    ]
}

fn kes(shillings: i64) -> Amount {
    Amount::new(shillings * 100, Currency::KES)
}

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

struct World {
    /// Commands go through the ledger (one partition); `svc` is its partition's processor.
    ledger: Ledger<MemoryLog>,
    svc: Service<MemoryLog>,
    /// Every command sent, and whether it was accepted.
    sent: Vec<(RequestId, Command, bool)>,
    day: u64,
    periods: usize,
}

impl World {
    fn date(&self) -> Date {
        Date::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(self.day)
    }

    async fn send(&mut self, command: Command) {
        let request = RequestId::new(format!("req-{}", self.sent.len())).unwrap();
        // Rejections are fine: they must simply change nothing (and a rejected request id
        // may be used again: it was never recorded).
        let accepted = self
            .ledger
            .execute(request.clone(), command.clone())
            .await
            .is_ok();
        self.sent.push((request, command, accepted));
    }

    async fn claims(&self) -> Vec<ClaimId> {
        let st = self.svc.state().await;
        st.projections
            .claims
            .list(&Default::default(), None, usize::MAX)
            .unwrap()
            .iter()
            .map(|c| c.claim_id.clone())
            .collect()
    }
}

async fn setup() -> World {
    let svc = Service::start(MemoryLog::in_memory()).await.unwrap();
    let mut w = World {
        ledger: Ledger::single(svc.clone()).await,
        svc,
        sent: Vec::new(),
        day: 31,
        periods: 0,
    };
    w.send(Command::PublishScheme {
        document: examples::IPUSH_KE.to_owned(),
        effective_from: w.date(),
    })
    .await;
    for h in 0..HOUSEHOLDS {
        w.send(Command::RegisterHousehold {
            household_id: id(&format!("HH-{h}")),
            scheme_id: id("ipush-ke"),
            location_code: "KSM".into(),
            socio_economic_category: String::new(),
            registered_on: w.date(),
        })
        .await;
        for m in 0..2 {
            w.send(Command::EnrollMember {
                member_id: id(&format!("M-{}", h * 2 + m)),
                household_id: id(&format!("HH-{h}")),
                gender: if m == 0 { Gender::Female } else { Gender::Male },
                birth_date: Date::from_ymd_opt(1990 + m as i32 * 20, 1, 1).unwrap(),
                is_head: m == 0,
                facility_id: None,
                enrolled_on: w.date(),
            })
            .await;
        }
    }
    w
}

async fn apply(w: &mut World, op: &Op) {
    w.day += 1;
    let date = w.date();
    let n = w.sent.len();
    match op {
        Op::Contribute { hh, shillings } => {
            w.send(Command::RecordContribution {
                receipt_id: id(&format!("MP-{n}")),
                household_id: id(&format!("HH-{hh}")),
                member_id: None,
                amount: kes(*shillings),
                channel: PaymentChannel::MobileMoney,
                received_on: date,
            })
            .await;
        }
        Op::Premium {
            hh,
            shillings,
            wallet,
        } => {
            w.send(Command::PayPremium {
                period_start: None,
                receipt_id: id(&format!("PR-{n}")),
                household_id: id(&format!("HH-{hh}")),
                product_id: id("NHIF-SUPA"),
                amount: kes(*shillings),
                source: if *wallet {
                    PremiumSource::Wallet
                } else {
                    PremiumSource::Direct
                },
                paid_on: date,
            })
            .await;
        }
        Op::Claim {
            member,
            facility,
            lines,
        } => {
            w.send(Command::SubmitClaim {
                claim_code: id(&format!("C-{n}")),
                facility_id: id(FACILITIES[*facility]),
                member_id: id(&format!("M-{member}")),
                date_from: date,
                date_to: None,
                claim_date: date,
                diagnosis_codes: vec![],
                lines: lines
                    .iter()
                    .enumerate()
                    .map(|(i, (c, q))| ClaimLine {
                        line_no: i as u32 + 1,
                        kind: CODES[*c].0,
                        code: id(CODES[*c].1),
                        quantity: *q,
                        asked_unit_price: None,
                    })
                    .collect(),
                today: date,
                today_given: true,
            })
            .await;
        }
        Op::Review { claim, reject } => {
            let claims = w.claims().await;
            if let Some(c) = claims.get(claim % claims.len().max(1)) {
                w.send(Command::ReviewClaim {
                    claim_id: c.clone(),
                    reviewer: "MO".into(),
                    reviewed_on: date,
                    changes: vec![LineReview {
                        line_no: 1,
                        approved_quantity: if *reject { None } else { Some(1) },
                        unit_price: None,
                        reject: *reject,
                    }],
                    comment: String::new(),
                })
                .await;
            }
        }
        Op::Reverse { claim } => {
            let claims = w.claims().await;
            if let Some(c) = claims.get(claim % claims.len().max(1)) {
                w.send(Command::ReverseClaim {
                    claim_id: c.clone(),
                    reason: "test".into(),
                    reversed_on: date,
                })
                .await;
            }
        }
        Op::Copay { claim } => {
            let claims = w.claims().await;
            if let Some(c) = claims.get(claim % claims.len().max(1)) {
                let copay = w
                    .svc
                    .state()
                    .await
                    .projections
                    .claims
                    .get(c)
                    .and_then(|r| r.total_copay);
                if let Some(copay) = copay.filter(|a| a.is_positive()) {
                    w.send(Command::RecordCopay {
                        receipt_id: id(&format!("CP-{n}")),
                        claim_id: c.clone(),
                        amount: copay,
                        collected_on: date,
                    })
                    .await;
                }
            }
        }
        Op::Close => {
            w.periods += 1;
            let start = Date::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(w.day - 1);
            w.send(Command::ClosePaymentPeriod {
                period_id: id(&format!("P-{}", w.periods)),
                scheme_id: id("ipush-ke"),
                starts_on: start,
                ends_on: date,
                closed_on: date,
            })
            .await;
        }
        Op::Payout {
            facility,
            shillings,
        } => {
            w.send(Command::RecordFacilityPayout {
                payout_id: id(&format!("PO-{n}")),
                facility_id: id(FACILITIES[*facility]),
                period_id: id(&format!("P-{}", w.periods.max(1))),
                amount: kes(*shillings),
                channel: PaymentChannel::Bank,
                reference: "EFT".into(),
                paid_on: date,
            })
            .await;
        }
        Op::Retry { back } => {
            if let Some((request, command, true)) =
                w.sent.len().checked_sub(*back).map(|i| w.sent[i].clone())
            {
                let before = w.svc.state().await.projections.digests();
                let head = w.svc.log().head().next_position;
                let _ = w.ledger.execute(request, command).await;
                assert_eq!(
                    w.svc.log().head().next_position,
                    head,
                    "a retry appends nothing"
                );
                assert_eq!(
                    w.svc.state().await.projections.digests(),
                    before,
                    "a retry changes nothing"
                );
            }
        }
    }
}

async fn check(w: &World) {
    let st = w.svc.state().await;
    let p = &st.projections;
    assert_eq!(p.balances.trial_balance(Currency::KES), 0);
    // The trial balance as listed, account by account, page by page: debits less credits
    // sum to zero too.
    let mut after: Option<(String, Currency)> = None;
    let mut listed = 0i128;
    loop {
        let from = after.as_ref().map(|(n, c)| (n.as_str(), c.code()));
        let (page, more) = p.balances.list(None, None, from, 7);
        for (_, account, currency) in &page {
            let (debits, credits) = p.balances.totals(account, *currency, None);
            listed += debits - credits;
        }
        after = page.last().map(|(n, _, c)| (n.clone(), *c));
        if !more {
            break;
        }
    }
    assert_eq!(listed, 0);
    for h in 0..HOUSEHOLDS {
        let wallet = p.balances.wallet(&id(&format!("HH-{h}")), Currency::KES);
        assert!(!wallet.is_negative(), "HH-{h} wallet {wallet}");
    }
    // Filtered lists (served from the facility and member indexes), read page by page, are
    // the claims a filter over all of them finds, in the same order.
    let all = p
        .claims
        .list(&Default::default(), None, usize::MAX)
        .unwrap();
    let facilities = FACILITIES.iter().map(|f| Some(id::<FacilityId>(f)));
    for facility in facilities.chain([None]) {
        for member in [None, Some(id::<MemberId>("M-0")), Some(id("M-3"))] {
            let filter = projections::claims::ClaimFilter {
                facility: facility.clone(),
                member: member.clone(),
                status: None,
            };
            let expected: Vec<&ClaimId> = all
                .iter()
                .filter(|c| facility.as_ref().is_none_or(|f| &c.facility_id == f))
                .filter(|c| member.as_ref().is_none_or(|m| &c.member_id == m))
                .map(|c| &c.claim_id)
                .collect();
            let mut paged = Vec::new();
            let mut after: Option<ClaimId> = None;
            loop {
                let page = p.claims.list(&filter, after.as_ref(), 2).unwrap();
                paged.extend(page.iter().map(|c| &c.claim_id));
                match page.last() {
                    Some(last) if page.len() == 2 => after = Some(last.claim_id.clone()),
                    _ => break,
                }
            }
            assert_eq!(paged, expected, "{filter:?}");
        }
    }
    for f in FACILITIES {
        let facility: FacilityId = id(f);
        // Owed = payer amounts of its claims (as reviewed; reversed ones count zero) + wallet
        // copays (less any given back) + stock consumed (stock visits) - payouts.
        let claims: i64 = p
            .claims
            .list(
                &projections::claims::ClaimFilter {
                    facility: Some(facility.clone()),
                    ..Default::default()
                },
                None,
                usize::MAX,
            )
            .unwrap()
            .iter()
            .filter(|c| c.status != ClaimStatus::Reversed)
            .filter_map(|c| c.total_payer)
            .map(|a| a.minor_units())
            .sum();
        let statements: Vec<_> = p.payments.statements_of(&facility).collect();
        let paid: i64 = statements.iter().map(|(_, s)| s.paid.minor_units()).sum();
        let mut lines = Vec::new();
        for (_, s) in p.payments.statements_of(&facility) {
            lines.extend(
                history::statement_lines(w.svc.log(), s, 0, usize::MAX)
                    .await
                    .unwrap(),
            );
        }
        let copays_billed: i64 = lines
            .iter()
            .filter(|l| l.description.starts_with("copay") || l.description.ends_with(" consumed"))
            .map(|l| l.amount.minor_units())
            .sum();
        // Open: no close reached them yet, or a close assigned them to a statement still to
        // be issued.
        let assigned = p
            .payments
            .assigned
            .iter()
            .filter(|((f, _), _)| f == &facility)
            .flat_map(|(_, accruals)| accruals);
        let copays_open: i64 = p
            .payments
            .open_accruals(&facility)
            .iter()
            .chain(assigned)
            .filter(|a| a.description.starts_with("copay") || a.description.ends_with(" consumed"))
            .map(|a| a.amount.minor_units())
            .sum();
        let copays = copays_billed + copays_open;
        let owed = p
            .balances
            .facility_payable(&facility, Currency::KES)
            .minor_units();
        assert_eq!(owed, claims + copays - paid, "{f}");
        for (period, s) in statements {
            assert_eq!(
                s.due.minor_units(),
                s.paid.minor_units() + s.outstanding().minor_units(),
                "{f} {period}"
            );
            assert!(!s.outstanding().is_negative());
        }
    }
    let rebuilt = rebuild(w.svc.log(), w.svc.log().head().next_position)
        .await
        .unwrap();
    assert_eq!(
        rebuilt.projections.digests(),
        p.digests(),
        "rebuild from zero = live"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_command_sequences_keep_the_books(ops in proptest::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        rt.block_on(async {
            let mut w = setup().await;
            for op in &ops {
                apply(&mut w, op).await;
            }
            check(&w).await;
        });
    }
}

/// A value at or beyond an edge: what a hostile client sends.
fn extreme_minor() -> impl Strategy<Value = i64> {
    let max = ledger::bounds::AMOUNT_MAX;
    prop_oneof![
        Just(i64::MAX),
        Just(i64::MIN),
        Just(0),
        Just(-1),
        Just(max),
        Just(max + 1),
        Just(-max),
        Just(ledger::bounds::UNIT_PRICE_MAX),
        Just(ledger::bounds::UNIT_PRICE_MAX + 1),
        1i64..1_000_000,
    ]
}

fn extreme_date() -> impl Strategy<Value = Date> {
    prop_oneof![
        Just(Date::MIN),
        Just(Date::MAX),
        Just(ledger::bounds::EARLIEST_DATE),
        Just(ledger::bounds::LATEST_DATE),
        Just(Date::from_ymd_opt(0, 1, 1).unwrap()),
        (0u64..400).prop_map(|d| Date::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(d)),
    ]
}

fn extreme_count() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(u64::MAX),
        Just(ledger::bounds::STOCK_UNITS_MAX),
        Just(ledger::bounds::STOCK_UNITS_MAX + 1),
        0u64..1000,
    ]
}

fn extreme_quantity() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(u32::MAX),
        Just(0),
        Just(ledger::bounds::QUANTITY_MAX),
        Just(ledger::bounds::QUANTITY_MAX + 1),
        1u32..10,
    ]
}

/// A command with extreme values, for a household, member or facility of the setup.
fn extreme_command() -> impl Strategy<Value = Command> {
    let kes = |minor| Amount::new(minor, Currency::KES);
    prop_oneof![
        (
            0..HOUSEHOLDS,
            extreme_minor(),
            extreme_date(),
            0u32..1_000_000
        )
            .prop_map(move |(hh, minor, on, n)| Command::RecordContribution {
                receipt_id: id(&format!("X-{n}")),
                household_id: id(&format!("HH-{hh}")),
                member_id: None,
                amount: kes(minor),
                channel: PaymentChannel::MobileMoney,
                received_on: on,
            }),
        (
            0..HOUSEHOLDS,
            extreme_minor(),
            extreme_date(),
            0u32..1_000_000
        )
            .prop_map(move |(hh, minor, on, n)| Command::PayPremium {
                period_start: None,
                receipt_id: id(&format!("XP-{n}")),
                household_id: id(&format!("HH-{hh}")),
                product_id: id("NHIF-SUPA"),
                amount: kes(minor),
                source: PremiumSource::Wallet,
                paid_on: on,
            }),
        (
            0..HOUSEHOLDS * 2,
            extreme_quantity(),
            extreme_minor(),
            extreme_date(),
            0u32..1_000_000
        )
            .prop_map(
                move |(member, quantity, price, on, n)| Command::SubmitClaim {
                    claim_code: id(&format!("XC-{n}")),
                    facility_id: id(FACILITIES[0]),
                    member_id: id(&format!("M-{member}")),
                    date_from: on,
                    date_to: None,
                    claim_date: on,
                    diagnosis_codes: vec![],
                    lines: vec![ClaimLine {
                        line_no: 1,
                        kind: LineKind::Item,
                        code: id("FEFOL-60"),
                        quantity,
                        asked_unit_price: Some(kes(price)).filter(|_| n % 2 == 0),
                    }],
                    today: on,
                    today_given: true,
                }
            ),
        (
            extreme_count(),
            extreme_count(),
            extreme_count(),
            extreme_minor(),
            extreme_date()
        )
            .prop_map(move |(found, losses, delivered, price, on)| {
                Command::RecordStockVisit {
                    facility_id: id(FACILITIES[0]),
                    product_code: id("FEFOL-60"),
                    visited_on: on,
                    stock_found: found,
                    losses,
                    delivered,
                    unit_price: (price % 2 == 0).then(|| kes(price)),
                }
            }),
        (extreme_minor(), extreme_date(), 0u32..1_000_000).prop_map(move |(minor, on, n)| {
            Command::RecordFacilityPayout {
                payout_id: id(&format!("XO-{n}")),
                facility_id: id(FACILITIES[0]),
                period_id: id("P-1"),
                amount: kes(minor),
                channel: PaymentChannel::Bank,
                reference: "EFT".into(),
                paid_on: on,
            }
        }),
        (extreme_date(), extreme_date(), 0u32..1_000).prop_map(|(starts_on, ends_on, n)| {
            Command::ClosePaymentPeriod {
                period_id: id(&format!("XP-{n}")),
                scheme_id: id("ipush-ke"),
                starts_on,
                ends_on,
                closed_on: ends_on,
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Extreme values are refused or recorded, never applied half: the service never
    /// diverges from its log, keeps answering, and its books stay balanced.
    #[test]
    fn extreme_values_never_make_the_service_diverge(
        commands in proptest::collection::vec(extreme_command(), 1..40)
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        rt.block_on(async {
            let mut w = setup().await;
            for command in commands {
                w.send(command).await;
                assert!(w.svc.diverged().borrow().is_none(), "diverged: {:?}", w.sent.last());
                assert!(w.svc.read().await.is_ok());
            }
            assert!(w.svc.diverged().borrow().is_none());
            check(&w).await;
        });
    }
}

/// The largest accepted saving, 1,000 times into one wallet: beyond what an `i64` holds,
/// exact in the books (a balance is an `i128`), no divergence, the books still balanced.
#[tokio::test]
async fn a_wallet_beyond_i64_stays_exact() {
    let mut w = setup().await;
    let max = ledger::bounds::AMOUNT_MAX;
    for n in 0..1_000 {
        w.send(Command::RecordContribution {
            receipt_id: id(&format!("MAX-{n}")),
            household_id: id("HH-0"),
            member_id: None,
            amount: Amount::new(max, Currency::KES),
            channel: PaymentChannel::MobileMoney,
            received_on: Date::from_ymd_opt(2026, 3, 1).unwrap(),
        })
        .await;
        assert!(w.sent.last().unwrap().2, "the maximum amount is accepted");
    }
    assert!(w.svc.diverged().borrow().is_none());
    {
        let st = w.svc.read().await.unwrap();
        let raw = st.projections.balances.raw_balance(
            &projections::balances::Account::Wallet(id("HH-0")),
            Currency::KES,
        );
        // 1,000 savings, each matched by the scheme's sponsors up to their caps.
        assert!(-raw >= 1_000 * i128::from(max), "{raw}");
        assert!(-raw > i128::from(i64::MAX));
    }
    check(&w).await;
}
