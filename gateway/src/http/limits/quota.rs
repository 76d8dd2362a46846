//! The per-client-IP join quota shared by every replica: a fixed window of one minute
//! in Redis (`quota.lua`: `INCR` + `PEXPIRE` in one script, so a crash between the two
//! cannot leave a counter without expiry).
//!
//! Per-replica governor limits stop floods cheaply; this quota stops a client who
//! spreads joins over N replicas (N × the local limit) from taking more than
//! `join_quota_per_ip_per_minute` places a minute. Key: `{ns}:join_quota:{ip}` (no hash
//! tag: one key per script call).
//!
//! A fan joins once; only clients that join again need counting. So each replica lets
//! the first join of a client IP per minute through without asking Redis (a governor
//! limiter of [`FREE_JOINS_PER_MINUTE`] per minute per IP) and counts the others in
//! Redis: a spike of distinct fans costs no Redis call here, and one client gets at most
//! `quota + replicas` joins a minute.

use super::KeyedLimiter;
use crate::adapters::redis_store::RedisStore;
use crate::http::error::ApiError;
use governor::Quota;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// Length of a quota window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Joins per client IP per minute each replica admits without counting them in Redis.
pub const FREE_JOINS_PER_MINUTE: u32 = 1;

/// The shared join quota; `limit == 0` means none.
pub struct JoinQuota {
    limit: u64,
    prefix: String,
    script: redis::Script,
    free: KeyedLimiter<IpAddr>,
}

impl JoinQuota {
    /// `limit` joins per IP per [`WINDOW`] under Redis key prefix `namespace`.
    pub fn new(namespace: &str, limit: u32) -> Self {
        let free = NonZeroU32::new(FREE_JOINS_PER_MINUTE)
            .filter(|_| limit > 0)
            .map(Quota::per_minute);
        Self {
            limit: u64::from(limit),
            prefix: format!("{namespace}:join_quota:"),
            script: redis::Script::new(include_str!("quota.lua")),
            free: KeyedLimiter::from_quota(free),
        }
    }

    /// Whether a quota is configured.
    pub fn is_enabled(&self) -> bool {
        self.limit > 0
    }

    /// The per-replica limiter of joins not counted in Redis (for housekeeping).
    pub fn free_joins(&self) -> &KeyedLimiter<IpAddr> {
        &self.free
    }

    /// The Redis key counting `ip`'s joins.
    pub fn key(&self, ip: IpAddr) -> String {
        format!("{}{ip}", self.prefix)
    }

    /// Counts one join of `ip`: `Ok(None)` if within the quota, `Ok(Some(wait))` with the
    /// time until the window ends if over it. One Redis call; none if disabled, or for
    /// the IP's free join of the minute on this replica.
    ///
    /// # Errors
    /// `503` if Redis is unavailable.
    pub async fn take(&self, redis: &RedisStore, ip: IpAddr) -> Result<Option<Duration>, ApiError> {
        if !self.is_enabled() || self.free.check(&ip).is_ok() {
            return Ok(None);
        }
        let window_ms = u64::try_from(WINDOW.as_millis()).unwrap_or(60_000);
        let (count, ttl_ms): (u64, i64) = redis
            .script(&self.script, &[self.key(ip)], &[window_ms.to_string()])
            .await?;
        if count <= self.limit {
            return Ok(None);
        }
        let wait = u64::try_from(ttl_ms).unwrap_or(window_ms).max(1);
        Ok(Some(Duration::from_millis(wait)))
    }
}
