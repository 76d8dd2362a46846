//! The events as this replica sees them: the worker's `config(E)` and `availability(E)`
//! documents from Redis, with a short-lived local cache.
//!
//! - The change feed (`live/feed.rs`) announces every write of the worker: the announced
//!   event's snapshot stops being fresh at once ([`Catalog::notice`]) and the watcher
//!   re-reads it ([`Catalog::store`]): the config, and the availability document (~200 KB
//!   for a 200 000-seat event) only when its version changed. A `PATCH` therefore applies
//!   on every replica within milliseconds (at once on the replica that made it).
//! - A snapshot is fresh while the feed keeps it current ([`Catalog::follow`]), or for
//!   [`CACHE_MAX_AGE`] after it was read while the feed is down or catching up.
//! - The hot paths (join, status polls, the public event, hold checks) and the admission
//!   loop read through the cache ([`Catalog::cached`]: fresh, else fetched), so they
//!   normally make no Redis call for it.
//! - Admin reads and the seat map read fresh ([`Catalog::fetch`]: one `MGET`).
//! - The reservation path falls back to the last snapshot seen ([`Catalog::last_known`])
//!   when Redis is down: issued passes keep working for holds (`docs/ARCHITECTURE.md`).

use crate::adapters::redis_store::{parse_json, RedisStore, StoreError};
use crate::FastHash;
use chrono::{DateTime, Utc};
use protocol::availability::Availability;
use protocol::event::{EventConfig, PublicState};
use protocol::ids::EventId;
use protocol::names::RedisKeys;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Oldest cached snapshot the admission loop may use.
pub const CACHE_MAX_AGE: Duration = Duration::from_millis(500);

/// An event's configuration and its latest availability snapshot (if any yet).
#[derive(Debug, Clone)]
pub struct EventSnapshot {
    /// Live configuration (worker-written).
    pub config: EventConfig,
    /// Seat statuses and counts (worker-written after each batch).
    pub availability: Option<Arc<Availability>>,
}

impl EventSnapshot {
    /// Sold out per the availability snapshot (no seat available, none held).
    pub fn sold_out(&self) -> bool {
        self.availability.as_ref().is_some_and(|a| a.sold_out())
    }

    /// Seats on sale per the snapshot (all of them before the first snapshot).
    pub fn available(&self) -> u64 {
        self.availability
            .as_ref()
            .map_or_else(|| self.config.spec.seating.total_seats(), |a| a.available)
    }

    /// Public state at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> PublicState {
        self.config.public_state(now, self.sold_out())
    }

    /// The shuffle seed, only once the event has opened (it is a secret before).
    pub fn public_seed(&self, now: DateTime<Utc>) -> Option<String> {
        (now >= self.config.spec.opens_at)
            .then(|| self.config.shuffle_seed.clone())
            .flatten()
    }
}

/// A cached snapshot: when it was read, and whether the change feed announced a
/// change since (then only its age makes it fresh).
#[derive(Clone)]
struct Entry {
    read_at: Instant,
    snapshot: Arc<EventSnapshot>,
    noticed: bool,
}

/// Snapshots by event.
type Cache = Arc<Mutex<HashMap<EventId, Entry, FastHash>>>;

/// Reads and caches event snapshots.
#[derive(Clone)]
pub struct Catalog {
    redis: RedisStore,
    keys: RedisKeys,
    cache: Cache,
    /// Since when the change feed keeps the snapshots read current (`live/feed.rs`):
    /// `None` while it is down or catching up.
    followed_since: Arc<Mutex<Option<Instant>>>,
}

impl Catalog {
    /// A catalog over `redis` with key names `keys`.
    pub fn new(redis: RedisStore, keys: RedisKeys) -> Self {
        Self {
            redis,
            keys,
            cache: Arc::default(),
            followed_since: Arc::default(),
        }
    }

    /// The change feed keeps every snapshot read from `from` on current: they stay
    /// fresh, whatever their age, until the feed announces a change or stops.
    pub fn follow(&self, from: Instant) {
        *self.followed_since.lock().expect("cache poisoned") = Some(from);
    }

    /// The change feed stopped (or Redis lost its data): snapshots are fresh for
    /// [`CACHE_MAX_AGE`] only, as read.
    pub fn unfollow(&self) {
        *self.followed_since.lock().expect("cache poisoned") = None;
    }

    /// The change feed announced a change of `event`: its snapshot is fresh no longer
    /// than its age allows.
    pub fn notice(&self, event: &EventId) {
        if let Some(e) = self.cache.lock().expect("cache poisoned").get_mut(event) {
            e.noticed = true;
        }
    }

    /// The event read fresh from Redis; `None` if it has no config.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable; [`StoreError::Internal`] if a
    /// document does not parse.
    pub async fn fetch(&self, event: &EventId) -> Result<Option<Arc<EventSnapshot>>, StoreError> {
        let keys = [self.keys.config(event), self.keys.availability(event)];
        let raw = self.redis.mget_raw(&keys).await?;
        let (Some(config), availability) = (
            raw.first().cloned().flatten(),
            raw.get(1).cloned().flatten(),
        ) else {
            self.cache.lock().expect("cache poisoned").remove(event);
            return Ok(None);
        };
        let config = parse_json(&keys[0], &config)?;
        let availability = availability
            .map(|a| parse_json(&keys[1], &a).map(Arc::new))
            .transpose()?;
        Ok(Some(self.store(config, availability)))
    }

    /// The cached event if at most [`CACHE_MAX_AGE`] old, or kept current by the change
    /// feed since it was read; never calls Redis.
    pub fn fresh(&self, event: &EventId) -> Option<Arc<EventSnapshot>> {
        let since = *self.followed_since.lock().expect("cache poisoned");
        self.cache
            .lock()
            .expect("cache poisoned")
            .get(event)
            .filter(|e| {
                e.read_at.elapsed() <= CACHE_MAX_AGE
                    || (!e.noticed && since.is_some_and(|t| e.read_at >= t))
            })
            .map(|e| e.snapshot.clone())
    }

    /// Whether the change feed keeps snapshots current now.
    pub fn followed(&self) -> bool {
        self.followed_since
            .lock()
            .expect("cache poisoned")
            .is_some()
    }

    /// Caches `config` and `availability` as read now (the watcher, and [`Catalog::fetch`]).
    pub fn store(
        &self,
        config: EventConfig,
        availability: Option<Arc<Availability>>,
    ) -> Arc<EventSnapshot> {
        let id = config.id;
        let snapshot = Arc::new(EventSnapshot {
            config,
            availability,
        });
        self.cache.lock().expect("cache poisoned").insert(
            id,
            Entry {
                read_at: Instant::now(),
                snapshot: snapshot.clone(),
                noticed: false,
            },
        );
        snapshot
    }

    /// Drops `event` from the cache (its config is gone from Redis).
    pub fn forget(&self, event: &EventId) {
        self.cache.lock().expect("cache poisoned").remove(event);
    }

    /// The event, from the cache if at most [`CACHE_MAX_AGE`] old, else fresh.
    ///
    /// # Errors
    /// As [`Catalog::fetch`].
    pub async fn cached(&self, event: &EventId) -> Result<Option<Arc<EventSnapshot>>, StoreError> {
        match self.fresh(event) {
            Some(s) => Ok(Some(s)),
            None => self.fetch(event).await,
        }
    }

    /// Through the cache if Redis answers, else the last snapshot seen (any age), else
    /// the error.
    ///
    /// # Errors
    /// As [`Catalog::fetch`], when nothing was ever cached for the event.
    pub async fn cached_or_last_known(
        &self,
        event: &EventId,
    ) -> Result<Option<Arc<EventSnapshot>>, StoreError> {
        match self.cached(event).await {
            Err(StoreError::Unavailable(_)) if self.last_known(event).is_some() => {
                Ok(self.last_known(event))
            }
            other => other,
        }
    }

    /// The last snapshot seen, whatever its age.
    pub fn last_known(&self, event: &EventId) -> Option<Arc<EventSnapshot>> {
        self.cache
            .lock()
            .expect("cache poisoned")
            .get(event)
            .map(|e| e.snapshot.clone())
    }

    /// Records a configuration the worker just replied with (create/patch), keeping the
    /// last availability seen, so this replica applies it at once.
    pub fn remember(&self, config: EventConfig) -> Arc<EventSnapshot> {
        let mut cache = self.cache.lock().expect("cache poisoned");
        let availability = cache
            .get(&config.id)
            .and_then(|e| e.snapshot.availability.clone());
        let id = config.id;
        let snapshot = Arc::new(EventSnapshot {
            config,
            availability,
        });
        cache.insert(
            id,
            Entry {
                read_at: Instant::now(),
                snapshot: snapshot.clone(),
                noticed: false,
            },
        );
        snapshot
    }
}
