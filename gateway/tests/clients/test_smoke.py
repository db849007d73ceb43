"""boto3 and awscli against a real rucket server, with their default settings."""

import hashlib
import os

import pytest
import requests
from botocore.exceptions import ClientError


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_boto3_object_round_trip(s3):
    s3.create_bucket(Bucket="boto-roundtrip")
    for key, body in [("small.txt", b"hello boto3"), ("dir/large.bin", os.urandom(3 * 1024 * 1024 + 5))]:
        put = s3.put_object(Bucket="boto-roundtrip", Key=key, Body=body, ContentType="text/plain",
                            Metadata={"purpose": "smoke"})
        assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
        got = s3.get_object(Bucket="boto-roundtrip", Key=key)
        assert got["Body"].read() == body
        assert got["ContentType"] == "text/plain"
        assert got["Metadata"] == {"purpose": "smoke"}
    listed = s3.list_objects_v2(Bucket="boto-roundtrip")
    assert [o["Key"] for o in listed["Contents"]] == ["dir/large.bin", "small.txt"]
    assert s3.get_bucket_location(Bucket="boto-roundtrip")["LocationConstraint"] is None


def test_boto3_uploads_with_its_default_checksums(s3, tmp_path):
    s3.create_bucket(Bucket="boto-checksums")
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(200_000))
    s3.upload_file(str(path), "boto-checksums", "f.bin")
    head = s3.head_object(Bucket="boto-checksums", Key="f.bin", ChecksumMode="ENABLED")
    assert head["ContentLength"] == 200_000
    # boto3 sends a CRC32 by default; it was verified, stored and is returned.
    import base64
    import zlib
    expected = base64.b64encode(zlib.crc32(path.read_bytes()).to_bytes(4, "big")).decode()
    assert head.get("ChecksumCRC32") == expected, head
    out = tmp_path / "back.bin"
    s3.download_file("boto-checksums", "f.bin", str(out))
    assert out.read_bytes() == path.read_bytes()


def test_boto3_errors(s3):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="boto-no-such-bucket", Key="k")
    assert error_code(e) == "NoSuchBucket"
    s3.create_bucket(Bucket="boto-errors")
    # us-east-1: the owner's re-create is a 200 that changes nothing, as in S3.
    assert s3.create_bucket(Bucket="boto-errors")["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="boto-errors", Key="absent")
    assert error_code(e) == "NoSuchKey"
    s3.put_object(Bucket="boto-errors", Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="boto-errors")
    assert error_code(e) == "BucketNotEmpty"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="boto-errors", Key="k", Body=b"abc", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    assert error_code(e) == "BadDigest"


def test_another_users_bucket_name_is_taken(s3, alt):
    s3.create_bucket(Bucket="boto-taken")
    s3.put_bucket_acl(Bucket="boto-taken", ACL="public-read")
    with pytest.raises(ClientError) as e:
        alt.create_bucket(Bucket="boto-taken")
    assert (e.value.response["ResponseMetadata"]["HTTPStatusCode"], error_code(e)) == (409, "BucketAlreadyExists")
    # The owner's re-create leaves its ACL as it was.
    s3.create_bucket(Bucket="boto-taken")
    grants = s3.get_bucket_acl(Bucket="boto-taken")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)
    s3.delete_bucket(Bucket="boto-taken")


def test_boto3_presigned_and_cleanup_by_versions(s3):
    s3.create_bucket(Bucket="boto-presign")
    s3.put_object(Bucket="boto-presign", Key="a.txt", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "boto-presign", "Key": "a.txt"}, ExpiresIn=60)
    assert requests.get(url, timeout=10).content == b"presigned"
    # The cleanup loop outside test suites use.
    for v in s3.list_object_versions(Bucket="boto-presign").get("Versions", []):
        s3.delete_object(Bucket="boto-presign", Key=v["Key"], VersionId=v["VersionId"])
    s3.delete_bucket(Bucket="boto-presign")


def test_awscli_mb_cp_ls_rm(aws, tmp_path):
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    files = {"a.txt": b"alpha", "sub/b.bin": os.urandom(100_000), "sub/c.txt": b"gamma" * 1000}
    for name, body in files.items():
        (src / name).write_bytes(body)
    aws("s3", "mb", "s3://cli-smoke")
    aws("s3", "cp", str(src / "a.txt"), "s3://cli-smoke/a.txt")
    aws("s3", "sync", str(src), "s3://cli-smoke/tree")
    listing = aws("s3", "ls", "--recursive", "s3://cli-smoke").stdout
    for name in ["a.txt", "tree/a.txt", "tree/sub/b.bin", "tree/sub/c.txt"]:
        assert name in listing
    dst = tmp_path / "down"
    aws("s3", "sync", "s3://cli-smoke/tree", str(dst))
    for name, body in files.items():
        assert (dst / name).read_bytes() == body
    # Server-side copies between buckets, and a move.
    aws("s3", "mb", "s3://cli-smoke-copy")
    aws("s3", "cp", "s3://cli-smoke/tree/sub/b.bin", "s3://cli-smoke-copy/b.bin")
    aws("s3", "mv", "s3://cli-smoke/a.txt", "s3://cli-smoke-copy/moved.txt")
    moved = tmp_path / "moved.txt"
    aws("s3", "cp", "s3://cli-smoke-copy/moved.txt", str(moved))
    assert moved.read_bytes() == files["a.txt"]
    assert "a.txt" not in aws("s3", "ls", "s3://cli-smoke/").stdout
    aws("s3", "rb", "--force", "s3://cli-smoke-copy")
    aws("s3", "rm", "--recursive", "s3://cli-smoke")
    assert aws("s3", "ls", "s3://cli-smoke").stdout.strip() == ""
    aws("s3", "rb", "s3://cli-smoke")
    assert "cli-smoke" not in aws("s3", "ls").stdout


def test_large_files_use_multipart_with_default_settings(s3, aws, tmp_path):
    """awscli and boto3 switch to multipart above 8 MiB."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 1024 * 1024 + 17))
    aws("s3", "mb", "s3://cli-multipart")
    aws("s3", "cp", str(big), "s3://cli-multipart/big.bin")
    head = s3.head_object(Bucket="cli-multipart", Key="big.bin")
    assert head["ContentLength"] == big.stat().st_size
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]
    back = tmp_path / "back.bin"
    aws("s3", "cp", "s3://cli-multipart/big.bin", str(back))
    assert back.read_bytes() == big.read_bytes()

    s3.upload_file(str(big), "cli-multipart", "boto.bin")
    again = tmp_path / "again.bin"
    s3.download_file("cli-multipart", "boto.bin", str(again))
    assert again.read_bytes() == big.read_bytes()
    assert s3.list_multipart_uploads(Bucket="cli-multipart").get("Uploads", []) == []


def test_a_client_signing_for_another_region_is_told_the_right_one_and_re_signs(server):
    """boto3 reads the expected region from AuthorizationHeaderMalformed and re-signs,
    also when configured with `US`, the legacy name of us-east-1."""
    import boto3
    from botocore.config import Config
    from conftest import ROOT_KEY, ROOT_SECRET

    def signing_for(region):
        return boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id=ROOT_KEY,
                            aws_secret_access_key=ROOT_SECRET, region_name=region,
                            config=Config(s3={"addressing_style": "path"}))
    root = signing_for("us-east-1")
    root.create_bucket(Bucket="wrong-region")
    for region in ["eu-west-1", "US"]:
        client = signing_for(region)
        client.put_object(Bucket="wrong-region", Key=region, Body=region.encode())
        assert client.get_object(Bucket="wrong-region", Key=region)["Body"].read() == region.encode()
        client.delete_object(Bucket="wrong-region", Key=region)
    root.delete_bucket(Bucket="wrong-region")


def test_the_request_id_in_an_error_body_is_the_header_one(server, s3):
    s3.create_bucket(Bucket="request-ids")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="request-ids", Key="missing")
    meta = e.value.response["ResponseMetadata"]
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    assert meta["RequestId"] == meta["HTTPHeaders"]["x-amz-request-id"]
    body = requests.get(f"{server['endpoint']}/request-ids/missing")
    assert f"<RequestId>{body.headers['x-amz-request-id']}</RequestId>" in body.text, body.text
    s3.delete_bucket(Bucket="request-ids")


def test_sigv2_clients_reach_buckets_and_objects(server):
    """Older SDK and s3cmd configurations sign with SigV2: header auth and presigned URLs,
    on the bucket (whose resource SigV2 signs as `/bucket/`) and on its objects."""
    import boto3
    from botocore.config import Config
    from conftest import ROOT_KEY, ROOT_SECRET

    v2 = boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id=ROOT_KEY,
                      aws_secret_access_key=ROOT_SECRET, region_name="us-east-1",
                      config=Config(signature_version="s3", retries={"max_attempts": 1}))
    v2.create_bucket(Bucket="signed-v2")
    v2.head_bucket(Bucket="signed-v2")
    v2.put_object(Bucket="signed-v2", Key="a/b", Body=b"v2")
    assert [o["Key"] for o in v2.list_objects(Bucket="signed-v2", Prefix="a/")["Contents"]] == ["a/b"]
    assert v2.get_bucket_acl(Bucket="signed-v2")["Owner"]["ID"] == "root"
    assert v2.get_object(Bucket="signed-v2", Key="a/b")["Body"].read() == b"v2"
    listing = v2.generate_presigned_url("list_objects", Params={"Bucket": "signed-v2"})
    assert requests.get(listing, timeout=10).status_code == 200
    wrong = boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id=ROOT_KEY,
                         aws_secret_access_key="not-the-secret", region_name="us-east-1",
                         config=Config(signature_version="s3", retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as e:
        wrong.list_objects(Bucket="signed-v2")
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    v2.delete_object(Bucket="signed-v2", Key="a/b")
    v2.delete_bucket(Bucket="signed-v2")
