"""boto3 against a real rucket server: bucket policies that let a second user in (or keep
it out), in the forms other S3 servers' suites and real deployments write them."""

import json
import uuid

import pytest
import requests
from botocore.exceptions import ClientError


def fails(excinfo):
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def refused(call):
    with pytest.raises(ClientError) as e:
        call()
    return fails(e)


@pytest.fixture()
def bucket(s3):
    name = "polu-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=name)
    return name


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource, principal=None, effect="Allow", **extra):
    s = {"Effect": effect, "Principal": principal or {"AWS": "*"}, "Action": action, "Resource": resource}
    s.update(extra)
    return s


def arn(path):
    return f"arn:aws:s3:::{path}"


def test_wildcard_resources_and_a_policy_read_back_fit_any_bucket(s3, alt, bucket):
    other = "polu-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    s3.put_object(Bucket=other, Key="b", Body=b"b")
    assert refused(lambda: alt.list_objects(Bucket=bucket)) == (403, "AccessDenied")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow("s3:ListBucket", [arn("*"), arn("*/*")])))
    # The text read back is accepted on another bucket as it stands.
    s3.put_bucket_policy(Bucket=other, Policy=s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert [o["Key"] for o in alt.list_objects(Bucket=bucket)["Contents"]] == ["a"]
    assert [o["Key"] for o in alt.list_objects_v2(Bucket=other)["Contents"]] == ["b"]
    # A pattern that cannot match the bucket is still another bucket's resource.
    assert refused(lambda: s3.put_bucket_policy(
        Bucket=bucket, Policy=policy(allow("s3:ListBucket", arn("zzz-*"))))) == (400, "MalformedPolicy")


def test_a_deny_beats_an_acl_grant(s3, alt, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    s3.put_bucket_acl(Bucket=bucket, ACL="authenticated-read")
    assert len(alt.list_objects(Bucket=bucket)["Contents"]) == 1
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("s3:ListBucket", [arn(bucket), arn(bucket + "/*")], effect="Deny")))
    assert refused(lambda: alt.list_objects_v2(Bucket=bucket)) == (403, "AccessDenied")
    s3.delete_bucket_policy(Bucket=bucket)
    assert len(alt.list_objects(Bucket=bucket)["Contents"]) == 1


def test_principals_name_users_by_arn_or_id_and_other_kinds_are_kept_apart(s3, server, alt_user, bucket):
    user, alt = alt_user
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    for principal in [{"AWS": f"arn:aws:iam::123456789012:user/{user}"}, {"AWS": [user]},
                      {"CanonicalUser": user}, {"AWS": f"arn:aws:iam::{user}:root"}]:
        s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow("s3:GetObject", arn(bucket + "/*"), principal)))
        assert alt.get_object(Bucket=bucket, Key="a")["Body"].read() == b"a", principal
        assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    # An account that does not exist here is accepted and lets nobody in.
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("s3:GetObject", arn(bucket + "/*"), {"AWS": "arn:aws:iam::s3tenant1:root"})))
    assert refused(lambda: alt.get_object(Bucket=bucket, Key="a")) == (403, "AccessDenied")
    # Service principals (log delivery) are accepted; they are no user's.
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("s3:PutObject", arn(bucket + "/logs/*"), {"Service": "logging.s3.amazonaws.com"})))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    # NotPrincipal: with Deny it shuts out everyone else (anonymous readers the Allow
    # let in, here); with Allow it is refused.
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("s3:GetObject", arn(bucket + "/*"))))
    assert requests.get(f"{server['endpoint']}/{bucket}/a", timeout=10).status_code == 200
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("s3:GetObject", arn(bucket + "/*")),
        {"Effect": "Deny", "NotPrincipal": {"AWS": [user, "root"]}, "Action": "s3:GetObject",
         "Resource": arn(bucket + "/*")}))
    assert alt.get_object(Bucket=bucket, Key="a")["Body"].read() == b"a"
    assert requests.get(f"{server['endpoint']}/{bucket}/a", timeout=10).status_code == 403
    assert refused(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::s3tenant1:root"}, "Action": "s3:ListBucket",
         "Resource": arn(bucket)})))[0] == 400


def test_tagging_operations_follow_the_policy_and_existing_tags_are_read_before_the_change(s3, alt, bucket):
    s3.put_object(Bucket=bucket, Key="doc", Body=b"d")
    tags = {"TagSet": [{"Key": str(i), "Value": str(i)} for i in range(3)]}
    for action in ["s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging"]:
        assert refused(lambda: alt.get_object_tagging(Bucket=bucket, Key="doc"))[0] == 403
        s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow(action, arn(bucket + "/doc"))))
        if action == "s3:GetObjectTagging":
            s3.put_object_tagging(Bucket=bucket, Key="doc", Tagging=tags)
            assert alt.get_object_tagging(Bucket=bucket, Key="doc")["TagSet"] == tags["TagSet"]
        elif action == "s3:PutObjectTagging":
            alt.put_object_tagging(Bucket=bucket, Key="doc", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
            assert s3.get_object_tagging(Bucket=bucket, Key="doc")["TagSet"] == [{"Key": "k", "Value": "v"}]
        else:
            alt.delete_object_tagging(Bucket=bucket, Key="doc")
            assert s3.get_object_tagging(Bucket=bucket, Key="doc")["TagSet"] == []
        s3.delete_bucket_policy(Bucket=bucket)

    public = {"TagSet": [{"Key": "security", "Value": "public"}]}
    private = {"TagSet": [{"Key": "security", "Value": "private"}]}
    s3.put_object_tagging(Bucket=bucket, Key="doc", Tagging=public)
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow("s3:PutObjectTagging", arn(bucket + "/*"), Condition={
        "StringEquals": {"s3:ExistingObjectTag/security": "public"}})))
    alt.put_object_tagging(Bucket=bucket, Key="doc", Tagging=private)
    assert refused(lambda: alt.put_object_tagging(Bucket=bucket, Key="doc", Tagging=public))[0] == 403


def test_copies_are_judged_by_the_source_policy_and_the_copy_source_condition(s3, alt, bucket):
    source = "polu-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=source)
    for key in ["public/foo", "private/foo"]:
        s3.put_object(Bucket=source, Key=key, Body=key.encode())
    s3.put_bucket_policy(Bucket=source, Policy=policy(allow("s3:GetObject", arn(source + "/*"))))
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow("s3:PutObject", arn(bucket + "/*"), Condition={
        "StringLike": {"s3:x-amz-copy-source": source + "/public/*"}})))
    alt.copy_object(Bucket=bucket, Key="new", CopySource={"Bucket": source, "Key": "public/foo"})
    # The writer owns the copy and reads it without any grant.
    assert alt.get_object(Bucket=bucket, Key="new")["Body"].read() == b"public/foo"
    assert refused(lambda: alt.copy_object(Bucket=bucket, Key="new2",
                                           CopySource={"Bucket": source, "Key": "private/foo"}))[0] == 403

    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow("s3:PutObject", arn(bucket + "/*"), Condition={
        "StringEquals": {"s3:x-amz-metadata-directive": "COPY"}})))
    alt.copy_object(Bucket=bucket, Key="meta", CopySource={"Bucket": source, "Key": "public/foo"},
                    MetadataDirective="COPY")
    # A directive left out is not taken for COPY.
    assert refused(lambda: alt.copy_object(Bucket=bucket, Key="meta2",
                                           CopySource={"Bucket": source, "Key": "public/foo"}))[0] == 403


def test_part_copies_read_their_source_through_its_policy(s3, alt, bucket):
    s3.put_object(Bucket=bucket, Key="public/foo", Body=b"public/foo")
    s3.put_object(Bucket=bucket, Key="private/foo", Body=b"private/foo")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow("s3:GetObject", arn(bucket + "/public/*"))))
    target = "polu-" + uuid.uuid4().hex[:16]
    alt.create_bucket(Bucket=target)
    upload = alt.create_multipart_upload(Bucket=target, Key="new")["UploadId"]
    part = alt.upload_part_copy(Bucket=target, Key="new", UploadId=upload, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "public/foo"})
    alt.complete_multipart_upload(Bucket=target, Key="new", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]})
    assert alt.get_object(Bucket=target, Key="new")["Body"].read() == b"public/foo"
    upload = alt.create_multipart_upload(Bucket=target, Key="new2")["UploadId"]
    assert refused(lambda: alt.upload_part_copy(Bucket=target, Key="new2", UploadId=upload, PartNumber=1,
                                                CopySource={"Bucket": bucket, "Key": "private/foo"}))[0] == 403
    alt.abort_multipart_upload(Bucket=target, Key="new2", UploadId=upload)


def test_conditions_on_acl_and_grant_headers(s3, alt, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("s3:PutObject", arn(bucket + "/*")),
        allow("s3:PutObject", arn(bucket + "/*"), effect="Deny",
              Condition={"StringLike": {"s3:x-amz-acl": "public*"}})))
    alt.put_object(Bucket=bucket, Key="private-key", Body=b"p")
    assert refused(lambda: alt.put_object(Bucket=bucket, Key="public-key", Body=b"p", ACL="public-read"))[0] == 403

    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow("s3:PutObject", arn(bucket + "/*"), Condition={
        "StringEquals": {"s3:x-amz-grant-full-control": "id=root"}})))
    assert refused(lambda: alt.put_object(Bucket=bucket, Key="k1", Body=b"x"))[0] == 403
    alt.put_object(Bucket=bucket, Key="k1", Body=b"x", GrantFullControl="id=root")
    grants = s3.get_object_acl(Bucket=bucket, Key="k1")["Grants"]
    assert [(g["Grantee"]["ID"], g["Permission"]) for g in grants] == [("root", "FULL_CONTROL")]


def test_encryption_conditions_are_decided_before_the_headers_are_checked(s3, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("s3:PutObject", arn(bucket + "/*"), effect="Deny",
              Condition={"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}),
        allow("s3:PutObject", arn(bucket + "/*"), effect="Deny",
              Condition={"Null": {"s3:x-amz-server-side-encryption": "true"}})))
    assert refused(lambda: s3.put_object(Bucket=bucket, Key="plain", Body=b"x")) == (403, "AccessDenied")
    assert refused(lambda: s3.put_object(Bucket=bucket, Key="kms", Body=b"x", ServerSideEncryption="aws:kms",
                                         SSEKMSKeyId="some-key")) == (403, "AccessDenied")
    put = s3.put_object(Bucket=bucket, Key="sealed", Body=b"x", ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"

    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow("s3:PutObject", arn(bucket + "/*"), effect="Deny",
        Condition={"StringNotEquals": {"s3:x-amz-server-side-encryption-customer-algorithm": "AES256"}})))
    assert refused(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"x"))[0] == 403
    key = b"k" * 32
    s3.put_object(Bucket=bucket, Key="c", Body=b"x", SSECustomerAlgorithm="AES256", SSECustomerKey=key)


def test_if_exists_operators_and_the_referer(s3, alt, bucket):
    s3.put_object(Bucket=bucket, Key="page", Body=b"p")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow("s3:GetObject", arn(bucket + "/*"), principal="*",
        Condition={"StringLikeIfExists": {"aws:Referer": "http://www.example.com/*"}})))
    def get(referer):
        if referer is None:
            return alt.get_object(Bucket=bucket, Key="page")["Body"].read()
        handler = lambda params, **_: params["headers"].update({"Referer": referer})
        alt.meta.events.register("before-call.s3.GetObject", handler)
        try:
            return alt.get_object(Bucket=bucket, Key="page")["Body"].read()
        finally:
            alt.meta.events.unregister("before-call.s3.GetObject", handler)
    assert get("http://www.example.com/index.html") == b"p"
    assert get(None) == b"p", "no Referer: the IfExists condition holds"
    with pytest.raises(ClientError) as e:
        get("http://example.com/")
    assert fails(e)[0] == 403


def test_a_missing_key_is_404_to_whoever_may_list(s3, alt, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("s3:GetObject", arn(bucket + "/*")), allow("s3:ListBucket", arn(bucket))))
    assert refused(lambda: alt.head_object(Bucket=bucket, Key="missing"))[0] == 404
    assert refused(lambda: alt.get_object(Bucket=bucket, Key="missing")) == (404, "NoSuchKey")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow("s3:GetObject", arn(bucket + "/*"))))
    assert refused(lambda: alt.get_object(Bucket=bucket, Key="missing")) == (403, "AccessDenied")


def test_what_makes_a_policy_public(s3, bucket):
    def status():
        return s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"]
    assert status() is False
    listing = [arn(bucket), arn(bucket + "/*")]
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow("s3:ListBucket", listing)))
    assert status() is True
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("s3:ListBucket", listing, Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/32"}})))
    assert status() is False
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("s3:ListBucket", listing, Condition={"StringLike": {"aws:Referer": "http://x/*"}})))
    assert status() is True, "a Referer is sent by the client: anyone can send it"
    s3.delete_bucket_policy(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="authenticated-read")
    assert status() is True


def test_a_public_policy_block_still_takes_denies_and_named_principals(s3, bucket):
    s3.delete_public_access_block(Bucket=bucket)
    assert refused(lambda: s3.get_public_access_block(Bucket=bucket))[1] == "NoSuchPublicAccessBlockConfiguration"
    flags = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
             "RestrictPublicBuckets": False}
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=flags)
    assert refused(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("s3:GetObject", arn(bucket + "/*"))))) == (403, "AccessDenied")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("s3:GetObject", arn(bucket + "/*"), {"AWS": "arn:aws:iam::s3tenant1:root"})))
    # A Deny beside a public Allow does not make the Allow any less public; beside an
    # Allow to a named principal it is taken.
    deny_deletes = allow("s3:DeleteObject", arn(bucket + "/*"), effect="Deny")
    assert refused(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        deny_deletes, allow("s3:GetObject", arn(bucket + "/*"))))) == (403, "AccessDenied")
    assert "s3tenant1" in s3.get_bucket_policy(Bucket=bucket)["Policy"], "the refused policy replaced nothing"
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        deny_deletes, allow("s3:GetObject", arn(bucket + "/*"), {"AWS": "arn:aws:iam::s3tenant1:root"})))
    # A Deny is never public, and it binds the owner too.
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("s3:GetBucketPublicAccessBlock", arn(bucket), effect="Deny")))
    assert refused(lambda: s3.get_public_access_block(Bucket=bucket)) == (403, "AccessDenied")


def test_a_policy_of_everything_for_everyone_keeps_multipart_working(s3, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": [arn(bucket), arn(bucket + "/*")]}))
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    parts = []
    for n in (1, 2):
        part = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=n, Body=b"x" * (5 << 20))
        parts.append({"PartNumber": n, "ETag": part["ETag"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts})
    assert done["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == 10 << 20


def test_request_tags_in_conditions(s3, alt, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow("s3:PutObject", arn(bucket + "/*"), Condition={
        "StringEquals": {"s3:RequestObjectTag/security": "public"}})))
    assert refused(lambda: alt.put_object(Bucket=bucket, Key="t", Body=b"t"))[0] == 403
    alt.put_object(Bucket=bucket, Key="t", Body=b"t", Tagging="security=public")


def test_listing_a_prefix_does_not_reveal_keys_elsewhere(s3, alt_user, bucket):
    user, alt = alt_user
    s3.put_object(Bucket=bucket, Key="home/other/secret", Body=b"s")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("s3:GetObject", arn(bucket + f"/home/{user}/*"), {"AWS": user}),
        allow("s3:ListBucket", arn(bucket), {"AWS": user},
              Condition={"StringLike": {"s3:prefix": f"home/{user}/*"}})))
    assert refused(lambda: alt.head_object(Bucket=bucket, Key=f"home/{user}/missing"))[0] == 404

    def with_prefix(params, **_):
        params["url"] += ("&" if "?" in params["url"] else "?") + f"prefix=home/{user}/"
    alt.meta.events.register("before-call.s3.HeadObject", with_prefix)
    try:
        # Existing or not, a key outside the home is 403: the query's prefix is not the key's.
        assert refused(lambda: alt.head_object(Bucket=bucket, Key="home/other/secret"))[0] == 403
        assert refused(lambda: alt.head_object(Bucket=bucket, Key="home/other/missing"))[0] == 403
    finally:
        alt.meta.events.unregister("before-call.s3.HeadObject", with_prefix)
