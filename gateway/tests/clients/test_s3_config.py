"""boto3 against a real rucket server: bucket configurations (tagging, CORS and its
preflights, lifecycle, notifications) and their errors."""

import datetime
import email.utils
import re
import uuid

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ROOT_KEY, ROOT_SECRET


def fails(excinfo):
    """(HTTP status, S3 error code) of a ClientError."""
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


@pytest.fixture()
def bucket(s3):
    name = "conf-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=name)
    return name


# --- Bucket tagging ---------------------------------------------------------------------------


def test_bucket_tagging_round_trip(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert fails(e) == (404, "NoSuchTagSet")
    tags = [{"Key": "team", "Value": "storage"}, {"Key": "cost centre", "Value": "42 / b"}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert sorted(s3.get_bucket_tagging(Bucket=bucket)["TagSet"], key=lambda t: t["Key"]) == sorted(
        tags, key=lambda t: t["Key"])
    # A new set replaces the old one.
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "only", "Value": ""}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "only", "Value": ""}]
    assert s3.delete_bucket_tagging(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert fails(e) == (404, "NoSuchTagSet")


def test_bucket_tagging_limits(s3, bucket):
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(50)]})
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50
    for tags in [
        [{"Key": f"k{i}", "Value": "v"} for i in range(51)],
        [{"Key": "k" * 129, "Value": "v"}],
        [{"Key": "k", "Value": "v" * 257}],
        [{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}],
        [{"Key": "aws:createdBy", "Value": "me"}],
    ]:
        with pytest.raises(ClientError) as e:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
        assert fails(e) == (400, "InvalidTag"), tags[0]["Key"][:10]
    # The failed puts left the old set alone.
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50


def test_bucket_tagging_of_missing_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket="conf-no-such-bucket-tags")
    assert fails(e) == (404, "NoSuchBucket")


# --- CORS -------------------------------------------------------------------------------------

RULES = [
    {"ID": "app", "AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET", "PUT"],
     "AllowedHeaders": ["x-amz-*", "content-type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["https://*.partner.example"], "AllowedMethods": ["GET"]},
]


def test_cors_round_trip(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert fails(e) == (404, "NoSuchCORSConfiguration")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got[0] == RULES[0]
    assert got[1]["AllowedOrigins"] == RULES[1]["AllowedOrigins"]
    assert got[1]["AllowedMethods"] == ["GET"]
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert fails(e) == (404, "NoSuchCORSConfiguration")


@pytest.mark.parametrize("rule", [
    {"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["get"]},
    {"AllowedOrigins": ["https://*.*.example"], "AllowedMethods": ["GET"]},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]},
], ids=["patch", "lowercase", "two-origin-wildcards", "two-header-wildcards"])
def test_cors_invalid_rules(s3, bucket, rule):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
    assert fails(e) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert fails(e) == (404, "NoSuchCORSConfiguration")


def test_cors_malformed(s3, bucket):
    for rules in [[], [{"AllowedOrigins": ["*"], "AllowedMethods": []}]]:
        with pytest.raises(ClientError) as e:
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
        assert fails(e) == (400, "MalformedXML"), rules


def test_cors_too_many_rules(s3, bucket):
    rules = [{"AllowedOrigins": [f"https://{i}.example"], "AllowedMethods": ["GET"]} for i in range(101)]
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    assert fails(e)[0] == 400
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules[:100]})
    assert len(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]) == 100


def preflight(server, bucket, key="obj", **headers):
    return requests.options(f"{server['endpoint']}/{bucket}/{key}", headers=headers, timeout=10)


def test_cors_preflight(s3, server, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    r = preflight(server, bucket, Origin="https://app.example.com", **{
        "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "x-amz-meta-a, Content-Type"})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "PUT" in r.headers["access-control-allow-methods"]
    assert "etag" in r.headers["access-control-expose-headers"].lower()
    assert r.headers["access-control-max-age"] == "600"
    allowed = r.headers["access-control-allow-headers"].lower()
    assert "x-amz-meta-a" in allowed and "content-type" in allowed

    # The wildcard origin rule.
    r = preflight(server, bucket, Origin="https://shop.partner.example", **{"Access-Control-Request-Method": "GET"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://shop.partner.example"

    # The preflight of a bucket-level request.
    r = requests.options(f"{server['endpoint']}/{bucket}", headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}, timeout=10)
    assert r.status_code == 200


@pytest.mark.parametrize("origin,method,request_headers", [
    ("https://evil.example.com", "GET", None),
    ("https://app.example.com", "DELETE", None),
    ("https://shop.partner.example", "PUT", None),
    ("https://app.example.com", "PUT", "x-forbidden"),
], ids=["origin", "method", "method-of-wildcard-rule", "header"])
def test_cors_preflight_refused(s3, server, bucket, origin, method, request_headers):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if request_headers:
        headers["Access-Control-Request-Headers"] = request_headers
    r = preflight(server, bucket, **headers)
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers
    assert "AccessForbidden" in r.text


def test_cors_preflight_bad_requests(s3, server, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    r = preflight(server, bucket, **{"Access-Control-Request-Method": "GET"})
    assert r.status_code == 400
    r = preflight(server, bucket, Origin="https://app.example.com")
    assert r.status_code == 400
    # A bucket without rules refuses every preflight.
    other = "conf-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=other)
    r = preflight(server, other, Origin="https://app.example.com", **{"Access-Control-Request-Method": "GET"})
    assert r.status_code == 403


def test_cors_headers_on_actual_requests(s3, server, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    s3.put_object(Bucket=bucket, Key="obj", Body=b"cors body")
    v4 = boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id=ROOT_KEY,
                      aws_secret_access_key=ROOT_SECRET, region_name="us-east-1",
                      config=Config(signature_version="s3v4"))
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "obj"})
    r = requests.get(url, headers={"Origin": "https://app.example.com"}, timeout=10)
    assert r.status_code == 200 and r.content == b"cors body"
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "etag" in r.headers.get("access-control-expose-headers", "").lower()
    r = requests.get(url, headers={"Origin": "https://evil.example.com"}, timeout=10)
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers


# --- Lifecycle --------------------------------------------------------------------------------


def rule(**overrides):
    base = {"ID": "expire-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}}
    base.update(overrides)
    return base


def put_lifecycle(s3, bucket, *rules):
    """Puts the rules, leaving out the fields set to None."""
    rules = [{k: v for k, v in r.items() if v is not None} for r in rules]
    return s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})


def test_lifecycle_round_trip(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert fails(e) == (404, "NoSuchLifecycleConfiguration")
    put_lifecycle(s3, bucket, rule(), rule(ID="old-versions", Filter={"Prefix": ""}, Expiration=None,
                                           NoncurrentVersionExpiration={"NoncurrentDays": 7}),
                  rule(ID="uploads", Filter={}, Expiration=None,
                       AbortIncompleteMultipartUpload={"DaysAfterInitiation": 2}))
    got = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert set(got) == {"expire-logs", "old-versions", "uploads"}
    assert got["expire-logs"]["Expiration"] == {"Days": 30}
    assert got["expire-logs"]["Filter"] == {"Prefix": "logs/"}
    assert got["expire-logs"]["Status"] == "Enabled"
    assert got["old-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 7
    assert got["uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
    assert s3.delete_bucket_lifecycle(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert fails(e) == (404, "NoSuchLifecycleConfiguration")


def test_lifecycle_date_and_expired_delete_markers(s3, bucket):
    midnight = datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc)
    put_lifecycle(s3, bucket, rule(ID="by-date", Filter={}, Expiration={"Date": midnight}),
                  rule(ID="markers", Expiration={"ExpiredObjectDeleteMarker": True}))
    got = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert got["by-date"]["Expiration"]["Date"] == midnight
    assert got["markers"]["Expiration"] == {"ExpiredObjectDeleteMarker": True}


def test_lifecycle_with_tag_and_size_filters(s3, bucket):
    put_lifecycle(s3, bucket, rule(Filter={"And": {"Prefix": "tmp/", "Tags": [{"Key": "temp", "Value": "yes"}],
                                                   "ObjectSizeGreaterThan": 10}}))
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["Filter"]["And"]
    assert got["Prefix"] == "tmp/" and got["Tags"] == [{"Key": "temp", "Value": "yes"}]
    assert got["ObjectSizeGreaterThan"] == 10


@pytest.mark.parametrize("rules", [
    [rule(Expiration={"Days": 0})],
    [rule(Expiration={"Days": -1})],
    [rule(), rule(Filter={"Prefix": "other/"})],
    [rule(ID="x" * 256)],
    [rule(Expiration=None, NoncurrentVersionExpiration={"NoncurrentDays": 0})],
    [rule(Expiration=None, AbortIncompleteMultipartUpload={"DaysAfterInitiation": 0})],
    [rule(Expiration={"Date": datetime.datetime(2030, 1, 1, 12, 30, tzinfo=datetime.timezone.utc)})],
], ids=["days-zero", "days-negative", "duplicate-ids", "long-id", "noncurrent-zero", "abort-zero", "date-not-midnight"])
def test_lifecycle_invalid_argument(s3, bucket, rules):
    with pytest.raises(ClientError) as e:
        put_lifecycle(s3, bucket, *rules)
    assert fails(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert fails(e) == (404, "NoSuchLifecycleConfiguration")


@pytest.mark.parametrize("rules", [
    [],
    [rule(Expiration=None)],
    [rule(Status="On")],
    [rule(Expiration={"Days": 1, "ExpiredObjectDeleteMarker": True})],
    [rule(Prefix="a/")],
    [rule(ID=f"r{i}", Filter={"Prefix": f"p{i}/"}) for i in range(1001)],
], ids=["no-rules", "no-action", "bad-status", "days-and-marker", "prefix-and-filter", "1001-rules"])
def test_lifecycle_malformed(s3, bucket, rules):
    with pytest.raises(ClientError) as e:
        put_lifecycle(s3, bucket, *rules)
    assert fails(e) == (400, "MalformedXML")


def test_lifecycle_rule_id_is_generated(s3, bucket):
    put_lifecycle(s3, bucket, rule(ID=None))
    generated = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["ID"]
    assert generated


def test_lifecycle_bad_rule_fails_the_whole_configuration(s3, bucket):
    # A bad rule next to a good one fails the whole configuration.
    with pytest.raises(ClientError) as e:
        put_lifecycle(s3, bucket, rule(), rule(ID="bad", Expiration={"Days": 0}))
    assert fails(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert fails(e) == (404, "NoSuchLifecycleConfiguration")


def test_lifecycle_transitions_are_not_implemented(s3, bucket):
    with pytest.raises(ClientError) as e:
        put_lifecycle(s3, bucket, rule(Expiration=None, Transitions=[{"Days": 30, "StorageClass": "GLACIER"}]))
    assert fails(e) == (501, "NotImplemented")


def test_lifecycle_disabled_rule_is_kept(s3, bucket):
    put_lifecycle(s3, bucket, rule(Status="Disabled"))
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["Status"] == "Disabled"


def expires(header):
    """(expiry date, rule id) of an x-amz-expiration header."""
    date, rule_id = re.fullmatch(r'expiry-date="([^"]+)", rule-id="([^"]+)"', header).groups()
    return email.utils.parsedate_to_datetime(date), rule_id


def s3_due(created, days):
    """S3's expiry: creation plus the days, up to the next midnight UTC."""
    at = created + datetime.timedelta(days=days)
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == at else midnight + datetime.timedelta(days=1)


def test_lifecycle_expiration_header(s3, bucket):
    """x-amz-expiration names the earliest enabled Expiration rule that takes the current
    version, on PUT, copy, Complete, HEAD and GET; a noncurrent version has none."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put_lifecycle(s3, bucket,
                  rule(ID="tmp-two-days", Filter={"Prefix": "tmp/"}, Expiration={"Days": 2}),
                  rule(ID="tagged-one-day", Filter={"And": {"Prefix": "tmp/",
                                                            "Tags": [{"Key": "temp", "Value": "yes"}]}},
                       Expiration={"Days": 1}),
                  rule(ID="big-on-a-date", Filter={"ObjectSizeGreaterThan": 1000},
                       Expiration={"Date": datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc)}),
                  rule(ID="off", Status="Disabled", Filter={}, Expiration={"Days": 1}))
    first = s3.put_object(Bucket=bucket, Key="tmp/a", Body=b"one")
    put = s3.put_object(Bucket=bucket, Key="tmp/a", Body=b"two")
    head = s3.head_object(Bucket=bucket, Key="tmp/a")
    created = head["LastModified"]
    for response in [put, head, s3.get_object(Bucket=bucket, Key="tmp/a"),
                     s3.head_object(Bucket=bucket, Key="tmp/a", VersionId=put["VersionId"])]:
        assert expires(response["Expiration"]) == (s3_due(created, 2), "tmp-two-days")
    # A noncurrent version is not expired by an Expiration rule.
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="tmp/a", VersionId=first["VersionId"])
    assert "Expiration" not in s3.get_object(Bucket=bucket, Key="tmp/a", VersionId=first["VersionId"])
    # A tag that a rule names brings the earlier expiry.
    s3.put_object_tagging(Bucket=bucket, Key="tmp/a", Tagging={"TagSet": [{"Key": "temp", "Value": "yes"}]})
    assert expires(s3.head_object(Bucket=bucket, Key="tmp/a")["Expiration"]) == (
        s3_due(created, 1), "tagged-one-day")
    # A copy takes the source's tags (COPY directive) and its own creation time.
    copied = s3.copy_object(Bucket=bucket, Key="tmp/copy", CopySource={"Bucket": bucket, "Key": "tmp/a"})
    copy_created = s3.head_object(Bucket=bucket, Key="tmp/copy")["LastModified"]
    assert expires(copied["Expiration"]) == (s3_due(copy_created, 1), "tagged-one-day")
    # With tags of its own (REPLACE), the copy falls back to the prefix rule.
    replaced = s3.copy_object(Bucket=bucket, Key="tmp/replaced", CopySource={"Bucket": bucket, "Key": "tmp/a"},
                              TaggingDirective="REPLACE", Tagging="temp=no")
    replaced_created = s3.head_object(Bucket=bucket, Key="tmp/replaced")["LastModified"]
    assert expires(replaced["Expiration"]) == (s3_due(replaced_created, 2), "tmp-two-days")
    # Complete: the completed object's size chooses the date rule when it is earlier.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=1, Body=b"x" * 2000)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert expires(done["Expiration"]) == (
        datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc), "big-on-a-date")
    # No rule takes these: outside the prefixes, or too small for the size rule.
    assert "Expiration" not in s3.put_object(Bucket=bucket, Key="keep/b", Body=b"small")
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="keep/b")
    s3.delete_bucket_lifecycle(Bucket=bucket)
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="tmp/a")


# --- Notifications ----------------------------------------------------------------------------


def test_notification_configuration_empty_by_default(s3, bucket):
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    for kind in ["QueueConfigurations", "TopicConfigurations", "LambdaFunctionConfigurations"]:
        assert got.get(kind, []) == []
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations", []) == []


@pytest.mark.parametrize("config", [
    {"QueueConfigurations": [{"QueueArn": "arn:aws:sqs:us-east-1:123456789012:queue",
                              "Events": ["s3:ObjectCreated:*"]}]},
    {"QueueConfigurations": [{"QueueArn": "arn:rucket:sqs:us-east-1:nosuchwebhook:webhook",
                              "Events": ["s3:ObjectCreated:*"]}]},
    {"TopicConfigurations": [{"TopicArn": "arn:aws:sns:us-east-1:123456789012:topic",
                              "Events": ["s3:ObjectCreated:*"]}]},
    {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                                       "Events": ["s3:ObjectCreated:*"]}]},
], ids=["aws-sqs", "unknown-webhook", "sns", "lambda"])
def test_notification_destinations_that_do_not_exist(s3, bucket, config):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    assert fails(e) == (400, "InvalidArgument")
    assert s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations", []) == []


def test_notification_eventbridge_is_not_implemented(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "EventBridgeConfiguration": {}})
    assert fails(e) == (501, "NotImplemented")


def test_config_of_missing_bucket(s3):
    missing = "conf-no-such-bucket-config"
    for call in [lambda: s3.get_bucket_cors(Bucket=missing),
                 lambda: s3.get_bucket_lifecycle_configuration(Bucket=missing),
                 lambda: s3.get_bucket_notification_configuration(Bucket=missing),
                 lambda: s3.put_bucket_tagging(Bucket=missing, Tagging={"TagSet": []})]:
        with pytest.raises(ClientError) as e:
            call()
        assert fails(e) == (404, "NoSuchBucket")
