//! `rucket bench`: a closed-loop S3 load generator for any endpoint (warp-like), and
//! `rucket bench baseline`: what this machine itself can do, to state results as ratios.

mod baseline;
mod client;
mod fill;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};

use client::S3Client;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchCommand {
    #[command(subcommand)]
    pub baseline: Option<BenchSub>,
    #[command(flatten)]
    pub run: BenchArgs,
}

#[derive(Subcommand, Debug)]
pub enum BenchSub {
    /// Measure this machine: 4 KiB append+fdatasync rate, one-core MD5 and SHA-256.
    Baseline(baseline::BaselineArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Put,
    Get,
    Stat,
    Delete,
    List,
    /// 45 % get, 30 % stat, 15 % put, 10 % delete over a prepared set.
    Mixed,
    /// PUT `--count` objects reporting the rate every `--every`, then the data dir's size
    /// (`--data-dir`), then GET and LIST rates on the filled store (`--duration` each).
    Fill,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    pub endpoint: String,
    #[arg(long, env = "RUCKET_ACCESS_KEY_ID")]
    pub access_key: Option<String>,
    #[arg(long, env = "RUCKET_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    #[arg(long, default_value = "rucket-bench")]
    pub bucket: String,
    #[arg(long, value_enum, default_value = "put")]
    pub op: Op,
    /// Object size: bytes, KiB or MiB (`4KiB`, `1MiB`), or a range (`1KiB-1MiB`).
    #[arg(long, default_value = "4KiB")]
    pub size: String,
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// How long to run (`10s`, `2m`), unless `--count` is given.
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// Stop after this many operations instead of after `--duration`.
    #[arg(long)]
    pub count: Option<u64>,
    /// Send UNSIGNED-PAYLOAD instead of hashing each body for the signature.
    #[arg(long)]
    pub unsigned_payload: bool,
    /// Objects prepared before get, stat, delete, list and mixed runs.
    #[arg(long, default_value_t = 1000)]
    pub objects: u64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Fill runs: report the PUT rate over each this many objects.
    #[arg(long, default_value_t = 100_000)]
    pub every: u64,
    /// Fill runs: the server's data directory, to report its size against the bytes
    /// stored (the server must run on this machine).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Fill runs: store nothing; time GETs and LISTs over the `--count` objects an earlier
    /// fill stored under this prefix (its report's `prefix`), for repeated read figures
    /// on one filled store.
    #[arg(long)]
    pub reread: Option<String>,
    /// Hold this many event-feed subscriptions (SSE) open during the run, to measure
    /// what subscribers cost the write path.
    #[arg(long, default_value_t = 0)]
    pub subscribers: usize,
    /// The bucket the subscribers follow: by default an idle one (`<bucket>-idle`), so
    /// they receive nothing; give the load's bucket to have each receive every event.
    #[arg(long)]
    pub subscribe_to: Option<String>,
}

/// Opens `--subscribers` SSE subscriptions and drains them in the background; returns
/// the count of events they receive.
async fn subscribe(
    args: &BenchArgs,
    client: &S3Client,
    key: &str,
    secret: &str,
) -> anyhow::Result<Arc<AtomicU64>> {
    let received = Arc::new(AtomicU64::new(0));
    if args.subscribers == 0 {
        return Ok(received);
    }
    let bucket = args.subscribe_to.clone().unwrap_or_else(|| format!("{}-idle", args.bucket));
    client.create_bucket(&bucket).await?;
    let url = format!("{}/_rucket/v1/events?bucket={bucket}", args.endpoint.trim_end_matches('/'));
    let http = reqwest::Client::new();
    eprintln!("opening {} feed subscriptions to {bucket} ...", args.subscribers);
    for _ in 0..args.subscribers {
        let mut request =
            crate::sigv4::Signer::new(key, secret, &args.region).request("GET", &url, Bytes::new())?;
        request.headers_mut().insert("accept", http::HeaderValue::from_static("text/event-stream"));
        let mut response = http.execute(request).await.context("subscribing")?;
        anyhow::ensure!(response.status().is_success(), "subscribing: {}", response.status());
        let received = Arc::clone(&received);
        tokio::spawn(async move {
            while let Ok(Some(chunk)) = response.chunk().await {
                let events = chunk.windows(4).filter(|w| w == b"id: ").count() as u64;
                let heartbeats = chunk.windows(11).filter(|w| w == b": heartbeat").count() as u64;
                received.fetch_add(events - heartbeats.min(events), Ordering::Relaxed);
            }
        });
    }
    Ok(received)
}

pub fn parse_size(text: &str) -> anyhow::Result<u64> {
    let t = text.trim();
    let (number, unit) = t.find(|c: char| !c.is_ascii_digit()).map_or((t, ""), |i| t.split_at(i));
    let n: u64 = number.parse().with_context(|| format!("size {text:?}"))?;
    let factor = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => anyhow::bail!("unknown size unit {other:?} in {text:?}"),
    };
    Ok(n * factor)
}

fn parse_sizes(text: &str) -> anyhow::Result<(u64, u64)> {
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse_size(a)?, parse_size(b)?);
            anyhow::ensure!(a <= b, "size range {text:?} runs backwards");
            Ok((a, b))
        }
        None => {
            let n = parse_size(text)?;
            Ok((n, n))
        }
    }
}

fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let t = text.trim();
    let (number, unit) =
        t.find(|c: char| !c.is_ascii_digit() && c != '.').map_or((t, "s"), |i| t.split_at(i));
    let n: f64 = number.parse().with_context(|| format!("duration {text:?}"))?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        other => anyhow::bail!("unknown duration unit {other:?}"),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// Bodies at least this large are cut from the pool without a copy.
const LARGE_BODY: u64 = 1 << 20;

/// Random bytes to cut object bodies from; each body starts at its own offset and
/// carries its own counter, so no two objects share content.
struct Payloads {
    pool: Bytes,
    counter: AtomicU64,
    min: u64,
    max: u64,
}

impl Payloads {
    fn new(min: u64, max: u64) -> Self {
        let len = (max as usize).max(1) + (8 << 20);
        let mut state = 0x2545_f491_4f6c_dd1du64 ^ std::process::id() as u64;
        let mut pool = Vec::with_capacity(len);
        while pool.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            pool.extend_from_slice(&state.to_le_bytes());
        }
        pool.truncate(len);
        Self { pool: Bytes::from(pool), counter: AtomicU64::new(0), min, max }
    }

    fn next(&self) -> Bytes {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mixed = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let size = if self.max > self.min { self.min + mixed % (self.max - self.min + 1) } else { self.min };
        let offset = (mixed >> 16) as usize % (self.pool.len() - size as usize).max(1);
        if size >= LARGE_BODY {
            // Large bodies differ by their offset into the pool; sharing the pool's bytes
            // keeps the client's memory flat (16 concurrent 1 GiB PUTs need no 16 GiB).
            return self.pool.slice(offset..offset + size as usize);
        }
        let slice = &self.pool[offset..offset + size as usize];
        let mut body = slice.to_vec();
        let stamp = n.to_le_bytes();
        let k = stamp.len().min(body.len());
        body[..k].copy_from_slice(&stamp[..k]);
        Bytes::from(body)
    }
}

#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub op: Op,
    pub endpoint: String,
    pub size: String,
    pub concurrency: usize,
    pub unsigned_payload: bool,
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    pub ops_per_second: f64,
    pub megabytes_per_second: f64,
    pub latency_ms: Latency,
    pub client_cpu_seconds: f64,
    pub first_error: Option<String>,
    /// Feed subscriptions held open during the run, and the events they received.
    pub subscribers: usize,
    pub subscriber_events: u64,
}

#[derive(Debug, serde::Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn cpu_seconds() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| {
            let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            t(u.user_time()) + t(u.system_time())
        })
        .unwrap_or_default()
}

pub fn run(command: BenchCommand) -> std::process::ExitCode {
    let result = match command.baseline {
        Some(BenchSub::Baseline(args)) => baseline::run(args),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(run_load(command.run))),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run_load(args: BenchArgs) -> anyhow::Result<()> {
    let key = args.access_key.clone().context("--access-key (or RUCKET_ACCESS_KEY_ID) is required")?;
    let secret = args.secret_key.clone().context("--secret-key (or RUCKET_SECRET_ACCESS_KEY) is required")?;
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let client = S3Client::new(&args.endpoint, &key, &secret, &args.region, args.unsigned_payload)?;
    let (min, max) = parse_sizes(&args.size)?;
    let payloads = Arc::new(Payloads::new(min, max));
    let run_id = format!("{:08x}", rand::random::<u32>());
    client.create_bucket(&args.bucket).await?;

    anyhow::ensure!(args.reread.is_none() || args.op == Op::Fill, "--reread is for --op fill");
    let prefix = args.reread.clone().unwrap_or_else(|| format!("bench-{run_id}/"));
    if args.op == Op::Fill {
        return fill::run(&args, client, payloads, &prefix).await;
    }
    // Prepare objects for the ops that read or delete them.
    let prepared = match args.op {
        Op::Put => 0,
        Op::Delete => args.count.unwrap_or(args.objects).max(args.objects),
        _ => args.objects,
    };
    if prepared > 0 {
        eprintln!("preparing {prepared} objects of {} ...", args.size);
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..args.concurrency.min(64) {
            let (client, payloads, next, bucket, prefix) =
                (client.clone(), payloads.clone(), next.clone(), args.bucket.clone(), prefix.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= prepared {
                        return anyhow::Ok(());
                    }
                    client.put(&bucket, &format!("{prefix}obj-{i:08}"), payloads.next()).await?;
                }
            }));
        }
        for task in tasks {
            task.await??;
        }
    }

    let subscribers = subscribe(&args, &client, &key, &secret).await?;

    let deadline = parse_duration(&args.duration)?;
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let done_ops = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let next_index = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for worker in 0..args.concurrency {
        let (client, payloads, done_ops, stop, next_index) =
            (client.clone(), payloads.clone(), done_ops.clone(), stop.clone(), next_index.clone());
        let (bucket, prefix, op, count) = (args.bucket.clone(), prefix.clone(), args.op, args.count);
        let concurrency = args.concurrency;
        workers.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::new();
            let (mut bytes, mut errors, mut first_error) = (0u64, 0u64, None);
            let mut seq = 0u64;
            let mut rng = 0x9e37_79b9u64 ^ (worker as u64 + 1).wrapping_mul(0xff51_afd7_ed55_8ccd);
            // In a mixed run each worker owns every `concurrency`-th prepared object and
            // tracks which of them exist, so it reads only what is there and no two
            // workers race on one key.
            let owned: Vec<u64> = (worker as u64..prepared).step_by(concurrency).collect();
            let mut present = vec![true; owned.len()];
            loop {
                if stop.load(Ordering::Relaxed) || started.elapsed() >= deadline && count.is_none() {
                    break;
                }
                let n = done_ops.fetch_add(1, Ordering::Relaxed);
                if count.is_some_and(|c| n >= c) {
                    break;
                }
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let pick = |r: u64| format!("{prefix}obj-{:08}", r % prepared.max(1));
                let name = |i: u64| format!("{prefix}obj-{i:08}");
                // The owned object a mixed operation acts on: an existing one for reads and
                // deletes, a missing one (if any) for puts.
                let mut chosen: Option<usize> = None;
                let effective = match op {
                    Op::Mixed => {
                        let wanted = match rng % 100 {
                            0..=44 => Op::Get,
                            45..=74 => Op::Stat,
                            75..=89 => Op::Put,
                            _ => Op::Delete,
                        };
                        let start = (rng >> 8) as usize % owned.len().max(1);
                        let find = |want_present: bool| {
                            (0..owned.len())
                                .map(|d| (start + d) % owned.len())
                                .find(|&i| present[i] == want_present)
                        };
                        match wanted {
                            Op::Put => {
                                chosen = find(false).or((!owned.is_empty()).then_some(start));
                                Op::Put
                            }
                            read_or_delete => match find(true) {
                                Some(i) => {
                                    chosen = Some(i);
                                    read_or_delete
                                }
                                // Nothing of ours exists any more: write instead.
                                None => {
                                    chosen = find(false);
                                    Op::Put
                                }
                            },
                        }
                    }
                    other => other,
                };
                let mixed_key = chosen.map(|i| name(owned[i]));
                let t = Instant::now();
                let result: anyhow::Result<u64> = match effective {
                    Op::Put => {
                        seq += 1;
                        let body = payloads.next();
                        let len = body.len() as u64;
                        let key = mixed_key.clone().unwrap_or_else(|| format!("{prefix}w{worker}-{seq}"));
                        client.put(&bucket, &key, body).await.map(|()| len)
                    }
                    Op::Get => {
                        client.get(&bucket, &mixed_key.clone().unwrap_or_else(|| pick(rng >> 8))).await
                    }
                    Op::Stat => client
                        .stat(&bucket, &mixed_key.clone().unwrap_or_else(|| pick(rng >> 8)))
                        .await
                        .map(|()| 0),
                    Op::Delete => {
                        let key = if let Some(key) = mixed_key.clone() {
                            key
                        } else {
                            let i = next_index.fetch_add(1, Ordering::Relaxed);
                            if i >= prepared {
                                stop.store(true, Ordering::Relaxed);
                                break;
                            }
                            format!("{prefix}obj-{i:08}")
                        };
                        client.delete(&bucket, &key).await.map(|()| 0)
                    }
                    Op::List => {
                        let mut token = None;
                        let mut keys = 0;
                        loop {
                            match client.list_page(&bucket, &prefix, token.as_deref()).await {
                                Ok((n, next)) => {
                                    keys += n;
                                    token = next;
                                    if token.is_none() {
                                        break Ok(keys);
                                    }
                                }
                                Err(e) => break Err(e),
                            }
                        }
                    }
                    Op::Mixed => unreachable!("mixed picks a concrete operation"),
                    Op::Fill => unreachable!("fill runs on its own"),
                };
                latencies.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                if let (Some(i), true) = (chosen, result.is_ok()) {
                    present[i] = effective != Op::Delete;
                }
                match result {
                    Ok(n) => bytes += n,
                    Err(e) => {
                        errors += 1;
                        if first_error.is_none() {
                            first_error = Some(format!("{e:#}"));
                        }
                    }
                }
            }
            (latencies, bytes, errors, first_error)
        }));
    }
    // A progress line while it runs.
    let progress = {
        let done_ops = done_ops.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let n = done_ops.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64();
                eprint!("\r[{secs:5.1}s] {n} ops, {:.0} ops/s   ", n as f64 / secs);
            }
        })
    };
    let mut latencies = Vec::new();
    let (mut bytes, mut errors, mut first_error) = (0u64, 0u64, None);
    for worker in workers {
        let (l, b, e, f) = worker.await?;
        latencies.extend(l);
        bytes += b;
        errors += e;
        first_error = first_error.or(f);
    }
    progress.abort();
    let seconds = started.elapsed().as_secs_f64();
    let client_cpu_seconds = cpu_seconds() - cpu_before;
    latencies.sort_unstable();
    let ops = latencies.len() as u64;
    let report = Report {
        op: args.op,
        endpoint: args.endpoint.clone(),
        size: args.size.clone(),
        concurrency: args.concurrency,
        unsigned_payload: args.unsigned_payload,
        ops,
        errors,
        seconds,
        ops_per_second: ops as f64 / seconds,
        megabytes_per_second: bytes as f64 / seconds / 1e6,
        latency_ms: Latency {
            p50: percentile(&latencies, 0.50),
            p90: percentile(&latencies, 0.90),
            p99: percentile(&latencies, 0.99),
            max: percentile(&latencies, 1.0),
        },
        client_cpu_seconds,
        first_error,
        subscribers: args.subscribers,
        subscriber_events: subscribers.load(Ordering::Relaxed),
    };
    eprintln!();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("op      size        conc      ops    ops/s     MB/s    p50 ms   p90 ms   p99 ms   max ms  errors  client cpu s");
        println!(
            "{:<7} {:<10} {:>5} {:>8} {:>8.0} {:>8.1} {:>9.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>13.2}",
            format!("{:?}", report.op).to_lowercase(),
            report.size,
            report.concurrency,
            report.ops,
            report.ops_per_second,
            report.megabytes_per_second,
            report.latency_ms.p50,
            report.latency_ms.p90,
            report.latency_ms.p99,
            report.latency_ms.max,
            report.errors,
            report.client_cpu_seconds
        );
        if report.subscribers > 0 {
            println!(
                "{} feed subscribers held open; they received {} events",
                report.subscribers, report.subscriber_events
            );
        }
        if let Some(e) = &report.first_error {
            println!("first error: {e}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert_eq!(parse_sizes("1KiB-2KiB").unwrap(), (1024, 2048));
        assert!(parse_sizes("2KiB-1KiB").is_err());
        assert!(parse_size("4 parsecs").is_err());
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
    }

    #[test]
    fn payloads_differ_and_respect_the_size_range() {
        let payloads = Payloads::new(100, 200);
        let a = payloads.next();
        let b = payloads.next();
        assert_ne!(a, b);
        for _ in 0..100 {
            let p = payloads.next();
            assert!((100..=200).contains(&(p.len() as u64)));
        }
    }
}
