//! Logging: `tracing` to stdout, filtered by `RUST_LOG` (default `info`), as JSON lines
//! when the binary's `log_json` setting is on (for log shippers: one object per line,
//! the event's fields at the top level and the current span beside them), or
//! human-readable otherwise.

use tracing_subscriber::EnvFilter;

/// The filter used when `RUST_LOG` is unset or unreadable.
pub const DEFAULT_FILTER: &str = "info";

/// Installs the global subscriber: JSON lines if `json`, else human-readable text.
/// Only the first call in a process installs anything; later ones (tests that build
/// several applications) do nothing.
pub fn init(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _already_installed = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_second_init_is_harmless() {
        super::init(false);
        super::init(true);
        tracing::info!("logged after two inits");
    }
}
