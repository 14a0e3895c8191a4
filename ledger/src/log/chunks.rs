//! Walking records stored as chunks in an ordered map keyed by first position (the sled and
//! memory stores).

use super::chunk;
use super::frame::RecordRef;
use super::store::RecordVisitor;
use super::{Head, LogError};
use crate::chain::GENESIS;

/// An ordered map of chunks, each keyed by the position of its first record.
pub trait Chunks {
    type Bytes: AsRef<[u8]>;

    /// The chunk holding `position`: the one with the greatest first position <= it.
    fn chunk_containing(&self, position: u64) -> Result<Option<(u64, Self::Bytes)>, LogError>;
    /// The first chunk starting after `first_position`.
    fn chunk_after(&self, first_position: u64) -> Result<Option<(u64, Self::Bytes)>, LogError>;
    fn last_chunk(&self) -> Result<Option<(u64, Self::Bytes)>, LogError>;
}

fn parse(first: u64, bytes: &[u8]) -> Result<Vec<RecordRef<'_>>, LogError> {
    let records = chunk::parse(bytes).map_err(|reason| LogError::Corrupt {
        position: first,
        reason,
    })?;
    for (i, record) in records.iter().enumerate() {
        let position = first + i as u64;
        if record.offset != position {
            return Err(LogError::Corrupt {
                position,
                reason: format!("record says it is at offset {}", record.offset),
            });
        }
    }
    Ok(records)
}

/// Calls `f` for every record in `from..to`, in order, checking that chunks are contiguous.
pub fn for_each_record<C: Chunks>(
    chunks: &C,
    from: u64,
    to: u64,
    f: &mut RecordVisitor<'_>,
) -> Result<(), LogError> {
    if from >= to {
        return Ok(());
    }
    let mut current = chunks.chunk_containing(from)?;
    let mut expected_first = None;
    while let Some((first, bytes)) = current {
        if expected_first.is_some_and(|e| e != first) {
            return Err(LogError::Corrupt {
                position: expected_first.unwrap_or(first),
                reason: format!("chunk starts at {first}, a gap or overlap"),
            });
        }
        let records = parse(first, bytes.as_ref())?;
        let end = first + records.len() as u64;
        if end <= from {
            return Err(LogError::Corrupt {
                position: from,
                reason: format!("chunk at {first} ends at {end}, before the position"),
            });
        }
        for record in records {
            if record.offset < from {
                continue;
            }
            if record.offset >= to || !f(record)? {
                return Ok(());
            }
        }
        if end >= to {
            return Ok(());
        }
        expected_first = Some(end);
        current = chunks.chunk_after(first)?;
    }
    Err(LogError::Corrupt {
        position: expected_first.unwrap_or(from),
        reason: "chunk missing".into(),
    })
}

/// The head of a chunked log: from its last chunk, O(1).
pub fn stored_head<C: Chunks>(chunks: &C) -> Result<Head, LogError> {
    let Some((first, bytes)) = chunks.last_chunk()? else {
        return Ok(Head {
            next_position: 0,
            hash: GENESIS,
        });
    };
    let records = parse(first, bytes.as_ref())?;
    let last = records.last().ok_or(LogError::Corrupt {
        position: first,
        reason: "empty chunk".into(),
    })?;
    if !last.commit_end {
        return Err(LogError::Corrupt {
            position: last.offset,
            reason: "the last record does not end its commit".into(),
        });
    }
    Ok(Head {
        next_position: last.offset + 1,
        hash: *last.hash,
    })
}
