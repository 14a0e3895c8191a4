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

/// Starts a cluster of `nodes` in `dir` on free ports, stopped when this process exits;
/// returns its bootstrap servers. Node i's pid is in `dir/node-i/pid`.
///
/// The ports lie outside the kernel's ephemeral range, so no outgoing connection can hold
/// one; a start that still loses a port to another process is tried again on others.
pub fn start_cluster(dir: &Path, nodes: u32) -> String {
    const ATTEMPTS: u32 = 5;
    let mut failure = String::new();
    for attempt in 0..ATTEMPTS {
        let base = free_base_port(nodes, attempt);
        let _ = std::fs::remove_dir_all(dir);
        let out = Command::new("bash")
            .arg(broker_script())
            .args(["start", &dir.to_string_lossy(), &nodes.to_string()])
            .arg(base.to_string())
            .env("KAFKA_STOP_WITH_PID", std::process::id().to_string())
            .output()
            .expect("running .ci/kafka/broker");
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).trim().to_owned();
        }
        let _ = Command::new("bash")
            .arg(broker_script())
            .args(["stop", &dir.to_string_lossy()])
            .status();
        failure = String::from_utf8_lossy(&out.stderr).into_owned();
        if !failure.contains("Address already in use") {
            break;
        }
    }
    panic!("starting Kafka failed: {failure}")
}

/// A base port whose brokers' (base + i) and controllers' (base + 100 + i) ports are free
/// now, below the ephemeral range (or above it when it starts too low).
fn free_base_port(nodes: u32, attempt: u32) -> u16 {
    const SPAN: u32 = 10_000;
    let (low, high) = ephemeral_range();
    let (from, to) = if low >= SPAN + 1_024 {
        (low - SPAN, low - 200)
    } else {
        (high + 1, 65_000)
    };
    let seed = std::process::id()
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    let width = to.saturating_sub(from).max(1);
    for step in 0..width {
        let base = from + (seed.wrapping_add(attempt * 7_919).wrapping_add(step * 211)) % width;
        let ports = (0..nodes).flat_map(|i| [base + i, base + 100 + i]);
        let free = ports
            .map(|p| u16::try_from(p).expect("a port below 65536"))
            .all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            return u16::try_from(base).expect("a port below 65536");
        }
    }
    panic!("no free ports for a Kafka cluster of {nodes} between {from} and {to}")
}

/// The kernel's ephemeral port range (Linux), else the IANA one.
fn ephemeral_range() -> (u32, u32) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut parts = s.split_whitespace().map(str::parse::<u32>);
            Some((parts.next()?.ok()?, parts.next()?.ok()?))
        })
        .unwrap_or((49_152, 65_535))
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
        start_cluster(&dir, 1)
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
