//! Abuse limits: who may call join, status and the pass routes how often.
//!
//! - Per client IP, and for a join the shared quota: [`LimitLayer`], a route layer on
//!   each sub-router it guards (`http/routes/mod.rs`), before any extractor runs.
//! - Per token: [`Limits::check_token`], called by the credential extractors once they
//!   have verified the token (`http/auth.rs`), so a token is verified once per request.
//!
//! - Per client IP and per token (queue token or pass `sub`, i.e. the ticket), per
//!   replica: governor keyed limiters ([`keyed`]), one pair per [`RouteClass`].
//! - Per client IP across every replica, on join only: a Redis fixed-window quota
//!   ([`quota`]).
//! - The client IP is the TCP peer, or a trusted proxy header only when configured
//!   ([`client_ip`]).
//!
//! Order of checks: IP limiter, then (join) the Redis quota, then the token limiter in
//! the extractor; a flood from one address is refused locally and never reaches Redis. A refusal is `429
//! rate_limited` with `Retry-After` = the wait governor (or the quota window) reports,
//! rounded up to whole seconds. Refusals are counted in
//! `anteroom_rate_limited_total{class,scope}`; tracked keys in `anteroom_rate_limit_keys`.
//! Memory stays bounded: [`run_housekeeping`] drops refilled keys every
//! [`HOUSEKEEPING_INTERVAL`].
//!
//! Failed admin authentication is throttled per client IP too ([`failures`], checked by
//! the `AdminAuth` extractor): `429 rate_limited` with `Retry-After`, counted as
//! `class="admin", scope="ip"`.

pub mod client_ip;
mod enforce;
pub mod failures;
pub mod keyed;
pub mod quota;

pub use client_ip::{limit_key, ClientIpSource};
pub use enforce::{classify, retry_after_seconds, Limit, LimitLayer, RouteClass};
pub use failures::FailureThrottle;
pub use keyed::KeyedLimiter;
pub use quota::JoinQuota;

use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::stream::slots::{StreamSlot, StreamSlots};
use crate::FastHash;
use anyhow::Context;
use axum::extract::FromRef;
use governor::clock::DefaultClock;
use prometheus::{IntCounterVec, IntGaugeVec, Opts};
use protocol::ids::TicketId;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Period of [`run_housekeeping`].
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(10);

/// Which limit refused a request (the `scope` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The per-IP governor limit of this replica.
    Ip,
    /// The per-token (ticket) governor limit of this replica.
    Token,
    /// The per-IP join quota shared through Redis.
    Quota,
}

impl Scope {
    fn label(self) -> &'static str {
        match self {
            Scope::Ip => "ip",
            Scope::Token => "token",
            Scope::Quota => "quota",
        }
    }
}

/// A stream refused by a cap of [`Limits::open_stream`]: `429 rate_limited` with
/// `Retry-After` ([`crate::stream::slots::RETRY_AFTER`]).
#[derive(Debug, Clone, Copy)]
pub struct StreamsFull;

impl axum::response::IntoResponse for StreamsFull {
    fn into_response(self) -> axum::response::Response {
        enforce::too_many(crate::stream::slots::RETRY_AFTER)
    }
}

/// A ticket over its per-token limit ([`Limits::check_token`], already counted): `429
/// rate_limited` with `Retry-After` = the wait, rounded up to whole seconds.
#[derive(Debug, Clone, Copy)]
pub struct TokenLimited(pub Duration);

impl axum::response::IntoResponse for TokenLimited {
    fn into_response(self) -> axum::response::Response {
        enforce::too_many(self.0)
    }
}

/// Extractor: the client IP a request is limited by ([`Limits::client_key`]), `None`
/// without a socket (in-process tests); never rejects.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S> axum::extract::FromRequestParts<S> for ClientAddr
where
    S: Send + Sync,
    Arc<Limits>: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        let limits = Arc::<Limits>::from_ref(state);
        Ok(ClientAddr(limits.client_key(&parts.headers, peer)))
    }
}

/// A limiter per ticket. foldhash, not SipHash: the gateway issues the ticket ids, and
/// only a verified token's ticket is looked up.
pub type TicketLimiter = KeyedLimiter<TicketId, DefaultClock, FastHash>;

/// Every limiter of one replica, built from `settings.abuse`.
pub struct Limits {
    source: ClientIpSource,
    join_ip: KeyedLimiter<IpAddr>,
    join_token: TicketLimiter,
    status_ip: KeyedLimiter<IpAddr>,
    status_token: TicketLimiter,
    holds_ip: KeyedLimiter<IpAddr>,
    holds_token: TicketLimiter,
    gate_ip: KeyedLimiter<IpAddr>,
    gate_token: TicketLimiter,
    quota: JoinQuota,
    admin_failures: FailureThrottle,
    streams: StreamSlots,
    refused: IntCounterVec,
    tracked: IntGaugeVec,
}

impl Limits {
    /// The limiters of `settings.abuse`, their metrics registered in `metrics`.
    ///
    /// # Errors
    /// If the metrics cannot be registered (built twice on one registry).
    pub fn new(settings: &Settings, metrics: &Metrics) -> anyhow::Result<Self> {
        let a = &settings.abuse;
        let on = a.rate_limits;
        let refused = IntCounterVec::new(
            Opts::new(
                "anteroom_rate_limited_total",
                "Requests refused with 429, by route class and limit scope",
            ),
            &["class", "scope"],
        )?;
        let tracked = IntGaugeVec::new(
            Opts::new(
                "anteroom_rate_limit_keys",
                "Keys (client IPs, tickets) tracked by each rate limiter of this replica",
            ),
            &["limiter"],
        )?;
        metrics
            .register(Box::new(refused.clone()))
            .context("Failed to register anteroom_rate_limited_total")?;
        metrics
            .register(Box::new(tracked.clone()))
            .context("Failed to register anteroom_rate_limit_keys")?;
        let quota = if on {
            a.join_quota_per_ip_per_minute
        } else {
            0
        };
        Ok(Self {
            source: ClientIpSource::new(&a.trusted_proxy_header, a.trusted_proxy_hops),
            join_ip: KeyedLimiter::new(on, a.join_per_ip_per_second, a.join_per_ip_burst),
            join_token: KeyedLimiter::new(on, a.join_per_token_per_second, a.join_per_token_burst),
            status_ip: KeyedLimiter::new(on, a.status_per_ip_per_second, a.status_per_ip_burst),
            status_token: KeyedLimiter::new(
                on,
                a.status_per_token_per_second,
                a.status_per_token_burst,
            ),
            holds_ip: KeyedLimiter::new(on, a.holds_per_ip_per_second, a.holds_per_ip_burst),
            holds_token: KeyedLimiter::new(
                on,
                a.holds_per_token_per_second,
                a.holds_per_token_burst,
            ),
            gate_ip: KeyedLimiter::new(on, a.gate_per_ip_per_second, a.gate_per_ip_burst),
            gate_token: KeyedLimiter::new(on, a.gate_per_token_per_second, a.gate_per_token_burst),
            quota: JoinQuota::new(&settings.namespace, quota),
            admin_failures: FailureThrottle::new(
                a.admin_failures_per_minute,
                a.admin_failures_burst,
            ),
            streams: StreamSlots::new(
                if on { a.streams_per_ticket } else { 0 },
                if on { a.streams_per_ip } else { 0 },
                a.streams_per_replica,
            ),
            refused,
            tracked,
        })
    }

    /// Where client IPs come from.
    pub fn source(&self) -> &ClientIpSource {
        &self.source
    }

    /// The shared join quota.
    pub fn quota(&self) -> &JoinQuota {
        &self.quota
    }

    /// Failed admin authentication per client IP.
    pub fn admin_failures(&self) -> &FailureThrottle {
        &self.admin_failures
    }

    /// The client IP of a request to limit by ([`limit_key`] of what [`ClientIpSource`]
    /// finds); `None` without a socket (in-process tests).
    pub fn client_key(
        &self,
        headers: &axum::http::HeaderMap,
        peer: Option<std::net::SocketAddr>,
    ) -> Option<IpAddr> {
        self.source.client_ip(headers, peer).map(limit_key)
    }

    /// `429 rate_limited` for an address over its failed admin authentications, with
    /// `Retry-After` = `wait` rounded up to whole seconds; counted.
    pub fn refuse_admin(&self, wait: Duration) -> axum::response::Response {
        self.refused.with_label_values(&["admin", "ip"]).inc();
        enforce::too_many(wait)
    }

    /// A slot for an SSE stream of `ticket` from `client` (`stream/slots.rs`), held by
    /// the response body until the stream is dropped.
    ///
    /// # Errors
    /// [`StreamsFull`] (`429 rate_limited` with `Retry-After`) when a cap is full,
    /// counted as `class="stream"`, `scope` = `token`, `ip` or `replica`.
    pub fn open_stream(
        &self,
        ticket: TicketId,
        client: Option<IpAddr>,
    ) -> Result<StreamSlot, StreamsFull> {
        self.streams.open(ticket, client).map_err(|full| {
            self.refused
                .with_label_values(&["stream", full.label()])
                .inc();
            StreamsFull
        })
    }

    /// The per-IP limiter of `class`.
    pub fn ip_limiter(&self, class: RouteClass) -> &KeyedLimiter<IpAddr> {
        match class {
            RouteClass::Join => &self.join_ip,
            RouteClass::Status => &self.status_ip,
            RouteClass::Holds => &self.holds_ip,
            RouteClass::Gate => &self.gate_ip,
        }
    }

    /// The per-token limiter of `class`.
    pub fn token_limiter(&self, class: RouteClass) -> &TicketLimiter {
        match class {
            RouteClass::Join => &self.join_token,
            RouteClass::Status => &self.status_token,
            RouteClass::Holds => &self.holds_token,
            RouteClass::Gate => &self.gate_token,
        }
    }

    /// Counts `ticket` against the per-token limit of `class` (after its credential was
    /// verified).
    ///
    /// # Errors
    /// `429 rate_limited` with `Retry-After` when the ticket is over the limit; counted
    /// as `scope="token"`.
    pub fn check_token(&self, class: RouteClass, ticket: &TicketId) -> Result<(), TokenLimited> {
        self.token_limiter(class).check(ticket).map_err(|wait| {
            self.count(class, Scope::Token);
            TokenLimited(wait)
        })
    }

    /// `429 rate_limited` with `Retry-After` = `wait` rounded up to whole seconds (≥ 1),
    /// counted as `class`, `scope`.
    fn refuse(&self, class: RouteClass, scope: Scope, wait: Duration) -> axum::response::Response {
        self.count(class, scope);
        enforce::too_many(wait)
    }

    /// Counts a refusal in `anteroom_rate_limited_total`.
    fn count(&self, class: RouteClass, scope: Scope) {
        self.refused
            .with_label_values(&[class.label(), scope.label()])
            .inc();
    }

    /// Drops every key whose bucket refilled and publishes how many remain.
    pub fn housekeeping(&self) {
        for class in [
            RouteClass::Join,
            RouteClass::Status,
            RouteClass::Holds,
            RouteClass::Gate,
        ] {
            let ip = self.ip_limiter(class);
            ip.retain_recent();
            let token = self.token_limiter(class);
            token.retain_recent();
            let gauge = |scope: Scope, n: usize| {
                self.tracked
                    .with_label_values(&[&format!("{}_{}", class.label(), scope.label())])
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            };
            gauge(Scope::Ip, ip.len());
            gauge(Scope::Token, token.len());
        }
        self.admin_failures.retain_recent();
        self.tracked
            .with_label_values(&["admin_failures_ip"])
            .set(i64::try_from(self.admin_failures.len()).unwrap_or(i64::MAX));
        let free = self.quota.free_joins();
        free.retain_recent();
        self.tracked
            .with_label_values(&["join_quota_free"])
            .set(i64::try_from(free.len()).unwrap_or(i64::MAX));
    }
}

/// Runs [`Limits::housekeeping`] every [`HOUSEKEEPING_INTERVAL`] until `shutdown`, on
/// tokio's blocking pool: it walks every tracked key (after a spike of distinct fans,
/// hundreds of thousands), which on a runtime thread would stall the requests queued
/// behind it (a p99 of 30 ms in the join-rate bench with one runtime thread). The maps
/// are concurrent; requests meanwhile wait at most for one shard's lock.
pub async fn run_housekeeping(limits: Arc<Limits>, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {
                let limits = limits.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || limits.housekeeping()).await {
                    tracing::error!(error = %e, "limiter housekeeping failed");
                }
            }
        }
    }
}
