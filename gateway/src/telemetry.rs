//! Logging: `tracing` with an `EnvFilter` (`RUST_LOG`, default `info`), human-readable
//! or JSON (`log_json`, for production).

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber; a second call is a no-op (tests).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
