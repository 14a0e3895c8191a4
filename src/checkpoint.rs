//! Projection checkpoints, so a restart does not replay the whole log.
//!
//! A checkpoint is the command processor's state (every projection and the request index),
//! encoded with bincode 2 (only this module knows the encoding), stored in a sled database
//! beside the log with the log position it reflects and the log's chain hash there. On start,
//! a checkpoint is used only if the log holds that position with that hash (so a checkpoint of
//! another log, or of a history that was rewritten, is never trusted); the events after it are
//! replayed. The log stays the only truth: deleting the checkpoints only costs time.

use std::path::Path;

use ledger::chain::Hash;
use thiserror::Error;

use crate::state::State;

/// The processor saves a checkpoint after this many new events.
pub const CHECKPOINT_EVERY_EVENTS: u64 = 100_000;

/// The encoding's version: a checkpoint of another version is ignored (and rebuilt). Bump it
/// whenever a projection's fields change (2: balances with their movements, claims without
/// a second copy of their lines; 3: claims in submission order with numbered indexes;
/// 4: a member's claims by code as a sorted vector of dated submission numbers; 5: no
/// request receipts, the log's request index answers retries; 6: running totals in i128, and
/// a SHA-256 of the header fields and the body, so a damaged checkpoint is never taken for a state;
/// 7: a decision records whether its date was given; 8: statements in parts; 9: copay paid per
/// claim; 10: sponsor gifts per household, member and everyone, per year and month; 11: claim
/// numbers per household hash, accruals a close assigned, each close's cut, carried amounts).
const FORMAT_VERSION: u32 = 11;
const KEY: &[u8] = b"latest";
const HEADER_BYTES: usize = 4 + 8 + 32 + 32;

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("checkpoint storage: {0}")]
    Storage(#[from] sled::Error),
    #[error("checkpoint encoding: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("checkpoint decoding: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    #[error("checkpoint is {0} bytes, too short for its header")]
    Truncated(usize),
    #[error("checkpoint body does not match its digest: damaged")]
    Damaged,
    #[error("the projections cannot be saved: {0}")]
    Unavailable(String),
}

/// A saved checkpoint: the state after the events below `position`.
pub struct Checkpoint {
    pub position: u64,
    /// Chain hash of the event at `position - 1`.
    pub hash: Hash,
    pub state: State,
}

/// Checkpoints in their own sled database.
#[derive(Clone)]
pub struct CheckpointStore {
    db: sled::Db,
}

impl std::fmt::Debug for CheckpointStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointStore").finish_non_exhaustive()
    }
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// SHA-256 over a checkpoint's header fields and its body.
fn digest(header: &[u8], body: &[u8]) -> Hash {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(header);
    h.update(body);
    h.finalize().into()
}

impl CheckpointStore {
    /// Opens the checkpoints in `path`; when they cannot be opened (damaged storage), sets the
    /// directory aside as `<path>.unreadable-<unix seconds>`, says so in the log and in
    /// `ledger_checkpoints_unreadable_total`, and starts an empty one: checkpoints are
    /// disposable, the log is the truth (the start then replays it in full).
    pub fn open_or_set_aside(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let path = path.as_ref();
        match CheckpointStore::open(path) {
            Ok(store) => Ok(store),
            Err(error) => {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let aside = path.with_extension(format!("unreadable-{secs}"));
                tracing::warn!(%error, aside = %aside.display(), "checkpoints unreadable: set aside, replaying the log");
                metrics::counter!("ledger_checkpoints_unreadable_total").increment(1);
                std::fs::rename(path, &aside)
                    .map_err(|e| CheckpointError::Storage(sled::Error::Io(e)))?;
                CheckpointStore::open(path)
            }
        }
    }

    pub fn open(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let db = ledger::log::open_db(path.as_ref()).map_err(|e| {
            CheckpointError::Storage(sled::Error::Io(std::io::Error::other(e.to_string())))
        })?;
        Ok(CheckpointStore { db })
    }

    /// Saves `state` as the checkpoint at its position, durably.
    pub fn save(&self, state: &State, hash: Hash) -> Result<usize, CheckpointError> {
        self.write(CheckpointStore::encode(state, hash)?)
    }

    /// A checkpoint of `state` as stored (header, digest, body): CPU work only, so the caller
    /// holds the projections no longer than it takes.
    pub fn encode(state: &State, hash: Hash) -> Result<Vec<u8>, CheckpointError> {
        let body = bincode::serde::encode_to_vec(state, config())?;
        let mut value = Vec::with_capacity(HEADER_BYTES + body.len());
        value.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        value.extend_from_slice(&state.projections.position().to_be_bytes());
        value.extend_from_slice(&hash);
        let digest = digest(&value, &body);
        value.extend_from_slice(&digest);
        value.extend_from_slice(&body);
        Ok(value)
    }

    /// Stores an encoded checkpoint as the latest, durably (blocking IO); returns its size.
    pub fn write(&self, value: Vec<u8>) -> Result<usize, CheckpointError> {
        let bytes = value.len();
        self.db.insert(KEY, value)?;
        self.db.flush()?;
        Ok(bytes)
    }

    /// The latest checkpoint, if there is one of this format.
    pub fn load(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        let Some(value) = self.db.get(KEY)? else {
            return Ok(None);
        };
        if value.len() < HEADER_BYTES {
            return Err(CheckpointError::Truncated(value.len()));
        }
        let (version, rest) = value.split_at(4);
        if version != FORMAT_VERSION.to_be_bytes() {
            return Ok(None);
        }
        let (position, rest) = rest.split_at(8);
        let (hash, rest) = rest.split_at(32);
        let (stored, body) = rest.split_at(32);
        if digest(&value[..HEADER_BYTES - 32], body)[..] != *stored {
            return Err(CheckpointError::Damaged);
        }
        let mut position_bytes = [0u8; 8];
        position_bytes.copy_from_slice(position);
        let mut hash_bytes = [0u8; 32];
        hash_bytes.copy_from_slice(hash);
        let (state, _): (State, usize) = bincode::serde::decode_from_slice(body, config())?;
        Ok(Some(Checkpoint {
            position: u64::from_be_bytes(position_bytes),
            hash: hash_bytes,
            state,
        }))
    }

    pub fn clear(&self) -> Result<(), CheckpointError> {
        self.db.remove(KEY)?;
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every flipped byte of a stored checkpoint is an error, never another state; an
    /// unopenable store is set aside and replaced by an empty one.
    #[test]
    fn damaged_checkpoints_are_errors_and_unreadable_stores_are_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path().join("checkpoints")).unwrap();
        store.save(&State::default(), [3; 32]).unwrap();
        let value = store.db.get(KEY).unwrap().unwrap().to_vec();
        for i in (0..value.len()).filter(|i| *i >= 4) {
            let mut damaged = value.clone();
            damaged[i] ^= 0x10;
            store.db.insert(KEY, damaged).unwrap();
            assert!(
                store.load().is_err(),
                "a flip at byte {i} was read as a state"
            );
        }
        drop(store);

        let garbage = dir.path().join("garbage");
        std::fs::create_dir(&garbage).unwrap();
        std::fs::write(garbage.join("db"), b"not a sled database at all").unwrap();
        std::fs::write(garbage.join("conf"), b"\xff\xfe garbage").unwrap();
        let store = CheckpointStore::open_or_set_aside(&garbage).unwrap();
        assert!(store.load().unwrap().is_none());
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("garbage.unreadable-")
            });
        assert!(aside, "the unreadable store was set aside");
    }
}
