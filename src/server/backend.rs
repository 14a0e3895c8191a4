//! Where a server records its events: segment files in its data directory (the default), or
//! Apache Kafka (`--log kafka://host:port[,host:port]`, the `[kafka]` table of the config
//! file), the data directory then holding each partition's replica and checkpoints.

use std::time::Duration;

use ledger::log::kafka::membership::SESSION_TIMEOUT_DEFAULT;
use ledger::log::kafka::{KAFKA_TIMEOUT_DEFAULT, KafkaConfig};

/// The events topic when the config names none.
pub const KAFKA_TOPIC_DEFAULT: &str = "claims-ledger-events";

/// The `[kafka]` table of the config file; every key optional.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaFileConfig {
    /// The events topic [default: claims-ledger-events].
    pub topic: Option<String>,
    /// Replicas of each partition when the ledger creates the topic [default: 1].
    pub replication_factor: Option<u16>,
    /// Replicas that must have a commit before it is acknowledged [default: 1].
    pub min_insync_replicas: Option<u16>,
    /// How long a Kafka call may take before commands fail with UNAVAILABLE [default: 10000].
    pub timeout_ms: Option<u64>,
    /// Where the other nodes reach this one's gRPC, to forward commands while it owns the
    /// ledger (`http://host:port`, `https://` with TLS) [default: the listen address].
    pub advertise: Option<String>,
    /// How long a node may go silent before the nodes' group takes the ledger from it, if
    /// it owned it [default: 6000, Kafka's minimum].
    pub session_timeout_ms: Option<u64>,
}

/// A node of the ledger on Kafka: the topic, and how it takes part in the nodes' group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaNode {
    pub kafka: KafkaConfig,
    /// This node's gRPC address for the others; None: from the address it listens on.
    pub advertise: Option<String>,
    pub session_timeout: Duration,
}

/// Where the events are recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Segment files in the data directory.
    Files,
    /// Apache Kafka; the partition count is the ledger's, set when the data directory is
    /// opened.
    Kafka(KafkaNode),
}

impl Backend {
    /// `files` (or nothing) or `kafka://host:port[,host:port]`, with the file's `[kafka]`.
    pub fn parse(url: Option<&str>, kafka: &KafkaFileConfig) -> Result<Backend, String> {
        let Some(url) = url.filter(|u| *u != "files") else {
            return Ok(Backend::Files);
        };
        let servers = url.strip_prefix("kafka://").ok_or_else(|| {
            format!("log: {url:?} is neither `files` nor `kafka://host:port[,host:port]`")
        })?;
        if servers.is_empty() || servers.split(',').any(|s| !s.contains(':')) {
            return Err(format!("log: {url:?}: name each broker as host:port"));
        }
        let replication_factor = kafka.replication_factor.unwrap_or(1);
        let min_insync_replicas = kafka.min_insync_replicas.unwrap_or(1);
        if replication_factor == 0 || min_insync_replicas == 0 {
            return Err("kafka: replication_factor and min_insync_replicas are at least 1".into());
        }
        if min_insync_replicas > replication_factor {
            return Err(format!(
                "kafka.min_insync_replicas: {min_insync_replicas} is more than the \
                 replication_factor, {replication_factor}: no commit could be acknowledged"
            ));
        }
        if let Some(advertise) = &kafka.advertise
            && !(advertise.starts_with("http://") || advertise.starts_with("https://"))
        {
            return Err(format!(
                "kafka.advertise: {advertise:?} is not http://host:port or https://host:port"
            ));
        }
        let kafka_config = KafkaConfig {
            bootstrap: servers.to_owned(),
            topic: kafka
                .topic
                .clone()
                .unwrap_or_else(|| KAFKA_TOPIC_DEFAULT.to_owned()),
            partitions: 0,
            replication_factor,
            min_insync_replicas,
            timeout: kafka
                .timeout_ms
                .map_or(KAFKA_TIMEOUT_DEFAULT, Duration::from_millis),
        };
        Ok(Backend::Kafka(KafkaNode {
            kafka: kafka_config,
            advertise: kafka.advertise.clone(),
            session_timeout: kafka
                .session_timeout_ms
                .map_or(SESSION_TIMEOUT_DEFAULT, Duration::from_millis),
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn parses_files_and_kafka_and_refuses_the_rest() {
        let none = KafkaFileConfig::default();
        assert_eq!(Backend::parse(None, &none), Ok(Backend::Files));
        assert_eq!(Backend::parse(Some("files"), &none), Ok(Backend::Files));
        let Ok(Backend::Kafka(k)) = Backend::parse(Some("kafka://a:1,b:2"), &none) else {
            panic!("not kafka");
        };
        let k = k.kafka;
        assert_eq!(
            (k.bootstrap.as_str(), k.topic.as_str(), k.replication_factor),
            ("a:1,b:2", KAFKA_TOPIC_DEFAULT, 1)
        );
        for bad in ["kafka://", "kafka://host", "http://a:1", "sled"] {
            assert!(Backend::parse(Some(bad), &none).is_err(), "{bad}");
        }
        let unsafe_isr = KafkaFileConfig {
            replication_factor: Some(2),
            min_insync_replicas: Some(3),
            ..KafkaFileConfig::default()
        };
        let refused = Backend::parse(Some("kafka://a:1"), &unsafe_isr).unwrap_err();
        assert!(
            refused.starts_with("kafka.min_insync_replicas"),
            "{refused}"
        );
    }
}
