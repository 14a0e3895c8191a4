//! The conformance suite against the in-memory log.

ledger::conformance_tests!(
    (ledger::MemoryLog::in_memory(), ()),
    ledger::Limits::default().batch_events_max
);
