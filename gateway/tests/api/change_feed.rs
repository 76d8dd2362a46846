//! Replicas learn of changes from the change feed, not by reading every event over and
//! over: idle events cost Redis nothing (counted by Redis itself, `INFO commandstats`,
//! on a private Redis no other test shares), a `PATCH` still reaches a second replica
//! within a second, a change whose announcement was lost (the subscription dropped)
//! reaches it after the feed reconnects, and the worker's periodic rewrite announces
//! only the documents Redis lost.

use crate::helpers::{minutes_ago, open_event_spec, spawn_app_with_both, TestApp};
use futures::StreamExt;
use protocol::ids::EventId;
use protocol::names::RedisKeys;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Idle events created by each test.
const IDLE_EVENTS: usize = 40;

/// A `redis-server` of one test (its own port, no persistence).
struct PrivateRedis {
    child: Child,
    port: u16,
}

impl PrivateRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("Failed to start redis-server (is it installed?)");
        let redis = Self { child, port };
        let client = redis::Client::open(redis.url()).expect("redis url");
        let started = Instant::now();
        while client
            .get_connection()
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "private Redis did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("private Redis")
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Script calls Redis has run so far (`EVAL` and `EVALSHA`), per `INFO commandstats`.
async fn script_calls(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .expect("INFO");
    info.lines()
        .filter(|l| l.starts_with("cmdstat_eval:") || l.starts_with("cmdstat_evalsha:"))
        .filter_map(|l| {
            let calls = l.split("calls=").nth(1)?.split(',').next()?;
            calls.parse::<u64>().ok()
        })
        .sum()
}

/// A deployment on a private Redis with two gateway replicas; returns the second's URL.
async fn two_replicas(redis: &PrivateRedis) -> (TestApp, String) {
    let url = redis.url();
    let (g_url, w_url) = (url.clone(), url);
    // No periodic rewrite by the worker during the test: only the feed may heal.
    let app = spawn_app_with_both(
        move |g| {
            g.redis_url = g_url;
            (g.redis_mode, g.redis_ca_file) = ("standalone".into(), String::new());
        },
        move |w| {
            w.redis_url = w_url;
            (w.redis_mode, w.redis_ca_file) = ("standalone".into(), String::new());
            w.config_refresh_secs = 3600;
        },
    )
    .await;
    let second = app.spawn_ready_gateway(app.gateway_settings.clone()).await;
    (app, second)
}

/// `IDLE_EVENTS` events that opened long ago, nobody in their queue; and one more.
async fn idle_events(app: &TestApp) -> EventId {
    let mut spec = open_event_spec(2, 5);
    spec.opens_at = minutes_ago(60 * 24 * 30);
    for _ in 0..IDLE_EVENTS {
        app.create_event(&spec).await;
    }
    app.create_event(&spec).await
}

/// The public event on the replica at `base`.
async fn public_at(app: &TestApp, base: &str, event: &EventId) -> Value {
    let r = app
        .send(app.client.get(format!("{base}/v1/events/{event}")))
        .await;
    r.assert_status(200);
    r.body
}

/// Polls the replica at `base` (every 20 ms) until `done` holds; the time it took.
async fn seen_within(
    app: &TestApp,
    base: &str,
    event: &EventId,
    deadline: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        if done(&public_at(app, base, event).await) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < deadline,
            "{what} not seen at {base} within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_events_cost_nothing_and_a_patch_reaches_the_other_replica_within_a_second() {
    let redis = PrivateRedis::start();
    let (app, second) = two_replicas(&redis).await;
    let event = idle_events(&app).await;
    // Both replicas know the event (the second read it when it was announced).
    seen_within(
        &app,
        &second,
        &event,
        Duration::from_secs(5),
        "the event",
        |p| p["admission"]["rate_per_minute"] == 60000,
    )
    .await;

    // Idle: no script call over 3 s but the odd one (before: one `view.lua` per event
    // per replica four times a second, 2 × 41 × 4 × 3 ≈ 1 000 calls).
    let mut conn = redis.conn().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = script_calls(&mut conn).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = script_calls(&mut conn).await - before;
    assert!(
        idle <= 10,
        "{idle} script calls in 3 s with every event idle"
    );

    // A PATCH on the first replica reaches the second within a second.
    let admission = json!({"rate_per_minute": 1200, "max_active": 500, "pass_ttl_seconds": 300});
    app.patch_event(&event, &json!({ "admission": admission }))
        .await
        .assert_status(200);
    let took = seen_within(
        &app,
        &second,
        &event,
        Duration::from_secs(1),
        "the new rate",
        |p| p["admission"]["rate_per_minute"] == 1200,
    )
    .await;
    eprintln!("PATCH seen by the second replica after {took:?}");
    app.patch_event(&event, &json!({"state": "paused"}))
        .await
        .assert_status(200);
    seen_within(
        &app,
        &second,
        &event,
        Duration::from_secs(1),
        "state paused",
        |p| p["state"] == "paused",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_announcement_was_lost_heals_when_the_feed_reconnects() {
    let redis = PrivateRedis::start();
    let (app, second) = two_replicas(&redis).await;
    let event = idle_events(&app).await;
    seen_within(
        &app,
        &second,
        &event,
        Duration::from_secs(5),
        "the event",
        |p| p["admission"]["rate_per_minute"] == 60000,
    )
    .await;
    // Settle: both replicas follow the feed.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // A change written without its announcement (as if the message was lost).
    let keys = RedisKeys::new(app.namespace.clone());
    let mut conn = redis.conn().await;
    let raw: String = redis::cmd("GET")
        .arg(keys.config(&event))
        .query_async(&mut conn)
        .await
        .expect("GET config");
    let mut config: Value = serde_json::from_str(&raw).expect("config JSON");
    config["spec"]["admission"]["rate_per_minute"] = json!(777);
    config["version"] = json!(config["version"].as_u64().unwrap() + 1);
    redis::cmd("SET")
        .arg(keys.config(&event))
        .arg(config.to_string())
        .query_async::<()>(&mut conn)
        .await
        .expect("SET config");
    // Nothing announced it: the replicas keep what they had (they do not poll).
    tokio::time::sleep(Duration::from_secs(1)).await;
    for base in [&app.address, &second] {
        let p = public_at(&app, base, &event).await;
        assert_eq!(p["admission"]["rate_per_minute"], 60000, "at {base}");
    }

    // The subscriptions drop (a network blip): each replica re-reads every event.
    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .expect("CLIENT KILL");
    assert!(killed >= 2, "both replicas subscribe ({killed} killed)");
    for base in [app.address.clone(), second.clone()] {
        let took = seen_within(
            &app,
            &base,
            &event,
            Duration::from_secs(5),
            "the change",
            |p| p["admission"]["rate_per_minute"] == 777,
        )
        .await;
        eprintln!("lost change seen at {base} after {took:?}");
    }
    // And the feed works again: a PATCH reaches both within a second.
    app.patch_event(&event, &json!({"state": "paused"}))
        .await
        .assert_status(200);
    for base in [app.address.clone(), second.clone()] {
        seen_within(&app, &base, &event, Duration::from_secs(1), "paused", |p| {
            p["state"] == "paused"
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_periodic_rewrite_announces_only_what_redis_lost() {
    let redis = PrivateRedis::start();
    let url = redis.url();
    let (g_url, w_url) = (url.clone(), url);
    let app = spawn_app_with_both(
        move |g| {
            g.redis_url = g_url;
            (g.redis_mode, g.redis_ca_file) = ("standalone".into(), String::new());
        },
        move |w| {
            w.redis_url = w_url;
            (w.redis_mode, w.redis_ca_file) = ("standalone".into(), String::new());
            w.config_refresh_secs = 1;
        },
    )
    .await;
    let event = idle_events(&app).await;
    let keys = RedisKeys::new(app.namespace.clone());
    let mut pubsub = redis::Client::open(redis.url())
        .expect("redis url")
        .get_async_pubsub()
        .await
        .expect("subscribe");
    pubsub.subscribe(keys.changes()).await.expect("subscribe");
    let mut messages = pubsub.on_message();

    // Three rewrites of every event's mirror: nothing differs, nothing is announced
    // (heartbeats of the gateway aside).
    let quiet_until = Instant::now() + Duration::from_secs(3);
    while let Ok(Some(m)) = tokio::time::timeout_at(quiet_until.into(), messages.next()).await {
        let payload: String = m.get_payload().expect("text");
        assert!(payload.starts_with("h "), "announced while idle: {payload}");
    }

    // Redis loses one event's documents: the next rewrite puts them back and announces
    // that event alone.
    let mut conn = redis.conn().await;
    let deleted: u64 = redis::cmd("DEL")
        .arg(keys.config(&event))
        .arg(keys.availability(&event))
        .query_async(&mut conn)
        .await
        .expect("DEL");
    assert_eq!(deleted, 2);
    let deadline = Instant::now() + Duration::from_secs(5);
    let announced = loop {
        let m = tokio::time::timeout_at(deadline.into(), messages.next())
            .await
            .expect("no announcement within 5 s")
            .expect("subscription open");
        let payload: String = m.get_payload().expect("text");
        if !payload.starts_with("h ") {
            break payload;
        }
    };
    assert_eq!(announced, format!("c {event}"));
    let exists: u64 = redis::cmd("EXISTS")
        .arg(keys.config(&event))
        .arg(keys.availability(&event))
        .query_async(&mut conn)
        .await
        .expect("EXISTS");
    assert_eq!(exists, 2, "both documents written back");
    let p = public_at(&app, &app.address, &event).await;
    assert_eq!(p["seats"]["total"], 10);
}
