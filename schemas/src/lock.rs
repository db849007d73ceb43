//! Object Lock: the retention and legal hold a version carries, the bucket default, and
//! the pure rules that decide, from a command's HLC time, what they forbid.
//!
//! Times are Unix milliseconds. Whether a version is locked is always decided against
//! the stamp of the command being applied, never against a clock, so a replay reaches
//! the same decisions.

use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;

/// How strictly a retention holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub enum LockMode {
    /// Holds unless the caller may bypass governance retention and asks to.
    Governance,
    /// Holds for everyone until the date; may only be extended.
    Compliance,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Governance => "GOVERNANCE",
            Self::Compliance => "COMPLIANCE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "GOVERNANCE" => Some(Self::Governance),
            "COMPLIANCE" => Some(Self::Compliance),
            _ => None,
        }
    }
}

/// A version's retention: no deletion before `retain_until_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct Retention {
    pub mode: LockMode,
    pub retain_until_ms: i64,
}

/// The lock state of one object version.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
pub struct ObjectLock {
    pub retention: Option<Retention>,
    pub legal_hold: bool,
}

impl ObjectLock {
    pub fn is_empty(&self) -> bool {
        self.retention.is_none() && !self.legal_hold
    }

    /// The retention still in force at `now_ms`.
    pub fn active_retention(&self, now_ms: i64) -> Option<Retention> {
        self.retention.filter(|r| r.retain_until_ms > now_ms)
    }

    /// Whether removing the version at `now_ms` is refused. `bypass` is a GOVERNANCE
    /// bypass by a caller allowed to make it; nothing bypasses COMPLIANCE or a legal hold.
    pub fn forbids_delete(&self, now_ms: i64, bypass: bool) -> bool {
        self.legal_hold
            || self.active_retention(now_ms).is_some_and(|r| r.mode == LockMode::Compliance || !bypass)
    }

    /// Whether the retention may become `new` at `now_ms`: an expired or absent one may
    /// change freely; one in force may only be extended (a later or equal date in the same
    /// mode) unless it is GOVERNANCE and bypassed. As in S3, turning GOVERNANCE into
    /// COMPLIANCE is a change of mode that needs the bypass too.
    pub fn allows_retention(&self, new: Option<&Retention>, now_ms: i64, bypass: bool) -> bool {
        let Some(old) = self.active_retention(now_ms) else { return true };
        let tightens = new.is_some_and(|n| n.retain_until_ms >= old.retain_until_ms && n.mode == old.mode);
        tightens || (old.mode == LockMode::Governance && bypass)
    }

    /// Whole days of retention left at `now_ms` (for `s3:object-lock-remaining-retention-days`).
    pub fn remaining_days(&self, now_ms: i64) -> i64 {
        self.active_retention(now_ms).map_or(0, |r| (r.retain_until_ms - now_ms) / DAY_MS)
    }
}

/// A bucket's default retention: a mode plus a period in days or (365-day) years.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
pub struct DefaultRetention {
    pub mode: LockMode,
    pub days: Option<u32>,
    pub years: Option<u32>,
}

impl DefaultRetention {
    /// The retention a version created at `created_ms` gets.
    pub fn apply(&self, created_ms: i64) -> Retention {
        let days = i64::from(self.days.unwrap_or(0)) + 365 * i64::from(self.years.unwrap_or(0));
        Retention { mode: self.mode, retain_until_ms: created_ms.saturating_add(days.saturating_mul(DAY_MS)) }
    }
}

/// A bucket's Object Lock configuration (`ObjectLockEnabled` is implied: it exists only
/// on buckets with Object Lock on).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
pub struct ObjectLockConfig {
    pub default_retention: Option<DefaultRetention>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(mode: LockMode, until: i64, legal_hold: bool) -> ObjectLock {
        ObjectLock { retention: Some(Retention { mode, retain_until_ms: until }), legal_hold }
    }

    #[test]
    fn deletes_are_decided_by_the_stamp() {
        let gov = lock(LockMode::Governance, 1_000, false);
        assert!(gov.forbids_delete(999, false));
        assert!(!gov.forbids_delete(999, true), "governance yields to a bypass");
        assert!(!gov.forbids_delete(1_000, false), "expired at the date");
        let comp = lock(LockMode::Compliance, 1_000, false);
        assert!(comp.forbids_delete(999, true), "compliance yields to nobody");
        let held = ObjectLock { retention: None, legal_hold: true };
        assert!(held.forbids_delete(5_000, true), "a legal hold yields to nobody");
        assert!(!ObjectLock::default().forbids_delete(0, false));
    }

    #[test]
    fn retention_only_tightens_unless_governance_is_bypassed() {
        let r = |mode, until| Retention { mode, retain_until_ms: until };
        let comp = lock(LockMode::Compliance, 1_000, false);
        assert!(comp.allows_retention(Some(&r(LockMode::Compliance, 2_000)), 10, false));
        assert!(!comp.allows_retention(Some(&r(LockMode::Compliance, 900)), 10, true), "no shortening");
        assert!(!comp.allows_retention(Some(&r(LockMode::Governance, 2_000)), 10, true), "no relaxing");
        assert!(!comp.allows_retention(None, 10, true), "no removal");
        assert!(comp.allows_retention(None, 1_000, false), "anything once expired");
        let gov = lock(LockMode::Governance, 1_000, false);
        assert!(gov.allows_retention(Some(&r(LockMode::Governance, 2_000)), 10, false), "may extend");
        assert!(
            !gov.allows_retention(Some(&r(LockMode::Compliance, 2_000)), 10, false),
            "a mode change needs the bypass"
        );
        assert!(gov.allows_retention(Some(&r(LockMode::Compliance, 2_000)), 10, true));
        assert!(!gov.allows_retention(Some(&r(LockMode::Governance, 500)), 10, false));
        assert!(gov.allows_retention(Some(&r(LockMode::Governance, 500)), 10, true));
        assert!(gov.allows_retention(None, 10, true));
    }

    #[test]
    fn defaults_count_days_and_years() {
        let d = DefaultRetention { mode: LockMode::Governance, days: Some(2), years: None };
        assert_eq!(d.apply(1_000).retain_until_ms, 1_000 + 2 * DAY_MS);
        let y = DefaultRetention { mode: LockMode::Compliance, days: None, years: Some(1) };
        assert_eq!(y.apply(0), Retention { mode: LockMode::Compliance, retain_until_ms: 365 * DAY_MS });
        assert_eq!(lock(LockMode::Governance, 3 * DAY_MS + 5, false).remaining_days(0), 3);
    }
}
