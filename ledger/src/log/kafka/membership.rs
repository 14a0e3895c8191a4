//! Which node owns the ledger: a Kafka consumer group of every node, over a control topic of
//! one partition (`<topic>-owner`). The member assigned that partition is the owner and
//! decides for every partition of the ledger; the others follow. The group only says who
//! should write: what keeps a second writer out is the partitions' transactional producers,
//! whose `init_transactions` by a new owner fences the old one (`producer.rs`), so a node
//! that still believes it owns (paused, cut off) cannot commit. Nothing here trusts timing.
//!
//! Each member's `client.id` is its advertised gRPC address, so every node can tell where
//! to forward commands: the address of the member whose assignment is not empty. The
//! assignment is sticky and cooperative: a node joining or leaving does not move ownership
//! away from a live owner.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use tokio::sync::watch;

use super::{KafkaConfig, ensure_topic, unavailable};
use crate::log::LogError;

/// How often a member asks the group who owns (to find the owner's address).
pub const MEMBERSHIP_ASK_EVERY: Duration = Duration::from_millis(500);
/// The group's session timeout by default: a node that stops heartbeating loses
/// ownership after it (Kafka's minimum, `group.min.session.timeout.ms`, is 6 s).
pub const SESSION_TIMEOUT_DEFAULT: Duration = Duration::from_secs(6);

/// Who owns the ledger, as this node knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    /// This node was assigned the control partition.
    pub this_node: bool,
    /// The owner's advertised gRPC address, once known (this node's when it owns; None
    /// while no other node is known to own, e.g. with the brokers unreachable).
    pub owner: Option<String>,
}

/// This node's membership of the group; leaves it when dropped or [`Membership::leave`]s.
pub struct Membership {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    ownership: watch::Receiver<Ownership>,
}

/// The control topic of the events topic `topic`.
pub fn control_topic(topic: &str) -> String {
    format!("{topic}-owner")
}

struct OwnerContext {
    assigned: watch::Sender<bool>,
}

impl ClientContext for OwnerContext {}

impl ConsumerContext for OwnerContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // Cooperative: an assignment adds partitions, a revocation (or a lost session)
        // removes them; there is only the one.
        match rebalance {
            Rebalance::Assign(list) if list.count() > 0 => {
                let _ = self.assigned.send(true);
            }
            Rebalance::Revoke(list) if list.count() > 0 => {
                let _ = self.assigned.send(false);
            }
            _ => {}
        }
    }
}

impl Membership {
    /// Joins the group of `config`'s nodes as `advertised` (where the others forward
    /// commands to this node), creating the control topic when missing.
    pub async fn join(
        config: &KafkaConfig,
        advertised: &str,
        session_timeout: Duration,
    ) -> Result<Membership, LogError> {
        let control = KafkaConfig {
            topic: control_topic(&config.topic),
            partitions: 1,
            ..config.clone()
        };
        ensure_topic(&control).await?;
        let (assigned_tx, mut assigned) = watch::channel(false);
        let consumer: BaseConsumer<OwnerContext> = config
            .client()
            .set("group.id", format!("{}-nodes", config.topic))
            .set("client.id", advertised)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set(
                "session.timeout.ms",
                session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (session_timeout.as_millis() / 6).to_string(),
            )
            .set("enable.auto.commit", "false")
            .create_with_context(OwnerContext {
                assigned: assigned_tx,
            })
            .map_err(|e| unavailable("the nodes' group", e))?;
        consumer
            .subscribe(&[&control.topic])
            .map_err(|e| unavailable("joining the nodes' group", e))?;
        let (ownership_tx, ownership) = watch::channel(Ownership::default());
        let stop = Arc::new(AtomicBool::new(false));
        let member = Member {
            consumer,
            group: format!("{}-nodes", config.topic),
            advertised: advertised.to_owned(),
            timeout: config.timeout,
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("kafka-membership".into())
            .spawn(move || member.run(&mut assigned, &ownership_tx))
            .map_err(|e| LogError::Storage(format!("starting the membership: {e}")))?;
        Ok(Membership {
            stop,
            thread: Some(thread),
            ownership,
        })
    }

    /// Who owns, as it changes.
    pub fn ownership(&self) -> watch::Receiver<Ownership> {
        self.ownership.clone()
    }

    /// Leaves the group (the owner's partition moves to another member at once).
    pub async fn leave(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The membership thread: polls the consumer (heartbeats, rebalances) and asks the group
/// who owns.
struct Member {
    consumer: BaseConsumer<OwnerContext>,
    group: String,
    advertised: String,
    timeout: Duration,
    stop: Arc<AtomicBool>,
}

impl Member {
    fn run(self, assigned: &mut watch::Receiver<bool>, ownership: &watch::Sender<Ownership>) {
        let mut asked = Instant::now() - MEMBERSHIP_ASK_EVERY;
        while !self.stop.load(Ordering::Relaxed) {
            // The control topic holds no messages: a poll serves the group's callbacks.
            let _ = self.consumer.poll(Duration::from_millis(100));
            let this_node = *assigned.borrow_and_update();
            if this_node
                || asked.elapsed() >= MEMBERSHIP_ASK_EVERY
                || assigned.has_changed().unwrap_or(false)
            {
                let owner = if this_node {
                    Some(self.advertised.clone())
                } else {
                    self.owner_address()
                };
                asked = Instant::now();
                ownership.send_if_modified(|o| {
                    let now = Ownership { this_node, owner };
                    let changed = *o != now;
                    *o = now;
                    changed
                });
            }
        }
        self.consumer.unsubscribe();
    }

    /// The `client.id` of the member that holds the control partition, if another than this
    /// one does (the group may still list this node after it lost its session: it then
    /// knows no owner, rather than forward to itself).
    fn owner_address(&self) -> Option<String> {
        let groups = self
            .consumer
            .fetch_group_list(Some(&self.group), self.timeout)
            .ok()?;
        let group = groups.groups().iter().find(|g| g.name() == self.group)?;
        group
            .members()
            .iter()
            .find(|m| m.assignment().is_some_and(assigns_a_partition))
            .map(|m| m.client_id().to_owned())
            .filter(|owner| *owner != self.advertised)
    }
}

/// Whether a member's assignment (Kafka's consumer protocol: version i16, then topics as
/// [name: i16 length + bytes, partitions: i32 count + i32 each]) names any partition.
fn assigns_a_partition(bytes: &[u8]) -> bool {
    let read = |at: usize, n: usize| bytes.get(at..at + n);
    let i16_at = |at| read(at, 2).map(|b| i16::from_be_bytes([b[0], b[1]]));
    let i32_at = |at| read(at, 4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let Some(topics) = i32_at(2) else {
        return false;
    };
    let mut at = 6;
    for _ in 0..topics.max(0) {
        let Some(name) = i16_at(at) else {
            return false;
        };
        at += 2 + usize::try_from(name).unwrap_or(0);
        match i32_at(at) {
            Some(partitions) if partitions > 0 => return true,
            Some(_) => at += 4,
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whether_an_assignment_names_a_partition() {
        let mut some = vec![0, 1, 0, 0, 0, 1, 0, 3];
        some.extend_from_slice(b"t-o");
        some.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert!(assigns_a_partition(&some));
        let none = [0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(!assigns_a_partition(&none));
        let mut empty_topic = vec![0, 1, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 0];
        assert!(!assigns_a_partition(&empty_topic));
        empty_topic.truncate(5);
        assert!(!assigns_a_partition(&empty_topic));
        assert!(!assigns_a_partition(&[]));
    }
}
