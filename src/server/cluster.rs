//! A node of the ledger on Kafka: its role, as the nodes' group decides it
//! (`ledger::log::kafka::membership`), and the ledger it serves in that role.
//!
//! - **Follower**: every partition's replica follows the topic; queries are answered from
//!   its views, commands are forwarded to the owner (`forward`).
//! - **Owner**: once the group assigns it the ledger, the node stops following, takes every
//!   partition over (its producers' `init_transactions` fence the previous owner), catches up
//!   with what is committed, and decides, from the checkpoint its follower saved.
//! - An owner that loses the ledger (paused or cut off past the session timeout, so another
//!   node took over and fenced it) stops with [`Stopped::Demoted`]: restarted, it rejoins as
//!   a follower.
//!
//! A follower becomes the owner in place (`Ledger::promote`): its gRPC server goes on
//! serving queries throughout; commands sent during the takeover are refused UNAVAILABLE
//! and retried by the callers.

use std::future::Future;
use std::net::SocketAddr;

use ledger::log::kafka::{KafkaConfig, Membership, Ownership};
use tokio::sync::watch;
use tonic::transport::{Certificate, ClientTlsConfig};

use super::{Bound, Error, ForwardLayer, KafkaNode, Phase, Served, ServerConfig, Stopped};
use crate::partitioned::Ledger;
use crate::partitioned::layout::Layout;

/// Runs the node until `shutdown` (or until it loses the ledger it owned).
pub(super) async fn serve(
    config: &ServerConfig,
    node: KafkaNode,
    layout: Layout,
    served: Served,
    bound: impl FnOnce(Bound),
    shutdown: impl Future<Output = ()>,
) -> Result<Stopped, Error> {
    // A fixed address, advertised to the other nodes and kept across roles (port 0 picks
    // one now).
    let listen = std::net::TcpListener::bind(config.listen)?.local_addr()?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let advertised = node
        .advertise
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{listen}"));
    let kafka = KafkaConfig {
        partitions: layout.partitions.count(),
        ..node.kafka.clone()
    };
    let membership = Membership::join(&kafka, &advertised, node.session_timeout).await?;
    tracing::info!(%advertised, topic = %kafka.topic, "joined the nodes' group");
    // Start in the role the group gives, once it gives one (a lone node owns at once; one
    // joining a running ledger follows); without an answer within the session timeout,
    // follow (and wait for the group there).
    let mut ownership = membership.ownership();
    let settled = ownership.wait_for(|o| o.this_node || o.owner.is_some());
    let _ = tokio::time::timeout(node.session_timeout, settled).await;
    let node = Node {
        config,
        kafka,
        layout,
        served,
        listen,
        ownership: membership.ownership(),
        forward_tls: forward_tls(config)?,
    };
    let (signal_tx, signal) = watch::channel(false);
    let roles = node.run(bound, signal);
    tokio::pin!(roles);
    let stopped = tokio::select! {
        stopped = &mut roles => stopped,
        () = shutdown => {
            let _ = signal_tx.send(true);
            roles.await
        }
    };
    membership.leave().await;
    stopped
}

/// TLS to the owner when this node serves TLS: the nodes share a certificate, or one from
/// the same authority, so this node's own certificate is the one to trust.
fn forward_tls(config: &ServerConfig) -> Result<Option<ClientTlsConfig>, Error> {
    let Some((cert, _)) = &config.tls else {
        return Ok(None);
    };
    let pem =
        std::fs::read(cert).map_err(|e| format!("tls: cannot read {}: {e}", cert.display()))?;
    Ok(Some(
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
    ))
}

struct Node<'c> {
    config: &'c ServerConfig,
    kafka: KafkaConfig,
    layout: Layout,
    served: Served,
    listen: SocketAddr,
    ownership: watch::Receiver<Ownership>,
    forward_tls: Option<ClientTlsConfig>,
}

impl Node<'_> {
    /// Owns from the start if the group says so; else follows until the group makes this
    /// node the owner, and owns from then on, until `signal` or the ledger is taken from it.
    async fn run(
        &self,
        bound: impl FnOnce(Bound),
        signal: watch::Receiver<bool>,
    ) -> Result<Stopped, Error> {
        if *signal.borrow() {
            return Ok(Stopped::Signal);
        }
        if self.ownership.borrow().this_node {
            return self.own(bound, signal).await;
        }
        self.follow(bound, signal).await
    }

    /// Serves as a follower, and as the owner once promoted, without restarting the gRPC
    /// server.
    async fn follow(
        &self,
        bound: impl FnOnce(Bound),
        signal: watch::Receiver<bool>,
    ) -> Result<Stopped, Error> {
        let (ledger, followers) = Ledger::follow_kafka(&self.layout, self.kafka.clone()).await?;
        tracing::info!(partitions = %self.layout.partitions, "following the ledger's owner");
        metrics::gauge!("kafka_node_owner").set(0.0);
        let forward = ForwardLayer::to_owner(self.ownership.clone(), self.forward_tls.clone());
        let roles = tokio::spawn(promote_when_assigned(
            ledger.clone(),
            followers,
            self.ownership.clone(),
            signal,
        ));
        let until = async move { roles.await.unwrap_or(Stopped::TakeoverFailed) };
        let phase = Phase::new(ledger, self.listen, forward);
        super::serve_ledger(self.config, phase, self.served.clone(), bound, until).await
    }

    async fn own(
        &self,
        bound: impl FnOnce(Bound),
        signal: watch::Receiver<bool>,
    ) -> Result<Stopped, Error> {
        let ledger = Ledger::open_kafka(&self.layout, self.kafka.clone()).await?;
        tracing::info!(partitions = %self.layout.partitions, "owning the ledger");
        metrics::gauge!("kafka_node_owner").set(1.0);
        let until = owned_until(self.ownership.clone(), ledger.diverged(), signal);
        let phase = Phase::new(ledger, self.listen, ForwardLayer::default());
        super::serve_ledger(self.config, phase, self.served.clone(), bound, until).await
    }
}

/// A follower's roles: it takes the ledger over once the group assigns it, then owns it
/// until `signal` or until it is taken away.
async fn promote_when_assigned(
    ledger: Ledger<ledger::KafkaLog>,
    followers: Vec<ledger::log::kafka::Following>,
    mut ownership: watch::Receiver<Ownership>,
    signal: watch::Receiver<bool>,
) -> Stopped {
    let assigned = async {
        let _ = ownership.wait_for(|o| o.this_node).await;
    };
    tokio::select! {
        () = assigned => {}
        () = signalled(signal.clone()) => {
            for following in followers {
                following.stop().await;
            }
            return Stopped::Signal;
        }
    }
    tracing::info!("the group gave this node the ledger: taking it over");
    if let Err(error) = ledger.promote(followers).await {
        tracing::error!(%error, "taking the ledger over failed");
        return Stopped::TakeoverFailed;
    }
    tracing::info!("owning the ledger");
    metrics::gauge!("kafka_node_owner").set(1.0);
    owned_until(ownership, ledger.diverged(), signal).await
}

/// Resolves when another node owns the ledger (the group assigned it elsewhere and names
/// the new owner), when this node's producers were fenced, or at `signal`. A lost session
/// alone (the brokers unreachable) is not enough: no other node can take over then, and
/// this node goes on serving queries.
async fn owned_until(
    mut ownership: watch::Receiver<Ownership>,
    mut faults: watch::Receiver<Option<crate::processor::Fault>>,
    signal: watch::Receiver<bool>,
) -> Stopped {
    let lost = async {
        let _ = ownership
            .wait_for(|o| !o.this_node && o.owner.is_some())
            .await;
    };
    let fenced = async {
        let fenced = |f: &Option<crate::processor::Fault>| {
            f.as_ref()
                .is_some_and(|f| f.reason.contains(ledger::log::kafka::FENCED))
        };
        if faults.wait_for(fenced).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = lost => {
            tracing::warn!("another node took the ledger over: stopping");
            Stopped::Demoted
        }
        () = fenced => {
            tracing::warn!("another node fenced this one's producers: stopping");
            Stopped::Demoted
        }
        () = signalled(signal) => Stopped::Signal,
    }
}

/// Resolves once `signal` is set.
async fn signalled(mut signal: watch::Receiver<bool>) {
    let _ = signal.wait_for(|s| *s).await;
}
