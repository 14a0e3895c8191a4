//! Claims close: a period close more than the scheme's `claims_open_days` after a claim's
//! service date closes it to reviews, reversals, copays and late submissions; once a close
//! is more than that plus the longest frequency after it, the claim leaves memory for the
//! archive on disk, where queries still find it, through restarts and rebuilds. Wallet days
//! before a close's cut leave memory the same way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use adjudicator::examples;
use claims_ledger::api::history;
use claims_ledger::command::{Command, LineReview, Rejection, Subject};
use claims_ledger::partitioned::Ledger;
use claims_ledger::processor::checkpoint::CheckpointStore;
use claims_ledger::processor::{CommandError, Service, rebuild};
use ledger::event::*;
use ledger::ids::*;
use ledger::{Amount, Date, EventLog, FileLog, RequestId};
use projections::claims::{ClaimFilter, ClaimStatus};

fn d(s: &str) -> Date {
    Date::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

/// One partition over a file log, with checkpoints (and so the archive) in `checkpoints`.
struct Node {
    ledger: Ledger<FileLog>,
    svc: Service<FileLog>,
    log: FileLog,
    n: u64,
}

impl Node {
    async fn open(path: &std::path::Path, checkpoints: &CheckpointStore) -> Node {
        let log = FileLog::open(path).unwrap();
        let svc = Service::start_with(log.clone(), Some(checkpoints.clone()))
            .await
            .unwrap();
        Node {
            ledger: Ledger::single(svc.clone()).await,
            svc,
            log,
            n: 0,
        }
    }

    async fn stop(self) {
        self.svc.shutdown().await;
        drop(self.ledger);
        drop(self.svc);
        self.log.shutdown().await.unwrap();
    }

    async fn try_run(&mut self, command: Command) -> Result<Subject, CommandError> {
        self.n += 1;
        let request = RequestId::new(format!("req-{}", self.n)).unwrap();
        self.ledger
            .execute(request, command)
            .await
            .map(|receipt| receipt.subject)
    }

    async fn run(&mut self, command: Command) -> Subject {
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

    async fn claim(&mut self, member: &str, code: &str, date: &str) -> ClaimId {
        match self.run(vaccine(member, code, date)).await {
            Subject::Claim(c) => c,
            other => panic!("no claim: {other:?}"),
        }
    }

    /// Every claim, listed a page of `size` at a time.
    async fn listed(&self, filter: &ClaimFilter, size: usize) -> Vec<(ClaimId, ClaimStatus)> {
        let mut out = Vec::new();
        let mut after: Option<ClaimId> = None;
        loop {
            let page = self
                .svc
                .state()
                .await
                .list_claims(filter, after.as_ref(), size)
                .unwrap()
                .unwrap();
            out.extend(page.iter().map(|c| (c.claim_id.clone(), c.status)));
            match page.last() {
                Some(last) if page.len() == size => after = Some(last.claim_id.clone()),
                _ => return out,
            }
        }
    }
}

/// iPUSH, its claims open for 30 days (its longest frequency is 28: kept 58 days).
fn scheme() -> String {
    examples::IPUSH_KE.replacen(
        "currency = \"KES\"\n",
        "currency = \"KES\"\nclaims_open_days = 30\n",
        1,
    )
}

fn vaccine(member: &str, code: &str, date: &str) -> Command {
    Command::SubmitClaim {
        claim_code: id(code),
        facility_id: id("KE-KSM-NYALENDA"),
        member_id: id(member),
        date_from: d(date),
        date_to: None,
        claim_date: d(date),
        diagnosis_codes: vec![],
        lines: vec![ClaimLine {
            line_no: 1,
            kind: LineKind::Item,
            code: id("TT-VACCINE"),
            quantity: 1,
            asked_unit_price: None,
        }],
        today: d(date),
        today_given: true,
    }
}

fn close(month: u32, last_day: u32) -> Command {
    close_in(2026, month, last_day)
}

fn close_in(year: i32, month: u32, last_day: u32) -> Command {
    Command::ClosePaymentPeriod {
        period_id: id(&format!("{year}-{month:02}")),
        scheme_id: id("ipush-ke"),
        starts_on: d(&format!("{year}-{month:02}-01")),
        ends_on: d(&format!("{year}-{month:02}-{last_day}")),
        closed_on: d(&format!("{year}-{month:02}-{last_day}")),
    }
}

fn review(claim: &ClaimId, on: &str) -> Command {
    Command::ReviewClaim {
        claim_id: claim.clone(),
        reviewer: "MO-7".into(),
        reviewed_on: d(on),
        changes: vec![LineReview {
            line_no: 1,
            approved_quantity: None,
            unit_price: None,
            reject: true,
        }],
        comment: String::new(),
    }
}

fn reverse(claim: &ClaimId, on: &str) -> Command {
    Command::ReverseClaim {
        claim_id: claim.clone(),
        reason: "entered twice".into(),
        reversed_on: d(on),
    }
}

fn register(household: &str, on: &str) -> Command {
    Command::RegisterHousehold {
        household_id: id(household),
        scheme_id: id("ipush-ke"),
        location_code: "LOC-1".into(),
        socio_economic_category: String::new(),
        registered_on: d(on),
    }
}

async fn insured(node: &mut Node) {
    node.run(Command::PublishScheme {
        document: scheme(),
        effective_from: d("2026-01-01"),
    })
    .await;
    node.run(register("HH-1", "2026-01-02")).await;
    for m in 0..3 {
        node.run(Command::EnrollMember {
            member_id: id(&format!("M-{m}")),
            household_id: id("HH-1"),
            gender: Gender::Female,
            birth_date: d("1990-01-01"),
            is_head: m == 0,
            facility_id: None,
            enrolled_on: d("2026-01-02"),
        })
        .await;
    }
    node.run(Command::PayPremium {
        period_start: None,
        receipt_id: id("P-1"),
        household_id: id("HH-1"),
        product_id: id("NHIF-SUPA"),
        amount: "6000 KES".parse::<Amount>().unwrap(),
        source: PremiumSource::Direct,
        paid_on: d("2026-01-10"),
    })
    .await;
}

#[tokio::test]
async fn closed_claims_are_refused_then_archived_and_still_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let checkpoints = CheckpointStore::open(dir.path().join("checkpoints")).unwrap();
    let mut node = Node::open(&path, &checkpoints).await;
    insured(&mut node).await;
    let march = node.claim("M-0", "TT-MAR", "2026-03-05").await;
    let march_other = node.claim("M-1", "TT-MAR-1", "2026-03-06").await;
    node.run(close(3, 31)).await;
    // 26 days after: open.
    node.run(review(&march_other, "2026-04-02")).await;
    let april = node.claim("M-2", "TT-APR", "2026-04-20").await;
    node.run(close(4, 30)).await;

    // 56 days after 5 March: past the 30 open days, still in memory (kept 58).
    for command in [review(&march, "2026-05-02"), reverse(&march, "2026-05-02")] {
        assert_eq!(
            node.reject(command).await,
            Rejection::ClaimClosed(march.clone())
        );
    }
    match node.reject(vaccine("M-0", "TT-LATE", "2026-03-20")).await {
        Rejection::Invalid(field) => {
            assert_eq!(field.field, "date_from", "{field:?}");
            assert!(field.reason.contains("claims_open_days"), "{field:?}");
        }
        other => panic!("a late claim: {other:?}"),
    }
    assert!(
        node.svc
            .state()
            .await
            .projections
            .claims
            .open(&march)
            .is_some()
    );
    // A claim inside the window is still reviewed.
    node.run(review(&april, "2026-05-03")).await;

    node.run(close(5, 31)).await;
    // 87 days after: closed, out of memory once the close is durable (the next batch).
    let may = node.claim("M-0", "TT-MAY", "2026-05-20").await;
    {
        let state = node.svc.state().await;
        let claims = &state.projections.claims;
        assert!(claims.open(&march).is_none() && claims.get(&march).is_none());
        assert!(!claims.has_closed(), "archived");
        assert!(claims.open(&april).is_some(), "40 days: kept");
    }
    assert_eq!(
        node.reject(reverse(&march, "2026-06-01")).await,
        Rejection::ClaimClosed(march.clone())
    );
    // The same claim code again is answered with the closed claim, from the archive.
    assert_eq!(
        node.run(vaccine("M-0", "TT-MAR", "2026-03-05")).await,
        Subject::Claim(march.clone())
    );
    let detail = {
        let record = node.svc.state().await.claim(&march).unwrap().unwrap();
        history::detail(node.svc.log(), record).await.unwrap()
    };
    assert_eq!(detail.record.status, ClaimStatus::Accepted);
    assert_eq!(detail.submitted.claim_code, id("TT-MAR"));
    let expected = vec![
        (march.clone(), ClaimStatus::Accepted),
        (march_other.clone(), ClaimStatus::Rejected),
        (april.clone(), ClaimStatus::Rejected),
        (may.clone(), ClaimStatus::Accepted),
    ];
    let everything = ClaimFilter::default();
    let of_m0 = ClaimFilter {
        member: Some(id("M-0")),
        ..Default::default()
    };
    let m0: Vec<_> = [&expected[0], &expected[3]].map(Clone::clone).into();
    for size in [1, 2, 10] {
        assert_eq!(node.listed(&everything, size).await, expected, "{size}");
        assert_eq!(node.listed(&of_m0, size).await, m0, "{size}");
    }
    let facility = ClaimFilter {
        facility: Some(id("KE-KSM-NYALENDA")),
        status: Some(ClaimStatus::Accepted),
        ..Default::default()
    };
    assert_eq!(node.listed(&facility, 1).await, m0);

    // A rebuild (no archive: closed claims stay in memory) has the same digests.
    let live = node.svc.state().await.projections.digests();
    let rebuilt = rebuild(&node.log, node.log.head().next_position)
        .await
        .unwrap();
    assert_eq!(rebuilt.projections.digests(), live);
    assert_eq!(
        rebuilt.projections.claims.get(&march).unwrap().claim_id,
        march
    );

    // A restart from the checkpoint finds it in the archive.
    node.stop().await;
    reopened_finds(&path, &checkpoints, &march, (live, &expected)).await;
    drop(checkpoints);

    // Without the checkpoints (and their archive) a replay closes and archives again.
    let fresh = CheckpointStore::open(dir.path().join("checkpoints-2")).unwrap();
    reopened_finds(&path, &fresh, &march, (live, &expected)).await;
}

/// A node opened again over `path` and `checkpoints` has the digests `live`, holds `closed`
/// only in its archive, and lists `expected`, one page size after another.
async fn reopened_finds(
    path: &std::path::Path,
    checkpoints: &CheckpointStore,
    closed: &ClaimId,
    (live, expected): (projections::Digests, &[(ClaimId, ClaimStatus)]),
) {
    let node = Node::open(path, checkpoints).await;
    {
        let state = node.svc.state().await;
        assert_eq!(state.projections.digests(), live);
        assert!(state.projections.claims.get(closed).is_none());
    }
    for size in [1, 2] {
        assert_eq!(node.listed(&ClaimFilter::default(), size).await, expected);
    }
    node.stop().await;
}

fn saving(receipt: &str, on: &str) -> Command {
    Command::RecordContribution {
        receipt_id: id(receipt),
        household_id: id("HH-1"),
        member_id: None,
        amount: "500 KES".parse().unwrap(),
        channel: PaymentChannel::MobileMoney,
        received_on: d(on),
    }
}

/// A close lets the sponsors' household tallies of the years before the one before it go:
/// savings sponsors would match dated then are refused, later ones are matched.
#[tokio::test]
async fn a_close_lets_old_sponsor_tallies_go() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = CheckpointStore::open(dir.path().join("checkpoints")).unwrap();
    let mut node = Node::open(&dir.path().join("log"), &checkpoints).await;
    insured(&mut node).await;
    node.run(saving("MP-1", "2026-06-01")).await;
    node.run(close_in(2028, 1, 31)).await;
    match node.reject(saving("MP-2", "2026-12-31")).await {
        Rejection::Invalid(field) => assert_eq!(field.field, "received_on", "{field:?}"),
        other => panic!("an old saving: {other:?}"),
    }
    node.run(saving("MP-3", "2027-01-02")).await;
    let live = node.svc.state().await.projections.digests();
    let rebuilt = rebuild(&node.log, node.log.head().next_position)
        .await
        .unwrap();
    assert_eq!(rebuilt.projections.digests(), live);
    node.stop().await;
}

/// HH-1's wallet totals (debits, credits) as of each of `dates` (None: all), as `node` answers.
async fn wallet_totals(node: &Node, dates: &[Option<&str>]) -> Vec<(i128, i128)> {
    let state = node.svc.state().await;
    let wallet = projections::balances::Account::Wallet(id("HH-1"));
    dates
        .iter()
        .map(|date| {
            state
                .totals(&wallet, ledger::Currency::KES, date.map(d))
                .unwrap()
        })
        .collect()
}

/// A close lets go of wallet days before the first day of the year before its own: as-of
/// balances and totals before that cut are answered from the closed blocks (in memory until
/// the close is durable, then from the archive), through restarts, replays and rebuilds.
#[tokio::test]
async fn wallet_days_before_the_cut_leave_memory_and_are_still_answered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let checkpoints = CheckpointStore::open(dir.path().join("checkpoints")).unwrap();
    let mut node = Node::open(&path, &checkpoints).await;
    insured(&mut node).await;
    for (i, on) in ["2026-02-01", "2026-06-01", "2026-12-31", "2027-03-01"]
        .iter()
        .enumerate()
    {
        node.run(saving(&format!("MPESA-{i}"), on)).await;
    }
    let dates = [
        Some("2026-01-31"),
        Some("2026-02-01"),
        Some("2026-07-01"),
        Some("2027-01-01"),
        Some("2027-03-01"),
        None,
    ];
    let before = wallet_totals(&node, &dates).await;
    assert!(before[2].1 > before[1].1, "{before:?}");

    node.run(close_in(2028, 1, 31)).await;
    // The next batch finds the close durable: the block goes to the archive.
    node.run(register("HH-2", "2028-02-01")).await;
    let wallet = projections::balances::Account::Wallet(id("HH-1"));
    {
        let state = node.svc.state().await;
        let balances = &state.projections.balances;
        assert!(balances.closed_days().is_empty(), "archived");
        assert!(balances.needs_closed_days(&wallet, Some(d("2026-12-31"))));
        assert!(!balances.needs_closed_days(&wallet, Some(d("2027-01-01"))));
        // Memory alone no longer knows the 2026 days.
        assert_ne!(
            balances.totals(&wallet, ledger::Currency::KES, Some(d("2026-07-01"))),
            before[2]
        );
    }
    assert_eq!(wallet_totals(&node, &dates).await, before);

    let live = node.svc.state().await.projections.digests();
    let rebuilt = rebuild(&node.log, node.log.head().next_position)
        .await
        .unwrap();
    assert_eq!(
        rebuilt.projections.digests(),
        live,
        "a rebuild keeps its blocks in memory"
    );
    assert_eq!(
        rebuilt
            .totals(&wallet, ledger::Currency::KES, Some(d("2026-07-01")))
            .unwrap(),
        before[2]
    );

    node.stop().await;
    let node = Node::open(&path, &checkpoints).await;
    assert_eq!(
        wallet_totals(&node, &dates).await,
        before,
        "from the checkpoint"
    );
    assert_eq!(node.svc.state().await.projections.digests(), live);
    node.stop().await;
    drop(checkpoints);
    let fresh = CheckpointStore::open(dir.path().join("checkpoints-2")).unwrap();
    let node = Node::open(&path, &fresh).await;
    assert_eq!(wallet_totals(&node, &dates).await, before, "replayed");
    node.stop().await;
}
