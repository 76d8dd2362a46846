//! Abuse controls of the gateway ([`AbuseSettings`]): per-replica rate limits (governor),
//! the per-IP join quota shared by every replica (Redis), where the client IP comes from,
//! and the secret of origin-signed user references (one place per identity).
//!
//! In a TOML file they form the `[abuse]` table; in the environment they keep flat
//! names (`ANTEROOM_JOIN_PER_IP_PER_SECOND` sets `abuse.join_per_ip_per_second`).
//! Defaults ([`ABUSE_DEFAULTS_TOML`]) never block a fan who polls as told: a fan polls
//! at most once a second (`poll_after_ms` ≥ 1000), the per-token limits allow 5/s, and
//! per-IP limits are generous because many fans share one NAT address.

use super::ConfigError;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// The embedded defaults of the `[abuse]` table, every field documented.
pub const ABUSE_DEFAULTS_TOML: &str = r#"
# Master switch: false disables every rate limit and the join quota (load tests from a
# single machine). Identity checks stay on.
rate_limits = true
# Header carrying the client IP, set by a trusted reverse proxy (e.g. "X-Forwarded-For").
# Empty: the client IP is the TCP peer address and no header is ever trusted.
trusted_proxy_header = ""
# Trusted proxies in front of the gateway, each appending to that header: the client IP
# is the entry this many places from the right (1 = the right-most).
trusted_proxy_hops = 1
# Joins per client IP per second, per replica (governor GCRA); 0 = unlimited.
join_per_ip_per_second = 20
# Joins per client IP allowed at once (burst), per replica.
join_per_ip_burst = 50
# Rejoins per queue token (ticket) per second, per replica; 0 = unlimited.
join_per_token_per_second = 2
# Rejoins per queue token at once.
join_per_token_burst = 10
# Joins per client IP per minute across all replicas (Redis fixed window); 0 = unlimited.
join_quota_per_ip_per_minute = 300
# Status polls (GET/DELETE queue, queue stream) per client IP per second; 0 = unlimited.
status_per_ip_per_second = 200
# Status polls per client IP at once.
status_per_ip_burst = 400
# Status polls per queue token (ticket) per second; 0 = unlimited.
status_per_token_per_second = 5
# Status polls per queue token at once.
status_per_token_burst = 10
# Pass requests (seats, holds, confirm, release, request results) per client IP per
# second; 0 = unlimited.
holds_per_ip_per_second = 50
# Pass requests per client IP at once.
holds_per_ip_burst = 100
# Pass requests per pass (ticket) per second; 0 = unlimited.
holds_per_token_per_second = 5
# Pass requests per pass at once.
holds_per_token_burst = 20
# Gate checks (gate mode: the venue's reverse proxy asks on every shop request) per
# client IP per second; 0 = unlimited. Without trusted_proxy_header every check comes
# from the proxy's own address, so keep this high or set the header.
gate_per_ip_per_second = 2000
# Gate checks per client IP at once.
gate_per_ip_burst = 4000
# Gate checks per pass (ticket) per second (a shop page may load dozens of files, each
# checked); 0 = unlimited.
gate_per_token_per_second = 50
# Gate checks per pass at once.
gate_per_token_burst = 200
# Open SSE streams (status and seats streams together) per ticket, per replica; past it
# a new stream is refused (429) until one closes. 0 = no cap.
streams_per_ticket = 4
# Open SSE streams per client IP, per replica (many fans may share one NAT address);
# 0 = no cap.
streams_per_ip = 1000
# Open SSE streams per replica, whatever the rate_limits switch (each holds a socket
# and a file descriptor; keep it under the process's descriptor limit); 0 = no cap.
streams_per_replica = 20000
# Failed admin authentications (wrong or missing admin key) forgiven per client IP per
# minute, per replica; past the burst every admin request from that IP is refused (429)
# until one is forgiven. Counts failures only, so it stays on when rate_limits is false;
# 0 = off.
admin_failures_per_minute = 10
# Failed admin authentications per client IP allowed at once.
admin_failures_burst = 10
# HMAC-SHA256 secret shared with the ticketing site for signed user references on join
# (at least 32 bytes). Empty: joins carrying a user reference are refused (422).
identity_secret = ""
"#;

/// Abuse controls (see [`ABUSE_DEFAULTS_TOML`] for each field's meaning and default).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbuseSettings {
    /// Master switch of rate limits and the join quota.
    pub rate_limits: bool,
    /// Trusted client-IP header; empty = none.
    pub trusted_proxy_header: String,
    /// Trusted proxies appending to that header (≥ 1).
    pub trusted_proxy_hops: u32,
    /// Joins per IP per second; 0 = unlimited.
    pub join_per_ip_per_second: u32,
    /// Join burst per IP.
    pub join_per_ip_burst: u32,
    /// Rejoins per token per second; 0 = unlimited.
    pub join_per_token_per_second: u32,
    /// Rejoin burst per token.
    pub join_per_token_burst: u32,
    /// Joins per IP per minute, all replicas; 0 = unlimited.
    pub join_quota_per_ip_per_minute: u32,
    /// Status polls per IP per second; 0 = unlimited.
    pub status_per_ip_per_second: u32,
    /// Status burst per IP.
    pub status_per_ip_burst: u32,
    /// Status polls per token per second; 0 = unlimited.
    pub status_per_token_per_second: u32,
    /// Status burst per token.
    pub status_per_token_burst: u32,
    /// Pass requests per IP per second; 0 = unlimited.
    pub holds_per_ip_per_second: u32,
    /// Pass request burst per IP.
    pub holds_per_ip_burst: u32,
    /// Pass requests per pass per second; 0 = unlimited.
    pub holds_per_token_per_second: u32,
    /// Pass request burst per pass.
    pub holds_per_token_burst: u32,
    /// Gate checks per IP per second; 0 = unlimited.
    pub gate_per_ip_per_second: u32,
    /// Gate check burst per IP.
    pub gate_per_ip_burst: u32,
    /// Gate checks per pass per second; 0 = unlimited.
    pub gate_per_token_per_second: u32,
    /// Gate check burst per pass.
    pub gate_per_token_burst: u32,
    /// Open SSE streams per ticket; 0 = no cap.
    pub streams_per_ticket: u32,
    /// Open SSE streams per client IP; 0 = no cap.
    pub streams_per_ip: u32,
    /// Open SSE streams per replica; 0 = no cap.
    pub streams_per_replica: u32,
    /// Failed admin authentications forgiven per IP per minute; 0 = off.
    pub admin_failures_per_minute: u32,
    /// Failed admin authentications per IP at once.
    pub admin_failures_burst: u32,
    /// HMAC secret of signed user references; empty = identity off.
    #[serde(deserialize_with = "secret")]
    pub identity_secret: SecretString,
}

/// Numeric and boolean keys read from the environment (flat `ANTEROOM_<KEY>` names).
const TYPED_KEYS: [&str; 24] = [
    "rate_limits",
    "trusted_proxy_hops",
    "join_per_ip_per_second",
    "join_per_ip_burst",
    "join_per_token_per_second",
    "join_per_token_burst",
    "join_quota_per_ip_per_minute",
    "status_per_ip_per_second",
    "status_per_ip_burst",
    "status_per_token_per_second",
    "status_per_token_burst",
    "holds_per_ip_per_second",
    "holds_per_ip_burst",
    "holds_per_token_per_second",
    "holds_per_token_burst",
    "gate_per_ip_per_second",
    "gate_per_ip_burst",
    "gate_per_token_per_second",
    "gate_per_token_burst",
    "streams_per_ticket",
    "streams_per_ip",
    "streams_per_replica",
    "admin_failures_per_minute",
    "admin_failures_burst",
];

/// String keys, taken raw from the environment (never parsed as numbers).
const STRING_KEYS: [&str; 2] = ["trusted_proxy_header", "identity_secret"];

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::from)
}

impl Default for AbuseSettings {
    /// The embedded defaults.
    fn default() -> Self {
        Figment::from(Toml::string(ABUSE_DEFAULTS_TOML))
            .extract()
            .expect("embedded abuse defaults are valid")
    }
}

impl AbuseSettings {
    /// Every rate limit and the join quota off (tests and load tests from one machine);
    /// everything else at its default.
    pub fn unlimited() -> Self {
        Self {
            rate_limits: false,
            ..Self::default()
        }
    }

    /// Layers the embedded defaults onto `fig` as the `[abuse]` table (before any file:
    /// a file may then set only some of the keys).
    pub(super) fn merge_defaults(fig: Figment) -> Figment {
        fig.merge(Toml::string(&format!("[abuse]\n{ABUSE_DEFAULTS_TOML}")))
    }

    /// Layers the flat `ANTEROOM_*` variables of this table onto `fig` under `abuse.`.
    pub(super) fn merge_env(mut fig: Figment) -> Figment {
        fig = fig.merge(
            Env::prefixed("ANTEROOM_")
                .only(&TYPED_KEYS)
                .map(|k| format!("abuse.{k}").into()),
        );
        for key in STRING_KEYS {
            if let Ok(raw) = std::env::var(format!("ANTEROOM_{}", key.to_uppercase())) {
                fig = fig.merge(Serialized::default(&format!("abuse.{key}"), raw));
            }
        }
        fig
    }

    /// Appends every problem to `errors` (keys are the flat names).
    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        let mut bad = |key: &str, message: &str| {
            errors.push(ConfigError {
                key: key.into(),
                message: message.into(),
            })
        };
        let header = self.trusted_proxy_header.trim();
        if !header.is_empty() && axum::http::HeaderName::from_bytes(header.as_bytes()).is_err() {
            bad("trusted_proxy_header", "must be a valid HTTP header name");
        }
        if self.trusted_proxy_hops == 0 || self.trusted_proxy_hops > 16 {
            bad("trusted_proxy_hops", "must be between 1 and 16");
        }
        let pairs = [
            (
                "join_per_ip",
                self.join_per_ip_per_second,
                self.join_per_ip_burst,
            ),
            (
                "join_per_token",
                self.join_per_token_per_second,
                self.join_per_token_burst,
            ),
            (
                "status_per_ip",
                self.status_per_ip_per_second,
                self.status_per_ip_burst,
            ),
            (
                "status_per_token",
                self.status_per_token_per_second,
                self.status_per_token_burst,
            ),
            (
                "holds_per_ip",
                self.holds_per_ip_per_second,
                self.holds_per_ip_burst,
            ),
            (
                "holds_per_token",
                self.holds_per_token_per_second,
                self.holds_per_token_burst,
            ),
            (
                "gate_per_ip",
                self.gate_per_ip_per_second,
                self.gate_per_ip_burst,
            ),
            (
                "gate_per_token",
                self.gate_per_token_per_second,
                self.gate_per_token_burst,
            ),
            (
                "admin_failures",
                self.admin_failures_per_minute,
                self.admin_failures_burst,
            ),
        ];
        for (name, rate, burst) in pairs {
            if rate > 0 && burst == 0 {
                bad(
                    &format!("{name}_burst"),
                    "must be at least 1 when the rate is set",
                );
            }
        }
        super::secrets::check_secret(
            "identity_secret",
            self.identity_secret.expose_secret(),
            false,
            errors,
        );
    }

    /// The `[abuse]` table as TOML, the identity secret redacted.
    pub(super) fn redacted_toml(&self) -> String {
        let secret = runtime::redact::secret_toml(&self.identity_secret);
        format!(
            "\n[abuse]\nrate_limits = {}\ntrusted_proxy_header = {}\ntrusted_proxy_hops = {}\n\
             join_per_ip_per_second = {}\njoin_per_ip_burst = {}\n\
             join_per_token_per_second = {}\njoin_per_token_burst = {}\n\
             join_quota_per_ip_per_minute = {}\n\
             status_per_ip_per_second = {}\nstatus_per_ip_burst = {}\n\
             status_per_token_per_second = {}\nstatus_per_token_burst = {}\n\
             holds_per_ip_per_second = {}\nholds_per_ip_burst = {}\n\
             holds_per_token_per_second = {}\nholds_per_token_burst = {}\n\
             gate_per_ip_per_second = {}\ngate_per_ip_burst = {}\n\
             gate_per_token_per_second = {}\ngate_per_token_burst = {}\n\
             streams_per_ticket = {}\nstreams_per_ip = {}\nstreams_per_replica = {}\n\
             admin_failures_per_minute = {}\nadmin_failures_burst = {}\n\
             identity_secret = {secret}\n",
            self.rate_limits,
            runtime::redact::toml_string(&self.trusted_proxy_header),
            self.trusted_proxy_hops,
            self.join_per_ip_per_second,
            self.join_per_ip_burst,
            self.join_per_token_per_second,
            self.join_per_token_burst,
            self.join_quota_per_ip_per_minute,
            self.status_per_ip_per_second,
            self.status_per_ip_burst,
            self.status_per_token_per_second,
            self.status_per_token_burst,
            self.holds_per_ip_per_second,
            self.holds_per_ip_burst,
            self.holds_per_token_per_second,
            self.holds_per_token_burst,
            self.gate_per_ip_per_second,
            self.gate_per_ip_burst,
            self.gate_per_token_per_second,
            self.gate_per_token_burst,
            self.streams_per_ticket,
            self.streams_per_ip,
            self.streams_per_replica,
            self.admin_failures_per_minute,
            self.admin_failures_burst,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_generous_enough_for_a_polling_fan() {
        let s = AbuseSettings::default();
        let mut errors = Vec::new();
        s.validate(&mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(s.rate_limits);
        assert!(
            s.trusted_proxy_header.is_empty(),
            "no header trusted by default"
        );
        // poll_after_ms >= 1000 ms: one poll per second per fan, with room for retries.
        assert!(s.status_per_token_per_second >= 1 && s.status_per_token_burst >= 2);
        assert!(!AbuseSettings::unlimited().rate_limits);
    }

    #[test]
    fn every_problem_is_reported_by_its_flat_name() {
        let s = AbuseSettings {
            trusted_proxy_header: "bad header".into(),
            trusted_proxy_hops: 0,
            status_per_token_burst: 0,
            identity_secret: SecretString::from("short"),
            ..AbuseSettings::default()
        };
        let mut errors = Vec::new();
        s.validate(&mut errors);
        let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "trusted_proxy_header",
                "trusted_proxy_hops",
                "status_per_token_burst",
                "identity_secret"
            ]
        );
    }

    #[test]
    fn redacted_table_reparses_without_the_secret() {
        let s = AbuseSettings {
            identity_secret: SecretString::from("s".repeat(40)),
            trusted_proxy_header: "X-Forwarded-For".into(),
            ..AbuseSettings::default()
        };
        let text = s.redacted_toml();
        assert!(!text.contains(&"s".repeat(40)));
        #[derive(Deserialize)]
        struct Wrapper {
            abuse: AbuseSettings,
        }
        let back: Wrapper = Figment::from(Toml::string(&text)).extract().unwrap();
        assert_eq!(back.abuse.trusted_proxy_header, "X-Forwarded-For");
        assert_eq!(back.abuse.status_per_ip_burst, s.status_per_ip_burst);
    }
}
