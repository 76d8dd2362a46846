//! The change feed: how a replica learns that an event changed without reading every
//! event over and over.
//!
//! The worker publishes `c E…` on the channel `RedisKeys::changes` after it writes the
//! config or availability of events `E…` (in the same pipeline, after the writes, so a
//! replica that reads on the message sees them). A replica publishes `a E` when fans first
//! ask it about `E` (`live/interest.rs`). This task holds one subscription per replica:
//! a `c` message marks the event's cached snapshot stale at once (readers fetch it fresh)
//! and queues the event for the watcher's next refresh; an `a` message makes it watched.
//!
//! Pub/sub loses messages only while a subscription is down, so the feed heals by
//! re-reading everything once ([`Feed::take_resync`], done by the watcher) whenever:
//! - it (re)subscribes (at start, after Redis restarted, after a dropped connection);
//! - its heartbeat does not come back: every [`BEAT`] the replica publishes `h {nonce} n`
//!   and expects to receive it, [`MISSED_BEATS`] beats late at most (a subscription
//!   that silently stopped delivering);
//! - Redis lost its data without a restart: the same call renews this replica's marker
//!   key (`EXPIRE`), which a loss takes away.
//!
//! Until the re-read is done, the catalog serves nothing older than its
//! `CACHE_MAX_AGE` (readers fetch), as without a feed. The periodic cost is one
//! pipelined call per [`BEAT`] per replica, whatever the number of events.

use crate::adapters::redis_store::Throttled;
use crate::live::Replica;
use crate::FastHash;
use futures::StreamExt;
use protocol::ids::EventId;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Period of the heartbeat and of the loss check.
pub const BEAT: Duration = Duration::from_secs(1);
/// Heartbeats that may be in flight before the subscription is deemed broken.
pub const MISSED_BEATS: u64 = 3;
/// Lifetime of the marker key, seconds (renewed every beat; it outlives a dead replica
/// by this much).
const MARKER_TTL_SECS: u64 = 30;

/// A full re-read the watcher owes: requested when the subscription of `generation`
/// started, or when a loss was noticed, at `from`.
#[derive(Debug, Clone, Copy)]
pub struct Resync {
    /// The subscription it belongs to.
    pub generation: u64,
    /// Snapshots read from this instant on are kept current by the feed.
    pub from: Instant,
}

/// This replica's end of the change feed (cheap to clone).
#[derive(Clone)]
pub struct Feed(Arc<Inner>);

struct Inner {
    nonce: String,
    generation: AtomicU64,
    dirty: Mutex<HashSet<EventId, FastHash>>,
    resync: Mutex<Option<Resync>>,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

impl Feed {
    /// A feed not yet subscribed.
    pub fn new() -> Self {
        Self(Arc::new(Inner {
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            generation: AtomicU64::new(0),
            dirty: Mutex::default(),
            resync: Mutex::default(),
        }))
    }

    /// Events announced as changed since the last call.
    pub fn take_dirty(&self) -> HashSet<EventId, FastHash> {
        std::mem::take(&mut *self.0.dirty.lock().expect("feed poisoned"))
    }

    /// The full re-read owed, if any (taken: give it back with [`Feed::retry`] if it
    /// failed).
    pub fn take_resync(&self) -> Option<Resync> {
        self.0.resync.lock().expect("feed poisoned").take()
    }

    /// Owes `resync` again (the re-read failed), unless a newer one is owed.
    pub fn retry(&self, resync: Resync) {
        self.0
            .resync
            .lock()
            .expect("feed poisoned")
            .get_or_insert(resync);
    }

    /// Whether `resync` belongs to the current subscription (no loss or reconnection
    /// since it was requested).
    pub fn is_current(&self, resync: &Resync) -> bool {
        self.0.generation.load(Ordering::SeqCst) == resync.generation
            && self.0.resync.lock().expect("feed poisoned").is_none()
    }

    /// Starts a new generation and owes a full re-read from now.
    fn request_resync(&self) {
        let generation = self.0.generation.fetch_add(1, Ordering::SeqCst) + 1;
        *self.0.resync.lock().expect("feed poisoned") = Some(Resync {
            generation,
            from: Instant::now(),
        });
    }

    /// Ends the current generation: nothing read so far is known to be current.
    fn interrupt(&self) {
        self.0.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs the subscription until `shutdown`, reconnecting with backoff.
pub async fn run(replica: Replica, shutdown: CancellationToken) {
    let mut warnings = Throttled::default();
    let mut delays = runtime::backoff::CONNECT.delays();
    while !shutdown.is_cancelled() {
        let started = Instant::now();
        let result = follow(&replica, &shutdown).await;
        replica.feed.interrupt();
        replica.catalog.unfollow();
        if let Err(e) = result {
            warnings.warn(&format!("change feed interrupted: {e}"));
        }
        if started.elapsed() > Duration::from_secs(10) {
            delays = runtime::backoff::CONNECT.delays();
        }
        let delay = delays.next().unwrap_or(runtime::backoff::CONNECT.max);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// One subscription, from connecting to its end (`Ok` on shutdown).
async fn follow(replica: &Replica, shutdown: &CancellationToken) -> Result<(), String> {
    let timeout = replica.redis.timeout() * 3;
    let channel = replica.keys.changes();
    let mut pubsub =
        tokio::time::timeout(timeout, replica.redis.pubsub_client().get_async_pubsub())
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
    tokio::time::timeout(timeout, pubsub.subscribe(&channel))
        .await
        .map_err(|_| "subscribe timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let feed = &replica.feed;
    feed.request_resync();
    tracing::info!("change feed subscribed");
    let marker = format!("{}:changes:replica:{}", replica.keys.prefix(), feed.0.nonce);
    let mut armed = false;
    let (mut sent, mut received) = (0u64, 0u64);
    let mut beat = tokio::time::interval(BEAT);
    beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut messages = pubsub.on_message();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            message = messages.next() => {
                let Some(message) = message else {
                    return Err("the subscription ended".into());
                };
                let payload: String = message.get_payload().unwrap_or_default();
                if let Some(n) = handle(replica, &payload) {
                    received = received.max(n);
                }
            }
            _ = beat.tick() => {
                if sent >= received + MISSED_BEATS {
                    return Err(format!("heartbeat {} not received", received + 1));
                }
                let lost = heartbeat(replica, &channel, &marker, armed, sent + 1).await;
                match lost {
                    Ok(lost) => {
                        sent += 1;
                        if lost {
                            tracing::warn!("Redis lost its data: re-reading every event");
                            feed.request_resync();
                            replica.catalog.unfollow();
                        }
                        armed = true;
                    }
                    Err(e) => tracing::debug!(error = %e, "change feed heartbeat failed"),
                }
            }
        }
    }
}

/// Renews the marker and publishes heartbeat `n`; `true` if the marker was gone though
/// `armed` (written before): Redis lost its data.
async fn heartbeat(
    replica: &Replica,
    channel: &str,
    marker: &str,
    armed: bool,
    n: u64,
) -> Result<bool, crate::adapters::redis_store::StoreError> {
    let (channel, marker) = (channel.to_string(), marker.to_string());
    let beat = format!("h {} {n}", replica.feed.0.nonce);
    replica
        .redis
        .call(|mut c| async move {
            let (renewed, _): (Option<String>, i64) = redis::pipe()
                .cmd("SET")
                .arg(&marker)
                .arg(1)
                .arg("EX")
                .arg(MARKER_TTL_SECS)
                .arg("XX")
                .cmd("PUBLISH")
                .arg(&channel)
                .arg(&beat)
                .query_async(&mut c)
                .await?;
            let renewed = renewed.is_some();
            if !renewed {
                redis::cmd("SET")
                    .arg(&marker)
                    .arg(1)
                    .arg("EX")
                    .arg(MARKER_TTL_SECS)
                    .query_async::<()>(&mut c)
                    .await?;
            }
            Ok(armed && !renewed)
        })
        .await
}

/// Applies one message; returns the heartbeat number if it was this replica's own.
fn handle(replica: &Replica, payload: &str) -> Option<u64> {
    let mut words = payload.split(' ');
    match words.next()? {
        "c" => {
            let mut dirty = replica.feed.0.dirty.lock().expect("feed poisoned");
            for event in words.filter_map(|w| w.parse::<EventId>().ok()) {
                replica.catalog.notice(&event);
                dirty.insert(event);
            }
            None
        }
        "a" => {
            for event in words.filter_map(|w| w.parse::<EventId>().ok()) {
                replica.interest.keep(&event);
            }
            None
        }
        "h" if words.next() == Some(replica.feed.0.nonce.as_str()) => words.next()?.parse().ok(),
        _ => None,
    }
}

/// Publishes `a E…` for the events fans just started asking this replica about.
///
/// # Errors
/// [`crate::adapters::redis_store::StoreError::Unavailable`] if Redis is unavailable
/// (the announcement is lost: this replica still admits the event, and the others find
/// its fans at their next full re-read).
pub async fn announce(
    replica: &Replica,
    events: &[EventId],
) -> Result<(), crate::adapters::redis_store::StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut message = String::from("a");
    for e in events {
        message.push(' ');
        message.push_str(&e.to_string());
    }
    let channel = replica.keys.changes();
    replica
        .redis
        .call(|mut c| async move {
            redis::cmd("PUBLISH")
                .arg(channel)
                .arg(message)
                .query_async::<i64>(&mut c)
                .await
        })
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests;
