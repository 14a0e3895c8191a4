//! A follower's replica: the partition's commits read from the events topic as the owner
//! makes them (`read_committed`), appended to the local log in order, each checked against
//! the chain hash the owner recorded.
//!
//! The local log re-appends each commit's requests with their recorded times, as an import
//! does, so its records are byte for byte the owner's: the head after a commit must be the
//! topic's position and hash, or following stops with the error. Nothing else appends to a
//! follower's log.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use tokio::sync::{mpsc, watch};

use super::commits::{Commit, Commits, ReadMark, mark_path};
use super::reader::{assign, first_position, kafka_partition, partition_reader};
use super::{KafkaConfig, KafkaStore};
use crate::codec::Envelope;
use crate::event::NewEvent;
use crate::log::{AppendRequest, EventLog, Head, Limits, Log, LogError, chunk};

/// Whole commits read ahead of the appends to the local log.
pub const FOLLOW_COMMITS_AHEAD: usize = 16;
/// How often a follower asks the broker how far the partition reaches (its lag).
pub const FOLLOW_LAG_EVERY: Duration = Duration::from_millis(500);

/// How a follower stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowStatus {
    /// Kafka offsets between what the replica holds and the partition's end, when last
    /// asked (commit markers count: it is 1 or 2 per commit when caught up to a commit in
    /// progress, 0 when idle).
    pub lag_offsets: i64,
    /// Why following stopped, if it did (a damaged or diverging topic): the replica then
    /// stays where it is.
    pub failed: Option<String>,
}

/// A partition's replica following the topic; stops when dropped or [`Following::stop`]ped.
pub struct Following {
    config: KafkaConfig,
    partition: u32,
    marks: PathBuf,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
    appender: Option<tokio::task::JoinHandle<()>>,
    status: watch::Receiver<FollowStatus>,
}

impl Following {
    pub fn status(&self) -> watch::Receiver<FollowStatus> {
        self.status.clone()
    }

    /// Stops reading; returns once the commits read are appended and the follower no
    /// longer holds the log (so it can be shut down and opened again).
    pub async fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = tokio::task::spawn_blocking(move || reader.join()).await;
        }
        if let Some(appender) = self.appender.take() {
            let _ = appender.await;
        }
    }
}

impl Log<KafkaStore> {
    /// Makes this follower's log the partition's owner, in place: stops following, takes
    /// the partition over (`init_transactions`, which fences the previous owner: nothing it
    /// commits from now on is visible), appends what was committed before the fence and not
    /// yet read, then commits to Kafka from here on. Err: the log is left as a follower's.
    pub async fn take_over(&self, following: Following) -> Result<(), LogError> {
        let (config, partition, marks) = (
            following.config.clone(),
            following.partition,
            following.marks.clone(),
        );
        let failed = following.status.borrow().failed.clone();
        following.stop().await;
        if let Some(reason) = failed {
            return Err(LogError::Storage(format!(
                "kafka: the replica stopped following: {reason}"
            )));
        }
        let mark = ReadMark::load(&marks);
        let (transactions, commits) = tokio::task::spawn_blocking(move || {
            let transactions = super::producer::Transactions::open(&config, partition)?;
            let commits = commits_from(&config, partition, mark)?;
            Ok::<_, LogError>((transactions, commits))
        })
        .await
        .map_err(|e| LogError::Storage(format!("taking the partition over: {e}")))??;
        for (commit, mark) in commits {
            replicate(self, commit).await?;
            mark.save(&marks)?;
        }
        self.store().own(transactions);
        Ok(())
    }
}

/// Every whole commit of `partition` from `mark` to the partition's end, each with the mark
/// after it.
fn commits_from(
    config: &KafkaConfig,
    partition: u32,
    mark: ReadMark,
) -> Result<Vec<(Commit, ReadMark)>, LogError> {
    let mut commits = Commits::default();
    let mut whole = Vec::new();
    super::reader::read_committed(
        config,
        partition,
        mark.offset,
        &mut |offset, first, bytes| {
            if let Some(commit) = commits.push(first, bytes)? {
                let mark = ReadMark {
                    offset: offset + 1,
                    position: commit.end,
                };
                whole.push((commit, mark));
            }
            Ok(())
        },
    )?;
    commits.finish()?;
    Ok(whole)
}

impl Drop for Following {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Log<KafkaStore> {
    /// Opens partition `partition`'s replica in `dir`, caught up with what is committed,
    /// and follows the topic from there: the log's head moves as the owner commits.
    pub async fn open_follower(
        dir: impl Into<PathBuf>,
        config: KafkaConfig,
        partition: u32,
        limits: Limits,
    ) -> Result<(Self, Following), LogError> {
        let dir = dir.into();
        let (log, mark) = Log::open_replica(dir.clone(), config.clone(), partition, limits).await?;
        let consumer = partition_reader(&config, partition)?;
        assign(&consumer, &config, partition, mark.offset)?;
        let (commits_tx, commits) = mpsc::channel(FOLLOW_COMMITS_AHEAD);
        let (status_tx, status) = watch::channel(FollowStatus::default());
        let status_tx = Arc::new(status_tx);
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (stop, status_tx, config) = (stop.clone(), status_tx.clone(), config.clone());
            std::thread::Builder::new()
                .name(format!("kafka-follow-p{partition}"))
                .spawn(move || {
                    let reading = Reading {
                        consumer,
                        config,
                        partition,
                        stop,
                        status: status_tx.clone(),
                    };
                    if let Err(e) = reading.run(commits_tx) {
                        failed(&status_tx, partition, &e);
                    }
                })
                .map_err(|e| LogError::Storage(format!("starting the follower: {e}")))?
        };
        let appender = tokio::spawn(append_commits(
            log.clone(),
            commits,
            mark_path(&dir),
            partition,
            status_tx,
        ));
        Ok((
            log,
            Following {
                config,
                partition,
                marks: mark_path(&dir),
                stop,
                reader: Some(reader),
                appender: Some(appender),
                status,
            },
        ))
    }
}

fn failed(status: &watch::Sender<FollowStatus>, partition: u32, e: &LogError) {
    tracing::error!(partition, error = %e, "kafka: following the partition stopped");
    metrics::counter!("kafka_follow_failures_total").increment(1);
    status.send_modify(|s| s.failed = Some(e.to_string()));
}

/// The reader thread: whole commits out of the partition, to the appender.
struct Reading {
    consumer: BaseConsumer,
    config: KafkaConfig,
    partition: u32,
    stop: Arc<AtomicBool>,
    status: Arc<watch::Sender<FollowStatus>>,
}

impl Reading {
    fn run(self, commits_tx: mpsc::Sender<(Commit, ReadMark)>) -> Result<(), LogError> {
        let mut commits = Commits::default();
        let mut next = 0;
        let mut asked = Instant::now() - FOLLOW_LAG_EVERY;
        while !self.stop.load(Ordering::Relaxed) {
            if asked.elapsed() >= FOLLOW_LAG_EVERY {
                self.report_lag(next);
                asked = Instant::now();
            }
            let message = match self.consumer.poll(Duration::from_millis(100)) {
                None | Some(Err(KafkaError::PartitionEOF(_))) => continue,
                // The client goes on with the brokers it can reach; it says so again.
                Some(Err(e)) => {
                    tracing::debug!(partition = self.partition, error = %e, "kafka: following");
                    continue;
                }
                Some(Ok(message)) => message,
            };
            next = message.offset() + 1;
            let first = first_position(&message)?;
            if let Some(commit) = commits.push(first, message.payload().unwrap_or_default())? {
                let mark = ReadMark {
                    offset: next,
                    position: commit.end,
                };
                if commits_tx.blocking_send((commit, mark)).is_err() {
                    return Ok(()); // the log closed
                }
            }
        }
        Ok(())
    }

    fn report_lag(&self, next: i64) {
        let Ok(partition) = kafka_partition(self.partition) else {
            return;
        };
        let Ok((_, high)) =
            self.consumer
                .fetch_watermarks(&self.config.topic, partition, self.config.timeout)
        else {
            return;
        };
        let position = self
            .consumer
            .position()
            .ok()
            .and_then(|list| {
                list.find_partition(&self.config.topic, partition)
                    .and_then(|p| p.offset().to_raw())
            })
            .unwrap_or(next);
        let lag = (high - position.max(next)).max(0);
        metrics::gauge!("kafka_follower_lag_offsets", "partition" => self.partition.to_string())
            .set(lag as f64);
        self.status.send_if_modified(|s| {
            let changed = s.lag_offsets != lag;
            s.lag_offsets = lag;
            changed
        });
    }
}

/// The appender task: each commit into the local log, then the read mark.
async fn append_commits(
    log: Log<KafkaStore>,
    mut commits: mpsc::Receiver<(Commit, ReadMark)>,
    marks: PathBuf,
    partition: u32,
    status: Arc<watch::Sender<FollowStatus>>,
) {
    while let Some((commit, mark)) = commits.recv().await {
        let appended = match replicate(&log, commit).await {
            Ok(()) => mark.save(&marks),
            Err(e) => Err(e),
        };
        if let Err(e) = appended {
            if !matches!(e, LogError::Storage(ref r) if r.contains("closed")) {
                failed(&status, partition, &e);
            }
            return;
        }
    }
}

/// Appends `commit` (read from the topic) to `log`, unless it holds it already. Err: it
/// does not continue the log, or the log's records differ from the owner's.
async fn replicate(log: &Log<KafkaStore>, commit: Commit) -> Result<(), LogError> {
    let head = log.head();
    if commit.end <= head.next_position {
        return Ok(());
    }
    if commit.start() != head.next_position {
        return Err(LogError::Corrupt {
            position: head.next_position,
            reason: format!(
                "kafka: the replica ends at {}, the next commit starts at {}",
                head.next_position,
                commit.start()
            ),
        });
    }
    let (requests, last_hash) = requests_of(&commit)?;
    for outcome in log.append_all(requests).await {
        let outcome = outcome.map_err(|e| match e {
            crate::log::AppendError::Closed => LogError::Storage("the log closed".into()),
            e => LogError::Corrupt {
                position: head.next_position,
                reason: format!("kafka: the replica refused the owner's commit: {e}"),
            },
        })?;
        if outcome.already_appended {
            return Err(LogError::Corrupt {
                position: outcome.first_position,
                reason: "kafka: a request the replica holds is in the topic again".into(),
            });
        }
    }
    let expected = Head {
        next_position: commit.end,
        hash: last_hash,
    };
    if log.head() != expected {
        return Err(LogError::ChainBroken {
            position: commit.end,
            reason: "kafka: the replica's chain differs from the owner's".into(),
        });
    }
    Ok(())
}

/// A commit's records as the appends that made them (consecutive records of one request
/// were one append), with the chain hash of its last record.
fn requests_of(commit: &Commit) -> Result<(Vec<AppendRequest>, crate::chain::Hash), LogError> {
    let mut requests: Vec<AppendRequest> = Vec::new();
    let mut last_hash = crate::chain::GENESIS;
    for (first, bytes) in &commit.chunks {
        let records = chunk::parse(bytes).map_err(|reason| LogError::Corrupt {
            position: *first,
            reason: format!("kafka: {reason}"),
        })?;
        for record in records {
            let e = Envelope::decode(record.bytes).map_err(|error| LogError::Corrupt {
                position: record.offset,
                reason: format!("kafka: {error}"),
            })?;
            let new = NewEvent {
                stream: e.stream,
                event: e.event,
            };
            match requests.last_mut() {
                Some(request) if request.request_id == e.request_id => request.events.push(new),
                _ => requests.push(
                    AppendRequest::new(e.request_id, vec![new]).recorded_at(e.recorded_at_unix_ms),
                ),
            }
            last_hash = *record.hash;
        }
    }
    Ok((requests, last_hash))
}
