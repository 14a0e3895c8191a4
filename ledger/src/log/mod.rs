//! The event log: the port every backend implements, and its embedded adapters.
//!
//! - [`EventLog`] is the port. Its semantics are pinned by one conformance suite
//!   (`crate::conformance`) that runs against every backend.
//! - [`FileLog`] is the embedded, durable default: checksummed segment files of our own
//!   (`files/`), one write and one fdatasync per group commit, indexes in sled.
//! - [`SledLog`] keeps the records in sled as well, one value per chunk of a group commit (a
//!   baseline for benchmarks and a second durable backend for the conformance suite).
//! - [`MemoryLog`] keeps records in memory (tests, tools).
//!
//! Both embedded adapters share the same writer (`writer.rs`): validation and encoding happen
//! on the caller's task, then one writer thread takes queued appends in a batch, checks
//! idempotency and expected versions, assigns positions, chains the hashes, writes one segment
//! and flushes once (group commit), and only then answers every caller.

pub mod anchor;
pub(crate) mod chunk;
mod chunks;
pub mod files;
pub mod frame;
#[cfg(feature = "kafka")]
pub mod kafka;
mod runs;
mod sled_store;
pub(crate) mod store;
mod subscription;
mod writer;

use std::future::Future;

use thiserror::Error;
use tokio::sync::watch;

pub use chunk::{CHUNK_BYTES_TARGET, parse as parse_segment};
pub use files::FileStore;
pub use frame::RecordRef;
pub use sled_store::{SEGMENTS_TREE, SledStore, open_db};
pub use store::{IndexDelta, MemoryStore, Store};
pub use subscription::Subscription;
pub use writer::Log;

use crate::chain::Hash;
use crate::event::{Event, FieldError, StreamId};
use crate::ids::RequestId;

/// The embedded, durable log: segment files of our own, indexes in sled.
pub type FileLog = Log<FileStore>;
/// The log with its records in sled too (a baseline and a second durable backend).
pub type SledLog = Log<SledStore>;
/// The in-memory log (same writer and encoding, no durability).
pub type MemoryLog = Log<MemoryStore>;
/// The log on Apache Kafka, one partition of the events topic (`kafka`).
#[cfg(feature = "kafka")]
pub type KafkaLog = Log<kafka::KafkaStore>;

/// Named limits of the embedded log. Every queue and batch has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most events one append request may carry.
    pub batch_events_max: usize,
    /// Largest encoded event, in bytes (a scheme document is the largest kind).
    pub event_bytes_max: usize,
    /// Most events one group commit (one segment) may carry.
    pub commit_events_max: usize,
    /// Largest group commit, in bytes.
    pub commit_bytes_max: usize,
    /// Most append requests waiting for the writer; callers wait beyond it (back-pressure).
    pub queue_depth_max: usize,
    /// Most committed index updates waiting for the indexer; the writer waits beyond it.
    pub index_queue_max: usize,
    /// The indexer persists the stream and request indexes every this many events (and at
    /// shutdown). It bounds the tail re-read on open after a crash.
    pub index_checkpoint_events: u64,
    /// Entries kept in the in-memory index overlay before already-persisted ones are dropped.
    pub recent_entries_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            batch_events_max: 4096,
            event_bytes_max: 1 << 20,
            commit_events_max: 8192,
            commit_bytes_max: 8 << 20,
            queue_depth_max: 4096,
            index_queue_max: 64,
            index_checkpoint_events: 1 << 18,
            recent_entries_max: 100_000,
        }
    }
}

/// What an append expects of a stream's current version (its number of events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must have exactly this many events.
    Exact(u64),
}

pub use crate::event::NewEvent;

/// An atomic batch: all its events are appended, contiguously, or none is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRequest {
    /// Idempotency key: appending the same request again returns the first outcome.
    pub request_id: RequestId,
    pub events: Vec<NewEvent>,
    /// Checked before anything is appended; a stream may appear once.
    pub expected: Vec<(StreamId, ExpectedVersion)>,
    /// The time to record instead of now: only for importing an exported log, so that the
    /// stored bytes, and therefore the chain hashes, are the original ones.
    pub recorded_at_unix_ms: Option<i64>,
    /// The events' encodings, made by [`AppendRequest::checked`] after validating every
    /// event against the limits: the log uses them instead of validating and encoding again
    /// (a request whose `events` were changed after `checked` is a caller's bug; the log then
    /// checks again only if their number changed).
    bodies: Option<Vec<Vec<u8>>>,
}

impl AppendRequest {
    pub fn new(request_id: RequestId, events: Vec<NewEvent>) -> Self {
        AppendRequest {
            request_id,
            events,
            expected: Vec::new(),
            recorded_at_unix_ms: None,
            bodies: None,
        }
    }

    /// A request whose events are validated and encoded now, against `limits`, so that the
    /// log does neither again: for a writer that must know the log will take the events
    /// before it applies them (the command processor). Refuses what the log would refuse;
    /// an invalid event's error names its field as [`crate::event::Event::validate_fields`]
    /// does (without the event's name).
    pub fn checked(
        request_id: RequestId,
        events: Vec<NewEvent>,
        limits: &Limits,
    ) -> Result<Self, AppendError> {
        writer::check_count(events.len(), limits)?;
        let bodies = events
            .iter()
            .enumerate()
            .map(|(index, new)| {
                new.event
                    .validate_fields()
                    .map_err(|error| AppendError::InvalidEvent { index, error })?;
                writer::encoded(index, &new.event, limits)
            })
            .collect::<Result<_, _>>()?;
        Ok(AppendRequest {
            bodies: Some(bodies),
            ..AppendRequest::new(request_id, events)
        })
    }

    /// Records the events with this timestamp instead of the time of the commit (import).
    pub fn recorded_at(mut self, unix_ms: i64) -> Self {
        self.recorded_at_unix_ms = Some(unix_ms);
        self
    }

    pub fn expect(mut self, stream: StreamId, version: ExpectedVersion) -> Self {
        self.expected.push((stream, version));
        self
    }
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Position of the batch's first event.
    pub first_position: u64,
    /// Number of events in the batch.
    pub count: u32,
    /// True when the request id had been appended before and nothing new was written.
    pub already_appended: bool,
}

impl AppendOutcome {
    /// Positions of the batch's events.
    pub fn positions(&self) -> std::ops::Range<u64> {
        self.first_position..self.first_position + u64::from(self.count)
    }
}

/// A stored event with its place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub position: u64,
    pub stream: StreamId,
    pub stream_version: u64,
    pub recorded_at_unix_ms: i64,
    pub request_id: RequestId,
    pub event: Event,
    /// Chain hash: SHA-256(hash of the previous event || the stored bytes of this one).
    pub hash: Hash,
}

/// The end of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Position the next event will get (= number of events).
    pub next_position: u64,
    /// Chain hash of the last event (`chain::GENESIS` for an empty log).
    pub hash: Hash,
}

/// The result of checking the hash chain over a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub from: u64,
    /// End of the range that was checked (exclusive).
    pub to: u64,
    /// The first position whose stored hash, bytes or position do not match, and why.
    pub first_bad: Option<(u64, String)>,
    /// Chain hash of the last event checked (the hash before `from` if the range is empty).
    pub last_hash: Hash,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// Why an append was refused. Nothing was appended.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppendError {
    #[error("events: an append needs at least one event")]
    EmptyBatch,
    #[error("events: {events} events, the maximum per append is {max}")]
    BatchTooLarge { events: usize, max: usize },
    #[error("events[{index}]: encoded event is {bytes} bytes, the maximum is {max}")]
    EventTooLarge {
        index: usize,
        bytes: usize,
        max: usize,
    },
    #[error("events[{index}].{error}")]
    InvalidEvent { index: usize, error: FieldError },
    #[error("expected: stream {stream} appears more than once")]
    DuplicateExpectation { stream: StreamId },
    #[error("expected: stream {stream} is at version {actual}, the append expected {expected:?}")]
    WrongExpectedVersion {
        stream: StreamId,
        expected: ExpectedVersion,
        actual: u64,
    },
    #[error("request_id: {request_id} was already used for a different append")]
    RequestIdReused { request_id: RequestId },
    #[error("events[{index}]: {id} was already recorded, at position {position}")]
    IdUsed {
        index: usize,
        id: crate::event::UniqueId,
        position: u64,
    },
    #[error("the log is closed")]
    Closed,
    #[error("storage failure, the log refuses further appends: {0}")]
    Storage(String),
}

/// Failures of reading, verifying or opening a log.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LogError {
    #[error("storage: {0}")]
    Storage(String),
    /// The storage's own checks found damage (sled's `Corruption`), at no position it names.
    #[error("storage damaged: {0}")]
    StorageDamaged(String),
    #[error("corrupt log at position {position}: {reason}")]
    Corrupt { position: u64, reason: String },
    #[error("hash chain broken at position {position}: {reason}")]
    ChainBroken { position: u64, reason: String },
    #[error(
        "the log ends at position {head}, before the anchored head at {anchored}: it lost \
         acknowledged events (restore the data directory from a backup)"
    )]
    Shortened { head: u64, anchored: u64 },
    #[error("range {from}..{to} is not within the log (head {head})")]
    OutOfRange { from: u64, to: u64, head: u64 },
    /// The storage itself refused to open or read the log (its own checks found damage),
    /// where the ledger cannot tell the position: it names the anchored head, how far the
    /// log must reach intact.
    #[error(
        "the log is damaged below the anchored head at position {anchored} ({reason}):          restore the data directory from a backup"
    )]
    Damaged { anchored: u64, reason: String },
}

impl From<sled::Error> for LogError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Corruption { .. } => LogError::StorageDamaged(e.to_string()),
            e => LogError::Storage(e.to_string()),
        }
    }
}

/// The event log port. Every backend gives the same semantics (see `crate::conformance`).
pub trait EventLog: Clone + Send + Sync + 'static {
    /// Appends a batch atomically, durably; answers after the data is on disk.
    fn append(
        &self,
        request: AppendRequest,
    ) -> impl Future<Output = Result<AppendOutcome, AppendError>> + Send;

    /// Appends several requests in order, each atomically and idempotently as `append`
    /// does, committed together where they fit in one commit (one fsync). Each gets its own
    /// answer; one failing does not stop the others.
    fn append_all(
        &self,
        requests: Vec<AppendRequest>,
    ) -> impl Future<Output = Vec<Result<AppendOutcome, AppendError>>> + Send;

    /// Up to `max` events from position `from`, in order; fewer at the head.
    fn read(
        &self,
        from: u64,
        max: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, LogError>> + Send;

    /// The end of the acknowledged log.
    fn head(&self) -> Head;

    /// The limits this log enforces: a writer checks a request against them before it
    /// counts on the request being appended.
    fn limits(&self) -> Limits;

    /// Watches the head; changes after every acknowledged commit. The sender side closes when
    /// the log shuts down.
    fn watch_head(&self) -> watch::Receiver<Head>;

    /// The number of acknowledged events in `stream` (0 if it does not exist).
    fn stream_version(
        &self,
        stream: &StreamId,
    ) -> impl Future<Output = Result<u64, LogError>> + Send;

    /// The positions of the events a durable request appended, by its request id; None when
    /// no acknowledged commit holds it (a request still being committed is not seen).
    fn request_positions(
        &self,
        request_id: &RequestId,
    ) -> impl Future<Output = Result<Option<std::ops::Range<u64>>, LogError>> + Send;

    /// The position of the acknowledged event that recorded `id`, None if none did (an
    /// append still being committed is not seen).
    fn id_position(
        &self,
        id: &crate::event::UniqueId,
    ) -> impl Future<Output = Result<Option<u64>, LogError>> + Send;

    /// Recomputes the hash chain over `from..to` and compares it with what is stored.
    fn verify(
        &self,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<VerifyReport, LogError>> + Send;

    /// Every event from `from`: first the stored history (catch-up), then new events as they
    /// are acknowledged (live).
    fn subscribe(&self, from: u64) -> Subscription<Self> {
        Subscription::new(self.clone(), from)
    }
}
