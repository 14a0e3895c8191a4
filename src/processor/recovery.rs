//! After a storage failure (a full disk): waiting for the storage to take writes again.
//!
//! The processor keeps answering queries from the durable log and refuses commands
//! ([`crate::processor::Fault::reads_served`]). The log's handle on its files cannot be
//! trusted after a failed write, so appends do not resume in the process: once a probe write
//! to the data directory succeeds again, the server stops gracefully and exits with
//! [`STORAGE_RECOVERED_EXIT`], for its supervisor (systemd `Restart=on-failure`, Kubernetes)
//! to start it again; the restart reopens the log and appends resume.

use std::path::{Path, PathBuf};
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

/// Resolves once the service has refused appends for a storage failure and a probe write of
/// [`PROBE_BYTES`] to `data_dir` succeeds again. Never resolves while the service is
/// healthy, or after divergence from a bug (which a restart, not free space, fixes).
pub async fn storage_recovered(data_dir: PathBuf, mut faults: watch::Receiver<Option<Fault>>) {
    if faults
        .wait_for(|f| f.as_ref().is_some_and(|f| f.reads_served))
        .await
        .is_err()
    {
        return std::future::pending().await;
    }
    tracing::warn!(
        dir = %data_dir.display(),
        "storage failed: probing it every {}s until it takes writes again",
        PROBE_EVERY.as_secs()
    );
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let dir = data_dir.clone();
        match tokio::task::spawn_blocking(move || probe(&dir)).await {
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
