//! Whole commits out of the events topic's messages, and where a replica stopped reading.

use std::path::{Path, PathBuf};

use crate::log::{LogError, chunk};

/// A commit read from the topic: its chunks (first position, bytes), in order.
#[derive(Debug, Default)]
pub(super) struct Commit {
    pub chunks: Vec<(u64, Vec<u8>)>,
    /// The position after the commit's last record.
    pub end: u64,
}

impl Commit {
    pub fn start(&self) -> u64 {
        self.chunks.first().map_or(self.end, |c| c.0)
    }
}

fn corrupt(position: u64, reason: String) -> LogError {
    LogError::Corrupt { position, reason }
}

/// Gathers messages until one ends a commit (its last record is flagged `commit_end`).
#[derive(Default)]
pub(super) struct Commits {
    pending: Commit,
}

impl Commits {
    /// Takes the message whose first record is at `first`; the commit once it is whole.
    /// Err: a damaged message, one out of order, or an empty one.
    pub fn push(&mut self, first: u64, bytes: &[u8]) -> Result<Option<Commit>, LogError> {
        let records = chunk::parse(bytes).map_err(|r| corrupt(first, format!("kafka: {r}")))?;
        let (Some(head), Some(last)) = (records.first(), records.last()) else {
            return Err(corrupt(first, "kafka: an empty chunk".into()));
        };
        let continues = self.pending.chunks.is_empty() || self.pending.end == first;
        if head.offset != first || !continues {
            return Err(corrupt(first, "kafka: a chunk out of order".into()));
        }
        self.pending.end = last.offset + 1;
        self.pending.chunks.push((first, bytes.to_vec()));
        Ok(last.commit_end.then(|| std::mem::take(&mut self.pending)))
    }

    /// Err when a commit was begun and not ended (the topic ended inside one).
    pub fn finish(&self) -> Result<(), LogError> {
        match self.pending.chunks.first() {
            None => Ok(()),
            Some((first, _)) => Err(corrupt(*first, "kafka: a commit without its end".into())),
        }
    }
}

/// Where a replica's reading of the topic stopped: the Kafka offset after the message that
/// ended a commit, and the position after that commit. Only a shortcut: reading from an
/// older mark re-reads commits the replica has and skips them; a missing mark reads from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct ReadMark {
    pub offset: i64,
    pub position: u64,
}

/// The file in a replica's directory that holds its [`ReadMark`].
pub(super) fn mark_path(dir: &Path) -> PathBuf {
    dir.join("kafka-read-mark")
}

impl ReadMark {
    /// The mark in `path`; the start of the topic when there is none or it is unreadable
    /// (then the whole topic is read again, which is always correct).
    pub fn load(path: &Path) -> ReadMark {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| {
                let (offset, position) = text.trim().split_once(' ')?;
                Some(ReadMark {
                    offset: offset.parse().ok()?,
                    position: position.parse().ok()?,
                })
            })
            .unwrap_or_default()
    }

    /// Replaces the mark in `path` (write and rename: a crash leaves the old or the new).
    pub fn save(&self, path: &Path) -> Result<(), LogError> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, format!("{} {}\n", self.offset, self.position))
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| LogError::Storage(format!("{}: {e}", path.display())))
    }
}
