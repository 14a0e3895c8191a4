//! The conformance suite against the segment-file log, on real files in a temp directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

fn open() -> (ledger::FileLog, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = ledger::FileLog::open(dir.path().join("log")).expect("open segment log");
    (log, dir)
}

ledger::conformance_tests!(open(), ledger::Limits::default().batch_events_max);

/// The suite again with the smallest segments (a new file every few commits), commits of
/// at most three events and an index checkpoint every few events with almost no overlay:
/// reads cross segment files, the sparse index spans them, the sequencer hands commits to the
/// flusher thread while it seals the next, and stream versions and retries are answered from
/// the index's many runs.
mod small_segments_and_commits {
    fn open() -> (ledger::FileLog, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let limits = ledger::Limits {
            commit_events_max: 3,
            index_checkpoint_events: 4,
            recent_entries_max: 1,
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
