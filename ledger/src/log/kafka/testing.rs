//! Real Apache Kafka brokers for tests (`test-support`): the cluster `.ci/run` started
//! (`KAFKA_BOOTSTRAP`), else one started here from `.ci/kafka/broker` for this process, and
//! stopped when it exits. Needs java and mvn (the broker's jars come from Maven Central).

#![allow(clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// `.ci/kafka/broker`, from the workspace root.
pub fn broker_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/kafka/broker")
}

/// Starts a cluster of `nodes` in `dir`, brokers from `base_port`, stopped when this process
/// exits; returns its bootstrap servers. Node i's pid is in `dir/node-i/pid`.
pub fn start_cluster(dir: &Path, nodes: u32, base_port: u16) -> String {
    let out = Command::new("bash")
        .arg(broker_script())
        .args(["start", &dir.to_string_lossy(), &nodes.to_string()])
        .arg(base_port.to_string())
        .env("KAFKA_STOP_WITH_PID", std::process::id().to_string())
        .output()
        .expect("running .ci/kafka/broker");
    if !out.status.success() {
        panic!(
            "starting Kafka failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// SIGKILLs node `node` of the cluster in `dir`.
pub fn kill_node(dir: &Path, node: u32) {
    let pid = std::fs::read_to_string(dir.join(format!("node-{node}/pid"))).expect("node's pid");
    let killed = Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .expect("kill");
    assert!(killed.success(), "kill -KILL {pid}");
}

/// Starts node `node` of the cluster in `dir` again, with its data; returns once it listens.
pub fn restart_node(dir: &Path, node: u32) {
    let out = Command::new("bash")
        .arg(broker_script())
        .args(["restart-node", &dir.to_string_lossy(), &node.to_string()])
        .output()
        .expect("running .ci/kafka/broker");
    if !out.status.success() {
        panic!(
            "restarting Kafka node {node} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The bootstrap servers of a broker for this test process.
pub fn bootstrap() -> &'static str {
    static BROKER: OnceLock<String> = OnceLock::new();
    BROKER.get_or_init(|| {
        if let Ok(servers) = std::env::var("KAFKA_BOOTSTRAP") {
            return servers;
        }
        let dir = std::env::temp_dir().join(format!("claims-ledger-kafka-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Ports apart for each process, so test binaries never share one.
        let port = 40_000 + (std::process::id() % 5_000) as u16 * 2;
        start_cluster(&dir, 1, port)
    })
}

/// A topic name no other test of this process uses.
pub fn fresh_topic(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}
