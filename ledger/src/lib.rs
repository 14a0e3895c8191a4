//! claims-ledger core: money, ids, domain events, and the durable hash-chained event log.
//!
//! - [`money`]: integer minor units + ISO 4217 currency, checked arithmetic.
//! - [`bounds`]: the named maxima of every value an event carries, and why no sum overflows.
//! - [`ids`]: typed, validated identifiers.
//! - [`event`]: the domain events of a health-financing scheme, and their invariants.
//! - [`codec`]: the one place where domain types meet their protobuf encoding.
//! - [`chain`]: the SHA-256 hash chain.
//! - [`partition`]: which partition a key belongs to (Kafka's murmur2 partitioner).
//! - `log` (feature `log`, default): the `EventLog` port and its embedded adapters (memory,
//!   sled).
//! - `conformance` (feature `test-support`, for tests): the one suite every log backend must
//!   pass.
//!
//! Without the `log` feature the crate does no IO: that is how `adjudicator` and
//! `projections` use it.

pub mod bounds;
pub mod chain;
pub mod codec;
#[cfg(feature = "test-support")]
pub mod conformance;
pub mod event;
pub mod ids;
#[cfg(feature = "log")]
pub mod log;
pub mod money;
pub mod partition;

pub use event::{Date, Event, FieldError, NewEvent, StreamId, StreamKind, UniqueId};
pub use ids::RequestId;
#[cfg(feature = "kafka")]
pub use log::KafkaLog;
#[cfg(feature = "log")]
pub use log::{
    AppendError, AppendOutcome, AppendRequest, EventLog, ExpectedVersion, FileLog, Head, Limits,
    LogError, MemoryLog, RecordedEvent, SledLog, VerifyReport,
};
pub use money::{Amount, Currency, MoneyError};
