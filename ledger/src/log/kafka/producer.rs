//! A partition's transactional producer: one Kafka transaction per commit.

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::{FENCED, KafkaConfig, unavailable};
use crate::log::LogError;

/// How long one wait for the producer's events lasts while a commit's messages are
/// delivered.
const DELIVERY_POLL: std::time::Duration = std::time::Duration::from_millis(1);

/// How long a transaction may stay open before the coordinator aborts it: six Kafka
/// timeouts, room for a commit's deliveries and its answer.
pub(super) fn transaction_timeout(config: &KafkaConfig) -> std::time::Duration {
    config.timeout.saturating_mul(6)
}

/// The transactional producer of one partition of the events topic.
pub(super) struct Transactions {
    producer: BaseProducer,
    topic: String,
    partition: i32,
    timeout: std::time::Duration,
}

/// The transactional id of a partition's producer: a new owner's `init_transactions` under
/// the same id fences the old owner.
pub fn transactional_id(topic: &str, partition: u32) -> String {
    format!("{topic}-p{partition}")
}

impl Transactions {
    /// Opens the producer and takes the partition over (blocking): an earlier owner's open
    /// transaction is aborted and its later commits refused.
    pub(super) fn open(config: &KafkaConfig, partition: u32) -> Result<Self, LogError> {
        let producer: BaseProducer = config
            .client()
            .set(
                "transactional.id",
                transactional_id(&config.topic, partition),
            )
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "0")
            .set(
                "transaction.timeout.ms",
                transaction_timeout(config).as_millis().to_string(),
            )
            .set("message.timeout.ms", config.timeout.as_millis().to_string())
            .create()
            .map_err(|e| unavailable("producer", e))?;
        producer
            .init_transactions(config.timeout)
            .map_err(|e| unavailable("taking the partition over (init_transactions)", e))?;
        Ok(Transactions {
            producer,
            topic: config.topic.clone(),
            partition: i32::try_from(partition)
                .map_err(|_| LogError::Storage(format!("partition {partition}")))?,
            timeout: config.timeout,
        })
    }

    /// Commits `chunks` (first position, framed records) as one transaction (blocking).
    /// Err: nothing of them is visible to `read_committed` readers, or (a commit whose
    /// answer was lost) the log must be reopened to learn whether it was.
    pub(super) fn commit(&self, chunks: &[(u64, Vec<u8>)]) -> Result<(), LogError> {
        self.producer
            .begin_transaction()
            .map_err(|e| self.failed("beginning a transaction", e))?;
        for (first, bytes) in chunks {
            let key = first.to_be_bytes();
            let mut record = BaseRecord::to(&self.topic)
                .partition(self.partition)
                .key(&key[..])
                .payload(&bytes[..]);
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The producer's queue is bounded (queue.buffering.max.messages):
                        // let it deliver, then try again.
                        self.producer.poll(std::time::Duration::from_millis(10));
                        record = back;
                    }
                    Err((e, _)) => return Err(self.failed("producing a chunk", e)),
                }
            }
        }
        let started = std::time::Instant::now();
        self.delivered(started + self.timeout);
        let committed = self
            .producer
            .commit_transaction(self.timeout)
            .map_err(|e| self.failed("committing", e));
        metrics::histogram!("kafka_commit_seconds").record(started.elapsed().as_secs_f64());
        committed
    }

    /// Serves the producer's events until every message sent is delivered (or `deadline`).
    /// `commit_transaction` would wait for that itself, but between events it sleeps in
    /// slices of 100 ms (rdkafka's `flush`) and wakes late: ~100 ms on every commit,
    /// measured. Polling in short slices here answers within a millisecond of the delivery.
    fn delivered(&self, deadline: std::time::Instant) {
        while self.producer.in_flight_count() > 0 && std::time::Instant::now() < deadline {
            self.producer.poll(DELIVERY_POLL);
        }
    }

    /// Aborts what the failed transaction produced (best effort) and says what failed; a
    /// producer fenced by a newer owner says [`FENCED`].
    fn failed(&self, what: &str, e: KafkaError) -> LogError {
        metrics::counter!("kafka_commit_failures_total").increment(1);
        let fenced_code = |code: Option<RDKafkaErrorCode>| {
            matches!(
                code,
                Some(
                    RDKafkaErrorCode::Fenced
                        | RDKafkaErrorCode::ProducerFenced
                        | RDKafkaErrorCode::InvalidProducerEpoch
                )
            )
        };
        let fenced = fenced_code(e.rdkafka_error_code())
            || fenced_code(self.producer.client().fatal_error().map(|(code, _)| code));
        let _ = self.producer.abort_transaction(self.timeout);
        let what = format!("{what} (partition {} of {})", self.partition, self.topic);
        if fenced {
            unavailable(&format!("{FENCED}: {what}"), e)
        } else {
            unavailable(&what, e)
        }
    }
}
