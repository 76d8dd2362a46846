//! Three gateway processes (the built binary) on one Redis (item 1):
//!
//! - event A, unlimited `max_active`, enough fans: admissions per minute within 1 % of
//!   `rate_per_minute`, measured from the tickets' own admission times; FIFO across the
//!   replicas (admission times never decrease along arrival order);
//! - event B, `max_active` 40 with passes used up as they come (as orders do): the live
//!   passes, sampled every 50 ms, never exceed 40;
//! - event C: a `PATCH` (pause, resume, rate) made on one replica shows on the other two
//!   within 1 s, and a pause stops admission.
//!
//! `ANTEROOM_ADMISSION_SECONDS` (default 25) is the measured run, `ANTEROOM_ADMISSION_RATE`
//! (default 3000) event A's rate; `tests/admission/three_replicas.sh` runs 120 s.

use crate::stack::process::GatewayProcess;
use crate::stack::{admission, open_event, Stack};
use gateway::adapters::redis_store::RedisStore;
use gateway::queue::Queue;
use protocol::ids::{EventId, TicketId};
use protocol::names::RedisKeys;
use redis::AsyncCommands;
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn redis_conn() -> runtime::redis::RedisConn {
    testkit::redis_conn().await
}

async fn queue_for(namespace: &str) -> Queue {
    let store =
        RedisStore::with_settings(&testkit::redis_settings(), Duration::from_secs(5)).unwrap();
    store
        .run_connector(tokio_util::sync::CancellationToken::new())
        .await;
    Queue::new(store, RedisKeys::new(namespace), 86_400)
}

/// `n` fans join `event` straight through the join script (8 at a time); returns the
/// tickets in arrival order.
async fn join_many(queue: &Queue, event: EventId, n: usize) -> Vec<TicketId> {
    let mut tasks = tokio::task::JoinSet::new();
    for part in 0..8 {
        let queue = queue.clone();
        tasks.spawn(async move {
            let mut out = Vec::new();
            for _ in (part..n).step_by(8) {
                let j = queue.join(&event, false, None).await.unwrap();
                out.push((j.seq, j.ticket));
            }
            out
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.unwrap());
    }
    all.sort();
    all.into_iter().map(|(_, t)| t).collect()
}

/// Waits until every replica's public view of `event` satisfies `ok`; returns how long
/// it took after `since`.
async fn propagation(
    stack: &Stack,
    replicas: &[&GatewayProcess],
    event: &EventId,
    since: Instant,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> Duration {
    let until = since + Duration::from_secs(5);
    for p in replicas {
        while !ok(&stack.public_event(&p.url, event).await) {
            assert!(Instant::now() < until, "{} never saw the change", p.url);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    since.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_gateway_processes_admit_the_rate_and_never_exceed_max_active() {
    let seconds = env_u64("ANTEROOM_ADMISSION_SECONDS", 25);
    let rate = env_u64("ANTEROOM_ADMISSION_RATE", 3_000) as u32;
    let mut stack = Stack::worker_only(|_| {}).await;
    let extra = [("ANTEROOM_ABANDON_AFTER_SECONDS", "86400".to_string())];
    let replicas: Vec<GatewayProcess> = (0..3).map(|_| stack.spawn_process(&extra)).collect();
    stack.gateways = replicas.iter().map(|p| p.url.clone()).collect();
    let queue = queue_for(&stack.namespace).await;
    let keys = RedisKeys::new(stack.namespace.clone());
    let mut redis = redis_conn().await;

    let a = stack
        .create_event(&open_event(10, 10, admission(rate, 1_000_000, 86_400)))
        .await;
    let b = stack
        .create_event(&open_event(10, 10, admission(60_000, 40, 30)))
        .await;
    let c = stack
        .create_event(&open_event(10, 10, admission(600, 1_000, 600)))
        .await;
    let want = rate as usize * (seconds as usize + 40) / 60;
    let (a_tickets, _, _) = tokio::join!(
        join_many(&queue, a, want),
        join_many(&queue, b, 3_000),
        join_many(&queue, c, 500),
    );

    // PATCH on replica 0, seen by all three within 1 s; a pause stops admission.
    let r = [&replicas[0], &replicas[1], &replicas[2]];
    let sent = Instant::now();
    stack
        .patch(&replicas[0].url, &c, json!({"state": "paused"}))
        .await;
    let paused = propagation(&stack, &r, &c, sent, |e| e["state"] == "paused").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stats = |e: EventId| keys.event_base(&e) + ":stats";
    let before: u64 = redis.hget(stats(c), "admitted_total").await.unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after: u64 = redis.hget(stats(c), "admitted_total").await.unwrap_or(0);
    assert_eq!(before, after, "admission went on after the pause");
    let bucket: bool = redis.exists(keys.event_base(&c) + ":bucket").await.unwrap();
    assert!(
        !bucket,
        "a pause empties the bucket: no burst owed at resume"
    );
    let sent = Instant::now();
    stack
        .patch(&replicas[1].url, &c, json!({"state": "open", "admission": {"rate_per_minute": 1200, "max_active": 1000, "pass_ttl_seconds": 600}}))
        .await;
    let reopened = propagation(&stack, &r, &c, sent, |e| {
        e["state"] == "open" && e["admission"]["rate_per_minute"] == 1200
    })
    .await;
    println!("PATCH seen by all 3 replicas after {paused:?} (pause), {reopened:?} (resume + rate)");
    assert!(paused <= Duration::from_secs(1) && reopened <= Duration::from_secs(1));

    // Event B: use passes up as orders would, and sample the live passes.
    let active_key = keys.active(&b);
    let started = Instant::now();
    let mut max_live = 0u64;
    let mut used = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let live: u64 = redis
            .zcount(&active_key, format!("({now_ms}"), "+inf")
            .await
            .unwrap();
        max_live = max_live.max(live);
        if used < 2_000 {
            let members: Vec<String> = redis.zrange(&active_key, 0, 2).await.unwrap();
            for m in members {
                let _: () = redis.zrem(&active_key, m).await.unwrap();
                used += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(max_live <= 40, "{max_live} live passes with max_active 40");
    let b_admitted: u64 = redis.hget(stats(b), "admitted_total").await.unwrap();
    assert!(b_admitted > 80, "slots were not reused: {b_admitted}");

    // Event A: admission times of every ticket.
    let mut pipe = redis::pipe();
    for t in &a_tickets {
        pipe.hget(keys.event_base(&a) + &format!(":ticket:{t}"), "admitted_ms");
    }
    let times: Vec<Option<i64>> = pipe.query_async(&mut redis).await.unwrap();
    let admitted: Vec<i64> = times.iter().flatten().copied().collect();
    assert!(
        admitted.windows(2).all(|w| w[0] <= w[1]),
        "not FIFO: admission times decrease along arrival order"
    );
    assert!(admitted.len() < a_tickets.len(), "the queue ran dry");
    let t0 = *admitted.first().expect("nobody admitted");
    let count = |from: i64, to: i64| admitted.iter().filter(|t| (from..to).contains(t)).count();
    let whole_minutes = seconds / 60;
    let windows: Vec<(i64, f64)> = if whole_minutes > 0 {
        (0..whole_minutes as i64)
            .map(|m| (t0 + m * 60_000, 60_000.0))
            .collect()
    } else {
        vec![(t0, seconds as f64 * 1000.0)]
    };
    let per_replica = futures::future::join_all(
        replicas
            .iter()
            .map(|p| stack.metric(&p.url, "anteroom_admitted_total")),
    )
    .await;
    println!("admissions by replica (all events): {per_replica:?}");
    let last = *admitted.last().unwrap();
    for (from, len) in windows {
        assert!(from + len as i64 <= last, "the run ended before the window");
        let n = count(from, from + len as i64);
        let expected = f64::from(rate) * len / 60_000.0;
        let per_minute = n as f64 * 60_000.0 / len;
        println!(
            "rate {rate}/min, window {:.0} s: {n} admitted = {per_minute:.1}/min ({:+.2} %)",
            len / 1000.0,
            (per_minute / f64::from(rate) - 1.0) * 100.0
        );
        assert!(
            (n as f64 - expected).abs() <= (expected * 0.01).max(2.0),
            "{n} admitted in {len} ms, expected {expected}"
        );
    }
    println!("event B: max live passes {max_live} (max_active 40), {b_admitted} admitted");
    assert!(
        per_replica.iter().all(|n| *n > 0.0),
        "a replica never admitted"
    );
}
