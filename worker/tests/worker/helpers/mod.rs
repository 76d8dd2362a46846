//! Test harness: a real worker per test on its own database (`anteroom_test_<uuid>`)
//! and its own namespace (`test_<uuid>`, 2 shards), against the loopback PostgreSQL,
//! Redis and RabbitMQ. Commands are published with lapin exactly as the gateway does
//! (confirm mode, mandatory, direct reply-to); replies are collected by request id.
//! Set `TEST_LOG=1` to see the worker's logs.

mod amqp;
mod cleanup;
pub(crate) mod proxy;

use lapin::options::{BasicConsumeOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, Consumer};
use protocol::event::EventSpec;
use protocol::names::{RedisKeys, DIRECT_REPLY_TO};
use protocol::reply::Reply;
use secrecy::SecretString;
use sqlx::{Connection as _, Executor, PgConnection, PgPool};
use std::collections::HashMap;
use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use worker::{Application, Settings};

pub(crate) const SHARDS: u16 = 2;
/// How long any single reply may take.
pub(crate) const REPLY_WITHIN: Duration = Duration::from_secs(15);

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

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.into())
}
pub(crate) fn maintenance_db_url() -> String {
    env_or(
        "ANTEROOM_TEST_DATABASE_URL",
        "postgres://postgres:postgres@127.0.0.1:5432/postgres",
    )
}
pub(crate) fn redis_url() -> String {
    env_or("ANTEROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379")
}
pub(crate) fn amqp_url() -> String {
    env_or(
        "ANTEROOM_TEST_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    )
}

/// A running worker.
pub(crate) struct RunningWorker {
    pub(crate) metrics_port: u16,
    cancel: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

/// One isolated test environment.
pub(crate) struct TestEnv {
    pub(crate) namespace: String,
    pub(crate) db_name: String,
    pub(crate) settings: Settings,
    pub(crate) pool: PgPool,
    pub(crate) keys: RedisKeys,
    pub(crate) redis: redis::aio::MultiplexedConnection,
    pub(crate) worker: Option<RunningWorker>,
    amqp: Connection,
    channel: Channel,
    replies: Consumer,
    received: HashMap<String, Reply>,
}

impl TestEnv {
    /// A fresh database and namespace, with one worker running.
    pub(crate) async fn start() -> TestEnv {
        let mut env = Self::without_worker().await;
        env.worker = Some(env.spawn_worker().await);
        env
    }

    /// A fresh database and namespace, no worker yet.
    pub(crate) async fn without_worker() -> TestEnv {
        LazyLock::force(&TRACING);
        let id = Uuid::new_v4().simple().to_string();
        let namespace = format!("test_{id}");
        let db_name = format!("anteroom_test_{id}");
        let maintenance = maintenance_db_url();
        let mut conn = PgConnection::connect(&maintenance)
            .await
            .expect("PostgreSQL");
        conn.execute(format!(r#"CREATE DATABASE "{db_name}""#).as_str())
            .await
            .expect("Failed to create the test database");
        let base = maintenance
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&maintenance);
        let db_url = format!("{base}/{db_name}");
        let settings = Settings {
            database_url: SecretString::from(db_url.clone()),
            redis_url: redis_url(),
            amqp_url: amqp_url(),
            namespace: namespace.clone(),
            shards: SHARDS,
            metrics_port: 0,
            probe_interval_ms: 200,
            ..Default::default()
        };
        // Migrations run in Application::build; connect lazily so the pool works after.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_lazy(&db_url)
            .expect("pool");
        let redis = redis::Client::open(redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("Redis");
        let amqp = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("RabbitMQ");
        let channel = amqp.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        let replies = channel
            .basic_consume(
                DIRECT_REPLY_TO,
                "test-replies",
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        TestEnv {
            keys: RedisKeys::new(namespace.clone()),
            namespace,
            db_name,
            settings,
            pool,
            redis,
            worker: None,
            amqp,
            channel,
            replies,
            received: HashMap::new(),
        }
    }

    /// Builds and runs a worker with this environment's settings.
    pub(crate) async fn spawn_worker(&self) -> RunningWorker {
        let app = Application::build(self.settings.clone())
            .await
            .expect("Failed to build the worker");
        let metrics_port = app.metrics_port();
        let cancel = CancellationToken::new();
        let handle = tokio::spawn(app.run_until_stopped(cancel.clone()));
        RunningWorker {
            metrics_port,
            cancel,
            handle,
        }
    }

    /// Stops `worker` and waits (bounded) for it to return.
    pub(crate) async fn stop(worker: RunningWorker) {
        worker.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(20), worker.handle)
            .await
            .expect("the worker did not stop in time")
            .expect("the worker panicked")
            .expect("the worker failed");
    }

    /// GET `path` on the running worker's metrics server: (status, body).
    pub(crate) async fn http_get(&self, path: &str) -> (u16, String) {
        let port = self.worker.as_ref().expect("a running worker").metrics_port;
        http_get(port, path).await
    }

    /// The channel commands are published on (for manual consumers in tests).
    pub(crate) fn amqp(&self) -> &Connection {
        &self.amqp
    }
}

/// GET `path` on a worker's metrics server at `port`: (status, body).
pub(crate) async fn http_get(port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

/// Polls `probe` until it returns `Some`, panicking with `what` after `deadline`.
pub(crate) async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An open event: section A of `rows` × `per_row` seats at 1500 cents, holds of up to 4
/// seats for `hold_ttl_seconds`.
pub(crate) fn spec(rows: u32, per_row: u32, hold_ttl_seconds: u32) -> EventSpec {
    serde_json::from_value(serde_json::json!({
        "name": "Test", "venue": "Hall", "timezone": "Europe/Paris",
        "opens_at": "2020-01-01T00:00:00+01:00",
        "admission": {"rate_per_minute": 600, "max_active": 100, "pass_ttl_seconds": 600},
        "hold_ttl_seconds": hold_ttl_seconds, "max_seats_per_hold": 4,
        "seating": {"sections": [
            {"name": "A", "rows": rows, "seats_per_row": per_row, "price_cents": 1500}
        ]}
    }))
    .unwrap()
}
