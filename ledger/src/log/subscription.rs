//! Catch-up then live reading, for any [`EventLog`].

use std::collections::VecDeque;

use tokio::sync::watch;

use super::{EventLog, Head, LogError, RecordedEvent};

/// Events read per catch-up step.
pub const SUBSCRIPTION_CHUNK_EVENTS: usize = 1024;

/// Every event from a position: stored history first, then each acknowledged append.
/// Ends (`None`) when the log shuts down and every acknowledged event has been delivered.
#[derive(Debug)]
pub struct Subscription<L: EventLog> {
    log: L,
    next_position: u64,
    buffer: VecDeque<RecordedEvent>,
    head: watch::Receiver<Head>,
}

impl<L: EventLog> Subscription<L> {
    pub fn new(log: L, from: u64) -> Self {
        let head = log.watch_head();
        Subscription {
            log,
            next_position: from,
            buffer: VecDeque::new(),
            head,
        }
    }

    /// The position of the next event this subscription will yield.
    pub fn position(&self) -> u64 {
        self.next_position - self.buffer.len() as u64
    }

    /// The next event, waiting for one if the subscription is caught up.
    pub async fn next(&mut self) -> Option<Result<RecordedEvent, LogError>> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Some(Ok(event));
            }
            let head = self.head.borrow_and_update().next_position;
            if self.next_position < head {
                match self
                    .log
                    .read(self.next_position, SUBSCRIPTION_CHUNK_EVENTS)
                    .await
                {
                    Ok(events) if events.is_empty() => {
                        return Some(Err(LogError::Corrupt {
                            position: self.next_position,
                            reason: "below the head, but nothing could be read".into(),
                        }));
                    }
                    Ok(events) => {
                        self.next_position += events.len() as u64;
                        self.buffer.extend(events);
                    }
                    Err(e) => return Some(Err(e)),
                }
                continue;
            }
            if self.head.changed().await.is_err() {
                // The writer stopped; deliver anything acknowledged before it did.
                if self.head.borrow().next_position > self.next_position {
                    continue;
                }
                return None;
            }
        }
    }
}
