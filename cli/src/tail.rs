//! `rucket events tail`: a command-line subscriber. It prints events as they arrive,
//! reconnects after the last position it printed, and, given a state file, resumes
//! there on the next run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

#[derive(Subcommand, Debug)]
pub enum EventsCommand {
    /// Print events from a server's feed as they arrive.
    Tail(TailArgs),
}

#[derive(Args, Debug)]
pub struct TailArgs {
    /// The server, e.g. http://127.0.0.1:9000.
    #[arg(long, env = "RUCKET_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    pub endpoint: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: String,
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Only these buckets (repeatable); all readable buckets when omitted.
    #[arg(long)]
    pub bucket: Vec<String>,
    #[arg(long)]
    pub prefix: Option<String>,
    #[arg(long)]
    pub suffix: Option<String>,
    /// Event names, `*` allowed at the last level (repeatable).
    #[arg(long)]
    pub events: Vec<String>,
    /// Start after this log position (exclusive).
    #[arg(long, conflicts_with_all = ["from", "since"])]
    pub after: Option<u64>,
    /// `oldest` or `now` (the default).
    #[arg(long, conflicts_with = "since")]
    pub from: Option<String>,
    /// Start at the first event stamped at or after this RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Output: `json` (one message per line) or `line` (position, time, name, key).
    #[arg(long, value_enum, default_value = "json")]
    pub format: OutputFormat,
    /// Render events as AWS S3 notification records instead of Rucket's own JSON.
    #[arg(long)]
    pub s3_records: bool,
    /// Keeps the last printed position; a later run resumes after it.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Exit after printing this many events.
    #[arg(long)]
    pub count: Option<u64>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutputFormat {
    Json,
    Line,
}

pub fn run(command: EventsCommand) -> ExitCode {
    let EventsCommand::Tail(args) = command;
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(tail(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rucket events tail: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Where the next connection starts.
enum Cursor {
    After(u64),
    Query(String),
}

async fn tail(args: TailArgs) -> anyhow::Result<()> {
    let mut cursor = match args.state.as_deref().map(read_state).transpose()?.flatten() {
        Some(position) => Cursor::After(position),
        None => match (&args.after, &args.from, &args.since) {
            (Some(after), _, _) => Cursor::After(*after),
            (_, Some(from), _) => Cursor::Query(format!("from={}", encode(from))),
            (_, _, Some(since)) => Cursor::Query(format!("since={}", encode(since))),
            _ => Cursor::Query("from=now".into()),
        },
    };
    let mut filter = String::new();
    for bucket in &args.bucket {
        filter.push_str(&format!("&bucket={}", encode(bucket)));
    }
    for (name, value) in [("prefix", &args.prefix), ("suffix", &args.suffix)] {
        if let Some(value) = value {
            filter.push_str(&format!("&{name}={}", encode(value)));
        }
    }
    for events in &args.events {
        filter.push_str(&format!("&events={}", encode(events)));
    }
    if args.s3_records {
        filter.push_str("&format=s3");
    }
    let client = reqwest::Client::new();
    let mut printed = 0u64;
    let mut failures = 0u32;
    let stdout = std::io::stdout();
    loop {
        let start = match &cursor {
            Cursor::After(position) => format!("after={position}"),
            Cursor::Query(q) => q.clone(),
        };
        let url = format!("{}/_rucket/v1/events?{start}{filter}", args.endpoint.trim_end_matches('/'));
        let mut request = crate::sigv4::Signer::new(&args.access_key, &args.secret_key, &args.region)
            .request("GET", &url, bytes::Bytes::new())?;
        request.headers_mut().insert("accept", http::HeaderValue::from_static("text/event-stream"));
        let mut response = match client.execute(request).await {
            Ok(r) => r,
            Err(e) => {
                failures += 1;
                if failures > 5 {
                    return Err(e).context("connecting to the feed");
                }
                tracing::warn!(error = %e, "reconnecting");
                tokio::time::sleep(Duration::from_millis(200 << failures.min(5))).await;
                continue;
            }
        };
        let status = response.status();
        if status.is_server_error() {
            // Busy (503 SlowDown) or failing: retry, as after a dropped connection.
            failures += 1;
            if failures > 5 {
                let body = response.text().await.unwrap_or_default();
                anyhow::bail!("the server keeps failing ({status}): {}", error_message(&body));
            }
            tokio::time::sleep(Duration::from_millis(200 << failures.min(5))).await;
            continue;
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!("the server refused the subscription ({status}): {}", error_message(&body));
        }
        failures = 0;
        // Bytes, not text: a character may be split across chunks.
        let mut buffer: Vec<u8> = Vec::new();
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "the feed connection failed; resuming");
                    break;
                }
            };
            buffer.extend_from_slice(&chunk);
            while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
                let frame_bytes: Vec<u8> = buffer.drain(..end + 2).collect();
                let frame = String::from_utf8_lossy(&frame_bytes);
                let Some((id, data)) = parse_frame(&frame) else { continue };
                if let Some(data) = data {
                    let mut out = stdout.lock();
                    match args.format {
                        OutputFormat::Json => writeln!(out, "{data}")?,
                        OutputFormat::Line => writeln!(out, "{}", line(&data))?,
                    }
                    out.flush()?;
                    printed += 1;
                }
                cursor = Cursor::After(id);
                if let Some(state) = &args.state {
                    write_state(state, id)?;
                }
                if args.count.is_some_and(|n| printed >= n) {
                    return Ok(());
                }
            }
        }
        // The server ended the stream (overflow, shutdown): resume after the cursor.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The id of a frame and its data when it is an event (not a heartbeat or notice).
fn parse_frame(frame: &str) -> Option<(u64, Option<String>)> {
    let mut id = None;
    let mut data = None;
    let mut named = false;
    for line in frame.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = Some(v.to_owned());
        } else if line.starts_with("event: ") {
            named = true;
        }
    }
    if named {
        return None;
    }
    Some((id?, data))
}

fn line(data: &str) -> String {
    let message: Value = serde_json::from_str(data).unwrap_or_default();
    let key = message["event"]["key"]
        .as_str()
        .or_else(|| message["event"]["Records"][0]["s3"]["object"]["key"].as_str())
        .unwrap_or("");
    format!(
        "{}\t{}\t{}\t{}/{}",
        message["position"],
        message["time"].as_str().unwrap_or_default(),
        message["event_name"].as_str().unwrap_or_default(),
        message["bucket"].as_str().unwrap_or_default(),
        key
    )
}

fn error_message(body: &str) -> String {
    match (body.find("<Message>"), body.find("</Message>")) {
        (Some(a), Some(b)) if a < b => body[a + 9..b].to_owned(),
        _ => body.trim().to_owned(),
    }
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn read_state(path: &Path) -> anyhow::Result<Option<u64>> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .with_context(|| format!("{} does not hold a log position", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Replaces the state file atomically (write, then rename over it).
fn write_state(path: &Path, position: u64) -> anyhow::Result<()> {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, format!("{position}\n")).with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("replacing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_give_ids_and_event_data() {
        assert_eq!(parse_frame("id: 4\ndata: {}\n\n"), Some((4, Some("{}".into()))));
        assert_eq!(parse_frame(": heartbeat head=9\nid: 9\n\n"), Some((9, None)));
        assert_eq!(parse_frame("event: overflow\ndata: {}\n\n"), None);
        assert_eq!(parse_frame(": preamble\n\n"), None);
    }
}
