//! What only a durable backend must do: keep everything across a reopen, rebuild its indexes
//! from the log, detect tampering at the exact position, and refuse to open a broken chain.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger::conformance::{contribution, request};
use ledger::{EventLog, ExpectedVersion, LogError, SledLog, StreamId, StreamKind};

fn req(id: &str) -> ledger::RequestId {
    ledger::RequestId::new(id).unwrap()
}

fn hh(id: &str) -> StreamId {
    StreamId::new(StreamKind::Household, id).unwrap()
}

/// Appends 12 single-event batches (one segment each) over 3 households.
async fn fill(log: &SledLog) {
    for i in 0..12 {
        log.append(request(
            &format!("req-{i}"),
            vec![contribution(
                &format!("HH-{}", i % 3),
                &format!("R{i}"),
                100 + i,
            )],
        ))
        .await
        .unwrap();
    }
}

async fn close(log: SledLog) {
    log.shutdown().await.unwrap();
    drop(log);
}

fn segments_tree(path: &std::path::Path) -> (sled::Db, sled::Tree) {
    let db = ledger::log::open_db(path).unwrap();
    let tree = db.open_tree(ledger::log::SEGMENTS_TREE).unwrap();
    (db, tree)
}

#[tokio::test]
async fn reopen_keeps_events_versions_and_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = SledLog::open(&path).unwrap();
    fill(&log).await;
    let head = log.head();
    let events = log.read(0, 100).await.unwrap();
    close(log).await;

    let log = SledLog::open(&path).unwrap();
    assert_eq!(log.head(), head);
    assert_eq!(log.read(0, 100).await.unwrap(), events);
    assert_eq!(log.stream_version(&hh("HH-0")).await.unwrap(), 4);
    assert_eq!(
        log.request_positions(&req("req-5")).await.unwrap(),
        Some(5..6)
    );
    let retry = log
        .append(request("req-5", vec![contribution("HH-2", "R5", 105)]))
        .await
        .unwrap();
    assert!(retry.already_appended);
    assert_eq!(retry.first_position, 5);

    let next = log
        .append(
            request("req-new", vec![contribution("HH-0", "R-new", 1)])
                .expect(hh("HH-0"), ExpectedVersion::Exact(4)),
        )
        .await
        .unwrap();
    assert_eq!(next.first_position, 12);
    let stored = log.read(12, 1).await.unwrap();
    assert_eq!(stored[0].stream_version, 5);
    assert!(log.verify(0, 13).await.unwrap().is_ok());
}

#[tokio::test]
async fn indexes_are_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = SledLog::open(&path).unwrap();
    fill(&log).await;
    close(log).await;
    {
        let db = ledger::log::open_db(&path).unwrap();
        db.open_tree("index").unwrap().clear().unwrap();
        db.flush().unwrap();
    }
    let log = SledLog::open(&path).unwrap();
    assert_eq!(log.stream_version(&hh("HH-1")).await.unwrap(), 4);
    assert_eq!(
        log.request_positions(&req("req-7")).await.unwrap(),
        Some(7..8)
    );
    let retry = log
        .append(request("req-0", vec![contribution("HH-0", "R0", 100)]))
        .await
        .unwrap();
    assert!(retry.already_appended);
    assert_eq!(log.head().next_position, 12);
}

/// Changes one byte inside the event at `position` (single-event segments) and reframes it
/// with fresh CRCs, as a deliberate edit would: only the hash chain can tell.
fn tamper(path: &std::path::Path, position: u64) {
    let (db, segments) = segments_tree(path);
    let key = position.to_be_bytes();
    let value = segments.get(key).unwrap().unwrap().to_vec();
    let record = ledger::log::frame::parse(&value).unwrap();
    let mut event = record.bytes.to_vec();
    event[20] ^= 0x01;
    let mut reframed = Vec::new();
    ledger::log::frame::push(
        &mut reframed,
        record.offset,
        &event,
        record.hash,
        record.commit_end,
    );
    segments.insert(key, reframed).unwrap();
    db.flush().unwrap();
}

#[tokio::test]
async fn tampering_is_reported_at_the_exact_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = SledLog::open(&path).unwrap();
    fill(&log).await;
    close(log).await;
    tamper(&path, 7);

    // The index covers the tampered event, so opening does not re-read it; verify finds it.
    let log = SledLog::open(&path).unwrap();
    let report = log.verify(0, 12).await.unwrap();
    let (position, reason) = report.first_bad.expect("tampering must be found");
    assert_eq!(position, 7);
    assert!(reason.contains("hash"), "{reason}");
    assert!(log.verify(0, 7).await.unwrap().is_ok());
    assert!(
        log.verify(8, 12).await.unwrap().is_ok(),
        "later links are intact"
    );
}

#[tokio::test]
async fn a_broken_chain_in_the_tail_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = SledLog::open(&path).unwrap();
    fill(&log).await;
    close(log).await;
    tamper(&path, 9);
    {
        let db = ledger::log::open_db(&path).unwrap();
        db.open_tree("index").unwrap().clear().unwrap();
        db.flush().unwrap();
    }
    match SledLog::open(&path) {
        Err(LogError::ChainBroken { position, reason }) => {
            assert_eq!(position, 9);
            assert!(reason.contains("hash"), "{reason}");
        }
        other => panic!("expected a broken chain at 9, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_segment_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = SledLog::open(&path).unwrap();
    fill(&log).await;
    close(log).await;
    {
        let (db, segments) = segments_tree(&path);
        segments.remove(4u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let log = SledLog::open(&path).unwrap();
    let report = log.verify(0, 12).await.unwrap();
    assert_eq!(report.first_bad.map(|(p, _)| p), Some(4));
    assert!(matches!(
        log.read(0, 12).await,
        Err(LogError::Corrupt { position: 4, .. })
    ));
}

#[tokio::test]
async fn shutdown_refuses_appends_and_ends_subscriptions() {
    let dir = tempfile::tempdir().unwrap();
    let log = SledLog::open(dir.path().join("log")).unwrap();
    fill(&log).await;
    let mut sub = log.subscribe(10);
    log.shutdown().await.unwrap();
    assert_eq!(
        log.append(request("late", vec![contribution("HH-1", "L", 1)]))
            .await
            .unwrap_err(),
        ledger::AppendError::Closed
    );
    assert_eq!(sub.next().await.unwrap().unwrap().position, 10);
    assert_eq!(sub.next().await.unwrap().unwrap().position, 11);
    assert!(
        sub.next().await.is_none(),
        "ends after the last acknowledged event"
    );
}

/// A log that lost its end (sled drops the records after a damaged one) is refused at open,
/// naming where it ends and where the anchored head was; so is one whose history at the
/// anchored position is another one. A log that only grew after the anchor opens.
#[tokio::test]
async fn a_log_shorter_than_its_anchored_head_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = SledLog::open(&path).unwrap();
    fill(&log).await;
    close(log).await;
    let anchor = ledger::log::anchor::read(&path).unwrap().unwrap();
    assert_eq!(anchor.next_position, 12);

    // Lose the last three events, as sled does past a damaged record.
    {
        let (db, tree) = segments_tree(&path);
        for position in 9..12u64 {
            tree.remove(position.to_be_bytes()).unwrap();
        }
        db.flush().unwrap();
    }
    match SledLog::open(&path) {
        Err(LogError::Shortened { head, anchored }) => assert_eq!((head, anchored), (9, 12)),
        other => panic!("a shortened log opened: {other:?}"),
    }

    // Another history of the same length: refused at the anchored position.
    let other = dir.path().join("other");
    let log = SledLog::open(&other).unwrap();
    fill(&log).await;
    close(log).await;
    let mut foreign = ledger::log::anchor::read(&other).unwrap().unwrap();
    foreign.hash[0] ^= 1;
    ledger::log::anchor::write(&other, foreign).unwrap();
    assert!(matches!(
        SledLog::open(&other),
        Err(LogError::ChainBroken { position: 11, .. })
    ));
    foreign.hash[0] ^= 1;
    ledger::log::anchor::write(&other, foreign).unwrap();

    // Grown since the anchor (a crash before the next one): opens, and anchors anew at stop.
    let log = SledLog::open(&other).unwrap();
    log.append(request("req-more", vec![contribution("HH-9", "R-more", 5)]))
        .await
        .unwrap();
    close(log).await;
    assert_eq!(
        ledger::log::anchor::read(&other)
            .unwrap()
            .unwrap()
            .next_position,
        13
    );
    SledLog::open(&other).unwrap();
}

#[tokio::test]
async fn damage_sled_finds_itself_names_the_anchored_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = SledLog::open(&path).unwrap();
    fill(&log).await;
    close(log).await;
    // sled's configuration file, damaged: sled finds it (a checksum of its own) but names no
    // position; the refusal names how far the log must reach intact.
    let conf = path.join("conf");
    let mut bytes = std::fs::read(&conf).unwrap();
    bytes[3] ^= 0x10;
    std::fs::write(&conf, bytes).unwrap();
    match SledLog::open(&path) {
        Err(e @ LogError::Damaged { anchored: 12, .. }) => {
            assert!(e.to_string().contains("position 12"), "{e}");
        }
        other => panic!("a damaged log opened: {other:?}"),
    }
}
