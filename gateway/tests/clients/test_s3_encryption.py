"""boto3 and awscli against a real rucket server: SSE-S3 and SSE-C on PUT, GET, HEAD,
copy and multipart, bucket default encryption, the refusals of the semantics guide, and
no plaintext on disk. The session server has a master key and accepts SSE-C over plain
HTTP from loopback (RUCKET_ALLOW_INSECURE_SSE_C, for tests)."""

import base64
import hashlib
import os
import uuid

import pytest
from botocore.exceptions import ClientError

KEY = os.urandom(32)
OTHER_KEY = os.urandom(32)
CHUNK = 64 * 1024


def fails(excinfo):
    """(HTTP status, S3 error code) of a ClientError."""
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def customer(key=KEY):
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def customer_encoded(key=KEY):
    """The SSE-C headers as boto3 sends them where it does not encode the key itself."""
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(key).decode(),
            "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(key).digest()).decode()}


def copy_source_customer(key=KEY):
    return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": key}


def marked(size):
    """A body of `size` bytes that repeats a marker unique to this call."""
    marker = ("MARK-" + uuid.uuid4().hex).encode()
    return marker, (marker * (size // len(marker) + 1))[:size]


def files_containing(root, needle):
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as f:
                    if needle in f.read():
                        found.append(path)
            except OSError:
                pass
    return found


@pytest.fixture()
def bucket(s3):
    name = "sse-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=name)
    return name


def test_sse_s3_round_trips_with_plaintext_etag_and_ranges(s3, bucket):
    _, body = marked(3 * CHUNK + 777)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["ServerSideEncryption"] == "AES256"
    assert got["Body"].read() == body
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentLength"] == len(body)
    for start, end in [(0, 0), (CHUNK - 2, CHUNK + 2), (CHUNK, 2 * CHUNK - 1), (len(body) - 5, len(body) - 1)]:
        ranged = s3.get_object(Bucket=bucket, Key="k", Range=f"bytes={start}-{end}")
        assert ranged["Body"].read() == body[start:end + 1], (start, end)
        assert ranged["ContentRange"] == f"bytes {start}-{end}/{len(body)}"


def test_no_plaintext_reaches_the_disk(s3, server, bucket):
    big_marker, big = marked(200 * 1024)
    small_marker, small = marked(100)
    customer_marker, by_customer = marked(70 * 1024)
    s3.put_object(Bucket=bucket, Key="big", Body=big, ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="small", Body=small, ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="customer", Body=by_customer, **customer())
    # The control: an unencrypted body is found where the scan looks.
    plain_marker, plain = marked(10 * 1024)
    s3.put_object(Bucket=bucket, Key="plain", Body=plain)
    assert files_containing(server["data"], plain_marker), "the scan must find unencrypted bytes"
    for marker in (big_marker, small_marker, customer_marker):
        assert files_containing(server["data"], marker) == []
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == small


def test_bucket_default_encryption(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket=bucket)
    assert fails(e) == (404, "ServerSideEncryptionConfigurationNotFoundError")
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    got = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert got["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert got["BucketKeyEnabled"] is True
    s3.put_object(Bucket=bucket, Key="by-default", Body=b"x" * 5000)
    assert s3.head_object(Bucket=bucket, Key="by-default")["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="by-default")["Body"].read() == b"x" * 5000
    # A request's own SSE-C key wins over the default.
    s3.put_object(Bucket=bucket, Key="own-key", Body=b"y", **customer())
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key="own-key", **customer())
    s3.delete_bucket_encryption(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="after", Body=b"z")
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key="after")
    # Objects written under the default stay readable after it is removed.
    assert s3.get_object(Bucket=bucket, Key="by-default")["Body"].read() == b"x" * 5000


def test_bucket_encryption_refusals(s3, bucket):
    def put(default, rules=None):
        rules = rules if rules is not None else [{"ApplyServerSideEncryptionByDefault": default}]
        with pytest.raises(ClientError) as e:
            s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
        return fails(e)

    assert put({"SSEAlgorithm": "aws:kms:dsse"}) == (501, "NotImplemented")
    assert put({"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "no-such-key"}) == (400, "KMS.NotFoundException")
    assert put({"SSEAlgorithm": "AES256", "KMSMasterKeyID": "k"}) == (400, "InvalidArgument")
    assert put(None, rules=[{"BucketKeyEnabled": True}]) == (400, "MalformedXML")
    aes = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    assert put(None, rules=[aes, aes]) == (400, "MalformedXML")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket=bucket)
    assert fails(e)[1] == "ServerSideEncryptionConfigurationNotFoundError", "nothing changed"


def test_sse_s3_refusals(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms:dsse")
    assert fails(e) == (501, "NotImplemented")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256", **customer())
    assert fails(e) == (400, "InvalidArgument")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0, "nothing was written"


def test_sse_c_round_trips_and_refuses_missing_or_wrong_keys(s3, bucket):
    _, body = marked(2 * CHUNK + 10)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, **customer())
    md5 = base64.b64encode(hashlib.md5(KEY).digest()).decode()
    assert put["SSECustomerAlgorithm"] == "AES256" and put["SSECustomerKeyMD5"] == md5
    assert put["ETag"] != '"%s"' % hashlib.md5(body).hexdigest(), "an SSE-C ETag is not the plaintext MD5"
    got = s3.get_object(Bucket=bucket, Key="k", **customer())
    assert got["Body"].read() == body and got["SSECustomerKeyMD5"] == md5
    ranged = s3.get_object(Bucket=bucket, Key="k", Range=f"bytes={CHUNK - 1}-{CHUNK}", **customer())
    assert ranged["Body"].read() == body[CHUNK - 1:CHUNK + 1]
    assert s3.head_object(Bucket=bucket, Key="k", **customer())["ContentLength"] == len(body)

    for call in (s3.get_object, s3.head_object):
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key="k")
        assert fails(e)[0] == 400, "missing key"
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, Key="k", **customer(OTHER_KEY))
        assert fails(e)[0] == 403, "wrong key"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", **customer(OTHER_KEY))
    assert fails(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert fails(e) == (400, "InvalidRequest")

    # A key for an object that was not encrypted with one is refused too.
    s3.put_object(Bucket=bucket, Key="plain", Body=b"p")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="plain", **customer())
    assert fails(e) == (400, "InvalidRequest")


def test_sse_c_header_refusals(s3, bucket):
    wrong_md5 = base64.b64encode(hashlib.md5(OTHER_KEY).digest()).decode()
    cases = [
        # boto3 leaves the key as given when the MD5 is given too.
        ({"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(KEY).decode(),
          "SSECustomerKeyMD5": wrong_md5}, (400, "InvalidArgument")),
        (customer(os.urandom(16)), (400, "InvalidArgument")),
        ({"SSECustomerAlgorithm": "AES128", "SSECustomerKey": base64.b64encode(KEY).decode(),
          "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(KEY).digest()).decode()},
         (400, "InvalidEncryptionAlgorithmError")),
    ]
    for headers, expected in cases:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="k", Body=b"x", **headers)
        assert fails(e) == expected, headers
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0, "nothing was written"


def test_copies_reencrypt_between_modes(s3, bucket):
    _, body = marked(CHUNK + 99)
    s3.put_object(Bucket=bucket, Key="src", Body=body, **customer())
    source = {"Bucket": bucket, "Key": "src"}
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=source)
    assert fails(e)[0] == 400, "the source needs its key"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, **copy_source_customer(OTHER_KEY))
    assert fails(e) == (403, "AccessDenied")
    out = s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, ServerSideEncryption="AES256",
                         **copy_source_customer())
    assert out["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == body
    # Back to a (different) customer key, and in place with new encryption attributes.
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource={"Bucket": bucket, "Key": "dst"},
                   **customer(OTHER_KEY))
    assert s3.get_object(Bucket=bucket, Key="dst2", **customer(OTHER_KEY))["Body"].read() == body
    s3.copy_object(Bucket=bucket, Key="src", CopySource=source, **copy_source_customer(), **customer(OTHER_KEY))
    assert s3.get_object(Bucket=bucket, Key="src", **customer(OTHER_KEY))["Body"].read() == body


def upload_parts(s3, bucket, key, parts, extra):
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)
    etags = []
    for number, part in enumerate(parts, start=1):
        sent = {k: v for k, v in extra.items() if k.startswith("SSECustomer")}
        etags.append(s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number,
                                    Body=part, **sent)["ETag"])
    return upload, etags


def complete(s3, bucket, key, upload, etags):
    parts = [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"],
                                        MultipartUpload={"Parts": parts})


def test_multipart_sse_s3(s3, bucket):
    _, first = marked(5 * 1024 * 1024)
    _, second = marked(CHUNK * 3 + 5)
    upload, etags = upload_parts(s3, bucket, "mp", [first, second], {"ServerSideEncryption": "AES256"})
    assert upload["ServerSideEncryption"] == "AES256"
    done = complete(s3, bucket, "mp", upload, etags)
    assert done["ServerSideEncryption"] == "AES256"
    body = first + second
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == body
    start = len(first) - 10
    ranged = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={start}-{start + 20}")
    assert ranged["Body"].read() == body[start:start + 21]
    assert s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)["Body"].read() == second


def test_multipart_sse_c_needs_the_key_on_every_part(s3, bucket):
    _, first = marked(5 * 1024 * 1024)
    _, second = marked(1000)
    upload, etags = upload_parts(s3, bucket, "mpc", [first], customer())
    assert upload["SSECustomerAlgorithm"] == "AES256"
    upload_id = upload["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mpc", UploadId=upload_id, PartNumber=2, Body=second)
    assert fails(e) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mpc", UploadId=upload_id, PartNumber=2, Body=second,
                       **customer(OTHER_KEY))
    assert fails(e) == (403, "AccessDenied")
    etags.append(s3.upload_part(Bucket=bucket, Key="mpc", UploadId=upload_id, PartNumber=2, Body=second,
                                **customer())["ETag"])
    complete(s3, bucket, "mpc", upload, etags)
    assert s3.get_object(Bucket=bucket, Key="mpc", **customer())["Body"].read() == first + second
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mpc")
    assert fails(e) == (400, "InvalidRequest")


def test_upload_part_copy_between_encrypted_objects(s3, bucket):
    _, source = marked(6 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="source", Body=source, **customer(OTHER_KEY))
    upload = s3.create_multipart_upload(Bucket=bucket, Key="assembled", ServerSideEncryption="AES256")
    part = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload["UploadId"], PartNumber=1,
                               CopySource={"Bucket": bucket, "Key": "source"},
                               CopySourceRange="bytes=0-5242879", **copy_source_customer(OTHER_KEY))
    complete(s3, bucket, "assembled", upload, [part["CopyPartResult"]["ETag"]])
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source[:5 * 1024 * 1024]


def test_versions_keep_their_own_encryption(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one" * 2000, **customer())["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two" * 2000, ServerSideEncryption="AES256")["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1, **customer())["Body"].read() == b"one" * 2000
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v2)["Body"].read() == b"two" * 2000


def test_awscli_sse_and_sse_c(aws, s3, bucket, tmp_path):
    _, body = marked(300 * 1024)
    source = tmp_path / "in.bin"
    source.write_bytes(body)
    aws("s3", "cp", str(source), f"s3://{bucket}/cli-sse", "--sse", "AES256")
    assert s3.head_object(Bucket=bucket, Key="cli-sse")["ServerSideEncryption"] == "AES256"
    key_file = tmp_path / "key.bin"
    key_file.write_bytes(KEY)
    aws("s3", "cp", str(source), f"s3://{bucket}/cli-ssec", "--sse-c", "AES256", "--sse-c-key", f"fileb://{key_file}")
    out = tmp_path / "out.bin"
    aws("s3", "cp", f"s3://{bucket}/cli-ssec", str(out), "--sse-c", "AES256", "--sse-c-key", f"fileb://{key_file}")
    assert out.read_bytes() == body
    refused = aws("s3", "cp", f"s3://{bucket}/cli-ssec", str(tmp_path / "no.bin"), check=False)
    assert refused.returncode != 0


def test_attributes_of_sse_c_objects_need_the_key_and_reads_refuse_the_sse_header(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret" * 100, ChecksumAlgorithm="SHA256", **customer())
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["Checksum"])
    assert fails(e) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["Checksum"],
                                 **customer_encoded(OTHER_KEY))
    assert fails(e) == (403, "AccessDenied")
    got = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"], **customer_encoded())
    assert got["ObjectSize"] == 600

    s3.put_object(Bucket=bucket, Key="s3", Body=b"x", ServerSideEncryption="AES256")

    def add_header(request, **_):
        request.headers["x-amz-server-side-encryption"] = "AES256"

    s3.meta.events.register("before-sign.s3.GetObject", add_header)
    try:
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key="s3")
        assert fails(e) == (400, "InvalidArgument")
    finally:
        s3.meta.events.unregister("before-sign.s3.GetObject", add_header)
    assert s3.get_object(Bucket=bucket, Key="s3")["Body"].read() == b"x"


def test_a_refused_body_closes_its_connection_and_never_garbles_the_next_answer(s3, bucket):
    # A refusal before the body is read closes the connection (deterministic check), so
    # the next request on a new one is answered cleanly (botocore read a garbled 403 here
    # now and then before).
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k", **customer())
    for i in range(60):
        body = os.urandom(1000 + i * 1097)
        with pytest.raises(ClientError) as e:
            s3.upload_part(Bucket=bucket, Key="k", UploadId=upload["UploadId"], PartNumber=1, Body=body,
                           **customer(OTHER_KEY))
        assert fails(e) == (403, "AccessDenied")
        assert e.value.response["ResponseMetadata"]["HTTPHeaders"].get("connection") == "close"
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload["UploadId"], PartNumber=1, Body=body, **customer())


def test_sse_c_parts_keep_their_checksums_copied_or_uploaded(s3, bucket):
    """A sealed multipart object lists each part's plaintext checksum in GetObjectAttributes
    (with its key), for a part copied from another object as for one uploaded."""
    def sha(body):
        return base64.b64encode(hashlib.sha256(body).digest()).decode()

    _, source = marked(5 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="plain-source", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="sealed", ChecksumAlgorithm="SHA256",
                                           **customer())["UploadId"]
    copied = s3.upload_part_copy(Bucket=bucket, Key="sealed", UploadId=upload_id, PartNumber=1,
                                 CopySource={"Bucket": bucket, "Key": "plain-source"}, **customer())
    uploaded = s3.upload_part(Bucket=bucket, Key="sealed", UploadId=upload_id, PartNumber=2, Body=b"tail",
                              ChecksumAlgorithm="SHA256", **customer())
    assert copied["CopyPartResult"]["ChecksumSHA256"] == sha(source)
    parts = [{"PartNumber": 1, "ETag": copied["CopyPartResult"]["ETag"], "ChecksumSHA256": sha(source)},
             {"PartNumber": 2, "ETag": uploaded["ETag"], "ChecksumSHA256": uploaded["ChecksumSHA256"]}]
    s3.complete_multipart_upload(Bucket=bucket, Key="sealed", UploadId=upload_id,
                                 MultipartUpload={"Parts": parts}, **customer())
    attrs = s3.get_object_attributes(Bucket=bucket, Key="sealed", ObjectAttributes=["ObjectParts"],
                                   **customer_encoded())
    assert [(p["PartNumber"], p["ChecksumSHA256"]) for p in attrs["ObjectParts"]["Parts"]] == [
        (1, sha(source)), (2, sha(b"tail"))]
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="sealed", ObjectAttributes=["ObjectParts"])
    assert fails(e)[0] == 400
