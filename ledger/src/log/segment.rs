//! Segment framing: consecutive events of one group commit, stored as one value keyed by the
//! position of its first event (big-endian, so keys sort by position). A group commit is one
//! segment, or several when it is larger than `SEGMENT_BYTES_TARGET`; they are written in one
//! atomic sled batch.
//!
//! ```text
//! segment = magic "CLS1" | count: u32 LE | record * count
//! record  = len: u32 LE | bytes: [u8; len] (protobuf ledger.v1.RecordedEvent) | hash: [u8; 32]
//! ```

use crate::chain::Hash;

pub const SEGMENT_MAGIC: [u8; 4] = *b"CLS1";
const HEADER_BYTES: usize = 8;
const HASH_BYTES: usize = 32;

/// A segment is closed once it holds this many bytes. sled stores values above 1/4 of its
/// 512 KiB log segment (128 KiB) as separate blob files, one file per value: keeping segments
/// below that keeps a commit inside sled's sequential log.
pub const SEGMENT_BYTES_TARGET: usize = 96 * 1024;

/// The key of the segment whose first event is at `position`.
pub fn key(position: u64) -> [u8; 8] {
    position.to_be_bytes()
}

pub fn position_of_key(key: &[u8]) -> Result<u64, String> {
    <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| format!("segment key is {} bytes, expected 8", key.len()))
}

/// Builds one segment.
pub struct SegmentBuilder {
    buf: Vec<u8>,
    count: u32,
}

impl SegmentBuilder {
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(HEADER_BYTES + bytes);
        buf.extend_from_slice(&SEGMENT_MAGIC);
        buf.extend_from_slice(&0u32.to_le_bytes());
        SegmentBuilder { buf, count: 0 }
    }

    pub fn push(&mut self, record: &[u8], hash: &Hash) {
        // Event sizes are bounded by `Limits::event_bytes_max`, far below u32::MAX.
        let len = u32::try_from(record.len()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(record);
        self.buf.extend_from_slice(hash);
        self.count += 1;
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn len_bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf[4..8].copy_from_slice(&self.count.to_le_bytes());
        self.buf
    }
}

/// One record of a parsed segment.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    pub bytes: &'a [u8],
    pub hash: &'a Hash,
}

/// Splits a segment into its records, checking the framing.
pub fn parse(segment: &[u8]) -> Result<Vec<RecordRef<'_>>, String> {
    if segment.len() < HEADER_BYTES || segment[..4] != SEGMENT_MAGIC {
        return Err("segment header is missing or has the wrong magic".into());
    }
    let mut count_bytes = [0u8; 4];
    count_bytes.copy_from_slice(&segment[4..8]);
    let count = u32::from_le_bytes(count_bytes) as usize;
    let mut records = Vec::with_capacity(count);
    let mut rest = &segment[HEADER_BYTES..];
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err("record length is cut short".into());
        };
        let len = u32::from_le_bytes(*len) as usize;
        if tail.len() < len + HASH_BYTES {
            return Err(format!(
                "record {} claims {len} bytes, only {} remain",
                records.len(),
                tail.len()
            ));
        }
        let (bytes, tail) = tail.split_at(len);
        let (hash, tail) = tail.split_at(HASH_BYTES);
        let hash: &Hash = hash
            .try_into()
            .map_err(|_| "record hash is cut short".to_string())?;
        records.push(RecordRef { bytes, hash });
        rest = tail;
    }
    if records.len() != count {
        return Err(format!(
            "segment header says {count} records, it holds {}",
            records.len()
        ));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let mut b = SegmentBuilder::with_capacity(64);
        b.push(b"one", &[1; 32]);
        b.push(b"", &[2; 32]);
        b.push(b"three", &[3; 32]);
        let seg = b.finish();
        let records = parse(&seg).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].bytes, b"one");
        assert_eq!(records[1].bytes, b"");
        assert_eq!(records[2].hash, &[3; 32]);

        assert!(parse(&seg[..seg.len() - 1]).is_err(), "cut short");
        let mut wrong_count = seg.clone();
        wrong_count[4] = 2;
        assert!(parse(&wrong_count).is_err(), "count mismatch");
        let mut wrong_magic = seg;
        wrong_magic[0] = b'X';
        assert!(parse(&wrong_magic).is_err(), "magic");
    }

    #[test]
    fn keys_sort_by_position() {
        assert!(key(255) < key(256));
        assert_eq!(position_of_key(&key(1 << 40)).unwrap(), 1 << 40);
    }
}
