//! Scale: a generated scheme history (`claims_ledger::tools::generate`: N households over M
//! months, from a seed) applied to a ledger of P partitions on segment files, then what it
//! costs to hold and to restart:
//! - events, commands per second while applying (64 commands in flight within each step);
//! - resident memory (RSS) before and after, per member and per event;
//! - restart to serving: shut down (checkpoints saved), open again;
//! - full rebuild: every partition replayed from offset 0, events per second.
//!
//! Run: `cargo bench --bench scale -- --households 5000 --months 12 --partitions 1` (one
//! configuration per process: RSS is the process's).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use claims_ledger::partitioned::Ledger;
use claims_ledger::partitioned::layout::Layout;
use claims_ledger::processor::checkpoint::CheckpointStore;
use claims_ledger::processor::{CommandError, State, replay};
use claims_ledger::tools::generate::{Generator, Plan};
use ledger::EventLog;

/// The allocator the server binary uses (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const IN_FLIGHT: usize = 64;

fn arg(name: &str, default: u64) -> u64 {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of this process, in bytes (from /proc; 0 where there is none).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    let plan = Plan {
        households: arg("--households", 2000) as usize,
        months: arg("--months", 12) as u32,
        seed: arg("--seed", 2026),
    };
    let partitions = ledger::partition::Partitions::new(arg("--partitions", 1)).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::open(dir.path(), Some(partitions)).unwrap();
        let ledger = Ledger::open(&layout).await.unwrap();
        let before = rss();
        let mut generator = Generator::new(plan.clone()).unwrap();
        let members = generator.members();
        let started = Instant::now();
        let (mut commands, mut refused) = (0u64, 0u64);
        let mut reasons = std::collections::BTreeMap::new();
        while let Some(step) = generator.next_step() {
            let mut step = step.into_iter();
            loop {
                let batch: Vec<_> = step.by_ref().take(IN_FLIGHT).collect();
                if batch.is_empty() {
                    break;
                }
                let tasks: Vec<_> = batch
                    .into_iter()
                    .map(|(request, command)| {
                        let ledger = ledger.clone();
                        tokio::spawn(async move { ledger.execute(request, command).await })
                    })
                    .collect();
                for task in tasks {
                    commands += 1;
                    match task.await.unwrap() {
                        Ok(_) => {}
                        Err(CommandError::Rejected(r)) => {
                            refused += 1;
                            *reasons.entry(r.reason()).or_insert(0u64) += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }
        let applied = started.elapsed();
        let events: u64 = ledger
            .services()
            .iter()
            .map(|s| s.log().head().next_position)
            .sum();
        let after = rss();
        println!(
            "| households | members | months | partitions | events | commands (refused) | commands/s | RSS before | RSS after | RSS per member | RSS per event |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        println!(
            "| {} | {members} | {} | {partitions} | {events} | {commands} ({refused}) | {:.0} | {:.0} MB | {:.0} MB | {:.0} B | {:.0} B |",
            plan.households,
            plan.months,
            commands as f64 / applied.as_secs_f64(),
            mb(before),
            mb(after),
            after.saturating_sub(before) as f64 / members as f64,
            after.saturating_sub(before) as f64 / events as f64,
        );

        println!("\nrefused: {reasons:?}");
        let mut models = [0usize; 5];
        let mut names = [""; 5];
        for service in ledger.services() {
            let sizes = CheckpointStore::model_sizes(&*service.state().await).unwrap();
            for (i, (name, bytes)) in sizes.into_iter().enumerate() {
                names[i] = name;
                models[i] += bytes;
            }
        }
        let per_model: Vec<String> = names
            .iter()
            .zip(models)
            .map(|(n, b)| format!("{n} {:.0} MB", mb(b as u64)))
            .collect();
        println!("\ncheckpoint by model: {}", per_model.join(", "));
        // What a checkpoint holds the writer for: encoding the state (today), against
        // copying it (a snapshot encoded outside the writer).
        let (mut copying, mut encoding) = (0f64, 0f64);
        for service in ledger.services() {
            let state = service.state().await;
            let started = Instant::now();
            let copy = state.projections.clone();
            copying += started.elapsed().as_secs_f64();
            let started = Instant::now();
            let body = CheckpointStore::encode(&state, [0; 32]).unwrap();
            encoding += started.elapsed().as_secs_f64();
            drop((copy, body));
        }
        println!("checkpoint: encoding {encoding:.2} s, copying the state {copying:.2} s");
        // Restart to serving: checkpoints saved at shutdown, then open again.
        let checkpoint = ledger.checkpoint().await.unwrap().unwrap_or(0);
        println!(
            "\ncheckpoints (the projections, bincode): {:.0} MB, {:.0} B per event",
            mb(checkpoint as u64),
            checkpoint as f64 / events as f64
        );
        ledger.shutdown().await;
        ledger.close_logs().await.unwrap();
        drop(ledger);
        let reopening = Instant::now();
        let reopened = Ledger::open(&layout).await.unwrap();
        let restart = reopening.elapsed();
        // Full rebuild of every partition from offset 0.
        let rebuilding = Instant::now();
        for service in reopened.services() {
            let head = service.log().head().next_position;
            replay(service.log(), State::default(), head).await.unwrap();
        }
        let rebuild = rebuilding.elapsed();
        println!(
            "\nrestart to serving {:.2} s; full rebuild {:.2} s ({:.0} events/s)",
            restart.as_secs_f64(),
            rebuild.as_secs_f64(),
            events as f64 / rebuild.as_secs_f64()
        );
        reopened.shutdown().await;
        reopened.close_logs().await.unwrap();
    });
}
