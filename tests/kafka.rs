//! The real server binary on real Apache Kafka (`serve --log kafka://...`): the topic is the
//! ledger, the data directory a replica of it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Server, setup_household, visit_claim};
use ledger::log::kafka::testing;
use proto::v1 as pb;

async fn claim_status(server: &Server, claim: &str) -> (pb::ClaimStatus, Option<i64>) {
    let mut query = pb::query_service_client::QueryServiceClient::new(server.channel(None).await);
    let answer = query
        .get_claim(pb::GetClaimRequest {
            claim_id: claim.into(),
        })
        .await
        .unwrap()
        .into_inner();
    (
        answer.claim_status(),
        answer.total_payer.map(|m| m.minor_units),
    )
}

/// Commands over gRPC are committed in the topic: a server started on an empty data
/// directory (another node, or this one with its disk lost) rebuilds its replica from Kafka
/// and answers the same balances and claim, and a retry gets its first answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_kafka_keeps_its_ledger_in_the_topic() {
    let tmp = tempfile::tempdir().unwrap();
    let topic = testing::fresh_topic("server");
    let args = common::kafka_args(tmp.path(), &topic);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let first = Server::start_with(&tmp.path().join("node-a"), &args);
    let mut ledger = pb::ledger_service_client::LedgerServiceClient::new(first.channel(None).await);
    setup_household(&mut ledger).await;
    let submitted = ledger
        .submit_claim(visit_claim("claim-1", "NY-1", 5))
        .await
        .unwrap()
        .into_inner();
    let claim = submitted.claim_id.clone();
    let mut query = pb::query_service_client::QueryServiceClient::new(first.channel(None).await);
    let wallet = common::wallet(&mut query, "HH-1").await;
    let status = claim_status(&first, &claim).await;
    assert!(status.1.is_some(), "decided: {status:?}");
    first.stop();

    let second = Server::start_with(&tmp.path().join("node-b"), &args);

    assert_eq!(wallet_of(&second, None).await, wallet);
    assert_eq!(claim_status(&second, &claim).await, status);
    let mut ledger =
        pb::ledger_service_client::LedgerServiceClient::new(second.channel(None).await);
    let retry = ledger
        .submit_claim(visit_claim("claim-1", "NY-1", 5))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry.claim_id, claim);
    assert_eq!(
        retry.receipt.unwrap().first_position,
        submitted.receipt.unwrap().first_position
    );
    second.stop();
}

/// The broker dies under a server: the next command fails with UNAVAILABLE (after the
/// configured Kafka timeout), the ones after it at once, and queries keep answering what was
/// committed. When the broker is back the server stops with the storage-recovered status; a
/// restart catches up, and the refused command, sent again, is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_refuses_commands_keeps_queries_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = tmp.path().join("kafka");
    let bootstrap = testing::start_cluster(&cluster, 1);
    let config = tmp.path().join("kafka.toml");
    std::fs::write(
        &config,
        format!(
            "log = \"kafka://{bootstrap}\"\n\n[kafka]\ntopic = \"{}\"\ntimeout_ms = 3000\n",
            testing::fresh_topic("outage")
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let data = tmp.path().join("node");
    let server = Server::start_with(&data, &args);
    let mut ledger =
        pb::ledger_service_client::LedgerServiceClient::new(server.channel(None).await);
    let mut query = pb::query_service_client::QueryServiceClient::new(server.channel(None).await);
    setup_household(&mut ledger).await;
    let wallet = common::wallet(&mut query, "HH-1").await;

    testing::kill_node(&cluster, 0);
    let saving = pb::RecordContributionRequest {
        request_id: "outage-1".into(),
        receipt_id: "MPESA-OUTAGE".into(),
        household_id: "HH-1".into(),
        member_id: String::new(),
        amount: common::kes(5_000),
        channel: pb::PaymentChannel::MobileMoney as i32,
        received_on: common::date(2026, 2, 2),
    };
    for _ in 0..2 {
        let refused = ledger
            .record_contribution(saving.clone())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    }
    assert_eq!(common::wallet(&mut query, "HH-1").await, wallet);

    testing::restart_node(&cluster, 0);
    assert_eq!(
        server.exit_code_within(std::time::Duration::from_secs(60)),
        Some(i32::from(
            claims_ledger::processor::recovery::STORAGE_RECOVERED_EXIT
        ))
    );
    let server = Server::start_with(&data, &args);
    let mut ledger =
        pb::ledger_service_client::LedgerServiceClient::new(server.channel(None).await);
    let mut query = pb::query_service_client::QueryServiceClient::new(server.channel(None).await);
    assert_eq!(wallet_of(&server, None).await, wallet);
    // The restarted node owns once the group let go of the stopped one.
    common::until_available(|| {
        let (mut ledger, saving) = (ledger.clone(), saving.clone());
        async move { ledger.record_contribution(saving).await }
    })
    .await
    .unwrap();
    let retried = ledger
        .record_contribution(saving)
        .await
        .unwrap()
        .into_inner();
    assert!(retried.receipt.unwrap().already_done);
    assert!(common::wallet(&mut query, "HH-1").await >= wallet + 5_000);
    server.stop();
}

fn saving(request: &str, receipt: &str, minor: i64) -> pb::RecordContributionRequest {
    pb::RecordContributionRequest {
        request_id: request.into(),
        receipt_id: receipt.into(),
        household_id: "HH-1".into(),
        member_id: String::new(),
        amount: common::kes(minor),
        channel: pb::PaymentChannel::MobileMoney as i32,
        received_on: common::date(2026, 2, 2),
    }
}

/// Household HH-1's wallet as `server` answers it, once it reflects `receipt` if given (a
/// consistency token: `ledger-at-least`), on any node; retried while the node is switching
/// roles (its gRPC server restarts).
async fn wallet_of(server: &Server, receipt: Option<&pb::CommandReceipt>) -> i64 {
    let query = pb::query_service_client::QueryServiceClient::new(server.channel(None).await);
    let answer = common::until_available(|| {
        let mut query = query.clone();
        let mut request = tonic::Request::new(pb::GetBalanceRequest {
            subject: Some(pb::get_balance_request::Subject::HouseholdId("HH-1".into())),
            currency_code: String::new(),
            as_of_date: None,
        });
        if let Some(receipt) = receipt {
            common::at_least(&mut request, receipt);
        }
        async move { query.get_balance(request).await }
    })
    .await
    .unwrap()
    .into_inner();
    answer.balance.unwrap().minor_units
}

async fn wallet_after(server: &Server, receipt: &pb::CommandReceipt) -> i64 {
    wallet_of(server, Some(receipt)).await
}

/// Records `request` through `server`, retrying while it is UNAVAILABLE (a takeover).
async fn save_through(
    server: &Server,
    request: pb::RecordContributionRequest,
) -> pb::CommandReceipt {
    let ledger = pb::ledger_service_client::LedgerServiceClient::new(server.channel(None).await);
    common::until_available(|| {
        let (mut ledger, request) = (ledger.clone(), request.clone());
        async move { ledger.record_contribution(request).await }
    })
    .await
    .unwrap()
    .into_inner()
    .receipt
    .unwrap()
}

/// The value of metric `name` (no labels) in `server`'s Prometheus page.
fn metric(server: &Server, name: &str) -> Option<f64> {
    let (_, page) = common::http_get(server.metrics.as_ref().unwrap(), "/metrics");
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
}

/// A zombie. Owner A and follower B; a command sent to B is forwarded to A, and B answers
/// it once it reflects it. A is SIGSTOPped until the group gives the ledger to B, with a
/// command waiting in its socket; B's takeover fences A. Resumed, A either refuses that
/// command (fenced) or forwards it to B, and stops with exit 75; nothing is recorded twice.
/// Restarted, A rejoins as a follower: it answers B's ledger and forwards to B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zombie_owner_is_fenced_and_rejoins_as_a_follower() {
    let tmp = tempfile::tempdir().unwrap();
    let args = common::kafka_args(tmp.path(), &testing::fresh_topic("zombie"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let with_metrics: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--metrics-listen", "127.0.0.1:0"])
        .collect();
    let a = Server::start_with(&tmp.path().join("node-a"), &args);
    let mut ledger_a = pb::ledger_service_client::LedgerServiceClient::new(a.channel(None).await);
    setup_household(&mut ledger_a).await;
    let first = save_through(&a, saving("save-1", "MPESA-Z1", 1_000)).await;

    let b = Server::start_with(&tmp.path().join("node-b"), &with_metrics);
    let forwarded = save_through(&b, saving("save-2", "MPESA-Z2", 2_000)).await;
    assert!(!forwarded.already_done);
    let wallet = wallet_after(&a, &forwarded).await;
    assert!(wallet > 0);
    assert_eq!(wallet_after(&b, &forwarded).await, wallet, "B follows A");
    assert!(metric(&b, "grpc_forwarded_total") >= Some(1.0));
    assert_eq!(metric(&b, "kafka_node_owner"), Some(0.0), "B follows");

    a.signal("STOP");
    let waiting = tokio::spawn({
        let mut ledger_a = ledger_a.clone();
        async move {
            ledger_a
                .record_contribution(saving("save-3", "MPESA-Z3", 3_000))
                .await
        }
    });
    // B owns once the group gave up on A: A's producers are fenced by then.
    let taken = save_through(&b, saving("save-4", "MPESA-Z4", 4_000)).await;
    assert!(!taken.already_done);
    a.signal("CONT");
    // A either had learnt it lost the ledger and forwarded the command to B, or was
    // fenced committing it.
    let recorded_by_a = match waiting.await.unwrap() {
        Ok(_) => true,
        Err(status) => {
            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
            false
        }
    };
    assert_eq!(
        a.exit_code_within(std::time::Duration::from_secs(60)),
        Some(i32::from(
            claims_ledger::processor::recovery::STORAGE_RECOVERED_EXIT
        )),
        "A stops once it learns another node owns"
    );
    let third = save_through(&b, saving("save-3", "MPESA-Z3", 3_000)).await;
    assert_eq!(third.already_done, recorded_by_a);
    let wallet_b = wallet_after(&b, &third).await;
    assert!(wallet_b > wallet);
    for (request, receipt, minor) in [
        ("save-1", "MPESA-Z1", 1_000),
        ("save-2", "MPESA-Z2", 2_000),
        ("save-3", "MPESA-Z3", 3_000),
        ("save-4", "MPESA-Z4", 4_000),
    ] {
        let retry = save_through(&b, saving(request, receipt, minor)).await;
        assert!(retry.already_done, "{request} recorded once");
    }
    assert_eq!(wallet_after(&b, &third).await, wallet_b, "nothing doubled");
    // B committed to Kafka itself: it owns (its `kafka_node_owner` turns 1 once every
    // partition is taken over, which may be after its first commits).
    assert!(metric(&b, "kafka_commit_seconds_count") >= Some(1.0));

    let a = Server::start_with(&tmp.path().join("node-a"), &with_metrics);
    assert_eq!(wallet_after(&a, &third).await, wallet_b, "A follows B");
    let retry = save_through(&a, saving("save-1", "MPESA-Z1", 1_000)).await;
    assert!(retry.already_done, "forwarded to B, which has it once");
    assert_eq!(retry.first_position, first.first_position);
    assert!(metric(&a, "grpc_forwarded_total") >= Some(1.0));
    assert_eq!(metric(&a, "kafka_node_owner"), Some(0.0), "A follows");
    let (_, page) = common::http_get(a.metrics.as_ref().unwrap(), "/metrics");
    assert!(
        page.contains("kafka_follower_lag_offsets{partition=\"1\"}"),
        "a follower reports its lag per partition: {page}"
    );
    a.stop();
    b.stop();
}
