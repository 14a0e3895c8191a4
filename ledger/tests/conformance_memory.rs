//! The conformance suite against the in-memory log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

ledger::conformance_tests!(
    (ledger::MemoryLog::in_memory(), ()),
    ledger::Limits::default().batch_events_max
);
