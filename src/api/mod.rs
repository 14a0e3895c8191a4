//! The API: the gRPC services and what they need around the command side.
//!
//! - [`grpc`]: the services (LedgerService, QueryService, AuditService) over the ledger.
//! - [`requests`]: gRPC requests to commands, every field parsed and bounded (pure).
//! - [`history`]: what the projections keep only the positions of (a claim's findings, a
//!   statement's lines), read back from the log.
//! - [`accounts`]: account balances with debit and credit totals, paged, over partitions.
//! - [`sponsors`]: what sponsors added to a saving, and a sponsor's giving in a year.
//! - [`auth`]: bearer tokens, roles, and which role may call which method.
//! - [`status`]: the one shape of every API error (code, field-first message, google.rpc
//!   ErrorInfo and BadRequest details).

pub mod accounts;
pub mod auth;
pub mod grpc;
pub mod history;
pub mod requests;
pub mod sponsors;
pub mod status;
