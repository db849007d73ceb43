//! Clusters of real `rucket` processes on 127.0.0.1, 127.0.0.2 and 127.0.0.3: forming,
//! any node serving any request, leader loss under load, membership changes, nodes with
//! other keys refused, and SSE-KMS keys and access logs through any node.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use bytes::Bytes;

use crate::support::{rucket, Server, ROOT_KEY, ROOT_SECRET};

const WAIT: Duration = Duration::from_secs(60);

/// A write some node acknowledged: key, body, when.
type Acked = (String, Vec<u8>, Instant);

/// A free port on `ip` below the kernel's ephemeral range (bound and released; the node
/// binds it right after). Nodes call each other from their own address, so a port from
/// the ephemeral range could be taken by another test's outgoing call meanwhile.
fn free_port(ip: &str) -> u16 {
    loop {
        let port = 20_000 + rand::random::<u16>() % 12_000;
        if std::net::TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
}

fn ip(id: u64) -> String {
    format!("127.0.0.{id}")
}

struct Cluster {
    root: tempfile::TempDir,
    secret: PathBuf,
    /// node id → cluster-listen address
    addresses: BTreeMap<u64, String>,
    /// The peer list every founding node starts with.
    peers: String,
    nodes: BTreeMap<u64, Server>,
    /// Flags every node starts with.
    extra: Vec<String>,
}

impl Cluster {
    /// Starts `n` nodes that form one cluster.
    fn start(n: u64) -> Self {
        Self::start_with(n, &[])
    }

    /// As [`Self::start`], with extra flags for every node.
    fn start_with(n: u64, extra: &[&str]) -> Self {
        Self::start_ids(&(1..=n).collect::<Vec<_>>(), extra)
    }

    /// Starts the nodes `ids` (node N on 127.0.0.N) as one cluster.
    fn start_ids(ids: &[u64], extra: &[&str]) -> Self {
        let root = tempfile::tempdir().unwrap();
        let secret = root.path().join("cluster-secret");
        std::fs::write(&secret, "a-cluster-secret-for-tests-0123456789\n").unwrap();
        let addresses: BTreeMap<u64, String> =
            ids.iter().map(|id| (*id, format!("{}:{}", ip(*id), free_port(&ip(*id))))).collect();
        let peers = addresses.iter().map(|(id, a)| format!("{id}={a}")).collect::<Vec<_>>().join(",");
        let extra = extra.iter().map(|s| s.to_string()).collect();
        let mut cluster = Self { root, secret, addresses, peers, nodes: BTreeMap::new(), extra };
        for id in ids {
            cluster.launch(*id, &[]);
        }
        cluster
    }

    fn dir(&self, id: u64) -> PathBuf {
        let dir = self.root.path().join(format!("n{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Starts (or restarts) node `id` on its own data dir.
    fn launch(&mut self, id: u64, env: &[(&str, &str)]) {
        let address =
            self.addresses.entry(id).or_insert_with(|| format!("{}:{}", ip(id), free_port(&ip(id)))).clone();
        let dir = self.dir(id);
        let node_id = id.to_string();
        let listen = format!("{}:0", ip(id));
        let secret = self.secret.to_str().unwrap().to_owned();
        let mut args = vec![
            "--node-id",
            &node_id,
            "--cluster-listen",
            &address,
            "--peers",
            &self.peers,
            "--cluster-secret-file",
            &secret,
        ];
        args.extend(self.extra.iter().map(String::as_str));
        let server = Server::start_on(&dir, &listen, "", &args, env);
        self.nodes.insert(id, server);
    }

    fn node(&self, id: u64) -> &Server {
        &self.nodes[&id]
    }

    fn data_dir(&self, id: u64) -> PathBuf {
        self.dir(id).join("data")
    }

    /// The cluster status as node `id` answers it (asked again while the node answers
    /// 503, as it does until it has a leader).
    async fn status(&self, id: u64) -> serde_json::Value {
        let deadline = Instant::now() + WAIT;
        loop {
            match try_admin(self.node(id), "GET", "rucket-admin=cluster-status").await {
                Ok((200, status)) => return status,
                other => assert!(Instant::now() < deadline, "node {id} gave no status: {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the running nodes agree on a leader among them; returns it.
    async fn leader(&self) -> u64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut seen = Vec::new();
            for id in self.nodes.keys() {
                if let Ok(Ok((200, status))) = tokio::time::timeout(
                    Duration::from_secs(5),
                    try_admin(self.node(*id), "GET", "rucket-admin=cluster-status"),
                )
                .await
                {
                    seen.push(status["leader"].as_u64());
                }
            }
            if let Some(Some(leader)) = seen.first() {
                if seen.len() == self.nodes.len()
                    && seen.iter().all(|l| *l == Some(*leader))
                    && self.nodes.contains_key(leader)
                {
                    return *leader;
                }
            }
            assert!(Instant::now() < deadline, "no agreed leader within {WAIT:?}: {seen:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn kill(&mut self, id: u64) {
        if let Some(mut server) = self.nodes.remove(&id) {
            server.kill();
        }
    }

    fn stop_all(&mut self) {
        for server in self.nodes.values_mut() {
            server.stop();
        }
    }
}

async fn try_admin(server: &Server, method: &str, query: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    let signer = rucket_cli::sigv4::Signer::new(ROOT_KEY, ROOT_SECRET, "us-east-1");
    let request = signer.request(method, &format!("{}/?{query}", server.endpoint), Bytes::new())?;
    let response = reqwest::Client::new().execute(request).await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))))
}

async fn admin(server: &Server, method: &str, query: &str) -> (u16, serde_json::Value) {
    try_admin(server, method, query).await.unwrap()
}

/// A client that does not retry by itself, so a test sees each failure.
fn client(server: &Server) -> Client {
    let config = server
        .config_as(ROOT_KEY, ROOT_SECRET)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

async fn get(client: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e:?}"));
    object.body.collect().await.unwrap().into_bytes().to_vec()
}

/// The archive of a stopped node, as `rucket replay export` writes it; checks that
/// `rucket replay verify` passes on it too.
fn archive_of(data: &Path, scratch: &Path) -> Vec<String> {
    let (code, stdout, stderr) = rucket(&["replay", "verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "replay verify failed on {}: {stdout}{stderr}", data.display());
    let out = scratch.join(format!("export-{}.jsonl", rand_suffix()));
    let (code, _, stderr) =
        rucket(&["replay", "export", "--data-dir", data.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<String> = std::fs::read_to_string(&out).unwrap().lines().map(str::to_owned).collect();
    for (i, line) in lines.iter().enumerate() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(record["position"], i as u64 + 1, "positions are dense");
    }
    lines
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Waits until every node holds `blobs` blob files.
async fn wait_for_blob_files(cluster: &Cluster, blobs: usize) {
    let deadline = Instant::now() + WAIT;
    for id in cluster.nodes.keys() {
        let dir = cluster.data_dir(*id).join("blobs");
        while crate::support::files_under(&dir) < blobs {
            assert!(
                Instant::now() < deadline,
                "node {id} holds {} blob files",
                crate::support::files_under(&dir)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn any_node_serves_any_request_and_reads_its_own_writes() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.leader().await;
    let (c1, c2, c3) = (client(cluster.node(1)), client(cluster.node(2)), client(cluster.node(3)));
    c1.create_bucket().bucket("shared").send().await.unwrap();

    // Written through node 2, read at once through node 3, listed through node 1.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    c2.put_object().bucket("shared").key("big").body(big.clone().into()).send().await.unwrap();
    assert_eq!(get(&c3, "shared", "big").await, big, "a follower reads the write made on another follower");
    c3.put_object().bucket("shared").key("small").body(b"inline".to_vec().into()).send().await.unwrap();
    assert_eq!(get(&c2, "shared", "small").await, b"inline");
    let listed = c1.list_objects_v2().bucket("shared").send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["big", "small"]);

    // Every node ends up with the body's bytes (a majority before the answer).
    wait_for_blob_files(&cluster, 1).await;

    // Overwrite through one node, read the new bytes through each of the others.
    for (writer, version) in [(&c1, b"v1".to_vec()), (&c3, b"v2".to_vec()), (&c2, b"v3".to_vec())] {
        writer.put_object().bucket("shared").key("hot").body(version.clone().into()).send().await.unwrap();
        for reader in [&c1, &c2, &c3] {
            assert_eq!(get(reader, "shared", "hot").await, version);
        }
    }

    // The status names every node, up, with one leader.
    let status = cluster.status(3).await;
    assert_eq!(status["leader"], leader);
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{status}");
    for node in nodes {
        assert_eq!(node["state"], "up", "{status}");
        assert_eq!(node["voter"], true, "{status}");
    }
    let roles: Vec<_> = nodes.iter().filter(|n| n["role"] == "leader").collect();
    assert_eq!(roles.len(), 1, "{status}");
    // The same through the command line.
    let endpoint = cluster.node(2).endpoint.clone();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rucket"))
        .args(["cluster", "status", "--json", "--endpoint", &endpoint])
        .env("RUCKET_ACCESS_KEY_ID", ROOT_KEY)
        .env("RUCKET_SECRET_ACCESS_KEY", ROOT_SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["leader"], leader);

    // Identical archives, each passing replay verify.
    cluster.stop_all();
    let reference = archive_of(&cluster.data_dir(1), cluster.root.path());
    assert!(reference.len() >= 6, "{} events", reference.len());
    for id in [2, 3] {
        assert_eq!(archive_of(&cluster.data_dir(id), cluster.root.path()), reference, "node {id} diverged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_three_times_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(3);
    cluster.leader().await;
    client(cluster.node(1)).create_bucket().bucket("load").send().await.unwrap();

    // 16 writers spread over the three nodes; each records the writes acknowledged.
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let endpoints: Arc<Mutex<BTreeMap<u64, Client>>> =
        Arc::new(Mutex::new(cluster.nodes.iter().map(|(id, s)| (*id, client(s))).collect()));
    let mut writers = Vec::new();
    for w in 0..16u64 {
        let (acked, stop, endpoints) = (Arc::clone(&acked), Arc::clone(&stop), Arc::clone(&endpoints));
        writers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let target = (w + i) % 3 + 1;
                let Some(client) = endpoints.lock().unwrap().get(&target).cloned() else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let key = format!("w{w:02}-{i:05}");
                // Every fourth body is a blob (past the inline threshold).
                let len = if i.is_multiple_of(4) { 6_000 } else { 100 };
                let body: Vec<u8> = (0..len).map(|b| (b as u64 + w * 31 + i) as u8).collect();
                let put = client.put_object().bucket("load").key(&key).body(body.clone().into()).send().await;
                if put.is_ok() {
                    acked.lock().unwrap().push((key, body, Instant::now()));
                }
            }
        }));
    }

    let mut gaps = Vec::new();
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let leader = cluster.leader().await;
        endpoints.lock().unwrap().remove(&leader);
        let before = acked.lock().unwrap().len();
        cluster.kill(leader);
        let killed_at = Instant::now();
        // The write gap: from the kill to the next acknowledged write.
        let deadline = killed_at + WAIT;
        let gap = loop {
            let first_after =
                acked.lock().unwrap().iter().skip(before).map(|(_, _, at)| *at).find(|at| *at > killed_at);
            if let Some(at) = first_after {
                break at - killed_at;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: no write acknowledged after the leader {leader} died"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        eprintln!("round {round}: killed leader {leader}; first acknowledged write {gap:?} later");
        gaps.push(gap);
        cluster.launch(leader, &[]);
        endpoints.lock().unwrap().insert(leader, client(cluster.node(leader)));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    eprintln!("{} writes acknowledged; gaps after each kill: {gaps:?}", acked.len());
    assert!(acked.len() > 100, "the writers made progress: {}", acked.len());

    // Every acknowledged write is readable, with its bytes, through every node.
    cluster.leader().await;
    let clients: Vec<Client> = cluster.nodes.values().map(client).collect();
    for (n, (key, body, _)) in acked.iter().enumerate() {
        assert_eq!(&get(&clients[n % clients.len()], "load", key).await, body, "{key}");
    }
    for c in &clients {
        let mut listed = 0;
        let mut pages = c.list_objects_v2().bucket("load").into_paginator().send();
        while let Some(page) = pages.next().await {
            listed += page.unwrap().key_count().unwrap_or_default() as usize;
        }
        assert!(listed >= acked.len(), "a node lists {listed} of {} acknowledged keys", acked.len());
    }

    cluster.stop_all();
    let reference = archive_of(&cluster.data_dir(1), cluster.root.path());
    for id in [2, 3] {
        assert_eq!(archive_of(&cluster.data_dir(id), cluster.root.path()), reference, "node {id} diverged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_is_added_then_another_removed() {
    let mut cluster = Cluster::start(3);
    cluster.leader().await;
    let c1 = client(cluster.node(1));
    c1.create_bucket().bucket("grow").send().await.unwrap();
    let big = vec![9u8; 200_000];
    c1.put_object().bucket("grow").key("before").body(big.clone().into()).send().await.unwrap();

    // Node 4 starts outside the peer list and waits to be added.
    cluster.launch(4, &[]);
    let address = cluster.addresses[&4].clone();
    let (status, answer) =
        admin(cluster.node(2), "POST", &format!("rucket-admin=cluster-add-node&id=4&address={address}"))
            .await;
    assert_eq!(status, 200, "{answer}");
    let nodes = answer["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4, "{answer}");
    assert!(nodes.iter().all(|n| n["voter"] == true), "{answer}");

    // The new node serves what was written before it joined (fetching the bytes) and after.
    let c4 = client(cluster.node(4));
    assert_eq!(get(&c4, "grow", "before").await, big);
    c4.put_object().bucket("grow").key("after").body(b"four".to_vec().into()).send().await.unwrap();
    assert_eq!(get(&c1, "grow", "after").await, b"four");

    // Node 3 is removed; the other three go on.
    let (status, answer) = admin(cluster.node(4), "POST", "rucket-admin=cluster-remove-node&id=3").await;
    assert_eq!(status, 200, "{answer}");
    let ids: Vec<u64> =
        answer["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 4], "{answer}");
    cluster.kill(3);
    cluster.leader().await;
    client(cluster.node(2))
        .put_object()
        .bucket("grow")
        .key("without-3")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c4, "grow", "without-3").await, b"x");

    // A bad request is refused with a reason.
    let (status, answer) =
        admin(cluster.node(1), "POST", "rucket-admin=cluster-add-node&id=5&address=nowhere").await;
    assert_eq!(status, 400, "{answer}");
    // Removing a node that is not a member changes nothing and says so.
    let (code, stdout, stderr) = rucket(&[
        "cluster",
        "remove-node",
        "--endpoint",
        &cluster.node(1).endpoint,
        "--access-key-id",
        ROOT_KEY,
        "--secret-access-key",
        ROOT_SECRET,
        "--id",
        "9",
    ]);
    assert_ne!(code, 0, "{stdout}");
    assert!(stderr.contains("node 9 is not a member of the cluster (members: 1, 2, 4)"), "{stderr}");

    // Each change is in the archive: formed with 1-3, 4 a learner, 4 a voter, 3 gone.
    cluster.stop_all();
    let voters = |line: &String| -> Option<(Vec<u64>, Vec<u64>)> {
        let record: serde_json::Value = serde_json::from_str(line).ok()?;
        (record["event"]["type"] == "MembershipChanged").then(|| {
            let ids = |field: &str| {
                record["event"][field].as_array().unwrap().iter().map(|m| m["id"].as_u64().unwrap()).collect()
            };
            (ids("voters"), ids("learners"))
        })
    };
    let changes: Vec<_> =
        archive_of(&cluster.data_dir(1), cluster.root.path()).iter().filter_map(voters).collect();
    assert_eq!(changes.first(), Some(&(vec![1, 2, 3], vec![])), "{changes:?}");
    assert!(changes.contains(&(vec![1, 2, 3], vec![4])), "{changes:?}");
    assert!(changes.contains(&(vec![1, 2, 3, 4], vec![])), "{changes:?}");
    assert_eq!(changes.last(), Some(&(vec![1, 2, 4], vec![])), "{changes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_with_other_keys_is_refused_with_the_reason() {
    let mut cluster = Cluster::start(2);
    cluster.leader().await;
    // A third node with another root secret: its peers refuse it, and it says why.
    let address = format!("{}:{}", ip(3), free_port(&ip(3)));
    let dir = cluster.dir(3);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rucket"))
        .args(["serve", "--node-id", "3", "--listen", "127.0.0.3:0", "--cluster-listen", &address])
        .args(["--peers", &format!("{},3={address}", cluster.peers)])
        .arg("--cluster-secret-file")
        .arg(&cluster.secret)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("RUCKET_ACCESS_KEY_ID", ROOT_KEY)
        .env("RUCKET_SECRET_ACCESS_KEY", "another-secret")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("differ from this node's"), "{stderr}");

    // A node without a cluster secret does not start.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rucket"))
        .args(["serve", "--node-id", "3", "--listen", "127.0.0.3:0", "--peers", &cluster.peers])
        .arg("--cluster-listen")
        .arg(&address)
        .arg("--data-dir")
        .arg(dir.join("data2"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cluster_secret_file"));
    cluster.stop_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_far_behind_catches_up_from_a_snapshot_and_serves_the_same_bytes() {
    // A snapshot every 1,000 entries; the log keeps 100 behind it, so a node that misses
    // 10,000 events can only catch up from a snapshot.
    let mut cluster = Cluster::start_with(3, &["--raft-snapshot-every", "1000"]);
    cluster.leader().await;
    let c1 = client(cluster.node(1));
    c1.create_bucket().bucket("behind").send().await.unwrap();
    for i in 0..20 {
        c1.put_object()
            .bucket("behind")
            .key(format!("before{i}"))
            .body(vec![i; 10].into())
            .send()
            .await
            .unwrap();
    }
    let known = cluster.status(1).await["nodes"][0]["applied"].as_u64().unwrap();
    wait_applied(&cluster, 3, known).await;
    cluster.kill(3);

    // 10,000 PUTs by 16 writers through nodes 1 and 2; every 100th body is a blob file.
    const N: usize = 10_000;
    let body = |i: usize| -> Vec<u8> {
        (0..if i.is_multiple_of(100) { 20_000 } else { 50 }).map(|b| (b + i) as u8).collect()
    };
    let clients = [c1.clone(), client(cluster.node(2))];
    let mut writers = Vec::new();
    for w in 0..16 {
        let client = clients[w % 2].clone();
        writers.push(tokio::spawn(async move {
            for i in (w..N).step_by(16) {
                let key = format!("k{i:05}");
                client.put_object().bucket("behind").key(&key).body(body(i).into()).send().await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let head = cluster.status(1).await["nodes"][0]["applied"].as_u64().unwrap();
    assert!(head >= known + N as u64, "{head}");

    // Node 3 is killed while it installs the snapshot, and finishes the install when it
    // starts again (its log no longer holds what the snapshot covers).
    cluster.launch(3, &[]);
    let deadline = Instant::now() + WAIT;
    let server_log = cluster.dir(3).join("server.log");
    while !std::fs::read_to_string(&server_log).unwrap_or_default().contains("installing a snapshot") {
        assert!(Instant::now() < deadline, "node 3 never began to install a snapshot");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cluster.kill(3);
    cluster.launch(3, &[]);
    wait_applied(&cluster, 3, head).await;
    let log = std::fs::read_to_string(&server_log).unwrap();
    assert!(log.contains("finishing a snapshot install that a stop interrupted"), "the kill came too late");
    assert!(log.contains("installed a snapshot from the leader"), "node 3 caught up without a snapshot");
    // Only the suffix it lacked travelled: the pull started at its own head.
    let began = log.lines().find(|l| l.contains("installing a snapshot")).unwrap();
    assert!(began.contains(&format!("after={known} ")), "{began}");

    // Before anyone asks for them, node 3 fetches the bodies the snapshot named.
    let blobs = crate::support::files_under(&cluster.data_dir(1).join("blobs"));
    assert_eq!(blobs, N / 100);
    wait_for_blob_files(&cluster, blobs).await;
    // The pass logs its end just after its last fetch lands.
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(&server_log).unwrap_or_default().contains("blob resync pass done") {
        assert!(Instant::now() < deadline, "the bodies arrived another way");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Node 3 serves the same bytes: every blob object and a sample of the others.
    let c3 = client(cluster.node(3));
    for i in (0..N).filter(|i| i % 100 == 0 || i % 37 == 1) {
        assert_eq!(get(&c3, "behind", &format!("k{i:05}")).await, body(i), "k{i:05}");
    }

    // Node 4 joins empty: it copies the archive, then folds it whole. Killed during the
    // install, it finishes it when it starts again.
    cluster.launch(4, &[]);
    let add = [
        "cluster".to_owned(),
        "add-node".into(),
        "--endpoint".into(),
        cluster.node(1).endpoint.clone(),
        "--access-key-id".into(),
        ROOT_KEY.into(),
        "--secret-access-key".into(),
        ROOT_SECRET.into(),
        "--id".into(),
        "4".into(),
        "--address".into(),
        cluster.addresses[&4].clone(),
    ];
    // The call returns once node 4 has caught up and become a voter.
    let joined = std::thread::spawn(move || rucket(&add.iter().map(String::as_str).collect::<Vec<_>>()));
    let fourth_log = cluster.dir(4).join("server.log");
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(&fourth_log).unwrap_or_default().contains("installing a snapshot") {
        assert!(Instant::now() < deadline, "node 4 never began to install a snapshot");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cluster.kill(4);
    cluster.launch(4, &[]);
    let (code, stdout, stderr) = joined.join().unwrap();
    assert_eq!(code, 0, "{stdout}{stderr}");
    wait_applied(&cluster, 4, head).await;
    let log = std::fs::read_to_string(&fourth_log).unwrap();
    assert!(log.contains("finishing a snapshot install that a stop interrupted"), "the kill came too late");
    let began = log.lines().find(|l| l.contains("installing a snapshot")).unwrap();
    assert!(began.contains("after=0 ") && began.contains("copying=true"), "{began}");
    assert!(log.contains("folded the copied archive"), "node 4 folded page by page");
    let c4 = client(cluster.node(4));
    for i in (0..N).filter(|i| i % 37 == 2) {
        assert_eq!(get(&c4, "behind", &format!("k{i:05}")).await, body(i), "k{i:05}");
    }

    cluster.stop_all();
    let reference = archive_of(&cluster.data_dir(1), cluster.root.path());
    for id in [3, 4] {
        let other = archive_of(&cluster.data_dir(id), cluster.root.path());
        let first_difference = reference.iter().zip(&other).position(|(a, b)| a != b);
        assert!(
            other.len() == reference.len() && first_difference.is_none(),
            "node {id} diverged: {} events against {}, first difference at {first_difference:?}: {:?} / {:?}",
            other.len(),
            reference.len(),
            first_difference.map(|i| &reference[i]),
            first_difference.map(|i| &other[i]),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_with_local_reads_serves_what_it_holds_without_a_quorum() {
    let mut cluster = Cluster::start_with(3, &["--read-consistency", "local"]);
    cluster.leader().await;
    let c1 = client(cluster.node(1));
    c1.create_bucket().bucket("stale").send().await.unwrap();
    let big: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    c1.put_object().bucket("stale").key("big").body(big.clone().into()).send().await.unwrap();
    c1.put_object().bucket("stale").key("small").body(b"tiny".to_vec().into()).send().await.unwrap();
    let head = cluster.status(1).await["nodes"][0]["applied"].as_u64().unwrap();
    wait_applied(&cluster, 3, head).await;
    wait_for_blob_files(&cluster, 1).await;

    // Every node pings every other once a second: all up.
    let states = |status: &serde_json::Value| -> Vec<(u64, String)> {
        let nodes = status["nodes"].as_array().unwrap();
        nodes.iter().map(|n| (n["id"].as_u64().unwrap(), n["state"].as_str().unwrap().to_owned())).collect()
    };
    let up = [1, 2, 3].map(|id| (id, "up".to_owned())).to_vec();
    wait_for_states(&cluster, 3, &up).await;

    // Nodes 1 and 2 gone: node 3 has no leader, yet it answers reads from what it holds
    // (a linearizable node answers 503, see the partition test).
    cluster.kill(1);
    cluster.kill(2);
    // Its status names them suspect, then down once they have been silent for 5 s.
    let status = cluster.status(3).await;
    let seen = states(&status);
    assert_eq!(seen[2], (3, "up".to_owned()), "{status}");
    assert!(seen[..2].iter().all(|(_, s)| s == "suspect" || s == "down"), "{status}");
    let down = vec![(1, "down".to_owned()), (2, "down".to_owned()), (3, "up".to_owned())];
    wait_for_states(&cluster, 3, &down).await;
    let c3 = client(cluster.node(3));
    assert_eq!(get(&c3, "stale", "big").await, big);
    assert_eq!(get(&c3, "stale", "small").await, b"tiny");
    let listed = c3.list_objects_v2().bucket("stale").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["big", "small"]);
    cluster.stop_all();
}

/// The reserve no disk here has free: a node started with it takes no new bytes.
const NO_ROOM: (&str, &str) = ("RUCKET_DISK_RESERVE_BYTES", "1152921504606846976");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_that_reaches_too_few_nodes_is_refused_and_nothing_is_written() {
    let mut cluster = Cluster::start(3);
    cluster.leader().await;
    let c1 = client(cluster.node(1));
    c1.create_bucket().bucket("copies").send().await.unwrap();
    // Nodes 2 and 3 keep voting and applying, but refuse every blob copy (their volumes
    // are below the reserve).
    for id in [2, 3] {
        cluster.kill(id);
        cluster.launch(id, &[NO_ROOM]);
    }
    cluster.leader().await;
    let blobs_1 = cluster.data_dir(1).join("blobs");
    let files_before = crate::support::files_under(&blobs_1);

    let big: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    let refused = c1.put_object().bucket("copies").key("big").body(big.clone().into()).send().await;
    let err = refused.expect_err("a body on one node of three is not acknowledged");
    assert_eq!(crate::support::status(&err), 503, "{err:?}");
    let text = format!("{:?}", err.into_service_error());
    assert!(text.contains("reached 1 of the 2 nodes"), "{text}");
    assert!(text.contains("below its reserve"), "the refusal names the peers' reason: {text}");
    // Nothing was proposed, and the receiving node kept no bytes.
    for id in 1..=3 {
        let head = client(cluster.node(id)).head_object().bucket("copies").key("big").send().await;
        assert_eq!(crate::support::status(&head.unwrap_err()), 404, "node {id} knows the refused key");
    }
    assert_eq!(crate::support::files_under(&blobs_1), files_before, "the refused body's file is gone");
    // A small body travels in the log itself and needs no copies.
    c1.put_object().bucket("copies").key("small").body(b"tiny".to_vec().into()).send().await.unwrap();

    // With room on one more node, the same write reaches a majority.
    cluster.kill(3);
    cluster.launch(3, &[]);
    cluster.leader().await;
    c1.put_object().bucket("copies").key("big").body(big.clone().into()).send().await.unwrap();
    assert_eq!(get(&client(cluster.node(3)), "copies", "big").await, big);
    // Node 2, below its reserve, restarts: its resync pass finds the body missing and
    // fetches nothing in the background.
    cluster.kill(2);
    cluster.launch(2, &[NO_ROOM]);
    let log = cluster.dir(2).join("server.log");
    let deadline = Instant::now() + WAIT;
    let pass = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("blob resync pass done")) {
            break line.to_owned();
        }
        assert!(Instant::now() < deadline, "node 2 ran no resync pass: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        pass.contains("fetched=0") && pass.contains("left=1") && pass.contains("below its reserve"),
        "{pass}"
    );
    assert_eq!(crate::support::files_under(&cluster.data_dir(2).join("blobs")), 0);
    // A read still fetches the body it needs.
    assert_eq!(get(&client(cluster.node(2)), "copies", "big").await, big);
    assert_eq!(get(&client(cluster.node(2)), "copies", "small").await, b"tiny");
    cluster.stop_all();
}

/// Waits until node `id`'s status shows these members' states (id, state), in id order.
async fn wait_for_states(cluster: &Cluster, id: u64, want: &[(u64, String)]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = cluster.status(id).await;
        let nodes = status["nodes"].as_array().unwrap();
        let seen: Vec<(u64, String)> = nodes
            .iter()
            .map(|n| (n["id"].as_u64().unwrap(), n["state"].as_str().unwrap().to_owned()))
            .collect();
        if seen == want {
            return;
        }
        assert!(Instant::now() < deadline, "node {id} shows {seen:?}, not {want:?}: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until node `id` has applied `position`.
async fn wait_applied(cluster: &Cluster, id: u64, position: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = cluster.status(id).await;
        let me = status["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap().clone();
        if me["applied"].as_u64().unwrap_or_default() >= position {
            return;
        }
        assert!(Instant::now() < deadline, "node {id} did not reach {position}: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `ip` with `args` in the calling thread's network namespace.
fn ip_command(args: &str) {
    let out = std::process::Command::new("ip").args(args.split_whitespace()).output().expect("run ip");
    assert!(out.status.success(), "ip {args}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Blackholes traffic between `node` and each of `others`, both ways (new connections
/// fail, open ones stall), or restores it.
fn cut(node: u64, others: &[u64], on: bool) {
    for other in others {
        for (from, to) in [(node, *other), (*other, node)] {
            let verb = if on { "add" } else { "del" };
            ip_command(&format!("rule {verb} from {} to {} blackhole pref 100", ip(from), ip(to)));
        }
    }
}

#[test]
fn a_partitioned_minority_stops_acknowledging_and_everyone_converges_after_healing() {
    // The test runs in a network namespace of its own (a thread that unshares it, whose
    // runtime threads and child processes inherit it), so its `ip rule` cuts touch
    // nothing else on the machine.
    let outcome = std::thread::spawn(|| {
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
            return Err(format!("this machine does not allow a network namespace here (unshare: {e})"));
        }
        match std::process::Command::new("ip").args(["link", "set", "lo", "up"]).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return Err(format!("`ip link set lo up` failed: {}", String::from_utf8_lossy(&out.stderr)))
            }
            Err(e) => return Err(format!("iproute2 (`ip`) is not installed: {e}")),
        }
        // Rules by source address need the local table consulted after them.
        ip_command("rule add pref 1000 lookup local");
        ip_command("rule del pref 0");
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        runtime.block_on(partition_scenario());
        Ok(())
    })
    .join()
    .expect("the partition scenario passed");
    if let Err(reason) = outcome {
        eprintln!("SKIPPED a_partitioned_minority_stops_acknowledging_and_everyone_converges_after_healing: {reason}");
    }
}

async fn partition_scenario() {
    // Nodes 2, 3 and 4 on 127.0.0.2-4; the test's clients call from 127.0.0.1, which no
    // cut touches.
    let mut cluster = Cluster::start_ids(&[2, 3, 4], &[]);
    let leader = cluster.leader().await;
    client(cluster.node(2)).create_bucket().bucket("split").send().await.unwrap();
    client(cluster.node(3))
        .put_object()
        .bucket("split")
        .key("before")
        .body(b"b".to_vec().into())
        .send()
        .await
        .unwrap();

    // Cut the leader off: it becomes the minority.
    let majority: Vec<u64> = [2, 3, 4].into_iter().filter(|id| *id != leader).collect();
    cut(leader, &majority, true);
    let cut_at = Instant::now();

    // The minority acknowledges nothing...
    let minority = client(cluster.node(leader));
    let refused = tokio::spawn(async move {
        minority.put_object().bucket("split").key("minority").body(b"m".to_vec().into()).send().await
    });
    // ...while the majority elects a leader and goes on.
    let mut acked = Vec::new();
    for i in 0..30 {
        let c = client(cluster.node(majority[i % 2]));
        let key = format!("majority-{i:02}");
        let deadline = Instant::now() + WAIT;
        loop {
            match c.put_object().bucket("split").key(&key).body(key.clone().into_bytes().into()).send().await
            {
                Ok(_) => break,
                Err(e) => {
                    assert!(Instant::now() < deadline, "the majority took no write: {e:?}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        acked.push(key);
    }
    eprintln!("the majority acknowledged 30 writes {:?} after the cut", cut_at.elapsed());
    let refused = refused.await.unwrap();
    assert!(refused.is_err(), "the cut-off node acknowledged a write: {refused:?}");
    assert_eq!(crate::support::status(&refused.unwrap_err()), 503);

    // Heal: every node converges, and every acknowledged write is everywhere.
    cut(leader, &majority, false);
    let deadline = Instant::now() + WAIT;
    let head = loop {
        let heads: Vec<u64> = {
            let mut heads = Vec::new();
            for id in [2, 3, 4] {
                let status = cluster.status(id).await;
                let me = status["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).cloned().unwrap();
                heads.push(me["applied"].as_u64().unwrap_or_default());
            }
            heads
        };
        if heads.iter().all(|h| *h == heads[0]) && heads[0] >= 32 {
            break heads[0];
        }
        assert!(Instant::now() < deadline, "the nodes did not converge: {heads:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("converged at position {head} after healing");
    let healed = client(cluster.node(leader));
    for key in &acked {
        assert_eq!(get(&healed, "split", key).await, key.as_bytes(), "{key}");
    }
    assert_eq!(get(&healed, "split", "before").await, b"b");
    // The write the cut-off leader could not commit never appears.
    let lost = healed.head_object().bucket("split").key("minority").send().await;
    assert!(lost.is_err(), "an unacknowledged write of the minority was applied: {lost:?}");
    cluster.stop_all();
    let reference = archive_of(&cluster.data_dir(2), cluster.root.path());
    for id in [3, 4] {
        assert_eq!(archive_of(&cluster.data_dir(id), cluster.root.path()), reference, "node {id} diverged");
    }
}

/// Runs `rucket kms ARGS` against `server` as root; its JSON answer.
fn rucket_kms(server: &Server, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rucket"))
        .arg("kms")
        .args(args)
        .args(["--endpoint", &server.endpoint])
        .env("RUCKET_ACCESS_KEY_ID", ROOT_KEY)
        .env("RUCKET_SECRET_ACCESS_KEY", ROOT_SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// SSE-KMS and access logging across nodes: the default key made through a follower, a
/// key made on one node used at once through another (a read barrier finds it), a key
/// disabled on one node refusing writes through another, and access records of requests
/// served by a follower delivered into the log and read through a third node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kms_keys_and_access_logs_work_through_any_node() {
    use aws_sdk_s3::types::{BucketLoggingStatus, LoggingEnabled, ServerSideEncryption};

    let keys = tempfile::tempdir().unwrap();
    let master = crate::support::write_master_key(keys.path(), "master", 7);
    let cluster = Cluster::start_with(3, &["--master-key-file", &master, "--access-log-flush-ms", "200"]);
    let leader = cluster.leader().await;
    let followers: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let (f1, f2) = (client(cluster.node(followers[0])), client(cluster.node(followers[1])));
    let on_leader = client(cluster.node(leader));
    on_leader.create_bucket().bucket("kms-shared").send().await.unwrap();

    let put = f1
        .put_object()
        .bucket("kms-shared")
        .key("default")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(b"under aws/s3".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(put.ssekms_key_id(), Some("aws/s3"), "the default key, made through a follower");
    assert_eq!(get(&f2, "kms-shared", "default").await, b"under aws/s3");

    rucket_kms(cluster.node(leader), &["create", "--id", "app"]);
    let put = f2
        .put_object()
        .bucket("kms-shared")
        .key("named")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("app")
        .body(b"under app".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(put.ssekms_key_id(), Some("app"));
    assert_eq!(get(&f1, "kms-shared", "named").await, b"under app");
    rucket_kms(cluster.node(followers[0]), &["disable", "app"]);
    let refused = f2
        .put_object()
        .bucket("kms-shared")
        .key("late")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("app")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(crate::support::code(&refused), "KMS.DisabledException");

    on_leader.create_bucket().bucket("kms-logs").send().await.unwrap();
    let enabled = LoggingEnabled::builder().target_bucket("kms-logs").target_prefix("l/").build().unwrap();
    on_leader
        .put_bucket_logging()
        .bucket("kms-shared")
        .bucket_logging_status(BucketLoggingStatus::builder().logging_enabled(enabled).build())
        .send()
        .await
        .unwrap();
    // A follower logs once it has applied the configuration (its own writes wait for
    // their apply only so long), so it is asked until a record comes back.
    let deadline = Instant::now() + WAIT;
    for attempt in 0.. {
        let key = format!("logged-{attempt}");
        f1.put_object().bucket("kms-shared").key(&key).body(b"l".to_vec().into()).send().await.unwrap();
        let listed = f2.list_objects_v2().bucket("kms-logs").prefix("l/").send().await.unwrap();
        let mut text = String::new();
        for object in listed.contents() {
            let bytes = get(&f2, "kms-logs", object.key().unwrap()).await;
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
        if text.lines().any(|l| l.contains(" REST.PUT.OBJECT logged-")) {
            break;
        }
        assert!(Instant::now() < deadline, "the follower's access records never arrived: {text}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
