//! The s3s access hook: refuses anonymous requests (Rucket has no public buckets yet)
//! and tells the metrics layer which S3 operation a request was.

use std::sync::{Arc, Mutex};

use s3s::access::{S3Access, S3AccessContext};
use s3s::{s3_error, S3Result};

/// Filled with the operation name by [`Access::check`]; read back by the metrics layer.
#[derive(Clone, Default)]
pub struct OperationSlot(pub Arc<Mutex<Option<String>>>);

pub struct Access;

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let name = cx.s3_op().name().to_owned();
        if let Some(slot) = cx.extensions_mut().get::<OperationSlot>() {
            if let Ok(mut guard) = slot.0.lock() {
                *guard = Some(name);
            }
        }
        match cx.credentials() {
            Some(_) => Ok(()),
            None => Err(s3_error!(AccessDenied, "Anonymous access is not allowed; sign the request")),
        }
    }
}
