"""boto3 against a real rucket server: bucket policies (validation, Deny over Allow over
the implicit deny, anonymous principals, conditions) and their public access block."""

import json
import uuid

import pytest
import requests
from botocore.exceptions import ClientError


def fails(excinfo):
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


@pytest.fixture()
def bucket(s3):
    name = "pol-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=name)
    return name


def statement(bucket, effect="Allow", action="s3:GetObject", resource="/*", principal="*", **extra):
    s = {"Effect": effect, "Principal": principal, "Action": action,
         "Resource": f"arn:aws:s3:::{bucket}{resource}"}
    s.update(extra)
    return s


def set_policy(s3, bucket, *statements):
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


def anonymous_get(server, bucket, key):
    return requests.get(f"{server['endpoint']}/{bucket}/{key}", timeout=10)


def test_policies_round_trip_and_are_validated(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert fails(e) == (404, "NoSuchBucketPolicy")
    bad = [
        "{not json",
        json.dumps({"Statement": []}),
        json.dumps({"Statement": [statement(bucket, effect="Perhaps")]}),
        json.dumps({"Statement": [statement("some-other-bucket")]}),
        json.dumps({"Statement": [statement(bucket, action="ec2:RunInstances")]}),
        json.dumps({"Statement": [statement(bucket, Condition={"StringSoundsLike": {"s3:prefix": "a"}})]}),
        json.dumps({"Statement": [statement(bucket, Condition={"IpAddress": {"aws:SourceIp": "999.0.0.1"}})]}),
        json.dumps({"Statement": [{k: v for k, v in statement(bucket).items() if k != "Principal"}]}),
    ]
    for text in bad:
        with pytest.raises(ClientError) as e:
            s3.put_bucket_policy(Bucket=bucket, Policy=text)
        assert fails(e) == (400, "MalformedPolicy"), text
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert fails(e)[1] == "NoSuchBucketPolicy", "refused policies changed nothing"

    set_policy(s3, bucket, statement(bucket))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Effect"] == "Allow"
    s3.delete_bucket_policy(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert fails(e)[0] == 404


def test_a_public_read_policy_lets_anonymous_readers_in(s3, server, bucket):
    s3.put_object(Bucket=bucket, Key="site/index.html", Body=b"<h1>hi</h1>")
    assert anonymous_get(server, bucket, "site/index.html").status_code == 403
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    set_policy(s3, bucket, statement(bucket, resource="/site/*"))
    r = anonymous_get(server, bucket, "site/index.html")
    assert r.status_code == 200 and r.content == b"<h1>hi</h1>"
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    # Only what the policy names: other keys, writes and listings stay closed.
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"no")
    assert anonymous_get(server, bucket, "private.txt").status_code == 403
    assert requests.put(f"{server['endpoint']}/{bucket}/site/evil.html", data=b"x", timeout=10).status_code == 403
    assert requests.get(f"{server['endpoint']}/{bucket}?list-type=2", timeout=10).status_code == 403


def test_explicit_deny_beats_ownership_but_not_policy_management(s3, bucket):
    s3.put_object(Bucket=bucket, Key="vault/gold", Body=b"au")
    set_policy(s3, bucket, statement(bucket, effect="Deny", action=["s3:GetObject", "s3:PutObject"],
                                     resource="/vault/*"))
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="vault/gold")
    assert fails(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="vault/silver", Body=b"ag")
    assert fails(e) == (403, "AccessDenied")
    s3.put_object(Bucket=bucket, Key="open/copper", Body=b"cu")
    # The owner can still read and remove the policy that locks them out.
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="vault/gold")["Body"].read() == b"au"


def test_conditions_on_source_ip_transport_and_prefix(s3, server, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    set_policy(s3, bucket, statement(bucket, Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    assert anonymous_get(server, bucket, "k").status_code == 403
    set_policy(s3, bucket, statement(bucket, Condition={"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "127.0.0.1/32"]}}))
    assert anonymous_get(server, bucket, "k").status_code == 200
    set_policy(s3, bucket,
               statement(bucket, action="s3:ListBucket", resource="",
                         Condition={"StringLike": {"s3:prefix": "public/*"}}))
    listing = f"{server['endpoint']}/{bucket}?list-type=2"
    assert requests.get(listing + "&prefix=public/a", timeout=10).status_code == 200
    assert requests.get(listing + "&prefix=private/", timeout=10).status_code == 403
    # Plain HTTP is not secure transport: a Deny on it shuts everyone out.
    set_policy(s3, bucket, statement(bucket, effect="Deny", action="s3:*", resource="/*",
                                     Condition={"Bool": {"aws:SecureTransport": "false"}}))
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert fails(e) == (403, "AccessDenied")


def test_delete_objects_is_decided_per_key(s3, bucket):
    for key in ["keep/a", "tmp/b"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    set_policy(s3, bucket, statement(bucket, effect="Deny", action="s3:DeleteObject", resource="/keep/*"))
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "keep/a"}, {"Key": "tmp/b"}]})
    assert [d["Key"] for d in result.get("Deleted", [])] == ["tmp/b"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("keep/a", "AccessDenied")]
    assert s3.head_object(Bucket=bucket, Key="keep/a")["ContentLength"] == 1


def test_public_access_block_refuses_and_restricts_public_policies(s3, server, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    flags = {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
             "RestrictPublicBuckets": False}
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=flags)
    with pytest.raises(ClientError) as e:
        set_policy(s3, bucket, statement(bucket))
    assert fails(e) == (403, "AccessDenied")
    flags.update(BlockPublicPolicy=False)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=flags)
    set_policy(s3, bucket, statement(bucket))
    assert anonymous_get(server, bucket, "k").status_code == 200
    flags.update(RestrictPublicBuckets=True)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=flags)
    assert anonymous_get(server, bucket, "k").status_code == 403


def test_browser_posts_are_judged_on_their_key(s3, server, bucket):
    import boto3
    from botocore.config import Config

    from conftest import ROOT_KEY, ROOT_SECRET

    set_policy(s3, bucket, statement(bucket, effect="Deny", action="s3:PutObject", resource="/private/*"))
    signer = boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id=ROOT_KEY,
                          aws_secret_access_key=ROOT_SECRET, region_name="us-east-1",
                          config=Config(signature_version="s3v4"))
    for key, status in [("private/x.txt", 403), ("public/x.txt", 204)]:
        post = signer.generate_presigned_post(bucket, key)
        r = requests.post(post["url"], data=post["fields"], files={"file": ("x.txt", b"posted")})
        assert r.status_code == status, (key, r.text)
    assert s3.get_object(Bucket=bucket, Key="public/x.txt")["Body"].read() == b"posted"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="private/x.txt")
    assert fails(e)[0] == 404, "the denied POST stored nothing"


def test_existing_object_tags_in_conditions(s3, server, bucket):
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"yes", Tagging="visibility=public")
    s3.put_object(Bucket=bucket, Key="hidden.txt", Body=b"no", Tagging="visibility=private")
    set_policy(s3, bucket, statement(bucket, Condition={
        "StringEquals": {"s3:ExistingObjectTag/visibility": "public"}}))
    assert anonymous_get(server, bucket, "shared.txt").status_code == 200
    assert anonymous_get(server, bucket, "hidden.txt").status_code == 403
    # Retagging changes the answer on the next request.
    s3.put_object_tagging(Bucket=bucket, Key="hidden.txt",
                          Tagging={"TagSet": [{"Key": "visibility", "Value": "public"}]})
    assert anonymous_get(server, bucket, "hidden.txt").status_code == 200
