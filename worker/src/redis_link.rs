//! The Redis connection, established lazily: a worker starts (and keeps deciding and
//! committing) while Redis is down; writes queue up in each shard's cache writer and go
//! out once Redis answers. After the first connection, `ConnectionManager` reconnects
//! by itself.

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisResult;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// A cloneable handle to the (eventual) Redis connection.
#[derive(Clone)]
pub(crate) struct RedisLink {
    client: redis::Client,
    config: ConnectionManagerConfig,
    connection: Arc<OnceCell<ConnectionManager>>,
}

impl RedisLink {
    /// Parses `url`; connects on first use. `timeout` bounds each command.
    ///
    /// # Errors
    /// A malformed URL.
    pub(crate) fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("Failed to parse ANTEROOM_REDIS_URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(timeout)
            // One attempt per use: the cache writer retries every second by itself, and
            // a hot path must not sleep in a reconnect backoff.
            .set_number_of_retries(0);
        Ok(Self {
            client,
            config,
            connection: Arc::new(OnceCell::new()),
        })
    }

    /// The connection, connecting first if this is the first use (concurrent callers
    /// wait for the same attempt).
    ///
    /// # Errors
    /// Redis unreachable.
    pub(crate) async fn get(&self) -> RedisResult<ConnectionManager> {
        self.connection
            .get_or_try_init(|| {
                ConnectionManager::new_with_config(self.client.clone(), self.config.clone())
            })
            .await
            .cloned()
    }
}

/// Deletes every key of `namespace` (`SCAN MATCH {namespace}:*` + `UNLINK`, 1,000 keys a
/// batch): tearing down a namespace made for a test or a benchmark run. Keys written
/// meanwhile may survive.
///
/// # Errors
/// The first Redis error.
pub async fn delete_namespace(
    conn: &mut redis::aio::MultiplexedConnection,
    namespace: &str,
) -> RedisResult<()> {
    let pattern = format!("{namespace}:*");
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("UNLINK")
                .arg(&keys)
                .query_async::<()>(conn)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}
