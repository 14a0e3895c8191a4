//! Projection checkpoints, so a restart does not replay the whole log.
//!
//! A checkpoint is the command processor's state (every projection and the request index),
//! encoded with bincode 2 (only this module knows the encoding), with the log position it
//! reflects and the log's chain hash there. The header (format, position, hash, digest) is the
//! value of a sled database beside the log; the body is a file of its own in that
//! directory's `states/` (`<position>.state`), written and synced before the header names it,
//! so sled's page cache never holds the state a second time (it held two copies of an 83 MB
//! body at 1M events, measured with heaptrack). On start,
//! a checkpoint is used only if the log holds that position with that hash (so a checkpoint of
//! another log, or of a history that was rewritten, is never trusted); the events after it are
//! replayed. The log stays the only truth: deleting the checkpoints only costs time.

use std::path::Path;

use ledger::chain::Hash;
use thiserror::Error;

use crate::processor::state::State;

/// The processor saves a checkpoint after this many new events, or after a tenth of the
/// history when that is more ([`CheckpointStore::due`]).
pub const CHECKPOINT_EVERY_EVENTS: u64 = 100_000;
/// A checkpoint waits for at least 1 / this of the history in new events: the state it copies
/// and encodes grows with the history, so a fixed interval would have checkpoints running
/// back to back (at 4.9M events, encoding took 2.1 s of every 2.5 s), the copy alive and a
/// core busy all the time. A restart then replays at most about a tenth of the history.
pub const CHECKPOINT_HISTORY_FRACTION: u64 = 10;

/// The encoding's version: a checkpoint of another version is ignored (and rebuilt). Bump it
/// whenever a projection's fields change (2: balances with their movements, claims without
/// a second copy of their lines; 3: claims in submission order with numbered indexes;
/// 4: a member's claims by code as a sorted vector of dated submission numbers; 5: no
/// request receipts, the log's request index answers retries; 6: running totals in i128, and
/// a SHA-256 of the header fields and the body, so a damaged checkpoint is never taken for a state;
/// 7: a decision records whether its date was given; 8: statements in parts; 9: copay paid per
/// claim; 10: sponsor gifts per household, member and everyone, per year and month; 11: claim
/// numbers per household hash, accruals a close assigned, each close's cut, carried amounts;
/// 12: the body in a file of its own, the sled value the header alone; 13: compact claim
/// records, their findings and diagnoses left in the log; balances moved per day, not per
/// posting; 14: statements keep where their parts are, their lines left in the log; 15: no
/// receipt or payout ids, the log's index holds them; 16: closed claims leave the state for
/// the archive, claims by submission number; 17: wallet days before a close's cut leave the
/// state for the archive).
const FORMAT_VERSION: u32 = 17;
const KEY: &[u8] = b"latest";
const HEADER_BYTES: usize = 4 + 8 + 32 + 32;
/// The directory of checkpoint bodies inside the checkpoints' sled directory.
const STATES_DIR: &str = "states";

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("checkpoint storage: {0}")]
    Storage(#[from] sled::Error),
    #[error("checkpoint file {path}: {error}")]
    File {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
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

/// Checkpoints: their headers in a sled database of their own, their bodies in files beside.
#[derive(Clone)]
pub struct CheckpointStore {
    db: sled::Db,
    states: std::path::PathBuf,
    /// Events between the writer's checkpoints.
    every: u64,
    /// Checkpoints this store has written (shared by its clones).
    saved: std::sync::Arc<std::sync::atomic::AtomicU64>,
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
        let states = path.as_ref().join(STATES_DIR);
        std::fs::create_dir_all(&states).map_err(|error| CheckpointError::File {
            path: states.clone(),
            error,
        })?;
        Ok(CheckpointStore {
            db,
            states,
            every: CHECKPOINT_EVERY_EVENTS,
            saved: Default::default(),
        })
    }

    /// The same store, with the writer checkpointing every `events` events (at least 1)
    /// instead of [`CHECKPOINT_EVERY_EVENTS`].
    pub fn every(mut self, events: u64) -> Self {
        self.every = events.max(1);
        self
    }

    /// Whether a checkpoint is due at `position`, the last one having been at `last`: after
    /// the store's interval, and at least a [`CHECKPOINT_HISTORY_FRACTION`]th of the history.
    pub fn due(&self, last: u64, position: u64) -> bool {
        let new = position.saturating_sub(last);
        new >= self.every && new >= position / CHECKPOINT_HISTORY_FRACTION
    }

    /// The archive of closed claims beside these checkpoints (`processor::archive`).
    pub fn claim_archive(
        &self,
    ) -> Result<crate::processor::archive::ClaimArchive, CheckpointError> {
        Ok(crate::processor::archive::ClaimArchive::open(&self.db)?)
    }

    /// The archive of closed wallet days beside these checkpoints
    /// (`processor::day_archive`).
    pub fn day_archive(
        &self,
    ) -> Result<crate::processor::day_archive::DayArchive, CheckpointError> {
        Ok(crate::processor::day_archive::DayArchive::open(&self.db)?)
    }

    /// How many checkpoints this store (and its clones) has written since it was opened.
    pub fn saved(&self) -> u64 {
        self.saved.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn body_path(&self, position: u64) -> std::path::PathBuf {
        self.states.join(format!("{position:020}.state"))
    }

    /// Saves `state` as the checkpoint at its position, durably.
    pub fn save(&self, state: &State, hash: Hash) -> Result<usize, CheckpointError> {
        self.write(CheckpointStore::encode(state, hash)?)
    }

    /// A checkpoint of `state` as stored (header, digest, body): CPU work only, so the caller
    /// holds the projections no longer than it takes.
    /// What each model takes in a checkpoint's body, in bytes (for the scale benchmark).
    pub fn model_sizes(state: &State) -> Result<[(&'static str, usize); 5], CheckpointError> {
        fn size(v: &impl serde::Serialize) -> Result<usize, CheckpointError> {
            Ok(bincode::serde::encode_to_vec(v, config())?.len())
        }
        let p = &state.projections;
        Ok([
            ("registry", size(&p.registry)?),
            ("balances", size(&p.balances)?),
            ("coverage", size(&p.coverage)?),
            ("claims", size(&p.claims)?),
            ("payments", size(&p.payments)?),
        ])
    }

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
    /// The body file is written, synced and renamed into place before the header that names
    /// it; the bodies of older checkpoints are removed after.
    pub fn write(&self, value: Vec<u8>) -> Result<usize, CheckpointError> {
        let bytes = value.len();
        let (header, body) = value.split_at(HEADER_BYTES.min(value.len()));
        let position = header_position(header).ok_or(CheckpointError::Truncated(bytes))?;
        let path = self.body_path(position);
        let file_error = |path: &std::path::Path| {
            let path = path.to_path_buf();
            move |error| CheckpointError::File { path, error }
        };
        let partial = path.with_extension("partial");
        write_synced(&partial, body).map_err(file_error(&partial))?;
        std::fs::rename(&partial, &path).map_err(file_error(&path))?;
        std::fs::File::open(&self.states)
            .and_then(|dir| dir.sync_all())
            .map_err(file_error(&self.states))?;
        // The closed claims archived so far are durable before a header names a state that
        // no longer holds them.
        self.db.flush()?;
        self.db.insert(KEY, header)?;
        self.db.flush()?;
        self.remove_bodies_except(Some(&path));
        self.saved
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(bytes)
    }

    /// Removes every body file but `keep` (best effort: a leftover file only costs space and
    /// is removed by the next checkpoint).
    fn remove_bodies_except(&self, keep: Option<&std::path::Path>) {
        let Ok(entries) = std::fs::read_dir(&self.states) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if Some(path.as_path()) != keep {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// The latest checkpoint, if there is one of this format.
    pub fn load(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        let Some(value) = self.db.get(KEY)? else {
            return Ok(None);
        };
        // Another version (an older layout too) is not this code's to read: rebuilt, not an error.
        if value.get(..4) != Some(&FORMAT_VERSION.to_be_bytes()[..]) {
            return Ok(None);
        }
        if value.len() != HEADER_BYTES {
            return Err(CheckpointError::Truncated(value.len()));
        }
        let (_version, rest) = value.split_at(4);
        let (position, rest) = rest.split_at(8);
        let (hash, stored) = rest.split_at(32);
        let path = self.body_path(header_position(&value).unwrap_or_default());
        let body = std::fs::read(&path).map_err(|error| CheckpointError::File {
            path: path.clone(),
            error,
        })?;
        if digest(&value[..HEADER_BYTES - 32], &body)[..] != *stored {
            return Err(CheckpointError::Damaged);
        }
        let mut position_bytes = [0u8; 8];
        position_bytes.copy_from_slice(position);
        let mut hash_bytes = [0u8; 32];
        hash_bytes.copy_from_slice(hash);
        let (state, _): (State, usize) = bincode::serde::decode_from_slice(&body, config())?;
        Ok(Some(Checkpoint {
            position: u64::from_be_bytes(position_bytes),
            hash: hash_bytes,
            state,
        }))
    }

    pub fn clear(&self) -> Result<(), CheckpointError> {
        self.db.remove(KEY)?;
        self.db.flush()?;
        self.remove_bodies_except(None);
        Ok(())
    }
}

/// The position a checkpoint header records (bytes 4..12), if it is long enough.
fn header_position(header: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = header.get(4..12)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// Writes `bytes` as the whole of a new file at `path`, and syncs it.
fn write_synced(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A checkpoint is due after the interval, and after a tenth of the history once that
    /// is more.
    #[test]
    fn checkpoints_fall_due_after_the_interval_and_a_tenth_of_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path().join("checkpoints"))
            .unwrap()
            .every(100);
        assert!(!store.due(0, 99));
        assert!(store.due(0, 100));
        assert!(!store.due(1000, 1110), "111 new events needed at 1,110");
        assert!(store.due(1000, 1112));
        assert!(store.due(1_000_000, 1_111_112));
        assert!(!store.due(1_000_000, 1_111_110));
    }

    /// Every flipped byte of a stored checkpoint is an error, never another state; an
    /// unopenable store is set aside and replaced by an empty one.
    #[test]
    fn damaged_checkpoints_are_errors_and_unreadable_stores_are_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path().join("checkpoints")).unwrap();
        store.save(&State::default(), [3; 32]).unwrap();
        let header = store.db.get(KEY).unwrap().unwrap().to_vec();
        let body_path = store.body_path(0);
        let body = std::fs::read(&body_path).unwrap();
        // Bytes 4..12 name the body file: a flip there finds no file, also an error.
        for i in (0..header.len()).filter(|i| *i >= 4) {
            let mut damaged = header.clone();
            damaged[i] ^= 0x10;
            store.db.insert(KEY, damaged).unwrap();
            assert!(store.load().is_err(), "a flip at header byte {i} was read");
        }
        // A checkpoint of the layout before body files (version 11, the body in the value)
        // is another version's: ignored, so the start replays the log.
        let older = [&11u32.to_be_bytes()[..], &header[4..], &body].concat();
        store.db.insert(KEY, older).unwrap();
        assert!(store.load().unwrap().is_none());
        store.db.insert(KEY, header).unwrap();
        for i in 0..body.len() {
            let mut damaged = body.clone();
            damaged[i] ^= 0x10;
            std::fs::write(&body_path, &damaged).unwrap();
            assert!(store.load().is_err(), "a flip at body byte {i} was read");
        }
        std::fs::write(&body_path, &body[..body.len() - 1]).unwrap();
        assert!(store.load().is_err(), "a shortened body was read");
        std::fs::remove_file(&body_path).unwrap();
        assert!(
            store.load().is_err(),
            "a missing body was taken for no checkpoint"
        );
        std::fs::write(&body_path, &body).unwrap();
        assert!(store.load().unwrap().is_some());
        // A checkpoint removes the bodies of others (one a crash left behind); clearing
        // removes its own.
        std::fs::write(store.body_path(7), b"left behind").unwrap();
        store.save(&State::default(), [4; 32]).unwrap();
        assert_eq!(std::fs::read_dir(&store.states).unwrap().count(), 1);
        store.clear().unwrap();
        assert!(store.load().unwrap().is_none());
        assert_eq!(std::fs::read_dir(&store.states).unwrap().count(), 0);
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
