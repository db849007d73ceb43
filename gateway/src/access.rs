//! The s3s access hook: tells the metrics layer which S3 operation a request was.
//! Access itself is decided by the handlers: unsigned requests reach only the operations
//! that check ACLs (GET, HEAD, listings, PUT and DELETE of objects, the ACL APIs), and
//! get only what grants to everyone allow; every other operation requires a signature.

use std::sync::{Arc, Mutex};

use s3s::access::{S3Access, S3AccessContext};
use s3s::S3Result;

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
        Ok(())
    }
}
