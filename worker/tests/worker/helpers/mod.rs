//! Test harness: a real worker per test on its own database (`anteroom_test_<uuid>`)
//! and its own namespace (`test_<uuid>`, 2 shards), against the loopback PostgreSQL,
//! Redis and RabbitMQ (`testkit::Deployment`, which deletes both on drop). Commands are
//! published with lapin exactly as the gateway does (confirm mode, mandatory, direct
//! reply-to); replies are collected by request id. `commands` builds the commands the
//! tests send. Set `TEST_LOG=1` to see the worker's logs.

mod amqp;
pub(crate) mod commands;

pub(crate) use testkit::amqp_url;

use lapin::options::{BasicConsumeOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, Consumer};
use protocol::event::EventSpec;
use protocol::names::{RedisKeys, DIRECT_REPLY_TO};
use protocol::reply::Reply;
use sqlx::PgPool;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use testkit::Deployment;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use worker::{Application, Settings};

pub(crate) const SHARDS: u16 = 2;
/// How long any single reply may take.
pub(crate) const REPLY_WITHIN: Duration = Duration::from_secs(15);

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
    pub(crate) redis: runtime::redis::RedisConn,
    pub(crate) worker: Option<RunningWorker>,
    amqp: Connection,
    channel: Channel,
    replies: Consumer,
    received: HashMap<String, Reply>,
    /// The number of replies in each reply batch received so far, in order.
    pub(crate) reply_batches: Vec<usize>,
    /// Last: its drop stops what is left and deletes the database and namespace.
    deployment: Deployment,
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
        let deployment = Deployment::create("test_", SHARDS).await;
        let (namespace, db_name) = (deployment.namespace.clone(), deployment.db_name.clone());
        let db_url = deployment.db_url.clone();
        let settings = Settings {
            probe_interval_ms: 200,
            ..deployment.worker_settings()
        };
        // Migrations run in Application::build; connect lazily so the pool works after.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_lazy(&db_url)
            .expect("pool");
        let redis = testkit::redis_conn().await;
        let amqp = testkit::amqp_connect().await;
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
            reply_batches: Vec::new(),
            deployment,
        }
    }

    /// Builds and runs a worker with this environment's settings.
    pub(crate) async fn spawn_worker(&self) -> RunningWorker {
        let app = Application::build(self.settings.clone())
            .await
            .expect("Failed to build the worker");
        let metrics_port = app.metrics_port();
        let cancel = self.deployment.child_token();
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

/// Polls `probe` every 50 ms until it returns `Some`, panicking with `what` after
/// `deadline`.
pub(crate) async fn eventually<T, F, Fut>(deadline: Duration, what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    testkit::eventually(Duration::from_millis(50), deadline, what, probe).await
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take() {
            w.cancel.cancel();
            self.deployment.adopt(w.handle);
        }
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

impl TestEnv {
    /// Gives `shard` an epoch row of its own (epoch 1), for commits made directly through
    /// the repository while the running worker owns the real shards.
    pub(crate) async fn own_shard(&self, shard: u16) {
        sqlx::query(
            "INSERT INTO shard_epochs (shard, epoch, owner, taken_at) VALUES ($1, 1, 'test', now())",
        )
        .bind(i32::from(shard))
        .execute(&self.pool)
        .await
        .unwrap();
    }
}

/// A new hold of `seat` (1500 cents, 5 minutes) for a new ticket, as the engine's
/// `HoldCreated` effect carries it.
pub(crate) fn new_hold(event: protocol::ids::EventId, seat: &str) -> protocol::reply::StoredHold {
    use protocol::reply::{Hold, HoldState, StoredHold};
    StoredHold {
        ticket_id: protocol::ids::TicketId::new(),
        hold: Hold {
            id: protocol::ids::HoldId::new(),
            event_id: event,
            seats: vec![seat.into()],
            state: HoldState::Held,
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(5),
            total_cents: 1500,
        },
        user_ref: None,
    }
}
