//! The seed programmes' money flows, end to end through the command side, with figures
//! checked by hand in the comments.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use adjudicator::examples;
use claims_ledger::api::history;
use claims_ledger::command::{Command, LineReview, Rejection, Subject};
use claims_ledger::partitioned::Ledger;
use claims_ledger::processor::{CommandError, Receipt, Service, rebuild};
use ledger::event::*;
use ledger::ids::*;
use ledger::{Amount, Date, EventLog, FileLog, MemoryLog, RequestId};
use projections::balances::Account;
use projections::claims::ClaimStatus;
use projections::claims::detail::ClaimDetail;

fn d(s: &str) -> Date {
    Date::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn a(s: &str) -> Amount {
    s.parse().unwrap()
}

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

/// Commands go through the ledger (one partition), as the API sends them; `svc` is its
/// partition's processor, for the projections and the log.
struct Harness<L: EventLog> {
    ledger: Ledger<L>,
    svc: Service<L>,
    n: u64,
}

impl<L: EventLog> Harness<L> {
    async fn new(log: L) -> Self {
        let ledger = Ledger::single(Service::start(log).await.unwrap()).await;
        Harness {
            svc: ledger.services()[0].clone(),
            ledger,
            n: 0,
        }
    }

    async fn over(svc: Service<L>) -> Self {
        Harness {
            ledger: Ledger::single(svc.clone()).await,
            svc,
            n: 0,
        }
    }

    async fn try_run(&mut self, command: Command) -> Result<Receipt, CommandError> {
        self.n += 1;
        self.ledger
            .execute(RequestId::new(format!("req-{}", self.n)).unwrap(), command)
            .await
    }

    async fn run(&mut self, command: Command) -> Receipt {
        let c = format!("{command:?}");
        self.try_run(command)
            .await
            .unwrap_or_else(|e| panic!("{e} for {c}"))
    }

    async fn reject(&mut self, command: Command) -> Rejection {
        match self.try_run(command).await {
            Err(CommandError::Rejected(r)) => r,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    async fn wallet(&self, household: &str) -> Amount {
        self.svc
            .state()
            .await
            .projections
            .wallet(&id(household))
            .unwrap()
    }

    async fn trial_balance_is_zero(&self) {
        let state = self.svc.state().await;
        let b = &state.projections.balances;
        for c in b.currencies() {
            assert_eq!(b.trial_balance(c), 0, "{c}");
        }
    }

    async fn claim(
        &mut self,
        member: &str,
        facility: &str,
        code: &str,
        date: &str,
        lines: &[(LineKind, &str, u32)],
    ) -> ClaimId {
        let receipt = self
            .run(submit_claim(member, facility, code, date, lines))
            .await;
        match receipt.subject {
            Subject::Claim(c) => c,
            other => panic!("no claim: {other:?}"),
        }
    }
}

/// A claim of `lines` (kind, code, quantity) at `facility` on `date`, submitted that day.
fn submit_claim(
    member: &str,
    facility: &str,
    code: &str,
    date: &str,
    lines: &[(LineKind, &str, u32)],
) -> Command {
    Command::SubmitClaim {
        claim_code: id(code),
        facility_id: id(facility),
        member_id: id(member),
        date_from: d(date),
        date_to: None,
        claim_date: d(date),
        diagnosis_codes: vec![],
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, (kind, code, q))| ClaimLine {
                line_no: i as u32 + 1,
                kind: *kind,
                code: id(code),
                quantity: *q,
                asked_unit_price: None,
            })
            .collect(),
        today: d(date),
        today_given: true,
    }
}

/// The adjudicator's decision on a claim, as recorded: the projections say where it is in
/// the log, queries read it from there.
async fn decision_of<L: EventLog>(svc: &Service<L>, claim: &ClaimId) -> ClaimAdjudicated {
    detail_of(svc, claim).await.decision.unwrap()
}

/// A claim in full, as queries show it.
async fn detail_of<L: EventLog>(svc: &Service<L>, claim: &ClaimId) -> ClaimDetail {
    let record = svc
        .read()
        .await
        .unwrap()
        .projections
        .claims
        .get(claim)
        .cloned();
    history::detail(svc.log(), record.unwrap()).await.unwrap()
}

fn publish(doc: &str) -> Command {
    Command::PublishScheme {
        document: doc.to_owned(),
        effective_from: d("2026-01-01"),
    }
}

fn household(hh: &str, scheme: &str, category: &str) -> Command {
    Command::RegisterHousehold {
        household_id: id(hh),
        scheme_id: id(scheme),
        location_code: "LOC-1".into(),
        socio_economic_category: category.into(),
        registered_on: d("2026-01-02"),
    }
}

fn member(m: &str, hh: &str, gender: Gender, birth: &str, facility: Option<&str>) -> Command {
    Command::EnrollMember {
        member_id: id(m),
        household_id: id(hh),
        gender,
        birth_date: d(birth),
        is_head: false,
        facility_id: facility.map(id),
        enrolled_on: d("2026-01-02"),
    }
}

fn contribution(receipt: &str, hh: &str, amount: &str, on: &str) -> Command {
    Command::RecordContribution {
        receipt_id: id(receipt),
        household_id: id(hh),
        member_id: None,
        amount: a(amount),
        channel: PaymentChannel::MobileMoney,
        received_on: d(on),
    }
}

fn premium(
    receipt: &str,
    hh: &str,
    product: &str,
    amount: &str,
    source: PremiumSource,
    on: &str,
) -> Command {
    Command::PayPremium {
        period_start: None,
        receipt_id: id(receipt),
        household_id: id(hh),
        product_id: id(product),
        amount: a(amount),
        source,
        paid_on: d(on),
    }
}

fn close(period: &str, scheme: &str, from: &str, to: &str) -> Command {
    Command::ClosePaymentPeriod {
        period_id: id(period),
        scheme_id: id(scheme),
        starts_on: d(from),
        ends_on: d(to),
        closed_on: d(to),
    }
}

fn svc(l: LineKind, c: &'static str, q: u32) -> (LineKind, &'static str, u32) {
    (l, c, q)
}

#[tokio::test]
async fn ipush_wallet_sponsor_match_premium_claim_copay_statement() {
    let mut h = Harness::new(MemoryLog::in_memory()).await;
    h.run(publish(examples::IPUSH_KE)).await;
    h.run(household("HH-K1", "ipush-ke", "")).await;
    h.run(member("M-K1", "HH-K1", Gender::Female, "1996-03-14", None))
        .await;

    // 500 saved: the county matches 100% (cap 3,000 a year), the donor 50%: 1,250 in the wallet.
    let r = h
        .run(contribution("MPESA-1", "HH-K1", "500 KES", "2026-02-01"))
        .await;
    assert_eq!(
        r.count, 3,
        "the contribution and two sponsor matches, one append"
    );
    assert_eq!(h.wallet("HH-K1").await, a("1250 KES"));

    // The household premium is 6,000: not enough in the wallet yet.
    let nhif = premium(
        "P-1",
        "HH-K1",
        "NHIF-SUPA",
        "6000 KES",
        PremiumSource::Wallet,
        "2026-02-10",
    );
    let no = h.reject(nhif.clone()).await;
    assert!(matches!(no, Rejection::InsufficientWallet { .. }), "{no}");

    // 1,000 more: county +1,000, donor +500 -> 3,750. 1,500 more: the county has 1,500 of its
    // cap left -> +1,500, donor +750 -> 7,500.
    h.run(contribution("MPESA-2", "HH-K1", "1000 KES", "2026-02-05"))
        .await;
    assert_eq!(h.wallet("HH-K1").await, a("3750 KES"));
    h.run(contribution("MPESA-3", "HH-K1", "1500 KES", "2026-02-06"))
        .await;
    assert_eq!(h.wallet("HH-K1").await, a("7500 KES"));
    // The county's cap is used up: another 100 gets only the donor's 50.
    h.run(contribution("MPESA-4", "HH-K1", "100 KES", "2026-02-07"))
        .await;
    assert_eq!(h.wallet("HH-K1").await, a("7650 KES"));

    // Premium from the wallet: the policy is active from the payment day for a year.
    let paid = h.run(nhif).await;
    assert_eq!(h.wallet("HH-K1").await, a("1650 KES"));
    let Subject::Policy(policy_id) = paid.subject else {
        panic!("no policy")
    };
    {
        let st = h.svc.state().await;
        let p = &st.projections.coverage.policies[&policy_id];
        assert_eq!(p.current().status, PolicyStatus::Active);
        assert_eq!(
            (p.current().effective_from, p.current().expires_on),
            (d("2026-02-10"), d("2027-02-09"))
        );
        assert_eq!(p.as_of(d("2026-02-09")), None, "no cover before payment");
    }
    // A duplicate receipt is refused.
    let dup = h
        .reject(contribution("MPESA-1", "HH-K1", "500 KES", "2026-02-11"))
        .await;
    assert_eq!(dup, Rejection::DuplicateReceipt("MPESA-1".into()));

    // Antenatal visit (1,000, covered in full) + iron/folate (350, 80%: 280 + 70 copay).
    let claim = h
        .claim(
            "M-K1",
            "KE-KSM-NYALENDA",
            "NY-001",
            "2026-03-05",
            &[
                svc(LineKind::Service, "ANC-VISIT", 1),
                svc(LineKind::Item, "FEFOL-60", 1),
            ],
        )
        .await;
    {
        let st = h.svc.state().await;
        let c = st.projections.claims.get(&claim).unwrap();
        assert_eq!(c.status, ClaimStatus::Accepted);
        assert_eq!(
            (c.total_payer, c.total_copay),
            (Some(a("1280 KES")), Some(a("70 KES")))
        );
        assert_eq!(c.category, ClaimCategory::Antenatal);
    }
    // The facility resubmits the same claim code: the same claim, nothing appended.
    let head = h.svc.log().head().next_position;
    let again = h
        .claim(
            "M-K1",
            "KE-KSM-NYALENDA",
            "NY-001",
            "2026-03-05",
            &[svc(LineKind::Service, "ANC-VISIT", 1)],
        )
        .await;
    assert_eq!(again, claim);
    assert_eq!(h.svc.log().head().next_position, head);

    // The copay is paid from the wallet to the facility.
    h.run(Command::RecordCopay {
        receipt_id: id("MPESA-COPAY-1"),
        claim_id: claim.clone(),
        amount: a("70 KES"),
        collected_on: d("2026-03-05"),
    })
    .await;
    assert_eq!(h.wallet("HH-K1").await, a("1580 KES"));

    // Month close: Nyalenda is owed 1,280 (claim) + 70 (copay) = 1,350.
    h.run(close("2026-03", "ipush-ke", "2026-03-01", "2026-03-31"))
        .await;
    let statement = |st: &claims_ledger::processor::State| {
        st.projections.payments.statements[&(id("KE-KSM-NYALENDA"), id("2026-03"))].clone()
    };
    {
        let st = h.svc.state().await;
        let s = statement(&st);
        assert_eq!(s.due, a("1350 KES"));
        assert_eq!(s.line_count(), 2);
        assert_eq!(
            st.projections
                .balances
                .facility_payable(&id("KE-KSM-NYALENDA"), ledger::Currency::KES),
            a("1350 KES")
        );
        let lumumba = &st.projections.payments.statements[&(id("KE-KSM-LUMUMBA"), id("2026-03"))];
        assert_eq!(lumumba.due, a("0 KES"));
    }
    let over = h
        .reject(Command::RecordFacilityPayout {
            payout_id: id("PO-1"),
            facility_id: id("KE-KSM-NYALENDA"),
            period_id: id("2026-03"),
            amount: a("1350.01 KES"),
            channel: PaymentChannel::Bank,
            reference: "EFT".into(),
            paid_on: d("2026-04-03"),
        })
        .await;
    assert!(matches!(over, Rejection::Overpayment { .. }));
    h.run(Command::RecordFacilityPayout {
        payout_id: id("PO-1"),
        facility_id: id("KE-KSM-NYALENDA"),
        period_id: id("2026-03"),
        amount: a("1350 KES"),
        channel: PaymentChannel::Bank,
        reference: "EFT".into(),
        paid_on: d("2026-04-03"),
    })
    .await;
    {
        let st = h.svc.state().await;
        let s = statement(&st);
        assert_eq!((s.paid, s.outstanding()), (a("1350 KES"), a("0 KES")));
        assert_eq!(
            st.projections
                .balances
                .facility_payable(&id("KE-KSM-NYALENDA"), ledger::Currency::KES),
            a("0 KES")
        );
        // Sponsor funding: county 3,000, donor 1,550.
        let b = &st.projections.balances;
        assert_eq!(
            b.balance(
                &Account::SponsorFunding(id("kisumu-county")),
                ledger::Currency::KES
            ),
            a("3000 KES")
        );
        assert_eq!(
            b.balance(
                &Account::SponsorFunding(id("phi-donor")),
                ledger::Currency::KES
            ),
            a("1550 KES")
        );
        // As of a date: before the premium, the wallet held 7,650.
        let wallet = Account::Wallet(id("HH-K1"));
        assert_eq!(
            b.balance_on(&wallet, ledger::Currency::KES, d("2026-02-09")),
            a("-7650 KES")
        );
    }
    h.trial_balance_is_zero().await;
}

#[tokio::test]
async fn pesinet_child_subscription_with_half_medication() {
    let mut h = Harness::new(MemoryLog::in_memory()).await;
    h.run(publish(examples::PESINET_ML)).await;
    h.run(household("HH-M1", "pesinet-ml", "")).await;
    h.run(member(
        "C-1",
        "HH-M1",
        Gender::Male,
        "2022-05-01",
        Some("CSCOM-BKO-BANCONI"),
    ))
    .await;
    h.run(member(
        "C-2",
        "HH-M1",
        Gender::Female,
        "2024-02-10",
        Some("CSCOM-BKO-BANCONI"),
    ))
    .await;
    // 500 XOF per child per month, two children: 1,000, paid directly.
    let too_much = h
        .reject(premium(
            "OM-1",
            "HH-M1",
            "PESINET-CHILD",
            "1001 XOF",
            PremiumSource::Direct,
            "2026-07-01",
        ))
        .await;
    assert!(
        matches!(too_much, Rejection::Overpayment { .. }),
        "{too_much}"
    );
    h.run(premium(
        "OM-1",
        "HH-M1",
        "PESINET-CHILD",
        "1000 XOF",
        PremiumSource::Direct,
        "2026-07-01",
    ))
    .await;
    // Examination 1,500 in full; antimalarial 901 at 50%: 450 (half-even of 450.5) + 451.
    let claim = h
        .claim(
            "C-1",
            "CSCOM-BKO-BANCONI",
            "BAN-1",
            "2026-07-15",
            &[
                svc(LineKind::Service, "EXAM-CHILD", 1),
                svc(LineKind::Item, "ACT-PAED", 1),
            ],
        )
        .await;
    {
        let st = h.svc.state().await;
        let c = st.projections.claims.get(&claim).unwrap();
        assert_eq!(
            (c.total_payer, c.total_copay),
            (Some(a("1950 XOF")), Some(a("451 XOF")))
        );
    }
    // The month of cover ends on the 31st: a claim on 2 August has no cover...
    let late = h
        .claim(
            "C-2",
            "CSCOM-BKO-BANCONI",
            "BAN-2",
            "2026-08-02",
            &[svc(LineKind::Service, "EXAM-CHILD", 1)],
        )
        .await;
    assert_eq!(
        h.svc
            .state()
            .await
            .projections
            .claims
            .get(&late)
            .unwrap()
            .status,
        ClaimStatus::Rejected
    );
    assert_eq!(decision_of(&h.svc, &late).await.reason_code, 21);
    // ...until the next month is paid (a renewal: no registration fee, no waiting).
    let renewal = h
        .run(premium(
            "OM-2",
            "HH-M1",
            "PESINET-CHILD",
            "1000 XOF",
            PremiumSource::Direct,
            "2026-08-03",
        ))
        .await;
    let Subject::Policy(p2) = renewal.subject else {
        panic!()
    };
    {
        let st = h.svc.state().await;
        let p = &st.projections.coverage.policies[&p2];
        assert!(p.renewal);
        assert_eq!(
            (p.current().effective_from, p.current().expires_on),
            (d("2026-08-03"), d("2026-09-02"))
        );
    }
    let ok = h
        .claim(
            "C-2",
            "CSCOM-BKO-BANCONI",
            "BAN-3",
            "2026-08-04",
            &[svc(LineKind::Service, "EXAM-CHILD", 1)],
        )
        .await;
    assert_eq!(
        h.svc
            .state()
            .await
            .projections
            .claims
            .get(&ok)
            .unwrap()
            .status,
        ClaimStatus::Accepted
    );
    h.run(close("2026-08", "pesinet-ml", "2026-07-01", "2026-08-31"))
        .await;
    {
        let st = h.svc.state().await;
        let s = &st.projections.payments.statements[&(id("CSCOM-BKO-BANCONI"), id("2026-08"))];
        assert_eq!(s.due, a("3450 XOF"), "1,950 + 1,500");
        let income = st.projections.balances.balance(
            &Account::PremiumIncome(id("PESINET-CHILD")),
            ledger::Currency::XOF,
        );
        assert_eq!(income, a("-2000 XOF"));
    }
    h.trial_balance_is_zero().await;
}

#[tokio::test]
async fn cbhi_premium_in_instalments_then_waiting_period() {
    let mut h = Harness::new(MemoryLog::in_memory()).await;
    h.run(publish(examples::CBHI_RW)).await;
    h.run(household("HH-R1", "cbhi-rw", "3")).await;
    for (m, g) in [
        ("R-1", Gender::Female),
        ("R-2", Gender::Male),
        ("R-3", Gender::Female),
        ("R-4", Gender::Male),
    ] {
        h.run(member(m, "HH-R1", g, "1985-01-01", None)).await;
    }
    // Category 3: 3,000 per member, 4 members: 12,000, in three instalments.
    let first = h
        .run(premium(
            "MM-1",
            "HH-R1",
            "CBHI-2026",
            "5000 RWF",
            PremiumSource::Direct,
            "2026-07-05",
        ))
        .await;
    let Subject::Policy(policy) = first.subject else {
        panic!()
    };
    h.run(premium(
        "MM-2",
        "HH-R1",
        "CBHI-2026",
        "5000 RWF",
        PremiumSource::Direct,
        "2026-07-20",
    ))
    .await;
    {
        let st = h.svc.state().await;
        let p = &st.projections.coverage.policies[&policy];
        assert_eq!(
            (p.current().status, p.outstanding()),
            (PolicyStatus::Idle, a("2000 RWF"))
        );
    }
    let idle_claim = h
        .claim(
            "R-1",
            "RW-HC-KIMIRONKO",
            "K-1",
            "2026-07-22",
            &[svc(LineKind::Service, "HC-CONSULT", 1)],
        )
        .await;
    let reason = |h: &Harness<MemoryLog>, c: &ClaimId| {
        let c = c.clone();
        let svc = h.svc.clone();
        async move { decision_of(&svc, &c).await.lines[0].reason_code }
    };
    assert_eq!(reason(&h, &idle_claim).await, 21, "idle: no cover");
    // The last 2,000 completes it on the 25th; no grace period, so cover starts that day.
    h.run(premium(
        "MM-3",
        "HH-R1",
        "CBHI-2026",
        "2000 RWF",
        PremiumSource::Direct,
        "2026-07-25",
    ))
    .await;
    {
        let st = h.svc.state().await;
        let p = &st.projections.coverage.policies[&policy];
        assert_eq!(p.current().status, PolicyStatus::Active);
        assert_eq!(
            (p.current().effective_from, p.current().expires_on),
            (d("2026-07-25"), d("2027-07-04"))
        );
        assert_eq!(p.as_of(d("2026-07-21")).unwrap().status, PolicyStatus::Idle);
    }
    // New policy: one month of waiting from the effective date (openIMIS R17: 25 July -> 25
    // August), not from the period start on 5 July.
    let waiting = h
        .claim(
            "R-2",
            "RW-HC-KIMIRONKO",
            "K-2",
            "2026-08-24",
            &[svc(LineKind::Service, "HC-CONSULT", 1)],
        )
        .await;
    assert_eq!(reason(&h, &waiting).await, 17);
    let paid = h
        .claim(
            "R-2",
            "RW-HC-KIMIRONKO",
            "K-3",
            "2026-08-25",
            &[svc(LineKind::Service, "HC-CONSULT", 1)],
        )
        .await;
    // 90% of 2,005, rounded half up: 1,805.
    assert_eq!(
        h.svc
            .state()
            .await
            .projections
            .claims
            .get(&paid)
            .unwrap()
            .total_payer,
        Some(a("1805 RWF"))
    );
    h.trial_balance_is_zero().await;
}

#[tokio::test]
async fn informed_push_model_pays_for_consumption_and_suggests_top_ups() {
    let mut h = Harness::new(MemoryLog::in_memory()).await;
    h.run(publish(examples::IPM_SN)).await;
    let visit = |date: &str, found: u64, losses: u64, delivered: u64| Command::RecordStockVisit {
        facility_id: id("SN-PS-THIAROYE"),
        product_code: id("DMPA-SC"),
        visited_on: d(date),
        stock_found: found,
        losses,
        delivered,
        // The price list's 250 XOF (a given price must be it).
        unit_price: found.is_multiple_of(2).then(|| a("250 XOF")),
    };
    // January: 20 found, 30 delivered -> 50 on the shelf.
    h.run(visit("2026-01-05", 20, 0, 30)).await;
    // February: 10 found, 2 lost -> 50 - 2 - 10 = 38 consumed (9,500 XOF); 40 delivered -> 50.
    h.run(visit("2026-02-05", 10, 2, 40)).await;
    // March: 12 found -> 38 consumed again; 40 delivered -> 52.
    h.run(visit("2026-03-05", 12, 0, 40)).await;
    {
        let st = h.svc.state().await;
        let stock = &st.projections.payments.stock[&(id("SN-PS-THIAROYE"), id("DMPA-SC"))];
        assert_eq!(stock.average_consumption(), Some(38));
        // Three months of stock (the scheme's): 3 x 38 - 12 found = 102.
        let months = st
            .projections
            .months_of_stock(&id("SN-PS-THIAROYE"), &id("DMPA-SC"));
        assert_eq!(months, 3);
        assert_eq!(stock.suggested_top_up(months), 102);
    }
    // April: a stockout (nothing found): 52 consumed, but the month is left out of the average.
    h.run(visit("2026-04-05", 0, 0, 80)).await;
    {
        let st = h.svc.state().await;
        let stock = &st.projections.payments.stock[&(id("SN-PS-THIAROYE"), id("DMPA-SC"))];
        assert_eq!(stock.average_consumption(), Some(38));
        assert_eq!(stock.suggested_top_up(3), 114);
    }
    h.run(close("2026-Q1", "ipm-sn", "2026-01-01", "2026-03-31"))
        .await;
    {
        let st = h.svc.state().await;
        let s = &st.projections.payments.statements[&(id("SN-PS-THIAROYE"), id("2026-Q1"))];
        assert_eq!(s.method, PaymentMethod::Consumption);
        let lines = history::statement_lines(h.svc.log(), s, 0, usize::MAX)
            .await
            .unwrap();
        assert_eq!(
            lines.iter().map(|l| l.quantity).collect::<Vec<_>>(),
            vec![38, 38]
        );
        assert_eq!(s.due, a("19000 XOF"));
    }
    h.run(close("2026-04", "ipm-sn", "2026-04-01", "2026-04-30"))
        .await;
    assert_eq!(
        h.svc.state().await.projections.payments.statements[&(id("SN-PS-THIAROYE"), id("2026-04"))]
            .due,
        a("13000 XOF"),
        "52 x 250"
    );
    h.trial_balance_is_zero().await;
}

/// An openIMIS (Tanzania) household of girls born in 2015, registered at the Mvomero
/// dispensary, with its CHF-BASIC premium paid on 10 January: lump sum 30,000 (up to 6
/// members) + 2,000 registration for a new policy.
async fn openimis_household<L: EventLog>(h: &mut Harness<L>, members: &[&str]) {
    h.run(publish(examples::OPENIMIS_TZ)).await;
    h.run(household("HH-T1", "openimis-tz", "")).await;
    for m in members {
        h.run(member(
            m,
            "HH-T1",
            Gender::Female,
            "2015-01-01",
            Some("TZ-DISP-MVOMERO"),
        ))
        .await;
    }
    h.run(premium(
        "TZ-P1",
        "HH-T1",
        "CHF-BASIC",
        "32000 TZS",
        PremiumSource::Direct,
        "2026-01-10",
    ))
    .await;
}

#[tokio::test]
async fn openimis_capitation_review_and_reversal() {
    let mut h = Harness::new(MemoryLog::in_memory()).await;
    openimis_household(&mut h, &["T-1", "T-2", "T-3"]).await;
    // Children wait one month: a claim on 15 February is paid.
    let claim = h
        .claim(
            "T-1",
            "TZ-HOSP-MOROGORO",
            "MOR-1",
            "2026-02-15",
            &[
                svc(LineKind::Service, "XRAY-CHEST", 1),
                svc(LineKind::Item, "AMOX-500", 20),
            ],
        )
        .await;
    // X-ray 25,000 x 75% = 18,750; amoxicillin 20 x 200 = 4,000 x 90% = 3,600.
    assert_eq!(
        h.svc
            .state()
            .await
            .projections
            .claims
            .get(&claim)
            .unwrap()
            .total_payer,
        Some(a("22350 TZS"))
    );
    // The reviewer cuts amoxicillin to 10 (payer 1,800) and rejects the X-ray.
    h.run(Command::ReviewClaim {
        claim_id: claim.clone(),
        reviewer: "MO-7".into(),
        reviewed_on: d("2026-02-20"),
        changes: vec![
            LineReview {
                line_no: 1,
                approved_quantity: None,
                unit_price: None,
                reject: true,
            },
            LineReview {
                line_no: 2,
                approved_quantity: Some(10),
                unit_price: None,
                reject: false,
            },
        ],
        comment: "no indication for the X-ray".into(),
    })
    .await;
    {
        let st = h.svc.state().await;
        let c = st.projections.claims.get(&claim).unwrap();
        assert_eq!(
            (c.status, c.total_payer),
            (ClaimStatus::Partial, Some(a("1800 TZS")))
        );
        assert_eq!(c.lines_in_force()[0].reason_code, -1);
        // Usage follows the review: 10 amoxicillin used, not 20.
        let usage = st
            .projections
            .coverage
            .member_usage
            .values()
            .next()
            .unwrap();
        assert_eq!(usage.quantities[&id::<Code>("AMOX-500")], 10);
        assert_eq!(
            st.projections
                .balances
                .facility_payable(&id("TZ-HOSP-MOROGORO"), ledger::Currency::TZS),
            a("1800 TZS")
        );
    }
    // Read back in full, each line keeps the decision's findings and adds the review's.
    let decided = decision_of(&h.svc, &claim).await;
    let shown = detail_of(&h.svc, &claim).await;
    assert_eq!(shown.reviews.len(), 1);
    for (line, decided) in shown.lines.iter().zip(&decided.lines) {
        assert!(!decided.findings.is_empty());
        assert_eq!(
            line.findings[..decided.findings.len()],
            decided.findings[..]
        );
        assert_eq!(
            line.findings[decided.findings.len()..],
            ["reviewed by MO-7"]
        );
    }
    assert_eq!(
        (shown.lines[0].reason_code, shown.lines[1].approved_quantity),
        (-1, 10)
    );
    // Reviewing a line up is refused.
    let up = h
        .reject(Command::ReviewClaim {
            claim_id: claim.clone(),
            reviewer: "MO-7".into(),
            reviewed_on: d("2026-02-21"),
            changes: vec![LineReview {
                line_no: 2,
                approved_quantity: Some(30),
                unit_price: None,
                reject: false,
            }],
            comment: String::new(),
        })
        .await;
    assert!(
        matches!(up, Rejection::InvalidReview { index: 0, .. }),
        "{up}"
    );
    // Reversed: nothing is owed, usage returns.
    h.run(Command::ReverseClaim {
        claim_id: claim.clone(),
        reason: "entered twice".into(),
        reversed_on: d("2026-02-22"),
    })
    .await;
    {
        let st = h.svc.state().await;
        assert_eq!(
            st.projections.claims.get(&claim).unwrap().status,
            ClaimStatus::Reversed
        );
        assert_eq!(
            st.projections
                .balances
                .facility_payable(&id("TZ-HOSP-MOROGORO"), ledger::Currency::TZS),
            a("0 TZS")
        );
        let usage = st
            .projections
            .coverage
            .member_usage
            .values()
            .next()
            .unwrap();
        assert_eq!(usage.quantities[&id::<Code>("AMOX-500")], 0);
        assert_eq!(usage.counts, [0; 6]);
    }
    let twice = h
        .reject(Command::ReverseClaim {
            claim_id: claim.clone(),
            reason: "again".into(),
            reversed_on: d("2026-02-23"),
        })
        .await;
    assert!(matches!(twice, Rejection::ClaimState { .. }));
    // Capitation at the dispensary: 3 registered members x 800 x 2 months = 4,800.
    h.run(close("2026-JF", "openimis-tz", "2026-01-01", "2026-02-28"))
        .await;
    {
        let st = h.svc.state().await;
        let s = &st.projections.payments.statements[&(id("TZ-DISP-MVOMERO"), id("2026-JF"))];
        assert_eq!(
            (s.method, s.due),
            (PaymentMethod::Capitation, a("4800 TZS"))
        );
        // The hospital's claim was accrued then reversed: net zero on the statement.
        let hosp = &st.projections.payments.statements[&(id("TZ-HOSP-MOROGORO"), id("2026-JF"))];
        assert_eq!(hosp.due, a("0 TZS"));
    }
    h.trial_balance_is_zero().await;
}

/// An iPUSH household with one member who saved 3,000 KES; the contribution's receipt.
async fn saver<L: EventLog>(h: &mut Harness<L>) -> Receipt {
    h.run(publish(examples::IPUSH_KE)).await;
    h.run(household("HH-K1", "ipush-ke", "")).await;
    h.run(member("M-K1", "HH-K1", Gender::Female, "1996-03-14", None))
        .await;
    h.run(contribution("MPESA-1", "HH-K1", "3000 KES", "2026-02-01"))
        .await
}

/// The saver's household premium, paid from the wallet.
fn savers_premium() -> Command {
    premium(
        "P-1",
        "HH-K1",
        "NHIF-SUPA",
        "6000 KES",
        PremiumSource::Wallet,
        "2026-02-10",
    )
}

/// The saver's antenatal visit.
fn savers_claim() -> Command {
    submit_claim(
        "M-K1",
        "KE-KSM-NYALENDA",
        "NY-1",
        "2026-03-05",
        &[svc(LineKind::Service, "ANC-VISIT", 1)],
    )
}

/// The saver pays the household premium from the wallet and has an antenatal visit: the two
/// receipts.
async fn insured_with_a_claim<L: EventLog>(h: &mut Harness<L>) -> (Receipt, Receipt) {
    (h.run(savers_premium()).await, h.run(savers_claim()).await)
}

/// Stops the service and the log on `path`, and opens the log again (a restart).
async fn reopen(h: Harness<FileLog>, log: FileLog, path: &std::path::Path) -> FileLog {
    h.svc.shutdown().await;
    drop(h);
    log.shutdown().await.unwrap();
    drop(log);
    FileLog::open(path).unwrap()
}

/// Retries get the first receipt (what the request concerns included) and change nothing,
/// live and after a restart, when no receipt is kept in memory: the log's request index
/// answers. Rebuilds and restarts give the same state.
#[tokio::test]
async fn retries_rebuilds_and_restarts_give_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = FileLog::open(&path).unwrap();
    let mut h = Harness::new(log.clone()).await;
    let saved = saver(&mut h).await;
    let (paid, claimed) = insured_with_a_claim(&mut h).await;
    assert!(matches!(paid.subject, Subject::Policy(_)));
    assert!(matches!(claimed.subject, Subject::Claim(_)));
    let live = h.svc.state().await.projections.digests();
    let retries = [
        (
            "req-4",
            contribution("MPESA-1", "HH-K1", "3000 KES", "2026-02-01"),
            saved,
        ),
        ("req-5", savers_premium(), paid),
        ("req-6", savers_claim(), claimed),
    ];
    async fn retry_all<L: EventLog>(svc: &Service<L>, retries: &[(&str, Command, Receipt)]) {
        for (request, command, first) in retries {
            let again = svc
                .execute(RequestId::new(*request).unwrap(), command.clone())
                .await
                .unwrap();
            let expected = Receipt {
                already_done: true,
                ..first.clone()
            };
            assert_eq!(again, expected, "{request}");
        }
        // The same ids with another body, or for another command, are refused: never
        // answered with the first command's receipt.
        let others = [
            contribution("MPESA-1", "HH-K1", "9999 KES", "2026-02-01"),
            savers_claim(),
            close("2026-03", "ipush-ke", "2026-03-01", "2026-03-31"),
        ];
        for ((request, command, _), other) in retries.iter().zip(others.iter().cycle().skip(1)) {
            for other in [other, &others[0]] {
                if other == command {
                    continue;
                }
                let refused = svc
                    .execute(RequestId::new(*request).unwrap(), other.clone())
                    .await
                    .unwrap_err();
                assert_eq!(
                    refused,
                    CommandError::Rejected(Rejection::RequestIdReused(
                        RequestId::new(*request).unwrap()
                    )),
                    "{request}"
                );
            }
        }
    }

    // Retries of earlier requests: the first answers, nothing appended, nothing changed.
    let head = log.head().next_position;
    retry_all(&h.svc, &retries).await;
    assert_eq!(log.head().next_position, head);
    assert_eq!(h.svc.state().await.projections.digests(), live);

    // Rebuilt from position 0: identical.
    let rebuilt = rebuild(&log, head).await.unwrap();
    assert_eq!(rebuilt.projections.digests(), live);
    // As of an earlier position: the state before the claim differs, and matches a rebuild.
    let before_claim = rebuild(&log, head - 2).await.unwrap().projections.digests();
    assert_ne!(before_claim, live);

    // Restart on the same files: identical, and retries still answered the same.
    let log = reopen(h, log, &path).await;
    let svc = Service::start(log.clone()).await.unwrap();
    assert_eq!(svc.state().await.projections.digests(), live);
    retry_all(&svc, &retries).await;
    assert_eq!(log.head().next_position, head);
}

/// A harness over the file log at `path`, started from (and saving) `checkpoints`.
async fn checkpointed(
    path: &std::path::Path,
    checkpoints: &claims_ledger::processor::checkpoint::CheckpointStore,
) -> (FileLog, Harness<FileLog>) {
    let log = FileLog::open(path).unwrap();
    let service = Service::start_with(log.clone(), Some(checkpoints.clone()))
        .await
        .unwrap();
    (log, Harness::over(service).await)
}

#[tokio::test]
async fn checkpoints_start_from_the_tail_and_are_ignored_when_they_do_not_match() {
    use claims_ledger::processor::checkpoint::CheckpointStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let checkpoints = CheckpointStore::open(dir.path().join("checkpoints")).unwrap();
    let (log, mut h) = checkpointed(&path, &checkpoints).await;
    saver(&mut h).await;
    assert!(h.svc.checkpoint().await.unwrap().unwrap() > 0);
    let at = log.head().next_position;
    // More events after the checkpoint: a restart replays only these.
    insured_with_a_claim(&mut h).await;
    let live = h.svc.state().await.projections.digests();
    // Shutdown saves a checkpoint at the head; put back the earlier one to test the tail.
    let earlier = checkpoints.load().unwrap().unwrap();
    let end = log.head().next_position;
    h.svc.shutdown().await;
    drop(h);
    log.shutdown().await.unwrap();
    drop(log);
    assert_eq!(
        checkpoints.load().unwrap().unwrap().position,
        end,
        "saved at shutdown"
    );
    assert!(end > at);
    checkpoints.save(&earlier.state, earlier.hash).unwrap();

    // Mark the checkpoint (same position and hash), to see that a restart starts from it.
    let mut cp = checkpoints.load().unwrap().unwrap();
    assert_eq!(cp.position, at);
    cp.state
        .projections
        .registry
        .schemes
        .insert(id("MARKER"), Vec::new());
    checkpoints.save(&cp.state, cp.hash).unwrap();

    let log = FileLog::open(&path).unwrap();
    let svc = Service::start_with(log.clone(), Some(checkpoints.clone()))
        .await
        .unwrap();
    {
        let st = svc.state().await;
        assert!(
            st.projections
                .registry
                .schemes
                .contains_key(&id::<SchemeId>("MARKER")),
            "started from the checkpoint"
        );
        assert_eq!(st.projections.position(), log.head().next_position);
        // Everything but the marker is what the live service had.
        let rebuilt = rebuild(&log, log.head().next_position).await.unwrap();
        assert_eq!(rebuilt.projections.digests(), live);
        assert_eq!(st.projections.digests().claims, live.claims);
        assert_eq!(st.projections.digests().balances, live.balances);
        assert_eq!(st.projections.digests().coverage, live.coverage);
    }
    svc.shutdown().await;
    drop(svc);
    log.shutdown().await.unwrap();
    drop(log);

    // A checkpoint whose hash the log does not have (another history) is ignored.
    checkpoints.save(&cp.state, [7; 32]).unwrap();
    let log = FileLog::open(&path).unwrap();
    let svc = Service::start_with(log.clone(), Some(checkpoints))
        .await
        .unwrap();
    let st = svc.state().await;
    assert!(
        !st.projections
            .registry
            .schemes
            .contains_key(&id::<SchemeId>("MARKER"))
    );
    assert_eq!(st.projections.digests(), live);
}

/// The writer checkpoints on its own when one is due, from a copy of its state encoded and
/// stored in the background, and a restart starts from the latest.
#[tokio::test]
async fn the_writer_checkpoints_on_its_own_from_a_copy_of_its_state() {
    use claims_ledger::processor::checkpoint::CheckpointStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let checkpoints = CheckpointStore::open(dir.path().join("checkpoints"))
        .unwrap()
        .every(3);
    let (log, mut h) = checkpointed(&path, &checkpoints).await;
    saver(&mut h).await;
    insured_with_a_claim(&mut h).await;
    let live = h.svc.state().await.projections.digests();
    // Shutdown waits for the checkpoint in the background, then saves one at the head.
    h.svc.shutdown().await;
    drop(h);
    assert!(checkpoints.saved() >= 2, "{} saved", checkpoints.saved());
    assert_eq!(
        checkpoints.load().unwrap().unwrap().position,
        log.head().next_position
    );
    log.shutdown().await.unwrap();
    drop(log);
    let log = FileLog::open(&path).unwrap();
    let svc = Service::start_with(log.clone(), Some(checkpoints))
        .await
        .unwrap();
    assert_eq!(svc.state().await.projections.digests(), live);
}

/// A receipt id is taken once, though no receipt id is held in memory: commands racing with
/// one id (decided in one batch, or in batches still in flight) append exactly one, and after
/// a restart from a checkpoint the log's index still refuses it.
#[tokio::test]
async fn a_receipt_id_is_taken_once_in_a_batch_and_after_a_restart() {
    use claims_ledger::processor::checkpoint::CheckpointStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let checkpoints = CheckpointStore::open(dir.path().join("checkpoints")).unwrap();
    let (log, mut h) = checkpointed(&path, &checkpoints).await;
    saver(&mut h).await;
    let (head, wallet) = (log.head().next_position, h.wallet("HH-K1").await);
    let racing: Vec<_> = (0..32)
        .map(|i| {
            let ledger = h.ledger.clone();
            let command = contribution("MPESA-2", "HH-K1", "100 KES", "2026-02-02");
            tokio::spawn(async move {
                let request = RequestId::new(format!("race-{i}")).unwrap();
                ledger.execute(request, command).await
            })
        })
        .collect();
    let mut taken = Vec::new();
    for answer in racing {
        match answer.await.unwrap() {
            Ok(receipt) => taken.push(receipt),
            Err(e) => assert_eq!(
                e,
                CommandError::Rejected(Rejection::DuplicateReceipt("MPESA-2".into()))
            ),
        }
    }
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(log.head().next_position, head + u64::from(taken[0].count));
    let wallet = h.wallet("HH-K1").await.checked_sub(wallet).unwrap();
    assert!(wallet.minor_units() >= 10_000, "{wallet}");
    let log = reopen(h, log, &path).await;
    let service = Service::start_with(log.clone(), Some(checkpoints))
        .await
        .unwrap();
    let mut h = Harness::over(service).await;
    h.n = 100; // request ids not used before the restart
    for receipt in ["MPESA-1", "MPESA-2"] {
        let again = h
            .reject(contribution(receipt, "HH-K1", "5 KES", "2026-02-03"))
            .await;
        assert_eq!(again, Rejection::DuplicateReceipt(receipt.into()));
    }
    let fresh = h
        .run(contribution("MPESA-3", "HH-K1", "5 KES", "2026-02-03"))
        .await;
    assert!(!fresh.already_done && fresh.count >= 1);
}

/// The duplicate and frequency checks see the member's earlier claims through the claims
/// index (same code, within the code's frequency): antenatal visits are limited to one per 28
/// days (reason 5 within it, passed on day 28 in either direction); an outpatient visit in
/// between does not count; a second claim code for the same visit on the same day is a
/// duplicate.
#[tokio::test]
async fn frequency_and_duplicates_come_from_the_members_earlier_claims() {
    let mut h = Harness::new(MemoryLog::in_memory()).await;
    saver(&mut h).await;
    insured_with_a_claim(&mut h).await; // ANC-VISIT on 2026-03-05
    let decision = |h: &Harness<MemoryLog>, c: ClaimId| {
        let svc = h.svc.clone();
        async move {
            let d = decision_of(&svc, &c).await;
            (d.status, d.lines[0].reason_code)
        }
    };
    let anc = [svc(LineKind::Service, "ANC-VISIT", 1)];
    let opd = [svc(LineKind::Service, "OPD-VISIT", 1)];
    let too_soon = h
        .claim("M-K1", "KE-KSM-NYALENDA", "NY-2", "2026-04-01", &anc)
        .await;
    assert_eq!(decision(&h, too_soon).await, (DecisionStatus::Rejected, 5));
    let earlier_too_soon = h
        .claim("M-K1", "KE-KSM-NYALENDA", "NY-3", "2026-02-12", &anc)
        .await;
    assert_eq!(
        decision(&h, earlier_too_soon).await,
        (DecisionStatus::Rejected, 5)
    );
    let other_code = h
        .claim("M-K1", "KE-KSM-NYALENDA", "NY-4", "2026-03-20", &opd)
        .await;
    assert_eq!(decision(&h, other_code).await.0, DecisionStatus::Accepted);
    let on_day_28 = h
        .claim("M-K1", "KE-KSM-NYALENDA", "NY-5", "2026-04-02", &anc)
        .await;
    assert_eq!(decision(&h, on_day_28).await.0, DecisionStatus::Accepted);
    let again = h
        .claim("M-K1", "KE-KSM-NYALENDA", "NY-6", "2026-03-20", &opd)
        .await;
    let (status, code) = decision(&h, again).await;
    assert_eq!(status, DecisionStatus::Rejected);
    assert_eq!(code, adjudicator::reason::DUPLICATE);
}

/// Item quantity limits count what the member's earlier claims in the period were approved
/// for, item by item (openIMIS: amoxicillin at most 40, artemether-lumefantrine at most 24).
#[tokio::test]
async fn quantity_limits_count_the_members_earlier_claims_item_by_item() {
    let mut h = Harness::new(MemoryLog::in_memory()).await;
    openimis_household(&mut h, &["T-1"]).await;
    let lines = |h: &Harness<MemoryLog>, c: ClaimId| {
        let svc = h.svc.clone();
        async move {
            let d = decision_of(&svc, &c).await;
            d.lines
                .iter()
                .map(|l| (l.status, l.approved_quantity))
                .collect::<Vec<_>>()
        }
    };
    let first = h
        .claim(
            "T-1",
            "TZ-DISP-MVOMERO",
            "MV-1",
            "2026-02-15",
            &[svc(LineKind::Item, "AMOX-500", 30)],
        )
        .await;
    assert_eq!(lines(&h, first).await, [(DecisionStatus::Accepted, 30)]);
    // 10 amoxicillin left; the other item's limit is untouched by the amoxicillin used.
    let second = h
        .claim(
            "T-1",
            "TZ-DISP-MVOMERO",
            "MV-2",
            "2026-02-16",
            &[
                svc(LineKind::Item, "ALU-20-120", 24),
                svc(LineKind::Item, "AMOX-500", 20),
            ],
        )
        .await;
    assert_eq!(
        lines(&h, second).await,
        [
            (DecisionStatus::Accepted, 24),
            (DecisionStatus::Partial, 10)
        ]
    );
    let third = h
        .claim(
            "T-1",
            "TZ-DISP-MVOMERO",
            "MV-3",
            "2026-02-17",
            &[svc(LineKind::Item, "AMOX-500", 5)],
        )
        .await;
    let decision = decision_of(&h.svc, &third).await;
    assert_eq!(decision.status, DecisionStatus::Rejected);
    assert_eq!(decision.lines[0].reason_code, adjudicator::reason::QUANTITY);
}

/// If the log takes a batch somewhere else than the projections expect (here: another writer
/// appended behind the service's back), the projections hold events the log does not have at
/// those positions: the service refuses further commands and queries until a restart, which
/// rebuilds from the log.
#[tokio::test]
async fn a_diverged_service_refuses_commands_and_queries_until_restarted() {
    let log = MemoryLog::in_memory();
    let mut h = Harness::new(log.clone()).await;
    saver(&mut h).await;
    assert!(h.svc.read().await.is_ok());
    // Another writer.
    log.append(ledger::conformance::request(
        "intruder-1",
        vec![ledger::conformance::contribution("HH-X", "INTRUDER-1", 100)],
    ))
    .await
    .unwrap();
    let err = h
        .try_run(contribution("MPESA-2", "HH-K1", "500 KES", "2026-02-02"))
        .await
        .unwrap_err();
    // The writer notices: the log's head is not where its projections end.
    assert!(
        matches!(&err, CommandError::Unavailable(r) if r.contains("position")),
        "{err}"
    );
    assert!(h.svc.diverged().borrow().is_some(), "health follows this");
    match h.svc.read().await {
        Err(CommandError::Unavailable(reason)) => assert!(reason.contains("restart"), "{reason}"),
        Ok(_) => panic!("diverged projections were served"),
        Err(other) => panic!("{other}"),
    }
    assert!(matches!(
        h.try_run(contribution("MPESA-3", "HH-K1", "500 KES", "2026-02-03"))
            .await,
        Err(CommandError::Unavailable(_))
    ));
    // A restart rebuilds from the log: the saver's 3,000 (and its matches) and the intruder's
    // contribution are there; the refused command is not.
    h.svc.shutdown().await;
    let restarted = Service::start(log).await.unwrap();
    let state = restarted.read().await.unwrap();
    assert_eq!(state.projections.wallet(&id("HH-K1")), Some(a("7500 KES")));
}

/// A memory log whose `append_all` says that it started, then waits for a go-ahead: lets a
/// test look at the service while one of its batches is being committed. Once `full` is set
/// it refuses every append with a storage failure, as a log on a full disk does.
#[derive(Clone)]
struct GatedLog {
    inner: MemoryLog,
    started: tokio::sync::mpsc::UnboundedSender<()>,
    go: std::sync::Arc<tokio::sync::Semaphore>,
    full: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl GatedLog {
    fn new() -> (Self, tokio::sync::mpsc::UnboundedReceiver<()>) {
        let (started, commits) = tokio::sync::mpsc::unbounded_channel();
        let log = GatedLog {
            inner: MemoryLog::in_memory(),
            started,
            go: std::sync::Arc::new(tokio::sync::Semaphore::new(0)),
            full: Default::default(),
        };
        (log, commits)
    }
}

impl EventLog for GatedLog {
    async fn append(
        &self,
        request: ledger::AppendRequest,
    ) -> Result<ledger::AppendOutcome, ledger::AppendError> {
        self.inner.append(request).await
    }

    async fn append_all(
        &self,
        requests: Vec<ledger::AppendRequest>,
    ) -> Vec<Result<ledger::AppendOutcome, ledger::AppendError>> {
        if self.full.load(std::sync::atomic::Ordering::Acquire) {
            let full = "No space left on device (os error 28)".to_string();
            return requests
                .iter()
                .map(|_| Err(ledger::AppendError::Storage(full.clone())))
                .collect();
        }
        let _ = self.started.send(());
        self.go.acquire().await.unwrap().forget();
        self.inner.append_all(requests).await
    }

    async fn read(
        &self,
        from: u64,
        max: usize,
    ) -> Result<Vec<ledger::RecordedEvent>, ledger::LogError> {
        self.inner.read(from, max).await
    }

    fn head(&self) -> ledger::Head {
        self.inner.head()
    }

    fn limits(&self) -> ledger::Limits {
        self.inner.limits()
    }

    fn watch_head(&self) -> tokio::sync::watch::Receiver<ledger::Head> {
        self.inner.watch_head()
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<u64, ledger::LogError> {
        self.inner.stream_version(stream).await
    }

    async fn request_positions(
        &self,
        request_id: &RequestId,
    ) -> Result<Option<std::ops::Range<u64>>, ledger::LogError> {
        self.inner.request_positions(request_id).await
    }

    async fn id_position(&self, id: &ledger::UniqueId) -> Result<Option<u64>, ledger::LogError> {
        self.inner.id_position(id).await
    }

    async fn verify(&self, from: u64, to: u64) -> Result<ledger::VerifyReport, ledger::LogError> {
        self.inner.verify(from, to).await
    }
}

/// Polls a future once: is it still waiting?
fn pending<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> bool {
    let waker = std::task::Waker::noop();
    future
        .poll(&mut std::task::Context::from_waker(waker))
        .is_pending()
}

/// The writer applies a batch before the log has made it durable, and with a backlog of
/// commands decides the next batches meanwhile; queries wait for the commit instead of showing
/// what is not yet in the log, and a retry of a command still being committed is answered only
/// once it is durable.
#[tokio::test]
async fn queries_and_retries_wait_for_the_commit_of_what_they_would_see() {
    let (log, mut commits) = GatedLog::new();
    let go = log.go.clone();
    let svc = Service::start(log).await.unwrap();
    let run = |request: &str, command: Command| {
        let svc = svc.clone();
        let request = RequestId::new(request).unwrap();
        tokio::spawn(async move { svc.execute(request, command).await })
    };
    let first = run("req-1", publish(examples::IPUSH_KE));
    commits.recv().await.unwrap();
    // Applied to the projections, not yet durable.
    let applied = svc.state().await.projections.position();
    assert!(applied > 0);
    assert_eq!(svc.log().head().next_position, 0);
    {
        let mut read = std::pin::pin!(svc.read());
        assert!(pending(read.as_mut()), "a query saw an uncommitted batch");
    }
    // A retry of the command in flight, then a backlog of new commands: the writer decides
    // them while the first batch is still being committed.
    let retry = run("req-1", publish(examples::IPUSH_KE));
    let backlog: Vec<_> = (0..claims_ledger::processor::PIPELINE_BACKLOG_MIN)
        .map(|i| {
            run(
                &format!("hh-{i}"),
                household(&format!("HH-{i}"), "ipush-ke", ""),
            )
        })
        .collect();
    let decided = async {
        while svc.state().await.projections.position() == applied {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), decided)
        .await
        .expect("the writer did not decide the backlog while a commit was in flight");
    tokio::task::yield_now().await;
    assert!(
        !retry.is_finished(),
        "a retry was answered before its command was durable"
    );
    assert!(!first.is_finished());
    go.add_permits(claims_ledger::processor::PIPELINE_BACKLOG_MIN + 1);
    let first = first.await.unwrap().unwrap();
    let retry = retry.await.unwrap().unwrap();
    assert!(retry.already_done);
    assert_eq!(retry.first_position, first.first_position);
    for registered in backlog {
        registered.await.unwrap().unwrap();
    }
    let state = svc.read().await.unwrap();
    assert_eq!(state.projections.position(), svc.log().head().next_position);
    assert!(
        state
            .projections
            .registry
            .households
            .contains_key(&id("HH-0"))
    );
}

/// A checkpoint ahead of the log means the log lost acknowledged events: the start is
/// refused, naming both positions, and the checkpoint is kept as it was.
#[tokio::test]
async fn a_checkpoint_ahead_of_the_log_refuses_to_start_and_is_kept() {
    use claims_ledger::processor::StartError;
    use claims_ledger::processor::checkpoint::CheckpointStore;
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = CheckpointStore::open(dir.path().join("checkpoints")).unwrap();
    let log = MemoryLog::in_memory();
    let service = Service::start_with(log.clone(), Some(checkpoints.clone()))
        .await
        .unwrap();
    let mut h = Harness::over(service).await;
    saver(&mut h).await;
    h.svc.checkpoint().await.unwrap();
    let at = log.head().next_position;
    h.svc.shutdown().await;

    let shorter = MemoryLog::in_memory();
    match Service::start_with(shorter, Some(checkpoints.clone())).await {
        Err(StartError::Log(ledger::LogError::Shortened { head, anchored })) => {
            assert_eq!((head, anchored), (0, at));
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("started on a log shorter than its checkpoint"),
    }
    assert_eq!(checkpoints.load().unwrap().unwrap().position, at);
}

/// A full disk: the log refuses an append. The caller is told, the projections are rebuilt
/// from what is durable and queries keep being answered from it; commands are refused
/// (UNAVAILABLE) until a restart.
#[tokio::test]
async fn a_storage_failure_refuses_commands_and_keeps_serving_queries() {
    let (log, _commits) = GatedLog::new();
    log.go.add_permits(1_000);
    let mut h = Harness::new(log.clone()).await;
    saver(&mut h).await;
    let durable = h.svc.read().await.unwrap().projections.digests();
    let wallet = h.wallet("HH-K1").await;

    log.full.store(true, std::sync::atomic::Ordering::Release);
    let refused = h
        .try_run(contribution("MPESA-9", "HH-K1", "500 KES", "2026-02-09"))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, CommandError::Unavailable(r) if r.contains("No space left")),
        "{refused}"
    );
    // Queries: answered, from exactly what is durable.
    {
        let state = h.svc.read().await.unwrap();
        assert_eq!(state.projections.digests(), durable);
    }
    assert_eq!(h.wallet("HH-K1").await, wallet);
    let fault = h.svc.diverged().borrow().clone().unwrap();
    assert!(fault.reads_served, "{fault:?}");
    // Commands: refused, saying why and what brings them back.
    match h
        .try_run(contribution("MPESA-10", "HH-K1", "500 KES", "2026-02-10"))
        .await
    {
        Err(CommandError::Unavailable(reason)) => assert!(reason.contains("restart"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(log.head().next_position, durable.position);
}
