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

use crate::canonical::LineSum;
use crate::keyed::Keyed;

mod days;
use days::Ledger;
pub use days::{Day, DayBlock, totals_through};

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

/// The kinds of account, as their names start (`wallet/HH-1`, `claims-expense/ipush-ke`).
pub const ACCOUNT_KINDS: [&str; 9] = [
    "wallet",
    "clearing",
    "sponsor-funding",
    "premium-income",
    "claims-expense",
    "capitation-expense",
    "consumption-expense",
    "facility-payable",
    "payouts",
];

impl Account {
    /// The account's kind: the part of its name before the `/`.
    pub fn kind(&self) -> &'static str {
        match self {
            Account::Wallet(_) => ACCOUNT_KINDS[0],
            Account::Clearing(_) => ACCOUNT_KINDS[1],
            Account::SponsorFunding(_) => ACCOUNT_KINDS[2],
            Account::PremiumIncome(_) => ACCOUNT_KINDS[3],
            Account::ClaimsExpense(_) => ACCOUNT_KINDS[4],
            Account::CapitationExpense(_) => ACCOUNT_KINDS[5],
            Account::ConsumptionExpense(_) => ACCOUNT_KINDS[6],
            Account::FacilityPayable(_) => ACCOUNT_KINDS[7],
            Account::Payouts(_) => ACCOUNT_KINDS[8],
        }
    }
}

fn channel(name: &str) -> Option<PaymentChannel> {
    [
        PaymentChannel::MobileMoney,
        PaymentChannel::Cash,
        PaymentChannel::Bank,
        PaymentChannel::Payroll,
    ]
    .into_iter()
    .find(|c| format!("{c:?}") == name)
}

impl std::str::FromStr for Account {
    type Err = String;

    /// An account from its name, as `Display` writes it.
    fn from_str(name: &str) -> Result<Account, String> {
        let (kind, id) = name
            .split_once('/')
            .ok_or_else(|| format!("{name:?} is not <kind>/<id>"))?;
        let bad = |e: ledger::ids::IdError| format!("{name:?}: {e}");
        Ok(match kind {
            "wallet" => Account::Wallet(id.parse().map_err(bad)?),
            "clearing" | "payouts" => {
                let c = channel(id).ok_or_else(|| {
                    format!("{name:?}: {id:?} is not MobileMoney, Cash, Bank or Payroll")
                })?;
                if kind == "clearing" {
                    Account::Clearing(c)
                } else {
                    Account::Payouts(c)
                }
            }
            "sponsor-funding" => Account::SponsorFunding(id.parse().map_err(bad)?),
            "premium-income" => Account::PremiumIncome(id.parse().map_err(bad)?),
            "claims-expense" => Account::ClaimsExpense(id.parse().map_err(bad)?),
            "capitation-expense" => Account::CapitationExpense(id.parse().map_err(bad)?),
            "consumption-expense" => Account::ConsumptionExpense(id.parse().map_err(bad)?),
            "facility-payable" => Account::FacilityPayable(id.parse().map_err(bad)?),
            other => {
                return Err(format!(
                    "{name:?}: {other:?} is not a kind of account ({})",
                    ACCOUNT_KINDS.join(", ")
                ));
            }
        })
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

/// `value` as minor units of an [`Amount`], saturated at the `i64` bounds: for comparisons
/// (does the wallet cover a payment of at most `AMOUNT_MAX`?), never for showing a balance.
pub fn saturated(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// Account balances and their history.
///
/// A wallet's days before a cut leave memory at a period close
/// ([`Balances::close_wallet_days_before`]): its balance, and its totals and as-of balances
/// from the cut on, are still answered here; before the cut they need the closed days
/// ([`Balances::needs_closed_days`]), which wait in `closed_days` until an archive takes them.
/// Only wallets: a household's wallet lives in one partition, so its closed days count in
/// the digest as owned lines, while accounts with parts in several partitions (a
/// facility's payable, premium income) sum their days across partitions.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Balances {
    accounts: Keyed<(Account, Currency), Ledger>,
    entries: u64,
    /// Wallet days before this date have left `accounts`.
    wallet_days_from: Option<Date>,
    /// The number the next block of closed days gets.
    next_block: u64,
    /// Blocks of closed days not yet taken by an archive.
    closed_days: Vec<DayBlock>,
    /// Every closed day's line, summed: the digest counts a day the same kept or closed.
    closed_day_lines: LineSum,
}

/// The rendering the digests hash: every field but the closed days waiting for an archive,
/// which are in `closed_day_lines` whether an archive took them or not.
impl fmt::Debug for Balances {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balances")
            .field("accounts", &self.accounts)
            .field("entries", &self.entries)
            .field("wallet_days_from", &self.wallet_days_from)
            .field("next_block", &self.next_block)
            .field("closed_day_lines", &self.closed_day_lines)
            .finish()
    }
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
            let sum: i128 = postings[i..]
                .iter()
                .filter(|q| q.amount.currency() == currency)
                .map(|q| i128::from(q.amount.minor_units()))
                .sum();
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
            let delta = p.amount.minor_units();
            let Some(after) = ledger.balance.checked_add(i128::from(delta)) else {
                self.undo(entry.date, &postings[..i]);
                return Err(MoneyError::Overflow);
            };
            if ledger.add(entry.date, delta).is_none() {
                if ledger.is_unused() {
                    self.accounts
                        .remove(&(p.account.clone(), p.amount.currency()));
                }
                self.undo(entry.date, &postings[..i]);
                return Err(MoneyError::Overflow);
            }
            ledger.balance = after;
        }
        self.entries += 1;
        Ok(())
    }

    /// Takes back `postings`, just posted on `date` (most recent last), and the accounts
    /// they opened.
    fn undo(&mut self, date: Date, postings: &[Posting]) {
        for p in postings.iter().rev() {
            let key = (p.account.clone(), p.amount.currency());
            if let Some(ledger) = self.accounts.get_mut(&key) {
                let delta = p.amount.minor_units();
                // It was added just before: taking it back cannot overflow.
                ledger.balance = ledger.balance.wrapping_sub(i128::from(delta));
                ledger.take_back(date, delta);
                if ledger.is_unused() {
                    self.accounts.remove(&key);
                }
            }
        }
    }

    /// The raw (debit-positive) balance of an account, exactly.
    pub fn raw_balance(&self, account: &Account, currency: Currency) -> i128 {
        self.accounts
            .get(&(account.clone(), currency))
            .map_or(0, |l| l.balance)
    }

    /// The raw balance, saturated at the `i64` bounds (see [`saturated`]).
    pub fn balance(&self, account: &Account, currency: Currency) -> Amount {
        Amount::new(saturated(self.raw_balance(account, currency)), currency)
    }

    /// The raw balance as of the end of a business date, exactly, from what memory holds
    /// (see [`Balances::totals`]).
    pub fn raw_balance_on(&self, account: &Account, currency: Currency, date: Date) -> i128 {
        let (debits, credits) = self.totals(account, currency, Some(date));
        debits - credits
    }

    /// Whether an account's totals up to `as_of` need the days a close took out of memory:
    /// a wallet, as of a date before the cut.
    pub fn needs_closed_days(&self, account: &Account, as_of: Option<Date>) -> bool {
        matches!(account, Account::Wallet(_))
            && as_of.is_some_and(|date| self.wallet_days_from.is_some_and(|from| date < from))
    }

    /// Closes the days of every wallet before `from` (the first day of the year before a
    /// period close's): they leave memory as one block per wallet, for an archive. The cut
    /// only moves forward, and every partition sees every close, so replays and partition
    /// counts agree.
    pub(crate) fn close_wallet_days_before(&mut self, position: u64, from: Date) {
        if self.wallet_days_from.is_some_and(|kept| kept >= from) {
            return;
        }
        self.wallet_days_from = Some(from);
        let mut closed = Vec::new();
        self.accounts.retain(|(account, currency), ledger| {
            if let Account::Wallet(household) = account {
                let days = ledger.close_before(from);
                if !days.is_empty() {
                    closed.push((household.clone(), *currency, days));
                }
            }
            true
        });
        // The map's order is not the same on every run: numbered in wallet order.
        closed.sort_by(|x, y| (&x.0, x.1.code()).cmp(&(&y.0, y.1.code())));
        for (household, currency, days) in closed {
            let account = Account::Wallet(household.clone());
            for day in &days {
                self.closed_day_lines
                    .add(&("closed-day", &account, currency.code(), day));
            }
            self.closed_days.push(DayBlock {
                number: self.next_block,
                closed_at: position,
                household,
                currency,
                days,
            });
            self.next_block = self.next_block.saturating_add(1);
        }
    }

    /// The blocks of closed days not yet taken by an archive, in block order.
    pub fn closed_days(&self) -> &[DayBlock] {
        &self.closed_days
    }

    /// How many of [`Balances::closed_days`] closes before position `durable` made (the
    /// first ones: closes are applied in log order).
    pub fn closed_days_before(&self, durable: u64) -> usize {
        self.closed_days.partition_point(|b| b.closed_at < durable)
    }

    /// Lets go of the first `count` closed day blocks: an archive took them.
    pub fn take_closed_days(&mut self, count: usize) {
        self.closed_days.drain(..count.min(self.closed_days.len()));
    }

    /// The raw balance as of the end of a business date, saturated at the `i64` bounds.
    pub fn balance_on(&self, account: &Account, currency: Currency, date: Date) -> Amount {
        Amount::new(
            saturated(self.raw_balance_on(account, currency, date)),
            currency,
        )
    }

    /// A household's wallet balance (what the household can spend), saturated at the `i64`
    /// bounds: what decisions compare payments with.
    pub fn wallet(&self, household: &HouseholdId, currency: Currency) -> Amount {
        let raw = self.raw_balance(&Account::Wallet(household.clone()), currency);
        Amount::new(saturated(-raw), currency)
    }

    /// What is owed to a facility, saturated at the `i64` bounds.
    pub fn facility_payable(&self, facility: &FacilityId, currency: Currency) -> Amount {
        let raw = self.raw_balance(&Account::FacilityPayable(facility.clone()), currency);
        Amount::new(saturated(-raw), currency)
    }

    /// The sum of every account's balance in `currency`: always zero.
    pub fn trial_balance(&self, currency: Currency) -> i128 {
        self.accounts
            .iter()
            .filter(|((_, c), _)| *c == currency)
            .map(|(_, l)| l.balance)
            .sum()
    }

    /// Every (account, currency, raw balance saturated at the `i64` bounds), in account order.
    pub fn accounts(&self) -> impl Iterator<Item = (&Account, Currency, Amount)> {
        self.accounts
            .sorted()
            .into_iter()
            .map(|((a, c), l)| (a, *c, Amount::new(saturated(l.balance), *c)))
    }

    /// Every account (in `currency`, if given) of `kind` (if given), by name, from after
    /// `after` (a name and currency code, exclusive), at most `max`; and whether more follow.
    pub fn list(
        &self,
        kind: Option<&str>,
        currency: Option<Currency>,
        after: Option<(&str, &str)>,
        max: usize,
    ) -> (Vec<(String, &Account, Currency)>, bool) {
        let mut named: Vec<(String, &Account, Currency)> = self
            .accounts
            .iter()
            .filter(|((a, c), _)| {
                kind.is_none_or(|k| a.kind() == k) && currency.is_none_or(|x| x == *c)
            })
            .map(|((a, c), _)| (a.to_string(), a, *c))
            .filter(|(name, _, c)| {
                after.is_none_or(|(n, code)| (name.as_str(), c.code()) > (n, code))
            })
            .collect();
        named.sort_by(|x, y| (x.0.as_str(), x.2.code()).cmp(&(y.0.as_str(), y.2.code())));
        let more = named.len() > max;
        named.truncate(max);
        (named, more)
    }

    /// An account's debit and credit totals (credits as a positive sum), exactly, up to the
    /// end of `as_of` when given, from what memory holds: whole unless
    /// [`Balances::needs_closed_days`], else without the closed blocks'.
    pub fn totals(
        &self,
        account: &Account,
        currency: Currency,
        as_of: Option<Date>,
    ) -> (i128, i128) {
        let Some(ledger) = self.accounts.get(&(account.clone(), currency)) else {
            return (0, 0);
        };
        // Business dates may arrive out of order (offline batches): the days are kept in
        // date order, whatever order they were posted in.
        let (debits, credits) = totals_through(&ledger.days, as_of);
        if self.needs_closed_days(account, as_of) {
            return (debits, credits);
        }
        (debits + ledger.closed.0, credits + ledger.closed.1)
    }

    /// The balances as sums ([`crate::canonical`]): an account may have parts in several
    /// partitions, and its balance and day totals are their sums.
    pub(crate) fn canonical(&self, out: &mut crate::canonical::Canonical) {
        for ((account, currency), ledger) in self.accounts.iter() {
            let key = (account, currency.code());
            out.sum(("balance", &key), ledger.balance);
            for day in &ledger.days {
                out.sum(("debits", &key, day.date), i128::from(day.debits));
                out.sum(("credits", &key, day.date), i128::from(day.credits));
            }
        }
        out.sum("entries", i128::from(self.entries));
        // The cut follows from the closes, which the payments' lines hold.
        out.owned_lines(&self.closed_day_lines);
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

        assert_eq!(b.balance(&clearing, Currency::KES), kes(500));
        assert_eq!(b.accounts().count(), 2);
        assert_eq!(b.entries(), 1);
    }

    fn dated(date: &str, position: u64, postings: &[(Account, Amount)]) -> Entry {
        Entry {
            date: date.parse().unwrap(),
            ..entry(position, postings)
        }
    }

    /// A close takes wallet days before its cut out of memory, as one block per wallet with
    /// the wallet's days in date order; other accounts keep theirs. Balances, and totals from
    /// the cut on, are unchanged; before it, memory plus the blocks give the same totals; a
    /// posting dated before the cut after the close is kept in memory for the next one.
    #[test]
    fn closing_wallet_days_keeps_every_answer() {
        let mut b = Balances::default();
        let clearing = Account::Clearing(PaymentChannel::Cash);
        let pay = |b: &mut Balances, date, position, h, amount| {
            b.post(&dated(
                date,
                position,
                &[(clearing.clone(), kes(amount)), (wallet(h), kes(-amount))],
            ))
            .unwrap()
        };
        for (i, date) in ["2024-03-01", "2024-09-01", "2025-02-01"]
            .iter()
            .enumerate()
        {
            pay(&mut b, date, i as u64, "h-2", 10);
            pay(&mut b, date, i as u64 + 10, "h-1", 100 * (i as i64 + 1));
        }
        let as_of = [
            None,
            Some("2024-02-29"),
            Some("2024-06-01"),
            Some("2025-03-01"),
        ]
        .map(|d| d.map(|d: &str| d.parse::<Date>().unwrap()));
        let totals = |b: &Balances, h| as_of.map(|date| b.totals(&wallet(h), Currency::KES, date));
        let (before, clearing_before) = (
            totals(&b, "h-1"),
            b.totals(&clearing, Currency::KES, as_of[2]),
        );
        let digest = crate::digest_of(&b);

        b.close_wallet_days_before(50, "2025-01-01".parse().unwrap());
        let blocks = b.closed_days().to_vec();
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            blocks
                .iter()
                .map(|x| (x.number, x.household.as_str(), x.days.len(), x.closed_at))
                .collect::<Vec<_>>(),
            [(0, "h-1", 2, 50), (1, "h-2", 2, 50)]
        );
        assert_ne!(crate::digest_of(&b), digest, "the close changed the state");
        let closed = crate::digest_of(&b);
        assert_eq!(
            b.totals(&clearing, Currency::KES, as_of[2]),
            clearing_before
        );
        let now = totals(&b, "h-1");
        assert_eq!((now[0], now[3]), (before[0], before[3]));
        assert!(b.needs_closed_days(&wallet("h-1"), as_of[2]));
        assert!(!b.needs_closed_days(&clearing, as_of[2]));
        let (kept, block) = (now[2], totals_through(&blocks[0].days, as_of[2]));
        assert_eq!((kept.0 + block.0, kept.1 + block.1), before[2]);
        assert_eq!(b.wallet(&"h-1".parse().unwrap(), Currency::KES), kes(600));

        // An archive takes the blocks: the digest does not change.
        assert_eq!(b.closed_days_before(50), 0);
        assert_eq!(b.closed_days_before(51), 2);
        b.take_closed_days(2);
        assert!(b.closed_days().is_empty());
        assert_eq!(crate::digest_of(&b), closed);

        // A posting dated before the cut stays in memory; the cut does not move back.
        pay(&mut b, "2024-05-01", 60, "h-1", 7);
        b.close_wallet_days_before(61, "2024-01-01".parse().unwrap());
        assert!(b.closed_days().is_empty());
        let late = b.totals(&wallet("h-1"), Currency::KES, as_of[2]);
        assert_eq!(late.1, 7);
        b.close_wallet_days_before(62, "2026-01-01".parse().unwrap());
        assert_eq!(b.closed_days()[0].number, 2);
        assert_eq!(b.closed_days()[0].days.len(), 2, "the late day and 2025's");
    }

    /// As-of answers come from one sum per account and day, whatever order the dates were
    /// posted in, and a day whose sums leave the `i64` range goes on in a second day.
    #[test]
    fn as_of_balances_sum_days_in_date_order() {
        let mut b = Balances::default();
        let clearing = Account::Clearing(PaymentChannel::Cash);
        let pay = |b: &mut Balances, date, position, amount| {
            b.post(&dated(
                date,
                position,
                &[
                    (clearing.clone(), kes(amount)),
                    (wallet("h-1"), kes(-amount)),
                ],
            ))
            .unwrap()
        };
        pay(&mut b, "2026-03-10", 0, 100);
        pay(&mut b, "2026-03-10", 1, 50);
        pay(&mut b, "2026-03-02", 2, 7); // an offline batch: an earlier date, later
        pay(&mut b, "2026-03-20", 3, -30);
        let on = |b: &Balances, date: &str| {
            b.raw_balance_on(&clearing, Currency::KES, date.parse().unwrap())
        };
        assert_eq!(on(&b, "2026-03-01"), 0);
        assert_eq!(on(&b, "2026-03-02"), 7);
        assert_eq!(on(&b, "2026-03-19"), 157);
        assert_eq!(on(&b, "2026-03-31"), 127);
        let ledger = b.accounts.get(&(clearing.clone(), Currency::KES)).unwrap();
        assert_eq!(ledger.days.len(), 3);
        let totals = b.totals(
            &clearing,
            Currency::KES,
            Some("2026-03-20".parse().unwrap()),
        );
        assert_eq!(totals, (157, 30));

        let big = i64::MAX / 2;
        for position in 4..8 {
            pay(&mut b, "2026-04-01", position, big);
        }
        let ledger = b.accounts.get(&(clearing.clone(), Currency::KES)).unwrap();
        assert_eq!(ledger.days.len(), 5, "{:?}", ledger.days);
        assert_eq!(on(&b, "2026-04-01"), 127 + 4 * i128::from(big));
        assert_eq!(b.trial_balance(Currency::KES), 0);
    }

    /// Balances are exact beyond the range of an `Amount`: no history overflows them; what
    /// answers in `Amount` saturates, and the trial balance stays zero.
    #[test]
    fn balances_beyond_i64_stay_exact() {
        let mut b = Balances::default();
        let clearing = Account::Clearing(PaymentChannel::Cash);
        let big = i64::MAX / 2;
        for position in 0..5 {
            b.post(&entry(
                position,
                &[(clearing.clone(), kes(big)), (wallet("h-1"), kes(-big))],
            ))
            .unwrap();
        }
        assert_eq!(
            b.raw_balance(&wallet("h-1"), Currency::KES),
            -5 * i128::from(big)
        );
        assert_eq!(b.balance(&wallet("h-1"), Currency::KES), kes(i64::MIN));
        assert_eq!(
            b.wallet(&"h-1".parse().unwrap(), Currency::KES),
            kes(i64::MAX)
        );
        assert_eq!(b.trial_balance(Currency::KES), 0);
        assert_eq!(b.entries(), 5);
    }
}
