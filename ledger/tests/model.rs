//! Property tests: random append sequences against a simple model of the log's semantics
//! (a vector of events, a map of stream versions, a map of request ids). Runs on memory and,
//! with reopens in the sequence, on sled.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use ledger::conformance::{contribution, request};
use ledger::{
    AppendError, AppendOutcome, EventLog, ExpectedVersion, FileLog, MemoryLog, StreamId, StreamKind,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append {
        stream: u8,
        events: u8,
        request: u8,
        variant: u8,
        expect: Option<Option<u64>>,
    },
    Reopen,
}

fn op(with_reopen: bool) -> impl Strategy<Value = Op> {
    let append = (
        0u8..4,
        1u8..4,
        0u8..10,
        0u8..2,
        prop_oneof![
            Just(None),
            Just(Some(None)),
            (0u64..5).prop_map(|v| Some(Some(v)))
        ],
    )
        .prop_map(|(stream, events, request, variant, expect)| Op::Append {
            stream,
            events,
            request,
            variant,
            expect,
        });
    if with_reopen {
        prop_oneof![9 => append, 1 => Just(Op::Reopen)].boxed()
    } else {
        append.boxed()
    }
}

fn stream_name(s: u8) -> String {
    format!("HH-{s}")
}

#[derive(Default)]
struct Model {
    /// (stream, version, request id) per position.
    events: Vec<(String, u64, String)>,
    versions: HashMap<String, u64>,
    /// request id -> (first position, count, content key).
    requests: HashMap<String, (u64, u32, ContentKey)>,
}

/// What identifies an append's content in the model.
type ContentKey = (u8, u8, u8);

type Outcome = Result<(u64, u32, bool), &'static str>;

impl Model {
    fn append(
        &mut self,
        stream: u8,
        events: u8,
        request: u8,
        variant: u8,
        expect: Option<Option<u64>>,
    ) -> Outcome {
        let id = format!("req-{request}");
        let content = (stream, events, variant);
        if let Some((first, count, stored)) = self.requests.get(&id) {
            return if *stored == content {
                Ok((*first, *count, true))
            } else {
                Err("reused")
            };
        }
        let name = stream_name(stream);
        let actual = self.versions.get(&name).copied().unwrap_or(0);
        match expect {
            Some(None) if actual != 0 => return Err("version"),
            Some(Some(v)) if actual != v => return Err("version"),
            _ => {}
        }
        let first = self.events.len() as u64;
        for k in 0..events {
            let version = actual + 1 + u64::from(k);
            self.events.push((name.clone(), version, id.clone()));
        }
        self.versions.insert(name, actual + u64::from(events));
        self.requests
            .insert(id, (first, u32::from(events), content));
        Ok((first, u32::from(events), false))
    }
}

fn summarize(result: Result<AppendOutcome, AppendError>) -> Outcome {
    match result {
        Ok(o) => Ok((o.first_position, o.count, o.already_appended)),
        Err(AppendError::RequestIdReused { .. }) => Err("reused"),
        Err(AppendError::WrongExpectedVersion { .. }) => Err("version"),
        Err(other) => panic!("unexpected error {other}"),
    }
}

async fn apply<L: EventLog>(log: &L, model: &mut Model, op: &Op) {
    let Op::Append {
        stream,
        events,
        request: req,
        variant,
        expect,
    } = *op
    else {
        return;
    };
    let name = stream_name(stream);
    let new_events = (0..events)
        .map(|k| contribution(&name, &format!("R{req}-{k}"), 1 + i64::from(variant)))
        .collect();
    let mut append = request(&format!("req-{req}"), new_events);
    if let Some(e) = expect {
        let expected = e.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
        append = append.expect(
            StreamId::new(StreamKind::Household, &name).unwrap(),
            expected,
        );
    }
    let got = summarize(log.append(append).await);
    let want = model.append(stream, events, req, variant, expect);
    assert_eq!(got, want, "after {} events, op {op:?}", model.events.len());
}

async fn check<L: EventLog>(log: &L, model: &Model) {
    let stored = log.read(0, usize::MAX).await.unwrap();
    let seen: Vec<(String, u64, String)> = stored
        .iter()
        .map(|e| {
            (
                e.stream.id().to_owned(),
                e.stream_version,
                e.request_id.to_string(),
            )
        })
        .collect();
    assert_eq!(seen, model.events);
    for (name, version) in &model.versions {
        let stream = StreamId::new(StreamKind::Household, name).unwrap();
        assert_eq!(log.stream_version(&stream).await.unwrap(), *version);
    }
    let head = log.head().next_position;
    assert!(log.verify(0, head).await.unwrap().is_ok());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn memory_log_matches_the_model(ops in proptest::collection::vec(op(false), 1..60)) {
        runtime().block_on(async {
            let log = MemoryLog::in_memory();
            let mut model = Model::default();
            for op in &ops {
                apply(&log, &mut model, op).await;
            }
            check(&log, &model).await;
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn segment_log_matches_the_model_across_reopens(ops in proptest::collection::vec(op(true), 1..50)) {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("log");
            // The smallest segments: reopens land on every kind of segment boundary.
            let open = |path: &std::path::Path| {
                FileLog::open_segmented(
                    path,
                    ledger::log::files::SEGMENT_BYTES_MIN,
                    ledger::Limits::default(),
                )
                .unwrap()
            };
            let mut log = open(&path);
            let mut model = Model::default();
            for op in &ops {
                if let Op::Reopen = op {
                    log.shutdown().await.unwrap();
                    drop(log);
                    log = open(&path);
                    check(&log, &model).await;
                } else {
                    apply(&log, &mut model, op).await;
                }
            }
            check(&log, &model).await;
        });
    }
}
