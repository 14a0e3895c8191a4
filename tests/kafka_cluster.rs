//! Two nodes of one ledger on real Apache Kafka, one SIGKILLed in the middle of a mixed load
//! (savings, premiums, claims, copays, a period close) sent through both: the other takes
//! the ledger over, and the ledger equals an embedded run of the same commands.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Channel, Server, date, kes};
use ledger::log::kafka::testing;
use pb::audit_service_client::AuditServiceClient;
use pb::ledger_service_client::LedgerServiceClient;
use proto::v1 as pb;

/// Households in the load; each has one member.
const HOUSEHOLDS: usize = 6;
/// Claims per member.
const CLAIMS: usize = 3;

/// One command of the load.
#[derive(Debug, Clone, Copy)]
enum Step {
    Scheme,
    Household(usize),
    Member(usize),
    Save(usize, usize),
    Premium(usize),
    Claim(usize, usize),
    /// A copay towards the member's first claim.
    Copay(usize),
    CloseMarch,
}

/// The load, in the order it is sent.
fn steps() -> Vec<Step> {
    let all = || 0..HOUSEHOLDS;
    let mut steps = vec![Step::Scheme];
    steps.extend(all().flat_map(|h| [Step::Household(h), Step::Member(h)]));
    steps.extend(all().map(|h| Step::Save(h, 0)));
    steps.extend(all().map(Step::Premium));
    steps.extend((0..CLAIMS).flat_map(|n| all().map(move |h| Step::Claim(h, n))));
    steps.extend(all().map(Step::Copay));
    steps.push(Step::CloseMarch);
    steps.extend(all().map(|h| Step::Save(h, 1)));
    steps
}

/// A command's answer, comparable across runs: its receipt (where its events landed) and
/// the rest of the response, or the refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    receipt: Option<pb::CommandReceipt>,
    rest: Result<String, (tonic::Code, String)>,
}

impl Answer {
    /// The same answer as a retry gives it: `already_done` set.
    fn as_retry(&self) -> Answer {
        let mut answer = self.clone();
        if let Some(receipt) = &mut answer.receipt {
            receipt.already_done = true;
        }
        answer
    }
}

fn answer<T: std::fmt::Debug>(
    response: Result<tonic::Response<T>, tonic::Status>,
    receipt: impl Fn(&mut T) -> Option<pb::CommandReceipt>,
) -> Result<Answer, tonic::Status> {
    match response {
        Ok(response) => {
            let mut inner = response.into_inner();
            let receipt = receipt(&mut inner);
            Ok(Answer {
                receipt,
                rest: Ok(format!("{inner:?}")),
            })
        }
        // What a takeover or a restarting node answers: the caller retries.
        Err(status) if status.code() == tonic::Code::Unavailable => Err(status),
        Err(status) if status.message().contains("transport error") => Err(status),
        Err(status) => Ok(Answer {
            receipt: None,
            rest: Err((status.code(), status.message().to_owned())),
        }),
    }
}

/// The member's first claim's id, from the answers so far.
fn first_claim(answers: &[(Step, Answer)], h: usize) -> String {
    answers
        .iter()
        .find_map(|(step, answer)| match (step, &answer.rest) {
            (Step::Claim(x, 0), Ok(text)) if *x == h => text
                .split("claim_id: \"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_owned),
            _ => None,
        })
        .unwrap_or_default()
}

/// Sends `step` once.
async fn send(
    ledger: &mut LedgerServiceClient<Channel>,
    step: Step,
    answers: &[(Step, Answer)],
) -> Result<Answer, tonic::Status> {
    // Receipts are taken out of the response, so that the rest compares across runs.
    macro_rules! receipt {
        () => {
            |r: &mut _| std::mem::take(&mut r.receipt)
        };
    }
    let household = |h: usize| format!("HH-{h}");
    let member = |h: usize| format!("M-{h}");
    match step {
        Step::Scheme => answer(
            ledger
                .publish_scheme(pb::PublishSchemeRequest {
                    request_id: "scheme".into(),
                    document: adjudicator::examples::IPUSH_KE.into(),
                    effective_from: date(2026, 1, 1),
                })
                .await,
            receipt!(),
        ),
        Step::Household(h) => answer(
            ledger
                .register_household(pb::RegisterHouseholdRequest {
                    request_id: format!("register-{h}"),
                    household_id: household(h),
                    scheme_id: "ipush-ke".into(),
                    location_code: "KSM".into(),
                    socio_economic_category: String::new(),
                    registered_on: date(2026, 1, 2),
                })
                .await,
            receipt!(),
        ),
        Step::Member(h) => answer(
            ledger
                .enroll_member(pb::EnrollMemberRequest {
                    request_id: format!("enrol-{h}"),
                    member_id: member(h),
                    household_id: household(h),
                    gender: pb::Gender::Female as i32,
                    birth_date: date(1990 + h as i32, 3, 14),
                    is_head: true,
                    facility_id: String::new(),
                    enrolled_on: date(2026, 1, 2),
                })
                .await,
            receipt!(),
        ),
        Step::Save(h, n) => answer(
            ledger
                .record_contribution(pb::RecordContributionRequest {
                    request_id: format!("save-{h}-{n}"),
                    receipt_id: format!("MPESA-{h}-{n}"),
                    household_id: household(h),
                    member_id: String::new(),
                    amount: kes(1_000_000 + 1_000 * h as i64),
                    channel: pb::PaymentChannel::MobileMoney as i32,
                    received_on: date(2026, 2 + 2 * n as i32, 1),
                })
                .await,
            receipt!(),
        ),
        Step::Premium(h) => answer(
            ledger
                .pay_premium(pb::PayPremiumRequest {
                    period_start: None,
                    request_id: format!("premium-{h}"),
                    receipt_id: format!("P-{h}"),
                    household_id: household(h),
                    product_id: "NHIF-SUPA".into(),
                    amount: kes(600_000),
                    source: pb::PremiumSource::Wallet as i32,
                    paid_on: date(2026, 2, 10),
                })
                .await,
            receipt!(),
        ),
        Step::Claim(h, n) => {
            let day = 2 + n as i32 * 9;
            let mut claim =
                common::visit_claim(&format!("claim-{h}-{n}"), &format!("C-{h}-{n}"), day);
            claim.member_id = member(h);
            answer(ledger.submit_claim(claim).await, receipt!())
        }
        Step::Copay(h) => answer(
            ledger
                .record_copayment(pb::RecordCopaymentRequest {
                    request_id: format!("copay-{h}"),
                    receipt_id: format!("MPESA-CP-{h}"),
                    claim_id: first_claim(answers, h),
                    amount: kes(1_000),
                    collected_on: date(2026, 3, 25),
                })
                .await,
            receipt!(),
        ),
        Step::CloseMarch => answer(
            ledger
                .close_payment_period(pb::ClosePaymentPeriodRequest {
                    request_id: "close-march".into(),
                    period_id: "2026-03".into(),
                    scheme_id: "ipush-ke".into(),
                    starts_on: date(2026, 3, 1),
                    ends_on: date(2026, 3, 31),
                    closed_on: date(2026, 4, 1),
                })
                .await,
            receipt!(),
        ),
    }
}

/// Sends `step` until it is answered (retrying the same request through a takeover).
async fn send_until_answered(
    ledger: &LedgerServiceClient<Channel>,
    step: Step,
    answers: &[(Step, Answer)],
) -> Answer {
    common::until_available(|| {
        let mut ledger = ledger.clone();
        async move { send(&mut ledger, step, answers).await }
    })
    .await
    .unwrap()
}

/// Member h's eligibility on 5 March as `server` answers it once it reflects `receipt`.
async fn eligibility_after(
    server: &Server,
    h: usize,
    receipt: &pb::CommandReceipt,
) -> pb::CheckEligibilityResponse {
    let mut query = pb::query_service_client::QueryServiceClient::new(server.channel(None).await);
    let mut request = tonic::Request::new(pb::CheckEligibilityRequest {
        member_id: format!("M-{h}"),
        date: date(2026, 3, 5),
        codes: vec![],
    });
    common::at_least(&mut request, receipt);
    query.check_eligibility(request).await.unwrap().into_inner()
}

/// The ledger's digest (balances, coverage, claims, statements, registry), live and rebuilt
/// from the log.
async fn digest(server: &Server) -> pb::GetProjectionDigestResponse {
    let mut audit = AuditServiceClient::new(server.channel(None).await);
    audit
        .get_projection_digest(pb::GetProjectionDigestRequest {
            rebuild: true,
            rebuild_to: 0,
        })
        .await
        .unwrap()
        .into_inner()
}

/// Nodes A (the owner) and B (a follower) take the load in turns; B forwards its share to A.
/// A is SIGKILLed with a command in flight. B takes the ledger over; the command in flight
/// is sent again to B and the load goes on there. Every answer, and the ledger's balances,
/// coverage, claims, statements and registry, equal an embedded run of the same commands;
/// every command is recorded exactly once (a retry of each gets its first answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_one_killed_mid_load_equal_an_embedded_run() {
    let tmp = tempfile::tempdir().unwrap();
    let args = common::kafka_args(tmp.path(), &testing::fresh_topic("two-nodes"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let a = Server::start_with(&tmp.path().join("node-a"), &args);
    let b = Server::start_with(&tmp.path().join("node-b"), &args);
    let ledger_a = LedgerServiceClient::new(a.channel(None).await);
    let ledger_b = LedgerServiceClient::new(b.channel(None).await);

    let steps = steps();
    let kill_at = steps.len() / 2;
    let mut answers: Vec<(Step, Answer)> = Vec::new();
    let mut in_flight_at_kill = None;
    for (i, step) in steps.iter().copied().enumerate() {
        let answer = if i < kill_at {
            let node = if i % 2 == 0 { &ledger_a } else { &ledger_b };
            send_until_answered(node, step, &answers).await
        } else if i == kill_at {
            // A dies with the command sent and its answer not yet read.
            let sent = {
                let (mut ledger, answers) = (ledger_a.clone(), answers.clone());
                tokio::spawn(async move { send(&mut ledger, step, &answers).await })
            };
            a.signal("KILL");
            let lost = sent.await.unwrap();
            in_flight_at_kill = Some(lost.is_ok());
            let killed = std::time::Instant::now();
            let answer = send_until_answered(&ledger_b, step, &answers).await;
            eprintln!(
                "B answered the command in flight {:.1} s after A was killed",
                killed.elapsed().as_secs_f64()
            );
            answer
        } else {
            send_until_answered(&ledger_b, step, &answers).await
        };
        if let (Step::Premium(h), Some(receipt)) = (step, &answer.receipt)
            && i < kill_at
        {
            // The follower's views, member directory included, reflect what was just
            // committed through the owner.
            let eligibility = eligibility_after(&b, h, receipt).await;
            assert!(
                eligibility.member_known && eligibility.covered,
                "{eligibility:?}"
            );
        }
        answers.push((step, answer));
    }
    eprintln!("the command in flight at the kill was answered by A: {in_flight_at_kill:?}");

    // Every command once: a retry of each gets its first answer (the one in flight at the
    // kill may have been recorded by A before it died: its answer through B is a retry then).
    for (i, (step, first)) in answers.iter().enumerate() {
        if first.rest.is_err() {
            continue; // a refusal appended nothing, and a retry decides again
        }
        let retry = send_until_answered(&ledger_b, *step, &answers[..i]).await;
        assert_eq!(retry, first.as_retry(), "{step:?} recorded once");
    }

    let embedded = Server::start_with(&tmp.path().join("embedded"), &["--partitions", "2"]);
    let ledger_e = LedgerServiceClient::new(embedded.channel(None).await);
    let mut expected: Vec<(Step, Answer)> = Vec::new();
    for step in steps.iter().copied() {
        let answer = send_until_answered(&ledger_e, step, &expected).await;
        expected.push((step, answer));
    }
    for (i, ((step, got), (_, want))) in answers.iter().zip(&expected).enumerate() {
        if i == kill_at {
            assert_eq!(got.rest, want.rest, "{step:?}");
            assert_eq!(
                got.receipt
                    .as_ref()
                    .map(|r| (r.partition, r.first_position)),
                want.receipt
                    .as_ref()
                    .map(|r| (r.partition, r.first_position)),
                "{step:?}"
            );
        } else {
            assert_eq!(got, want, "{step:?}");
        }
    }
    let accepted = answers.iter().filter(|(_, a)| a.rest.is_ok()).count();
    assert!(
        accepted > steps.len() * 3 / 4,
        "the load is mostly accepted"
    );

    let (cluster, alone) = (digest(&b).await, digest(&embedded).await);
    let (live, rebuilt) = (cluster.live.unwrap(), cluster.rebuilt.unwrap());
    assert_eq!(live.combined, rebuilt.combined, "B's views equal its log");
    let alone = alone.live.unwrap();
    for (what, got, want) in [
        ("registry", &live.registry, &alone.registry),
        ("balances", &live.balances, &alone.balances),
        ("coverage", &live.coverage, &alone.coverage),
        ("claims", &live.claims, &alone.claims),
        ("statements", &live.payments, &alone.payments),
    ] {
        assert_eq!(got, want, "{what} equal the embedded run's");
    }
    assert_eq!(live.position, alone.position, "the same events, once each");
    b.stop();
    embedded.stop();
}
