//! A real deployment for one test (`testkit::Deployment`): an in-process worker on its
//! own database and AMQP namespace, and gateways either in-process ([`Stack::start`]) or
//! as processes of the built binary ([`Stack::spawn_process`]), all on the loopback
//! services. Everything is deleted when the stack is dropped.

mod http;
pub(crate) mod process;
pub(crate) mod sse;

use chrono::{DateTime, FixedOffset, Utc};
use protocol::event::{Admission, EventSpec, Seating, Section};
use std::time::Duration;
use testkit::Deployment;

/// Worker shards of a test deployment.
pub(crate) const SHARDS: u16 = 2;

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
    deployment: Deployment,
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
        Self::worker_only_on(testkit::services::redis_url(), customize).await
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
        let deployment = Deployment::create("a", SHARDS).await;
        let mut worker_settings = deployment.worker_settings();
        let shared = redis_url == testkit::services::redis_url();
        worker_settings.redis_url = redis_url.clone();
        if !shared {
            // A private one-node Redis in plain text.
            (worker_settings.redis_mode, worker_settings.redis_ca_file) =
                ("standalone".into(), String::new());
        }
        deployment.spawn_worker(worker_settings).await;
        let mut settings = deployment.gateway_settings();
        settings.redis_url = redis_url;
        if !shared {
            (settings.redis_mode, settings.redis_ca_file) = ("standalone".into(), String::new());
        }
        customize(&mut settings);
        Stack {
            gateways: Vec::new(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            admin_key: deployment.admin_key.clone(),
            namespace: deployment.namespace.clone(),
            settings,
            deployment,
        }
    }

    /// Starts one more in-process gateway; returns its base URL.
    pub(crate) async fn add_gateway(&mut self, settings: gateway::Settings) -> String {
        let url = self.deployment.spawn_gateway(settings).await;
        self.gateways.push(url.clone());
        url
    }

    /// The first gateway's base URL.
    pub(crate) fn url(&self) -> &str {
        &self.gateways[0]
    }
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
        checkout: Default::default(),
        currency: "USD".parse().expect("a currency code"),
        gate: None,
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
