//! The events topic, created when missing with the configured partitions and replication.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::{KafkaConfig, unavailable};
use crate::log::LogError;

/// Creates the events topic when it does not exist; refuses one whose partition count is not
/// the ledger's (changing P is export and import, never a topic change).
pub async fn ensure_topic(config: &KafkaConfig) -> Result<(), LogError> {
    let admin: AdminClient<DefaultClientContext> = config
        .client()
        .create()
        .map_err(|e| unavailable("admin client", e))?;
    let partitions = i32::try_from(config.partitions)
        .map_err(|_| LogError::Storage(format!("{} partitions", config.partitions)))?;
    let min_isr = config.min_insync_replicas.to_string();
    let topic = NewTopic::new(
        &config.topic,
        partitions,
        TopicReplication::Fixed(i32::from(config.replication_factor)),
    )
    .set("min.insync.replicas", &min_isr)
    // The log is the truth: never deleted or compacted away.
    .set("retention.ms", "-1")
    .set("retention.bytes", "-1")
    .set("cleanup.policy", "delete");
    let options = AdminOptions::new().operation_timeout(Some(config.timeout));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .map_err(|e| unavailable("creating the events topic", e))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(unavailable(&format!("creating {name}"), code)),
        }
    }
    // A topic just created reaches the brokers' metadata a moment later.
    let deadline = std::time::Instant::now() + config.timeout;
    let found = loop {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(&config.topic), config.timeout)
            .map_err(|e| unavailable("reading the topic's metadata", e))?;
        let found = metadata
            .topics()
            .iter()
            .find(|t| t.name() == config.topic)
            .map_or(0, |t| t.partitions().len());
        if found > 0 || std::time::Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    if found != config.partitions as usize {
        return Err(LogError::Storage(format!(
            "kafka: topic {} has {found} partitions, the ledger {} (changing the count is \
             export and import into a new topic)",
            config.topic, config.partitions
        )));
    }
    Ok(())
}
