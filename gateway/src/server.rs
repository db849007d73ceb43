//! `rucket serve`: open the log, sweep orphaned blobs, and serve S3 until a signal.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rucket_blobs::{BlobStore, Durability as BlobDurability};
use rucket_log::{Durability, EventArchive, NoPeers, Node, NodeConfig};
use rucket_projections::Projections;
use rucket_schemas::RegionId;

use crate::access::Access;
use crate::config::{DurabilityMode, ServeArgs, Settings};
use crate::credentials::Users;
use crate::host::VirtualHosts;
use crate::http::{router, AppState};
use crate::s3::Rucket;
use rucket_log::Clock;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest browser (POST form) upload; s3s holds it in memory.
pub const POST_MAX_FILE_SIZE: u64 = 64 << 20;
/// How long a stopping server waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut settings = Settings::resolve(args)?;
    init_tracing(&settings.log);
    if let Some(open_files) = raise_file_limit() {
        let fitted = settings.limits.fit_file_limit(open_files);
        if fitted.max_connections < settings.limits.max_connections
            || fitted.max_uploads < settings.limits.max_uploads
        {
            tracing::warn!(
                open_files,
                max_connections = fitted.max_connections,
                max_uploads = fitted.max_uploads,
                "the open file limit is low: connection and upload caps lowered to fit it (raise the hard limit, `ulimit -Hn`, to allow more)"
            );
        }
        settings.limits = fitted;
    }
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
    let (mut users, root) = Users::load(&settings)?;
    if root.generated {
        println!(
            "Generated root credentials, stored in {}:\n  access key id:     {}\n  secret access key: {}",
            settings.data_dir.join("root-credentials.toml").display(),
            root.access_key_id,
            root.secret_access_key
        );
    }

    let metrics = crate::metrics::install()?;
    // Blob files are fsynced in both modes: relaxed mode relaxes the log's fsync, and an
    // event that became durable must never name bytes that were not.
    let blobs = BlobStore::open(settings.data_dir.join("blobs"), BlobDurability::Strict)?;
    let mut copies = None;
    let volumes = crate::volumes::Volumes::new(&settings.data_dir, settings.limits.disk_reserve)
        .for_uploads(settings.limits.max_uploads);
    let (writer, projections, archive) = if settings.read_only {
        // A point-in-time data dir: no Raft, no writes, nothing deleted.
        let db = rucket_log::replay::open_existing(&settings.data_dir.join("log"))?;
        let projections = Projections::open(&db)?;
        let archive = EventArchive::open(&db)?;
        archive.verify()?;
        let applied = projections.applied_position()?;
        if applied != archive.head() {
            anyhow::bail!(
                "the projections are at position {applied} but the archive ends at {}; run `rucket replay rebuild`",
                archive.head()
            );
        }
        (None, projections, archive)
    } else {
        let node_config = NodeConfig {
            node_id: settings.node_id,
            snapshot_every: settings.raft_snapshot_every,
            region: RegionId::new(settings.region.clone()),
            durability: match settings.durability {
                DurabilityMode::Strict => Durability::Strict,
                DurabilityMode::Relaxed => Durability::Relaxed,
            },
            relaxed_interval: settings.relaxed_interval,
            ..NodeConfig::single(settings.data_dir.join("log"))
        };
        let node = match &settings.cluster {
            None => {
                let node = Arc::new(Node::open(node_config, NoPeers).await.context("opening the log")?);
                node.wait_ready(READY_TIMEOUT).await.context("waiting for the log to become ready")?;
                node
            }
            Some(cluster) => {
                // The region too: a cluster is one region, and the log stamps its own
                // events (membership changes) with it on every replica.
                let mut shared = settings.keyring.current_id().into_iter().collect::<Vec<_>>();
                let region = format!("region={}", settings.region);
                shared.push(&region);
                let fingerprint =
                    crate::cluster::key_fingerprint(&root.access_key_id, &root.secret_access_key, &shared);
                let (node, cluster_copies) =
                    crate::cluster::start_node(node_config, cluster, fingerprint, &blobs, volumes.clone())
                        .await?;
                copies = Some(cluster_copies);
                node
            }
        };
        match &copies {
            // A single node has nothing in flight from before this start: every file
            // older than the start that no version names is an orphan. The sweep reads
            // every version, so it runs beside the listener instead of delaying it;
            // files written since the start are younger than its grace.
            None => {
                let started = std::time::Instant::now();
                let (projections, blobs) = (node.projections().clone(), blobs.clone());
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = sweep_orphans(&projections, &blobs, started.elapsed()) {
                        tracing::error!(error = %e, "the orphan sweep failed");
                    }
                });
            }
            // A cluster node may hold copies of writes still on their way through the
            // log, may itself be behind, and may lack bodies it never received: its
            // upkeep fetches those and collects only old unreferenced files.
            Some(copies) => crate::cluster::upkeep::spawn(
                Arc::clone(&node),
                copies.clone(),
                blobs.clone(),
                volumes.clone(),
            ),
        }
        let (projections, archive) = (node.projections().clone(), node.archive().clone());
        (Some(node), projections, archive)
    };
    users.attach(projections.clone(), Arc::clone(&settings.keyring));
    if let Some(node) = &writer {
        crate::http::count_leader_changes(node);
    }

    let clock = Arc::new(Clock::new(settings.node_id));
    if let Some(last) = archive.get(archive.head())? {
        clock.set_floor(last.hlc);
        if let Err(e) = clock.observe(last.hlc) {
            tracing::warn!(error = %e, "the newest event is stamped ahead of this wall clock");
        }
    }

    let admin = crate::admin::AdminRoute {
        users: Arc::new(users.clone()),
        projections: projections.clone(),
        archive: archive.clone(),
        scratch_parent: settings.data_dir.clone(),
        node: writer.clone(),
    };
    // The one shutdown token of the runtime: set once on SIGTERM or SIGINT; the feed (hub
    // and subscriptions), the lifecycle worker and webhook delivery all watch it.
    let (shutdown, shutdown_watch) = tokio::sync::watch::channel(false);
    let hub = rucket_feed::Hub::start(archive.clone(), settings.feed.limits, shutdown_watch.clone());
    let hosts = settings.domain.as_deref().map(|d| Arc::new(VirtualHosts::new(d)));
    let feed = crate::feed::FeedRoute {
        hub: Arc::clone(&hub),
        hosts: hosts.clone(),
        users: Arc::new(users.clone()),
        projections: projections.clone(),
        settings: settings.feed,
    };
    let collector = match &writer {
        Some(node) => crate::gc::Collector::start(
            Arc::clone(node),
            blobs.clone(),
            settings.durability == DurabilityMode::Relaxed,
        ),
        None => crate::gc::Collector::idle(),
    };
    let uploads = Arc::new(crate::limits::Uploads::new(settings.limits));
    let rucket = Rucket {
        projections,
        writer: writer.clone(),
        archive: archive.clone(),
        blobs,
        clock,
        users: Arc::new(users.clone()),
        region: RegionId::new(settings.region.clone()),
        inline_threshold: settings.inline_threshold,
        body_timeout: settings.limits.body_timeout,
        uploads: Arc::clone(&uploads),
        volumes,
        collector,
        policies: Arc::default(),
        notifier: crate::notify::delivery::Notifier {
            targets: Arc::new(settings.webhooks.clone()),
            client: crate::notify::delivery::client()?,
        },
        keyring: Arc::clone(&settings.keyring),
        allow_insecure_sse_c: settings.allow_insecure_sse_c,
        accept_any_signing_region: settings.accept_any_signing_region,
        copies: copies.clone(),
    };
    if let Some(node) = &writer {
        crate::rotate::Rotation {
            projections: rucket.projections.clone(),
            node: Arc::clone(node),
            keyring: Arc::clone(&rucket.keyring),
            clock: Arc::clone(&rucket.clock),
            region: rucket.region.clone(),
        }
        .start();
        crate::lifecycle::Worker {
            projections: rucket.projections.clone(),
            node: Arc::clone(node),
            collector: rucket.collector.clone(),
            clock: Arc::clone(&rucket.clock),
            region: rucket.region.clone(),
            settings: settings.lifecycle,
            shutdown: shutdown_watch.clone(),
        }
        .start();
        crate::notify::delivery::start(
            &settings.webhooks,
            &rucket.notifier.client,
            &settings.data_dir,
            &archive,
            &rucket.projections,
            shutdown_watch.clone(),
            rucket_feed::webhook::Gate {
                active: {
                    let node = Arc::clone(node);
                    Arc::new(move || node.is_leader())
                },
                // In a cluster the cursor lives in the log, so a new leader resumes there.
                shared: settings.cluster.as_ref().map(|_| {
                    Arc::new(crate::notify::delivery::LogCursor {
                        node: Arc::clone(node),
                        clock: Arc::clone(&rucket.clock),
                        region: rucket.region.clone(),
                    }) as Arc<dyn rucket_feed::webhook::SharedCursor>
                }),
            },
        )?;
    }
    let cors = crate::cors::CorsLayer { projections: rucket.projections.clone(), hosts: hosts.clone() };
    let access = Access {
        projections: rucket.projections.clone(),
        users: Arc::new(users.clone()),
        policies: Arc::clone(&rucket.policies),
    };
    let keys = crate::admin_keys::KeysRoute {
        users: Arc::new(users.clone()),
        projections: rucket.projections.clone(),
        node: writer.clone(),
        keyring: Arc::clone(&rucket.keyring),
        clock: Arc::clone(&rucket.clock),
        region: rucket.region.clone(),
    };
    let access_log = crate::access_log::AccessLog::new(rucket.projections.clone(), writer.is_some(), hosts);
    let log_delivery = writer.as_ref().map(|_| crate::access_log::Deliverer {
        log: access_log.clone(),
        rucket: rucket.clone(),
        region: settings.region.clone(),
        every: settings.access_log_flush,
    });
    // Stopped after the last connection, not at the signal, so that the records of the
    // requests still finishing are delivered too.
    let (stop_log_delivery, log_delivery_stop) = tokio::sync::watch::channel(false);
    let log_delivery_task = log_delivery.map(|d| d.start(log_delivery_stop));
    let mut builder = s3s::service::S3ServiceBuilder::new(rucket);
    builder.set_access(access);
    let unsized_bodies = crate::unsized_body::Budget::new(Arc::new(users.clone()));
    builder.set_auth(users);
    builder.set_validation(crate::feed::Names);
    // s3s reads a POST upload's file into memory before its policy is checked, so such
    // uploads are capped well below S3's 5 GB (PUT and multipart stream without limit).
    let mut s3s_config = s3s::config::S3Config::default();
    s3s_config.post_object_max_file_size = POST_MAX_FILE_SIZE;
    builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(s3s_config))));
    builder.set_route(crate::feed::Routes { admin, feed, keys });
    if let Some(domain) = &settings.domain {
        builder.set_host(VirtualHosts::new(domain));
    }
    let scope = crate::scope::ScopeCheck {
        region: settings.region.clone(),
        accept_any_region: settings.accept_any_signing_region,
    };
    let barrier = crate::http::ReadBarrier {
        node: writer.clone().filter(|_| {
            settings
                .cluster
                .as_ref()
                .is_some_and(|c| c.read_consistency == crate::cluster::ReadConsistency::Linearizable)
        }),
    };
    let app = router(
        AppState { node: writer.clone(), archive, metrics, uploads, access_log },
        cors,
        scope,
        barrier,
        builder.build(),
        settings.limits.body_timeout,
        unsized_bodies,
    );

    let tls = settings.tls.clone().map(crate::tls::Tls::load).transpose().context("loading TLS files")?;
    if let Some(tls) = &tls {
        tls.reload_on_sighup()?;
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let address = listener.local_addr()?;
    println!(
        "rucket listening on {}://{address} (region {}, data {}{})",
        if tls.is_some() { "https" } else { "http" },
        settings.region,
        settings.data_dir.display(),
        if settings.read_only { ", read-only" } else { "" }
    );
    tracing::info!(%address, tls = tls.is_some(), "serving");
    // Subscriptions never end by themselves: end them first, so that the graceful
    // shutdown does not wait for them. A client that reads nothing could still hold its
    // connection open, so the wait for connections has a deadline.
    let mut stopped = shutdown_watch;
    let stopping = async move {
        shutdown_signal().await;
        shutdown.send_replace(true);
    };
    let deadline = async move {
        rucket_feed::stopped(&mut stopped).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let limits = settings.limits;
    let served = async move { serve_connections(listener, app, tls, limits, stopping).await };
    tokio::select! {
        served = served => served?,
        _ = deadline => tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open at the shutdown deadline; closing them"),
    }

    tracing::info!("shutting down");
    // The access records of the last requests are delivered before the log stops.
    if let Some(mut task) = log_delivery_task {
        stop_log_delivery.send_replace(true);
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await.is_err() {
            task.abort();
            tracing::warn!(
                "access log delivery did not finish before the shutdown deadline; the rest is dropped"
            );
        }
    }
    if let Some(node) = writer {
        node.shutdown().await?;
    }
    Ok(())
}

/// How long a TLS client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Refusals being answered at once: each holds its connection's descriptor for up to
/// `REFUSAL_DRAIN`, so past this many a connection over the cap is closed without an
/// answer (taken from the descriptors `Limits::fit_file_limit` keeps aside).
const REFUSALS_ANSWERED: usize = 128;
/// How long a refused connection is drained after its answer.
const REFUSAL_DRAIN: Duration = Duration::from_millis(200);
/// The pause after a failed accept (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `app` (over TLS when `tls` is set) until `stopping` resolves, then waits for open
/// connections. A request head must arrive within `limits.header_timeout` (which also
/// closes idle keep-alive connections), and past `limits.max_connections` a new
/// connection is answered 503 SlowDown and closed at once instead of waiting in a queue.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<crate::tls::Tls>,
    limits: crate::limits::Limits,
    stopping: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(limits.header_timeout);
    builder.http2().timer(hyper_util::rt::TokioTimer::new());
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let refusals = Arc::new(tokio::sync::Semaphore::new(REFUSALS_ANSWERED));
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        metrics::counter!(crate::metrics::REJECTIONS, "reason" => "accept_failed").increment(1);
                        // Out of descriptors: wait a little rather than spin. Other errors
                        // belong to one connection (it went away before it was accepted).
                        let descriptors = [nix::errno::Errno::EMFILE as i32, nix::errno::Errno::ENFILE as i32];
                        if e.raw_os_error().is_some_and(|code| descriptors.contains(&code)) {
                            tracing::warn!(error = %e, "accepting a connection failed: out of file descriptors");
                            tokio::time::sleep(ACCEPT_BACKOFF).await;
                        }
                        continue;
                    }
                };
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::warn!(error = %e, "could not set TCP_NODELAY");
                }
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    metrics::counter!(crate::metrics::REJECTIONS, "reason" => "connections").increment(1);
                    if let Ok(answering) = Arc::clone(&refusals).try_acquire_owned() {
                        let tls = tls.is_some();
                        tokio::spawn(async move {
                            refuse_connection(tcp, tls).await;
                            drop(answering);
                        });
                    }
                    continue;
                };
                // What a plain listener's connect info gives, plus the transport's name,
                // for bucket policy conditions.
                let app = app.clone().layer(axum::Extension(axum::extract::ConnectInfo(peer)));
                let app = match tls {
                    Some(_) => app.layer(axum::Extension(crate::access::SecureTransport)),
                    None => app,
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let acceptor = tls.as_ref().map(crate::tls::Tls::acceptor);
                let open = Arc::clone(&slots);
                tokio::spawn(async move {
                    count_open(&open, limits.max_connections);
                    let served = match acceptor {
                        None => {
                            // Protocol detection reads the first bytes with no deadline of
                            // its own: a client that connects and says nothing is closed
                            // after the header timeout, like one that stops mid-head.
                            let mut first = [0u8; 1];
                            if !matches!(tokio::time::timeout(limits.header_timeout, tcp.peek(&mut first)).await, Ok(Ok(n)) if n > 0) {
                                metrics::counter!(crate::metrics::REJECTIONS, "reason" => "silent_connection").increment(1);
                                drop(slot);
                                count_open(&open, limits.max_connections);
                                return;
                            }
                            let connection = builder
                                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tcp), service)
                                .into_owned();
                            watcher.watch(connection).await
                        }
                        Some(acceptor) => {
                            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(e)) => {
                                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                    drop(slot);
                                    count_open(&open, limits.max_connections);
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "TLS handshake timed out");
                                    drop(slot);
                                    count_open(&open, limits.max_connections);
                                    return;
                                }
                            };
                            let connection = builder
                                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
                                .into_owned();
                            watcher.watch(connection).await
                        }
                    };
                    if let Err(e) = served {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    drop(slot);
                    count_open(&open, limits.max_connections);
                });
            }
            _ = &mut stopping => break,
        }
    }
    // Stop taking connections, then wait for the open ones.
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Publishes how many connections hold a slot.
fn count_open(slots: &tokio::sync::Semaphore, max: usize) {
    metrics::gauge!(crate::metrics::CONNECTIONS_OPEN).set((max - slots.available_permits()) as f64);
}

/// Raises the soft limit on open files to the hard limit: every connection, blob file
/// and log segment is a descriptor, and the common soft limit of 1,024 runs out first.
/// Returns the limit now in force, if it could be read.
fn raise_file_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::info!(from = soft, to = hard, "raised the open file limit to its hard limit");
                Some(hard)
            }
            Err(e) => {
                tracing::warn!(soft, hard, error = %e, "could not raise the open file limit");
                Some(soft)
            }
        },
        Ok((soft, _)) => {
            tracing::info!(limit = soft, "open file limit");
            Some(soft)
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read the open file limit");
            None
        }
    }
}

/// Answers a connection over the cap with 503 SlowDown and closes it (a TLS connection
/// is closed without a word: answering would need the handshake the cap protects).
async fn refuse_connection(mut tcp: tokio::net::TcpStream, tls: bool) {
    use tokio::io::AsyncWriteExt as _;
    if tls {
        return;
    }
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate: this node has as many connections open as it may.</Message></Error>";
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    // Answer, close our side, and drain briefly, so the client reads the 503 rather
    // than a reset from the bytes it was still sending.
    let _ = tokio::time::timeout(REFUSAL_DRAIN, async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 4096];
        while tokio::io::AsyncReadExt::read(&mut tcp, &mut sink).await? > 0 {}
        std::io::Result::Ok(())
    })
    .await;
}

/// Removes blobs that no version refers to and that are older than `grace`: bodies whose
/// PUT never committed, and versions overwritten or deleted before their release was
/// carried out.
pub(crate) fn sweep_orphans(
    projections: &Projections,
    blobs: &BlobStore,
    grace: Duration,
) -> anyhow::Result<()> {
    let referenced = projections.referenced_blobs()?;
    let mut removed = 0u64;
    let now = std::time::SystemTime::now();
    for id in blobs.list()? {
        if referenced.contains(&id) {
            continue;
        }
        let modified = std::fs::metadata(blobs.path_of(&id)).and_then(|m| m.modified());
        let old_enough = match modified {
            Ok(at) => now.duration_since(at).unwrap_or_default() >= grace,
            Err(_) => false,
        };
        if old_enough {
            blobs.remove(&id)?;
            removed += 1;
        }
    }
    metrics::counter!(crate::metrics::ORPHANS_REMOVED).increment(removed);
    if removed > 0 {
        tracing::info!(removed, "removed orphaned blobs");
    }
    Ok(())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate => {},
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log file or a supervisor's journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}
