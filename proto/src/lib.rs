//! Generated protobuf types for package `ledger.v1`.
//!
//! This crate is the only place that knows protobuf wire types; `ledger::codec` converts them
//! to and from domain types.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/ledger.v1.rs"));
}
