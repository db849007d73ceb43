//! The node-to-node side of a cluster: its settings, the HTTP/2 wire the log's Raft
//! messages travel over ([`wire`]), the listener that answers peers ([`listener`]), and
//! the copies of blob bytes on other nodes ([`copies`]) and their upkeep ([`upkeep`]).
//!
//! Every call between nodes is signed with the cluster secret (HMAC-SHA256 over the
//! route, the sender, a timestamp and the body's SHA-256; blob copies, which carry their
//! own CRCs, sign everything but the body) and names the sender's key fingerprint, so a
//! node with other root credentials or another master key is refused by its peers.

pub mod copies;
pub mod listener;
pub mod upkeep;
pub mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sha2::Digest;

/// How reads on a follower are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadConsistency {
    /// Every read sees every write acknowledged before it began (read index).
    Linearizable,
    /// A follower answers from what it has applied; it may lag the leader.
    Local,
}

/// The cluster part of the settings.
#[derive(Clone, Debug)]
pub struct ClusterSettings {
    pub node_id: u64,
    /// The voters a new cluster forms with (node id → cluster address); empty when this
    /// node waits to be added to an existing cluster.
    pub members: BTreeMap<u64, String>,
    /// Where this node listens for its peers.
    pub listen: SocketAddr,
    /// The shared secret of node-to-node calls.
    pub secret: Secret,
    pub read_consistency: ReadConsistency,
}

/// The cluster secret; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} secret bytes>", self.0.len())
    }
}

impl ClusterSettings {
    /// The cluster settings, or `None` for a single node (no peers, no cluster listener).
    pub fn resolve(
        node_id: u64,
        peers: Option<&str>,
        listen: Option<SocketAddr>,
        secret_file: Option<&Path>,
        read_consistency: Option<&str>,
    ) -> anyhow::Result<Option<Self>> {
        let read_consistency = match read_consistency {
            None | Some("linearizable") => ReadConsistency::Linearizable,
            Some("local") => ReadConsistency::Local,
            Some(other) => anyhow::bail!("read_consistency must be `linearizable` or `local`, not `{other}`"),
        };
        let members = match peers {
            None => BTreeMap::new(),
            Some(text) => parse_peers(text)?,
        };
        if members.is_empty() && listen.is_none() {
            if secret_file.is_some() {
                anyhow::bail!("cluster_secret_file is set but neither peers nor cluster_listen is");
            }
            return Ok(None);
        }
        let listen = match (listen, members.get(&node_id)) {
            (Some(listen), _) => listen,
            (None, Some(own)) => own
                .parse()
                .with_context(|| format!("this node's peer address `{own}` is not an IP address and port"))?,
            (None, None) => anyhow::bail!("cluster_listen is required: node {node_id} is not in peers"),
        };
        let Some(secret_file) = secret_file else {
            anyhow::bail!(
                "a cluster needs cluster_secret_file: a file with the secret every node-to-node call is signed with (the same file on every node)"
            );
        };
        let secret = std::fs::read(secret_file)
            .with_context(|| format!("reading the cluster secret file {}", secret_file.display()))?;
        let secret = trim_ascii(&secret).to_vec();
        if secret.len() < 16 {
            anyhow::bail!(
                "the cluster secret in {} is {} bytes; use at least 16 (for example `head -c 32 /dev/urandom | base64`)",
                secret_file.display(),
                secret.len()
            );
        }
        Ok(Some(Self { node_id, members, listen, secret: Secret(secret), read_consistency }))
    }
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &bytes[start..end]
}

/// Parses `1=ADDR,2=ADDR,...`.
pub fn parse_peers(text: &str) -> anyhow::Result<BTreeMap<u64, String>> {
    let mut members = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, address) =
            item.split_once('=').with_context(|| format!("peer `{item}` is not of the form ID=ADDRESS"))?;
        let id: u64 = id.trim().parse().with_context(|| format!("peer id `{id}` is not a number"))?;
        if id == 0 {
            anyhow::bail!("peer ids start at 1");
        }
        let address = address.trim();
        address
            .parse::<SocketAddr>()
            .with_context(|| format!("peer {id}'s address `{address}` is not an IP address and port"))?;
        if members.insert(id, address.to_owned()).is_some() {
            anyhow::bail!("peer {id} is listed twice");
        }
    }
    Ok(members)
}

/// A short digest of what must be the same on every node: the root credentials and the
/// master keys. Nodes compare it on every call.
pub fn key_fingerprint(root_access_key: &str, root_secret: &str, master_keys: &[&str]) -> String {
    let mut digest = sha2::Sha256::new();
    digest.update(b"rucket-cluster-keys-v1\0");
    digest.update(root_access_key.as_bytes());
    digest.update(b"\0");
    digest.update(root_secret.as_bytes());
    for key in master_keys {
        digest.update(b"\0");
        digest.update(key.as_bytes());
    }
    hex::encode(&digest.finalize()[..12])
}

/// Raft timers of a cluster: slower than a single node's, so a busy 2-core machine does
/// not call spurious elections.
const HEARTBEAT_MS: u64 = 100;
const ELECTION_TIMEOUT_MS: (u64, u64) = (600, 1200);
/// How long the key check waits for a peer at start-up.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens this node's log as a member of the cluster, starts the listener its peers call,
/// and refuses to go on when a reachable peer has other keys.
pub async fn start_node(
    mut config: rucket_log::NodeConfig,
    settings: &ClusterSettings,
    fingerprint: String,
    blobs: &rucket_blobs::BlobStore,
    volumes: crate::volumes::Volumes,
) -> anyhow::Result<(Arc<rucket_log::Node>, copies::Copies)> {
    config.bootstrap_single = false;
    // A node in the peer list forms the cluster with the others; one that is not waits
    // to be added by `rucket cluster add-node`.
    if settings.members.contains_key(&settings.node_id) {
        config.members = settings.members.clone();
    }
    config.heartbeat_ms = HEARTBEAT_MS;
    config.election_timeout_ms = ELECTION_TIMEOUT_MS;
    let signer = Arc::new(wire::Signer::new(settings.node_id, settings.secret.clone(), fingerprint));
    let local = Some(settings.listen.ip()).filter(|ip| !ip.is_unspecified());
    let http = wire::HttpWire::new(Arc::clone(&signer), local);
    let node = Arc::new(
        rucket_log::Node::open_cluster(config, Arc::new(http.clone())).await.context("opening the log")?,
    );
    let bound = listener::start(settings.listen, Arc::clone(&node), blobs.clone(), volumes, signer).await?;
    println!("rucket node {} listening for peers on {bound}", settings.node_id);
    check_peer_keys(&http, settings).await?;
    {
        let (node, address) = (Arc::clone(&node), settings.listen.to_string());
        tokio::spawn(async move {
            if let Err(e) = node.set_own_address(&address, Duration::from_secs(30)).await {
                tracing::warn!(error = %e, "could not record this node's cluster address");
            }
        });
    }
    Ok((Arc::clone(&node), copies::Copies::new(http, node, blobs.clone())))
}

/// Asks every peer listed at start-up who it is; a peer that answers that its keys differ
/// stops this node with that message. Peers that do not answer (yet) are skipped: each
/// call they later take is checked the same way.
async fn check_peer_keys(http: &wire::HttpWire, settings: &ClusterSettings) -> anyhow::Result<()> {
    for (id, address) in &settings.members {
        if *id == settings.node_id {
            continue;
        }
        let asked =
            http.bulk(*id, address, http::Method::GET, "/_cluster/v1/hello", &[], axum::body::Body::empty());
        let Ok(Ok(response)) = tokio::time::timeout(HELLO_TIMEOUT, asked).await else { continue };
        if response.status() == http::StatusCode::CONFLICT {
            let text = wire::refusal_text(response).await;
            anyhow::bail!("node {id} at {address} refuses this node: {text}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_bad_lists_are_refused() {
        let peers = parse_peers("1=127.0.0.1:7001, 2=127.0.0.2:7001,3=127.0.0.3:7001").unwrap();
        assert_eq!(peers.len(), 3);
        assert_eq!(peers[&2], "127.0.0.2:7001");
        for (bad, reason) in [
            ("1=127.0.0.1:7001,1=127.0.0.2:7001", "twice"),
            ("x=127.0.0.1:7001", "number"),
            ("1=localhost", "IP address"),
            ("127.0.0.1:7001", "ID=ADDRESS"),
            ("0=127.0.0.1:7001", "start at 1"),
        ] {
            let err = format!("{:#}", parse_peers(bad).unwrap_err());
            assert!(err.contains(reason), "{bad}: {err}");
        }
    }

    #[test]
    fn a_cluster_needs_a_secret_and_an_address() {
        let dir = tempfile::tempdir().unwrap();
        let peers = Some("1=127.0.0.1:7001,2=127.0.0.2:7001");
        let err = ClusterSettings::resolve(1, peers, None, None, None).unwrap_err().to_string();
        assert!(err.contains("cluster_secret_file"), "{err}");
        let short = dir.path().join("short");
        std::fs::write(&short, "tiny\n").unwrap();
        let err = ClusterSettings::resolve(1, peers, None, Some(&short), None).unwrap_err().to_string();
        assert!(err.contains("at least 16"), "{err}");
        let good = dir.path().join("secret");
        std::fs::write(&good, "0123456789abcdef0123456789abcdef\n").unwrap();
        let err = ClusterSettings::resolve(3, peers, None, Some(&good), None).unwrap_err().to_string();
        assert!(err.contains("cluster_listen is required"), "{err}");
        let settings = ClusterSettings::resolve(2, peers, None, Some(&good), None).unwrap().unwrap();
        assert_eq!(settings.listen.to_string(), "127.0.0.2:7001");
        assert_eq!(settings.secret.0, b"0123456789abcdef0123456789abcdef");
        assert!(ClusterSettings::resolve(1, None, None, None, None).unwrap().is_none());
        let err =
            ClusterSettings::resolve(1, peers, None, Some(&good), Some("eventual")).unwrap_err().to_string();
        assert!(err.contains("read_consistency"), "{err}");
    }

    #[test]
    fn fingerprints_differ_when_any_key_differs() {
        let a = key_fingerprint("AK", "secret", &["mk1"]);
        assert_eq!(a, key_fingerprint("AK", "secret", &["mk1"]));
        assert_ne!(a, key_fingerprint("AK", "secret2", &["mk1"]));
        assert_ne!(a, key_fingerprint("AK", "secret", &["mk2"]));
        assert_ne!(a, key_fingerprint("AK", "secret", &[]));
    }
}
