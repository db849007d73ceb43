//! Master key rotation: with a previous master key configured beside the current one,
//! a background pass re-wraps every data key the previous key wrapped under the current
//! key, one `DataKeyRewrapped` event each (and re-seals access key secrets, one
//! `AccessKeyRewrapped` each, and the KMS keys' material, one `KmsKeyRewrapped` each).
//! Object bytes are never rewritten. When the
//! pass finds nothing left under previous keys, the previous key may be removed.

use std::sync::Arc;

use rucket_log::Node;
use rucket_projections::{Projections, VersionEntry};
use rucket_schemas::{
    Command, CommandBody, EventId, ObjectKey, Outcome, RegionId, RewrapTarget, Seal, SealKind, UserId,
};

use crate::sse::Keyring;
use rucket_log::Clock;

/// The requester named on re-wrap commands.
const ROTATION_USER: &str = "rucket-key-rotation";

pub struct Rotation {
    pub projections: Projections,
    pub node: Arc<Node>,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<Clock>,
    pub region: RegionId,
}

impl Rotation {
    /// Starts the pass if a previous master key is configured.
    pub fn start(self) {
        if self.keyring.has_previous() {
            tokio::spawn(self.run());
        }
    }

    /// Passes until one finds nothing left under a previous key: a pass may race with
    /// uploads that complete (their versions take the upload's old seal) or writes by a
    /// node still on the old key, and the next pass picks those up.
    async fn run(self) {
        let mut rewrapped = 0u64;
        for _ in 0..MAX_PASSES {
            // One cluster, one rotation: the leader's (it moves with leadership).
            while !self.node.is_leader() {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            let planned = {
                let projections = self.projections.clone();
                let keyring = Arc::clone(&self.keyring);
                tokio::task::spawn_blocking(move || plan(&projections, &keyring)).await
            };
            let (commands, failures) = match planned {
                Ok(Ok(planned)) => planned,
                Ok(Err(e)) => return tracing::error!(error = %e, "master key rotation: the scan failed"),
                Err(e) => return tracing::error!(error = %e, "master key rotation: the scan panicked"),
            };
            // Set once per pass, so 0 means a whole pass found nothing left.
            metrics::gauge!(crate::metrics::KEYS_UNDER_PREVIOUS).set((commands.len() + failures) as f64);
            if commands.is_empty() {
                if failures == 0 {
                    tracing::info!(
                        rewrapped,
                        "master key rotation: no data key remains under a previous master key; it may be removed"
                    );
                } else {
                    tracing::error!(failures, "master key rotation: some data keys could not be re-wrapped");
                }
                return;
            }
            for body in commands {
                let command = Command {
                    hlc: self.clock.now(),
                    event_id: EventId(rand::random()),
                    origin_region: self.region.clone(),
                    requester: UserId::new(ROTATION_USER),
                    requester_is_admin: true,
                    body,
                };
                match self.node.propose(command).await {
                    Ok(Outcome::Applied { .. }) => {
                        rewrapped += 1;
                        metrics::counter!(crate::metrics::KEYS_REWRAPPED).increment(1);
                    }
                    // Deleted, completed or changed meanwhile: the next pass looks again.
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "master key rotation: a re-wrap was not applied"),
                }
            }
        }
        tracing::warn!(
            "master key rotation: data keys under a previous key keep appearing; restart to retry"
        );
    }
}

/// Passes the rotation makes before it gives up until the next start.
const MAX_PASSES: usize = 8;

/// A re-wrap command for every version and upload sealed under a previous master key, and
/// how many of those could not be re-wrapped (each is logged).
fn plan(projections: &Projections, keyring: &Keyring) -> anyhow::Result<(Vec<CommandBody>, usize)> {
    let mut commands = Vec::new();
    let mut failures = 0;
    for bucket in projections.buckets()? {
        let name = bucket.name;
        let mut add = |key: &ObjectKey, target: RewrapTarget, seal: &Seal| {
            let under_previous = match &seal.kind {
                SealKind::MasterKey { key_id } => Some(key_id.as_str()) != keyring.current_id(),
                // A KMS seal names its KMS key, whose material is re-sealed below.
                SealKind::CustomerKey { .. } | SealKind::KmsKey { .. } => false,
            };
            if !under_previous {
                return;
            }
            match keyring.rewrap(seal, (name.as_str(), key.as_str())) {
                Ok(Some(new)) => commands.push(CommandBody::RewrapDataKey {
                    bucket: name.clone(),
                    key: key.clone(),
                    target,
                    from: seal.clone(),
                    seal: new,
                }),
                Ok(None) => {}
                Err(e) => {
                    failures += 1;
                    tracing::error!(bucket = %name, key = %key, error = %e, "master key rotation: cannot re-wrap");
                }
            }
        };
        projections.for_each_history(&name, |key, history| {
            for entry in history {
                if let VersionEntry::Object(record) = entry {
                    if let Some(seal) = record.data.seal() {
                        add(key, RewrapTarget::Version(record.version_id.clone()), seal);
                    }
                }
            }
            Ok(())
        })?;
        for upload in projections.uploads_in(&name)? {
            if let Some(seal) = projections.upload_seal(&name, &upload.key, &upload.upload_id)? {
                add(&upload.key, RewrapTarget::Upload(upload.upload_id.clone()), &seal);
            }
        }
    }
    // Access keys' secrets are sealed by the master key too.
    for record in projections.access_keys()? {
        match keyring.reseal_secret(&record.access_key_id, &record.secret) {
            Ok(Some(secret)) => commands.push(CommandBody::RewrapAccessKey {
                access_key_id: record.access_key_id.clone(),
                from: record.secret.clone(),
                secret,
            }),
            Ok(None) => {}
            Err(e) => {
                failures += 1;
                tracing::error!(access_key_id = record.access_key_id, error = %e, "master key rotation: cannot re-seal");
            }
        }
    }
    // So is the material of the KMS keys.
    for record in projections.kms_keys()? {
        match keyring.reseal_kms(&record.key_id, &record.material) {
            Ok(Some(material)) => commands.push(CommandBody::RewrapKmsKey {
                key_id: record.key_id.clone(),
                from: record.material.clone(),
                material,
            }),
            Ok(None) => {}
            Err(e) => {
                failures += 1;
                tracing::error!(kms_key = record.key_id, error = %e, "master key rotation: cannot re-seal a KMS key");
            }
        }
    }
    Ok((commands, failures))
}
