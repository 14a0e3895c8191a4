//! Commands sent to a node that does not own the ledger go to the node that does.
//!
//! On Kafka every node serves gRPC, and one node decides (`ledger::log::kafka::membership`).
//! On the others, this layer passes each `LedgerService` call, headers and all (the caller's
//! bearer token, its `ledger-at-least`), to the owner's advertised address, and answers with
//! the owner's answer, given once the command's events are committed in the topic. The owner
//! authenticates the caller again, so idempotency keys stay the caller's. Queries are
//! answered here, from this node's own views.

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use ledger::log::kafka::Ownership;
use tokio::sync::watch;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::{Body, BoxFuture};
use crate::api::status::error;

/// The service whose calls are commands, forwarded to the owner.
pub const COMMANDS_PREFIX: &str = "/ledger.v1.LedgerService/";
/// Longest a forwarded command waits for the owner's answer (and for a connection to it):
/// past it the caller is told UNAVAILABLE and retries with the same request id.
pub const FORWARD_TIMEOUT_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// Forwards commands to the owner while this node follows; passes everything through
/// otherwise (and always without an ownership to watch: the embedded ledger).
#[derive(Clone, Default)]
pub struct ForwardLayer {
    route: Option<Route>,
}

#[derive(Clone)]
struct Route {
    ownership: watch::Receiver<Ownership>,
    tls: Option<ClientTlsConfig>,
    /// The channel to the owner last forwarded to, by its address.
    channel: Arc<Mutex<Option<(String, Channel)>>>,
}

impl ForwardLayer {
    /// Forwards while `ownership` says another node owns; over TLS with `tls`.
    pub fn to_owner(ownership: watch::Receiver<Ownership>, tls: Option<ClientTlsConfig>) -> Self {
        ForwardLayer {
            route: Some(Route {
                ownership,
                tls,
                channel: Arc::default(),
            }),
        }
    }
}

impl Route {
    /// The channel to the owner, when another node owns. Err: no node owns now.
    fn owner(&self) -> Result<Option<Channel>, tonic::Status> {
        let ownership = self.ownership.borrow().clone();
        if ownership.this_node {
            return Ok(None);
        }
        let unavailable = |reason: String| error(tonic::Code::Unavailable, "NO_OWNER", "", reason);
        let Some(address) = ownership.owner else {
            return Err(unavailable(
                "no node owns the ledger now (a takeover is under way): retry".into(),
            ));
        };
        let mut cached = self.channel.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, channel)) = cached.as_ref()
            && *at == address
        {
            return Ok(Some(channel.clone()));
        }
        let mut endpoint = Endpoint::from_shared(address.clone())
            .map_err(|e| unavailable(format!("the owner's address {address:?}: {e}")))?
            .tcp_nodelay(true)
            .connect_timeout(FORWARD_TIMEOUT_MAX)
            .timeout(FORWARD_TIMEOUT_MAX);
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|e| unavailable(format!("TLS to the owner {address}: {e}")))?;
        }
        let channel = endpoint.connect_lazy();
        *cached = Some((address, channel.clone()));
        Ok(Some(channel))
    }
}

impl<S> tower_layer::Layer<S> for ForwardLayer {
    type Service = Forward<S>;
    fn layer(&self, inner: S) -> Forward<S> {
        Forward {
            inner,
            route: self.route.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Forward<S> {
    inner: S,
    route: Option<Route>,
}

impl<S> tower_service::Service<http::Request<Body>> for Forward<S>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let owner = match &self.route {
            Some(route) if request.uri().path().starts_with(COMMANDS_PREFIX) => route.owner(),
            _ => Ok(None),
        };
        match owner {
            Err(status) => Box::pin(std::future::ready(Ok(status.into_http()))),
            Ok(None) => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move { inner.call(request).await })
            }
            Ok(Some(mut channel)) => Box::pin(async move {
                metrics::counter!("grpc_forwarded_total").increment(1);
                let forwarded = async {
                    std::future::poll_fn(|cx| {
                        tower_service::Service::<http::Request<Body>>::poll_ready(&mut channel, cx)
                    })
                    .await?;
                    tower_service::Service::call(&mut channel, request).await
                };
                Ok(match forwarded.await {
                    Ok(answer) => answer.map(Body::new),
                    Err(e) => error(
                        tonic::Code::Unavailable,
                        "OWNER_UNREACHABLE",
                        "",
                        format!("the ledger's owner did not answer: {e}"),
                    )
                    .into_http(),
                })
            }),
        }
    }
}
