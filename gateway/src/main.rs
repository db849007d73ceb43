//! The `rucket` binary. With no subcommand it is `rucket serve`.

use clap::{Parser, Subcommand};
use rucket_gateway::config::ServeArgs;

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
    Serve(ServeArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        None => cli.serve,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(rucket_gateway::server::serve(args))
}
