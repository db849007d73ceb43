"""Starts the real rucket binary on a free loopback port for client smoke tests."""

import base64
import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT_KEY = "SMOKEROOT"
ROOT_SECRET = "smoke-root-secret"


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("RUCKET_BIN", os.path.join(os.path.dirname(__file__), "../../../target/debug/rucket"))
    data = tempfile.mkdtemp(prefix="rucket-smoke-")
    # The master key lives outside the data dir, as it should in production.
    keys = tempfile.mkdtemp(prefix="rucket-keys-")
    master_key = os.path.join(keys, "master.key")
    with open(master_key, "w") as f:
        f.write(base64.b64encode(os.urandom(32)).decode())
    env = dict(os.environ, RUCKET_ACCESS_KEY_ID=ROOT_KEY, RUCKET_SECRET_ACCESS_KEY=ROOT_SECRET,
               RUCKET_LOG="warn", RUCKET_MASTER_KEY_FILE=master_key, RUCKET_ALLOW_INSECURE_SSE_C="true",
               RUCKET_ACCESS_LOG_FLUSH_MS="200")
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(data, "data")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    address = None
    for line in proc.stdout:
        match = re.match(r"rucket listening on http://(\S+)", line)
        if match:
            address = match.group(1)
            break
    if address is None:
        proc.kill()
        raise RuntimeError("rucket did not start")
    # Keep draining stdout so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    handle = {"endpoint": f"http://{address}", "data": data, "binary": binary}
    yield handle
    # What a module's or the session's own fixtures made is cleaned up here, as each
    # test's buckets are after it (`cleans_up`).
    root = root_client(handle)
    kept = [why for why in (empty_and_delete(root, name) for name in all_buckets(root)) if why]
    proc.terminate()
    assert proc.wait(timeout=30) == 0, "rucket did not stop cleanly on SIGTERM"
    shutil.rmtree(data)
    shutil.rmtree(keys)
    assert all("COMPLIANCE" in why for why in kept), kept


def root_client(server):
    return boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id=ROOT_KEY,
                        aws_secret_access_key=ROOT_SECRET, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}))


@pytest.fixture()
def s3(server):
    return root_client(server)


def all_buckets(root):
    """Every bucket on the server, whoever owns it (root is an operator and sees all)."""
    return {b["Name"] for page in root.get_paginator("list_buckets").paginate() for b in page["Buckets"]}


def empty_and_delete(root, name):
    """Deletes every version and delete marker in bucket `name` (lifting legal holds and
    bypassing GOVERNANCE retention), then the bucket, whose incomplete uploads S3 deletes
    with it. Returns why the bucket has to stay, which can only be versions under
    COMPLIANCE retention, or None once it is gone; any other refusal fails the test.
    The bucket's policy is deleted first."""
    # A policy's Deny binds operators too, but its bucket's owner and the operators may
    # always delete the policy.
    root.delete_bucket_policy(Bucket=name)
    compliance = []
    for page in root.get_paginator("list_object_versions").paginate(Bucket=name):
        for version in page.get("Versions", []) + page.get("DeleteMarkers", []):
            key, version_id = version["Key"], version["VersionId"]
            try:
                root.delete_object(Bucket=name, Key=key, VersionId=version_id, BypassGovernanceRetention=True)
                continue
            except ClientError as e:
                if e.response["Error"]["Code"] != "AccessDenied":
                    raise
            hold = root.get_object_legal_hold(Bucket=name, Key=key, VersionId=version_id)["LegalHold"]
            if hold["Status"] == "ON":
                root.put_object_legal_hold(Bucket=name, Key=key, VersionId=version_id,
                                           LegalHold={"Status": "OFF"})
                root.delete_object(Bucket=name, Key=key, VersionId=version_id, BypassGovernanceRetention=True)
                continue
            retention = root.get_object_retention(Bucket=name, Key=key, VersionId=version_id)["Retention"]
            now = datetime.datetime.now(datetime.timezone.utc)
            assert retention["Mode"] == "COMPLIANCE" and retention["RetainUntilDate"] > now, (name, key, retention)
            compliance.append(key)
    if compliance:
        return f"{name}: {len(compliance)} versions under COMPLIANCE retention"
    root.delete_bucket(Bucket=name)
    return None


@pytest.fixture(autouse=True)
def cleans_up(server):
    """Every test leaves the shared server as it found it: the buckets it made (as any
    user) are emptied and deleted after it, and a refusal to delete one fails the test,
    so no leftover can hide behind a fresh server. Buckets holding versions under
    COMPLIANCE retention are the one exception: S3 lets no one delete those."""
    root = root_client(server)
    before = all_buckets(root)
    yield
    for name in sorted(all_buckets(root) - before):
        empty_and_delete(root, name)


@pytest.fixture()
def aws(server, tmp_path):
    """Runs the awscli against the server with default settings."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))

    def run(*args, check=True):
        result = subprocess.run(["aws", "--endpoint-url", server["endpoint"], *args], env=env,
                                capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {result.stderr}")
        return result

    return run


def rucket_key(server, *args):
    """Runs `rucket key ARGS` (the admin API) as root and returns its JSON answer."""
    env = dict(os.environ, RUCKET_ACCESS_KEY_ID=ROOT_KEY, RUCKET_SECRET_ACCESS_KEY=ROOT_SECRET,
               RUCKET_ENDPOINT=server["endpoint"])
    result = subprocess.run([server["binary"], "key", *args], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def client_for(server, created):
    """A boto3 client signing with a key made by `rucket key create`."""
    return boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id=created["access_key_id"],
                        aws_secret_access_key=created["secret_access_key"], region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="session")
def alt_user(server):
    """A second user (not an operator), its id and a client signing as it."""
    user = "alt-" + os.urandom(4).hex()
    return user, client_for(server, rucket_key(server, "create", "--user", user))


@pytest.fixture()
def alt(alt_user):
    return alt_user[1]
