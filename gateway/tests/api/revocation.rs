//! Leaving the queue with a pass gives the pass up: its `max_active` slot goes to the
//! next fan and every replica refuses holds and confirms with it (`403 forbidden`), so
//! bots that are admitted, leave and join again never hold more than `max_active` live
//! passes. Checked against Redis's own state (the active and revoked sets) and against
//! the holds the worker actually accepted.

use crate::helpers::{open_event_spec, spawn_app, TestApp};
use protocol::ids::EventId;
use protocol::names::RedisKeys;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MAX_ACTIVE: u64 = 2;
const BOTS: usize = 4;
const ROUNDS: usize = 3;

async fn redis() -> runtime::redis::RedisConn {
    testkit::redis_conn().await
}

/// A hold of the best seat of section `A`.
const ONE_SEAT: &str = r#"{"section": "A", "quantity": 1}"#;

/// A pass given up or kept: its ticket and the pass.
struct Pass {
    ticket_id: String,
    pass: String,
}

/// `POST /v1/events/{event}/holds` for one seat on `base`: the status, a `202` settled.
async fn try_hold(app: &TestApp, base: &str, event: &EventId, pass: &str) -> u16 {
    let resp = app.hold_raw(base, event, pass, ONE_SEAT.into(), None).await;
    app.settle(resp, pass).await.status
}

/// One bot: `ROUNDS` times joins, waits until admitted, keeps the pass and leaves.
async fn bot(app: &TestApp, event: &EventId) -> Vec<Pass> {
    let mut passes = Vec::new();
    for _ in 0..ROUNDS {
        let fan = app.admitted_fan(event).await;
        let left = app
            .client
            .delete(app.url(&format!("/v1/events/{event}/queue")))
            .bearer_auth(&fan.queue_token)
            .send()
            .await
            .expect("leave failed");
        assert_eq!(left.status(), 204);
        passes.push(Pass {
            ticket_id: fan.ticket_id,
            pass: fan.pass,
        });
    }
    passes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_that_leave_and_rejoin_never_hold_more_than_max_active_live_passes() {
    let app = spawn_app().await;
    let second = app.spawn_ready_gateway(app.gateway_settings.clone()).await;
    let mut spec = open_event_spec(5, 5);
    spec.admission.max_active = u32::try_from(MAX_ACTIVE).unwrap();
    let event = app.create_event(&spec).await;
    let base = RedisKeys::new(app.namespace.clone()).event_base(&event);
    let (active_key, revoked_key) = (format!("{base}:active"), format!("{base}:revoked"));

    // Redis's own count of live passes, sampled while the bots cycle.
    let done = Arc::new(AtomicBool::new(false));
    let most_active = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn({
        let (done, most_active, key) = (done.clone(), most_active.clone(), active_key.clone());
        async move {
            let mut conn = redis().await;
            while !done.load(Ordering::Relaxed) {
                let n: u64 = redis::cmd("ZCARD")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                most_active.fetch_max(n, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    let given_up: Vec<Pass> = futures::future::join_all((0..BOTS).map(|_| bot(&app, &event)))
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(given_up.len(), BOTS * ROUNDS, "every round was admitted");

    // Every pass given up is refused, on either replica; none of them holds a seat.
    let mut accepted = 0;
    for (i, fan) in given_up.iter().enumerate() {
        let at = if i % 2 == 0 { &app.address } else { &second };
        let status = try_hold(&app, at, &event, &fan.pass).await;
        if status == 201 {
            accepted += 1;
        } else {
            assert_eq!(status, 403, "a given-up pass got {status}");
        }
    }
    app.hold_raw(&second, &event, &given_up[0].pass, ONE_SEAT.into(), None)
        .await
        .assert_error(403, "forbidden");

    // Fans who stay get the free slots and their holds go through.
    let stayers = app.admitted_fans(&event, 2).await;
    for fan in &stayers {
        let status = try_hold(&app, &second, &event, &fan.pass).await;
        assert_eq!(status, 201, "a live pass was refused");
        accepted += 1;
    }
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();

    assert!(
        accepted <= MAX_ACTIVE,
        "{accepted} passes held seats, max_active is {MAX_ACTIVE}"
    );
    assert!(
        most_active.load(Ordering::Relaxed) <= MAX_ACTIVE,
        "Redis counted {} active passes",
        most_active.load(Ordering::Relaxed)
    );
    let mut conn = redis().await;
    let active: Vec<String> = redis::cmd("ZRANGE")
        .arg(&active_key)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut stayer_ids: Vec<String> = stayers.iter().map(|f| f.ticket_id.clone()).collect();
    stayer_ids.sort();
    let mut active = active;
    active.sort();
    assert_eq!(active, stayer_ids, "only the stayers hold live passes");
    let revoked: Vec<String> = redis::cmd("ZRANGE")
        .arg(&revoked_key)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(revoked.len(), BOTS * ROUNDS, "{revoked:?}");
    for fan in &given_up {
        assert!(
            revoked.contains(&fan.ticket_id),
            "{} not revoked",
            fan.ticket_id
        );
    }
    // The worker's own record: exactly the stayers' holds.
    let holds: i64 = sqlx::query_scalar("SELECT count(*) FROM holds")
        .fetch_one(app.sql())
        .await
        .unwrap();
    assert_eq!(holds, 2);
}
