//! Receipt and payout ids are recorded once in the ledger. The decide state does not hold
//! them (they grow with history, not with members): the writer checks each id a command's
//! events record against the ids of the batches it decided that are not yet durable, then
//! against the log's index (`EventLog::id_position`). The log refuses a second recording too
//! (`AppendError::IdUsed`), so a check missed here would stop the writer, never double money.

use std::collections::HashMap;

use ledger::event::UniqueId;
use ledger::log::{EventLog, NewEvent};

use super::CommandError;
use crate::command::Rejection;

/// The ids recorded by requests decided and not yet durable: key -> the position after the
/// request that records it.
#[derive(Default)]
pub(super) struct IdsInFlight(HashMap<Vec<u8>, u64>);

fn used(id: UniqueId) -> CommandError {
    CommandError::Rejected(Rejection::id_used(id))
}

impl IdsInFlight {
    /// Forgets the ids of requests the log has made durable: it answers for them now.
    pub(super) fn durable_upto(&mut self, durable: u64) {
        self.0.retain(|_, end| *end > durable);
    }

    /// Refuses `events` when one records an id already recorded (in flight, in the log, or
    /// earlier in `events`).
    pub(super) async fn check<L: EventLog>(
        &self,
        log: &L,
        events: &[NewEvent],
    ) -> Result<(), CommandError> {
        let mut seen: Vec<Vec<u8>> = Vec::new();
        for id in events.iter().filter_map(|e| e.event.unique_id()) {
            let key = id.key();
            if seen.contains(&key) || self.0.contains_key(&key) {
                return Err(used(id));
            }
            let recorded = log
                .id_position(&id)
                .await
                .map_err(|e| CommandError::Unavailable(format!("looking up {id}: {e}")))?;
            if recorded.is_some() {
                return Err(used(id));
            }
            seen.push(key);
        }
        Ok(())
    }

    /// Records the ids of `events`, a request that ends at `end`.
    pub(super) fn insert(&mut self, events: &[NewEvent], end: u64) {
        for id in events.iter().filter_map(|e| e.event.unique_id()) {
            self.0.insert(id.key(), end);
        }
    }
}
