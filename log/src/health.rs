//! Whether this node can still make writes durable. A failed fsync leaves the kernel's
//! page cache in an unknown state (the failed pages may be dropped and a later fsync may
//! succeed without them), so once one fails the node stops acknowledging writes until it
//! is restarted: it turns not-ready, every proposal is refused with
//! [`crate::ProposeError::NotDurable`], and the reason is logged once and kept for the
//! health endpoint and metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

#[derive(Default)]
pub struct Durability {
    failure: OnceLock<String>,
    failures: AtomicU64,
    /// Wakes the node's watcher once, at the first failure (see [`Self::failed`]).
    first_failure: tokio::sync::Notify,
}

impl Durability {
    /// Records a failed fsync (`what` says which); the first reason is kept.
    pub fn record_failure(&self, what: &str, error: &dyn std::fmt::Display) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let reason = format!("{what} failed: {error}");
        if self.failure.set(reason.clone()).is_ok() {
            tracing::error!(reason, "a write could not be made durable; refusing writes until restart");
            self.first_failure.notify_one();
        }
    }

    /// Returns once a failure is recorded (at once if one is). For one waiter: the node.
    pub async fn failed(&self) {
        if self.failure.get().is_none() {
            self.first_failure.notified().await;
        }
    }

    /// Why writes are refused, if they are.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// Failed fsyncs since the node started.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}
