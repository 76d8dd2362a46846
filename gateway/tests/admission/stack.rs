//! A real deployment for one test: an in-process worker on its own database and AMQP
//! namespace, and gateways either in-process ([`Stack::start`]) or as processes of the
//! built binary ([`Stack::spawn_process`]), all on the loopback services. Everything is
//! deleted when the stack is dropped (`stack/cleanup.rs`).

#[path = "../support/cleanup.rs"]
mod cleanup;
mod http;
pub(crate) mod process;
pub(crate) mod sse;

use crate::redis_fixture::redis_url;
use chrono::{DateTime, FixedOffset, Utc};
use protocol::event::{Admission, EventSpec, Seating, Section};
use secrecy::SecretString;
use sqlx::{Connection, Executor, PgConnection};
use std::sync::LazyLock;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Worker shards of a test deployment.
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

pub(crate) fn maintenance_db_url() -> String {
    std::env::var("ANTEROOM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}
pub(crate) fn amqp_url() -> String {
    std::env::var("ANTEROOM_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A deployment isolated for one test.
pub(crate) struct Stack {
    /// Base URL of each in-process gateway.
    pub(crate) gateways: Vec<String>,
    pub(crate) client: reqwest::Client,
    pub(crate) admin_key: String,
    /// Redis prefix and AMQP namespace.
    pub(crate) namespace: String,
    /// Settings of the gateways (clone to start another).
    pub(crate) settings: gateway::Settings,
    db_name: String,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Stack {
    /// A worker and one in-process gateway; `customize` adjusts the gateway settings.
    pub(crate) async fn start(customize: impl FnOnce(&mut gateway::Settings)) -> Stack {
        let mut stack = Self::worker_only(customize).await;
        stack.add_gateway(stack.settings.clone()).await;
        stack
    }

    /// A worker only (gateways are added by the test, e.g. as processes).
    pub(crate) async fn worker_only(customize: impl FnOnce(&mut gateway::Settings)) -> Stack {
        Self::worker_only_on(redis_url(), customize).await
    }

    /// [`Stack::start`] with the worker and the gateway on the Redis at `redis_url` (a
    /// private server, e.g. to count the stack's commands there).
    pub(crate) async fn start_on(
        redis_url: String,
        customize: impl FnOnce(&mut gateway::Settings),
    ) -> Stack {
        let mut stack = Self::worker_only_on(redis_url, customize).await;
        stack.add_gateway(stack.settings.clone()).await;
        stack
    }

    async fn worker_only_on(
        redis_url: String,
        customize: impl FnOnce(&mut gateway::Settings),
    ) -> Stack {
        LazyLock::force(&TRACING);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let namespace = format!("a{id}");
        let db_name = format!("anteroom_test_{id}");
        let db_url = create_database(&db_name).await;
        let admin_key = hex::encode(rand::random::<[u8; 24]>());
        let cancel = CancellationToken::new();
        let worker = worker::Application::build(worker::Settings {
            database_url: SecretString::from(db_url),
            redis_url: redis_url.clone(),
            amqp_url: amqp_url(),
            namespace: namespace.clone(),
            shards: SHARDS,
            metrics_port: 0,
            ..Default::default()
        })
        .await
        .expect("Failed to build the worker");
        let mut settings = gateway::Settings {
            host: "127.0.0.1".into(),
            port: 0,
            redis_url,
            amqp_url: amqp_url(),
            namespace: namespace.clone(),
            shards: SHARDS,
            admin_key: SecretString::from(admin_key.clone()),
            queue_token_secret: SecretString::from(hex::encode(rand::random::<[u8; 32]>())),
            pass_signing_key: SecretString::from(hex::encode(rand::random::<[u8; 32]>())),
            reply_timeout_ms: 10_000,
            admit_interval_ms: 50,
            // Every fan of these tests comes from 127.0.0.1.
            abuse: gateway::settings::AbuseSettings::unlimited(),
            ..Default::default()
        };
        customize(&mut settings);
        Stack {
            gateways: Vec::new(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            admin_key,
            namespace,
            settings: settings.clone(),
            db_name,
            tasks: vec![tokio::spawn(worker.run_until_stopped(cancel.child_token()))],
            cancel,
        }
    }

    /// Starts one more in-process gateway; returns its base URL.
    pub(crate) async fn add_gateway(&mut self, settings: gateway::Settings) -> String {
        let app = gateway::Application::build(settings)
            .await
            .expect("Failed to build the gateway");
        let url = format!("http://127.0.0.1:{}", app.port());
        self.tasks.push(tokio::spawn(
            app.run_until_stopped(self.cancel.child_token()),
        ));
        self.gateways.push(url.clone());
        url
    }

    /// The first gateway's base URL.
    pub(crate) fn url(&self) -> &str {
        &self.gateways[0]
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.cancel.cancel();
        for t in &self.tasks {
            t.abort();
        }
        cleanup::run_blocking(self.namespace.clone(), self.db_name.clone(), Vec::new());
    }
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

/// `now + seconds` in +09:00.
pub(crate) fn in_seconds(seconds: i64) -> DateTime<FixedOffset> {
    let seoul = FixedOffset::east_opt(9 * 3600).unwrap();
    (Utc::now() + chrono::Duration::seconds(seconds)).with_timezone(&seoul)
}

/// An event open since a minute: one section `A` of `rows` × `seats_per_row`.
pub(crate) fn open_event(rows: u32, seats_per_row: u32, admission: Admission) -> EventSpec {
    EventSpec {
        name: "Admission test".parse().unwrap(),
        venue: "Olympic Hall".parse().unwrap(),
        timezone: "Asia/Seoul".parse().unwrap(),
        opens_at: in_seconds(-60),
        prequeue_opens_at: None,
        admission,
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

/// Admission settings.
pub(crate) fn admission(rate_per_minute: u32, max_active: u32, pass_ttl: u32) -> Admission {
    Admission {
        rate_per_minute,
        max_active,
        pass_ttl_seconds: pass_ttl,
    }
}
