//! Where records and the rebuildable indexes live: segment files (`files/`), sled, or memory.
//!
//! Records are the truth. The indexes (stream versions, request ids, and in segment files the
//! sparse offset index) are derived from them, written off the append path by the indexer
//! thread, and rebuilt from the log tail on open.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::chunks::{self, Chunks};
use super::frame::RecordRef;
use super::{Head, LogError};

/// Where an earlier append request landed, and a digest of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRecord {
    pub first_position: u64,
    pub count: u32,
    /// First 16 bytes of SHA-256 over the request's streams and encoded events.
    pub digest: [u8; 16],
}

impl RequestRecord {
    pub(super) const BYTES: usize = 8 + 4 + 16;

    pub(super) fn encode(&self) -> [u8; Self::BYTES] {
        let mut out = [0u8; Self::BYTES];
        out[..8].copy_from_slice(&self.first_position.to_be_bytes());
        out[8..12].copy_from_slice(&self.count.to_be_bytes());
        out[12..].copy_from_slice(&self.digest);
        out
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Self, LogError> {
        let bad = || LogError::Storage(format!("request index entry of {} bytes", bytes.len()));
        let bytes: &[u8; Self::BYTES] = bytes.try_into().map_err(|_| bad())?;
        let (pos, rest) = bytes.split_at(8);
        let (count, digest) = rest.split_at(4);
        Ok(RequestRecord {
            first_position: u64::from_be_bytes(pos.try_into().map_err(|_| bad())?),
            count: u32::from_be_bytes(count.try_into().map_err(|_| bad())?),
            digest: digest.try_into().map_err(|_| bad())?,
        })
    }
}

/// Index updates for the events below `upto`.
#[derive(Debug, Default)]
pub struct IndexDelta {
    /// Every event below this position is covered once the delta is applied.
    pub upto: u64,
    pub streams: Vec<(Vec<u8>, u64)>,
    pub requests: Vec<(String, RequestRecord)>,
    /// Unique id keys (`UniqueId::key`) and the position of the event that recorded each.
    pub ids: Vec<(Vec<u8>, u64)>,
}

/// The callback of [`Store::for_each_record`]: false stops the walk.
pub type RecordVisitor<'f> = dyn FnMut(RecordRef<'_>) -> Result<bool, LogError> + 'f;

/// Storage under the embedded log. Implemented by [`super::FileStore`], [`super::SledStore`]
/// and [`MemoryStore`].
pub trait Store: Clone + Send + Sync + 'static {
    /// Stores one group commit atomically (all or none, also across a crash) and durably
    /// before returning. It comes as chunks of framed records (`frame.rs`), each with the
    /// position of its first record; the commit's last record carries the commit-end flag.
    fn write_commit(&self, chunks: Vec<(u64, Vec<u8>)>) -> Result<(), LogError>;
    /// Calls `f` with every record of `from..to`, in order, each checked (its CRCs, and its
    /// offset the one expected). A record that fails is `LogError::Corrupt` at its position.
    fn for_each_record(
        &self,
        from: u64,
        to: u64,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), LogError>;
    /// The end of the stored log: the position after its last record and that record's hash.
    fn stored_head(&self) -> Result<Head, LogError>;

    fn stream_version(&self, stream_key: &[u8]) -> Result<Option<u64>, LogError>;
    fn request(&self, request_id: &str) -> Result<Option<RequestRecord>, LogError>;
    /// The position of the event that recorded the unique id with this key.
    fn id_position(&self, key: &[u8]) -> Result<Option<u64>, LogError>;
    /// Applies a delta atomically, together with its `upto`.
    fn apply_index(&self, delta: &IndexDelta) -> Result<(), LogError>;
    /// Every event below this position is in the persisted index.
    fn indexed_upto(&self) -> Result<u64, LogError>;
    fn clear_index(&self) -> Result<(), LogError>;
    /// Makes everything written so far durable.
    fn flush(&self) -> Result<(), LogError>;
    /// The head last recorded with [`Store::anchor_head`], None if none ever was.
    fn anchored_head(&self) -> Result<Option<Head>, LogError>;
    /// Records an acknowledged head durably, apart from the log's own storage (see
    /// `anchor.rs`).
    fn anchor_head(&self, head: Head) -> Result<(), LogError>;
}

#[derive(Debug, Default)]
struct MemoryInner {
    chunks: RwLock<BTreeMap<u64, Arc<[u8]>>>,
    streams: RwLock<HashMap<Vec<u8>, u64>>,
    requests: RwLock<HashMap<String, RequestRecord>>,
    ids: RwLock<HashMap<Vec<u8>, u64>>,
    indexed_upto: AtomicU64,
    anchored: RwLock<Option<Head>>,
}

/// Records and indexes in memory: the same writer and encoding as on disk, without disk.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<MemoryInner>,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }
}

impl Chunks for MemoryStore {
    type Bytes = Arc<[u8]>;

    fn chunk_containing(&self, position: u64) -> Result<Option<(u64, Arc<[u8]>)>, LogError> {
        Ok(read(&self.inner.chunks)
            .range(..=position)
            .next_back()
            .map(|(k, v)| (*k, v.clone())))
    }

    fn chunk_after(&self, first_position: u64) -> Result<Option<(u64, Arc<[u8]>)>, LogError> {
        Ok(read(&self.inner.chunks)
            .range(first_position.saturating_add(1)..)
            .next()
            .filter(|_| first_position < u64::MAX)
            .map(|(k, v)| (*k, v.clone())))
    }

    fn last_chunk(&self) -> Result<Option<(u64, Arc<[u8]>)>, LogError> {
        Ok(read(&self.inner.chunks)
            .iter()
            .next_back()
            .map(|(k, v)| (*k, v.clone())))
    }
}

impl Store for MemoryStore {
    fn write_commit(&self, chunks: Vec<(u64, Vec<u8>)>) -> Result<(), LogError> {
        let mut stored = write(&self.inner.chunks);
        for (first_position, chunk) in chunks {
            stored.insert(first_position, chunk.into());
        }
        Ok(())
    }

    fn for_each_record(
        &self,
        from: u64,
        to: u64,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), LogError> {
        chunks::for_each_record(self, from, to, f)
    }

    fn stored_head(&self) -> Result<Head, LogError> {
        chunks::stored_head(self)
    }

    fn stream_version(&self, stream_key: &[u8]) -> Result<Option<u64>, LogError> {
        Ok(read(&self.inner.streams).get(stream_key).copied())
    }

    fn request(&self, request_id: &str) -> Result<Option<RequestRecord>, LogError> {
        Ok(read(&self.inner.requests).get(request_id).copied())
    }

    fn id_position(&self, key: &[u8]) -> Result<Option<u64>, LogError> {
        Ok(read(&self.inner.ids).get(key).copied())
    }

    fn apply_index(&self, delta: &IndexDelta) -> Result<(), LogError> {
        let mut streams = write(&self.inner.streams);
        let mut requests = write(&self.inner.requests);
        streams.extend(delta.streams.iter().cloned());
        requests.extend(delta.requests.iter().cloned());
        write(&self.inner.ids).extend(delta.ids.iter().cloned());
        self.inner.indexed_upto.store(delta.upto, Ordering::Release);
        Ok(())
    }

    fn indexed_upto(&self) -> Result<u64, LogError> {
        Ok(self.inner.indexed_upto.load(Ordering::Acquire))
    }

    fn clear_index(&self) -> Result<(), LogError> {
        write(&self.inner.streams).clear();
        write(&self.inner.requests).clear();
        write(&self.inner.ids).clear();
        self.inner.indexed_upto.store(0, Ordering::Release);
        Ok(())
    }

    fn flush(&self) -> Result<(), LogError> {
        Ok(())
    }

    fn anchored_head(&self) -> Result<Option<Head>, LogError> {
        Ok(*read(&self.inner.anchored))
    }

    fn anchor_head(&self, head: Head) -> Result<(), LogError> {
        *write(&self.inner.anchored) = Some(head);
        Ok(())
    }
}
