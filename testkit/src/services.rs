//! The loopback services the tests run against, each overridable by an environment
//! variable (for CI or another machine):
//!
//! | service | variable | default |
//! |---|---|---|
//! | PostgreSQL (maintenance database) | `ANTEROOM_TEST_DATABASE_URL` | `postgres://postgres:postgres@127.0.0.1:5432/postgres` |
//! | Redis | `ANTEROOM_TEST_REDIS_URL` | `redis://127.0.0.1:6379` |
//! | Redis: `standalone` or `cluster` (the URL then lists seed nodes) | `ANTEROOM_TEST_REDIS_MODE` | `standalone` |
//! | Redis: PEM file of the CA for `rediss://` | `ANTEROOM_TEST_REDIS_CA_FILE` | empty (system roots) |
//! | RabbitMQ (one URL, or a cluster's comma-separated node URLs) | `ANTEROOM_TEST_AMQP_URL` | `amqp://guest:guest@127.0.0.1:5672/%2f` |
//! | CA file verifying `amqps://` RabbitMQ nodes | `ANTEROOM_TEST_AMQP_CA_FILE` | empty (system roots) |
//!
//! `deploy/local/cluster/rabbitmq.sh env cluster|tls` prints the RabbitMQ pair for a
//! local three-node cluster or its TLS listener.

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

/// The mode of the Redis every test shares: `standalone` or `cluster`.
pub fn redis_mode() -> String {
    env_or("ANTEROOM_TEST_REDIS_MODE", "standalone")
}

/// The PEM file of CA certificates for a `rediss://` [`redis_url`]; empty: the system's
/// roots.
pub fn redis_ca_file() -> String {
    env_or("ANTEROOM_TEST_REDIS_CA_FILE", "")
}

/// Whether the shared Redis is a cluster (`ANTEROOM_TEST_REDIS_MODE=cluster`).
pub fn redis_is_cluster() -> bool {
    redis_mode() == "cluster"
}

/// The shared Redis's settings, as the binaries would read them.
///
/// # Panics
/// When the three variables do not form valid settings (the message lists why).
pub fn redis_settings() -> runtime::redis::RedisSettings {
    runtime::redis::RedisSettings::parse(&redis_mode(), &redis_url(), &redis_ca_file())
        .unwrap_or_else(|e| {
            panic!(
                "Bad ANTEROOM_TEST_REDIS_*: {}",
                runtime::settings::ConfigErrors(e)
            )
        })
}

/// The RabbitMQ every test shares (each with its own exchange and queues).
pub fn amqp_url() -> String {
    env_or(
        "ANTEROOM_TEST_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    )
}

/// The CA file that verifies the `amqps://` nodes of [`amqp_url`]; empty = system roots.
pub fn amqp_ca_file() -> String {
    env_or("ANTEROOM_TEST_AMQP_CA_FILE", "")
}

/// A connection to the first node of [`amqp_url`] that answers, verified with
/// [`amqp_ca_file`] (what the binaries do with the same settings).
///
/// # Panics
/// When the settings are bad or no node answers.
pub async fn amqp_connect() -> lapin::Connection {
    try_amqp_connect()
        .await
        .expect("Failed to connect to RabbitMQ")
}

/// [`amqp_connect`] without the panic.
///
/// # Errors
/// Bad `ANTEROOM_TEST_AMQP_*` settings, or no node answered.
pub async fn try_amqp_connect() -> anyhow::Result<lapin::Connection> {
    let brokers = runtime::amqp::Brokers::new(&amqp_url(), &amqp_ca_file())?;
    let connected = brokers
        .connect(
            lapin::ConnectionProperties::default(),
            std::time::Duration::from_secs(10),
        )
        .await?;
    Ok(connected.connection)
}

/// A connection to the shared Redis (one node or the cluster, TLS as configured),
/// cloneable, reconnecting by itself.
///
/// # Panics
/// When Redis does not answer.
pub async fn redis_conn() -> runtime::redis::RedisConn {
    let options = runtime::redis::ConnectOptions::new(
        std::time::Duration::from_secs(5),
        std::time::Duration::from_secs(10),
    );
    runtime::redis::RedisConnector::new(&redis_settings(), options)
        .expect("Bad Redis settings")
        .connect()
        .await
        .expect("Failed to connect to the test Redis")
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
