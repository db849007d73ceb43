"""Smoke tests with the command-line tools people point at S3: rclone, s3cmd and awscli.
Each syncs a directory tree up and down, uploads a 50 MiB file in parts, lists and
deletes."""

import hashlib
import os
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import ROOT_KEY, ROOT_SECRET

BIG = 50 << 20


def make_tree(root: Path):
    files = {
        "a.txt": b"alpha\n",
        "sub/b.bin": bytes(range(256)) * 400,
        "sub/deeper/c.txt": b"gamma\n",
        "space name.txt": b"spaces\n",
        "unicod\u00e9/\u00fcber.txt": b"unicode\n",
        "empty.txt": b"",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def digest_tree(root: Path):
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def big_file(path: Path):
    chunk = hashlib.sha256(b"rucket").digest() * 32768  # 1 MiB, not all zeros
    with open(path, "wb") as f:
        for i in range(BIG // len(chunk)):
            f.write(bytes([i % 256]) + chunk[1:])
    return hashlib.md5(path.read_bytes()).hexdigest()


def run(args, env, timeout=300):
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def bucket_exists(s3, name):
    return any(b["Name"] == name for b in s3.list_buckets()["Buckets"])


def test_rclone(server, s3, tmp_path):
    env = dict(os.environ, RCLONE_CONFIG=str(tmp_path / "none.conf"),
               RCLONE_CONFIG_RK_TYPE="s3", RCLONE_CONFIG_RK_PROVIDER="Other",
               RCLONE_CONFIG_RK_ENDPOINT=server["endpoint"], RCLONE_CONFIG_RK_ACCESS_KEY_ID=ROOT_KEY,
               RCLONE_CONFIG_RK_SECRET_ACCESS_KEY=ROOT_SECRET, RCLONE_CONFIG_RK_REGION="us-east-1",
               RCLONE_CONFIG_RK_FORCE_PATH_STYLE="true")
    env.pop("AWS_CA_BUNDLE", None)
    src, down = tmp_path / "src", tmp_path / "down"
    make_tree(src)
    run(["rclone", "mkdir", "rk:rclone-smoke"], env)
    run(["rclone", "sync", str(src), "rk:rclone-smoke/tree"], env)
    listed = run(["rclone", "lsf", "-R", "--files-only", "rk:rclone-smoke/tree"], env).split("\n")
    assert sorted(l for l in listed if l) == sorted(digest_tree(src))
    run(["rclone", "sync", "rk:rclone-smoke/tree", str(down)], env)
    assert digest_tree(down) == digest_tree(src)
    run(["rclone", "check", str(src), "rk:rclone-smoke/tree"], env)

    big = tmp_path / "big.bin"
    md5 = big_file(big)
    run(["rclone", "copyto", str(big), "rk:rclone-smoke/big.bin", "--s3-upload-cutoff", "5M",
         "--s3-chunk-size", "5M"], env)
    head = s3.head_object(Bucket="rclone-smoke", Key="big.bin")
    assert head["ContentLength"] == BIG
    assert head["ETag"].strip('"').endswith("-10"), head["ETag"]
    run(["rclone", "copyto", "rk:rclone-smoke/big.bin", str(tmp_path / "big.back")], env)
    assert hashlib.md5((tmp_path / "big.back").read_bytes()).hexdigest() == md5

    run(["rclone", "delete", "rk:rclone-smoke/tree"], env)
    assert "tree/" not in run(["rclone", "lsf", "rk:rclone-smoke"], env)
    run(["rclone", "purge", "rk:rclone-smoke"], env)
    assert not bucket_exists(s3, "rclone-smoke")


def test_s3cmd(server, s3, tmp_path):
    host = urlparse(server["endpoint"]).netloc
    config = tmp_path / "s3cmd.cfg"
    config.write_text(f"[default]\naccess_key = {ROOT_KEY}\nsecret_key = {ROOT_SECRET}\n"
                      f"host_base = {host}\nhost_bucket = {host}\nuse_https = False\n"
                      "signature_v2 = False\nbucket_location = us-east-1\n")
    env = dict(os.environ)
    s3cmd = ["s3cmd", "-c", str(config)]
    src, down = tmp_path / "src", tmp_path / "down"
    make_tree(src)
    run(s3cmd + ["mb", "s3://s3cmd-smoke"], env)
    run(s3cmd + ["sync", f"{src}/", "s3://s3cmd-smoke/tree/"], env)
    listed = run(s3cmd + ["ls", "-r", "s3://s3cmd-smoke/tree/"], env)
    for rel in digest_tree(src):
        assert f"s3://s3cmd-smoke/tree/{rel}" in listed, (rel, listed)
    down.mkdir()
    run(s3cmd + ["sync", "s3://s3cmd-smoke/tree/", f"{down}/"], env)
    assert digest_tree(down) == digest_tree(src)

    big = tmp_path / "big.bin"
    md5 = big_file(big)
    run(s3cmd + ["put", "--multipart-chunk-size-mb=5", str(big), "s3://s3cmd-smoke/big.bin"], env)
    head = s3.head_object(Bucket="s3cmd-smoke", Key="big.bin")
    assert head["ContentLength"] == BIG and head["ETag"].strip('"').endswith("-10"), head["ETag"]
    run(s3cmd + ["get", "s3://s3cmd-smoke/big.bin", str(tmp_path / "big.back")], env)
    assert hashlib.md5((tmp_path / "big.back").read_bytes()).hexdigest() == md5

    run(s3cmd + ["del", "--recursive", "--force", "s3://s3cmd-smoke/"], env)
    assert s3.list_objects_v2(Bucket="s3cmd-smoke")["KeyCount"] == 0
    run(s3cmd + ["rb", "s3://s3cmd-smoke"], env)
    assert not bucket_exists(s3, "s3cmd-smoke")


def test_awscli_sync(aws, s3, tmp_path):
    src, down = tmp_path / "src", tmp_path / "down"
    make_tree(src)
    aws("s3", "mb", "s3://awscli-sync")
    aws("s3", "sync", str(src), "s3://awscli-sync/tree")
    listed = aws("s3", "ls", "--recursive", "s3://awscli-sync/tree/").stdout
    for rel in digest_tree(src):
        assert f"tree/{rel}" in listed, (rel, listed)
    aws("s3", "sync", "s3://awscli-sync/tree", str(down))
    assert digest_tree(down) == digest_tree(src)
    # A second sync has nothing to do.
    assert aws("s3", "sync", str(src), "s3://awscli-sync/tree").stdout.strip() == ""
    aws("s3", "rm", "--recursive", "s3://awscli-sync/tree")
    aws("s3", "rb", "s3://awscli-sync")
    assert not bucket_exists(s3, "awscli-sync")


def test_s3cmd_configured_for_another_region_re_signs(server, s3, tmp_path):
    """s3cmd reads the expected region from AuthorizationHeaderMalformed and retries."""
    host = urlparse(server["endpoint"]).netloc
    config = tmp_path / "s3cmd-eu.cfg"
    config.write_text(f"[default]\naccess_key = {ROOT_KEY}\nsecret_key = {ROOT_SECRET}\n"
                      f"host_base = {host}\nhost_bucket = {host}\nuse_https = False\n"
                      "signature_v2 = False\nbucket_location = eu-west-1\n")
    s3.create_bucket(Bucket="s3cmd-region")
    src = tmp_path / "one.txt"
    src.write_bytes(b"region")
    s3cmd = ["s3cmd", "-c", str(config)]
    run(s3cmd + ["put", str(src), "s3://s3cmd-region/one.txt"], dict(os.environ))
    assert s3.get_object(Bucket="s3cmd-region", Key="one.txt")["Body"].read() == b"region"
    s3.delete_object(Bucket="s3cmd-region", Key="one.txt")
    s3.delete_bucket(Bucket="s3cmd-region")
