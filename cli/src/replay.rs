//! `rucket replay ...`: operator commands over the event archive.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use rucket_log::replay;
use rucket_projections::DiffKind;
use rucket_schemas::LogPosition;

#[derive(Subcommand, Debug)]
pub enum ReplayCommand {
    /// Fold the whole archive into fresh projections and compare them with the live
    /// ones. Exits 0 when they are equal, 1 when they differ, 2 when the archive cannot
    /// be read. On a stopped node give `--data-dir`; on a running one give `--endpoint`
    /// (root credentials from RUCKET_ACCESS_KEY_ID / RUCKET_SECRET_ACCESS_KEY), and the
    /// server verifies a consistent snapshot while writes go on.
    Verify(VerifyArgs),
    /// Replace the projections with a fresh fold of the archive, atomically: a crash
    /// during the rebuild leaves the old projections. The node must be stopped. With
    /// `--until` and `--out`, write the state as of that moment into a separate data dir
    /// instead (serve it with `rucket serve --read-only`).
    Rebuild(RebuildArgs),
    /// Write the archive (or a range, or one bucket) as JSON Lines: the Rucket rendering
    /// of each event and its exact bytes. Streams at any archive size. The node must be
    /// stopped.
    Export(ExportArgs),
    /// Fold an export into a fresh data dir (its archive and projections). Object bytes
    /// are not events: copy `blobs/` alongside to serve blob-backed objects.
    Import(ImportArgs),
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[arg(long, env = "RUCKET_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Verify a running server instead, such as http://127.0.0.1:9000.
    #[arg(long)]
    pub endpoint: Option<String>,
    #[arg(long, env = "RUCKET_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,
    #[arg(long, env = "RUCKET_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: Option<String>,
    /// The region to sign for.
    #[arg(long, env = "RUCKET_REGION", default_value = "us-east-1")]
    pub region: String,
}

#[derive(Args, Debug)]
pub struct RebuildArgs {
    #[arg(long, env = "RUCKET_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// A log position, or an RFC 3339 time such as 2026-11-24T12:00:00Z.
    #[arg(long, requires = "out")]
    pub until: Option<String>,
    /// Where the point-in-time data dir is written (it must not hold data yet).
    #[arg(long, requires = "until")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[arg(long, env = "RUCKET_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Output file, or `-` for standard output.
    #[arg(long)]
    pub out: PathBuf,
    /// Only events after this position.
    #[arg(long, default_value_t = 0)]
    pub after: u64,
    /// Only events up to this position.
    #[arg(long)]
    pub until: Option<u64>,
    /// Only events of this bucket.
    #[arg(long)]
    pub bucket: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The JSON Lines file written by `rucket replay export`, or `-` for standard input.
    #[arg(long = "in")]
    pub input: PathBuf,
    /// A data dir that holds no log yet.
    #[arg(long)]
    pub data_dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct DataDirArgs {
    /// The server's data directory.
    #[arg(long, env = "RUCKET_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

pub fn run(command: ReplayCommand) -> ExitCode {
    let result = match command {
        ReplayCommand::Verify(args) => verify(args),
        ReplayCommand::Rebuild(args) => rebuild(args),
        ReplayCommand::Export(args) => export(args),
        ReplayCommand::Import(args) => import(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("replay: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A progress line on stderr, at most once a second: position, rate and ETA.
fn progress_printer() -> impl FnMut(LogPosition, u64) {
    let started = Instant::now();
    let mut last_print = Instant::now();
    move |position, total| {
        if last_print.elapsed().as_secs_f64() >= 1.0 {
            last_print = Instant::now();
            let rate = position.0 as f64 / started.elapsed().as_secs_f64().max(1e-9);
            let eta = (total.saturating_sub(position.0)) as f64 / rate.max(1e-9);
            eprint!("\rfolded {position}/{total} events ({rate:.0} events/s, ETA {eta:.0} s)   ");
            let _ = std::io::stderr().flush();
        }
    }
}

fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let db = replay::open_existing(&args.data_dir.join("log"))?;
    let archive = rucket_log::EventArchive::open(&db)?;
    let filter = replay::ExportFilter {
        after: LogPosition(args.after),
        until: args.until.map(LogPosition),
        bucket: args.bucket,
    };
    let written = if args.out.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let n = replay::export(&archive, &filter, &mut out)?;
        out.flush()?;
        n
    } else {
        let file =
            std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let n = replay::export(&archive, &filter, &mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        n
    };
    eprintln!("export: wrote {written} events");
    Ok(ExitCode::SUCCESS)
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data_dir)?;
    let log_dir = args.data_dir.join("log");
    let n = if args.input.as_os_str() == "-" {
        replay::import(std::io::stdin().lock(), &log_dir)?
    } else {
        let file =
            std::fs::File::open(&args.input).with_context(|| format!("opening {}", args.input.display()))?;
        replay::import(std::io::BufReader::new(file), &log_dir)?
    };
    println!("import: ok: folded {n} events into {}", args.data_dir.display());
    Ok(ExitCode::SUCCESS)
}

fn parse_until(value: &str) -> anyhow::Result<replay::Until> {
    if let Ok(position) = value.parse::<u64>() {
        return Ok(replay::Until::Position(LogPosition(position)));
    }
    let time = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("--until {value:?} is neither a log position nor an RFC 3339 time"))?;
    let nanos = u128::try_from(time.unix_timestamp_nanos()).context("--until is before 1970")?;
    Ok(replay::Until::Time(nanos))
}

/// Writes the state as of `until` into `out`, hard-linking the blobs it refers to.
fn point_in_time(data_dir: &std::path::Path, until: &str, out: &std::path::Path) -> anyhow::Result<ExitCode> {
    let until = parse_until(until)?;
    let report = replay::materialize(&data_dir.join("log"), until, &out.join("log"))
        .with_context(|| format!("materializing {} into {}", data_dir.display(), out.display()))?;
    let source = rucket_blobs::BlobStore::open(data_dir.join("blobs"), rucket_blobs::Durability::Strict)?;
    let target = rucket_blobs::BlobStore::open(out.join("blobs"), rucket_blobs::Durability::Strict)?;
    let (mut linked, mut missing) = (0u64, Vec::new());
    for id in &report.referenced_blobs {
        let from = source.path_of(id);
        let to = target.path_of(id);
        match std::fs::hard_link(&from, &to) {
            Ok(()) => linked += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(id.to_string()),
            // Another filesystem: copy instead.
            Err(_) => {
                std::fs::copy(&from, &to).with_context(|| format!("copying blob {id}"))?;
                linked += 1;
            }
        }
    }
    println!(
        "rebuild: ok: {} holds the state at position {} ({linked} blobs linked)",
        out.display(),
        report.position
    );
    if !missing.is_empty() {
        println!(
            "rebuild: {} blobs were already collected (their versions were overwritten or deleted since); \
             those objects list but cannot be read",
            missing.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn rebuild(args: RebuildArgs) -> anyhow::Result<ExitCode> {
    if let (Some(until), Some(out)) = (&args.until, &args.out) {
        return point_in_time(&args.data_dir, until, out);
    }
    let report = replay::rebuild(&args.data_dir.join("log"), progress_printer())
        .with_context(|| format!("rebuilding {}", args.data_dir.display()))?;
    let seconds = report.fold_time.as_secs_f64();
    eprintln!(
        "\rfolded {} events in {:.2} s ({:.0} events/s)          ",
        report.events,
        seconds,
        report.events as f64 / seconds.max(1e-9)
    );
    println!(
        "rebuild: ok: projections generation {} now holds the fold of {} events",
        report.generation, report.events
    );
    Ok(ExitCode::SUCCESS)
}

/// Asks a running server to verify itself (see `admin.rs`) and prints its report.
fn verify_remote(args: &VerifyArgs, endpoint: &str) -> anyhow::Result<ExitCode> {
    let (Some(key), Some(secret)) = (&args.access_key_id, &args.secret_access_key) else {
        anyhow::bail!(
            "verifying a running server needs RUCKET_ACCESS_KEY_ID and RUCKET_SECRET_ACCESS_KEY (root)"
        );
    };
    let url = format!("{}/?{}", endpoint.trim_end_matches('/'), rucket_gateway::admin::VERIFY_QUERY);
    let request =
        crate::sigv4::Signer::new(key, secret, &args.region).request("GET", &url, bytes::Bytes::new())?;
    let (status, text) = crate::sigv4::send(request)?;
    if !status.is_success() {
        anyhow::bail!("the server answered {status}: {text}");
    }
    let report: serde_json::Value = serde_json::from_str(&text).context("the server's report is not JSON")?;
    if let Some(error) = report["error"].as_str() {
        anyhow::bail!("the server could not verify: {error}");
    }
    for d in report["digests"].as_array().into_iter().flatten() {
        println!(
            "{:<9} {:>9} records  sha256 {}",
            d["view"].as_str().unwrap_or("?"),
            d["records"],
            d["sha256"].as_str().unwrap_or("?")
        );
    }
    let position = report["position"].as_u64().unwrap_or_default();
    if report["ok"] == true {
        println!("verify: ok: the live projections equal the fold of the archive at position {position}");
        return Ok(ExitCode::SUCCESS);
    }
    for d in report["differences"].as_array().into_iter().flatten() {
        println!(
            "difference in {}: {} {}",
            d["view"].as_str().unwrap_or("?"),
            d["record"].as_str().unwrap_or("?"),
            d["kind"].as_str().unwrap_or("?")
        );
    }
    println!("verify: FAILED: the live projections differ from the archive's fold at position {position}");
    Ok(ExitCode::from(1))
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    if let Some(endpoint) = args.endpoint.clone() {
        return verify_remote(&args, &endpoint);
    }
    let log_dir = args.data_dir.join("log");
    let scratch = tempfile::Builder::new()
        .prefix("replay-verify-")
        .tempdir_in(&args.data_dir)
        .with_context(|| format!("creating a scratch dir in {}", args.data_dir.display()))?;
    let report = replay::verify(&log_dir, scratch.path(), progress_printer())
        .with_context(|| format!("verifying {}", args.data_dir.display()))?;
    let seconds = report.fold_time.as_secs_f64();
    eprintln!(
        "\rfolded {} events in {:.2} s ({:.0} events/s)          ",
        report.events,
        seconds,
        report.events as f64 / seconds.max(1e-9)
    );
    for d in &report.digests {
        println!("{:<9} {:>9} records  sha256 {}", d.view, d.records, d.sha256);
    }
    if report.matches() {
        println!("verify: ok: the live projections equal the fold of {} archived events", report.events);
        return Ok(ExitCode::SUCCESS);
    }
    if report.live_applied.0 != report.events {
        println!(
            "verify: the live projections applied position {} but the archive holds {} events",
            report.live_applied, report.events
        );
    }
    for diff in &report.differences {
        let what = match diff.kind {
            DiffKind::OnlyInLeft => "only in the live projections",
            DiffKind::OnlyInRight => "missing from the live projections",
            DiffKind::Differs => "differs",
        };
        println!("difference in {}: {} {}", diff.view, diff.record, what);
    }
    println!("verify: FAILED: the live projections differ from the archive's fold");
    Ok(ExitCode::from(1))
}
