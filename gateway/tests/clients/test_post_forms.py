"""Browser uploads with hand-made forms and SigV2-signed policies (the way older upload
pages and Ceph's suite build them): what a form may say, and what each mistake answers."""

import base64
import datetime
import hashlib
import hmac
import json
import uuid

import pytest
import requests

from conftest import ROOT_KEY, ROOT_SECRET


@pytest.fixture()
def bucket(s3):
    name = "form-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=name)
    return name


def signed(policy):
    encoded = base64.b64encode(json.dumps(policy).encode()).decode()
    signature = base64.b64encode(hmac.new(ROOT_SECRET.encode(), encoded.encode(), hashlib.sha1).digest()).decode()
    return encoded, signature


def expiring(seconds=600):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def post(server, bucket, conditions, fields, file=("foo.txt", b"bar"), policy=None, sign=True, **kw):
    policy = policy if policy is not None else {"expiration": expiring(), "conditions": conditions}
    encoded, signature = signed(policy)
    form = {"AWSAccessKeyId": ROOT_KEY, "policy": encoded}
    if sign:
        form["signature"] = signature
    form.update(fields)
    parts = [(k, (None, v)) for k, v in form.items()] + [("file", file)]
    return requests.post(f"{server['endpoint']}/{bucket}", files=parts, timeout=30, **kw)


def test_the_key_may_name_the_files_own_name(s3, server, bucket):
    r = post(server, bucket, [{"bucket": bucket}, ["starts-with", "$key", "foo"]], {"key": "${filename}"})
    assert r.status_code == 204, r.text
    assert s3.get_object(Bucket=bucket, Key="foo.txt")["Body"].read() == b"bar"
    # The policy judges the key the name made: a name outside its prefix is refused.
    r = post(server, bucket, [{"bucket": bucket}, ["starts-with", "$key", "foo"]], {"key": "${filename}"},
             file=("other.txt", b"bar"))
    assert r.status_code == 403, r.text
    r = post(server, bucket, [{"bucket": bucket}, ["starts-with", "$key", "up/"]], {"key": "up/${filename}"})
    assert r.status_code == 204 and s3.head_object(Bucket=bucket, Key="up/foo.txt")["ContentLength"] == 3


def test_malformed_policies_and_forms_are_400(server, bucket):
    base = [{"bucket": bucket}, ["starts-with", "$key", "foo"]]
    fields = {"key": "foo.txt"}
    not_iso = str(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10))
    cases = {
        "a date that is not ISO 8601": {"policy": {"expiration": not_iso, "conditions": base}},
        "no expiration": {"policy": {"conditions": base}},
        "no conditions": {"policy": {"expiration": expiring()}},
        "EXPIRATION": {"policy": {"EXPIRATION": expiring(), "conditions": base}},
        "CONDITIONS": {"policy": {"expiration": expiring(), "CONDITIONS": base}},
        "an empty condition": {"policy": {"expiration": expiring(), "conditions": [{}]}},
        "a one-argument length range": {"conditions": base + [["content-length-range", 0]]},
        "a negative length range": {"conditions": base + [["content-length-range", -1, 0]]},
        "no signature": {"conditions": base, "sign": False},
    }
    for name, case in cases.items():
        r = post(server, bucket, case.get("conditions", []), fields, policy=case.get("policy"),
                 sign=case.get("sign", True))
        assert r.status_code == 400, (name, r.status_code, r.text)


def test_a_form_for_one_bucket_is_refused_by_another(s3, server, bucket):
    other = "form-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=other)
    policy = {"expiration": expiring(), "conditions": [{"bucket": bucket}, ["starts-with", "$key", "foo"]]}
    r = post(server, other, [], {"key": "foo.txt", "bucket": bucket}, policy=policy)
    assert r.status_code == 403, r.text
    assert "Contents" not in s3.list_objects_v2(Bucket=other)


def test_a_checksum_field_is_verified(s3, server, bucket):
    body = b"x" * 4096
    good = base64.b64encode(hashlib.sha256(body).digest()).decode()
    conditions = [{"bucket": bucket}, ["starts-with", "$key", "sum"], ["content-length-range", 0, 1 << 20]]
    r = post(server, bucket, conditions, {"key": "sum-good", "x-amz-checksum-sha256": good}, file=("f", body))
    assert r.status_code == 204, r.text
    assert s3.head_object(Bucket=bucket, Key="sum-good", ChecksumMode="ENABLED")["ChecksumSHA256"] == good
    r = post(server, bucket, conditions, {"key": "sum-bad", "x-amz-checksum-sha256": "sailorjerry"}, file=("f", body))
    assert r.status_code == 400, r.text
    r = post(server, bucket, conditions, {"key": "sum-two", "x-amz-checksum-sha256": good, "x-amz-checksum-crc32": "AAAAAA=="},
             file=("f", body))
    assert r.status_code == 400, r.text
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    r = post(server, bucket, conditions, {"key": "sum-wrong", "x-amz-checksum-sha256": wrong}, file=("f", body))
    assert r.status_code == 400, r.text
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["sum-good"]


def test_success_answers(s3, server, bucket):
    conditions = [{"bucket": bucket}, ["starts-with", "$key", "foo"], ["starts-with", "$success_action_status", ""]]
    r = post(server, bucket, conditions, {"key": "foo.txt", "success_action_status": "201"})
    assert r.status_code == 201 and "<Key>foo.txt</Key>" in r.text, r.text
    r = post(server, bucket, conditions, {"key": "foo.txt", "success_action_status": "404"})
    assert r.status_code == 204 and r.content == b"", r.text
    # The redirect keeps the URL as given and adds where the object went.
    target = f"{server['endpoint']}/{bucket}?list-type=2&x=1"
    conditions = [{"bucket": bucket}, ["starts-with", "$key", "foo"], ["eq", "$success_action_redirect", target]]
    r = post(server, bucket, conditions, {"key": "foo.txt", "success_action_redirect": target}, allow_redirects=False)
    assert r.status_code == 303, r.text
    etag = s3.head_object(Bucket=bucket, Key="foo.txt")["ETag"].strip('"')
    assert r.headers["Location"] == f"{target}&bucket={bucket}&key=foo.txt&etag=%22{etag}%22"
    # A form that names a field twice could be read two ways: it is refused.
    encoded, signature = signed({"expiration": expiring(), "conditions": conditions})
    parts = [("key", (None, "foo.txt")), ("AWSAccessKeyId", (None, ROOT_KEY)), ("policy", (None, encoded)),
             ("signature", (None, signature)), ("success_action_redirect", (None, "http://elsewhere.invalid/")),
             ("success_action_redirect", (None, target)), ("file", ("foo.txt", b"bar"))]
    r = requests.post(f"{server['endpoint']}/{bucket}", files=parts, timeout=30, allow_redirects=False)
    assert r.status_code == 400 and "InvalidArgument" in r.text, r.text


def test_conditions_on_fields_the_form_leaves_out(s3, server, bucket):
    # starts-with "" holds for a field that is not sent; any other condition needs it.
    conditions = [{"bucket": bucket}, ["starts-with", "$key", "foo"], ["starts-with", "$x-amz-meta-note", ""]]
    r = post(server, bucket, conditions, {"key": "foo.txt"})
    assert r.status_code == 204, r.text
    conditions = [{"bucket": bucket}, ["starts-with", "$key", "foo"], ["starts-with", "$x-amz-meta-note", "b"]]
    assert post(server, bucket, conditions, {"key": "foo.txt"}).status_code == 403
    r = post(server, bucket, conditions, {"key": "foo.txt", "x-amz-meta-note": "barclamp"})
    assert r.status_code == 204 and s3.head_object(Bucket=bucket, Key="foo.txt")["Metadata"] == {"note": "barclamp"}
    # Condition names are not case-sensitive; nor are the form's field names.
    conditions = [{"bUcKeT": bucket}, ["StArTs-WiTh", "$KeY", "foo"]]
    assert post(server, bucket, conditions, {"kEy": "foo.txt"}).status_code == 204
