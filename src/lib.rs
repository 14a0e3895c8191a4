//! claims-ledger: the command side and the service around the event log.
//!
//! - [`commands`]: the pure "decide" step: command + projections -> events or a rejection.
//! - [`period_close`]: closing a payment period, its statements issued in pages.
//! - [`processor`]: one writer that takes commands in batches, decides them, appends their
//!   events with one fsync, and answers; queries read the same projections.
//! - [`partitioned`]: the ledger over its partitions: routing by key, the member directory,
//!   what every partition records, the data directory's layout.
//! - [`grpc`]: the gRPC services (LedgerService, QueryService, AuditService) over a processor.
//! - [`accounts`]: account balances with debit and credit totals, paged, for the queries.
//! - [`auth`]: bearer tokens, roles, and which role may call which method.
//! - [`server`]: configuration, the gate in front of every call (authentication, roles,
//!   latency metrics), TLS, the Prometheus endpoint, graceful shutdown.
//! - [`sponsors`]: what sponsors added to a saving, and a sponsor's giving in a year.
//! - [`status`]: the one shape of every API error (code, field-first message, google.rpc
//!   ErrorInfo and BadRequest details).
//! - [`tools`]: `verify` and `replay` over every partition of a data directory.
//! - [`demo`]: the `demo` subcommand: a synthetic programme through the real gRPC API.
//! - [`transfer`]: export (protobuf-delimited or JSON Lines events, CSV statements) and a
//!   hash-checked import.
//! - [`recovery`]: after a storage failure, waiting for writable storage, then a restart.
//! - [`requests`]: gRPC requests to commands, every field parsed and bounded (pure).
//! - [`stock_visit`]: a stock visit priced from the facility's price list.
//! - [`rng`]: a seedable generator for synthetic data and reproducible test schedules.
//! - [`state`]: what a partition decides against and checkpoints: its projections.
//! - [`checkpoint`]: projection checkpoints (bincode 2, in sled), so a restart replays only
//!   the tail of the log.

pub mod accounts;
pub mod auth;
pub mod checkpoint;
pub mod commands;
pub mod demo;
pub mod grpc;
pub mod history;
pub mod partitioned;
pub mod period_close;
pub mod processor;
pub mod recovery;
pub mod requests;
pub mod retry;
pub mod rng;
pub mod server;
pub mod sponsors;
pub mod state;
pub mod status;
pub mod stock_visit;
pub mod tools;
pub mod transfer;
