//! Whole-view comparison and digests, for replay verification.

use std::cmp::Ordering;

use fjall::Keyspace;
use sha2::Digest as _;

use crate::{ProjectionError, Projections};

/// One view's content summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewDigest {
    pub view: &'static str,
    pub records: u64,
    /// SHA-256 over every (key, value) in key order, hex.
    pub sha256: String,
}

/// How a record differs between two projections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffKind {
    OnlyInLeft,
    OnlyInRight,
    Differs,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewDiff {
    pub view: &'static str,
    /// The record named for a person: `bucket`, `bucket/key` or `bucket/key@version`.
    pub record: String,
    pub kind: DiffKind,
}

impl Projections {
    fn views(&self) -> [(&'static str, &Keyspace); 6] {
        [
            ("buckets", &self.buckets),
            ("objects", &self.objects),
            ("versions", &self.versions),
            ("uploads", &self.uploads),
            ("parts", &self.parts),
            ("meta", &self.meta),
        ]
    }

    /// A digest per view.
    pub fn digests(&self) -> Result<Vec<ViewDigest>, ProjectionError> {
        let mut out = Vec::new();
        for (view, keyspace) in self.views() {
            let mut hasher = sha2::Sha256::new();
            let mut records = 0u64;
            for g in keyspace.iter() {
                let (k, v) = g.into_inner()?;
                hasher.update((k.len() as u64).to_le_bytes());
                hasher.update(&k);
                hasher.update((v.len() as u64).to_le_bytes());
                hasher.update(&v);
                records += 1;
            }
            out.push(ViewDigest { view, records, sha256: hex::encode(hasher.finalize()) });
        }
        Ok(out)
    }

    /// Up to `limit` differences between `self` (left) and `other` (right), view by view
    /// in key order.
    pub fn diff(&self, other: &Projections, limit: usize) -> Result<Vec<ViewDiff>, ProjectionError> {
        let mut out = Vec::new();
        for ((view, left), (_, right)) in self.views().into_iter().zip(other.views()) {
            let mut l = left.iter();
            let mut r = right.iter();
            let mut a = l.next().map(|g| g.into_inner()).transpose()?;
            let mut b = r.next().map(|g| g.into_inner()).transpose()?;
            while out.len() < limit {
                let kind = match (&a, &b) {
                    (None, None) => break,
                    (Some(_), None) => DiffKind::OnlyInLeft,
                    (None, Some(_)) => DiffKind::OnlyInRight,
                    (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                        Ordering::Less => DiffKind::OnlyInLeft,
                        Ordering::Greater => DiffKind::OnlyInRight,
                        Ordering::Equal if va == vb => {
                            a = l.next().map(|g| g.into_inner()).transpose()?;
                            b = r.next().map(|g| g.into_inner()).transpose()?;
                            continue;
                        }
                        Ordering::Equal => DiffKind::Differs,
                    },
                };
                let key = match kind {
                    DiffKind::OnlyInRight => b.as_ref().map(|(k, _)| k.to_vec()),
                    _ => a.as_ref().map(|(k, _)| k.to_vec()),
                }
                .unwrap_or_default();
                out.push(ViewDiff { view, record: describe(view, &key), kind: kind.clone() });
                if kind != DiffKind::OnlyInRight {
                    a = l.next().map(|g| g.into_inner()).transpose()?;
                }
                if kind != DiffKind::OnlyInLeft {
                    b = r.next().map(|g| g.into_inner()).transpose()?;
                }
            }
        }
        Ok(out)
    }
}

/// Names a record by its key layout (see `keys.rs`).
fn describe(view: &str, key: &[u8]) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match view {
        "objects" => text(key).replacen('\0', "/", 1),
        "uploads" | "parts" => text(key).replace('\0', "/"),
        "versions" if key.len() > 16 => {
            let (name, stamp) = key.split_at(key.len() - 16);
            let name = name.strip_suffix(&[0]).unwrap_or(name);
            let time = u64::MAX - u64::from_be_bytes(stamp[..8].try_into().unwrap_or_default());
            format!("{}@hlc:{time:x}", text(name).replacen('\0', "/", 1))
        }
        _ => text(key),
    }
}
