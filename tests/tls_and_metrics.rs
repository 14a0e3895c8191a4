//! Operating the real server: TLS from a config file (relative paths), and the Prometheus
//! endpoint counting what the log and the RPCs did.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Server, bearer, http_get, register_member};
use pb::ledger_service_client::LedgerServiceClient;
use pb::query_service_client::QueryServiceClient;
use proto::v1 as pb;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_from_the_config_file_serves_authenticated_clients() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = certified.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(
        dir.path().join("key.pem"),
        certified.signing_key.serialize_pem(),
    )
    .unwrap();
    let config = dir.path().join("ledger.toml");
    std::fs::write(
        &config,
        format!(
            "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n\n[[tokens]]\nname = \"ops\"\n\
             role = \"insurer\"\nsha256 = \"{}\"\n",
            claims_ledger::api::auth::hash_token("tls-insurer-token")
        ),
    )
    .unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&cert_pem))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut query = QueryServiceClient::new(InterceptedService::new(
        channel.clone(),
        bearer(Some("tls-insurer-token")),
    ));
    let trial = query
        .get_trial_balance(pb::GetTrialBalanceRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(trial.position, 0);
    // Over TLS, a missing token is still refused.
    let anonymous = QueryServiceClient::new(InterceptedService::new(channel, bearer(None)))
        .get_trial_balance(pb::GetTrialBalanceRequest::default())
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);

    // A plaintext client gets nowhere.
    let plaintext = async {
        let channel = Endpoint::from_shared(server.url())
            .unwrap()
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        QueryServiceClient::new(InterceptedService::new(
            channel,
            bearer(Some("tls-insurer-token")),
        ))
        .get_trial_balance(pb::GetTrialBalanceRequest::default())
        .await
        .map_err(|e| e.to_string())
    };
    assert!(plaintext.await.is_err());
    server.stop();
}

/// `GET <path>` over HTTP/1.1; returns the status line and the body.
/// The value of a sample line `name value` in Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_count_appends_commits_and_rpcs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--metrics-listen", "127.0.0.1:0"]);
    let metrics = server.metrics.clone().unwrap();
    let mut ledger = LedgerServiceClient::new(server.channel(None).await);
    register_member(&mut ledger).await;
    let head = QueryServiceClient::new(server.channel(None).await)
        .get_trial_balance(pb::GetTrialBalanceRequest::default())
        .await
        .unwrap()
        .into_inner()
        .position;
    assert_eq!(head, 3, "scheme, household, member");

    let (status, body) = http_get(&metrics, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(
        sample(&body, "ledger_events_appended_total"),
        Some(head as f64)
    );
    // Three commands, each its own commit here (they were sent one after another).
    assert_eq!(sample(&body, "ledger_commits_total"), Some(3.0));
    assert_eq!(
        sample(&body, "ledger_commit_write_seconds_count"),
        Some(3.0)
    );
    for method in ["PublishScheme", "RegisterHousehold", "EnrollMember"] {
        let name =
            format!("grpc_request_seconds_count{{method=\"/ledger.v1.LedgerService/{method}\"}}");
        assert_eq!(sample(&body, &name), Some(1.0), "{name}");
    }
    assert!(body.contains("# HELP ledger_commit_write_seconds"));
    assert_eq!(http_get(&metrics, "/elsewhere").0, "HTTP/1.1 404 Not Found");
    server.stop();
}
