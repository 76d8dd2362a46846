//! The application state shared by every handler, extractor and background task.
//!
//! Everything a request needs is here, built once from [`Settings`] by
//! [`AppState::new`]: the Redis store, the command publisher, the token keys (never in a
//! `static`), metrics, the event catalog and the live queue views.

use crate::catalog::Catalog;
use crate::identity::Identity;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::publisher::Publisher;
use crate::queue::Queue;
use crate::redis_store::RedisStore;
use crate::settings::Settings;
use crate::stream::hub::seen_refresh;
use crate::stream::Live;
use crate::tokens::TokenKeys;
use anyhow::Context;
use protocol::names::{AmqpNames, RedisKeys};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

/// Cheaply cloneable handle to [`Inner`].
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The shared state.
pub struct Inner {
    /// Validated settings.
    pub settings: Settings,
    /// Redis key names (prefix = namespace).
    pub keys: RedisKeys,
    /// Redis adapter.
    pub redis: RedisStore,
    /// Queue operations.
    pub queue: Queue,
    /// Event configs and availability.
    pub catalog: Catalog,
    /// Command channel to the worker shards.
    pub publisher: Publisher,
    /// Queue token and pass keys.
    pub tokens: TokenKeys,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// What this replica keeps live between Redis reads: queue views, lottery records,
    /// seat feeds, seen marks (`stream/`).
    pub live: Live,
    /// Rate limits and the shared join quota (`settings.abuse`).
    pub limits: Limits,
    /// Signed user references (`abuse.identity_secret`); `None` when not configured.
    pub identity: Option<Identity>,
    admin_key_digest: [u8; 32],
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state; connects nothing (see `startup.rs` for the background tasks).
    ///
    /// # Errors
    /// Invalid settings (URLs, keys).
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        settings.validate().context("Invalid settings")?;
        let keys = RedisKeys::new(settings.namespace.clone());
        let redis = RedisStore::new(
            &settings.redis_url,
            Duration::from_millis(settings.redis_timeout_ms),
        )?;
        let metrics = Metrics::new();
        let publisher = Publisher::new(
            &settings.amqp_url,
            AmqpNames::new(settings.namespace.clone()),
            settings.shards,
            metrics.clone(),
        );
        let tokens = TokenKeys::new(
            &settings.queue_token_secret,
            &settings.pass_signing_key,
            settings.queue_token_ttl_seconds,
        )
        .and_then(|keys| keys.with_previous_pass_keys(&settings.pass_previous_keys))
        .context("Failed to build the token keys")?;
        let ticket_ttl = settings.queue_token_ttl_seconds + 86_400;
        let limits = Limits::new(&settings, &metrics)?;
        let identity = Identity::new(&settings.abuse.identity_secret);
        let live = Live::with_seen_refresh(seen_refresh(settings.abandon_after_seconds));
        let queue = Queue::new(redis.clone(), keys.clone(), ticket_ttl);
        metrics
            .register(Box::new(queue.join_commits().clone()))
            .context("Failed to register the join commit metric")?;
        Ok(Self(Arc::new(Inner {
            queue,
            catalog: Catalog::new(redis.clone(), keys.clone()),
            admin_key_digest: digest(&settings.admin_key),
            settings,
            keys,
            redis,
            publisher,
            tokens,
            metrics,
            live,
            limits,
            identity,
        })))
    }

    /// Whether `candidate` is the admin key. Constant time: both sides are hashed to
    /// SHA-256 first and the digests compared without early exit.
    pub fn is_admin_key(&self, candidate: &str) -> bool {
        let c = Sha256::digest(candidate.as_bytes());
        c.iter()
            .zip(self.admin_key_digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

fn digest(secret: &SecretString) -> [u8; 32] {
    Sha256::digest(secret.expose_secret().as_bytes()).into()
}
