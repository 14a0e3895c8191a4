//! Double-entry balances. Every financial event posts entries that sum to zero per currency,
//! so the trial balance of every currency is always zero.
//!
//! Sign convention: debits are positive, credits negative (in minor units). Liabilities (a
//! household's wallet, what is payable to a facility) therefore carry negative raw balances;
//! the accessors that users see (`wallet`, `facility_payable`) return them as positive amounts.

use std::fmt;

use ledger::event::PaymentChannel;
use ledger::ids::{FacilityId, HouseholdId, ProductId, SchemeId, SponsorId};
use ledger::{Amount, Currency, Date, MoneyError};

use crate::keyed::Keyed;

/// An account of the chart of accounts.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Account {
    /// A household's health wallet: savings and subsidies held for it (liability).
    Wallet(HouseholdId),
    /// Money received through a channel (mobile money, cash, bank...), not yet banked (asset).
    Clearing(PaymentChannel),
    /// Subsidies a sponsor has granted (the sponsor's funding).
    SponsorFunding(SponsorId),
    /// Premiums earned by a product.
    PremiumIncome(ProductId),
    /// The cost of claims a scheme pays (fee-for-service).
    ClaimsExpense(SchemeId),
    /// Capitation owed to facilities.
    CapitationExpense(SchemeId),
    /// Products consumed at a facility, paid by consumption (Informed Push Model).
    ConsumptionExpense(FacilityId),
    /// What is owed to a facility: claims, wallet copays, capitation, consumption (liability).
    FacilityPayable(FacilityId),
    /// Money paid out to facilities through a channel.
    Payouts(PaymentChannel),
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::Wallet(h) => write!(f, "wallet/{h}"),
            Account::Clearing(c) => write!(f, "clearing/{c:?}"),
            Account::SponsorFunding(s) => write!(f, "sponsor-funding/{s}"),
            Account::PremiumIncome(p) => write!(f, "premium-income/{p}"),
            Account::ClaimsExpense(s) => write!(f, "claims-expense/{s}"),
            Account::CapitationExpense(s) => write!(f, "capitation-expense/{s}"),
            Account::ConsumptionExpense(fac) => write!(f, "consumption-expense/{fac}"),
            Account::FacilityPayable(fac) => write!(f, "facility-payable/{fac}"),
            Account::Payouts(c) => write!(f, "payouts/{c:?}"),
        }
    }
}

/// One side of a journal entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Posting {
    pub account: Account,
    /// Debit positive, credit negative.
    pub amount: Amount,
}

/// A balanced set of postings for one event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub position: u64,
    pub date: Date,
    pub postings: Vec<Posting>,
}

impl Entry {
    /// A debit to `debit` and a credit to `credit` of the same positive amount.
    pub fn transfer(
        position: u64,
        date: Date,
        debit: Account,
        credit: Account,
        amount: Amount,
    ) -> Result<Entry, MoneyError> {
        Ok(Entry {
            position,
            date,
            postings: vec![
                Posting {
                    account: debit,
                    amount,
                },
                Posting {
                    account: credit,
                    amount: amount.checked_neg()?,
                },
            ],
        })
    }
}

/// One change of an account's balance, for as-of queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Movement {
    position: u64,
    date: Date,
    delta: i64,
}

/// An account's balance in one currency and the movements that made it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Ledger {
    balance: i64,
    movements: Vec<Movement>,
}

/// Account balances and their history.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Balances {
    accounts: Keyed<(Account, Currency), Ledger>,
    entries: u64,
}

impl Balances {
    /// Posts a balanced entry. Refuses (and posts nothing) if it does not balance or overflows.
    pub fn post(&mut self, entry: &Entry) -> Result<(), MoneyError> {
        let postings = &entry.postings;
        // Entries have a handful of postings: each currency's sum is taken from its first
        // posting on, without a table.
        for (i, p) in postings.iter().enumerate() {
            let currency = p.amount.currency();
            if postings[..i]
                .iter()
                .any(|q| q.amount.currency() == currency)
            {
                continue;
            }
            let mut sum = 0i64;
            for q in postings[i..]
                .iter()
                .filter(|q| q.amount.currency() == currency)
            {
                sum = sum
                    .checked_add(q.amount.minor_units())
                    .ok_or(MoneyError::Overflow)?;
            }
            if sum != 0 {
                return Err(MoneyError::Malformed(format!(
                    "entry at {} does not balance",
                    entry.position
                )));
            }
        }
        for (i, p) in postings.iter().enumerate() {
            let ledger = self
                .accounts
                .entry((p.account.clone(), p.amount.currency()))
                .or_default();
            let Some(after) = ledger.balance.checked_add(p.amount.minor_units()) else {
                self.undo(&postings[..i]);
                return Err(MoneyError::Overflow);
            };
            ledger.balance = after;
            ledger.movements.push(Movement {
                position: entry.position,
                date: entry.date,
                delta: p.amount.minor_units(),
            });
        }
        self.entries += 1;
        Ok(())
    }

    /// Takes back `postings`, just posted (most recent last), and the accounts they opened.
    fn undo(&mut self, postings: &[Posting]) {
        for p in postings.iter().rev() {
            let key = (p.account.clone(), p.amount.currency());
            if let Some(ledger) = self.accounts.get_mut(&key)
                && let Some(movement) = ledger.movements.pop()
            {
                // It was added just before: taking it back cannot overflow.
                ledger.balance = ledger.balance.wrapping_sub(movement.delta);
                if ledger.movements.is_empty() {
                    self.accounts.remove(&key);
                }
            }
        }
    }

    /// The raw (debit-positive) balance of an account.
    pub fn balance(&self, account: &Account, currency: Currency) -> Amount {
        Amount::new(
            self.accounts
                .get(&(account.clone(), currency))
                .map_or(0, |l| l.balance),
            currency,
        )
    }

    /// The raw balance as of the end of a business date.
    pub fn balance_on(&self, account: &Account, currency: Currency, date: Date) -> Amount {
        self.balance_where(account, currency, |m| m.date <= date)
    }

    /// The raw balance after the event at `position` (exclusive end: events below it).
    pub fn balance_before_position(
        &self,
        account: &Account,
        currency: Currency,
        position: u64,
    ) -> Amount {
        self.balance_where(account, currency, |m| m.position < position)
    }

    fn balance_where(
        &self,
        account: &Account,
        currency: Currency,
        keep: impl Fn(&Movement) -> bool,
    ) -> Amount {
        // Business dates may arrive out of order (offline batches): sum every qualifying
        // movement rather than cutting the history at one point.
        let Some(ledger) = self.accounts.get(&(account.clone(), currency)) else {
            return Amount::zero(currency);
        };
        let total: i128 = ledger
            .movements
            .iter()
            .filter(|m| keep(m))
            .map(|m| i128::from(m.delta))
            .sum();
        // Every prefix of postings was checked not to overflow, but a subset by date could.
        Amount::new(
            i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX }),
            currency,
        )
    }

    /// A household's wallet balance (what the household can spend).
    pub fn wallet(&self, household: &HouseholdId, currency: Currency) -> Amount {
        let raw = self.balance(&Account::Wallet(household.clone()), currency);
        Amount::new(-raw.minor_units(), currency)
    }

    /// What is owed to a facility.
    pub fn facility_payable(&self, facility: &FacilityId, currency: Currency) -> Amount {
        let raw = self.balance(&Account::FacilityPayable(facility.clone()), currency);
        Amount::new(-raw.minor_units(), currency)
    }

    /// The sum of every account's balance in `currency`: always zero.
    pub fn trial_balance(&self, currency: Currency) -> i128 {
        self.accounts
            .iter()
            .filter(|((_, c), _)| *c == currency)
            .map(|(_, l)| i128::from(l.balance))
            .sum()
    }

    /// Every (account, currency, raw balance), in account order.
    pub fn accounts(&self) -> impl Iterator<Item = (&Account, Currency, Amount)> {
        self.accounts
            .sorted()
            .into_iter()
            .map(|((a, c), l)| (a, *c, Amount::new(l.balance, *c)))
    }

    /// The currencies that have postings.
    pub fn currencies(&self) -> Vec<Currency> {
        let mut c: Vec<Currency> = self.accounts.iter().map(|((_, c), _)| *c).collect();
        c.sort();
        c.dedup();
        c
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kes(minor: i64) -> Amount {
        Amount::new(minor, Currency::KES)
    }

    fn wallet(h: &str) -> Account {
        Account::Wallet(h.parse().unwrap())
    }

    fn entry(position: u64, postings: &[(Account, Amount)]) -> Entry {
        Entry {
            position,
            date: Date::from_ymd_opt(2026, 11, 1).unwrap(),
            postings: postings
                .iter()
                .map(|(account, amount)| Posting {
                    account: account.clone(),
                    amount: *amount,
                })
                .collect(),
        }
    }

    #[test]
    fn refused_entries_post_nothing() {
        let mut b = Balances::default();
        let clearing = Account::Clearing(PaymentChannel::Cash);
        b.post(&entry(
            0,
            &[(clearing.clone(), kes(500)), (wallet("h-1"), kes(-500))],
        ))
        .unwrap();
        let before = b.clone();

        // Unbalanced, in one currency or across two.
        assert!(
            b.post(&entry(
                1,
                &[(clearing.clone(), kes(1)), (wallet("h-2"), kes(-2))]
            ))
            .is_err()
        );
        let xof = Amount::new(-1, Currency::XOF);
        assert!(
            b.post(&entry(
                1,
                &[(clearing.clone(), kes(1)), (wallet("h-2"), xof)]
            ))
            .is_err()
        );
        assert_eq!(b, before);

        // Balanced, but the third posting overflows the account the first one moved (the
        // second opened one): the first two are taken back, and the new account is gone.
        let huge = entry(
            1,
            &[
                (clearing.clone(), kes(i64::MAX - 1000)),
                (wallet("h-2"), kes(1000 - i64::MAX)),
                (clearing.clone(), kes(1000)),
                (wallet("h-3"), kes(-1000)),
            ],
        );
        assert_eq!(b.post(&huge), Err(MoneyError::Overflow));
        assert_eq!(b, before);
        assert_eq!(b.balance(&clearing, Currency::KES), kes(500));
        assert_eq!(b.accounts().count(), 2);
        assert_eq!(b.entries(), 1);
    }
}
