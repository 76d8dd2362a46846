//! The stack under test, as real processes: `WORKERS` workers (the `anteroom-worker`
//! binary of this build) and `GATEWAYS` gateways (`FAULTS_GATEWAY_BIN`), all on the
//! private PostgreSQL, RabbitMQ and Redis of `deploy/faults/services.sh`. A worker can
//! be killed with SIGKILL (`kill -9`) and started again; logs go to
//! `<artifacts>/worker-N.log` and `gateway-N.log` (appended across restarts).

use std::path::{Path, PathBuf};
use std::time::Duration;
use testkit::process::{free_port, service_command, wait_ready};
use testkit::random_hex;
use tokio::process::{Child, Command};

/// The settings every process gets (besides its own port).
#[derive(Clone, Debug)]
pub(crate) struct Common {
    pub(crate) database_url: String,
    pub(crate) amqp_url: String,
    pub(crate) redis_url: String,
    pub(crate) namespace: String,
    pub(crate) shards: u16,
    pub(crate) admin_key: String,
    pub(crate) reply_timeout_ms: u64,
    /// The gateways' Redis call timeout (`redis_timeout_ms`), ms.
    pub(crate) redis_timeout_ms: u64,
    /// Further `ANTEROOM_*` settings of every process (the cluster run's).
    pub(crate) extra_env: Vec<(String, String)>,
}

/// One process slot (restartable).
pub(crate) struct Proc {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) child: Option<Child>,
    pub(crate) pid: Option<u32>,
}

/// Workers and gateways.
pub(crate) struct Stack {
    pub(crate) common: Common,
    pub(crate) artifacts: PathBuf,
    worker_bin: PathBuf,
    gateway_bin: PathBuf,
    pub(crate) workers: Vec<Proc>,
    pub(crate) gateways: Vec<Proc>,
    secrets: GatewaySecrets,
    http: reqwest::Client,
}

impl Stack {
    pub(crate) fn new(
        common: Common,
        artifacts: PathBuf,
        worker_bin: PathBuf,
        gateway_bin: PathBuf,
        workers: usize,
        gateways: usize,
    ) -> Self {
        let slot = |kind: &str, i: usize| Proc {
            name: format!("{kind}-{i}"),
            port: free_port(),
            child: None,
            pid: None,
        };
        Self {
            common,
            artifacts,
            worker_bin,
            gateway_bin,
            workers: (0..workers).map(|i| slot("worker", i)).collect(),
            gateways: (0..gateways).map(|i| slot("gateway", i)).collect(),
            secrets: GatewaySecrets::generate(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(6))
                .build()
                .expect("HTTP client"),
        }
    }

    fn command(&self, bin: &Path, name: &str) -> Command {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.artifacts.join(format!("{name}.log")))
            .expect("log file");
        let c = &self.common;
        let mut cmd = service_command(bin);
        cmd.env("ANTEROOM_REDIS_URL", &c.redis_url)
            .env("ANTEROOM_AMQP_URL", &c.amqp_url)
            .env("ANTEROOM_NAMESPACE", &c.namespace)
            .env("ANTEROOM_SHARDS", c.shards.to_string())
            .envs(c.extra_env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        let mut cmd = Command::from(cmd);
        cmd.kill_on_drop(true);
        cmd
    }

    /// Starts worker `i` and waits until its `/readyz` answers 200.
    ///
    /// # Errors
    /// Not ready within 60 s: the last answer of `/readyz`.
    pub(crate) async fn start_worker(&mut self, i: usize) -> Result<(), String> {
        let (name, port) = (self.workers[i].name.clone(), self.workers[i].port);
        let mut cmd = self.command(&self.worker_bin, &name);
        cmd.env("ANTEROOM_DATABASE_URL", &self.common.database_url)
            .env("ANTEROOM_METRICS_PORT", port.to_string())
            .env("ANTEROOM_PROBE_INTERVAL_MS", "300")
            .env("ANTEROOM_AUDIT_INTERVAL_SECS", "2")
            .env("HOSTNAME", format!("faults-{name}"));
        let child = cmd.spawn().expect("Failed to start the worker");
        self.workers[i].pid = child.id();
        self.workers[i].child = Some(child);
        self.wait_ready(&format!("http://127.0.0.1:{port}/readyz"), &name)
            .await
    }

    /// Starts gateway `i` and waits until its `/readyz` answers 200.
    ///
    /// # Errors
    /// Not ready within 60 s: the last answer of `/readyz`.
    pub(crate) async fn start_gateway(&mut self, i: usize) -> Result<(), String> {
        let secrets = &self.secrets;
        let (name, port) = (self.gateways[i].name.clone(), self.gateways[i].port);
        let mut cmd = self.command(&self.gateway_bin, &name);
        cmd.env("ANTEROOM_HOST", "127.0.0.1")
            .env("ANTEROOM_PORT", port.to_string())
            .env("ANTEROOM_ADMIN_KEY", &self.common.admin_key)
            .env("ANTEROOM_QUEUE_TOKEN_SECRET", &secrets.queue_token_secret)
            .env("ANTEROOM_PASS_SIGNING_KEY", &secrets.pass_signing_key)
            .env(
                "ANTEROOM_REPLY_TIMEOUT_MS",
                self.common.reply_timeout_ms.to_string(),
            )
            .env(
                "ANTEROOM_REDIS_TIMEOUT_MS",
                self.common.redis_timeout_ms.to_string(),
            )
            // One client machine plays every fan: no per-IP limits.
            .env("ANTEROOM_RATE_LIMITS", "false");
        let child = cmd.spawn().expect("Failed to start the gateway");
        self.gateways[i].pid = child.id();
        self.gateways[i].child = Some(child);
        self.wait_ready(&format!("http://127.0.0.1:{port}/readyz"), &name)
            .await
    }

    async fn wait_ready(&self, url: &str, name: &str) -> Result<(), String> {
        wait_ready(&self.http, url, Duration::from_secs(60))
            .await
            .map_err(|last| {
                format!(
                    "{name} not ready at {url} within 60 s (last answer: {last}; see its log \
                     in {})",
                    self.artifacts.display()
                )
            })
    }

    /// SIGKILLs worker `i` (`kill -9`: no shutdown, no acks, no goodbye to the broker).
    pub(crate) async fn kill_worker(&mut self, i: usize) -> Option<u32> {
        let mut child = self.workers[i].child.take()?;
        child.start_kill().expect("SIGKILL");
        let _ = child.wait().await;
        self.workers[i].pid.take()
    }

    /// SIGKILLs gateway `i`: its waiting requests lose their replies.
    pub(crate) async fn kill_gateway(&mut self, i: usize) -> Option<u32> {
        let mut child = self.gateways[i].child.take()?;
        child.start_kill().expect("SIGKILL");
        let _ = child.wait().await;
        self.gateways[i].pid.take()
    }

    /// The bases of the gateways (`http://127.0.0.1:port`).
    pub(crate) fn gateway_bases(&self) -> Vec<String> {
        self.gateways
            .iter()
            .map(|g| format!("http://127.0.0.1:{}", g.port))
            .collect()
    }

    /// The `/metrics` text of every running worker, by slot.
    pub(crate) async fn worker_metrics(&self) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for (i, w) in self.workers.iter().enumerate() {
            if w.child.is_none() {
                continue;
            }
            let url = format!("http://127.0.0.1:{}/metrics", w.port);
            if let Ok(r) = self.http.get(&url).send().await {
                if let Ok(text) = r.text().await {
                    out.push((i, text));
                }
            }
        }
        out
    }

    /// The slot of the worker that is the active consumer of `shard` right now.
    pub(crate) async fn active_worker(&self, shard: u16) -> Option<usize> {
        let series = format!("anteroom_worker_shard_state{{shard=\"{shard}\",state=\"active\"}} 1");
        let active: Vec<usize> = self
            .worker_metrics()
            .await
            .into_iter()
            .filter(|(_, text)| text.lines().any(|l| l == series))
            .map(|(i, _)| i)
            .collect();
        match active.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// Kills every process (at the end of the run).
    pub(crate) async fn stop_all(&mut self) {
        for p in self.workers.iter_mut().chain(self.gateways.iter_mut()) {
            if let Some(mut c) = p.child.take() {
                let _ = c.start_kill();
                let _ = c.wait().await;
            }
        }
    }
}

/// Gateway secrets shared by every replica.
struct GatewaySecrets {
    queue_token_secret: String,
    pass_signing_key: String,
}

impl GatewaySecrets {
    fn generate() -> Self {
        Self {
            queue_token_secret: random_hex(32),
            pass_signing_key: random_hex(32),
        }
    }
}

/// A fresh admin key.
pub(crate) fn admin_key() -> String {
    random_hex(24)
}
