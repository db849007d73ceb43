//! `rucket bench` drives a real server through every operation and reports what it did.
//! Tests check behaviour (counts, errors, effects), never speed.

use std::process::Command;

use crate::support::{Server, ROOT_KEY, ROOT_SECRET};

fn bench(server: &Server, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_rucket"))
        .args(["bench", "--endpoint", &server.endpoint, "--bucket", "bench-it", "--json"])
        .args(args)
        .env("RUCKET_ACCESS_KEY_ID", ROOT_KEY)
        .env("RUCKET_SECRET_ACCESS_KEY", ROOT_SECRET)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bench printed no JSON ({e}): {stdout}"))
}

#[tokio::test]
async fn a_fill_run_reports_rates_per_interval_space_and_reads() {
    let server = Server::start();
    let data = server.data_dir();
    let fill = bench(
        &server,
        &[
            "--op",
            "fill",
            "--count",
            "250",
            "--every",
            "100",
            "--concurrency",
            "4",
            "--duration",
            "300ms",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    assert_eq!((fill["objects"].as_u64(), fill["errors"].as_u64()), (Some(250), Some(0)), "{fill}");
    assert_eq!(fill["object_bytes"].as_u64(), Some(250 * 4096), "{fill}");
    let rates = fill["put_rates"].as_array().unwrap();
    assert_eq!(rates.len(), 3, "intervals 0-100, 100-200, 200-250: {fill}");
    assert!(rates.iter().all(|r| r.as_f64().unwrap() > 0.0), "{fill}");
    // The data dir holds at least the bytes stored.
    assert!(fill["space_ratio"].as_f64().unwrap() >= 1.0, "{fill}");
    assert!(fill["get_ops_per_second"].as_f64().unwrap() > 0.0, "{fill}");
    assert!(fill["list_pages_per_second"].as_f64().unwrap() > 0.0, "{fill}");
    let stored = server.client().list_objects_v2().bucket("bench-it").send().await.unwrap();
    assert_eq!(stored.key_count(), Some(250));

    // A reread times reads of that fill again and stores nothing (a GET of a key the fill
    // did not store would count as an error).
    let prefix = fill["prefix"].as_str().unwrap();
    let args = ["--op", "fill", "--count", "250", "--concurrency", "4", "--duration", "300ms"];
    let reread = bench(&server, &[&args[..], &["--reread", prefix]].concat());
    assert_eq!(reread["errors"].as_u64(), Some(0), "{reread}");
    assert_eq!(reread["put_rates"].as_array().map(Vec::len), Some(0), "{reread}");
    assert_eq!(reread["object_bytes"].as_u64(), Some(0), "{reread}");
    assert!(reread["get_ops_per_second"].as_f64().unwrap() > 0.0, "{reread}");
    let stored = server.client().list_objects_v2().bucket("bench-it").send().await.unwrap();
    assert_eq!(stored.key_count(), Some(250));
    let wrong = bench(&server, &[&args[..], &["--reread", "no-such-fill/"]].concat());
    assert!(wrong["errors"].as_u64().unwrap() > 0, "{wrong}");
}

#[tokio::test]
async fn every_operation_runs_against_a_real_server() {
    let server = Server::start();
    let put = bench(&server, &["--op", "put", "--count", "40", "--concurrency", "4", "--size", "1KiB-8KiB"]);
    assert_eq!((put["ops"].as_u64(), put["errors"].as_u64()), (Some(40), Some(0)), "{put}");
    assert!(put["latency_ms"]["p99"].as_f64().unwrap() >= put["latency_ms"]["p50"].as_f64().unwrap());
    let unsigned = bench(&server, &["--op", "put", "--count", "10", "--unsigned-payload", "--size", "20KiB"]);
    assert_eq!(unsigned["errors"].as_u64(), Some(0), "{unsigned}");
    assert!((unsigned["megabytes_per_second"].as_f64().unwrap()) > 0.0);

    for op in ["get", "stat", "mixed"] {
        let r = bench(&server, &["--op", op, "--count", "30", "--objects", "10", "--concurrency", "3"]);
        assert_eq!((r["ops"].as_u64(), r["errors"].as_u64()), (Some(30), Some(0)), "{op}: {r}");
    }
    let list = bench(&server, &["--op", "list", "--count", "2", "--objects", "1200", "--concurrency", "8"]);
    assert_eq!((list["ops"].as_u64(), list["errors"].as_u64()), (Some(2), Some(0)), "{list}");

    let before =
        server.client().list_objects_v2().bucket("bench-it").send().await.unwrap().key_count().unwrap();
    let delete =
        bench(&server, &["--op", "delete", "--objects", "25", "--count", "25", "--concurrency", "5"]);
    assert_eq!((delete["ops"].as_u64(), delete["errors"].as_u64()), (Some(25), Some(0)), "{delete}");
    let after =
        server.client().list_objects_v2().bucket("bench-it").send().await.unwrap().key_count().unwrap();
    assert_eq!(after, before, "the delete run removes exactly the objects it prepared");

    let wrong = Command::new(env!("CARGO_BIN_EXE_rucket"))
        .args(["bench", "--endpoint", &server.endpoint, "--op", "put", "--count", "1", "--json"])
        .env("RUCKET_ACCESS_KEY_ID", ROOT_KEY)
        .env("RUCKET_SECRET_ACCESS_KEY", "wrong")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2), "bad credentials are reported, not benchmarked");
}

#[test]
fn baseline_measures_the_machine() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rucket"))
        .args(["bench", "baseline", "--seconds", "1", "--json", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for field in ["append_fdatasync_4k_per_second", "md5_gb_per_second", "sha256_gb_per_second"] {
        assert!(v[field].as_f64().unwrap() > 0.0, "{field}: {v}");
    }
}
