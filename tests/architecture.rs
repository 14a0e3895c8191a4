//! Architecture invariants that can be checked mechanically (see ARCHITECTURE.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

/// The normal (non-dev) dependency tree of a workspace crate, one crate name per line.
fn dependencies(package: &str) -> Vec<String> {
    tree(package, "{p}")
        .iter()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// `cargo tree` of a workspace crate's normal dependencies, one line per crate in `format`.
fn tree(package: &str, format: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            format,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The server is built without the test support (the conformance suite, sample events).
#[test]
fn the_server_is_built_without_test_support() {
    let ledger: Vec<String> = tree("claims-ledger", "{p} [{f}]")
        .into_iter()
        .filter(|l| l.starts_with("ledger "))
        .collect();
    assert!(
        !ledger.is_empty(),
        "ledger is not a dependency of the server"
    );
    for line in ledger {
        assert!(line.contains("log"), "{line}");
        assert!(!line.contains("test-support"), "{line}");
    }
}

#[test]
fn the_pure_core_does_no_io() {
    const IO_CRATES: [&str; 7] = [
        "tokio", "sled", "rdkafka", "tonic", "hyper", "mio", "socket2",
    ];
    for package in ["adjudicator", "projections"] {
        let deps = dependencies(package);
        assert!(
            deps.iter().any(|d| d == package),
            "{package} not found: {deps:?}"
        );
        let io: Vec<&String> = deps
            .iter()
            .filter(|d| IO_CRATES.contains(&d.as_str()))
            .collect();
        assert!(io.is_empty(), "{package} depends on IO crates {io:?}");
    }
}
