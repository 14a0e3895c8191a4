//! Sponsors' yearly budgets across partitions.
//!
//! Rule: a sponsor's match of a saving is cut to what is left of its yearly budget in the
//! whole ledger: the budget, less what every partition records it gave that year, less what
//! is reserved for savings being decided. Before a saving of a household whose scheme has a
//! sponsor with a budget is decided, the ledger reserves for each such sponsor the most its
//! match could be (the saving times its ratio, rounded as the scheme rounds), within what is
//! left; the saving's partition decides with that reservation as the sponsor's budget
//! (`Command::WithBudgets`), and the reservation is released once the answer is in (by then
//! the partition's projections count the match). Reservations are made one saving at a time,
//! so concurrent savings in different partitions never give more than the budget together;
//! a saving decided after another sees what that one gave, exactly as with one partition.
//!
//! With one partition nothing is reserved: its projections are the whole ledger's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::Datelike;
use ledger::Amount;
use ledger::ids::SponsorId;
use ledger::log::EventLog;
use ledger::partition::{Partition, Partitions};
use projections::registry::{Recipient, Span};

use super::Ledger;
use crate::command::Command;
use crate::processor::CommandError;

type Key = (SponsorId, i32);

/// What is reserved of each sponsor's budget per year, for savings being decided.
#[derive(Debug, Default)]
pub struct Budgets {
    /// One saving reserves at a time.
    reserving: tokio::sync::Mutex<()>,
    reserved: Mutex<HashMap<Key, i128>>,
}

/// Reservations held while a saving is decided; released when dropped.
#[must_use]
pub struct Held {
    budgets: Arc<Budgets>,
    entries: Vec<(Key, i128)>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut reserved = self.budgets.lock();
        for (key, amount) in self.entries.drain(..) {
            if let Some(held) = reserved.get_mut(&key) {
                *held -= amount;
                if *held <= 0 {
                    reserved.remove(&key);
                }
            }
        }
    }
}

impl Budgets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, i128>> {
        self.reserved.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `command` as its partition decides it: a saving matched by sponsors with budgets, with
/// their reservations (held until the answer), or the command itself.
pub async fn reserve<L: EventLog>(
    ledger: &Ledger<L>,
    partition: Partition,
    command: Command,
) -> Result<(Command, Option<Held>), CommandError> {
    let Command::RecordContribution {
        household_id,
        amount,
        received_on,
        ..
    } = &command
    else {
        return Ok((command, None));
    };
    if ledger.partitions() == Partitions::ONE {
        return Ok((command, None));
    }
    let budgeted: Vec<(SponsorId, Amount, Amount)> = {
        let state = ledger.service(partition).state().await;
        let Some(published) = state
            .projections
            .registry
            .household_scheme_on(household_id, *received_on)
        else {
            return Ok((command, None));
        };
        let scheme = &published.scheme;
        scheme
            .sponsors
            .values()
            .filter_map(|s| {
                let budget = s.budget_per_year?;
                Some((
                    s.id.clone(),
                    budget,
                    scheme.apply_percent(*amount, s.match_percent),
                ))
            })
            .collect()
    };
    if budgeted.is_empty() {
        return Ok((command, None));
    }
    let year = received_on.year();
    let budgets = ledger.budgets.clone();
    let _one_at_a_time = budgets.reserving.lock().await;
    let mut left = Vec::with_capacity(budgeted.len());
    let mut entries = Vec::with_capacity(budgeted.len());
    for (sponsor, budget, most) in budgeted {
        let mut given: i128 = 0;
        for service in ledger.services() {
            let state = service.state().await;
            let part =
                state
                    .projections
                    .registry
                    .sponsored(&sponsor, Recipient::All, Span::Year(year));
            given = given.saturating_add(part);
        }
        let key = (sponsor.clone(), year);
        let reserved = budgets.lock().get(&key).copied().unwrap_or(0);
        let free = i128::from(budget.minor_units())
            .saturating_sub(given)
            .saturating_sub(reserved)
            .max(0);
        // At most the match itself, which is an i64 amount.
        let take = free.min(i128::from(most.minor_units().max(0)));
        let take_minor = i64::try_from(take).unwrap_or(0);
        *budgets.lock().entry(key.clone()).or_default() += take;
        entries.push((key, take));
        left.push((sponsor, Amount::new(take_minor, budget.currency())));
    }
    let held = Held {
        budgets: budgets.clone(),
        entries,
    };
    Ok((
        Command::WithBudgets {
            command: Box::new(command),
            left,
        },
        Some(held),
    ))
}
