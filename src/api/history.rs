//! History, for queries: what the projections (the decide state) keep only the positions
//! of, read back from the partition's log. A claim's diagnoses, findings and reviewers'
//! comments, and a statement's lines, are never held in memory; this is where queries find
//! them.

use ledger::EventLog;
use ledger::event::{Event, StatementLine};
use projections::claims::ClaimRecord;
use projections::claims::detail::{CLAIM_EVENTS_READ_MAX, ClaimDetail};
use projections::payments::Statement;

/// Up to `max` lines of `statement` from line `from` (0-based, over its parts in order), read
/// from the events of the parts that hold them.
pub async fn statement_lines<L: EventLog>(
    log: &L,
    statement: &Statement,
    from: u64,
    max: usize,
) -> Result<Vec<StatementLine>, String> {
    let mut lines = Vec::new();
    let mut first = 0u64; // the number of the part's first line
    for part in &statement.parts {
        let after = first + u64::from(part.lines);
        if lines.len() >= max {
            break;
        }
        if after > from {
            let read = log
                .read(part.position, 1)
                .await
                .map_err(|e| format!("statement part at {}: {e}", part.position))?;
            let Some(Event::FacilityStatementIssued(issued)) =
                read.into_iter().next().map(|r| r.event)
            else {
                return Err(format!(
                    "the log holds no statement part at {}",
                    part.position
                ));
            };
            let skip = from.saturating_sub(first) as usize;
            let want = max - lines.len();
            lines.extend(issued.lines.into_iter().skip(skip).take(want));
        }
        first = after;
    }
    Ok(lines)
}

/// A claim's record and its events from `log`: the submission, the decision, reviews (the
/// first [`CLAIM_EVENTS_READ_MAX`] events in all) and the reversal. An error means the log and
/// the projections disagree, or the log cannot be read.
pub async fn detail<L: EventLog>(log: &L, record: ClaimRecord) -> Result<ClaimDetail, String> {
    let mut positions: Vec<u64> = record.events.clone();
    if positions.len() > CLAIM_EVENTS_READ_MAX {
        // Keep the reversal (the last event) when there is one beyond the cap.
        let last = positions.pop();
        positions.truncate(CLAIM_EVENTS_READ_MAX - 1);
        positions.extend(last);
    }
    let mut events = Vec::with_capacity(positions.len());
    for run in runs(&positions) {
        let read = log
            .read(run.start, (run.end - run.start) as usize)
            .await
            .map_err(|e| format!("claim {}: {e}", record.claim_id))?;
        if read.len() as u64 != run.end - run.start {
            return Err(format!(
                "claim {}: events {run:?} are not in the log",
                record.claim_id
            ));
        }
        events.extend(read.into_iter().map(|r| r.event));
    }
    ClaimDetail::new(record, events)
}

/// Every claim of `records` in full, in order.
pub async fn details<L: EventLog>(
    log: &L,
    records: Vec<ClaimRecord>,
) -> Result<Vec<ClaimDetail>, String> {
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        out.push(detail(log, record).await?);
    }
    Ok(out)
}

/// Sorted positions as ranges of consecutive ones (a submission and its decision are
/// usually next to each other: one read).
fn runs(positions: &[u64]) -> Vec<std::ops::Range<u64>> {
    let mut runs: Vec<std::ops::Range<u64>> = Vec::new();
    for &p in positions {
        match runs.last_mut() {
            Some(run) if run.end == p => run.end += 1,
            _ => runs.push(p..p + 1),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::runs;

    #[test]
    fn consecutive_positions_are_read_together() {
        assert_eq!(runs(&[4, 5, 9, 10, 11, 20]), [4..6, 9..12, 20..21]);
        assert!(runs(&[]).is_empty());
    }
}
