//! The embedded log: group commit by one writer thread, indexes off the append path.
//!
//! Append path:
//! 1. caller's task: validate every event, encode its body, digest the request (`prepare`);
//! 2. bounded queue (`Limits::queue_depth_max`) to the writer thread (callers wait when full);
//! 3. writer thread: take every queued request up to `Limits::commit_events_max`; for each,
//!    check the request id (idempotency) and expected versions, assign positions and stream
//!    versions, encode the envelope, chain the hash; write the whole group as ONE segment and
//!    flush ONCE; then publish the new head and answer every caller;
//! 4. the committed index entries go to the indexer thread, which persists them in the
//!    `index` tree in batches. Until then they are served from an in-memory overlay (`Recent`).
//!
//! Open: the head comes from the last segment (O(1)); the index tail (events after the
//! persisted index) is re-read, its chain verified, and the overlay rebuilt. So opening costs
//! the unindexed tail, not the history.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc as std_mpsc};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot, watch};

use super::segment::{self, RecordRef, SegmentBuilder};
use super::store::{IndexDelta, RequestRecord, Store};
use super::{
    AppendError, AppendOutcome, AppendRequest, EventLog, ExpectedVersion, Head, Limits, LogError,
    RecordedEvent, SledStore, VerifyReport,
};
use crate::chain::{self, GENESIS, Hash};
use crate::codec::{Envelope, Wire, encode_envelope};
use crate::event::StreamId;
use crate::ids::RequestId;

/// An event validated and encoded on the caller's task.
struct PreparedEvent {
    stream: StreamId,
    stream_key: Vec<u8>,
    body: Vec<u8>,
}

struct Prepared {
    request_id: RequestId,
    events: Vec<PreparedEvent>,
    expected: Vec<(StreamId, Vec<u8>, ExpectedVersion)>,
    digest: [u8; 16],
    body_bytes: usize,
    reply: oneshot::Sender<Result<AppendOutcome, AppendError>>,
}

enum Msg {
    Append(Prepared),
    Shutdown(oneshot::Sender<Result<(), LogError>>),
}

/// Index entries committed but maybe not yet persisted by the indexer. Each entry remembers
/// the end of the commit that wrote it, so it can be dropped once the index reaches that far.
#[derive(Default)]
struct Recent {
    streams: HashMap<Vec<u8>, (u64, u64)>,
    requests: HashMap<String, RequestRecord>,
}

impl Recent {
    fn len(&self) -> usize {
        self.streams.len() + self.requests.len()
    }

    fn prune(&mut self, indexed_upto: u64) {
        self.streams.retain(|_, (_, end)| *end > indexed_upto);
        self.requests
            .retain(|_, r| r.first_position + u64::from(r.count) > indexed_upto);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Shared<S: Store> {
    store: S,
    limits: Limits,
    tx: mpsc::Sender<Msg>,
    head: watch::Receiver<Head>,
    recent: Arc<Mutex<Recent>>,
}

/// The embedded event log over a [`Store`]: [`super::SledLog`] or [`super::MemoryLog`].
/// Cheap to clone; all clones share one writer.
pub struct Log<S: Store> {
    shared: Arc<Shared<S>>,
}

impl<S: Store> Clone for Log<S> {
    fn clone(&self) -> Self {
        Log {
            shared: self.shared.clone(),
        }
    }
}

impl<S: Store> std::fmt::Debug for Log<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("head", &self.head().next_position)
            .finish_non_exhaustive()
    }
}

impl Log<SledStore> {
    /// Opens (or creates) the durable log in directory `path` with default limits.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self, LogError> {
        Log::open_with(SledStore::open(path)?, Limits::default())
    }
}

impl Log<super::MemoryStore> {
    /// A new, empty in-memory log.
    pub fn in_memory() -> Self {
        match Log::open_with(super::MemoryStore::new(), Limits::default()) {
            Ok(log) => log,
            // An empty memory store has nothing to recover, so opening cannot fail.
            Err(e) => unreachable!("opening an empty memory log failed: {e}"),
        }
    }
}

impl<S: Store> Log<S> {
    /// Opens the log over `store`: recovers the head, verifies and re-indexes the unindexed
    /// tail, and starts the writer and indexer threads. Refuses to open a broken chain.
    pub fn open_with(store: S, limits: Limits) -> Result<Self, LogError> {
        let head = recover_head(&store)?;
        let mut indexed_upto = store.indexed_upto()?;
        if indexed_upto > head.next_position {
            // The index claims more than the log holds: rebuild it from the log, the truth.
            store.clear_index()?;
            indexed_upto = 0;
        }
        let (recent, tail_delta) = recover_tail(&store, indexed_upto, head)?;

        let indexed = Arc::new(AtomicU64::new(indexed_upto));
        let (index_tx, index_rx) = std_mpsc::sync_channel::<IndexDelta>(limits.index_queue_max);
        let indexer = {
            let store = store.clone();
            let indexed = indexed.clone();
            thread::Builder::new()
                .name("ledger-indexer".into())
                .spawn(move || indexer_loop(store, index_rx, indexed))
                .map_err(|e| LogError::Storage(format!("cannot start indexer thread: {e}")))?
        };
        if !tail_delta.streams.is_empty() || !tail_delta.requests.is_empty() {
            index_tx
                .send(tail_delta)
                .map_err(|_| LogError::Storage("indexer stopped".into()))?;
        }

        let recent = Arc::new(Mutex::new(recent));
        let (head_tx, head_rx) = watch::channel(head);
        let (tx, rx) = mpsc::channel(limits.queue_depth_max);
        let writer = Writer {
            store: store.clone(),
            limits,
            head,
            head_tx,
            recent: recent.clone(),
            indexed,
            index_tx: Some(index_tx),
            indexer: Some(indexer),
            poisoned: None,
        };
        thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| LogError::Storage(format!("cannot start writer thread: {e}")))?;

        Ok(Log {
            shared: Arc::new(Shared {
                store,
                limits,
                tx,
                head: head_rx,
                recent,
            }),
        })
    }

    /// The limits this log enforces.
    pub fn limits(&self) -> Limits {
        self.shared.limits
    }

    /// Stops the writer after the appends queued before this call, persists the index and
    /// flushes. Appends after it fail with [`AppendError::Closed`]. Drop every clone of the log
    /// afterwards to release the store.
    pub async fn shutdown(&self) -> Result<(), LogError> {
        let (tx, rx) = oneshot::channel();
        if self.shared.tx.send(Msg::Shutdown(tx)).await.is_err() {
            return Ok(());
        }
        rx.await.unwrap_or(Ok(()))
    }

    fn hash_before(&self, position: u64) -> Result<Hash, LogError> {
        hash_before(&self.shared.store, position)
    }
}

impl<S: Store> EventLog for Log<S> {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        let (reply, answer) = oneshot::channel();
        let prepared = prepare(request, &self.shared.limits, reply)?;
        self.shared
            .tx
            .send(Msg::Append(prepared))
            .await
            .map_err(|_| AppendError::Closed)?;
        answer.await.map_err(|_| AppendError::Closed)?
    }

    async fn read(&self, from: u64, max: usize) -> Result<Vec<RecordedEvent>, LogError> {
        let head = self.head().next_position;
        let to = head.min(from.saturating_add(max as u64));
        let mut events = Vec::with_capacity(to.saturating_sub(from) as usize);
        for_each_record(&self.shared.store, from, to, |position, record| {
            events.push(decode_record(position, record)?);
            Ok(true)
        })?;
        Ok(events)
    }

    fn head(&self) -> Head {
        *self.shared.head.borrow()
    }

    fn watch_head(&self) -> watch::Receiver<Head> {
        self.shared.head.clone()
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<u64, LogError> {
        let key = stream.key();
        if let Some((version, _)) = lock(&self.shared.recent).streams.get(&key) {
            return Ok(*version);
        }
        Ok(self.shared.store.stream_version(&key)?.unwrap_or(0))
    }

    async fn verify(&self, from: u64, to: u64) -> Result<VerifyReport, LogError> {
        let head = self.head().next_position;
        if from > to || to > head {
            return Err(LogError::OutOfRange { from, to, head });
        }
        let mut previous = self.hash_before(from)?;
        let mut first_bad = None;
        let walked =
            for_each_record(
                &self.shared.store,
                from,
                to,
                |position, record| match check_record(position, &previous, record) {
                    Ok(()) => {
                        previous = *record.hash;
                        Ok(true)
                    }
                    Err(reason) => {
                        first_bad = Some((position, reason));
                        Ok(false)
                    }
                },
            );
        if let Err(LogError::Corrupt { position, reason }) = walked {
            first_bad = Some((position, reason));
        } else {
            walked?;
        }
        Ok(VerifyReport {
            from,
            to,
            first_bad,
            last_hash: previous,
        })
    }
}

/// Checks one stored record against the chain: hash, decodability, position.
fn check_record(position: u64, previous: &Hash, record: RecordRef<'_>) -> Result<(), String> {
    if chain::link(previous, record.bytes) != *record.hash {
        return Err("stored hash does not match SHA-256(previous hash || event bytes)".into());
    }
    let envelope = Envelope::decode(record.bytes).map_err(|e| format!("undecodable: {e}"))?;
    if envelope.position != position {
        return Err(format!(
            "event says it is at position {}",
            envelope.position
        ));
    }
    Ok(())
}

fn decode_record(position: u64, record: RecordRef<'_>) -> Result<RecordedEvent, LogError> {
    let e = Envelope::decode(record.bytes).map_err(|err| LogError::Corrupt {
        position,
        reason: err.to_string(),
    })?;
    if e.position != position {
        return Err(LogError::Corrupt {
            position,
            reason: format!("event says it is at position {}", e.position),
        });
    }
    Ok(RecordedEvent {
        position,
        stream: e.stream,
        stream_version: e.stream_version,
        recorded_at_unix_ms: e.recorded_at_unix_ms,
        request_id: e.request_id,
        event: e.event,
        hash: *record.hash,
    })
}

/// Calls `f` for every record in `from..to`, in order, checking that segments are contiguous.
/// `f` returns false to stop early.
fn for_each_record<S: Store>(
    store: &S,
    from: u64,
    to: u64,
    mut f: impl FnMut(u64, RecordRef<'_>) -> Result<bool, LogError>,
) -> Result<(), LogError> {
    if from >= to {
        return Ok(());
    }
    let mut current = store.segment_containing(from)?;
    let mut expected_first = None;
    while let Some((first, bytes)) = current {
        if expected_first.is_some_and(|e| e != first) {
            return Err(LogError::Corrupt {
                position: expected_first.unwrap_or(first),
                reason: format!("segment starts at {first}, a gap or overlap"),
            });
        }
        let records = segment::parse(bytes.as_ref()).map_err(|reason| LogError::Corrupt {
            position: first,
            reason,
        })?;
        let end = first + records.len() as u64;
        if end <= from {
            return Err(LogError::Corrupt {
                position: from,
                reason: format!("segment at {first} ends at {end}, before the position"),
            });
        }
        for (i, record) in records.into_iter().enumerate() {
            let position = first + i as u64;
            if position < from {
                continue;
            }
            if position >= to || !f(position, record)? {
                return Ok(());
            }
        }
        if end >= to {
            return Ok(());
        }
        expected_first = Some(end);
        current = store.segment_after(first)?;
    }
    Err(LogError::Corrupt {
        position: expected_first.unwrap_or(from),
        reason: "segment missing".into(),
    })
}

fn hash_before<S: Store>(store: &S, position: u64) -> Result<Hash, LogError> {
    if position == 0 {
        return Ok(GENESIS);
    }
    let mut hash = None;
    for_each_record(store, position - 1, position, |_, record| {
        hash = Some(*record.hash);
        Ok(false)
    })?;
    hash.ok_or(LogError::Corrupt {
        position: position - 1,
        reason: "event missing".into(),
    })
}

fn recover_head<S: Store>(store: &S) -> Result<Head, LogError> {
    let Some((first, bytes)) = store.last_segment()? else {
        return Ok(Head {
            next_position: 0,
            hash: GENESIS,
        });
    };
    let records = segment::parse(bytes.as_ref()).map_err(|reason| LogError::Corrupt {
        position: first,
        reason,
    })?;
    let last = records.last().ok_or(LogError::Corrupt {
        position: first,
        reason: "empty segment".into(),
    })?;
    Ok(Head {
        next_position: first + records.len() as u64,
        hash: *last.hash,
    })
}

/// Re-reads the events the persisted index does not cover, verifying their chain, and
/// rebuilds the overlay and the index delta for them.
fn recover_tail<S: Store>(
    store: &S,
    indexed_upto: u64,
    head: Head,
) -> Result<(Recent, IndexDelta), LogError> {
    let mut recent = Recent::default();
    let mut previous = hash_before(store, indexed_upto)?;
    let mut streams: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut requests: Vec<(String, RequestRecord, Sha256)> = Vec::new();
    for_each_record(
        store,
        indexed_upto,
        head.next_position,
        |position, record| {
            check_record(position, &previous, record)
                .map_err(|reason| LogError::ChainBroken { position, reason })?;
            previous = *record.hash;
            let envelope = Envelope::decode(record.bytes).map_err(|e| LogError::Corrupt {
                position,
                reason: e.to_string(),
            })?;
            let key = envelope.stream.key();
            let body = envelope.event.to_pb().encode_to_vec();
            streams.insert(key.clone(), envelope.stream_version);
            let id = envelope.request_id.as_str();
            match requests.last_mut() {
                Some((last_id, rec, hasher))
                    if last_id == id && rec.first_position + u64::from(rec.count) == position =>
                {
                    rec.count += 1;
                    digest_event(hasher, &key, &body);
                }
                _ => {
                    let mut hasher = Sha256::new();
                    digest_event(&mut hasher, &key, &body);
                    let rec = RequestRecord {
                        first_position: position,
                        count: 1,
                        digest: [0; 16],
                    };
                    requests.push((id.to_owned(), rec, hasher));
                }
            }
            Ok(true)
        },
    )?;
    if previous != head.hash {
        return Err(LogError::ChainBroken {
            position: head.next_position.saturating_sub(1),
            reason: "the last event's hash does not continue the chain".into(),
        });
    }
    let end = head.next_position;
    let mut delta = IndexDelta {
        upto: end,
        ..IndexDelta::default()
    };
    for (key, version) in streams {
        recent.streams.insert(key.clone(), (version, end));
        delta.streams.push((key, version));
    }
    for (id, mut rec, hasher) in requests {
        rec.digest = truncate_digest(hasher);
        recent.requests.insert(id.clone(), rec);
        delta.requests.push((id, rec));
    }
    Ok((recent, delta))
}

fn digest_event(hasher: &mut Sha256, stream_key: &[u8], body: &[u8]) {
    hasher.update((stream_key.len() as u32).to_le_bytes());
    hasher.update(stream_key);
    hasher.update((body.len() as u32).to_le_bytes());
    hasher.update(body);
}

fn truncate_digest(hasher: Sha256) -> [u8; 16] {
    let full: Hash = hasher.finalize().into();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// Validates and encodes a request on the caller's task, so the writer only sequences.
fn prepare(
    request: AppendRequest,
    limits: &Limits,
    reply: oneshot::Sender<Result<AppendOutcome, AppendError>>,
) -> Result<Prepared, AppendError> {
    if request.events.is_empty() {
        return Err(AppendError::EmptyBatch);
    }
    if request.events.len() > limits.batch_events_max {
        return Err(AppendError::BatchTooLarge {
            events: request.events.len(),
            max: limits.batch_events_max,
        });
    }
    let mut expected: Vec<(StreamId, Vec<u8>, ExpectedVersion)> =
        Vec::with_capacity(request.expected.len());
    for (stream, version) in request.expected {
        if expected.iter().any(|(s, _, _)| *s == stream) {
            return Err(AppendError::DuplicateExpectation { stream });
        }
        let key = stream.key();
        expected.push((stream, key, version));
    }
    let mut hasher = Sha256::new();
    let mut events = Vec::with_capacity(request.events.len());
    let mut body_bytes = 0;
    for (index, new) in request.events.into_iter().enumerate() {
        new.event
            .validate()
            .map_err(|error| AppendError::InvalidEvent { index, error })?;
        let body = new.event.to_pb().encode_to_vec();
        if body.len() > limits.event_bytes_max {
            return Err(AppendError::EventTooLarge {
                index,
                bytes: body.len(),
                max: limits.event_bytes_max,
            });
        }
        let stream_key = new.stream.key();
        digest_event(&mut hasher, &stream_key, &body);
        body_bytes += body.len();
        events.push(PreparedEvent {
            stream: new.stream,
            stream_key,
            body,
        });
    }
    Ok(Prepared {
        request_id: request.request_id,
        events,
        expected,
        digest: truncate_digest(hasher),
        body_bytes,
        reply,
    })
}

/// Encoded envelope header and framing, per event, on top of its body (an estimate for
/// sizing buffers; exactness does not matter).
const ENVELOPE_OVERHEAD_BYTES: usize = 128;

struct Writer<S: Store> {
    store: S,
    limits: Limits,
    head: Head,
    head_tx: watch::Sender<Head>,
    recent: Arc<Mutex<Recent>>,
    indexed: Arc<AtomicU64>,
    index_tx: Option<std_mpsc::SyncSender<IndexDelta>>,
    indexer: Option<thread::JoinHandle<()>>,
    poisoned: Option<String>,
}

impl<S: Store> Writer<S> {
    fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut carry: Option<Prepared> = None;
        loop {
            let first = match carry.take() {
                Some(p) => p,
                None => match rx.blocking_recv() {
                    Some(Msg::Append(p)) => p,
                    Some(Msg::Shutdown(done)) => return self.stop(rx, done),
                    None => return self.finish_index(),
                },
            };
            let mut events = first.events.len();
            let mut bytes = first.body_bytes;
            let mut group = vec![first];
            let mut shutdown = None;
            while events < self.limits.commit_events_max && bytes < self.limits.commit_bytes_max {
                match rx.try_recv() {
                    Ok(Msg::Append(p)) => {
                        if events + p.events.len() > self.limits.commit_events_max {
                            carry = Some(p);
                            break;
                        }
                        events += p.events.len();
                        bytes += p.body_bytes;
                        group.push(p);
                    }
                    Ok(Msg::Shutdown(done)) => {
                        shutdown = Some(done);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.commit(group, bytes + events * ENVELOPE_OVERHEAD_BYTES);
            if let Some(done) = shutdown {
                if let Some(p) = carry.take() {
                    self.commit(vec![p], 0);
                }
                return self.stop(rx, done);
            }
        }
    }

    /// Answers what is still queued with `Closed`, persists the index, flushes, and replies.
    fn stop(mut self, mut rx: mpsc::Receiver<Msg>, done: oneshot::Sender<Result<(), LogError>>) {
        rx.close();
        while let Ok(msg) = rx.try_recv() {
            match msg {
                Msg::Append(p) => {
                    let _ = p.reply.send(Err(AppendError::Closed));
                }
                Msg::Shutdown(other) => {
                    let _ = other.send(Ok(()));
                }
            }
        }
        self.finish_index();
        let result = self.store.flush();
        // Release the store before answering, so the caller can reopen it.
        drop(self);
        let _ = done.send(result);
    }

    fn finish_index(&mut self) {
        self.index_tx = None;
        if let Some(indexer) = self.indexer.take() {
            let _ = indexer.join();
        }
    }

    fn commit(&mut self, group: Vec<Prepared>, bytes_hint: usize) {
        if let Some(reason) = &self.poisoned {
            for p in group {
                let _ = p.reply.send(Err(AppendError::Storage(reason.clone())));
            }
            return;
        }
        let recorded_at_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let mut segment = SegmentBuilder::with_capacity(bytes_hint);
        let mut next = self.head.next_position;
        let mut hash = self.head.hash;
        let mut streams: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut requests: HashMap<String, RequestRecord> = HashMap::new();
        let mut answers = Vec::with_capacity(group.len());
        let mut scratch = Vec::with_capacity(512);
        {
            let recent = lock(&self.recent);
            for p in group {
                match self.decide(&recent, &streams, &requests, &p) {
                    Decided::Answer(result) => {
                        let _ = p.reply.send(result);
                    }
                    Decided::Append(base_versions) => {
                        streams.extend(base_versions);
                        let record = RequestRecord {
                            first_position: next,
                            count: p.events.len() as u32,
                            digest: p.digest,
                        };
                        for event in &p.events {
                            // `decide` put every stream of the request in `streams`.
                            let version = streams.get(&event.stream_key).copied().unwrap_or(0) + 1;
                            streams.insert(event.stream_key.clone(), version);
                            scratch.clear();
                            encode_envelope(
                                next,
                                &event.stream,
                                version,
                                recorded_at_unix_ms,
                                &p.request_id,
                                &event.body,
                                &mut scratch,
                            );
                            hash = chain::link(&hash, &scratch);
                            segment.push(&scratch, &hash);
                            next += 1;
                        }
                        requests.insert(p.request_id.to_string(), record);
                        answers.push((
                            p.reply,
                            AppendOutcome {
                                first_position: record.first_position,
                                count: record.count,
                                already_appended: false,
                            },
                        ));
                    }
                }
            }
        }
        if segment.count() == 0 {
            return;
        }
        let first = self.head.next_position;
        if let Err(e) = self.store.write_segment(first, segment.finish()) {
            let reason = e.to_string();
            self.poisoned = Some(reason.clone());
            for (reply, _) in answers {
                let _ = reply.send(Err(AppendError::Storage(reason.clone())));
            }
            return;
        }
        self.head = Head {
            next_position: next,
            hash,
        };
        let delta = {
            let mut recent = lock(&self.recent);
            for (key, version) in &streams {
                recent.streams.insert(key.clone(), (*version, next));
            }
            for (id, record) in &requests {
                recent.requests.insert(id.clone(), *record);
            }
            if recent.len() > self.limits.recent_entries_max {
                recent.prune(self.indexed.load(Ordering::Acquire));
            }
            IndexDelta {
                upto: next,
                streams: streams.into_iter().collect(),
                requests: requests.into_iter().collect(),
            }
        };
        self.head_tx.send_replace(self.head);
        for (reply, outcome) in answers {
            let _ = reply.send(Ok(outcome));
        }
        if let Some(index_tx) = &self.index_tx {
            // Blocks when the indexer is `index_queue_max` commits behind: back-pressure.
            let _ = index_tx.send(delta);
        }
    }

    /// The version a stream has before this commit; `Err` on a storage failure.
    fn current_version(&self, recent: &Recent, key: &[u8]) -> Result<u64, LogError> {
        if let Some((version, _)) = recent.streams.get(key) {
            return Ok(*version);
        }
        Ok(self.store.stream_version(key)?.unwrap_or(0))
    }

    fn decide(
        &self,
        recent: &Recent,
        streams: &HashMap<Vec<u8>, u64>,
        requests: &HashMap<String, RequestRecord>,
        p: &Prepared,
    ) -> Decided {
        let id = p.request_id.as_str();
        let earlier = match requests.get(id).or_else(|| recent.requests.get(id)) {
            Some(r) => Ok(Some(*r)),
            None => self.store.request(id),
        };
        match earlier {
            Err(e) => return Decided::Answer(Err(AppendError::Storage(e.to_string()))),
            Ok(Some(record)) if record.digest == p.digest => {
                return Decided::Answer(Ok(AppendOutcome {
                    first_position: record.first_position,
                    count: record.count,
                    already_appended: true,
                }));
            }
            Ok(Some(_)) => {
                return Decided::Answer(Err(AppendError::RequestIdReused {
                    request_id: p.request_id.clone(),
                }));
            }
            Ok(None) => {}
        }
        // The version of every stream the request touches, before this request.
        let mut base_versions: HashMap<Vec<u8>, u64> = HashMap::new();
        let keys = p
            .expected
            .iter()
            .map(|(_, key, _)| key)
            .chain(p.events.iter().map(|e| &e.stream_key));
        for key in keys {
            if streams.contains_key(key) || base_versions.contains_key(key) {
                continue;
            }
            match self.current_version(recent, key) {
                Ok(v) => base_versions.insert(key.clone(), v),
                Err(e) => return Decided::Answer(Err(AppendError::Storage(e.to_string()))),
            };
        }
        for (stream, key, expected) in &p.expected {
            let actual = streams
                .get(key)
                .or_else(|| base_versions.get(key))
                .copied()
                .unwrap_or(0);
            let ok = match expected {
                ExpectedVersion::Any => true,
                ExpectedVersion::NoStream => actual == 0,
                ExpectedVersion::Exact(v) => actual == *v,
            };
            if !ok {
                return Decided::Answer(Err(AppendError::WrongExpectedVersion {
                    stream: stream.clone(),
                    expected: *expected,
                    actual,
                }));
            }
        }
        Decided::Append(base_versions)
    }
}

enum Decided {
    /// Append, starting from these stream versions (for streams not yet in the commit).
    Append(HashMap<Vec<u8>, u64>),
    Answer(Result<AppendOutcome, AppendError>),
}

/// Persists committed index deltas in batches, off the append path.
fn indexer_loop<S: Store>(store: S, rx: std_mpsc::Receiver<IndexDelta>, indexed: Arc<AtomicU64>) {
    const MERGED_ENTRIES_MAX: usize = 100_000;
    // A delta that failed to persist is kept and retried with the next ones, so `indexed`
    // never moves past an entry that is not in the index.
    let mut unsaved: Option<IndexDelta> = None;
    while let Ok(next) = rx.recv() {
        let mut delta = match unsaved.take() {
            Some(mut d) => {
                merge(&mut d, next);
                d
            }
            None => next,
        };
        while delta.streams.len() + delta.requests.len() < MERGED_ENTRIES_MAX {
            match rx.try_recv() {
                Ok(more) => merge(&mut delta, more),
                Err(_) => break,
            }
        }
        if store.apply_index(&delta).is_ok() {
            indexed.store(delta.upto, Ordering::Release);
        } else {
            unsaved = Some(delta);
        }
    }
    if let Some(delta) = unsaved
        && store.apply_index(&delta).is_ok()
    {
        indexed.store(delta.upto, Ordering::Release);
    }
}

fn merge(into: &mut IndexDelta, more: IndexDelta) {
    into.upto = more.upto;
    into.streams.extend(more.streams);
    into.requests.extend(more.requests);
}
