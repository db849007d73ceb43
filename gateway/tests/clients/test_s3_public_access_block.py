"""boto3 against a real rucket server: Put/Get/DeletePublicAccessBlock, and what
BlockPublicAcls and IgnorePublicAcls do to public ACL grants."""

import uuid

import pytest
import requests
from botocore.exceptions import ClientError


def fails(excinfo):
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


@pytest.fixture()
def bucket(s3):
    name = "pab-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=name)
    return name


def block(s3, bucket, **flags):
    config = {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
              "RestrictPublicBuckets": False}
    config.update(flags)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=config)
    return config


def test_configuration_round_trips_and_deletes(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_public_access_block(Bucket=bucket)
    assert fails(e) == (404, "NoSuchPublicAccessBlockConfiguration")
    config = block(s3, bucket, BlockPublicAcls=True, RestrictPublicBuckets=True)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == config
    s3.delete_public_access_block(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_public_access_block(Bucket=bucket)
    assert fails(e)[0] == 404
    with pytest.raises(ClientError) as e:
        s3.get_public_access_block(Bucket="pab-missing-" + uuid.uuid4().hex[:8])
    assert fails(e) == (404, "NoSuchBucket")


def test_block_public_acls_refuses_new_public_grants(s3, bucket):
    block(s3, bucket, BlockPublicAcls=True)
    for acl in ["public-read", "public-read-write", "authenticated-read"]:
        with pytest.raises(ClientError) as e:
            s3.put_bucket_acl(Bucket=bucket, ACL=acl)
        assert fails(e) == (403, "AccessDenied"), acl
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 10_000, ACL="public-read")
    assert fails(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert fails(e)[0] == 404, "the refused PUT stored nothing"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")
    with pytest.raises(ClientError) as e:
        s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    assert fails(e) == (403, "AccessDenied")
    assert all(g["Grantee"].get("Type") == "CanonicalUser" for g in s3.get_bucket_acl(Bucket=bucket)["Grants"])


def test_ignore_public_acls_takes_public_grants_out_of_force(s3, server, bucket):
    s3.put_object(Bucket=bucket, Key="page.html", Body=b"hello", ACL="public-read")
    url = f"{server['endpoint']}/{bucket}/page.html"
    assert requests.get(url, timeout=10).status_code == 200
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True

    block(s3, bucket, IgnorePublicAcls=True)
    assert requests.get(url, timeout=10).status_code == 403
    assert requests.get(f"{server['endpoint']}/{bucket}?list-type=2", timeout=10).status_code == 403
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    # The grants are kept, only ignored: deleting the block brings them back.
    s3.delete_public_access_block(Bucket=bucket)
    assert requests.get(url, timeout=10).status_code == 200
