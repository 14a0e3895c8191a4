//! The offline tools and the demo: what an operator or an auditor runs on a data directory
//! (of a stopped server), and the synthetic programme behind `claims-ledger demo`.
//!
//! - [`verify`]: every partition's CRCs and chain, and the anchor over their heads.
//! - [`generate`]: a scheme's history of N households over M months, from a seed.
//! - [`replay`]: every partition's projections rebuilt from its log, and their digests.
//! - [`append_load`]: the crash test's load of concurrent durable appends.
//! - [`transfer`]: export (protobuf-delimited or JSON Lines events, CSV statements) and a
//!   hash-checked import.
//! - [`demo`]: the `demo` subcommand: a synthetic programme through the real gRPC API.
//! - [`rng`]: a seedable generator for synthetic data and reproducible test schedules.

pub mod append_load;
pub mod demo;
pub mod generate;
pub mod replay;
pub mod rng;
pub mod transfer;
pub mod verify;

use std::path::Path;

use ledger::FileLog;
use ledger::partition::Partition;

use crate::partitioned::layout::Layout;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Opens partition `partition`'s log in an existing data directory.
pub fn open_partition(layout: &Layout, partition: Partition) -> Result<FileLog, Error> {
    let path = layout.log_dir(partition);
    if !path.exists() {
        return Err(format!("data-dir: no log in {}", path.display()).into());
    }
    Ok(FileLog::open(path)?)
}

/// The layout of an existing data directory.
pub fn existing(dir: &Path) -> Result<Layout, Error> {
    Ok(Layout::existing(dir)?)
}
