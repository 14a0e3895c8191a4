//! The anchored head: an independent, durable record of how far the acknowledged log reached
//! (position and chain hash), in a file of its own beside the log's storage.
//!
//! A storage engine that loses the end of its log (sled treats the first damaged record it
//! has not snapshotted as the end of the log) would otherwise serve a shorter history as if
//! it were whole. The log records its head here whenever the indexer persists a checkpoint
//! and at shutdown; opening a log that ends before the anchored head, or whose chain hash at
//! that position differs, is refused, naming both positions.
//!
//! The file (`head.anchor`, 80 bytes): `"CLHEAD01"`, the next position (u64, big-endian), the
//! chain hash of the last event, and SHA-256 of those 48 bytes, so a damaged anchor is told
//! from a valid one. It is written to a temporary file, fsynced, renamed over the old one,
//! and the directory fsynced: a crash leaves the old anchor or the new one.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Head, LogError};
use crate::chain::sha256;

/// The anchor's file name inside the log's directory.
pub const ANCHOR_FILE: &str = "head.anchor";
const MAGIC: &[u8; 8] = b"CLHEAD01";
const LEN: usize = 8 + 8 + 32 + 32;

fn encode(head: Head) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    out[..8].copy_from_slice(MAGIC);
    out[8..16].copy_from_slice(&head.next_position.to_be_bytes());
    out[16..48].copy_from_slice(&head.hash);
    let check = sha256(&out[..48]);
    out[48..].copy_from_slice(&check);
    out
}

fn decode(bytes: &[u8]) -> Result<Head, String> {
    if bytes.len() != LEN {
        return Err(format!("is {} bytes, expected {LEN}", bytes.len()));
    }
    if &bytes[..8] != MAGIC {
        return Err("does not start with CLHEAD01".into());
    }
    if sha256(&bytes[..48])[..] != bytes[48..] {
        return Err("its checksum does not match its contents".into());
    }
    let mut position = [0u8; 8];
    position.copy_from_slice(&bytes[8..16]);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[16..48]);
    Ok(Head {
        next_position: u64::from_be_bytes(position),
        hash,
    })
}

/// The anchor file of the log stored in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(ANCHOR_FILE)
}

/// The head anchored in `dir`, or None when no anchor was ever written.
pub fn read(dir: &Path) -> Result<Option<Head>, LogError> {
    let file = path(dir);
    match std::fs::read(&file) {
        Ok(bytes) => decode(&bytes).map(Some).map_err(|reason| {
            LogError::Storage(format!(
                "the anchored head {} is damaged: {reason}; it records how far the \
                 acknowledged log reached (restore it from a backup, or remove it to open \
                 the log without that check)",
                file.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::Storage(format!(
            "reading {}: {e}",
            file.display()
        ))),
    }
}

/// Records `head` in `dir` atomically and durably.
pub fn write(dir: &Path, head: Head) -> Result<(), LogError> {
    let file = path(dir);
    let tmp = dir.join(format!("{ANCHOR_FILE}.tmp"));
    let io = |what: &str, e: std::io::Error| {
        LogError::Storage(format!("{what} {}: {e}", file.display()))
    };
    let mut out = std::fs::File::create(&tmp).map_err(|e| io("creating", e))?;
    out.write_all(&encode(head))
        .and_then(|()| out.sync_all())
        .map_err(|e| io("writing", e))?;
    drop(out);
    std::fs::rename(&tmp, &file).map_err(|e| io("renaming into", e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing the directory of", e))
}

/// Refuses a log whose `head` ends before the `anchored` one; the caller checks the chain
/// hash at the anchored position with `hash_at` (the hash of the event before a position).
pub fn check(
    head: Head,
    anchored: Head,
    hash_at: impl FnOnce(u64) -> Result<crate::chain::Hash, LogError>,
) -> Result<(), LogError> {
    if head.next_position < anchored.next_position {
        return Err(LogError::Shortened {
            head: head.next_position,
            anchored: anchored.next_position,
        });
    }
    if hash_at(anchored.next_position)? != anchored.hash {
        return Err(LogError::ChainBroken {
            position: anchored.next_position.saturating_sub(1),
            reason: "the chain hash differs from the anchored head's".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn anchors_round_trip_and_damage_is_told() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let head = Head {
            next_position: 901,
            hash: [7; 32],
        };
        write(dir.path(), head).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(head));
        let bytes = std::fs::read(path(dir.path())).unwrap();
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x01;
            std::fs::write(path(dir.path()), &damaged).unwrap();
            assert!(read(dir.path()).is_err(), "a flip at byte {i} went unseen");
        }
    }

    #[test]
    fn a_shorter_log_or_another_chain_is_refused() {
        let anchored = Head {
            next_position: 901,
            hash: [7; 32],
        };
        let shorter = Head {
            next_position: 539,
            hash: [1; 32],
        };
        assert_eq!(
            check(shorter, anchored, |_| Ok([7; 32])),
            Err(LogError::Shortened {
                head: 539,
                anchored: 901
            })
        );
        let longer = Head {
            next_position: 1000,
            hash: [2; 32],
        };
        assert!(check(longer, anchored, |_| Ok([7; 32])).is_ok());
        assert!(matches!(
            check(longer, anchored, |_| Ok([8; 32])),
            Err(LogError::ChainBroken { position: 900, .. })
        ));
    }
}
