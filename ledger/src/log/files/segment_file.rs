//! One segment file: a header, then whole commits of framed records (`frame.rs`), appended.
//!
//! ```text
//! file header (24 bytes): magic "CLSEG001" | first offset u64 LE | format u32 LE (1)
//!                         | CRC32C(bytes 0..20) u32 LE
//! then records, offsets consecutive from the first offset
//! ```
//!
//! Named by its first offset, zero-padded to 20 digits (`00000000000001048576.log`), so
//! names sort by offset.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::log::LogError;
use crate::log::frame::{self, FrameError, RecordRef};

pub const FILE_MAGIC: [u8; 8] = *b"CLSEG001";
pub const FILE_HEADER_BYTES: u64 = 24;
const FORMAT: u32 = 1;
const NAME_SUFFIX: &str = ".log";

pub fn file_name(first_offset: u64) -> String {
    format!("{first_offset:020}{NAME_SUFFIX}")
}

/// The first offset a segment file's name gives, None for any other file.
pub fn first_offset_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(NAME_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn header(first_offset: u64) -> [u8; FILE_HEADER_BYTES as usize] {
    let mut out = [0u8; FILE_HEADER_BYTES as usize];
    out[..8].copy_from_slice(&FILE_MAGIC);
    out[8..16].copy_from_slice(&first_offset.to_le_bytes());
    out[16..20].copy_from_slice(&FORMAT.to_le_bytes());
    let crc = crc32c::crc32c(&out[..20]);
    out[20..].copy_from_slice(&crc.to_le_bytes());
    out
}

pub fn io_error(path: &Path, what: &str, e: std::io::Error) -> LogError {
    LogError::Storage(format!("{what} {}: {e}", path.display()))
}

/// An open segment file. Reads use `pread`, so readers share it with the appender.
#[derive(Debug)]
pub struct SegmentFile {
    pub first_offset: u64,
    pub path: PathBuf,
    file: File,
    /// Bytes of whole, durable commits: readers never look past it.
    len: AtomicU64,
}

impl SegmentFile {
    /// Creates the segment starting at `first_offset`, header written and synced. The
    /// caller syncs the directory.
    pub fn create(dir: &Path, first_offset: u64) -> Result<Self, LogError> {
        let path = dir.join(file_name(first_offset));
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_error(&path, "creating", e))?;
        file.write_all(&header(first_offset))
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error(&path, "writing the header of", e))?;
        Ok(SegmentFile {
            first_offset,
            path,
            file,
            len: AtomicU64::new(FILE_HEADER_BYTES),
        })
    }

    /// Opens an existing segment, checking that its header names `first_offset`.
    pub fn open(path: PathBuf, first_offset: u64) -> Result<Self, LogError> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_error(&path, "opening", e))?;
        let len = file
            .metadata()
            .map_err(|e| io_error(&path, "reading the size of", e))?
            .len();
        let mut found = [0u8; FILE_HEADER_BYTES as usize];
        let complete = len >= FILE_HEADER_BYTES && file.read_exact_at(&mut found, 0).is_ok();
        if !complete || found != header(first_offset) {
            return Err(LogError::Corrupt {
                position: first_offset,
                reason: format!(
                    "{}: the segment header is damaged or missing (byte 0, {len} bytes in the \
                     file)",
                    path.display()
                ),
            });
        }
        Ok(SegmentFile {
            first_offset,
            path,
            file,
            len: AtomicU64::new(len),
        })
    }

    /// Bytes in the file that readers may look at.
    pub fn size(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    pub fn read_exact_at(&self, buf: &mut [u8], at: u64) -> Result<(), LogError> {
        self.file
            .read_exact_at(buf, at)
            .map_err(|e| io_error(&self.path, "reading", e))
    }

    /// Appends `chunks` with one vectored write and one fdatasync, after `at` (the file's
    /// end). On failure the file is cut back to `at`, best effort.
    pub fn append(&self, at: u64, chunks: &[(u64, Vec<u8>)]) -> Result<u64, LogError> {
        let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|(_, c)| IoSlice::new(c)).collect();
        let mut remaining = &mut slices[..];
        let written = (|| {
            while !remaining.is_empty() {
                let n = (&self.file).write_vectored(remaining)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                IoSlice::advance_slices(&mut remaining, n);
            }
            self.file.sync_data()
        })();
        if let Err(e) = written {
            let _ = self.file.set_len(at);
            return Err(io_error(&self.path, "appending to", e));
        }
        let total: usize = chunks.iter().map(|(_, c)| c.len()).sum();
        let end = at + total as u64;
        self.len.store(end, Ordering::Release);
        Ok(end)
    }

    /// Cuts the file to `len` bytes, durably (recovery of a torn tail).
    pub fn truncate(&self, len: u64) -> Result<(), LogError> {
        self.file
            .set_len(len)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| io_error(&self.path, "truncating", e))?;
        self.len.store(len, Ordering::Release);
        Ok(())
    }

    pub fn sync(&self) -> Result<(), LogError> {
        self.file
            .sync_data()
            .map_err(|e| io_error(&self.path, "syncing", e))
    }
}

/// Reads buffered from the file: this many bytes at least per read.
pub const SCAN_BLOCK_BYTES: usize = 256 * 1024;
/// The first read of a point lookup: the sparse index interval and a typical record.
pub const POINT_BLOCK_BYTES: usize = 8 * 1024;

/// Walks the records of one segment file from a byte position, checking each.
pub struct FrameReader<'a> {
    segment: &'a SegmentFile,
    buf: Vec<u8>,
    buf_start: u64,
    pos: u64,
    end: u64,
    block: usize,
}

impl<'a> FrameReader<'a> {
    pub fn new(segment: &'a SegmentFile, from_byte: u64, block: usize) -> Self {
        FrameReader {
            segment,
            buf: Vec::new(),
            buf_start: from_byte,
            pos: from_byte,
            end: segment.size(),
            block,
        }
    }

    /// Makes `buf` hold `pos..pos + n` (less at the end of the file).
    fn fill(&mut self, n: usize) -> Result<(), LogError> {
        let have_end = self.buf_start + self.buf.len() as u64;
        if self.buf_start <= self.pos && self.pos + n as u64 <= have_end {
            return Ok(());
        }
        let want = (n.max(self.block) as u64).min(self.end.saturating_sub(self.pos)) as usize;
        self.buf.resize(want, 0);
        self.buf_start = self.pos;
        let (pos, segment) = (self.pos, self.segment);
        segment.read_exact_at(&mut self.buf, pos)?;
        // The block doubles for a record larger than it, so a long record is read once.
        self.block = self.block.max(n);
        Ok(())
    }

    fn at_pos(&self) -> &[u8] {
        &self.buf[(self.pos - self.buf_start) as usize..]
    }

    /// The offset the header at the current position declares, if it is a valid header.
    pub fn peek_offset(&mut self) -> Result<Option<u64>, LogError> {
        self.fill(frame::HEADER_BYTES)?;
        Ok(frame::parse_header(self.at_pos()).ok().map(|(_, o, _)| o))
    }

    /// The next record and the byte it starts at; None at the end of the file. Err(byte,
    /// why) when the bytes there are not a valid record (or the file ends inside one).
    #[allow(clippy::type_complexity)]
    pub fn next_record(
        &mut self,
    ) -> Result<Result<Option<(u64, RecordRef<'_>)>, (u64, FrameError)>, LogError> {
        if self.pos >= self.end {
            return Ok(Ok(None));
        }
        let at = self.pos;
        self.fill(frame::HEADER_BYTES)?;
        let len = match frame::parse_header(self.at_pos()) {
            Ok((len, _, _)) => len,
            Err(e) => return Ok(Err((at, e))),
        };
        let needed = frame::OVERHEAD_BYTES + len;
        self.fill(needed)?;
        let start = (at - self.buf_start) as usize;
        match frame::parse(&self.buf[start..]) {
            Ok(record) => {
                self.pos = at + needed as u64;
                Ok(Ok(Some((at, record))))
            }
            Err(e) => Ok(Err((at, e))),
        }
    }
}
