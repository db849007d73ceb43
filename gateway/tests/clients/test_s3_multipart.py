"""boto3 against a real rucket server: multipart uploads, their listings and errors,
UploadPartCopy, and multipart objects on versioned buckets."""

import functools
import hashlib
import os
import uuid

import pytest
from botocore.exceptions import ClientError

MIB = 1024 * 1024
PART = 5 * MIB  # the smallest part that may be followed by another


def fails(excinfo):
    """(HTTP status, S3 error code) of a ClientError."""
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def multipart_etag(*parts):
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return '"%s-%d"' % (hashlib.md5(digests).hexdigest(), len(parts))


@pytest.fixture(scope="module")
def big_part():
    return os.urandom(PART)


@pytest.fixture()
def bucket(s3):
    name = "mpu-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=name)
    return name


def upload(s3, bucket, key, *parts, **create):
    """Uploads parts 1..n of a new upload and returns (upload id, [{PartNumber, ETag}])."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    done = []
    for number, body in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)["ETag"]
        assert etag == '"%s"' % hashlib.md5(body).hexdigest()
        done.append({"PartNumber": number, "ETag": etag})
    return upload_id, done


def test_multipart_round_trip(s3, bucket, big_part):
    tail = b"the last part may be small"
    upload_id, parts = upload(s3, bucket, "big.bin", big_part, tail, ContentType="application/x-test",
                              Metadata={"origin": "mpu"})
    listed = s3.list_parts(Bucket=bucket, Key="big.bin", UploadId=upload_id)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed["Parts"]] == [
        (1, PART, parts[0]["ETag"]), (2, len(tail), parts[1]["ETag"])]
    assert listed["IsTruncated"] is False
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})
    assert done["ETag"] == multipart_etag(big_part, tail)
    assert done["Key"] == "big.bin" and done["Bucket"] == bucket

    got = s3.get_object(Bucket=bucket, Key="big.bin")
    assert got["Body"].read() == big_part + tail
    assert got["ETag"] == done["ETag"]
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"origin": "mpu"}
    first = s3.get_object(Bucket=bucket, Key="big.bin", PartNumber=1)
    assert first["ContentLength"] == PART and first["PartsCount"] == 2
    assert first["Body"].read() == big_part
    second = s3.head_object(Bucket=bucket, Key="big.bin", PartNumber=2)
    assert second["ContentLength"] == len(tail)
    # A part is served under the whole object's ETag, as AWS answers (clients pin the
    # object across part GETs with If-Match on it).
    assert first["ETag"] == second["ETag"] == done["ETag"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="big.bin", PartNumber=3)
    assert fails(e) == (400, "InvalidPart")
    ranged = s3.get_object(Bucket=bucket, Key="big.bin", Range=f"bytes={PART - 3}-{PART + 2}")
    assert ranged["Body"].read() == big_part[-3:] + tail[:3]

    attrs = s3.get_object_attributes(Bucket=bucket, Key="big.bin", ObjectAttributes=["ObjectParts"])
    assert attrs["ObjectParts"]["TotalPartsCount"] == 2
    assert [(p["PartNumber"], p["Size"]) for p in attrs["ObjectParts"]["Parts"]] == [(1, PART), (2, len(tail))]
    paged = s3.get_object_attributes(Bucket=bucket, Key="big.bin", ObjectAttributes=["ObjectParts"], MaxParts=1)
    assert paged["ObjectParts"]["IsTruncated"] is True
    assert [p["PartNumber"] for p in paged["ObjectParts"]["Parts"]] == [1]
    rest = s3.get_object_attributes(Bucket=bucket, Key="big.bin", ObjectAttributes=["ObjectParts"],
                                    PartNumberMarker=paged["ObjectParts"]["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in rest["ObjectParts"]["Parts"]] == [2]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="big.bin", UploadId=upload_id)
    assert fails(e) == (404, "NoSuchUpload")


def test_single_small_part(s3, bucket):
    upload_id, parts = upload(s3, bucket, "small", b"tiny")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})
    assert done["ETag"] == multipart_etag(b"tiny")
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"tiny"


def test_create_options_are_kept(s3, bucket):
    key = "dir/é 😀+%.bin"
    upload_id, parts = upload(s3, bucket, key, b"opts", Tagging="a=b", StorageClass="STANDARD_IA",
                              CacheControl="max-age=5")
    listed = s3.list_multipart_uploads(Bucket=bucket, Prefix="dir/é")["Uploads"]
    assert [(u["Key"], u["UploadId"], u["StorageClass"]) for u in listed] == [(key, upload_id, "STANDARD_IA")]
    assert s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["StorageClass"] == "STANDARD_IA"
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["StorageClass"] == "STANDARD_IA" and head["CacheControl"] == "max-age=5"
    assert s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"] == [{"Key": "a", "Value": "b"}]
    # A completed upload is gone.
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=2, Body=b"late")
    assert fails(e) == (404, "NoSuchUpload")


def test_reuploading_a_part_replaces_it(s3, bucket):
    upload_id, _ = upload(s3, bucket, "k", b"old")
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"new")["ETag"]
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [(1, etag, 3)]
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"new"


def test_parts_may_skip_numbers(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    e3 = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=3, Body=b"three")["ETag"]
    e7 = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=7, Body=b"seven")["ETag"]
    # Parts that were uploaded but are not listed in the completion are left out.
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=5, Body=b"five")
    parts = [{"PartNumber": 3, "ETag": e3}, {"PartNumber": 7, "ETag": e7}]
    # Part 3 is under 5 MiB and not the last part.
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert fails(e) == (400, "EntityTooSmall")
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                 MultipartUpload={"Parts": [{"PartNumber": 7, "ETag": e7}]})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"seven"


def test_entity_too_small(s3, bucket):
    upload_id, parts = upload(s3, bucket, "k", b"a" * 1024, b"b" * 1024)
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert fails(e) == (400, "EntityTooSmall")
    # The upload is still open.
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [upload_id]
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert fails(e)[0] == 404


def test_invalid_part(s3, bucket):
    upload_id, parts = upload(s3, bucket, "k", b"only part")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": '"0123456789abcdef0123456789abcdef"'}]})
    assert fails(e) == (400, "InvalidPart")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": parts[0]["ETag"]}]})
    assert fails(e) == (400, "InvalidPart")
    # Still completable with the right list.
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"only part"


def test_complete_without_parts(s3, bucket):
    upload_id, _ = upload(s3, bucket, "k", b"x")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": []})
    assert fails(e) == (400, "MalformedXML")
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)


def test_invalid_part_order(s3, bucket, big_part):
    upload_id, parts = upload(s3, bucket, "k", big_part, b"end")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                     MultipartUpload={"Parts": [parts[1], parts[0]]})
    assert fails(e) == (400, "InvalidPartOrder")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                     MultipartUpload={"Parts": [parts[0], parts[0]]})
    assert fails(e) == (400, "InvalidPartOrder")
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)


def test_part_number_out_of_range(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for number in [0, 10001]:
        with pytest.raises(ClientError) as e:
            s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=b"x")
        assert fails(e) == (400, "InvalidArgument"), number
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=10000, Body=b"x")
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]] == [10000]


def test_no_such_upload(s3, bucket):
    bogus = "bogus-upload-id"
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=bogus, PartNumber=1, Body=b"x")
    assert fails(e) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=bogus)
    assert fails(e) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as e:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=bogus)
    assert fails(e) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=bogus, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": '"0123456789abcdef0123456789abcdef"'}]})
    assert fails(e) == (404, "NoSuchUpload")
    # An upload id is bound to its key.
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="real")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="other", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert fails(e) == (404, "NoSuchUpload")


def test_abort(s3, bucket):
    upload_id, parts = upload(s3, bucket, "k", b"abandoned")
    assert s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert fails(e) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert fails(e)[0] == 404
    # With no uploads or objects left, the bucket can go.
    s3.delete_bucket(Bucket=bucket)


def test_open_upload_goes_with_its_bucket(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.delete_bucket(Bucket=bucket)  # as S3 does: the bucket and its incomplete uploads
    s3.create_bucket(Bucket=bucket)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as e:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    assert fails(e) == (404, "NoSuchUpload")


def test_list_parts_paging(s3, bucket):
    upload_id, parts = upload(s3, bucket, "k", *[bytes([i]) * (i + 1) for i in range(5)])
    first = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] is True and first["MaxParts"] == 2
    assert first["NextPartNumberMarker"] == 2
    rest = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, PartNumberMarker=first["NextPartNumberMarker"])
    assert [(p["PartNumber"], p["Size"]) for p in rest["Parts"]] == [(3, 3), (4, 4), (5, 5)]
    assert rest["IsTruncated"] is False
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)


def test_list_multipart_uploads(s3, bucket):
    ids = {}
    for key in ["docs/a", "docs/b", "img/x/1", "img/y", "top"]:
        ids[key] = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    second = s3.create_multipart_upload(Bucket=bucket, Key="docs/a")["UploadId"]

    everything = s3.list_multipart_uploads(Bucket=bucket)
    assert sorted((u["Key"], u["UploadId"]) for u in everything["Uploads"]) == sorted(
        list(ids.items()) + [("docs/a", second)])
    assert [u["Key"] for u in everything["Uploads"]] == ["docs/a", "docs/a", "docs/b", "img/x/1", "img/y", "top"]
    assert all(u["Initiated"] for u in everything["Uploads"])

    docs = s3.list_multipart_uploads(Bucket=bucket, Prefix="docs/")
    assert [u["Key"] for u in docs["Uploads"]] == ["docs/a", "docs/a", "docs/b"]
    top = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["docs/", "img/"]
    assert [u["Key"] for u in top["Uploads"]] == ["top"]
    img = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/", Prefix="img/")
    assert [p["Prefix"] for p in img["CommonPrefixes"]] == ["img/x/"]
    assert [u["Key"] for u in img["Uploads"]] == ["img/y"]

    seen, kwargs = [], {}
    while True:
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, **kwargs)
        assert len(page["Uploads"]) <= 2 and page["MaxUploads"] == 2
        seen += [(u["Key"], u["UploadId"]) for u in page["Uploads"]]
        if not page["IsTruncated"]:
            break
        kwargs = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
    assert seen == [(u["Key"], u["UploadId"]) for u in everything["Uploads"]]

    after = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="docs/b")
    assert [u["Key"] for u in after["Uploads"]] == ["img/x/1", "img/y", "top"]
    for key, upload_id in list(ids.items()) + [("docs/a", second)]:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def test_multipart_on_a_versioned_bucket(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    plain = s3.put_object(Bucket=bucket, Key="k", Body=b"plain")["VersionId"]
    upload_id, parts = upload(s3, bucket, "k", b"multipart body")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert done["VersionId"] not in (None, "", "null", plain)
    listed = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed] == [(done["VersionId"], True), (plain, False)]
    assert listed[0]["ETag"] == multipart_etag(b"multipart body")
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=done["VersionId"])["Body"].read() == b"multipart body"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=plain)["Body"].read() == b"plain"


def test_complete_with_conditions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"exists")
    upload_id, parts = upload(s3, bucket, "k", b"new")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                     MultipartUpload={"Parts": parts}, IfNoneMatch="*")
    assert fails(e) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"exists"


def test_a_retried_complete_gets_the_same_answer(s3, bucket, big_part):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    upload_id, parts = upload(s3, bucket, "k", big_part, b"tail")
    first = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                         MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                         MultipartUpload={"Parts": parts})
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert (again["ETag"], again["VersionId"]) == (first["ETag"], first["VersionId"])
    assert len(s3.list_object_versions(Bucket=bucket)["Versions"]) == 1, "completed once"
    # Other parts are not that upload's completion.
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                     MultipartUpload={"Parts": parts[:1]})
    assert fails(e) == (404, "NoSuchUpload")


def test_a_part_uploaded_twice_is_the_last_one(s3, bucket, big_part):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    old = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"first")["ETag"]
    new = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"second")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": old}]})
    assert fails(e) == (400, "InvalidPart")
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": new}]})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


def test_complete_if_none_match_an_etag(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"exists")["ETag"]
    upload_id, parts = upload(s3, bucket, "k", b"new")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                     MultipartUpload={"Parts": parts}, IfNoneMatch=etag)
    assert fails(e) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"exists"
    other = '"%s"' % hashlib.md5(b"something else").hexdigest()
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                 MultipartUpload={"Parts": parts}, IfNoneMatch=other)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"new"


def test_parts_of_one_number_uploaded_at_once_leave_one_and_only_its_etag_completes(s3, bucket, server):
    import threading

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    bodies = [os.urandom(1 << 20) for _ in range(4)]
    finished = []
    lock = threading.Lock()

    def send(body):
        etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=body)["ETag"]
        with lock:
            finished.append((etag, body))

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert len(listed) == 1
    # The part kept is one of the uploads, and Complete with its ETag succeeds.
    kept = [body for etag, body in finished if etag == listed[0]["ETag"]]
    assert len(kept) == 1
    for etag, _ in finished:
        if etag != listed[0]["ETag"]:
            with pytest.raises(ClientError) as e:
                s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
            assert fails(e) == (400, "InvalidPart")
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": listed[0]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == kept[0]


def test_a_full_object_checksum_type_is_asked_for_at_creation_and_kept(s3, bucket, big_part):
    import base64
    import zlib

    upload = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32",
                                        ChecksumType="FULL_OBJECT")
    assert upload["ChecksumType"] == "FULL_OBJECT"
    upload_id = upload["UploadId"]
    first, second = big_part, b"b" * 50
    parts = []
    for number, body in enumerate([first, second], start=1):
        part = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=body,
                              ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]})
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["ChecksumType"] == "FULL_OBJECT"
    # The completion may not ask for the other mode.
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts},
                                     ChecksumType="COMPOSITE")
    assert fails(e) == (400, "InvalidRequest")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts})
    whole = base64.b64encode(zlib.crc32(first + second).to_bytes(4, "big")).decode()
    assert (done["ChecksumType"], done["ChecksumCRC32"]) == ("FULL_OBJECT", whole)
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert (head["ChecksumType"], head["ChecksumCRC32"]) == ("FULL_OBJECT", whole)
    # Without the header a CRC32 upload stays COMPOSITE, as in S3.
    plain = s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumAlgorithm="CRC32")
    assert plain["ChecksumType"] == "COMPOSITE"
    assert s3.list_parts(Bucket=bucket, Key="c", UploadId=plain["UploadId"])["ChecksumType"] == "COMPOSITE"
    s3.abort_multipart_upload(Bucket=bucket, Key="c", UploadId=plain["UploadId"])
    # Parts sent without a checksum (botocore adds one unless told not to) still make
    # the whole-object one.
    import boto3
    from botocore.config import Config
    from conftest import ROOT_KEY, ROOT_SECRET
    bare = boto3.client("s3", endpoint_url=s3.meta.endpoint_url, aws_access_key_id=ROOT_KEY,
                        aws_secret_access_key=ROOT_SECRET, region_name="us-east-1",
                        config=Config(request_checksum_calculation="when_required",
                                      retries={"max_attempts": 1}))
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="u", ChecksumAlgorithm="CRC32",
                                           ChecksumType="FULL_OBJECT")["UploadId"]
    parts = []
    for number, body in enumerate([first, second], start=1):
        part = bare.upload_part(Bucket=bucket, Key="u", UploadId=upload_id, PartNumber=number, Body=body)
        assert "ChecksumCRC32" in part, "computed by the server"
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="u", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert (done["ChecksumType"], done["ChecksumCRC32"]) == ("FULL_OBJECT", whole)


def test_checksum_types_s3_refuses_at_creation(s3, bucket):
    for extra in ({"ChecksumAlgorithm": "SHA256", "ChecksumType": "FULL_OBJECT"},
                  {"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "COMPOSITE"},
                  {"ChecksumType": "FULL_OBJECT"}):
        with pytest.raises(ClientError) as e:
            s3.create_multipart_upload(Bucket=bucket, Key="k", **extra)
        assert fails(e) == (400, "InvalidRequest"), extra
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_complete_if_match(s3, bucket):
    upload_id, parts = upload(s3, bucket, "k", b"new")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                     MultipartUpload={"Parts": parts}, IfMatch="*")
    assert fails(e) == (404, "NoSuchKey")
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"exists")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                 MultipartUpload={"Parts": parts}, IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"new"


def test_upload_part_copy_with_ranges(s3, bucket, big_part):
    source = big_part + b"0123456789"
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    first = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "source"},
                                CopySourceRange=f"bytes=0-{PART - 1}")
    assert first["CopyPartResult"]["ETag"] == '"%s"' % hashlib.md5(big_part).hexdigest()
    second = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=2,
                                 CopySource={"Bucket": bucket, "Key": "source"},
                                 CopySourceRange=f"bytes={PART + 2}-{PART + 4}")
    assert second["CopyPartResult"]["ETag"] == '"%s"' % hashlib.md5(b"234").hexdigest()
    third = s3.upload_part(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=3, Body=b"!")
    parts = [{"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
             {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]},
             {"PartNumber": 3, "ETag": third["ETag"]}]
    # Part 2 is a small non-final part.
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=upload_id,
                                     MultipartUpload={"Parts": parts})
    assert fails(e) == (400, "EntityTooSmall")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=upload_id,
                                        MultipartUpload={"Parts": parts[:2]})
    assert done["ETag"] == multipart_etag(big_part, b"234")
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == big_part + b"234"


def test_upload_part_copy_whole_object_and_errors(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="source", Body=b"version one")["VersionId"]
    etag2 = s3.put_object(Bucket=bucket, Key="source", Body=b"version two")["ETag"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    copied = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                                 CopySource={"Bucket": bucket, "Key": "source", "VersionId": v1})
    assert copied["CopySourceVersionId"] == v1
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=2,
                            CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange="bytes=5-100")
    # S3 has answered both 400 and 416 here over time; the code is InvalidRange.
    assert fails(e)[1] == "InvalidRange" and fails(e)[0] in (400, 416)
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=2,
                            CopySource={"Bucket": bucket, "Key": "source"}, CopySourceIfNoneMatch=etag2)
    assert fails(e) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=2,
                            CopySource={"Bucket": bucket, "Key": "absent"})
    assert fails(e) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId="bogus-upload-id", PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "source"})
    assert fails(e) == (404, "NoSuchUpload")
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": copied["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"version one"


def test_upload_part_checksums(s3, bucket):
    import base64
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")["UploadId"]
    body = b"checked part"
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    part = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=body,
                          ChecksumAlgorithm="SHA256")
    assert part["ChecksumSHA256"] == sha
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"][0]["ChecksumSHA256"] == sha
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=2, Body=body,
                       ContentMD5=base64.b64encode(hashlib.md5(b"nope").digest()).decode())
    assert fails(e) == (400, "BadDigest")
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)


def test_multipart_checksum_type_and_a_wrong_object_checksum(s3, bucket):
    import base64
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"only part",
                          ChecksumAlgorithm="SHA256")
    parts = [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]}]
    wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode() + "-1"
    # A SHA-256 object checksum is a composite: one without a part count does not match
    # either (BadDigest, as S3 and Ceph's suite answer), rather than asking for a
    # full-object SHA-256, which no one can build from parts.
    for declared in [wrong, "bad", wrong[:-2]]:
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                         MultipartUpload={"Parts": parts}, ChecksumSHA256=declared)
        assert fails(e) == (400, "BadDigest"), declared
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert done["ChecksumType"] == "COMPOSITE" and done["ChecksumSHA256"].endswith("-1")
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumType"] == "COMPOSITE"
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["Checksum", "ETag"])
    assert attrs["Checksum"] == {"ChecksumSHA256": done["ChecksumSHA256"], "ChecksumType": "COMPOSITE"}
    assert attrs["ETag"] == done["ETag"].strip('"')


def test_object_attributes_list_each_parts_checksum(s3, bucket, big_part):
    """GetObjectAttributes lists the checksum each part of a completed object was uploaded
    with (a re-uploaded part's latest), page by page, as S3 does."""
    import base64

    def sha(body):
        return base64.b64encode(hashlib.sha256(body).digest()).decode()

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")["UploadId"]
    upload = functools.partial(s3.upload_part, Bucket=bucket, Key="k", UploadId=upload_id,
                               ChecksumAlgorithm="SHA256")
    first = upload(PartNumber=1, Body=big_part)
    upload(PartNumber=2, Body=b"replaced")
    second = upload(PartNumber=2, Body=b"the last part")
    parts = [{"PartNumber": n, "ETag": p["ETag"], "ChecksumSHA256": p["ChecksumSHA256"]}
             for n, p in [(1, first), (2, second)]]
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts})
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectParts"])
    assert [(p["PartNumber"], p["ChecksumSHA256"]) for p in attrs["ObjectParts"]["Parts"]] == [
        (1, sha(big_part)), (2, sha(b"the last part"))]
    paged = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectParts"],
                                     MaxParts=1, PartNumberMarker=1)
    assert [(p["PartNumber"], p["ChecksumSHA256"]) for p in paged["ObjectParts"]["Parts"]] == [
        (2, sha(b"the last part"))]
    # A simple object has no parts to list.
    s3.put_object(Bucket=bucket, Key="simple", Body=b"x", ChecksumAlgorithm="SHA256")
    assert "ObjectParts" not in s3.get_object_attributes(Bucket=bucket, Key="simple",
                                                         ObjectAttributes=["ObjectParts"])


def test_delete_bucket_aborts_uploads_in_progress(s3):
    s3.create_bucket(Bucket="mp-delete-bucket")
    upload = s3.create_multipart_upload(Bucket="mp-delete-bucket", Key="big")["UploadId"]
    s3.upload_part(Bucket="mp-delete-bucket", Key="big", UploadId=upload, PartNumber=1, Body=b"x" * 1024)
    s3.delete_bucket(Bucket="mp-delete-bucket")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "mp-delete-bucket" not in names
    # A version still keeps a bucket, whatever uploads it has.
    s3.create_bucket(Bucket="mp-delete-kept")
    s3.put_object(Bucket="mp-delete-kept", Key="v", Body=b"x")
    s3.create_multipart_upload(Bucket="mp-delete-kept", Key="big")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="mp-delete-kept")
    assert e.value.response["Error"]["Code"] == "BucketNotEmpty"
    s3.delete_object(Bucket="mp-delete-kept", Key="v")
    s3.delete_bucket(Bucket="mp-delete-kept")
