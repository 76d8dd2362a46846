//! Printing the settings without their secrets (`print-config`, `Debug`).

use super::Settings;
use runtime::redact::{secret_toml as redact, toml_string as q, url_list_toml, url_toml};
use secrecy::ExposeSecret;

impl Settings {
    /// The settings as TOML with every secret replaced by `"[redacted]"`
    /// (`anteroom-gateway print-config`).
    pub fn redacted_toml(&self) -> String {
        format!(
            "host = {}\nport = {}\nredis_url = {}\nredis_mode = {}\nredis_ca_file = {}\n\
             amqp_url = {}\namqp_ca_file = {}\namqp_quorum_group_size = {}\ndatabase_url = {}\n\
             database_max_connections = {}\nnamespace = {}\nshards = {}\n\
             admin_key = {}\nqueue_token_secret = {}\npass_signing_key = {}\n\
             pass_previous_keys = {}\n\
             reply_timeout_ms = {}\nadmin_reply_timeout_ms = {}\n\
             command_batch_max = {}\ncommand_batch_delay_us = {}\nadmit_interval_ms = {}\n\
             abandon_after_seconds = {}\nqueue_token_ttl_seconds = {}\nredis_timeout_ms = {}\n\
             log_json = {}\npublic_url = {}\ncompression = {}\n{}",
            q(&self.host),
            self.port,
            url_list_toml(&self.redis_url),
            q(&self.redis_mode),
            q(&self.redis_ca_file),
            url_toml(&self.amqp_url),
            q(&self.amqp_ca_file),
            self.amqp_quorum_group_size,
            url_toml(self.database_url.expose_secret()),
            self.database_max_connections,
            q(&self.namespace),
            self.shards,
            redact(&self.admin_key),
            redact(&self.queue_token_secret),
            redact(&self.pass_signing_key),
            redact(&self.pass_previous_keys),
            self.reply_timeout_ms,
            self.admin_reply_timeout_ms,
            self.command_batch_max,
            self.command_batch_delay_us,
            self.admit_interval_ms,
            self.abandon_after_seconds,
            self.queue_token_ttl_seconds,
            self.redis_timeout_ms,
            self.log_json,
            url_toml(&self.public_url),
            self.compression,
            // The [abuse] table comes last: keys after a table header belong to it.
            self.abuse.redacted_toml(),
        )
    }
}
