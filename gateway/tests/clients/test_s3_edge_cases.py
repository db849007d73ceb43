"""Edge cases found while writing the test_s3_* suites, each stating what S3 does."""

import datetime
import hashlib
import re
import uuid
from unittest import mock

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
    name = "edge-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=name)
    return name


def test_get_object_attributes_with_several_attributes(s3, bucket):
    # S3: boto3 sends `x-amz-object-attributes: ETag,ObjectSize,StorageClass` (one
    # comma-separated header) and S3 answers with every attribute asked for.
    # Rucket once answered with nothing unless exactly one attribute was asked for.
    body = b"attributes!"
    s3.put_object(Bucket=bucket, Key="k", Body=body)
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag", "ObjectSize", "StorageClass"])
    assert attrs["ETag"].strip('"') == hashlib.md5(body).hexdigest()
    assert attrs["ObjectSize"] == len(body)
    assert attrs["StorageClass"] == "STANDARD"


def test_malformed_version_id_is_invalid_argument(s3, bucket):
    # S3 answers 400 InvalidArgument "Invalid version id specified" for a versionId that
    # is not of its own format (and not "null"); NoSuchVersion is for well-formed ids that
    # do not exist. 
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId="not a version id")
    assert fails(e) == (400, "InvalidArgument")


def test_copy_from_a_delete_marker_version_is_invalid_request(s3, bucket):
    # S3 answers 400 InvalidRequest "The source of a copy request may not specifically
    # refer to a delete marker by version id."
    # (405 MethodNotAllowed is for GET/HEAD of a marker, not for a copy source).
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "k", "VersionId": marker})
    assert fails(e) == (400, "InvalidRequest")


def chunked(client, operation):
    """Makes `client` send `operation`'s body with Transfer-Encoding: chunked and no
    Content-Length, signed (some HTTP clients stream a body of unknown size this way)."""
    def drop_length(request, **_):
        request.headers["Transfer-Encoding"] = "chunked"
        if "Content-Length" in request.headers:
            del request.headers["Content-Length"]
    client.meta.events.register(f"before-sign.s3.{operation}", drop_length)


def test_a_body_without_a_length_is_taken(s3, server, bucket):
    # S3 itself answers 411 here; Ceph's gateway takes it, and so do we, up to 64 MiB.
    import requests
    chunked(s3, "PutObject")
    chunked(s3, "UploadPart")
    s3.put_object(Bucket=bucket, Key="streamed", Body=b"no length given")
    assert s3.get_object(Bucket=bucket, Key="streamed")["Body"].read() == b"no length given"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="parts", UploadId=upload, PartNumber=1, Body=b"p" * 1000)
    s3.complete_multipart_upload(Bucket=bucket, Key="parts", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="parts")["Body"].read() == b"p" * 1000
    # Past the limit: 411, and nothing stored.
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="too-long", Body=b"z" * ((64 << 20) + 1))
    assert fails(e) == (411, "MissingContentLength")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="too-long")
    assert fails(e)[0] == 404
    # Unsigned bodies without a length are refused at once, even where anyone may write.
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    chunk = b"z" * (1 << 20)
    r = requests.put(f"{server['endpoint']}/{bucket}/anonymous", data=(chunk for _ in range(2)), timeout=60)
    assert r.status_code == 411, r.text
    r = requests.put(f"{server['endpoint']}/{bucket}/anonymous", data=b"z" * (2 << 20), timeout=60)
    assert r.status_code == 200 and s3.head_object(Bucket=bucket, Key="anonymous")["ContentLength"] == 2 << 20


def test_a_body_without_a_length_is_still_checked_against_its_signed_hash(s3, bucket):
    chunked(s3, "PutObject")

    def tamper(request, **_):
        # After signing: the body no longer matches the hash the signature covers.
        request.body = b"another body"
    s3.meta.events.register("before-send.s3.PutObject", tamper)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"the body")
    assert fails(e) == (400, "XAmzContentSHA256Mismatch")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert fails(e)[0] == 404


def test_aws_chunked_is_taken_out_of_the_stored_content_encoding(s3, bucket):
    # It names how the request's body was framed, not how the object is encoded.
    for sent, stored in [("gzip", "gzip"), ("deflate, gzip", "deflate, gzip"), ("gzip, aws-chunked", "gzip"),
                         ("aws-chunked, gzip", "gzip"), ("aws-chunked", None), ("aws-chunked, aws-chunked", None)]:
        s3.put_object(Bucket=bucket, Key="encoding", ContentEncoding=sent)
        assert s3.head_object(Bucket=bucket, Key="encoding").get("ContentEncoding") == stored, sent


def test_presigned_urls_live_at_most_a_week_and_not_past_their_expiry(server, s3, bucket):
    # S3 refuses an expired presigned URL with 403 AccessDenied. A SigV4 URL asking for
    # more than 7 days (604800 s) is refused too; Rucket answers 403 AccessDenied for it,
    # where AWS answers 400 AuthorizationQueryParametersError (docs/s3-compatibility.md).
    s3.put_object(Bucket=bucket, Key="k", Body=b"shared")
    # boto3 presigns with SigV2 unless told otherwise; SigV2 URLs carry an absolute expiry.
    s3 = boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id=ROOT_KEY,
                      aws_secret_access_key=ROOT_SECRET, region_name="us-east-1",
                      config=Config(signature_version="s3v4"))
    params = {"Bucket": bucket, "Key": "k"}
    week = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=604800)
    assert requests.get(week, timeout=30).content == b"shared"
    too_long = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=604801)
    refused = requests.get(too_long, timeout=30)
    assert refused.status_code == 403 and "<Code>AccessDenied</Code>" in refused.text
    # Signed two hours ago for one hour: expired an hour ago.
    past = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(hours=2)
    with mock.patch("botocore.auth.get_current_datetime", return_value=past):
        expired = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=3600)
    assert re.search(r"X-Amz-Date=(\d{8}T\d{6}Z)", expired).group(1) == past.strftime("%Y%m%dT%H%M%SZ")
    refused = requests.get(expired, timeout=30)
    assert refused.status_code == 403 and "<Code>AccessDenied</Code>" in refused.text
    # The same URL signed now still reads the object, so the refusal is the expiry alone.
    fresh = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=3600)
    assert requests.get(fresh, timeout=30).content == b"shared"
