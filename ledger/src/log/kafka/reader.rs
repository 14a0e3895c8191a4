//! Reading a partition of the events topic as committed (`read_committed`), to its end.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::{KafkaConfig, unavailable};
use crate::log::LogError;

/// What [`read_committed`] calls with each message: its Kafka offset, its first position and
/// its chunk.
pub(super) type ChunkVisitor<'f> = dyn FnMut(i64, u64, &[u8]) -> Result<(), LogError> + 'f;

/// Calls `f(kafka offset, first position, chunk)` with every committed message of `partition` from Kafka
/// offset `from`, up to the partition's end when called. Returns the offset after the last.
pub(super) fn read_committed(
    config: &KafkaConfig,
    partition: u32,
    from: i64,
    f: &mut ChunkVisitor<'_>,
) -> Result<i64, LogError> {
    let consumer = partition_reader(config, partition)?;
    let kafka_partition = kafka_partition(partition)?;
    let (_, high) = consumer
        .fetch_watermarks(&config.topic, kafka_partition, config.timeout)
        .map_err(|e| unavailable("reading the partition's end", e))?;
    if from >= high {
        // Below `from` when the topic is shorter than the caller thought.
        return Ok(high);
    }
    assign(&consumer, config, partition, from)?;
    let mut next = from;
    let mut last_progress = Instant::now();
    // The client reports a broker it cannot reach (one of the bootstrap servers died) and
    // goes on with the others: an error is final only when nothing moves for the timeout.
    let mut last_error = None;
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => last_error = Some(e.to_string()),
            Some(Ok(message)) => {
                let first = first_position(&message)?;
                f(
                    message.offset(),
                    first,
                    message.payload().unwrap_or_default(),
                )?;
                next = message.offset() + 1;
                last_progress = Instant::now();
            }
        }
        if last_progress.elapsed() > config.timeout {
            return Err(unavailable(
                "reading the partition",
                format!(
                    "no progress for {:?} at offset {next}{}",
                    config.timeout,
                    last_error.map_or(String::new(), |e| format!(": {e}"))
                ),
            ));
        }
    }
    // Past `next` up to `high`: markers, aborted records, or a transaction not yet
    // visible (its markers still to be written); a caller that expects more reads again.
    Ok(next.max(high))
}

/// Whether a transaction is open in `partition`: its end for `read_uncommitted` readers (the
/// high watermark) lies past its end for `read_committed` ones (the last stable offset, the
/// first offset of the oldest open transaction; librdkafka answers the watermark query by
/// the consumer's isolation level).
pub(super) fn transaction_open(config: &KafkaConfig, partition: u32) -> Result<bool, LogError> {
    let kafka_partition = kafka_partition(partition)?;
    let end = |consumer: BaseConsumer| {
        consumer
            .fetch_watermarks(&config.topic, kafka_partition, config.timeout)
            .map(|(_, high)| high)
            .map_err(|e| unavailable("reading the partition's end", e))
    };
    let committed = end(partition_reader(config, partition)?)?;
    let uncommitted: BaseConsumer = config
        .client()
        .set("isolation.level", "read_uncommitted")
        .create()
        .map_err(|e| unavailable("consumer", e))?;
    Ok(end(uncommitted)? > committed)
}

/// A consumer of the events topic that reads only what is committed, assigned by hand (no
/// group membership, no offsets stored in Kafka).
pub(super) fn partition_reader(
    config: &KafkaConfig,
    partition: u32,
) -> Result<BaseConsumer, LogError> {
    config
        .client()
        .set("group.id", format!("{}-replica-p{partition}", config.topic))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .map_err(|e| unavailable("consumer", e))
}

pub(super) fn kafka_partition(partition: u32) -> Result<i32, LogError> {
    i32::try_from(partition).map_err(|_| LogError::Storage(format!("partition {partition}")))
}

/// Reads `partition` from Kafka offset `from` on.
pub(super) fn assign(
    consumer: &BaseConsumer,
    config: &KafkaConfig,
    partition: u32,
    from: i64,
) -> Result<(), LogError> {
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(
            &config.topic,
            kafka_partition(partition)?,
            Offset::Offset(from),
        )
        .map_err(|e| unavailable("assigning the partition", e))?;
    consumer
        .assign(&assignment)
        .map_err(|e| unavailable("assigning the partition", e))
}

/// The position of a message's first record, its key.
pub(super) fn first_position(message: &impl Message) -> Result<u64, LogError> {
    message
        .key()
        .and_then(|k| <[u8; 8]>::try_from(k).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| LogError::Corrupt {
            position: 0,
            reason: format!("kafka offset {} has no position key", message.offset()),
        })
}
