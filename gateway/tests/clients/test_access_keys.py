"""Keys made with `rucket key` (the admin API) work with boto3 and the awscli, and an
identity policy limits them; a disabled key is refused."""

import json
import os
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import client_for as client, rucket_key


def test_a_new_key_works_with_boto3_and_awscli_until_limited_or_disabled(server, tmp_path):
    user = "u" + uuid.uuid4().hex[:8]
    created = rucket_key(server, "create", "--user", user)
    s3 = client(server, created)
    bucket = "keys-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="reports/a.txt", Body=b"a")
    s3.put_object(Bucket=bucket, Key="other/b.txt", Body=b"b")

    env = dict(os.environ, AWS_ACCESS_KEY_ID=created["access_key_id"],
               AWS_SECRET_ACCESS_KEY=created["secret_access_key"], AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    listed = subprocess.run(["aws", "--endpoint-url", server["endpoint"], "s3", "ls", f"s3://{bucket}/reports/"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "a.txt" in listed.stdout, listed.stderr

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::{bucket}/reports/*"},
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/reports/locked/*"},
    ]}))
    rucket_key(server, "allow", created["access_key_id"], "--policy", str(policy))
    assert s3.get_object(Bucket=bucket, Key="reports/a.txt")["Body"].read() == b"a"
    s3.put_object(Bucket=bucket, Key="reports/new.txt", Body=b"n")
    for call in (lambda: s3.get_object(Bucket=bucket, Key="other/b.txt"),
                 lambda: s3.put_object(Bucket=bucket, Key="reports/locked/x", Body=b"x"),
                 lambda: s3.list_objects_v2(Bucket=bucket)):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDenied"

    rucket_key(server, "disable", created["access_key_id"])
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="reports/a.txt")
    assert e.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    listed = rucket_key(server, "list")
    entry = next(k for k in listed["keys"] if k["access_key_id"] == created["access_key_id"])
    assert entry["enabled"] is False and entry["user"] == user
    assert created["secret_access_key"] not in json.dumps(listed)
    rucket_key(server, "delete", created["access_key_id"])
