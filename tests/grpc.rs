//! End to end over gRPC: the real server binary on 127.0.0.1 with a temporary data
//! directory, a tonic client, an iPUSH flow, errors with their codes and fields, retries,
//! the audit stream and chain verification, and a graceful restart that keeps everything.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::Server;

use pb::audit_service_client::AuditServiceClient;
use pb::ledger_service_client::LedgerServiceClient;
use pb::query_service_client::QueryServiceClient;
use proto::v1 as pb;
use tonic::Code;

fn date(y: i32, m: i32, d: i32) -> Option<pb::Date> {
    Some(pb::Date {
        year: y,
        month: m,
        day: d,
    })
}

fn kes(minor: i64) -> Option<pb::Money> {
    Some(pb::Money {
        minor_units: minor,
        currency_code: "KES".into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipush_flow_over_grpc_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut ledger = LedgerServiceClient::connect(server.url()).await.unwrap();
    let mut query = QueryServiceClient::connect(server.url()).await.unwrap();
    let mut audit = AuditServiceClient::connect(server.url()).await.unwrap();

    ledger
        .publish_scheme(pb::PublishSchemeRequest {
            request_id: "r-1".into(),
            document: adjudicator::examples::IPUSH_KE.into(),
            effective_from: date(2026, 1, 1),
        })
        .await
        .unwrap();
    ledger
        .register_household(pb::RegisterHouseholdRequest {
            request_id: "r-2".into(),
            household_id: "HH-1".into(),
            scheme_id: "ipush-ke".into(),
            location_code: "KSM".into(),
            socio_economic_category: String::new(),
            registered_on: date(2026, 1, 2),
        })
        .await
        .unwrap();
    ledger
        .enroll_member(pb::EnrollMemberRequest {
            request_id: "r-3".into(),
            member_id: "M-1".into(),
            household_id: "HH-1".into(),
            gender: pb::Gender::Female as i32,
            birth_date: date(1996, 3, 14),
            is_head: true,
            facility_id: String::new(),
            enrolled_on: date(2026, 1, 2),
        })
        .await
        .unwrap();
    let contribution = pb::RecordContributionRequest {
        request_id: "r-4".into(),
        receipt_id: "MPESA-1".into(),
        household_id: "HH-1".into(),
        member_id: "M-1".into(),
        amount: kes(300_000),
        channel: pb::PaymentChannel::MobileMoney as i32,
        received_on: date(2026, 2, 1),
    };
    let first = ledger
        .record_contribution(contribution.clone())
        .await
        .unwrap()
        .into_inner();
    // 3,000 saved + 3,000 county match (its cap) + 1,500 donor match = 7,500.
    let wallet = |q: &mut QueryServiceClient<tonic::transport::Channel>| {
        let mut q = q.clone();
        async move {
            q.get_balance(pb::GetBalanceRequest {
                subject: Some(pb::get_balance_request::Subject::HouseholdId("HH-1".into())),
                currency_code: String::new(),
                as_of_date: None,
            })
            .await
            .unwrap()
            .into_inner()
            .balance
            .unwrap()
            .minor_units
        }
    };
    assert_eq!(wallet(&mut query).await, 750_000);

    // A retry returns the first receipt; nothing changes.
    let retry = ledger
        .record_contribution(contribution.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(retry.receipt.as_ref().unwrap().already_done);
    assert_eq!(
        retry.receipt.unwrap().first_position,
        first.receipt.unwrap().first_position
    );
    assert_eq!(wallet(&mut query).await, 750_000);

    // Errors: the right code, and the field named.
    let mut bad = contribution.clone();
    bad.request_id = "r-bad".into();
    bad.receipt_id = "MPESA-2".into();
    bad.amount = Some(pb::Money {
        minor_units: 100,
        currency_code: "KSH".into(),
    });
    let err = ledger.record_contribution(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("amount.currency_code:"),
        "{}",
        err.message()
    );
    let err = ledger
        .pay_premium(pb::PayPremiumRequest {
            request_id: "r-5".into(),
            receipt_id: "P-1".into(),
            household_id: "HH-1".into(),
            product_id: "NHIF-SUPA".into(),
            amount: kes(900_000),
            source: pb::PremiumSource::Wallet as i32,
            paid_on: date(2026, 2, 10),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{}", err.message());
    let err = ledger
        .enroll_member(pb::EnrollMemberRequest {
            request_id: "r-6".into(),
            member_id: "M-2".into(),
            household_id: "HH-404".into(),
            gender: pb::Gender::Male as i32,
            birth_date: date(1990, 1, 1),
            is_head: false,
            facility_id: String::new(),
            enrolled_on: date(2026, 1, 2),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(
        err.message().starts_with("household_id:"),
        "{}",
        err.message()
    );

    let premium = ledger
        .pay_premium(pb::PayPremiumRequest {
            request_id: "r-7".into(),
            receipt_id: "P-1".into(),
            household_id: "HH-1".into(),
            product_id: "NHIF-SUPA".into(),
            amount: kes(600_000),
            source: pb::PremiumSource::Wallet as i32,
            paid_on: date(2026, 2, 10),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!premium.policy_id.is_empty());
    assert_eq!(wallet(&mut query).await, 150_000);

    // Eligibility: active, with what is left.
    let eligibility = query
        .check_eligibility(pb::CheckEligibilityRequest {
            member_id: "M-1".into(),
            date: date(2026, 3, 5),
            codes: vec!["ANC-VISIT".into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(eligibility.covered);
    let product = &eligibility.products[0];
    assert_eq!(product.status, "ACTIVE");
    assert!(
        product
            .counts_left
            .iter()
            .any(|c| c.category == pb::ClaimCategory::Antenatal as i32 && c.left == 4)
    );

    // A claim, adjudicated on submission, with its decision in the answer.
    let claim = ledger
        .submit_claim(pb::SubmitClaimRequest {
            request_id: "r-8".into(),
            claim_code: "NY-1".into(),
            facility_id: "KE-KSM-NYALENDA".into(),
            member_id: "M-1".into(),
            date_from: date(2026, 3, 5),
            date_to: None,
            claim_date: date(2026, 3, 5),
            diagnosis_codes: vec![],
            lines: vec![pb::ClaimLine {
                line_no: 1,
                kind: pb::LineKind::Service as i32,
                code: "ANC-VISIT".into(),
                quantity: 1,
                asked_unit_price: None,
            }],
            decided_on: date(2026, 3, 5),
        })
        .await
        .unwrap()
        .into_inner();
    let decision = claim.decision.unwrap();
    assert_eq!(decision.status, pb::DecisionStatus::Accepted as i32);
    assert_eq!(decision.total_payer.unwrap().minor_units, 100_000);
    let fetched = query
        .get_claim(pb::GetClaimRequest {
            claim_id: claim.claim_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched.status, "ACCEPTED");

    // Auditors: the whole history, and a verified chain whose head hash is the last event's.
    let mut stream = audit
        .read_events(pb::ReadEventsRequest {
            from_position: 0,
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    while let Some(e) = stream.message().await.unwrap() {
        events.push(e);
    }
    let verified = audit
        .verify_log(pb::VerifyLogRequest {
            from_position: 0,
            to_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok);
    assert_eq!(verified.head_position, events.len() as u64);
    assert_eq!(verified.last_hash, events.last().unwrap().hash);
    let totals = query
        .get_trial_balance(pb::GetTrialBalanceRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(totals.totals.iter().all(|t| t.sum_minor_units == "0"));

    // Graceful restart: everything is still there, and old request ids still answer.
    drop((ledger, query, audit));
    server.stop();
    let server = Server::start(dir.path());
    let mut ledger = LedgerServiceClient::connect(server.url()).await.unwrap();
    let mut query = QueryServiceClient::connect(server.url()).await.unwrap();
    assert_eq!(wallet(&mut query).await, 150_000);
    let again = ledger
        .record_contribution(contribution)
        .await
        .unwrap()
        .into_inner();
    assert!(again.receipt.unwrap().already_done);
    server.stop();
}

#[test]
fn the_server_refuses_non_loopback_addresses_without_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_claims-ledger"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback"));
}
