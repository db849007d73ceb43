//! Starts the real `rucket` binary on a free loopback port and builds clients for it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::Client;

pub const ROOT_KEY: &str = "ROOTKEY";
pub const ROOT_SECRET: &str = "root-secret-key";
pub const ALICE_KEY: &str = "ALICEKEY";
pub const ALICE_SECRET: &str = "alice-secret-key";
pub const BOB_KEY: &str = "BOBKEY";
pub const BOB_SECRET: &str = "bob-secret-key";

pub struct Server {
    child: Option<Child>,
    pub endpoint: String,
    pub address: String,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Server {
    /// A server on a fresh data dir.
    pub fn start() -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in(temp.path(), &[]);
        server._temp = Some(temp);
        server
    }

    /// A server on `dir` (kept by the caller, so it can be restarted), with extra flags.
    pub fn start_in(dir: &Path, extra: &[&str]) -> Self {
        Self::start_with(dir, "", extra)
    }

    /// As [`Self::start_in`], with more TOML appended to the config file.
    pub fn start_with(dir: &Path, extra_config: &str, extra: &[&str]) -> Self {
        Self::start_on(dir, "127.0.0.1:0", extra_config, extra, &[])
    }

    /// As [`Self::start_with`], listening on `listen` (a loopback address) and with
    /// extra environment variables.
    pub fn start_on(
        dir: &Path,
        listen: &str,
        extra_config: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_via(&[], dir, listen, extra_config, extra, env)
    }

    /// A server on `dir` whose open file limit (soft and hard) is `limit`, set with
    /// util-linux's `prlimit`; `None` (saying so) where `prlimit` cannot run.
    pub fn start_file_limited(dir: &Path, limit: u64, extra: &[&str]) -> Option<Self> {
        let nofile = format!("--nofile={limit}:{limit}");
        match Command::new("prlimit").args([nofile.as_str(), "true"]).status() {
            Ok(s) if s.success() => {}
            other => {
                eprintln!("SKIPPED: cannot lower the open file limit with prlimit here: {other:?}");
                return None;
            }
        }
        Some(Self::start_via(&["prlimit", &nofile, "--"], dir, "127.0.0.1:0", "", extra, &[]))
    }

    /// As [`Self::start_on`], the binary run through `wrapper` (a command and its
    /// arguments) when that is not empty.
    fn start_via(
        wrapper: &[&str],
        dir: &Path,
        listen: &str,
        extra_config: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let config = dir.join("rucket.toml");
        std::fs::write(
            &config,
            format!(
                "root_display_name = \"The Root\"\n\n\
                 [[keys]]\nname = \"alice\"\naccess_key_id = \"{ALICE_KEY}\"\nsecret_access_key = \"{ALICE_SECRET}\"\n\
                 email = \"alice@example.com\"\ndisplay_name = \"A. Liddell\"\n\n\
                 [[keys]]\nname = \"bob\"\naccess_key_id = \"{BOB_KEY}\"\nsecret_access_key = \"{BOB_SECRET}\"\n\n\
                 {extra_config}"
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("server.log")).unwrap();
        let mut command = match wrapper.split_first() {
            None => Command::new(env!("CARGO_BIN_EXE_rucket")),
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_rucket"));
                c
            }
        };
        let mut child = command
            .arg("serve")
            .args(["--listen", listen, "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(extra)
            .env("RUCKET_ACCESS_KEY_ID", ROOT_KEY)
            .env("RUCKET_SECRET_ACCESS_KEY", ROOT_SECRET)
            .env("RUCKET_LOG", "info,openraft=warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn rucket");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("rucket listening on ") {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    if let Some((scheme, address)) = url.split_once("://") {
                        let _ = tx.send((scheme.to_owned(), address.to_owned()));
                    }
                }
            }
        });
        let (scheme, address) = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                panic!("rucket did not start; its log:\n{log}");
            }
        };
        Self {
            child: Some(child),
            endpoint: format!("{scheme}://{address}"),
            address,
            dir: dir.to_owned(),
            _temp: None,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn client(&self) -> Client {
        self.client_as(ROOT_KEY, ROOT_SECRET)
    }

    pub fn client_as(&self, key: &str, secret: &str) -> Client {
        Client::from_conf(self.config_as(key, secret).build())
    }

    pub fn config_as(&self, key: &str, secret: &str) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::config::Builder::new()
            .behavior_version_latest()
            .credentials_provider(Credentials::new(key, secret, None, None, "test"))
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
    }

    /// Sends `signal` to the server process.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let child = self.child.as_ref().expect("the server is running");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    }

    /// Kills the server at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks the server to stop (SIGTERM) and waits for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
            let status = child.wait().unwrap();
            assert!(status.success(), "rucket exited with {status} after SIGTERM");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A bucket name unique to a test.
pub fn bucket(name: &str) -> String {
    format!("t-{name}")
}

/// The S3 error code of a failed SDK call.
pub fn code<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match err.as_service_error() {
        Some(e) => e.code().unwrap_or("<no code>").to_owned(),
        None => format!("<not a service error: {err:?}>"),
    }
}

pub type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

/// The HTTP status of a failed SDK call.
pub fn status<E>(err: &aws_sdk_s3::error::SdkError<E, HttpResponse>) -> u16 {
    err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}

/// Signs a raw request with SigV4 headers, for bodies the SDK would not send.
pub fn sign(
    request: &mut http::Request<Vec<u8>>,
    key: &str,
    secret: &str,
    payload_hash: &str,
    time: SystemTime,
) {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity = Credentials::new(key, secret, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.uri().to_string(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Precomputed(payload_hash.to_owned()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(request);
}

/// Sends a raw HTTP/1.1 request over a plain TCP socket and returns status and body.
/// `declared_len` may differ from the body to simulate a client that stops early.
pub async fn send_raw(
    address: &str,
    request: &http::Request<Vec<u8>>,
    declared_len: Option<usize>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method(), request.uri());
    for (k, v) in request.headers() {
        if k != http::header::CONTENT_LENGTH {
            head.push_str(&format!("{}: {}\r\n", k, v.to_str().unwrap()));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        declared_len.unwrap_or(request.body().len())
    ));
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(request.body()).await.unwrap();
    if declared_len.is_some() {
        // A client that stops early: close our side. The server may then drop the
        // connection without an answer (hyper does not answer a half-closed request).
        stream.shutdown().await.unwrap();
    }
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).to_string();
    if std::env::var_os("RUCKET_DEBUG_RAW").is_some() {
        eprintln!("--- request head ---\n{head}--- response ---\n{text}");
    }
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

pub fn hex_sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Files below `dir`, counted recursively (blob files under a data dir's `blobs/`).
pub fn files_under(dir: &Path) -> usize {
    paths_under(dir).len()
}

/// The paths of the files below `dir`, recursively.
pub fn paths_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()) {
        if entry.file_type().unwrap().is_dir() {
            out.extend(paths_under(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

/// Writes a master key file (32 bytes of `byte`, base64) named `name` in `dir`; its path.
pub fn write_master_key(dir: &Path, name: &str, byte: u8) -> String {
    use base64::Engine as _;
    let path = dir.join(name);
    std::fs::write(&path, base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The value of an unlabelled metric, if the server reports it.
pub async fn metric(server: &Server, name: &str) -> Option<f64> {
    let text =
        reqwest::get(format!("{}/_rucket/metrics", server.endpoint)).await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
}

/// Opens a connection and sends the head of a `method` request for `path`, signed by
/// `signer` as if its body were `signed_body`, followed by `extra` header lines (each
/// ending in CRLF); the caller sends (or withholds) the body.
pub async fn send_signed_head(
    server: &Server,
    signer: &rucket_cli::sigv4::Signer,
    (method, path): (&str, &str),
    signed_body: bytes::Bytes,
    extra: &str,
) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let signed = signer.request(method, &format!("{}{path}", server.endpoint), signed_body).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in signed.headers() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str(extra);
    head.push_str("\r\n");
    let mut socket = tokio::net::TcpStream::connect(&server.address).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    socket
}

/// Runs the `rucket` binary with `args`: exit code, stdout, stderr.
pub fn rucket(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rucket")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
