//! Access control lists: canned ACLs and grants on buckets and object versions, the
//! ACL APIs, and the checks that let other users and anonymous requests in exactly where
//! a grant allows. Owners (and operators) always have full control; an ACL holds the
//! grants beyond that.

use rucket_projections::BucketRecord;
use rucket_schemas::{
    Acl, BucketName, CommandBody, Grant, Grantee, ListedAcl, ObjectKey, ObjectRecord, Permission, UserId,
    VersionId,
};
use s3s::dto::{self, *};
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::{owner, Rucket};
use crate::credentials::{User, Users};
use crate::errors;

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

fn grant(grantee: Grantee, permission: Permission) -> Grant {
    Grant { grantee, permission }
}

/// The grants of a canned ACL. `bucket_owner` is the owner of the bucket an object is in.
pub(super) fn canned(name: &str, bucket_owner: &UserId) -> S3Result<Acl> {
    let grants = match name {
        "private" => vec![],
        "public-read" => vec![grant(Grantee::AllUsers, Permission::Read)],
        "public-read-write" => {
            vec![grant(Grantee::AllUsers, Permission::Read), grant(Grantee::AllUsers, Permission::Write)]
        }
        "authenticated-read" => vec![grant(Grantee::AuthenticatedUsers, Permission::Read)],
        "bucket-owner-read" => vec![grant(Grantee::User(bucket_owner.clone()), Permission::Read)],
        "bucket-owner-full-control" => {
            vec![grant(Grantee::User(bucket_owner.clone()), Permission::FullControl)]
        }
        "log-delivery-write" | "aws-exec-read" => {
            return Err(errors::not_implemented(&format!("The canned ACL {name}")))
        }
        other => return Err(s3_error!(InvalidArgument, "Unknown canned ACL {other}")),
    };
    Ok(Acl { grants })
}

/// The user a grant by e-mail address names (S3's UnresolvableGrantByEmailAddress when
/// no user has it).
fn by_email(users: &Users, email: &str) -> S3Result<Grantee> {
    users.by_email(email).map(|id| Grantee::User(id.clone())).ok_or_else(|| {
        s3_error!(
            UnresolvableGrantByEmailAddress,
            "The e-mail address you provided does not match any account on record."
        )
    })
}

/// Parses one `x-amz-grant-*` header: `id="alice", uri="http://acs.../AllUsers"`.
fn header_grants(
    value: Option<&str>,
    permission: Permission,
    users: &Users,
    into: &mut Vec<Grant>,
) -> S3Result<()> {
    let Some(value) = value else { return Ok(()) };
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (kind, who) =
            part.split_once('=').ok_or_else(|| s3_error!(InvalidArgument, "Invalid grant {part}"))?;
        let who = who.trim().trim_matches('"');
        let grantee = match kind.trim().to_ascii_lowercase().as_str() {
            "id" => Grantee::User(UserId::new(who)),
            "uri" if who == ALL_USERS => Grantee::AllUsers,
            "uri" if who == AUTHENTICATED_USERS => Grantee::AuthenticatedUsers,
            "uri" => return Err(s3_error!(InvalidArgument, "Invalid group uri {who}")),
            "emailaddress" => by_email(users, who)?,
            other => return Err(s3_error!(InvalidArgument, "Invalid grantee type {other}")),
        };
        into.push(grant(grantee, permission));
    }
    Ok(())
}

/// The grant headers of a request, in S3's order.
pub(super) struct GrantHeaders<'a> {
    pub full_control: Option<&'a str>,
    pub read: Option<&'a str>,
    pub read_acp: Option<&'a str>,
    pub write: Option<&'a str>,
    pub write_acp: Option<&'a str>,
}

impl GrantHeaders<'_> {
    fn any(&self) -> bool {
        [self.full_control, self.read, self.read_acp, self.write, self.write_acp].iter().any(Option::is_some)
    }

    /// The grants, in the order S3 lists header grants.
    fn parse(&self, users: &Users) -> S3Result<Acl> {
        let mut grants = Vec::new();
        header_grants(self.read, Permission::Read, users, &mut grants)?;
        header_grants(self.write, Permission::Write, users, &mut grants)?;
        header_grants(self.read_acp, Permission::ReadAcp, users, &mut grants)?;
        header_grants(self.write_acp, Permission::WriteAcp, users, &mut grants)?;
        header_grants(self.full_control, Permission::FullControl, users, &mut grants)?;
        Ok(Acl { grants })
    }
}

/// The ACL an object write's input asks for (a canned ACL or grant headers; PutObject's
/// and CopyObject's inputs name the fields alike), `None` for a private object.
/// `x-amz-grant-write` is not in their inputs (S3's model leaves it out of object
/// writes); it is read from the request's headers.
macro_rules! object_acl {
    ($req:expr, $input:expr, $bucket_owner:expr, $users:expr) => {{
        let input = &$input;
        let write = $req.headers.get("x-amz-grant-write").and_then(|v| v.to_str().ok());
        let headers = super::acl::GrantHeaders {
            full_control: input.grant_full_control.as_deref(),
            read: input.grant_read.as_deref(),
            read_acp: input.grant_read_acp.as_deref(),
            write,
            write_acp: input.grant_write_acp.as_deref(),
        };
        super::acl::requested(input.acl.as_ref().map(|a| a.as_str()), headers, $bucket_owner, $users)
            .map(|acl| acl.filter(super::acl::sets_something))
    }};
}
pub(super) use object_acl;

/// Whether an ACL differs from the default (the owner's FULL_CONTROL alone).
pub(super) fn sets_something(listed: &ListedAcl) -> bool {
    listed.whole || !listed.acl.grants.is_empty()
}

/// The ACL a write asks for: a canned ACL (its grants follow the owner's), or grant
/// headers (the whole ACL), not both; `None` when it names none.
pub(super) fn requested(
    canned_acl: Option<&str>,
    headers: GrantHeaders<'_>,
    bucket_owner: &UserId,
    users: &Users,
) -> S3Result<Option<ListedAcl>> {
    match (canned_acl, headers.any()) {
        (Some(_), true) => {
            Err(s3_error!(InvalidRequest, "Specifying both Canned ACLs and Header Grants is not allowed"))
        }
        (Some(name), false) => Ok(Some(ListedAcl { acl: canned(name, bucket_owner)?, whole: false })),
        (None, true) => Ok(Some(ListedAcl { acl: headers.parse(users)?, whole: true })),
        (None, false) => Ok(None),
    }
}

/// The ACL of a PutBucketAcl or PutObjectAcl: a canned ACL or grant headers, or an
/// AccessControlPolicy body (the whole ACL), exactly one of them.
fn put_acl_body(
    canned_acl: Option<&str>,
    headers: GrantHeaders<'_>,
    policy: Option<AccessControlPolicy>,
    owner: &UserId,
    users: &Users,
) -> S3Result<ListedAcl> {
    match (requested(canned_acl, headers, owner, users)?, policy) {
        (Some(_), Some(_)) => {
            Err(s3_error!(UnexpectedContent, "This request does not support content with headers"))
        }
        (Some(acl), None) => Ok(acl),
        (None, Some(policy)) => Ok(ListedAcl { acl: from_policy(policy, users)?, whole: true }),
        (None, None) => Err(s3_error!(MissingSecurityHeader, "Your request is missing an ACL")),
    }
}

/// A SetBucketAcl or SetObjectAcl carrying a whole ACL, marked so.
pub(super) fn acl_command(listed: &ListedAcl, body: CommandBody) -> CommandBody {
    if listed.whole {
        CommandBody::WholeAcl { inner: Box::new(body) }
    } else {
        body
    }
}

fn from_policy(policy: AccessControlPolicy, users: &Users) -> S3Result<Acl> {
    let mut grants = Vec::new();
    for g in policy.grants.unwrap_or_default() {
        let grantee = g.grantee.ok_or_else(|| s3_error!(MalformedACLError, "A Grant needs a Grantee"))?;
        let permission = match g.permission.as_ref().map(|p| p.as_str()) {
            Some(dto::Permission::READ) => Permission::Read,
            Some(dto::Permission::WRITE) => Permission::Write,
            Some(dto::Permission::READ_ACP) => Permission::ReadAcp,
            Some(dto::Permission::WRITE_ACP) => Permission::WriteAcp,
            Some(dto::Permission::FULL_CONTROL) => Permission::FullControl,
            _ => return Err(s3_error!(MalformedACLError, "Unknown permission")),
        };
        let grantee = match grantee.type_.as_str() {
            Type::CANONICAL_USER => Grantee::User(UserId::new(
                grantee
                    .id
                    .ok_or_else(|| s3_error!(InvalidArgument, "A CanonicalUser grantee needs an ID"))?,
            )),
            Type::GROUP => match grantee.uri.as_deref() {
                Some(ALL_USERS) => Grantee::AllUsers,
                Some(AUTHENTICATED_USERS) => Grantee::AuthenticatedUsers,
                _ => return Err(s3_error!(InvalidArgument, "Invalid group uri")),
            },
            Type::AMAZON_CUSTOMER_BY_EMAIL => by_email(
                users,
                grantee.email_address.as_deref().ok_or_else(|| {
                    s3_error!(InvalidArgument, "An AmazonCustomerByEmail grantee needs an EmailAddress")
                })?,
            )?,
            _ => return Err(s3_error!(MalformedACLError, "Unknown grantee type")),
        };
        grants.push(grant(grantee, permission));
    }
    Ok(Acl { grants })
}

/// The policy S3 returns: a whole ACL as it was given, any other the owner's
/// FULL_CONTROL and then its grants; group grants first (in their order), then users'.
fn to_policy(users: &Users, owner_id: &UserId, listed: &ListedAcl) -> (Owner, Vec<dto::Grant>) {
    let owner_grant = grant(Grantee::User(owner_id.clone()), Permission::FullControl);
    let mut grants: Vec<&Grant> = match listed.whole {
        true => listed.acl.grants.iter().collect(),
        // (A grant that repeats the owner's, as `bucket-owner-full-control` does on the
        // bucket owner's own object, is listed once.)
        false => std::iter::once(&owner_grant)
            .chain(listed.acl.grants.iter().filter(|g| **g != owner_grant))
            .collect(),
    };
    grants.sort_by_key(|g| matches!(g.grantee, Grantee::User(_)));
    (owner(users, owner_id), grants.into_iter().map(|g| dto_grant(users, &g.grantee, g.permission)).collect())
}

fn dto_grant(users: &Users, grantee: &Grantee, permission: Permission) -> dto::Grant {
    let grantee = match grantee {
        Grantee::User(id) => dto::Grantee {
            display_name: Some(users.display_name(id)),
            email_address: None,
            id: Some(id.to_string()),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        },
        Grantee::AllUsers | Grantee::AuthenticatedUsers => dto::Grantee {
            display_name: None,
            email_address: None,
            id: None,
            type_: Type::from_static(Type::GROUP),
            uri: Some(
                if matches!(grantee, Grantee::AllUsers) { ALL_USERS } else { AUTHENTICATED_USERS }.to_owned(),
            ),
        },
    };
    let permission = match permission {
        Permission::Read => dto::Permission::READ,
        Permission::Write => dto::Permission::WRITE,
        Permission::ReadAcp => dto::Permission::READ_ACP,
        Permission::WriteAcp => dto::Permission::WRITE_ACP,
        Permission::FullControl => dto::Permission::FULL_CONTROL,
    };
    dto::Grant { grantee: Some(grantee), permission: Some(dto::Permission::from_static(permission)) }
}

impl Rucket {
    /// Refuses ACL changes on a bucket whose ownership controls disable ACLs
    /// (BucketOwnerEnforced); only `bucket-owner-full-control` is accepted there.
    pub(super) fn check_acls_enabled(
        &self,
        bucket: &BucketName,
        requested: Option<&ListedAcl>,
        bucket_owner: &UserId,
    ) -> S3Result<()> {
        let enforced = self.enforced(bucket)?;
        // The default, or the bucket owner's FULL_CONTROL (canned, or as the whole ACL).
        let owner_full_control = canned("bucket-owner-full-control", bucket_owner).map(|a| a.grants)?;
        let harmless = requested.is_none_or(|listed| match listed.whole {
            false => listed.acl.grants.is_empty() || listed.acl.grants == owner_full_control,
            true => listed.acl.grants == owner_full_control,
        });
        let requested = requested.map(|listed| &listed.acl);
        if enforced && !harmless {
            return Err(s3_error!(AccessControlListNotSupported, "The bucket does not allow ACLs"));
        }
        // Also decided at apply time; checked here so a refused PUT stores no body.
        let blocked = self.projections().public_access_block(bucket).map_err(errors::projection)?;
        if requested.is_some_and(Acl::is_public) && blocked.is_some_and(|b| b.block_public_acls) {
            return Err(errors::rejection(rucket_schemas::Rejection::AccessDenied));
        }
        Ok(())
    }

    pub(super) async fn do_put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let c = req.input.public_access_block_configuration;
        let configuration = rucket_schemas::PublicAccessBlock {
            block_public_acls: c.block_public_acls.unwrap_or(false),
            ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
            block_public_policy: c.block_public_policy.unwrap_or(false),
            restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
        };
        let body = CommandBody::SetPublicAccessBlock { bucket, configuration: Some(configuration) };
        self.propose(&user, body).await?;
        Ok(S3Response::new(PutPublicAccessBlockOutput::default()))
    }

    pub(super) async fn do_get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let Some(c) = self.projections().public_access_block(&bucket).map_err(errors::projection)? else {
            let mut e = s3s::S3Error::with_message(
                s3s::S3ErrorCode::Custom("NoSuchPublicAccessBlockConfiguration".into()),
                "The public access block configuration was not found",
            );
            e.set_status_code(http::StatusCode::NOT_FOUND);
            return Err(e);
        };
        Ok(S3Response::new(GetPublicAccessBlockOutput {
            public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                block_public_acls: Some(c.block_public_acls),
                ignore_public_acls: Some(c.ignore_public_acls),
                block_public_policy: Some(c.block_public_policy),
                restrict_public_buckets: Some(c.restrict_public_buckets),
            }),
        }))
    }

    pub(super) async fn do_delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        self.propose(&user, CommandBody::SetPublicAccessBlock { bucket, configuration: None }).await?;
        Ok(S3Response::new(DeletePublicAccessBlockOutput::default()))
    }

    /// The requester: a signed user, or the anonymous principal for unsigned requests
    /// (which get only what grants to AllUsers allow).
    pub(super) fn principal<T>(&self, req: &S3Request<T>) -> S3Result<User> {
        match &req.credentials {
            None => Ok(User {
                policy_allows: req.extensions.get::<crate::access::PolicyAllows>().map(|p| p.bucket.clone()),
                policy_lists: req.extensions.get::<crate::access::PolicyLists>().map(|p| p.bucket.clone()),
                facts: req.extensions.get::<std::sync::Arc<rucket_schemas::RequestFacts>>().cloned(),
                ..User::new(UserId::anonymous(), false)
            }),
            Some(_) => self.user(req),
        }
    }

    /// The bucket, if `user` may act on it with `permission`: operators and the owner
    /// always, others by a grant in the bucket's ACL.
    pub(super) fn bucket_access(
        &self,
        user: &User,
        name: &str,
        permission: Permission,
    ) -> S3Result<(BucketName, BucketRecord)> {
        let (bucket, record) = self.existing_bucket(name)?;
        if user.admin || record.owner == user.id || user.policy_allows(bucket.as_str()) {
            return Ok((bucket, record));
        }
        let acl = self.projections().effective_bucket_acl(&bucket).map_err(errors::projection)?;
        if acl.allows(&user.id, permission) {
            Ok((bucket, record))
        } else {
            Err(errors::rejection(rucket_schemas::Rejection::AccessDenied))
        }
    }

    /// Whether `user` may act on an object version with `permission`: operators, the
    /// bucket's owner, the version's owner, or a grant in the version's ACL.
    pub(super) fn object_allows(
        &self,
        user: &User,
        bucket: &BucketName,
        bucket_record: &BucketRecord,
        key: &ObjectKey,
        record: &ObjectRecord,
        permission: Permission,
    ) -> S3Result<bool> {
        if user.admin || bucket_record.owner == user.id || user.policy_allows(bucket.as_str()) {
            return Ok(true);
        }
        // Under BucketOwnerEnforced the bucket's owner owns every object (and ACLs grant
        // nothing): an object written before the controls no longer lets its writer in.
        if record.owner == user.id && !self.enforced(bucket)? {
            return Ok(true);
        }
        let acl = self
            .projections()
            .effective_version_acl(bucket, key, record.hlc_timestamp)
            .map_err(errors::projection)?;
        Ok(acl.allows(&user.id, permission))
    }

    /// Whether the bucket's ownership controls are BucketOwnerEnforced (ACLs off).
    pub(super) fn enforced(&self, bucket: &BucketName) -> S3Result<bool> {
        self.projections().acls_off(bucket).map_err(errors::projection)
    }

    /// The owner of the version a write committed (`None` if its event cannot be read).
    pub(super) fn committed_owner(&self, outcome: &rucket_schemas::Outcome) -> Option<UserId> {
        match self.archived(outcome) {
            Some(rucket_schemas::StorageEvent::ObjectCreated(e)) => Some(e.record.owner),
            _ => None,
        }
    }

    /// Applies the ACL a write asked for to the version it created.
    pub(super) async fn apply_object_acl(
        &self,
        user: &User,
        bucket: &BucketName,
        key: &ObjectKey,
        version_id: Option<String>,
        listed: ListedAcl,
    ) -> S3Result<()> {
        let version_id = Some(VersionId::new(version_id.unwrap_or_else(|| "null".to_owned())));
        let body = CommandBody::SetObjectAcl {
            bucket: bucket.clone(),
            key: key.clone(),
            version_id,
            acl: listed.acl.clone(),
        };
        self.propose(user, acl_command(&listed, body)).await.map(|_| ())
    }

    /// The owner a write names for the version it makes: the bucket's owner when the
    /// bucket's ownership controls prefer it (BucketOwnerPreferred, or BucketOwnerEnforced)
    /// and the write asks for `bucket-owner-full-control`, else the writer. Apply decides
    /// again from the controls in force when it commits.
    pub(super) fn asked_owner(
        &self,
        user: &User,
        bucket: &BucketName,
        bucket_owner: &UserId,
        acl: Option<&ListedAcl>,
    ) -> S3Result<UserId> {
        let owner_full_control = canned("bucket-owner-full-control", bucket_owner)?.grants;
        let asks = acl.is_some_and(|l| !l.whole && l.acl.grants == owner_full_control);
        let prefers = self.projections().owner_takes_objects(bucket).map_err(errors::projection)?;
        Ok(if asks && prefers { bucket_owner.clone() } else { user.id.clone() })
    }

    /// Refuses a whole ACL's grants to users that do not exist here (S3's
    /// InvalidArgument): the root user, the users of configured keys and of keys made
    /// through the admin API, and `known` (the owners and the requester, who may have no
    /// key left). Canned ACLs name only owners and groups.
    pub(super) fn check_grantees(&self, requested: Option<&ListedAcl>, known: &[&UserId]) -> S3Result<()> {
        let Some(ListedAcl { acl, whole: true }) = requested else { return Ok(()) };
        let mut managed: Option<Vec<UserId>> = None;
        for g in &acl.grants {
            let Grantee::User(id) = &g.grantee else { continue };
            if known.contains(&id) || self.users.static_user_ids().any(|u| u == id) {
                continue;
            }
            if managed.is_none() {
                let keys = self.projections().access_keys().map_err(errors::projection)?;
                managed = Some(keys.into_iter().map(|k| k.user).collect());
            }
            if !managed.as_ref().is_some_and(|users| users.contains(id)) {
                return Err(s3_error!(InvalidArgument, "Invalid id: no user {id} exists"));
            }
        }
        Ok(())
    }

    pub(super) async fn do_get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let user = self.principal(&req)?;
        let (bucket, record) = self.bucket_access(&user, &req.input.bucket, Permission::ReadAcp)?;
        let acl = match self.enforced(&bucket)? {
            // ACLs are off: the owner's FULL_CONTROL is all there is.
            true => ListedAcl::default(),
            false => self.projections().bucket_acl_listed(&bucket).map_err(errors::projection)?,
        };
        let (owner, grants) = to_policy(&self.users, &record.owner, &acl);
        Ok(S3Response::new(GetBucketAclOutput { grants: Some(grants), owner: Some(owner) }))
    }

    pub(super) async fn do_put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let user = self.principal(&req)?;
        let input = req.input;
        let (bucket, record) = self.bucket_access(&user, &input.bucket, Permission::WriteAcp)?;
        let headers = GrantHeaders {
            full_control: input.grant_full_control.as_deref(),
            read: input.grant_read.as_deref(),
            read_acp: input.grant_read_acp.as_deref(),
            write: input.grant_write.as_deref(),
            write_acp: input.grant_write_acp.as_deref(),
        };
        let canned_acl = input.acl.as_ref().map(|a| a.as_str());
        let listed =
            put_acl_body(canned_acl, headers, input.access_control_policy, &record.owner, &self.users)?;
        self.check_grantees(Some(&listed), &[&record.owner, &user.id])?;
        self.check_acls_enabled(&bucket, Some(&listed), &record.owner)?;
        let body = CommandBody::SetBucketAcl { bucket, acl: listed.acl.clone() };
        self.propose(&user, acl_command(&listed, body)).await?;
        Ok(S3Response::new(PutBucketAclOutput {}))
    }

    pub(super) async fn do_get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let user = self.principal(&req)?;
        let input = &req.input;
        // Object ACLs are checked on the object; the bucket only has to exist.
        let (bucket, bucket_record) = self.existing_bucket(&input.bucket)?;
        let key = ObjectKey::parse(&input.key).map_err(errors::key_name)?;
        let resolved = self.resolve_version(&bucket, &bucket_record, &key, input.version_id.as_deref())?;
        if !self.object_allows(&user, &bucket, &bucket_record, &key, &resolved.record, Permission::ReadAcp)? {
            return Err(errors::rejection(rucket_schemas::Rejection::AccessDenied));
        }
        let acl = self
            .projections()
            .version_acl_listed(&bucket, &key, resolved.record.hlc_timestamp)
            .map_err(errors::projection)?;
        // Under BucketOwnerEnforced the bucket's owner owns the object, and ACLs are off.
        let (owner, grants) = match self.enforced(&bucket)? {
            true => to_policy(&self.users, &bucket_record.owner, &ListedAcl::default()),
            false => to_policy(&self.users, &resolved.record.owner, &acl),
        };
        Ok(S3Response::new(GetObjectAclOutput {
            grants: Some(grants),
            owner: Some(owner),
            ..Default::default()
        }))
    }

    pub(super) async fn do_put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let user = self.principal(&req)?;
        let input = req.input;
        let (bucket, bucket_record) = self.existing_bucket(&input.bucket)?;
        let key = ObjectKey::parse(&input.key).map_err(errors::key_name)?;
        let resolved = self.resolve_version(&bucket, &bucket_record, &key, input.version_id.as_deref())?;
        if !self.object_allows(
            &user,
            &bucket,
            &bucket_record,
            &key,
            &resolved.record,
            Permission::WriteAcp,
        )? {
            return Err(errors::rejection(rucket_schemas::Rejection::AccessDenied));
        }
        let headers = GrantHeaders {
            full_control: input.grant_full_control.as_deref(),
            read: input.grant_read.as_deref(),
            read_acp: input.grant_read_acp.as_deref(),
            write: input.grant_write.as_deref(),
            write_acp: input.grant_write_acp.as_deref(),
        };
        let canned_acl = input.acl.as_ref().map(|a| a.as_str());
        let listed = put_acl_body(
            canned_acl,
            headers,
            input.access_control_policy,
            &bucket_record.owner,
            &self.users,
        )?;
        let known = [&bucket_record.owner, &resolved.record.owner, &user.id];
        self.check_grantees(Some(&listed), &known)?;
        self.check_acls_enabled(&bucket, Some(&listed), &bucket_record.owner)?;
        let version_id = Some(resolved.record.version_id.clone());
        let body = CommandBody::SetObjectAcl { bucket, key, version_id, acl: listed.acl.clone() };
        self.propose(&user, acl_command(&listed, body)).await?;
        Ok(S3Response::new(PutObjectAclOutput::default()))
    }
}

impl Rucket {
    pub(super) async fn do_put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        let rules = req.input.ownership_controls.rules;
        let [rule] = rules.as_slice() else {
            return Err(s3_error!(MalformedXML, "OwnershipControls has exactly one Rule"));
        };
        let ownership = rucket_schemas::ObjectOwnership::from_s3_name(rule.object_ownership.as_str())
            .ok_or_else(|| {
                s3_error!(MalformedXML, "Unknown ObjectOwnership {}", rule.object_ownership.as_str())
            })?;
        self.propose(&user, CommandBody::SetBucketOwnership { bucket, ownership: Some(ownership) }).await?;
        Ok(S3Response::new(PutBucketOwnershipControlsOutput {}))
    }

    pub(super) async fn do_get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        match self.projections().ownership(&bucket).map_err(errors::projection)? {
            Some(o) => Ok(S3Response::new(GetBucketOwnershipControlsOutput {
                ownership_controls: Some(OwnershipControls {
                    rules: vec![OwnershipControlsRule {
                        object_ownership: ObjectOwnership::from(o.s3_name().to_owned()),
                    }],
                }),
            })),
            None => {
                Err(s3_error!(OwnershipControlsNotFoundError, "The bucket ownership controls were not found"))
            }
        }
    }

    pub(super) async fn do_delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        let user = self.user(&req)?;
        let (bucket, _) = self.bucket_for(&user, &req.input.bucket)?;
        self.propose(&user, CommandBody::SetBucketOwnership { bucket, ownership: None }).await?;
        Ok(S3Response::with_status(DeleteBucketOwnershipControlsOutput {}, http::StatusCode::NO_CONTENT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls_and_grant_headers() {
        let owner = UserId::new("bob");
        assert!(canned("private", &owner).unwrap().grants.is_empty());
        let public = canned("public-read", &owner).unwrap();
        assert!(public.allows(&UserId::anonymous(), Permission::Read));
        assert!(!public.allows(&UserId::anonymous(), Permission::Write));
        let auth = canned("authenticated-read", &owner).unwrap();
        assert!(auth.allows(&UserId::new("alice"), Permission::Read));
        assert!(!auth.allows(&UserId::anonymous(), Permission::Read));
        assert!(canned("nonsense", &owner).is_err());
        let headers = GrantHeaders {
            full_control: Some("id=\"alice\""),
            read: Some(&format!("uri=\"{ALL_USERS}\"")),
            read_acp: None,
            write: None,
            write_acp: None,
        };
        let listed = requested(None, headers, &owner, &Users::default()).unwrap().unwrap();
        assert!(listed.whole, "grant headers are the whole ACL");
        let acl = listed.acl;
        assert!(acl.allows(&UserId::new("alice"), Permission::WriteAcp));
        assert!(acl.allows(&UserId::anonymous(), Permission::Read));
        let both = GrantHeaders {
            full_control: Some("id=x"),
            read: None,
            read_acp: None,
            write: None,
            write_acp: None,
        };
        assert!(requested(Some("private"), both, &owner, &Users::default()).is_err());
    }
}
