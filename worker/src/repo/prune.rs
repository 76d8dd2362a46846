//! Deleting what no reader needs any more: request results and finished (released or
//! expired) holds older than the retention period, by age, a small batch per statement.
//!
//! Never touched: held holds (their seats are claimed), confirmed holds, orders, claims
//! and seats; the engine's rebuild and `deploy/verify.sql` read only those and recent
//! rows. A finished hold has no claim left (the transaction that ends a hold deletes its
//! claims), so deleting it leaves no claim behind. `SKIP LOCKED`: two workers pruning
//! at once share the work instead of waiting for each other.

use super::Repository;
use chrono::{DateTime, Utc};
use tracing::instrument;

impl Repository {
    /// Deletes at most `limit` rows of `request_results` created before `before`;
    /// returns how many.
    ///
    /// # Errors
    /// PostgreSQL unreachable.
    #[instrument(skip_all)]
    pub async fn prune_results(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM request_results WHERE request_id IN (
                 SELECT request_id FROM request_results WHERE created_at < $1
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before)
        .bind(limit)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes at most `limit` released or expired holds last changed before `before`;
    /// returns how many.
    ///
    /// # Errors
    /// PostgreSQL unreachable.
    #[instrument(skip_all)]
    pub async fn prune_finished_holds(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM holds WHERE id IN (
                 SELECT id FROM holds
                 WHERE state IN ('released', 'expired') AND updated_at < $1
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before)
        .bind(limit)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
