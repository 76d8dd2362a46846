//! Takeover repair of the Redis mirror: the previous owner of the shard may have died
//! between a commit and its Redis writes (or with writes queued while Redis was down).
//! Configs and availability are rewritten by the takeover's refresh; this rewrites the
//! documents of holds that changed in the last [`REPAIR_WINDOW`] (what
//! `GET /v1/holds/{id}` answers) and takes used passes out of `active(E)`. Request
//! documents need no repair here: their commands were not acked, so they come back
//! redelivered and their stored results are written again.

use super::session::Active;
use chrono::Utc;
use std::time::Duration;

/// How far back hold documents are rewritten. A crash leaves at most the writes of its
/// last batches, plus those queued while Redis was failing, unwritten.
pub(crate) const REPAIR_WINDOW: Duration = Duration::from_secs(600);
/// Holds per Redis pipeline.
const CHUNK: usize = 1_000;

impl Active {
    /// Rewrites the Redis documents of the holds that changed lately (best effort: a
    /// PostgreSQL error is logged and the session goes on).
    pub(super) async fn repair_redis(&mut self) {
        let since = Utc::now() - REPAIR_WINDOW;
        let holds = match self.ctx.repo.holds_changed_since(self.shard, since).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "could not read recent holds to repair Redis");
                return;
            }
        };
        if holds.is_empty() {
            return;
        }
        tracing::info!(
            holds = holds.len(),
            "rewriting recent hold documents in Redis"
        );
        for pipe in self.cache.holds(&holds, CHUNK) {
            self.finisher.write(pipe).await;
        }
    }
}
