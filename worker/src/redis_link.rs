//! The Redis connection, established lazily: a worker starts (and keeps deciding and
//! committing) while Redis is down; writes queue up in each shard's cache writer and go
//! out once Redis answers. After the first connection, the connection reconnects by
//! itself (a `ConnectionManager` to one node, or a cluster connection that follows a
//! failover to the promoted replica, `runtime::redis`).

use anyhow::Context;
use redis::aio::ConnectionManagerConfig;
use redis::RedisResult;
use runtime::redis::{ConnectOptions, RedisConn, RedisConnector, RedisSettings};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// A cloneable handle to the (eventual) Redis connection.
#[derive(Clone)]
pub(crate) struct RedisLink {
    connector: RedisConnector,
    connection: Arc<OnceCell<RedisConn>>,
}

impl RedisLink {
    /// Builds the connector of `settings`; connects on first use. `timeout` bounds each
    /// command.
    ///
    /// # Errors
    /// A malformed URL or unusable CA certificates.
    pub(crate) fn new(settings: &RedisSettings, timeout: Duration) -> anyhow::Result<Self> {
        let mut options = ConnectOptions::new(Duration::from_secs(2), timeout);
        // One attempt per use: the cache writer retries every second by itself, and a
        // hot path must not sleep in a reconnect backoff.
        options.manager = ConnectionManagerConfig::new().set_number_of_retries(0);
        let connector = RedisConnector::new(settings, options)
            .context("Failed to use ANTEROOM_REDIS_URL / ANTEROOM_REDIS_CA_FILE")?;
        Ok(Self {
            connector,
            connection: Arc::new(OnceCell::new()),
        })
    }

    /// The connection, connecting first if this is the first use (concurrent callers
    /// wait for the same attempt).
    ///
    /// # Errors
    /// Redis unreachable.
    pub(crate) async fn get(&self) -> RedisResult<RedisConn> {
        self.connection
            .get_or_try_init(|| self.connector.connect())
            .await
            .cloned()
    }
}

/// Deletes every key of `namespace` (`SCAN MATCH {namespace}:*` + `UNLINK`, 1,000 keys a
/// batch, on every primary of a cluster): tearing down a namespace made for a test or a
/// benchmark run. Keys written meanwhile may survive.
///
/// # Errors
/// The first Redis error.
pub async fn delete_namespace(conn: &mut RedisConn, namespace: &str) -> RedisResult<()> {
    let pattern = format!("{namespace}:*");
    conn.scan_match(&pattern, 1000, |mut c, keys| async move {
        // On a cluster the client splits a multi-key UNLINK per slot.
        redis::cmd("UNLINK")
            .arg(&keys)
            .query_async::<()>(&mut c)
            .await
    })
    .await
}
