//! Durable append throughput, side by side in one run:
//!
//! - `file`: write + fdatasync of the same encoded bytes to a plain file, one sync per batch
//!   (the disk ceiling);
//! - `naive sled`: one sled key per event, one `apply_batch` + `flush` per batch (what a
//!   straightforward design gets);
//! - `sled store alone`: the ledger's own storage step (its segments, one atomic sled batch
//!   and one flush per commit) with the same bytes and nothing else: the ceiling sled sets;
//! - `ledger`: the sled log with full semantics (validation, protobuf encoding, hash chain,
//!   idempotency and stream indexes), one append per batch, awaited in sequence;
//! - `ledger x64`: the same with 64 concurrent appenders, so group commit merges batches.
//!
//! Run: `cargo bench --bench append` (`-- --quick` for a short smoke run, `-- --only 1024` for
//! one batch size).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::OpenOptions;
use std::io::Write;
use std::time::{Duration, Instant};

use ledger::codec::Envelope;
use ledger::conformance::sample_events;
use ledger::event::Event;
use ledger::log::{SEGMENT_BYTES_TARGET, SledStore, Store};
use ledger::{AppendRequest, EventLog, NewEvent, RequestId, SledLog, StreamId, StreamKind};

/// The allocator the server binary uses (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The event mix: a contribution, a claim submission and its adjudication, repeated.
fn mix() -> Vec<Event> {
    let samples = sample_events();
    vec![samples[3].clone(), samples[7].clone(), samples[8].clone()]
}

struct Workload {
    batches: Vec<AppendRequest>,
    /// The stored bytes of every event, in append order (for the baselines).
    encoded: Vec<Vec<Vec<u8>>>,
    events: usize,
    bytes: usize,
}

fn workload(batch: usize, total: usize) -> Workload {
    let mix = mix();
    let mut batches = Vec::new();
    let mut encoded = Vec::new();
    let mut bytes = 0;
    let mut position = 0u64;
    for b in 0..total / batch {
        let mut events = Vec::with_capacity(batch);
        let mut raw = Vec::with_capacity(batch);
        for i in 0..batch {
            let stream = StreamId::new(
                StreamKind::Household,
                format!("HH-{}", (b * batch + i) % 10_000),
            )
            .unwrap();
            let event = mix[(b * batch + i) % mix.len()].clone();
            let envelope = Envelope {
                position,
                stream: stream.clone(),
                stream_version: 1,
                recorded_at_unix_ms: 1_795_000_000_000,
                request_id: RequestId::new(format!("bench-{b}")).unwrap(),
                event: event.clone(),
            }
            .encode();
            bytes += envelope.len();
            raw.push(envelope);
            events.push(NewEvent { stream, event });
            position += 1;
        }
        batches.push(AppendRequest::new(
            RequestId::new(format!("bench-{b}")).unwrap(),
            events,
        ));
        encoded.push(raw);
    }
    Workload {
        events: batches.len() * batch,
        batches,
        encoded,
        bytes,
    }
}

fn file_baseline(w: &Workload, dir: &std::path::Path) -> Duration {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("plain.log"))
        .unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    for batch in &w.encoded {
        buf.clear();
        for e in batch {
            buf.extend_from_slice(&(e.len() as u32).to_le_bytes());
            buf.extend_from_slice(e);
        }
        file.write_all(&buf).unwrap();
        file.sync_data().unwrap();
    }
    start.elapsed()
}

fn naive_sled(w: &Workload, dir: &std::path::Path) -> Duration {
    let db = sled::Config::new()
        .path(dir.join("naive"))
        .mode(sled::Mode::HighThroughput)
        .open()
        .unwrap();
    let tree = db.open_tree("events").unwrap();
    let start = Instant::now();
    let mut position = 0u64;
    for batch in &w.encoded {
        let mut b = sled::Batch::default();
        for e in batch {
            b.insert(&position.to_be_bytes(), e.as_slice());
            position += 1;
        }
        tree.apply_batch(b).unwrap();
        db.flush().unwrap();
    }
    start.elapsed()
}

/// The ledger's storage step alone: the same events framed as its segments (length, bytes,
/// a 32-byte hash slot; a new segment past `SEGMENT_BYTES_TARGET`), written by its
/// `SledStore` one commit at a time (one atomic sled batch and one flush each). No
/// validation, encoding, hashing or indexes: the ceiling sled sets for the ledger.
fn sled_store(w: &Workload, dir: &std::path::Path) -> Duration {
    let store = SledStore::open(dir.join("store")).unwrap();
    let start = Instant::now();
    let mut position = 0u64;
    for batch in &w.encoded {
        let mut segments = vec![(position, Vec::new())];
        for e in batch {
            let len = segments.last().map_or(0, |(_, s)| s.len());
            if len + e.len() + 36 > SEGMENT_BYTES_TARGET && len > 0 {
                segments.push((position, Vec::new()));
            }
            let (_, segment) = segments.last_mut().unwrap();
            segment.extend_from_slice(&(e.len() as u32).to_le_bytes());
            segment.extend_from_slice(e);
            segment.extend_from_slice(&[0u8; 32]);
            position += 1;
        }
        store.write_segments(segments).unwrap();
    }
    start.elapsed()
}

fn ledger_run(w: &Workload, dir: &std::path::Path, concurrency: usize) -> Duration {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = SledLog::open(dir.join("ledger")).unwrap();
        let mut lanes: Vec<Vec<AppendRequest>> = vec![Vec::new(); concurrency];
        for (i, b) in w.batches.iter().enumerate() {
            lanes[i % concurrency].push(b.clone());
        }
        let start = Instant::now();
        let tasks: Vec<_> = lanes
            .into_iter()
            .map(|lane| {
                let log = log.clone();
                tokio::spawn(async move {
                    for request in lane {
                        log.append(request).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let elapsed = start.elapsed();
        assert_eq!(log.head().next_position as usize, w.events);
        log.shutdown().await.unwrap();
        elapsed
    })
}

fn main() {
    if let Some(concurrency) = std::env::args()
        .skip_while(|a| a != "--profile-ledger")
        .nth(1)
        .and_then(|c| c.parse().ok())
    {
        // Only the ledger, for a profiler: `--profile-ledger <concurrency>` (SKIP_SLED=1 to
        // run the memory log alone).
        let w = workload(1024, 409_600);
        let dir = tempfile::tempdir().unwrap();
        if std::env::var_os("SKIP_SLED").is_none() {
            let d = ledger_run(&w, dir.path(), concurrency);
            println!("{:.0} events/s", w.events as f64 / d.as_secs_f64());
        }
        // The same appends without a disk: the CPU cost of the semantics alone.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let d = runtime.block_on(async {
            let log = ledger::MemoryLog::in_memory();
            let batches = w.batches.clone();
            let start = Instant::now();
            for b in batches {
                log.append(b).await.unwrap();
            }
            start.elapsed()
        });
        println!(
            "memory log: {:.0} events/s",
            w.events as f64 / d.as_secs_f64()
        );
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let configs: &[(usize, usize)] = if quick {
        &[(1, 300), (64, 6_400), (1024, 51_200)]
    } else {
        &[(1, 2_000), (64, 64_000), (1024, 409_600)]
    };
    println!(
        "| batch | events | avg event bytes | file (disk ceiling) | naive sled | sled store alone | ledger | ledger x64 | ledger / file | ledger / naive sled | ledger / sled store | sled store / file | ledger x64 / file |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let only: Option<usize> = std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .and_then(|b| b.parse().ok());
    for &(batch, total) in configs {
        if only.is_some_and(|o| o != batch) {
            continue;
        }
        let w = workload(batch, total);
        let dir = tempfile::tempdir().unwrap();
        let rate = |d: Duration| w.events as f64 / d.as_secs_f64();
        let mbps = |d: Duration| w.bytes as f64 / d.as_secs_f64() / 1e6;
        let file = file_baseline(&w, dir.path());
        let naive = naive_sled(&w, dir.path());
        let store = sled_store(&w, dir.path());
        let ours = ledger_run(&w, dir.path(), 1);
        let dir2 = tempfile::tempdir().unwrap();
        let ours64 = ledger_run(&w, dir2.path(), 64);
        let cell = |d: Duration| format!("{:.0} ev/s ({:.1} MB/s)", rate(d), mbps(d));
        println!(
            "| {batch} | {} | {} | {} | {} | {} | {} | {} | {:.2}x | {:.1}x | {:.2}x | {:.2}x | {:.2}x |",
            w.events,
            w.bytes / w.events,
            cell(file),
            cell(naive),
            cell(store),
            cell(ours),
            cell(ours64),
            rate(ours) / rate(file),
            rate(ours) / rate(naive),
            rate(ours) / rate(store),
            rate(store) / rate(file),
            rate(ours64) / rate(file),
        );
    }
}
