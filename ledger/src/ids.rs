//! Typed identifiers. Each is a validated string so ids from existing registries (openIMIS
//! insurance numbers, M-TIBA wallet ids, mobile-money receipts) are kept as they are, while a
//! household id can never be passed where a facility id is expected.

use std::fmt;

use thiserror::Error;

/// Longest id accepted, in bytes.
pub const ID_BYTES_MAX: usize = 64;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    #[error("is empty")]
    Empty,
    #[error("is {len} bytes long, the maximum is {ID_BYTES_MAX}")]
    TooLong { len: usize },
    #[error("contains {0:?}; allowed are ASCII letters, digits and . _ : / -")]
    InvalidChar(char),
}

/// The syntax every id (and stream name) follows.
pub(crate) fn validate(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > ID_BYTES_MAX {
        return Err(IdError::TooLong { len: s.len() });
    }
    let allowed =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'/' | b'-');
    // Every allowed character is one ASCII byte: check bytes (ids are checked on every
    // decode), and look for the offending character only to name it.
    if s.bytes().all(allowed) {
        return Ok(());
    }
    let bad = s
        .chars()
        .find(|&c| !u8::try_from(c).is_ok_and(allowed))
        .unwrap_or(char::REPLACEMENT_CHARACTER);
    Err(IdError::InvalidChar(bad))
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Shared, immutable text: cloning an id is a reference-count increment.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// Validates and wraps `id`.
            pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
                let id = id.into();
                validate(&id)?;
                Ok($name(id.into()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            /// Validates and copies `s` once (no intermediate `String`).
            fn from_str(s: &str) -> Result<Self, IdError> {
                validate(s)?;
                Ok($name(s.into()))
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        /// Deserialized ids are validated like any other.
        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(
    /// A household (the unit that holds policies and a health wallet).
    HouseholdId
);
typed_id!(
    /// A member (insuree) of a household.
    MemberId
);
typed_id!(
    /// A health facility (clinic, health centre, hospital, pharmacy).
    FacilityId
);
typed_id!(
    /// A claim, as assigned by the ledger.
    ClaimId
);
typed_id!(
    /// The facility's own code for a claim.
    ClaimCode
);
typed_id!(
    /// A sponsor: government, county, donor.
    SponsorId
);
typed_id!(
    /// A product (benefit package) of a scheme.
    ProductId
);
typed_id!(
    /// A scheme (an insurer's published rule set).
    SchemeId
);
typed_id!(
    /// A household's policy for one product.
    PolicyId
);
typed_id!(
    /// A payment period (e.g. "2026-11").
    PeriodId
);
typed_id!(
    /// An item or service code from a scheme, or a stock product code.
    Code
);
typed_id!(
    /// An external receipt (mobile-money transaction id, bank reference); unique.
    ReceiptId
);
typed_id!(
    /// A facility payout.
    PayoutId
);
typed_id!(
    /// The idempotency key of a request: a retry with the same id returns the original result.
    RequestId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_registry_style_ids() {
        for ok in [
            "HH-000123",
            "070001234",
            "MPESA:QK12AB34",
            "ke/kisumu/001",
            "a.b_c",
        ] {
            assert!(HouseholdId::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(MemberId::new(""), Err(IdError::Empty));
        assert_eq!(MemberId::new("a b"), Err(IdError::InvalidChar(' ')));
        assert_eq!(MemberId::new("é"), Err(IdError::InvalidChar('é')));
        assert_eq!(
            MemberId::new("x".repeat(65)),
            Err(IdError::TooLong { len: 65 })
        );
        assert!(MemberId::new("x".repeat(64)).is_ok());
    }
}
