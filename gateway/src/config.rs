//! Settings: command-line flags, each also an environment variable `RUCKET_<NAME>`, over
//! an optional TOML file, over embedded defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;

/// Flags of `rucket serve`. Unset flags fall back to the config file, then to defaults.
#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "RUCKET_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain: serve HTTPS (with `--tls-key`). Re-read on SIGHUP.
    #[arg(long, env = "RUCKET_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `--tls-cert`. Re-read on SIGHUP.
    #[arg(long, env = "RUCKET_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Directory for the log, projections and object bytes.
    #[arg(long, env = "RUCKET_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML file with settings and `[[keys]]` tables.
    #[arg(long, env = "RUCKET_CONFIG")]
    pub config: Option<PathBuf>,
    /// The region this node serves.
    #[arg(long, env = "RUCKET_REGION")]
    pub region: Option<String>,
    /// `strict` (acknowledged means on disk) or `relaxed` (fsync on an interval).
    #[arg(long, env = "RUCKET_DURABILITY")]
    pub durability: Option<String>,
    /// Interval of the relaxed-mode fsync, in milliseconds.
    #[arg(long, env = "RUCKET_RELAXED_FSYNC_MS")]
    pub relaxed_fsync_ms: Option<u64>,
    /// Objects up to this many bytes travel inside their event.
    #[arg(long, env = "RUCKET_INLINE_THRESHOLD")]
    pub inline_threshold: Option<usize>,
    /// Base domain for virtual-hosted-style requests (`<bucket>.<domain>`).
    #[arg(long, env = "RUCKET_DOMAIN")]
    pub domain: Option<String>,
    /// Root access key id (generated on first start when unset).
    #[arg(long, env = "RUCKET_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,
    /// Root secret access key (generated on first start when unset).
    #[arg(long, env = "RUCKET_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: Option<String>,
    /// Log filter, e.g. `info` or `rucket=debug`.
    #[arg(long, env = "RUCKET_LOG")]
    pub log: Option<String>,
    /// Serve a data dir read-only without starting the log (for point-in-time copies
    /// made by `rucket replay rebuild --until`). Writes answer AccessDenied.
    #[arg(long, env = "RUCKET_READ_ONLY")]
    pub read_only: bool,
    /// Event feed: most subscriptions this node serves at once.
    #[arg(long, env = "RUCKET_FEED_MAX_SUBSCRIBERS")]
    pub feed_max_subscribers: Option<usize>,
    /// Event feed: most subscriptions one access key may hold at once.
    #[arg(long, env = "RUCKET_FEED_MAX_PER_KEY")]
    pub feed_max_per_key: Option<usize>,
    /// Event feed: messages that may wait for one subscriber.
    #[arg(long, env = "RUCKET_FEED_BUFFER")]
    pub feed_buffer: Option<usize>,
    /// Event feed: how long (ms) a subscriber may leave its full buffer untaken before
    /// it is disconnected with its resume position.
    #[arg(long, env = "RUCKET_FEED_STALL_MS")]
    pub feed_stall_ms: Option<u64>,
    /// Event feed: default heartbeat interval in seconds.
    #[arg(long, env = "RUCKET_FEED_HEARTBEAT_SECS")]
    pub feed_heartbeat_secs: Option<u64>,
    /// Lifecycle: how often (ms) the worker looks for due expirations.
    #[arg(long, env = "RUCKET_LIFECYCLE_INTERVAL_MS")]
    pub lifecycle_interval_ms: Option<u64>,
    /// Lifecycle: the length of a day in seconds (86400; smaller for tests).
    #[arg(long, env = "RUCKET_LIFECYCLE_DAY_SECS")]
    pub lifecycle_day_secs: Option<u64>,
    /// Server access logging: how often (ms) held records are delivered (60000).
    #[arg(long, env = "RUCKET_ACCESS_LOG_FLUSH_MS")]
    pub access_log_flush_ms: Option<u64>,
    /// Encryption at rest: a file holding the master key (32 bytes, base64). Keep it
    /// outside the data dir. Without a master key, SSE-S3 requests are refused.
    #[arg(long, env = "RUCKET_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Encryption at rest: the master key itself (32 bytes, base64), from the environment.
    #[arg(long, env = "RUCKET_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// A retired master key (file, 32 bytes base64): objects it wrapped stay readable and
    /// their data keys are re-wrapped under the current key in the background.
    #[arg(long, env = "RUCKET_PREVIOUS_MASTER_KEY_FILE")]
    pub previous_master_key_file: Option<PathBuf>,
    /// Accept SSE-C keys over plain HTTP from loopback clients (for tests only; S3 and
    /// Rucket otherwise refuse them without TLS).
    #[arg(long, env = "RUCKET_ALLOW_INSECURE_SSE_C")]
    pub allow_insecure_sse_c: bool,
    /// Serve requests signed for any region, for clients that cannot be configured with
    /// this node's region. Off by default: with it, a request signed for another region
    /// acts here.
    #[arg(long, env = "RUCKET_ACCEPT_ANY_SIGNING_REGION")]
    pub accept_any_signing_region: bool,
    /// Abort a request body that sends nothing for this many seconds (400
    /// RequestTimeout); 0 turns it off. Default 60.
    #[arg(long, env = "RUCKET_BODY_TIMEOUT_SECS")]
    pub body_timeout_secs: Option<u64>,
    /// A request head must arrive within this many seconds; idle keep-alive connections
    /// close after as long. Default 10.
    #[arg(long, env = "RUCKET_HEADER_TIMEOUT_SECS")]
    pub header_timeout_secs: Option<u64>,
    /// Connections open at once; past it new ones get 503 SlowDown. Default 4096.
    #[arg(long, env = "RUCKET_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Request bodies streaming at once; past it uploads get 503 SlowDown. Default 1024.
    #[arg(long, env = "RUCKET_MAX_UPLOADS")]
    pub max_uploads: Option<usize>,
    /// Request bodies one access key may stream at once. Default 256.
    #[arg(long, env = "RUCKET_MAX_UPLOADS_PER_KEY")]
    pub max_uploads_per_key: Option<usize>,
    /// Free bytes to keep on the log and blob volumes; below it new writes get 507
    /// InsufficientStorage (deletes still work). Default 268435456 (256 MiB).
    #[arg(long, env = "RUCKET_DISK_RESERVE_BYTES")]
    pub disk_reserve_bytes: Option<u64>,
    /// Cluster: this node's id (default 1). Stamped into every HLC this node makes.
    #[arg(long, env = "RUCKET_NODE_ID")]
    pub node_id: Option<u64>,
    /// Cluster: the voters of a new cluster as `ID=ADDR,...` (their cluster-listen
    /// addresses), the same on every node. A node not in the list waits to be added with
    /// `rucket cluster add-node`.
    #[arg(long, env = "RUCKET_PEERS")]
    pub peers: Option<String>,
    /// Cluster: the address peers reach this node at (node-to-node traffic).
    #[arg(long, env = "RUCKET_CLUSTER_LISTEN")]
    pub cluster_listen: Option<SocketAddr>,
    /// Cluster: a file holding the shared secret every node-to-node call is signed with.
    #[arg(long, env = "RUCKET_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,
    /// Cluster: `linearizable` (default; a read on any node sees every acknowledged
    /// write) or `local` (a follower answers from what it has applied, faster and
    /// possibly stale).
    #[arg(long, env = "RUCKET_READ_CONSISTENCY")]
    pub read_consistency: Option<String>,
    /// Raft: take a snapshot after this many log entries (default 1000); a node further
    /// behind than a tenth of that catches up from a snapshot.
    #[arg(long, env = "RUCKET_RAFT_SNAPSHOT_EVERY")]
    pub raft_snapshot_every: Option<u64>,
}

/// The config file. Every field is optional; `[[keys]]` adds users.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    region: Option<String>,
    durability: Option<String>,
    relaxed_fsync_ms: Option<u64>,
    inline_threshold: Option<usize>,
    domain: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    log: Option<String>,
    feed_max_subscribers: Option<usize>,
    feed_max_per_key: Option<usize>,
    feed_buffer: Option<usize>,
    feed_stall_ms: Option<u64>,
    feed_heartbeat_secs: Option<u64>,
    lifecycle_interval_ms: Option<u64>,
    lifecycle_day_secs: Option<u64>,
    access_log_flush_ms: Option<u64>,
    master_key_file: Option<PathBuf>,
    previous_master_key_file: Option<PathBuf>,
    #[serde(default)]
    allow_insecure_sse_c: bool,
    #[serde(default)]
    accept_any_signing_region: bool,
    body_timeout_secs: Option<u64>,
    header_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    max_uploads: Option<usize>,
    max_uploads_per_key: Option<usize>,
    disk_reserve_bytes: Option<u64>,
    node_id: Option<u64>,
    peers: Option<String>,
    cluster_listen: Option<SocketAddr>,
    cluster_secret_file: Option<PathBuf>,
    read_consistency: Option<String>,
    raft_snapshot_every: Option<u64>,
    #[serde(default)]
    keys: Vec<KeyConfig>,
    root_display_name: Option<String>,
    #[serde(default)]
    webhooks: Vec<crate::notify::WebhookTarget>,
}

/// An access key of its own user.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The user's e-mail address: ACL grants may name the user by it.
    #[serde(default)]
    pub email: Option<String>,
    /// The name S3 shows beside the user's id as `DisplayName` (owners, ACL grantees);
    /// the user's name when not given.
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurabilityMode {
    Strict,
    Relaxed,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Serve HTTPS with these files instead of plain HTTP.
    pub tls: Option<crate::tls::TlsFiles>,
    pub data_dir: PathBuf,
    pub region: String,
    pub durability: DurabilityMode,
    pub relaxed_interval: Duration,
    pub inline_threshold: usize,
    pub domain: Option<String>,
    pub root_access_key_id: Option<String>,
    pub root_secret_access_key: Option<String>,
    pub log: String,
    pub keys: Vec<KeyConfig>,
    /// The root user's `DisplayName` (default `root`).
    pub root_display_name: Option<String>,
    pub read_only: bool,
    pub feed: crate::feed::FeedSettings,
    /// Webhook targets that bucket notification configurations may name.
    pub webhooks: Vec<crate::notify::WebhookTarget>,
    pub lifecycle: crate::lifecycle::LifecycleSettings,
    /// The master keys for encryption at rest.
    pub keyring: std::sync::Arc<crate::sse::Keyring>,
    /// SSE-C over plain HTTP from loopback clients (tests).
    pub allow_insecure_sse_c: bool,
    /// Requests signed for any region are served (the region check is off).
    pub accept_any_signing_region: bool,
    /// Timeouts and caps on what clients may hold.
    pub limits: crate::limits::Limits,
    /// This node's id (1 on a single node).
    pub node_id: u64,
    /// Set when this node is part of a cluster.
    pub cluster: Option<crate::cluster::ClusterSettings>,
    /// Raft entries between snapshots.
    pub raft_snapshot_every: u64,
    /// How often server access log records are delivered.
    pub access_log_flush: Duration,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_INLINE_THRESHOLD: usize = 4096;
/// The inline threshold cannot exceed this: events stay small, and a Raft entry of
/// `max_batch` (512) inline bodies stays far below the log codec's 512 MiB record limit.
pub const MAX_INLINE_THRESHOLD: usize = 256 << 10;

impl Settings {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let durability = match args.durability.or(file.durability).as_deref() {
            None | Some("strict") => DurabilityMode::Strict,
            Some("relaxed") => DurabilityMode::Relaxed,
            Some(other) => anyhow::bail!("durability must be `strict` or `relaxed`, not `{other}`"),
        };
        let inline_threshold =
            args.inline_threshold.or(file.inline_threshold).unwrap_or(DEFAULT_INLINE_THRESHOLD);
        if inline_threshold > MAX_INLINE_THRESHOLD {
            anyhow::bail!("inline_threshold must be at most {MAX_INLINE_THRESHOLD} bytes");
        }
        let relaxed_fsync_ms = args.relaxed_fsync_ms.or(file.relaxed_fsync_ms).unwrap_or(50);
        if relaxed_fsync_ms == 0 {
            anyhow::bail!("relaxed_fsync_ms must be at least 1");
        }
        let region = args.region.or(file.region).unwrap_or_else(|| DEFAULT_REGION.to_owned());
        if region.is_empty()
            || !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            anyhow::bail!("region `{region}` must be lowercase letters, digits and hyphens");
        }
        let feed = crate::feed::FeedSettings {
            limits: crate::feed::FeedLimits {
                per_node: args.feed_max_subscribers.or(file.feed_max_subscribers).unwrap_or(4096),
                per_key: args.feed_max_per_key.or(file.feed_max_per_key).unwrap_or(1024),
            },
            buffer: args.feed_buffer.or(file.feed_buffer).unwrap_or(1024),
            stall: Duration::from_millis(args.feed_stall_ms.or(file.feed_stall_ms).unwrap_or(30_000)),
            heartbeat: Duration::from_secs(
                args.feed_heartbeat_secs.or(file.feed_heartbeat_secs).unwrap_or(15),
            ),
        };
        if feed.buffer == 0 || feed.stall.is_zero() || feed.heartbeat.is_zero() {
            anyhow::bail!("feed_buffer, feed_stall_ms and feed_heartbeat_secs must be at least 1");
        }
        let lifecycle = crate::lifecycle::LifecycleSettings {
            interval: Duration::from_millis(
                args.lifecycle_interval_ms.or(file.lifecycle_interval_ms).unwrap_or(3_600_000),
            ),
            day: Duration::from_secs(args.lifecycle_day_secs.or(file.lifecycle_day_secs).unwrap_or(86_400)),
        };
        if lifecycle.interval.is_zero() || lifecycle.day.is_zero() {
            anyhow::bail!("lifecycle_interval_ms and lifecycle_day_secs must be at least 1");
        }
        for (i, target) in file.webhooks.iter().enumerate() {
            target.validate()?;
            if file.webhooks[..i].iter().any(|t| t.id == target.id) {
                anyhow::bail!("webhook id `{}` is configured twice", target.id);
            }
        }
        let tls = match (args.tls_cert.or(file.tls_cert), args.tls_key.or(file.tls_key)) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(crate::tls::TlsFiles { cert, key }),
            _ => anyhow::bail!("tls_cert and tls_key go together: set both or neither"),
        };
        let previous: Vec<PathBuf> =
            args.previous_master_key_file.or(file.previous_master_key_file).into_iter().collect();
        let keyring = crate::sse::Keyring::load(
            args.master_key_file.or(file.master_key_file).as_deref(),
            args.master_key.as_deref(),
            &previous,
        )?;
        let node_id = args.node_id.or(file.node_id).unwrap_or(1);
        if node_id == 0 {
            anyhow::bail!("node_id must be at least 1");
        }
        let cluster = crate::cluster::ClusterSettings::resolve(
            node_id,
            args.peers.or(file.peers).as_deref(),
            args.cluster_listen.or(file.cluster_listen),
            args.cluster_secret_file.or(file.cluster_secret_file).as_deref(),
            args.read_consistency.or(file.read_consistency).as_deref(),
        )?;
        let raft_snapshot_every = args.raft_snapshot_every.or(file.raft_snapshot_every).unwrap_or(1_000);
        if raft_snapshot_every < 10 {
            anyhow::bail!("raft_snapshot_every must be at least 10");
        }
        let access_log_flush =
            Duration::from_millis(args.access_log_flush_ms.or(file.access_log_flush_ms).unwrap_or(60_000));
        if access_log_flush.is_zero() {
            anyhow::bail!("access_log_flush_ms must be at least 1");
        }
        let settings = Self {
            raft_snapshot_every,
            access_log_flush,
            node_id,
            cluster,
            keyring: std::sync::Arc::new(keyring),
            allow_insecure_sse_c: args.allow_insecure_sse_c || file.allow_insecure_sse_c,
            accept_any_signing_region: args.accept_any_signing_region || file.accept_any_signing_region,
            limits: {
                let defaults = crate::limits::Limits::default();
                let body_timeout = args.body_timeout_secs.or(file.body_timeout_secs);
                let limits = crate::limits::Limits {
                    body_timeout: match body_timeout {
                        Some(0) => None,
                        Some(secs) => Some(Duration::from_secs(secs)),
                        None => defaults.body_timeout,
                    },
                    header_timeout: args
                        .header_timeout_secs
                        .or(file.header_timeout_secs)
                        .map_or(defaults.header_timeout, Duration::from_secs),
                    max_connections: args
                        .max_connections
                        .or(file.max_connections)
                        .unwrap_or(defaults.max_connections),
                    max_uploads: args.max_uploads.or(file.max_uploads).unwrap_or(defaults.max_uploads),
                    max_uploads_per_key: args
                        .max_uploads_per_key
                        .or(file.max_uploads_per_key)
                        .unwrap_or(defaults.max_uploads_per_key),
                    disk_reserve: args
                        .disk_reserve_bytes
                        .or(file.disk_reserve_bytes)
                        .unwrap_or(defaults.disk_reserve),
                };
                if limits.header_timeout.is_zero()
                    || limits.max_connections == 0
                    || limits.max_uploads == 0
                    || limits.max_uploads_per_key == 0
                {
                    anyhow::bail!("header_timeout_secs, max_connections, max_uploads and max_uploads_per_key must be at least 1");
                }
                limits
            },
            tls,
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("the default address parses")),
            data_dir: args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("./data")),
            region,
            durability,
            relaxed_interval: Duration::from_millis(relaxed_fsync_ms),
            inline_threshold,
            domain: args.domain.or(file.domain),
            root_access_key_id: args.access_key_id.or(file.access_key_id),
            root_secret_access_key: args.secret_access_key.or(file.secret_access_key),
            log: args.log.or(file.log).unwrap_or_else(|| "info,openraft=warn".to_owned()),
            keys: file.keys,
            root_display_name: file.root_display_name,
            read_only: args.read_only,
            feed,
            webhooks: file.webhooks,
            lifecycle,
        };
        Ok(settings)
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rucket.toml");
        std::fs::write(
            &path,
            r#"
region = "eu-west-1"
durability = "relaxed"
inline_threshold = 100

[[keys]]
name = "alice"
access_key_id = "AKALICE"
secret_access_key = "alice-secret"
"#,
        )
        .unwrap();
        let args = ServeArgs { config: Some(path), inline_threshold: Some(10), ..ServeArgs::default() };
        let s = Settings::resolve(args).unwrap();
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(s.durability, DurabilityMode::Relaxed);
        assert_eq!(s.inline_threshold, 10);
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.keys.len(), 1);
        assert_eq!(s.keys[0].name, "alice");
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        let args = ServeArgs { durability: Some("sometimes".into()), ..ServeArgs::default() };
        assert!(Settings::resolve(args).unwrap_err().to_string().contains("durability"));
        let args = ServeArgs { inline_threshold: Some(10 << 20), ..ServeArgs::default() };
        assert!(Settings::resolve(args).is_err());
        let args = ServeArgs { relaxed_fsync_ms: Some(0), ..ServeArgs::default() };
        assert!(Settings::resolve(args).unwrap_err().to_string().contains("relaxed_fsync_ms"));
        let args = ServeArgs { feed_buffer: Some(0), ..ServeArgs::default() };
        assert!(Settings::resolve(args).unwrap_err().to_string().contains("feed_buffer"));
        let args = ServeArgs { lifecycle_day_secs: Some(0), ..ServeArgs::default() };
        assert!(Settings::resolve(args).unwrap_err().to_string().contains("lifecycle_day_secs"));
        let dir = tempfile::tempdir().unwrap();
        for (webhooks, reason) in [
            ("[[webhooks]]\nid = \"a b\"\nendpoint = \"http://127.0.0.1:1/\"\n", "letters"),
            ("[[webhooks]]\nid = \"a\"\nendpoint = \"ftp://127.0.0.1/\"\n", "http"),
            (
                "[[webhooks]]\nid = \"a\"\nendpoint = \"http://127.0.0.1:1/\"\n\n[[webhooks]]\nid = \"a\"\nendpoint = \"http://127.0.0.1:2/\"\n",
                "twice",
            ),
        ] {
            let path = dir.path().join("hooks.toml");
            std::fs::write(&path, webhooks).unwrap();
            let args = ServeArgs { config: Some(path), ..ServeArgs::default() };
            let err = format!("{:#}", Settings::resolve(args).unwrap_err());
            assert!(err.contains(reason), "{reason}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "no_such_setting = 1\n").unwrap();
        let args = ServeArgs { config: Some(path), ..ServeArgs::default() };
        assert!(format!("{:#}", Settings::resolve(args).unwrap_err()).contains("no_such_setting"));
    }
}
