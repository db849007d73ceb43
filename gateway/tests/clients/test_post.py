"""Browser uploads: POST object with a signed policy, as boto3's presigned posts make them."""

import boto3
import requests
from botocore.config import Config

from conftest import ROOT_KEY, ROOT_SECRET


def client(server, version):
    return boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id=ROOT_KEY,
                        aws_secret_access_key=ROOT_SECRET, region_name="us-east-1",
                        config=Config(signature_version=version, retries={"max_attempts": 1}))


def test_post_object_with_policy_conditions(server, s3):
    s3.create_bucket(Bucket="post-uploads")
    for version in ["s3", "s3v4"]:
        signer = client(server, version)
        post = signer.generate_presigned_post(
            "post-uploads", f"forms/{version}.txt",
            Fields={"success_action_status": "201", "Content-Type": "text/plain"},
            Conditions=[["content-length-range", 1, 100], {"success_action_status": "201"},
                        {"Content-Type": "text/plain"}])
        r = requests.post(post["url"], data=post["fields"], files={"file": ("a.txt", b"hello post")})
        assert r.status_code == 201, r.text
        assert "<Key>forms/" in r.text
        got = s3.get_object(Bucket="post-uploads", Key=f"forms/{version}.txt")
        assert got["Body"].read() == b"hello post"
        assert got["ContentType"] == "text/plain"

        # Too large for the policy's content-length-range.
        r = requests.post(post["url"], data=post["fields"], files={"file": ("b.txt", b"x" * 200)})
        assert r.status_code == 400 and "EntityTooLarge" in r.text, r.text

    signer = client(server, "s3v4")
    # A key outside the policy's starts-with condition.
    post = signer.generate_presigned_post("post-uploads", "uploads/ok.txt",
                                          Conditions=[["starts-with", "$key", "uploads/"]])
    fields = dict(post["fields"], key="elsewhere/x.txt")
    r = requests.post(post["url"], data=fields, files={"file": ("x.txt", b"x")})
    assert r.status_code == 403, r.text
    # A tampered signature.
    fields = dict(post["fields"])
    fields["x-amz-signature"] = "0" * 64
    r = requests.post(post["url"], data=fields, files={"file": ("x.txt", b"x")})
    assert r.status_code == 403, r.text
    # An expired policy.
    post = signer.generate_presigned_post("post-uploads", "late.txt", ExpiresIn=-60)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("x.txt", b"x")})
    assert r.status_code == 403, r.text
    # Nothing refused was stored.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="post-uploads").get("Contents", [])]
    assert keys == ["forms/s3.txt", "forms/s3v4.txt"]

    # success_action_redirect answers 303 with the object's coordinates.
    post = signer.generate_presigned_post(
        "post-uploads", "redirected.txt", Fields={"success_action_redirect": "http://example.com/done"},
        Conditions=[{"success_action_redirect": "http://example.com/done"}])
    r = requests.post(post["url"], data=post["fields"], files={"file": ("r.txt", b"r")}, allow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("http://example.com/done?bucket=post-uploads&key=redirected.txt")


def test_post_signed_for_another_region_is_refused(server, s3):
    s3.create_bucket(Bucket="post-region")
    eu = boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id=ROOT_KEY,
                      aws_secret_access_key=ROOT_SECRET, region_name="eu-west-1",
                      config=Config(signature_version="s3v4", retries={"max_attempts": 1}))
    post = eu.generate_presigned_post("post-region", "x.txt")
    r = requests.post(post["url"], data=post["fields"], files={"file": ("x.txt", b"hello")})
    assert r.status_code == 400, r.text
    assert "AuthorizationQueryParametersError" in r.text and "expecting &apos;us-east-1&apos;" in r.text, r.text
    assert s3.list_objects_v2(Bucket="post-region")["KeyCount"] == 0
    s3.delete_bucket(Bucket="post-region")


def test_post_tagging_field_tags_the_object(server, s3):
    """S3's form field `tagging` is a Tagging document; the object carries its tags, signed
    or (into a bucket anyone may write) anonymous, and a malformed one is refused."""
    s3.create_bucket(Bucket="post-tags")
    tagging = ("<Tagging><TagSet><Tag><Key>0</Key><Value>zero</Value></Tag>"
               "<Tag><Key>1</Key><Value>one</Value></Tag></TagSet></Tagging>")
    signer = client(server, "s3v4")
    post = signer.generate_presigned_post("post-tags", "signed.txt", Fields={"tagging": tagging},
                                          Conditions=[{"tagging": tagging}])
    r = requests.post(post["url"], data=post["fields"], files={"file": ("a.txt", b"signed")})
    assert r.status_code == 204, r.text
    tags = s3.get_object_tagging(Bucket="post-tags", Key="signed.txt")["TagSet"]
    assert tags == [{"Key": "0", "Value": "zero"}, {"Key": "1", "Value": "one"}]

    s3.put_bucket_acl(Bucket="post-tags", ACL="public-read-write")
    url = f"{server['endpoint']}/post-tags"
    r = requests.post(url, files=[("key", (None, "anonymous.txt")), ("tagging", (None, tagging)),
                                  ("file", ("b.txt", b"anonymous"))])
    assert r.status_code == 204, r.text
    assert s3.get_object_tagging(Bucket="post-tags", Key="anonymous.txt")["TagSet"] == tags

    r = requests.post(url, files=[("key", (None, "bad.txt")), ("tagging", (None, "0=zero")),
                                  ("file", ("c.txt", b"bad"))])
    assert r.status_code == 400 and "MalformedXML" in r.text, r.text
    r = requests.post(url, files=[("key", (None, "twice.txt")), ("tagging", (None, tagging)),
                                  ("x-amz-tagging", (None, "a=b")), ("file", ("d.txt", b"twice"))])
    assert r.status_code == 400 and "InvalidArgument" in r.text, r.text


def test_post_answers_the_lifecycle_expiration(server, s3):
    """A browser upload's answer carries x-amz-expiration as a PUT's does."""
    s3.create_bucket(Bucket="post-expiring")
    s3.put_bucket_lifecycle_configuration(Bucket="post-expiring", LifecycleConfiguration={"Rules": [
        {"ID": "short-lived", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 3}}]})
    signer = client(server, "s3v4")
    post = signer.generate_presigned_post("post-expiring", "tmp/form.txt")
    r = requests.post(post["url"], data=post["fields"], files={"file": ("a.txt", b"form")})
    assert r.status_code == 204, r.text
    assert r.headers["x-amz-expiration"] == s3.head_object(Bucket="post-expiring", Key="tmp/form.txt")["Expiration"]
    assert 'rule-id="short-lived"' in r.headers["x-amz-expiration"]
    post = signer.generate_presigned_post("post-expiring", "kept.txt")
    r = requests.post(post["url"], data=post["fields"], files={"file": ("b.txt", b"form")})
    assert r.status_code == 204 and "x-amz-expiration" not in r.headers
