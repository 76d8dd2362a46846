//! The retention prune: every `prune_interval_secs`, delete request results and
//! finished (released or expired) holds older than `retention_secs`, so PostgreSQL stays
//! the size of the retention window at a steady load instead of growing for ever.
//!
//! By age, not by shard ownership: a row past the retention window has no reader left,
//! whoever owns its event. Replays are answered from `request_results`, but a command is
//! redelivered only while its delivery is unacked, i.e. until its shard's next owner
//! takes over (seconds to minutes), far inside the window; idempotency keys and finished
//! holds are asked about only with a pass, and a pass lives at most a day (the engine's
//! rebuild loads finished holds of the last 25 hours, keys of the last 7 days). Confirmed
//! and held holds, orders and claims are never pruned (see `repo/prune.rs`).
//!
//! Batches of [`BATCH`] rows with a pause between them keep each statement's locks and
//! WAL short, so group commits never queue behind the prune; it runs beside the shard
//! consumers, never inside a batch.

use crate::repo::Repository;
use chrono::Utc;
use std::future::Future;
use std::time::Duration;
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Rows deleted per statement.
const BATCH: i64 = 1_000;
/// Pause between two statements of one round (at most ~10,000 rows per second and table).
const PAUSE: Duration = Duration::from_millis(100);
/// Longest wait for one statement; a slow database is tried again next round.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the prune until `shutdown`: a round every `every`, deleting rows older than
/// `retention`.
pub(crate) async fn run(
    repo: Repository,
    retention: Duration,
    every: Duration,
    shutdown: CancellationToken,
) {
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    let mut tick = interval_at(Instant::now() + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let before = Utc::now() - retention;
        let results = drain("request_results", &shutdown, |limit| {
            repo.prune_results(before, limit)
        })
        .await;
        let holds = drain("holds", &shutdown, |limit| {
            repo.prune_finished_holds(before, limit)
        })
        .await;
        if results + holds > 0 {
            tracing::info!(results, holds, %before, "pruned rows past the retention period");
        }
    }
}

/// Runs `prune` in batches until one deletes less than a full batch, it fails, or
/// `shutdown`; returns the rows deleted.
async fn drain<F, Fut>(table: &'static str, shutdown: &CancellationToken, prune: F) -> u64
where
    F: Fn(i64) -> Fut,
    Fut: Future<Output = Result<u64, sqlx::Error>>,
{
    let mut total = 0;
    loop {
        let deleted = tokio::select! {
            _ = shutdown.cancelled() => return total,
            r = tokio::time::timeout(STATEMENT_TIMEOUT, prune(BATCH)) => r,
        };
        match deleted {
            Ok(Ok(n)) => {
                total += n;
                if n < BATCH as u64 {
                    return total;
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(table, error = %e, "prune failed; trying again next round");
                return total;
            }
            Err(_) => {
                tracing::warn!(table, "prune timed out; trying again next round");
                return total;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return total,
            _ = tokio::time::sleep(PAUSE) => {}
        }
    }
}
