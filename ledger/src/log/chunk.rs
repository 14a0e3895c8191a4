//! Chunks: the records of one group commit, framed (`frame.rs`), in buffers of about
//! `CHUNK_BYTES_TARGET` bytes. The sled and memory stores keep each chunk as one value
//! keyed by the position of its first record (big-endian, so keys sort by position); the
//! segment-file store writes a commit's chunks in one write at the end of its active file.

use super::frame;
use crate::chain::Hash;

/// A chunk is closed once it holds this many bytes. sled stores values above 1/4 of its
/// 512 KiB log segment (128 KiB) as separate blob files, one file per value: keeping chunks
/// below that keeps a commit inside sled's sequential log.
pub const CHUNK_BYTES_TARGET: usize = 96 * 1024;

/// The key of the chunk whose first record is at `position`.
pub fn key(position: u64) -> [u8; 8] {
    position.to_be_bytes()
}

pub fn position_of_key(key: &[u8]) -> Result<u64, String> {
    <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| format!("chunk key is {} bytes, expected 8", key.len()))
}

/// Builds one chunk.
pub struct ChunkBuilder {
    buf: Vec<u8>,
    count: u32,
    last_at: usize,
}

impl ChunkBuilder {
    pub fn with_capacity(bytes: usize) -> Self {
        ChunkBuilder {
            buf: Vec::with_capacity(bytes),
            count: 0,
            last_at: 0,
        }
    }

    pub fn push(&mut self, offset: u64, record: &[u8], hash: &Hash) {
        self.last_at = self.buf.len();
        frame::push(&mut self.buf, offset, record, hash, false);
        self.count += 1;
    }

    /// Flags the last record pushed as the end of its commit.
    pub fn mark_commit_end(&mut self) {
        if self.count > 0 {
            frame::mark_commit_end(&mut self.buf, self.last_at);
        }
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn len_bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Splits a chunk into its records, checking each.
pub fn parse(chunk: &[u8]) -> Result<Vec<frame::RecordRef<'_>>, String> {
    frame::parse_all(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let mut b = ChunkBuilder::with_capacity(64);
        b.push(4, b"one", &[1; 32]);
        b.push(5, b"", &[2; 32]);
        b.push(6, b"three", &[3; 32]);
        b.mark_commit_end();
        let seg = b.finish();
        let records = parse(&seg).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].bytes, b"one");
        assert_eq!(records[1].bytes, b"");
        assert_eq!(records[2].hash, &[3; 32]);
        assert_eq!(
            records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            [4, 5, 6]
        );
        assert_eq!(records.iter().filter(|r| r.commit_end).count(), 1);
        assert!(records[2].commit_end);
        assert!(parse(&seg[..seg.len() - 1]).is_err(), "cut short");
    }

    #[test]
    fn keys_sort_by_position() {
        assert!(key(255) < key(256));
        assert_eq!(position_of_key(&key(1 << 40)).unwrap(), 1 << 40);
    }
}
