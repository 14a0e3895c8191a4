//! The segment-file store: the log's records in append-only files of our own (`frame.rs`,
//! `segment_file.rs`), and the indexes in sled (`sled_store::SledIndex`).
//!
//! Directory layout (one log per directory):
//!
//! ```text
//! <dir>/00000000000000000000.log   segment files, named by their first offset
//! <dir>/00000000000004194304.log
//! <dir>/index/                     sled: stream versions, request ids, sparse offsets
//! <dir>/head.anchor                the anchored head (`anchor.rs`)
//! <dir>/torn/                      torn tails cut at open, kept for inspection
//! ```
//!
//! - Append: a group commit is one vectored write at the end of the active segment and one
//!   fdatasync; a commit that would take the segment past `segment_bytes` starts a new one
//!   (created, header synced, directory synced). A commit never spans two files.
//! - Sparse offset index: every `NOTE_EVERY_EVENTS`-th record is noted (offset -> segment,
//!   byte), so a point read finds its note with one exact lookup and scans at most that many
//!   records; and a commit's first record about every `RECOVERY_NOTE_BYTES`, where recovery
//!   may start a walk. The notes reach sled with the indexer's next checkpoint, and until then
//!   are served from memory.
//! - Open (`recover.rs`): the tail after the last index checkpoint is re-read and checked; a
//!   torn tail is cut, damage is refused.

mod recover;
mod segment_file;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

pub use segment_file::{FILE_HEADER_BYTES, SegmentFile, file_name};

use super::frame;
use super::sled_store::{Location, Notes, SledIndex, open_db, open_db_raw};
use super::store::{IndexDelta, RecordVisitor, RequestRecord, Store};
use super::{Head, LogError, anchor};
use segment_file::{FrameReader, POINT_BLOCK_BYTES, SCAN_BLOCK_BYTES};

/// A segment file rolls once the next commit would take it past this many bytes.
pub const SEGMENT_BYTES_DEFAULT: u64 = 256 << 20;
/// The least segment size a log may be configured with (tests use small segments).
pub const SEGMENT_BYTES_MIN: u64 = 1 << 10;
/// A point note at every offset that is a multiple of this: a point read scans at most this
/// many records past the note it looks up.
pub const NOTE_EVERY_EVENTS: u64 = 16;
/// A commit-start note about every this many bytes of a segment: how far recovery may walk
/// before the tail it must re-read.
pub const RECOVERY_NOTE_BYTES: u64 = 1 << 20;
/// The sled index directory inside the log's directory.
pub const INDEX_DIR: &str = "index";
/// Where torn tails cut at open are kept.
pub const TORN_DIR: &str = "torn";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The appender's state: the active segment and where its last commit-start note fell.
struct Active {
    segment: Arc<SegmentFile>,
    last_start_note_byte: u64,
    head: Head,
}

struct Inner {
    dir: PathBuf,
    segment_bytes: u64,
    /// Keeps sled's background threads alive with the index.
    db: sled::Db,
    index: SledIndex,
    segments: RwLock<BTreeMap<u64, Arc<SegmentFile>>>,
    active: Mutex<Active>,
    /// Sparse notes not yet in sled.
    pending: Mutex<Notes>,
}

/// The log's records in segment files of our own. Cheap to clone.
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

/// What opening found and did; `FileStore::recovery` gives it to the caller to log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Records re-read and checked after the last index checkpoint.
    pub tail_records: u64,
    /// A torn tail that was cut: the file, the byte it was cut at, the bytes cut, and where
    /// they were kept.
    pub torn: Option<TornTail>,
    /// The index could not be opened and was rebuilt from the segments.
    pub index_rebuilt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub file: PathBuf,
    pub cut_at_byte: u64,
    pub bytes: u64,
    pub kept_in: PathBuf,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

impl FileStore {
    /// Opens (or creates) the log in `dir` with the default segment size.
    pub fn open(dir: impl AsRef<Path>) -> Result<(Self, Recovery), LogError> {
        FileStore::open_with(dir, SEGMENT_BYTES_DEFAULT)
    }

    /// Opens (or creates) the log in `dir`, rolling segments at `segment_bytes`.
    pub fn open_with(
        dir: impl AsRef<Path>,
        segment_bytes: u64,
    ) -> Result<(Self, Recovery), LogError> {
        let dir = dir.as_ref().to_path_buf();
        refuse_sled_format(&dir)?;
        std::fs::create_dir_all(&dir).map_err(|e| segment_file::io_error(&dir, "creating", e))?;
        let mut recovery = Recovery::default();
        let (db, index) = open_index(&dir, &mut recovery)?;
        let anchored = anchor::read(&dir)?;
        let found = recover::recover(&dir, &index, anchored, &mut recovery)?;
        let segment_bytes = segment_bytes.max(SEGMENT_BYTES_MIN);
        let store = FileStore {
            inner: Arc::new(Inner {
                dir,
                segment_bytes,
                db,
                index,
                segments: RwLock::new(found.segments),
                active: Mutex::new(Active {
                    segment: found.active,
                    last_start_note_byte: found.last_start_note_byte,
                    head: found.head,
                }),
                pending: Mutex::new(found.pending),
            }),
        };
        Ok((store, recovery))
    }

    /// The segment file that holds `offset` (or would, past the head).
    pub fn file_holding(&self, offset: u64) -> Option<PathBuf> {
        self.segment_containing(offset).map(|s| s.path.clone())
    }

    fn segment_containing(&self, offset: u64) -> Option<Arc<SegmentFile>> {
        read(&self.inner.segments)
            .range(..=offset)
            .next_back()
            .map(|(_, s)| s.clone())
    }

    fn segment_after(&self, first_offset: u64) -> Option<Arc<SegmentFile>> {
        read(&self.inner.segments)
            .range(first_offset.saturating_add(1)..)
            .next()
            .map(|(_, s)| s.clone())
    }

    /// Where to start reading `segment` to reach `offset`: the point note of its group of
    /// `NOTE_EVERY_EVENTS` when it lies in the segment, else the segment's first record.
    fn locate(&self, segment: &SegmentFile, offset: u64) -> Result<(u64, u64), LogError> {
        let noted = offset - offset % NOTE_EVERY_EVENTS;
        let in_memory = lock(&self.inner.pending).point.get(&noted).copied();
        let at = match in_memory {
            Some(at) => Some(at),
            None => self.inner.index.point_note(noted)?,
        };
        Ok(match at {
            Some(at) if at.segment == segment.first_offset && noted >= at.segment => {
                (at.byte, noted)
            }
            _ => (FILE_HEADER_BYTES, segment.first_offset),
        })
    }

    /// Notes the records of a commit written at `at` in the active segment; gives the
    /// offset of its last record.
    fn note(&self, active: &mut Active, at: u64, chunks: &[(u64, Vec<u8>)]) -> Option<u64> {
        let mut byte = at;
        let mut notes = Notes::default();
        let mut last: Option<u64> = None;
        let segment = active.segment.first_offset;
        for (_, chunk) in chunks {
            let mut i = 0;
            while let Ok((len, offset, _)) = frame::parse_header(&chunk[i..]) {
                let here = Location { segment, byte };
                if last.is_none() && byte - active.last_start_note_byte >= RECOVERY_NOTE_BYTES {
                    notes.starts.insert(offset, here);
                    active.last_start_note_byte = byte;
                }
                if offset % NOTE_EVERY_EVENTS == 0 {
                    notes.point.insert(offset, here);
                }
                last = Some(offset);
                let stored = (frame::OVERHEAD_BYTES + len) as u64;
                byte += stored;
                i += stored as usize;
                if i >= chunk.len() {
                    break;
                }
            }
        }
        lock(&self.inner.pending).extend(notes);
        last
    }

    /// Starts a new segment at `first_offset`, synced with its directory entry.
    fn roll(&self, active: &mut Active, first_offset: u64) -> Result<(), LogError> {
        let segment = Arc::new(SegmentFile::create(&self.inner.dir, first_offset)?);
        sync_dir(&self.inner.dir)?;
        self.inner
            .segments
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(first_offset, segment.clone());
        active.segment = segment;
        active.last_start_note_byte = FILE_HEADER_BYTES;
        Ok(())
    }

    /// Walks `segment` from `start` (a byte and the offset of the record there). When the
    /// start came from a sparse note and its first record is not the one the note names (a
    /// damaged index), answers `Walked::BadNote` instead of an error.
    fn walk_segment(
        segment: &SegmentFile,
        start: (u64, u64),
        from: u64,
        to: u64,
        f: &mut RecordVisitor<'_>,
    ) -> Result<Walked, LogError> {
        let block = if to - from <= 16 {
            POINT_BLOCK_BYTES
        } else {
            SCAN_BLOCK_BYTES
        };
        let from_note = start.0 != FILE_HEADER_BYTES;
        let mut reader = FrameReader::new(segment, start.0, block);
        let mut expected = start.1;
        loop {
            let first = expected == start.1;
            let (byte, record) = match reader.next_record()? {
                Ok(Some(found)) => found,
                Ok(None) => return Ok(Walked::EndOfFile(expected)),
                Err(_) if first && from_note => return Ok(Walked::BadNote),
                Err((byte, e)) => return Err(damaged(segment, byte, expected, &e.to_string())),
            };
            if record.offset != expected {
                if first && from_note {
                    return Ok(Walked::BadNote);
                }
                let why = format!("the record says offset {}", record.offset);
                return Err(damaged(segment, byte, expected, &why));
            }
            expected += 1;
            if record.offset < from {
                continue;
            }
            if record.offset >= to || !f(record)? {
                return Ok(Walked::Done);
            }
        }
    }
}

enum Walked {
    Done,
    /// The sparse note the walk started from does not lead to its record.
    BadNote,
    /// The file ended; the offset the next record would have had.
    EndOfFile(u64),
}

/// A record that is not what it must be, named by its position, file and byte.
pub(crate) fn damaged(segment: &SegmentFile, byte: u64, offset: u64, why: &str) -> LogError {
    LogError::Corrupt {
        position: offset,
        reason: format!("{} byte {byte}: {why}", segment.path.display()),
    }
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| segment_file::io_error(dir, "syncing the directory", e))
}

/// A directory written by versions before segment files holds sled's own files.
fn refuse_sled_format(dir: &Path) -> Result<(), LogError> {
    if dir.join("conf").is_file() && dir.join("db").is_file() {
        return Err(LogError::Storage(format!(
            "{} holds a log in the sled format of earlier versions: export it with the \
             version that wrote it (`claims-ledger export`) and import the export into a new \
             data directory (`claims-ledger import`); see README, \"Moving a data directory\"",
            dir.display()
        )));
    }
    Ok(())
}

/// Opens the sled index. An index sled finds damaged (its checksums, an unreadable
/// configuration) is derived data: it is set aside and rebuilt from the segments. An IO
/// failure (a full disk, a lock held by another process) is an error: nothing is set aside.
fn open_index(dir: &Path, recovery: &mut Recovery) -> Result<(sled::Db, SledIndex), LogError> {
    let path = dir.join(INDEX_DIR);
    let named = |e: LogError| LogError::Storage(format!("{}: {e}", path.display()));
    // sled 0.34 panics on some damaged snapshot files ("tried to serialize Uninitialized",
    // found by the random-flip test) instead of reporting corruption: a panic while opening
    // is damage too, and the index (derived from the segments) is set aside and rebuilt.
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        open_db_raw(&path).and_then(|db| db.open_tree("index").map(|_| db))
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(sled::Error::ReportableBug(format!(
            "sled panicked opening the index: {what}"
        )))
    });
    match opened {
        Ok(db) => {
            let index = SledIndex::open(&db).map_err(named)?;
            Ok((db, index))
        }
        Err(e @ sled::Error::Io(_)) => Err(named(e.into())),
        Err(e) => {
            let aside = dir.join(format!("{INDEX_DIR}.damaged"));
            let _ = std::fs::remove_dir_all(&aside);
            std::fs::rename(&path, &aside)
                .map_err(|e| segment_file::io_error(&path, "setting aside", e))?;
            recovery.index_rebuilt = Some(e.to_string());
            let db = open_db(&path).map_err(named)?;
            let index = SledIndex::open(&db).map_err(named)?;
            Ok((db, index))
        }
    }
}

impl Store for FileStore {
    fn write_commit(&self, chunks: Vec<(u64, Vec<u8>)>) -> Result<(), LogError> {
        let Some(first) = chunks.first().map(|(o, _)| *o) else {
            return Ok(());
        };
        let total: u64 = chunks.iter().map(|(_, c)| c.len() as u64).sum();
        let mut active = lock(&self.inner.active);
        let at = active.segment.size();
        if at > FILE_HEADER_BYTES && at + total > self.inner.segment_bytes {
            self.roll(&mut active, first)?;
        }
        let at = active.segment.size();
        active.segment.append(at, &chunks)?;
        let last = self.note(&mut active, at, &chunks);
        let hash = chunks
            .last()
            .and_then(|(_, c)| c.last_chunk::<{ frame::HASH_BYTES }>());
        if let (Some(last), Some(hash)) = (last, hash) {
            active.head = Head {
                next_position: last + 1,
                hash: *hash,
            };
        }
        Ok(())
    }

    fn for_each_record(
        &self,
        from: u64,
        to: u64,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), LogError> {
        if from >= to {
            return Ok(());
        }
        let Some(mut segment) = self.segment_containing(from) else {
            return Err(LogError::Corrupt {
                position: from,
                reason: format!("no segment file in {} holds it", self.inner.dir.display()),
            });
        };
        let mut start = self.locate(&segment, from)?;
        loop {
            let expected = match Self::walk_segment(&segment, start, from, to, f)? {
                Walked::Done => return Ok(()),
                Walked::BadNote => {
                    metrics::counter!("ledger_offset_index_misses_total").increment(1);
                    start = (FILE_HEADER_BYTES, segment.first_offset);
                    continue;
                }
                Walked::EndOfFile(next) if next >= to => return Ok(()),
                Walked::EndOfFile(next) => next,
            };
            segment = match self.segment_after(segment.first_offset) {
                Some(next) if next.first_offset == expected => next,
                Some(next) => {
                    return Err(LogError::Corrupt {
                        position: expected,
                        reason: format!(
                            "{} ends at offset {expected} and the next segment, {}, starts at \
                             {}: a gap or overlap",
                            segment.path.display(),
                            next.path.display(),
                            next.first_offset
                        ),
                    });
                }
                None => {
                    return Err(LogError::Corrupt {
                        position: expected,
                        reason: format!("{} ends before it", segment.path.display()),
                    });
                }
            };
            start = (FILE_HEADER_BYTES, segment.first_offset);
        }
    }

    fn stored_head(&self) -> Result<Head, LogError> {
        Ok(lock(&self.inner.active).head)
    }

    fn stream_version(&self, stream_key: &[u8]) -> Result<Option<u64>, LogError> {
        self.inner.index.stream_version(stream_key)
    }

    fn request(&self, request_id: &str) -> Result<Option<RequestRecord>, LogError> {
        self.inner.index.request(request_id)
    }

    fn id_position(&self, key: &[u8]) -> Result<Option<u64>, LogError> {
        self.inner.index.id_position(key)
    }

    fn apply_index(&self, delta: &IndexDelta) -> Result<(), LogError> {
        let notes = lock(&self.inner.pending).below(delta.upto);
        self.inner.index.apply(delta, &notes)?;
        lock(&self.inner.pending).remove(&notes);
        Ok(())
    }

    fn indexed_upto(&self) -> Result<u64, LogError> {
        self.inner.index.indexed_upto()
    }

    fn clear_index(&self) -> Result<(), LogError> {
        self.inner.index.clear()
    }

    fn flush(&self) -> Result<(), LogError> {
        lock(&self.inner.active).segment.sync()?;
        self.inner.db.flush()?;
        Ok(())
    }

    fn anchored_head(&self) -> Result<Option<Head>, LogError> {
        anchor::read(&self.inner.dir)
    }

    fn anchor_head(&self, head: Head) -> Result<(), LogError> {
        anchor::write(&self.inner.dir, head)
    }
}
