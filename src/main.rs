//! `claims-ledger`: the command-line tool and server of the claims ledger.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

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
    Serve {
        /// Data directory: the log in `log/`, projection checkpoints in `checkpoints/`.
        #[arg(long, env = "CLAIMS_LEDGER_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// Address to listen on (port 0 picks a free port; the bound address is printed).
        #[arg(long, env = "CLAIMS_LEDGER_LISTEN", default_value = "127.0.0.1:50051")]
        listen: std::net::SocketAddr,
    },
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

fn main() -> ExitCode {
    let cli = Cli::parse();
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
        Command::Serve { data_dir, listen } => serve(data_dir, listen).await,
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

/// Runs the gRPC server until SIGINT or SIGTERM, then stops accepting, lets the command
/// writer finish its batch, saves a checkpoint, and flushes the log.
async fn serve(
    data_dir: PathBuf,
    listen: std::net::SocketAddr,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    use claims_ledger::checkpoint::CheckpointStore;
    use claims_ledger::grpc::Api;
    use claims_ledger::processor::Service;
    use proto::v1::audit_service_server::AuditServiceServer;
    use proto::v1::ledger_service_server::LedgerServiceServer;
    use proto::v1::query_service_server::QueryServiceServer;

    // No authentication is configured yet: development mode, loopback only.
    if !listen.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {listen}: without configured tokens the server runs in \
             development mode and listens on loopback addresses only"
        )
        .into());
    }
    eprintln!("WARNING: development mode: no authentication; every caller may do everything");
    std::fs::create_dir_all(&data_dir)?;
    let log = SledLog::open(data_dir.join("log"))?;
    let checkpoints = CheckpointStore::open(data_dir.join("checkpoints"))?;
    let service = Service::start_with(log.clone(), Some(checkpoints)).await?;
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let api = Api::new(service.clone(), stopping);

    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<LedgerServiceServer<Api<SledLog>>>()
        .await;
    health_reporter
        .set_serving::<QueryServiceServer<Api<SledLog>>>()
        .await;
    health_reporter
        .set_serving::<AuditServiceServer<Api<SledLog>>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {bound}")?;
        out.flush()?;
    }
    tonic::transport::Server::builder()
        .add_service(health)
        .add_service(reflection)
        .add_service(LedgerServiceServer::new(api.clone()))
        .add_service(QueryServiceServer::new(api.clone()))
        .add_service(AuditServiceServer::new(api))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            async move {
                shutdown_signal().await;
                // End open subscriptions so the drain does not wait on them.
                let _ = stopping_tx.send(true);
            },
        )
        .await?;
    service.shutdown().await;
    drop(service);
    log.shutdown().await?;
    eprintln!("stopped: checkpoint saved, log flushed");
    Ok(ExitCode::SUCCESS)
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
