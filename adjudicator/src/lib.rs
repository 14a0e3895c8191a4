//! Scheme rules and the rules-based claims adjudicator. Pure: no IO, no runtime.
//!
//! - [`scheme`]: the scheme document (TOML) and its validated form.
//! - [`context`]: what the adjudicator knows about a member (coverage, usage, prior claims).
//! - [`adjudicate`]: claim + member context + scheme -> decision with openIMIS reason codes.
//! - [`eligibility`]: coverage status and what is LEFT of every benefit on a date.
//! - [`premium`]: policy prices, activation by payments, sponsor matches.

/// Hash maps keyed by scheme codes and ids: foldhash is several times faster than SipHash on
/// short keys and, seeded per process, still resists crafted collisions.
pub type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub mod adjudicate;
pub mod context;
pub mod eligibility;
pub mod premium;
pub mod scheme;

pub use adjudicate::{Decision, Finding, LineOutcome, adjudicate, reason};
pub use context::{MemberContext, Policy, PolicyContext, Usage};
pub use eligibility::{CoverageStatus, Eligibility, eligibility};
pub use scheme::{Scheme, SchemeError};

/// The example schemes of the seed programmes (adjudicator/schemes/*.toml).
pub mod examples {
    /// Pesinet-like child subscription (Mali, XOF).
    pub const PESINET_ML: &str = include_str!("../schemes/pesinet-ml.toml");
    /// iPUSH-like health wallet and household premium (Kenya, KES).
    pub const IPUSH_KE: &str = include_str!("../schemes/ipush-ke.toml");
    /// CBHI-like household premium by socio-economic category (Rwanda, RWF).
    pub const CBHI_RW: &str = include_str!("../schemes/cbhi-rw.toml");
    /// openIMIS-like full product with limits and ceilings (Tanzania, TZS).
    pub const OPENIMIS_TZ: &str = include_str!("../schemes/openimis-tz.toml");
    /// Informed Push Model-like consumption-based supply (Senegal, XOF): facilities only.
    pub const IPM_SN: &str = include_str!("../schemes/ipm-sn.toml");

    /// Every example, by file name.
    pub const ALL: [(&str, &str); 5] = [
        ("pesinet-ml.toml", PESINET_ML),
        ("ipush-ke.toml", IPUSH_KE),
        ("cbhi-rw.toml", CBHI_RW),
        ("openimis-tz.toml", OPENIMIS_TZ),
        ("ipm-sn.toml", IPM_SN),
    ];
}
