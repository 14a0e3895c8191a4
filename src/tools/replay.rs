//! `claims-ledger replay`: every partition's projections rebuilt from its log, with a
//! progress bar, and their digests (what an auditor compares with `GetProjectionDigest`).

use ledger::EventLog;
use ledger::chain::hex;
use projections::Digests;
use projections::canonical::Canonicals;

use super::{Error, open_partition};
use crate::partitioned::layout::Layout;
use crate::processor::{State, replay_observed};

/// What a replay found, as printed.
pub struct Replayed {
    pub events: u64,
    pub seconds: f64,
    pub digests: Digests,
}

impl Replayed {
    pub fn lines(&self) -> Vec<String> {
        let d = &self.digests;
        let mut lines = vec![format!(
            "replayed {} events in {:.2} s ({:.0} events/s)",
            self.events,
            self.seconds,
            self.events as f64 / self.seconds.max(1e-9)
        )];
        for (name, digest) in [
            ("registry", d.registry),
            ("balances", d.balances),
            ("coverage", d.coverage),
            ("claims", d.claims),
            ("payments", d.payments),
            ("combined", d.combined()),
        ] {
            lines.push(format!("{name:>9} {}", hex(&digest)));
        }
        lines
    }
}

/// Replays every partition up to its head (or, in a one-partition ledger, up to `to`);
/// `progress` is told the events replayed so far of `total`.
pub async fn replay(
    layout: &Layout,
    to: Option<u64>,
    mut progress: impl FnMut(u64, u64),
) -> Result<Replayed, Error> {
    if layout.partitions.count() > 1 && to.is_some() {
        return Err("to: a position of a one-partition ledger".into());
    }
    let logs = layout
        .partitions
        .all()
        .map(|p| open_partition(layout, p))
        .collect::<Result<Vec<_>, _>>()?;
    let ends: Vec<u64> = logs
        .iter()
        .map(|log| {
            let head = log.head().next_position;
            to.unwrap_or(head).min(head)
        })
        .collect();
    let total: u64 = ends.iter().sum();
    let started = std::time::Instant::now();
    let mut all = Canonicals::default();
    let mut before = 0;
    for (log, end) in logs.iter().zip(&ends) {
        let state =
            replay_observed(log, State::default(), *end, |p| progress(before + p, total)).await?;
        before += end;
        all.merge(&Canonicals::of(&state.projections));
    }
    for log in &logs {
        log.shutdown().await?;
    }
    Ok(Replayed {
        events: total,
        seconds: started.elapsed().as_secs_f64(),
        digests: all.digests(),
    })
}
