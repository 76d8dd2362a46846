//! Redis adapter: a lazily connected, self-healing connection where every call is
//! bounded in time.
//!
//! Why: the gateway must start while Redis is down and recover without a restart
//! (`docs/ARCHITECTURE.md`). [`RedisStore::run_connector`] creates the connection (a
//! `ConnectionManager` to one node, or a cluster connection, [`RedisConn`]) in the
//! background with backoff; once it exists it reconnects by itself (a cluster
//! connection also follows a failover to the promoted replica). Until then, and whenever a call exceeds `redis_timeout_ms`,
//! callers get [`StoreError::Unavailable`] (which the HTTP edge answers with `503` and
//! `Retry-After`): a request never hangs.

use redis::aio::ConnectionManagerConfig;
use redis::{FromRedisValue, RedisResult};
use runtime::redis::{ConnectOptions, RedisConn, RedisConnector, RedisSettings};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Why a Redis call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not connected, the call exceeded `redis_timeout_ms`, or the connection failed:
    /// retrying later may succeed. The string is the cause, for logs only.
    #[error("Redis unavailable: {0}")]
    Unavailable(String),
    /// A Redis error that is not about connectivity (a script bug, a wrong type), or a
    /// stored value or script answer that does not parse: a bug or a version mismatch.
    #[error("{0:#}")]
    Internal(#[from] anyhow::Error),
}

impl StoreError {
    /// [`StoreError::Unavailable`] with `cause`.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        StoreError::Unavailable(cause.to_string())
    }

    /// [`StoreError::Internal`] with `message`.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        StoreError::Internal(anyhow::anyhow!("{message}"))
    }
}

/// Shared handle to Redis (cheap to clone: the connection slot is shared).
#[derive(Clone)]
pub struct RedisStore {
    connector: RedisConnector,
    conn: watch::Sender<Option<RedisConn>>,
    timeout: Duration,
    // Which of the connector's pub/sub clients the next subscription tries.
    next_pubsub: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl RedisStore {
    /// A store for one node at `url`; nothing is connected until
    /// [`RedisStore::run_connector`] runs.
    ///
    /// # Errors
    /// If the URL cannot be parsed.
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        Self::with_settings(&RedisSettings::standalone(url), timeout)
    }

    /// A store for `settings` (one node or a cluster, TLS); nothing is connected until
    /// [`RedisStore::run_connector`] runs.
    ///
    /// # Errors
    /// If a URL or the CA certificates cannot be used.
    pub fn with_settings(settings: &RedisSettings, timeout: Duration) -> anyhow::Result<Self> {
        use anyhow::Context;
        let mut options = ConnectOptions::new(timeout, timeout);
        options.manager = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_factor(100)
            .set_max_delay(1000);
        let connector =
            RedisConnector::new(settings, options).context("Failed to parse the Redis URL")?;
        Ok(Self {
            connector,
            conn: watch::Sender::new(None),
            timeout,
            next_pubsub: Default::default(),
        })
    }

    /// A client for a connection that cannot share the multiplexed one (a pub/sub
    /// subscription, `live/feed.rs`): the node, or on a cluster the next seed node in
    /// turn (a message published on any node reaches every node's subscribers).
    pub fn pubsub_client(&self) -> redis::Client {
        let clients = self.connector.pubsub_clients();
        let i = self
            .next_pubsub
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        clients[i % clients.len()].clone()
    }

    /// The call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Connects in the background with backoff (100 ms doubling to 2 s) until it succeeds
    /// or `shutdown` fires. After that the connection heals itself.
    pub async fn run_connector(&self, shutdown: CancellationToken) {
        let mut delays = runtime::backoff::CONNECT.delays();
        let mut warnings = Throttled::default();
        loop {
            let attempt = tokio::time::timeout(self.timeout * 3, self.connector.connect());
            let result = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = attempt => r,
            };
            match result {
                Ok(Ok(conn)) => {
                    self.conn.send_replace(Some(conn));
                    tracing::info!("connected to Redis");
                    return;
                }
                Ok(Err(e)) => warnings.warn(&format!("Redis not reachable: {e}")),
                Err(_) => warnings.warn("Redis connect timed out"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(delays.next().unwrap_or(runtime::backoff::CONNECT.max)) => {}
            }
        }
    }

    /// The connection, waiting up to the call timeout for the first one (a gateway that
    /// just started answers instead of refusing).
    async fn manager(&self) -> Result<RedisConn, StoreError> {
        let mut rx = self.conn.subscribe();
        let conn = match tokio::time::timeout(self.timeout, rx.wait_for(Option::is_some)).await {
            Ok(Ok(conn)) => conn.clone(),
            _ => None,
        };
        conn.ok_or_else(|| StoreError::unavailable("not connected"))
    }

    /// Runs `f` on a connection, bounded by the call timeout.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if not connected, on timeout or on a connection
    /// error; [`StoreError::Internal`] on a Redis error that is not about connectivity
    /// (a script bug, a wrong type).
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(RedisConn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let conn = self.manager().await?;
        match tokio::time::timeout(self.timeout, f(conn)).await {
            Err(_) => Err(StoreError::unavailable("call timed out")),
            Ok(Err(e)) => Err(redis_error(e)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// `GET key` parsed as JSON; `None` if absent.
    ///
    /// # Errors
    /// As [`RedisStore::call`]; [`StoreError::Internal`] if the stored JSON does not parse.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let raw: Option<String> = self
            .call(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
            .await?;
        raw.map(|s| parse_json(key, &s)).transpose()
    }

    /// `MGET keys`: the raw values, `None` where absent.
    ///
    /// # Errors
    /// As [`RedisStore::call`].
    pub async fn mget_raw(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        self.call(|mut c| async move { redis::cmd("MGET").arg(keys).query_async(&mut c).await })
            .await
    }

    /// Runs a Lua script (EVALSHA, loading it on a cache miss).
    ///
    /// # Errors
    /// As [`RedisStore::call`].
    pub async fn script<T: FromRedisValue>(
        &self,
        script: &redis::Script,
        keys: &[String],
        args: &[String],
    ) -> Result<T, StoreError> {
        self.call(|mut c| async move {
            let mut inv = script.prepare_invoke();
            for k in keys {
                inv.key(k);
            }
            for a in args {
                inv.arg(a);
            }
            inv.invoke_async(&mut c).await
        })
        .await
    }

    /// `PING`: readiness.
    ///
    /// # Errors
    /// As [`RedisStore::call`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self
            .call(|mut c| async move { redis::cmd("PING").query_async(&mut c).await })
            .await?;
        Ok(())
    }
}

/// Logs a repeated warning at most every 30 s (a dependency down for an hour is one
/// line per 30 s, not one per retry); the rest go to `debug`.
#[derive(Debug, Default)]
pub struct Throttled(Option<std::time::Instant>);

impl Throttled {
    /// Logs `message` at `warn` if the last warning is 30 s old, else at `debug`.
    pub fn warn(&mut self, message: &str) {
        if self
            .0
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(30))
        {
            tracing::warn!("{message}; retrying");
            self.0 = Some(std::time::Instant::now());
        } else {
            tracing::debug!("{message}; retrying");
        }
    }
}

/// Parses stored JSON; a failure is a bug or a version mismatch.
///
/// # Errors
/// [`StoreError::Internal`] naming the key.
pub fn parse_json<T: DeserializeOwned>(key: &str, raw: &str) -> Result<T, StoreError> {
    serde_json::from_str(raw)
        .map_err(|e| StoreError::internal(format!("Failed to parse the JSON stored at {key}: {e}")))
}

fn redis_error(e: redis::RedisError) -> StoreError {
    if runtime::redis::is_unavailable(&e) {
        StoreError::unavailable(e)
    } else {
        StoreError::Internal(anyhow::Error::new(e).context("Redis call failed"))
    }
}
