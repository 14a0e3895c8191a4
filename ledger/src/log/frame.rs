//! Record framing: how one event is stored, in every store (segment files, sled, memory).
//!
//! Every stored byte is covered by a CRC32C: the header's own check covers the header
//! (including the body's check), and the body check covers the event bytes and the chain
//! hash. So a damaged byte anywhere in a record is found before the record is used, and a
//! reader can resynchronise on the magic to look for valid records after damage (how
//! recovery tells a torn tail from a damaged one).
//!
//! ```text
//! offset  size  field
//!      0     4  magic       "CLR1"
//!      4     4  len         u32 LE: length of the event bytes
//!      8     8  offset      u64 LE: the record's position in the log
//!     16     4  flags       u32 LE: bit 0 = last record of its commit; other bits zero
//!     20     4  body_crc    u32 LE: CRC32C(event bytes || chain hash)
//!     24     4  header_crc  u32 LE: CRC32C(bytes 0..24)
//!     28   len  event bytes protobuf ledger.v1.RecordedEvent (position, stream, stream
//!                           version, request id, recorded-at time, event)
//! 28+len  32  chain hash  SHA-256(previous chain hash || event bytes)
//! ```
//!
//! A commit (one group commit, one fsync) is a run of records with consecutive offsets whose
//! last record has the commit-end flag: a commit without its end record was never
//! acknowledged.

use crate::chain::Hash;

pub const MAGIC: [u8; 4] = *b"CLR1";
pub const HEADER_BYTES: usize = 28;
pub const HASH_BYTES: usize = 32;
/// Framing bytes per record on top of its event bytes.
pub const OVERHEAD_BYTES: usize = HEADER_BYTES + HASH_BYTES;
/// The flag of a commit's last record.
pub const COMMIT_END: u32 = 1;
/// The largest event a frame may declare: a reader refuses a longer length without reading
/// it (the log's own limit, `Limits::event_bytes_max`, is lower).
pub const EVENT_BYTES_MAX: usize = 16 << 20;

/// One record read from storage, its checks passed.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    pub offset: u64,
    pub commit_end: bool,
    /// The stored event bytes (what the chain hash covers).
    pub bytes: &'a [u8],
    pub hash: &'a Hash,
}

impl RecordRef<'_> {
    /// Bytes the record takes in storage.
    pub fn stored_len(&self) -> usize {
        OVERHEAD_BYTES + self.bytes.len()
    }
}

/// Why bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the record needs: the end of the data (or a torn write).
    Short { needed: usize, have: usize },
    /// The bytes are there and wrong.
    Bad(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Short { needed, have } => {
                write!(f, "record cut short: {have} of {needed} bytes")
            }
            FrameError::Bad(reason) => f.write_str(reason),
        }
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut out = [0u8; 4];
    out.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(out)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(out)
}

/// Appends one record to `out`.
pub fn push(out: &mut Vec<u8>, offset: u64, event: &[u8], hash: &Hash, commit_end: bool) {
    // Event sizes are bounded by `Limits::event_bytes_max`, far below u32::MAX.
    let len = u32::try_from(event.len()).unwrap_or(u32::MAX);
    let body_crc = crc32c::crc32c_append(crc32c::crc32c(event), hash);
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&u32::from(commit_end).to_le_bytes());
    out.extend_from_slice(&body_crc.to_le_bytes());
    let header_crc = crc32c::crc32c(&out[start..start + 24]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(event);
    out.extend_from_slice(hash);
}

/// Sets the commit-end flag of the record that starts at `at` in `buf` (the last one pushed).
pub fn mark_commit_end(buf: &mut [u8], at: usize) {
    buf[at + 16..at + 20].copy_from_slice(&COMMIT_END.to_le_bytes());
    let header_crc = crc32c::crc32c(&buf[at..at + 24]);
    buf[at + 24..at + 28].copy_from_slice(&header_crc.to_le_bytes());
}

/// Checks a record header at the start of `bytes`: magic, flags and its CRC. Ok gives the
/// event length, the offset and the commit-end flag.
pub fn parse_header(bytes: &[u8]) -> Result<(usize, u64, bool), FrameError> {
    if bytes.len() < HEADER_BYTES {
        return Err(FrameError::Short {
            needed: HEADER_BYTES,
            have: bytes.len(),
        });
    }
    if bytes[..4] != MAGIC {
        return Err(FrameError::Bad("record magic is not CLR1".into()));
    }
    if crc32c::crc32c(&bytes[..24]) != u32_at(bytes, 24) {
        return Err(FrameError::Bad(
            "record header CRC32C does not match".into(),
        ));
    }
    let flags = u32_at(bytes, 16);
    if flags & !COMMIT_END != 0 {
        return Err(FrameError::Bad(format!("record flags {flags:#x} unknown")));
    }
    let len = u32_at(bytes, 4) as usize;
    if len > EVENT_BYTES_MAX {
        return Err(FrameError::Bad(format!(
            "record declares {len} event bytes, more than {EVENT_BYTES_MAX}"
        )));
    }
    Ok((len, u64_at(bytes, 8), flags & COMMIT_END != 0))
}

/// Parses and checks the record at the start of `bytes`.
pub fn parse(bytes: &[u8]) -> Result<RecordRef<'_>, FrameError> {
    let (len, offset, commit_end) = parse_header(bytes)?;
    let needed = HEADER_BYTES + len + HASH_BYTES;
    if bytes.len() < needed {
        return Err(FrameError::Short {
            needed,
            have: bytes.len(),
        });
    }
    let event = &bytes[HEADER_BYTES..HEADER_BYTES + len];
    let hash: &Hash = bytes[HEADER_BYTES + len..needed]
        .try_into()
        .map_err(|_| FrameError::Bad("record hash is cut short".into()))?;
    if crc32c::crc32c_append(crc32c::crc32c(event), hash) != u32_at(bytes, 20) {
        return Err(FrameError::Bad("record body CRC32C does not match".into()));
    }
    Ok(RecordRef {
        offset,
        commit_end,
        bytes: event,
        hash,
    })
}

/// Splits a buffer of whole records (a chunk of a commit) into its records, checking each.
pub fn parse_all(mut bytes: &[u8]) -> Result<Vec<RecordRef<'_>>, String> {
    let mut records = Vec::new();
    while !bytes.is_empty() {
        let record = parse(bytes).map_err(|e| format!("record {}: {e}", records.len()))?;
        bytes = &bytes[record.stored_len()..];
        records.push(record);
    }
    Ok(records)
}

/// The first place at or after `from` in `bytes` where a valid record starts, if any: how
/// recovery finds out whether anything valid follows damage.
pub fn find_valid(bytes: &[u8], from: usize) -> Option<(usize, u64)> {
    let mut at = from;
    while at + HEADER_BYTES <= bytes.len() {
        let found = bytes[at..].windows(4).position(|w| w == MAGIC)?;
        at += found;
        if let Ok(record) = parse(&bytes[at..]) {
            return Some((at, record.offset));
        }
        at += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut buf = Vec::new();
        push(&mut buf, 7, b"one", &[1; 32], false);
        let last = buf.len();
        push(&mut buf, 8, b"", &[2; 32], false);
        mark_commit_end(&mut buf, last);
        buf
    }

    #[test]
    fn round_trips() {
        let buf = sample();
        let records = parse_all(&buf).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!((records[0].offset, records[0].bytes), (7, &b"one"[..]));
        assert!(!records[0].commit_end);
        assert_eq!((records[1].offset, records[1].bytes), (8, &b""[..]));
        assert!(records[1].commit_end);
        assert_eq!(records[1].hash, &[2; 32]);
    }

    #[test]
    fn every_single_byte_flip_is_refused() {
        let buf = sample();
        for at in 0..buf.len() {
            for bit in 0..8 {
                let mut damaged = buf.clone();
                damaged[at] ^= 1 << bit;
                let parsed = parse_all(&damaged);
                assert!(
                    parsed.is_err(),
                    "flip of bit {bit} at byte {at} went unseen"
                );
            }
        }
    }

    #[test]
    fn short_is_told_from_bad() {
        let buf = sample();
        assert!(matches!(parse(&buf[..10]), Err(FrameError::Short { .. })));
        assert!(matches!(parse(&buf[..30]), Err(FrameError::Short { .. })));
        let mut bad = buf.clone();
        bad[30] ^= 1;
        assert!(matches!(parse(&bad), Err(FrameError::Bad(_))));
    }

    #[test]
    fn finds_the_next_valid_record_after_damage() {
        let mut buf = sample();
        let second = HEADER_BYTES + 3 + HASH_BYTES;
        buf[5] ^= 0xff;
        assert_eq!(find_valid(&buf, 1), Some((second, 8)));
        assert_eq!(find_valid(&buf, second + 1), None);
    }
}
