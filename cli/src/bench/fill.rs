//! `rucket bench --op fill`: how the store behaves as it fills. PUTs `--count` objects,
//! reporting the PUT rate over each `--every` objects; then, with `--data-dir`, the data
//! directory's size against the object bytes stored; then GET and LIST rates on the
//! filled store, each for `--duration`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;

use super::client::S3Client;
use super::{parse_duration, BenchArgs, Payloads};

#[derive(Debug, serde::Serialize)]
pub struct FillReport {
    pub endpoint: String,
    pub size: String,
    pub concurrency: usize,
    /// The keys' prefix (`--reread` takes it to read this fill again).
    pub prefix: String,
    pub objects: u64,
    pub object_bytes: u64,
    /// PUTs per second over each interval of `every` objects, in order.
    pub every: u64,
    pub put_rates: Vec<f64>,
    pub data_dir_bytes: Option<u64>,
    /// The data directory's size divided by the object bytes.
    pub space_ratio: Option<f64>,
    pub get_ops_per_second: f64,
    /// LIST requests (pages of up to 1,000 keys) per second.
    pub list_pages_per_second: f64,
    pub errors: u64,
    pub first_error: Option<String>,
}

/// Bytes in the files under `dir`, as allocated on disk.
fn disk_usage(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { disk_usage(&entry.path())? } else { meta.blocks() * 512 };
    }
    Ok(total)
}

pub async fn run(
    args: &BenchArgs,
    client: S3Client,
    payloads: Arc<Payloads>,
    prefix: &str,
) -> anyhow::Result<()> {
    let total = args
        .count
        .context("--op fill needs --count (the objects to store, or that the reread fill stored)")?;
    let every = args.every.max(1);
    let errors = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let record = {
        let (errors, first_error) = (Arc::clone(&errors), Arc::clone(&first_error));
        move |e: anyhow::Error| {
            errors.fetch_add(1, Ordering::Relaxed);
            first_error.lock().unwrap().get_or_insert_with(|| format!("{e:#}"));
        }
    };

    // Fill: every completed PUT counts towards its interval; an interval's rate is its
    // objects over the time between its first and last completion.
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let marks: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(vec![Instant::now()]));
    let mut workers = Vec::new();
    // A reread stores nothing: its workers find no object left to PUT.
    let to_put = if args.reread.is_some() { 0 } else { total };
    for _ in 0..args.concurrency {
        let (client, payloads, next, done, bytes, marks, record) = (
            client.clone(),
            Arc::clone(&payloads),
            Arc::clone(&next),
            Arc::clone(&done),
            Arc::clone(&bytes),
            Arc::clone(&marks),
            record.clone(),
        );
        let (bucket, prefix) = (args.bucket.clone(), prefix.to_owned());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= to_put {
                    return;
                }
                let body = payloads.next();
                let len = body.len() as u64;
                match client.put(&bucket, &format!("{prefix}obj-{i:09}"), body).await {
                    Ok(()) => {
                        bytes.fetch_add(len, Ordering::Relaxed);
                    }
                    Err(e) => record(e),
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(every) || n == total {
                    marks.lock().unwrap().push(Instant::now());
                    let (k, secs) = (n.div_ceil(every), marks.lock().unwrap().first().unwrap().elapsed());
                    eprintln!("[{:7.1}s] {n} objects (interval {k})", secs.as_secs_f64());
                }
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let marks = marks.lock().unwrap().clone();
    let put_rates: Vec<f64> = marks
        .windows(2)
        .enumerate()
        .map(|(k, w)| {
            let objects = every.min(total - k as u64 * every);
            objects as f64 / w[1].duration_since(w[0]).as_secs_f64()
        })
        .collect();
    let object_bytes = bytes.load(Ordering::Relaxed);

    let data_dir_bytes = match &args.data_dir {
        Some(dir) => Some(disk_usage(dir).with_context(|| format!("measuring {}", dir.display()))?),
        None => None,
    };
    let space_ratio = data_dir_bytes.filter(|_| object_bytes > 0).map(|d| d as f64 / object_bytes as f64);

    // Reads on the filled store: random GETs, then LIST pages from random start points.
    let duration = parse_duration(&args.duration)?;
    let read_rate = |list: bool| {
        let (client, record) = (client.clone(), record.clone());
        let (bucket, prefix, concurrency) = (args.bucket.clone(), prefix.to_owned(), args.concurrency);
        async move {
            let started = Instant::now();
            let ops = Arc::new(AtomicU64::new(0));
            let mut workers = Vec::new();
            for worker in 0..concurrency {
                let (client, record, ops, bucket, prefix) =
                    (client.clone(), record.clone(), Arc::clone(&ops), bucket.clone(), prefix.clone());
                workers.push(tokio::spawn(async move {
                    let mut rng = 0x9e37_79b9u64 ^ (worker as u64 + 1).wrapping_mul(0xff51_afd7_ed55_8ccd);
                    while started.elapsed() < duration {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        let key = format!("{prefix}obj-{:09}", rng % total);
                        let result = if list {
                            client.list_page_after(&bucket, &prefix, &key).await.map(|_| ())
                        } else {
                            client.get(&bucket, &key).await.map(|_| ())
                        };
                        match result {
                            Ok(()) => {
                                ops.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => record(e),
                        }
                    }
                }));
            }
            for worker in workers {
                let _ = worker.await;
            }
            ops.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
        }
    };
    eprintln!("GETs for {duration:?} ...");
    let get_ops_per_second = read_rate(false).await;
    eprintln!("LISTs for {duration:?} ...");
    let list_pages_per_second = read_rate(true).await;

    let report = FillReport {
        endpoint: args.endpoint.clone(),
        size: args.size.clone(),
        concurrency: args.concurrency,
        prefix: prefix.to_owned(),
        objects: total,
        object_bytes,
        every,
        put_rates,
        data_dir_bytes,
        space_ratio,
        get_ops_per_second,
        list_pages_per_second,
        errors: errors.load(Ordering::Relaxed),
        first_error: first_error.lock().unwrap().clone(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "fill {} x {} at c{} under {}",
            report.objects, report.size, report.concurrency, report.prefix
        );
        for (k, rate) in report.put_rates.iter().enumerate() {
            let from = k as u64 * every;
            println!("  PUT objects {from:>9}..{:<9} {rate:>10.0} ops/s", (from + every).min(total));
        }
        if let (Some(d), Some(r)) = (report.data_dir_bytes, report.space_ratio) {
            println!(
                "  data dir {:.1} MiB for {:.1} MiB of objects: {r:.2}x",
                d as f64 / 1048576.0,
                object_bytes as f64 / 1048576.0
            );
        }
        println!("  GET  {get_ops_per_second:>10.0} ops/s");
        println!("  LIST {list_pages_per_second:>10.0} pages/s");
        if report.errors > 0 {
            println!("  errors: {} (first: {})", report.errors, report.first_error.as_deref().unwrap_or(""));
        }
    }
    Ok(())
}
