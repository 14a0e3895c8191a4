//! The embedded log: group commit by one writer thread, indexes off the append path.
//!
//! Append path:
//! 1. caller's task: validate every event, encode its body, digest the request (`prepare`);
//! 2. bounded queue (`Limits::queue_depth_max`) to the sequencer thread (callers wait when full);
//! 3. sequencer thread: take every queued request up to `Limits::commit_events_max`; for each,
//!    check the request id (idempotency) and expected versions, assign positions and stream
//!    versions, encode the envelope, chain the hash; then the flusher thread (or the sequencer
//!    itself when nothing else waits) writes the whole group in ONE atomic batch and flushes
//!    ONCE, publishes the new head and answers every caller;
//! 4. the committed index entries go to the indexer thread, which persists them in the
//!    `index` tree in batches. Until then they are served from an in-memory overlay (`Recent`).
//!
//! Open: the head comes from the store (the segment-file store finds it while checking its
//! tail, `files/recover.rs`); the index tail (events after the
//! persisted index) is re-read, its chain verified, and the overlay rebuilt. So opening costs
//! the unindexed tail, not the history.

use std::collections::HashMap as StdHashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc as std_mpsc};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot, watch};

use super::anchor;
use super::chunk::{self, ChunkBuilder};
use super::frame::RecordRef;
use super::store::{IndexDelta, RequestRecord, Store};
use super::{
    AppendError, AppendOutcome, AppendRequest, EventLog, ExpectedVersion, FileStore, Head, Limits,
    LogError, RecordedEvent, SledStore, VerifyReport,
};
use crate::chain::{self, GENESIS, Hash};
use crate::codec::{Envelope, EnvelopeHead, decode_envelope_head, encode_envelope, event_bytes};
use crate::event::{Event, StreamId, UniqueId};
use crate::ids::RequestId;

/// Hash maps on the append path: foldhash is several times faster than SipHash on short keys
/// and, with a per-process random seed, still resists crafted collisions from clients.
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;

/// An event validated and encoded on the caller's task.
struct PreparedEvent {
    stream: StreamId,
    stream_key: Vec<u8>,
    body: Vec<u8>,
    /// The id the event records once, with its index key.
    unique: Option<(UniqueId, Vec<u8>)>,
}

struct Prepared {
    request_id: RequestId,
    events: Vec<PreparedEvent>,
    expected: Vec<(StreamId, Vec<u8>, ExpectedVersion)>,
    digest: [u8; 16],
    body_bytes: usize,
    recorded_at_unix_ms: Option<i64>,
    reply: oneshot::Sender<Result<AppendOutcome, AppendError>>,
}

enum Msg {
    /// One or more appends, sequenced in order and in the same commit.
    Append(Vec<Prepared>),
    Shutdown(oneshot::Sender<Result<(), LogError>>),
}

/// Index entries committed but maybe not yet persisted by the indexer. Each entry remembers
/// the end of the commit that wrote it, so it can be dropped once the index reaches that far.
#[derive(Default)]
struct Recent {
    streams: HashMap<Vec<u8>, (u64, u64)>,
    requests: HashMap<String, RequestRecord>,
    /// Unique id key -> the position of the event that recorded it.
    ids: HashMap<Vec<u8>, u64>,
}

impl Recent {
    fn len(&self) -> usize {
        self.streams.len() + self.requests.len() + self.ids.len()
    }

    fn prune(&mut self, indexed_upto: u64) {
        self.streams.retain(|_, (_, end)| *end > indexed_upto);
        self.requests
            .retain(|_, r| r.first_position + u64::from(r.count) > indexed_upto);
        self.ids.retain(|_, position| *position >= indexed_upto);
    }

    /// Adds a commit's entries; `end` is the position after it.
    fn extend(&mut self, index: &CommitIndex, end: u64) {
        for (key, version) in &index.streams {
            self.streams.insert(key.clone(), (*version, end));
        }
        for (id, record) in &index.requests {
            self.requests.insert(id.clone(), *record);
        }
        self.ids.extend(
            index
                .ids
                .iter()
                .map(|(key, position)| (key.clone(), *position)),
        );
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
        let path = path.as_ref();
        SledStore::open(path)
            .and_then(|store| Log::open_with(store, Limits::default()))
            .map_err(|e| match (e, super::anchor::read(path)) {
                // sled found damage of its own: name how far the log must reach.
                (LogError::StorageDamaged(reason), Ok(Some(anchored))) => LogError::Damaged {
                    anchored: anchored.next_position,
                    reason,
                },
                // Name the files the refusal is about.
                (LogError::Storage(reason), _) if !reason.contains(&*path.to_string_lossy()) => {
                    LogError::Storage(format!("{}: {reason}", path.display()))
                }
                (e, _) => e,
            })
    }
}

impl Log<FileStore> {
    /// Opens (or creates) the durable log in directory `path`: segment files of our own,
    /// default limits and segment size. A torn tail cut at open is logged.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self, LogError> {
        Self::open_segmented(path, super::files::SEGMENT_BYTES_DEFAULT, Limits::default())
    }

    /// Opens the log in `path` rolling segment files at `segment_bytes`, with `limits`.
    pub fn open_segmented(
        path: impl AsRef<std::path::Path>,
        segment_bytes: u64,
        limits: Limits,
    ) -> Result<Self, LogError> {
        let (store, recovery) = FileStore::open_with(path, segment_bytes)?;
        tracing::info!(
            tail_records = recovery.tail_records,
            "opened the segment log: re-read the records after the last index checkpoint"
        );
        if let Some(torn) = &recovery.torn {
            tracing::warn!(
                file = %torn.file.display(),
                byte = torn.cut_at_byte,
                bytes = torn.bytes,
                kept_in = %torn.kept_in.display(),
                "cut a torn tail: the last commit was written in part and never acknowledged"
            );
        }
        if let Some(reason) = &recovery.index_rebuilt {
            tracing::warn!(%reason, "the log's index was damaged: set aside and rebuilt");
        }
        Log::open_with(store.clone(), limits).map_err(|e| match e {
            // The chain is checked above the store: name the file holding the position.
            LogError::ChainBroken { position, reason } => LogError::ChainBroken {
                position,
                reason: match store.file_holding(position) {
                    Some(file) => format!("{}: {reason}", file.display()),
                    None => reason,
                },
            },
            e => e,
        })
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
        let head = store.stored_head()?;
        if let Some(anchored) = store.anchored_head()? {
            anchor::check(head, anchored, |position| hash_before(&store, position))?;
        }
        let mut indexed_upto = store.indexed_upto()?;
        if indexed_upto > head.next_position {
            // The index claims more than the log holds: rebuild it from the log, the truth.
            store.clear_index()?;
            indexed_upto = 0;
        }
        let (recent, tail) = recover_tail(&store, indexed_upto, head)?;

        let indexed = Arc::new(AtomicU64::new(indexed_upto));
        let (index_tx, index_rx) = std_mpsc::sync_channel::<Committed>(limits.index_queue_max);
        let indexer = {
            let store = store.clone();
            let indexed = indexed.clone();
            thread::Builder::new()
                .name("ledger-indexer".into())
                .spawn(move || {
                    indexer_loop(store, index_rx, indexed, limits.index_checkpoint_events)
                })
                .map_err(|e| LogError::Storage(format!("cannot start indexer thread: {e}")))?
        };
        if !tail.index.streams.is_empty() || !tail.index.requests.is_empty() {
            index_tx
                .send(tail)
                .map_err(|_| LogError::Storage("indexer stopped".into()))?;
        }

        let recent = Arc::new(Mutex::new(recent));
        let (head_tx, head_rx) = watch::channel(head);
        let (tx, rx) = mpsc::channel(limits.queue_depth_max);
        let pipeline = Arc::new(Pipeline {
            durable_upto: AtomicU64::new(head.next_position),
            poisoned: Mutex::new(None),
        });
        let (to_flusher, flusher_rx) = std_mpsc::sync_channel(PIPELINE_DEPTH);
        let flusher = Arc::new(Mutex::new(Flusher {
            store: store.clone(),
            limits,
            head_tx,
            recent: recent.clone(),
            pipeline: pipeline.clone(),
            indexed,
            index_tx: Some(index_tx),
            indexer: Some(indexer),
            pruned_upto: indexed_upto,
        }));
        let sequencer = Sequencer {
            store: store.clone(),
            limits,
            head,
            recent: recent.clone(),
            in_flight: std::collections::VecDeque::new(),
            pipeline,
            flusher: flusher.clone(),
            to_flusher,
        };
        let spawn_error =
            |e: std::io::Error| LogError::Storage(format!("cannot start thread: {e}"));
        thread::Builder::new()
            .name("ledger-flusher".into())
            .spawn(move || Flusher::run(flusher, flusher_rx))
            .map_err(spawn_error)?;
        thread::Builder::new()
            .name("ledger-sequencer".into())
            .spawn(move || sequencer.run(rx))
            .map_err(spawn_error)?;

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

    /// The store under the log (a Kafka follower's is made the owner's in place).
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub(crate) fn store(&self) -> &S {
        &self.shared.store
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
}

impl<S: Store> EventLog for Log<S> {
    fn limits(&self) -> Limits {
        self.shared.limits
    }

    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        let (reply, answer) = oneshot::channel();
        let prepared = prepare(request, &self.shared.limits, reply)?;
        self.shared
            .tx
            .send(Msg::Append(vec![prepared]))
            .await
            .map_err(|_| AppendError::Closed)?;
        answer.await.map_err(|_| AppendError::Closed)?
    }

    async fn append_all(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Vec<Result<AppendOutcome, AppendError>> {
        let mut answers = Vec::with_capacity(requests.len());
        let mut prepared = Vec::with_capacity(requests.len());
        // Requests that fail validation are answered at once; the rest go in one message, so
        // they are sequenced in order, in one commit (up to `commit_events_max`).
        let mut slots = Vec::with_capacity(requests.len());
        for request in requests {
            let (reply, answer) = oneshot::channel();
            match prepare(request, &self.shared.limits, reply) {
                Ok(p) => {
                    prepared.push(p);
                    slots.push(Ok(answer));
                }
                Err(e) => slots.push(Err(e)),
            }
        }
        let sent = prepared.is_empty() || self.shared.tx.send(Msg::Append(prepared)).await.is_ok();
        for slot in slots {
            answers.push(match slot {
                Err(e) => Err(e),
                Ok(_) if !sent => Err(AppendError::Closed),
                Ok(answer) => answer.await.unwrap_or(Err(AppendError::Closed)),
            });
        }
        answers
    }

    async fn read(&self, from: u64, max: usize) -> Result<Vec<RecordedEvent>, LogError> {
        let head = self.head().next_position;
        let to = head.min(from.saturating_add(max as u64));
        if to.saturating_sub(from) <= READ_INLINE_EVENTS_MAX {
            return read_range(&self.shared.store, from, to);
        }
        // A long read (a replay, an audit stream) is blocking work: off the async runtime.
        let store = self.shared.store.clone();
        tokio::task::spawn_blocking(move || read_range(&store, from, to))
            .await
            .map_err(|e| LogError::Storage(format!("reading failed: {e}")))?
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

    async fn request_positions(
        &self,
        request_id: &RequestId,
    ) -> Result<Option<std::ops::Range<u64>>, LogError> {
        // A durable commit's requests are in `recent` before its head is published, and leave
        // it only once the indexer has persisted them in the store.
        let id = request_id.as_str();
        let recent = lock(&self.shared.recent).requests.get(id).copied();
        let record = match recent {
            Some(record) => Some(record),
            None => self.shared.store.request(id)?,
        };
        Ok(record.map(|r| r.first_position..r.first_position + u64::from(r.count)))
    }

    async fn id_position(&self, id: &UniqueId) -> Result<Option<u64>, LogError> {
        // Like requests: in `recent` before the head is published, until persisted.
        let key = id.key();
        let recent = lock(&self.shared.recent).ids.get(&key).copied();
        match recent {
            Some(position) => Ok(Some(position)),
            None => self.shared.store.id_position(&key),
        }
    }

    async fn verify(&self, from: u64, to: u64) -> Result<VerifyReport, LogError> {
        let head = self.head().next_position;
        if from > to || to > head {
            return Err(LogError::OutOfRange { from, to, head });
        }
        // Reading and hashing a long range is blocking work: off the async runtime.
        let store = self.shared.store.clone();
        tokio::task::spawn_blocking(move || verify_range(&store, from, to))
            .await
            .map_err(|e| LogError::Storage(format!("verifying failed: {e}")))?
    }
}

/// Reads of at most this many events run on the caller's thread (a retry's lookup of its
/// first answer, a subscription's next event): a thread hand-off would cost more than they.
pub const READ_INLINE_EVENTS_MAX: u64 = 64;

/// The stored events `from..to`, decoded.
fn read_range<S: Store>(store: &S, from: u64, to: u64) -> Result<Vec<RecordedEvent>, LogError> {
    let mut events = Vec::with_capacity(to.saturating_sub(from) as usize);
    for_each_record(store, from, to, |position, record| {
        events.push(decode_record(position, record)?);
        Ok(true)
    })?;
    Ok(events)
}

/// Recomputes the chain over `from..to` of the stored log.
fn verify_range<S: Store>(store: &S, from: u64, to: u64) -> Result<VerifyReport, LogError> {
    let mut previous = hash_before(store, from)?;
    let mut first_bad = None;
    let walked = for_each_record(store, from, to, |position, record| {
        match check_record(position, &previous, record) {
            Ok(()) => {
                previous = *record.hash;
                Ok(true)
            }
            Err(reason) => {
                first_bad = Some((position, reason));
                Ok(false)
            }
        }
    });
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

/// Checks one stored record against the chain: hash, decodability, position.
fn check_record(position: u64, previous: &Hash, record: RecordRef<'_>) -> Result<(), String> {
    check_link(position, previous, record)?;
    Envelope::decode(record.bytes).map_err(|e| format!("undecodable: {e}"))?;
    Ok(())
}

/// Checks a record's chain link and envelope position; gives the envelope's fields with the
/// event left encoded (what rebuilding the indexes needs).
fn check_link<'r>(
    position: u64,
    previous: &Hash,
    record: RecordRef<'r>,
) -> Result<EnvelopeHead<'r>, String> {
    if chain::link(previous, record.bytes) != *record.hash {
        return Err("stored hash does not match SHA-256(previous hash || event bytes)".into());
    }
    let head = decode_envelope_head(record.bytes).map_err(|e| format!("undecodable: {e}"))?;
    if head.position != position {
        return Err(format!("event says it is at position {}", head.position));
    }
    Ok(head)
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

/// Calls `f` for every record in `from..to`, in order, with its position. `f` returns false
/// to stop early.
fn for_each_record<S: Store>(
    store: &S,
    from: u64,
    to: u64,
    mut f: impl FnMut(u64, RecordRef<'_>) -> Result<bool, LogError>,
) -> Result<(), LogError> {
    store.for_each_record(from, to, &mut |record| f(record.offset, record))
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

/// Re-reads the events the persisted index does not cover, verifying their chain, and
/// rebuilds the overlay and the index entries for them.
fn recover_tail<S: Store>(
    store: &S,
    indexed_upto: u64,
    head: Head,
) -> Result<(Recent, Committed), LogError> {
    let mut recent = Recent::default();
    let mut previous = hash_before(store, indexed_upto)?;
    let mut streams: HashMap<Vec<u8>, u64> = HashMap::default();
    let mut requests: Vec<(String, RequestRecord, Sha256)> = Vec::new();
    let mut ids: HashMap<Vec<u8>, u64> = HashMap::default();
    for_each_record(
        store,
        indexed_upto,
        head.next_position,
        |position, record| {
            let envelope = check_link(position, &previous, record)
                .map_err(|reason| LogError::ChainBroken { position, reason })?;
            previous = *record.hash;
            let key = envelope.stream.key();
            let body = envelope.event_bytes;
            let event = crate::codec::decode_event(&body).map_err(|e| LogError::Corrupt {
                position,
                reason: format!("undecodable event: {e}"),
            })?;
            if let Some(id) = event.unique_id() {
                ids.insert(id.key(), position);
            }
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
    let mut index = CommitIndex {
        streams,
        requests: HashMap::default(),
        ids,
    };
    for (id, mut rec, hasher) in requests {
        rec.digest = truncate_digest(hasher);
        index.requests.insert(id, rec);
    }
    recent.extend(&index, end);
    Ok((
        recent,
        Committed {
            upto: end,
            hash: head.hash,
            index: Arc::new(index),
        },
    ))
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

/// Refuses an empty batch, or one of more events than the log takes in one request.
pub(super) fn check_count(events: usize, limits: &Limits) -> Result<(), AppendError> {
    if events == 0 {
        return Err(AppendError::EmptyBatch);
    }
    if events > limits.batch_events_max {
        return Err(AppendError::BatchTooLarge {
            events,
            max: limits.batch_events_max,
        });
    }
    Ok(())
}

/// The encoding of the request's `index`th event, refused beyond `event_bytes_max`.
pub(super) fn encoded(
    index: usize,
    event: &Event,
    limits: &Limits,
) -> Result<Vec<u8>, AppendError> {
    let body = event_bytes(event);
    if body.len() > limits.event_bytes_max {
        return Err(AppendError::EventTooLarge {
            index,
            bytes: body.len(),
            max: limits.event_bytes_max,
        });
    }
    Ok(body)
}

/// Validates and encodes a request on the caller's task, so the writer only sequences (a
/// request made by [`AppendRequest::checked`] was validated and encoded already).
fn prepare(
    request: AppendRequest,
    limits: &Limits,
    reply: oneshot::Sender<Result<AppendOutcome, AppendError>>,
) -> Result<Prepared, AppendError> {
    check_count(request.events.len(), limits)?;
    let mut expected: Vec<(StreamId, Vec<u8>, ExpectedVersion)> =
        Vec::with_capacity(request.expected.len());
    for (stream, version) in request.expected {
        if expected.iter().any(|(s, _, _)| *s == stream) {
            return Err(AppendError::DuplicateExpectation { stream });
        }
        let key = stream.key();
        expected.push((stream, key, version));
    }
    // Encodings made by `checked` are used only if they still match the events one to one.
    let mut bodies = request
        .bodies
        .filter(|bodies| bodies.len() == request.events.len())
        .map(Vec::into_iter);
    let mut hasher = Sha256::new();
    let mut events = Vec::with_capacity(request.events.len());
    let mut body_bytes = 0;
    for (index, new) in request.events.into_iter().enumerate() {
        let body = match bodies.as_mut().and_then(Iterator::next) {
            Some(body) => body,
            None => {
                new.event
                    .validate()
                    .map_err(|error| AppendError::InvalidEvent { index, error })?;
                encoded(index, &new.event, limits)?
            }
        };
        let stream_key = new.stream.key();
        digest_event(&mut hasher, &stream_key, &body);
        body_bytes += body.len();
        events.push(PreparedEvent {
            stream: new.stream,
            stream_key,
            body,
            unique: new.event.unique_id().map(|id| {
                let key = id.key();
                (id, key)
            }),
        });
    }
    Ok(Prepared {
        request_id: request.request_id,
        events,
        expected,
        digest: truncate_digest(hasher),
        body_bytes,
        recorded_at_unix_ms: request.recorded_at_unix_ms,
        reply,
    })
}

/// Encoded envelope header and framing, per event, on top of its body (an estimate for
/// sizing buffers; exactness does not matter).
const ENVELOPE_OVERHEAD_BYTES: usize = 128;

/// Sequenced commits waiting for the flusher. Two: one being flushed, one ready behind it.
const PIPELINE_DEPTH: usize = 2;

/// Index entries of one commit: the stream versions it reached, the requests it holds and
/// the unique ids it records (key -> position).
#[derive(Default)]
struct CommitIndex {
    streams: HashMap<Vec<u8>, u64>,
    requests: HashMap<String, RequestRecord>,
    ids: HashMap<Vec<u8>, u64>,
}

impl CommitIndex {
    /// Adds a later commit's entries (the indexer merges commits: a stream touched a thousand
    /// times is written once).
    fn merge(&mut self, later: &CommitIndex) {
        self.streams
            .extend(later.streams.iter().map(|(k, v)| (k.clone(), *v)));
        self.requests
            .extend(later.requests.iter().map(|(k, v)| (k.clone(), *v)));
        self.ids
            .extend(later.ids.iter().map(|(k, v)| (k.clone(), *v)));
    }

    /// Takes every entry, as the delta of the index up to `upto`.
    fn drain(&mut self, upto: u64) -> IndexDelta {
        IndexDelta {
            upto,
            streams: self.streams.drain().collect(),
            requests: self.requests.drain().collect(),
            ids: self.ids.drain().collect(),
        }
    }

    /// Puts back the entries of a delta that could not be written.
    fn restore(&mut self, delta: IndexDelta) {
        self.streams.extend(delta.streams);
        self.requests.extend(delta.requests);
        self.ids.extend(delta.ids);
    }
}

/// A commit the sequencer has built, for the flusher to make durable and then acknowledge.
struct Sealed {
    chunks: Vec<(u64, Vec<u8>)>,
    /// The head once this commit is durable.
    head: Head,
    index: Arc<CommitIndex>,
    answers: Vec<(
        oneshot::Sender<Result<AppendOutcome, AppendError>>,
        AppendOutcome,
    )>,
}

/// A durable commit's index entries, for the indexer.
struct Committed {
    upto: u64,
    /// The chain hash of the event before `upto` (the head after the commit).
    hash: Hash,
    index: Arc<CommitIndex>,
}

enum ToFlusher {
    Commit(Sealed),
    Stop(oneshot::Sender<Result<(), LogError>>),
}

/// State shared by the sequencer and the flusher.
struct Pipeline {
    /// Every commit below this position is durable and merged into `recent`.
    durable_upto: AtomicU64,
    /// Set by the flusher when a write fails; the log then refuses all appends.
    poisoned: Mutex<Option<String>>,
}

/// Sequencer thread: turns queued appends into sealed commits. With appends waiting, it works
/// on commit N + 1 while the flusher thread syncs commit N, so CPU work and the disk overlap;
/// with none waiting and nothing in flight, it writes the commit itself (waking the flusher
/// thread would only add a thread hand-off to the commit's latency: the common case of one
/// appender awaiting each commit, as the command processor does).
struct Sequencer<S: Store> {
    store: S,
    limits: Limits,
    /// The head after the last sealed commit (durable or not).
    head: Head,
    recent: Arc<Mutex<Recent>>,
    /// Sealed commits that may not be durable yet, oldest first, with their end position.
    in_flight: std::collections::VecDeque<(u64, Arc<CommitIndex>)>,
    pipeline: Arc<Pipeline>,
    /// Locked by whichever thread writes a commit: the flusher thread, or this one when idle.
    flusher: Arc<Mutex<Flusher<S>>>,
    to_flusher: std_mpsc::SyncSender<ToFlusher>,
}

impl<S: Store> Sequencer<S> {
    fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut carry: Option<Vec<Prepared>> = None;
        loop {
            let first = match carry.take() {
                Some(p) => p,
                None => match rx.blocking_recv() {
                    Some(Msg::Append(p)) => p,
                    Some(Msg::Shutdown(done)) => return self.stop(rx, done),
                    None => return,
                },
            };
            let size = |p: &[Prepared]| -> (usize, usize) {
                p.iter()
                    .fold((0, 0), |(e, b), x| (e + x.events.len(), b + x.body_bytes))
            };
            metrics::gauge!("ledger_append_queue_depth").set(rx.len() as f64);
            let (mut events, mut bytes) = size(&first);
            let mut group = first;
            let mut shutdown = None;
            while events < self.limits.commit_events_max && bytes < self.limits.commit_bytes_max {
                match rx.try_recv() {
                    Ok(Msg::Append(p)) => {
                        let (e, b) = size(&p);
                        if events + e > self.limits.commit_events_max {
                            carry = Some(p);
                            break;
                        }
                        events += e;
                        bytes += b;
                        group.extend(p);
                    }
                    Ok(Msg::Shutdown(done)) => {
                        shutdown = Some(done);
                        break;
                    }
                    Err(_) => break,
                }
            }
            let idle = carry.is_none() && rx.is_empty();
            self.seal(group, bytes + events * ENVELOPE_OVERHEAD_BYTES, idle);
            if let Some(done) = shutdown {
                if let Some(p) = carry.take() {
                    self.seal(p, 0, false);
                }
                return self.stop(rx, done);
            }
        }
    }

    /// Answers what is still queued with `Closed`, then asks the flusher to finish: it makes
    /// the sealed commits durable, persists the index, flushes, and replies.
    fn stop(self, mut rx: mpsc::Receiver<Msg>, done: oneshot::Sender<Result<(), LogError>>) {
        rx.close();
        while let Ok(msg) = rx.try_recv() {
            match msg {
                Msg::Append(all) => {
                    for p in all {
                        let _ = p.reply.send(Err(AppendError::Closed));
                    }
                }
                Msg::Shutdown(other) => {
                    let _ = other.send(Ok(()));
                }
            }
        }
        let to_flusher = self.to_flusher.clone();
        // Release this thread's store handle before the flusher answers.
        drop(self);
        if let Err(std_mpsc::SendError(ToFlusher::Stop(done))) =
            to_flusher.send(ToFlusher::Stop(done))
        {
            let _ = done.send(Ok(()));
        }
    }

    /// The version of a stream before the commit being built.
    fn version_before(&self, key: &[u8]) -> Result<u64, LogError> {
        for (_, index) in self.in_flight.iter().rev() {
            if let Some(v) = index.streams.get(key) {
                return Ok(*v);
            }
        }
        if let Some((v, _)) = lock(&self.recent).streams.get(key) {
            return Ok(*v);
        }
        Ok(self.store.stream_version(key)?.unwrap_or(0))
    }

    /// Where a unique id was recorded before the commit being built, if it was.
    fn id_before(&self, key: &[u8]) -> Result<Option<u64>, LogError> {
        for (_, index) in self.in_flight.iter().rev() {
            if let Some(position) = index.ids.get(key) {
                return Ok(Some(*position));
            }
        }
        if let Some(position) = lock(&self.recent).ids.get(key) {
            return Ok(Some(*position));
        }
        self.store.id_position(key)
    }

    fn earlier_request(&self, id: &str) -> Result<Option<RequestRecord>, LogError> {
        for (_, index) in self.in_flight.iter().rev() {
            if let Some(r) = index.requests.get(id) {
                return Ok(Some(*r));
            }
        }
        if let Some(r) = lock(&self.recent).requests.get(id) {
            return Ok(Some(*r));
        }
        self.store.request(id)
    }

    /// Builds the commit of `group` and has it written: here when `idle` (no appends waiting)
    /// and every earlier commit is durable, else by the flusher thread.
    fn seal(&mut self, group: Vec<Prepared>, bytes_hint: usize, idle: bool) {
        let durable = self.pipeline.durable_upto.load(Ordering::Acquire);
        while self
            .in_flight
            .front()
            .is_some_and(|(end, _)| *end <= durable)
        {
            self.in_flight.pop_front();
        }
        if let Some(reason) = lock(&self.pipeline.poisoned).clone() {
            for p in group {
                let _ = p.reply.send(Err(AppendError::Storage(reason.clone())));
            }
            return;
        }
        let recorded_at_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        // Chunk buffers stay below glibc's mmap threshold (128 KiB), so they are reused
        // instead of being mapped and zeroed afresh for every commit.
        let capacity = bytes_hint.min(chunk::CHUNK_BYTES_TARGET + 4096);
        let mut chunks: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut chunk = ChunkBuilder::with_capacity(capacity);
        let mut chunk_first = self.head.next_position;
        let mut next = self.head.next_position;
        let mut hash = self.head.hash;
        let mut index = CommitIndex::default();
        let mut answers = Vec::with_capacity(group.len());
        let mut scratch = Vec::with_capacity(512);
        for p in group {
            let base_versions = match self.decide(&index, &p, next) {
                Ok(base) => base,
                Err(result) => {
                    let _ = p.reply.send(result);
                    continue;
                }
            };
            index.streams.extend(base_versions);
            let first_position = next;
            let recorded_at_unix_ms = p.recorded_at_unix_ms.unwrap_or(recorded_at_unix_ms);
            for event in &p.events {
                // `decide` put every stream of the request in `index.streams`.
                let version = match index.streams.get_mut(&event.stream_key) {
                    Some(v) => {
                        *v += 1;
                        *v
                    }
                    None => 1,
                };
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
                if chunk.len_bytes() + scratch.len() > chunk::CHUNK_BYTES_TARGET
                    && chunk.count() > 0
                {
                    let full = std::mem::replace(&mut chunk, ChunkBuilder::with_capacity(capacity));
                    chunks.push((chunk_first, full.finish()));
                    chunk_first = next;
                }
                chunk.push(next, &scratch, &hash);
                if let Some((_, key)) = &event.unique {
                    index.ids.insert(key.clone(), next);
                }
                next += 1;
            }
            let outcome = AppendOutcome {
                first_position,
                count: p.events.len() as u32,
                already_appended: false,
            };
            index.requests.insert(
                p.request_id.as_str().to_owned(),
                RequestRecord {
                    first_position,
                    count: outcome.count,
                    digest: p.digest,
                },
            );
            answers.push((p.reply, outcome));
        }
        if chunk.count() == 0 {
            return;
        }
        chunk.mark_commit_end();
        chunks.push((chunk_first, chunk.finish()));
        let commit_first = self.head.next_position;
        self.head = Head {
            next_position: next,
            hash,
        };
        let index = Arc::new(index);
        self.in_flight.push_back((next, index.clone()));
        let sealed = Sealed {
            chunks,
            head: self.head,
            index,
            answers,
        };
        if idle && self.pipeline.durable_upto.load(Ordering::Acquire) == commit_first {
            // Every commit sent to the flusher thread is written (it may still be answering
            // the last one: the lock waits for that), so writing this one here keeps the order.
            lock(&self.flusher).flush(sealed);
            return;
        }
        // Blocks while the flusher is PIPELINE_DEPTH commits behind: back-pressure.
        if let Err(std_mpsc::SendError(ToFlusher::Commit(sealed))) =
            self.to_flusher.send(ToFlusher::Commit(sealed))
        {
            for (reply, _) in sealed.answers {
                let _ = reply.send(Err(AppendError::Closed));
            }
        }
    }

    /// Checks idempotency and expected versions. Ok: append, starting from these versions of
    /// the request's streams not yet in the commit. Err: answer the caller with this.
    fn decide(
        &self,
        commit: &CommitIndex,
        p: &Prepared,
        first_position: u64,
    ) -> Result<HashMap<Vec<u8>, u64>, Result<AppendOutcome, AppendError>> {
        let storage = |e: LogError| Err(AppendError::Storage(e.to_string()));
        let id = p.request_id.as_str();
        let earlier = match commit.requests.get(id) {
            Some(r) => Some(*r),
            None => self.earlier_request(id).map_err(storage)?,
        };
        match earlier {
            Some(record) if record.digest == p.digest => {
                return Err(Ok(AppendOutcome {
                    first_position: record.first_position,
                    count: record.count,
                    already_appended: true,
                }));
            }
            Some(_) => {
                return Err(Err(AppendError::RequestIdReused {
                    request_id: p.request_id.clone(),
                }));
            }
            None => {}
        }
        self.check_ids(commit, p, first_position).map_err(Err)?;
        let mut base_versions: HashMap<Vec<u8>, u64> = HashMap::default();
        let keys = p
            .expected
            .iter()
            .map(|(_, key, _)| key)
            .chain(p.events.iter().map(|e| &e.stream_key));
        for key in keys {
            if !commit.streams.contains_key(key) && !base_versions.contains_key(key) {
                let version = self.version_before(key).map_err(storage)?;
                base_versions.insert(key.clone(), version);
            }
        }
        for (stream, key, expected) in &p.expected {
            let actual = commit
                .streams
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
                return Err(Err(AppendError::WrongExpectedVersion {
                    stream: stream.clone(),
                    expected: *expected,
                    actual,
                }));
            }
        }
        Ok(base_versions)
    }
}

impl<S: Store> Sequencer<S> {
    /// Refuses a request that records a unique id already recorded: before this commit, in
    /// it, or earlier in the request (`first_position` is where the request would start).
    fn check_ids(
        &self,
        commit: &CommitIndex,
        p: &Prepared,
        first_position: u64,
    ) -> Result<(), AppendError> {
        for (index, event) in p.events.iter().enumerate() {
            let Some((id, key)) = &event.unique else {
                continue;
            };
            let in_request = p.events[..index]
                .iter()
                .position(|e| e.unique.as_ref().is_some_and(|(_, k)| k == key))
                .map(|i| first_position + i as u64);
            let earlier = match in_request.or_else(|| commit.ids.get(key).copied()) {
                Some(position) => Some(position),
                None => self
                    .id_before(key)
                    .map_err(|e| AppendError::Storage(e.to_string()))?,
            };
            if let Some(position) = earlier {
                return Err(AppendError::IdUsed {
                    index,
                    id: id.clone(),
                    position,
                });
            }
        }
        Ok(())
    }
}

/// The flusher: writes each sealed commit (one atomic batch, one flush), then publishes it to
/// readers, acknowledges its callers and hands its index entries to the indexer. Run by the
/// flusher thread, or by the sequencer for a commit it seals while idle.
struct Flusher<S: Store> {
    store: S,
    limits: Limits,
    head_tx: watch::Sender<Head>,
    recent: Arc<Mutex<Recent>>,
    pipeline: Arc<Pipeline>,
    indexed: Arc<AtomicU64>,
    index_tx: Option<std_mpsc::SyncSender<Committed>>,
    indexer: Option<thread::JoinHandle<()>>,
    /// The index position the overlay was last pruned at (pruning again before the index
    /// moves would find nothing).
    pruned_upto: u64,
}

impl<S: Store> Flusher<S> {
    /// The flusher thread: writes the commits the sequencer sends, until told to stop.
    fn run(flusher: Arc<Mutex<Flusher<S>>>, rx: std_mpsc::Receiver<ToFlusher>) {
        while let Ok(msg) = rx.recv() {
            match msg {
                ToFlusher::Commit(sealed) => lock(&flusher).flush(sealed),
                ToFlusher::Stop(done) => {
                    let result = {
                        let mut f = lock(&flusher);
                        f.finish_index();
                        f.store.flush()
                    };
                    // The sequencer has let go of its handle: this releases the store before
                    // answering, so the caller can reopen it.
                    drop(flusher);
                    let _ = done.send(result);
                    return;
                }
            }
        }
        lock(&flusher).finish_index();
    }

    fn finish_index(&mut self) {
        self.index_tx = None;
        if let Some(indexer) = self.indexer.take() {
            let _ = indexer.join();
        }
    }

    fn flush(&mut self, sealed: Sealed) {
        let started = std::time::Instant::now();
        let failed = {
            let mut poisoned = lock(&self.pipeline.poisoned);
            // Commits are written in order, each where the last ended (the flusher thread and
            // the idle sequencer both write): anything else must never reach the store.
            let first = sealed.chunks.first().map(|(position, _)| *position);
            let durable = self.pipeline.durable_upto.load(Ordering::Acquire);
            if poisoned.is_none() && first != Some(durable) {
                *poisoned = Some(format!(
                    "a commit starting at {first:?} came to be written after position {durable}"
                ));
            }
            if poisoned.is_none()
                && let Err(e) = self.store.write_commit(sealed.chunks)
            {
                *poisoned = Some(e.to_string());
            }
            poisoned.clone()
        };
        metrics::histogram!("ledger_commit_write_seconds").record(started.elapsed());
        if let Some(reason) = failed {
            for (reply, _) in sealed.answers {
                let _ = reply.send(Err(AppendError::Storage(reason.clone())));
            }
            return;
        }
        let end = sealed.head.next_position;
        {
            let mut recent = lock(&self.recent);
            recent.extend(&sealed.index, end);
            let indexed = self.indexed.load(Ordering::Acquire);
            if indexed > self.pruned_upto && recent.len() > self.limits.recent_entries_max {
                recent.prune(indexed);
                self.pruned_upto = indexed;
            }
        }
        let events = end.saturating_sub(self.pipeline.durable_upto.swap(end, Ordering::AcqRel));
        metrics::counter!("ledger_commits_total").increment(1);
        metrics::counter!("ledger_events_appended_total").increment(events);
        metrics::histogram!("ledger_commit_events").record(events as f64);
        self.head_tx.send_replace(sealed.head);
        for (reply, outcome) in sealed.answers {
            let _ = reply.send(Ok(outcome));
        }
        if let Some(index_tx) = &self.index_tx {
            // Blocks when the indexer is `index_queue_max` commits behind: back-pressure.
            let _ = index_tx.send(Committed {
                upto: end,
                hash: sealed.head.hash,
                index: sealed.index,
            });
        }
    }
}

/// Persists committed index deltas off the append path. Deltas are merged in memory (a
/// stream touched a thousand times is written once) and written as one sled batch every
/// `checkpoint_events` events, and at shutdown. A failed write is kept and retried, so
/// `indexed` never moves past an entry that is not in the index.
fn indexer_loop<S: Store>(
    store: S,
    rx: std_mpsc::Receiver<Committed>,
    indexed: Arc<AtomicU64>,
    checkpoint_events: u64,
) {
    let mut merged = CommitIndex::default();
    let mut last: Option<Head> = None;
    let save = |merged: &mut CommitIndex, head: Head| {
        let upto = head.next_position;
        let delta = merged.drain(upto);
        if store.apply_index(&delta).is_ok() {
            indexed.store(upto, Ordering::Release);
            // The index is durable up to here, and so is the log: anchor the head. A failed
            // anchor only weakens the shortening check until the next checkpoint.
            if store.anchor_head(head).is_err() {
                metrics::counter!("ledger_anchor_failures_total").increment(1);
            }
        } else {
            merged.restore(delta);
        }
    };
    while let Ok(committed) = rx.recv() {
        let upto = committed.upto;
        let head = Head {
            next_position: upto,
            hash: committed.hash,
        };
        last = Some(head);
        merged.merge(&committed.index);
        if upto.saturating_sub(indexed.load(Ordering::Acquire)) >= checkpoint_events {
            save(&mut merged, head);
        }
    }
    if let Some(head) = last
        && head.next_position > indexed.load(Ordering::Acquire)
    {
        save(&mut merged, head);
    }
}
