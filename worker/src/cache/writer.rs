//! Sending a shard's Redis pipelines in order, keeping the failed ones for later.

use crate::metrics::Metrics;
use crate::redis_link::RedisLink;
use redis::Pipeline;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;
use tracing::instrument;

/// Most failed pipelines kept for retry per shard; older ones are dropped (the periodic
/// refresh rewrites configs and availability anyway).
const MAX_PENDING: usize = 10_000;
/// While Redis is failing, try again at most this often.
const RETRY_EVERY: Duration = Duration::from_secs(1);

fn is_empty(pipe: &Pipeline) -> bool {
    pipe.cmd_iter().next().is_none()
}

/// One active shard consumer's Redis writer: pipelines go out in the order given, each after
/// any earlier one that failed; a write that fails or outlasts `timeout` is kept (at
/// most [`MAX_PENDING`]) and retried at most once a second.
pub(crate) struct RedisWriter {
    redis: RedisLink,
    timeout: Duration,
    metrics: Metrics,
    pending: VecDeque<Pipeline>,
    retry_at: Option<Instant>,
}

impl RedisWriter {
    pub(crate) fn new(redis: RedisLink, timeout: Duration, metrics: Metrics) -> Self {
        Self {
            redis,
            timeout,
            metrics,
            pending: VecDeque::new(),
            retry_at: None,
        }
    }

    /// Sends `pipe` after any earlier failed ones; on failure keeps it for later.
    #[instrument(skip_all, fields(pending = self.pending.len()))]
    pub(crate) async fn write(&mut self, pipe: Pipeline) {
        if is_empty(&pipe) && self.pending.is_empty() {
            return;
        }
        if !is_empty(&pipe) {
            if self.pending.len() >= MAX_PENDING {
                self.pending.pop_front();
                tracing::error!("Redis retry queue full: dropped the oldest write");
            }
            self.pending.push_back(pipe);
        }
        self.flush().await;
    }

    /// Retries queued writes if Redis was failing and the retry delay has passed.
    pub(crate) async fn retry_pending(&mut self) {
        if !self.pending.is_empty() {
            self.flush().await;
        }
    }

    async fn flush(&mut self) {
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        while let Some(pipe) = self.pending.front() {
            let sent = async {
                let mut conn = self.redis.get().await?;
                pipe.query_async::<()>(&mut conn).await
            };
            let error = match tokio::time::timeout(self.timeout, sent).await {
                Ok(Ok(())) => {
                    self.pending.pop_front();
                    continue;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("timed out after {:?}", self.timeout),
            };
            self.metrics.redis_failures.inc();
            if self.retry_at.is_none() {
                tracing::warn!(%error, pending = self.pending.len(), "Redis write failed; will retry");
            }
            self.retry_at = Some(Instant::now() + RETRY_EVERY);
            return;
        }
        if self.retry_at.take().is_some() {
            tracing::info!("Redis writes caught up");
        }
    }
}
