//! `failover`: how long a Redis Cluster primary's failover keeps its slots from
//! answering, seen through the client the gateway and the worker use
//! (`runtime::redis::RedisConn`, a cluster connection with 2 retries, every call bounded
//! by `--timeout-ms` as the gateway's `redis_timeout_ms` bounds it).
//!
//! Writes one key every `--every-ms` (a `SET` and a Lua script on the same key, as the
//! gateway's scripts do), kills the primary that owns the key with
//! `deploy/local/cluster/redis.sh kill-primary KEY`, and keeps writing until the calls
//! have answered for `--settle-secs` in a row. Prints one JSON line: the failure window
//! (first failed call to first answered call after it), the calls that failed by error
//! kind, and the calls that answered with an error that is not about connectivity (the
//! gateway would answer those with `500`, not `503`; expected 0).
//!
//! ```sh
//! deploy/local/cluster/redis.sh start
//! cargo run -p anteroom-bench --bin failover -- \
//!     --redis-url redis://127.0.0.1:7001,redis://127.0.0.1:7002,redis://127.0.0.1:7003
//! deploy/local/cluster/redis.sh restart-node PORT   # the port it printed
//! ```

use anyhow::Context;
use clap::Parser;
use runtime::redis::{ConnectOptions, RedisConnector, RedisSettings};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "failover",
    about = "Measures a Redis Cluster failover's outage"
)]
struct Cli {
    /// The cluster's seed URLs, comma-separated.
    #[arg(long, env = "ANTEROOM_TEST_REDIS_URL")]
    redis_url: String,
    /// The key written (its slot's primary is killed).
    #[arg(long, default_value = "{failover-probe}:counter")]
    key: String,
    /// Bound on each call, in ms (the gateway's redis_timeout_ms).
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Pause between calls, in ms.
    #[arg(long, default_value_t = 50)]
    every_ms: u64,
    /// Calls answered this long in a row end the measurement, in s.
    #[arg(long, default_value_t = 5)]
    settle_secs: u64,
    /// Give up after this long, in s.
    #[arg(long, default_value_t = 60)]
    max_secs: u64,
    /// The topology script.
    #[arg(long, default_value = "deploy/local/cluster/redis.sh")]
    script: String,
}

const SCRIPT: &str = "return redis.call('INCR', KEYS[1])";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = RedisSettings::parse("cluster", &cli.redis_url, "")
        .map_err(|e| anyhow::anyhow!("{}", runtime::settings::ConfigErrors(e)))?;
    let timeout = Duration::from_millis(cli.timeout_ms);
    let connector = RedisConnector::new(&settings, ConnectOptions::new(timeout, timeout))?;
    let conn = connector.connect().await.context("Cluster unreachable")?;
    let script = redis::Script::new(SCRIPT);
    let call = |mut c: runtime::redis::RedisConn, key: String| {
        let script = &script;
        async move {
            redis::cmd("SET")
                .arg(&key)
                .arg(0)
                .query_async::<()>(&mut c)
                .await?;
            script.key(&key).invoke_async::<i64>(&mut c).await
        }
    };
    call(conn.clone(), cli.key.clone())
        .await
        .context("The probe key cannot be written before the kill")?;

    let killed = std::process::Command::new(&cli.script)
        .args(["kill-primary", &cli.key])
        .output()
        .context("Failed to run the topology script")?;
    anyhow::ensure!(
        killed.status.success(),
        "kill-primary failed: {}",
        String::from_utf8_lossy(&killed.stderr)
    );
    let port = String::from_utf8_lossy(&killed.stdout).trim().to_owned();
    let start = Instant::now();

    let mut failed: BTreeMap<String, u64> = BTreeMap::new();
    let mut not_connectivity = 0u64;
    let (mut first_failure, mut recovered): (Option<Duration>, Option<Duration>) = (None, None);
    let mut answering_since: Option<Instant> = None;
    let (mut calls, mut answered) = (0u64, 0u64);
    while start.elapsed() < Duration::from_secs(cli.max_secs) {
        calls += 1;
        let outcome = tokio::time::timeout(timeout, call(conn.clone(), cli.key.clone())).await;
        let error = match outcome {
            Err(_) => Some("timeout".to_owned()),
            Ok(Err(e)) => {
                if !runtime::redis::is_unavailable(&e) {
                    not_connectivity += 1;
                }
                Some(format!("{:?}", e.kind()))
            }
            Ok(Ok(_)) => None,
        };
        match error {
            Some(kind) => {
                *failed.entry(kind).or_default() += 1;
                first_failure.get_or_insert(start.elapsed());
                recovered = None;
                answering_since = None;
            }
            None => {
                answered += 1;
                if first_failure.is_some() && recovered.is_none() {
                    recovered = Some(start.elapsed());
                }
                let since = *answering_since.get_or_insert_with(Instant::now);
                if first_failure.is_some()
                    && since.elapsed() >= Duration::from_secs(cli.settle_secs)
                {
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(cli.every_ms)).await;
    }
    let secs = |d: Option<Duration>| d.map(|d| (d.as_millis() as f64) / 1000.0);
    println!(
        "{}",
        serde_json::json!({
            "killed_port": port,
            "first_failure_s": secs(first_failure),
            "recovered_s": secs(recovered),
            "outage_s": match (first_failure, recovered) {
                (Some(a), Some(b)) => Some(((b - a).as_millis() as f64) / 1000.0),
                _ => None,
            },
            "calls": calls,
            "answered": answered,
            "failed_by_kind": failed,
            "failed_not_connectivity": not_connectivity,
        })
    );
    anyhow::ensure!(recovered.is_some(), "the key's slot never answered again");
    Ok(())
}
