//! A period close across partitions (the rule is in `crate::command::period_close`).
//!
//! 1. The cut: the close is recorded in every partition, partition 0 first (which decides
//!    it: an unknown scheme, a period closed with other dates), under the call's request id.
//!    A partition that recorded it before (a further call) is skipped.
//! 2. The statements: once every partition has recorded it, the next statements are built
//!    from every partition's projections and recorded in each facility's partition (one
//!    append per partition), under a request id derived from the call's.
//!
//! Closes are serialized with every other command recorded in all partitions. A retry of a
//! call (its request id is in partition 0) answers what the call recorded, in every
//! partition. A call cut short by a crash is completed by the next call of the period (a new
//! request id): it records the close where it is missing, then continues the statements.

use std::collections::BTreeMap;

use ledger::RequestId;
use ledger::event::{Event, FacilityStatementIssued};
use ledger::log::EventLog;
use ledger::partition::Partition;
use projections::Projections;

use super::Ledger;
use crate::command::period_close::{Close, Recorded, next_statements, recorded};
use crate::command::{Command, Rejection, Subject};
use crate::processor::{CommandError, Executed, Receipt};

/// Closes a period (a `ClosePaymentPeriod`), or continues its statements.
pub async fn execute<L: EventLog>(
    ledger: &Ledger<L>,
    request_id: RequestId,
    command: Command,
) -> Result<Executed, CommandError> {
    let Command::ClosePaymentPeriod {
        period_id,
        scheme_id,
        starts_on,
        ends_on,
        closed_on,
    } = &command
    else {
        return Err(CommandError::Unavailable("not a period close".into()));
    };
    let close = Close {
        period_id,
        scheme_id,
        starts_on: *starts_on,
        ends_on: *ends_on,
        closed_on: *closed_on,
    };
    if let Some(answer) = retry_answer(ledger, &request_id, &command, period_id).await? {
        return Ok(answer);
    }
    let closed = record_cut(ledger, &request_id, &command, &close).await?;
    let parts = {
        let states = ledger.read_all().await?;
        let projections: Vec<&Projections> = states.iter().map(|s| &s.projections).collect();
        next_statements(&projections, &close, |f| {
            ledger.facility_partition(f).index()
        })?
    };
    let mut by_partition: BTreeMap<Partition, Vec<FacilityStatementIssued>> = BTreeMap::new();
    for part in parts {
        by_partition
            .entry(ledger.facility_partition(&part.facility_id))
            .or_default()
            .push(part);
    }
    let (mut receipt, mut events) = match closed {
        Some(executed) => (Some(executed.receipt), executed.events),
        None => (None, Vec::new()),
    };
    let statements_id = statements_request(&request_id)?;
    for (partition, parts) in by_partition {
        let executed = ledger
            .execute_in(
                partition,
                statements_id.clone(),
                Command::RecordStatements { parts },
            )
            .await
            .map_err(|e| {
                CommandError::Unavailable(format!(
                    "partition {partition} did not take the statements of {period_id} ({e}); \
                     the next call of the period issues them"
                ))
            })?;
        events.extend(executed.events);
        receipt.get_or_insert(executed.receipt);
    }
    match receipt {
        Some(receipt) => Ok(Executed { receipt, events }),
        None => Err(Rejection::PeriodClosed(period_id.clone()).into()),
    }
}

/// The first answer to a call under `request_id`, if one was made: the close it recorded in
/// partition 0, or (a further call) the statements it issued.
async fn retry_answer<L: EventLog>(
    ledger: &Ledger<L>,
    request_id: &RequestId,
    command: &Command,
    period: &ledger::ids::PeriodId,
) -> Result<Option<Executed>, CommandError> {
    let first = ledger.service(Partition::FIRST).log();
    if first
        .request_positions(request_id)
        .await
        .map_err(unavailable)?
        .is_some()
    {
        // Partition 0 answers a retry, and refuses the id of another command.
        let receipt = ledger
            .execute_in(Partition::FIRST, request_id.clone(), command.clone())
            .await?
            .receipt;
        let events = recorded_by(ledger, request_id).await?;
        return Ok(Some(Executed { receipt, events }));
    }
    let statements_id = statements_request(request_id)?;
    for partition in ledger.partitions().all() {
        let log = ledger.service(partition).log();
        let Some(range) = log
            .request_positions(&statements_id)
            .await
            .map_err(unavailable)?
        else {
            continue;
        };
        let events = recorded_by(ledger, request_id).await?;
        let same = events
            .iter()
            .all(|e| matches!(e, Event::FacilityStatementIssued(s) if &s.period_id == period));
        if !same {
            return Err(Rejection::RequestIdReused(request_id.clone()).into());
        }
        let receipt = Receipt {
            partition: partition.number(),
            first_position: range.start,
            count: (range.end - range.start) as u32,
            subject: Subject::None,
            already_done: true,
        };
        return Ok(Some(Executed { receipt, events }));
    }
    Ok(None)
}

/// Records the close in every partition that has not, partition 0 first; returns partition
/// 0's answer if it recorded it now.
async fn record_cut<L: EventLog>(
    ledger: &Ledger<L>,
    request_id: &RequestId,
    command: &Command,
    close: &Close<'_>,
) -> Result<Option<Executed>, CommandError> {
    let mut closed = None;
    for partition in ledger.partitions().all() {
        let held = recorded(&ledger.read(partition).await?.projections, close);
        match (held, partition == Partition::FIRST) {
            (Recorded::Same, _) => {}
            (Recorded::Other, true) => {
                return Err(Rejection::PeriodClosed(close.period_id.clone()).into());
            }
            (Recorded::Other, false) => {
                return Err(CommandError::Unavailable(format!(
                    "partition {partition} holds period {} with other dates than partition 0",
                    close.period_id
                )));
            }
            (Recorded::No, true) => {
                closed = Some(
                    ledger
                        .execute_in(partition, request_id.clone(), command.clone())
                        .await?,
                );
            }
            (Recorded::No, false) => {
                ledger
                    .execute_in(partition, request_id.clone(), command.clone())
                    .await
                    .map_err(|e| {
                        CommandError::Unavailable(format!(
                            "partition {partition} did not record the close of {} ({e}); the \
                             next call of the period records it",
                            close.period_id
                        ))
                    })?;
            }
        }
    }
    Ok(closed)
}

/// What a close call recorded, in partition order: partition 0's close, then the
/// statements it issued in every partition.
async fn recorded_by<L: EventLog>(
    ledger: &Ledger<L>,
    request_id: &RequestId,
) -> Result<Vec<Event>, CommandError> {
    let statements_id = statements_request(request_id)?;
    let mut events = Vec::new();
    for (i, service) in ledger.services().iter().enumerate() {
        let log = service.log();
        let mut ids = vec![&statements_id];
        if i == 0 {
            ids.insert(0, request_id);
        }
        for id in ids {
            if let Some(range) = log.request_positions(id).await.map_err(unavailable)? {
                let count = (range.end - range.start) as usize;
                let read = log.read(range.start, count).await.map_err(unavailable)?;
                events.extend(read.into_iter().map(|e| e.event));
            }
        }
    }
    Ok(events)
}

/// The request id of the statements a close call issues: derived from the call's, so a
/// retry finds them.
fn statements_request(request_id: &RequestId) -> Result<RequestId, CommandError> {
    super::derived_request("statements", request_id.as_str(), 32)
        .map_err(|e| CommandError::Unavailable(e.to_string()))
}

fn unavailable(e: impl std::fmt::Display) -> CommandError {
    CommandError::Unavailable(e.to_string())
}
