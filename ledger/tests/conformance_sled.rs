//! The conformance suite against the sled log, on real files in a temp directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

fn open() -> (ledger::SledLog, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = ledger::SledLog::open(dir.path().join("log")).expect("open sled log");
    (log, dir)
}

ledger::conformance_tests!(open(), ledger::Limits::default().batch_events_max);

/// The suite again with commits of at most three events: appends then wait behind full
/// commits, so the sequencer hands commits to the flusher thread while it seals the next, and
/// writes others itself when idle (both paths, interleaved).
mod small_commits {
    fn open() -> (ledger::SledLog, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let limits = ledger::Limits {
            commit_events_max: 3,
            ..ledger::Limits::default()
        };
        let store = ledger::log::SledStore::open(dir.path().join("log")).expect("open sled");
        let log = ledger::log::Log::open_with(store, limits).expect("open sled log");
        (log, dir)
    }

    ledger::conformance_tests!(open(), ledger::Limits::default().batch_events_max);
}
