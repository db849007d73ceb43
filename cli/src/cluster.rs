//! `rucket cluster`: a cluster's status and membership, asked of any node through its
//! operator requests (`/?rucket-admin=cluster-...`), signed with the root key.

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::sigv4;

/// `rucket cluster ...`: status and membership of a running cluster.
#[derive(Args, Debug)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
    #[command(flatten)]
    pub server: crate::sigv4::Endpoint,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Every node's id, address, role, liveness and applied position, and the leader.
    Status,
    /// Add a node (started with `--cluster-listen ADDR` and the cluster's secret and
    /// keys): it joins as a learner, catches up, then becomes a voter.
    AddNode {
        #[arg(long)]
        id: u64,
        /// The node's cluster-listen address (IP:port).
        #[arg(long)]
        address: String,
    },
    /// Remove a node from the cluster.
    RemoveNode {
        #[arg(long)]
        id: u64,
    },
}

pub fn run(args: ClusterArgs) -> std::process::ExitCode {
    match run_inner(&args) {
        Ok(answer) => {
            if args.json {
                println!("{answer}");
            } else {
                print!("{}", table(&answer));
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rucket cluster: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_inner(args: &ClusterArgs) -> anyhow::Result<Value> {
    let signer = args.server.signer()?;
    let (method, query) = match &args.command {
        ClusterCommand::Status => ("GET", "rucket-admin=cluster-status".to_owned()),
        ClusterCommand::AddNode { id, address } => {
            let address: std::net::SocketAddr =
                address.parse().map_err(|_| anyhow::anyhow!("--address must be IP:port, not {address:?}"))?;
            ("POST", format!("rucket-admin=cluster-add-node&id={id}&address={address}"))
        }
        ClusterCommand::RemoveNode { id } => ("POST", format!("rucket-admin=cluster-remove-node&id={id}")),
    };
    let url = args.server.url(&format!("/?{query}"));
    let (status, text) = sigv4::send(signer.request(method, &url, Default::default())?)?;
    if !status.is_success() {
        anyhow::bail!("the server answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

/// The status as a table for people.
fn table(status: &Value) -> String {
    let mut out = format!(
        "leader: {}  term: {}\n{:<4} {:<22} {:<6} {:<10} {:<6} {:>10}\n",
        status["leader"], status["term"], "id", "address", "voter", "role", "state", "applied"
    );
    // `Value`'s Display ignores widths: format each cell as a string first.
    let text = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    for node in status["nodes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<4} {:<22} {:<6} {:<10} {:<6} {:>10}\n",
            text(&node["id"]),
            text(&node["address"]),
            text(&node["voter"]),
            text(&node["role"]),
            text(&node["state"]),
            text(&node["applied"])
        ));
    }
    out
}
