//! The fault run: a spike of holds and confirms against real worker and gateway
//! processes while poison is sent towards the busy shard for 10 s (`poison`), the
//! shard's active worker is `kill -9`ed three times, the RabbitMQ node is restarted,
//! PostgreSQL is down for 10 s and a gateway is `kill -9`ed with requests waiting, Redis
//! is restarted, and Redis hangs for 10 s; then the client's own log is checked against
//! PostgreSQL, Redis and the dead-letter queue (`checks`, `windows`, `in_time`,
//! `poison_checks`). The cases are described in `docs/FAULTS.md`.
//!
//! Ignored by `cargo test`: it needs private service instances it may stop. Run it with
//! `deploy/faults/run.sh`, which starts them (`deploy/faults/services.sh`), builds the
//! gateway, runs `cargo test -p anteroom-worker --test faults -- --ignored --nocapture`
//! and stops them again. Environment (set by run.sh):
//!
//! - `FAULTS_DATABASE_URL`, `FAULTS_AMQP_URL`, `FAULTS_REDIS_URL`: the private services;
//! - `FAULTS_CTL`: `deploy/faults/services.sh` (for the outages);
//! - `FAULTS_GATEWAY_BIN`: the `anteroom-gateway` binary; `FAULTS_WORKER_BIN` (default:
//!   this build's `anteroom-worker`);
//! - `FAULTS_ARTIFACTS` (default `artifacts/faults`): logs, `client.jsonl`,
//!   `timeline.jsonl`, `report.txt`;
//! - `FAULTS_RATE` (default 33): buyers arriving per second, from the start until the
//!   last fault is over and at least `FAULTS_MIN_SECS` (default 75) have passed;
//! - `FAULTS_SEED` (default random): the buyers' choices;
//! - `FAULTS_POISON_SECS` (default 10, 0 = none): length of the poison window;
//! - `FAULTS_DEAD_LETTER_QUEUE`: the dead-letter queue's name, if not one of the usual
//!   `faults.dead`, `faults.dead-letters`, `faults.dead_letters`, `faults.dlq`;
//! - `FAULTS_ONLY`: a comma-separated list of fault kinds (`poison`, `kill`, `rabbitmq`,
//!   `postgres`, `redis-restart`, `redis-hang`) to inject, leaving out the others (to
//!   work on one case; such a partial run says so and cannot pass);
//! - `FAULTS_TOPOLOGY` (default `single`): `cluster` runs the same spike on a Redis
//!   Cluster and a 3-node RabbitMQ cluster (`FAULTS_REDIS_URL` and `FAULTS_AMQP_URL` are
//!   then comma-separated node lists) with the faults of [`faults::cluster_plan`]: a
//!   Redis primary killed, a RabbitMQ node stopped and started, a worker killed. The
//!   event admits at `FAULTS_ADMISSION_RATE` fans per minute (default 1,500, below the
//!   arrivals, so a queue builds up) and the fans' own admission times must show that
//!   rate within 5 % (`windows::admission_rate`).

mod buyer;
mod checks;
mod client;
mod faults;
mod in_time;
mod log;
mod poison;
mod poison_checks;
mod stack;
mod windows;

use crate::checks::Report;
use crate::client::Api;
use crate::faults::Ctl;
use crate::log::Log;
use crate::stack::{Common, Stack};
use protocol::names::RedisKeys;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const WORKERS: usize = 3;
const GATEWAYS: usize = 2;
const SHARDS: u16 = 4;
const HOLD_TTL_SECONDS: u32 = 10;
const REPLY_TIMEOUT_MS: u64 = 2_000;
/// The gateways' Redis call timeout (their default `redis_timeout_ms`, set explicitly
/// so the Redis hang's bound follows it).
const REDIS_TIMEOUT_MS: u64 = 1_000;
/// The gateway's worst case for one hold or confirm, by its own timeouts: the event read
/// through Redis (1 s), the wait for a command channel (1 s), the publisher confirm (5 s,
/// which bounds the 2 s reply wait too) and the `202` marker written to Redis (1 s);
/// plus 3 s of slack for a loaded machine. An attempt slower than this is a hang
/// (`FAULTS_HANG_MS` overrides it: on a machine with a load far above its cores,
/// everything is slower).
const HANG_MS: u64 = 1_000 + 1_000 + 5_000 + 1_000 + 3_000;

/// `/proc/loadavg`'s first three fields (1, 5, 15 min), for the report.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run deploy/faults/run.sh"))
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs private services it can stop: run deploy/faults/run.sh"]
async fn fault_run() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let artifacts = std::env::var("FAULTS_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("artifacts/faults"));
    std::fs::create_dir_all(&artifacts).unwrap();
    for f in std::fs::read_dir(&artifacts).unwrap().flatten() {
        let _ = std::fs::remove_file(f.path());
    }
    let rate: f64 = env_or("FAULTS_RATE", 33.0);
    let min_spike = Duration::from_secs(env_or("FAULTS_MIN_SECS", 75));
    let seed: u64 = env_or("FAULTS_SEED", rand::random());
    let cluster = std::env::var("FAULTS_TOPOLOGY").is_ok_and(|t| t == "cluster");
    // The cluster run is about failover: its poison window would only add noise to the
    // timings it judges, and the single-node run covers poison.
    let poison_secs: u64 = if cluster {
        0
    } else {
        env_or("FAULTS_POISON_SECS", 10)
    };
    let admission_rate: u32 = if cluster {
        env_or("FAULTS_ADMISSION_RATE", 1_500)
    } else {
        60_000
    };
    let only: Option<Vec<String>> = std::env::var("FAULTS_ONLY")
        .ok()
        .map(|v| v.split(',').map(|k| k.trim().to_owned()).collect());
    let common = Common {
        database_url: env("FAULTS_DATABASE_URL"),
        amqp_url: env("FAULTS_AMQP_URL"),
        redis_url: env("FAULTS_REDIS_URL"),
        namespace: "faults".into(),
        shards: SHARDS,
        admin_key: stack::admin_key(),
        reply_timeout_ms: REPLY_TIMEOUT_MS,
        redis_timeout_ms: REDIS_TIMEOUT_MS,
        extra_env: if cluster {
            vec![
                ("ANTEROOM_REDIS_MODE".into(), "cluster".into()),
                ("ANTEROOM_AMQP_QUORUM_GROUP_SIZE".into(), "3".into()),
            ]
        } else {
            Vec::new()
        },
    };
    let ctl = Ctl(PathBuf::from(env("FAULTS_CTL")));
    let mut stack = Stack::new(
        common.clone(),
        artifacts.clone(),
        std::env::var("FAULTS_WORKER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_anteroom-worker"))),
        PathBuf::from(env("FAULTS_GATEWAY_BIN")),
        WORKERS,
        GATEWAYS,
    );
    let topology = if cluster {
        "Redis Cluster + RabbitMQ cluster"
    } else {
        "single nodes"
    };
    println!(
        "faults: seed {seed}, {rate} buyers/s, {WORKERS} workers, {GATEWAYS} gateways, \
         {topology}"
    );
    for i in 0..WORKERS {
        stack
            .start_worker(i)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    for i in 0..GATEWAYS {
        stack
            .start_gateway(i)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    let event = create_event(&stack, admission_rate).await;
    let shard = protocol::shard_of(&event.parse().unwrap(), SHARDS);
    println!("faults: event {event} on shard {shard}");

    let log = Arc::new(Log::new());
    let api = Api::new(stack.gateway_bases(), event.clone(), log.clone());
    let load_before = loadavg();
    let start = Instant::now();
    let faults_over = CancellationToken::new();
    let spike = async {
        let mut tasks = JoinSet::new();
        let mut buyers = 0usize;
        // Arrivals go on until the last fault is over (and the minimum has passed).
        while !(faults_over.is_cancelled() && start.elapsed() >= min_spike) {
            let (id, api) = (buyers, api.clone());
            tasks.spawn(buyer::buy(api, id, seed));
            buyers += 1;
            tokio::time::sleep_until(start + Duration::from_secs_f64(buyers as f64 / rate)).await;
        }
        log.fault(format!("arrivals over: {buyers} buyers"));
        while let Some(done) = tasks.join_next().await {
            done.expect("a buyer panicked");
        }
        log.fault("spike over: every buyer finished");
        buyers
    };
    let target = poison::Target {
        api: &api,
        admin_key: &common.admin_key,
        amqp_url: &common.amqp_url,
        queue: protocol::names::AmqpNames::new(common.namespace.clone()).shard_queue(shard),
        shard,
        shards: SHARDS,
    };
    let inject = async {
        let mut plan = if cluster {
            faults::cluster_plan()
        } else {
            faults::plan(poison_secs)
        };
        if let Some(only) = &only {
            plan.retain(|(_, f)| only.iter().any(|k| k == faults::kind(*f)));
        }
        let slot_key = RedisKeys::new(common.namespace.clone()).availability(&event_id_of(&event));
        let injected =
            faults::inject(&mut stack, &ctl, &log, &plan, start, &target, &slot_key).await;
        faults_over.cancel();
        injected
    };
    let (buyers, injected) = tokio::join!(spike, inject);
    println!("faults: injected {}", injected.summary());

    // Every hold ends by its deadline: wait for the last ones, then check.
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&common.database_url)
        .await
        .expect("PostgreSQL");
    let event_id: uuid::Uuid = event.parse().unwrap();
    let until = Instant::now() + Duration::from_secs(u64::from(HOLD_TTL_SECONDS) + 60);
    loop {
        let held: i64 =
            sqlx::query_scalar("SELECT count(*) FROM holds WHERE event_id = $1 AND state = 'held'")
                .bind(event_id)
                .fetch_one(&db)
                .await
                .unwrap();
        if held == 0 || Instant::now() > until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let records = log.records();
    let windows = log.windows();
    let mut report = Report::default();
    checks::client_side(&records, env_or("FAULTS_HANG_MS", HANG_MS), &mut report);
    windows::poison_latency(&records, &windows, &mut report);
    windows::redis_windows(
        &records,
        &log.polls(),
        &windows,
        REDIS_TIMEOUT_MS,
        &mut report,
    );
    if cluster {
        windows::admission_rate(&records, admission_rate, &mut report);
    }
    let (late, unconfirmed) = in_time::late_requests(&artifacts);
    in_time::confirms(&records, &late, &unconfirmed, &mut report);
    checks::against_postgres(&db, event_id, &records, &mut report)
        .await
        .expect("checks against PostgreSQL");
    let availability = redis_availability(&common, &event).await;
    checks::seats_after_expiry(&db, event_id, availability, &mut report)
        .await
        .expect("seat checks");
    let docs = redis_hold_docs(&common, &event, &db).await;
    checks::hold_docs(&db, event_id, &docs, &mut report)
        .await
        .expect("hold documents");
    let verify = verify_sql(&root, &common.database_url, &event).await;
    let epoch: i64 = sqlx::query_scalar("SELECT epoch FROM shard_epochs WHERE shard = $1")
        .bind(i32::from(shard))
        .fetch_one(&db)
        .await
        .unwrap();
    let metrics = stack.worker_metrics().await;
    let metric = |name: &str| -> Option<f64> {
        let values: Vec<f64> = metrics
            .iter()
            .flat_map(|(_, t)| t.lines())
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    if let Some(sent) = &injected.poison {
        poison_checks::check(
            sent,
            &log.poison(),
            &db,
            &common.amqp_url,
            &common.namespace,
            metric("anteroom_worker_dead_letters_total"),
            &mut report,
        )
        .await
        .expect("poison checks");
    }
    stack.stop_all().await;
    log.write(&artifacts).expect("client log");

    let load_after = loadavg();
    let mut text = format!(
        "Anteroom fault run on {topology}: seed {seed}, {buyers} buyers over {:.0} s, \
         {WORKERS} workers, {GATEWAYS} gateways, {SHARDS} shards, event {event} on shard \
         {shard}, admission {admission_rate}/min\n\nfaults:\n",
        buyers as f64 / rate
    );
    for f in log.faults() {
        text += &format!("  {:>6.1} s  {}\n", f.at_ms as f64 / 1000.0, f.what);
    }
    text += &format!(
        "  kill -9 of the active worker: {}; RabbitMQ restarts: {}; PostgreSQL down {:.1} s; \
         gateway kill -9: {}; longest time to an active shard again: {:.1} s; \
         shard epoch now {epoch}; Redis restarts: {} (down {:.1} s); Redis hung {:.1} s; \
         poison window: {}; Redis primaries killed: {} (slot writable again after {:.1} s); \
         RabbitMQ cluster nodes stopped: {}\n\ncases:\n",
        injected.kills,
        injected.rabbitmq_restarts,
        injected.postgres_down_ms as f64 / 1000.0,
        injected.gateway_kills,
        injected.longest_recovery_ms as f64 / 1000.0,
        injected.redis_restarts,
        injected.redis_down_ms as f64 / 1000.0,
        injected.redis_hang_ms as f64 / 1000.0,
        if poison_secs > 0 {
            format!("{poison_secs} s")
        } else {
            "off".into()
        },
        injected.redis_primary_kills,
        injected.redis_failover_ms as f64 / 1000.0,
        injected.rabbitmq_node_stops,
    );
    for case in &report.cases {
        text += &format!("  {case}\n");
    }
    text += "\ncounts:\n";
    text += &format!(
        "  machine load (1/5/15 min): {load_before} at the start, {load_after} at the end \
         ({} cores)\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    text += &format!("  queue status polls: {}\n", log.count(&log.status_polls));
    text += &format!(
        "  GET /v1/requests polls: {}\n",
        log.count(&log.request_polls)
    );
    for (name, value) in &report.counts {
        text += &format!("  {name}: {value}\n");
    }
    let redeliveries: f64 = metrics
        .iter()
        .filter_map(|(_, t)| {
            t.lines()
                .find_map(|l| l.strip_prefix("anteroom_worker_redeliveries_total "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .sum();
    text += &format!("  redeliveries (workers alive at the end): {redeliveries}\n");
    text += &format!("  deploy/verify.sql: {}\n", verify.1);
    if !verify.0 {
        report
            .violations
            .push(format!("deploy/verify.sql failed: {}", verify.1));
    }
    let incomplete = if cluster {
        injected.kills < 1 || injected.redis_primary_kills < 1 || injected.rabbitmq_node_stops < 1
    } else {
        injected.kills < 3
            || injected.rabbitmq_restarts < 1
            || injected.postgres_down_ms < 10_000
            || injected.gateway_kills < 1
            || injected.redis_restarts < 1
            || injected.redis_hang_ms < 10_000
            || (poison_secs > 0 && injected.poison.is_none())
    };
    if incomplete || only.is_some() {
        report.violations.push(if let Some(only) = &only {
            format!(
                "partial run (FAULTS_ONLY={}): {}",
                only.join(","),
                injected.summary()
            )
        } else {
            format!("not every fault was injected: {}", injected.summary())
        });
    }
    for problem in &injected.problems {
        report.violation(format!("while injecting: {problem}"));
    }
    text += if report.violations.is_empty() {
        "\nresult: PASS (no violation)\n".to_owned()
    } else {
        format!("\nresult: FAIL\n  {}\n", report.violations.join("\n  "))
    }
    .as_str();
    std::fs::write(artifacts.join("report.txt"), &text).unwrap();
    println!("\n{text}");
    assert!(
        report.violations.is_empty(),
        "fault run failed: {:?}",
        report.violations
    );
}

fn event_id_of(event: &str) -> protocol::ids::EventId {
    event.parse().expect("event id")
}

/// Creates the event through the first gateway (admin API), admitting
/// `rate_per_minute` fans a minute; returns its id.
async fn create_event(stack: &Stack, rate_per_minute: u32) -> String {
    let base = &stack.gateway_bases()[0];
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/admin/events"))
        .bearer_auth(&stack.common.admin_key)
        .json(&buyer::event_spec(HOLD_TTL_SECONDS, rate_per_minute))
        .send()
        .await
        .expect("POST /v1/admin/events");
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    assert_eq!(status.as_u16(), 201, "create event: {body}");
    body["id"].as_str().expect("event id").to_owned()
}

/// The availability snapshot the workers keep in Redis.
async fn redis_availability(common: &Common, event: &str) -> Option<serde_json::Value> {
    let key = RedisKeys::new(common.namespace.clone()).availability(&event.parse().ok()?);
    let raw: Option<String> = redis_query(common, redis::cmd("GET").arg(key)).await.ok()?;
    serde_json::from_str(&raw?).ok()
}

/// The hold documents the workers keep in Redis (what `GET /v1/holds/{id}` answers) of
/// every hold of `event` in PostgreSQL: hold id → `hold.state`, `None` if missing.
async fn redis_hold_docs(
    common: &Common,
    event: &str,
    db: &sqlx::PgPool,
) -> std::collections::HashMap<uuid::Uuid, Option<String>> {
    let event_id: protocol::ids::EventId = event.parse().unwrap();
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM holds WHERE event_id = $1")
        .bind(event_id.0)
        .fetch_all(db)
        .await
        .unwrap();
    let keys = RedisKeys::new(common.namespace.clone());
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let names: Vec<String> = chunk
            .iter()
            .map(|h| keys.hold(&event_id, &protocol::ids::HoldId(*h)))
            .collect();
        let docs: Vec<Option<String>> = redis_query(common, redis::cmd("MGET").arg(&names))
            .await
            .unwrap();
        for (id, doc) in chunk.iter().zip(docs) {
            let state = doc
                .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
                .and_then(|v| v["hold"]["state"].as_str().map(str::to_owned));
            out.insert(*id, state);
        }
    }
    out
}

/// Sends `cmd` to the run's Redis: a single node, or the cluster (routed by the
/// command's first key) when `FAULTS_TOPOLOGY=cluster` lists several nodes.
async fn redis_query<T: redis::FromRedisValue>(
    common: &Common,
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    let nodes: Vec<&str> = common.redis_url.split(',').map(str::trim).collect();
    if common
        .extra_env
        .iter()
        .any(|(k, v)| k == "ANTEROOM_REDIS_MODE" && v == "cluster")
    {
        let mut conn = redis::cluster::ClusterClient::new(nodes)?
            .get_async_connection()
            .await?;
        cmd.query_async(&mut conn).await
    } else {
        let mut conn = redis::Client::open(nodes[0])?
            .get_multiplexed_async_connection()
            .await?;
        cmd.query_async(&mut conn).await
    }
}

/// Runs `deploy/verify.sql` with psql: (passed, its summary line).
async fn verify_sql(root: &std::path::Path, url: &str, event: &str) -> (bool, String) {
    let out = tokio::process::Command::new("psql")
        .args([url, "-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .arg("-v")
        .arg(format!("event_id={event}"))
        .arg("-f")
        .arg(root.join("deploy/verify.sql"))
        .output()
        .await
        .expect("psql");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rfind(|l| l.contains("verify:"))
        .unwrap_or("no summary line")
        .trim()
        .to_owned();
    (out.status.success() && line.contains("oversold=0"), line)
}
