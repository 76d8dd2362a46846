//! The back office's PostgreSQL pool: API keys, webhook endpoints and deliveries, order
//! lists and exports.
//!
//! Fans never reach it: joins, polls, holds and confirms go through Redis and the
//! broker, so adding gateway replicas for a spike costs PostgreSQL nothing but this
//! small pool (`database_max_connections`, default 4), which connects on first use.
//! Seat decisions stay with the worker shards: the back office writes only rows no
//! shard owns (API keys, webhook endpoints, a redelivery request) and reads the rest.

use crate::settings::Settings;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// Longest wait for a pooled connection before the request answers `503`.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a back-office call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackOfficeError {
    /// PostgreSQL is not reachable or did not answer in time: `503` with `Retry-After`.
    #[error("PostgreSQL unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
}

impl From<sqlx::Error> for BackOfficeError {
    fn from(e: sqlx::Error) -> Self {
        BackOfficeError::Unavailable(e)
    }
}

/// Handle to the back-office pool (cheap to clone).
#[derive(Clone, Debug)]
pub struct BackOffice {
    pool: PgPool,
}

impl BackOffice {
    /// A pool on `settings.database_url`; connects nothing until first used.
    ///
    /// # Errors
    /// An unparseable `database_url`.
    pub fn new(settings: &Settings) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(settings.database_max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy(settings.database_url.expose_secret())?;
        Ok(Self { pool })
    }

    /// The pool, for the back office's queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
