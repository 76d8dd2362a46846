//! Worker configuration: embedded defaults ([`DEFAULTS`]), then an optional TOML file
//! (`--config`), then `ANTEROOM_*` environment variables (flat names: `ANTEROOM_SHARDS`
//! sets `shards`), loaded by `runtime::settings`. Loading validates everything and
//! reports every problem at once. The database URL may carry a password, so it is a
//! `SecretString` and never logged (`print-config` shows it redacted).

use figment::providers::{Format, Toml};
use figment::Figment;
use runtime::redact::{toml_string, url_list_toml, url_toml};
pub use runtime::settings::{ConfigError, ConfigErrors};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::Path;

/// The embedded defaults, one documented line per setting (also what
/// `Settings::default()` returns).
pub const DEFAULTS: &str = r#"
# PostgreSQL, the source of truth (env ANTEROOM_DATABASE_URL). TLS:
# `?sslmode=verify-full&sslrootcert=/path/ca.pem` (sslmode disable|allow|prefer|require|
# verify-ca|verify-full; the CA file must exist and hold PEM certificates).
database_url = "postgres://postgres:postgres@127.0.0.1:5432/anteroom"
# Most PostgreSQL connections (one per active shard commits at a time, plus lookups).
database_max_connections = 20
# Redis, where the worker mirrors configs, availability, holds and results. rediss://
# for TLS. With redis_mode = "cluster", a comma-separated list of seed nodes, all
# redis:// or all rediss://.
redis_url = "redis://127.0.0.1:6379"
# "standalone" (one node) or "cluster" (a Redis Cluster; every key of one event lives
# in one slot, docs/OPERATIONS.md "Redis Cluster and TLS").
redis_mode = "standalone"
# PEM file of the CA certificates a rediss:// connection trusts instead of the system's
# roots (a private CA); "" = the system's roots. Only with a rediss:// redis_url.
redis_ca_file = ""
# RabbitMQ (commands in, replies out). One URL, or the comma-separated URLs of a
# cluster's nodes, tried in turn from a random one (all amqp:// or all amqps://); a lost
# connection reconnects to the next node.
amqp_url = "amqp://guest:guest@127.0.0.1:5672/%2f"
# PEM file of the CA certificates that verify amqps:// nodes, trusted on top of the
# system's roots; "" = the system's roots only. Certificates are always verified.
amqp_ca_file = ""
# Replicas a quorum queue (shard queues, dead letters) starts with (x-quorum-initial-group-size): 0 = the
# broker's default (every cluster node, the argument left out), else 1 to 7. RabbitMQ
# refuses to declare an existing queue with another value, so keep the value the queues
# were created with, the same on every gateway and worker (docs/OPERATIONS.md,
# "RabbitMQ cluster and TLS").
amqp_quorum_group_size = 0
# AMQP namespace ({ns}.commands, {ns}.shard.{k}) and Redis key prefix.
namespace = "anteroom"
# Shards per deployment; must equal the gateways' value.
shards = 16
# Address and port of /metrics, /healthz, /readyz (port 0 = ephemeral).
metrics_host = "127.0.0.1"
metrics_port = 9101
# Group commit: at most this many commands per batch transaction... A batch only grows
# this big when commands queue up behind the commit in progress (at low load it holds
# the few that arrive within batch_max_wait_ms): the commit's cost per hold falls with
# its size (74 us per hold in commits of 256, 50 us in commits of 1024 on the
# reference machine, docs/BENCHMARKS.md).
batch_max_commands = 1024
# ...collected for at most this long (ms) after the batch's first command.
batch_max_wait_ms = 5
# How often (ms) an active shard looks for holds past their deadline (and probes its
# queue to expire them).
expiry_tick_ms = 200
# Bound (ms) on how much earlier than its place in the shard queue a command may be
# stamped: the clock difference between any gateway and worker plus a gateway's delay
# from accepting a command to the broker queueing it. Holds expire this long after their
# deadline, so a confirm accepted in time is never refused (docs/RESERVATIONS.md).
accept_skew_ms = 2000
# How often (s) an active shard re-writes its events' config and availability to Redis.
config_refresh_secs = 30
# Least time (ms) between two availability snapshots of an event in Redis (every seat's
# status, read again by every gateway replica when it changes); changes inside it wait
# for the next snapshot, at most this long. A change of sold out is written at once.
# 0 writes one after every batch.
availability_interval_ms = 100
# How often (ms) a standby shard consumer probes its queue to learn it became active;
# also how long an active one waits for its expiry probe to come back before sending
# another.
probe_interval_ms = 1000
# How often (s) the worker counts oversold seats of its shards in PostgreSQL
# (the anteroom_seats_oversold gauge).
audit_interval_secs = 10
# Timeout (ms) of each Redis write; failures are retried later and never block acks.
redis_timeout_ms = 500
# JSON log lines instead of human-readable ones.
log_json = false
# Request results and released/expired holds older than this (s) are deleted from
# PostgreSQL (7 days; at least 90000 = 25 h, the longest a pass and its hold can ask).
retention_secs = 604800
# How often (s) the worker deletes rows past the retention period, in small batches.
prune_interval_secs = 60
# Lifetime (s) in Redis of request results and hold documents (7 days).
result_ttl_secs = 604800
# Lifetime (s) in Redis of the results of refused requests (5 min: read only by the fan
# polling its request URL; a misbehaving client makes refusals at will).
refusal_ttl_secs = 300
# Webhooks (docs/WEBHOOKS.md): delays (s) between the attempts of one delivery, each
# stretched or shortened by up to 20 % at random; after the last delay's attempt fails
# the delivery is marked failed. The default spans about 27 h.
webhook_retry_delays_secs = [5, 300, 1800, 7200, 18000, 36000, 36000]
# Timeout (ms) of one webhook attempt: connecting, sending, and the endpoint's answer.
webhook_timeout_ms = 10000
# Most webhook attempts in flight at once in one worker, all endpoints together.
webhook_concurrency = 32
# How often (ms) a worker looks for webhook deliveries due on the shards it owns.
webhook_poll_ms = 500
# Hosts webhooks may be sent to (exact names or IP addresses); empty: any host. An
# endpoint URL is chosen by whoever holds the admin key, and the worker sends to it from
# inside the deployment's network (docs/WEBHOOKS.md, "Security").
webhook_allowed_hosts = []
"#;

/// Shortest accepted `retention_secs` (25 h): a pass lives at most 24 h
/// (`MAX_PASS_TTL_SECONDS`) and its hold at most 1 h more; rows younger than that may
/// still be asked about (an idempotency key retried, a finished hold looked up).
pub const MIN_RETENTION_SECS: u64 = 25 * 3600;

/// Typed worker settings. Build with [`Settings::load`], or in tests with
/// `Settings { field, ..Default::default() }`.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// PostgreSQL URL (secret: may contain a password).
    pub database_url: SecretString,
    /// Pool size.
    pub database_max_connections: u32,
    /// Redis URL, or in cluster mode comma-separated seed URLs.
    pub redis_url: String,
    /// `standalone` or `cluster` (checked by [`Settings::redis`]).
    pub redis_mode: String,
    /// PEM file of CA certificates for `rediss://`; empty = the system's roots.
    pub redis_ca_file: String,
    /// AMQP URL, or a comma-separated list of the URLs of a cluster's nodes.
    pub amqp_url: String,
    /// PEM file of extra CA certificates for `amqps://`; empty = system roots only.
    pub amqp_ca_file: String,
    /// `x-quorum-initial-group-size` of the quorum queues it declares; 0 = omitted.
    pub amqp_quorum_group_size: i64,
    /// AMQP namespace and Redis key prefix.
    pub namespace: String,
    /// Number of shards (1..=1024).
    pub shards: u16,
    /// Metrics server address.
    pub metrics_host: String,
    /// Metrics server port (0 = ephemeral; see `Application::metrics_port`).
    pub metrics_port: u16,
    /// Most commands per group commit.
    pub batch_max_commands: usize,
    /// Longest wait for a batch to fill, in ms after its first command.
    pub batch_max_wait_ms: u64,
    /// Expiry tick, in ms.
    pub expiry_tick_ms: u64,
    /// Bound on accepted-time skew (gateway clock skew plus accept-to-enqueue delay),
    /// in ms: holds expire once a probe stamped this long after their deadline is read.
    pub accept_skew_ms: u64,
    /// Redis config/availability refresh period, in seconds.
    pub config_refresh_secs: u64,
    /// Least time between two availability snapshots of an event, in ms (0: every batch).
    pub availability_interval_ms: u64,
    /// Standby probe period, in ms.
    pub probe_interval_ms: u64,
    /// Oversold audit period, in seconds.
    pub audit_interval_secs: u64,
    /// Redis write timeout, in ms.
    pub redis_timeout_ms: u64,
    /// JSON logs.
    pub log_json: bool,
    /// Retention of request results and finished holds in PostgreSQL, in seconds
    /// (≥ 90,000: a pass lives at most 24 h and its hold 1 h more).
    pub retention_secs: u64,
    /// Period of the retention prune, in seconds.
    pub prune_interval_secs: u64,
    /// Redis lifetime of request results and hold documents, in seconds.
    pub result_ttl_secs: u64,
    /// Redis lifetime of refused requests' results, in seconds.
    pub refusal_ttl_secs: u64,
    /// Delays between webhook attempts, in seconds (1 to 20 of them).
    pub webhook_retry_delays_secs: Vec<u64>,
    /// Timeout of one webhook attempt, in milliseconds.
    pub webhook_timeout_ms: u64,
    /// Most webhook attempts in flight per worker.
    pub webhook_concurrency: usize,
    /// Interval of the webhook delivery scan, in milliseconds.
    pub webhook_poll_ms: u64,
    /// Hosts webhooks may be sent to; empty: any.
    pub webhook_allowed_hosts: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Figment::from(Toml::string(DEFAULTS))
            .extract()
            .expect("the embedded defaults are valid (tested)")
    }
}

impl Settings {
    /// Loads defaults, then `file` (TOML; must exist if given), then `ANTEROOM_*`
    /// environment variables, and validates.
    ///
    /// # Errors
    /// [`ConfigErrors`] listing every malformed or out-of-range value.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigErrors> {
        let figment = runtime::settings::defaults_then_file(Self::defaults(), file)?;
        Self::from_figment(runtime::settings::env_keys(DEFAULTS).merge_env(figment))
    }

    fn defaults() -> Figment {
        Figment::from(Toml::string(DEFAULTS))
    }

    fn from_figment(figment: Figment) -> Result<Settings, ConfigErrors> {
        let settings: Settings =
            runtime::settings::extract_all(figment, &Self::defaults(), Settings::validate)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks ranges and URL schemes.
    ///
    /// # Errors
    /// [`ConfigErrors`] with every problem found.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        let mut check = |key: &str, ok: bool, message: &str| {
            if !ok {
                errors.push(ConfigError::new(key, message));
            }
        };
        if let Err(message) =
            runtime::database::check_database_url(self.database_url.expose_secret())
        {
            check("database_url", false, &message);
        }
        check(
            "namespace",
            runtime::settings::valid_namespace(&self.namespace),
            runtime::settings::NAMESPACE_MESSAGE,
        );
        check(
            "shards",
            (1..=1024).contains(&self.shards),
            "must be between 1 and 1024",
        );
        check(
            "database_max_connections",
            (1..=1000).contains(&self.database_max_connections),
            "must be between 1 and 1000",
        );
        check(
            "batch_max_commands",
            (1..=10_000).contains(&self.batch_max_commands),
            "must be between 1 and 10000",
        );
        check(
            "batch_max_wait_ms",
            self.batch_max_wait_ms <= 1000,
            "must be at most 1000",
        );
        check(
            "expiry_tick_ms",
            (10..=10_000).contains(&self.expiry_tick_ms),
            "must be between 10 and 10000",
        );
        check(
            "accept_skew_ms",
            self.accept_skew_ms <= 60_000,
            "must be at most 60000",
        );
        check(
            "config_refresh_secs",
            (1..=3600).contains(&self.config_refresh_secs),
            "must be between 1 and 3600",
        );
        check(
            "availability_interval_ms",
            self.availability_interval_ms <= 10_000,
            "must be at most 10000",
        );
        check(
            "probe_interval_ms",
            (100..=60_000).contains(&self.probe_interval_ms),
            "must be between 100 and 60000",
        );
        check(
            "audit_interval_secs",
            (1..=3600).contains(&self.audit_interval_secs),
            "must be between 1 and 3600",
        );
        check(
            "redis_timeout_ms",
            (10..=60_000).contains(&self.redis_timeout_ms),
            "must be between 10 and 60000",
        );
        check(
            "retention_secs",
            (MIN_RETENTION_SECS..=10 * 365 * 86_400).contains(&self.retention_secs),
            "must be between 90000 (25 h) and 315360000 (10 years)",
        );
        check(
            "prune_interval_secs",
            (1..=86_400).contains(&self.prune_interval_secs),
            "must be between 1 and 86400",
        );
        check(
            "result_ttl_secs",
            (MIN_RETENTION_SECS..=10 * 365 * 86_400).contains(&self.result_ttl_secs),
            "must be between 90000 (25 h) and 315360000 (10 years)",
        );
        check(
            "refusal_ttl_secs",
            (60..=self.result_ttl_secs).contains(&self.refusal_ttl_secs),
            "must be between 60 and result_ttl_secs",
        );
        check(
            "webhook_retry_delays_secs",
            (1..=20).contains(&self.webhook_retry_delays_secs.len())
                && self
                    .webhook_retry_delays_secs
                    .iter()
                    .all(|d| (1..=7 * 86_400).contains(d)),
            "must list 1 to 20 delays, each between 1 and 604800",
        );
        check(
            "webhook_timeout_ms",
            (100..=120_000).contains(&self.webhook_timeout_ms),
            "must be between 100 and 120000",
        );
        check(
            "webhook_concurrency",
            (1..=1000).contains(&self.webhook_concurrency),
            "must be between 1 and 1000",
        );
        check(
            "webhook_poll_ms",
            (10..=60_000).contains(&self.webhook_poll_ms),
            "must be between 10 and 60000",
        );
        if let Err(problems) = self.redis() {
            errors.extend(problems);
        }
        errors.extend(runtime::amqp::check_settings(
            &self.amqp_url,
            &self.amqp_ca_file,
            self.amqp_quorum_group_size,
        ));
        ConfigErrors::check(errors)
    }

    /// The Redis settings (mode, URLs, CA certificates read from `redis_ca_file`).
    ///
    /// # Errors
    /// Every problem of `redis_mode`, `redis_url` and `redis_ca_file`.
    pub fn redis(&self) -> Result<runtime::redis::RedisSettings, Vec<ConfigError>> {
        runtime::redis::RedisSettings::parse(&self.redis_mode, &self.redis_url, &self.redis_ca_file)
    }

    /// The RabbitMQ nodes of `amqp_url`, verified with `amqp_ca_file`.
    ///
    /// # Errors
    /// A bad list or CA file (what [`Settings::validate`] reports).
    pub fn brokers(&self) -> anyhow::Result<runtime::amqp::Brokers> {
        runtime::amqp::Brokers::new(&self.amqp_url, &self.amqp_ca_file)
            .map_err(|e| anyhow::anyhow!("Invalid amqp_url or amqp_ca_file: {e}"))
    }

    /// The AMQP topology of these settings: namespace, shards, quorum group size.
    pub fn topology(&self) -> protocol::topology::Topology {
        protocol::topology::Topology::new(
            protocol::names::AmqpNames::new(self.namespace.clone()),
            self.shards,
        )
        .with_quorum_group_size(u8::try_from(self.amqp_quorum_group_size).unwrap_or(0))
    }

    /// The settings as TOML, the passwords inside URLs redacted (for `print-config`).
    pub fn redacted(&self) -> String {
        format!(
            "database_url = {}\ndatabase_max_connections = {}\nredis_url = {}\n\
             redis_mode = {}\nredis_ca_file = {}\n\
             amqp_url = {}\namqp_ca_file = {}\namqp_quorum_group_size = {}\n\
             namespace = {}\nshards = {}\nmetrics_host = {}\n\
             metrics_port = {}\nbatch_max_commands = {}\nbatch_max_wait_ms = {}\n\
             expiry_tick_ms = {}\naccept_skew_ms = {}\nconfig_refresh_secs = {}\n\
             availability_interval_ms = {}\nprobe_interval_ms = {}\n\
             audit_interval_secs = {}\nredis_timeout_ms = {}\nlog_json = {}\n\
             retention_secs = {}\nprune_interval_secs = {}\nresult_ttl_secs = {}\n\
             refusal_ttl_secs = {}\nwebhook_retry_delays_secs = {:?}\n\
             webhook_timeout_ms = {}\nwebhook_concurrency = {}\nwebhook_poll_ms = {}\n\
             webhook_allowed_hosts = [{}]\n",
            url_toml(self.database_url.expose_secret()),
            self.database_max_connections,
            url_list_toml(&self.redis_url),
            toml_string(&self.redis_mode),
            toml_string(&self.redis_ca_file),
            url_toml(&self.amqp_url),
            toml_string(&self.amqp_ca_file),
            self.amqp_quorum_group_size,
            toml_string(&self.namespace),
            self.shards,
            toml_string(&self.metrics_host),
            self.metrics_port,
            self.batch_max_commands,
            self.batch_max_wait_ms,
            self.expiry_tick_ms,
            self.accept_skew_ms,
            self.config_refresh_secs,
            self.availability_interval_ms,
            self.probe_interval_ms,
            self.audit_interval_secs,
            self.redis_timeout_ms,
            self.log_json,
            self.retention_secs,
            self.prune_interval_secs,
            self.result_ttl_secs,
            self.refusal_ttl_secs,
            self.webhook_retry_delays_secs,
            self.webhook_timeout_ms,
            self.webhook_concurrency,
            self.webhook_poll_ms,
            self.webhook_allowed_hosts
                .iter()
                .map(|h| toml_string(h))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
