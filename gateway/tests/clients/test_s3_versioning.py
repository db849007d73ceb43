"""boto3 against a real rucket server: bucket versioning, null versions, delete markers
and ListObjectVersions."""

import uuid

import pytest
from botocore.exceptions import ClientError


def fails(excinfo):
    """(HTTP status, S3 error code) of a ClientError."""
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def headers(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]


@pytest.fixture()
def bucket(s3):
    name = "vers-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=name)
    return name


def set_versioning(s3, bucket, status):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})


@pytest.fixture()
def versioned(s3, bucket):
    set_versioning(s3, bucket, "Enabled")
    return bucket


def test_versioning_status_lifecycle(s3, bucket):
    fresh = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in fresh and "MFADelete" not in fresh
    set_versioning(s3, bucket, "Enabled")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    set_versioning(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    set_versioning(s3, bucket, "Enabled")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_versioning_status_must_be_valid(s3, bucket):
    for config in [{"Status": "On"}, {}]:
        with pytest.raises(ClientError) as e:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=config)
        assert fails(e) == (400, "MalformedXML"), config
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_versioning_of_missing_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_versioning(Bucket="vers-no-such-bucket-here")
    assert fails(e) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket="vers-no-such-bucket-here", VersioningConfiguration={"Status": "Enabled"})
    assert fails(e) == (404, "NoSuchBucket")


def test_unversioned_bucket_has_null_versions_only(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    assert "VersionId" not in put
    # No write to a never-versioned bucket names a version.
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k"})
    assert "VersionId" not in copied
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"p")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert "VersionId" not in done
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "copy"}, {"Key": "mp"}]})
    s3.put_object(Bucket=bucket, Key="k", Body=b"two")
    listed = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [("k", "null", True)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"two"
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert "DeleteMarker" not in deleted
    # A HEAD after the delete says the key is gone and no delete marker stands for it.
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert headers(e)["x-amz-delete-marker"] == "false"
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)
    assert "DeleteMarkers" not in s3.list_object_versions(Bucket=bucket)


def test_enabled_bucket_keeps_every_version(s3, versioned):
    ids = [s3.put_object(Bucket=versioned, Key="k", Body=f"v{i}".encode())["VersionId"] for i in range(3)]
    assert len(set(ids)) == 3 and "null" not in ids and all(ids)
    for i, vid in enumerate(ids):
        got = s3.get_object(Bucket=versioned, Key="k", VersionId=vid)
        assert got["Body"].read() == f"v{i}".encode()
        assert got["VersionId"] == vid
    latest = s3.get_object(Bucket=versioned, Key="k")
    assert latest["VersionId"] == ids[-1] and latest["Body"].read() == b"v2"
    assert s3.head_object(Bucket=versioned, Key="k", VersionId=ids[0])["ContentLength"] == 2
    listed = s3.list_object_versions(Bucket=versioned)["Versions"]
    assert [v["VersionId"] for v in listed] == ids[::-1]
    assert [v["IsLatest"] for v in listed] == [True, False, False]

    # Deleting the latest version by id promotes the previous one.
    removed = s3.delete_object(Bucket=versioned, Key="k", VersionId=ids[-1])
    assert removed["VersionId"] == ids[-1] and "DeleteMarker" not in removed
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"v1"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=versioned, Key="k", VersionId=ids[-1])
    assert fails(e) == (404, "NoSuchVersion")


def test_version_id_of_another_key_is_no_such_version(s3, versioned):
    other = s3.put_object(Bucket=versioned, Key="other", Body=b"x")["VersionId"]
    s3.put_object(Bucket=versioned, Key="k", Body=b"y")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=versioned, Key="k", VersionId=other)
    assert fails(e) == (404, "NoSuchVersion")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=versioned, Key="k", VersionId=other)
    assert fails(e)[0] == 404


def test_suspended_writes_replace_the_null_version(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="k", Body=b"enabled")["VersionId"]
    set_versioning(s3, versioned, "Suspended")
    # A write of a null version names no version, as in a never-versioned bucket.
    assert "VersionId" not in s3.put_object(Bucket=versioned, Key="k", Body=b"null one")
    upload = s3.create_multipart_upload(Bucket=versioned, Key="k")["UploadId"]
    part = s3.upload_part(Bucket=versioned, Key="k", UploadId=upload, PartNumber=1, Body=b"null part")
    done = s3.complete_multipart_upload(
        Bucket=versioned, Key="k", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert "VersionId" not in done
    s3.put_object(Bucket=versioned, Key="k", Body=b"null two")
    listed = s3.list_object_versions(Bucket=versioned)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed] == [("null", True), (v1, False)]
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"null two"
    assert s3.get_object(Bucket=versioned, Key="k", VersionId="null")["Body"].read() == b"null two"
    assert s3.get_object(Bucket=versioned, Key="k", VersionId=v1)["Body"].read() == b"enabled"

    # Re-enabled, new versions stack on top of the null one, which is kept.
    set_versioning(s3, versioned, "Enabled")
    v3 = s3.put_object(Bucket=versioned, Key="k", Body=b"again")["VersionId"]
    listed = s3.list_object_versions(Bucket=versioned)["Versions"]
    assert [v["VersionId"] for v in listed] == [v3, "null", v1]
    assert s3.get_object(Bucket=versioned, Key="k", VersionId="null")["Body"].read() == b"null two"


def test_null_version_from_before_versioning_is_kept(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")
    set_versioning(s3, bucket, "Enabled")
    vid = s3.put_object(Bucket=bucket, Key="k", Body=b"after")["VersionId"]
    listed = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed] == [(vid, True), ("null", False)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"before"
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    assert [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]] == [vid]


def test_delete_markers(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="k", Body=b"alive")["VersionId"]
    deleted = s3.delete_object(Bucket=versioned, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    assert marker and marker not in (v1, "null")
    assert deleted["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=versioned, Key="k")
    assert fails(e) == (404, "NoSuchKey")
    assert headers(e)["x-amz-delete-marker"] == "true"
    assert headers(e)["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=versioned, Key="k")
    assert fails(e)[0] == 404
    assert headers(e)["x-amz-delete-marker"] == "true"

    # Addressing the marker itself is not allowed.
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=versioned, Key="k", VersionId=marker)
    assert fails(e) == (405, "MethodNotAllowed")
    assert headers(e)["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=versioned, Key="k", VersionId=marker)
    assert fails(e)[0] == 405

    # The older version is still readable, and the key is hidden from plain listings.
    assert s3.get_object(Bucket=versioned, Key="k", VersionId=v1)["Body"].read() == b"alive"
    assert s3.list_objects_v2(Bucket=versioned)["KeyCount"] == 0
    listed = s3.list_object_versions(Bucket=versioned)
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [(marker, True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(v1, False)]

    # Removing the marker brings the object back.
    undeleted = s3.delete_object(Bucket=versioned, Key="k", VersionId=marker)
    assert undeleted["DeleteMarker"] is True and undeleted["VersionId"] == marker
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"alive"
    assert "DeleteMarkers" not in s3.list_object_versions(Bucket=versioned)


def test_delete_of_missing_key_in_versioned_bucket_makes_a_marker(s3, versioned):
    deleted = s3.delete_object(Bucket=versioned, Key="never")
    assert deleted["DeleteMarker"] is True
    markers = s3.list_object_versions(Bucket=versioned)["DeleteMarkers"]
    assert [(m["Key"], m["VersionId"]) for m in markers] == [("never", deleted["VersionId"])]


def test_suspended_delete_makes_a_null_marker(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="k", Body=b"x")["VersionId"]
    set_versioning(s3, versioned, "Suspended")
    s3.put_object(Bucket=versioned, Key="k", Body=b"null")
    deleted = s3.delete_object(Bucket=versioned, Key="k")
    assert deleted["DeleteMarker"] is True
    listed = s3.list_object_versions(Bucket=versioned)
    # The null marker replaced the null version.
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [("null", True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(v1, False)]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=versioned, Key="k")
    assert fails(e) == (404, "NoSuchKey")


def test_delete_objects_with_versions(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="a", Body=b"1")["VersionId"]
    v2 = s3.put_object(Bucket=versioned, Key="a", Body=b"2")["VersionId"]
    result = s3.delete_objects(Bucket=versioned, Delete={"Objects": [{"Key": "a", "VersionId": v1}, {"Key": "b"}]})
    by_key = {d["Key"]: d for d in result["Deleted"]}
    assert by_key["a"]["VersionId"] == v1
    assert by_key["b"]["DeleteMarker"] is True and by_key["b"]["DeleteMarkerVersionId"]
    assert [v["VersionId"] for v in s3.list_object_versions(Bucket=versioned, Prefix="a")["Versions"]] == [v2]


def test_list_object_versions_paging(s3, versioned):
    expected = []
    for key in ["a", "b", "c"]:
        ids = [s3.put_object(Bucket=versioned, Key=key, Body=b"x")["VersionId"] for _ in range(3)]
        expected += [(key, vid) for vid in reversed(ids)]
    marker = s3.delete_object(Bucket=versioned, Key="b")["VersionId"]
    b_at = expected.index(("b", expected[3][1]))
    expected.insert(b_at, ("b", marker))

    seen, kwargs = [], {}
    pages = 0
    while True:
        page = s3.list_object_versions(Bucket=versioned, MaxKeys=2, **kwargs)
        pages += 1
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        assert 0 < len(entries) <= 2
        entries.sort(key=lambda v: next(i for i, e in enumerate(expected) if e == (v["Key"], v["VersionId"])))
        seen += [(v["Key"], v["VersionId"]) for v in entries]
        if not page["IsTruncated"]:
            break
        assert page["NextKeyMarker"] and page["NextVersionIdMarker"]
        kwargs = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    assert seen == expected
    assert pages == 5

    # A key marker alone skips every version of that key.
    after_a = s3.list_object_versions(Bucket=versioned, KeyMarker="a")
    assert {v["Key"] for v in after_a["Versions"]} == {"b", "c"}
    # A version-id marker continues inside a key.
    inside = s3.list_object_versions(Bucket=versioned, KeyMarker="c", VersionIdMarker=expected[-3][1])
    assert [v["VersionId"] for v in inside["Versions"]] == [expected[-2][1], expected[-1][1]]


def test_version_id_marker_needs_a_key_marker(s3, versioned):
    vid = s3.put_object(Bucket=versioned, Key="k", Body=b"x")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=versioned, VersionIdMarker=vid)
    assert fails(e) == (400, "InvalidArgument")


def test_delete_marker_versions_refuse_object_operations(s3, versioned):
    s3.put_object(Bucket=versioned, Key="k", Body=b"x")
    marker = s3.delete_object(Bucket=versioned, Key="k")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=versioned, Key="k", VersionId=marker)
    assert fails(e) == (405, "MethodNotAllowed")
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=versioned, Key="k", VersionId=marker, Tagging={"TagSet": []})
    assert fails(e) == (405, "MethodNotAllowed")
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=versioned, Key="k", VersionId=marker, ObjectAttributes=["ETag"])
    assert fails(e) == (405, "MethodNotAllowed")
    # Without a version id, the key reads as missing.
    for call in [lambda: s3.get_object_tagging(Bucket=versioned, Key="k"),
                 lambda: s3.copy_object(Bucket=versioned, Key="dst", CopySource={"Bucket": versioned, "Key": "k"})]:
        with pytest.raises(ClientError) as e:
            call()
        assert fails(e) == (404, "NoSuchKey")


def test_list_object_versions_of_unicode_keys(s3, versioned):
    key = "dir/é 😀+%&.txt"
    vid = s3.put_object(Bucket=versioned, Key=key, Body=b"x")["VersionId"]
    listed = s3.list_object_versions(Bucket=versioned, Prefix="dir/é")
    assert [(v["Key"], v["VersionId"]) for v in listed["Versions"]] == [(key, vid)]
    encoded = s3.list_object_versions(Bucket=versioned, EncodingType="url")["Versions"][0]["Key"]
    assert encoded.isascii() and " " not in encoded
    from urllib.parse import unquote_plus
    assert unquote_plus(encoded) == key


def test_list_object_versions_is_latest_prefix_and_delimiter(s3, versioned):
    for key in ["logs/1", "logs/2", "photos/a/1", "photos/b", "top"]:
        s3.put_object(Bucket=versioned, Key=key, Body=b"1")
        s3.put_object(Bucket=versioned, Key=key, Body=b"2")
    s3.delete_object(Bucket=versioned, Key="logs/2")
    listed = s3.list_object_versions(Bucket=versioned, Prefix="logs/")
    latest = {}
    for v in listed["Versions"] + listed["DeleteMarkers"]:
        assert v["Key"].startswith("logs/")
        latest.setdefault(v["Key"], []).append(v["IsLatest"])
    assert {k: sorted(flags) for k, flags in latest.items()} == {
        "logs/1": [False, True], "logs/2": [False, False, True]}
    assert [m["IsLatest"] for m in listed["DeleteMarkers"]] == [True]

    top = s3.list_object_versions(Bucket=versioned, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["logs/", "photos/"]
    assert {v["Key"] for v in top["Versions"]} == {"top"}
    assert "DeleteMarkers" not in top
    photos = s3.list_object_versions(Bucket=versioned, Delimiter="/", Prefix="photos/")
    assert [p["Prefix"] for p in photos["CommonPrefixes"]] == ["photos/a/"]
    assert [v["Key"] for v in photos["Versions"]] == ["photos/b", "photos/b"]
    assert photos["Prefix"] == "photos/" and photos["Delimiter"] == "/"


def test_bucket_with_versions_cannot_be_deleted(s3, versioned):
    vid = s3.put_object(Bucket=versioned, Key="k", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=versioned, Key="k")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=versioned)
    assert fails(e) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=versioned, Key="k", VersionId=vid)
    # A delete marker on its own still keeps the bucket.
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=versioned)
    assert fails(e) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=versioned, Key="k", VersionId=marker)
    assert s3.delete_bucket(Bucket=versioned)["ResponseMetadata"]["HTTPStatusCode"] == 204
