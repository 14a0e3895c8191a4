//! The Kafka log beyond the conformance suite: ownership moving between nodes (fencing),
//! replicas catching up, a shortened topic, and Kafka offsets against positions. Real Apache
//! Kafka (`ledger::log::kafka::testing`).

#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger::conformance::{contribution, request};
use ledger::log::kafka::{KafkaConfig, ensure_topic, testing};
use ledger::{AppendError, EventLog, KafkaLog, Limits, LogError};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

fn config(prefix: &str) -> KafkaConfig {
    KafkaConfig::single(testing::bootstrap(), testing::fresh_topic(prefix), 1)
}

async fn open(dir: &std::path::Path, config: &KafkaConfig) -> Result<KafkaLog, LogError> {
    KafkaLog::open_kafka(dir, config.clone(), 0, Limits::default()).await
}

async fn save(log: &KafkaLog, i: usize) -> Result<ledger::AppendOutcome, AppendError> {
    log.append(request(
        &format!("req-{i}"),
        vec![contribution("HH-1", &format!("R{i}"), 100 + i as i64)],
    ))
    .await
}

/// A second node opening the partition takes it over: its replica catches up with every
/// committed event, the first node's next commit is refused (fenced) and appears nowhere,
/// and the new owner continues the same positions and chain. The first node, reopened,
/// takes the partition back and catches up in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_fences_the_old_one_and_catches_up() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config("fencing");
    let a = open(&tmp.path().join("a"), &config).await.unwrap();
    for i in 0..3 {
        save(&a, i).await.unwrap();
    }
    let b = open(&tmp.path().join("b"), &config).await.unwrap();
    assert_eq!(b.head(), a.head());
    assert_eq!(b.read(0, 10).await.unwrap(), a.read(0, 10).await.unwrap());

    let zombie = save(&a, 3).await;
    assert!(
        matches!(zombie, Err(AppendError::Storage(ref reason)) if reason.contains("kafka")),
        "{zombie:?}"
    );
    let next = save(&b, 4).await.unwrap();
    assert_eq!(next.first_position, 3);
    // The fenced commit is nowhere: not in the new owner's log, nor refused as a used id.
    let events = b.read(0, 10).await.unwrap();
    assert_eq!(events.len(), 4);
    assert!(save(&b, 3).await.is_ok(), "R3 was never recorded");
    assert!(b.verify(0, 5).await.unwrap().is_ok());

    a.shutdown().await.unwrap();
    drop(a);
    let a = open(&tmp.path().join("a"), &config).await.unwrap();
    assert_eq!(a.head(), b.head());
    assert_eq!(a.read(0, 10).await.unwrap(), b.read(0, 10).await.unwrap());
    // Retries are answered from the caught-up index.
    let retry = save(&a, 4).await.unwrap();
    assert!(retry.already_appended);
    assert_eq!(retry.first_position, 3);
}

/// A topic holding less than the node's replica (deleted and made again, or another
/// cluster) is refused at open, naming both ends: never a silently shorter ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_shorter_than_the_replica_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config("shortened");
    let log = open(tmp.path(), &config).await.unwrap();
    save(&log, 0).await.unwrap();
    save(&log, 1).await.unwrap();
    log.shutdown().await.unwrap();
    drop(log);
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &config.bootstrap)
        .create()
        .unwrap();
    admin
        .delete_topics(&[&config.topic], &AdminOptions::new())
        .await
        .unwrap();
    // Deleting completes in the background: create again until the broker takes it.
    let mut again = ensure_topic(&config).await;
    for _ in 0..100 {
        if again.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        again = ensure_topic(&config).await;
    }
    again.unwrap();
    match open(tmp.path(), &config).await {
        Err(LogError::Shortened { head, anchored }) => assert_eq!((head, anchored), (0, 2)),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("opened over a shorter topic"),
    }
}

/// Kafka offsets under transactions are not gapless (each commit's marker takes one), while
/// the ledger's positions are: the position stays in every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_offsets_have_gaps_positions_do_not() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config("offsets");
    let log = open(tmp.path(), &config).await.unwrap();
    for i in 0..5 {
        assert_eq!(save(&log, i).await.unwrap().first_position, i as u64);
    }
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &config.bootstrap)
        .create()
        .unwrap();
    let (_, high) = consumer
        .fetch_watermarks(&config.topic, 0, config.timeout)
        .unwrap();
    // Five one-chunk commits: five messages and five commit markers.
    assert_eq!(high, 10);
    assert_eq!(log.head().next_position, 5);
}

/// Waits until `log`'s head is `head` (a follower replicating), at most 30 s.
async fn until_head(log: &KafkaLog, head: ledger::Head) {
    let mut watch = log.watch_head();
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while *watch.borrow_and_update() != head {
            watch.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the follower stayed at {:?}", log.head()));
}

/// A follower's replica follows the owner's commits as they are made, byte for byte (same
/// positions, request ids, times and chain); reopened, it resumes from its read mark; and
/// it takes over as the next owner from its replica, fencing the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_replicates_the_owner_and_takes_over_from_its_replica() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config("follower");
    let owner = open(&tmp.path().join("owner"), &config).await.unwrap();
    save(&owner, 0).await.unwrap();
    let dir = tmp.path().join("follower");
    let (follower, following) = KafkaLog::open_follower(&dir, config.clone(), 0, Limits::default())
        .await
        .unwrap();
    assert_eq!(follower.head(), owner.head(), "caught up at open");
    for i in 1..20 {
        save(&owner, i).await.unwrap();
    }
    until_head(&follower, owner.head()).await;
    assert_eq!(
        follower.read(0, 100).await.unwrap(),
        owner.read(0, 100).await.unwrap()
    );
    assert!(follower.verify(0, 20).await.unwrap().is_ok());
    assert_eq!(following.status().borrow().failed, None);
    assert_eq!(
        follower
            .request_positions(&"req-7".parse().unwrap())
            .await
            .unwrap(),
        Some(7..8),
        "the replica's index knows the owner's requests"
    );
    following.stop().await;
    follower.shutdown().await.unwrap();
    drop(follower);

    // Reopened after more commits: it reads on from its mark.
    for i in 20..25 {
        save(&owner, i).await.unwrap();
    }
    let (follower, following) = KafkaLog::open_follower(&dir, config.clone(), 0, Limits::default())
        .await
        .unwrap();
    assert_eq!(follower.head(), owner.head());
    following.stop().await;
    follower.shutdown().await.unwrap();
    drop(follower);

    // The follower's replica becomes the next owner's: the first owner is fenced.
    let next = open(&dir, &config).await.unwrap();
    assert_eq!(next.head(), owner.head());
    assert!(save(&owner, 25).await.is_err(), "fenced");
    assert_eq!(save(&next, 25).await.unwrap().first_position, 25);
}

/// A follower takes the partition over in place: it fences the owner, holds every commit
/// the owner made (also those made while it was stopping), and commits on from there; its
/// commits reach another follower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_takes_over_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config("in-place");
    let owner = open(&tmp.path().join("owner"), &config).await.unwrap();
    let follow = |name: &str| {
        KafkaLog::open_follower(tmp.path().join(name), config.clone(), 0, Limits::default())
    };
    let (next, following) = follow("next").await.unwrap();
    let (watcher, watching) = follow("watcher").await.unwrap();
    for i in 0..10 {
        save(&owner, i).await.unwrap();
    }
    next.take_over(following).await.unwrap();
    assert_eq!(next.head(), owner.head(), "every commit before the fence");
    assert!(save(&owner, 10).await.is_err(), "the old owner is fenced");
    assert_eq!(save(&next, 10).await.unwrap().first_position, 10);
    assert!(next.verify(0, 11).await.unwrap().is_ok());
    until_head(&watcher, next.head()).await;
    assert_eq!(
        watcher.read(0, 20).await.unwrap(),
        next.read(0, 20).await.unwrap()
    );
    watching.stop().await;
}

/// Every message of partition 0 of `config`'s topic that is committed: (key, payload).
fn committed_messages(config: &KafkaConfig) -> Vec<(Vec<u8>, Vec<u8>)> {
    use rdkafka::message::Message;
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &config.bootstrap)
        .set("group.id", format!("{}-copy", config.topic))
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset(&config.topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut out = Vec::new();
    loop {
        match consumer.poll(config.timeout) {
            Some(Ok(m)) => out.push((m.key().unwrap().to_vec(), m.payload().unwrap().to_vec())),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return out,
            other => panic!("reading the topic: {other:?}"),
        }
    }
}

/// A node whose replica holds a commit the topic does not show yet (its producer had the
/// answer; the markers that make it visible to committed readers come after) waits while
/// that transaction is open, and opens once it commits, instead of refusing its replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_ahead_of_an_open_transaction_waits_for_its_commit() {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let tmp = tempfile::tempdir().unwrap();
    let first = config("ahead");
    let log = open(tmp.path(), &first).await.unwrap();
    save(&log, 0).await.unwrap();
    save(&log, 1).await.unwrap();
    let events = log.read(0, 10).await.unwrap();
    log.shutdown().await.unwrap();
    drop(log);
    let commits = committed_messages(&first);
    assert_eq!(commits.len(), 2);

    // The same commits in another topic: the first committed, the second still open.
    let second = config("behind");
    ensure_topic(&second).await.unwrap();
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &second.bootstrap)
        .set("transactional.id", format!("{}-writer", second.topic))
        .create()
        .unwrap();
    producer.init_transactions(second.timeout).unwrap();
    for (i, (key, payload)) in commits.iter().enumerate() {
        producer.begin_transaction().unwrap();
        producer
            .send(
                BaseRecord::to(&second.topic)
                    .partition(0)
                    .key(key)
                    .payload(payload),
            )
            .unwrap();
        producer.flush(second.timeout).unwrap();
        if i == 0 {
            producer.commit_transaction(second.timeout).unwrap();
        }
    }
    let opening = tokio::spawn({
        let (dir, second) = (tmp.path().to_owned(), second.clone());
        async move { open(&dir, &second).await }
    });
    let mut opening = std::pin::pin!(opening);
    let early = tokio::time::timeout(std::time::Duration::from_secs(2), &mut opening).await;
    assert!(
        early.is_err(),
        "opened or refused while the commit was open: {early:?}"
    );
    producer.commit_transaction(second.timeout).unwrap();
    let log = opening.await.unwrap().unwrap();
    assert_eq!(log.head().next_position, 2);
    assert_eq!(log.read(0, 10).await.unwrap(), events);
}
