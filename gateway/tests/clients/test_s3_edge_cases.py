"""Edge cases found while writing the test_s3_* suites, each stating what S3 does."""

import hashlib
import uuid

import pytest
from botocore.exceptions import ClientError



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
