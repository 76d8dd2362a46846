//! Retention of webhook rows on the shards a worker owns: deliveries that ended
//! (`delivered` or `failed`) more than `retention_secs` ago, then messages older than
//! that which no delivery refers to any more, in small batches so a long backlog never
//! holds a big transaction. Pending deliveries and their messages are never deleted;
//! per-event sequences are kept (one small row per event).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Most rows one statement deletes.
const BATCH: i64 = 1000;

/// Deletes what is past `cutoff` on `shards`; returns the rows deleted.
///
/// # Errors
/// PostgreSQL unavailable (retried at the next interval).
pub(crate) async fn prune(
    pool: &PgPool,
    shards: &[i32],
    cutoff: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let done = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE id IN (
                 SELECT id FROM webhook_deliveries
                 WHERE state <> 'pending' AND updated_at < $2 AND shard = ANY($1)
                 LIMIT $3)",
        )
        .bind(shards)
        .bind(cutoff)
        .bind(BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        total += done;
        if done < BATCH as u64 {
            break;
        }
    }
    loop {
        let done = sqlx::query(
            "DELETE FROM webhook_outbox WHERE id IN (
                 SELECT m.id FROM webhook_outbox m
                 WHERE m.created_at < $2 AND m.shard = ANY($1)
                   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id)
                 LIMIT $3)",
        )
        .bind(shards)
        .bind(cutoff)
        .bind(BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        total += done;
        if done < BATCH as u64 {
            break;
        }
    }
    Ok(total)
}
