//! Where segments and the rebuildable indexes live: sled on disk, or memory.
//!
//! Segments are the truth. The indexes (stream versions, request ids) are derived from them,
//! written off the append path by the indexer thread, and rebuilt from the log tail on open.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::segment;
use super::{Head, LogError, anchor};

/// Where an earlier append request landed, and a digest of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRecord {
    pub first_position: u64,
    pub count: u32,
    /// First 16 bytes of SHA-256 over the request's streams and encoded events.
    pub digest: [u8; 16],
}

impl RequestRecord {
    const BYTES: usize = 8 + 4 + 16;

    fn encode(&self) -> [u8; Self::BYTES] {
        let mut out = [0u8; Self::BYTES];
        out[..8].copy_from_slice(&self.first_position.to_be_bytes());
        out[8..12].copy_from_slice(&self.count.to_be_bytes());
        out[12..].copy_from_slice(&self.digest);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, LogError> {
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
}

/// Storage under the embedded log. Implemented by [`SledStore`] and [`MemoryStore`].
pub trait Store: Clone + Send + Sync + 'static {
    type Bytes: AsRef<[u8]> + Send;

    /// Stores the segments of one group commit atomically (all or none, also across a crash)
    /// and makes them durable before returning. Each is keyed by its first position.
    fn write_segments(&self, segments: Vec<(u64, Vec<u8>)>) -> Result<(), LogError>;
    /// The segment holding `position`: the one with the greatest first position <= it.
    fn segment_containing(&self, position: u64) -> Result<Option<(u64, Self::Bytes)>, LogError>;
    /// The first segment starting after `first_position`.
    fn segment_after(&self, first_position: u64) -> Result<Option<(u64, Self::Bytes)>, LogError>;
    fn last_segment(&self) -> Result<Option<(u64, Self::Bytes)>, LogError>;

    fn stream_version(&self, stream_key: &[u8]) -> Result<Option<u64>, LogError>;
    fn request(&self, request_id: &str) -> Result<Option<RequestRecord>, LogError>;
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

const INDEX_STREAM: u8 = b's';
const INDEX_REQUEST: u8 = b'r';
const INDEX_UPTO: &[u8] = b"m:indexed_upto";

fn prefixed(prefix: u8, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + key.len());
    out.push(prefix);
    out.extend_from_slice(key);
    out
}

fn u64_value(bytes: &[u8]) -> Result<u64, LogError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| LogError::Storage(format!("index value of {} bytes", bytes.len())))
}

fn keyed<B>(entry: Option<(sled::IVec, B)>) -> Result<Option<(u64, B)>, LogError> {
    entry
        .map(|(k, v)| {
            segment::position_of_key(&k)
                .map(|p| (p, v))
                .map_err(LogError::Storage)
        })
        .transpose()
}

/// The sled tree holding the segments, keyed by their first position (big-endian).
pub const SEGMENTS_TREE: &str = "segments";

/// The embedded default: a sled database with a `segments` tree (one value per group commit)
/// and an `index` tree (stream versions, request ids, and how far the index reaches).
#[derive(Clone)]
pub struct SledStore {
    dir: std::path::PathBuf,
    db: sled::Db,
    segments: sled::Tree,
    index: sled::Tree,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

/// How long `SledStore::open` waits for another handle in this process to release the
/// directory: sled's background threads drop their handles shortly after the last `Db` drops.
const OPEN_LOCK_WAIT_MS_MAX: u64 = 2_000;

impl SledStore {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LogError> {
        let db = open_db(path.as_ref())?;
        let segments = db.open_tree(SEGMENTS_TREE)?;
        let index = db.open_tree("index")?;
        Ok(SledStore {
            dir: path.as_ref().to_path_buf(),
            db,
            segments,
            index,
        })
    }
}

/// Opens a sled database the way the log uses it, waiting (boundedly) for a handle that is
/// being released in this process. Tools and tests that open the files directly use this too.
pub fn open_db(path: &Path) -> Result<sled::Db, LogError> {
    const STEP_MS: u64 = 10;
    let mut waited_ms = 0;
    loop {
        match sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            .open()
        {
            Ok(db) => return Ok(db),
            // sled reports the held lock as a custom IO error wrapping EWOULDBLOCK.
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && waited_ms < OPEN_LOCK_WAIT_MS_MAX =>
            {
                std::thread::sleep(std::time::Duration::from_millis(STEP_MS));
                waited_ms += STEP_MS;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

impl Store for SledStore {
    type Bytes = sled::IVec;

    fn write_segments(&self, segments: Vec<(u64, Vec<u8>)>) -> Result<(), LogError> {
        if let [(first_position, segment)] = segments.as_slice() {
            self.segments
                .insert(segment::key(*first_position), segment.as_slice())?;
        } else {
            let mut batch = sled::Batch::default();
            for (first_position, segment) in segments {
                batch.insert(&segment::key(first_position), segment);
            }
            self.segments.apply_batch(batch)?;
        }
        self.db.flush()?;
        Ok(())
    }

    fn segment_containing(&self, position: u64) -> Result<Option<(u64, sled::IVec)>, LogError> {
        keyed(
            self.segments
                .range(..=segment::key(position))
                .next_back()
                .transpose()?,
        )
    }

    fn segment_after(&self, first_position: u64) -> Result<Option<(u64, sled::IVec)>, LogError> {
        keyed(self.segments.get_gt(segment::key(first_position))?)
    }

    fn last_segment(&self) -> Result<Option<(u64, sled::IVec)>, LogError> {
        keyed(self.segments.last()?)
    }

    fn stream_version(&self, stream_key: &[u8]) -> Result<Option<u64>, LogError> {
        self.index
            .get(prefixed(INDEX_STREAM, stream_key))?
            .map(|v| u64_value(&v))
            .transpose()
    }

    fn request(&self, request_id: &str) -> Result<Option<RequestRecord>, LogError> {
        self.index
            .get(prefixed(INDEX_REQUEST, request_id.as_bytes()))?
            .map(|v| RequestRecord::decode(&v))
            .transpose()
    }

    fn apply_index(&self, delta: &IndexDelta) -> Result<(), LogError> {
        let mut batch = sled::Batch::default();
        for (key, version) in &delta.streams {
            batch.insert(prefixed(INDEX_STREAM, key), &version.to_be_bytes());
        }
        for (id, record) in &delta.requests {
            batch.insert(prefixed(INDEX_REQUEST, id.as_bytes()), &record.encode()[..]);
        }
        batch.insert(INDEX_UPTO, &delta.upto.to_be_bytes());
        self.index.apply_batch(batch)?;
        Ok(())
    }

    fn indexed_upto(&self) -> Result<u64, LogError> {
        Ok(self
            .index
            .get(INDEX_UPTO)?
            .map(|v| u64_value(&v))
            .transpose()?
            .unwrap_or(0))
    }

    fn clear_index(&self) -> Result<(), LogError> {
        self.index.clear()?;
        Ok(())
    }

    fn flush(&self) -> Result<(), LogError> {
        self.db.flush()?;
        Ok(())
    }

    fn anchored_head(&self) -> Result<Option<Head>, LogError> {
        anchor::read(&self.dir)
    }

    fn anchor_head(&self, head: Head) -> Result<(), LogError> {
        anchor::write(&self.dir, head)
    }
}

#[derive(Debug, Default)]
struct MemoryInner {
    segments: RwLock<BTreeMap<u64, Arc<[u8]>>>,
    streams: RwLock<HashMap<Vec<u8>, u64>>,
    requests: RwLock<HashMap<String, RequestRecord>>,
    indexed_upto: AtomicU64,
    anchored: RwLock<Option<Head>>,
}

/// Segments and indexes in memory: the same writer and encoding as sled, without disk.
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

impl Store for MemoryStore {
    type Bytes = Arc<[u8]>;

    fn write_segments(&self, segments: Vec<(u64, Vec<u8>)>) -> Result<(), LogError> {
        let mut stored = write(&self.inner.segments);
        for (first_position, segment) in segments {
            stored.insert(first_position, segment.into());
        }
        Ok(())
    }

    fn segment_containing(&self, position: u64) -> Result<Option<(u64, Arc<[u8]>)>, LogError> {
        Ok(read(&self.inner.segments)
            .range(..=position)
            .next_back()
            .map(|(k, v)| (*k, v.clone())))
    }

    fn segment_after(&self, first_position: u64) -> Result<Option<(u64, Arc<[u8]>)>, LogError> {
        Ok(read(&self.inner.segments)
            .range(first_position.saturating_add(1)..)
            .next()
            .filter(|_| first_position < u64::MAX)
            .map(|(k, v)| (*k, v.clone())))
    }

    fn last_segment(&self) -> Result<Option<(u64, Arc<[u8]>)>, LogError> {
        Ok(read(&self.inner.segments)
            .iter()
            .next_back()
            .map(|(k, v)| (*k, v.clone())))
    }

    fn stream_version(&self, stream_key: &[u8]) -> Result<Option<u64>, LogError> {
        Ok(read(&self.inner.streams).get(stream_key).copied())
    }

    fn request(&self, request_id: &str) -> Result<Option<RequestRecord>, LogError> {
        Ok(read(&self.inner.requests).get(request_id).copied())
    }

    fn apply_index(&self, delta: &IndexDelta) -> Result<(), LogError> {
        let mut streams = write(&self.inner.streams);
        let mut requests = write(&self.inner.requests);
        streams.extend(delta.streams.iter().cloned());
        requests.extend(delta.requests.iter().cloned());
        self.inner.indexed_upto.store(delta.upto, Ordering::Release);
        Ok(())
    }

    fn indexed_upto(&self) -> Result<u64, LogError> {
        Ok(self.inner.indexed_upto.load(Ordering::Acquire))
    }

    fn clear_index(&self) -> Result<(), LogError> {
        write(&self.inner.streams).clear();
        write(&self.inner.requests).clear();
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
