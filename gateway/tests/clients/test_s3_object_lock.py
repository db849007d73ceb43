"""boto3 against a real rucket server: Object Lock configuration, retention (GOVERNANCE
with bypass, COMPLIANCE without; GOVERNANCE to COMPLIANCE with bypass), legal holds, and every refusal of the semantics guide."""

import datetime
import uuid

import pytest
from botocore.exceptions import ClientError


def fails(excinfo):
    """(HTTP status, S3 error code) of a ClientError."""
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def later(days=1.0):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)


def name():
    return "lock-" + uuid.uuid4().hex[:16]


@pytest.fixture()
def locked(s3):
    bucket = name()
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    return bucket


@pytest.fixture()
def plain(s3):
    bucket = name()
    s3.create_bucket(Bucket=bucket)
    return bucket


def put(s3, bucket, key, **kwargs):
    return s3.put_object(Bucket=bucket, Key=key, Body=b"locked bytes", **kwargs)["VersionId"]


def test_lock_at_creation_turns_versioning_on_for_good(s3, locked):
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    config = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert config == {"ObjectLockEnabled": "Enabled"}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Suspended"})
    assert fails(e) == (409, "InvalidBucketState")


def test_configuration_needs_versioning_and_is_validated(s3, plain):
    with pytest.raises(ClientError) as e:
        s3.get_object_lock_configuration(Bucket=plain)
    assert fails(e) == (404, "ObjectLockConfigurationNotFoundError")
    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}
    config = {"ObjectLockEnabled": "Enabled", "Rule": rule}
    with pytest.raises(ClientError) as e:
        s3.put_object_lock_configuration(Bucket=plain, ObjectLockConfiguration=config)
    assert fails(e) == (409, "InvalidBucketState")

    s3.put_bucket_versioning(Bucket=plain, VersioningConfiguration={"Status": "Enabled"})
    bad = [
        ({"Mode": "GOVERNANCE", "Days": 1, "Years": 1}, (400, "MalformedXML")),
        ({"Mode": "GOVERNANCE"}, (400, "MalformedXML")),
        ({"Mode": "SOMETIMES", "Days": 1}, (400, "MalformedXML")),
        ({"Days": 1}, (400, "MalformedXML")),
        ({"Mode": "GOVERNANCE", "Days": 0}, (400, "InvalidRetentionPeriod")),
        ({"Mode": "COMPLIANCE", "Years": -1}, (400, "InvalidRetentionPeriod")),
    ]
    for retention, expected in bad:
        with pytest.raises(ClientError) as e:
            s3.put_object_lock_configuration(
                Bucket=plain,
                ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": retention}},
            )
        assert fails(e) == expected, retention
    with pytest.raises(ClientError) as e:
        s3.get_object_lock_configuration(Bucket=plain)
    assert fails(e)[1] == "ObjectLockConfigurationNotFoundError", "refused configurations changed nothing"

    s3.put_object_lock_configuration(Bucket=plain, ObjectLockConfiguration=config)
    got = s3.get_object_lock_configuration(Bucket=plain)["ObjectLockConfiguration"]
    assert got == config
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=plain, VersioningConfiguration={"Status": "Suspended"})
    assert fails(e) == (409, "InvalidBucketState")


def test_default_governance_retention_and_its_bypass(s3, locked):
    s3.put_object_lock_configuration(
        Bucket=locked,
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled",
                                 "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}},
    )
    version = put(s3, locked, "k")
    head = s3.head_object(Bucket=locked, Key="k", VersionId=version)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert later(1.9) < until < later(2.1), until
    assert s3.get_object_retention(Bucket=locked, Key="k", VersionId=version)["Retention"]["Mode"] == "GOVERNANCE"

    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked, Key="k", VersionId=version)
    assert fails(e) == (403, "AccessDenied")
    # A new version and a delete marker are allowed; the locked version stays.
    put(s3, locked, "k")
    marker = s3.delete_object(Bucket=locked, Key="k")
    assert marker["DeleteMarker"] is True
    assert s3.get_object(Bucket=locked, Key="k", VersionId=version)["Body"].read() == b"locked bytes"
    # Shortening needs the bypass too.
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=locked, Key="k", VersionId=version,
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(1)})
    assert fails(e) == (403, "AccessDenied")
    s3.put_object_retention(Bucket=locked, Key="k", VersionId=version, BypassGovernanceRetention=True,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(1)})
    s3.delete_object(Bucket=locked, Key="k", VersionId=version, BypassGovernanceRetention=True)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=locked, Key="k", VersionId=version)
    assert fails(e)[0] == 404


def test_compliance_yields_to_nobody(s3, locked):
    version = put(s3, locked, "c", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=later(1))
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked, Key="c", VersionId=version, BypassGovernanceRetention=True)
    assert fails(e) == (403, "AccessDenied")
    for retention in [{"Mode": "COMPLIANCE", "RetainUntilDate": later(0.5)},
                      {"Mode": "GOVERNANCE", "RetainUntilDate": later(3)}]:
        with pytest.raises(ClientError) as e:
            s3.put_object_retention(Bucket=locked, Key="c", VersionId=version, Retention=retention,
                                    BypassGovernanceRetention=True)
        assert fails(e) == (403, "AccessDenied"), retention
    longer = later(5)
    s3.put_object_retention(Bucket=locked, Key="c", VersionId=version,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": longer})
    got = s3.get_object_retention(Bucket=locked, Key="c", VersionId=version)["Retention"]
    assert got["Mode"] == "COMPLIANCE"
    assert abs((got["RetainUntilDate"] - longer).total_seconds()) < 1


def test_governance_becomes_compliance_only_with_the_bypass(s3, locked):
    version = put(s3, locked, "g", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=later(1))
    # A change of mode is no extension: without the bypass it is refused, as in S3.
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=locked, Key="g", VersionId=version,
                                Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later(1.5)})
    assert fails(e) == (403, "AccessDenied")
    assert s3.get_object_retention(Bucket=locked, Key="g", VersionId=version)["Retention"]["Mode"] == "GOVERNANCE"
    s3.put_object_retention(Bucket=locked, Key="g", VersionId=version, BypassGovernanceRetention=True,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later(1.5)})
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked, Key="g", VersionId=version, BypassGovernanceRetention=True)
    assert fails(e) == (403, "AccessDenied")


def test_legal_hold_is_independent_of_retention(s3, locked):
    version = put(s3, locked, "h", ObjectLockLegalHoldStatus="ON")
    assert s3.get_object_legal_hold(Bucket=locked, Key="h", VersionId=version)["LegalHold"] == {"Status": "ON"}
    assert s3.head_object(Bucket=locked, Key="h")["ObjectLockLegalHoldStatus"] == "ON"
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked, Key="h", VersionId=version, BypassGovernanceRetention=True)
    assert fails(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        s3.get_object_retention(Bucket=locked, Key="h", VersionId=version)
    assert fails(e) == (404, "NoSuchObjectLockConfiguration")
    s3.put_object_legal_hold(Bucket=locked, Key="h", VersionId=version, LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=locked, Key="h", VersionId=version)["LegalHold"] == {"Status": "OFF"}
    s3.delete_object(Bucket=locked, Key="h", VersionId=version)


def test_delete_objects_refuses_locked_versions_per_key(s3, locked):
    held = put(s3, locked, "held", ObjectLockLegalHoldStatus="ON")
    free = put(s3, locked, "free")
    result = s3.delete_objects(Bucket=locked, Delete={"Objects": [
        {"Key": "held", "VersionId": held}, {"Key": "free", "VersionId": free}]})
    assert [d["Key"] for d in result.get("Deleted", [])] == ["free"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("held", "AccessDenied")]
    assert s3.head_object(Bucket=locked, Key="held", VersionId=held)["ObjectLockLegalHoldStatus"] == "ON"


def test_lock_requests_on_a_bucket_without_lock(s3, plain):
    s3.put_object(Bucket=plain, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=plain, Key="k2", Body=b"x", ObjectLockLegalHoldStatus="ON")
    assert fails(e) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=plain, Key="k",
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(1)})
    assert fails(e) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.put_object_legal_hold(Bucket=plain, Key="k", LegalHold={"Status": "ON"})
    assert fails(e) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.get_object_legal_hold(Bucket=plain, Key="k")
    assert fails(e) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=plain, Key="k2")
    assert fails(e)[0] == 404, "the refused PUT stored nothing"


def test_bad_lock_headers_and_bodies(s3, locked):
    with pytest.raises(ClientError) as e:
        put(s3, locked, "past", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=later(-1))
    assert fails(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        put(s3, locked, "half", ObjectLockMode="GOVERNANCE")
    assert fails(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        put(s3, locked, "mode", ObjectLockMode="FOREVER", ObjectLockRetainUntilDate=later(1))
    assert fails(e) == (400, "InvalidArgument")
    for key in ["past", "half", "mode"]:
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket=locked, Key=key)
        assert fails(e)[0] == 404
    put(s3, locked, "k")
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=locked, Key="k", Retention={"Mode": "GOVERNANCE"})
    assert fails(e) == (400, "MalformedXML")
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=locked, Key="k",
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(-1)})
    assert fails(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.put_object_legal_hold(Bucket=locked, Key="k", LegalHold={"Status": "MAYBE"})
    assert fails(e) == (400, "MalformedXML")
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=locked, Key="missing",
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(1)})
    assert fails(e) == (404, "NoSuchKey")


def test_multipart_and_copy_carry_their_own_lock(s3, locked):
    until = later(1)
    upload = s3.create_multipart_upload(Bucket=locked, Key="mp", ObjectLockMode="GOVERNANCE",
                                        ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="ON")
    part = s3.upload_part(Bucket=locked, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 100)
    done = s3.complete_multipart_upload(Bucket=locked, Key="mp", UploadId=upload["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    head = s3.head_object(Bucket=locked, Key="mp", VersionId=done["VersionId"])
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    assert abs((head["ObjectLockRetainUntilDate"] - until).total_seconds()) < 1

    copied = s3.copy_object(Bucket=locked, Key="copy", CopySource={"Bucket": locked, "Key": "mp"},
                            ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=later(2))
    copy_head = s3.head_object(Bucket=locked, Key="copy", VersionId=copied["VersionId"])
    assert copy_head["ObjectLockMode"] == "COMPLIANCE"
    assert "ObjectLockLegalHoldStatus" not in copy_head, "the source's hold is not copied"
    plain_copy = s3.copy_object(Bucket=locked, Key="copy2", CopySource={"Bucket": locked, "Key": "mp"})
    assert "ObjectLockMode" not in s3.head_object(Bucket=locked, Key="copy2", VersionId=plain_copy["VersionId"])


def test_awscli_reads_and_writes_retention(aws, s3, locked):
    version = put(s3, locked, "cli")
    until = later(1).strftime("%Y-%m-%dT%H:%M:%SZ")
    aws("s3api", "put-object-retention", "--bucket", locked, "--key", "cli", "--version-id", version,
        "--retention", f"Mode=GOVERNANCE,RetainUntilDate={until}")
    out = aws("s3api", "get-object-retention", "--bucket", locked, "--key", "cli", "--version-id", version)
    assert '"GOVERNANCE"' in out.stdout
    refused = aws("s3api", "delete-object", "--bucket", locked, "--key", "cli", "--version-id", version, check=False)
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr
    aws("s3api", "delete-object", "--bucket", locked, "--key", "cli", "--version-id", version,
        "--bypass-governance-retention")
