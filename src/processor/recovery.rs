//! After a storage failure (a full disk, Kafka unreachable): waiting for the storage to
//! take writes again.
//!
//! The processor keeps answering queries from the durable log and refuses commands
//! ([`crate::processor::Fault::reads_served`]). The log's handle on its files cannot be
//! trusted after a failed write, so appends do not resume in the process: once a probe of the
//! storage succeeds again (a write to the data directory; on Kafka, the brokers answering
//! too), the server stops gracefully and exits with
//! [`STORAGE_RECOVERED_EXIT`], for its supervisor (systemd `Restart=on-failure`, Kubernetes)
//! to start it again; the restart reopens the log and appends resume.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::processor::Fault;

/// The exit status of a server that stopped because its storage took writes again after a
/// failure (EX_TEMPFAIL: "try again").
pub const STORAGE_RECOVERED_EXIT: u8 = 75;
/// How often the storage is probed while it refuses writes.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// What a probe writes and syncs: room for a few group commits (8 MiB each at most).
pub const PROBE_BYTES: usize = 1 << 20;
const PROBE_FILE: &str = "storage-probe";

/// What tells whether the storage takes writes again (run on a blocking thread).
pub type Probe = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The probe of a data directory: a write of [`PROBE_BYTES`], synced and removed.
pub fn disk_probe(data_dir: PathBuf) -> Probe {
    Arc::new(move || probe(&data_dir).map_err(|e| e.to_string()))
}

/// Resolves once the service has refused appends for a storage failure and `probe`
/// succeeds again. Never resolves while the service is healthy, or after divergence from a
/// bug (which a restart, not free space, fixes).
pub async fn storage_recovered(probe: Probe, mut faults: watch::Receiver<Option<Fault>>) {
    let fault = faults
        .wait_for(|f| f.as_ref().is_some_and(|f| f.reads_served))
        .await
        .map(|fault| fault.clone());
    let Ok(fault) = fault else {
        return std::future::pending().await;
    };
    if fault.is_some_and(|f| f.reason.contains(ledger::log::kafka::FENCED)) {
        // Another node owns the partitions now: restarting would take them back from it
        // (and it from us, in turn). Keep answering queries from what this node has.
        tracing::warn!(
            "fenced: another node took the ledger's partitions over; this node refuses \
             commands and answers queries until an operator stops it"
        );
        return std::future::pending().await;
    }
    tracing::warn!(
        "storage failed: probing it every {}s until it takes writes again",
        PROBE_EVERY.as_secs()
    );
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let probe = probe.clone();
        match tokio::task::spawn_blocking(move || probe()).await {
            Ok(Ok(())) => {
                tracing::warn!(
                    "storage takes writes again: stopping (exit {STORAGE_RECOVERED_EXIT}) so a \
                     restart reopens the log and appends resume"
                );
                return;
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "storage still refuses writes"),
            Err(e) => tracing::debug!(error = %e, "storage probe did not finish"),
        }
    }
}

/// Writes, syncs and removes a file of [`PROBE_BYTES`] in `dir`.
fn probe(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let path = dir.join(PROBE_FILE);
    let written = (|| {
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&vec![0u8; PROBE_BYTES])?;
        file.sync_all()
    })();
    let removed = std::fs::remove_file(&path);
    written.and(removed)
}
