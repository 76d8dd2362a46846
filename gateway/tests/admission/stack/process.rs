//! Gateways as processes of the built binary (`CARGO_BIN_EXE_anteroom-gateway`), on an
//! ephemeral port read from their JSON log line `gateway listening`.

use super::Stack;
use secrecy::ExposeSecret;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running gateway process, killed on drop.
pub(crate) struct GatewayProcess {
    child: Child,
    /// `http://127.0.0.1:{port}`.
    pub(crate) url: String,
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Stack {
    /// Starts a gateway process with this stack's settings plus `extra` environment
    /// variables (`ANTEROOM_*`); waits until it listens.
    pub(crate) fn spawn_process(&self, extra: &[(&str, String)]) -> GatewayProcess {
        let s = &self.settings;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_anteroom-gateway"));
        cmd.arg("serve")
            .env("ANTEROOM_HOST", "127.0.0.1")
            .env("ANTEROOM_PORT", "0")
            .env("ANTEROOM_REDIS_URL", &s.redis_url)
            .env("ANTEROOM_AMQP_URL", &s.amqp_url)
            .env("ANTEROOM_NAMESPACE", &s.namespace)
            .env("ANTEROOM_SHARDS", s.shards.to_string())
            .env("ANTEROOM_ADMIN_KEY", s.admin_key.expose_secret())
            .env(
                "ANTEROOM_QUEUE_TOKEN_SECRET",
                s.queue_token_secret.expose_secret(),
            )
            .env(
                "ANTEROOM_PASS_SIGNING_KEY",
                s.pass_signing_key.expose_secret(),
            )
            .env("ANTEROOM_RATE_LIMITS", "false")
            .env("ANTEROOM_LOG_JSON", "true")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("Failed to start the gateway binary");
        let stdout = child.stdout.take().unwrap();
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
