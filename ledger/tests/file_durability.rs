//! What the segment-file log must do on disk: keep everything across a reopen, roll and read
//! across segment files, rebuild its index, cut a torn tail (and only a torn tail), refuse
//! damage naming the offset and the file, and catch a deliberate edit with the chain.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{copy_dir, segment_files};
use ledger::conformance::{contribution, request};
use ledger::log::anchor;
use ledger::log::files::{INDEX_DIR, SEGMENT_BYTES_MIN, TORN_DIR};
use ledger::log::frame;
use ledger::{EventLog, FileLog, Head, Limits, LogError, RecordedEvent};

fn open(path: &Path) -> Result<FileLog, LogError> {
    FileLog::open_segmented(path, SEGMENT_BYTES_MIN, Limits::default())
}

/// The `i`th commit `fill` makes: one contribution, over 3 households.
fn commit(i: usize) -> ledger::AppendRequest {
    request(
        &format!("req-{i}"),
        vec![contribution(
            &format!("HH-{}", i % 3),
            &format!("R{i}"),
            100 + i as i64,
        )],
    )
}

/// Appends `commits` single-event commits over 3 households.
async fn fill(log: &FileLog, from: usize, commits: usize) {
    for i in from..from + commits {
        log.append(commit(i)).await.unwrap();
    }
}

fn receipt(id: &str) -> ledger::UniqueId {
    ledger::UniqueId::Receipt(id.parse().unwrap())
}

async fn close(log: FileLog) {
    log.shutdown().await.unwrap();
    drop(log);
}

/// The byte ranges of the records in a segment file: (start, end, offset).
fn records_of(file: &Path) -> Vec<(usize, usize, u64)> {
    let bytes = std::fs::read(file).unwrap();
    let mut at = ledger::log::files::FILE_HEADER_BYTES as usize;
    let mut out = Vec::new();
    while at < bytes.len() {
        let record = frame::parse(&bytes[at..]).unwrap();
        out.push((at, at + record.stored_len(), record.offset));
        at += record.stored_len();
    }
    out
}

/// A closed log of 20 commits in several segment files, and what it holds.
async fn small_log(path: &Path) -> (Head, Vec<RecordedEvent>) {
    let log = open(path).unwrap();
    fill(&log, 0, 20).await;
    let head = log.head();
    let events = log.read(0, 100).await.unwrap();
    close(log).await;
    assert!(
        segment_files(path).len() >= 3,
        "the test needs several segments"
    );
    (head, events)
}

#[tokio::test]
async fn reopen_keeps_everything_across_segment_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let (head, events) = small_log(&path).await;
    let log = open(&path).unwrap();
    assert_eq!(log.head(), head);
    assert_eq!(log.read(0, 100).await.unwrap(), events);
    for position in 0..20 {
        let one = log.read(position, 1).await.unwrap();
        assert_eq!(one, events[position as usize..=position as usize]);
    }
    assert!(log.verify(0, 12).await.unwrap().is_ok());
    assert!(log.verify(5, 9).await.unwrap().is_ok());
    let id = ledger::RequestId::new("req-7").unwrap();
    assert_eq!(log.request_positions(&id).await.unwrap(), Some(7..8));
    fill(&log, 20, 3).await;
    assert_eq!(log.head().next_position, 23);
    close(log).await;
}

#[tokio::test]
async fn a_lost_index_is_rebuilt_from_the_segments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let (head, events) = small_log(&path).await;
    std::fs::remove_dir_all(path.join(INDEX_DIR)).unwrap();
    let log = open(&path).unwrap();
    assert_eq!(log.head(), head);
    assert_eq!(log.read(0, 100).await.unwrap(), events);
    let hh0 = ledger::StreamId::new(ledger::StreamKind::Household, "HH-0").unwrap();
    assert_eq!(log.stream_version(&hh0).await.unwrap(), 7);
    assert_eq!(log.id_position(&receipt("R13")).await.unwrap(), Some(13));
    let retry = log
        .append(request("req-0", vec![contribution("HH-0", "R0", 100)]))
        .await
        .unwrap();
    assert!(retry.already_appended);
}

/// Retries, stream versions and reads after several reopens (each shutdown writes one run of
/// the index): every old request is answered with its first positions, a different command
/// under a used id is refused, and a stream's version is its newest run's.
#[tokio::test]
async fn the_index_answers_from_every_run_after_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    for round in 0..4 {
        let log = open(&path).unwrap();
        fill(&log, round * 50, 50).await;
        close(log).await;
    }
    let log = open(&path).unwrap();
    for i in [0usize, 49, 50, 123, 199] {
        let retry = log.append(commit(i)).await.unwrap();
        assert!(retry.already_appended, "req-{i}");
        assert_eq!(retry.first_position, i as u64);
        let reused = log
            .append(request(
                &format!("req-{i}"),
                vec![contribution("HH-0", "other", 1)],
            ))
            .await;
        assert!(
            matches!(reused, Err(ledger::AppendError::RequestIdReused { .. })),
            "req-{i}: {reused:?}"
        );
        // Its receipt id, recorded in an older run, is refused under a new request id.
        assert_eq!(
            log.id_position(&receipt(&format!("R{i}"))).await.unwrap(),
            Some(i as u64)
        );
        let again = log
            .append(request(
                "new",
                vec![contribution("HH-0", &format!("R{i}"), 1)],
            ))
            .await;
        assert!(
            matches!(again, Err(ledger::AppendError::IdUsed { position, .. }) if position == i as u64),
            "R{i}: {again:?}"
        );
    }
    assert_eq!(log.id_position(&receipt("R200")).await.unwrap(), None);
    for (household, version) in [("HH-0", 67), ("HH-1", 67), ("HH-2", 66)] {
        let stream = ledger::StreamId::new(ledger::StreamKind::Household, household).unwrap();
        assert_eq!(
            log.stream_version(&stream).await.unwrap(),
            version,
            "{household}"
        );
    }
    let all = log.read(0, 300).await.unwrap();
    assert_eq!(all.len(), 200);
    for position in [0u64, 17, 99, 150, 199] {
        assert_eq!(
            log.read(position, 1).await.unwrap()[0],
            all[position as usize]
        );
    }
    close(log).await;
}

/// The last commit cut anywhere inside it, or its end zeroed, as a machine stopping in the
/// middle of the write leaves it: opening cuts it (the bytes kept in `torn/`), the log ends
/// at the commit before, and appends go on from there.
#[tokio::test]
async fn a_torn_last_commit_is_cut_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine");
    let (head, events) = small_log(&pristine).await;
    let last_file = segment_files(&pristine).pop().unwrap();
    let (start, end, offset) = *records_of(&last_file).last().unwrap();
    assert_eq!(offset, head.next_position - 1);
    let before = Head {
        next_position: offset,
        hash: events[offset as usize - 1].hash,
    };
    let bytes = std::fs::read(&last_file).unwrap();
    let mut cases = Vec::new();
    for cut in start + 1..end {
        cases.push((format!("cut at byte {cut}"), bytes[..cut].to_vec()));
    }
    for zero_from in (start..end).step_by(7) {
        let mut zeroed = bytes.clone();
        zeroed[zero_from..].fill(0);
        cases.push((format!("zeroed from byte {zero_from}"), zeroed));
    }
    for (i, (case, torn)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("case-{i}"));
        copy_dir(&pristine, &path);
        // The anchor of a crash: the last checkpoint, before the torn commit.
        anchor::write(&path, before).unwrap();
        std::fs::write(path.join(last_file.file_name().unwrap()), &torn).unwrap();
        let log = open(&path).unwrap_or_else(|e| panic!("{case}: refused: {e}"));
        assert_eq!(log.head(), before, "{case}");
        assert_eq!(log.read(0, 100).await.unwrap(), events[..offset as usize]);
        let kept = std::fs::read_dir(path.join(TORN_DIR)).unwrap().count();
        assert_eq!(kept, 1, "{case}: the cut bytes are kept");
        fill(&log, 100, 1).await;
        assert_eq!(log.head().next_position, offset + 1, "{case}");
        close(log).await;
        let log = open(&path).unwrap();
        assert_eq!(
            log.head().next_position,
            offset + 1,
            "{case}: reopens whole"
        );
        drop(log);
        std::fs::remove_dir_all(&path).unwrap();
    }
}

/// The same cut, when the anchored head says the commit was acknowledged, is refused.
#[tokio::test]
async fn a_cut_below_the_anchored_head_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let (head, _) = small_log(&path).await;
    let last_file = segment_files(&path).pop().unwrap();
    let (start, end, _) = *records_of(&last_file).last().unwrap();
    let bytes = std::fs::read(&last_file).unwrap();
    std::fs::write(&last_file, &bytes[..(start + end) / 2]).unwrap();
    match open(&path) {
        Err(LogError::Corrupt { position, reason }) => {
            assert_eq!(position, head.next_position - 1);
            assert!(reason.contains("anchored head"), "{reason}");
            assert!(reason.contains(&*last_file.to_string_lossy()), "{reason}");
        }
        other => panic!("a cut of an acknowledged commit opened: {other:?}"),
    }
}

/// A damaged record with valid records after it is damage, not a torn write: refused at open
/// (it is in the tail) naming the offset, the file and the byte.
#[tokio::test]
async fn damage_before_valid_records_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    small_log(&path).await;
    let last_file = segment_files(&path).pop().unwrap();
    let records = records_of(&last_file);
    assert!(records.len() >= 2);
    let (start, _, offset) = records[records.len() - 2];
    // Read the whole tail at open: drop the index.
    std::fs::remove_dir_all(path.join(INDEX_DIR)).unwrap();
    let mut bytes = std::fs::read(&last_file).unwrap();
    bytes[start + 40] ^= 0x20;
    std::fs::write(&last_file, &bytes).unwrap();
    match open(&path) {
        Err(LogError::Corrupt { position, reason }) => {
            assert_eq!(position, offset);
            assert!(reason.contains("not a torn write"), "{reason}");
            assert!(reason.contains(&format!("byte {start}")), "{reason}");
            assert!(reason.contains(&*last_file.to_string_lossy()), "{reason}");
        }
        other => panic!("damage opened: {other:?}"),
    }
}

/// A missing or cut older segment is a gap: refused at open, naming where the log breaks.
#[tokio::test]
async fn a_missing_or_cut_older_segment_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine");
    small_log(&pristine).await;
    let files = segment_files(&pristine);
    let middle = files[1].file_name().unwrap().to_owned();

    let missing = dir.path().join("missing");
    copy_dir(&pristine, &missing);
    std::fs::remove_file(missing.join(&middle)).unwrap();
    let refused = open(&missing).unwrap_err();
    assert!(matches!(refused, LogError::Corrupt { .. }), "{refused}");
    assert!(refused.to_string().contains("gap"), "{refused}");

    let cut = dir.path().join("cut");
    copy_dir(&pristine, &cut);
    let (start, _, offset) = *records_of(&files[1]).last().unwrap();
    let bytes = std::fs::read(&files[1]).unwrap();
    std::fs::write(cut.join(&middle), &bytes[..start]).unwrap();
    match open(&cut) {
        Err(LogError::Corrupt { position, reason }) => {
            assert_eq!(position, offset);
            assert!(reason.contains(&*middle.to_string_lossy()), "{reason}");
        }
        other => panic!("a cut older segment opened: {other:?}"),
    }
}

/// A deliberate edit that recomputes the CRCs still breaks the hash chain: `verify` names
/// the exact position.
#[tokio::test]
async fn an_edit_with_fresh_crcs_is_caught_by_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    small_log(&path).await;
    let first_file = &segment_files(&path)[0];
    let (start, end, offset) = records_of(first_file)[1];
    let mut bytes = std::fs::read(first_file).unwrap();
    let record = frame::parse(&bytes[start..end]).unwrap();
    let mut event = record.bytes.to_vec();
    event[20] ^= 0x01;
    let mut reframed = Vec::new();
    frame::push(
        &mut reframed,
        record.offset,
        &event,
        record.hash,
        record.commit_end,
    );
    bytes.splice(start..end, reframed);
    std::fs::write(first_file, &bytes).unwrap();
    let log = open(&path).unwrap();
    let report = log.verify(0, 12).await.unwrap();
    let (position, reason) = report.first_bad.expect("the edit must be found");
    assert_eq!(position, offset);
    assert!(reason.contains("hash"), "{reason}");
    assert!(log.verify(offset + 1, 12).await.unwrap().is_ok());
    close(log).await;

    // In the tail re-read at open (the index gone), the same edit refuses to open, naming
    // the position and the file.
    std::fs::remove_dir_all(path.join(INDEX_DIR)).unwrap();
    match open(&path) {
        Err(LogError::ChainBroken { position, reason }) => {
            assert_eq!(position, offset);
            assert!(reason.contains(&*first_file.to_string_lossy()), "{reason}");
        }
        other => panic!("an edited tail opened: {other:?}"),
    }
}

#[tokio::test]
async fn a_directory_in_the_sled_format_is_refused_with_the_way_to_move_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let old = ledger::SledLog::open(&path).unwrap();
    fill_sled(&old).await;
    old.shutdown().await.unwrap();
    drop(old);
    let refused = open(&path).unwrap_err().to_string();
    assert!(refused.contains("claims-ledger export"), "{refused}");
    assert!(refused.contains("claims-ledger import"), "{refused}");
}

async fn fill_sled(log: &ledger::SledLog) {
    log.append(request("one", vec![contribution("HH-1", "R1", 5)]))
        .await
        .unwrap();
}
