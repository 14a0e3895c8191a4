//! A period close too large for one request is issued in pages (calls of at most 1,000
//! facilities and 5,000 lines; statements in parts of at most 400 lines), never refused; a
//! claim after the close's cut goes to the next statement.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use adjudicator::examples;
use claims_ledger::api::history;
use claims_ledger::command::period_close::{CLOSE_FACILITIES_PER_CALL, CLOSE_LINES_PER_CALL};
use claims_ledger::command::{Command, Rejection};
use claims_ledger::partitioned::Ledger;
use claims_ledger::processor::{CommandError, Executed, Service, rebuild};
use ledger::event::*;
use ledger::{Amount, Date, EventLog, MemoryLog, RequestId};

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

async fn run(svc: &Ledger<MemoryLog>, request: &str, command: Command) -> Executed {
    let c = format!("{command:?}");
    svc.execute_with_events(RequestId::new(request).unwrap(), command)
        .await
        .unwrap_or_else(|e| panic!("{e} for {c}"))
}

async fn reject(svc: &Ledger<MemoryLog>, request: &str, command: Command) -> Rejection {
    match svc.execute(RequestId::new(request).unwrap(), command).await {
        Err(CommandError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// iPUSH with no household ceiling and 1,200 more fee-for-service facilities (FF-0001 ..
/// FF-1200, sorted before the two Kisumu ones).
fn big_scheme() -> String {
    let mut doc = examples::IPUSH_KE.replace("ceiling = { per_household = \"300000 KES\" }\n", "");
    for i in 1..=1200 {
        doc.push_str(&format!(
            "\n[[facilities]]\nid = \"FF-{i:04}\"\nname = \"Facility {i}\"\nlevel = \"level_2\"\n\
             care_type = \"O\"\npayment_method = \"fee_for_service\"\nprice_list = \"KISUMU-2026\"\n"
        ));
    }
    doc
}

/// Members of the household: a member's claims are checked against all its earlier ones, so
/// spreading them keeps the test quick.
const MEMBERS: u32 = 60;

/// A tetanus vaccine claim of `quantity` doses at Nyalenda on 5 March (200 KES a dose, paid
/// in full), by one of the members; the quantities differ, so no claim is another's
/// duplicate.
fn vaccine_claim(quantity: u32) -> Command {
    Command::SubmitClaim {
        claim_code: id(&format!("TT-{quantity}")),
        facility_id: id("KE-KSM-NYALENDA"),
        member_id: id(&format!("M-{}", quantity % MEMBERS)),
        date_from: d("2026-03-05"),
        date_to: None,
        claim_date: d("2026-03-05"),
        diagnosis_codes: vec![],
        lines: vec![ClaimLine {
            line_no: 1,
            kind: LineKind::Item,
            code: id("TT-VACCINE"),
            quantity,
            asked_unit_price: None,
        }],
        today: d("2026-03-05"),
        today_given: true,
    }
}

fn close() -> Command {
    Command::ClosePaymentPeriod {
        period_id: id("2026-03"),
        scheme_id: id("ipush-ke"),
        starts_on: d("2026-03-01"),
        ends_on: d("2026-03-31"),
        closed_on: d("2026-04-01"),
    }
}

fn payout(amount: &str) -> Command {
    Command::RecordFacilityPayout {
        payout_id: id("PAY-NY-03"),
        facility_id: id("KE-KSM-NYALENDA"),
        period_id: id("2026-03"),
        amount: a(amount),
        channel: PaymentChannel::Bank,
        reference: "EFT-1".into(),
        paid_on: d("2026-04-05"),
    }
}

async fn insured_member(svc: &Ledger<MemoryLog>) {
    run(
        svc,
        "publish",
        Command::PublishScheme {
            document: big_scheme(),
            effective_from: d("2026-01-01"),
        },
    )
    .await;
    run(
        svc,
        "household",
        Command::RegisterHousehold {
            household_id: id("HH-1"),
            scheme_id: id("ipush-ke"),
            location_code: "LOC-1".into(),
            socio_economic_category: String::new(),
            registered_on: d("2026-01-02"),
        },
    )
    .await;
    for m in 0..MEMBERS {
        run(
            svc,
            &format!("member-{m}"),
            Command::EnrollMember {
                member_id: id(&format!("M-{m}")),
                household_id: id("HH-1"),
                gender: Gender::Female,
                birth_date: d("1990-01-01"),
                is_head: m == 0,
                facility_id: None,
                enrolled_on: d("2026-01-02"),
            },
        )
        .await;
    }
    run(
        svc,
        "premium",
        Command::PayPremium {
            period_start: None,
            receipt_id: id("P-1"),
            household_id: id("HH-1"),
            product_id: id("NHIF-SUPA"),
            // 6,000 for six members, 500 for each of the 54 more.
            amount: a("33000 KES"),
            source: PremiumSource::Direct,
            paid_on: d("2026-01-10"),
        },
    )
    .await;
}

/// The statement parts a close call issued.
fn statement_events(executed: &Executed) -> Vec<FacilityStatementIssued> {
    executed
        .events
        .iter()
        .filter_map(|e| match e {
            Event::FacilityStatementIssued(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_large_close_is_issued_in_pages_and_a_payout_waits_for_the_whole_statement() {
    let log = MemoryLog::in_memory();
    let svc = Ledger::single(Service::start(log.clone()).await.unwrap()).await;
    insured_member(&svc).await;
    // 6,000 claims of 1..6,000 doses: 6,000 lines on Nyalenda's statement.
    // (Sent together, so they share commits.)
    let mut claims = tokio::task::JoinSet::new();
    for q in 1..=6000 {
        let svc = svc.clone();
        claims.spawn(async move { run(&svc, &format!("claim-{q}"), vaccine_claim(q)).await });
    }
    claims.join_all().await;

    // Call 1: the period closes; the first 1,000 facilities (FF-0001..FF-1000, nothing
    // accrued) get an empty statement each.
    let first = run(&svc, "close-1", close()).await;
    let issued = statement_events(&first);
    assert!(matches!(first.events[0], Event::PaymentPeriodClosed(_)));
    assert_eq!(
        first.receipt.count, 1,
        "the close: the cut, then its statements"
    );
    let cut = first.receipt.first_position;
    assert_eq!(issued.len(), CLOSE_FACILITIES_PER_CALL);
    assert!(
        issued
            .iter()
            .all(|s| s.lines.is_empty() && !s.more && s.part == 0)
    );
    assert_eq!(issued.last().unwrap().facility_id, id("FF-1000"));

    // Call 2: FF-1001..FF-1200 and Lumumba (empty), then Nyalenda's first 5,000 lines in
    // parts of 400: 12 x 400 + 200 = 13 parts, the last saying more follow.
    let second = run(&svc, "close-2", close()).await;
    let issued = statement_events(&second);
    let nyalenda: Vec<_> = issued
        .iter()
        .filter(|s| s.facility_id == id("KE-KSM-NYALENDA"))
        .collect();
    assert_eq!(issued.len() - nyalenda.len(), 201);
    assert_eq!(nyalenda.len(), 13);
    assert_eq!(
        nyalenda.iter().map(|s| s.lines.len()).sum::<usize>(),
        CLOSE_LINES_PER_CALL
    );
    assert!(
        nyalenda
            .iter()
            .all(|s| s.lines.len() <= STATEMENT_PART_LINES_MAX && s.more)
    );
    assert_eq!(
        nyalenda.iter().map(|s| s.part).collect::<Vec<_>>(),
        (0..13).collect::<Vec<_>>()
    );

    // Not yet complete: a payout waits; a close with other dates is refused.
    let waiting = reject(&svc, "pay-early", payout("1000 KES")).await;
    assert!(
        matches!(waiting, Rejection::StatementIncomplete { .. }),
        "{waiting}"
    );
    let other_dates = Command::ClosePaymentPeriod {
        period_id: id("2026-03"),
        scheme_id: id("ipush-ke"),
        starts_on: d("2026-03-01"),
        ends_on: d("2026-03-30"),
        closed_on: d("2026-04-01"),
    };
    let refused = reject(&svc, "close-other", other_dates).await;
    assert_eq!(refused, Rejection::PeriodClosed(id("2026-03")));

    // A claim of 6,001 doses decided between the calls (dated in March, after the cut)
    // does not join the statement still open: it waits for the next close.
    run(&svc, "claim-6001", vaccine_claim(6001)).await;

    // Call 3: the remaining 1,000 lines in parts of 400, 400, 200; the statement completes.
    let third = run(&svc, "close-3", close()).await;
    let issued = statement_events(&third);
    assert_eq!(
        issued.iter().map(|s| s.lines.len()).collect::<Vec<_>>(),
        vec![400, 400, 200]
    );
    assert_eq!(
        issued.iter().map(|s| (s.part, s.more)).collect::<Vec<_>>(),
        vec![(13, true), (14, true), (15, false)]
    );
    // A retry of call 2 is answered with its first receipt and appends nothing.
    let head = log.head().next_position;
    let retried = run(&svc, "close-2", close()).await;
    assert!(retried.receipt.already_done);
    assert_eq!(
        (retried.receipt.first_position, retried.receipt.count),
        (second.receipt.first_position, second.receipt.count)
    );
    assert_eq!(
        retried.events, second.events,
        "with the statements it issued"
    );
    assert_eq!(log.head().next_position, head);
    // Every statement is complete: the period is closed for good.
    let done = reject(&svc, "close-4", close()).await;
    assert_eq!(done, Rejection::PeriodClosed(id("2026-03")));

    // Nyalenda is owed 200 KES x (1 + 2 + ... + 6,000) = 200 x 18,003,000 = 3,600,600,000
    // KES, each claim before the cut listed once; the whole payout is accepted. The claim
    // after the cut is still open, for the next close.
    {
        let service = svc.service(ledger::partition::Partition::FIRST);
        let st = service.state().await;
        let s = &st.projections.payments.statements[&(id("KE-KSM-NYALENDA"), id("2026-03"))];
        assert_eq!(s.due, a("3600600000 KES"));
        assert_eq!((s.line_count(), s.parts.len(), s.more), (6000, 16, false));
        // The lines are in the log, in the parts' events: read back, page by page.
        let mut lines = Vec::new();
        while let page = history::statement_lines(service.log(), s, lines.len() as u64, 700)
            .await
            .unwrap()
            && !page.is_empty()
        {
            lines.extend(page);
        }
        let references: HashSet<_> = lines.iter().map(|l| l.reference.as_str()).collect();
        assert_eq!((lines.len(), references.len()), (6000, 6000));
        let open = st
            .projections
            .payments
            .open_accruals(&id("KE-KSM-NYALENDA"));
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].amount, a("1200200 KES"));
        assert_eq!(
            st.projections.payments.periods[&id("2026-03")].closed_at,
            cut
        );
        assert_eq!(st.projections.payments.statements.len(), 1202);
        let b = &st.projections.balances;
        assert_eq!(b.trial_balance("KES".parse().unwrap()), 0);
    }
    run(&svc, "pay", payout("3600600000 KES")).await;

    // A replay of the log gives the same projections.
    let rebuilt = rebuild(&log, log.head().next_position).await.unwrap();
    let live = svc
        .service(ledger::partition::Partition::FIRST)
        .state()
        .await;
    assert_eq!(rebuilt.projections.digests(), live.projections.digests());
}
