//! `rucket kms`: manage the SSE-KMS key store of a running server through its admin API
//! (`/_rucket/v1/admin/kms-keys`), signed with the root key or an admin token.

use clap::{Args, Subcommand};
use rucket_gateway::admin_kms::KMS_KEYS_PATH;
use serde_json::json;

use crate::sigv4;

/// `rucket kms ...`: manage the key store of SSE-KMS.
#[derive(Args, Debug)]
pub struct KmsArgs {
    #[command(subcommand)]
    pub command: KmsCommand,
    #[command(flatten)]
    pub server: crate::sigv4::Endpoint,
}

#[derive(Subcommand, Debug)]
pub enum KmsCommand {
    /// Create a key (its material is made and kept sealed by the server).
    Create {
        /// The key's id, which clients name in `x-amz-server-side-encryption-aws-kms-key-id`
        /// (a random UUID when absent).
        #[arg(long)]
        id: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List the keys.
    List,
    /// Disable a key: nothing is sealed or opened with it until it is enabled again.
    Disable { id: String },
    /// Enable a disabled key.
    Enable { id: String },
}

/// Runs a `rucket kms` command and prints the server's JSON answer.
pub fn run(args: KmsArgs) -> std::process::ExitCode {
    match run_inner(args) {
        Ok(text) => {
            println!("{text}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rucket kms: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_inner(args: KmsArgs) -> anyhow::Result<String> {
    let signer = args.server.signer()?;
    let base = args.server.url(KMS_KEYS_PATH);
    let status = |enabled: bool| serde_json::to_vec(&json!({ "enabled": enabled }));
    let (method, url, body) = match &args.command {
        KmsCommand::Create { id, description } => {
            ("POST", base, serde_json::to_vec(&json!({ "id": id, "description": description }))?)
        }
        KmsCommand::List => ("GET", base, Vec::new()),
        KmsCommand::Disable { id } => ("PUT", format!("{base}/{id}/status"), status(false)?),
        KmsCommand::Enable { id } => ("PUT", format!("{base}/{id}/status"), status(true)?),
    };
    let (status, text) = sigv4::send(signer.request(method, &url, body.into())?)?;
    if !status.is_success() {
        anyhow::bail!("the server answered {status}: {text}");
    }
    Ok(text)
}
