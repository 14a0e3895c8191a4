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

use crate::processor::State;

/// The processor saves a checkpoint after this many new events.
pub const CHECKPOINT_EVERY_EVENTS: u64 = 100_000;

/// The encoding's version: a checkpoint of another version is ignored (and rebuilt). Bump it
/// whenever a projection's fields change (2: balances with their movements, claims without
/// a second copy of their lines; 3: claims in submission order with numbered indexes;
/// 4: a member's claims by code as a sorted vector of dated submission numbers; 5: no
/// request receipts, the log's request index answers retries).
const FORMAT_VERSION: u32 = 5;
const KEY: &[u8] = b"latest";
const HEADER_BYTES: usize = 4 + 8 + 32;

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

impl CheckpointStore {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let db = ledger::log::open_db(path.as_ref()).map_err(|e| {
            CheckpointError::Storage(sled::Error::Io(std::io::Error::other(e.to_string())))
        })?;
        Ok(CheckpointStore { db })
    }

    /// Saves `state` as the checkpoint at its position, durably.
    pub fn save(&self, state: &State, hash: Hash) -> Result<usize, CheckpointError> {
        let body = bincode::serde::encode_to_vec(state, config())?;
        let mut value = Vec::with_capacity(HEADER_BYTES + body.len());
        value.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        value.extend_from_slice(&state.projections.position().to_be_bytes());
        value.extend_from_slice(&hash);
        value.extend_from_slice(&body);
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
        let (hash, body) = rest.split_at(32);
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
