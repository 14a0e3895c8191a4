//! The named maxima of every value an event may carry, chosen so that no sum the ledger ever
//! forms can overflow.
//!
//! The argument, bottom up (minor units; `i64::MAX` is 9.2e18, about 2^63):
//! - a claim line: at most [`QUANTITY_MAX`] (1e4) units at most [`UNIT_PRICE_MAX`] (1e9)
//!   each: at most 1e13 allowed, payer, copay or deductible;
//! - a claim: at most `CLAIM_LINES_MAX` (256) lines: its totals are at most 2.56e15, within
//!   [`AMOUNT_MAX`];
//! - a stock visit: counts of at most [`STOCK_UNITS_MAX`] (1e6), so the units consumed since
//!   the last visit (stock then + delivered then - losses - stock now) are at most 2e6, worth
//!   at most 2e15 at `UNIT_PRICE_MAX`;
//! - every other amount of an event (a contribution, a premium, a copay, a payout, a policy's
//!   price, a statement's lines and total) is at most [`AMOUNT_MAX`] (1e16, below 2^54) in
//!   magnitude, so any one event's arithmetic fits an `i64` with room to spare;
//! - running totals (account balances, usage against deductibles and ceilings, what a sponsor
//!   gave) are `i128`: a log holds fewer than 2^64 events, each moving a total by less than
//!   2^54, so no total exceeds 2^118, far below `i128::MAX` (2^127). Sums over a whole
//!   statement period are formed with checked arithmetic where the command is decided, so
//!   one that does not fit is refused before anything is appended.
//!
//! What the numbers mean: 1e16 minor units is 100 trillion KES, or 1e16 UGX (about 2.7
//! billion USD, the currency with the most units per dollar): more than any one payment of a
//! national scheme. 1e9 per unit is 10 million KES for one item or service; 1e4 units is more
//! than any one claim line dispenses; 1e6 units of one product is more than a facility stocks.
//!
//! Business dates are calendar dates between [`EARLIEST_DATE`] and [`LATEST_DATE`]: a birth
//! date of a living member is after 1900; nothing a scheme records happens after 2199.

use crate::event::{Date, FieldError};
use crate::money::Amount;

/// Largest magnitude of any amount in an event, in minor units.
pub const AMOUNT_MAX: i64 = 10_000_000_000_000_000;
/// Largest unit price of an item, service or stocked product, in minor units.
pub const UNIT_PRICE_MAX: i64 = 1_000_000_000;
/// Most units on one claim line.
pub const QUANTITY_MAX: u32 = 10_000;
/// Largest stock count (found, lost or delivered) of one product at one visit.
pub const STOCK_UNITS_MAX: u64 = 1_000_000;
/// The earliest business date the ledger accepts (birth dates included).
pub const EARLIEST_DATE: Date = match Date::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => Date::MIN,
};
/// The latest business date the ledger accepts.
pub const LATEST_DATE: Date = match Date::from_ymd_opt(2199, 12, 31) {
    Some(d) => d,
    None => Date::MAX,
};

// The argument of the module documentation, as arithmetic the compiler checks.
const _: () = {
    let line = UNIT_PRICE_MAX as i128 * QUANTITY_MAX as i128;
    assert!(line * crate::event::CLAIM_LINES_MAX as i128 <= AMOUNT_MAX as i128);
    let consumed = 2 * STOCK_UNITS_MAX as i128;
    assert!(consumed * UNIT_PRICE_MAX as i128 <= AMOUNT_MAX as i128);
    assert!((AMOUNT_MAX as i128) < 1 << 54);
    // 2^64 events of at most 2^54 each: a running total stays below 2^118.
    assert!(u64::MAX as i128 * (1 << 54) < i128::MAX / 2);
};

/// `amount` is at most [`AMOUNT_MAX`] in magnitude.
pub fn amount(field: &str, amount: Amount) -> Result<(), FieldError> {
    at_most(field, amount, AMOUNT_MAX)
}

/// `price` is at most [`UNIT_PRICE_MAX`] in magnitude.
pub fn unit_price(field: &str, price: Amount) -> Result<(), FieldError> {
    at_most(field, price, UNIT_PRICE_MAX)
}

fn at_most(field: &str, amount: Amount, max: i64) -> Result<(), FieldError> {
    if amount.minor_units().unsigned_abs() > max.unsigned_abs() {
        Err(FieldError::new(
            field,
            format!(
                "{amount} is beyond the maximum of {}",
                Amount::new(max, amount.currency())
            ),
        ))
    } else {
        Ok(())
    }
}

/// `quantity` is between 1 and [`QUANTITY_MAX`].
pub fn quantity(field: &str, quantity: u32) -> Result<(), FieldError> {
    if quantity == 0 || quantity > QUANTITY_MAX {
        Err(FieldError::new(
            field,
            format!("{quantity} must be between 1 and {QUANTITY_MAX}"),
        ))
    } else {
        Ok(())
    }
}

/// `count` is at most [`STOCK_UNITS_MAX`].
pub fn stock_units(field: &str, count: u64) -> Result<(), FieldError> {
    if count > STOCK_UNITS_MAX {
        Err(FieldError::new(
            field,
            format!("{count} is beyond the maximum of {STOCK_UNITS_MAX}"),
        ))
    } else {
        Ok(())
    }
}

/// `date` is between [`EARLIEST_DATE`] and [`LATEST_DATE`].
pub fn date(field: &str, date: Date) -> Result<(), FieldError> {
    if date < EARLIEST_DATE || date > LATEST_DATE {
        Err(FieldError::new(
            field,
            format!("{date} is outside {EARLIEST_DATE}..={LATEST_DATE}"),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::money::Currency;

    #[test]
    fn bounds_name_the_field() {
        let kes = |n| Amount::new(n, Currency::KES);
        assert!(amount("amount", kes(AMOUNT_MAX)).is_ok());
        assert!(amount("amount", kes(-AMOUNT_MAX)).is_ok());
        let err = amount("amount", kes(i64::MAX)).unwrap_err();
        assert_eq!(err.field, "amount");
        assert!(amount("amount", kes(i64::MIN)).is_err());
        assert!(unit_price("p", kes(UNIT_PRICE_MAX + 1)).is_err());
        assert!(quantity("q", 0).is_err() && quantity("q", QUANTITY_MAX + 1).is_err());
        assert!(quantity("q", QUANTITY_MAX).is_ok());
        assert!(stock_units("s", u64::MAX).is_err());
        assert!(date("d", Date::from_ymd_opt(0, 1, 1).unwrap()).is_err());
        assert!(date("d", Date::from_ymd_opt(9999, 12, 31).unwrap()).is_err());
        assert!(date("d", EARLIEST_DATE).is_ok() && date("d", LATEST_DATE).is_ok());
    }
}
