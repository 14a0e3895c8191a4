//! What a partition's writer decides commands against, and what its checkpoints hold: the
//! projections (its own module, so the processor and the checkpoints both use it without
//! depending on each other).

use ledger::event::Event;
use ledger::log::RecordedEvent;
use projections::{ProjectionError, Projections};

/// What the writer decides commands against: the projections. (A retried request id is
/// answered from the log's request index, `EventLog::request_positions`, not from memory.)
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub projections: Projections,
}

impl State {
    /// Applies `events`, the first at `position`, the others after it.
    pub(crate) fn apply<'a>(
        &mut self,
        position: u64,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<(), ProjectionError> {
        for (position, event) in (position..).zip(events) {
            self.projections.apply(position, event)?;
        }
        Ok(())
    }

    /// Applies events read from the log, in order, from the projections' position on.
    pub fn apply_recorded(&mut self, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        for e in events {
            self.projections.apply(e.position, &e.event)?;
        }
        Ok(())
    }
}
