//! Fencing epochs (docs/ARCHITECTURE.md): taking over a shard bumps its epoch, and every
//! batch transaction checks that the epoch is still the one it took over with.

use super::Repository;
use tracing::instrument;

impl Repository {
    /// Takes over `shard` for `owner`: increments its epoch (creating it at 1) and returns
    /// the new value, the fencing epoch of this session.
    ///
    /// # Errors
    /// PostgreSQL unreachable.
    #[instrument(skip_all, fields(shard = shard, owner = owner))]
    pub async fn take_over(&self, shard: u16, owner: &str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "INSERT INTO shard_epochs (shard, epoch, owner, taken_at) VALUES ($1, 1, $2, now())
             ON CONFLICT (shard) DO UPDATE
                SET epoch = shard_epochs.epoch + 1, owner = EXCLUDED.owner, taken_at = now()
             RETURNING epoch",
        )
        .bind(i32::from(shard))
        .bind(owner)
        .fetch_one(self.pool())
        .await
    }

    /// The current epoch of `shard` (`None` if nobody ever took it over).
    ///
    /// # Errors
    /// PostgreSQL unreachable.
    #[instrument(skip_all, fields(shard = shard))]
    pub async fn current_epoch(&self, shard: u16) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar("SELECT epoch FROM shard_epochs WHERE shard = $1")
            .bind(i32::from(shard))
            .fetch_optional(self.pool())
            .await
    }
}
