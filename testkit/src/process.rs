//! The built binaries (`anteroom-gateway`, `anteroom-worker`) as child processes: what a
//! test needs where an in-process application will not do (several replicas with their
//! own runtimes, `kill -9`, the real `main`).

use secrecy::ExposeSecret;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A free loopback port: bound, then released (a small race, fine on a test machine).
///
/// # Panics
/// When no port can be bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `bin serve`, without the `ANTEROOM_*` variables of the test's own environment (the
/// caller sets each one the process gets), plain-text `info` logs and no stdin.
pub fn service_command(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("ANTEROOM_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("serve")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

/// The `ANTEROOM_*` variables that configure a gateway process as `settings` (host,
/// port, services, names, shards, secrets, timeouts), with the abuse limits off.
pub fn gateway_env(settings: &gateway::Settings) -> Vec<(&'static str, String)> {
    let s = settings;
    vec![
        ("ANTEROOM_HOST", s.host.clone()),
        ("ANTEROOM_PORT", s.port.to_string()),
        ("ANTEROOM_REDIS_URL", s.redis_url.clone()),
        ("ANTEROOM_REDIS_MODE", s.redis_mode.clone()),
        ("ANTEROOM_REDIS_CA_FILE", s.redis_ca_file.clone()),
        ("ANTEROOM_AMQP_URL", s.amqp_url.clone()),
        ("ANTEROOM_AMQP_CA_FILE", s.amqp_ca_file.clone()),
        (
            "ANTEROOM_DATABASE_URL",
            s.database_url.expose_secret().to_owned(),
        ),
        ("ANTEROOM_NAMESPACE", s.namespace.clone()),
        ("ANTEROOM_SHARDS", s.shards.to_string()),
        ("ANTEROOM_ADMIN_KEY", s.admin_key.expose_secret().to_owned()),
        (
            "ANTEROOM_QUEUE_TOKEN_SECRET",
            s.queue_token_secret.expose_secret().to_owned(),
        ),
        (
            "ANTEROOM_PASS_SIGNING_KEY",
            s.pass_signing_key.expose_secret().to_owned(),
        ),
        ("ANTEROOM_REPLY_TIMEOUT_MS", s.reply_timeout_ms.to_string()),
        ("ANTEROOM_REDIS_TIMEOUT_MS", s.redis_timeout_ms.to_string()),
        ("ANTEROOM_RATE_LIMITS", "false".into()),
    ]
}

/// A gateway process whose port was read from its log; killed on drop.
pub struct GatewayProcess {
    child: Child,
    /// `http://127.0.0.1:{port}`.
    pub url: String,
}

impl GatewayProcess {
    /// Starts `bin` configured as `settings` plus `extra` variables (which win), with
    /// JSON logs, and waits (30 s) for its `gateway listening` line to learn its port.
    /// `TEST_LOG` set: the log is echoed to stderr.
    ///
    /// # Panics
    /// When the binary does not start or does not listen within 30 s.
    pub fn spawn(bin: &Path, settings: &gateway::Settings, extra: &[(&str, String)]) -> Self {
        let mut cmd = service_command(bin);
        cmd.envs(gateway_env(settings))
            .env("ANTEROOM_LOG_JSON", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("Failed to start the gateway binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Reads the log to the end (a full pipe would block the gateway).
        std::thread::spawn(move || {
            let show = std::env::var("TEST_LOG").is_ok();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if show {
                    eprintln!("{line}");
                }
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if v["message"] == "gateway listening" {
                    let _ = tx.send(v["port"].as_u64());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .ok()
            .flatten()
            .expect("the gateway process did not start listening");
        GatewayProcess {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `url` every 200 ms until it answers 2xx (a `/readyz`).
///
/// # Errors
/// No 2xx within `within`: the last answer (status and body) or connection error.
pub async fn wait_ready(http: &reqwest::Client, url: &str, within: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last = match http.get(url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => e.to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
