//! A full disk, on the real binary: the server's data directory on a small tmpfs that
//! `.ci/run` mounts and names in `DISK_FULL_DIR`. Appends fail with UNAVAILABLE and a clear
//! message; queries keep being answered from what is durable; health says the ledger service
//! is NOT_SERVING and the query service SERVING. When space returns, the server stops by
//! itself with exit status 75 and, started again, appends resume. Where no tmpfs can
//! be mounted (`DISK_FULL_DIR` unset) the same behaviour is pinned in process by a failing log
//! (`tests/scenarios.rs`, `a_storage_failure_refuses_commands_and_keeps_serving_queries`),
//! and this test says so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Server, date, kes};
use pb::ledger_service_client::LedgerServiceClient;
use pb::query_service_client::QueryServiceClient;
use proto::v1 as pb;
use tonic::Code;

/// Most contributions sent before the disk must have filled up.
const CONTRIBUTIONS_MAX: usize = 200_000;
/// A file taking room on the tmpfs, removed to give the server space again: 2.5 of its 4 MiB,
/// so that once it is gone the restart has room for what it writes at open (the log's sled
/// index writes a snapshot; the indexer's last checkpoint grows it at the stop before).
const BALLAST_BYTES: usize = 5 << 19;
/// How long the server may take to notice the space (it probes every second).
const RECOVERY_MAX: std::time::Duration = std::time::Duration::from_secs(60);

fn contribution(request: &str, receipt: &str) -> pb::RecordContributionRequest {
    pb::RecordContributionRequest {
        request_id: request.into(),
        receipt_id: receipt.into(),
        household_id: "HH-1".into(),
        member_id: String::new(),
        amount: kes(100),
        channel: pb::PaymentChannel::MobileMoney as i32,
        received_on: date(2026, 2, 1),
    }
}

async fn health(server: &Server, service: &str) -> i32 {
    use tonic_health::pb::health_client::HealthClient;
    HealthClient::new(server.channel(None).await)
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

#[tokio::test]
async fn a_full_disk_refuses_appends_and_keeps_answering_queries() {
    let Some(dir) = std::env::var_os("DISK_FULL_DIR") else {
        println!("DISK_FULL_DIR unset: no tmpfs here; the failpoint test in scenarios.rs runs");
        return;
    };
    let data = std::path::Path::new(&dir).join("data");
    let _ = std::fs::remove_dir_all(&data);
    // Room the test frees once the disk is full.
    let ballast = std::path::Path::new(&dir).join("ballast");
    std::fs::write(&ballast, vec![0u8; BALLAST_BYTES]).unwrap();
    let server = Server::start(&data);
    let mut ledger = LedgerServiceClient::new(server.channel(None).await);
    let mut query = QueryServiceClient::new(server.channel(None).await);
    common::register_member(&mut ledger).await;
    let mut accepted = 0i64;
    let mut refusal = None;
    for n in 0..CONTRIBUTIONS_MAX {
        let answer = ledger
            .record_contribution(contribution(
                &format!("fill-{n}-{}", "x".repeat(40)),
                &format!("MPESA-FILL-{n}-{}", "y".repeat(30)),
            ))
            .await;
        match answer {
            Ok(_) => accepted += 1,
            Err(status) => {
                refusal = Some(status);
                break;
            }
        }
    }
    let refusal = refusal.expect("the disk never filled up");
    println!(
        "disk full after {accepted} contributions: {}",
        refusal.message()
    );
    assert_eq!(refusal.code(), Code::Unavailable, "{refusal:?}");
    // Queries: answered from what is durable (every acknowledged contribution, and matches).
    let wallet = common::wallet(&mut query, "HH-1").await;
    assert!(wallet >= accepted * 100, "{wallet} < {accepted} x 100");
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    assert_eq!(health(&server, "ledger.v1.QueryService").await, serving);
    assert_ne!(health(&server, "ledger.v1.LedgerService").await, serving);
    // Commands stay refused while the disk is full.
    let again = ledger
        .record_contribution(contribution("after-full", "MPESA-AFTER"))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::Unavailable);

    // Space again: the server stops by itself (exit 75) for its supervisor to restart it,
    // and the restarted server takes appends, with every acknowledged one kept.
    // (Clients closed first: the stop drains open connections for up to 5 s.)
    drop((ledger, query));
    std::fs::remove_file(&ballast).unwrap();
    assert_eq!(server.exit_code_within(RECOVERY_MAX), Some(75));
    let server = Server::start(&data);
    let mut ledger = LedgerServiceClient::new(server.channel(None).await);
    let mut query = QueryServiceClient::new(server.channel(None).await);
    let before = common::wallet(&mut query, "HH-1").await;
    assert!(before >= accepted * 100, "{before} < {accepted} x 100");
    ledger
        .record_contribution(contribution("after-space", "MPESA-AFTER-SPACE"))
        .await
        .unwrap();
    assert!(common::wallet(&mut query, "HH-1").await > before);
    drop((ledger, query));
    server.stop();
}
