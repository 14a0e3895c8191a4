//! sled under the log: the index tree every durable store keeps (stream versions, request
//! ids and the sparse offset index of segment files, in sorted runs (`runs.rs`); the notes
//! where commits start; how far the index reaches), and
//! [`SledStore`], which keeps the records themselves in sled too (a baseline for benchmarks
//! and a second backend for the conformance suite).

use std::path::{Path, PathBuf};

use super::chunk;
use super::chunks::{self, Chunks};
use super::runs::Runs;
use super::store::{IndexDelta, RecordVisitor, RequestRecord, Store};
use super::{Head, LogError, anchor};

const INDEX_STREAM: u8 = b's';
const INDEX_REQUEST: u8 = b'r';
const INDEX_POINT: u8 = b'o';
const INDEX_START: u8 = b'c';
const INDEX_ID: u8 = b'u';
const INDEX_UPTO: &[u8] = b"m:indexed_upto";
const INDEX_FORMAT_KEY: &[u8] = b"m:format";
/// The index's format: 2 added the unique ids (receipts, payouts). An index of another format
/// (or of the format before runs, which had no marker) is cleared and rebuilt from the log.
const INDEX_FORMAT: &[u8] = &[2];

/// The most commit-start notes in one sled batch of the index (see [`SledIndex::apply`]).
pub const INDEX_BATCH_ENTRIES_MAX: usize = 4096;

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

/// Where a record starts in the segment files: the segment's first offset and the byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub segment: u64,
    pub byte: u64,
}

impl Location {
    fn encode(&self) -> [u8; 16] {
        let mut value = [0u8; 16];
        value[..8].copy_from_slice(&self.segment.to_be_bytes());
        value[8..].copy_from_slice(&self.byte.to_be_bytes());
        value
    }

    fn decode(value: &[u8]) -> Result<Self, LogError> {
        if value.len() != 16 {
            return Err(LogError::Storage("offset index entry is malformed".into()));
        }
        Ok(Location {
            segment: u64_value(&value[..8])?,
            byte: u64_value(&value[8..])?,
        })
    }
}

/// The sparse offset notes of segment files, keyed by offset: `point` notes for reads (every
/// `NOTE_EVERY_EVENTS`-th offset, found with one exact lookup) and `starts` for recovery (the
/// first record of a commit, about every `RECOVERY_NOTE_BYTES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notes {
    pub point: std::collections::BTreeMap<u64, Location>,
    pub starts: std::collections::BTreeMap<u64, Location>,
}

impl Notes {
    /// The notes of records below `upto`.
    pub fn below(&self, upto: u64) -> Notes {
        Notes {
            point: self.point.range(..upto).map(|(o, l)| (*o, *l)).collect(),
            starts: self.starts.range(..upto).map(|(o, l)| (*o, *l)).collect(),
        }
    }

    pub fn remove(&mut self, written: &Notes) {
        for offset in written.point.keys() {
            self.point.remove(offset);
        }
        for offset in written.starts.keys() {
            self.starts.remove(offset);
        }
    }

    pub fn extend(&mut self, more: Notes) {
        self.point.extend(more.point);
        self.starts.extend(more.starts);
    }

    pub fn retain_below(&mut self, end: u64) {
        self.point.retain(|o, _| *o < end);
        self.starts.retain(|o, _| *o < end);
    }
}

/// The index tree: derived from the records, written off the append path. Stream versions,
/// request ids and point notes are entries of its runs; commit-start notes (about one per
/// MiB of records, found by range) and the marker are keys of their own.
#[derive(Clone)]
pub struct SledIndex {
    tree: sled::Tree,
    runs: Runs,
}

impl SledIndex {
    /// Opens the index. An index of another format ([`INDEX_FORMAT`]) is cleared, so the log
    /// rebuilds it from the records.
    pub fn open(db: &sled::Db) -> Result<Self, LogError> {
        let tree = db.open_tree("index")?;
        let format = tree.get(INDEX_FORMAT_KEY)?;
        if format.as_deref() != Some(INDEX_FORMAT) && !tree.is_empty() {
            tracing::warn!("the log's index has an earlier format: rebuilding it");
            tree.clear()?;
        }
        tree.insert(INDEX_FORMAT_KEY, INDEX_FORMAT)?;
        let runs = Runs::open(tree.clone())?;
        Ok(SledIndex { tree, runs })
    }

    pub fn stream_version(&self, stream_key: &[u8]) -> Result<Option<u64>, LogError> {
        self.runs
            .get(&prefixed(INDEX_STREAM, stream_key))?
            .map(|v| u64_value(&v))
            .transpose()
    }

    pub fn request(&self, request_id: &str) -> Result<Option<RequestRecord>, LogError> {
        self.runs
            .get(&prefixed(INDEX_REQUEST, request_id.as_bytes()))?
            .map(|v| RequestRecord::decode(&v))
            .transpose()
    }

    pub fn id_position(&self, key: &[u8]) -> Result<Option<u64>, LogError> {
        self.runs
            .get(&prefixed(INDEX_ID, key))?
            .map(|v| u64_value(&v))
            .transpose()
    }

    /// Applies `delta` and these sparse offset notes: the stream versions, request ids and
    /// point notes as one new run, the commit-start notes in sled batches of at most
    /// [`INDEX_BATCH_ENTRIES_MAX`], and the `indexed_upto` marker with the run's summary, last.
    /// (sled keeps every node an open batch replaces until the batch ends: one batch per
    /// index checkpoint kept ~800 MB alive at 262,144 commits, measured with heaptrack.)
    /// Entries written before a crash that stopped short of the marker describe durable
    /// records, and are written again from the re-read tail.
    pub fn apply(&self, delta: &IndexDelta, notes: &Notes) -> Result<(), LogError> {
        let mut batch = sled::Batch::default();
        for (i, (offset, at)) in notes.starts.iter().enumerate() {
            batch.insert(
                prefixed(INDEX_START, &offset.to_be_bytes()),
                &at.encode()[..],
            );
            if (i + 1) % INDEX_BATCH_ENTRIES_MAX == 0 {
                self.tree.apply_batch(std::mem::take(&mut batch))?;
            }
        }
        self.tree.apply_batch(batch)?;
        let streams = delta
            .streams
            .iter()
            .map(|(key, version)| (prefixed(INDEX_STREAM, key), version.to_be_bytes().to_vec()));
        let requests = delta.requests.iter().map(|(id, record)| {
            (
                prefixed(INDEX_REQUEST, id.as_bytes()),
                record.encode().to_vec(),
            )
        });
        let ids = delta
            .ids
            .iter()
            .map(|(key, position)| (prefixed(INDEX_ID, key), position.to_be_bytes().to_vec()));
        let points = notes.point.iter().map(|(offset, at)| {
            (
                prefixed(INDEX_POINT, &offset.to_be_bytes()),
                at.encode().to_vec(),
            )
        });
        let entries = streams.chain(requests).chain(ids).chain(points).collect();
        self.runs
            .write(entries, (INDEX_UPTO, &delta.upto.to_be_bytes()))
    }

    /// The point note at exactly `offset`.
    pub fn point_note(&self, offset: u64) -> Result<Option<Location>, LogError> {
        self.runs
            .get(&prefixed(INDEX_POINT, &offset.to_be_bytes()))?
            .map(|v| Location::decode(&v))
            .transpose()
    }

    /// The commit-start note with the greatest offset <= `offset`.
    pub fn commit_start_at_or_before(
        &self,
        offset: u64,
    ) -> Result<Option<(u64, Location)>, LogError> {
        let low = vec![INDEX_START];
        let high = prefixed(INDEX_START, &offset.to_be_bytes());
        let Some(entry) = self.tree.range(low..=high).next_back() else {
            return Ok(None);
        };
        let (key, value) = entry?;
        let key = key
            .get(1..)
            .ok_or_else(|| LogError::Storage("offset index key is malformed".into()))?;
        Ok(Some((u64_value(key)?, Location::decode(&value)?)))
    }

    pub fn indexed_upto(&self) -> Result<u64, LogError> {
        Ok(self
            .tree
            .get(INDEX_UPTO)?
            .map(|v| u64_value(&v))
            .transpose()?
            .unwrap_or(0))
    }

    pub fn clear(&self) -> Result<(), LogError> {
        self.tree.clear()?;
        self.runs.forget();
        self.tree.insert(INDEX_FORMAT_KEY, INDEX_FORMAT)?;
        Ok(())
    }
}

fn keyed<B>(entry: Option<(sled::IVec, B)>) -> Result<Option<(u64, B)>, LogError> {
    entry
        .map(|(k, v)| {
            chunk::position_of_key(&k)
                .map(|p| (p, v))
                .map_err(LogError::Storage)
        })
        .transpose()
}

/// The sled tree holding the chunks, keyed by their first position (big-endian).
pub const SEGMENTS_TREE: &str = "segments";

/// Records in sled as well: a `segments` tree (one value per chunk of a group commit) and
/// the `index` tree.
#[derive(Clone)]
pub struct SledStore {
    dir: PathBuf,
    db: sled::Db,
    segments: sled::Tree,
    index: SledIndex,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

/// How long `open_db` waits for another handle in this process to release the directory:
/// sled's background threads drop their handles shortly after the last `Db` drops.
const OPEN_LOCK_WAIT_MS_MAX: u64 = 2_000;

impl SledStore {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LogError> {
        let db = open_db(path.as_ref())?;
        let segments = db.open_tree(SEGMENTS_TREE)?;
        let index = SledIndex::open(&db)?;
        Ok(SledStore {
            dir: path.as_ref().to_path_buf(),
            db,
            segments,
            index,
        })
    }
}

/// The page cache of each sled database the ledger opens (a log's index, its checkpoints):
/// sled's default is 1 GiB per database, which a ledger of P partitions would hold P times
/// over once their indexes grow. The index is read on the append path only for retries and
/// point reads, so a bounded cache costs little.
pub const SLED_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Opens a sled database the way the log uses it, waiting (boundedly) for a handle that is
/// being released in this process. Tools and tests that open the files directly use this too.
pub fn open_db(path: &Path) -> Result<sled::Db, LogError> {
    open_db_raw(path).map_err(LogError::from)
}

/// `open_db` with sled's own error, for callers that tell damage from IO failure.
pub fn open_db_raw(path: &Path) -> Result<sled::Db, sled::Error> {
    const STEP_MS: u64 = 10;
    let mut waited_ms = 0;
    loop {
        match sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(SLED_CACHE_BYTES)
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
            Err(e) => return Err(e),
        }
    }
}

impl Chunks for SledStore {
    type Bytes = sled::IVec;

    fn chunk_containing(&self, position: u64) -> Result<Option<(u64, sled::IVec)>, LogError> {
        keyed(
            self.segments
                .range(..=chunk::key(position))
                .next_back()
                .transpose()?,
        )
    }

    fn chunk_after(&self, first_position: u64) -> Result<Option<(u64, sled::IVec)>, LogError> {
        keyed(self.segments.get_gt(chunk::key(first_position))?)
    }

    fn last_chunk(&self) -> Result<Option<(u64, sled::IVec)>, LogError> {
        keyed(self.segments.last()?)
    }
}

impl Store for SledStore {
    fn write_commit(&self, chunks: Vec<(u64, Vec<u8>)>) -> Result<(), LogError> {
        if let [(first_position, chunk)] = chunks.as_slice() {
            self.segments
                .insert(chunk::key(*first_position), chunk.as_slice())?;
        } else {
            let mut batch = sled::Batch::default();
            for (first_position, chunk) in chunks {
                batch.insert(&chunk::key(first_position), chunk);
            }
            self.segments.apply_batch(batch)?;
        }
        self.db.flush()?;
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
        self.index.stream_version(stream_key)
    }

    fn request(&self, request_id: &str) -> Result<Option<RequestRecord>, LogError> {
        self.index.request(request_id)
    }

    fn id_position(&self, key: &[u8]) -> Result<Option<u64>, LogError> {
        self.index.id_position(key)
    }

    fn apply_index(&self, delta: &IndexDelta) -> Result<(), LogError> {
        self.index.apply(delta, &Notes::default())
    }

    fn indexed_upto(&self) -> Result<u64, LogError> {
        self.index.indexed_upto()
    }

    fn clear_index(&self) -> Result<(), LogError> {
        self.index.clear()
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A delta larger than one sled batch is written whole, the marker with it.
    #[test]
    fn deltas_beyond_one_batch_are_applied_whole() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_db(dir.path()).unwrap();
        let index = SledIndex::open(&db).unwrap();
        let n = 2 * INDEX_BATCH_ENTRIES_MAX as u64 + 7;
        let delta = IndexDelta {
            upto: n,
            streams: (0..n).map(|i| (i.to_be_bytes().to_vec(), i + 1)).collect(),
            requests: (0..n)
                .map(|i| {
                    let record = RequestRecord {
                        first_position: i,
                        count: 1,
                        digest: [i as u8; 16],
                    };
                    (format!("r-{i}"), record)
                })
                .collect(),
            ids: (0..n).map(|i| (format!("u-{i}").into_bytes(), i)).collect(),
        };
        index.apply(&delta, &Notes::default()).unwrap();
        assert_eq!(index.indexed_upto().unwrap(), n);
        for i in [0, INDEX_BATCH_ENTRIES_MAX as u64, n - 1] {
            assert_eq!(index.stream_version(&i.to_be_bytes()).unwrap(), Some(i + 1));
            let record = index.request(&format!("r-{i}")).unwrap().unwrap();
            assert_eq!(record.first_position, i);
            let id = index.id_position(format!("u-{i}").as_bytes()).unwrap();
            assert_eq!(id, Some(i));
        }
    }
}
