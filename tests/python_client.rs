//! A foreign gRPC client: Python grpcio, generated from proto/ledger/v1/*.proto, runs a claim
//! flow against the real server with bearer tokens (admin, and a facility token for the
//! claim), and reads errors' google.rpc details with grpcio-status. `.ci/run` installs grpcio,
//! grpcio-tools and grpcio-status in `.venv/`; the test uses `.venv/bin/python` when it
//! exists, else `python3`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn a_python_grpcio_client_runs_a_claim_flow() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join(".venv/bin/python");
    let python = if venv.exists() {
        venv
    } else {
        "python3".into()
    };
    let dir = tempfile::tempdir().unwrap();
    let (admin, clinic) = ("py-admin-token-3e1f", "py-clinic-token-8a02");
    let config = dir.path().join("ledger.toml");
    std::fs::write(
        &config,
        format!(
            "[[tokens]]\nname = \"ops\"\nrole = \"admin\"\nsha256 = \"{}\"\n\n\
             [[tokens]]\nname = \"nyalenda\"\nrole = \"facility\"\n\
             facility_id = \"KE-KSM-NYALENDA\"\nsha256 = \"{}\"\n",
            claims_ledger::auth::hash_token(admin),
            claims_ledger::auth::hash_token(clinic)
        ),
    )
    .unwrap();
    let server = common::Server::start_with(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let output = Command::new(&python)
        .arg(root.join("tests/python/claim_flow.py"))
        .arg(&server.addr)
        .arg(root.join("proto"))
        .arg(root.join("adjudicator/schemes/ipush-ke.toml"))
        .args([admin, clinic])
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "python client failed (is grpcio installed? .ci/run installs it in .venv):\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("python client: ok"));
    server.stop();
}
