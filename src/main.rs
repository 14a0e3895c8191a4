//! `claims-ledger`: the command-line tool and server of the claims ledger.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use claims_ledger::server::{FileConfig, ServerConfig};
use clap::{Parser, Subcommand};
use ledger::chain::hex;
use ledger::conformance::{contribution, request};
use ledger::{EventLog, SledLog};

/// The append pipeline allocates on one thread and frees on another (caller, sequencer,
/// flusher, indexer); mimalloc handles that pattern better than glibc's malloc (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    },
    /// Print the SHA-256 of a token read from stdin: what the config file's `tokens[].sha256`
    /// holds (the token itself is never stored).
    HashToken,
    /// Verify the hash chain of the whole log and print the head.
    Verify {
        /// Data directory (the log is in `log/`).
        #[arg(long, env = "CLAIMS_LEDGER_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
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
    },
}

/// `serve`'s settings. Each one is taken from, in order: the flag, its `CLAIMS_LEDGER_*`
/// environment variable, the config file, the default.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// TOML config file (listen addresses, data dir, TLS files, tokens with roles).
    #[arg(long, env = "CLAIMS_LEDGER_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory: the log in `log/`, projection checkpoints in `checkpoints/`
    /// [default: ./data].
    #[arg(long, env = "CLAIMS_LEDGER_DATA_DIR")]
    data_dir: Option<PathBuf>,
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
}

impl ServeArgs {
    fn resolve(self) -> Result<ServerConfig, String> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        ServerConfig::new(
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
        )
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
            serve(config, shutdown_signal())
                .await
                .map_err(|e| e as Box<dyn std::error::Error>)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            households,
            facilities,
            clients,
            seed,
            data_dir,
        } => {
            let report = claims_ledger::demo::run(claims_ledger::demo::Options {
                households,
                facilities,
                clients,
                seed,
                data_dir,
            })
            .await
            .map_err(|e| e as Box<dyn std::error::Error>)?;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::HashToken => {
            let mut token = String::new();
            std::io::stdin().read_line(&mut token)?;
            let token = token.trim();
            if token.is_empty() {
                return Err("stdin: expected the token on one line".into());
            }
            println!("{}", claims_ledger::auth::hash_token(token));
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { data_dir } => {
            let log = SledLog::open(data_dir.join("log"))?;
            let head = log.head();
            let report = log.verify(0, head.next_position).await?;
            log.shutdown().await?;
            match report.first_bad {
                None => {
                    println!(
                        "ok: {} events, head hash {}",
                        head.next_position,
                        hex(&report.last_hash)
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Some((position, reason)) => {
                    println!("broken at position {position}: {reason}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::AppendLoad {
            data_dir,
            run,
            writers,
            appends,
        } => {
            let log = SledLog::open(&data_dir)?;
            let mut tasks = Vec::with_capacity(writers);
            for w in 0..writers {
                let log = log.clone();
                let run = run.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..appends {
                        let count = 1 + (i + w) % 5;
                        let id = format!("{run}-w{w}-a{i}-n{count}");
                        let household = format!("HH-{w}-{}", i % 40);
                        let events = (0..count)
                            .map(|k| {
                                contribution(&household, &format!("{id}-e{k}"), 100 + k as i64)
                            })
                            .collect();
                        let outcome = log.append(request(&id, events)).await?;
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ack {id} {} {}", outcome.first_position, outcome.count)?;
                        out.flush()?;
                    }
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
                }));
            }
            for t in tasks {
                t.await?.map_err(|e| e as Box<dyn std::error::Error>)?;
            }
            log.shutdown().await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs the server until `shutdown`, printing `listening on <addr>` (and `metrics on
/// <addr>` first, when enabled) once it accepts connections.
async fn serve(
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), claims_ledger::server::Error> {
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
