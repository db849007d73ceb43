"""boto3 against a real rucket server: ACLs as S3 lists them. A canned ACL follows the
owner's FULL_CONTROL; grant headers and an AccessControlPolicy body are the whole ACL,
listed as given (group grants first); grants name users that exist."""

import os
import uuid

import pytest
from botocore.exceptions import ClientError

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


def fails(call):
    with pytest.raises(ClientError) as e:
        call()
    response = e.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def listed(acl):
    """(who, permission) of each grant, in the order listed: a user's id or a group's URI."""
    out = []
    for g in acl["Grants"]:
        grantee = g["Grantee"]
        if grantee["Type"] == "CanonicalUser":
            assert grantee["DisplayName"] and "EmailAddress" not in grantee and "URI" not in grantee
            out.append((grantee["ID"], g["Permission"]))
        else:
            assert grantee["Type"] == "Group" and "ID" not in grantee and "DisplayName" not in grantee
            out.append((grantee["URI"], g["Permission"]))
    return out


def new_bucket(client, **kw):
    name = "acl-" + uuid.uuid4().hex[:16]
    client.create_bucket(Bucket=name, **kw)
    return name


def test_canned_acls_list_groups_first_then_the_owner(s3):
    assert listed(s3.get_bucket_acl(Bucket=new_bucket(s3))) == [("root", "FULL_CONTROL")]
    bucket = new_bucket(s3, ACL="public-read-write")
    assert listed(s3.get_bucket_acl(Bucket=bucket)) == [
        (ALL_USERS, "READ"), (ALL_USERS, "WRITE"), ("root", "FULL_CONTROL")]
    s3.put_bucket_acl(Bucket=bucket, ACL="authenticated-read")
    assert listed(s3.get_bucket_acl(Bucket=bucket)) == [(AUTHENTICATED, "READ"), ("root", "FULL_CONTROL")]
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert listed(s3.get_bucket_acl(Bucket=bucket)) == [("root", "FULL_CONTROL")]
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", ACL="public-read")
    assert listed(s3.get_object_acl(Bucket=bucket, Key="k")) == [(ALL_USERS, "READ"), ("root", "FULL_CONTROL")]


def test_a_policy_body_is_the_whole_acl(s3, alt_user):
    user, alt = alt_user
    bucket = new_bucket(s3)
    current = s3.get_bucket_acl(Bucket=bucket)
    # A body read back and added to keeps one owner grant, not two.
    grants = current["Grants"] + [{"Grantee": {"ID": user, "Type": "CanonicalUser"}, "Permission": "READ"},
                                  {"Grantee": {"URI": ALL_USERS, "Type": "Group"}, "Permission": "READ"}]
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": current["Owner"], "Grants": grants})
    assert listed(s3.get_bucket_acl(Bucket=bucket)) == [
        (ALL_USERS, "READ"), ("root", "FULL_CONTROL"), (user, "READ")]
    alt.head_bucket(Bucket=bucket)
    assert fails(lambda: alt.get_bucket_acl(Bucket=bucket))[0] == 403
    # Revoking everything lists nothing; the owner still reads and writes its ACL.
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": current["Owner"], "Grants": []})
    assert s3.get_bucket_acl(Bucket=bucket)["Grants"] == []
    s3.put_object(Bucket=bucket, Key="still-mine", Body=b"x")
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": current["Owner"], "Grants": current["Grants"]})
    assert listed(s3.get_bucket_acl(Bucket=bucket)) == [("root", "FULL_CONTROL")]

    # An object's owner may trade its FULL_CONTROL grant for less and still manage it.
    s3.put_object(Bucket=bucket, Key="doc", Body=b"d")
    acl = s3.get_object_acl(Bucket=bucket, Key="doc")
    acl["Grants"][0]["Permission"] = "WRITE_ACP"
    s3.put_object_acl(Bucket=bucket, Key="doc", AccessControlPolicy={"Owner": acl["Owner"], "Grants": acl["Grants"]})
    assert listed(s3.get_object_acl(Bucket=bucket, Key="doc")) == [("root", "WRITE_ACP")]
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"d"


def test_grant_headers_are_the_whole_acl_in_s3s_order(s3, alt_user):
    user, alt = alt_user
    every = dict(GrantRead=f"id={user}", GrantWrite=f"id={user}", GrantReadACP=f"id={user}",
                 GrantWriteACP=f"id={user}", GrantFullControl=f"id={user}")
    bucket = new_bucket(s3, **every)
    order = ["READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL"]
    assert listed(s3.get_bucket_acl(Bucket=bucket)) == [(user, p) for p in order]
    alt.put_object(Bucket=bucket, Key="by-alt", Body=b"a")

    # PutObject takes x-amz-grant-write too, though S3's model of the call leaves it out.
    def add_grant_write(params, **_):
        params["headers"]["x-amz-grant-write"] = f"id={user}"
    s3.meta.events.register("before-call.s3.PutObject", add_grant_write)
    try:
        s3.put_object(Bucket=bucket, Key="granted", Body=b"g", GrantRead=f"id={user}", GrantReadACP=f"id={user}",
                      GrantWriteACP=f"id={user}", GrantFullControl=f"id={user}")
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", add_grant_write)
    assert listed(s3.get_object_acl(Bucket=bucket, Key="granted")) == [(user, p) for p in order]
    assert alt.get_object(Bucket=bucket, Key="granted")["Body"].read() == b"g"


def test_grants_name_users_that_exist(s3):
    bucket = new_bucket(s3)
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    nobody = [{"Grantee": {"ID": "_foo", "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}]
    assert fails(lambda: s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": owner, "Grants": nobody})) \
        == (400, "InvalidArgument")
    assert fails(lambda: s3.put_bucket_acl(Bucket=bucket, GrantRead="id=_foo")) == (400, "InvalidArgument")
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", GrantRead="id=_foo")) \
        == (400, "InvalidArgument")
    assert fails(lambda: s3.head_object(Bucket=bucket, Key="k"))[0] == 404, "the refused write stored nothing"
    assert fails(lambda: new_bucket(s3, GrantRead="id=_foo")) == (400, "InvalidArgument")
    by_mail = [{"Grantee": {"EmailAddress": "nobody@example.invalid", "Type": "AmazonCustomerByEmail"},
                "Permission": "READ"}]
    assert fails(lambda: s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": owner, "Grants": by_mail})) \
        == (400, "UnresolvableGrantByEmailAddress")
    assert listed(s3.get_bucket_acl(Bucket=bucket)) == [("root", "FULL_CONTROL")]


def test_bucket_owner_canned_acls_name_the_bucket_owner(s3, alt_user):
    user, alt = alt_user
    bucket = new_bucket(s3, ACL="public-read-write")
    alt.put_object(Bucket=bucket, Key="foo", Body=b"bar", ACL="bucket-owner-read")
    assert listed(alt.get_object_acl(Bucket=bucket, Key="foo")) == [(user, "FULL_CONTROL"), ("root", "READ")]
    alt.put_object(Bucket=bucket, Key="foo", Body=b"bar", ACL="bucket-owner-full-control")
    assert listed(alt.get_object_acl(Bucket=bucket, Key="foo")) == [
        (user, "FULL_CONTROL"), ("root", "FULL_CONTROL")]


def upload_in_parts(client, bucket, key, **create):
    upload = client.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    part = client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"m" * 1024)
    return client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})


def test_a_multipart_upload_carries_its_acl_to_the_object(s3, server, alt_user):
    import requests
    user, alt = alt_user
    bucket = new_bucket(s3)
    upload_in_parts(s3, bucket, "public", ACL="public-read")
    assert listed(s3.get_object_acl(Bucket=bucket, Key="public")) == [(ALL_USERS, "READ"), ("root", "FULL_CONTROL")]
    assert requests.get(f"{server['endpoint']}/{bucket}/public", timeout=10).content == b"m" * 1024
    upload_in_parts(s3, bucket, "granted", GrantRead=f"id={user}", GrantFullControl="id=root")
    assert listed(s3.get_object_acl(Bucket=bucket, Key="granted")) == [(user, "READ"), ("root", "FULL_CONTROL")]
    assert alt.get_object(Bucket=bucket, Key="granted")["Body"].read() == b"m" * 1024
    upload_in_parts(s3, bucket, "private")
    assert listed(s3.get_object_acl(Bucket=bucket, Key="private")) == [("root", "FULL_CONTROL")]
    assert requests.get(f"{server['endpoint']}/{bucket}/private", timeout=10).status_code == 403
    # Refused before the upload exists: a grant to nobody, a public ACL the bucket blocks.
    assert fails(lambda: s3.create_multipart_upload(Bucket=bucket, Key="x", GrantRead="id=_foo")) \
        == (400, "InvalidArgument")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False})
    assert fails(lambda: s3.create_multipart_upload(Bucket=bucket, Key="x", ACL="public-read"))[0] == 403
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_awscli_copies_a_large_file_with_an_acl(s3, server, aws, tmp_path):
    import requests
    bucket = new_bucket(s3)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 << 20))  # above the awscli's 8 MiB multipart threshold
    aws("s3", "cp", str(big), f"s3://{bucket}/big.bin", "--acl", "public-read")
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"].endswith('-2"'), "uploaded in parts"
    assert requests.get(f"{server['endpoint']}/{bucket}/big.bin", timeout=30).content == big.read_bytes()


def test_ownership_controls_decide_who_owns_what_others_write(s3, alt_user):
    user, alt = alt_user
    preferred = new_bucket(s3, ACL="public-read-write")
    s3.put_bucket_ownership_controls(Bucket=preferred, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    alt.put_object(Bucket=preferred, Key="handed-over", Body=b"h", ACL="bucket-owner-full-control")
    alt.put_object(Bucket=preferred, Key="kept", Body=b"k")
    owner = lambda key: s3.get_object_acl(Bucket=preferred, Key=key)["Owner"]["ID"]
    assert (owner("handed-over"), owner("kept")) == ("root", user)
    assert listed(s3.get_object_acl(Bucket=preferred, Key="handed-over")) == [("root", "FULL_CONTROL")]
    upload_in_parts(alt, preferred, "parts", ACL="bucket-owner-full-control")
    assert owner("parts") == "root"

    enforced = new_bucket(s3)
    s3.put_bucket_ownership_controls(Bucket=enforced, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    s3.put_bucket_policy(Bucket=enforced, Policy=__import__("json").dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": user}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{enforced}/*"}]}))
    alt.put_object(Bucket=enforced, Key="theirs", Body=b"t")
    assert s3.get_object_acl(Bucket=enforced, Key="theirs")["Owner"]["ID"] == "root"
    assert fails(lambda: alt.put_object(Bucket=enforced, Key="x", Body=b"x", ACL="public-read")) \
        == (400, "AccessControlListNotSupported")
    # The bucket owner's FULL_CONTROL as grant headers is accepted (it changes nothing).
    alt.put_object(Bucket=enforced, Key="granted", Body=b"g", GrantFullControl="id=root")
    assert s3.get_object_acl(Bucket=enforced, Key="granted")["Owner"]["ID"] == "root"
    # A retried Complete of an upload the controls gave the bucket owner gets the first 200.
    upload = alt.create_multipart_upload(Bucket=enforced, Key="parts")["UploadId"]
    part = alt.upload_part(Bucket=enforced, Key="parts", UploadId=upload, PartNumber=1, Body=b"p" * 100)
    done = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    first = alt.complete_multipart_upload(Bucket=enforced, Key="parts", UploadId=upload, MultipartUpload=done)
    again = alt.complete_multipart_upload(Bucket=enforced, Key="parts", UploadId=upload, MultipartUpload=done)
    assert again["ETag"] == first["ETag"]

    # ObjectWriter: the writer keeps what it writes, with the ACL it asked for.
    writer = new_bucket(s3, ACL="public-read-write")
    s3.put_bucket_ownership_controls(Bucket=writer, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    alt.put_object(Bucket=writer, Key="mine", Body=b"m", ACL="bucket-owner-full-control")
    assert listed(alt.get_object_acl(Bucket=writer, Key="mine")) == [(user, "FULL_CONTROL"), ("root", "FULL_CONTROL")]


def test_enforced_ownership_turns_existing_acls_off(s3, server, alt_user):
    import requests
    user, alt = alt_user
    bucket = new_bucket(s3, ACL="public-read-write")
    alt.put_object(Bucket=bucket, Key="public", Body=b"p", ACL="public-read")
    assert requests.get(f"{server['endpoint']}/{bucket}/public", timeout=10).status_code == 200
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert requests.get(f"{server['endpoint']}/{bucket}/public", timeout=10).status_code == 403
    assert fails(lambda: alt.get_object(Bucket=bucket, Key="public"))[0] == 403, "its writer no longer owns it"
    assert s3.get_object(Bucket=bucket, Key="public")["Body"].read() == b"p"
    # What the ACL APIs show is what counts: the bucket owner's FULL_CONTROL.
    acl = s3.get_object_acl(Bucket=bucket, Key="public")
    assert acl["Owner"]["ID"] == "root" and listed(acl) == [("root", "FULL_CONTROL")]
    assert listed(s3.get_bucket_acl(Bucket=bucket)) == [("root", "FULL_CONTROL")]
