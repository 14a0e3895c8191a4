//! The running server: configuration, the gate every request passes (authentication, the
//! role table, latency metrics), TLS, the Prometheus endpoint, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use ledger::EventLog;
use proto::v1::audit_service_server::AuditServiceServer;
use proto::v1::ledger_service_server::LedgerServiceServer;
use proto::v1::query_service_server::QueryServiceServer;
use tonic::Status;
use tonic::transport::{Identity, ServerTlsConfig};

use crate::api::auth::{self, Access, TokenEntry, Tokens};
use crate::api::grpc::Api;
use crate::partitioned::Ledger;
use crate::partitioned::consistency::{self, AT_LEAST_HEADER, POSITIONS_HEADER};
use crate::partitioned::layout::Layout;
use crate::processor::recovery;

pub mod backend;
mod cluster;
pub mod forward;
pub use backend::{Backend, KafkaFileConfig, KafkaNode};
pub use forward::ForwardLayer;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The configuration file (TOML). Every key is optional; command-line flags and
/// `CLAIMS_LEDGER_*` environment variables override it. Relative paths are relative to the
/// file's directory.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    /// The partition count of a ledger this server creates (1 to 256; default 1). An
    /// existing data directory keeps the count it was created with.
    pub partitions: Option<u64>,
    pub listen: Option<SocketAddr>,
    /// Where to serve Prometheus metrics over HTTP (`GET /metrics`); off when absent.
    pub metrics_listen: Option<SocketAddr>,
    /// PEM certificate chain and private key: serve TLS when both are given.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    /// Where events are recorded: `files` (default) or `kafka://host:port[,host:port]`.
    pub log: Option<String>,
    /// The Kafka topic and its replication, for `log = "kafka://..."`.
    pub kafka: Option<KafkaFileConfig>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("config {}: {e}", path.display()))?;
        let mut config: FileConfig =
            toml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut config.data_dir,
            &mut config.tls_cert,
            &mut config.tls_key,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }
}

/// Everything `serve` needs, after layering flags, environment and file.
#[derive(Debug)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    /// The partition count to create the ledger with (None: 1, or what the directory
    /// records); a directory created with another count is refused.
    pub partitions: Option<ledger::partition::Partitions>,
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub tokens: Tokens,
    pub backend: Backend,
}

impl ServerConfig {
    /// Checks what only makes sense together: development mode (no tokens) listens on
    /// loopback only; TLS needs both a certificate and a key.
    pub fn new(
        data_dir: PathBuf,
        listen: SocketAddr,
        metrics_listen: Option<SocketAddr>,
        tls_cert: Option<PathBuf>,
        tls_key: Option<PathBuf>,
        tokens: &[TokenEntry],
    ) -> Result<ServerConfig, String> {
        let tokens = Tokens::from_entries(tokens)?;
        if tokens.is_empty() && !listen.ip().is_loopback() {
            return Err(format!(
                "listen: refusing {listen}: with no tokens configured the server runs in \
                 development mode (every caller is admin) and listens on loopback addresses only"
            ));
        }
        if let Some(metrics) = metrics_listen
            && tokens.is_empty()
            && !metrics.ip().is_loopback()
        {
            return Err(format!(
                "metrics_listen: refusing {metrics}: in development mode (no tokens) the \
                 server listens on loopback addresses only"
            ));
        }
        let tls = match (tls_cert, tls_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => return Err("tls_key: a TLS certificate needs its key".into()),
            (None, Some(_)) => return Err("tls_cert: a TLS key needs its certificate".into()),
        };
        Ok(ServerConfig {
            data_dir,
            partitions: None,
            listen,
            metrics_listen,
            tls,
            tokens,
            backend: Backend::Files,
        })
    }
}

/// A tower layer in front of every service: unknown methods are `UNIMPLEMENTED`, callers are
/// authenticated and checked against [`auth::METHODS`], the caller is put in the request's
/// extensions for the handlers, a request naming positions (`ledger-at-least`) waits for
/// them, every answer says the positions it reflects (`ledger-positions`,
/// `partitioned::consistency`), and each call's latency is recorded by method.
#[derive(Clone)]
pub struct GateLayer {
    tokens: Arc<Tokens>,
    positions: Option<Arc<dyn Positions>>,
}

impl GateLayer {
    pub fn new(tokens: Tokens) -> Self {
        GateLayer {
            tokens: Arc::new(tokens),
            positions: None,
        }
    }

    /// Consistency tokens over `ledger`'s partitions.
    pub fn with_positions(mut self, ledger: Arc<dyn Positions>) -> Self {
        self.positions = Some(ledger);
        self
    }
}

/// What the gate asks of the ledger for consistency tokens.
pub trait Positions: Send + Sync {
    fn partitions(&self) -> u32;
    /// Every partition's durable head, as a `ledger-positions` value.
    fn heads(&self) -> String;
    /// Resolves once every named partition is durable up to its offset (or refuses).
    fn wait_for(
        &self,
        at_least: Vec<(ledger::partition::Partition, u64)>,
    ) -> BoxFuture<Result<(), Status>>;
}

impl<L: EventLog> Positions for Ledger<L> {
    fn partitions(&self) -> u32 {
        Ledger::partitions(self).count()
    }

    fn heads(&self) -> String {
        self.positions()
    }

    fn wait_for(
        &self,
        at_least: Vec<(ledger::partition::Partition, u64)>,
    ) -> BoxFuture<Result<(), Status>> {
        let ledger = self.clone();
        Box::pin(async move { Ledger::wait_for(&ledger, &at_least).await })
    }
}

impl<S> tower_layer::Layer<S> for GateLayer {
    type Service = Gate<S>;
    fn layer(&self, inner: S) -> Gate<S> {
        Gate {
            inner,
            tokens: self.tokens.clone(),
            positions: self.positions.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    tokens: Arc<Tokens>,
    positions: Option<Arc<dyn Positions>>,
}

type Body = tonic::body::Body;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower_service::Service<http::Request<B>> for Gate<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let refuse = |status: Status| -> Self::Future {
            Box::pin(std::future::ready(Ok(status.into_http())))
        };
        let path = request.uri().path();
        let Some((method, access)) = auth::access(path) else {
            return refuse(crate::api::status::error(
                tonic::Code::Unimplemented,
                "UNKNOWN_METHOD",
                "",
                format!("{path}: no such method"),
            ));
        };
        if access != Access::Public {
            let header = request.headers().get(http::header::AUTHORIZATION);
            let caller = match self.tokens.authenticate(header.map(|h| h.as_bytes())) {
                Ok(caller) => caller,
                Err(status) => {
                    metrics::counter!("grpc_refused_total", "method" => method, "why" => "unauthenticated")
                        .increment(1);
                    return refuse(status);
                }
            };
            if !access.allows(caller.role()) {
                metrics::counter!("grpc_refused_total", "method" => method, "why" => "role")
                    .increment(1);
                return refuse(auth::denied(method, caller.role()));
            }
            request.extensions_mut().insert(caller);
        }
        let positions = self.positions.clone();
        let at_least = match (&positions, request.headers().get(AT_LEAST_HEADER)) {
            (Some(ledger), Some(value)) => {
                let parsed = value
                    .to_str()
                    .map_err(|_| {
                        crate::api::status::invalid(
                            AT_LEAST_HEADER,
                            format!("{AT_LEAST_HEADER}: not text"),
                        )
                    })
                    .and_then(|v| consistency::parse(v, ledger.partitions()));
                match parsed {
                    Ok(at_least) => at_least,
                    Err(status) => return refuse(status),
                }
            }
            _ => Vec::new(),
        };
        // The service that was polled ready is the one to call; keep a fresh clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let started = Instant::now();
            if let Some(ledger) = &positions
                && !at_least.is_empty()
                && let Err(status) = ledger.wait_for(at_least).await
            {
                return Ok(status.into_http());
            }
            // What the answer reflects at least: the heads once it may be served.
            let reflects = positions.as_ref().map(|ledger| ledger.heads());
            let mut response = inner.call(request).await;
            // A command forwarded to the owner keeps the owner's.
            if let (Ok(answer), Some(heads)) = (&mut response, reflects)
                && !answer.headers().contains_key(POSITIONS_HEADER)
                && let Ok(value) = http::HeaderValue::from_str(&heads)
            {
                answer.headers_mut().insert(POSITIONS_HEADER, value);
            }
            metrics::histogram!("grpc_request_seconds", "method" => method)
                .record(started.elapsed());
            response
        })
    }
}

/// The API's routes with health checking and reflection, behind the gate: what `serve`
/// runs, and what the gRPC benchmark measures.
pub async fn router<L: EventLog>(
    api: Api<L>,
    tokens: Tokens,
    tls: Option<ServerTlsConfig>,
    forward: ForwardLayer,
) -> Result<
    tonic::transport::server::Router<
        tower_layer::Stack<ForwardLayer, tower_layer::Stack<GateLayer, tower_layer::Identity>>,
    >,
    Error,
> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<LedgerServiceServer<Api<L>>>()
        .await;
    health_reporter
        .set_serving::<QueryServiceServer<Api<L>>>()
        .await;
    health_reporter
        .set_serving::<AuditServiceServer<Api<L>>>()
        .await;
    tokio::spawn(not_serving_once_diverged::<L>(
        health_reporter,
        api.ledger().diverged(),
    ));
    // Reflection in both versions: v1, and v1alpha, which grpcio-reflection and older grpcurl
    // ask for.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let reflection = reflection().build_v1()?;
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    Ok(builder
        .layer(GateLayer::new(tokens).with_positions(Arc::new(api.ledger().clone())))
        .layer(forward)
        .add_service(health)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(LedgerServiceServer::new(api.clone()))
        .add_service(QueryServiceServer::new(api.clone()))
        .add_service(AuditServiceServer::new(api)))
}

/// Follows the service's faults in health: NOT_SERVING for every service once the
/// projections diverge from the log; once they are rebuilt from the durable log after a
/// storage failure, queries and audit serve again and the ledger service stays NOT_SERVING.
async fn not_serving_once_diverged<L: EventLog>(
    reporter: tonic_health::server::HealthReporter,
    mut diverged: tokio::sync::watch::Receiver<Option<crate::processor::Fault>>,
) {
    use tonic_health::ServingStatus::{NotServing, Serving};
    loop {
        let reads = match diverged.borrow_and_update().as_ref() {
            None => None,
            Some(fault) if fault.reads_served => Some(Serving),
            Some(_) => Some(NotServing),
        };
        if let Some(reads) = reads {
            reporter
                .set_not_serving::<LedgerServiceServer<Api<L>>>()
                .await;
            reporter
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            for service in [
                <QueryServiceServer<Api<L>> as tonic::server::NamedService>::NAME,
                <AuditServiceServer<Api<L>> as tonic::server::NamedService>::NAME,
            ] {
                reporter.set_service_status(service, reads).await;
            }
        }
        if diverged.changed().await.is_err() {
            return;
        }
    }
}

/// How long a stopping server waits for open requests to finish.
pub const SHUTDOWN_DRAIN_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// Where a started server listens.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub grpc: SocketAddr,
    pub metrics: Option<SocketAddr>,
}

/// Runs the server until `shutdown` resolves, then stops accepting, ends subscriptions, lets
/// the command writer finish its batch, saves a checkpoint and flushes the log. `bound` is
/// told the listening addresses once the server accepts connections.
pub async fn serve(
    config: ServerConfig,
    bound: impl FnOnce(Bound),
    shutdown: impl Future<Output = ()>,
) -> Result<Stopped, Error> {
    if config.tokens.is_empty() {
        tracing::warn!(
            "DEVELOPMENT MODE: no tokens configured; every caller is treated as admin \
             (listening on loopback only)"
        );
    } else if config.tls.is_none() && !config.listen.ip().is_loopback() {
        tracing::warn!(
            "serving without TLS on {}: bearer tokens cross the network in clear",
            config.listen
        );
    }
    let tls = match &config.tls {
        Some((cert, key)) => {
            let read = |p: &Path| {
                std::fs::read(p).map_err(|e| format!("tls: cannot read {}: {e}", p.display()))
            };
            Some(ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?)))
        }
        None => None,
    };
    let metrics = match config.metrics_listen {
        Some(addr) => Some(start_metrics(addr).await?),
        None => None,
    };

    let layout = Layout::open(&config.data_dir, config.partitions)?;
    let probe = recovery::disk_probe(config.data_dir.clone());
    match config.backend.clone() {
        Backend::Files => {
            let ledger = Ledger::open(&layout).await?;
            tracing::info!(partitions = %layout.partitions, "opened");
            let served = Served {
                tls,
                metrics,
                probe,
            };
            let shutdown = async {
                shutdown.await;
                Stopped::Signal
            };
            let listen = config.listen;
            let phase = Phase::new(ledger, listen, ForwardLayer::default());
            serve_ledger(&config, phase, served, bound, shutdown).await
        }
        Backend::Kafka(node) => {
            // Appends resume (after a restart) once the brokers answer and the disk that
            // holds the replicas takes writes.
            let kafka = node.kafka.clone();
            let probe: recovery::Probe = Arc::new(move || {
                ledger::log::kafka::reachable(&kafka).map_err(|e| e.to_string())?;
                probe()
            });
            let served = Served {
                tls,
                metrics,
                probe,
            };
            cluster::serve(&config, node, layout, served, bound, shutdown).await
        }
    }
}

/// What [`serve`] prepared for [`serve_ledger`] besides the ledger.
#[derive(Clone)]
struct Served {
    tls: Option<ServerTlsConfig>,
    metrics: Option<SocketAddr>,
    /// Whether the storage takes writes again after a failure.
    probe: recovery::Probe,
}

/// What the gRPC server serves: the ledger, where it listens, and where commands go (to the
/// owner, on a Kafka follower: `forward`).
struct Phase<L: EventLog> {
    ledger: Ledger<L>,
    listen: SocketAddr,
    forward: ForwardLayer,
}

impl<L: EventLog> Phase<L> {
    fn new(ledger: Ledger<L>, listen: SocketAddr, forward: ForwardLayer) -> Self {
        Phase {
            ledger,
            listen,
            forward,
        }
    }
}

/// Serves `phase.ledger` until `shutdown` resolves (with why), then closes it (the rest of
/// [`serve`]).
async fn serve_ledger<S: ledger::log::Store>(
    config: &ServerConfig,
    phase: Phase<ledger::log::Log<S>>,
    served: Served,
    bound: impl FnOnce(Bound),
    shutdown: impl Future<Output = Stopped>,
) -> Result<Stopped, Error> {
    let Served {
        tls,
        metrics,
        probe,
    } = served;
    let Phase {
        ledger,
        listen,
        forward,
    } = phase;
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let api = Api::new(ledger.clone(), stopping);
    let router = router(api, config.tokens.clone(), tls, forward).await?;

    // TCP_NODELAY on every accepted connection: without it small responses wait for the
    // peer's delayed ACK (~40 ms tails).
    let incoming = tonic::transport::server::TcpIncoming::bind(listen)?.with_nodelay(Some(true));
    let grpc = incoming.local_addr()?;
    tracing::info!(%grpc, tls = config.tls.is_some(), "serving");
    bound(Bound { grpc, metrics });
    let mut stopping = stopping_tx.subscribe();
    let recovered = crate::processor::recovery::storage_recovered(probe, ledger.diverged());
    let (why_tx, mut why) = tokio::sync::watch::channel(Stopped::Signal);
    let serving = router.serve_with_incoming_shutdown(incoming, async move {
        let stopped = tokio::select! {
            stopped = shutdown => stopped,
            () = recovered => Stopped::StorageRecovered,
        };
        let _ = why_tx.send(stopped);
        // End open subscriptions so the drain does not wait on them.
        let _ = stopping_tx.send(true);
    });
    // The drain waits for open requests; a peer that never finishes one must not keep the
    // server from stopping: after `SHUTDOWN_DRAIN_MAX` it stops without them.
    tokio::select! {
        served = serving => served?,
        () = async {
            let _ = stopping.wait_for(|s| *s).await;
            tokio::time::sleep(SHUTDOWN_DRAIN_MAX).await;
        } => tracing::warn!(
            seconds = SHUTDOWN_DRAIN_MAX.as_secs(),
            "requests still open after the drain: stopping without them"
        ),
    }
    ledger.shutdown().await;
    let stopped = *why.borrow_and_update();
    match ledger.close_logs().await {
        Ok(()) => tracing::info!("stopped: checkpoint saved, log flushed"),
        // The log keeps the write error it failed with; everything it acknowledged was synced
        // before the acknowledgement, and the restart re-reads the tail.
        Err(e) if stopped != Stopped::Signal => {
            tracing::warn!(error = %e, "stopped: the log's handle still holds its write error")
        }
        Err(e) => return Err(e.into()),
    }
    Ok(stopped)
}

/// Why a server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The shutdown future resolved (SIGTERM or SIGINT).
    Signal,
    /// The storage took writes again after a failure: a restart resumes appends
    /// ([`crate::processor::recovery`]).
    StorageRecovered,
    /// On Kafka: this node owned the ledger and another took it over (this one was paused
    /// or cut off from the group). A restart rejoins as a follower.
    Demoted,
    /// On Kafka: this node was given the ledger and could not take it over (Kafka failed
    /// meanwhile; logged). A restart rejoins the group.
    TakeoverFailed,
}

/// Installs the Prometheus recorder and serves `GET /metrics` on `addr` over HTTP/1.1.
async fn start_metrics(addr: SocketAddr) -> Result<SocketAddr, Error> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let seconds = [
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        0.5, 1.0, 2.5,
    ];
    let sizes = [1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)?
        .set_buckets_for_metric(Matcher::Suffix("_events".into()), &sizes)?
        .set_buckets_for_metric(Matcher::Suffix("_commands".into()), &sizes)?
        .install_recorder()?;
    describe_metrics();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "metrics: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: http::Request<_>| {
                    let response = if request.uri().path() == "/metrics" {
                        http::Response::builder()
                            .header(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")
                            .body(handle.render())
                    } else {
                        http::Response::builder()
                            .status(http::StatusCode::NOT_FOUND)
                            .body("only /metrics is served here\n".to_owned())
                    };
                    std::future::ready(response)
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    tracing::info!(metrics = %bound, "serving Prometheus metrics at /metrics");
    Ok(bound)
}

fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "ledger_events_appended_total",
        Unit::Count,
        "Events made durable in the log"
    );
    describe_counter!(
        "ledger_commits_total",
        Unit::Count,
        "Group commits (one write and one fsync each)"
    );
    describe_histogram!(
        "ledger_commit_events",
        Unit::Count,
        "Events per group commit"
    );
    describe_histogram!(
        "ledger_commit_write_seconds",
        Unit::Seconds,
        "Time to write one group commit and fsync it"
    );
    describe_histogram!(
        "kafka_commit_seconds",
        Unit::Seconds,
        "On Kafka: time to commit one group commit's transaction (after its messages)"
    );
    describe_counter!(
        "kafka_commit_failures_total",
        Unit::Count,
        "On Kafka: transactions that failed (broker unreachable, fenced by a newer owner)"
    );
    describe_gauge!(
        "kafka_node_owner",
        Unit::Count,
        "On Kafka: 1 while this node owns the ledger and decides, 0 while it follows"
    );
    describe_gauge!(
        "kafka_follower_lag_offsets",
        Unit::Count,
        "On Kafka, a follower: Kafka offsets of the partition it has not read yet (commit \
         markers count: 1-2 per commit in progress, 0 when idle)"
    );
    describe_counter!(
        "kafka_follow_failures_total",
        Unit::Count,
        "On Kafka, a follower: partitions that stopped following (a damaged or diverging topic)"
    );
    describe_counter!(
        "grpc_forwarded_total",
        Unit::Count,
        "On Kafka, a follower: commands forwarded to the owner"
    );
    describe_gauge!(
        "ledger_append_queue_depth",
        Unit::Count,
        "Append requests waiting for the log's sequencer"
    );
    describe_histogram!(
        "commands_batch_commands",
        Unit::Count,
        "Commands decided and appended together by the command writer"
    );
    describe_gauge!(
        "commands_queue_depth",
        Unit::Count,
        "Commands waiting for the command writer"
    );
    describe_histogram!(
        "grpc_request_seconds",
        Unit::Seconds,
        "gRPC call latency by method (to the response headers for streams)"
    );
    describe_counter!(
        "grpc_refused_total",
        Unit::Count,
        "Calls refused before a handler: unauthenticated, or the role may not call the method"
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::api::auth::Role;

    fn config(listen: &str, tokens: &[TokenEntry]) -> Result<ServerConfig, String> {
        ServerConfig::new(
            "d".into(),
            listen.parse().unwrap(),
            None,
            None,
            None,
            tokens,
        )
    }

    #[test]
    fn only_configured_tokens_open_non_loopback_addresses() {
        let err = config("0.0.0.0:50051", &[]).unwrap_err();
        assert!(err.starts_with("listen: refusing 0.0.0.0:50051"), "{err}");
        assert!(config("127.0.0.1:50051", &[]).unwrap().tokens.is_empty());
        assert!(config("[::1]:50051", &[]).is_ok());
        let token = TokenEntry {
            name: "ops".into(),
            role: Role::Insurer,
            facility_id: None,
            sha256: auth::hash_token("t"),
        };
        assert!(config("0.0.0.0:50051", std::slice::from_ref(&token)).is_ok());
        let metrics = |tokens: &[TokenEntry]| {
            ServerConfig::new(
                "d".into(),
                "127.0.0.1:50051".parse().unwrap(),
                Some("0.0.0.0:9464".parse().unwrap()),
                None,
                None,
                tokens,
            )
        };
        let err = metrics(&[]).unwrap_err();
        assert!(
            err.starts_with("metrics_listen: refusing 0.0.0.0:9464"),
            "{err}"
        );
        assert!(metrics(&[token]).is_ok());
    }
}
