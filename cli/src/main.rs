//! The `rucket` binary: a thin dispatcher. With no subcommand it is `rucket serve` (the
//! gateway's server runtime); every other command is a client of a server or of a data
//! dir, signed with the one SigV4 client in `rucket_cli::sigv4`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use rucket_cli::{bench, cluster, key, kms, repair, replay, tail};

use replay::ReplayCommand;
use rucket_gateway::config::ServeArgs;

/// mimalloc rather than glibc's allocator: a replay of small PUTs spent a third of its
/// time in glibc's malloc and free (docs/benchmarks/results.md, "Filling the store").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rucket",
    version,
    about = "An event-sourced S3 server",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the S3 API (the default).
    Serve(Box<ServeArgs>),
    /// Verify, rebuild and export from the event archive.
    #[command(subcommand)]
    Replay(ReplayCommand),
    /// Recover what can be recovered from a stopped node's damaged data dir: report
    /// damage, cut it away with `--truncate`, fold the projections again.
    Repair(repair::RepairArgs),
    /// Drive any S3 endpoint with a closed-loop load and report throughput and latency.
    Bench(Box<bench::BenchCommand>),
    /// Follow the event feed of a server.
    #[command(subcommand)]
    Events(tail::EventsCommand),
    /// Manage access keys on a running server: create, list, delete, allow (policy).
    Key(key::KeyArgs),
    /// Manage the SSE-KMS key store on a running server: create, list, disable, enable.
    Kms(kms::KmsArgs),
    /// A cluster's status, and adding and removing nodes.
    Cluster(cluster::ClusterArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Replay(command)) => return replay::run(command),
        Some(Command::Repair(args)) => return repair::run(args),
        Some(Command::Bench(command)) => return bench::run(*command),
        Some(Command::Events(command)) => return tail::run(command),
        Some(Command::Key(args)) => return key::run(args),
        Some(Command::Kms(args)) => return kms::run(args),
        Some(Command::Cluster(args)) => return cluster::run(args),
        Some(Command::Serve(args)) => *args,
        None => cli.serve,
    };
    let served = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(rucket_gateway::server::serve(args)));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rucket: {e:#}");
            ExitCode::FAILURE
        }
    }
}
