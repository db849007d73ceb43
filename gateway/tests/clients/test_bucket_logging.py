"""boto3 against a real rucket server: server access logging. Put/GetBucketLogging and
their refusals, and access records delivered to the target bucket as objects in S3's log
format (the session server delivers every 200 ms)."""

import re
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from test_s3_encryption import fails

# S3's access log line: owner bucket [time] ip requester request-id operation key
# "request-uri" status error bytes size total turnaround "referer" "agent" version host-id
# sig cipher auth host tls access-point acl-required
LINE = re.compile(
    r'^(?P<owner>\S+) (?P<bucket>\S+) \[(?P<time>[^\]]+)\] (?P<ip>\S+) (?P<requester>\S+) (?P<request_id>\S+) '
    r'(?P<operation>\S+) (?P<key>\S+) "(?P<uri>[^"]*)" (?P<status>\d{3}) (?P<error>\S+) (?P<bytes>\S+) '
    r'(?P<size>\S+) (?P<total>\d+) (?P<turnaround>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)" (?P<version>\S+) '
    r'(?P<host_id>\S+) (?P<sig>\S+) (?P<cipher>\S+) (?P<auth>\S+) (?P<host>\S+) (?P<tls>\S+) (?P<ap>\S+) '
    r'(?P<acl>\S+)$')


def new_bucket(s3, prefix):
    name = prefix + "-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    return name


def enable(s3, source, target, prefix="logs/", key_format=None):
    enabled = {"TargetBucket": target, "TargetPrefix": prefix}
    if key_format:
        enabled["TargetObjectKeyFormat"] = key_format
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": enabled})


def delivered(s3, target, prefix, until, timeout=20):
    """Every record under `prefix` in `target`, once `until(records)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        records = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target, Prefix=prefix):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=target, Key=item["Key"])["Body"].read().decode()
                for line in body.splitlines():
                    match = LINE.match(line)
                    assert match, f"not an access log line: {line!r}"
                    records.append(match.groupdict() | {"object": item["Key"]})
        if until(records):
            return records
        assert time.monotonic() < deadline, f"records never arrived: {records}"
        time.sleep(0.1)


def test_logging_configuration_round_trips(s3):
    source, target = new_bucket(s3, "logged"), new_bucket(s3, "logs")
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=source)
    enable(s3, source, target, "a/")
    got = s3.get_bucket_logging(Bucket=source)["LoggingEnabled"]
    assert (got["TargetBucket"], got["TargetPrefix"]) == (target, "a/")
    assert got["TargetObjectKeyFormat"] == {"SimplePrefix": {}}
    partitioned = {"PartitionedPrefix": {"PartitionDateSource": "DeliveryTime"}}
    enable(s3, source, target, "b/", partitioned)
    assert s3.get_bucket_logging(Bucket=source)["LoggingEnabled"]["TargetObjectKeyFormat"] == partitioned
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={})
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=source)


def test_logging_refusals(s3, alt):
    source = new_bucket(s3, "logged")
    with pytest.raises(ClientError) as e:
        enable(s3, source, "no-such-bucket-" + uuid.uuid4().hex[:8])
    assert fails(e) == (400, "InvalidTargetBucketForLogging")
    others = new_bucket(alt, "alts")
    with pytest.raises(ClientError) as e:
        enable(s3, source, others)
    assert fails(e) == (400, "InvalidTargetBucketForLogging")
    with pytest.raises(ClientError) as e:
        enable(alt, source, others)
    assert fails(e) == (403, "AccessDenied")
    grants = {"TargetBucket": source, "TargetPrefix": "x/",
              "TargetGrants": [{"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                                "Permission": "READ"}]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": grants})
    assert fails(e) == (501, "NotImplemented")
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=source), "nothing changed"


def test_requests_are_delivered_as_access_log_objects(s3):
    source, target = new_bucket(s3, "logged"), new_bucket(s3, "logs")
    owner = s3.get_bucket_acl(Bucket=source)["Owner"]["ID"]
    enable(s3, source, target, "src/")
    put = s3.put_object(Bucket=source, Key="dir/a b.txt", Body=b"x" * 1234)
    get = s3.get_object(Bucket=source, Key="dir/a b.txt")
    get["Body"].read()
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=source, Key="missing")
    missing_id = e.value.response["ResponseMetadata"]["RequestId"]
    s3.list_objects_v2(Bucket=source)
    s3.get_object_acl(Bucket=source, Key="dir/a b.txt")
    wanted = {put["ResponseMetadata"]["RequestId"], get["ResponseMetadata"]["RequestId"], missing_id}
    records = delivered(s3, target, "src/", lambda rs: wanted <= {r["request_id"] for r in rs} and len(rs) >= 5)
    by_id = {r["request_id"]: r for r in records}
    wrote = by_id[put["ResponseMetadata"]["RequestId"]]
    assert (wrote["owner"], wrote["bucket"], wrote["requester"]) == (owner, source, owner)
    assert (wrote["operation"], wrote["key"], wrote["status"]) == ("REST.PUT.OBJECT", "dir/a%20b.txt", "200")
    assert wrote["size"] == "1234" and wrote["sig"] == "SigV4" and wrote["auth"] == "AuthHeader"
    assert wrote["uri"].startswith(f"PUT /{source}/dir/a%20b.txt") and wrote["ip"] == "127.0.0.1"
    assert wrote["agent"].startswith("Boto3/") or "botocore" in wrote["agent"]
    read = by_id[get["ResponseMetadata"]["RequestId"]]
    assert (read["operation"], read["bytes"], read["size"], read["error"]) == ("REST.GET.OBJECT", "1234", "1234", "-")
    refused = by_id[missing_id]
    assert (refused["status"], refused["error"], refused["key"]) == ("404", "NoSuchKey", "missing")
    operations = {r["operation"] for r in records}
    assert {"REST.GET.BUCKET", "REST.GET.ACL"} <= operations
    assert all(re.fullmatch(r"src/\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9A-F]{16}", r["object"]) for r in records)
    # Log objects are the target owner's, plain text, and their delivery is not logged.
    an_object = records[0]["object"]
    head = s3.head_object(Bucket=target, Key=an_object)
    assert head["ContentType"] == "text/plain"
    assert s3.get_object_acl(Bucket=target, Key=an_object)["Owner"]["ID"] == owner
    assert all(r["bucket"] == source for r in records)


def test_delivery_follows_the_configuration(s3):
    source, other = new_bucket(s3, "logged"), new_bucket(s3, "logged")
    target = new_bucket(s3, "logs")
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    s3.put_bucket_encryption(Bucket=target, ServerSideEncryptionConfiguration={"Rules": [rule]})
    enable(s3, source, target, "p/", {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}})
    first = s3.put_object(Bucket=source, Key="one", Body=b"1")["ResponseMetadata"]["RequestId"]
    records = delivered(s3, target, "p/", lambda rs: first in {r["request_id"] for r in rs})
    key = records[0]["object"]
    assert re.fullmatch(rf"p/000000000000/us-east-1/{source}/\d{{4}}/\d\d/\d\d/\d{{4}}-\d\d-\d\d-00-00-00-[0-9A-F]{{16}}",
                        key), key
    assert s3.head_object(Bucket=target, Key=key)["ServerSideEncryption"] == "AES256", "the target's default"
    # Logging off: later requests are not recorded. Another bucket's record, delivered
    # after them, shows a delivery happened since.
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={})
    unlogged = s3.put_object(Bucket=source, Key="two", Body=b"2")["ResponseMetadata"]["RequestId"]
    enable(s3, other, target, "q/")
    marker = s3.put_object(Bucket=other, Key="m", Body=b"m")["ResponseMetadata"]["RequestId"]
    delivered(s3, target, "q/", lambda rs: marker in {r["request_id"] for r in rs})
    everything = delivered(s3, target, "", lambda rs: True)
    assert unlogged not in {r["request_id"] for r in everything}


def test_records_never_reach_a_target_someone_else_made_again(s3, alt):
    source, target = new_bucket(s3, "logged"), new_bucket(s3, "logs")
    other_source, other_target = new_bucket(s3, "logged"), new_bucket(s3, "logs")
    enable(s3, source, target, "x/")
    enable(s3, other_source, other_target, "y/")
    # The target goes (emptied first: the records of the configuration call itself may
    # have arrived) and another user makes a bucket of its name.
    deadline = time.monotonic() + 20
    while True:
        for item in s3.list_objects_v2(Bucket=target).get("Contents", []):
            s3.delete_object(Bucket=target, Key=item["Key"])
        try:
            s3.delete_bucket(Bucket=target)
            break
        except ClientError as e:
            assert fails_code(e) == "BucketNotEmpty" and time.monotonic() < deadline
    alt.create_bucket(Bucket=target)
    s3.put_object(Bucket=source, Key="secret", Body=b"s")
    # A flush takes every held record; the one that delivers the first marker took the
    # secret's record too, and the second marker comes in a later flush.
    for _ in range(2):
        marker = s3.put_object(Bucket=other_source, Key="m", Body=b"m")["ResponseMetadata"]["RequestId"]
        delivered(s3, other_target, "y/", lambda rs: marker in {r["request_id"] for r in rs})
    assert alt.list_objects_v2(Bucket=target)["KeyCount"] == 0, "another user's bucket got the records"


def fails_code(error):
    return error.response["Error"]["Code"]
