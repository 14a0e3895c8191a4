//! Authentication and roles on the real server binary: the role matrix over every RPC in the
//! published contract, facility tokens confined to their own facility, health and reflection
//! open without a token, and configuration mistakes refused with the key named.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::str::FromStr;

use common::{
    Channel, ROLES, Server, date, head_position, setup_household, token, tokens_config, utc_today,
    visit_claim,
};
use pb::ledger_service_client::LedgerServiceClient;
use pb::query_service_client::QueryServiceClient;
use prost::Message;
use proto::v1 as pb;
use tonic::Code;

/// Who may call what, written out here independently of the server's table.
fn allowed(role: &str, service: &str, method: &str) -> bool {
    match role {
        "admin" => true,
        "insurer" => {
            (service == "LedgerService" && method != "PublishScheme") || service == "QueryService"
        }
        "auditor" => service == "QueryService" || service == "AuditService",
        "facility" => matches!(
            method,
            "SubmitClaim"
                | "SubmitClaims"
                | "CheckEligibility"
                | "GetClaim"
                | "ListClaims"
                | "GetFacilityStatement"
                | "ListFacilityStatements"
                | "GetStock"
        ),
        _ => unreachable!(),
    }
}

/// Every method of the published contract, as (service, method).
fn methods() -> Vec<(String, String)> {
    let set = prost_types::FileDescriptorSet::decode(proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut methods = Vec::new();
    for file in set.file {
        if file.package() != "ledger.v1" {
            continue;
        }
        for service in file.service {
            for method in &service.method {
                methods.push((service.name().to_owned(), method.name().to_owned()));
            }
        }
    }
    methods
}

/// Calls `/ledger.v1.<service>/<method>` with an empty message and returns the status code
/// of the answer (an empty message is a valid encoding of every request type).
async fn call(channel: Channel, service: &str, method: &str) -> Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path =
        http::uri::PathAndQuery::from_str(&format!("/ledger.v1.{service}/{method}")).unwrap();
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    match grpc
        .server_streaming(tonic::Request::new(()), path, codec)
        .await
    {
        Ok(_) => Status::Code(Code::Ok),
        Err(status) => Status::Code(status.code()).with(status.message().to_owned()),
    }
}

#[derive(Debug, PartialEq)]
enum Status {
    Code(Code),
    Message(Code, String),
}

impl Status {
    fn with(self, message: String) -> Status {
        match self {
            Status::Code(c) => Status::Message(c, message),
            s => s,
        }
    }
    fn code(&self) -> Code {
        match self {
            Status::Code(c) | Status::Message(c, _) => *c,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_matrix_holds_for_every_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let config = tokens_config(dir.path());
    let server = Server::start_with(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let methods = methods();
    assert_eq!(
        methods.len(),
        29,
        "a method was added or removed: update auth::METHODS and this test's table"
    );
    let mut channels = Vec::new();
    for (role, token) in ROLES {
        channels.push((role, server.channel(Some(token)).await));
    }
    let anonymous = server.channel(None).await;
    let forged = server.channel(Some("not-a-configured-token")).await;
    let mut checked = 0;
    for (service, method) in &methods {
        for (who, channel) in [("nobody", &anonymous), ("forger", &forged)] {
            let status = call(channel.clone(), service, method).await;
            assert_eq!(status.code(), Code::Unauthenticated, "{who} -> {method}");
        }
        for (role, channel) in &channels {
            let status = call(channel.clone(), service, method).await;
            if allowed(role, service, method) {
                assert!(
                    !matches!(
                        status.code(),
                        Code::PermissionDenied | Code::Unauthenticated
                    ),
                    "{role} should reach {service}/{method}, got {status:?}"
                );
            } else {
                assert_eq!(
                    status,
                    Status::Message(
                        Code::PermissionDenied,
                        format!(
                            "authorization: the {} role may not call /ledger.v1.{service}/{method}",
                            capitalised(role)
                        )
                    ),
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 29 * 4);

    // Health checking and reflection need no token.
    let mut health = tonic_health::pb::health_client::HealthClient::new(anonymous.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "ledger.v1.LedgerService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let services = list_services(anonymous).await;
    for s in [
        "ledger.v1.LedgerService",
        "ledger.v1.QueryService",
        "ledger.v1.AuditService",
    ] {
        assert!(services.contains(&s.to_owned()), "{services:?}");
    }
    server.stop();
}

fn capitalised(role: &str) -> String {
    let mut c = role.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

async fn list_services(channel: Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_facility_token_sees_and_submits_only_its_own_claims() {
    let dir = tempfile::tempdir().unwrap();
    let config = tokens_config(dir.path());
    let server = Server::start_with(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let mut admin = LedgerServiceClient::new(server.channel(Some(token("admin"))).await);
    setup_household(&mut admin).await;
    let mut insurer = LedgerServiceClient::new(server.channel(Some(token("insurer"))).await);
    let facility_channel = server.channel(Some(token("facility"))).await;
    let mut clinic = LedgerServiceClient::new(facility_channel.clone());
    let mut clinic_query = QueryServiceClient::new(facility_channel);

    // Its own claim: decided on the server's date. A claim in another facility's name:
    // refused, nothing appended.
    let mut own_claim = visit_claim("f-1", "NY-1", 5);
    own_claim.decided_on = None;
    let before = utc_today();
    let own = clinic.submit_claim(own_claim).await.unwrap().into_inner();
    let after = utc_today();
    let decision = own.decision.unwrap();
    assert!(
        !decision.decided_on_given,
        "the server's date is recorded as such"
    );
    let decided = decision.decided_on.unwrap();
    let decided = (decided.year, decided.month, decided.day);
    assert!(before <= decided && decided <= after, "{decided:?}");
    let mut foreign = visit_claim("f-2", "LU-1", 6);
    foreign.facility_id = "KE-KSM-LUMUMBA".into();
    let refused = clinic.submit_claim(foreign.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(
        refused.message(),
        "facility_id: this token is bound to facility KE-KSM-NYALENDA, not KE-KSM-LUMUMBA"
    );
    let batch = clinic
        .submit_claims(pb::SubmitClaimsRequest {
            facility_id: "KE-KSM-LUMUMBA".into(),
            claims: vec![foreign.clone()],
        })
        .await
        .unwrap_err();
    assert_eq!(batch.code(), Code::PermissionDenied);

    // A facility does not choose the date its claim is decided on; an insurer may (imports).
    let mut dated = visit_claim("f-3", "NY-3", 7);
    let head = head_position(&server, Some(token("admin"))).await;
    dated.decided_on = Some(pb::Date {
        year: 2026,
        month: 3,
        day: 8,
    });
    let refused = clinic.submit_claim(dated.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().starts_with("decided_on: "),
        "{}",
        refused.message()
    );
    assert_eq!(head_position(&server, Some(token("admin"))).await, head);
    foreign.decided_on = dated.decided_on;

    // The insurer may submit for any facility.
    let lumumba = insurer.submit_claim(foreign).await.unwrap().into_inner();
    let given = lumumba.decision.as_ref().unwrap();
    assert!(
        given.decided_on_given,
        "a date the insurer gave is recorded as given"
    );
    assert_eq!(given.decided_on, date(2026, 3, 8));
    let lumumba = lumumba.claim_id;

    // Lists default to, and are confined to, the token's facility.
    let listed = clinic_query
        .list_claims(pb::ListClaimsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let listed_ids: Vec<_> = listed
        .claims
        .iter()
        .map(|c| {
            (
                c.claim.as_ref().unwrap().facility_id.clone(),
                c.claim.as_ref().unwrap().claim_code.clone(),
            )
        })
        .collect();
    assert_eq!(listed.claims.len(), 1, "{listed_ids:?}");
    assert_eq!(
        listed.claims[0].claim.as_ref().unwrap().facility_id,
        "KE-KSM-NYALENDA"
    );
    let other_list = clinic_query
        .list_claims(pb::ListClaimsRequest {
            facility_id: "KE-KSM-LUMUMBA".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(other_list.code(), Code::PermissionDenied);
    assert!(other_list.message().starts_with("facility_id: "));

    // Another facility's claim and statements are not visible.
    let peek = clinic_query
        .get_claim(pb::GetClaimRequest { claim_id: lumumba })
        .await
        .unwrap_err();
    assert_eq!(peek.code(), Code::PermissionDenied);
    assert!(peek.message().starts_with("claim_id: "));
    assert!(
        clinic_query
            .get_claim(pb::GetClaimRequest {
                claim_id: own.claim_id
            })
            .await
            .is_ok()
    );
    admin
        .close_payment_period(pb::ClosePaymentPeriodRequest {
            request_id: "close-1".into(),
            period_id: "2026-03".into(),
            scheme_id: "ipush-ke".into(),
            starts_on: date(2026, 3, 1),
            ends_on: date(2026, 3, 31),
            closed_on: date(2026, 4, 1),
        })
        .await
        .unwrap();
    let statement = |facility: &str| pb::GetFacilityStatementRequest {
        line_page_size: 0,
        line_page_token: String::new(),
        facility_id: facility.into(),
        period_id: "2026-03".into(),
    };
    assert!(
        clinic_query
            .get_facility_statement(statement("KE-KSM-NYALENDA"))
            .await
            .is_ok()
    );
    let denied = clinic_query
        .get_facility_statement(statement("KE-KSM-LUMUMBA"))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = clinic_query
        .list_facility_statements(pb::ListFacilityStatementsRequest {
            facility_id: "KE-KSM-LUMUMBA".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = clinic_query
        .get_stock(pb::GetStockRequest {
            facility_id: "KE-KSM-LUMUMBA".into(),
            product_code: "FEFOL-60".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // Eligibility is open to the facility for any member.
    let eligible = clinic_query
        .check_eligibility(pb::CheckEligibilityRequest {
            member_id: "M-1".into(),
            date: date(2026, 3, 7),
            codes: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(eligible.member_known);
    server.stop();
}

#[test]
fn hash_token_prints_the_digest_the_config_holds() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_claims-ledger"))
        .arg("hash-token")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"insurer-token-91bc\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        claims_ledger::api::auth::hash_token("insurer-token-91bc")
    );
}

#[test]
fn configuration_mistakes_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[[tokens]]\nname = \"c\"\nrole = \"facility\"\nsha256 = \"{H}\"\n",
            "tokens[0].facility_id",
        ),
        (
            "[[tokens]]\nname = \"c\"\nrole = \"insurer\"\nsha256 = \"abc\"\n",
            "tokens[0].sha256",
        ),
        (
            "[[tokens]]\nname = \"c\"\nrole = \"root\"\nsha256 = \"{H}\"\n",
            "role",
        ),
        ("listen_on = \"127.0.0.1:1\"\n", "listen_on"),
        ("tls_cert = \"cert.pem\"\n", "tls_key"),
    ];
    for (text, named) in cases {
        let text = text.replace("{H}", &claims_ledger::api::auth::hash_token("t"));
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_claims-ledger"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{named}: {stderr}");
    }
}
