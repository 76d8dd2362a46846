//! Test harness: a real worker and a real gateway per test, on their own database,
//! Redis key prefix and AMQP names, against the loopback PostgreSQL, Redis and RabbitMQ.
//!
//! `spawn_app()` gives a [`TestApp`] with typed helpers for every API call the tests
//! make (`fans.rs`, `admin.rs`), token forgery for the auth tests (`tokens.rs`) and
//! best-effort cleanup of the namespace when the app is dropped (`cleanup.rs`).
//! Set `TEST_LOG=1` to see the services' logs.

mod admin;
#[path = "../support/cleanup.rs"]
mod cleanup;
mod fans;
pub(crate) mod proxy;
mod response;
pub(crate) mod sse;
pub(crate) mod tokens;

pub(crate) use fans::select;
pub(crate) use response::ApiResponse;

use chrono::{DateTime, FixedOffset, Utc};
use protocol::event::{Admission, EventSpec, Seating, Section};
use secrecy::SecretString;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use std::future::Future;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Shards per test deployment (small, so each test declares few queues).
pub(crate) const SHARDS: u16 = 2;

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

/// URLs of the real services (overridable for CI).
pub(crate) fn maintenance_db_url() -> String {
    std::env::var("ANTEROOM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}
pub(crate) fn redis_url() -> String {
    std::env::var("ANTEROOM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}
pub(crate) fn amqp_url() -> String {
    std::env::var("ANTEROOM_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A running deployment (one worker, one or more gateways) isolated for one test.
pub(crate) struct TestApp {
    /// `http://127.0.0.1:{port}` of the first gateway.
    pub(crate) address: String,
    pub(crate) client: reqwest::Client,
    pub(crate) admin_key: String,
    /// HS256 secret of queue tokens (lets tests mint expired/foreign tokens).
    pub(crate) queue_token_secret: String,
    /// Ed25519 seed of passes (lets tests mint expired passes with the real key).
    pub(crate) pass_seed: [u8; 32],
    /// Redis prefix and AMQP namespace.
    pub(crate) namespace: String,
    pub(crate) db_name: String,
    /// Settings the first gateway was built with (clone to start another replica).
    pub(crate) gateway_settings: gateway::Settings,
    /// Settings of the worker (clone to start a standby).
    pub(crate) worker_settings: worker::Settings,
    /// Stops the first worker (a failover test stops it to let a standby take over).
    pub(crate) first_worker: CancellationToken,
    pool: PgPool,
    cancel: CancellationToken,
    /// The workers' and gateways' tasks, awaited (bounded) before the cleanup.
    tasks: Mutex<Vec<JoinHandle<anyhow::Result<()>>>>,
}

/// Starts a worker and a gateway with the default test settings.
pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a worker and a gateway; `customize` may change the gateway's settings.
pub(crate) async fn spawn_app_with(customize: impl FnOnce(&mut gateway::Settings)) -> TestApp {
    spawn_app_with_both(customize, |_| {}).await
}

/// Starts a worker and a gateway, each with settings changed by its closure.
pub(crate) async fn spawn_app_with_both(
    customize: impl FnOnce(&mut gateway::Settings),
    customize_worker: impl FnOnce(&mut worker::Settings),
) -> TestApp {
    LazyLock::force(&TRACING);
    let id = Uuid::new_v4().simple().to_string();
    let namespace = format!("t{id}");
    let db_name = format!("anteroom_test_{id}");
    let db_url = create_database(&db_name).await;

    let admin_key = hex::encode(rand::random::<[u8; 24]>());
    let queue_token_secret = hex::encode(rand::random::<[u8; 32]>());
    let pass_seed: [u8; 32] = rand::random();
    let cancel = CancellationToken::new();

    let mut worker_settings = worker::Settings {
        database_url: SecretString::from(db_url.clone()),
        redis_url: redis_url(),
        amqp_url: amqp_url(),
        namespace: namespace.clone(),
        shards: SHARDS,
        metrics_port: 0,
        ..Default::default()
    };
    customize_worker(&mut worker_settings);
    let mut settings = gateway::Settings {
        host: "127.0.0.1".into(),
        port: 0,
        redis_url: redis_url(),
        amqp_url: amqp_url(),
        namespace: namespace.clone(),
        shards: SHARDS,
        admin_key: SecretString::from(admin_key.clone()),
        queue_token_secret: SecretString::from(queue_token_secret.clone()),
        pass_signing_key: SecretString::from(hex::encode(pass_seed)),
        reply_timeout_ms: 10_000,
        admit_interval_ms: 50,
        // Every fan of a test comes from 127.0.0.1: no per-IP limits here (they have
        // their own tests, `tests/abuse`).
        abuse: gateway::settings::AbuseSettings::unlimited(),
        ..Default::default()
    };
    customize(&mut settings);
    let pool = PgPool::connect(&db_url)
        .await
        .expect("Failed to connect to the test database");
    let mut app = TestApp {
        address: String::new(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        admin_key,
        queue_token_secret,
        pass_seed,
        namespace,
        db_name,
        gateway_settings: settings.clone(),
        worker_settings,
        first_worker: CancellationToken::new(),
        pool,
        cancel,
        tasks: Mutex::default(),
    };
    app.first_worker = app.spawn_worker(app.worker_settings.clone()).await;
    app.address = app.spawn_ready_gateway(settings).await;
    app
}

async fn create_database(name: &str) -> String {
    let maintenance = maintenance_db_url();
    let mut conn = PgConnection::connect(&maintenance)
        .await
        .expect("Failed to connect to PostgreSQL (maintenance database)");
    conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .expect("Failed to create the test database");
    let base = maintenance
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(maintenance);
    format!("{base}/{name}")
}

impl TestApp {
    /// Starts a worker with `settings`; cancel the returned token to stop it (it also
    /// stops with the app).
    pub(crate) async fn spawn_worker(&self, settings: worker::Settings) -> CancellationToken {
        let worker = worker::Application::build(settings)
            .await
            .expect("Failed to build the worker");
        let stop = self.cancel.child_token();
        let task = tokio::spawn(worker.run_until_stopped(stop.clone()));
        self.tasks.lock().unwrap().push(task);
        stop
    }

    /// Starts one more gateway replica with `settings`; returns its base URL.
    pub(crate) async fn spawn_gateway(&self, settings: gateway::Settings) -> String {
        let app = gateway::Application::build(settings)
            .await
            .expect("Failed to build the gateway");
        let address = format!("http://127.0.0.1:{}", app.port());
        let task = tokio::spawn(app.run_until_stopped(self.cancel.child_token()));
        self.tasks.lock().unwrap().push(task);
        address
    }

    /// Starts a replica whose dependencies are up and waits (20 s deadline) until its
    /// `/readyz` says so: a gateway may answer `503` while its first connections are
    /// still being made, as a Kubernetes readiness probe would see.
    pub(crate) async fn spawn_ready_gateway(&self, settings: gateway::Settings) -> String {
        let address = self.spawn_gateway(settings).await;
        let started = std::time::Instant::now();
        eventually(
            Duration::from_secs(20),
            "the gateway to be ready",
            || async {
                let r = self
                    .client
                    .get(format!("{address}/readyz"))
                    .send()
                    .await
                    .ok()?;
                (r.status() == 200).then_some(())
            },
        )
        .await;
        if started.elapsed() > Duration::from_millis(500) {
            eprintln!("gateway {address} ready after {:?}", started.elapsed());
        }
        address
    }

    /// The test's own database, for direct checks.
    pub(crate) fn sql(&self) -> &PgPool {
        &self.pool
    }

    /// `{address}{path}` on the first gateway.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap());
        cleanup::run_blocking(self.namespace.clone(), self.db_name.clone(), tasks);
    }
}

/// Polls `probe` every 200 ms (within the gateway's per-token limits) until it returns
/// `Some`, panicking with `what` after `deadline`.
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
        if tokio::time::Instant::now() >= until {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An event that is open now: one section `A` of `rows` × `seats_per_row` at 150.00,
/// fast admission (60000/min, 5000 active), passes of 10 min, holds of 5 min, 4 seats
/// per hold. Tests change fields as they need.
pub(crate) fn open_event_spec(rows: u32, seats_per_row: u32) -> EventSpec {
    EventSpec {
        name: "Winter Concert, Day 1".parse().unwrap(),
        venue: "Olympic Hall".parse().unwrap(),
        timezone: "Asia/Seoul".parse().unwrap(),
        opens_at: minutes_ago(1),
        prequeue_opens_at: None,
        admission: Admission {
            rate_per_minute: 60_000,
            max_active: 5_000,
            pass_ttl_seconds: 600,
        },
        hold_ttl_seconds: 300,
        max_seats_per_hold: 4,
        seating: Seating {
            sections: vec![Section {
                name: "A".parse().unwrap(),
                rows,
                seats_per_row,
                price_cents: 15_000,
            }],
        },
        require_identity: false,
    }
}

/// `now - minutes` in +09:00.
pub(crate) fn minutes_ago(minutes: i64) -> DateTime<FixedOffset> {
    let seoul = FixedOffset::east_opt(9 * 3600).unwrap();
    (Utc::now() - chrono::Duration::minutes(minutes)).with_timezone(&seoul)
}
