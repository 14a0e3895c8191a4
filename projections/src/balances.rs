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
        // Entries have a handful of postings: small vectors, searched linearly.
        let mut sums: Vec<(Currency, i64)> = Vec::with_capacity(1);
        let mut afters: Vec<i64> = Vec::with_capacity(entry.postings.len());
        for (i, p) in entry.postings.iter().enumerate() {
            let currency = p.amount.currency();
            let delta = p.amount.minor_units();
            match sums.iter_mut().find(|(c, _)| *c == currency) {
                Some((_, sum)) => *sum = sum.checked_add(delta).ok_or(MoneyError::Overflow)?,
                None => sums.push((currency, delta)),
            }
            // An account posted to twice in one entry continues from its earlier posting.
            let before = match entry.postings[..i]
                .iter()
                .rposition(|q| q.account == p.account && q.amount.currency() == currency)
            {
                Some(j) => afters[j],
                None => self
                    .accounts
                    .get(&(p.account.clone(), currency))
                    .map_or(0, |l| l.balance),
            };
            afters.push(before.checked_add(delta).ok_or(MoneyError::Overflow)?);
        }
        if sums.iter().any(|(_, s)| *s != 0) {
            return Err(MoneyError::Malformed(format!(
                "entry at {} does not balance",
                entry.position
            )));
        }
        for (p, after) in entry.postings.iter().zip(afters) {
            let ledger = self
                .accounts
                .entry((p.account.clone(), p.amount.currency()))
                .or_default();
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
