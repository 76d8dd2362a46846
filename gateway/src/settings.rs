//! Gateway configuration: one typed [`Settings`] struct.
//!
//! Layers, later wins (figment, through `runtime::settings`): the embedded defaults below
//! ([`DEFAULTS_TOML`]) → an optional TOML file (`--config path`) → environment variables
//! `ANTEROOM_*` with flat names (`ANTEROOM_REDIS_URL` sets `redis_url`; only the keys of
//! the defaults are read, string ones raw). [`Settings::validate`] reports every bad or
//! missing value at once. Secrets are [`SecretString`]s: `Debug` redacts them and
//! [`Settings::redacted_toml`] prints `"[redacted]"`, so they never reach a log.

use figment::providers::{Format, Toml};
use figment::Figment;
pub use runtime::settings::{ConfigError, ConfigErrors};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::path::Path;

/// The embedded defaults, every field documented. Secrets are empty here: a gateway
/// refuses to start until they are set.
pub const DEFAULTS_TOML: &str = r#"
# Address the HTTP server binds to.
host = "127.0.0.1"
# TCP port; 0 = ephemeral (tests).
port = 8080
# Redis: queue, counters, token bucket, config and availability cache, request results.
# rediss:// for TLS. With redis_mode = "cluster", a comma-separated list of seed nodes
# (e.g. "redis://10.0.0.1:6379,redis://10.0.0.2:6379"), all redis:// or all rediss://.
redis_url = "redis://127.0.0.1:6379"
# "standalone" (one node) or "cluster" (a Redis Cluster; every key of one event lives
# in one slot, docs/OPERATIONS.md "Redis Cluster and TLS").
redis_mode = "standalone"
# PEM file of the CA certificates a rediss:// connection trusts instead of the system's
# roots (a private CA); "" = the system's roots. Only with a rediss:// redis_url.
redis_ca_file = ""
# RabbitMQ: reservation commands to the worker shards. One URL, or the comma-separated
# URLs of a cluster's nodes, tried in turn from a random one (all amqp:// or all
# amqps://); a lost connection reconnects to the next node.
amqp_url = "amqp://guest:guest@127.0.0.1:5672/%2f"
# PEM file of the CA certificates that verify amqps:// nodes, trusted on top of the
# system's roots; "" = the system's roots only. Certificates are always verified.
amqp_ca_file = ""
# Replicas a quorum queue starts with (x-quorum-initial-group-size): 0 = the
# broker's default (every cluster node, the argument left out), else 1 to 7. RabbitMQ
# refuses to declare an existing queue with another value, so keep the value the queues
# were created with, the same on every gateway and worker (docs/OPERATIONS.md,
# "RabbitMQ cluster and TLS").
amqp_quorum_group_size = 0
# PostgreSQL, for the venue's back office only (API keys, webhook endpoints, order lists
# and exports): no fan route touches it, and it is connected on first use. TLS:
# `?sslmode=verify-full&sslrootcert=/path/ca.pem` (sslmode disable|allow|prefer|require|
# verify-ca|verify-full; the CA file must exist and hold PEM certificates).
database_url = "postgres://postgres:postgres@127.0.0.1:5432/anteroom"
# Most PostgreSQL connections of the back office, per replica.
database_max_connections = 4
# AMQP namespace and Redis key prefix (several deployments may share a broker).
namespace = "anteroom"
# Number of worker shards (fixed per deployment; must match the worker).
shards = 16
# Bearer key of the admin API, at least 32 bytes (required). Placeholders such as
# "change-me" are refused; generate one with `openssl rand -hex 32`.
admin_key = ""
# HS256 secret of queue tokens, at least 32 bytes (required); `openssl rand -hex 32`.
queue_token_secret = ""
# Hex of the 32-byte Ed25519 seed signing passes, shared by all replicas (required);
# `openssl rand -hex 32`. A seed of one repeated byte (the all-zero placeholder) is refused.
pass_signing_key = ""
# Previous pass signing keys, still accepted and published in the JWKS but never used to
# sign: hex Ed25519 seeds separated by commas. When rotating, move the old key here and
# keep it for at least the longest pass_ttl_seconds of any event (at most 24 h), then
# remove it (docs/OPERATIONS.md, "Rotating the pass signing key").
pass_previous_keys = ""
# How long a fan request waits for the worker's reply before answering 202, in ms.
reply_timeout_ms = 2000
# How long an admin create/patch waits for the worker's reply, in ms.
admin_reply_timeout_ms = 10000
# Most commands the gateway puts in one AMQP message to a shard (1 to 1024; 1 = the
# single form, one message per command). A batch is also cut at 1 MiB.
command_batch_max = 64
# How long the first command of a batch waits for others bound for the same shard, in
# microseconds (0 to 10000): 0 publishes at once what is queued. A lone command waits
# this long at most.
command_batch_delay_us = 200
# Period of the admission loop, in ms.
admit_interval_ms = 100
# A waiting fan not seen (status poll or open status stream) for this long is skipped by
# admission and counted as abandoned, in seconds. A replica records a fan as seen at most
# once per sixth of this (at most 10 s), and admission allows that much on top.
abandon_after_seconds = 60
# Lifetime of a queue token, in seconds (24 h).
queue_token_ttl_seconds = 86400
# Timeout of one Redis call (connect or response), in ms; past it the request is a 503.
redis_timeout_ms = 1000
# JSON logs (production) instead of human-readable ones.
log_json = false
# Public base URL of the fan pages, e.g. "https://queue.example.com" (scheme and host,
# optional port and path, no query): gate mode's check sends a fan without a good pass
# to <public_url>/e/{event_id}. Empty: http:// and the Host of the check request.
public_url = ""
# Compress answers of 1 KiB or more, and streams, with gzip or Brotli when the client
# accepts it. Turn it off when a proxy in front of the gateway compresses.
compression = true
"#;

/// Gateway settings (see [`DEFAULTS_TOML`] for each field's meaning and default).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Bind address.
    pub host: String,
    /// Bind port; 0 = ephemeral.
    pub port: u16,
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
    /// PostgreSQL URL of the back office (API keys, webhook endpoints, order reads).
    #[serde(deserialize_with = "secret")]
    pub database_url: SecretString,
    /// Most back-office PostgreSQL connections per replica.
    pub database_max_connections: u32,
    /// AMQP namespace and Redis key prefix.
    pub namespace: String,
    /// Number of worker shards.
    pub shards: u16,
    /// Admin API bearer key.
    #[serde(deserialize_with = "secret")]
    pub admin_key: SecretString,
    /// HS256 secret of queue tokens (≥ 32 bytes).
    #[serde(deserialize_with = "secret")]
    pub queue_token_secret: SecretString,
    /// Hex of a 32-byte Ed25519 seed.
    #[serde(deserialize_with = "secret")]
    pub pass_signing_key: SecretString,
    /// Hex Ed25519 seeds of previous pass keys, comma-separated (verify only).
    #[serde(deserialize_with = "secret")]
    pub pass_previous_keys: SecretString,
    /// Fan request reply wait, ms.
    pub reply_timeout_ms: u64,
    /// Admin request reply wait, ms.
    pub admin_reply_timeout_ms: u64,
    /// Most commands in one AMQP message to a shard.
    pub command_batch_max: usize,
    /// Longest wait of a batch's first command for others, µs.
    pub command_batch_delay_us: u64,
    /// Admission loop period, ms.
    pub admit_interval_ms: u64,
    /// Skip waiting fans silent for this long, seconds.
    pub abandon_after_seconds: u64,
    /// Queue token lifetime, seconds.
    pub queue_token_ttl_seconds: u64,
    /// Redis call timeout, ms.
    pub redis_timeout_ms: u64,
    /// Abuse controls: rate limits, join quota, client IP, identity secret (the
    /// `[abuse]` table; flat `ANTEROOM_*` env names, see [`abuse::ABUSE_DEFAULTS_TOML`]).
    #[serde(default)]
    pub abuse: AbuseSettings,
    /// JSON logs.
    pub log_json: bool,
    /// Public base URL of the fan pages (gate mode's redirect); empty = from `Host`.
    pub public_url: String,
    /// gzip/Brotli of answers of 1 KiB or more and of streams (`http/compression.rs`).
    pub compression: bool,
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::from)
}

impl Default for Settings {
    /// The embedded defaults (secrets empty, so [`Settings::validate`] fails until set).
    fn default() -> Self {
        Figment::from(Toml::string(DEFAULTS_TOML))
            .extract()
            .expect("embedded defaults are valid")
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted_toml())
    }
}

impl Settings {
    /// Loads defaults → `file` (TOML, if given) → `ANTEROOM_*` env, then validates.
    ///
    /// # Errors
    /// [`ConfigErrors`] listing every unreadable, mistyped or invalid setting.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigErrors> {
        let settings = Self::extract(file)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Like [`Settings::load`] without [`Settings::validate`] (`print-config`).
    ///
    /// # Errors
    /// [`ConfigErrors`] listing every unreadable or mistyped setting.
    pub fn extract(file: Option<&Path>) -> Result<Settings, ConfigErrors> {
        let fig = runtime::settings::defaults_then_file(Self::defaults(), file)?;
        let fig = runtime::settings::env_keys(DEFAULTS_TOML).merge_env(fig);
        let fig = AbuseSettings::merge_env(fig);
        runtime::settings::extract_all(fig, &Self::defaults(), Settings::validate)
    }

    /// The embedded defaults, the `[abuse]` table's included.
    fn defaults() -> Figment {
        AbuseSettings::merge_defaults(Figment::from(Toml::string(DEFAULTS_TOML)))
    }

    /// The Redis settings (mode, URLs, CA certificates read from `redis_ca_file`).
    ///
    /// # Errors
    /// Every problem of `redis_mode`, `redis_url` and `redis_ca_file`.
    pub fn redis(&self) -> Result<runtime::redis::RedisSettings, Vec<ConfigError>> {
        runtime::redis::RedisSettings::parse(&self.redis_mode, &self.redis_url, &self.redis_ca_file)
    }

    /// Checks ranges, URLs and secrets.
    ///
    /// # Errors
    /// [`ConfigErrors`] with every problem found.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        let bad = |errors: &mut Vec<ConfigError>, key: &str, message: &str| {
            errors.push(ConfigError {
                key: key.into(),
                message: message.into(),
            })
        };
        if self.host.trim().is_empty() {
            bad(&mut errors, "host", "must not be empty");
        }
        if let Err(problems) = self.redis() {
            errors.extend(problems);
        }
        errors.extend(runtime::amqp::check_settings(
            &self.amqp_url,
            &self.amqp_ca_file,
            self.amqp_quorum_group_size,
        ));
        if !runtime::settings::valid_namespace(&self.namespace) {
            bad(
                &mut errors,
                "namespace",
                runtime::settings::NAMESPACE_MESSAGE,
            );
        }
        if self.shards == 0 {
            bad(&mut errors, "shards", "must be at least 1");
        }
        if let Err(message) =
            runtime::database::check_database_url(self.database_url.expose_secret())
        {
            bad(&mut errors, "database_url", &message);
        }
        if !(1..=100).contains(&self.database_max_connections) {
            bad(
                &mut errors,
                "database_max_connections",
                "must be between 1 and 100",
            );
        }
        secrets::check_secret(
            "admin_key",
            self.admin_key.expose_secret(),
            true,
            &mut errors,
        );
        secrets::check_secret(
            "queue_token_secret",
            self.queue_token_secret.expose_secret(),
            true,
            &mut errors,
        );
        secrets::check_seed(
            "pass_signing_key",
            "it",
            self.pass_signing_key.expose_secret(),
            &mut errors,
        );
        for (i, seed) in
            crate::tokens::previous_seeds(self.pass_previous_keys.expose_secret()).enumerate()
        {
            let what = format!("entry {} (of the comma-separated seeds)", i + 1);
            secrets::check_seed("pass_previous_keys", &what, seed, &mut errors);
        }
        if self.reply_timeout_ms == 0 || self.reply_timeout_ms > 60_000 {
            bad(
                &mut errors,
                "reply_timeout_ms",
                "must be between 1 and 60000",
            );
        }
        if self.admin_reply_timeout_ms == 0 || self.admin_reply_timeout_ms > 120_000 {
            bad(
                &mut errors,
                "admin_reply_timeout_ms",
                "must be between 1 and 120000",
            );
        }
        if self.admit_interval_ms < 10 || self.admit_interval_ms > 10_000 {
            bad(
                &mut errors,
                "admit_interval_ms",
                "must be between 10 and 10000",
            );
        }
        if self.abandon_after_seconds == 0 {
            bad(&mut errors, "abandon_after_seconds", "must be at least 1");
        }
        if self.queue_token_ttl_seconds < 60 {
            bad(
                &mut errors,
                "queue_token_ttl_seconds",
                "must be at least 60",
            );
        }
        if !(1..=protocol::batch::BATCH_MAX_COMMANDS).contains(&self.command_batch_max) {
            bad(
                &mut errors,
                "command_batch_max",
                "must be between 1 and 1024",
            );
        }
        if self.command_batch_delay_us > 10_000 {
            bad(
                &mut errors,
                "command_batch_delay_us",
                "must be at most 10000 (10 ms)",
            );
        }
        if self.redis_timeout_ms == 0 || self.redis_timeout_ms > 30_000 {
            bad(
                &mut errors,
                "redis_timeout_ms",
                "must be between 1 and 30000",
            );
        }
        if !self.public_url.is_empty() && crate::gate::PublicUrl::parse(&self.public_url).is_none()
        {
            bad(
                &mut errors,
                "public_url",
                "must be an absolute http:// or https:// URL without user, query or fragment",
            );
        }
        self.abuse.validate(&mut errors);
        ConfigErrors::check(errors)
    }
}

pub mod abuse;
mod redact;
pub mod secrets;

pub use abuse::AbuseSettings;
#[cfg(test)]
mod tests;
