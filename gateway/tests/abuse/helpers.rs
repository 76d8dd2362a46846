//! Harness: [`spawn`] starts a gateway with its own Redis namespace (and no broker);
//! [`TestGateway`] opens events (writing `config(E)` as the worker would) and calls
//! join/status/leave with an optional `X-Forwarded-For`, a queue token and a JSON body.
//! The namespace's keys are deleted on drop (`testkit::cleanup`).

use chrono::{DateTime, FixedOffset, Utc};
use protocol::event::{AdminState, EventConfig, EventSpec};
use protocol::ids::EventId;
use protocol::names::RedisKeys;
use secrecy::SecretString;
use std::sync::Mutex;
use std::time::Duration;
use testkit::cleanup::Cleanup;
use testkit::stack::ServiceTask;
pub(crate) use testkit::{random_hex, redis_conn, redis_url};
use tokio_util::sync::CancellationToken;

/// One or more gateway replicas sharing a namespace; stopped and cleaned up on drop.
pub(crate) struct TestGateway {
    /// `http://127.0.0.1:{port}` of the first replica.
    pub(crate) base: String,
    pub(crate) settings: gateway::Settings,
    pub(crate) client: reqwest::Client,
    cancel: CancellationToken,
    /// The replicas' tasks, awaited (bounded) before the cleanup.
    tasks: Mutex<Vec<ServiceTask>>,
}

/// An answer: status, `Retry-After` (if any) and the JSON body (`Null` if none).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<u64>,
    pub(crate) body: serde_json::Value,
}

impl Answer {
    pub(crate) fn token(&self) -> String {
        self.body["queue_token"]
            .as_str()
            .expect("queue_token")
            .to_string()
    }
    pub(crate) fn ticket(&self) -> String {
        self.body["ticket_id"]
            .as_str()
            .expect("ticket_id")
            .to_string()
    }
    pub(crate) fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// Starts a gateway on port 0 in a fresh namespace; `customize` adjusts its settings.
pub(crate) async fn spawn(customize: impl FnOnce(&mut gateway::Settings)) -> TestGateway {
    testkit::init_tracing();
    let namespace = format!("t{}", uuid::Uuid::new_v4().simple());
    let mut settings = gateway::Settings {
        host: "127.0.0.1".into(),
        port: 0,
        redis_url: redis_url(),
        redis_mode: testkit::services::redis_mode(),
        redis_ca_file: testkit::services::redis_ca_file(),
        // Join and status need no broker; a closed port keeps these tests from declaring
        // AMQP queues they would leave behind.
        amqp_url: "amqp://guest:guest@127.0.0.1:1/%2f".into(),
        namespace,
        shards: 2,
        admin_key: SecretString::from(random_hex(16)),
        queue_token_secret: SecretString::from(random_hex(32)),
        pass_signing_key: SecretString::from(random_hex(32)),
        ..Default::default()
    };
    customize(&mut settings);
    let mut gw = TestGateway {
        base: String::new(),
        settings: settings.clone(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        cancel: CancellationToken::new(),
        tasks: Mutex::default(),
    };
    gw.base = gw.replica(settings).await;
    gw
}

impl TestGateway {
    /// Starts one more replica with `settings` (same namespace); returns its base URL.
    pub(crate) async fn replica(&self, settings: gateway::Settings) -> String {
        let app = gateway::Application::build(settings)
            .await
            .expect("Failed to build the gateway");
        let base = format!("http://127.0.0.1:{}", app.port());
        let task = tokio::spawn(app.run_until_stopped(self.cancel.child_token()));
        self.tasks.lock().unwrap().push(task);
        base
    }

    /// An event that is open now (rate 1/min, so tickets keep waiting).
    pub(crate) async fn open_event(&self) -> EventId {
        let id = EventId::new();
        let now: DateTime<FixedOffset> = (Utc::now() - chrono::Duration::minutes(1)).into();
        let spec: EventSpec = serde_json::from_value(serde_json::json!({
            "name": "Abuse test", "venue": "Hall", "timezone": "UTC",
            "opens_at": now.to_rfc3339(),
            "admission": {"rate_per_minute": 1, "max_active": 10, "pass_ttl_seconds": 600},
            "hold_ttl_seconds": 60, "max_seats_per_hold": 4,
            "seating": {"sections": [{"name": "A", "rows": 10, "seats_per_row": 10, "price_cents": 100}]}
        }))
        .unwrap();
        let config = EventConfig {
            id,
            spec,
            admin_state: AdminState::Open,
            shuffle_commitment: None,
            shuffle_seed: None,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let keys = RedisKeys::new(self.settings.namespace.clone());
        let mut conn = redis_conn().await;
        redis::cmd("SET")
            .arg(keys.config(&id))
            .arg(serde_json::to_string(&config).unwrap())
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        id
    }

    /// `POST /v1/events/{event}/queue` on `base`.
    pub(crate) async fn join(
        &self,
        base: &str,
        event: &EventId,
        xff: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Answer {
        let mut req = self.client.post(format!("{base}/v1/events/{event}/queue"));
        if let Some(ip) = xff {
            req = req.header("x-forwarded-for", ip);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        answer(req).await
    }

    /// `GET /v1/events/{event}/queue` with `token` on the first replica.
    pub(crate) async fn status(&self, event: &EventId, token: &str, xff: Option<&str>) -> Answer {
        let mut req = self
            .client
            .get(format!("{}/v1/events/{event}/queue", self.base))
            .bearer_auth(token);
        if let Some(ip) = xff {
            req = req.header("x-forwarded-for", ip);
        }
        answer(req).await
    }

    /// `DELETE /v1/events/{event}/queue` with `token`.
    pub(crate) async fn leave(&self, event: &EventId, token: &str) -> u16 {
        self.client
            .delete(format!("{}/v1/events/{event}/queue", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request failed")
            .status()
            .as_u16()
    }

    /// The gateway's `/metrics` text.
    pub(crate) async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let res = req.send().await.expect("request failed");
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let text = res.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        retry_after,
        body,
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.cancel.cancel();
        Cleanup {
            namespace: self.settings.namespace.clone(),
            shards: 0,
            database: None,
        }
        .run_blocking(std::mem::take(&mut *self.tasks.lock().unwrap()));
    }
}
