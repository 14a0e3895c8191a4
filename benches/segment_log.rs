//! The segment-file log at size: open time and point-read cost, at 1M and 20M events.
//!
//! Each log is written through `FileStore::write_commit` (the store the ledger uses: framed
//! records with real envelopes and a real SHA-256 chain, 1,024 events per commit), with the
//! index checkpointed every 262,144 events as the ledger's indexer does. Then, for each log:
//! - open after a clean stop (the index reaches the head: nothing to re-read);
//! - open after a crash (the index is one checkpoint interval behind: the tail of up to
//!   262,143 events is re-read, CRC- and chain-checked);
//! - point reads: `read(p, 1)` at random positions over the whole log, through the
//!   ledger's read path (sparse offset note, then at most 4 KiB of scan), mean per read.
//!
//! Run: `cargo bench --bench segment_log` (`-- --events 1000000,20000000` to choose sizes;
//! the 20M log takes ~5.5 GB of disk).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use ledger::codec::encode_envelope;
use ledger::conformance::sample_events;
use ledger::log::{FileStore, IndexDelta, Store, frame};
use ledger::{EventLog, FileLog, Head, RequestId, StreamId, StreamKind, chain};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const COMMIT_EVENTS: u64 = 1024;
/// The ledger's default `Limits::index_checkpoint_events`.
const CHECKPOINT_EVENTS: u64 = 1 << 18;
const POINT_READS: usize = 100_000;

/// Writes `events` events; stops with the index `behind` events short of the head.
fn build(dir: &std::path::Path, events: u64, behind: u64) -> Head {
    let (store, _) = FileStore::open(dir).unwrap();
    let samples = sample_events();
    let bodies: Vec<Vec<u8>> = [3, 7, 8]
        .iter()
        .map(|i| ledger::codec::event_bytes(&samples[*i]))
        .collect();
    let streams: Vec<StreamId> = (0..10_000)
        .map(|h| StreamId::new(StreamKind::Household, format!("HH-{h}")).unwrap())
        .collect();
    let mut head = Head {
        next_position: 0,
        hash: chain::GENESIS,
    };
    let mut envelope = Vec::with_capacity(512);
    let mut indexed = 0;
    while head.next_position < events {
        let first = head.next_position;
        let count = COMMIT_EVENTS.min(events - first);
        let request = RequestId::new(format!("bench-{first}")).unwrap();
        let mut chunk = Vec::with_capacity(count as usize * 340);
        let mut last_at = 0;
        for position in first..first + count {
            envelope.clear();
            let body = &bodies[position as usize % bodies.len()];
            let stream = &streams[position as usize % streams.len()];
            encode_envelope(
                position,
                stream,
                1,
                1_795_000_000_000,
                &request,
                body,
                &mut envelope,
            );
            head.hash = chain::link(&head.hash, &envelope);
            last_at = chunk.len();
            frame::push(&mut chunk, position, &envelope, &head.hash, false);
        }
        frame::mark_commit_end(&mut chunk, last_at);
        store.write_commit(vec![(first, chunk)]).unwrap();
        head.next_position = first + count;
        let checkpoint = head.next_position - indexed >= CHECKPOINT_EVENTS;
        if checkpoint && head.next_position + behind <= events {
            index_checkpoint(&store, head);
            indexed = head.next_position;
        }
    }
    if behind == 0 {
        index_checkpoint(&store, head);
    }
    store.flush().unwrap();
    head
}

/// What the ledger's indexer does at a checkpoint: the index (here only the offset notes) up
/// to the head, then the anchor.
fn index_checkpoint(store: &FileStore, head: Head) {
    let delta = IndexDelta {
        upto: head.next_position,
        ..IndexDelta::default()
    };
    store.apply_index(&delta).unwrap();
    store.anchor_head(head).unwrap();
}

fn timed_open(dir: &std::path::Path, head: Head) -> (Duration, FileLog) {
    let start = Instant::now();
    let log = FileLog::open(dir).unwrap();
    let took = start.elapsed();
    assert_eq!(log.head(), head);
    (took, log)
}

/// Mean cost of `read(p, 1)` at random positions below `events`.
fn point_reads(log: &FileLog, events: u64) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut state = 0x5eed_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..POINT_READS {
            let position = next() % events;
            let read = log.read(position, 1).await.unwrap();
            assert_eq!(read[0].position, position);
        }
        start.elapsed() / POINT_READS as u32
    })
}

fn main() {
    let sizes: Vec<u64> = std::env::args()
        .skip_while(|a| a != "--events")
        .nth(1)
        .map(|s| s.split(',').map(|n| n.parse().unwrap()).collect())
        .unwrap_or_else(|| vec![1_000_000, 20_000_000]);
    println!(
        "| events | log bytes | segment files | open, clean stop | open after a crash (tail re-read) | point read, mean | point read in the first 1M |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for events in sizes {
        let dir = tempfile::tempdir().unwrap();
        let clean = dir.path().join("clean");
        let head = build(&clean, events, 0);
        let (open_clean, log) = timed_open(&clean, head);
        let read = point_reads(&log, events);
        // The same reads confined to the first million positions: what the log's size
        // itself adds, apart from where in memory the reads land.
        let read_first = point_reads(&log, events.min(1_000_000));
        drop(log);
        let segments: Vec<u64> = std::fs::read_dir(&clean)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .map(|p| std::fs::metadata(p).unwrap().len())
            .collect();
        let (files, bytes) = (segments.len(), segments.iter().sum::<u64>());
        std::fs::remove_dir_all(&clean).unwrap();
        let crash = if std::env::args().any(|a| a == "--no-crash") {
            "-".to_owned()
        } else {
            let crashed = dir.path().join("crashed");
            let behind = CHECKPOINT_EVENTS - COMMIT_EVENTS;
            let head = build(&crashed, events, behind);
            let (open_crashed, log) = timed_open(&crashed, head);
            drop(log);
            format!(
                "{:.1} ms ({behind} events)",
                open_crashed.as_secs_f64() * 1e3
            )
        };
        println!(
            "| {events} | {:.2} GB | {files} | {:.1} ms | {crash} | {:.2} µs | {:.2} µs |",
            bytes as f64 / 1e9,
            open_clean.as_secs_f64() * 1e3,
            read.as_secs_f64() * 1e6,
            read_first.as_secs_f64() * 1e6,
        );
    }
}
