//! The hidden `append-load` command: concurrent writers appending wallet contributions to one
//! or several segment logs, printing `ack <request id> <log> <first position> <count>` once
//! each append is durable. The crash test SIGKILLs it mid-load and checks every acknowledged
//! append survived.

use std::io::Write as _;
use std::path::Path;

use ledger::event::{ContributionReceived, Event, PaymentChannel, StreamId};
use ledger::ids::{HouseholdId, ReceiptId, RequestId};
use ledger::{Amount, AppendRequest, Currency, Date, EventLog, FileLog, NewEvent};

use super::Error;

/// What to run: `writers` tasks, each making `appends` appends of 1 to 5 events, over `logs`
/// logs in `data_dir` (one log in it, or `p<i>` for each of several).
pub struct Load<'a> {
    pub data_dir: &'a Path,
    pub run: &'a str,
    pub writers: usize,
    pub appends: usize,
    pub logs: usize,
}

/// A wallet contribution of `minor` KES cents to `household`, under `receipt`.
fn contribution(household: &str, receipt: &str, minor: i64) -> Result<NewEvent, Error> {
    let household_id: HouseholdId = household.parse()?;
    Ok(NewEvent {
        stream: StreamId::household(&household_id),
        event: Event::ContributionReceived(ContributionReceived {
            receipt_id: receipt.parse::<ReceiptId>()?,
            household_id,
            member_id: None,
            amount: Amount::new(minor, Currency::KES),
            channel: PaymentChannel::MobileMoney,
            received_on: Date::from_ymd_opt(2026, 11, 2).ok_or("date")?,
        }),
    })
}

/// One writer's appends, each acknowledged on standard output once durable.
async fn write(
    log: FileLog,
    log_index: usize,
    run: String,
    w: usize,
    appends: usize,
) -> Result<(), Error> {
    for i in 0..appends {
        let count = 1 + (i + w) % 5;
        let id = format!("{run}-w{w}-a{i}-n{count}");
        let household = format!("HH-{w}-{}", i % 40);
        let events = (0..count)
            .map(|k| contribution(&household, &format!("{id}-e{k}"), 100 + k as i64))
            .collect::<Result<_, _>>()?;
        let request = AppendRequest::new(id.parse::<RequestId>()?, events);
        let outcome = log.append(request).await?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "ack {id} {log_index} {} {}",
            outcome.first_position, outcome.count
        )?;
        out.flush()?;
    }
    Ok(())
}

/// Runs the load to its end, then shuts the logs down.
pub async fn run(load: Load<'_>) -> Result<(), Error> {
    let logs: Vec<FileLog> = match load.logs {
        0 | 1 => vec![FileLog::open(load.data_dir)?],
        n => (0..n)
            .map(|i| FileLog::open(load.data_dir.join(format!("p{i}"))))
            .collect::<Result<_, _>>()?,
    };
    let tasks: Vec<_> = (0..load.writers)
        .map(|w| {
            let log_index = w % logs.len();
            let log = logs[log_index].clone();
            tokio::spawn(write(log, log_index, load.run.to_owned(), w, load.appends))
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    for log in logs {
        log.shutdown().await?;
    }
    Ok(())
}
