//! The event log on Apache Kafka: a ledger's partitions are one topic's partitions.
//!
//! The same log as the embedded one (`Log`: group commit, positions, the hash chain, request
//! ids, stream versions, unique ids) over a store whose commits go to Kafka first
//! ([`KafkaStore`]). Each partition's commit is one Kafka transaction of its chunks (one
//! message per chunk: key = the position of its first record, value = its framed records,
//! CRCs and chain hashes included), produced by the partition's transactional producer
//! (`transactional.id` = `<topic>-p<partition>`), so opening a partition's log fences any
//! earlier owner: its open transaction is aborted, and its later commits fail and stay
//! invisible to `read_committed` readers. A commit is acknowledged once Kafka committed it
//! (acks=all, `min.insync.replicas` from the config).
//!
//! The node keeps a replica of its partitions in segment files of its own (the embedded
//! `FileStore`): reads, the index and recovery are the embedded log's. At open, after fencing,
//! the replica catches up with the topic (`read_committed`), so it holds every committed
//! commit and nothing else.
//!
//! Differences from the embedded log (tested in `tests/conformance_kafka.rs`): Kafka offsets
//! under transactions are not gapless (commit markers take offsets); the logical position
//! stays in every record, and readers use it. A commit is durable when Kafka says so, not
//! when the local replica is synced.

mod admin;
mod commits;
pub mod follow;
pub mod membership;
mod producer;
mod reader;
mod store;
#[cfg(feature = "test-support")]
pub mod testing;

use std::time::Duration;

pub use admin::ensure_topic;
pub use follow::{FollowStatus, Following};
pub use membership::{Membership, Ownership};
pub use store::KafkaStore;

use super::LogError;

/// Where the ledger's events topic is and how it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `host:port[,host:port]`.
    pub bootstrap: String,
    pub topic: String,
    /// The ledger's partition count: the topic's, when the ledger creates it.
    pub partitions: u32,
    pub replication_factor: u16,
    pub min_insync_replicas: u16,
    /// The longest a Kafka call may take before the log reports Kafka unavailable (fencing
    /// at open, a commit, a read).
    pub timeout: Duration,
}

/// What a commit refused because another node took the partition over says (the log then
/// refuses appends; the node must not take the partition back by itself).
pub const FENCED: &str = "fenced by a newer owner of the partition";

/// How long a Kafka call waits by default: commands fail with UNAVAILABLE after it.
pub const KAFKA_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);

impl KafkaConfig {
    /// One broker's topic with one replica (tests and a single-node deployment).
    pub fn single(bootstrap: impl Into<String>, topic: impl Into<String>, partitions: u32) -> Self {
        KafkaConfig {
            bootstrap: bootstrap.into(),
            topic: topic.into(),
            partitions,
            replication_factor: 1,
            min_insync_replicas: 1,
            timeout: KAFKA_TIMEOUT_DEFAULT,
        }
    }

    fn client(&self) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("socket.timeout.ms", self.timeout.as_millis().to_string())
            // Small requests (a transaction's control calls) are sent at once.
            .set("socket.nagle.disable", "true")
            .set("log_level", "3");
        config
    }
}

/// Whether the brokers answer for the events topic (blocking, at most `config.timeout`).
pub fn reachable(config: &KafkaConfig) -> Result<(), LogError> {
    use rdkafka::producer::Producer;
    let producer: rdkafka::producer::BaseProducer = config
        .client()
        .create()
        .map_err(|e| unavailable("client", e))?;
    producer
        .client()
        .fetch_metadata(Some(&config.topic), config.timeout)
        .map(|_| ())
        .map_err(|e| unavailable("reaching the brokers", e))
}

/// A Kafka failure as the log reports it: storage unavailable.
fn unavailable(what: &str, e: impl std::fmt::Display) -> LogError {
    LogError::Storage(format!("kafka: {what}: {e}"))
}
