//! Durable append throughput, side by side in one run:
//!
//! - `file`: write + fdatasync of the same stored bytes (the framed records) to a plain file,
//!   one sync per batch (the disk ceiling; at batch 1, one fsync per event);
//! - `file, preallocated`: the same into a file written with zeros and synced beforehand (what
//!   preallocating segment files could gain);
//! - `naive sled`: one sled key per event, one `apply_batch` + `flush` per batch (what a
//!   straightforward design gets);
//! - `sled store alone`: the records in sled (`SledStore`, one atomic batch and one flush per
//!   commit) and nothing else: the ceiling sled set for the ledger before segment files;
//! - `segment store alone`: the same records through `FileStore::write_commit` (one vectored
//!   write and one fdatasync per commit, sparse offset notes): the ceiling of our own store;
//! - `ledger`: the segment-file log with full semantics (validation, protobuf encoding, hash
//!   chain, CRCs, idempotency and stream indexes), one append per batch, awaited in sequence;
//! - `ledger x64`: the same with 64 concurrent appenders, so group commit merges batches;
//! - `ledger on sled`: the full semantics over `SledStore`, one appender (the design before).
//!
//! Run: `cargo bench --bench append` (`-- --quick` for a short smoke run, `-- --only 1024` for
//! one batch size). `-- --partitions` instead compares P = 1, 2 and 4 partition logs sharing
//! the disk, in the same run: batches of 1024 from one appender per partition, and 64 clients
//! of single-event appends spread over the partitions (each partition commits on its own).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::OpenOptions;
use std::io::Write;
use std::time::{Duration, Instant};

use ledger::codec::Envelope;
use ledger::conformance::{numbered, sample_events};
use ledger::event::Event;
use ledger::log::{CHUNK_BYTES_TARGET, FileStore, SledStore, Store, frame};
use ledger::{
    AppendRequest, EventLog, FileLog, NewEvent, RequestId, SledLog, StreamId, StreamKind,
};

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
    /// Each batch as the log stores it: chunks of framed records, keyed by first position.
    framed: Vec<Vec<(u64, Vec<u8>)>>,
    events: usize,
    /// Stored bytes (framing, CRCs and chain hashes included).
    bytes: usize,
}

/// A batch's records framed as the stores keep them (a zero chain hash: its bytes count, not
/// its value), in chunks of about `CHUNK_BYTES_TARGET`.
fn frame_batch(first: u64, batch: &[Vec<u8>]) -> Vec<(u64, Vec<u8>)> {
    let mut chunks = vec![(first, Vec::new())];
    let mut last_at = 0;
    for (i, e) in batch.iter().enumerate() {
        let position = first + i as u64;
        let len = chunks.last().map_or(0, |(_, c)| c.len());
        if len + e.len() + frame::OVERHEAD_BYTES > CHUNK_BYTES_TARGET && len > 0 {
            chunks.push((position, Vec::new()));
        }
        let (_, chunk) = chunks.last_mut().unwrap();
        last_at = chunk.len();
        frame::push(chunk, position, e, &[0u8; 32], false);
    }
    let (_, chunk) = chunks.last_mut().unwrap();
    frame::mark_commit_end(chunk, last_at);
    chunks
}

fn workload(batch: usize, total: usize) -> Workload {
    let mix = mix();
    let mut batches = Vec::new();
    let mut encoded = Vec::new();
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
            let event = numbered(mix[(b * batch + i) % mix.len()].clone(), b * batch + i);
            let envelope = Envelope {
                position,
                stream: stream.clone(),
                stream_version: 1,
                recorded_at_unix_ms: 1_795_000_000_000,
                request_id: RequestId::new(format!("bench-{b}")).unwrap(),
                event: event.clone(),
            }
            .encode();
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
    let framed: Vec<_> = encoded
        .iter()
        .enumerate()
        .map(|(b, raw)| frame_batch((b * batch) as u64, raw))
        .collect();
    let bytes = framed.iter().flatten().map(|(_, c)| c.len()).sum();
    Workload {
        events: batches.len() * batch,
        batches,
        encoded,
        framed,
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
    for batch in &w.framed {
        buf.clear();
        for (_, chunk) in batch {
            buf.extend_from_slice(chunk);
        }
        file.write_all(&buf).unwrap();
        file.sync_data().unwrap();
    }
    start.elapsed()
}

/// The same writes and fdatasyncs into a file whose blocks were written (zeros) and synced
/// beforehand: what preallocating segment files could gain (a sync then carries no size or
/// block-allocation metadata).
fn file_preallocated(w: &Workload, dir: &std::path::Path) -> Duration {
    use std::os::unix::fs::FileExt;
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(dir.join("preallocated.log"))
        .unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut written = 0;
    while written < w.bytes {
        file.write_all_at(&zeros, written as u64).unwrap();
        written += zeros.len();
    }
    file.sync_all().unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut at = 0u64;
    for batch in &w.framed {
        buf.clear();
        for (_, chunk) in batch {
            buf.extend_from_slice(chunk);
        }
        file.write_all_at(&buf, at).unwrap();
        file.sync_data().unwrap();
        at += buf.len() as u64;
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

/// The records in sled, one commit at a time (one atomic sled batch and one flush each): no
/// validation, encoding, hashing or indexes.
fn sled_store(w: &Workload, dir: &std::path::Path) -> Duration {
    let store = SledStore::open(dir.join("store")).unwrap();
    let start = Instant::now();
    for batch in &w.framed {
        store.write_commit(batch.clone()).unwrap();
    }
    start.elapsed()
}

/// The same records through the segment-file store (one write + fdatasync per commit).
fn segment_store(w: &Workload, dir: &std::path::Path) -> Duration {
    let (store, _) = FileStore::open(dir.join("segments")).unwrap();
    let start = Instant::now();
    for batch in &w.framed {
        store.write_commit(batch.clone()).unwrap();
    }
    start.elapsed()
}

#[derive(Clone, Copy)]
enum Backend {
    Segments,
    Sled,
}

fn ledger_run(w: &Workload, dir: &std::path::Path, concurrency: usize) -> Duration {
    ledger_on(Backend::Segments, w, dir, concurrency)
}

fn ledger_on(
    backend: Backend,
    w: &Workload,
    dir: &std::path::Path,
    concurrency: usize,
) -> Duration {
    match backend {
        Backend::Segments => {
            run_appends(FileLog::open(dir.join("ledger")).unwrap(), w, concurrency)
        }
        Backend::Sled => run_appends(
            SledLog::open(dir.join("ledger-sled")).unwrap(),
            w,
            concurrency,
        ),
    }
}

fn run_appends<L: EventLog>(log: L, w: &Workload, concurrency: usize) -> Duration {
    run_on(vec![log], w, concurrency)
}

/// `clients` appenders spread over `logs` (client c appends to log c % n), each appending its
/// share of `w`'s batches in sequence.
fn run_on<L: EventLog>(logs: Vec<L>, w: &Workload, clients: usize) -> Duration {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut lanes: Vec<Vec<AppendRequest>> = vec![Vec::new(); clients];
        for (i, b) in w.batches.iter().enumerate() {
            lanes[i % clients].push(b.clone());
        }
        let start = Instant::now();
        let tasks: Vec<_> = lanes
            .into_iter()
            .enumerate()
            .map(|(c, lane)| {
                let log = logs[c % logs.len()].clone();
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
        let appended: u64 = logs.iter().map(|l| l.head().next_position).sum();
        assert_eq!(appended as usize, w.events);
        drop(logs);
        elapsed
    })
}

/// `clients` appenders over `partitions` segment logs in one directory.
fn run_partitioned(
    w: &Workload,
    dir: &std::path::Path,
    partitions: usize,
    clients: usize,
) -> Duration {
    let logs: Vec<FileLog> = (0..partitions)
        .map(|p| FileLog::open(dir.join(format!("p{p}"))).unwrap())
        .collect();
    run_on(logs, w, clients)
}

/// P = 1, 2 and 4 partition logs on one disk, in the same run.
fn compare_partitions(quick: bool) {
    println!("| load | events | P = 1 | P = 2 | P = 4 | P = 2 / P = 1 | P = 4 / P = 1 |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let scale = if quick { 8 } else { 1 };
    for (name, batch, total, clients) in [
        (
            "batch 1024, one appender per partition",
            1024,
            409_600 / scale,
            0,
        ),
        ("batch 1, 64 clients", 1, 64_000 / scale, 64),
    ] {
        let w = workload(batch, total);
        let rates: Vec<f64> = [1, 2, 4]
            .into_iter()
            .map(|p| {
                let dir = tempfile::tempdir().unwrap();
                let clients = if clients == 0 { p } else { clients };
                w.events as f64 / run_partitioned(&w, dir.path(), p, clients).as_secs_f64()
            })
            .collect();
        println!(
            "| {name} | {} | {:.0} ev/s | {:.0} ev/s | {:.0} ev/s | {:.2}x | {:.2}x |",
            w.events,
            rates[0],
            rates[1],
            rates[2],
            rates[1] / rates[0],
            rates[2] / rates[0]
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--partitions") {
        compare_partitions(std::env::args().any(|a| a == "--quick"));
        return;
    }
    if let Some(concurrency) = std::env::args()
        .skip_while(|a| a != "--profile-ledger")
        .nth(1)
        .and_then(|c| c.parse().ok())
    {
        // Only the ledger, for a profiler: `--profile-ledger <concurrency>` (BATCH=n events
        // per append, 1024 by default; MEMORY=1 to run the memory log instead: the CPU cost
        // of the semantics without a disk).
        let batch: usize = std::env::var("BATCH")
            .ok()
            .and_then(|b| b.parse().ok())
            .unwrap_or(1024);
        let w = workload(batch, (batch * 400).clamp(40_000, 409_600));
        let dir = tempfile::tempdir().unwrap();
        let d = if std::env::var_os("MEMORY").is_some() {
            run_appends(ledger::MemoryLog::in_memory(), &w, concurrency)
        } else {
            ledger_run(&w, dir.path(), concurrency)
        };
        println!("{:.0} events/s", w.events as f64 / d.as_secs_f64());
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let configs: &[(usize, usize)] = if quick {
        &[(1, 300), (64, 6_400), (1024, 51_200)]
    } else {
        &[(1, 2_000), (64, 64_000), (1024, 409_600)]
    };
    println!(
        "| batch | events | stored bytes/event | file (disk ceiling) | file, preallocated | naive sled | sled store alone | segment store alone | ledger | ledger x64 | ledger on sled | ledger / file | ledger x64 / file | ledger / naive sled | ledger x64 / naive sled | segment store / file | sled store / file |"
    );
    println!(
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let only: Option<usize> = std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .and_then(|b| b.parse().ok());
    for &(batch, total) in configs {
        if only.is_some_and(|o| o != batch) {
            continue;
        }
        let w = workload(batch, total);
        let rate = |d: Duration| w.events as f64 / d.as_secs_f64();
        let mbps = |d: Duration| w.bytes as f64 / d.as_secs_f64() / 1e6;
        let fresh = || tempfile::tempdir().unwrap();
        let file = file_baseline(&w, fresh().path());
        let preallocated = file_preallocated(&w, fresh().path());
        let naive = naive_sled(&w, fresh().path());
        let sled_alone = sled_store(&w, fresh().path());
        let segments_alone = segment_store(&w, fresh().path());
        let ours = ledger_run(&w, fresh().path(), 1);
        let ours64 = ledger_run(&w, fresh().path(), 64);
        let on_sled = ledger_on(Backend::Sled, &w, fresh().path(), 1);
        let cell = |d: Duration| format!("{:.0} ev/s ({:.1} MB/s)", rate(d), mbps(d));
        println!(
            "| {batch} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2}x | {:.2}x | {:.1}x | {:.1}x | {:.2}x | {:.2}x |",
            w.events,
            w.bytes / w.events,
            cell(file),
            cell(preallocated),
            cell(naive),
            cell(sled_alone),
            cell(segments_alone),
            cell(ours),
            cell(ours64),
            cell(on_sled),
            rate(ours) / rate(file),
            rate(ours64) / rate(file),
            rate(ours) / rate(naive),
            rate(ours64) / rate(naive),
            rate(segments_alone) / rate(file),
            rate(sled_alone) / rate(file),
        );
    }
}
