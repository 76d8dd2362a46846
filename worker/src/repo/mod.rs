//! The repository: everything the worker reads from and writes to PostgreSQL.
//!
//! - [`Repository::take_over`]: bump a shard's fencing epoch;
//! - [`Repository::load_shard`]: rebuild a shard's engine from its rows;
//! - [`Repository::commit`]: one batch's effects in one transaction, fenced by epoch;
//! - [`Repository::stored_results`]: decided outcomes of (redelivered) requests;
//! - [`Repository::oversold_by_shard`]: the oversold audit (`anteroom_seats_oversold`);
//! - [`Repository::holds_changed_since`]: holds whose Redis documents a new owner rewrites;
//! - [`classify`]: whether a failed call is worth retrying (transient) or not (permanent).
//!
//! All writes are bulk `UNNEST` statements (no statement per row), so a group commit of
//! hundreds of commands costs a handful of round trips.

mod audit;
pub mod classify;
mod epoch;
mod load;
mod plan;
mod prune;
mod recent;
mod results;
mod write;

pub(crate) use plan::WritePlan;
pub use results::outcome_from_stored;
pub use write::CommitError;
pub use write::Link;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

/// Embedded migrations (`migrations/` at the workspace root).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Handle to PostgreSQL (cheap to clone: a pool).
#[derive(Debug, Clone)]
pub struct Repository {
    pool: PgPool,
}

impl Repository {
    /// Connects a pool to `settings.database_url`. Acquiring a connection gives up after
    /// 3 s, so a PostgreSQL outage surfaces as an error the caller retries, not a hang.
    ///
    /// # Errors
    /// A malformed URL, or PostgreSQL unreachable.
    pub async fn connect(settings: &crate::Settings) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(settings.database_url.expose_secret())
            .context("Failed to parse ANTEROOM_DATABASE_URL")?
            .application_name("anteroom-worker");
        let pool = PgPoolOptions::new()
            .max_connections(settings.database_max_connections)
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await
            .context("Failed to connect to PostgreSQL")?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool (readiness checks, tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations.
    ///
    /// # Errors
    /// A failed or modified migration.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .context("Failed to run database migrations")
    }

    /// Persists a batch's `effects` (decided at `now`, in decision order) for `shard` in
    /// one transaction, if `epoch` is still the shard's fencing epoch: the group commit,
    /// for callers outside the shard loop (tools, tests).
    ///
    /// # Errors
    /// [`CommitError::Fenced`] if another owner took the shard over since `epoch` (then
    /// nothing is written); [`CommitError::Transient`] or [`CommitError::Permanent`] if
    /// PostgreSQL failed.
    pub async fn commit_effects(
        &self,
        shard: u16,
        epoch: i64,
        effects: &[crate::engine::Effect],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), CommitError> {
        let plan = WritePlan::new(effects, now);
        if plan.is_empty() {
            return Ok(());
        }
        self.commit(shard, epoch, &plan).await
    }

    /// [`Repository::commit_effects`] in the place `link` gives it among the shard's
    /// commits (see [`Link`]): with `link.after`, the rows are written at once and the
    /// transaction commits only after that one, and only if it committed.
    ///
    /// # Errors
    /// As [`Repository::commit_effects`], and [`CommitError::Unordered`] if the
    /// transaction it was linked after did not commit.
    pub async fn commit_effects_linked(
        &self,
        shard: u16,
        epoch: i64,
        effects: &[crate::engine::Effect],
        now: chrono::DateTime<chrono::Utc>,
        link: Link,
    ) -> Result<(), CommitError> {
        self.commit_linked(shard, epoch, &WritePlan::new(effects, now), link)
            .await
    }

    /// `SELECT 1`, for `/readyz`.
    ///
    /// # Errors
    /// PostgreSQL unreachable.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }
}
