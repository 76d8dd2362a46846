//! Deliveries to a receiver that verifies every signature with an implementation
//! nobody on the project wrote: through a 30 s outage and a worker killed with SIGKILL
//! (every message arrives, in order per event), and through a secret rotation and a
//! redelivery.

use super::receiver::{free_port, start_receiver, valid_messages, worker_process, Received};
use super::{buy, hold_seat, release};
use crate::helpers::{eventually, spec, TestEnv};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use uuid::Uuid;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_signs_with_both_secrets_and_a_redelivery_arrives_again() {
    let mut env = TestEnv::without_worker().await;
    env.settings.webhook_poll_ms = 50;
    env.worker = Some(env.spawn_worker().await);
    let event = env.create_event(&spec(1, 4, 300)).await;
    let (old, new) = (
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    );
    let port = free_port();
    let endpoint = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, secret, types, created_at)
         VALUES ($1, $2, $3, '{order.confirmed}', now())",
    )
    .bind(endpoint)
    .bind(format!("http://127.0.0.1:{port}/hooks"))
    .bind(old)
    .execute(&env.pool)
    .await
    .unwrap();
    let (receiver, received) = start_receiver(port, old);
    buy(&mut env, event, "A-1-1").await;
    let first = valid_messages(&received, 1).await;
    assert_eq!(first[0].body["type"], "order.confirmed");
    assert_eq!(first[0].signatures, 1);

    // Rotated (as the back office does it): both secrets sign during the grace period,
    // so the receiver that still has the old one accepts the message.
    sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret = secret, secret = $2,
                previous_until = now() + interval '1 day' WHERE id = $1",
    )
    .bind(endpoint)
    .bind(new)
    .execute(&env.pool)
    .await
    .unwrap();
    buy(&mut env, event, "A-1-2").await;
    let second = valid_messages(&received, 2).await;
    assert_eq!(second[1].signatures, 2);
    let mut receiver = receiver;
    receiver.kill().await.unwrap();

    // The receiver now has the new secret; a redelivery of the first message arrives
    // with the same webhook-id, and verifies.
    let (_receiver, received) = start_receiver(port, new);
    let delivery: Uuid = sqlx::query_scalar(
        "SELECT d.id FROM webhook_deliveries d JOIN webhook_outbox m ON m.id = d.message_id
         WHERE d.endpoint_id = $1 ORDER BY m.seq LIMIT 1",
    )
    .bind(endpoint)
    .fetch_one(&env.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO webhook_redeliveries (id, delivery_id, requested_at) VALUES ($1, $2, now())",
    )
    .bind(Uuid::now_v7())
    .bind(delivery)
    .execute(&env.pool)
    .await
    .unwrap();
    let again = valid_messages(&received, 1).await;
    assert_eq!(again[0].id, first[0].id);
    assert_eq!(again[0].body, first[0].body);

    // After the grace period only the new secret signs.
    sqlx::query("UPDATE webhook_endpoints SET previous_until = now() WHERE id = $1")
        .bind(endpoint)
        .execute(&env.pool)
        .await
        .unwrap();
    buy(&mut env, event, "A-1-3").await;
    let last = valid_messages(&received, 2).await;
    assert_eq!(last[1].signatures, 1);
    assert!(received.lock().unwrap().iter().all(|r| r.valid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_goes_out_at_the_endpoints_pace_not_one_message_per_scan() {
    let mut env = TestEnv::without_worker().await;
    // One scan every 2 s: a lane that waited for the next scan after each message
    // would need a minute for the backlog below.
    env.settings.webhook_poll_ms = 2_000;
    env.worker = Some(env.spawn_worker().await);
    let event = env.create_event(&spec(3, 10, 300)).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let port = free_port();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, secret, created_at) VALUES ($1, $2, $3, now())",
    )
    .bind(Uuid::now_v7())
    .bind(format!("http://127.0.0.1:{port}/hooks"))
    .bind(secret)
    .execute(&env.pool)
    .await
    .unwrap();
    for row in 1..=3 {
        for seat in 1..=10 {
            buy(&mut env, event, &format!("A-{row}-{seat}")).await;
        }
    }
    // 30 holds, 30 orders, the sale of the last seat: one lane of 61 messages.
    let started = tokio::time::Instant::now();
    let (_receiver, received) = start_receiver(port, secret);
    let all = valid_messages(&received, 61).await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "61 messages took {:?}",
        started.elapsed()
    );
    let seqs: Vec<i64> = all
        .iter()
        .map(|r| r.body["data"]["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=61).collect::<Vec<i64>>());
}
