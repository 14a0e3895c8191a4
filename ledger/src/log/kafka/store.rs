//! [`KafkaStore`]: the embedded log's storage, its commits made in Kafka first.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use super::producer::Transactions;
use super::reader::read_committed;
use super::{KafkaConfig, ensure_topic};
use crate::log::store::{IndexDelta, RecordVisitor, RequestRecord, Store};
use crate::log::{FileStore, Head, Limits, Log, LogError, chunk};

/// A partition's log: each commit is a Kafka transaction, then written to the local replica
/// (segment files), which serves reads and keeps the index.
#[derive(Clone)]
pub struct KafkaStore {
    local: FileStore,
    transactions: Arc<Mutex<Transactions>>,
}

/// A commit read from the topic: its chunks, until one whose last record ends the commit.
#[derive(Default)]
struct Pending {
    chunks: Vec<(u64, Vec<u8>)>,
    /// The position after the chunks' last record.
    end: u64,
}

fn corrupt(position: u64, reason: String) -> LogError {
    LogError::Corrupt { position, reason }
}

/// Brings `local` up to the committed end of the topic's partition: appends the commits it
/// lacks, in order, each whole. Err: the topic holds less than the replica (a shortened or
/// replaced topic), a gap, or a damaged message.
fn catch_up(local: &FileStore, config: &KafkaConfig, partition: u32) -> Result<(), LogError> {
    let mut pending = Pending::default();
    let mut topic_end = 0;
    read_committed(config, partition, 0, &mut |first, bytes| {
        let records = chunk::parse(bytes).map_err(|r| corrupt(first, format!("kafka: {r}")))?;
        let (Some(head), Some(last)) = (records.first(), records.last()) else {
            return Err(corrupt(first, "kafka: an empty chunk".into()));
        };
        let continues = pending.chunks.is_empty() || pending.end == first;
        if head.offset != first || !continues {
            return Err(corrupt(first, "kafka: a chunk out of order".into()));
        }
        pending.end = last.offset + 1;
        pending.chunks.push((first, bytes.to_vec()));
        if last.commit_end {
            let commit = std::mem::take(&mut pending);
            let replica = local.stored_head()?.next_position;
            let start = commit.chunks[0].0;
            topic_end = commit.end;
            if start == replica {
                local.write_commit(commit.chunks)?;
            } else if commit.end > replica {
                return Err(corrupt(
                    replica,
                    format!(
                        "kafka: the replica ends at {replica}, the next commit starts at {start}"
                    ),
                ));
            }
        }
        Ok(())
    })?;
    if !pending.chunks.is_empty() {
        return Err(corrupt(
            pending.chunks[0].0,
            "kafka: a commit without its end".into(),
        ));
    }
    let replica = local.stored_head()?.next_position;
    if topic_end < replica {
        return Err(LogError::Shortened {
            head: topic_end,
            anchored: replica,
        });
    }
    Ok(())
}

impl Log<KafkaStore> {
    /// Opens partition `partition` of the ledger on Kafka, its replica in `dir`: creates the
    /// topic when missing, takes the partition over (fencing an earlier owner), catches the
    /// replica up with what is committed, then opens the log over it.
    pub async fn open_kafka(
        dir: impl Into<PathBuf>,
        config: KafkaConfig,
        partition: u32,
        limits: Limits,
    ) -> Result<Self, LogError> {
        ensure_topic(&config).await?;
        let dir = dir.into();
        tokio::task::spawn_blocking(move || {
            let (local, _recovery) = FileStore::open(&dir)?;
            let transactions = Transactions::open(&config, partition)?;
            catch_up(&local, &config, partition)?;
            let store = KafkaStore {
                local,
                transactions: Arc::new(Mutex::new(transactions)),
            };
            Log::open_with(store, limits)
        })
        .await
        .map_err(|e| LogError::Storage(format!("opening the kafka log: {e}")))?
    }
}

impl Store for KafkaStore {
    fn write_commit(&self, chunks: Vec<(u64, Vec<u8>)>) -> Result<(), LogError> {
        self.transactions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .commit(&chunks)?;
        self.local.write_commit(chunks)
    }

    fn for_each_record(
        &self,
        from: u64,
        to: u64,
        f: &mut RecordVisitor<'_>,
    ) -> Result<(), LogError> {
        self.local.for_each_record(from, to, f)
    }

    fn stored_head(&self) -> Result<Head, LogError> {
        self.local.stored_head()
    }

    fn stream_version(&self, stream_key: &[u8]) -> Result<Option<u64>, LogError> {
        self.local.stream_version(stream_key)
    }

    fn request(&self, request_id: &str) -> Result<Option<RequestRecord>, LogError> {
        self.local.request(request_id)
    }

    fn id_position(&self, key: &[u8]) -> Result<Option<u64>, LogError> {
        self.local.id_position(key)
    }

    fn apply_index(&self, delta: &IndexDelta) -> Result<(), LogError> {
        self.local.apply_index(delta)
    }

    fn indexed_upto(&self) -> Result<u64, LogError> {
        self.local.indexed_upto()
    }

    fn clear_index(&self) -> Result<(), LogError> {
        self.local.clear_index()
    }

    fn flush(&self) -> Result<(), LogError> {
        self.local.flush()
    }

    fn anchored_head(&self) -> Result<Option<Head>, LogError> {
        self.local.anchored_head()
    }

    fn anchor_head(&self, head: Head) -> Result<(), LogError> {
        self.local.anchor_head(head)
    }
}
