//! Where a ledger's partitions live in its data directory, and how many it has.
//!
//! ```text
//! data/partitions                 the partition count P, fixed when the ledger is created
//! data/log/, data/checkpoints/    P = 1: the one partition (the layout before partitions)
//! data/partitions.d/003/log/      P > 1: partition 3's segment log
//! data/partitions.d/003/checkpoints/
//! ```
//!
//! A directory holding a log but no `partitions` file was written before partitions: it is
//! a one-partition ledger, and the file is written saying so. Opening with another count than
//! the recorded one is refused: the count decides where every key lives, so changing it is
//! an export and an import.
//!
//! The file holds the count and a SHA-256 of it (`4` then the hex digest of `partitions 4`),
//! so a damaged count is refused instead of read as another; and the directories must agree
//! with it: partitions without the file, partition directories beyond the count, or some of
//! the count's missing while others exist, refuse to open.

use std::io::Write;
use std::path::{Path, PathBuf};

use ledger::partition::{Partition, Partitions};

/// The file recording the partition count.
pub const PARTITIONS_FILE: &str = "partitions";
/// The directory holding the partitions of a ledger with more than one.
pub const PARTITIONS_DIR: &str = "partitions.d";

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{path}: not a partition count with its checksum ({text:?}); restore the data \
         directory from a backup"
    )]
    Unreadable { path: PathBuf, text: String },
    #[error("{dir}: {reason}; restore the data directory from a backup")]
    Inconsistent { dir: PathBuf, reason: String },
    #[error(
        "partitions: the ledger in {dir} has {recorded} partitions, not {asked}; the count \
         decides where every household and facility lives, so changing it is an export and \
         an import (README, \"Moving a data directory\")"
    )]
    CountDiffers {
        dir: PathBuf,
        recorded: Partitions,
        asked: Partitions,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LayoutError + '_ {
    move |error| LayoutError::Io {
        path: path.to_owned(),
        error,
    }
}

/// A data directory's partitions: their count and where each one's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub dir: PathBuf,
    pub partitions: Partitions,
}

impl Layout {
    /// Opens the layout of `dir`, creating it with `asked` partitions when new (None: 1, or
    /// whatever the directory records).
    pub fn open(dir: &Path, asked: Option<Partitions>) -> Result<Layout, LayoutError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let recorded = recorded(dir)?;
        if recorded.is_none() && dir.join(PARTITIONS_DIR).exists() {
            return Err(LayoutError::Inconsistent {
                dir: dir.to_owned(),
                reason: format!(
                    "{PARTITIONS_DIR}/ holds partitions but {PARTITIONS_FILE} is missing"
                ),
            });
        }
        let partitions = match (recorded, asked) {
            (Some(recorded), Some(asked)) if recorded != asked => {
                return Err(LayoutError::CountDiffers {
                    dir: dir.to_owned(),
                    recorded,
                    asked,
                });
            }
            (Some(recorded), _) => recorded,
            (None, asked) => {
                // A log without the file predates partitions: one partition.
                let count = if dir.join("log").exists() {
                    Partitions::ONE
                } else {
                    asked.unwrap_or(Partitions::ONE)
                };
                if let Some(asked) = asked.filter(|&a| a != count) {
                    return Err(LayoutError::CountDiffers {
                        dir: dir.to_owned(),
                        recorded: count,
                        asked,
                    });
                }
                record(dir, count)?;
                count
            }
        };
        let layout = Layout {
            dir: dir.to_owned(),
            partitions,
        };
        layout.check_directories()?;
        Ok(layout)
    }

    /// The partition directories agree with the count: with one partition there are none;
    /// with more, none beyond the count, and either all of them or none (a new ledger).
    fn check_directories(&self) -> Result<(), LayoutError> {
        let root = self.dir.join(PARTITIONS_DIR);
        let inconsistent = |reason: String| LayoutError::Inconsistent {
            dir: self.dir.clone(),
            reason,
        };
        let listed: Vec<String> = match std::fs::read_dir(&root) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&root)(e)),
        };
        if self.partitions == Partitions::ONE {
            if listed.is_empty() {
                return Ok(());
            }
            return Err(inconsistent(format!(
                "{PARTITIONS_FILE} says one partition but {PARTITIONS_DIR}/ holds {}",
                listed.len()
            )));
        }
        let expected: Vec<String> = self
            .partitions
            .all()
            .map(|p| format!("{:03}", p.number()))
            .collect();
        if let Some(extra) = listed.iter().find(|name| !expected.contains(name)) {
            return Err(inconsistent(format!(
                "{PARTITIONS_DIR}/{extra} is not one of the {} partitions",
                self.partitions
            )));
        }
        if !listed.is_empty() && listed.len() != expected.len() {
            return Err(inconsistent(format!(
                "{PARTITIONS_DIR}/ holds {} of the {} partitions",
                listed.len(),
                self.partitions
            )));
        }
        Ok(())
    }

    /// Reads the layout of an existing directory (the offline tools), without creating it.
    pub fn existing(dir: &Path) -> Result<Layout, LayoutError> {
        let partitions = recorded(dir)?.unwrap_or(Partitions::ONE);
        let layout = Layout {
            dir: dir.to_owned(),
            partitions,
        };
        layout.check_directories()?;
        Ok(layout)
    }

    /// Creates every partition's directory (a new ledger's, before any is used).
    pub fn create_partition_dirs(&self) -> Result<(), LayoutError> {
        for partition in self.partitions.all() {
            let dir = self.partition_dir(partition);
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(())
    }

    /// The directory of `partition`'s files.
    pub fn partition_dir(&self, partition: Partition) -> PathBuf {
        if self.partitions == Partitions::ONE {
            self.dir.clone()
        } else {
            self.dir
                .join(PARTITIONS_DIR)
                .join(format!("{:03}", partition.number()))
        }
    }

    pub fn log_dir(&self, partition: Partition) -> PathBuf {
        self.partition_dir(partition).join("log")
    }

    pub fn checkpoints_dir(&self, partition: Partition) -> PathBuf {
        self.partition_dir(partition).join("checkpoints")
    }
}

fn recorded(dir: &Path) -> Result<Option<Partitions>, LayoutError> {
    let path = dir.join(PARTITIONS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    let mut lines = text.lines();
    let (count, digest) = (lines.next(), lines.next());
    let partitions = count
        .and_then(|c| c.parse::<u64>().ok())
        .and_then(|n| Partitions::new(n).ok())
        .filter(|p| digest == Some(checksum(*p).as_str()) && lines.next().is_none());
    match partitions {
        Some(p) => Ok(Some(p)),
        None => Err(LayoutError::Unreadable { path, text }),
    }
}

/// The checksum line of a count: the hex SHA-256 of `partitions <count>`.
fn checksum(partitions: Partitions) -> String {
    let digest = ledger::chain::sha256(format!("partitions {partitions}").as_bytes());
    ledger::chain::hex(&digest)
}

/// Writes the count durably: a temporary file synced, renamed, and the directory synced.
fn record(dir: &Path, partitions: Partitions) -> Result<(), LayoutError> {
    let path = dir.join(PARTITIONS_FILE);
    let temporary = dir.join(format!("{PARTITIONS_FILE}.new"));
    let mut file = std::fs::File::create(&temporary).map_err(io(&temporary))?;
    writeln!(file, "{partitions}\n{}", checksum(partitions)).map_err(io(&temporary))?;
    file.sync_all().map_err(io(&temporary))?;
    std::fs::rename(&temporary, &path).map_err(io(&path))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(n: u64) -> Partitions {
        Partitions::new(n).unwrap()
    }

    #[test]
    fn the_count_is_recorded_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::open(dir.path(), Some(count(4))).unwrap();
        assert_eq!(layout.partitions, count(4));
        assert_eq!(
            layout.log_dir(count(4).get(3).unwrap()),
            dir.path().join("partitions.d/003/log")
        );
        // Opening again without a count finds it; with another count is refused.
        assert_eq!(Layout::open(dir.path(), None).unwrap().partitions, count(4));
        let refused = Layout::open(dir.path(), Some(count(2))).unwrap_err();
        assert!(
            refused.to_string().contains("has 4 partitions, not 2"),
            "{refused}"
        );
        assert_eq!(Layout::existing(dir.path()).unwrap().partitions, count(4));
    }

    #[test]
    fn a_directory_from_before_partitions_is_one_partition_in_place() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("log")).unwrap();
        let layout = Layout::open(dir.path(), None).unwrap();
        assert_eq!(layout.partitions, Partitions::ONE);
        assert_eq!(layout.log_dir(Partition::FIRST), dir.path().join("log"));
        assert!(Layout::open(dir.path(), Some(count(2))).is_err());
        let text = std::fs::read_to_string(dir.path().join(PARTITIONS_FILE)).unwrap();
        assert!(text.starts_with("1\n"), "{text}");
    }

    #[test]
    fn an_unreadable_or_damaged_count_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PARTITIONS_FILE), "many\n").unwrap();
        let refused = Layout::open(dir.path(), None).unwrap_err();
        assert!(
            matches!(refused, LayoutError::Unreadable { .. }),
            "{refused}"
        );
        // A count changed by one digit no longer matches its checksum.
        let dir = tempfile::tempdir().unwrap();
        Layout::open(dir.path(), Some(count(4))).unwrap();
        let path = dir.path().join(PARTITIONS_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen('4', "5", 1)).unwrap();
        let refused = Layout::existing(dir.path()).unwrap_err();
        assert!(
            matches!(refused, LayoutError::Unreadable { .. }),
            "{refused}"
        );
    }

    #[test]
    fn the_directories_must_agree_with_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::open(dir.path(), Some(count(4))).unwrap();
        for p in count(4).all() {
            std::fs::create_dir_all(layout.log_dir(p)).unwrap();
        }
        assert!(Layout::open(dir.path(), None).is_ok());
        // A missing partition, an extra one, a missing count file: refused.
        std::fs::remove_dir_all(layout.partition_dir(count(4).get(2).unwrap())).unwrap();
        let refused = Layout::open(dir.path(), None).unwrap_err();
        assert!(
            refused.to_string().contains("holds 3 of the 4"),
            "{refused}"
        );
        std::fs::create_dir_all(dir.path().join("partitions.d/002")).unwrap();
        std::fs::create_dir_all(dir.path().join("partitions.d/004")).unwrap();
        let refused = Layout::open(dir.path(), None).unwrap_err();
        assert!(
            refused.to_string().contains("004 is not one of"),
            "{refused}"
        );
        std::fs::remove_dir_all(dir.path().join("partitions.d/004")).unwrap();
        std::fs::remove_file(dir.path().join(PARTITIONS_FILE)).unwrap();
        let refused = Layout::open(dir.path(), None).unwrap_err();
        assert!(refused.to_string().contains("is missing"), "{refused}");
    }
}
