//! The log on Apache Kafka against the embedded log, side by side in one run, with the same
//! requests (a contribution, a claim and its decision, repeated):
//!
//! - `embedded`: the segment-file log (`FileLog`);
//! - `kafka, 1 broker`: `KafkaLog` on one broker (replication 1);
//! - `kafka, 3 brokers`: `KafkaLog` on three brokers, replication 3, `min.insync.replicas` 2;
//! - `raw rdkafka, 1 broker` / `3 brokers`: the same commits' chunks (the framed bytes the
//!   log stores) produced by an idempotent producer with `acks=all`, each commit's messages
//!   awaited before the next (no transaction): the ceiling the client and broker set.
//!
//! Two loads on the log: batches of 256 events from one appender, and 64 clients appending
//! single events (events/s, each append's p50 and p99). Then commands through the command
//! processor on each log: the mixed iPUSH workload of `benches/commands.rs` (enrolments,
//! savings with sponsor matches, premiums, claims adjudicated on submission) from 64 clients
//! (commands/s, each command's p50 and p99). The brokers are real Apache Kafka
//! 4.4.0 started by the bench (`.ci/kafka/broker`: java and mvn).
//!
//! Run: `cargo bench --bench kafka` (`-- --quick` for a smoke run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use ledger::codec::Envelope;
use ledger::conformance::{numbered, sample_events};
use ledger::log::frame;
use ledger::log::kafka::{KafkaConfig, testing};
use ledger::{AppendRequest, EventLog, FileLog, KafkaLog, Limits, NewEvent, RequestId, StreamId};
use rdkafka::producer::{FutureProducer, FutureRecord};

#[path = "support/workload.rs"]
mod workload;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `count` requests of `batch` events each, over 10,000 households.
fn requests(count: usize, batch: usize, tag: &str) -> Vec<AppendRequest> {
    let samples = sample_events();
    let mix = [&samples[3], &samples[7], &samples[8]];
    (0..count)
        .map(|r| {
            let events = (0..batch)
                .map(|i| {
                    let n = r * batch + i;
                    NewEvent {
                        stream: StreamId::new(
                            ledger::StreamKind::Household,
                            format!("HH-{}", n % 10_000),
                        )
                        .unwrap(),
                        event: numbered(mix[n % mix.len()].clone(), n),
                    }
                })
                .collect();
            AppendRequest::new(RequestId::new(format!("{tag}-{r}")).unwrap(), events)
        })
        .collect()
}

/// What one run measured.
struct Measured {
    events: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Measured {
    fn row(mut self, name: &str, baseline: Option<f64>) -> f64 {
        self.latencies.sort();
        let at = |q: f64| self.latencies[((self.latencies.len() - 1) as f64 * q) as usize];
        let rate = self.events as f64 / self.elapsed.as_secs_f64();
        let ratio = baseline.map_or("1.00x".to_owned(), |b| format!("{:.2}x", rate / b));
        println!(
            "| {name} | {} | {rate:.0} | {ratio} | {:.2} ms | {:.2} ms |",
            self.events,
            at(0.5).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3
        );
        rate
    }
}

/// `work` spread over `clients` lanes (item i in lane i % clients).
fn spread<T>(work: Vec<T>, clients: usize) -> Vec<Vec<T>> {
    let mut lanes: Vec<Vec<T>> = (0..clients).map(|_| Vec::new()).collect();
    for (i, item) in work.into_iter().enumerate() {
        lanes[i % clients].push(item);
    }
    lanes
}

/// A task per lane, each doing its lane's items in sequence with `each`, every call timed;
/// `events` is what the work amounts to.
async fn timed<T, F, Fut>(lanes: Vec<Vec<T>>, events: usize, each: F) -> Measured
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let tasks: Vec<_> = lanes
        .into_iter()
        .map(|lane| {
            let each = each.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(lane.len());
                for item in lane {
                    let t = Instant::now();
                    each(item).await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    Measured {
        events,
        elapsed: start.elapsed(),
        latencies,
    }
}

/// `clients` appenders, each appending its share of `requests` in sequence.
async fn run<L: EventLog>(log: &L, requests: Vec<AppendRequest>, clients: usize) -> Measured {
    let events = requests.iter().map(|r| r.events.len()).sum();
    let log = log.clone();
    timed(spread(requests, clients), events, move |request| {
        let log = log.clone();
        async move {
            log.append(request).await.unwrap();
        }
    })
    .await
}

/// Each request as the log frames it: its events' envelopes (positions from 0, a zero chain
/// hash: its bytes count, not its value) in one chunk of framed records, one message.
fn framed(requests: &[AppendRequest]) -> Vec<Vec<Vec<u8>>> {
    let mut position = 0;
    requests
        .iter()
        .map(|r| {
            let mut chunk = Vec::new();
            for new in &r.events {
                let envelope = Envelope {
                    position,
                    stream: new.stream.clone(),
                    stream_version: 1,
                    recorded_at_unix_ms: 1_795_000_000_000,
                    request_id: r.request_id.clone(),
                    event: new.event.clone(),
                }
                .encode();
                frame::push(&mut chunk, position, &envelope, &[0u8; 32], false);
                position += 1;
            }
            vec![chunk]
        })
        .collect()
}

/// Raw production of `commits` (each commit's messages awaited together; `batch` events
/// each) by `clients`.
async fn raw(
    config: &KafkaConfig,
    commits: Vec<Vec<Vec<u8>>>,
    batch: usize,
    clients: usize,
) -> Measured {
    ledger::log::kafka::ensure_topic(config).await.unwrap();
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &config.bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "0")
        .create()
        .unwrap();
    let events = commits.len() * batch;
    let topic = config.topic.clone();
    timed(spread(commits, clients), events, move |commit| {
        let (producer, topic) = (producer.clone(), topic.clone());
        async move {
            let sends: Vec<_> = commit
                .iter()
                .map(|bytes| {
                    producer.send(
                        FutureRecord::<[u8], [u8]>::to(&topic)
                            .partition(0)
                            .payload(&bytes[..]),
                        Duration::from_secs(30),
                    )
                })
                .collect();
            for send in sends {
                send.await.unwrap();
            }
        }
    })
    .await
}

async fn compare(
    name: &str,
    count: usize,
    batch: usize,
    clients: usize,
    clusters: &[(&str, String, u16)],
) {
    println!("\n{name}: {count} appends of {batch} event(s), {clients} client(s)\n");
    println!("| log | events | events/s | vs embedded | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|---:|");
    let tmp = tempfile::tempdir().unwrap();
    let embedded = FileLog::open(tmp.path().join("embedded")).unwrap();
    let reqs = requests(count, batch, "b");
    let base = run(&embedded, reqs.clone(), clients)
        .await
        .row("embedded", None);
    let chunks = framed(&reqs);
    embedded.shutdown().await.unwrap();
    for (label, bootstrap, replication) in clusters {
        let config = KafkaConfig {
            replication_factor: *replication,
            min_insync_replicas: (*replication).min(2),
            timeout: Duration::from_secs(30),
            ..KafkaConfig::single(bootstrap.clone(), testing::fresh_topic("bench"), 1)
        };
        let log = KafkaLog::open_kafka(
            tmp.path().join(&config.topic),
            config.clone(),
            0,
            Limits::default(),
        )
        .await
        .unwrap();
        run(&log, reqs.clone(), clients)
            .await
            .row(&format!("kafka, {label}"), Some(base));
        log.shutdown().await.unwrap();
        let raw_config = KafkaConfig {
            topic: testing::fresh_topic("bench-raw"),
            ..config
        };
        raw(&raw_config, chunks.clone(), batch, clients)
            .await
            .row(&format!("raw rdkafka, {label}"), Some(base));
    }
}

/// The mixed workload's commands from 64 clients through a command processor over `log`.
async fn commands<L: EventLog>(log: L, households: usize) -> Measured {
    use claims_ledger::command::Command;
    use claims_ledger::processor::Service;
    const CLIENTS: usize = 64;
    let svc = Service::start(log).await.unwrap();
    let publish = Command::PublishScheme {
        document: adjudicator::examples::IPUSH_KE.to_owned(),
        effective_from: workload::day(0),
    };
    svc.execute(RequestId::new("publish").unwrap(), publish)
        .await
        .unwrap();
    let lanes = workload::household_lanes(households, CLIENTS);
    let events = lanes.iter().map(Vec::len).sum();
    let runner = svc.clone();
    let measured = timed(lanes, events, move |(request, command)| {
        let svc = runner.clone();
        async move {
            svc.execute(RequestId::new(request).unwrap(), command)
                .await
                .unwrap();
        }
    })
    .await;
    svc.shutdown().await;
    measured
}

async fn compare_commands(households: usize, clusters: &[(&str, String, u16)]) {
    println!("\ncommands: the mixed iPUSH workload of {households} households, 64 clients\n");
    println!("| log | commands | commands/s | vs embedded | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|---:|");
    let tmp = tempfile::tempdir().unwrap();
    let embedded = FileLog::open(tmp.path().join("embedded")).unwrap();
    let base = commands(embedded.clone(), households)
        .await
        .row("embedded", None);
    embedded.shutdown().await.unwrap();
    for (label, bootstrap, replication) in clusters {
        let config = KafkaConfig {
            replication_factor: *replication,
            min_insync_replicas: (*replication).min(2),
            timeout: Duration::from_secs(30),
            ..KafkaConfig::single(bootstrap.clone(), testing::fresh_topic("bench-cmd"), 1)
        };
        let dir = tmp.path().join(&config.topic);
        let log = KafkaLog::open_kafka(dir, config, 0, Limits::default())
            .await
            .unwrap();
        commands(log.clone(), households)
            .await
            .row(&format!("kafka, {label}"), Some(base));
        log.shutdown().await.unwrap();
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let one = testing::start_cluster(&tmp.path().join("one"), 1);
    let three = testing::start_cluster(&tmp.path().join("three"), 3);
    let clusters = [("1 broker", one, 1), ("3 brokers", three, 3)];
    let scale = if quick { 10 } else { 1 };
    runtime.block_on(async {
        compare("batches", 400 / scale, 256, 1, &clusters).await;
        compare("single events", 6_400 / scale, 1, 64, &clusters).await;
        compare_commands(1_000 / scale, &clusters).await;
    });
}
