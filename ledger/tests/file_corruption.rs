//! Every single-byte flip in a segment-file log is detected, and none is served.
//!
//! - Exhaustive: a small closed log (12 commits over several segment files); each byte of
//!   every segment file is changed in turn, in a fresh copy, and the copy opened and read in
//!   full. Each flip must be refused at open or reported by the read or `verify`, at a
//!   position; counted by position class (file header, each record header field, event bytes,
//!   chain hash; last segment or older). Every byte of the anchored head as well.
//! - Random: a larger log (30,000 events in 1.5 MiB segment files); random flips in its
//!   segment files, its sled index and its anchor.
//!   A flip in the index (derived data) may have no effect; any other must be detected.
//!   `CORRUPTION_SEED` replays a run, `CORRUPTION_ROUNDS` sets the number of flips (24).
//!
//! Never a copy that opens and reads back a different or shorter history without an error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{copy_dir, segment_files};
use ledger::conformance::{contribution, request};
use ledger::log::files::{FILE_HEADER_BYTES, INDEX_DIR, SEGMENT_BYTES_MIN};
use ledger::log::{anchor, frame};
use ledger::{EventLog, FileLog, Head, Limits, LogError, RecordedEvent};

/// Segments of the small log: a few records each, so the sweep has older segments.
const SMALL_SEGMENT_BYTES: u64 = SEGMENT_BYTES_MIN;
/// Segments of the larger log: several files, each longer than the commit-start note spacing
/// (1 MiB), so opening reads only their ends and damage further in is found by the reads.
const LARGER_SEGMENT_BYTES: u64 = 1536 << 10;

fn open(path: &Path, segment_bytes: u64) -> Result<FileLog, LogError> {
    FileLog::open_segmented(path, segment_bytes, Limits::default())
}

async fn build(
    path: &Path,
    segment_bytes: u64,
    commits: usize,
    events_per_commit: usize,
) -> (Head, Vec<RecordedEvent>) {
    let log = open(path, segment_bytes).unwrap();
    for i in 0..commits {
        let events = (0..events_per_commit)
            .map(|j| {
                let n = i * events_per_commit + j;
                contribution(&format!("HH-{}", n % 7), &format!("R{n}"), 100 + n as i64)
            })
            .collect();
        log.append(request(&format!("req-{i}"), events))
            .await
            .unwrap();
    }
    let head = log.head();
    let events = log.read(0, usize::MAX).await.unwrap();
    log.shutdown().await.unwrap();
    (head, events)
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Opening refused, naming a position (or the damaged file).
    Refused,
    /// Opened; reading or verifying the whole log failed at a position.
    Detected,
    /// Opened and read back exactly the original history.
    NoEffect,
    /// Opened and served something else as whole: the failure this test exists for.
    Served(String),
}

/// What a damaged copy and the log it was made from hold.
struct Case<'a> {
    segment_bytes: u64,
    head: Head,
    events: &'a [RecordedEvent],
}

async fn outcome(path: &Path, case: &Case<'_>) -> Outcome {
    let (head, events) = (case.head, case.events);
    let log = match open(path, case.segment_bytes) {
        Err(e) => {
            let names_place = matches!(
                e,
                LogError::Corrupt { .. }
                    | LogError::ChainBroken { .. }
                    | LogError::Shortened { .. }
                    | LogError::Damaged { .. }
            ) || e.to_string().contains(&*path.to_string_lossy());
            assert!(names_place, "a refusal that names no position or file: {e}");
            return Outcome::Refused;
        }
        Ok(log) => log,
    };
    let read = log.read(0, usize::MAX).await;
    let verified = log.verify(0, log.head().next_position).await;
    let served_head = log.head();
    log.shutdown().await.unwrap();
    drop(log);
    match (read, verified) {
        (Err(_), _) | (_, Err(_)) => Outcome::Detected,
        (_, Ok(report)) if !report.is_ok() => Outcome::Detected,
        (Ok(read), Ok(_)) if read == events && served_head == head => Outcome::NoEffect,
        (Ok(read), Ok(_)) => Outcome::Served(format!(
            "head {} of {}, {} events read",
            served_head.next_position,
            head.next_position,
            read.len()
        )),
    }
}

/// The position class of byte `at` of a segment file.
fn class_of(bytes: &[u8], at: usize) -> &'static str {
    if at < FILE_HEADER_BYTES as usize {
        return "file header";
    }
    let mut start = FILE_HEADER_BYTES as usize;
    while start < bytes.len() {
        let record = frame::parse(&bytes[start..]).unwrap();
        let end = start + record.stored_len();
        if at < end {
            let within = at - start;
            return match within {
                0..4 => "record magic",
                4..8 => "record length",
                8..16 => "record offset",
                16..20 => "record flags",
                20..24 => "record body CRC",
                24..28 => "record header CRC",
                _ if at >= end - frame::HASH_BYTES => "chain hash",
                _ => "event bytes",
            };
        }
        start = end;
    }
    unreachable!("byte {at} is past the records")
}

/// Writes `bytes` with byte `at` changed into the copy's file `name`, and opens the copy.
async fn flip_and_open(
    pristine: &Path,
    scratch: &Path,
    file: &Path,
    at: usize,
    case: &Case<'_>,
) -> Outcome {
    let _ = std::fs::remove_dir_all(scratch);
    copy_dir(pristine, scratch);
    let relative = file.strip_prefix(pristine).unwrap();
    let mut bytes = std::fs::read(file).unwrap();
    // A different bit at each position, so every bit of a field is changed somewhere.
    bytes[at] ^= 1 << (at % 8);
    std::fs::write(scratch.join(relative), &bytes).unwrap();
    outcome(scratch, case).await
}

#[tokio::test]
async fn every_single_byte_flip_in_a_small_log_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine");
    let (head, events) = build(&pristine, SMALL_SEGMENT_BYTES, 20, 1).await;
    let case = Case {
        segment_bytes: SMALL_SEGMENT_BYTES,
        head,
        events: &events,
    };
    let scratch = dir.path().join("scratch");
    let files = segment_files(&pristine);
    assert!(
        files.len() >= 3,
        "the sweep needs older segments and a last one"
    );
    let mut counts: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    for (i, file) in files.iter().enumerate() {
        let which = if i + 1 == files.len() {
            "last segment"
        } else {
            "older segment"
        };
        let bytes = std::fs::read(file).unwrap();
        for at in 0..bytes.len() {
            let class = class_of(&bytes, at);
            let got = flip_and_open(&pristine, &scratch, file, at, &case).await;
            let entry = counts.entry((which, class)).or_default();
            entry.0 += 1;
            match got {
                Outcome::Refused => entry.1 += 1,
                Outcome::Detected => {}
                other => panic!(
                    "{which}, {class}, byte {at} of {}: {other:?}",
                    file.display()
                ),
            }
        }
    }
    let anchor_file = anchor::path(&pristine);
    let anchor_len = std::fs::read(&anchor_file).unwrap().len();
    for at in 0..anchor_len {
        let got = flip_and_open(&pristine, &scratch, &anchor_file, at, &case).await;
        assert_eq!(got, Outcome::Refused, "anchor byte {at}");
    }
    eprintln!("| segment | class | flips | refused at open | reported by read or verify |");
    for ((which, class), (flips, refused)) in &counts {
        eprintln!(
            "| {which} | {class} | {flips} | {refused} | {} |",
            flips - refused
        );
    }
    eprintln!("| anchor | every byte | {anchor_len} | {anchor_len} | 0 |");
    for which in ["last segment", "older segment"] {
        for class in [
            "file header",
            "record magic",
            "record length",
            "record offset",
            "record flags",
            "record body CRC",
            "record header CRC",
            "event bytes",
            "chain hash",
        ] {
            assert!(
                counts.contains_key(&(which, class)),
                "no flip in the {which}'s {class}"
            );
        }
    }
}

fn seed() -> u64 {
    std::env::var("CORRUPTION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16)
}

fn rounds() -> usize {
    std::env::var("CORRUPTION_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24)
}

/// SplitMix64: a seeded, dependency-free generator for the flip positions.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn files_under(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files_under(&entry.path()));
        } else if std::fs::metadata(entry.path()).unwrap().len() > 0 {
            out.push(entry.path());
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn random_flips_in_a_larger_log_are_detected_or_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine");
    let (head, events) = build(&pristine, LARGER_SEGMENT_BYTES, 1500, 20).await;
    let case = Case {
        segment_bytes: LARGER_SEGMENT_BYTES,
        head,
        events: &events,
    };
    let scratch = dir.path().join("scratch");
    let index = pristine.join(INDEX_DIR);
    let (in_index, segments): (Vec<PathBuf>, Vec<PathBuf>) = files_under(&pristine)
        .into_iter()
        .partition(|f| f.starts_with(&index));
    assert!(segments.len() >= 4, "segment files and the anchor");
    let mut state = seed();
    let (mut refused, mut detected, mut harmless) = (0, 0, 0);
    for round in 0..rounds() {
        // Half the flips in the index, half in the segment files and the anchor.
        let pool = if round % 2 == 0 { &in_index } else { &segments };
        let file = &pool[next(&mut state) as usize % pool.len()];
        let len = std::fs::metadata(file).unwrap().len() as usize;
        let at = next(&mut state) as usize % len;
        let got = flip_and_open(&pristine, &scratch, file, at, &case).await;
        let in_index = file.starts_with(&index);
        match got {
            Outcome::Refused => refused += 1,
            Outcome::Detected => detected += 1,
            Outcome::NoEffect if in_index => harmless += 1,
            other => panic!(
                "round {round} (seed {}): byte {at} of {}: {other:?}",
                seed(),
                file.display()
            ),
        }
    }
    eprintln!(
        "{} flips (seed {}): {refused} refused at open, {detected} reported, {harmless} in the \
         index without effect",
        rounds(),
        seed()
    );
}
