//! What a slow, hostile or unlucky client may hold: how long a body may stall, how long a
//! request head may take, how many connections are open and how many uploads stream at
//! once (in all and per access key). Past a cap a request is refused at once with 503
//! SlowDown, never queued; every refusal is counted by reason.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A request body that sends nothing for this long is aborted (`None`: never).
    pub body_timeout: Option<Duration>,
    /// A request head (line and headers) must arrive within this long; it also closes
    /// keep-alive connections idle for as long.
    pub header_timeout: Duration,
    /// Connections open at once; past it a new connection is answered 503 and closed.
    pub max_connections: usize,
    /// Request bodies streaming into the blob store at once.
    pub max_uploads: usize,
    /// Of those, how many one access key (or the anonymous user) may hold.
    pub max_uploads_per_key: usize,
    /// Free bytes kept on the log and blob volumes: below it new writes get 507.
    pub disk_reserve: u64,
}

/// Descriptors kept aside from connections: the log's tables (at most
/// `rucket_log::LOG_OPEN_FILES`) and journals, refusals being answered, blob files being
/// read, the cluster's connections, the process's own.
const FILES_KEPT: u64 = rucket_log::LOG_OPEN_FILES as u64 + 256;

impl Limits {
    /// Lowers the connection and upload caps to fit in `open_files` descriptors: each
    /// connection is one, and an upload holds a blob file besides its connection. Past
    /// the cap a client gets 503 SlowDown at once; past the descriptors it would get
    /// nothing, and the log could not open a file.
    pub fn fit_file_limit(mut self, open_files: u64) -> Self {
        let usable = open_files.saturating_sub(FILES_KEPT).max(64);
        let connections = usize::try_from(usable / 2).unwrap_or(usize::MAX);
        self.max_connections = self.max_connections.min(connections);
        self.max_uploads = self.max_uploads.min(connections);
        self.max_uploads_per_key = self.max_uploads_per_key.min(self.max_uploads);
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_timeout: Some(Duration::from_secs(60)),
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_uploads: 1024,
            max_uploads_per_key: 256,
            disk_reserve: 256 << 20,
        }
    }
}

/// The upload slots: one permit of the total and one of the key's per streaming body.
pub struct Uploads {
    total: Arc<Semaphore>,
    per_key: Mutex<HashMap<String, Arc<Semaphore>>>,
    limits: Limits,
}

/// Why a request was refused for load; the metrics label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saturated {
    Uploads,
    KeyUploads,
}

impl Saturated {
    pub fn as_str(self) -> &'static str {
        match self {
            Saturated::Uploads => "uploads",
            Saturated::KeyUploads => "key_uploads",
        }
    }
}

/// Held while a body streams; gives both slots back on drop.
pub struct UploadSlot {
    _total: OwnedSemaphorePermit,
    _key: OwnedSemaphorePermit,
    counted: Arc<Semaphore>,
    max: usize,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        // This slot's permit goes back right after this runs.
        let in_flight = self.max - self.counted.available_permits() - 1;
        metrics::gauge!(crate::metrics::UPLOADS_IN_FLIGHT).set(in_flight as f64);
    }
}

impl Uploads {
    pub fn new(limits: Limits) -> Self {
        Self { total: Arc::new(Semaphore::new(limits.max_uploads)), per_key: Mutex::default(), limits }
    }

    /// A slot for one more body from `key`, or why there is none.
    pub fn try_acquire(&self, key: &str) -> Result<UploadSlot, Saturated> {
        let key_permit = {
            let mut per_key = self.per_key.lock().unwrap_or_else(|e| e.into_inner());
            // Forget keys with no upload in flight, so the map does not grow without end;
            // the permit is taken under the same lock, so a key is never forgotten while
            // it is being counted.
            per_key.retain(|_, s| s.available_permits() < self.limits.max_uploads_per_key);
            let slots = per_key
                .entry(key.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.limits.max_uploads_per_key)));
            Arc::clone(slots).try_acquire_owned().map_err(|_| Saturated::KeyUploads)?
        };
        let total = Arc::clone(&self.total).try_acquire_owned().map_err(|_| Saturated::Uploads)?;
        metrics::gauge!(crate::metrics::UPLOADS_IN_FLIGHT).set(self.in_flight() as f64);
        Ok(UploadSlot {
            _total: total,
            _key: key_permit,
            counted: Arc::clone(&self.total),
            max: self.limits.max_uploads,
        })
    }

    pub fn in_flight(&self) -> usize {
        self.limits.max_uploads - self.total.available_permits()
    }

    /// Whether every upload slot is taken (the node is saturated).
    pub fn saturated(&self) -> bool {
        self.total.available_permits() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_fit_the_open_file_limit() {
        let fitted = Limits::default().fit_file_limit(1024);
        assert_eq!((fitted.max_connections, fitted.max_uploads, fitted.max_uploads_per_key), (256, 256, 256));
        let roomy = Limits::default().fit_file_limit(1 << 20);
        assert_eq!((roomy.max_connections, roomy.max_uploads), (4096, 1024));
        let tiny = Limits::default().fit_file_limit(100);
        assert_eq!((tiny.max_connections, tiny.max_uploads, tiny.max_uploads_per_key), (32, 32, 32));
        assert_eq!(Limits::default().fit_file_limit(u64::MAX).max_connections, 4096);
    }

    #[test]
    fn uploads_are_capped_in_all_and_per_key_and_given_back() {
        let uploads = Uploads::new(Limits { max_uploads: 3, max_uploads_per_key: 2, ..Limits::default() });
        let a1 = uploads.try_acquire("A").unwrap();
        let _a2 = uploads.try_acquire("A").unwrap();
        assert_eq!(uploads.try_acquire("A").err(), Some(Saturated::KeyUploads));
        let _b1 = uploads.try_acquire("B").unwrap();
        assert!(uploads.saturated());
        assert_eq!(uploads.try_acquire("C").err(), Some(Saturated::Uploads));
        drop(a1);
        assert_eq!(uploads.in_flight(), 2);
        assert!(uploads.try_acquire("C").is_ok());
    }
}
