//! Printing the settings without their secrets (`print-config`, `Debug`).

use super::Settings;
use secrecy::{ExposeSecret, SecretString};

impl Settings {
    /// The settings as TOML with every secret replaced by `"[redacted]"`
    /// (`anteroom-gateway print-config`).
    pub fn redacted_toml(&self) -> String {
        let redact = |s: &SecretString| {
            if s.expose_secret().is_empty() {
                "\"\"".to_string()
            } else {
                "\"[redacted]\"".to_string()
            }
        };
        let q = |s: &str| toml_string(s);
        format!(
            "host = {}\nport = {}\nredis_url = {}\namqp_url = {}\nnamespace = {}\nshards = {}\n\
             admin_key = {}\nqueue_token_secret = {}\npass_signing_key = {}\n\
             pass_previous_keys = {}\n\
             reply_timeout_ms = {}\nadmin_reply_timeout_ms = {}\nadmit_interval_ms = {}\n\
             abandon_after_seconds = {}\nqueue_token_ttl_seconds = {}\nredis_timeout_ms = {}\n\
             log_json = {}\n{}",
            q(&self.host),
            self.port,
            q(&redact_url(&self.redis_url)),
            q(&redact_url(&self.amqp_url)),
            q(&self.namespace),
            self.shards,
            redact(&self.admin_key),
            redact(&self.queue_token_secret),
            redact(&self.pass_signing_key),
            redact(&self.pass_previous_keys),
            self.reply_timeout_ms,
            self.admin_reply_timeout_ms,
            self.admit_interval_ms,
            self.abandon_after_seconds,
            self.queue_token_ttl_seconds,
            self.redis_timeout_ms,
            self.log_json,
            // The [abuse] table comes last: keys after a table header belong to it.
            self.abuse.redacted_toml(),
        )
    }
}

/// A TOML basic string literal.
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Hides the password of `scheme://user:password@host/...`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:[redacted]@{host}"),
        None => url.to_string(),
    }
}
