//! Damage to a stopped server's data directory is never served as history. Each round copies
//! a pristine data directory, flips random bytes in one of its files or truncates it, and
//! starts the real server on the copy. Every round must end in one of:
//! - a refusal to start that names the log position, or the damaged file where there is none
//!   (the anchored head's own file, sled's configuration);
//! - a start whose answers are refused (an error), or whose `VerifyLog` names a bad position;
//! - no effect: the same head hash, projection digest and balances as the untouched copy.
//!
//! Never a start that serves a different history or balance as if it were whole. It runs on
//! a one-partition ledger and on one of four partitions (the count file and every
//! partition's files damaged alike). Set `CORRUPTION_SEED` to replay a run,
//! `CORRUPTION_ROUNDS` to change the number of rounds (default 40, and half that with four
//! partitions). RELIABILITY.md records the counts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use claims_ledger::tools::rng::SplitMix64;
use common::{Server, date, kes};
use pb::audit_service_client::AuditServiceClient;
use pb::ledger_service_client::LedgerServiceClient;
use pb::query_service_client::QueryServiceClient;
use proto::v1 as pb;

const HOUSEHOLDS: usize = 30;

/// What a served ledger answers: the head hash, the live projection digest, every wallet.
#[derive(Debug, PartialEq, Eq)]
struct Served {
    /// Every partition's head and its chain hash.
    heads: Vec<(u64, Vec<u8>)>,
    digest: Vec<u8>,
    wallets: Vec<i64>,
}

async fn served(server: &Server, partitions: u32) -> Result<Served, tonic::Status> {
    let channel = server.channel(None).await;
    let mut audit = AuditServiceClient::new(channel.clone());
    let mut query = QueryServiceClient::new(channel);
    let mut heads = Vec::new();
    for partition in 0..partitions {
        let verified = audit
            .verify_log(pb::VerifyLogRequest {
                from_position: 0,
                to_position: 0,
                partition,
            })
            .await?
            .into_inner();
        if !verified.ok {
            return Err(tonic::Status::data_loss(format!(
                "verify names position {:?}: {}",
                verified.first_bad_position, verified.reason
            )));
        }
        heads.push((verified.head_position, verified.last_hash));
    }
    let digest = audit
        .get_projection_digest(pb::GetProjectionDigestRequest {
            rebuild: false,
            rebuild_to: 0,
        })
        .await?
        .into_inner()
        .live
        .unwrap()
        .combined;
    let mut wallets = Vec::new();
    for h in 0..HOUSEHOLDS {
        let balance = query
            .get_balance(pb::GetBalanceRequest {
                subject: Some(pb::get_balance_request::Subject::HouseholdId(format!(
                    "HH-C{h}"
                ))),
                currency_code: String::new(),
                as_of_date: None,
            })
            .await?
            .into_inner();
        wallets.push(balance.balance.unwrap().minor_units);
    }
    Ok(Served {
        heads,
        digest,
        wallets,
    })
}

/// A stopped server's data directory with a scheme, households, savings and claims.
async fn pristine(dir: &std::path::Path, partitions: u32) -> Served {
    let server = Server::start_with(dir, &["--partitions", &partitions.to_string()]);
    let mut ledger = LedgerServiceClient::new(server.channel(None).await);
    common::register_member(&mut ledger).await;
    for h in 0..HOUSEHOLDS {
        ledger
            .register_household(pb::RegisterHouseholdRequest {
                request_id: format!("reg-{h}"),
                household_id: format!("HH-C{h}"),
                scheme_id: "ipush-ke".into(),
                location_code: "KSM".into(),
                socio_economic_category: String::new(),
                registered_on: date(2026, 1, 2),
            })
            .await
            .unwrap();
        for k in 0..4 {
            ledger
                .record_contribution(pb::RecordContributionRequest {
                    request_id: format!("save-{h}-{k}"),
                    receipt_id: format!("MPESA-C{h}-{k}"),
                    household_id: format!("HH-C{h}"),
                    member_id: String::new(),
                    amount: kes(10_000 * (h as i64 + 1) + k),
                    channel: pb::PaymentChannel::MobileMoney as i32,
                    received_on: date(2026, 2, 1 + k as i32),
                })
                .await
                .unwrap();
        }
    }
    let state = served(&server, partitions).await.unwrap();
    server.stop();
    state
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            files(&entry.path(), out);
        } else if entry.metadata().unwrap().len() > 0 {
            out.push(entry.path());
        }
    }
    out.sort();
}

/// Damages one file of `dir`: flips 1-4 random bytes or truncates it; says what it did.
fn damage(dir: &std::path::Path, rng: &mut SplitMix64) -> String {
    let mut all = Vec::new();
    files(dir, &mut all);
    let file = &all[rng.range(0, all.len() as u64 - 1) as usize];
    let mut bytes = std::fs::read(file).unwrap();
    let name = file.strip_prefix(dir).unwrap().display().to_string();
    if rng.chance(20) {
        let len = rng.range(0, bytes.len() as u64 - 1) as usize;
        bytes.truncate(len);
        std::fs::write(file, &bytes).unwrap();
        return format!("{name} truncated to {len} bytes");
    }
    let flips = rng.range(1, 4);
    let mut at = Vec::new();
    for _ in 0..flips {
        let i = rng.range(0, bytes.len() as u64 - 1) as usize;
        bytes[i] ^= 1 << rng.range(0, 7);
        at.push(i);
    }
    std::fs::write(file, &bytes).unwrap();
    format!("{name} flipped at {at:?}")
}

#[derive(Debug, Default)]
struct Counts {
    refused_to_start: u32,
    /// Refusals that name neither a log position nor the damaged file.
    refused_unnamed: Vec<String>,
    refused_to_answer: u32,
    no_effect: u32,
    served_silently: Vec<String>,
}

#[tokio::test]
async fn damaged_data_directories_are_never_served_as_history() {
    damage_rounds(1, 40).await;
}

#[tokio::test]
async fn damaged_directories_of_four_partitions_are_never_served_as_history() {
    damage_rounds(4, 20).await;
}

async fn damage_rounds(partitions: u32, default_rounds: u32) {
    let seed = std::env::var("CORRUPTION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let rounds: u32 = std::env::var("CORRUPTION_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(default_rounds, |n: u32| n * default_rounds / 40);
    println!("CORRUPTION_SEED={seed}");
    let mut rng = SplitMix64::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean");
    let expected = pristine(&clean, partitions).await;

    let mut counts = Counts::default();
    for round in 0..rounds {
        let copy = dir.path().join(format!("round-{round}"));
        copy_dir(&clean, &copy);
        let what = damage(&copy, &mut rng);
        match Server::try_start_with(&copy, &[]) {
            Err(refusal) => {
                counts.refused_to_start += 1;
                // A refusal names the log position, or the damaged file where there is none
                // (the anchor itself, sled's configuration).
                if !refusal.contains("position") && !refusal.contains(&*copy.to_string_lossy()) {
                    let last = refusal.lines().last().unwrap_or_default().to_owned();
                    counts
                        .refused_unnamed
                        .push(format!("round {round} ({what}): {last}"));
                }
            }
            Ok(server) => match served(&server, partitions).await {
                Err(_) => counts.refused_to_answer += 1,
                Ok(state) if state == expected => counts.no_effect += 1,
                Ok(state) => counts.served_silently.push(format!(
                    "round {round} ({what}): served heads {:?} of {:?}",
                    state.heads.iter().map(|h| h.0).collect::<Vec<_>>(),
                    expected.heads.iter().map(|h| h.0).collect::<Vec<_>>()
                )),
            },
        }
        let _ = std::fs::remove_dir_all(&copy);
    }
    println!(
        "corruption ({partitions} partitions): {rounds} rounds, {} refused to start, {} refused to answer, {} no effect, \
         {} served silently",
        counts.refused_to_start,
        counts.refused_to_answer,
        counts.no_effect,
        counts.served_silently.len()
    );
    assert!(
        counts.refused_unnamed.is_empty(),
        "CORRUPTION_SEED={seed}: refusals that name neither a position nor a file:\n{}",
        counts.refused_unnamed.join("\n")
    );
    assert!(
        counts.served_silently.is_empty(),
        "CORRUPTION_SEED={seed}:\n{}",
        counts.served_silently.join("\n")
    );
}
