//! A follower's service: the projections of a log another node writes (a Kafka follower's
//! replica), applied as the log's head moves. It decides nothing: a command sent to it is
//! refused UNAVAILABLE (the server forwards commands to the owner before they get here).
//! It saves checkpoints as the writer does, so a follower that becomes the owner starts
//! from a recent one. If the log stops following (`stopped` says why: a damaged or
//! diverging source), the service keeps serving what it has and reports the fault, as
//! after a storage failure ([`Fault::reads_served`]).

use std::sync::Arc;

use ledger::log::{EventLog, RecordedEvent};
use tokio::sync::{RwLock, mpsc, watch};

use super::checkpoint::CheckpointStore;
use super::{
    COMMAND_QUEUE_MAX, CommandError, Fault, Msg, REPLAY_CHUNK_EVENTS, Service, StartError, State,
    encode_checkpoint, mark_diverged, replay, start_state, write_checkpoint,
};

/// Told the events a follower applies, before queries see them (the partitioned ledger
/// keeps its member and claim-code directories with it).
pub type Observer = Arc<dyn Fn(&[RecordedEvent]) + Send + Sync>;

/// What a command sent to a follower is told.
pub const NOT_THE_OWNER: &str =
    "this node follows the ledger's owner and decides no commands; send it to the owner";

impl<L: EventLog> Service<L> {
    /// Makes a follower the writer of its log, once the log takes appends from this node
    /// (a Kafka replica that took its partition over): the projections are caught up with
    /// the log and decide from then on. A writer answers at once.
    pub async fn promote(&self) -> Result<(), CommandError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .send(Msg::Promote(done))
            .await
            .map_err(|_| CommandError::Unavailable("the follower stopped".into()))?;
        wait.await
            .map_err(|_| CommandError::Unavailable("the follower stopped".into()))
    }

    /// The projections of `log`, from the latest checkpoint (as [`Service::start_with`]),
    /// kept up with the log as it grows: queries are served from them, commands refused.
    pub async fn follow(
        log: L,
        checkpoints: Option<CheckpointStore>,
        stopped: watch::Receiver<Option<String>>,
        observer: Observer,
    ) -> Result<Self, StartError> {
        let start = start_state(&log, checkpoints.as_ref()).await?;
        let head = log.head().next_position;
        let state = replay(&log, start, head).await?;
        let (applied_tx, applied) = watch::channel(state.projections.position());
        let state = Arc::new(RwLock::new(state));
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE_MAX);
        let (diverged_tx, diverged) = watch::channel(None);
        let following = Following {
            log: log.clone(),
            state: state.clone(),
            checkpoints: checkpoints.clone(),
            diverged: diverged_tx,
            applied: applied_tx,
            observer,
        };
        tokio::spawn(following.run(rx, head, stopped));
        Ok(Service {
            log,
            state,
            tx,
            checkpoints,
            diverged,
            applied: Some(applied),
        })
    }
}

/// The follower task's own.
struct Following<L: EventLog> {
    log: L,
    state: Arc<RwLock<State>>,
    checkpoints: Option<CheckpointStore>,
    diverged: watch::Sender<Option<Fault>>,
    applied: watch::Sender<u64>,
    observer: Observer,
}

impl<L: EventLog> Following<L> {
    async fn run(
        self,
        mut rx: mpsc::Receiver<Msg>,
        mut checkpointed_at: u64,
        mut stopped: watch::Receiver<Option<String>>,
    ) {
        let mut head = self.log.watch_head();
        let mut stop = None;
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Command(job)) => {
                        let refused = CommandError::Unavailable(NOT_THE_OWNER.into());
                        let _ = job.reply.send(Err(refused));
                    }
                    Some(Msg::Stop(done)) => {
                        stop = Some(done);
                        break;
                    }
                    Some(Msg::Promote(done)) => {
                        self.promote(rx, checkpointed_at).await;
                        let _ = done.send(());
                        return;
                    }
                    None => break,
                },
                changed = head.changed() => {
                    if changed.is_err() || !self.apply_new().await {
                        break;
                    }
                    checkpointed_at = self.checkpoint_if_due(checkpointed_at).await;
                }
                Ok(()) = stopped.changed() => {
                    if let Some(reason) = stopped.borrow_and_update().clone() {
                        let reason = format!("following the log stopped: {reason}");
                        let _ = self.diverged.send(Some(Fault { reason, reads_served: true }));
                    }
                }
            }
        }
        self.checkpoint_if_due(0).await;
        if let Some(done) = stop {
            let _ = done.send(());
        }
    }

    /// Becomes the writer of the log (`Service::promote`): applies what the log holds, then
    /// hands the commands' queue to a writer over the same projections. The applied-position
    /// watch closes: queries then wait on the log's head, as the writer's do.
    async fn promote(self, rx: mpsc::Receiver<Msg>, checkpointed_at: u64) {
        if !self.apply_new().await {
            return; // diverged: the writer would refuse every command
        }
        let writer = super::Writer {
            log: self.log,
            state: self.state,
            checkpoints: self.checkpoints,
            diverged: self.diverged,
        };
        tokio::spawn(super::writer(writer, rx, checkpointed_at));
    }

    /// Applies what the log holds beyond the projections; false (and the service stops
    /// serving) if that fails.
    async fn apply_new(&self) -> bool {
        let mut st = self.state.write().await;
        let to = self.log.head().next_position;
        while st.projections.position() < to {
            let from = st.projections.position();
            let max = REPLAY_CHUNK_EVENTS.min(usize::try_from(to - from).unwrap_or(usize::MAX));
            let applied = match self.log.read(from, max).await {
                Ok(events) if events.is_empty() => Err("the log ended early".to_owned()),
                Ok(events) => st
                    .apply_recorded(&events)
                    .map(|()| (self.observer)(&events))
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = applied {
                mark_diverged(&self.diverged, format!("following the log: {e}"));
                return false;
            }
        }
        let _ = self.applied.send(to);
        true
    }

    /// Saves a checkpoint when one is due since `checkpointed_at` (always for 0 and a
    /// non-empty state); returns the position of the latest.
    async fn checkpoint_if_due(&self, checkpointed_at: u64) -> u64 {
        let Some(store) = &self.checkpoints else {
            return checkpointed_at;
        };
        let st = self.state.clone().read_owned().await;
        let position = st.projections.position();
        let due = if checkpointed_at == 0 {
            position > 0
        } else {
            store.due(checkpointed_at, position)
        };
        if !due || self.diverged.borrow().is_some() {
            return checkpointed_at;
        }
        let Ok(hash) = super::hash_before(&self.log, position).await else {
            return checkpointed_at;
        };
        match encode_checkpoint(st, hash).await {
            Ok(value) => {
                let _ = write_checkpoint(store.clone(), value).await;
                position
            }
            Err(_) => checkpointed_at,
        }
    }
}
