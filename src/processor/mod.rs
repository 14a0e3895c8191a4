//! The command processor: one writer over the event log.
//!
//! Commands queue (bounded, `COMMAND_QUEUE_MAX`) to one task, which takes up to
//! `BATCH_COMMANDS_MAX` of them at a time and, holding the projections' write lock:
//! checks each request id (a retry gets the first answer), decides the command against the
//! projections *including the commands before it in the batch* (their events are applied as
//! they are decided). It then hands the batch's events to the appender task, which appends
//! them with one `append_all` (one commit, one fsync) and only then answers every caller of
//! the batch, in batch order. With a backlog (`PIPELINE_BACKLOG_MIN` commands waiting), the
//! writer decides batch N + 1 while the log makes batch N durable, and the appender commits
//! the batches that wait together; with fewer waiting, it lets them gather until the commit
//! in flight is durable.
//!
//! So the projections can be ahead of the log by the batches in flight. Queries
//! ([`Service::read`]) take the read lock and then wait until the log is durable up to the
//! projections' position, so they see every acknowledged command and never one that is not
//! durable; the wait is at most the commit in progress.
//!
//! The service must be the log's only writer: positions are predicted from the head. If the
//! log refuses or places a batch elsewhere, the projections are ahead of the log and the
//! service stops accepting commands and serving queries (a restart rebuilds them from the log).

pub mod archive;
pub mod checkpoint;
pub mod day_archive;
pub mod follower;
mod ids;
pub mod recovery;
pub mod retry;
pub mod state;

use std::collections::HashMap;
use std::sync::Arc;

use ledger::event::Event;
use ledger::log::{AppendError, AppendRequest, EventLog, LogError};
use ledger::{FieldError, RequestId};
use projections::ProjectionError;
use thiserror::Error;
use tokio::sync::{OwnedRwLockReadGuard, RwLock, RwLockReadGuard, mpsc, oneshot, watch};

use crate::command::{Command, Rejection, Subject, decide_unchecked};
use crate::processor::checkpoint::{CheckpointError, CheckpointStore};
pub use crate::processor::state::State;
use ledger::chain::Hash;

/// Most commands decided and appended together.
pub const BATCH_COMMANDS_MAX: usize = 1024;
/// Most commands waiting for the writer; callers wait beyond it.
pub const COMMAND_QUEUE_MAX: usize = 8192;
/// Decided batches waiting for the appender beyond the one it is appending; it appends
/// whatever is waiting in one commit. One: a writer allowed further ahead cuts smaller
/// batches (it stops waiting for commands to accumulate), measured slower for batched claims.
pub const PIPELINE_BATCHES: usize = 1;
/// Commands waiting at which the writer decides the next batch while the log is still
/// committing the last one; with fewer it waits for that commit, so they gather.
pub const PIPELINE_BACKLOG_MIN: usize = 256;
/// Events read per step when rebuilding the projections.
pub const REPLAY_CHUNK_EVENTS: usize = 4096;
/// Chunks the replay's reader may decode ahead of the folds.
pub const REPLAY_CHUNKS_AHEAD: usize = 2;

/// Where a command's events landed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    /// The partition the command's events are in (set by [`crate::partitioned::Ledger`]).
    pub partition: u32,
    /// The offset of the first event in its partition.
    pub first_position: u64,
    pub count: u32,
    pub subject: Subject,
    /// The request id (or, for a claim, the facility's claim code) was seen before: nothing
    /// new was appended and this is the first answer.
    pub already_done: bool,
}

/// A command's receipt and, when it appended something just now, its events (so a caller can
/// answer from them without waiting to read the projections).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub receipt: Receipt,
    /// Empty for a retry (`receipt.already_done`).
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    #[error("{0}")]
    Rejected(#[from] Rejection),
    #[error("the ledger is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StartError {
    #[error("reading the log: {0}")]
    Log(#[from] LogError),
    #[error("rebuilding the projections: {0}")]
    Projection(#[from] ProjectionError),
    #[error("opening the archive of closed claims and days: {0}")]
    Archive(String),
}

/// What a request's events concern: the claim or policy of the first event that names one
/// (what `decide` answered when it appended them).
fn subject_of<'a>(events: impl IntoIterator<Item = &'a Event>) -> Subject {
    events
        .into_iter()
        .find_map(|event| match event {
            Event::ClaimSubmitted(c) => Some(Subject::Claim(c.claim_id.clone())),
            Event::ClaimReviewed(c) => Some(Subject::Claim(c.claim_id.clone())),
            Event::ClaimReversed(c) => Some(Subject::Claim(c.claim_id.clone())),
            Event::CoverageChanged(c) => Some(Subject::Policy(c.policy_id.clone())),
            Event::PremiumPaid(c) => Some(Subject::Policy(c.policy_id.clone())),
            _ => None,
        })
        .unwrap_or(Subject::None)
}

/// A request that appended events before, and whether the command now sent under its id is
/// the same one (`crate::processor::retry`).
struct Earlier {
    receipt: Receipt,
    same: bool,
}

/// The request decided and not yet durable under an id: the log cannot answer for it yet.
struct InFlight {
    receipt: Receipt,
    command: Command,
}

/// What appended under `request_id` before: from `in_flight` (decided, not yet durable), else
/// from the log (where it landed, what its events concern, and whether `command` recorded
/// them).
async fn earlier_request<L: EventLog>(
    log: &L,
    in_flight: &HashMap<RequestId, InFlight>,
    request_id: &RequestId,
    command: &Command,
) -> Result<Option<Earlier>, LogError> {
    if let Some(first) = in_flight.get(request_id) {
        return Ok(Some(Earlier {
            receipt: first.receipt.clone(),
            same: retry::same_command(&first.command, command),
        }));
    }
    let Some(positions) = log.request_positions(request_id).await? else {
        return Ok(None);
    };
    // A request holds at most `Limits::batch_events_max` events.
    let count = usize::try_from(positions.end - positions.start).unwrap_or(usize::MAX);
    let events: Vec<Event> = log
        .read(positions.start, count)
        .await?
        .into_iter()
        .map(|e| e.event)
        .collect();
    Ok(Some(Earlier {
        receipt: Receipt {
            partition: 0,
            first_position: positions.start,
            count: u32::try_from(events.len()).unwrap_or(u32::MAX),
            subject: subject_of(&events),
            already_done: false,
        },
        same: retry::recorded_by(command, &events),
    }))
}

struct Job {
    request_id: RequestId,
    command: Command,
    reply: oneshot::Sender<Result<Executed, CommandError>>,
}

enum Msg {
    Command(Job),
    /// Finish the batch, refuse what is queued, save a checkpoint, release the log.
    Stop(oneshot::Sender<()>),
    /// A follower becomes the writer ([`follower`]); the writer answers at once.
    Promote(oneshot::Sender<()>),
}

/// The ledger service: commands in, durable events out, projections for queries.
pub struct Service<L: EventLog> {
    log: L,
    state: Arc<RwLock<State>>,
    tx: mpsc::Sender<Msg>,
    checkpoints: Option<CheckpointStore>,
    /// Set when a batch was applied to the projections but the log did not take it: the
    /// projections are then ahead of the log and must not be served (see `Service::read`),
    /// until they are rebuilt from the durable log (`Fault::reads_served`).
    diverged: watch::Receiver<Option<Fault>>,
    /// A follower's position applied to the projections ([`follower`]); None for the
    /// writer, whose projections are ahead of the log and served once durable.
    applied: Option<watch::Receiver<u64>>,
}

/// Why the service stopped taking commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub reason: String,
    /// The log refused an append for a storage failure (a full disk, an IO error): the
    /// projections were rebuilt from the durable log, so queries are served again; commands
    /// are refused until a restart (the log refuses appends once a write failed).
    pub reads_served: bool,
}

impl Fault {
    /// What a refused caller is told.
    fn refusal(&self) -> String {
        if self.reads_served {
            self.reason.clone()
        } else {
            rebuild_hint(&self.reason)
        }
    }
}

impl<L: EventLog> Clone for Service<L> {
    fn clone(&self) -> Self {
        Service {
            log: self.log.clone(),
            state: self.state.clone(),
            tx: self.tx.clone(),
            checkpoints: self.checkpoints.clone(),
            diverged: self.diverged.clone(),
            applied: self.applied.clone(),
        }
    }
}

/// Waits until the log is durable up to `position`. Err: the reason the projections diverged
/// from the log, or that the log closed.
async fn durable_upto<L: EventLog>(
    log: &L,
    diverged: &watch::Receiver<Option<Fault>>,
    position: u64,
) -> Result<(), String> {
    // The usual case for a query: nothing in flight, no need to watch anything.
    if diverged.borrow().is_none() && log.head().next_position >= position {
        return Ok(());
    }
    let mut head = log.watch_head();
    let mut diverged = diverged.clone();
    loop {
        if let Some(fault) = diverged.borrow_and_update().clone() {
            return Err(fault.reason);
        }
        if head.borrow_and_update().next_position >= position {
            return Ok(());
        }
        tokio::select! {
            changed = head.changed() => {
                if changed.is_err() {
                    return Err("the log closed".into());
                }
            }
            changed = diverged.changed() => {
                if changed.is_err() {
                    return Err("the writer stopped".into());
                }
            }
        }
    }
}

/// Rebuilds the projections from position 0 up to `to`.
pub async fn rebuild<L: EventLog>(log: &L, to: u64) -> Result<State, StartError> {
    replay(log, State::default(), to).await
}

/// Applies the events from `state`'s position up to `to`.
pub async fn replay<L: EventLog>(log: &L, state: State, to: u64) -> Result<State, StartError> {
    replay_observed(log, state, to, |_| {}).await
}

/// [`replay`], telling `progress` the position reached after each chunk. A reader task reads
/// and decodes chunks ahead (up to `REPLAY_CHUNKS_AHEAD`) while this one applies them, so
/// decoding and the projections' folds run on two cores.
pub async fn replay_observed<L: EventLog>(
    log: &L,
    mut state: State,
    to: u64,
    mut progress: impl FnMut(u64),
) -> Result<State, StartError> {
    let mut next = state.projections.position();
    let (tx, mut chunks) = mpsc::channel(REPLAY_CHUNKS_AHEAD);
    let reader = {
        let log = log.clone();
        let mut from = next;
        tokio::spawn(async move {
            while from < to {
                let max = REPLAY_CHUNK_EVENTS.min((to - from) as usize);
                let chunk = log.read(from, max).await;
                let read = chunk.as_ref().map_or(0, |events| events.len());
                // Stop after an error or at the head; or when the replay stopped listening.
                if tx.send(chunk).await.is_err() || read == 0 {
                    break;
                }
                from += read as u64;
            }
        })
    };
    while let Some(chunk) = chunks.recv().await {
        let events = chunk?;
        if events.is_empty() {
            break;
        }
        state.apply_recorded(&events)?;
        next += events.len() as u64;
        progress(next);
    }
    reader
        .await
        .map_err(|e| LogError::Storage(format!("reading the log failed: {e}")))?;
    Ok(state)
}

/// The chain hash of the event before `position` (the genesis hash for 0).
async fn hash_before<L: EventLog>(log: &L, position: u64) -> Result<Hash, LogError> {
    if position == 0 {
        return Ok(ledger::chain::GENESIS);
    }
    let events = log.read(position - 1, 1).await?;
    Ok(events.first().map_or([0xff; 32], |e| e.hash))
}

/// The state to start from: the latest checkpoint when the log holds its position with its
/// chain hash, else the empty state (a full replay). A checkpoint that cannot be read is
/// disposable: logged, counted in `ledger_checkpoints_unreadable_total`, replaced by a replay.
/// A checkpoint AHEAD of the log means the log lost acknowledged events: refused, and the
/// checkpoint is left as it is.
/// The state to start from ([`from_checkpoint`] with `store`, else empty), archiving its
/// closed claims beside `store`'s checkpoints.
async fn start_state<L: EventLog>(
    log: &L,
    store: Option<&CheckpointStore>,
) -> Result<State, StartError> {
    let Some(store) = store else {
        return Ok(State::default());
    };
    let archive = |e: CheckpointError| StartError::Archive(e.to_string());
    let claims = store.claim_archive().map_err(archive)?;
    let days = store.day_archive().map_err(archive)?;
    Ok(from_checkpoint(log, store)
        .await?
        .with_archive(claims, days))
}

async fn from_checkpoint<L: EventLog>(
    log: &L,
    store: &CheckpointStore,
) -> Result<State, StartError> {
    let head = log.head().next_position;
    let cp = match store.load() {
        Ok(Some(cp)) => cp,
        Ok(None) => return Ok(State::default()),
        Err(error) => {
            tracing::warn!(%error, "the checkpoint is unreadable: replaying the log");
            metrics::counter!("ledger_checkpoints_unreadable_total").increment(1);
            return Ok(State::default());
        }
    };
    if cp.position > head {
        return Err(StartError::Log(LogError::Shortened {
            head,
            anchored: cp.position,
        }));
    }
    if hash_before(log, cp.position).await? == cp.hash
        && cp.state.projections.position() == cp.position
    {
        Ok(cp.state)
    } else {
        tracing::warn!(
            position = cp.position,
            "the checkpoint is of another history: replaying the log"
        );
        Ok(State::default())
    }
}

impl<L: EventLog> Service<L> {
    /// Rebuilds the projections from the log and starts the writer task (on the current
    /// tokio runtime).
    pub async fn start(log: L) -> Result<Self, StartError> {
        Service::start_with(log, None).await
    }

    /// Starts from the latest checkpoint in `checkpoints` when the log still holds its
    /// position with the same chain hash (else from position 0), replays the rest, and saves
    /// a checkpoint when `CheckpointStore::due`.
    pub async fn start_with(
        log: L,
        checkpoints: Option<CheckpointStore>,
    ) -> Result<Self, StartError> {
        let head = log.head().next_position;
        let start = start_state(&log, checkpoints.as_ref()).await?;
        let state = replay(&log, start, head).await?;
        let state = Arc::new(RwLock::new(state));
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE_MAX);
        let (diverged_tx, diverged) = watch::channel(None);
        tokio::spawn(writer(
            Writer {
                log: log.clone(),
                state: state.clone(),
                checkpoints: checkpoints.clone(),
                diverged: diverged_tx,
            },
            rx,
            head,
        ));
        Ok(Service {
            log,
            state,
            tx,
            checkpoints,
            diverged,
            applied: None,
        })
    }

    /// Saves a checkpoint of the current state now (e.g. at shutdown); returns its size.
    pub async fn checkpoint(&self) -> Result<Option<usize>, CheckpointError> {
        let Some(store) = &self.checkpoints else {
            return Ok(None);
        };
        // Only what is durable: the writer may be ahead of the log by the batches in flight.
        let state = self
            .read_owned()
            .await
            .map_err(|e| CheckpointError::Unavailable(e.to_string()))?;
        let hash = hash_before(&self.log, state.projections.position())
            .await
            .map_err(|e| CheckpointError::Unavailable(e.to_string()))?;
        let value = encode_checkpoint(state, hash).await?;
        write_checkpoint(store.clone(), value).await.map(Some)
    }

    /// Stops the writer after the batch in progress: queued commands are refused, a
    /// checkpoint is saved (if configured), and the writer's handle on the log is released.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Stop(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Decides and appends one command; answers after its events are durable.
    pub async fn execute(
        &self,
        request_id: RequestId,
        command: Command,
    ) -> Result<Receipt, CommandError> {
        self.execute_with_events(request_id, command)
            .await
            .map(|e| e.receipt)
    }

    /// [`Service::execute`], also returning the events the command appended.
    pub async fn execute_with_events(
        &self,
        request_id: RequestId,
        command: Command,
    ) -> Result<Executed, CommandError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Command(Job {
                request_id,
                command,
                reply,
            }))
            .await
            .map_err(|_| CommandError::Unavailable("the writer stopped".into()))?;
        answer
            .await
            .map_err(|_| CommandError::Unavailable("the writer stopped".into()))?
    }

    /// The projections as the writer has them, which may include batches the log is still
    /// committing (tests look at those); answer queries from [`Service::read`].
    pub async fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().await
    }

    /// The projections for answering a query, once the log is durable up to their position
    /// (the writer may have applied a batch the log is still committing). `Unavailable` once
    /// a batch was applied that the log did not take: then they hold events that are not in
    /// the log, and serving them would show money that was never recorded.
    pub async fn read(&self) -> Result<RwLockReadGuard<'_, State>, CommandError> {
        let state = self.state.read().await;
        self.until_durable(state.projections.position()).await?;
        Ok(state)
    }

    /// [`Service::read`], as a guard that can move to a blocking thread.
    pub async fn read_owned(&self) -> Result<OwnedRwLockReadGuard<State>, CommandError> {
        let state = self.state.clone().read_owned().await;
        self.until_durable(state.projections.position()).await?;
        Ok(state)
    }

    async fn until_durable(&self, position: u64) -> Result<(), CommandError> {
        if self
            .diverged
            .borrow()
            .as_ref()
            .is_some_and(|fault| fault.reads_served)
        {
            // Rebuilt from the durable log after a storage failure: exactly what is durable.
            return Ok(());
        }
        durable_upto(&self.log, &self.diverged, position)
            .await
            .map_err(|reason| CommandError::Unavailable(rebuild_hint(&reason)))
    }

    pub fn log(&self) -> &L {
        &self.log
    }

    /// The position queries are answered at least from: the log's durable head, or what a
    /// follower has applied of it.
    pub fn served_position(&self) -> u64 {
        match self.following() {
            Some(applied) => *applied.borrow(),
            None => self.log.head().next_position,
        }
    }

    /// A follower's applied position, while it follows (not once promoted to the writer).
    fn following(&self) -> Option<&watch::Receiver<u64>> {
        self.applied
            .as_ref()
            .filter(|applied| applied.has_changed().is_ok())
    }

    /// Resolves once queries reflect at least `position` (see [`Service::served_position`]);
    /// false if the log or the follower stopped first.
    pub async fn reached(&self, position: u64) -> bool {
        match self.following() {
            Some(applied) => applied.clone().wait_for(|p| *p >= position).await.is_ok(),
            None => {
                let mut head = self.log.watch_head();
                while head.borrow_and_update().next_position < position {
                    if head.changed().await.is_err() {
                        return false;
                    }
                }
                true
            }
        }
    }

    /// Watches whether the projections diverged from the log, and why (`None` while they
    /// agree): the server turns health NOT_SERVING when it does.
    pub fn diverged(&self) -> watch::Receiver<Option<Fault>> {
        self.diverged.clone()
    }
}

type Reply = oneshot::Sender<Result<Executed, CommandError>>;

/// What the writer task owns besides its queue.
struct Writer<L: EventLog> {
    log: L,
    state: Arc<RwLock<State>>,
    checkpoints: Option<CheckpointStore>,
    diverged: watch::Sender<Option<Fault>>,
}

/// A decided batch on its way to the log.
struct Batch {
    requests: Vec<AppendRequest>,
    /// The callers of `requests`, in order, with what to answer once they are durable.
    appended: Vec<(Reply, Executed)>,
    /// Callers whose commands appended nothing (retries, rejections, no-ops): answered after
    /// the batch is durable too, since their answers may rest on the batches before.
    answered: Vec<(Reply, Result<Executed, CommandError>)>,
}

async fn writer<L: EventLog>(w: Writer<L>, mut rx: mpsc::Receiver<Msg>, mut checkpointed_at: u64) {
    let limits = w.log.limits();
    let (to_appender, batches) = mpsc::channel(PIPELINE_BATCHES);
    let appender = tokio::spawn(appender(
        w.log.clone(),
        w.state.clone(),
        batches,
        w.diverged.clone(),
    ));
    let diverged = w.diverged.subscribe();
    // The position after every batch decided so far (appended or in flight).
    let mut next = w.log.head().next_position;
    // Receipts of the requests decided and not yet durable: the log cannot answer for them.
    let mut in_flight: HashMap<RequestId, InFlight> = HashMap::new();
    // Receipt and payout ids those requests record.
    let mut ids_in_flight = ids::IdsInFlight::default();
    let mut stop = None;
    // The checkpoint being stored, if any.
    let mut writing: Option<tokio::task::JoinHandle<Result<usize, CheckpointError>>> = None;
    while let Some(msg) = rx.recv().await {
        let first = match msg {
            Msg::Command(job) => job,
            Msg::Stop(done) => {
                stop = Some(done);
                break;
            }
            Msg::Promote(done) => {
                let _ = done.send(());
                continue;
            }
        };
        // Cut the next batch while the last one commits only when a backlog is waiting;
        // otherwise let commands gather until that commit is durable (clients that send one
        // command at a time then share fewer, larger commits).
        if rx.len() + 1 < PIPELINE_BACKLOG_MIN && w.log.head().next_position < next {
            let _ = durable_upto(&w.log, &diverged, next).await;
        }
        let mut jobs = vec![first];
        while jobs.len() < BATCH_COMMANDS_MAX {
            match rx.try_recv() {
                Ok(Msg::Command(job)) => jobs.push(job),
                Ok(Msg::Stop(done)) => {
                    stop = Some(done);
                    break;
                }
                Ok(Msg::Promote(done)) => {
                    let _ = done.send(());
                }
                Err(_) => break,
            }
        }
        metrics::gauge!("commands_queue_depth").set(rx.len() as f64);
        metrics::histogram!("commands_batch_commands").record(jobs.len() as f64);
        if let Some(fault) = diverged.borrow().clone() {
            refuse_jobs(jobs, &fault);
            continue;
        }
        if let Some(store) = &w.checkpoints
            && store.due(checkpointed_at, next)
            && writing.as_ref().is_none_or(|h| h.is_finished())
            && durable_upto(&w.log, &diverged, next).await.is_ok()
        {
            // Everything decided is durable and the writer is the only appender: the head
            // is this state's position. The writer holds on only while it copies the state
            // (a quarter of the time encoding it takes, measured in the scale bench); the copy
            // is encoded on a blocking thread and stored in the background, one at a time. A
            // failed checkpoint only costs replay time.
            let snapshot = State {
                projections: w.state.read().await.projections.clone(),
                archive: None,
                days: None,
            };
            let (store, hash) = (store.clone(), w.log.head().hash);
            writing = Some(tokio::spawn(async move {
                let value = encode_checkpoint(Box::new(snapshot), hash).await?;
                write_checkpoint(store, value).await
            }));
            checkpointed_at = next;
        }
        let mut st = w.state.write().await;
        // The appender may have replaced the projections since the check above.
        if let Some(fault) = diverged.borrow().clone() {
            drop(st);
            refuse_jobs(jobs, &fault);
            continue;
        }
        let mut batch = Batch {
            requests: Vec::new(),
            appended: Vec::new(),
            answered: Vec::new(),
        };
        let mut broken = None;
        // Requests the log has made durable answer their retries from now on.
        let durable = w.log.head().next_position;
        st.archive_closed(durable);
        in_flight.retain(|_, r| r.receipt.first_position + u64::from(r.receipt.count) > durable);
        ids_in_flight.durable_upto(durable);
        for job in jobs {
            match earlier_request(&w.log, &in_flight, &job.request_id, &job.command).await {
                Ok(None) => {}
                Ok(Some(Earlier { same: false, .. })) => {
                    let answer = Err(CommandError::Rejected(Rejection::RequestIdReused(
                        job.request_id,
                    )));
                    batch.answered.push((job.reply, answer));
                    continue;
                }
                Ok(Some(Earlier {
                    mut receipt,
                    same: true,
                })) => {
                    receipt.already_done = true;
                    let executed = Executed {
                        receipt,
                        events: Vec::new(),
                    };
                    batch.answered.push((job.reply, Ok(executed)));
                    continue;
                }
                Err(e) => {
                    let answer = Err(CommandError::Unavailable(format!(
                        "looking up request {}: {e}",
                        job.request_id
                    )));
                    batch.answered.push((job.reply, answer));
                    continue;
                }
            }
            match decide_unchecked(&st.projections, &job.command) {
                Err(rejection) => {
                    let answer = Err(CommandError::Rejected(rejection));
                    batch.answered.push((job.reply, answer));
                }
                Ok(d) if d.events.is_empty() => {
                    let executed = Executed {
                        receipt: Receipt {
                            partition: 0,
                            first_position: next,
                            count: 0,
                            subject: d.subject,
                            already_done: d.resubmission,
                        },
                        events: Vec::new(),
                    };
                    batch.answered.push((job.reply, Ok(executed)));
                }
                Ok(mut d) => {
                    let events = std::mem::take(&mut d.events);
                    let request = match checked_request(job.request_id.clone(), events, &limits) {
                        Ok(request) => request,
                        Err(rejection) => {
                            let answer = Err(CommandError::Rejected(rejection));
                            batch.answered.push((job.reply, answer));
                            continue;
                        }
                    };
                    if let Err(refused) = ids_in_flight.check(&w.log, &request.events).await {
                        batch.answered.push((job.reply, Err(refused)));
                        continue;
                    }
                    let first_position = next;
                    next += request.events.len() as u64;
                    ids_in_flight.insert(&request.events, next);
                    let applied = st.apply(first_position, request.events.iter().map(|e| &e.event));
                    if let Err(err) = applied {
                        broken = Some(err.to_string());
                    }
                    let receipt = Receipt {
                        partition: 0,
                        first_position,
                        count: request.events.len() as u32,
                        subject: d.subject,
                        already_done: false,
                    };
                    in_flight.insert(
                        job.request_id.clone(),
                        InFlight {
                            receipt: receipt.clone(),
                            command: job.command,
                        },
                    );
                    let events = request.events.iter().map(|e| e.event.clone()).collect();
                    batch.requests.push(request);
                    batch
                        .appended
                        .push((job.reply, Executed { receipt, events }));
                    if broken.is_some() {
                        break;
                    }
                }
            }
        }
        drop(st);
        if let Some(reason) = broken {
            // A fold failed half way: the projections hold part of a command. Nothing of
            // the batch goes to the log.
            mark_diverged(&w.diverged, reason);
            batch.requests.clear();
        }
        if let Err(mpsc::error::SendError(batch)) = to_appender.send(batch).await {
            refuse(batch, "the appender stopped");
        }
        if stop.is_some() {
            break;
        }
    }
    rx.close();
    while let Ok(msg) = rx.try_recv() {
        match msg {
            Msg::Command(job) => {
                let _ = job
                    .reply
                    .send(Err(CommandError::Unavailable("shutting down".into())));
            }
            Msg::Stop(done) | Msg::Promote(done) => {
                let _ = done.send(());
            }
        }
    }
    // Let the appender finish the batches in flight, then save the final state.
    drop(to_appender);
    let _ = appender.await;
    if let Some(earlier) = writing {
        let _ = earlier.await;
    }
    if let Some(store) = &w.checkpoints
        && diverged.borrow().is_none()
    {
        let st = w.state.clone().read_owned().await;
        let head = w.log.head();
        if head.next_position == st.projections.position()
            && let Ok(value) = encode_checkpoint(st, head.hash).await
        {
            let _ = write_checkpoint(store.clone(), value).await;
        }
    }
    drop(w);
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

/// Encodes a checkpoint of `state` (held projections or a copy) on a blocking thread,
/// releasing it after.
async fn encode_checkpoint(
    state: impl std::ops::Deref<Target = State> + Send + 'static,
    hash: Hash,
) -> Result<Vec<u8>, CheckpointError> {
    tokio::task::spawn_blocking(move || CheckpointStore::encode(&state, hash))
        .await
        .map_err(|e| CheckpointError::Unavailable(e.to_string()))?
}

/// Stores an encoded checkpoint on a blocking thread.
async fn write_checkpoint(
    store: CheckpointStore,
    value: Vec<u8>,
) -> Result<usize, CheckpointError> {
    tokio::task::spawn_blocking(move || store.write(value))
        .await
        .map_err(|e| CheckpointError::Unavailable(e.to_string()))?
}

/// The command's events as a request the log takes without checking them again: validated
/// and encoded once, here, before the projections move (what the log would refuse must never
/// have been applied). A refusal names the command's field, as `decide` would.
fn checked_request(
    request_id: ledger::RequestId,
    events: Vec<ledger::NewEvent>,
    limits: &ledger::Limits,
) -> Result<AppendRequest, Rejection> {
    AppendRequest::checked(request_id, events, limits).map_err(|e| {
        Rejection::Invalid(match e {
            AppendError::InvalidEvent { error, .. } => error,
            AppendError::BatchTooLarge { events, max } => FieldError::new(
                "events",
                format!(
                    "the command makes {events} events, the log takes at most {max} per request"
                ),
            ),
            AppendError::EventTooLarge { index, bytes, max } => FieldError::new(
                format!("events[{index}]"),
                format!("is {bytes} bytes encoded, the maximum is {max}"),
            ),
            other => FieldError::new("events", other.to_string()),
        })
    })
}

/// Marks the service diverged (a guard against bugs: `decide` never emits what the folds or
/// the log refuse): says why in the log and in `ledger_diverged_total`, and turns health
/// NOT_SERVING (the server watches [`Service::diverged`]).
fn mark_diverged(diverged: &watch::Sender<Option<Fault>>, reason: String) {
    tracing::error!(%reason, "the projections diverged from the log; refusing commands and queries until a restart");
    metrics::counter!("ledger_diverged_total").increment(1);
    diverged.send_replace(Some(Fault {
        reason,
        reads_served: false,
    }));
}

/// Answers every job with the fault's refusal.
fn refuse_jobs(jobs: Vec<Job>, fault: &Fault) {
    let refusal = fault.refusal();
    for job in jobs {
        let _ = job
            .reply
            .send(Err(CommandError::Unavailable(refusal.clone())));
    }
}

/// After the log refused an append for a storage failure: rebuilds the projections from the
/// durable log, under the write lock (queries wait for it), and serves reads from them from
/// then on; commands stay refused until a restart. If the rebuild fails too, the service
/// stays diverged.
async fn serve_reads_from_the_log<L: EventLog>(
    log: &L,
    state: &RwLock<State>,
    diverged: &watch::Sender<Option<Fault>>,
    reason: &str,
) {
    let mut st = state.write().await;
    match rebuild(log, log.head().next_position).await {
        Ok(rebuilt) => {
            *st = rebuilt;
            tracing::error!(%reason, "the log refused an append: serving queries from the durable log, refusing commands until a restart");
            diverged.send_replace(Some(Fault {
                reason: format!(
                    "the log refused an append ({reason}); queries are served from what is \
                     durable, appends resume after a restart once the storage is writable"
                ),
                reads_served: true,
            }));
        }
        Err(e) => tracing::error!(error = %e, "rebuilding from the durable log failed"),
    }
}

/// What a caller is told once the projections have diverged from the log for `reason`.
fn rebuild_hint(reason: &str) -> String {
    format!("{reason}; restart to rebuild from the log")
}

/// Answers every caller of `batch` with `Unavailable`.
fn refuse(batch: Batch, reason: &str) {
    let replies = batch
        .appended
        .into_iter()
        .map(|(reply, _)| reply)
        .chain(batch.answered.into_iter().map(|(reply, _)| reply));
    for reply in replies {
        let _ = reply.send(Err(CommandError::Unavailable(reason.to_owned())));
    }
}

/// Appends each decided batch, in order, and answers its callers once it is durable. If the
/// log refuses a batch or places it elsewhere, the projections no longer match the log: the
/// service is marked diverged and every later batch is refused.
async fn appender<L: EventLog>(
    log: L,
    state: Arc<RwLock<State>>,
    mut batches: mpsc::Receiver<Batch>,
    diverged: watch::Sender<Option<Fault>>,
) {
    while let Some(mut batch) = batches.recv().await {
        // The batches the writer decided while the last commit was on its way go to the log
        // together: one commit, one fsync, however finely the writer cut them.
        while let Ok(more) = batches.try_recv() {
            batch.requests.extend(more.requests);
            batch.appended.extend(more.appended);
            batch.answered.extend(more.answered);
        }
        if let Some(fault) = diverged.borrow().clone() {
            refuse(batch, &fault.refusal());
            continue;
        }
        // Every batch before this one is durable: the log must end where it begins.
        if let Some((_, first)) = batch.appended.first() {
            let expected = first.receipt.first_position;
            let head = log.head().next_position;
            if head != expected {
                let reason = format!(
                    "the log's head is at position {head}, not {expected} where the \
                     projections end: another writer?"
                );
                mark_diverged(&diverged, reason.clone());
                refuse(batch, &rebuild_hint(&reason));
                continue;
            }
        }
        let requests = std::mem::take(&mut batch.requests);
        let count = requests.len();
        let outcomes = if requests.is_empty() {
            Vec::new()
        } else {
            log.append_all(requests).await
        };
        let mut broken = (outcomes.len() != count)
            .then(|| format!("the log answered {} of {count} requests", outcomes.len()));
        let storage_failed = outcomes
            .iter()
            .any(|o| matches!(o, Err(AppendError::Storage(_))));
        for ((_, executed), outcome) in batch.appended.iter().zip(&outcomes) {
            let expected = executed.receipt.first_position;
            match outcome {
                Ok(o) if o.first_position == expected && !o.already_appended => {}
                Ok(o) => {
                    broken = Some(format!(
                        "the log placed a command at position {} instead of {expected}: another writer?",
                        o.first_position
                    ));
                }
                Err(e) => broken = Some(e.to_string()),
            }
        }
        match broken {
            None => {
                for (reply, executed) in batch.appended {
                    let _ = reply.send(Ok(executed));
                }
                for (reply, answer) in batch.answered {
                    let _ = reply.send(answer);
                }
            }
            Some(reason) => {
                mark_diverged(&diverged, reason.clone());
                refuse(batch, &rebuild_hint(&reason));
                if storage_failed {
                    serve_reads_from_the_log(&log, &state, &diverged, &reason).await;
                }
            }
        }
    }
}
