//! An isolated deployment in this process: a fresh database (`anteroom_test_<id>`), a
//! Redis key prefix and AMQP names of its own (`<prefix><id>`), with workers and gateway
//! replicas started as in-process applications (`Application::build` then
//! `run_until_stopped`, exactly what the binaries run). Dropping it stops them and
//! deletes everything (see [`crate::cleanup`]).

use crate::cleanup::Cleanup;
use crate::services::{amqp_ca_file, amqp_url, init_tracing, redis_ca_file, redis_mode, redis_url};
use crate::{db, random_hex};
use secrecy::SecretString;
use std::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A service's task: `run_until_stopped`'s result.
pub type ServiceTask = JoinHandle<anyhow::Result<()>>;

/// The names, secrets and running services of one test's deployment.
pub struct Deployment {
    /// Redis key prefix and AMQP namespace.
    pub namespace: String,
    /// Shards of the deployment.
    pub shards: u16,
    /// The test's database (empty until a worker migrates it).
    pub db_name: String,
    /// Its URL.
    pub db_url: String,
    /// The gateways' admin key (48 hex characters).
    pub admin_key: String,
    /// HS256 secret of queue tokens (64 hex characters).
    pub queue_token_secret: String,
    /// Ed25519 seed of passes.
    pub pass_seed: [u8; 32],
    cancel: CancellationToken,
    tasks: Mutex<Vec<ServiceTask>>,
}

impl Deployment {
    /// Creates the database and names (`{prefix}{uuid}`) and fresh secrets; starts
    /// nothing.
    ///
    /// # Panics
    /// When PostgreSQL does not answer.
    pub async fn create(prefix: &str, shards: u16) -> Deployment {
        init_tracing();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let db_name = format!("anteroom_test_{id}");
        let db_url = db::create_database(&db_name).await;
        Deployment {
            namespace: format!("{prefix}{id}"),
            shards,
            db_name,
            db_url,
            admin_key: random_hex(24),
            queue_token_secret: random_hex(32),
            pass_seed: rand::random(),
            cancel: CancellationToken::new(),
            tasks: Mutex::default(),
        }
    }

    /// Worker settings on this deployment's database, services and names; metrics on an
    /// ephemeral port.
    pub fn worker_settings(&self) -> worker::Settings {
        worker::Settings {
            database_url: SecretString::from(self.db_url.clone()),
            redis_url: redis_url(),
            redis_mode: redis_mode(),
            redis_ca_file: redis_ca_file(),
            amqp_url: amqp_url(),
            amqp_ca_file: amqp_ca_file(),
            namespace: self.namespace.clone(),
            shards: self.shards,
            metrics_port: 0,
            ..Default::default()
        }
    }

    /// Gateway settings on this deployment's services, names and secrets: loopback on an
    /// ephemeral port, replies awaited 10 s, admission every 50 ms, and no abuse limits
    /// (every fan of a test comes from 127.0.0.1; the limits have their own tests).
    pub fn gateway_settings(&self) -> gateway::Settings {
        gateway::Settings {
            host: "127.0.0.1".into(),
            port: 0,
            redis_url: redis_url(),
            redis_mode: redis_mode(),
            redis_ca_file: redis_ca_file(),
            amqp_url: amqp_url(),
            amqp_ca_file: amqp_ca_file(),
            database_url: SecretString::from(self.db_url.clone()),
            namespace: self.namespace.clone(),
            shards: self.shards,
            admin_key: SecretString::from(self.admin_key.clone()),
            queue_token_secret: SecretString::from(self.queue_token_secret.clone()),
            pass_signing_key: SecretString::from(hex::encode(self.pass_seed)),
            reply_timeout_ms: 10_000,
            admit_interval_ms: 50,
            abuse: gateway::settings::AbuseSettings::unlimited(),
            ..Default::default()
        }
    }

    /// Builds and starts a worker; cancel the returned token to stop it (it also stops
    /// with the deployment).
    ///
    /// # Panics
    /// When the worker cannot be built (a service unreachable, a migration failing).
    pub async fn spawn_worker(&self, settings: worker::Settings) -> CancellationToken {
        let app = worker::Application::build(settings)
            .await
            .expect("Failed to build the worker");
        let stop = self.cancel.child_token();
        self.adopt(tokio::spawn(app.run_until_stopped(stop.clone())));
        stop
    }

    /// Builds and starts a gateway replica; returns its base URL,
    /// `http://127.0.0.1:{port}`.
    ///
    /// # Panics
    /// When the gateway cannot be built.
    pub async fn spawn_gateway(&self, settings: gateway::Settings) -> String {
        let app = gateway::Application::build(settings)
            .await
            .expect("Failed to build the gateway");
        let base = format!("http://127.0.0.1:{}", app.port());
        self.adopt(tokio::spawn(
            app.run_until_stopped(self.cancel.child_token()),
        ));
        base
    }

    /// A token cancelled when the deployment is dropped, for services the test starts
    /// itself.
    pub fn child_token(&self) -> CancellationToken {
        self.cancel.child_token()
    }

    /// Makes the cleanup wait (bounded) for `task` to stop before deleting anything.
    pub fn adopt(&self, task: ServiceTask) {
        self.tasks.lock().unwrap().push(task);
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.cancel.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap());
        Cleanup {
            namespace: self.namespace.clone(),
            shards: self.shards,
            database: Some(self.db_name.clone()),
        }
        .run_blocking(tasks);
    }
}
