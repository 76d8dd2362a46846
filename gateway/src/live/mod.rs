//! What each replica keeps live between Redis reads, and what it computes from it.
//!
//! - [`hub`]: [`Live`], the per-replica cache of queue views, lottery records, seat
//!   feeds, and buffered "seen" marks.
//! - [`watcher`]: the background loop that refreshes it (one `view.lua` call per
//!   watched or changed event a few times a second, the availability snapshot when its
//!   version changes, one `seen.lua` flush per event per second).
//! - [`place`]: a fan's Status, from the cache when possible, else from Redis.
//! - [`catalog`]: event configs and availability, cached per replica.
//! - [`seat_feed`]: the latest seat map of each event and its deltas, for the seats
//!   stream.
//! - [`feed`]: the change feed, by which the worker's writes reach every replica without
//!   polling each event.
//! - [`interest`]: which events this replica watches closely (those with fans), so that
//!   an idle event costs nothing.
//!
//! Everything here takes a [`Replica`]: the cache and the handles it is computed from,
//! not the application state.

pub mod catalog;
pub mod feed;
pub mod hub;
pub mod interest;
pub mod place;
pub mod seat_feed;
pub mod watcher;

pub use hub::Live;

use crate::adapters::redis_store::{RedisStore, StoreError};
use crate::live::catalog::{Catalog, EventSnapshot};
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::settings::Settings;
use crate::tokens::TokenKeys;
use anyhow::Context;
use protocol::ids::EventId;
use protocol::names::RedisKeys;
use std::sync::Arc;
use std::time::Duration;

/// This replica's live view and the handles it is computed from: the cache, the event
/// catalog, the queue in Redis, the token keys (a status of an admitted fan carries its
/// pass) and the metrics. Cheap to clone (handles and `Arc`s).
#[derive(Clone)]
pub struct Replica {
    /// The per-replica cache.
    pub live: Live,
    /// Event configs and availability.
    pub catalog: Catalog,
    /// Queue operations.
    pub queue: Queue,
    /// Queue token and pass keys.
    pub tokens: Arc<TokenKeys>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Redis key names (prefix = namespace).
    pub keys: RedisKeys,
    /// Redis adapter.
    pub redis: RedisStore,
    /// The change feed's state (changed events, owed re-reads).
    pub feed: feed::Feed,
    /// Which events this replica watches.
    pub interest: interest::Interest,
}

impl Replica {
    /// Builds the handles of `settings` (validated by the caller); connects nothing (the
    /// Redis connector runs in the background, see `startup.rs`).
    ///
    /// # Errors
    /// An invalid Redis URL, invalid token keys, or metrics registered twice.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let keys = RedisKeys::new(settings.namespace.clone());
        let redis_settings = settings
            .redis()
            .map_err(|e| anyhow::anyhow!("{}", runtime::settings::ConfigErrors(e)))?;
        let redis = RedisStore::with_settings(
            &redis_settings,
            Duration::from_millis(settings.redis_timeout_ms),
        )?;
        let tokens = TokenKeys::new(
            &settings.queue_token_secret,
            &settings.pass_signing_key,
            settings.queue_token_ttl_seconds,
        )
        .and_then(|keys| keys.with_previous_pass_keys(&settings.pass_previous_keys))
        .context("Failed to build the token keys")?;
        let ticket_ttl = settings.queue_token_ttl_seconds + 86_400;
        let queue = Queue::new(redis.clone(), keys.clone(), ticket_ttl);
        let metrics = Metrics::new();
        metrics
            .register(Box::new(queue.join_commits().clone()))
            .context("Failed to register the join commit metric")?;
        Ok(Self {
            live: Live::with_seen_refresh(hub::seen_refresh(settings.abandon_after_seconds)),
            catalog: Catalog::new(redis.clone(), keys.clone()),
            queue,
            tokens: Arc::new(tokens),
            metrics,
            keys,
            redis,
            feed: feed::Feed::new(),
            interest: interest::Interest::default(),
        })
    }
}

/// Why a fan's place could not be told.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The named thing (`"event"`, `"ticket"`) does not exist: unknown, left, or expired.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// Redis is unavailable, or answered something that does not parse.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug: an admitted ticket without admission times, a pass that cannot be signed.
    #[error("{0:#}")]
    Internal(#[from] anyhow::Error),
}

/// The event for a status computation: from the catalog cache (no Redis call), else
/// fetched (counted in `anteroom_status_redis_calls_total`).
///
/// # Errors
/// [`LiveError::NotFound`] if the event does not exist; [`LiveError::Store`] if Redis is
/// unavailable.
pub async fn snapshot_for_status(
    replica: &Replica,
    event: &EventId,
) -> Result<Arc<EventSnapshot>, LiveError> {
    if let Some(s) = replica.catalog.fresh(event) {
        return Ok(s);
    }
    replica.metrics.status_redis_calls.inc();
    replica
        .catalog
        .cached(event)
        .await?
        .ok_or(LiveError::NotFound("event"))
}

/// The event of a status request, whose valid queue token proves the event exists: if
/// its config is missing from Redis (lost with Redis's data, until the worker writes it
/// back, within seconds), `503` and a retry rather than `404`, which tells a fan's page
/// that the place is gone for good.
///
/// # Errors
/// [`StoreError::Unavailable`] if the config is missing or Redis is unavailable.
pub async fn snapshot_for_token_holder(
    replica: &Replica,
    event: &EventId,
) -> Result<Arc<EventSnapshot>, LiveError> {
    snapshot_for_status(replica, event)
        .await
        .map_err(|e| match e {
            LiveError::NotFound(_) => {
                StoreError::unavailable("the event's config is missing from Redis").into()
            }
            e => e,
        })
}
