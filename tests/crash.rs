//! Crash test: a child process appends under load from concurrent writers and is killed with
//! SIGKILL at a random moment, again and again on the same data directory. After every kill
//! the log must reopen with: every acknowledged append present with its content, no append
//! half there, gapless stream versions, and a chain that verifies.
//!
//! The kill point is chosen by counting acknowledgements (a random number of them), never by
//! sleeping. It runs on one log and on four logs appended to at once (as four partitions
//! commit on their own). Set CRASH_SEED to replay a run; CRASH_ROUNDS to change the number
//! of rounds (24 by default, half that with four logs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use claims_ledger::tools::rng::SplitMix64;
use ledger::event::Event;
use ledger::{EventLog, FileLog};

struct Ack {
    request_id: String,
    log: usize,
    first_position: u64,
    count: u32,
}

/// Runs the child until it has printed `kill_after` acknowledgements, then SIGKILLs it.
fn run_child_and_kill(dir: &std::path::Path, logs: usize, run: &str, kill_after: u64) -> Vec<Ack> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_claims-ledger"))
        .args(["append-load", "--writers", "8", "--run", run, "--data-dir"])
        .arg(dir)
        .args(["--logs", &logs.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut acks = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child output");
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts.len(), 5, "unexpected line {line:?}");
        acks.push(Ack {
            request_id: parts[1].to_owned(),
            log: parts[2].parse().unwrap(),
            first_position: parts[3].parse().unwrap(),
            count: parts[4].parse().unwrap(),
        });
        if acks.len() as u64 >= kill_after {
            break;
        }
    }
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    assert_eq!(
        acks.len() as u64,
        kill_after,
        "the child stopped before it was killed"
    );
    acks
}

/// The event count a request was built with: its id ends in `-n<count>`.
fn count_in_id(id: &str) -> u32 {
    id.rsplit_once("-n")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("request id {id} has no count"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_never_loses_acknowledged_appends_or_leaves_half_batches() {
    crash_rounds(1, 24).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_four_logs_at_once_loses_nothing_acknowledged_in_any() {
    crash_rounds(4, 12).await;
}

/// The log of `index` among `logs` under `dir`.
fn log_path(dir: &std::path::Path, logs: usize, index: usize) -> std::path::PathBuf {
    if logs == 1 {
        dir.to_owned()
    } else {
        dir.join(format!("p{index}"))
    }
}

async fn crash_rounds(logs: usize, default_rounds: usize) {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let rounds: usize = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(default_rounds, |n: usize| (n * default_rounds / 24).max(1));
    eprintln!("crash test: CRASH_SEED={seed} CRASH_ROUNDS={rounds}");
    let mut rng = SplitMix64::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut acknowledged: Vec<Ack> = Vec::new();

    for round in 0..rounds {
        let kill_after = rng.range(1, 400);
        acknowledged.extend(run_child_and_kill(
            &path,
            logs,
            &format!("r{round}"),
            kill_after,
        ));
        for index in 0..logs {
            let acks: Vec<&Ack> = acknowledged.iter().filter(|a| a.log == index).collect();
            check_reopened(&log_path(&path, logs, index), &acks, round, seed).await;
        }
    }
    assert!(acknowledged.len() >= rounds);
}

/// The log reopens with every acknowledged append of `acknowledged` at its positions, no
/// append half there, gapless stream versions, and a chain that verifies.
async fn check_reopened(path: &std::path::Path, acknowledged: &[&Ack], round: usize, seed: u64) {
    {
        let log = FileLog::open(path)
            .unwrap_or_else(|e| panic!("round {round} (seed {seed}): reopen failed: {e}"));
        let head = log.head().next_position;
        let events = log.read(0, usize::MAX).await.unwrap();
        assert_eq!(events.len() as u64, head);

        // Every acknowledged append is there, at its positions, with its content.
        for ack in acknowledged {
            assert_eq!(ack.count, count_in_id(&ack.request_id));
            for k in 0..ack.count {
                let position = ack.first_position + u64::from(k);
                let event = events.get(position as usize).unwrap_or_else(|| {
                    panic!(
                        "round {round} (seed {seed}): acknowledged {} lost at {position}",
                        ack.request_id
                    )
                });
                assert_eq!(event.request_id.as_str(), ack.request_id);
                let Event::ContributionReceived(c) = &event.event else {
                    panic!("unexpected event kind at {position}");
                };
                assert_eq!(c.receipt_id.as_str(), format!("{}-e{k}", ack.request_id));
            }
        }

        // No append is half there: every request's events are contiguous and complete.
        let mut i = 0;
        while i < events.len() {
            let id = events[i].request_id.as_str();
            let expected = count_in_id(id) as usize;
            let run = events[i..]
                .iter()
                .take_while(|e| e.request_id.as_str() == id)
                .count();
            assert_eq!(
                run, expected,
                "round {round} (seed {seed}): request {id} at {i} has {run} of {expected} events"
            );
            i += run;
        }

        // Stream versions are gapless.
        let mut versions: HashMap<&ledger::StreamId, u64> = HashMap::new();
        for e in &events {
            let v = versions.entry(&e.stream).or_insert(0);
            *v += 1;
            assert_eq!(
                e.stream_version, *v,
                "stream {} at {}",
                e.stream, e.position
            );
        }

        let report = log.verify(0, head).await.unwrap();
        assert!(report.is_ok(), "round {round} (seed {seed}): {report:?}");
        log.shutdown().await.unwrap();
        drop(log);
    }
}
