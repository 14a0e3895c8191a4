//! The conformance suite against the Kafka log: real Apache Kafka (the broker `.ci/run`
//! starts, or one this test starts, `ledger::log::kafka::testing`), a fresh topic per test,
//! the replica in a temp directory.

#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger::log::kafka::{KafkaConfig, testing};
use ledger::{KafkaLog, Limits};

async fn open() -> (KafkaLog, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = KafkaConfig::single(testing::bootstrap(), testing::fresh_topic("conformance"), 1);
    let log = KafkaLog::open_kafka(dir.path().join("replica"), config, 0, Limits::default())
        .await
        .expect("open the kafka log");
    (log, dir)
}

ledger::conformance_tests!(open().await, ledger::Limits::default().batch_events_max);
