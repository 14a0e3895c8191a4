//! The chart of accounts over gRPC: account balances with their debit and credit totals, a
//! page at a time (`ListAccounts`, `GetTrialBalance`) or one account (`GetAccountBalance`).
//!
//! Every function takes the state of every partition: an account that spans partitions (a
//! facility's payable, a sponsor's funding, premium income) is the sum of its parts, and a
//! page lists each account once, in name order, with its summed totals. A wallet's totals
//! before the cut of closed days read the partition's archive (`State::totals`).

use ledger::codec::money_to_pb;
use ledger::{Amount, Currency, Date};
use projections::balances::Account;
use proto::v1 as pb;
use tonic::{Code, Status};

use crate::api::status::{error, invalid};
use crate::processor::state::State;

/// What to list and from where.
pub struct Page<'a> {
    pub kind: Option<&'a str>,
    pub currency: Option<Currency>,
    pub as_of: Option<Date>,
    pub size: usize,
    /// The page token of the previous page, if any.
    pub token: &'a str,
}

/// One page of accounts and the token of the next ("" after the last). Each partition's
/// first `size` accounts after the token hold the page's: merged by name, each once.
pub fn page(
    states: &[&State],
    page: &Page<'_>,
) -> Result<(Vec<pb::AccountBalance>, String), Status> {
    let after = after(states, page.token)?;
    let after_ref = after.as_ref().map(|(n, c)| (n.as_str(), c.code()));
    let mut more = false;
    let mut accounts = Vec::new();
    for state in states {
        let part = &state.projections.balances;
        let (listed, beyond) = part.list(page.kind, page.currency, after_ref, page.size);
        more |= beyond;
        accounts.extend(listed);
    }
    accounts.sort_by(|x, y| (x.0.as_str(), x.2.code()).cmp(&(y.0.as_str(), y.2.code())));
    accounts.dedup_by(|x, y| x.0 == y.0 && x.2 == y.2);
    more |= accounts.len() > page.size;
    accounts.truncate(page.size);
    let next = match (more, accounts.last()) {
        (true, Some((name, _, c))) => format!("{name} {}", c.code()),
        _ => String::new(),
    };
    let accounts = accounts
        .iter()
        .map(|(_, account, c)| balance_pb(states, account, *c, page.as_of))
        .collect::<Result<_, _>>()?;
    Ok((accounts, next))
}

/// The account and currency a page token names ("<account> <currency>"): one this server
/// issued, so the account exists.
fn after(states: &[&State], token: &str) -> Result<Option<(String, Currency)>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || {
        invalid(
            "page_token",
            format!("page_token: {token:?} is not a page token this server issued"),
        )
    };
    let (name, code) = token.split_once(' ').ok_or_else(bad)?;
    let account: Account = name.parse().map_err(|_| bad())?;
    let currency: Currency = code.parse().map_err(|_| bad())?;
    if totals(states, &account, currency, None)? == (0, 0) {
        return Err(bad());
    }
    Ok(Some((name.to_owned(), currency)))
}

/// One account's balance and totals in `currency`, as of the end of `as_of` if given.
pub fn balance_pb(
    states: &[&State],
    account: &Account,
    currency: Currency,
    as_of: Option<Date>,
) -> Result<pb::AccountBalance, Status> {
    let (debits, credits) = totals(states, account, currency, as_of)?;
    let money = |value: i128| {
        i64::try_from(value)
            .map(|minor| Some(money_to_pb(Amount::new(minor, currency))))
            .map_err(|_| {
                error(
                    Code::OutOfRange,
                    "BALANCE_OUT_OF_RANGE",
                    "account",
                    format!(
                        "account: {account} holds {value} minor units of {currency}, beyond int64"
                    ),
                )
            })
    };
    Ok(pb::AccountBalance {
        account: account.to_string(),
        kind: account.kind().to_owned(),
        balance: money(debits - credits)?,
        debits: money(debits)?,
        credits: money(credits)?,
    })
}

/// The account a request names, and its currency: the one given, or the account's only one.
pub fn named(
    states: &[&State],
    name: &str,
    currency_code: &str,
) -> Result<(Account, Currency), Status> {
    let account: Account = name
        .parse()
        .map_err(|e| invalid("account", format!("account: {e}")))?;
    let mut held = Vec::new();
    for c in currencies(states) {
        if totals(states, &account, c, None)? != (0, 0) {
            held.push(c);
        }
    }
    let currency = if currency_code.is_empty() {
        match held.as_slice() {
            [only] => *only,
            [] => {
                return Err(error(
                    Code::NotFound,
                    "UNKNOWN_ACCOUNT",
                    "account",
                    format!("account: {account} has no postings"),
                ));
            }
            _ => {
                return Err(invalid(
                    "currency_code",
                    format!("currency_code: {account} holds several currencies; name one"),
                ));
            }
        }
    } else {
        currency_code
            .parse()
            .map_err(|e| invalid("currency_code", format!("currency_code: {e}")))?
    };
    Ok((account, currency))
}

/// An account's debit and credit totals over every partition (saturating: each partition's
/// are far below `i128::MAX`, see `projections::balances`).
pub fn totals(
    states: &[&State],
    account: &Account,
    currency: Currency,
    as_of: Option<Date>,
) -> Result<(i128, i128), Status> {
    states
        .iter()
        .try_fold((0i128, 0i128), |(debits, credits), state| {
            let (d, c) = state
                .totals(account, currency, as_of)
                .map_err(crate::api::status::internal)?;
            Ok((debits.saturating_add(d), credits.saturating_add(c)))
        })
}

/// Every currency any partition posted in, in order.
pub fn currencies(states: &[&State]) -> Vec<Currency> {
    let mut all: Vec<Currency> = states
        .iter()
        .flat_map(|s| s.projections.balances.currencies())
        .collect();
    all.sort();
    all.dedup();
    all
}

/// The ledger's trial balance in `currency`: the sum of every partition's, each zero alone.
pub fn trial_balance(states: &[&State], currency: Currency) -> i128 {
    states.iter().fold(0i128, |sum, s| {
        sum.saturating_add(s.projections.balances.trial_balance(currency))
    })
}
