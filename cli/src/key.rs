//! `rucket key`: manage access keys on a running server through its admin API
//! (`/_rucket/v1/admin/keys`), signed with the root key or an admin token.

use clap::{Args, Subcommand};
use rucket_gateway::admin_keys::KEYS_PATH;
use serde_json::{json, Value};

use crate::sigv4;

/// `rucket key ...`: manage access keys on a running server.
#[derive(Args, Debug)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
    #[command(flatten)]
    pub server: crate::sigv4::Endpoint,
}

#[derive(Subcommand, Debug)]
/// (The key a command names is `id`, not `access_key_id`, which names the signing key.)
pub enum KeyCommand {
    /// Create a key for a user (created with its first key); prints the secret once.
    Create {
        #[arg(long)]
        user: String,
        /// Make a scoped admin token: it may manage access keys.
        #[arg(long)]
        admin: bool,
        /// An identity policy (JSON file) that limits what the key may do.
        #[arg(long)]
        policy: Option<std::path::PathBuf>,
    },
    /// List the keys made through the admin API (never their secrets).
    List,
    /// Delete a key.
    Delete { id: String },
    /// Attach an identity policy (JSON file) to a key, or remove it with `--clear`.
    Allow {
        id: String,
        #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
        policy: Option<std::path::PathBuf>,
        #[arg(long)]
        clear: bool,
    },
    /// Disable a key (requests signed with it are refused until it is enabled).
    Disable { id: String },
    /// Enable a disabled key.
    Enable { id: String },
}

/// Runs a `rucket key` command and prints the server's JSON answer.
pub fn run(args: KeyArgs) -> std::process::ExitCode {
    match run_inner(args) {
        Ok(text) => {
            println!("{text}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rucket key: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_inner(args: KeyArgs) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let signer = args.server.signer()?;
    let base = args.server.url(KEYS_PATH);
    let named = match &args.command {
        KeyCommand::Delete { id }
        | KeyCommand::Allow { id, .. }
        | KeyCommand::Disable { id }
        | KeyCommand::Enable { id } => Some(id),
        KeyCommand::Create { .. } | KeyCommand::List => None,
    };
    if let Some(id) = named.filter(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric())) {
        anyhow::bail!("{id:?} is not an access key id (letters and digits)");
    }
    let read = |path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("reading the policy file {}", path.display()))
    };
    let (method, url, body) = match &args.command {
        KeyCommand::Create { user, admin, policy } => {
            let policy: Option<Value> = match policy {
                Some(path) => {
                    Some(serde_json::from_slice(&read(path)?).context("the policy file is not JSON")?)
                }
                None => None,
            };
            ("POST", base, serde_json::to_vec(&json!({ "user": user, "admin": admin, "policy": policy }))?)
        }
        KeyCommand::List => ("GET", base, Vec::new()),
        KeyCommand::Delete { id } => ("DELETE", format!("{base}/{id}"), Vec::new()),
        KeyCommand::Allow { id, policy: Some(path), .. } => {
            ("PUT", format!("{base}/{id}/policy"), read(path)?)
        }
        KeyCommand::Allow { id, .. } => ("DELETE", format!("{base}/{id}/policy"), Vec::new()),
        KeyCommand::Disable { id } => {
            ("PUT", format!("{base}/{id}/status"), br#"{"enabled":false}"#.to_vec())
        }
        KeyCommand::Enable { id } => ("PUT", format!("{base}/{id}/status"), br#"{"enabled":true}"#.to_vec()),
    };
    let (status, text) = sigv4::send(signer.request(method, &url, body.into())?)?;
    if !status.is_success() {
        anyhow::bail!("the server answered {status}: {text}");
    }
    Ok(text)
}
