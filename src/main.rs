//! `claims-ledger`: the command-line tool and server of the claims ledger.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use claims_ledger::processor::recovery::STORAGE_RECOVERED_EXIT;
use claims_ledger::server::{FileConfig, ServerConfig, Stopped};
use clap::{Parser, Subcommand};
use ledger::chain::hex;
use ledger::{EventLog, FileLog};

/// The append pipeline allocates on one thread and frees on another (caller, sequencer,
/// flusher, indexer); mimalloc handles that pattern better than glibc's malloc (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `println!`, except that a closed standard output (`claims-ledger replay | head -1`) is not
/// a panic: the command's work is done (or failed) either way, and is reported by the exit
/// code; a report nobody reads is not an error.
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Debug, Parser)]
#[command(name = "claims-ledger", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gRPC API (LedgerService, QueryService, AuditService, health, reflection)
    /// over the embedded log in the data directory.
    Serve(ServeArgs),
    /// Run a synthetic health-wallet programme (iPUSH, Kenya) through the gRPC API of an
    /// embedded server and print balances, coverage, facility statements and the verified
    /// head hash. Start here.
    Demo {
        /// Households to generate (about 3.3 members each).
        #[arg(long, default_value_t = 3_000)]
        households: usize,
        /// Facilities to generate besides the scheme's two.
        #[arg(long, default_value_t = 12)]
        facilities: usize,
        /// Concurrent gRPC clients.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Seed of the synthetic population (same seed, same figures).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Keep the log in this directory (default: a temporary one, removed at the end).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Partitions of the ledger (each its own log and writer).
        #[arg(long, default_value_t = 1)]
        partitions: u32,
    },
    /// Rebuild every projection from the log (offline) and print their digests: what an
    /// auditor compares with a live server's `GetProjectionDigest`.
    Replay {
        #[arg(long, env = "CLAIMS_LEDGER_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// Stop before this position (default: the head).
        #[arg(long)]
        to: Option<u64>,
    },
    /// Write the log's events to a file (offline): protobuf-delimited `StoredEvent`s or JSON
    /// Lines; optionally the facility statements as CSV.
    Export {
        #[arg(long, env = "CLAIMS_LEDGER_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The partition to export (required when the ledger has several: export each).
        #[arg(long)]
        partition: Option<u32>,
        /// The events file to write.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "protobuf")]
        format: claims_ledger::tools::transfer::Format,
        /// First position to export.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Stop before this position (default: the head).
        #[arg(long)]
        to: Option<u64>,
        /// Also write every facility statement to this CSV file.
        #[arg(long)]
        statements: Option<PathBuf>,
    },
    /// Load an export (from position 0) into a new data directory, checking every event's
    /// chain hash; the result has the exported head hash, or nothing is kept.
    Import {
        #[arg(long, env = "CLAIMS_LEDGER_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The partition count of the ledger imported into (its export of each partition is
        /// imported with the same count; a directory created with another is refused).
        #[arg(long, default_value_t = 1)]
        partitions: u64,
        /// The partition this export is of.
        #[arg(long, default_value_t = 0)]
        partition: u32,
        /// The events file to read.
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long, value_enum, default_value = "protobuf")]
        format: claims_ledger::tools::transfer::Format,
    },
    /// Print the SHA-256 of a token read from stdin: what the config file's `tokens[].sha256`
    /// holds (the token itself is never stored).
    HashToken,
    /// Verify the hash chain of the whole log and print the head.
    Verify {
        /// Data directory (every partition's log).
        #[arg(long, env = "CLAIMS_LEDGER_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// Only this partition (default: every one, then the anchor over their heads).
        #[arg(long)]
        partition: Option<u32>,
        /// First position to check (the chain hash before it is read from the log).
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// End of the range to check (exclusive); the head when absent.
        #[arg(long)]
        to: Option<u64>,
    },
    /// Append synthetic events from concurrent writers, printing `ack <request> <first>
    /// <count>` after each acknowledged append (used by the crash test).
    #[command(hide = true)]
    AppendLoad {
        #[arg(long)]
        data_dir: PathBuf,
        /// A tag that makes this run's request ids unique.
        #[arg(long)]
        run: String,
        #[arg(long, default_value_t = 8)]
        writers: usize,
        /// Appends per writer (the crash test kills the process long before).
        #[arg(long, default_value_t = 1_000_000)]
        appends: usize,
        /// Logs appended to at once: one (the data directory is the log), or several
        /// (`<data-dir>/p<i>`, writer w on log w % n), as partitions commit on their own.
        #[arg(long, default_value_t = 1)]
        logs: usize,
    },
}

/// `serve`'s settings. Each one is taken from, in order: the flag, its `CLAIMS_LEDGER_*`
/// environment variable, the config file, the default.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// TOML config file (listen addresses, data dir, TLS files, tokens with roles).
    #[arg(long, env = "CLAIMS_LEDGER_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory: the partition count in `partitions`; with one partition the log in
    /// `log/` and projection checkpoints in `checkpoints/`, with more each partition's in
    /// `partitions.d/<n>/` [default: ./data].
    #[arg(long, env = "CLAIMS_LEDGER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Partitions of a new ledger (1 to 256), fixed when it is created: each has its own log
    /// and writer [default: 1].
    #[arg(long, env = "CLAIMS_LEDGER_PARTITIONS")]
    partitions: Option<u64>,
    /// gRPC address (port 0 picks a free port; the bound address is printed)
    /// [default: 127.0.0.1:50051].
    #[arg(long, env = "CLAIMS_LEDGER_LISTEN")]
    listen: Option<SocketAddr>,
    /// Serve Prometheus metrics at http://<addr>/metrics [default: off].
    #[arg(long, env = "CLAIMS_LEDGER_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// PEM certificate chain for TLS (with --tls-key).
    #[arg(long, env = "CLAIMS_LEDGER_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS (with --tls-cert).
    #[arg(long, env = "CLAIMS_LEDGER_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Where events are recorded: `files` (segment files in the data directory) or
    /// `kafka://host:port[,host:port]` (topic and replication in the config file's
    /// `[kafka]`; the data directory then holds each partition's replica) [default: files].
    #[arg(long, env = "CLAIMS_LEDGER_EVENT_LOG")]
    log: Option<String>,
}

impl ServeArgs {
    fn resolve(self) -> Result<ServerConfig, String> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let partitions = self
            .partitions
            .or(file.partitions)
            .map(ledger::partition::Partitions::new)
            .transpose()
            .map_err(|e| e.to_string())?;
        let mut config = ServerConfig::new(
            self.data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./data")),
            self.listen
                .or(file.listen)
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 50051))),
            self.metrics_listen.or(file.metrics_listen),
            self.tls_cert.or(file.tls_cert),
            self.tls_key.or(file.tls_key),
            &file.tokens,
        )?;
        config.partitions = partitions;
        config.backend = claims_ledger::server::Backend::parse(
            self.log.as_deref().or(file.log.as_deref()),
            &file.kafka.unwrap_or_default(),
        )?;
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo's embedded server logs errors only: its output is the report.
    let default_level = match cli.command {
        Command::Demo { .. } => "error",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLAIMS_LEDGER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match command {
        Command::Serve(args) => {
            let config = args.resolve()?;
            let stopped = serve(config, shutdown_signal())
                .await
                .map_err(|e| e as Box<dyn std::error::Error>)?;
            Ok(match stopped {
                Stopped::Signal => ExitCode::SUCCESS,
                Stopped::StorageRecovered => {
                    eprintln!(
                        "stopped: the storage takes writes again after a failure; start the                          server again to resume appends (exit {STORAGE_RECOVERED_EXIT})"
                    );
                    ExitCode::from(STORAGE_RECOVERED_EXIT)
                }
                Stopped::TakeoverFailed => {
                    eprintln!(
                        "stopped: this node could not take the ledger over (see the log); \
                         start it again to rejoin (exit {STORAGE_RECOVERED_EXIT})"
                    );
                    ExitCode::from(STORAGE_RECOVERED_EXIT)
                }
                Stopped::Demoted => {
                    eprintln!(
                        "stopped: another node took the ledger over from this one; start it \
                         again to rejoin as a follower (exit {STORAGE_RECOVERED_EXIT})"
                    );
                    ExitCode::from(STORAGE_RECOVERED_EXIT)
                }
            })
        }
        Command::Demo {
            households,
            facilities,
            clients,
            seed,
            data_dir,
            partitions,
        } => {
            let report = claims_ledger::tools::demo::run(claims_ledger::tools::demo::Options {
                households,
                facilities,
                clients,
                seed,
                data_dir,
                partitions,
            })
            .await
            .map_err(|e| e as Box<dyn std::error::Error>)?;
            out!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay { data_dir, to } => replay(data_dir, to).await,
        Command::Export {
            data_dir,
            partition,
            out,
            format,
            from,
            to,
            statements,
        } => {
            let layout = claims_ledger::tools::existing(&data_dir)
                .map_err(|e| e as Box<dyn std::error::Error>)?;
            let partition = match (partition, layout.partitions.count()) {
                (None, 1) => ledger::partition::Partition::FIRST,
                (None, n) => {
                    return Err(format!(
                        "partition: the ledger has {n} partitions; export each (--partition N)"
                    )
                    .into());
                }
                (Some(n), _) => layout
                    .partitions
                    .get(n)
                    .ok_or_else(|| format!("partition: {n} is not below {}", layout.partitions))?,
            };
            let log = claims_ledger::tools::open_partition(&layout, partition)
                .map_err(|e| e as Box<dyn std::error::Error>)?;
            export(log, out, format, from, to, statements).await
        }
        Command::Import {
            data_dir,
            partitions,
            partition,
            input,
            format,
        } => {
            let partitions = ledger::partition::Partitions::new(partitions)?;
            // A data directory this import creates is removed again if the import fails.
            let created = !data_dir.exists();
            let layout =
                claims_ledger::partitioned::layout::Layout::open(&data_dir, Some(partitions))?;
            // Every partition's directory, so the next partition's import finds the layout
            // whole (import each before starting a server on it).
            layout.create_partition_dirs()?;
            let partition = partitions
                .get(partition)
                .ok_or_else(|| format!("partition: {partition} is not below {partitions}"))?;
            let imported = import(&layout, partition, input, format).await;
            if imported.is_err() && created {
                let _ = std::fs::remove_dir_all(&data_dir);
            }
            imported
        }
        Command::HashToken => {
            let mut token = String::new();
            std::io::stdin().read_line(&mut token)?;
            let token = token.trim();
            if token.is_empty() {
                return Err("stdin: expected the token on one line".into());
            }
            out!("{}", claims_ledger::api::auth::hash_token(token));
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            data_dir,
            partition,
            from,
            to,
        } => {
            let layout = claims_ledger::tools::existing(&data_dir)
                .map_err(|e| e as Box<dyn std::error::Error>)?;
            let verified = claims_ledger::tools::verify::verify(&layout, partition, from, to)
                .await
                .map_err(|e| e as Box<dyn std::error::Error>)?;
            for line in &verified.lines {
                out!("{line}");
            }
            Ok(if verified.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::AppendLoad {
            data_dir,
            run,
            writers,
            appends,
            logs,
        } => {
            claims_ledger::tools::append_load::run(claims_ledger::tools::append_load::Load {
                data_dir: &data_dir,
                run: &run,
                writers,
                appends,
                logs,
            })
            .await
            .map_err(|e| e as Box<dyn std::error::Error>)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs the server until `shutdown`, printing `listening on <addr>` (and `metrics on
/// <addr>` first, when enabled) once it accepts connections.
async fn serve(
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<Stopped, claims_ledger::server::Error> {
    claims_ledger::server::serve(
        config,
        |bound| {
            let mut out = std::io::stdout().lock();
            if let Some(metrics) = bound.metrics {
                let _ = writeln!(out, "metrics on {metrics}");
            }
            let _ = writeln!(out, "listening on {}", bound.grpc);
            let _ = out.flush();
        },
        shutdown,
    )
    .await
}

type Outcome = Result<ExitCode, Box<dyn std::error::Error>>;

/// A progress bar on stderr (hidden when stderr is not a terminal).
fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg:>10} [{bar:40.cyan/blue}] {pos}/{len} events {per_sec} {elapsed}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

async fn replay(data_dir: PathBuf, to: Option<u64>) -> Outcome {
    let layout =
        claims_ledger::tools::existing(&data_dir).map_err(|e| e as Box<dyn std::error::Error>)?;
    let bar = progress_bar(0, "replay");
    let replayed = claims_ledger::tools::replay::replay(&layout, to, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await
    .map_err(|e| e as Box<dyn std::error::Error>)?;
    bar.finish_and_clear();
    for line in replayed.lines() {
        out!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn export(
    log: FileLog,
    out: PathBuf,
    format: claims_ledger::tools::transfer::Format,
    from: u64,
    to: Option<u64>,
    statements: Option<PathBuf>,
) -> Outcome {
    use claims_ledger::tools::transfer;
    let head = log.head().next_position;
    let to = to.unwrap_or(head).min(head);
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&out).map_err(|e| format!("out: {}: {e}", out.display()))?,
    );
    let bar = progress_bar(to.saturating_sub(from), "export");
    let written = transfer::export(&log, from, to, format, &mut file, &|n| bar.set_position(n))
        .await
        .map_err(|e| e as Box<dyn std::error::Error>)?;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    bar.finish_and_clear();
    out!(
        "exported {written} events ({from}..{to}) to {}",
        out.display()
    );
    if let Some(path) = statements {
        let state = claims_ledger::processor::rebuild(&log, head).await?;
        let mut csv = std::io::BufWriter::new(
            std::fs::File::create(&path)
                .map_err(|e| format!("statements: {}: {e}", path.display()))?,
        );
        let rows = transfer::statements_csv(&state.projections, &mut csv)?;
        out!("wrote {rows} facility statements to {}", path.display());
    }
    log.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

/// Imports into the partition's `log.importing`, then renames it to its `log`: a failed
/// import leaves nothing behind.
async fn import(
    layout: &claims_ledger::partitioned::layout::Layout,
    partition: ledger::partition::Partition,
    input: PathBuf,
    format: claims_ledger::tools::transfer::Format,
) -> Outcome {
    use claims_ledger::tools::transfer;
    let data_dir = layout.partition_dir(partition);
    let target = layout.log_dir(partition);
    if target.exists() {
        return Err(format!(
            "data-dir: {} already has a log; import into a new directory",
            data_dir.display()
        )
        .into());
    }
    let file = std::fs::File::open(&input).map_err(|e| format!("in: {}: {e}", input.display()))?;
    let size = file.metadata()?.len();
    // A data directory this import creates is removed again if the import fails.
    std::fs::create_dir_all(&data_dir)?;
    let staging = data_dir.join("log.importing");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    let log = FileLog::open(&staging)?;
    let bar = progress_bar(0, "import");
    bar.set_length(size / 200); // a guess of the event count; corrected as it goes
    let events = transfer::read_events(format, std::io::BufReader::new(file));
    let result = transfer::import(&log, events, &|n| {
        if n > bar.length().unwrap_or(0) {
            bar.set_length(n);
        }
        bar.set_position(n);
    })
    .await;
    log.shutdown().await?;
    drop(log);
    bar.finish_and_clear();
    match result {
        Ok(head) => {
            std::fs::rename(&staging, &target)?;
            out!(
                "imported {} events into {}; head hash {} (as exported)",
                head.next_position,
                target.display(),
                hex(&head.hash)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(format!("in: {}: {e}; nothing was imported", input.display()).into())
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
