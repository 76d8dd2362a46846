//! A private key prefix on the loopback Redis for script-level tests, deleted on drop.

use gateway::adapters::redis_store::RedisStore;
use gateway::admission::AdmitParams;
use gateway::queue::Queue;
use protocol::ids::{EventId, TicketId};
use protocol::names::RedisKeys;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A queue under its own prefix, for one event.
pub(crate) struct Fixture {
    pub(crate) queue: Queue,
    pub(crate) redis: RedisStore,
    pub(crate) prefix: String,
    pub(crate) event: EventId,
}

impl Fixture {
    pub(crate) async fn new() -> Self {
        let redis =
            RedisStore::with_settings(&testkit::redis_settings(), Duration::from_secs(2)).unwrap();
        tokio::time::timeout(
            Duration::from_secs(10),
            redis.run_connector(CancellationToken::new()),
        )
        .await
        .expect("Redis is not reachable");
        let prefix = format!("adm{}", uuid::Uuid::new_v4().simple());
        Self {
            queue: Queue::new(redis.clone(), RedisKeys::new(prefix.clone()), 3600),
            redis,
            prefix,
            event: EventId::new(),
        }
    }

    /// Redis clock, Unix ms.
    pub(crate) async fn redis_now(&self) -> i64 {
        let (s, us): (i64, i64) = self
            .redis
            .call(|mut c| async move { redis::cmd("TIME").query_async(&mut c).await })
            .await
            .unwrap();
        s * 1000 + us / 1000
    }

    /// `n` new tickets, in arrival order.
    pub(crate) async fn join_n(&self, n: usize, prequeue: bool) -> Vec<TicketId> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let j = self.queue.join(&self.event, prequeue, None).await.unwrap();
            out.push(j.ticket);
        }
        out
    }

    pub(crate) fn params(&self, rate: u32, max_active: u32, now_ms: i64) -> AdmitParams {
        AdmitParams {
            rate_per_minute: rate,
            max_active,
            pass_ttl_seconds: 600,
            abandon_after_seconds: 60,
            now_ms: Some(now_ms),
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        testkit::cleanup::Cleanup {
            namespace: self.prefix.clone(),
            shards: 0,
            database: None,
        }
        .run_blocking(Vec::new());
    }
}
