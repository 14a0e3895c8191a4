//! The conformance suite against the sled log, on real files in a temp directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

fn open() -> (ledger::SledLog, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = ledger::SledLog::open(dir.path().join("log")).expect("open sled log");
    (log, dir)
}

ledger::conformance_tests!(open(), ledger::Limits::default().batch_events_max);
