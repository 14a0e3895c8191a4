//! claims-ledger: the command side and the service around the event log, in four layers:
//!
//! - [`command`]: the pure "decide" step: command + projections -> events or a rejection, a
//!   file per family of commands (registry, wallet, claims, facilities, period close).
//! - [`processor`]: a partition's single writer: commands in batches, decided, appended with
//!   one fsync, answered; its state, checkpoints, retries and recovery after a storage
//!   failure.
//! - [`partitioned`]: the ledger over its partitions: routing by key, the directories, what
//!   every partition records, the sponsors' budgets, consistency tokens, the data directory's
//!   layout.
//! - [`api`]: the gRPC services and everything they need: requests to commands, answers,
//!   history read back from the log, accounts, sponsors, roles, the one error shape.
//! - [`server`]: configuration, the gate in front of every call (authentication, roles,
//!   latency metrics), TLS, the Prometheus endpoint, graceful shutdown.
//! - [`tools`]: what an operator or auditor runs on a data directory (`verify`, `replay`,
//!   export and import), the load generator and the demo.

pub mod api;
pub mod command;
pub mod partitioned;
pub mod processor;
pub mod server;
pub mod tools;
