"""boto3 against a real rucket server: objects (copy, conditional writes, tagging,
checksums, listing, HEAD, response overrides and ranges)."""

import base64
import datetime
import hashlib
import uuid
import zlib
from urllib.parse import unquote_plus

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


def b64(digest):
    return base64.b64encode(digest).decode()


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return (crc ^ 0xFFFFFFFF).to_bytes(4, "big")


@pytest.fixture()
def bucket(s3):
    name = "objs-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture()
def versioned(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


# --- CopyObject ---------------------------------------------------------------------------


def test_copy_metadata_directive_copy_is_the_default(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/x-src",
                        Metadata={"color": "blue"}, CacheControl="max-age=10")
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == put["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["ContentType"] == "text/x-src"
    assert head["Metadata"] == {"color": "blue"}
    assert head["CacheControl"] == "max-age=10"
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"copy me"

    # Metadata sent with the default COPY directive is ignored.
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource={"Bucket": bucket, "Key": "src"},
                   Metadata={"color": "red"}, MetadataDirective="COPY")
    assert s3.head_object(Bucket=bucket, Key="dst2")["Metadata"] == {"color": "blue"}


def test_copy_metadata_directive_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"data", ContentType="text/x-src", Metadata={"color": "blue"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"shape": "round"}, ContentType="text/x-dst")
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"shape": "round"}
    assert head["ContentType"] == "text/x-dst"
    # The source is untouched.
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"color": "blue"}


def test_copy_between_buckets(s3, bucket):
    other = "objs-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=other)
    for source, target in [("a/b c.txt", "x"), ("é 😀+%&=?.txt", "c/é+😀 %")]:
        s3.put_object(Bucket=bucket, Key=source, Body=source.encode())
        s3.copy_object(Bucket=other, Key=target, CopySource={"Bucket": bucket, "Key": source})
        assert s3.get_object(Bucket=other, Key=target)["Body"].read() == source.encode()


def test_copy_from_a_version_id(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="src", Body=b"first")["VersionId"]
    s3.put_object(Bucket=versioned, Key="src", Body=b"second")
    copied = s3.copy_object(Bucket=versioned, Key="dst",
                            CopySource={"Bucket": versioned, "Key": "src", "VersionId": v1})
    assert copied["CopySourceVersionId"] == v1
    assert copied["VersionId"] not in (None, "", "null", v1)
    assert s3.get_object(Bucket=versioned, Key="dst")["Body"].read() == b"first"


def test_copy_source_conditions(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"cond")["ETag"]
    source = {"Bucket": bucket, "Key": "src"}
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, CopySourceIfMatch='"0123456789abcdef0123456789abcdef"')
    assert fails(e) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, CopySourceIfNoneMatch=etag)
    assert fails(e) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="dst")
    assert fails(e)[0] == 404
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, CopySourceIfMatch=etag)
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource=source, CopySourceIfNoneMatch='"ffffffffffffffffffffffffffffffff"')
    assert s3.get_object(Bucket=bucket, Key="dst2")["Body"].read() == b"cond"


def test_copy_source_date_conditions_and_bad_directives(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"dates")
    source = {"Bucket": bucket, "Key": "src"}
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, CopySourceIfModifiedSince=future)
    assert fails(e) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, CopySourceIfUnmodifiedSince=past)
    assert fails(e) == (412, "PreconditionFailed")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, CopySourceIfModifiedSince=past,
                   CopySourceIfUnmodifiedSince=future)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"dates"
    for directive in [{"MetadataDirective": "MOVE"}, {"TaggingDirective": "MERGE"}]:
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="dst2", CopySource=source, **directive)
        assert fails(e) == (400, "InvalidArgument"), directive


def test_copy_onto_itself_needs_a_change(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"me", Metadata={"v": "1"})
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    assert fails(e) == (400, "InvalidRequest")
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                   MetadataDirective="REPLACE", Metadata={"v": "2"})
    head = s3.head_object(Bucket=bucket, Key="self")
    assert head["Metadata"] == {"v": "2"}
    assert s3.get_object(Bucket=bucket, Key="self")["Body"].read() == b"me"


def test_copy_onto_itself_changing_only_the_storage_class(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"me", Metadata={"v": "1"})
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                   StorageClass="STANDARD_IA")
    head = s3.head_object(Bucket=bucket, Key="self")
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["Metadata"] == {"v": "1"}


def test_copy_tagging_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"t", Tagging="team=red&tier=1")
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "src"})
    tags = s3.get_object_tagging(Bucket=bucket, Key="copied")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("team", "red"), ("tier", "1")]
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE", Tagging="team=blue")
    assert s3.get_object_tagging(Bucket=bucket, Key="replaced")["TagSet"] == [{"Key": "team", "Value": "blue"}]
    s3.copy_object(Bucket=bucket, Key="untagged", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE")
    assert s3.get_object_tagging(Bucket=bucket, Key="untagged")["TagSet"] == []


def test_copy_missing_source(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "absent"})
    assert fails(e) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": "objs-no-such-bucket-x", "Key": "k"})
    assert fails(e) == (404, "NoSuchBucket")


# --- Conditional writes and reads ---------------------------------------------------------------


def test_put_if_none_match_star(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert fails(e) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"


def test_put_if_match(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert fails(e) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"
    new = s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=etag)
    assert new["ETag"] == '"%s"' % hashlib.md5(b"v2").hexdigest()
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    # The old ETag no longer matches.
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfMatch=etag)
    assert fails(e) == (412, "PreconditionFailed")


def test_put_if_match_any_and_if_none_match_an_etag(s3, bucket):
    # If-Match: * needs a current version.
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v1", IfMatch="*")
    assert fails(e) == (404, "NoSuchKey")
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch="*")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    # If-None-Match: <etag> holds unless the current version has that ETag.
    current = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfNoneMatch=current)
    assert fails(e) == (412, "PreconditionFailed")
    s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfNoneMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v3"
    s3.put_object(Bucket=bucket, Key="fresh", Body=b"new", IfNoneMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="fresh")["Body"].read() == b"new"


def test_delete_if_match(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert fails(e) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="absent", IfMatch="*")
    assert fails(e) == (404, "NoSuchKey")
    s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert fails(e)[0] == 404
    # A time or size condition is refused, not ignored.
    s3.put_object(Bucket=bucket, Key="k2", Body=b"v")
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="k2", IfMatchSize=1)
    assert fails(e)[0] == 501


def test_delete_objects_checks_each_etag(s3, bucket):
    a = s3.put_object(Bucket=bucket, Key="a", Body=b"a")["ETag"]
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    done = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a", "ETag": a},
        {"Key": "b", "ETag": '"0123456789abcdef0123456789abcdef"'},
        {"Key": "c", "ETag": a},
    ]})
    assert [d["Key"] for d in done.get("Deleted", [])] == ["a"]
    errors = {e["Key"]: e["Code"] for e in done.get("Errors", [])}
    assert errors == {"b": "PreconditionFailed", "c": "NoSuchKey"}
    assert s3.get_object(Bucket=bucket, Key="b")["Body"].read() == b"b"


def test_put_if_match_on_missing_key(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert fails(e) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="absent")
    assert fails(e)[0] == 404


def test_get_conditionals(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"cond")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert fails(e) == (412, "PreconditionFailed")
    last_modified = s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]["last-modified"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=etag)
    assert fails(e)[0] == 304
    # A 304 names what the client already has (RFC 7232), as S3's does.
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["etag"] == etag
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["last-modified"] == last_modified
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k", IfNoneMatch=etag)
    assert fails(e)[0] == 304
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["etag"] == etag
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", IfModifiedSince=future)
    assert fails(e)[0] == 304
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["etag"] == etag
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", IfUnmodifiedSince=past)
    assert fails(e) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch=etag, IfModifiedSince=past)["Body"].read() == b"cond"


# --- Object tagging ---------------------------------------------------------------------------


def test_object_tagging_round_trip(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1&b=two%20words")
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 2
    tags = s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "two words")]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "only", "Value": "one"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [{"Key": "only", "Value": "one"}]
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")


def test_object_tagging_by_version(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="k", Body=b"1")["VersionId"]
    v2 = s3.put_object(Bucket=versioned, Key="k", Body=b"2", Tagging="gen=2")["VersionId"]
    put = s3.put_object_tagging(Bucket=versioned, Key="k", VersionId=v1,
                                Tagging={"TagSet": [{"Key": "gen", "Value": "1"}]})
    assert put["VersionId"] == v1
    got = s3.get_object_tagging(Bucket=versioned, Key="k", VersionId=v1)
    assert got["VersionId"] == v1 and got["TagSet"] == [{"Key": "gen", "Value": "1"}]
    assert s3.get_object_tagging(Bucket=versioned, Key="k")["TagSet"] == [{"Key": "gen", "Value": "2"}]
    assert s3.get_object_tagging(Bucket=versioned, Key="k", VersionId=v2)["VersionId"] == v2
    deleted = s3.delete_object_tagging(Bucket=versioned, Key="k", VersionId=v1)
    assert deleted["VersionId"] == v1
    assert s3.get_object_tagging(Bucket=versioned, Key="k", VersionId=v1)["TagSet"] == []
    assert s3.get_object_tagging(Bucket=versioned, Key="k", VersionId=v2)["TagSet"] == [{"Key": "gen", "Value": "2"}]


@pytest.mark.parametrize("tags", [
    [{"Key": f"k{i}", "Value": "v"} for i in range(11)],
    [{"Key": "k" * 129, "Value": "v"}],
    [{"Key": "k", "Value": "v" * 257}],
    [{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}],
    [{"Key": "aws:reserved", "Value": "v"}],
], ids=["eleven-tags", "long-key", "long-value", "duplicate-keys", "aws-prefix"])
def test_object_tagging_limits(s3, bucket, tags):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tags})
    assert fails(e) == (400, "InvalidTag")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []


def test_object_tagging_at_the_limits_is_accepted(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(9)] + [{"Key": "k" * 128, "Value": "v" * 256}]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tags})
    assert len(s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]) == 10


def test_put_object_with_too_many_tags_in_header(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="&".join(f"k{i}=v" for i in range(11)))
    assert fails(e) == (400, "InvalidTag")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert fails(e)[0] == 404


def test_object_tagging_of_missing_key(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=bucket, Key="absent")
    assert fails(e) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="absent", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert fails(e) == (404, "NoSuchKey")


# --- Checksums --------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])
def test_put_with_checksum_algorithm(s3, bucket, algorithm):
    body = b"checksummed body " * 50
    expected = {
        "CRC32": b64(zlib.crc32(body).to_bytes(4, "big")),
        "SHA1": b64(hashlib.sha1(body).digest()),
        "SHA256": b64(hashlib.sha256(body).digest()),
    }[algorithm]
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"] == expected
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got[f"Checksum{algorithm}"] == expected
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected
    # Without checksum mode, or for a part of the body, the whole-object checksum is not sent.
    assert f"Checksum{algorithm}" not in s3.head_object(Bucket=bucket, Key="k")
    ranged = s3.get_object(Bucket=bucket, Key="k", Range="bytes=0-3", ChecksumMode="ENABLED")
    assert ranged["Body"].read() == body[:4]
    assert f"Checksum{algorithm}" not in ranged


def test_put_with_crc32c(s3, bucket):
    body = b"123456789"
    expected = b64(crc32c(body))
    assert expected == b64(bytes.fromhex("e3069283"))  # the CRC-32C check value
    s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumCRC32C=expected)
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32C"] == expected
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=body, ChecksumCRC32C=b64(crc32c(b"other")))
    assert fails(e) == (400, "BadDigest")


def test_wrong_checksums_are_refused(s3, bucket):
    body = b"the real body"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=body, ContentMD5=b64(hashlib.md5(b"another").digest()))
    assert fails(e) == (400, "BadDigest")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumSHA256=b64(hashlib.sha256(b"another").digest()))
    assert fails(e) == (400, "BadDigest")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert fails(e)[0] == 404
    s3.put_object(Bucket=bucket, Key="k", Body=body, ContentMD5=b64(hashlib.md5(body).digest()))
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == body


def test_get_object_attributes(s3, bucket):
    body = b"attributes!"
    sha = b64(hashlib.sha256(body).digest())
    s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="SHA256", StorageClass="STANDARD_IA")

    def attribute(name):
        return s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=[name])

    # GetObjectAttributes is the one S3 answer whose ETag has no quotes.
    assert attribute("ETag")["ETag"] == hashlib.md5(body).hexdigest()
    assert attribute("ObjectSize")["ObjectSize"] == len(body)
    assert attribute("Checksum")["Checksum"]["ChecksumSHA256"] == sha
    assert attribute("Checksum")["Checksum"]["ChecksumType"] == "FULL_OBJECT"
    assert attribute("StorageClass")["StorageClass"] == "STANDARD_IA"
    assert "ObjectParts" not in attribute("ObjectParts")  # not a multipart object
    only_size = attribute("ObjectSize")
    assert "ETag" not in only_size and "Checksum" not in only_size
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="absent", ObjectAttributes=["ETag"])
    assert fails(e) == (404, "NoSuchKey")


# --- Listing ----------------------------------------------------------------------------------

ODD_KEYS = ["plain.txt", "with space.txt", "plus+sign", "per%cent", "amp&ersand", "émoji-😀.bin",
            "dir/ünïcode/ключ", "tab\there", "question?mark", "hash#tag", "eq=sign", "<angle>"]


def test_list_keys_with_special_characters(s3, bucket):
    for key in ODD_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listed = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == sorted(ODD_KEYS, key=lambda k: k.encode())
    assert listed["KeyCount"] == len(ODD_KEYS)
    v1 = s3.list_objects(Bucket=bucket)
    assert [o["Key"] for o in v1["Contents"]] == sorted(ODD_KEYS, key=lambda k: k.encode())
    for key in ODD_KEYS:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    delimited = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in delimited["CommonPrefixes"]] == ["dir/"]


def test_list_with_url_encoding(s3, bucket):
    keys = ["with space/a b", "plus+sign", "per%cent&amp", "émoji😀", "ctl\x01char"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    listed = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert listed["EncodingType"] == "url"
    encoded = [o["Key"] for o in listed["Contents"]]
    for raw in encoded:
        assert raw.isascii() and " " not in raw and "\x01" not in raw, raw
    assert sorted(unquote_plus(k) for k in encoded) == sorted(keys)
    with_prefix = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Delimiter="/", Prefix="with space/")
    assert unquote_plus(with_prefix["Prefix"]) == "with space/"
    assert " " not in with_prefix["Prefix"], "the Prefix is encoded too"
    v1_prefix = s3.list_objects(Bucket=bucket, EncodingType="url", Delimiter="/", Prefix="with space/")
    assert " " not in v1_prefix["Prefix"] and unquote_plus(v1_prefix["Prefix"]) == "with space/"
    assert [unquote_plus(o["Key"]) for o in with_prefix["Contents"]] == ["with space/a b"]
    prefixes = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Delimiter="/")["CommonPrefixes"]
    assert [unquote_plus(p["Prefix"]) for p in prefixes] == ["with space/"]
    assert " " not in prefixes[0]["Prefix"]
    v1 = s3.list_objects(Bucket=bucket, EncodingType="url")
    assert sorted(unquote_plus(o["Key"]) for o in v1["Contents"]) == sorted(keys)


def test_list_v2_fetch_owner_start_after_and_paging(s3, bucket):
    keys = [f"k{i:02d}" for i in range(7)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    plain = s3.list_objects_v2(Bucket=bucket)
    assert all("Owner" not in o for o in plain["Contents"])
    owned = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)
    assert all(o["Owner"]["ID"] for o in owned["Contents"])
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="k03")
    assert [o["Key"] for o in after["Contents"]] == keys[4:]
    assert after["StartAfter"] == "k03"
    assert s3.list_objects_v2(Bucket=bucket, StartAfter="k99")["KeyCount"] == 0
    seen, token = [], None
    while True:
        kwargs = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=3, **kwargs)
        assert page["KeyCount"] == len(page["Contents"]) <= 3
        seen += [o["Key"] for o in page["Contents"]]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == keys
    assert s3.list_objects_v2(Bucket=bucket, Prefix="")["KeyCount"] == 7
    assert s3.list_objects_v2(Bucket=bucket, Prefix="nothing")["KeyCount"] == 0


def test_list_with_other_delimiters(s3, bucket):
    for key in ["a-1", "a-2", "b-1", "c", "x|y|z", "x|w"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    dash = s3.list_objects_v2(Bucket=bucket, Delimiter="-")
    assert [p["Prefix"] for p in dash["CommonPrefixes"]] == ["a-", "b-"]
    assert [o["Key"] for o in dash["Contents"]] == ["c", "x|w", "x|y|z"]
    pipe = s3.list_objects_v2(Bucket=bucket, Delimiter="|", Prefix="x|")
    assert [p["Prefix"] for p in pipe["CommonPrefixes"]] == ["x|y|"]
    assert [o["Key"] for o in pipe["Contents"]] == ["x|w"]
    multi = s3.list_objects_v2(Bucket=bucket, Delimiter="-1")
    assert sorted(p["Prefix"] for p in multi["CommonPrefixes"]) == ["a-1", "b-1"]


def test_list_v1_markers(s3, bucket):
    keys = ["a/1", "a/2", "b", "c/1", "d"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    first = s3.list_objects(Bucket=bucket, MaxKeys=2)
    assert [o["Key"] for o in first["Contents"]] == ["a/1", "a/2"]
    assert first["IsTruncated"] is True
    rest = s3.list_objects(Bucket=bucket, Marker="a/2")
    assert [o["Key"] for o in rest["Contents"]] == ["b", "c/1", "d"]
    assert rest["IsTruncated"] is False
    assert rest["Marker"] == "a/2"
    # With a delimiter, NextMarker says where to continue (prefixes count as entries).
    page = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert [p["Prefix"] for p in page.get("CommonPrefixes", [])] == ["a/"]
    assert [o["Key"] for o in page["Contents"]] == ["b"]
    assert page["IsTruncated"] is True
    nxt = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=page["NextMarker"])
    assert [p["Prefix"] for p in nxt["CommonPrefixes"]] == ["c/"]
    assert [o["Key"] for o in nxt["Contents"]] == ["d"]


def test_list_argument_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"")
    for kwargs in [{"ContinuationToken": "not-a-token!"}, {"MaxKeys": -1}, {"EncodingType": "base64"}]:
        with pytest.raises(ClientError) as e:
            s3.list_objects_v2(Bucket=bucket, **kwargs)
        assert fails(e) == (400, "InvalidArgument"), kwargs
    empty = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert empty["KeyCount"] == 0 and "Contents" not in empty


def test_key_length_limit(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="k" * 1024)["Body"].read() == b"x"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert fails(e) == (400, "KeyTooLongError")


def test_invalid_bucket_names(s3):
    for name in ["Upper_Case", "ab", "a" * 64, "-leading-dash", "double..dots", "192.168.1.1"]:
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket=name)
        assert fails(e) == (400, "InvalidBucketName"), name


def test_list_missing_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket="objs-no-such-bucket-for-list")
    assert fails(e) == (404, "NoSuchBucket")


# --- HEAD, headers and errors --------------------------------------------------------------------


def test_head_missing_bucket_and_key(s3, server, bucket):
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="objs-no-such-bucket-head")
    assert fails(e)[0] == 404
    v4 = boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id=ROOT_KEY,
                      aws_secret_access_key=ROOT_SECRET, region_name="us-east-1",
                      config=Config(signature_version="s3v4"))
    url = v4.generate_presigned_url("head_bucket", Params={"Bucket": "objs-no-such-bucket-head"})
    r = requests.head(url, timeout=10)
    assert r.status_code == 404 and r.content == b""
    assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="absent")
    assert fails(e)[0] == 404
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="absent")
    assert fails(e) == (404, "NoSuchKey")


def test_storage_class(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ia", Body=b"x", StorageClass="STANDARD_IA")
    s3.put_object(Bucket=bucket, Key="std", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="ia")["StorageClass"] == "STANDARD_IA"
    assert s3.get_object(Bucket=bucket, Key="ia")["StorageClass"] == "STANDARD_IA"
    assert s3.head_object(Bucket=bucket, Key="std").get("StorageClass", "STANDARD") == "STANDARD"
    listed = {o["Key"]: o["StorageClass"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed == {"ia": "STANDARD_IA", "std": "STANDARD"}
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"x", StorageClass="NO_SUCH_CLASS")
    assert fails(e) == (400, "InvalidStorageClass")


def test_standard_headers_round_trip(s3, bucket):
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    s3.put_object(Bucket=bucket, Key="k", Body=b"headers", CacheControl="no-cache", Expires=expires,
                  ContentDisposition='attachment; filename="a.txt"', ContentEncoding="identity",
                  ContentLanguage="de-DE", ContentType="text/plain; charset=utf-8")
    for response in [s3.head_object(Bucket=bucket, Key="k"), s3.get_object(Bucket=bucket, Key="k")]:
        assert response["CacheControl"] == "no-cache"
        assert response["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Wed, 02 Jan 2030 03:04:05 GMT"
        assert response["ContentDisposition"] == 'attachment; filename="a.txt"'
        assert response["ContentEncoding"] == "identity"
        assert response["ContentLanguage"] == "de-DE"
        assert response["ContentType"] == "text/plain; charset=utf-8"
        assert response["ContentLength"] == 7


def test_response_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"override", ContentType="text/plain", CacheControl="no-cache")
    got = s3.get_object(Bucket=bucket, Key="k", ResponseContentType="application/json",
                        ResponseCacheControl="max-age=60", ResponseContentDisposition="inline",
                        ResponseContentLanguage="fr", ResponseContentEncoding="identity",
                        ResponseExpires=datetime.datetime(2031, 5, 6, tzinfo=datetime.timezone.utc))
    assert got["Body"].read() == b"override"
    assert got["ContentType"] == "application/json"
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == "inline"
    assert got["ContentLanguage"] == "fr"
    assert got["ContentEncoding"] == "identity"
    assert got["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Tue, 06 May 2031 00:00:00 GMT"
    # The stored object is unchanged.
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ContentType"] == "text/plain" and head["CacheControl"] == "no-cache"


ALPHABET = b"abcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize("header,body,content_range", [
    ("bytes=-5", b"vwxyz", "bytes 21-25/26"),
    ("bytes=5-", ALPHABET[5:], "bytes 5-25/26"),
    ("bytes=0-0", b"a", "bytes 0-0/26"),
    ("bytes=20-100", b"uvwxyz", "bytes 20-25/26"),
    ("bytes=-100", ALPHABET, "bytes 0-25/26"),
    ("bytes=25-25", b"z", "bytes 25-25/26"),
])
def test_ranges(s3, bucket, header, body, content_range):
    s3.put_object(Bucket=bucket, Key="abc", Body=ALPHABET)
    got = s3.get_object(Bucket=bucket, Key="abc", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == body
    assert got["ContentRange"] == content_range
    assert got["ContentLength"] == len(body)


def test_unsatisfiable_ranges(s3, bucket):
    s3.put_object(Bucket=bucket, Key="abc", Body=ALPHABET)
    for header in ["bytes=26-", "bytes=30-40", "bytes=26-30"]:
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key="abc", Range=header)
        assert fails(e) == (416, "InvalidRange"), header


def test_range_on_empty_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-0")
    assert fails(e) == (416, "InvalidRange")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["ContentLength"] == 0 and got["Body"].read() == b""


def test_part_number_of_a_simple_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"simple")
    whole = s3.get_object(Bucket=bucket, Key="k", PartNumber=1)
    assert whole["Body"].read() == b"simple"
    assert whole["ContentLength"] == 6
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", PartNumber=2)
    assert fails(e) == (400, "InvalidPart")


def test_delete_missing_key_is_204(s3, bucket):
    r = s3.delete_object(Bucket=bucket, Key="never-existed")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket="objs-no-such-bucket-del", Key="k")
    assert fails(e) == (404, "NoSuchBucket")


def test_delete_objects_batch(s3, bucket):
    for key in ["a", "b", "c"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "zz"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b", "zz"]
    assert "Errors" not in result
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    for objects in [[], [{"Key": f"k{i}"} for i in range(1001)]]:
        with pytest.raises(ClientError) as e:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})
        assert fails(e) == (400, "MalformedXML"), len(objects)


def test_head_reports_the_tag_count(s3):
    s3.create_bucket(Bucket="head-tag-count")
    s3.put_object(Bucket="head-tag-count", Key="k", Body=b"x", Tagging="a=1&b=2")
    head = s3.head_object(Bucket="head-tag-count", Key="k")
    assert head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-tagging-count") == "2"
    s3.put_object(Bucket="head-tag-count", Key="plain", Body=b"x")
    plain = s3.head_object(Bucket="head-tag-count", Key="plain")
    assert "x-amz-tagging-count" not in plain["ResponseMetadata"]["HTTPHeaders"]
    for key in ["k", "plain"]:
        s3.delete_object(Bucket="head-tag-count", Key=key)
    s3.delete_bucket(Bucket="head-tag-count")


def test_torrent_of_a_missing_key_is_no_such_key(s3):
    s3.create_bucket(Bucket="torrents")
    with pytest.raises(ClientError) as e:
        s3.get_object_torrent(Bucket="torrents", Key="missing")
    assert fails(e) == (404, "NoSuchKey")
    s3.put_object(Bucket="torrents", Key="there", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.get_object_torrent(Bucket="torrents", Key="there")
    assert fails(e) == (501, "NotImplemented")
    s3.delete_object(Bucket="torrents", Key="there")
    s3.delete_bucket(Bucket="torrents")


def test_an_empty_delimiter_is_not_echoed(s3):
    s3.create_bucket(Bucket="empty-delimiter")
    s3.put_object(Bucket="empty-delimiter", Key="a/b", Body=b"x")
    for listed in [s3.list_objects(Bucket="empty-delimiter", Delimiter=""),
                   s3.list_objects_v2(Bucket="empty-delimiter", Delimiter="")]:
        assert "Delimiter" not in listed
        assert [o["Key"] for o in listed["Contents"]] == ["a/b"]
    s3.delete_object(Bucket="empty-delimiter", Key="a/b")
    s3.delete_bucket(Bucket="empty-delimiter")


def test_checksum_type_on_put_and_head(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"typed", ChecksumAlgorithm="CRC32")
    assert put["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumType"] == "FULL_OBJECT" and head["ChecksumCRC32"] == put["ChecksumCRC32"]
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["ChecksumType"] == "FULL_OBJECT"


def test_expected_bucket_owner_is_checked(s3, bucket):
    owner = s3.list_objects_v2(Bucket=bucket)  # the owner's own listing works
    assert owner["ResponseMetadata"]["HTTPStatusCode"] == 200
    me = s3.list_buckets()["Owner"]["ID"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", ExpectedBucketOwner=me)
    assert s3.list_objects(Bucket=bucket, ExpectedBucketOwner=me)["Contents"][0]["Key"] == "k"
    for call in (lambda: s3.list_objects(Bucket=bucket, ExpectedBucketOwner=me + "foo"),
                 lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"v", ExpectedBucketOwner=me + "foo")):
        with pytest.raises(ClientError) as e:
            call()
        assert fails(e) == (403, "AccessDenied")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]


def test_unordered_listing_refuses_a_delimiter(s3, bucket):
    for key in ["a/1", "a/2", "b"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")

    def unordered(params, **_):
        params["url"] += ("&" if "?" in params["url"] else "?") + "allow-unordered=true"

    s3.meta.events.register("before-call.s3.ListObjects", unordered)
    try:
        listed = s3.list_objects(Bucket=bucket)
        assert sorted(o["Key"] for o in listed["Contents"]) == ["a/1", "a/2", "b"]
        with pytest.raises(ClientError) as e:
            s3.list_objects(Bucket=bucket, Delimiter="/")
        assert fails(e) == (400, "InvalidArgument")
    finally:
        s3.meta.events.unregister("before-call.s3.ListObjects", unordered)


def test_copy_object_applies_its_canned_acl(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copied")
    s3.copy_object(Bucket=bucket, Key="public", CopySource={"Bucket": bucket, "Key": "src"}, ACL="public-read")
    grants = s3.get_object_acl(Bucket=bucket, Key="public")["Grants"]
    readers = [g for g in grants if g["Grantee"].get("URI", "").endswith("/global/AllUsers")]
    assert [g["Permission"] for g in readers] == ["READ"], grants
    # The source's ACL is not copied, and a plain copy stays private.
    s3.copy_object(Bucket=bucket, Key="private", CopySource={"Bucket": bucket, "Key": "public"})
    grants = s3.get_object_acl(Bucket=bucket, Key="private")["Grants"]
    assert not [g for g in grants if "URI" in g["Grantee"]], grants


def test_utf8_metadata_comes_back_rfc2047_encoded(s3, bucket):
    # botocore refuses non-ASCII metadata itself, so the headers are set as other clients
    # send them, after signing (user metadata need not be signed).
    def raw_metadata(request, **kwargs):
        request.headers["x-amz-meta-name"] = "café".encode("utf-8")
        request.headers["x-amz-meta-encoded"] = "=?UTF-8?B?Y2Fmw6k=?="

    s3.meta.events.register("before-send.s3.PutObject", raw_metadata)
    try:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"plain": "ok"})
    finally:
        s3.meta.events.unregister("before-send.s3.PutObject", raw_metadata)
    metadata = s3.head_object(Bucket=bucket, Key="k")["Metadata"]
    assert metadata == {"plain": "ok", "name": "=?UTF-8?B?Y2Fmw6k=?=", "encoded": "=?UTF-8?B?Y2Fmw6k=?="}
    assert s3.get_object(Bucket=bucket, Key="k")["Metadata"] == metadata

    def latin1(request, **kwargs):
        request.headers["x-amz-meta-name"] = "café".encode("latin-1")

    s3.meta.events.register("before-send.s3.PutObject", latin1)
    try:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="bad", Body=b"x")
    finally:
        s3.meta.events.unregister("before-send.s3.PutObject", latin1)
    assert e.value.response["Error"]["Code"] == "InvalidArgument"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
