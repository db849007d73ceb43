//! A flipped byte in the log: the node refuses to start and names the damage, `rucket
//! repair` reports it, cuts it away only with `--truncate`, and the node then serves
//! everything written before the damage.

use std::process::{Command, Output};

use crate::support::{bucket, code, Server, ROOT_KEY, ROOT_SECRET};

fn rucket(args: &[&str], data_dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rucket"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUCKET_ACCESS_KEY_ID", ROOT_KEY)
        .env("RUCKET_SECRET_ACCESS_KEY", ROOT_SECRET)
        .env("RUCKET_LOG", "warn")
        .output()
        .expect("run rucket")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn body(i: usize) -> Vec<u8> {
    format!("repair-body-{i:04}-").repeat(60).into_bytes()
}

/// A server on `dir` whose bucket `name` holds `k00`..`k19` with [`body`]s.
async fn with_twenty_objects(dir: &std::path::Path, name: &str) -> Server {
    let server = Server::start_in(dir, &[]);
    let s3 = server.client();
    s3.create_bucket().bucket(name).send().await.unwrap();
    for i in 0..20 {
        s3.put_object().bucket(name).key(format!("k{i:02}")).body(body(i).into()).send().await.unwrap();
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_journal_byte_is_named_and_repair_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let name = bucket("repair");
    let mut server = with_twenty_objects(dir.path(), &name).await;
    // A crash keeps everything in the journal (nothing flushed into tables yet).
    server.kill();
    let data = server.data_dir();
    let journal = data.join("log/0.jnl");
    let mut bytes = std::fs::read(&journal).unwrap();
    let at = bytes.windows(16).position(|w| w == b"repair-body-0010").expect("the body is in the journal");
    bytes[at + 5] ^= 0x20;
    std::fs::write(&journal, bytes).unwrap();

    let serve = rucket(&["serve", "--listen", "127.0.0.1:0"], &data);
    assert!(!serve.status.success(), "the node started on a damaged journal");
    let said = text(&serve);
    for part in ["0.jnl", "is damaged at byte", "raft.log", "rucket repair"] {
        assert!(said.contains(part), "the start-up error does not name {part:?}: {said}");
    }

    let report = rucket(&["repair"], &data);
    assert_eq!(report.status.code(), Some(2), "{}", text(&report));
    assert!(text(&report).contains("nothing changed. With --truncate"), "{}", text(&report));
    assert!(!data.join("repair.log").exists());

    let repaired = rucket(&["repair", "--truncate"], &data);
    assert!(repaired.status.success(), "{}", text(&repaired));
    let log = std::fs::read_to_string(data.join("repair.log")).unwrap();
    assert!(log.contains("cut journal") && log.contains("projections folded again"), "{log}");

    let server = Server::start_in(dir.path(), &[]);
    let s3 = server.client();
    for i in 0..10 {
        let got = s3.get_object().bucket(&name).key(format!("k{i:02}")).send().await.unwrap();
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body(i).as_slice());
    }
    let gone = s3.get_object().bucket(&name).key("k10").send().await.unwrap_err();
    assert_eq!(code(&gone), "NoSuchKey");
    s3.put_object().bucket(&name).key("after").body(body(99).into()).send().await.unwrap();
    let mut server = server;
    server.stop();
    let verified = rucket(&["replay", "verify"], &data);
    assert!(verified.status.success(), "{}", text(&verified));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_views_are_folded_again_without_losing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let name = bucket("repair-views");
    let mut server = with_twenty_objects(dir.path(), &name).await;
    server.stop();
    let data = server.data_dir();
    // Write the objects view into a table, then flip a byte of that table.
    let tables = {
        let db = fjall::Database::builder(data.join("log")).open().unwrap();
        let objects = db.keyspace("proj.g0.objects", fjall::KeyspaceCreateOptions::default).unwrap();
        objects.rotate_memtable_and_wait().unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
        objects.path().join("tables")
    };
    let table = std::fs::read_dir(&tables).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&table).unwrap();
    // The data blocks come first in a table.
    let at = bytes.len() / 4;
    bytes[at] ^= 0x01;
    std::fs::write(&table, bytes).unwrap();
    let verified = rucket(&["replay", "verify"], &data);
    assert!(!verified.status.success(), "the damage is not visible: {}", text(&verified));

    let repaired = rucket(&["repair"], &data);
    assert!(repaired.status.success(), "{}", text(&repaired));
    assert!(
        text(&repaired).contains("projections folded again from the archive's 21 events"),
        "{}",
        text(&repaired)
    );

    let server = Server::start_in(dir.path(), &[]);
    let s3 = server.client();
    for i in 0..20 {
        let got = s3.get_object().bucket(&name).key(format!("k{i:02}")).send().await.unwrap();
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body(i).as_slice());
    }
}
