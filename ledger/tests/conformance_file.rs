//! The conformance suite against the segment-file log, on real files in a temp directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

fn open() -> (ledger::FileLog, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = ledger::FileLog::open(dir.path().join("log")).expect("open segment log");
    (log, dir)
}

ledger::conformance_tests!(open(), ledger::Limits::default().batch_events_max);

/// The suite again with the smallest segments (a new file every few commits) and commits of
/// at most three events: reads cross segment files, the sparse index spans them, and the
/// sequencer hands commits to the flusher thread while it seals the next.
mod small_segments_and_commits {
    fn open() -> (ledger::FileLog, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let limits = ledger::Limits {
            commit_events_max: 3,
            ..ledger::Limits::default()
        };
        let log = ledger::FileLog::open_segmented(
            dir.path().join("log"),
            ledger::log::files::SEGMENT_BYTES_MIN,
            limits,
        )
        .expect("open segment log");
        (log, dir)
    }

    ledger::conformance_tests!(open(), ledger::Limits::default().batch_events_max);
}
