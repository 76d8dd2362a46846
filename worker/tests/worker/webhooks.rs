//! Webhooks: the outbox is written in the group commit's transaction (checked by direct
//! SQL against the orders and holds tables), and deliveries reach a real HTTP receiver
//! that verifies every signature with the `standardwebhooks` package from PyPI
//! (`tests/data/webhook_receiver.py`), through a receiver outage and a worker change.

use crate::helpers::commands::{confirm, hold_for};
use crate::helpers::{eventually, spec, TestEnv};
use chrono::Utc;
use protocol::command::Command;
use protocol::event::{AdminState, EventPatch};
use protocol::ids::{EventId, HoldId, TicketId};
use protocol::reply::{Hold, HoldState, Outcome, StoredHold};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;
use worker::engine::Effect;
use worker::repo::Repository;

/// Holds `seat` for a new ticket: (ticket, hold id).
async fn hold_seat(env: &mut TestEnv, event: EventId, seat: &str) -> (TicketId, HoldId) {
    let ticket = TicketId::new();
    match env.send(event, hold_for(ticket, seat)).await {
        Outcome::HoldCreated(h) => (ticket, h.id),
        other => panic!("hold {seat}: {other:?}"),
    }
}

async fn buy(env: &mut TestEnv, event: EventId, seat: &str) {
    let (ticket, hold) = hold_seat(env, event, seat).await;
    match env.send(event, confirm(ticket, hold, "pay")).await {
        Outcome::OrderConfirmed(_) => {}
        other => panic!("confirm {seat}: {other:?}"),
    }
}

async fn release(env: &mut TestEnv, event: EventId, seat: &str) {
    let (ticket, hold) = hold_seat(env, event, seat).await;
    let cmd = Command::Release {
        ticket_id: ticket,
        hold_id: hold,
    };
    match env.send(event, cmd).await {
        Outcome::HoldReleased(_) => {}
        other => panic!("release {seat}: {other:?}"),
    }
}

async fn set_state(env: &mut TestEnv, event: EventId, state: AdminState) {
    let patch = EventPatch {
        state: Some(state),
        ..Default::default()
    };
    match env.send(event, Command::UpdateEvent { patch }).await {
        Outcome::EventUpdated(_) => {}
        other => panic!("update: {other:?}"),
    }
}

/// `(type, seq)` of the event's outbox rows, by sequence.
async fn outbox(env: &TestEnv, event: EventId) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT type, seq FROM webhook_outbox WHERE event_id = $1 ORDER BY seq")
        .bind(event.0)
        .fetch_all(&env.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_announces_each_decision_once_in_sequence() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 3, 300)).await;
    release(&mut env, event, "A-1-1").await;
    for seat in ["A-1-1", "A-1-2", "A-1-3"] {
        buy(&mut env, event, seat).await;
    }
    set_state(&mut env, event, AdminState::Paused).await;
    // A change that leaves the state alone announces nothing.
    set_state(&mut env, event, AdminState::Paused).await;

    // One order.confirmed row per order, and none for anything else.
    let per_order: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT o.id, (SELECT count(*) FROM webhook_outbox m
                       WHERE m.type = 'order.confirmed' AND m.subject = o.id::text
                         AND (m.body::jsonb)->'data'->>'order_id' = o.id::text)
         FROM orders o WHERE o.event_id = $1",
    )
    .bind(event.0)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(per_order.len(), 3);
    assert!(per_order.iter().all(|(_, n)| *n == 1), "{per_order:?}");
    let confirmed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_outbox WHERE event_id = $1 AND type = 'order.confirmed'",
    )
    .bind(event.0)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(confirmed, 3);

    // Every decision, in decision order, numbered 1..n without gaps.
    let rows = outbox(&env, event).await;
    let types: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "hold.created",
            "hold.released",
            "hold.created",
            "order.confirmed",
            "hold.created",
            "order.confirmed",
            "hold.created",
            "order.confirmed",
            "event.sold_out",
            "event.state_changed",
        ]
    );
    let seqs: Vec<i64> = rows.iter().map(|(_, s)| *s).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<i64>>());

    // Bodies carry what the tables hold.
    let (body, total): (String, i64) = sqlx::query_as(
        "SELECT m.body, o.total_cents FROM webhook_outbox m JOIN orders o
         ON m.subject = o.id::text WHERE m.type = 'order.confirmed' LIMIT 1",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["data"]["total_cents"], total);
    assert_eq!(body["data"]["currency"], "USD");
    assert_eq!(body["data"]["event_id"], event.to_string());
    let changed: String = sqlx::query_scalar(
        "SELECT body FROM webhook_outbox WHERE event_id = $1 AND type = 'event.state_changed'",
    )
    .bind(event.0)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    let changed: Value = serde_json::from_str(&changed).unwrap();
    assert_eq!(
        (
            &changed["data"]["previous_state"],
            &changed["data"]["state"]
        ),
        (&Value::from("open"), &Value::from("paused"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_transaction_fails_leaves_no_outbox_row() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    // A shard of its own for direct commits, so the running worker is not fenced.
    let shard: u16 = 900;
    sqlx::query(
        "INSERT INTO shard_epochs (shard, epoch, owner, taken_at) VALUES ($1, 1, 'test', now())",
    )
    .bind(i32::from(shard))
    .execute(&env.pool)
    .await
    .unwrap();
    let repo = Repository::from_pool(env.pool.clone());
    let view = |seat: &str| StoredHold {
        ticket_id: TicketId::new(),
        hold: Hold {
            id: HoldId::new(),
            event_id: event,
            seats: vec![seat.into()],
            state: HoldState::Held,
            expires_at: Utc::now() + chrono::Duration::minutes(5),
            total_cents: 1500,
        },
    };
    let (good, bad) = (view("A-1-3"), view("A-1-4"));
    // The same hold twice in one batch: PostgreSQL refuses the second insert, after the
    // outbox rows of both were written in the same transaction.
    let refused = repo
        .commit_effects(
            shard,
            1,
            &[
                Effect::HoldCreated(good.clone()),
                Effect::HoldCreated(bad.clone()),
                Effect::HoldCreated(bad.clone()),
            ],
            Utc::now(),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    // A stale epoch: fenced before anything is written.
    let fenced = repo
        .commit_effects(shard, 0, &[Effect::HoldCreated(good.clone())], Utc::now())
        .await;
    assert!(fenced.is_err());
    let subjects = [good.hold.id.to_string(), bad.hold.id.to_string()];
    let count = |env: &TestEnv| {
        let pool = env.pool.clone();
        let subjects = subjects.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM webhook_outbox WHERE subject = ANY($1)",
            )
            .bind(&subjects[..])
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(count(&env).await, 0);
    // The control: the same hold alone commits with its row.
    repo.commit_effects(shard, 1, &[Effect::HoldCreated(good.clone())], Utc::now())
        .await
        .unwrap();
    assert_eq!(count(&env).await, 1);
    // The worker's own sequence continues after the direct commit.
    buy(&mut env, event, "A-1-1").await;
    let seqs: Vec<i64> = outbox(&env, event).await.iter().map(|r| r.1).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

/// What the receiver printed: one entry per request.
#[derive(Debug, Clone)]
struct Received {
    valid: bool,
    id: String,
    body: Value,
    error: Value,
}

/// The Python receiver on `port`, its lines collected into the returned list.
fn start_receiver(port: u16, secret: &str) -> (tokio::process::Child, Arc<Mutex<Vec<Received>>>) {
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
            });
        }
    });
    (child, lines)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The worker binary as a child process on `settings` (so it can be killed with
/// SIGKILL), its output discarded unless `TEST_LOG` is set.
fn worker_process(settings: &worker::Settings) -> tokio::process::Child {
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
        .env("ANTEROOM_AMQP_URL", &settings.amqp_url)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_a_receiver_outage_and_a_killed_worker_in_order() {
    let mut env = TestEnv::without_worker().await;
    env.settings.webhook_poll_ms = 50;
    env.settings.webhook_timeout_ms = 2_000;
    env.settings.webhook_retry_delays_secs = vec![1, 2, 4, 8, 8, 8, 8, 8, 8, 8, 8];
    let mut killed = worker_process(&env.settings);
    let down_since = tokio::time::Instant::now();
    let owns_every_shard = || {
        let pool = env.pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM shard_epochs")
                .fetch_one(&pool)
                .await
                .ok()?;
            (n == i64::from(crate::helpers::SHARDS)).then_some(())
        }
    };
    eventually(
        Duration::from_secs(30),
        "the worker process to own its shards",
        owns_every_shard,
    )
    .await;
    // The events exist before the endpoint (their creation announces nothing).
    let first = env.create_event(&spec(2, 3, 10)).await;
    let second = env.create_event(&spec(1, 2, 300)).await;
    let port = free_port();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, secret, created_at) VALUES ($1, $2, $3, now())",
    )
    .bind(Uuid::now_v7())
    .bind(format!("http://127.0.0.1:{port}/hooks"))
    .bind(secret)
    .execute(&env.pool)
    .await
    .unwrap();

    // Receiver down: holds, orders, a release, a hold that will expire.
    for seat in ["A-1-1", "A-1-2"] {
        buy(&mut env, first, seat).await;
    }
    release(&mut env, first, "A-1-3").await;
    hold_seat(&mut env, first, "A-2-1").await; // expires after 10 s
    buy(&mut env, second, "A-1-1").await;

    // The worker process that committed them and tried to send them is killed with
    // SIGKILL; an in-process worker takes the shards over and delivers.
    let tried = || {
        let pool = env.pool.clone();
        async move {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE attempts > 0")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            (n > 0).then_some(())
        }
    };
    eventually(Duration::from_secs(10), "a failed attempt", tried).await;
    killed.start_kill().expect("SIGKILL");
    killed.wait().await.unwrap();
    env.worker = Some(env.spawn_worker().await);
    buy(&mut env, second, "A-1-2").await; // sells the second event out
    let expired_pending = |env: &TestEnv| {
        let pool = env.pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM webhook_outbox WHERE type = 'hold.expired'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            (n == 1).then_some(())
        }
    };
    eventually(Duration::from_secs(40), "the hold to expire", || {
        expired_pending(&env)
    })
    .await;
    let attempted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE attempts > 0")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert!(
        attempted > 0,
        "deliveries were tried while the receiver was down"
    );
    // The receiver stays down 30 s in all.
    tokio::time::sleep_until(down_since + Duration::from_secs(30)).await;
    let (_receiver, received) = start_receiver(port, secret);

    // Every outbox message arrives, verified, in sequence order per event.
    let expected: Vec<(Uuid, Uuid, i64)> =
        sqlx::query_as("SELECT id, event_id, seq FROM webhook_outbox ORDER BY event_id, seq")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert!(expected.len() >= 12, "{expected:?}");
    let wanted: HashSet<String> = expected
        .iter()
        .map(|(id, _, _)| format!("msg_{}", id.simple()))
        .collect();
    let all_arrived = || {
        let received = received.clone();
        let wanted = wanted.clone();
        async move {
            let got: HashSet<String> = received
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.valid)
                .map(|r| r.id.clone())
                .collect();
            wanted.is_subset(&got).then_some(())
        }
    };
    eventually(
        Duration::from_secs(60),
        "every delivery to arrive",
        all_arrived,
    )
    .await;
    let received = received.lock().unwrap().clone();
    let invalid: Vec<&Received> = received.iter().filter(|r| !r.valid).collect();
    assert!(invalid.is_empty(), "signatures refused: {invalid:?}");
    let mut seen = HashSet::new();
    let mut order: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in &received {
        if seen.insert(r.id.clone()) {
            let event = r.body["data"]["event_id"].as_str().unwrap().to_owned();
            order
                .entry(event)
                .or_default()
                .push(r.body["data"]["sequence"].as_i64().unwrap());
        }
    }
    let mut per_event: HashMap<String, Vec<i64>> = HashMap::new();
    for (_, event, seq) in &expected {
        per_event.entry(event.to_string()).or_default().push(*seq);
    }
    for (event, seqs) in &per_event {
        assert_eq!(order.get(event), Some(seqs), "arrival order of {event}");
    }
    for r in &received {
        assert!(r.error.is_null());
    }
    let types: Vec<&str> = received
        .iter()
        .filter_map(|r| r.body["type"].as_str())
        .collect();
    for t in [
        "hold.created",
        "hold.released",
        "hold.expired",
        "order.confirmed",
        "event.sold_out",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    // Delivered is the state PostgreSQL ends with (stored once each answer is read).
    let all_delivered = || {
        let pool = env.pool.clone();
        async move {
            let left: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM webhook_deliveries WHERE state <> 'delivered'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            (left == 0).then_some(())
        }
    };
    eventually(
        Duration::from_secs(10),
        "every delivery marked delivered",
        all_delivered,
    )
    .await;
}
