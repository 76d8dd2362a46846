//! The test's webhook receiver (`tests/data/webhook_receiver.py`, verifying with the
//! PyPI `standardwebhooks` package) and the worker binary as a process to kill.

use crate::helpers::eventually;
use serde_json::Value;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// What the receiver printed: one entry per request.
#[derive(Debug, Clone)]
pub(super) struct Received {
    /// The signature and timestamp verified.
    pub(super) valid: bool,
    /// `webhook-id`.
    pub(super) id: String,
    /// The parsed body (`null` when refused).
    pub(super) body: Value,
    /// Why it was refused (`null` when valid).
    pub(super) error: Value,
    /// How many signatures the `webhook-signature` header carried.
    pub(super) signatures: u64,
}

/// The Python receiver on `port`, its lines collected into the returned list.
pub(super) fn start_receiver(
    port: u16,
    secret: &str,
) -> (tokio::process::Child, Arc<Mutex<Vec<Received>>>) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/webhook_receiver.py"
    );
    let mut child = tokio::process::Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(secret)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 with the standardwebhooks package (pip install standardwebhooks)");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let stdout = child.stdout.take().unwrap();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            let v: Value = serde_json::from_str(&line).unwrap();
            sink.lock().unwrap().push(Received {
                valid: v["valid"].as_bool().unwrap_or(false),
                id: v["id"].as_str().unwrap_or_default().to_owned(),
                body: v["body"].clone(),
                error: v["error"].clone(),
                signatures: v["signatures"].as_u64().unwrap_or(0),
            });
        }
    });
    (child, lines)
}

pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The worker binary as a child process on `settings` (so it can be killed with
/// SIGKILL), its output discarded unless `TEST_LOG` is set.
pub(crate) fn worker_process(settings: &worker::Settings) -> tokio::process::Child {
    use secrecy::ExposeSecret;
    let list = |v: &[u64]| {
        let items: Vec<String> = v.iter().map(u64::to_string).collect();
        format!("[{}]", items.join(","))
    };
    let output = || {
        if std::env::var_os("TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        }
    };
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_anteroom-worker"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ANTEROOM_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("serve")
        .env(
            "ANTEROOM_DATABASE_URL",
            settings.database_url.expose_secret(),
        )
        .env("ANTEROOM_REDIS_URL", &settings.redis_url)
        .env("ANTEROOM_REDIS_MODE", &settings.redis_mode)
        .env("ANTEROOM_REDIS_CA_FILE", &settings.redis_ca_file)
        .env("ANTEROOM_AMQP_URL", &settings.amqp_url)
        .env("ANTEROOM_AMQP_CA_FILE", &settings.amqp_ca_file)
        .env("ANTEROOM_NAMESPACE", &settings.namespace)
        .env("ANTEROOM_SHARDS", settings.shards.to_string())
        .env("ANTEROOM_METRICS_PORT", "0")
        .env(
            "ANTEROOM_PROBE_INTERVAL_MS",
            settings.probe_interval_ms.to_string(),
        )
        .env(
            "ANTEROOM_WEBHOOK_POLL_MS",
            settings.webhook_poll_ms.to_string(),
        )
        .env(
            "ANTEROOM_WEBHOOK_TIMEOUT_MS",
            settings.webhook_timeout_ms.to_string(),
        )
        .env(
            "ANTEROOM_WEBHOOK_RETRY_DELAYS_SECS",
            list(&settings.webhook_retry_delays_secs),
        )
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output())
        .kill_on_drop(true)
        .spawn()
        .expect("the worker binary")
}

/// Waits until `received` holds `n` valid messages and returns them.
pub(super) async fn valid_messages(
    received: &Arc<Mutex<Vec<Received>>>,
    n: usize,
) -> Vec<Received> {
    let probe = || {
        let received = received.clone();
        async move {
            let valid: Vec<Received> = received
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.valid)
                .cloned()
                .collect();
            (valid.len() >= n).then_some(valid)
        }
    };
    eventually(Duration::from_secs(20), "valid messages", probe).await
}
