//! Consistency tokens: "answer from at least these positions".
//!
//! Every answer carries, in the `ledger-positions` header, the positions it reflects at
//! least: each partition's durable head when the request was served (`0:1200,1:877`). A
//! request may carry the positions it must see in `ledger-at-least` (the same form, any
//! subset of the partitions; a command's receipt gives its partition and the offset after its
//! events): it is served once every named partition is durable up to its offset, or refused
//! UNAVAILABLE (reason `BEHIND`) after [`AT_LEAST_WAIT_MAX`]. With one process every
//! answered command is already in the projections, so the wait only matters for positions
//! not yet reached (a node that is behind, in the Kafka deployment).

use std::time::Duration;

use ledger::log::EventLog;
use ledger::partition::Partition;
use tonic::{Code, Status};

use super::Ledger;
use crate::api::status::{error, invalid};

/// The request header naming the positions an answer must reflect.
pub const AT_LEAST_HEADER: &str = "ledger-at-least";
/// The answer header naming the positions it reflects at least.
pub const POSITIONS_HEADER: &str = "ledger-positions";
/// Longest a request waits for the positions it names.
pub const AT_LEAST_WAIT_MAX: Duration = Duration::from_secs(2);
/// Longest `ledger-at-least` value read (every partition's offset fits well within it).
pub const AT_LEAST_BYTES_MAX: usize = 8 * 1024;

/// The positions a `ledger-at-least` value names, each partition at most once.
pub fn parse(value: &str, ledger_partitions: u32) -> Result<Vec<(Partition, u64)>, Status> {
    let bad = |reason: String| invalid(AT_LEAST_HEADER, format!("{AT_LEAST_HEADER}: {reason}"));
    if value.len() > AT_LEAST_BYTES_MAX {
        return Err(bad(format!("longer than {AT_LEAST_BYTES_MAX} bytes")));
    }
    let partitions = ledger::partition::Partitions::new(u64::from(ledger_partitions))
        .map_err(|e| bad(e.to_string()))?;
    let mut positions: Vec<(Partition, u64)> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (p, offset) = item
            .split_once(':')
            .ok_or_else(|| bad(format!("{item:?} is not <partition>:<offset>")))?;
        let p: u32 = p
            .parse()
            .map_err(|_| bad(format!("{p:?} is not a partition")))?;
        let partition = partitions
            .get(p)
            .ok_or_else(|| bad(format!("partition {p} is not below {partitions}")))?;
        let offset: u64 = offset
            .parse()
            .map_err(|_| bad(format!("{offset:?} is not an offset")))?;
        if positions.iter().any(|(q, _)| *q == partition) {
            return Err(bad(format!("partition {p} is named twice")));
        }
        positions.push((partition, offset));
    }
    Ok(positions)
}

impl<L: EventLog> Ledger<L> {
    /// Every partition's durable head, as a `ledger-positions` value.
    pub fn positions(&self) -> String {
        self.services()
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{i}:{}", s.served_position()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until every named partition is durable up to its offset, at most
    /// [`AT_LEAST_WAIT_MAX`] in all.
    pub async fn wait_for(&self, positions: &[(Partition, u64)]) -> Result<(), Status> {
        let reached = async {
            for (partition, offset) in positions {
                if !self.service(*partition).reached(*offset).await {
                    return Err(());
                }
            }
            Ok(())
        };
        match tokio::time::timeout(AT_LEAST_WAIT_MAX, reached).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(())) | Err(_) => Err(error(
                Code::Unavailable,
                "BEHIND",
                AT_LEAST_HEADER,
                format!(
                    "{AT_LEAST_HEADER}: the ledger has not reached the positions asked for in \
                     {} s; it is at {}",
                    AT_LEAST_WAIT_MAX.as_secs(),
                    self.positions()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_read_strictly() {
        let parsed = parse("0:12, 3:4", 4).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!((parsed[1].0.number(), parsed[1].1), (3, 4));
        assert!(parse("", 4).unwrap().is_empty());
        for bad in ["4:1", "0:1,0:2", "x:1", "0:-1", "0", "0:1:2"] {
            let status = parse(bad, 4).unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument, "{bad}");
            assert!(status.message().starts_with(AT_LEAST_HEADER), "{bad}");
        }
    }
}
