//! The conformance suite: the semantics every [`EventLog`] backend must give.
//!
//! Each check takes a fresh, empty log and panics (it is test code) when the backend is wrong.
//! A backend's test file runs them all with one line:
//!
//! ```ignore
//! ledger::conformance_tests!(async { (ledger::MemoryLog::in_memory(), ()) });
//! ```
//!
//! The expression yields the log and a guard kept alive for the test (a temp directory).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use crate::chain::{self, GENESIS};
use crate::event::{ContributionReceived, Event, PaymentChannel, StreamId, UniqueId};
use crate::ids::{HouseholdId, ReceiptId, RequestId};
use crate::log::{AppendError, AppendRequest, EventLog, ExpectedVersion, NewEvent};
use crate::money::{Amount, Currency};
use crate::{Date, FieldError};

/// A valid event for household `household`: a wallet contribution of `minor` KES cents.
pub fn contribution(household: &str, receipt: &str, minor: i64) -> NewEvent {
    let household_id = HouseholdId::new(household).unwrap();
    NewEvent {
        stream: StreamId::household(&household_id),
        event: Event::ContributionReceived(ContributionReceived {
            receipt_id: ReceiptId::new(receipt).unwrap(),
            household_id,
            member_id: None,
            amount: Amount::new(minor, Currency::KES),
            channel: PaymentChannel::MobileMoney,
            received_on: Date::from_ymd_opt(2026, 11, 2).unwrap(),
        }),
    }
}

pub fn request(id: &str, events: Vec<NewEvent>) -> AppendRequest {
    AppendRequest::new(RequestId::new(id).unwrap(), events)
}

fn household(id: &str) -> StreamId {
    StreamId::household(&HouseholdId::new(id).unwrap())
}

/// An empty log: head 0, genesis hash, nothing to read, verify passes.
pub async fn empty_log<L: EventLog>(log: L) {
    let head = log.head();
    assert_eq!(head.next_position, 0);
    assert_eq!(head.hash, GENESIS);
    assert!(log.read(0, 10).await.unwrap().is_empty());
    let report = log.verify(0, 0).await.unwrap();
    assert!(report.is_ok());
    assert_eq!(log.stream_version(&household("HH-1")).await.unwrap(), 0);
}

/// Appends get gapless positions in order, and read returns exactly what was appended, with
/// per-stream versions, request ids and a hash chain that links every event.
pub async fn appends_are_ordered_gapless_and_chained<L: EventLog>(log: L) {
    let a = log
        .append(request(
            "req-1",
            vec![
                contribution("HH-1", "R1", 100),
                contribution("HH-2", "R2", 200),
            ],
        ))
        .await
        .unwrap();
    let b = log
        .append(request("req-2", vec![contribution("HH-1", "R3", 300)]))
        .await
        .unwrap();
    assert_eq!(
        (a.first_position, a.count, a.already_appended),
        (0, 2, false)
    );
    assert_eq!((b.first_position, b.count), (2, 1));
    assert_eq!(log.head().next_position, 3);

    let events = log.read(0, 100).await.unwrap();
    let summary: Vec<(u64, String, u64, &str)> = events
        .iter()
        .map(|e| {
            (
                e.position,
                e.stream.to_string(),
                e.stream_version,
                e.request_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, "household/HH-1".to_owned(), 1, "req-1"),
            (1, "household/HH-2".to_owned(), 1, "req-1"),
            (2, "household/HH-1".to_owned(), 2, "req-2"),
        ]
    );
    assert_eq!(events[2].event, contribution("HH-1", "R3", 300).event);

    // Each hash links to the previous one; the head carries the last.
    let mut previous = GENESIS;
    for e in &events {
        assert_ne!(e.hash, previous);
        previous = e.hash;
    }
    assert_eq!(log.head().hash, previous);
    assert_eq!(log.stream_version(&household("HH-1")).await.unwrap(), 2);
    assert_eq!(log.stream_version(&household("HH-2")).await.unwrap(), 1);

    // Partial and out-of-range reads.
    let middle = log.read(1, 1).await.unwrap();
    assert_eq!(middle.len(), 1);
    assert_eq!(middle[0].position, 1);
    assert!(log.read(3, 10).await.unwrap().is_empty());
    assert!(log.read(99, 10).await.unwrap().is_empty());
}

/// A batch with one bad event, or a failed expectation, appends nothing at all.
pub async fn batches_are_atomic<L: EventLog>(log: L) {
    log.append(request("seed", vec![contribution("HH-1", "R0", 1)]))
        .await
        .unwrap();
    let bad = request(
        "bad",
        vec![
            contribution("HH-1", "R1", 100),
            contribution("HH-2", "R2", 200),
            contribution("HH-3", "R3", -5),
        ],
    );
    let err = log.append(bad).await.unwrap_err();
    assert_eq!(
        err,
        AppendError::InvalidEvent {
            index: 2,
            error: FieldError::new(
                "contribution_received.amount",
                "must be positive, is -0.05 KES"
            ),
        }
    );
    assert_eq!(
        err.to_string(),
        "events[2].contribution_received.amount: must be positive, is -0.05 KES"
    );

    let conflicting = request(
        "conflict",
        vec![
            contribution("HH-1", "R1", 100),
            contribution("HH-2", "R2", 200),
        ],
    )
    .expect(household("HH-2"), ExpectedVersion::Exact(4));
    assert!(matches!(
        log.append(conflicting).await,
        Err(AppendError::WrongExpectedVersion { actual: 0, .. })
    ));

    assert_eq!(log.head().next_position, 1);
    assert_eq!(log.read(0, 10).await.unwrap().len(), 1);
    assert_eq!(log.stream_version(&household("HH-2")).await.unwrap(), 0);
    // A failed request id is not burnt: it can be used for a valid append.
    let ok = log
        .append(request("bad", vec![contribution("HH-1", "R1", 100)]))
        .await
        .unwrap();
    assert_eq!(ok.first_position, 1);
}

/// Expected versions: NoStream, Exact and Any, checked against acknowledged appends.
pub async fn expected_versions_are_enforced<L: EventLog>(log: L) {
    let hh = household("HH-9");
    let first = request("a", vec![contribution("HH-9", "R1", 1)])
        .expect(hh.clone(), ExpectedVersion::NoStream);
    log.append(first).await.unwrap();

    let again = request("b", vec![contribution("HH-9", "R2", 1)])
        .expect(hh.clone(), ExpectedVersion::NoStream);
    assert_eq!(
        log.append(again).await.unwrap_err(),
        AppendError::WrongExpectedVersion {
            stream: hh.clone(),
            expected: ExpectedVersion::NoStream,
            actual: 1
        }
    );

    let exact = request("c", vec![contribution("HH-9", "R3", 1)])
        .expect(hh.clone(), ExpectedVersion::Exact(1));
    log.append(exact).await.unwrap();
    let stale = request("d", vec![contribution("HH-9", "R4", 1)])
        .expect(hh.clone(), ExpectedVersion::Exact(1));
    assert!(matches!(
        log.append(stale).await,
        Err(AppendError::WrongExpectedVersion { actual: 2, .. })
    ));
    let any =
        request("e", vec![contribution("HH-9", "R5", 1)]).expect(hh.clone(), ExpectedVersion::Any);
    log.append(any).await.unwrap();
    assert_eq!(log.stream_version(&hh).await.unwrap(), 3);

    let twice = request("f", vec![contribution("HH-9", "R6", 1)])
        .expect(hh.clone(), ExpectedVersion::Any)
        .expect(hh.clone(), ExpectedVersion::Any);
    assert_eq!(
        log.append(twice).await.unwrap_err(),
        AppendError::DuplicateExpectation { stream: hh }
    );
}

/// A request id appended before returns the original outcome and appends nothing; the same
/// id with other content is refused.
pub async fn request_ids_are_idempotent<L: EventLog>(log: L) {
    let events = vec![
        contribution("HH-1", "R1", 100),
        contribution("HH-1", "R2", 100),
    ];
    let first = log.append(request("pay-1", events.clone())).await.unwrap();
    log.append(request("other", vec![contribution("HH-2", "R3", 1)]))
        .await
        .unwrap();
    let retry = log.append(request("pay-1", events)).await.unwrap();
    assert_eq!(retry.first_position, first.first_position);
    assert_eq!(retry.count, first.count);
    assert!(retry.already_appended);
    assert_eq!(log.head().next_position, 3);
    // Where each request landed, by its id.
    let positions = |id: &str| {
        let log = log.clone();
        let id = RequestId::new(id).unwrap();
        async move { log.request_positions(&id).await.unwrap() }
    };
    assert_eq!(positions("pay-1").await, Some(0..2));
    assert_eq!(positions("other").await, Some(2..3));
    assert_eq!(positions("never-sent").await, None);

    let different = request("pay-1", vec![contribution("HH-1", "R1", 999)]);
    assert_eq!(
        log.append(different).await.unwrap_err(),
        AppendError::RequestIdReused {
            request_id: RequestId::new("pay-1").unwrap()
        }
    );
    assert_eq!(log.head().next_position, 3);
}

/// A receipt or payout id is recorded once: a second request recording it is refused, also
/// in the same commit or twice in one request, and nothing of it is appended. The id kinds
/// are apart (a payout may share a receipt's text).
pub async fn unique_ids_are_recorded_once<L: EventLog>(log: L) {
    let receipt = |id: &str| UniqueId::Receipt(ReceiptId::new(id).unwrap());
    log.append(request("a", vec![contribution("HH-1", "R1", 100)]))
        .await
        .unwrap();
    // Enough commits that, with a small index checkpoint, R1 is looked up in a stored run.
    for i in 0..8 {
        let r = format!("F{i}");
        log.append(request(&r, vec![contribution("HH-2", &r, 1)]))
            .await
            .unwrap();
    }
    assert_eq!(log.id_position(&receipt("R1")).await.unwrap(), Some(0));
    assert_eq!(log.id_position(&receipt("F7")).await.unwrap(), Some(8));
    assert_eq!(log.id_position(&receipt("R9")).await.unwrap(), None);
    let payout = UniqueId::Payout("R1".parse().unwrap());
    assert_eq!(log.id_position(&payout).await.unwrap(), None);
    let used = |index, id: &str, position| AppendError::IdUsed {
        index,
        id: receipt(id),
        position,
    };
    let again = request(
        "b",
        vec![contribution("HH-3", "R2", 1), contribution("HH-3", "R1", 1)],
    );
    assert_eq!(log.append(again).await.unwrap_err(), used(1, "R1", 0));
    let twice = request(
        "c",
        vec![contribution("HH-3", "R2", 1), contribution("HH-3", "R2", 1)],
    );
    assert_eq!(log.append(twice).await.unwrap_err(), used(1, "R2", 9));
    let together = log
        .append_all(vec![
            request("d", vec![contribution("HH-3", "R3", 1)]),
            request("e", vec![contribution("HH-4", "R3", 1)]),
        ])
        .await;
    assert_eq!(together[0].as_ref().unwrap().first_position, 9);
    assert_eq!(together[1].as_ref().unwrap_err(), &used(0, "R3", 9));
    assert_eq!(log.head().next_position, 10);
    assert_eq!(log.id_position(&receipt("R2")).await.unwrap(), None);
}

/// Retries of one request racing each other append it once.
pub async fn concurrent_retries_append_once<L: EventLog>(log: L) {
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            log.append(request("same", vec![contribution("HH-1", "R1", 5)]))
                .await
                .unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        let outcome = t.await.unwrap();
        assert_eq!(outcome.first_position, 0);
        fresh += usize::from(!outcome.already_appended);
    }
    assert_eq!(fresh, 1);
    assert_eq!(log.head().next_position, 1);
}

/// Many concurrent appenders: every position is used once, streams have gapless versions,
/// and every batch is contiguous.
pub async fn concurrent_appends_are_gapless<L: EventLog>(log: L) {
    const TASKS: usize = 24;
    const APPENDS: usize = 25;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..APPENDS {
                let hh = format!("HH-{}", (t + i) % 7);
                let events = (0..1 + i % 3)
                    .map(|k| contribution(&hh, &format!("R-{t}-{i}-{k}"), 1))
                    .collect();
                let outcome = log
                    .append(request(&format!("t{t}-a{i}"), events))
                    .await
                    .unwrap();
                outcomes.push(outcome);
            }
            outcomes
        }));
    }
    let mut ranges = Vec::new();
    for t in tasks {
        ranges.extend(t.await.unwrap().into_iter().map(|o| o.positions()));
    }
    ranges.sort_by_key(|r| r.start);
    let mut next = 0;
    for r in &ranges {
        assert_eq!(r.start, next, "batches must tile the log without gaps");
        next = r.end;
    }
    assert_eq!(log.head().next_position, next);

    let events = log.read(0, next as usize).await.unwrap();
    assert_eq!(events.len() as u64, next);
    let mut versions: HashMap<StreamId, u64> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.position, i as u64);
        let v = versions.entry(e.stream.clone()).or_insert(0);
        *v += 1;
        assert_eq!(e.stream_version, *v, "stream versions are gapless");
    }
    // Each batch's events carry its request id, contiguously.
    for r in &ranges {
        let id = &events[r.start as usize].request_id;
        assert!(
            events[r.start as usize..r.end as usize]
                .iter()
                .all(|e| &e.request_id == id)
        );
    }
    assert!(log.verify(0, next).await.unwrap().is_ok());
}

/// `append_all`: in order, contiguous, each request on its own (a failure stops no other).
pub async fn append_all_keeps_order_and_independence<L: EventLog>(log: L) {
    log.append(request("first", vec![contribution("HH-1", "R0", 1)]))
        .await
        .unwrap();
    let answers = log
        .append_all(vec![
            request(
                "a",
                vec![contribution("HH-1", "R1", 1), contribution("HH-2", "R2", 1)],
            ),
            request("first", vec![contribution("HH-9", "R-other", 1)]),
            request("b", vec![]),
            request("c", vec![contribution("HH-1", "R3", 1)])
                .expect(household("HH-1"), ExpectedVersion::Exact(2)),
            request("d", vec![contribution("HH-3", "R4", 1)]),
        ])
        .await;
    assert_eq!(answers.len(), 5);
    assert_eq!(answers[0].as_ref().unwrap().positions(), 1..3);
    assert!(matches!(
        answers[1],
        Err(AppendError::RequestIdReused { .. })
    ));
    assert_eq!(answers[2], Err(AppendError::EmptyBatch));
    // c sees a's event on HH-1: the stream is at version 2 when c is checked.
    assert_eq!(answers[3].as_ref().unwrap().positions(), 3..4);
    assert_eq!(answers[4].as_ref().unwrap().positions(), 4..5);
    let ids: Vec<String> = log
        .read(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.request_id.to_string())
        .collect();
    assert_eq!(ids, vec!["first", "a", "a", "c", "d"]);
    assert!(log.append_all(vec![]).await.is_empty());
}

/// A subscription delivers the stored history, then live appends, in order.
pub async fn subscriptions_catch_up_then_go_live<L: EventLog>(log: L) {
    for i in 0..5 {
        log.append(request(
            &format!("h{i}"),
            vec![contribution("HH-1", &format!("R{i}"), 1)],
        ))
        .await
        .unwrap();
    }
    let mut from_start = log.subscribe(0);
    let mut from_middle = log.subscribe(3);
    for expected in 0..5 {
        assert_eq!(from_start.next().await.unwrap().unwrap().position, expected);
    }
    assert_eq!(from_middle.next().await.unwrap().unwrap().position, 3);
    assert_eq!(from_middle.next().await.unwrap().unwrap().position, 4);

    // Live: the subscriber waits, then sees the appends in order.
    let writer = {
        let log = log.clone();
        tokio::spawn(async move {
            for i in 5..8 {
                log.append(request(
                    &format!("l{i}"),
                    vec![contribution("HH-2", &format!("R{i}"), 1)],
                ))
                .await
                .unwrap();
            }
        })
    };
    for expected in 5..8 {
        let event = from_start.next().await.unwrap().unwrap();
        assert_eq!(event.position, expected);
        assert_eq!(event.stream, household("HH-2"));
    }
    writer.await.unwrap();
    assert_eq!(from_middle.next().await.unwrap().unwrap().position, 5);
}

/// verify recomputes the chain; the report carries the head hash; bad ranges are refused.
pub async fn verify_checks_the_chain<L: EventLog>(log: L) {
    let events: Vec<NewEvent> = (0..10)
        .map(|i| contribution("HH-1", &format!("R{i}"), 1 + i))
        .collect();
    log.append(request("all", events)).await.unwrap();
    let report = log.verify(0, 10).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.last_hash, log.head().hash);

    let stored = log.read(0, 10).await.unwrap();
    let partial = log.verify(4, 7).await.unwrap();
    assert!(partial.is_ok());
    assert_eq!(partial.last_hash, stored[6].hash);
    assert_eq!(log.verify(5, 5).await.unwrap().last_hash, stored[4].hash);
    assert!(log.verify(0, 11).await.is_err());
    assert!(log.verify(6, 5).await.is_err());

    // The stored hash of an event is SHA-256(previous hash || its stored bytes).
    let bytes = crate::codec::Envelope {
        position: stored[1].position,
        stream: stored[1].stream.clone(),
        stream_version: stored[1].stream_version,
        recorded_at_unix_ms: stored[1].recorded_at_unix_ms,
        request_id: stored[1].request_id.clone(),
        event: stored[1].event.clone(),
    }
    .encode();
    assert_eq!(chain::link(&stored[0].hash, &bytes), stored[1].hash);
}

/// Named limits and bad input: typed errors, nothing appended.
pub async fn limits_and_bad_input_are_refused<L: EventLog>(log: L, batch_events_max: usize) {
    assert_eq!(
        log.append(request("empty", vec![])).await.unwrap_err(),
        AppendError::EmptyBatch
    );
    let too_many: Vec<NewEvent> = (0..=batch_events_max)
        .map(|i| contribution("HH-1", &format!("R{i}"), 1))
        .collect();
    assert_eq!(
        log.append(request("big", too_many)).await.unwrap_err(),
        AppendError::BatchTooLarge {
            events: batch_events_max + 1,
            max: batch_events_max
        }
    );
    let mut zero = contribution("HH-1", "R-zero", 1);
    if let Event::ContributionReceived(c) = &mut zero.event {
        c.amount = Amount::zero(Currency::KES);
    }
    assert!(matches!(
        log.append(request("zero", vec![zero])).await,
        Err(AppendError::InvalidEvent { index: 0, .. })
    ));
    assert_eq!(log.head().next_position, 0);
}

/// A request made by `AppendRequest::checked` (validated and encoded once, before the log)
/// appends the same stored bytes as the same request unchecked, and `checked` refuses what
/// the log refuses, naming the field without the event's name.
pub async fn checked_requests_append_as_unchecked_ones<L: EventLog>(log: L) {
    let limits = log.limits();
    let id = |s: &str| RequestId::new(s).unwrap();
    let events = || {
        vec![
            contribution("HH-1", "R1", 100),
            contribution("HH-2", "R2", 200),
        ]
    };
    let checked = AppendRequest::checked(id("c-1"), events(), &limits).unwrap();
    let at = 1_767_225_600_000;
    let first = log.append(checked.recorded_at(at)).await.unwrap();
    assert_eq!((first.first_position, first.count), (0, 2));
    let retry = AppendRequest::checked(id("c-1"), events(), &limits).unwrap();
    assert!(log.append(retry).await.unwrap().already_appended);
    let plain = log.read(0, 2).await.unwrap();
    for (e, new) in plain.iter().zip(events()) {
        assert_eq!(e.event, new.event);
        assert_eq!(e.recorded_at_unix_ms, at);
    }
    // The stored bytes are the canonical encoding: the first hash recomputed from it.
    let (e, mut bytes) = (&plain[0], Vec::new());
    let body = crate::codec::event_bytes(&e.event);
    crate::codec::encode_envelope(0, &e.stream, 1, at, &e.request_id, &body, &mut bytes);
    assert_eq!(e.hash, chain::link(&GENESIS, &bytes));
    let mut zero = contribution("HH-1", "R-zero", 1);
    if let Event::ContributionReceived(c) = &mut zero.event {
        c.amount = Amount::zero(Currency::KES);
    }
    match AppendRequest::checked(id("c-2"), vec![zero], &limits) {
        Err(AppendError::InvalidEvent { index: 0, error }) => assert_eq!(error.field, "amount"),
        other => panic!("a zero contribution was checked: {other:?}"),
    }
    assert_eq!(
        AppendRequest::checked(id("c-3"), vec![], &limits).unwrap_err(),
        AppendError::EmptyBatch
    );
    let small = crate::log::Limits {
        event_bytes_max: 8,
        ..limits
    };
    assert!(matches!(
        AppendRequest::checked(id("c-4"), events(), &small),
        Err(AppendError::EventTooLarge {
            index: 0,
            max: 8,
            ..
        })
    ));
    assert_eq!(log.head().next_position, 2);
    assert!(log.verify(0, 2).await.unwrap().is_ok());
}

/// Runs every conformance check against a backend. `$make` is an async expression yielding
/// `(log, guard)`; `$batch_max` the backend's `batch_events_max`.
/// An import appends with the exported timestamp: the stored time is that one, and appending
/// the same requests with the same times yields the same chain hashes.
pub async fn imported_timestamps_are_kept<L: EventLog>(log: L) {
    let at = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    let first = log
        .append(request("imp-1", vec![contribution("HH-1", "R1", 100)]).recorded_at(at))
        .await
        .unwrap();
    let now = log
        .append(request("imp-2", vec![contribution("HH-1", "R2", 200)]))
        .await
        .unwrap();
    let events = log.read(0, 10).await.unwrap();
    assert_eq!(
        events[first.first_position as usize].recorded_at_unix_ms,
        at
    );
    assert!(events[now.first_position as usize].recorded_at_unix_ms > at);
    // The first hash is a function of the stored bytes alone: recompute it independently.
    let e = &events[0];
    let mut bytes = Vec::new();
    let body = crate::codec::event_bytes(&e.event);
    crate::codec::encode_envelope(0, &e.stream, 1, at, &e.request_id, &body, &mut bytes);
    assert_eq!(e.hash, chain::link(&GENESIS, &bytes));
    assert!(log.verify(0, 2).await.unwrap().is_ok());
}

#[macro_export]
macro_rules! conformance_tests {
    ($make:expr, $batch_max:expr) => {
        $crate::conformance_tests!(@each $make, $batch_max;
            empty_log,
            appends_are_ordered_gapless_and_chained,
            batches_are_atomic,
            expected_versions_are_enforced,
            request_ids_are_idempotent,
            unique_ids_are_recorded_once,
            concurrent_retries_append_once,
            concurrent_appends_are_gapless,
            append_all_keeps_order_and_independence,
            subscriptions_catch_up_then_go_live,
            verify_checks_the_chain,
            imported_timestamps_are_kept,
            checked_requests_append_as_unchecked_ones
        );

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn limits_and_bad_input_are_refused() {
            let (log, _guard) = $make;
            $crate::conformance::limits_and_bad_input_are_refused(log, $batch_max).await;
        }
    };
    (@each $make:expr, $batch_max:expr; $($check:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let (log, _guard) = $make;
                $crate::conformance::$check(log).await;
            }
        )+
    };
}

/// `event` with the receipt or payout id it records (if any) made unique by `n`: benches
/// and tests that repeat sample events record each id once, as the log requires.
pub fn numbered(mut event: Event, n: usize) -> Event {
    let renamed = |id: &str| format!("{id}-{n}");
    match &mut event {
        Event::ContributionReceived(e) => {
            e.receipt_id = ReceiptId::new(renamed(e.receipt_id.as_str())).unwrap()
        }
        Event::SponsorContributionReceived(e) => {
            e.receipt_id = ReceiptId::new(renamed(e.receipt_id.as_str())).unwrap()
        }
        Event::PremiumPaid(e) => {
            e.receipt_id = ReceiptId::new(renamed(e.receipt_id.as_str())).unwrap()
        }
        Event::CopayRecorded(e) => {
            e.receipt_id = ReceiptId::new(renamed(e.receipt_id.as_str())).unwrap()
        }
        Event::FacilityPaid(e) => e.payout_id = renamed(e.payout_id.as_str()).parse().unwrap(),
        _ => {}
    }
    event
}

/// One valid event of every kind, with realistic figures (for encoding tests and benches).
pub fn sample_events() -> Vec<Event> {
    use crate::event::*;
    use crate::ids::*;
    let d = |m, day| Date::from_ymd_opt(2026, m, day).unwrap();
    let kes = |minor| Amount::new(minor, Currency::KES);
    let hh = HouseholdId::new("HH-000123").unwrap();
    let member = MemberId::new("M-000123-01").unwrap();
    let facility = FacilityId::new("FAC-KSM-001").unwrap();
    let claim = ClaimId::new("CL-2026-000001").unwrap();
    let document = "[scheme]\nid = \"ipush-ke\"\n".to_owned();
    let line = |no, status, allowed: i64, payer: i64| LineDecision {
        line_no: no,
        status,
        reason_code: if status == DecisionStatus::Rejected {
            5
        } else {
            0
        },
        approved_quantity: 1,
        unit_price: kes(allowed),
        allowed: kes(allowed),
        payer: kes(payer),
        copay: kes(allowed - payer),
        deductible: kes(0),
        ceiling_excess: kes(0),
        product_id: Some(ProductId::new("NHIF-SUPA").unwrap()),
        findings: vec!["co-insurance 20%".into()],
        policy_id: Some(PolicyId::new("POL-HH-000123-2026").unwrap()),
        ceiling_excluded: no == 2,
    };
    vec![
        Event::SchemePublished(SchemePublished {
            scheme_id: SchemeId::new("ipush-ke").unwrap(),
            version: 1,
            content_sha256: chain::sha256(document.as_bytes()),
            document,
            effective_from: d(1, 1),
        }),
        Event::HouseholdRegistered(HouseholdRegistered {
            household_id: hh.clone(),
            scheme_id: SchemeId::new("ipush-ke").unwrap(),
            location_code: "KE-042-KISUMU".into(),
            socio_economic_category: String::new(),
            registered_on: d(1, 5),
        }),
        Event::MemberEnrolled(MemberEnrolled {
            member_id: member.clone(),
            household_id: hh.clone(),
            gender: Gender::Female,
            birth_date: Date::from_ymd_opt(1996, 3, 14).unwrap(),
            is_head: true,
            facility_id: Some(facility.clone()),
            enrolled_on: d(1, 5),
        }),
        Event::ContributionReceived(ContributionReceived {
            receipt_id: ReceiptId::new("MPESA:QK12AB34").unwrap(),
            household_id: hh.clone(),
            member_id: Some(member.clone()),
            amount: kes(50_000),
            channel: PaymentChannel::MobileMoney,
            received_on: d(2, 1),
        }),
        Event::SponsorContributionReceived(SponsorContributionReceived {
            receipt_id: ReceiptId::new("SP-COUNTY-0001").unwrap(),
            sponsor_id: SponsorId::new("kisumu-county").unwrap(),
            household_id: hh.clone(),
            amount: kes(50_000),
            matched_receipt_id: Some(ReceiptId::new("MPESA:QK12AB34").unwrap()),
            received_on: d(2, 1),
            member_id: Some(MemberId::new("M-000123-01").unwrap()),
        }),
        Event::PremiumPaid(PremiumPaid {
            receipt_id: ReceiptId::new("PREM-0001").unwrap(),
            policy_id: PolicyId::new("POL-HH-000123-2026").unwrap(),
            household_id: hh.clone(),
            product_id: ProductId::new("NHIF-SUPA").unwrap(),
            amount: kes(600_000),
            source: PremiumSource::Wallet,
            paid_on: d(2, 2),
        }),
        Event::CoverageChanged(CoverageChanged {
            policy_id: PolicyId::new("POL-HH-000123-2026").unwrap(),
            household_id: hh.clone(),
            product_id: ProductId::new("NHIF-SUPA").unwrap(),
            status: PolicyStatus::Active,
            effective_from: d(2, 2),
            expires_on: Date::from_ymd_opt(2027, 1, 31).unwrap(),
            changed_on: d(2, 2),
            period_start: d(2, 1),
            renewal: false,
            price: kes(600_000),
        }),
        Event::ClaimSubmitted(ClaimSubmitted {
            claim_id: claim.clone(),
            claim_code: ClaimCode::new("KSM-2026-77").unwrap(),
            facility_id: facility.clone(),
            member_id: member.clone(),
            household_id: hh.clone(),
            date_from: d(3, 10),
            date_to: None,
            claim_date: d(3, 10),
            diagnosis_codes: vec![Code::new("O80").unwrap()],
            lines: vec![
                ClaimLine {
                    line_no: 1,
                    kind: LineKind::Service,
                    code: Code::new("ANC-VISIT").unwrap(),
                    quantity: 1,
                    asked_unit_price: None,
                },
                ClaimLine {
                    line_no: 2,
                    kind: LineKind::Item,
                    code: Code::new("FEFOL-60").unwrap(),
                    quantity: 2,
                    asked_unit_price: Some(kes(15_000)),
                },
            ],
        }),
        Event::ClaimAdjudicated(ClaimAdjudicated {
            claim_id: claim.clone(),
            scheme_id: SchemeId::new("ipush-ke").unwrap(),
            scheme_version: 1,
            scheme_content_sha256: [7; 32],
            decided_on: d(3, 10),
            decided_on_given: true,
            category: ClaimCategory::Antenatal,
            status: DecisionStatus::Partial,
            reason_code: 0,
            lines: vec![
                line(1, DecisionStatus::Accepted, 100_000, 80_000),
                line(2, DecisionStatus::Rejected, 0, 0),
            ],
            total_allowed: kes(100_000),
            total_payer: kes(80_000),
            total_copay: kes(20_000),
        }),
        Event::ClaimReviewed(ClaimReviewed {
            claim_id: claim.clone(),
            reviewer: "medical-officer-7".into(),
            reviewed_on: d(3, 12),
            lines: vec![line(1, DecisionStatus::Partial, 90_000, 72_000)],
            comment: "price above the county tariff".into(),
            total_payer: kes(72_000),
            total_copay: kes(18_000),
            copay_refunded: Some(kes(2_000)),
        }),
        Event::ClaimReversed(ClaimReversed {
            claim_id: claim.clone(),
            reason: "duplicate entry at the facility".into(),
            reversed_on: d(3, 20),
            copay_refunded: Some(kes(18_000)),
        }),
        Event::CopayRecorded(CopayRecorded {
            receipt_id: ReceiptId::new("MPESA:COPAY01").unwrap(),
            claim_id: claim,
            facility_id: facility.clone(),
            member_id: member,
            amount: kes(20_000),
            collected_on: d(3, 10),
        }),
        Event::StockVisitRecorded(StockVisitRecorded {
            facility_id: facility.clone(),
            product_code: Code::new("MEDROXY-150").unwrap(),
            visited_on: d(3, 1),
            stock_found: 12,
            losses: 1,
            delivered: 40,
            unit_price: Amount::new(350, Currency::XOF),
        }),
        Event::PaymentPeriodClosed(PaymentPeriodClosed {
            period_id: PeriodId::new("2026-03").unwrap(),
            scheme_id: SchemeId::new("ipush-ke").unwrap(),
            starts_on: d(3, 1),
            ends_on: d(3, 31),
            closed_on: d(4, 1),
        }),
        Event::FacilityStatementIssued(FacilityStatementIssued {
            period_id: PeriodId::new("2026-03").unwrap(),
            facility_id: facility.clone(),
            method: PaymentMethod::FeeForService,
            lines: vec![StatementLine {
                description: "claim CL-2026-000001".into(),
                reference: "CL-2026-000001".into(),
                quantity: 1,
                amount: kes(72_000),
            }],
            amount_due: kes(72_000),
            part: 0,
            more: false,
        }),
        Event::FacilityPaid(FacilityPaid {
            payout_id: PayoutId::new("PAY-0001").unwrap(),
            facility_id: facility,
            period_id: PeriodId::new("2026-03").unwrap(),
            amount: kes(72_000),
            channel: PaymentChannel::Bank,
            reference: "EFT 991".into(),
            paid_on: d(4, 3),
        }),
    ]
}
