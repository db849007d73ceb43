//! `rucket replay verify` on data dirs written by the real server.

use std::process::Command;

use crate::support::{bucket, rucket, Server};

fn verify(data_dir: &std::path::Path) -> (i32, String, String) {
    rucket(&["replay", "verify", "--data-dir", data_dir.to_str().unwrap()])
}

async fn workload(server: &Server) -> String {
    let s3 = server.client();
    let name = bucket("replay");
    s3.create_bucket().bucket(&name).send().await.unwrap();
    s3.create_bucket().bucket(bucket("replay-gone")).send().await.unwrap();
    for i in 0..20 {
        let body = vec![i as u8; if i % 3 == 0 { 10_000 } else { 100 }];
        s3.put_object().bucket(&name).key(format!("k{i:02}")).body(body.into()).send().await.unwrap();
    }
    s3.put_object().bucket(&name).key("k01").body(b"overwritten".to_vec().into()).send().await.unwrap();
    s3.delete_object().bucket(&name).key("k02").send().await.unwrap();
    s3.delete_bucket().bucket(bucket("replay-gone")).send().await.unwrap();
    name
}

#[tokio::test]
async fn verify_passes_on_a_real_data_dir_and_names_differences() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let name = workload(&server).await;
    server.stop();
    let data = dir.path().join("data");

    let (code, stdout, stderr) = verify(&data);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("verify: ok: the live projections equal the fold of 25 archived events"),
        "{stdout}"
    );
    for view in ["buckets", "objects", "versions", "meta"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(view) && l.contains("sha256 ")),
            "{view} digest in {stdout}"
        );
    }

    // Tamper with a live projection: drop one object's current-version record.
    {
        let db = fjall::Database::builder(data.join("log")).open().unwrap();
        let objects = db.keyspace("proj.g0.objects", fjall::KeyspaceCreateOptions::default).unwrap();
        objects.remove(format!("{name}\0k05")).unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let (code, stdout, _) = verify(&data);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!("difference in objects: {name}/k05 missing from the live projections")),
        "{stdout}"
    );
    assert!(stdout.contains("verify: FAILED"), "{stdout}");
}

#[tokio::test]
async fn verify_stops_at_a_corrupt_event_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    workload(&server).await;
    server.stop();
    let data = dir.path().join("data");
    let position_key = 3u64.to_be_bytes();
    let flipped = {
        let db = fjall::Database::builder(data.join("log")).open().unwrap();
        let events = db.keyspace("archive.events", fjall::KeyspaceCreateOptions::default).unwrap();
        let mut bytes = events.get(position_key).unwrap().unwrap().to_vec();
        bytes[30] ^= 0x40;
        events.insert(position_key, bytes.clone()).unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
        bytes
    };
    let (code, stdout, stderr) = verify(&data);
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("corrupt event at log position 3"), "{stderr}");
    assert!(stderr.contains("crc mismatch"), "{stderr}");
    let db = fjall::Database::builder(data.join("log")).open().unwrap();
    let events = db.keyspace("archive.events", fjall::KeyspaceCreateOptions::default).unwrap();
    assert_eq!(
        events.get(position_key).unwrap().unwrap().to_vec(),
        flipped,
        "verify never repairs or rewrites"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("replay-verify-"))
        .collect();
    assert!(leftovers.is_empty(), "the scratch fold is removed");
}

fn rebuild(data_dir: &std::path::Path) -> (i32, String, String) {
    rucket(&["replay", "rebuild", "--data-dir", data_dir.to_str().unwrap()])
}

#[tokio::test]
async fn rebuild_repairs_damaged_projections() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let name = workload(&server).await;
    server.stop();
    let data = dir.path().join("data");
    {
        let db = fjall::Database::builder(data.join("log")).open().unwrap();
        let objects = db.keyspace("proj.g0.objects", fjall::KeyspaceCreateOptions::default).unwrap();
        objects.remove(format!("{name}\0k07")).unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    assert_eq!(verify(&data).0, 1, "the damage is visible");
    let (code, stdout, stderr) = rebuild(&data);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("generation 1 now holds the fold of 25 events"), "{stdout}");
    let (code, stdout, _) = verify(&data);
    assert_eq!(code, 0, "{stdout}");

    let server = Server::start_in(dir.path(), &[]);
    let got = server.client().get_object().bucket(&name).key("k07").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), vec![7u8; 100].as_slice());
    // The rebuilt node keeps accepting writes at the next position.
    server.client().put_object().bucket(&name).key("after").body(b"x".to_vec().into()).send().await.unwrap();
}

#[tokio::test]
async fn export_then_import_then_verify_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let name = workload(&server).await;
    server.stop();
    let data = dir.path().join("data");
    let export = dir.path().join("archive.jsonl");
    let (code, _, stderr) = rucket(&[
        "replay",
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        export.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("wrote 25 events"), "{stderr}");
    let text = std::fs::read_to_string(&export).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["position"], 1);
    assert_eq!(first["event"]["type"], "BucketCreated");
    assert_eq!(first["event"]["event_name"], "rucket:BucketCreated");
    assert!(first["envelope"].as_str().unwrap().len() > 40);

    let copy = dir.path().join("imported");
    let (code, stdout, stderr) =
        rucket(&["replay", "import", "--in", export.to_str().unwrap(), "--data-dir", copy.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = verify(&copy);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // The imported projections hold exactly what the original's do.
    let digest_lines =
        |s: &str| s.lines().filter(|l| l.contains("sha256")).map(str::to_owned).collect::<Vec<_>>();
    let (_, original, _) = verify(&data);
    assert_eq!(digest_lines(&stdout), digest_lines(&original));

    // A bucket filter and a range.
    let (code, stdout, _) = rucket(&[
        "replay",
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        "-",
        "--bucket",
        &name,
        "--after",
        "2",
        "--until",
        "10",
    ]);
    assert_eq!(code, 0);
    let positions: Vec<u64> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, (3..=10).collect::<Vec<_>>());

    // Importing over existing data is refused.
    let (code, _, stderr) =
        rucket(&["replay", "import", "--in", export.to_str().unwrap(), "--data-dir", copy.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("already holds data"), "{stderr}");
}

#[tokio::test]
async fn point_in_time_copies_serve_the_past_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let s3 = server.client();
    let name = bucket("history");
    s3.create_bucket().bucket(&name).send().await.unwrap(); // 1
    s3.put_object().bucket(&name).key("note").body(b"yesterday".to_vec().into()).send().await.unwrap(); // 2
    s3.put_object().bucket(&name).key("kept.bin").body(vec![1u8; 50_000].into()).send().await.unwrap(); // 3
    s3.put_object().bucket(&name).key("gone.bin").body(vec![2u8; 50_000].into()).send().await.unwrap(); // 4
    s3.put_object().bucket(&name).key("note").body(b"today".to_vec().into()).send().await.unwrap(); // 5
    s3.delete_object().bucket(&name).key("gone.bin").send().await.unwrap(); // 6
    s3.put_object().bucket(&name).key("new").body(b"later".to_vec().into()).send().await.unwrap(); // 7
    server.stop();
    let data = dir.path().join("data");

    let out_root = tempfile::tempdir().unwrap();
    let out = out_root.path().join("data");
    let (code, stdout, stderr) = rucket(&[
        "replay",
        "rebuild",
        "--data-dir",
        data.to_str().unwrap(),
        "--until",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("holds the state at position 4 (1 blobs linked)"), "{stdout}");
    assert!(stdout.contains("1 blobs were already collected"), "{stdout}");

    let past = Server::start_in(out_root.path(), &["--read-only"]);
    let old = past.client();
    let listed = old.list_objects_v2().bucket(&name).send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, ["gone.bin", "kept.bin", "note"]);
    let note = old.get_object().bucket(&name).key("note").send().await.unwrap();
    assert_eq!(note.body.collect().await.unwrap().into_bytes().as_ref(), b"yesterday");
    let kept = old.get_object().bucket(&name).key("kept.bin").send().await.unwrap();
    assert_eq!(kept.body.collect().await.unwrap().into_bytes().len(), 50_000);
    let err = old.put_object().bucket(&name).key("x").body(b"no".to_vec().into()).send().await.unwrap_err();
    assert_eq!(crate::support::code(&err), "AccessDenied");
    let ready = reqwest::get(format!("{}/_rucket/health/ready", past.endpoint)).await.unwrap();
    assert_eq!(ready.status(), 200);
    drop(past);

    // The same moment named by time: the stamp of event 4, from an export.
    let (_, export, _) = rucket(&[
        "replay",
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        "-",
        "--after",
        "3",
        "--until",
        "4",
    ]);
    let event: serde_json::Value = serde_json::from_str(export.lines().next().unwrap()).unwrap();
    // NTP64: seconds in the high 32 bits, the binary fraction in the low 32.
    let t = event["event"]["hlc"]["time"].as_u64().unwrap();
    let nanos = ((t >> 32) as u128) * 1_000_000_000 + (((t & 0xffff_ffff) as u128 * 1_000_000_000) >> 32);
    let stamp = time::OffsetDateTime::from_unix_timestamp_nanos((nanos + 1) as i128).unwrap();
    let rfc = stamp.format(&time::format_description::well_known::Rfc3339).unwrap();
    let by_time = out_root.path().join("by-time");
    let (code, stdout, stderr) = rucket(&[
        "replay",
        "rebuild",
        "--data-dir",
        data.to_str().unwrap(),
        "--until",
        &rfc,
        "--out",
        by_time.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("at position 4"), "{rfc}: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_node_verifies_a_consistent_snapshot_while_writes_go_on() {
    let server = Server::start();
    let name = workload(&server).await;
    // Keep writing while the verification runs.
    let s3 = server.client();
    let writer_bucket = name.clone();
    let writer = tokio::spawn(async move {
        for i in 0..200 {
            s3.put_object()
                .bucket(&writer_bucket)
                .key(format!("during-{i}"))
                .body(vec![i as u8; 64].into())
                .send()
                .await
                .unwrap();
        }
    });
    let run = |key: &'static str, secret: &'static str| {
        let endpoint = server.endpoint.clone();
        tokio::task::spawn_blocking(move || {
            let out = Command::new(env!("CARGO_BIN_EXE_rucket"))
                .args(["replay", "verify", "--endpoint", &endpoint])
                .env("RUCKET_ACCESS_KEY_ID", key)
                .env("RUCKET_SECRET_ACCESS_KEY", secret)
                .output()
                .unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
    };
    let (code, stdout, stderr) = run(crate::support::ROOT_KEY, crate::support::ROOT_SECRET).await.unwrap();
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("verify: ok: the live projections equal the fold of the archive at position"),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l.starts_with("objects") && l.contains("sha256")), "{stdout}");
    writer.await.unwrap();

    let (code, _, stderr) = run(crate::support::ALICE_KEY, crate::support::ALICE_SECRET).await.unwrap();
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("403") && stderr.contains("AccessDenied"), "only root may verify: {stderr}");
}
