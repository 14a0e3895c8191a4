//! End-to-end command throughput (durable, segment files) and replay rate, side by side with baselines
//! measured in the same run:
//! - commands: a mixed iPUSH workload (enrolment, savings with sponsor matches, premiums from
//!   the wallet, claims adjudicated on submission) from 64 concurrent clients, each command
//!   decided, appended with one fsync per batch, and answered;
//! - replay: rebuilding every projection from position 0, against a raw scan + decode of the
//!   same log, each replay stage alone, and the floor under any replay of this log on this
//!   machine: reading the segment files, walking the protobuf fields, updating hash maps.
//!
//! Run: `cargo bench --bench commands` (`-- --households N` to size it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use adjudicator::examples;
use claims_ledger::command::Command;
use claims_ledger::processor::{REPLAY_CHUNK_EVENTS, Service, State, rebuild};
use ledger::{EventLog, FileLog, RecordedEvent, RequestId};

/// The allocator the server binary uses (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CLIENTS: usize = 64;

#[path = "support/workload.rs"]
mod workload;
use workload::{day, household_lanes};

fn main() {
    let households: usize = std::env::args()
        .skip_while(|a| a != "--households")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(4000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path().join("log")).unwrap();
    let (commands, elapsed) = runtime.block_on(async {
        let svc = Service::start(log.clone()).await.unwrap();
        svc.execute(
            RequestId::new("publish").unwrap(),
            Command::PublishScheme {
                document: examples::IPUSH_KE.to_owned(),
                effective_from: day(0),
            },
        )
        .await
        .unwrap();
        let lanes = household_lanes(households, CLIENTS);
        let commands: usize = lanes.iter().map(Vec::len).sum();
        let start = Instant::now();
        let tasks: Vec<_> = lanes
            .into_iter()
            .map(|lane| {
                let svc = svc.clone();
                tokio::spawn(async move {
                    for (request, command) in lane {
                        svc.execute(RequestId::new(request).unwrap(), command)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        (commands, start.elapsed())
    });
    let head = log.head().next_position;

    let (floors, replay) = runtime.block_on(async {
        let floors = replay_floors(&log, head).await;
        let start = Instant::now();
        let state = rebuild(&log, head).await.unwrap();
        std::hint::black_box(state.projections.position());
        (floors, start.elapsed())
    });
    runtime.block_on(log.shutdown()).unwrap();
    drop(log);
    let floor = storage_floor(&dir.path().join("log"), head);

    let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64();
    let per_event = |d: Duration| d.as_secs_f64() * 1e6 / head as f64;
    println!(
        "| households | commands | events | commands/s (durable, {CLIENTS} clients) | raw scan + decode | replay (rebuild all projections) | replay / scan |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {households} | {commands} | {head} | {:.0} | {:.0} events/s | {:.0} events/s | {:.2}x |",
        rate(commands as u64, elapsed),
        rate(head, floors.scan),
        rate(head, replay),
        floors.scan.as_secs_f64() / replay.as_secs_f64()
    );
    println!();
    println!("| replay stage, one core each | us per event | events/s |");
    println!("|---|---:|---:|");
    for (stage, d) in [
        (
            "verify: read, check the hash chain, decode (nothing kept)",
            floors.verify,
        ),
        ("read + decode", floors.scan),
        (
            "fold into every projection (decoded events in memory)",
            floors.fold,
        ),
        (
            "replay (read + decode on one task, fold on another)",
            replay,
        ),
    ] {
        println!("| {stage} | {:.2} | {:.0} |", per_event(d), rate(head, d));
    }
    println!();
    println!("| floor under any replay of this log, one core | us per event | events/s |");
    println!("|---|---:|---:|");
    for (stage, d) in [
        ("read every segment file into memory", floor.files_read),
        (
            "find every record, visit every protobuf field (no value made)",
            floor.walk,
        ),
    ] {
        println!("| {stage} | {:.2} | {:.0} |", per_event(d), rate(head, d));
    }
    println!();
    println!("| random update of a hash map of | ns per update |");
    println!("|---|---:|");
    for (entries, ns) in map_update_floor() {
        println!("| {entries} entries | {ns:.0} |");
    }
    println!();
    println!("| fold by event kind | events | us per event | share of the fold |");
    println!("|---|---:|---:|---:|");
    let total: Duration = floors.by_kind.values().map(|(_, d)| *d).sum();
    for (kind, (n, d)) in &floors.by_kind {
        println!(
            "| {kind} | {n} | {:.2} | {:.1}% |",
            d.as_secs_f64() * 1e6 / *n as f64,
            100.0 * d.as_secs_f64() / total.as_secs_f64()
        );
    }
}

/// What a replay's stages cost alone, one after another on one core each.
struct Floors {
    verify: Duration,
    scan: Duration,
    fold: Duration,
    /// Events and fold time by event kind.
    by_kind: BTreeMap<&'static str, (u64, Duration)>,
}

async fn replay_floors(log: &FileLog, head: u64) -> Floors {
    let start = Instant::now();
    let report = log.verify(0, head).await.unwrap();
    assert!(report.first_bad.is_none(), "{report:?}");
    let verify = start.elapsed();

    let start = Instant::now();
    read_chunks(log, head, |events| drop(std::hint::black_box(events))).await;
    let scan = start.elapsed();

    let mut chunks = Vec::new();
    read_chunks(log, head, |events| chunks.push(events)).await;
    let start = Instant::now();
    let mut state = State::default();
    for chunk in chunks {
        state.apply_recorded(&chunk).unwrap();
    }
    std::hint::black_box(state.projections.position());
    let fold = start.elapsed();

    // The folds again, one event at a time, timed by kind (each event its own request
    // group: the same state, a clock read around every event).
    let mut chunks = Vec::new();
    read_chunks(log, head, |events| chunks.push(events)).await;
    let mut by_kind: BTreeMap<&'static str, (u64, Duration)> = BTreeMap::new();
    let mut state = State::default();
    for chunk in chunks {
        for i in 0..chunk.len() {
            let start = Instant::now();
            state.apply_recorded(&chunk[i..=i]).unwrap();
            let kind = by_kind.entry(chunk[i].event.name()).or_default();
            kind.0 += 1;
            kind.1 += start.elapsed();
        }
    }
    Floors {
        verify,
        scan,
        fold,
        by_kind,
    }
}

/// Reads the log from 0 to `head` in the replay's chunks, handing each to `each`.
async fn read_chunks(log: &FileLog, head: u64, mut each: impl FnMut(Vec<RecordedEvent>)) {
    let mut position = 0;
    while position < head {
        let events = log.read(position, REPLAY_CHUNK_EVENTS).await.unwrap();
        position += events.len() as u64;
        each(events);
    }
}

/// The floor under any replay of the log at `path`: what reading it costs before any event is
/// decoded into a value.
struct StorageFloor {
    /// Every segment file read into memory.
    files_read: Duration,
    /// Every record found in its segment and every protobuf field visited once.
    walk: Duration,
}

fn storage_floor(path: &std::path::Path, head: u64) -> StorageFloor {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    let start = Instant::now();
    let segments: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let files_read = start.elapsed();

    let start = Instant::now();
    let (mut events, mut fields) = (0u64, 0u64);
    for segment in &segments {
        let records = &segment[ledger::log::files::FILE_HEADER_BYTES as usize..];
        for record in ledger::log::frame::parse_all(records).unwrap() {
            fields += visit_fields(record.bytes, 0).unwrap();
            events += 1;
        }
    }
    let walk = start.elapsed();
    assert_eq!(events, head, "every event was walked");
    std::hint::black_box(fields);
    StorageFloor { files_read, walk }
}

/// Visits every field of a protobuf message once, reading its key and value: the least any
/// decoder does. Without the schema a length-delimited value is visited as a message when it
/// parses as one (events nest four deep: envelope, event, body, line, amount), else skipped as
/// bytes. The number of fields, or None when `bytes` is not a message.
fn visit_fields(mut bytes: &[u8], depth: u32) -> Option<u64> {
    fn varint(bytes: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = bytes.split_first()?;
            *bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
    let mut fields = 0;
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let skip = match key & 7 {
            0 => {
                std::hint::black_box(varint(&mut bytes)?);
                0
            }
            1 => 8,
            5 => 4,
            2 => {
                let len = usize::try_from(varint(&mut bytes)?).ok()?;
                let value = bytes.get(..len)?;
                if depth < 4 {
                    fields += visit_fields(value, depth + 1).unwrap_or(0);
                }
                len
            }
            _ => return None,
        };
        bytes = bytes.get(skip..)?;
        fields += 1;
    }
    Some(fields)
}

/// What one update of a hash map costs at random keys, at sizes of the tables a replay keeps
/// (households, members, claims, request receipts): the folds do several per event.
fn map_update_floor() -> Vec<(usize, f64)> {
    const UPDATES: u32 = 2_000_000;
    [30_000usize, 100_000, 500_000]
        .into_iter()
        .map(|entries| {
            let spread = |k: u64| k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let mut map: std::collections::HashMap<u64, [u64; 4], foldhash::fast::RandomState> =
                (0..entries as u64).map(|k| (spread(k), [k; 4])).collect();
            let mut x = 0x2545_f491_4f6c_dd1du64;
            let start = Instant::now();
            for _ in 0..UPDATES {
                // xorshift: a key the hardware cannot predict.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if let Some(v) = map.get_mut(&spread(x % entries as u64)) {
                    v[1] = v[1].wrapping_add(v[0]);
                }
            }
            let ns = start.elapsed().as_secs_f64() * 1e9 / f64::from(UPDATES);
            std::hint::black_box(&map);
            (entries, ns)
        })
        .collect()
}
