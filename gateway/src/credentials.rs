//! Users and their access keys: the root user (from the environment, or generated on
//! first start and stored in the data dir with mode 0600), one user per `[[keys]]`, and
//! the keys made through the admin API (`crate::admin_keys`), which live in the
//! projections with their secrets sealed by the master key.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use rucket_schemas::UserId;
use s3s::auth::{S3Auth, SecretKey};
use s3s::{s3_error, S3Result};
use serde::{Deserialize, Serialize};

use crate::config::{KeyConfig, Settings};
use crate::sse::Keyring;
use rucket_projections::ProjectionError;
use rucket_projections::Projections;
use std::sync::Arc;

const ROOT_FILE: &str = "root-credentials.toml";
pub const ROOT_USER: &str = "root";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// The root user may act on every bucket.
    pub admin: bool,
    /// The bucket whose policy allows the request at hand (set per request, never stored).
    pub policy_allows: Option<String>,
    /// The bucket whose policy lets the requester list it (`s3:ListBucket`), so that a
    /// missing key is NoSuchKey to them rather than AccessDenied (set per request).
    pub policy_lists: Option<String>,
    /// A scoped admin token (a key made with `admin`): it may call the admin API.
    pub key_admin: bool,
    /// The access key the request was signed with, when it was made through the admin
    /// API, and the identity policy that limits it.
    pub managed_key: Option<String>,
    pub identity_policy: Option<Arc<str>>,
    /// The facts of the request at hand (set per request, never stored), carried in the
    /// commands it proposes so that apply judges its access in log order.
    pub facts: Option<Arc<rucket_schemas::RequestFacts>>,
}

impl User {
    pub fn new(id: UserId, admin: bool) -> Self {
        Self {
            id,
            admin,
            policy_allows: None,
            policy_lists: None,
            key_admin: false,
            managed_key: None,
            identity_policy: None,
            facts: None,
        }
    }

    /// Whether the user may call the admin API: the root user, or a scoped admin token
    /// not limited by an identity policy (it could otherwise widen it through the API).
    pub fn may_administer(&self) -> bool {
        self.admin || (self.key_admin && self.identity_policy.is_none())
    }

    /// Whether `bucket`'s policy allows the request at hand.
    pub fn policy_allows(&self, bucket: &str) -> bool {
        self.policy_allows.as_deref() == Some(bucket)
    }
}

/// Access key id to (secret, user), then the keys made through the admin API.
#[derive(Clone, Default)]
pub struct Users {
    keys: BTreeMap<String, (String, User)>,
    /// Configured users' e-mail addresses (lowercase), for grants by e-mail.
    emails: BTreeMap<String, UserId>,
    /// Configured users' display names, where one is given.
    display_names: BTreeMap<UserId, String>,
    directory: Option<(Projections, Arc<Keyring>)>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("static_keys", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct RootFile {
    access_key_id: String,
    secret_access_key: String,
}

/// The root key pair and whether it was generated just now (to print it once).
pub struct RootKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub generated: bool,
}

impl Users {
    pub fn load(settings: &Settings) -> anyhow::Result<(Self, RootKey)> {
        let root = root_key(settings)?;
        let mut users = Self::default();
        users.insert(
            &root.access_key_id,
            &root.secret_access_key,
            User::new(UserId::new(ROOT_USER), true),
        )?;
        if let Some(display_name) = &settings.root_display_name {
            users.display_names.insert(UserId::new(ROOT_USER), display_name.clone());
        }
        for KeyConfig { name, access_key_id, secret_access_key, email, display_name } in &settings.keys {
            if name == ROOT_USER {
                anyhow::bail!("`root` is reserved; choose another name for key {access_key_id}");
            }
            if let Some(display_name) = display_name {
                let previous = users.display_names.insert(UserId::new(name), display_name.clone());
                if previous.is_some_and(|other| &other != display_name) {
                    anyhow::bail!("user {name} is given two display names");
                }
            }
            let user = User::new(UserId::new(name), false);
            users.insert(access_key_id, secret_access_key, user)?;
            if let Some(email) = email {
                let previous = users.emails.insert(email.to_ascii_lowercase(), UserId::new(name));
                if previous.is_some_and(|other| other.as_str() != name) {
                    anyhow::bail!("the e-mail address {email} is given to two users");
                }
            }
        }
        Ok((users, root))
    }

    /// The name S3 shows for a user as `DisplayName`: the configured one, else its id.
    pub fn display_name(&self, id: &UserId) -> String {
        self.display_names.get(id).cloned().unwrap_or_else(|| id.to_string())
    }

    /// The user a grant by e-mail address names, if some configured user has it.
    pub fn by_email(&self, email: &str) -> Option<&UserId> {
        self.emails.get(&email.to_ascii_lowercase())
    }

    fn insert(&mut self, access_key_id: &str, secret: &str, user: User) -> anyhow::Result<()> {
        if access_key_id.is_empty() || secret.is_empty() {
            anyhow::bail!("access key ids and secrets must not be empty");
        }
        if self.keys.insert(access_key_id.to_owned(), (secret.to_owned(), user)).is_some() {
            anyhow::bail!("access key id {access_key_id} is configured twice");
        }
        Ok(())
    }

    /// Looks keys up in the admin API's keys too (in `projections`, secrets sealed by
    /// the master keys of `keyring`).
    pub fn attach(&mut self, projections: Projections, keyring: Arc<Keyring>) {
        self.directory = Some((projections, keyring));
    }

    /// Who signed with `access_key_id` (`None`: unsigned), as a fact for apply.
    pub fn principal(&self, access_key_id: Option<&str>) -> rucket_schemas::Principal {
        use rucket_schemas::Principal;
        let Some(id) = access_key_id else { return Principal::Anonymous };
        match self.keys.get(id) {
            Some((_, user)) if user.admin => Principal::Root,
            Some(_) => Principal::ConfigKey { access_key_id: id.to_owned() },
            None => Principal::ManagedKey { access_key_id: id.to_owned() },
        }
    }

    /// The users of the root key and the configured keys.
    pub fn static_user_ids(&self) -> impl Iterator<Item = &UserId> {
        self.keys.values().map(|(_, user)| &user.id)
    }

    /// Whether `access_key_id` is taken by the root key or a configured key.
    pub fn is_static(&self, access_key_id: &str) -> bool {
        self.keys.contains_key(access_key_id)
    }

    /// The user of an enabled access key; `None` for an unknown or disabled key. A read
    /// error is an error, never "no such key" (which could skip the key's identity policy).
    pub fn user(&self, access_key_id: &str) -> Result<Option<User>, ProjectionError> {
        if let Some((_, user)) = self.keys.get(access_key_id) {
            return Ok(Some(user.clone()));
        }
        Ok(self.managed(access_key_id)?.map(|record| User {
            key_admin: record.admin,
            managed_key: Some(record.access_key_id),
            identity_policy: record.policy.map(Arc::from),
            ..User::new(record.user, false)
        }))
    }

    /// An enabled key made through the admin API.
    fn managed(
        &self,
        access_key_id: &str,
    ) -> Result<Option<rucket_projections::AccessKeyRecord>, ProjectionError> {
        let Some((projections, _)) = self.directory.as_ref() else { return Ok(None) };
        Ok(projections.access_key(access_key_id)?.filter(|r| r.enabled))
    }
}

#[async_trait::async_trait]
impl S3Auth for Users {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if let Some((secret, _)) = self.keys.get(access_key) {
            return Ok(SecretKey::from(secret.as_str()));
        }
        let unknown = || {
            s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")
        };
        let record = self
            .managed(access_key)
            .map_err(|e| crate::errors::internal("reading an access key", e))?
            .ok_or_else(unknown)?;
        let (_, keyring) = self.directory.as_ref().ok_or_else(unknown)?;
        let secret = keyring.open_secret(access_key, &record.secret).map_err(|e| {
            tracing::error!(access_key, error = %e, "an access key's secret does not open");
            s3_error!(InternalError, "The access key's secret cannot be opened: {e}")
        })?;
        Ok(SecretKey::from(secret))
    }
}

fn root_key(settings: &Settings) -> anyhow::Result<RootKey> {
    match (&settings.root_access_key_id, &settings.root_secret_access_key) {
        (Some(id), Some(secret)) => {
            return Ok(RootKey {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                generated: false,
            })
        }
        (None, None) => {}
        _ => anyhow::bail!("set both RUCKET_ACCESS_KEY_ID and RUCKET_SECRET_ACCESS_KEY, or neither"),
    }
    let path = settings.data_dir.join(ROOT_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let stored: RootFile =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        return Ok(RootKey {
            access_key_id: stored.access_key_id,
            secret_access_key: stored.secret_access_key,
            generated: false,
        });
    }
    let generated = RootFile {
        access_key_id: format!("RK{}", hex::encode_upper(rand::random::<[u8; 9]>())),
        secret_access_key: base64_secret(),
    };
    write_private(&path, &toml::to_string(&generated)?)?;
    Ok(RootKey {
        access_key_id: generated.access_key_id,
        secret_access_key: generated.secret_access_key,
        generated: true,
    })
}

fn base64_secret() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 30]>())
}

/// Writes a file readable only by its owner, durably.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::config::ServeArgs;

    #[test]
    fn generated_root_keys_are_stored_privately_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let args = ServeArgs { data_dir: Some(dir.path().to_owned()), ..ServeArgs::default() };
        let settings = Settings::resolve(args).unwrap();
        let (_, first) = Users::load(&settings).unwrap();
        assert!(first.generated);
        let mode = std::fs::metadata(dir.path().join(ROOT_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (users, second) = Users::load(&settings).unwrap();
        assert!(!second.generated);
        assert_eq!(second.access_key_id, first.access_key_id);
        assert!(users.user(&first.access_key_id).unwrap().unwrap().admin);
    }

    #[test]
    fn configured_keys_are_separate_users() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::resolve(ServeArgs {
            data_dir: Some(dir.path().to_owned()),
            access_key_id: Some("ROOT".into()),
            secret_access_key: Some("rootsecret".into()),
            ..ServeArgs::default()
        })
        .unwrap();
        settings.keys.push(KeyConfig {
            name: "alice".into(),
            access_key_id: "AKA".into(),
            secret_access_key: "s".into(),
            email: Some("Alice@Example.com".into()),
            display_name: Some("A. Liddell".into()),
        });
        let (users, root) = Users::load(&settings).unwrap();
        assert!(!root.generated);
        assert!(!dir.path().join(ROOT_FILE).exists(), "configured root keys are not written");
        let alice = users.user("AKA").unwrap().unwrap();
        assert_eq!(alice.id.as_str(), "alice");
        assert!(!alice.admin);
        assert_eq!(users.by_email("alice@example.COM").map(UserId::as_str), Some("alice"));
        assert_eq!(users.by_email("bob@example.com"), None);
        assert_eq!(users.display_name(&UserId::new("alice")), "A. Liddell");
        assert_eq!(users.display_name(&UserId::new(ROOT_USER)), ROOT_USER, "the id when none is given");
        settings.keys.push(KeyConfig {
            name: "bob".into(),
            access_key_id: "AKA".into(),
            secret_access_key: "t".into(),
            email: None,
            display_name: None,
        });
        assert!(Users::load(&settings).is_err(), "a duplicate key id is refused");
    }
}
