//! The loopback services the tests run against, each overridable by an environment
//! variable (for CI or another machine):
//!
//! | service | variable | default |
//! |---|---|---|
//! | PostgreSQL (maintenance database) | `ANTEROOM_TEST_DATABASE_URL` | `postgres://postgres:postgres@127.0.0.1:5432/postgres` |
//! | Redis | `ANTEROOM_TEST_REDIS_URL` | `redis://127.0.0.1:6379` |
//! | RabbitMQ | `ANTEROOM_TEST_AMQP_URL` | `amqp://guest:guest@127.0.0.1:5672/%2f` |

use std::sync::LazyLock;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.into())
}

/// The maintenance database: test databases are created from it and dropped through it.
pub fn maintenance_db_url() -> String {
    env_or(
        "ANTEROOM_TEST_DATABASE_URL",
        "postgres://postgres:postgres@127.0.0.1:5432/postgres",
    )
}

/// The Redis every test shares (each under its own key prefix).
pub fn redis_url() -> String {
    env_or("ANTEROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

/// The RabbitMQ every test shares (each with its own exchange and queues).
pub fn amqp_url() -> String {
    env_or(
        "ANTEROOM_TEST_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    )
}

/// A multiplexed connection to [`redis_url`].
///
/// # Panics
/// When Redis does not answer.
pub async fn redis_conn() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .expect("Bad Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Failed to connect to Redis on loopback")
}

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var("TEST_LOG").is_ok() {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .init();
    }
});

/// With `TEST_LOG` set, prints the in-process services' logs (`RUST_LOG` filter, default
/// `info`) through the test writer; otherwise does nothing. Idempotent.
pub fn init_tracing() {
    LazyLock::force(&TRACING);
}
