//! Opening a segment-file log: find the head, re-read only the tail after the last index
//! checkpoint, and tell a torn write from damage.
//!
//! Invariants checked at open:
//! - the first segment starts at offset 0, each next one where the one before ends (each
//!   older segment's last record is read through the sparse index: O(segments), not the
//!   history), and every older segment ends with a whole commit;
//! - every record of the tail passes its CRCs and has the next offset;
//! - the tail ends with a whole commit. When it does not (a record fails, or the file ends
//!   inside a commit), the rest of the last file is searched for any valid record. None: the
//!   last commit was torn (written in part when the machine stopped, never acknowledged), so
//!   it is cut, the cut bytes kept in `torn/`. One found: the bytes are damaged, and opening
//!   is refused, naming the file, the byte and the offset;
//! - a cut never takes the log below the anchored head (those records were acknowledged):
//!   refused instead.
//!
//! The chain over the tail is checked by the writer as it rebuilds its index overlay.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::segment_file::{
    FILE_HEADER_BYTES, FrameReader, SCAN_BLOCK_BYTES, SegmentFile, first_offset_of, io_error,
};
use super::{
    NOTE_EVERY_EVENTS, RECOVERY_NOTE_BYTES, Recovery, TORN_DIR, TornTail, damaged, sync_dir,
};
use crate::chain::{GENESIS, Hash};
use crate::log::frame;
use crate::log::sled_store::{Location, Notes, SledIndex};
use crate::log::{Head, LogError};

/// What recovery hands to the store.
pub struct Found {
    pub segments: BTreeMap<u64, Arc<SegmentFile>>,
    pub active: Arc<SegmentFile>,
    pub last_start_note_byte: u64,
    pub head: Head,
    pub pending: Notes,
}

/// The end of the last whole commit seen by a walk: the byte after it and the head.
#[derive(Clone, Copy)]
struct CommitEnd {
    byte: u64,
    head: Head,
}

pub fn recover(
    dir: &Path,
    index: &SledIndex,
    anchored: Option<Head>,
    recovery: &mut Recovery,
) -> Result<Found, LogError> {
    let segments = open_segments(dir, recovery)?;
    let indexed_upto = index.indexed_upto()?;
    let found = scan(dir, index, segments, indexed_upto, anchored, recovery)?;
    if found.head.next_position >= indexed_upto {
        return Ok(found);
    }
    // The index claims more than the log holds: rebuild it from the log, the truth.
    index.clear()?;
    let segments = found.segments.into_values().collect();
    scan(dir, index, segments, 0, anchored, recovery)
}

/// Opens every segment file in order; creates the first in an empty directory. A last file
/// cut inside its header (a roll torn by a crash) is removed.
fn open_segments(dir: &Path, recovery: &mut Recovery) -> Result<Vec<Arc<SegmentFile>>, LogError> {
    let mut named = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, "listing", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, "listing", e))?;
        if let Some(first) = entry.file_name().to_str().and_then(first_offset_of) {
            named.push((first, entry.path()));
        }
    }
    named.sort();
    let mut segments = Vec::with_capacity(named.len());
    let last = named.len().saturating_sub(1);
    for (i, (first, path)) in named.into_iter().enumerate() {
        match SegmentFile::open(path.clone(), first) {
            Ok(segment) => segments.push(Arc::new(segment)),
            Err(e) if i == last && file_len(&path) <= FILE_HEADER_BYTES => {
                let kept_in = keep_torn(dir, &path, 0)?;
                std::fs::remove_file(&path).map_err(|e| io_error(&path, "removing", e))?;
                sync_dir(dir)?;
                recovery.torn = Some(TornTail {
                    file: path,
                    cut_at_byte: 0,
                    bytes: 0,
                    kept_in,
                });
                drop(e);
            }
            Err(e) => return Err(e),
        }
    }
    if segments.is_empty() {
        segments.push(Arc::new(SegmentFile::create(dir, 0)?));
        sync_dir(dir)?;
    }
    if let Some(first) = segments.first()
        && first.first_offset != 0
    {
        return Err(LogError::Corrupt {
            position: 0,
            reason: format!(
                "the first segment file is {}: the segments before it are missing",
                first.path.display()
            ),
        });
    }
    Ok(segments)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Where a walk for `offset` starts in `segment`: the nearest commit start at or before it
/// in the persisted sparse index, checked, else the segment's first record.
fn start_in(index: &SledIndex, segment: &SegmentFile, offset: u64) -> Result<(u64, u64), LogError> {
    if let Some((noted, at)) = index.commit_start_at_or_before(offset)?
        && at.segment == segment.first_offset
        && noted >= at.segment
        && at.byte >= FILE_HEADER_BYTES
        && at.byte < segment.size()
    {
        let mut reader = FrameReader::new(segment, at.byte, frame::HEADER_BYTES);
        if reader.peek_offset()? == Some(noted) {
            return Ok((at.byte, noted));
        }
    }
    Ok((FILE_HEADER_BYTES, segment.first_offset))
}

/// The chain hash of the record at `offset` (GENESIS before the first).
fn hash_of(
    index: &SledIndex,
    segments: &[Arc<SegmentFile>],
    offset: Option<u64>,
) -> Result<Hash, LogError> {
    let Some(offset) = offset else {
        return Ok(GENESIS);
    };
    let Some(segment) = segments.iter().rev().find(|s| s.first_offset <= offset) else {
        return Err(LogError::Corrupt {
            position: offset,
            reason: "no segment file holds it".into(),
        });
    };
    let mut reader = FrameReader::new(
        segment,
        start_in(index, segment, offset)?.0,
        SCAN_BLOCK_BYTES,
    );
    loop {
        match reader.next_record()? {
            Ok(Some((_, record))) if record.offset == offset => return Ok(*record.hash),
            Ok(Some((_, record))) if record.offset < offset => continue,
            Ok(Some((byte, _))) | Err((byte, _)) => {
                return Err(damaged(segment, byte, offset, "the record cannot be read"));
            }
            Ok(None) => {
                return Err(damaged(
                    segment,
                    segment.size(),
                    offset,
                    "the file ends before it",
                ));
            }
        }
    }
}

/// One walk over a segment from a start: every record checked, sparse notes taken.
struct Walk {
    expected: u64,
    end: Option<CommitEnd>,
    records: u64,
    /// Where the walk stopped short of the end of the file, and why.
    broken: Option<(u64, String)>,
    notes: Notes,
    last_start_note_byte: u64,
}

fn walk(segment: &SegmentFile, start: (u64, u64)) -> Result<Walk, LogError> {
    let mut reader = FrameReader::new(segment, start.0, SCAN_BLOCK_BYTES);
    let mut w = Walk {
        expected: start.1,
        end: None,
        records: 0,
        broken: None,
        notes: Notes::default(),
        last_start_note_byte: start.0,
    };
    loop {
        let (byte, record) = match reader.next_record()? {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(w),
            Err((byte, e)) => {
                w.broken = Some((byte, e.to_string()));
                return Ok(w);
            }
        };
        if record.offset != w.expected {
            w.broken = Some((byte, format!("the record says offset {}", record.offset)));
            return Ok(w);
        }
        let here = Location {
            segment: segment.first_offset,
            byte,
        };
        let commit_start = w.end.map_or(byte == start.0, |e| e.byte == byte);
        if commit_start && byte - w.last_start_note_byte >= RECOVERY_NOTE_BYTES {
            w.notes.starts.insert(record.offset, here);
            w.last_start_note_byte = byte;
        }
        if record.offset % NOTE_EVERY_EVENTS == 0 {
            w.notes.point.insert(record.offset, here);
        }
        w.expected += 1;
        w.records += 1;
        if record.commit_end {
            w.end = Some(CommitEnd {
                byte: byte + record.stored_len() as u64,
                head: Head {
                    next_position: record.offset + 1,
                    hash: *record.hash,
                },
            });
        }
    }
}

/// Checks the older segments' ends, then walks the tail from `indexed_upto`.
fn scan(
    dir: &Path,
    index: &SledIndex,
    segments: Vec<Arc<SegmentFile>>,
    indexed_upto: u64,
    anchored: Option<Head>,
    recovery: &mut Recovery,
) -> Result<Found, LogError> {
    // Start one record early, so the head's hash is read even when the tail is empty.
    let from = indexed_upto.saturating_sub(1);
    let start_at = segments
        .iter()
        .rposition(|s| s.first_offset <= from)
        .unwrap_or(0);
    for pair in segments[..=start_at].windows(2) {
        check_older_end(index, &pair[0], pair[1].first_offset)?;
    }
    let mut pending = Notes::default();
    let mut head = Head {
        next_position: 0,
        hash: GENESIS,
    };
    let mut last_start_note_byte = FILE_HEADER_BYTES;
    let last = segments.len() - 1;
    let mut expected_first = None;
    for (i, segment) in segments.iter().enumerate().skip(start_at) {
        if let Some(expected) = expected_first
            && segment.first_offset != expected
        {
            return Err(gap(&segments[i - 1], segment, expected));
        }
        let start = if i == start_at {
            start_in(index, segment, from)?
        } else {
            (FILE_HEADER_BYTES, segment.first_offset)
        };
        let mut w = walk(segment, start)?;
        recovery.tail_records += w.records;
        pending.extend(std::mem::take(&mut w.notes));
        last_start_note_byte = w.last_start_note_byte;
        let end_offset = w.end.map_or(start.1, |e| e.head.next_position);
        match w.end {
            Some(end) => head = end.head,
            None if i == start_at => {
                head = Head {
                    next_position: start.1,
                    hash: hash_of(index, &segments, start.1.checked_sub(1))?,
                };
            }
            None => {}
        }
        if w.broken.is_some() || end_offset != w.expected {
            if i != last {
                let (byte, why) = w
                    .broken
                    .unwrap_or((segment.size(), "the file ends inside a commit".into()));
                return Err(damaged(segment, byte, w.expected, &why));
            }
            let cut_to = w.end.map_or(start.0, |e| e.byte);
            recovery.torn = Some(cut_torn_tail(dir, segment, &w, cut_to, head, anchored)?);
            pending.retain_below(end_offset);
            last_start_note_byte = last_start_note_byte.min(cut_to);
        }
        expected_first = Some(end_offset);
    }
    let active = segments[last].clone();
    let segments = segments.into_iter().map(|s| (s.first_offset, s)).collect();
    Ok(Found {
        segments,
        active,
        last_start_note_byte,
        head,
        pending,
    })
}

fn gap(before: &SegmentFile, segment: &SegmentFile, expected: u64) -> LogError {
    LogError::Corrupt {
        position: expected,
        reason: format!(
            "{} ends at offset {expected} and the next segment, {}, starts at {}: a gap or \
             overlap",
            before.path.display(),
            segment.path.display(),
            segment.first_offset
        ),
    }
}

/// An older segment must end, at the end of its file, with the whole commit holding the
/// record before `next_first`.
fn check_older_end(
    index: &SledIndex,
    segment: &SegmentFile,
    next_first: u64,
) -> Result<(), LogError> {
    let Some(last) = next_first
        .checked_sub(1)
        .filter(|l| *l >= segment.first_offset)
    else {
        return Err(damaged(
            segment,
            FILE_HEADER_BYTES,
            segment.first_offset,
            "the segment holds no record",
        ));
    };
    let w = walk(segment, start_in(index, segment, last)?)?;
    if let Some((byte, why)) = w.broken {
        return Err(damaged(segment, byte, w.expected, &why));
    }
    match w.end {
        Some(end) if end.head.next_position == next_first && end.byte == segment.size() => Ok(()),
        _ => Err(LogError::Corrupt {
            position: w.expected,
            reason: format!(
                "{} ends at offset {}, and the next segment starts at {next_first}: a gap, or \
                 the file was cut",
                segment.path.display(),
                w.expected
            ),
        }),
    }
}

/// Cuts the last file back to `cut_to`, the end of its last whole commit, when what follows
/// is a torn write: nothing valid after the first bad byte, and nothing acknowledged lost.
fn cut_torn_tail(
    dir: &Path,
    segment: &SegmentFile,
    w: &Walk,
    cut_to: u64,
    head: Head,
    anchored: Option<Head>,
) -> Result<TornTail, LogError> {
    let (bad, why) = w
        .broken
        .clone()
        .unwrap_or((segment.size(), "the file ends inside a commit".into()));
    let len = segment.size();
    if bad + 1 < len {
        let mut rest = vec![0u8; (len - bad - 1) as usize];
        segment.read_exact_at(&mut rest, bad + 1)?;
        if let Some((at, offset)) = frame::find_valid(&rest, 0) {
            let why = format!(
                "{why}; a valid record (offset {offset}) follows at byte {}: damage, not a torn \
                 write",
                bad + 1 + at as u64
            );
            return Err(damaged(segment, bad, w.expected, &why));
        }
    }
    if let Some(anchored) = anchored
        && anchored.next_position > head.next_position
    {
        let why = format!(
            "{why}; the anchored head is at {}: these records were acknowledged",
            anchored.next_position
        );
        return Err(damaged(segment, bad, w.expected, &why));
    }
    let kept_in = keep_torn(dir, &segment.path, cut_to)?;
    segment.truncate(cut_to)?;
    metrics::counter!("ledger_torn_tails_cut_total").increment(1);
    Ok(TornTail {
        file: segment.path.clone(),
        cut_at_byte: cut_to,
        bytes: len - cut_to,
        kept_in,
    })
}

/// Copies the bytes of `path` from `from` into `torn/`, synced, before they are cut.
fn keep_torn(dir: &Path, path: &Path, from: u64) -> Result<std::path::PathBuf, LogError> {
    use std::io::{Seek, SeekFrom};
    let torn_dir = dir.join(TORN_DIR);
    std::fs::create_dir_all(&torn_dir).map_err(|e| io_error(&torn_dir, "creating", e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kept_in = torn_dir.join(format!("{name}.{from}.torn"));
    // Only the bytes from the cut are copied, not the whole segment.
    let mut source = std::fs::File::open(path).map_err(|e| io_error(path, "reading", e))?;
    source
        .seek(SeekFrom::Start(from))
        .map_err(|e| io_error(path, "reading", e))?;
    let mut out = std::fs::File::create(&kept_in).map_err(|e| io_error(&kept_in, "creating", e))?;
    std::io::copy(&mut source, &mut out)
        .and_then(|_| out.sync_all())
        .map_err(|e| io_error(&kept_in, "writing", e))?;
    sync_dir(&torn_dir)?;
    Ok(kept_in)
}
