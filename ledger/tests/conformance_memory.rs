//! The conformance suite against the in-memory log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

ledger::conformance_tests!(
    (ledger::MemoryLog::in_memory(), ()),
    ledger::Limits::default().batch_events_max
);

/// The suite again with commits of at most three events (see conformance_sled.rs).
mod small_commits {
    fn open() -> (ledger::MemoryLog, ()) {
        let limits = ledger::Limits {
            commit_events_max: 3,
            ..ledger::Limits::default()
        };
        let log = ledger::log::Log::open_with(ledger::log::MemoryStore::new(), limits)
            .expect("open memory log");
        (log, ())
    }

    ledger::conformance_tests!(open(), ledger::Limits::default().batch_events_max);
}
