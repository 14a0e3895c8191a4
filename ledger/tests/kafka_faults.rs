//! The Kafka log when a broker dies: three real brokers, replication 3,
//! `min.insync.replicas` 2, the partition's leader SIGKILLed in the middle of a load.

#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use ledger::conformance::{contribution, request};
use ledger::log::kafka::{KafkaConfig, testing};
use ledger::{EventLog, KafkaLog, Limits, RequestId};
use rdkafka::consumer::{BaseConsumer, Consumer};

/// Appenders per load, and the appends each makes (`KAFKA_FAULTS_APPENDS` for a longer run).
const CLIENTS: usize = 4;
const APPENDS: usize = 60;
/// Leaders killed in the load (`KAFKA_FAULTS_KILLS`); each after the first restarts the
/// broker killed before it first.
const KILLS: usize = 1;

/// A count from the environment, else `default` (the short run `.ci/run` makes).
fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The broker leading partition 0 of `topic`.
fn leader(config: &KafkaConfig) -> i32 {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &config.bootstrap)
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(&config.topic), Duration::from_secs(10))
        .unwrap();
    metadata.topics()[0].partitions()[0].leader()
}

/// Every append acknowledged before, during and after the leader's death is in the log a
/// new owner reads back, at the positions it was acknowledged at; appends go on after it.
/// The longer run (BENCHMARKS.md "Kafka"): `KAFKA_FAULTS_APPENDS=3000 KAFKA_FAULTS_KILLS=3
/// cargo test -p ledger --features kafka,test-support --test kafka_faults`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_mid_load_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = tmp.path().join("kafka");
    let config = KafkaConfig {
        replication_factor: 3,
        min_insync_replicas: 2,
        timeout: Duration::from_secs(30),
        ..KafkaConfig::single(
            testing::start_cluster(&cluster, 3),
            testing::fresh_topic("broker-kill"),
            1,
        )
    };
    let log = KafkaLog::open_kafka(tmp.path().join("a"), config.clone(), 0, Limits::default())
        .await
        .unwrap();
    let (appends, kills) = (
        knob("KAFKA_FAULTS_APPENDS", APPENDS),
        knob("KAFKA_FAULTS_KILLS", KILLS),
    );
    let total = CLIENTS * appends;
    let started = std::time::Instant::now();
    let (acked_tx, mut acked) = tokio::sync::mpsc::unbounded_channel();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (log, acked_tx) = (log.clone(), acked_tx.clone());
            tokio::spawn(async move {
                for i in 0..appends {
                    let id = format!("c{c}-{i}");
                    let event = contribution(&format!("HH-{c}"), &id, 100);
                    let outcome = log.append(request(&id, vec![event])).await.unwrap();
                    acked_tx.send((id, outcome.first_position)).unwrap();
                }
            })
        })
        .collect();
    drop(acked_tx);
    let mut positions = BTreeMap::new();
    let mut dead = None;
    for kill in 1..=kills {
        // A share of the load acknowledged: kill the partition's leader.
        while positions.len() < total * kill / (kills + 2) {
            let (id, position) = acked.recv().await.unwrap();
            positions.insert(id, position);
        }
        if let Some(earlier) = dead {
            testing::restart_node(&cluster, u32::try_from(earlier).unwrap());
        }
        let leader = leader(&config);
        testing::kill_node(&cluster, u32::try_from(leader).unwrap());
        dead = Some(leader);
        eprintln!(
            "killed broker {leader} at {} acknowledged appends",
            positions.len()
        );
    }
    while let Some((id, position)) = acked.recv().await {
        positions.insert(id, position);
    }
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(positions.len(), total);
    eprintln!(
        "{total} appends acknowledged in {:.1} s through {kills} leader kills",
        started.elapsed().as_secs_f64()
    );
    assert_ne!(
        Some(leader(&config)),
        dead,
        "the partition has a new leader"
    );
    log.shutdown().await.unwrap();
    drop(log);

    // Another node takes the partition over from the surviving brokers.
    let other = KafkaLog::open_kafka(tmp.path().join("b"), config, 0, Limits::default())
        .await
        .unwrap();
    assert_eq!(other.head().next_position, total as u64);
    for (id, position) in &positions {
        let found = other
            .request_positions(&RequestId::new(id).unwrap())
            .await
            .unwrap();
        assert_eq!(found, Some(*position..*position + 1), "{id}");
    }
    assert!(
        other
            .verify(0, other.head().next_position)
            .await
            .unwrap()
            .is_ok()
    );
    let after = other
        .append(request("after", vec![contribution("HH-0", "after", 1)]))
        .await
        .unwrap();
    assert_eq!(after.first_position, total as u64);
}
