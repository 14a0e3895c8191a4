//! Money: an integer count of minor units plus an ISO 4217 currency.
//!
//! There are no floats here. Arithmetic is checked: adding amounts of two currencies, or
//! overflowing, is an error, never a conversion or a wrap.
//!
//! Why `i64` suffices: `i64::MAX` is 9.2e18 minor units. The currency in the table with the
//! most minor units per US dollar is UGX (exponent 0, ~3,700 per USD), so the largest amount is
//! ~2.5e15 USD; for two-decimal currencies the worst is TZS (~2,500 per USD, x100) at ~3.7e13
//! USD. A national health scheme moves ~1e9-1e10 USD a year, four orders of magnitude below the
//! limit even summed over a century. Every operation is checked anyway, so the limit is an
//! error, not a silent wrap. `i64` is also what protobuf and most databases carry natively.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// ISO 4217 currencies the ledger knows, with their minor-unit exponents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Currency {
    /// Kenyan shilling.
    KES,
    /// Tanzanian shilling.
    TZS,
    /// Ugandan shilling.
    UGX,
    /// Rwandan franc.
    RWF,
    /// West African CFA franc (Senegal, Mali, Niger...).
    XOF,
    /// Central African CFA franc.
    XAF,
    /// Nepalese rupee.
    NPR,
    /// Ghanaian cedi.
    GHS,
    /// Nigerian naira.
    NGN,
    /// Ethiopian birr.
    ETB,
    /// Malawian kwacha.
    MWK,
    /// Zambian kwacha.
    ZMW,
    /// South African rand.
    ZAR,
    /// Burundian franc.
    BIF,
    /// Congolese franc.
    CDF,
    /// US dollar.
    USD,
    /// Euro.
    EUR,
}

impl Currency {
    /// Every supported currency.
    pub const ALL: [Currency; 17] = [
        Currency::KES,
        Currency::TZS,
        Currency::UGX,
        Currency::RWF,
        Currency::XOF,
        Currency::XAF,
        Currency::NPR,
        Currency::GHS,
        Currency::NGN,
        Currency::ETB,
        Currency::MWK,
        Currency::ZMW,
        Currency::ZAR,
        Currency::BIF,
        Currency::CDF,
        Currency::USD,
        Currency::EUR,
    ];

    /// The ISO 4217 alphabetic code.
    pub fn code(self) -> &'static str {
        match self {
            Currency::KES => "KES",
            Currency::TZS => "TZS",
            Currency::UGX => "UGX",
            Currency::RWF => "RWF",
            Currency::XOF => "XOF",
            Currency::XAF => "XAF",
            Currency::NPR => "NPR",
            Currency::GHS => "GHS",
            Currency::NGN => "NGN",
            Currency::ETB => "ETB",
            Currency::MWK => "MWK",
            Currency::ZMW => "ZMW",
            Currency::ZAR => "ZAR",
            Currency::BIF => "BIF",
            Currency::CDF => "CDF",
            Currency::USD => "USD",
            Currency::EUR => "EUR",
        }
    }

    /// Number of decimal digits of the minor unit (ISO 4217 exponent).
    pub fn exponent(self) -> u32 {
        match self {
            Currency::UGX | Currency::RWF | Currency::XOF | Currency::XAF | Currency::BIF => 0,
            _ => 2,
        }
    }

    fn minor_per_major(self) -> i64 {
        10_i64.pow(self.exponent())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::ALL
            .into_iter()
            .find(|c| c.code() == s)
            .ok_or_else(|| MoneyError::UnknownCurrency(s.to_owned()))
    }
}

/// Errors of money arithmetic and parsing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    #[error("unknown currency code {0:?} (expected an ISO 4217 code the ledger supports)")]
    UnknownCurrency(String),
    #[error("currency mismatch: {left} and {right} cannot be combined")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("amount overflow")]
    Overflow,
    #[error("{currency} has {exponent} decimal places, {text:?} has more")]
    TooManyDecimals {
        currency: Currency,
        exponent: u32,
        text: String,
    },
    #[error("cannot parse {0:?} as an amount (expected e.g. \"1250.50 KES\")")]
    Malformed(String),
}

/// An amount of money in minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Amount {
    minor_units: i64,
    currency: Currency,
}

impl Amount {
    /// An amount of `minor_units` (cents for KES, francs for XOF).
    pub const fn new(minor_units: i64, currency: Currency) -> Self {
        Amount {
            minor_units,
            currency,
        }
    }

    pub const fn zero(currency: Currency) -> Self {
        Amount::new(0, currency)
    }

    pub const fn minor_units(self) -> i64 {
        self.minor_units
    }

    pub const fn currency(self) -> Currency {
        self.currency
    }

    pub const fn is_zero(self) -> bool {
        self.minor_units == 0
    }

    pub const fn is_negative(self) -> bool {
        self.minor_units < 0
    }

    pub const fn is_positive(self) -> bool {
        self.minor_units > 0
    }

    fn same_currency(self, other: Amount) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    pub fn checked_add(self, other: Amount) -> Result<Amount, MoneyError> {
        self.same_currency(other)?;
        let sum = self
            .minor_units
            .checked_add(other.minor_units)
            .ok_or(MoneyError::Overflow)?;
        Ok(Amount::new(sum, self.currency))
    }

    pub fn checked_sub(self, other: Amount) -> Result<Amount, MoneyError> {
        self.same_currency(other)?;
        let diff = self
            .minor_units
            .checked_sub(other.minor_units)
            .ok_or(MoneyError::Overflow)?;
        Ok(Amount::new(diff, self.currency))
    }

    pub fn checked_neg(self) -> Result<Amount, MoneyError> {
        let neg = self.minor_units.checked_neg().ok_or(MoneyError::Overflow)?;
        Ok(Amount::new(neg, self.currency))
    }

    /// `self` times a whole quantity (a unit price times the number of units).
    pub fn checked_mul(self, quantity: i64) -> Result<Amount, MoneyError> {
        let product = self
            .minor_units
            .checked_mul(quantity)
            .ok_or(MoneyError::Overflow)?;
        Ok(Amount::new(product, self.currency))
    }

    /// The smaller of two amounts of the same currency.
    pub fn checked_min(self, other: Amount) -> Result<Amount, MoneyError> {
        self.same_currency(other)?;
        Ok(if other.minor_units < self.minor_units {
            other
        } else {
            self
        })
    }

    /// Sum of amounts, all of `currency`.
    pub fn checked_sum<I: IntoIterator<Item = Amount>>(
        currency: Currency,
        amounts: I,
    ) -> Result<Amount, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Amount::zero(currency), Amount::checked_add)
    }
}

impl fmt::Display for Amount {
    /// `1250.50 KES`, `500 XOF`, `-3.05 USD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per = self.currency.minor_per_major().unsigned_abs();
        let abs = self.minor_units.unsigned_abs();
        let sign = if self.minor_units < 0 { "-" } else { "" };
        let exponent = self.currency.exponent() as usize;
        if exponent == 0 {
            write!(f, "{sign}{abs} {}", self.currency)
        } else {
            write!(
                f,
                "{sign}{}.{:0exponent$} {}",
                abs / per,
                abs % per,
                self.currency
            )
        }
    }
}

impl FromStr for Amount {
    type Err = MoneyError;

    /// Parses `"1250.50 KES"`, `"-3 USD"`, `"500 XOF"`. Fewer decimals than the exponent are
    /// padded (`"12.5 KES"` is 1250 cents); more are rejected, never rounded.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || MoneyError::Malformed(s.to_owned());
        let (number, code) = s.trim().split_once(' ').ok_or_else(malformed)?;
        let currency: Currency = code.trim().parse()?;
        let (negative, digits) = match number.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, number),
        };
        let (whole, fraction) = match digits.split_once('.') {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
            return Err(malformed());
        }
        if digits.contains('.') && fraction.is_empty() {
            return Err(malformed());
        }
        let exponent = currency.exponent();
        if fraction.len() > exponent as usize {
            return Err(MoneyError::TooManyDecimals {
                currency,
                exponent,
                text: s.to_owned(),
            });
        }
        let whole: i64 = whole.parse().map_err(|_| MoneyError::Overflow)?;
        let mut minor = whole
            .checked_mul(currency.minor_per_major())
            .ok_or(MoneyError::Overflow)?;
        if !fraction.is_empty() {
            let padding = exponent - fraction.len() as u32;
            let fraction: i64 = fraction.parse().map_err(|_| malformed())?;
            let fraction_minor = fraction
                .checked_mul(10_i64.pow(padding))
                .ok_or(MoneyError::Overflow)?;
            minor = minor
                .checked_add(fraction_minor)
                .ok_or(MoneyError::Overflow)?;
        }
        if negative {
            minor = minor.checked_neg().ok_or(MoneyError::Overflow)?;
        }
        Ok(Amount::new(minor, currency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exponents_follow_iso_4217() {
        let exponents: Vec<(&str, u32)> = ["KES", "TZS", "UGX", "RWF", "XOF", "XAF", "NPR", "USD"]
            .iter()
            .map(|c| (*c, c.parse::<Currency>().unwrap().exponent()))
            .collect();
        assert_eq!(
            exponents,
            vec![
                ("KES", 2),
                ("TZS", 2),
                ("UGX", 0),
                ("RWF", 0),
                ("XOF", 0),
                ("XAF", 0),
                ("NPR", 2),
                ("USD", 2)
            ]
        );
    }

    #[test]
    fn parses_and_formats() {
        let a: Amount = "1250.50 KES".parse().unwrap();
        assert_eq!(a, Amount::new(125_050, Currency::KES));
        assert_eq!(a.to_string(), "1250.50 KES");
        assert_eq!("12.5 KES".parse::<Amount>().unwrap().minor_units(), 1250);
        assert_eq!("500 XOF".parse::<Amount>().unwrap().to_string(), "500 XOF");
        assert_eq!(
            "-3.05 USD".parse::<Amount>().unwrap(),
            Amount::new(-305, Currency::USD)
        );
        assert_eq!(Amount::new(-5, Currency::USD).to_string(), "-0.05 USD");
    }

    #[test]
    fn rejects_too_many_decimals_and_garbage() {
        assert!(matches!(
            "1.001 KES".parse::<Amount>(),
            Err(MoneyError::TooManyDecimals { exponent: 2, .. })
        ));
        assert!(matches!(
            "500.5 XOF".parse::<Amount>(),
            Err(MoneyError::TooManyDecimals { exponent: 0, .. })
        ));
        for bad in [
            "",
            "KES",
            "1.2.3 KES",
            "1. KES",
            ".5 KES",
            "1e3 KES",
            "+1 KES",
            "1 kes",
        ] {
            assert!(bad.parse::<Amount>().is_err(), "{bad:?} should not parse");
        }
        assert_eq!(
            "1 ABC".parse::<Amount>(),
            Err(MoneyError::UnknownCurrency("ABC".into()))
        );
        assert_eq!(
            "99999999999999999999 KES".parse::<Amount>(),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let kes = Amount::new(100, Currency::KES);
        let xof = Amount::new(100, Currency::XOF);
        assert_eq!(
            kes.checked_add(xof),
            Err(MoneyError::CurrencyMismatch {
                left: Currency::KES,
                right: Currency::XOF
            })
        );
        assert_eq!(
            Amount::new(i64::MAX, Currency::KES).checked_add(Amount::new(1, Currency::KES)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Amount::new(i64::MIN, Currency::KES).checked_sub(Amount::new(1, Currency::KES)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Amount::new(i64::MIN, Currency::KES).checked_neg(),
            Err(MoneyError::Overflow)
        );
        assert_eq!(kes.checked_mul(3), Ok(Amount::new(300, Currency::KES)));
        assert_eq!(kes.checked_mul(i64::MAX), Err(MoneyError::Overflow));
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(minor in any::<i64>().prop_filter("neg", |m| *m != i64::MIN), idx in 0usize..17) {
            let a = Amount::new(minor, Currency::ALL[idx]);
            prop_assert_eq!(a.to_string().parse::<Amount>(), Ok(a));
        }

        #[test]
        fn add_then_sub_is_identity(a in -1_000_000_000_000i64..1_000_000_000_000, b in -1_000_000_000_000i64..1_000_000_000_000) {
            let x = Amount::new(a, Currency::RWF);
            let y = Amount::new(b, Currency::RWF);
            prop_assert_eq!(x.checked_add(y).unwrap().checked_sub(y), Ok(x));
        }
    }
}
