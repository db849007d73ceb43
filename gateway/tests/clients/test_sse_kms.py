"""boto3 against a real rucket server: SSE-KMS through Rucket's own key store (keys made,
listed, disabled and enabled with `rucket kms`, the admin API), on PUT, GET, HEAD,
multipart and bucket default encryption, copies between every pair of encryption kinds
(none, SSE-S3, SSE-KMS, SSE-C) in CopyObject and UploadPartCopy, and the refusals."""

import json
import os
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT_KEY, ROOT_SECRET, rucket_key
from test_s3_encryption import complete, copy_source_customer, customer, fails, files_containing, marked

CHUNK = 64 * 1024


def rucket_kms(server, *args, check=True):
    """Runs `rucket kms ARGS` as root; its JSON answer (or the failed run)."""
    env = dict(os.environ, RUCKET_ACCESS_KEY_ID=ROOT_KEY, RUCKET_SECRET_ACCESS_KEY=ROOT_SECRET,
               RUCKET_ENDPOINT=server["endpoint"])
    result = subprocess.run([server["binary"], "kms", *args], env=env, capture_output=True, text=True, timeout=60)
    if not check:
        return result
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture()
def bucket(s3):
    name = "kms-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture()
def kms_key(server):
    return rucket_kms(server, "create", "--id", "app-" + uuid.uuid4().hex[:8], "--description", "tests")["id"]


def kms(key_id):
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_id}


def test_objects_seal_under_a_named_key_and_echo_it(s3, server, bucket, kms_key):
    listed = {k["id"]: k for k in rucket_kms(server, "list")["keys"]}
    assert listed[kms_key]["enabled"] is True and listed[kms_key]["description"] == "tests"
    assert set(listed[kms_key]) == {"id", "description", "enabled", "master_key", "created"}
    marker, body = marked(3 * CHUNK + 5)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, **kms(kms_key))
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", kms_key)
    got = s3.get_object(Bucket=bucket, Key="k")
    assert (got["ServerSideEncryption"], got["SSEKMSKeyId"]) == ("aws:kms", kms_key)
    assert got["Body"].read() == body
    head = s3.head_object(Bucket=bucket, Key="k")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", kms_key)
    ranged = s3.get_object(Bucket=bucket, Key="k", Range=f"bytes={CHUNK - 3}-{CHUNK + 3}")
    assert ranged["Body"].read() == body[CHUNK - 3:CHUNK + 4]
    # Clients name keys by id, alias or ARN; small (inline) bodies are sealed too.
    small_marker, small = marked(100)
    arn = f"arn:aws:kms:us-east-1:123456789012:key/{kms_key}"
    s3.put_object(Bucket=bucket, Key="small", Body=small, **kms(arn))
    assert s3.head_object(Bucket=bucket, Key="small")["SSEKMSKeyId"] == kms_key
    s3.put_object(Bucket=bucket, Key="alias", Body=b"a", **kms("alias/" + kms_key))
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == small
    for needle in (marker, small_marker):
        assert files_containing(server["data"], needle) == [], "no plaintext reaches the disk"


def test_aws_kms_without_a_key_uses_the_default_key(s3, server, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 1000, ServerSideEncryption="aws:kms")
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", "aws/s3")
    # (Made by the first such write of the session; cli/tests/it/encryption.rs sees it made.)
    assert "aws/s3" in {k["id"] for k in rucket_kms(server, "list")["keys"]}
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x" * 1000


def test_refusals_write_nothing(s3, bucket, kms_key):
    def refused(**extra):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="k", Body=b"x", **extra)
        return fails(e)

    assert refused(**kms("no-such-key")) == (400, "KMS.NotFoundException")
    assert refused(ServerSideEncryption="AES256", SSEKMSKeyId=kms_key) == (400, "InvalidArgument")
    assert refused(ServerSideEncryption="aws:kms:dsse") == (501, "NotImplemented")
    assert refused(**kms(kms_key), SSEKMSEncryptionContext="e30=") == (501, "NotImplemented")
    assert refused(**kms(kms_key), **customer()) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="mp", **kms("no-such-key"))
    assert fails(e) == (400, "KMS.NotFoundException")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_disabled_key_seals_and_opens_nothing_until_enabled(s3, server, bucket, kms_key):
    s3.put_object(Bucket=bucket, Key="k", Body=b"before" * 1000, **kms(kms_key))
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", **kms(kms_key))
    done = s3.create_multipart_upload(Bucket=bucket, Key="done", **kms(kms_key))
    part = s3.upload_part(Bucket=bucket, Key="done", UploadId=done["UploadId"], PartNumber=1, Body=b"p" * 100)
    assert rucket_kms(server, "disable", kms_key)["enabled"] is False
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"x", **kms(kms_key))
    assert fails(e) == (400, "KMS.DisabledException")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert fails(e) == (400, "KMS.DisabledException")
    # What needs no data still answers, as in S3.
    head = s3.head_object(Bucket=bucket, Key="k")
    assert (head["SSEKMSKeyId"], head["ContentLength"]) == (kms_key, 6000)
    attributes = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert attributes["ObjectSize"] == 6000
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"p")
    assert fails(e) == (400, "KMS.DisabledException")
    # Parts stored before the key was disabled do not become an object under it.
    with pytest.raises(ClientError) as e:
        complete(s3, bucket, "done", done, [part["ETag"]])
    assert fails(e) == (400, "KMS.DisabledException")
    for write in (lambda: s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "plain"},
                                         **kms(kms_key)),
                  lambda: s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k"})):
        with pytest.raises(ClientError) as e:
            write()
        assert fails(e) == (400, "KMS.DisabledException")
    assert rucket_kms(server, "enable", kms_key)["enabled"] is True
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"before" * 1000
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k", "plain"]
    complete(s3, bucket, "done", done, [part["ETag"]])
    assert s3.get_object(Bucket=bucket, Key="done")["Body"].read() == b"p" * 100


def test_the_key_store_is_an_operators(server):
    result = rucket_kms(server, "create", "--id", "bad id", check=False)
    assert result.returncode != 0 and "400" in result.stderr
    created = rucket_kms(server, "create")["id"]
    assert len(created) == 36, "a generated id looks like AWS's"
    again = rucket_kms(server, "create", "--id", created, check=False)
    assert again.returncode != 0 and "409" in again.stderr
    missing = rucket_kms(server, "disable", "no-such-key", check=False)
    assert missing.returncode != 0 and "404" in missing.stderr and "NoSuchEntity" in missing.stderr
    # A user that is no operator cannot reach the key store through the admin API.
    user = rucket_key(server, "create", "--user", "kms-" + uuid.uuid4().hex[:8])
    env = dict(os.environ, RUCKET_ACCESS_KEY_ID=user["access_key_id"],
               RUCKET_SECRET_ACCESS_KEY=user["secret_access_key"], RUCKET_ENDPOINT=server["endpoint"])
    denied = subprocess.run([server["binary"], "kms", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert denied.returncode != 0 and "403" in denied.stderr
    # Nor can a scoped admin token (its power is over access keys): the keys hold every
    # user's data.
    token = rucket_key(server, "create", "--user", "kms-admin-" + uuid.uuid4().hex[:8], "--admin")
    env = dict(env, RUCKET_ACCESS_KEY_ID=token["access_key_id"], RUCKET_SECRET_ACCESS_KEY=token["secret_access_key"])
    for args in (["list"], ["disable", created], ["create", "--id", "by-token-" + uuid.uuid4().hex[:6]]):
        refused = subprocess.run([server["binary"], "kms", *args], env=env, capture_output=True, text=True,
                                 timeout=60)
        assert refused.returncode != 0 and "403" in refused.stderr, args
    assert rucket_kms(server, "list")["keys"] and all(
        k["enabled"] for k in rucket_kms(server, "list")["keys"] if k["id"] == created)


def test_bucket_default_kms_encryption(s3, bucket, kms_key):
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key}}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    got = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert got["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key}
    s3.put_object(Bucket=bucket, Key="by-default", Body=b"d" * 5000)
    head = s3.head_object(Bucket=bucket, Key="by-default")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", kms_key)
    # `aws:kms` without a key takes the bucket's key; a request's own choice wins.
    assert s3.put_object(Bucket=bucket, Key="kms", Body=b"k", ServerSideEncryption="aws:kms")["SSEKMSKeyId"] == kms_key
    own = s3.put_object(Bucket=bucket, Key="own", Body=b"o", ServerSideEncryption="AES256")
    assert own["ServerSideEncryption"] == "AES256" and "SSEKMSKeyId" not in own
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert upload["SSEKMSKeyId"] == kms_key
    bad = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "no-such-key"}}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [bad]})
    assert fails(e) == (400, "KMS.NotFoundException")
    s3.delete_bucket_encryption(Bucket=bucket)
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="after", Body=b"z")
    assert s3.get_object(Bucket=bucket, Key="by-default")["Body"].read() == b"d" * 5000


def test_multipart_under_a_kms_key(s3, bucket, kms_key):
    _, first = marked(5 * 1024 * 1024)
    _, second = marked(CHUNK + 17)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", **kms(kms_key))
    assert (upload["ServerSideEncryption"], upload["SSEKMSKeyId"]) == ("aws:kms", kms_key)
    etags = []
    for number, body in enumerate([first, second], start=1):
        part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=number, Body=body)
        assert part["SSEKMSKeyId"] == kms_key
        etags.append(part["ETag"])
    done = complete(s3, bucket, "mp", upload, etags)
    assert (done["ServerSideEncryption"], done["SSEKMSKeyId"]) == ("aws:kms", kms_key)
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == first + second
    assert s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)["Body"].read() == second


KINDS = ["none", "sse-s3", "sse-kms", "sse-c"]


def write_args(kind, kms_key):
    return {"none": {}, "sse-s3": {"ServerSideEncryption": "AES256"}, "sse-kms": kms(kms_key),
            "sse-c": customer()}[kind]


def read_args(kind):
    return customer() if kind == "sse-c" else {}


def check_kind(s3, bucket, key, kind, kms_key, body):
    got = s3.get_object(Bucket=bucket, Key=key, **read_args(kind))
    assert got["Body"].read() == body, (key, kind)
    expected = {"none": None, "sse-s3": "AES256", "sse-kms": "aws:kms", "sse-c": None}[kind]
    assert got.get("ServerSideEncryption") == expected, (key, kind)
    assert got.get("SSEKMSKeyId") == (kms_key if kind == "sse-kms" else None), (key, kind)
    assert ("SSECustomerAlgorithm" in got) == (kind == "sse-c"), (key, kind)


def test_copy_object_between_every_pair_of_kinds(s3, bucket, kms_key):
    _, body = marked(CHUNK + 99)
    for source in KINDS:
        s3.put_object(Bucket=bucket, Key=f"src-{source}", Body=body, **write_args(source, kms_key))
        source_args = copy_source_customer() if source == "sse-c" else {}
        for dest in KINDS:
            key = f"{source}-to-{dest}"
            out = s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": f"src-{source}"},
                                 **source_args, **write_args(dest, kms_key))
            assert out.get("SSEKMSKeyId") == (kms_key if dest == "sse-kms" else None), key
            check_kind(s3, bucket, key, dest, kms_key, body)


def test_upload_part_copy_between_every_pair_of_kinds(s3, bucket, kms_key):
    _, body = marked(CHUNK + 7)
    for source in KINDS:
        s3.put_object(Bucket=bucket, Key=f"src-{source}", Body=body, **write_args(source, kms_key))
    for dest in KINDS:
        for source in KINDS:
            key = f"part-{source}-to-{dest}"
            upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **write_args(dest, kms_key))
            source_args = copy_source_customer() if source == "sse-c" else {}
            dest_args = customer() if dest == "sse-c" else {}
            part = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1,
                                       CopySource={"Bucket": bucket, "Key": f"src-{source}"},
                                       **source_args, **dest_args)
            complete(s3, bucket, key, upload, [part["CopyPartResult"]["ETag"]])
            check_kind(s3, bucket, key, dest, kms_key, body)


def test_post_uploads_seal_under_a_named_key(s3, bucket, kms_key):
    import requests

    fields = {"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": kms_key}
    post = s3.generate_presigned_post(bucket, "posted", Fields=fields,
                                      Conditions=[{k: v} for k, v in fields.items()])
    r = requests.post(post["url"], data=post["fields"], files={"file": ("a.txt", b"posted under kms")})
    assert r.status_code == 204, r.text
    head = s3.head_object(Bucket=bucket, Key="posted")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", kms_key)
    assert s3.get_object(Bucket=bucket, Key="posted")["Body"].read() == b"posted under kms"


def test_anonymous_reads_of_kms_objects_are_refused_whatever_the_acl(s3, server, bucket, kms_key):
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    s3.put_object(Bucket=bucket, Key="kms", Body=b"k", ACL="public-read", **kms(kms_key))
    s3.put_object(Bucket=bucket, Key="s3", Body=b"s", ACL="public-read", ServerSideEncryption="AES256")
    anonymous = boto3.client("s3", endpoint_url=server["endpoint"], region_name="us-east-1",
                             config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
    assert anonymous.get_object(Bucket=bucket, Key="s3")["Body"].read() == b"s", "the control"
    for read in (anonymous.get_object, anonymous.head_object):
        with pytest.raises(ClientError) as e:
            read(Bucket=bucket, Key="kms")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert s3.get_object(Bucket=bucket, Key="kms")["Body"].read() == b"k"
