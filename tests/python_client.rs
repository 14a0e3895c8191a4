//! Foreign gRPC clients against the real server: Python grpcio, generated from
//! proto/ledger/v1/*.proto, runs a claim flow with bearer tokens (admin, and a facility token
//! for the claim) and reads errors' google.rpc details with grpcio-status; grpcio-reflection
//! lists the services with no .proto at hand. The packages are pinned in
//! tests/python/requirements.txt: when `.venv/` lacks them the test makes the virtual
//! environment and installs them itself, so `cargo test` needs nothing run before it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The modules the Python clients import.
const MODULES: &str = "import grpc, grpc_tools, grpc_status, grpc_reflection";

/// `.venv/bin/python` with the pinned packages, made and installed on first use (once per
/// test run: both tests wait for the same installation).
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let venv = root.join(".venv");
        let python = venv.join("bin/python");
        let ready = |python: &Path| {
            Command::new(python)
                .args(["-c", MODULES])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !ready(&python) {
            if !python.exists() {
                run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
            }
            run(Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(root.join("tests/python/requirements.txt")));
            assert!(ready(&python), "{MODULES} fails after installing");
        }
        python
    })
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn grpcio_reflection_lists_the_services() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::Server::start(&dir.path().join("data"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(python())
        .arg(root.join("tests/python/reflection.py"))
        .arg(&server.addr)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("reflection: ok"),
        "reflection client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    server.stop();
}

#[test]
fn a_python_grpcio_client_runs_a_claim_flow() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let (admin, clinic) = ("py-admin-token-3e1f", "py-clinic-token-8a02");
    let config = dir.path().join("ledger.toml");
    std::fs::write(
        &config,
        format!(
            "[[tokens]]\nname = \"ops\"\nrole = \"admin\"\nsha256 = \"{}\"\n\n\
             [[tokens]]\nname = \"nyalenda\"\nrole = \"facility\"\n\
             facility_id = \"KE-KSM-NYALENDA\"\nsha256 = \"{}\"\n",
            claims_ledger::api::auth::hash_token(admin),
            claims_ledger::api::auth::hash_token(clinic)
        ),
    )
    .unwrap();
    let server = common::Server::start_with(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let output = Command::new(python)
        .arg(root.join("tests/python/claim_flow.py"))
        .arg(&server.addr)
        .arg(root.join("proto"))
        .arg(root.join("adjudicator/schemes/ipush-ke.toml"))
        .args([admin, clinic])
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "python client failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("python client: ok"));
    server.stop();
}
