//! End to end over gRPC: the real server binary on 127.0.0.1 with a temporary data
//! directory, a tonic client, an iPUSH flow, errors with their codes and fields, retries,
//! the audit stream and chain verification, and a graceful restart that keeps everything.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::{Channel, RawBytes, Server, date, kes, register_member, setup_household, visit_claim};

use pb::audit_service_client::AuditServiceClient;
use pb::ledger_service_client::LedgerServiceClient;
use pb::query_service_client::QueryServiceClient;
use proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

/// The ErrorInfo reason and field of an error's google.rpc details.
fn details(status: &tonic::Status) -> (String, String) {
    let info = status.get_details_error_info().expect("ErrorInfo details");
    assert_eq!(info.domain, "claims-ledger");
    (info.reason, info.metadata["field"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipush_flow_over_grpc_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut ledger = LedgerServiceClient::new(server.channel(None).await);
    let mut query = QueryServiceClient::new(server.channel(None).await);
    let mut audit = AuditServiceClient::new(server.channel(None).await);

    register_member(&mut ledger).await;
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
    let wallet = |q: &mut QueryServiceClient<Channel>| {
        let mut q = q.clone();
        async move { common::wallet(&mut q, "HH-1").await }
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
    // google.rpc details name the field for clients that do not parse messages.
    assert_eq!(
        details(&err),
        ("INVALID_FIELD".into(), "amount.currency_code".into())
    );
    let violation = &err.get_details_bad_request().unwrap().field_violations[0];
    assert_eq!(violation.field, "amount.currency_code");
    let err = ledger
        .pay_premium(pb::PayPremiumRequest {
            period_start: None,
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
    assert_eq!(details(&err), ("OVERPAYMENT".into(), "amount".into()));
    assert!(err.get_details_bad_request().is_none());
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
    assert_eq!(
        details(&err),
        ("UNKNOWN_HOUSEHOLD".into(), "household_id".into())
    );

    let premium = ledger
        .pay_premium(pb::PayPremiumRequest {
            period_start: None,
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
    assert_eq!(product.coverage_status(), pb::CoverageStatus::Active);
    // The deprecated text status says the same, for older clients.
    #[allow(deprecated)]
    let text = product.status.clone();
    assert_eq!(text, "ACTIVE");
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
    assert_eq!(fetched.claim_status(), pb::ClaimStatus::Accepted);

    // Auditors: the whole history, and a verified chain whose head hash is the last event's.
    let mut stream = audit
        .read_events(pb::ReadEventsRequest {
            from_position: 0,
            limit: 0,
            partition: 0,
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
            partition: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok);
    assert_eq!(verified.head_position, events.len() as u64);
    assert_eq!(verified.last_hash, events.last().unwrap().hash);
    let totals = query
        .get_trial_balance(pb::GetTrialBalanceRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(
        totals
            .totals
            .iter()
            .all(|t| t.sum.as_ref().is_some_and(|m| m.minor_units == 0))
    );

    // Graceful restart: everything is still there, and old request ids still answer.
    drop((ledger, query, audit));
    server.stop();
    let server = Server::start(dir.path());
    let mut ledger = LedgerServiceClient::new(server.channel(None).await);
    let mut query = QueryServiceClient::new(server.channel(None).await);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_reviews_statements_payouts_subscriptions_and_digests() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut ledger = LedgerServiceClient::new(server.channel(None).await);
    let mut query = QueryServiceClient::new(server.channel(None).await);
    let mut audit = AuditServiceClient::new(server.channel(None).await);
    setup_household(&mut ledger).await;

    // A live subscriber from the start: it must see every event, then the new ones. Its own
    // connection: it reads only at the end, and an unread stream holds its connection's
    // HTTP/2 flow-control window.
    let mut subscriber = AuditServiceClient::new(server.channel(None).await);
    let mut live = subscriber
        .subscribe_events(pb::SubscribeEventsRequest {
            from_position: 0,
            partition: 0,
        })
        .await
        .unwrap()
        .into_inner();

    // An offline batch of 12 claims, one from another facility (refused on its own).
    let mut claims: Vec<_> = (1..=12)
        .map(|i| visit_claim(&format!("c-{i}"), &format!("NY-{i}"), i))
        .collect();
    claims[5].facility_id = "KE-KSM-LUMUMBA".into();
    let batch = ledger
        .submit_claims(pb::SubmitClaimsRequest {
            facility_id: "KE-KSM-NYALENDA".into(),
            claims,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.results.len(), 12);
    assert_eq!(batch.results[5].code, Code::InvalidArgument as i32);
    assert_eq!(batch.results[5].reason, "INVALID_FIELD");
    assert_eq!(batch.results[5].field, "claims[5].facility_id");
    assert!(
        batch.results[5]
            .message
            .starts_with("claims[5].facility_id:")
    );
    let accepted: Vec<String> = batch
        .results
        .iter()
        .filter_map(|r| r.response.as_ref().map(|c| c.claim_id.clone()))
        .collect();
    assert_eq!(accepted.len(), 11);

    // Paging: 11 claims in pages of 4.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = query
            .list_claims(pb::ListClaimsRequest {
                facility_id: "KE-KSM-NYALENDA".into(),
                member_id: String::new(),
                status: String::new(),
                page_size: 4,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.claims.len() <= 4);
        seen.extend(
            page.claims
                .iter()
                .map(|c| c.claim.as_ref().unwrap().claim_id.clone()),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    // In submission order: one household's claims are numbered as they are submitted.
    let mut expected = accepted.clone();
    expected.sort_by_key(|c| c.rsplit('-').next().unwrap().parse::<u32>().unwrap());
    assert_eq!(seen, expected);
    let err = query
        .list_claims(pb::ListClaimsRequest {
            facility_id: String::new(),
            member_id: String::new(),
            status: "LOST".into(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    // A page token the server never issued (no such claim) is refused, not read as "start".
    let err = query
        .list_claims(pb::ListClaimsRequest {
            facility_id: "KE-KSM-NYALENDA".into(),
            member_id: String::new(),
            status: String::new(),
            page_size: 4,
            page_token: "CL-9999999999".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(details(&err), ("INVALID_FIELD".into(), "page_token".into()));

    // Review one claim (reject the visit), reverse another, pay a copay from the wallet.
    let reviewed = ledger
        .review_claim(pb::ReviewClaimRequest {
            request_id: "rv-1".into(),
            claim_id: accepted[0].clone(),
            reviewer: "MO-1".into(),
            reviewed_on: date(2026, 3, 20),
            changes: vec![pb::LineReview {
                line_no: 1,
                approved_quantity: None,
                unit_price: None,
                reject: true,
            }],
            comment: "no visit recorded".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reviewed.claim.unwrap().claim_status(),
        pb::ClaimStatus::Partial
    );
    ledger
        .reverse_claim(pb::ReverseClaimRequest {
            request_id: "rv-2".into(),
            claim_id: accepted[1].clone(),
            reason: "entered twice".into(),
            reversed_on: date(2026, 3, 21),
        })
        .await
        .unwrap();
    ledger
        .record_copayment(pb::RecordCopaymentRequest {
            request_id: "cp-1".into(),
            receipt_id: "MPESA-CP-1".into(),
            claim_id: accepted[2].clone(),
            amount: kes(14_000),
            collected_on: date(2026, 3, 3),
        })
        .await
        .unwrap();

    // Close March: the statement holds what is owed; a payout settles it.
    let close_march = pb::ClosePaymentPeriodRequest {
        request_id: "pp-1".into(),
        period_id: "2026-03".into(),
        scheme_id: "ipush-ke".into(),
        starts_on: date(2026, 3, 1),
        ends_on: date(2026, 3, 31),
        closed_on: date(2026, 4, 1),
    };
    let closed = ledger
        .close_payment_period(close_march.clone())
        .await
        .unwrap()
        .into_inner();
    let nyalenda = closed
        .statements
        .iter()
        .find(|s| s.facility_id == "KE-KSM-NYALENDA")
        .unwrap();
    // Each claim: visit 1,200 + iron 2 x 350 x 80% = 560 -> 1,760. Eleven claims, less the
    // reversed one (10 x 1,760 = 17,600), less the rejected visit (1,200) = 16,400, plus the
    // 140 copay = 16,540 KES.
    let due = nyalenda.amount_due.as_ref().unwrap().minor_units;
    assert_eq!(due, 1_654_000);
    // Two facilities fit one call: nothing is pending, and a retry of the call answers the
    // same statements (read back from the log).
    assert_eq!(closed.facilities_pending, 0);
    assert!(closed.statements.iter().all(|s| s.complete));
    let again = ledger
        .close_payment_period(close_march)
        .await
        .unwrap()
        .into_inner();
    assert!(again.receipt.as_ref().unwrap().already_done);
    assert_eq!(again.statements, closed.statements);
    let statement = query
        .get_facility_statement(pb::GetFacilityStatementRequest {
            line_page_size: 0,
            line_page_token: String::new(),
            facility_id: "KE-KSM-NYALENDA".into(),
            period_id: "2026-03".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(statement.amount_due.unwrap().minor_units, due);
    // Its lines a page at a time: three a page, following the tokens, give every line once.
    let mut lines = Vec::new();
    let mut token = String::new();
    loop {
        let page = query
            .get_facility_statement(pb::GetFacilityStatementRequest {
                line_page_size: 3,
                line_page_token: token,
                facility_id: "KE-KSM-NYALENDA".into(),
                period_id: "2026-03".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.lines.len() <= 3);
        assert_eq!(page.line_count as usize, statement.lines.len());
        lines.extend(page.lines);
        token = page.next_line_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(lines, statement.lines);
    assert!(statement.lines.len() > 3, "the statement spans pages");
    let bogus = query
        .get_facility_statement(pb::GetFacilityStatementRequest {
            line_page_size: 3,
            line_page_token: "line:999".into(),
            facility_id: "KE-KSM-NYALENDA".into(),
            period_id: "2026-03".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bogus.code(), tonic::Code::InvalidArgument);
    let paid = ledger
        .record_facility_payout(pb::RecordFacilityPayoutRequest {
            request_id: "po-1".into(),
            payout_id: "PO-1".into(),
            facility_id: "KE-KSM-NYALENDA".into(),
            period_id: "2026-03".into(),
            amount: kes(due),
            channel: pb::PaymentChannel::Bank as i32,
            reference: "EFT-1".into(),
            paid_on: date(2026, 4, 3),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paid.statement.unwrap().outstanding.unwrap().minor_units, 0);
    let listed = query
        .list_facility_statements(pb::ListFacilityStatementsRequest {
            facility_id: "KE-KSM-NYALENDA".into(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.statements.len(), 1);

    // Coverage now and as of a date before the premium.
    let coverage = query
        .get_coverage(pb::GetCoverageRequest {
            household_id: "HH-1".into(),
            as_of_date: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(coverage.policies.len(), 1);
    assert_eq!(coverage.policies[0].status, pb::PolicyStatus::Active as i32);
    let before = query
        .get_coverage(pb::GetCoverageRequest {
            household_id: "HH-1".into(),
            as_of_date: date(2026, 2, 9),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(before.policies.is_empty());

    // A stock visit at a scheme facility: the second visit reports consumption.
    for (i, found) in [(1, 20u64), (2, 5)] {
        let visit = ledger
            .record_stock_visit(pb::RecordStockVisitRequest {
                request_id: format!("sv-{i}"),
                facility_id: "KE-KSM-NYALENDA".into(),
                product_code: "FEFOL-60".into(),
                visited_on: date(2026, i + 3, 1),
                stock_found: found,
                losses: 0,
                delivered: 30,
                unit_price: kes(35_000),
            })
            .await
            .unwrap()
            .into_inner();
        if i == 2 {
            assert_eq!(visit.consumed, Some(45));
            assert_eq!(visit.suggested_top_up, 85);
        }
    }

    // The subscriber saw everything, in order, with hashes that chain.
    let head = audit
        .verify_log(pb::VerifyLogRequest {
            from_position: 0,
            to_position: 0,
            partition: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(head.ok);
    let mut positions = Vec::new();
    let mut last_hash = Vec::new();
    while (positions.len() as u64) < head.head_position {
        let e = live.message().await.unwrap().unwrap();
        positions.push(e.event.unwrap().position);
        last_hash = e.hash;
    }
    assert_eq!(positions, (0..head.head_position).collect::<Vec<_>>());
    assert_eq!(last_hash, head.last_hash);

    // Live projections equal a rebuild from position 0.
    let digest = audit
        .get_projection_digest(pb::GetProjectionDigestRequest {
            rebuild: true,
            rebuild_to: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        digest.live.as_ref().unwrap().combined,
        digest.rebuilt.unwrap().combined
    );
    assert_eq!(digest.live.unwrap().position, head.head_position);
    server.stop();
}

/// Oversized and malformed messages are refused with a status, nothing is appended, and the
/// server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_messages_are_refused_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let channel = server.channel(None).await;
    let mut ledger = LedgerServiceClient::new(channel.clone());
    let mut query = QueryServiceClient::new(channel.clone());
    let head = |q: &mut QueryServiceClient<Channel>| {
        let mut q = q.clone();
        async move {
            q.get_trial_balance(pb::GetTrialBalanceRequest::default())
                .await
                .unwrap()
                .into_inner()
                .position
        }
    };

    // Above the transport's 4 MiB message limit.
    let huge = ledger
        .publish_scheme(pb::PublishSchemeRequest {
            request_id: "big-1".into(),
            document: "#".repeat(5 << 20),
            effective_from: date(2026, 1, 1),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(huge.code(), Code::ResourceExhausted | Code::OutOfRange),
        "{huge:?}"
    );
    // Within the transport's limit, above the largest event the log stores (1 MiB).
    let large = ledger
        .publish_scheme(pb::PublishSchemeRequest {
            request_id: "big-2".into(),
            document: format!(
                "{}\n{}",
                adjudicator::examples::IPUSH_KE,
                "#".repeat(2 << 20)
            ),
            effective_from: date(2026, 1, 1),
        })
        .await
        .unwrap_err();
    assert_eq!(large.code(), Code::InvalidArgument, "{large:?}");
    assert!(large.message().contains("the maximum is"), "{large:?}");

    // Bytes that are not a protobuf message of the request type.
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let garbage = grpc
        .unary(
            tonic::Request::new(RawBytes(vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])),
            "/ledger.v1.LedgerService/RegisterHousehold"
                .parse()
                .unwrap(),
            tonic_prost::ProstCodec::<RawBytes, ()>::default(),
        )
        .await
        .unwrap_err();
    // The sender's mistake, named: the field being decoded (request_id, whose length runs
    // past the message) in the message and in the google.rpc details.
    assert_eq!(garbage.code(), Code::InvalidArgument, "{garbage:?}");
    assert!(
        garbage
            .message()
            .starts_with("request_id: not a valid RegisterHouseholdRequest"),
        "{garbage:?}"
    );
    let info = garbage.get_details_error_info().unwrap();
    assert_eq!(
        (info.reason.as_str(), info.metadata["field"].as_str()),
        ("MALFORMED_MESSAGE", "request_id")
    );
    assert_eq!(
        garbage.get_details_bad_request().unwrap().field_violations[0].field,
        "request_id"
    );

    // Nothing was appended, and the server still answers and accepts commands.
    assert_eq!(head(&mut query).await, 0);
    register_member(&mut ledger).await;
    assert_eq!(head(&mut query).await, 3);
    server.stop();
}

/// A server of four partitions: receipts name their partition, every answer says the
/// positions it reflects (`ledger-positions`), and a query naming positions
/// (`ledger-at-least`) is served once they are reached, or refused as BEHIND.
#[tokio::test]
async fn partitions_and_consistency_tokens_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--partitions", "4"]);
    let channel = server.channel(None).await;
    let mut ledger = LedgerServiceClient::new(channel.clone());
    let mut query = QueryServiceClient::new(channel.clone());
    register_member(&mut ledger).await;
    let saved = ledger
        .record_contribution(pb::RecordContributionRequest {
            request_id: "save-1".into(),
            receipt_id: "MPESA-1".into(),
            household_id: "HH-1".into(),
            member_id: String::new(),
            amount: kes(50_000),
            channel: pb::PaymentChannel::MobileMoney as i32,
            received_on: date(2026, 2, 1),
        })
        .await
        .unwrap();
    let reflects = saved
        .metadata()
        .get("ledger-positions")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(reflects.split(',').count(), 4, "{reflects}");
    let receipt = saved.into_inner().receipt.unwrap();
    let partition = ledger::partition::Partitions::new(4)
        .unwrap()
        .of("HH-1")
        .number();
    assert_eq!(receipt.partition, partition);

    // Read your write: the balance at least after the saving.
    let token = format!(
        "{}:{}",
        receipt.partition,
        receipt.first_position + u64::from(receipt.event_count)
    );
    let balance = |token: &str| {
        let mut request = tonic::Request::new(pb::GetBalanceRequest {
            subject: Some(pb::get_balance_request::Subject::HouseholdId("HH-1".into())),
            currency_code: String::new(),
            as_of_date: None,
        });
        request
            .metadata_mut()
            .insert("ledger-at-least", token.parse().unwrap());
        request
    };
    let answer = query.get_balance(balance(&token)).await.unwrap();
    let heads = answer
        .metadata()
        .get("ledger-positions")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let head: u64 = heads
        .split(',')
        .find_map(|p| p.strip_prefix(&format!("{partition}:")))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        head >= receipt.first_position + u64::from(receipt.event_count),
        "{heads}"
    );
    assert!(answer.into_inner().balance.unwrap().minor_units > 0);

    // A position this ledger never reaches: refused once the wait is over, naming the header.
    let behind = query
        .get_balance(balance(&format!("{partition}:1000000")))
        .await
        .unwrap_err();
    assert_eq!(behind.code(), Code::Unavailable);
    assert_eq!(behind.get_details_error_info().unwrap().reason, "BEHIND");
    // A malformed token, or a partition the ledger does not have: INVALID_ARGUMENT.
    for bad in ["4:1", "0:x", "0:1,0:2"] {
        let refused = query.get_balance(balance(bad)).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{bad}");
        assert!(refused.message().starts_with("ledger-at-least:"), "{bad}");
    }
}
