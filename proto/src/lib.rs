//! Generated protobuf types and gRPC services for package `ledger.v1`.
//!
//! This crate is the only place that knows protobuf wire types; `ledger::codec` converts them
//! to and from domain types, and the root crate's gRPC layer maps requests to commands.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/ledger.v1.rs"));
}

/// The encoded `FileDescriptorSet` of `ledger.v1`, for gRPC server reflection.
#[cfg(feature = "grpc")]
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ledger_v1_descriptor.bin"));

#[cfg(feature = "grpc")]
pub mod codec;
