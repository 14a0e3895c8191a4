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
    /// Verify the hash chain of the whole log and print the head.
    Verify {
        /// Directory of the embedded (sled) log.
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
        Command::Verify { data_dir } => {
            let log = SledLog::open(&data_dir)?;
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
