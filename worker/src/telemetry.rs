//! Logging: `tracing` to stdout, filtered by `RUST_LOG` (default `info`), as JSON lines
//! when `log_json` is set (for log shippers) or human-readable otherwise.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Call once, from `main` (tests install their own).
pub fn init(log_json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if log_json {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}
