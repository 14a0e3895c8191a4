//! An account's history by business date: the days that moved it, and the blocks of wallet
//! days a period close takes out of memory.

use ledger::ids::HouseholdId;
use ledger::{Currency, Date};

/// What moved an account on one business date, for as-of queries: debits and credits (a
/// positive sum) in minor units. A day whose sums would leave the `i64` range continues in a
/// second `Day` of the same date, so the history of a busy account (premium income, a
/// facility's payable) grows with its days, not its postings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Day {
    pub(super) date: Date,
    pub(super) debits: i64,
    pub(super) credits: i64,
}

impl Day {
    fn new(date: Date) -> Day {
        Day {
            date,
            debits: 0,
            credits: 0,
        }
    }

    /// The day with `delta` added (debit positive), or None beyond the `i64` range.
    fn plus(self, delta: i64) -> Option<Day> {
        Some(if delta >= 0 {
            Day {
                debits: self.debits.checked_add(delta)?,
                ..self
            }
        } else {
            Day {
                credits: self.credits.checked_add(delta.checked_neg()?)?,
                ..self
            }
        })
    }
}

/// An account's balance in one currency and what moved it, day by day (in date order).
///
/// The balance is an `i128` so that no history can overflow it: every movement is one
/// event's amount, at most `ledger::bounds::AMOUNT_MAX` (< 2^60) in magnitude, and a log holds
/// fewer than 2^64 events, so a balance, and the sum of every balance's magnitude (the trial
/// balance's partial sums), stays below 2^124 < `i128::MAX`. Accessors that answer in
/// [`ledger::Amount`] (an `i64`) say what they do beyond its range.
///
/// Days before a close's cut can leave `days` ([`super::Balances::close_wallet_days_before`]):
/// their sums stay in `closed`, so the balance and totals from the cut on are still answered
/// from memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Ledger {
    pub(super) balance: i128,
    pub(super) days: Vec<Day>,
    /// Debits and credits of the days that left `days`.
    pub(super) closed: (i128, i128),
}

impl Ledger {
    /// Adds a posting of `delta` on `date` to its day (usually the last one: dates mostly
    /// arrive in order; an offline batch brings earlier ones).
    /// None (and nothing added) only for a posting of `i64::MIN`, beyond any amount.
    pub(super) fn add(&mut self, date: Date, delta: i64) -> Option<()> {
        let at = self.days.partition_point(|d| d.date <= date);
        let same_day = at.checked_sub(1).filter(|&i| self.days[i].date == date);
        match same_day.and_then(|i| Some((i, self.days[i].plus(delta)?))) {
            Some((i, day)) => self.days[i] = day,
            None => self.days.insert(at, Day::new(date).plus(delta)?),
        }
        Some(())
    }

    /// Takes back a posting of `delta` on `date` just added.
    pub(super) fn take_back(&mut self, date: Date, delta: i64) {
        let at = self.days.partition_point(|d| d.date <= date);
        let Some(i) = at.checked_sub(1).filter(|&i| self.days[i].date == date) else {
            return;
        };
        let day = &mut self.days[i];
        if delta >= 0 {
            day.debits = day.debits.saturating_sub(delta);
        } else {
            day.credits = day.credits.saturating_add(delta);
        }
        if day.debits == 0 && day.credits == 0 {
            self.days.remove(i);
        }
    }
}

impl Ledger {
    /// Whether nothing was ever posted to the account (an account a refused entry opened).
    pub(super) fn is_unused(&self) -> bool {
        self.days.is_empty() && self.balance == 0 && self.closed == (0, 0)
    }

    /// Takes the days before `from` out of `days` (their sums into `closed`).
    pub(super) fn close_before(&mut self, from: Date) -> Vec<Day> {
        let at = self.days.partition_point(|d| d.date < from);
        let days: Vec<Day> = self.days.drain(..at).collect();
        let (debits, credits) = totals_through(&days, None);
        self.closed = (
            self.closed.0.saturating_add(debits),
            self.closed.1.saturating_add(credits),
        );
        days
    }
}

/// The debits and credits of `days` (in date order), up to the end of `through` if given.
pub fn totals_through(days: &[Day], through: Option<Date>) -> (i128, i128) {
    days.iter()
        .take_while(|d| through.is_none_or(|date| d.date <= date))
        .fold((0, 0), |(debits, credits), d| {
            (
                debits + i128::from(d.debits),
                credits + i128::from(d.credits),
            )
        })
}

/// A wallet's days that one period close took out of memory, numbered in the order the
/// closes made them (the same on every replay), for an archive to keep.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DayBlock {
    pub number: u64,
    /// The position of the close that made it (this partition's).
    pub closed_at: u64,
    pub household: HouseholdId,
    pub currency: Currency,
    pub days: Vec<Day>,
}
