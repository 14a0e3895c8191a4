//! What every partition records: scheme versions (and period closes, `super::close`).
//!
//! Rule: a scheme version is published in partition 0 first (which decides it: the version
//! number, its order, its document), then the same command in every other partition, in
//! partition order, under the same request id. Every partition then decides claims,
//! premiums and stock visits against the same scheme versions with no cross-partition read.
//! Publications are serialized (a lock): two publications of one scheme reach every
//! partition in the same order, so every partition decides each the same way.
//!
//! A crash between partitions leaves some without the version: the next start records it
//! in those (under a request id derived from the scheme and version), before any command
//! is taken; a retry of the request meanwhile records it too. The caller's answer is
//! partition 0's.

use ledger::RequestId;
use ledger::log::EventLog;
use ledger::partition::Partition;

use super::Ledger;
use crate::command::{Command, Rejection};
use crate::processor::{CommandError, Executed, StartError};

/// Executes a command every partition records (`Route::Every`).
pub async fn execute<L: EventLog>(
    ledger: &Ledger<L>,
    request_id: RequestId,
    command: Command,
) -> Result<Executed, CommandError> {
    let _one_at_a_time = ledger.broadcasts.lock().await;
    match command {
        Command::PublishScheme { .. } => {}
        Command::ClosePaymentPeriod { .. } => {
            return super::close::execute(ledger, request_id, command).await;
        }
        _ => {
            return Err(CommandError::Unavailable(
                "only scheme versions and period closes are recorded in every partition".into(),
            ));
        }
    }
    let first = ledger
        .execute_in(Partition::FIRST, request_id.clone(), command.clone())
        .await?;
    for partition in ledger.partitions().all().skip(1) {
        replicate(ledger, partition, request_id.clone(), command.clone()).await?;
    }
    Ok(first)
}

/// Records in `partition` what partition 0 took.
async fn replicate<L: EventLog>(
    ledger: &Ledger<L>,
    partition: Partition,
    request_id: RequestId,
    command: Command,
) -> Result<(), CommandError> {
    match ledger.execute_in(partition, request_id, command).await {
        // Recorded there before, under another request id (a start that completed it).
        Ok(_) | Err(CommandError::Rejected(Rejection::SchemeVersionExists { .. })) => Ok(()),
        Err(e) => Err(CommandError::Unavailable(format!(
            "partition {partition} did not record what partition 0 took ({e}); the next \
             start records it"
        ))),
    }
}

/// The request id under which a start records a scheme version a partition lacks.
fn completion_id(scheme: &str, version: u32) -> Result<RequestId, StartError> {
    super::derived_request("replica-scheme", &format!("{scheme}\u{0}{version}"), 24)
        .map_err(|e| StartError::Log(ledger::LogError::Storage(e.to_string())))
}

/// Records in every partition the scheme versions partition 0 holds and it lacks, in
/// version order.
pub async fn complete<L: EventLog>(ledger: &Ledger<L>) -> Result<(), StartError> {
    let published: Vec<(String, u32, Command)> = {
        let first = ledger.service(Partition::FIRST).state().await;
        first
            .projections
            .registry
            .schemes
            .iter()
            .flat_map(|(id, versions)| {
                versions.iter().map(move |v| {
                    let command = Command::PublishScheme {
                        document: v.document.clone(),
                        effective_from: v.effective_from,
                    };
                    (id.to_string(), v.version, command)
                })
            })
            .collect()
    };
    for partition in ledger.partitions().all().skip(1) {
        for (scheme, version, command) in &published {
            let held = {
                let state = ledger.service(partition).state().await;
                let id = scheme.parse().ok();
                id.and_then(|id| state.projections.registry.schemes.get(&id).cloned())
                    .is_some_and(|versions| versions.iter().any(|v| v.version == *version))
            };
            if held {
                continue;
            }
            tracing::warn!(%partition, %scheme, version, "recording a scheme version partition 0 holds");
            replicate(
                ledger,
                partition,
                completion_id(scheme, *version)?,
                command.clone(),
            )
            .await
            .map_err(|e| StartError::Log(ledger::LogError::Storage(e.to_string())))?;
        }
    }
    Ok(())
}
