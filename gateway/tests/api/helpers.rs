//! Test harness: a real worker and a real gateway per test, on their own database,
//! Redis key prefix and AMQP names, against the loopback PostgreSQL, Redis and RabbitMQ
//! (`testkit::Deployment`).
//!
//! `spawn_app()` gives a [`TestApp`] with typed helpers for every API call the tests
//! make (`fans.rs`, `admin.rs`) and token forgery for the auth tests (`tokens.rs`);
//! everything the test declared is deleted when the app is dropped.
//! Set `TEST_LOG=1` to see the services' logs.

mod admin;
mod fans;
mod response;
pub(crate) mod sse;
pub(crate) mod tokens;
pub(crate) mod wire;

pub(crate) use fans::{select, Fan};
pub(crate) use response::ApiResponse;
pub(crate) use testkit::{amqp_url, redis_url};

use chrono::{DateTime, FixedOffset, Utc};
use protocol::event::{Admission, EventSpec, Seating, Section};
use sqlx::PgPool;
use std::future::Future;
use std::time::Duration;
use testkit::Deployment;
use tokio_util::sync::CancellationToken;

/// Shards per test deployment (small, so each test declares few queues).
pub(crate) const SHARDS: u16 = 2;

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
    deployment: Deployment,
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
    let deployment = Deployment::create("t", SHARDS).await;
    let mut worker_settings = deployment.worker_settings();
    customize_worker(&mut worker_settings);
    let mut settings = deployment.gateway_settings();
    customize(&mut settings);
    let pool = PgPool::connect(&deployment.db_url)
        .await
        .expect("Failed to connect to the test database");
    let mut app = TestApp {
        address: String::new(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        admin_key: deployment.admin_key.clone(),
        queue_token_secret: deployment.queue_token_secret.clone(),
        pass_seed: deployment.pass_seed,
        namespace: deployment.namespace.clone(),
        db_name: deployment.db_name.clone(),
        gateway_settings: settings.clone(),
        worker_settings,
        first_worker: CancellationToken::new(),
        pool,
        deployment,
    };
    app.first_worker = app.spawn_worker(app.worker_settings.clone()).await;
    app.address = app.spawn_ready_gateway(settings).await;
    app
}

impl TestApp {
    /// Starts a worker with `settings`; cancel the returned token to stop it (it also
    /// stops with the app).
    pub(crate) async fn spawn_worker(&self, settings: worker::Settings) -> CancellationToken {
        self.deployment.spawn_worker(settings).await
    }

    /// Starts one more gateway replica with `settings`; returns its base URL.
    pub(crate) async fn spawn_gateway(&self, settings: gateway::Settings) -> String {
        self.deployment.spawn_gateway(settings).await
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

/// Polls `probe` every 200 ms (within the gateway's per-token limits) until it returns
/// `Some`, panicking with `what` after `deadline`.
pub(crate) async fn eventually<T, F, Fut>(deadline: Duration, what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    testkit::eventually(Duration::from_millis(200), deadline, what, probe).await
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
        checkout: Default::default(),
        currency: "USD".parse().expect("a currency code"),
        gate: None,
    }
}

/// `now - minutes` in +09:00.
pub(crate) fn minutes_ago(minutes: i64) -> DateTime<FixedOffset> {
    let seoul = FixedOffset::east_opt(9 * 3600).unwrap();
    (Utc::now() - chrono::Duration::minutes(minutes)).with_timezone(&seoul)
}
