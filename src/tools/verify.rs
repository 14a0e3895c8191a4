//! `claims-ledger verify`: checks every record's CRCs and recomputes every partition's chain,
//! and prints the anchor pinning all of them (`ledger::chain::anchor`).

use ledger::EventLog;
use ledger::chain::{anchor, hex};
use ledger::partition::Partition;

use super::{Error, open_partition};
use crate::partitioned::layout::Layout;

/// What a verification found, as printed.
pub struct Verified {
    pub lines: Vec<String>,
    /// Every range checked out.
    pub ok: bool,
}

/// Verifies `from..to` of one partition (the only one of a one-partition ledger), or every
/// partition in full when none is named.
pub async fn verify(
    layout: &Layout,
    partition: Option<u32>,
    from: u64,
    to: Option<u64>,
) -> Result<Verified, Error> {
    let several = layout.partitions.count() > 1;
    let partitions: Vec<Partition> = match partition {
        Some(n) => vec![layout.partitions.get(n).ok_or_else(|| {
            format!(
                "partition: {n} is not below the ledger's {} partitions",
                layout.partitions
            )
        })?],
        None if several && (from != 0 || to.is_some()) => {
            return Err("partition: --from and --to name positions of one partition".into());
        }
        None => layout.partitions.all().collect(),
    };
    let mut verified = Verified {
        lines: Vec::new(),
        ok: true,
    };
    let mut heads = Vec::new();
    for p in partitions.iter().copied() {
        let log = open_partition(layout, p)?;
        let head = log.head().next_position;
        let end = to.unwrap_or(head);
        let report = log.verify(from, end).await?;
        log.shutdown().await?;
        let prefix = if several {
            format!("partition {p}: ")
        } else {
            String::new()
        };
        let line = match report.first_bad {
            None if from == 0 && end == head => {
                heads.push((head, report.last_hash));
                format!("ok: {end} events, head hash {}", hex(&report.last_hash))
            }
            None => format!(
                "ok: events {from}..{end} of {head}, hash at {end} {}",
                hex(&report.last_hash)
            ),
            Some((position, reason)) => {
                verified.ok = false;
                format!("broken at position {position}: {reason}")
            }
        };
        verified.lines.push(format!("{prefix}{line}"));
    }
    if several && partition.is_none() && verified.ok {
        let events: u64 = heads.iter().map(|(n, _)| n).sum();
        verified.lines.push(format!(
            "ok: {events} events in {} partitions, anchor {}",
            layout.partitions,
            hex(&anchor(&heads))
        ));
    }
    Ok(verified)
}
