//! One slot per event: every key the gateway's scripts and the worker's writes touch for
//! an event carries the event's hash tag, so on a Redis Cluster an event lives in one
//! slot, and the scripts of events in different slots all work. The oracle is Redis's
//! own `CLUSTER KEYSLOT`; on one node (standalone or TLS mode) Redis refuses it, and
//! the same scripts work all the same.

use crate::helpers::{open_event_spec, spawn_app};
use protocol::ids::EventId;
use protocol::names::RedisKeys;

/// Redis's slot of `key`, or its refusal (a node without cluster support).
async fn keyslot(conn: &mut runtime::redis::RedisConn, key: &str) -> redis::RedisResult<u16> {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(conn)
        .await
}

/// The keys a join, an admission and a hold wrote for `event`.
fn written_keys(keys: &RedisKeys, event: &EventId) -> Vec<String> {
    let queue = gateway::queue::QueueKeys::new(keys, event);
    vec![
        keys.config(event),
        keys.availability(event),
        keys.active(event),
        queue.seq(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scripts_of_two_events_in_two_slots_both_work() {
    let app = spawn_app().await;
    let keys = RedisKeys::new(app.namespace.clone());
    let mut conn = testkit::redis_conn().await;
    let cluster = testkit::redis_is_cluster();

    // Two events in two slots (a random event id shares a slot with another one time in
    // 16,384: then one more event).
    let first = app.create_event(&open_event_spec(2, 5)).await;
    let mut second = app.create_event(&open_event_spec(2, 5)).await;
    if cluster {
        for _ in 0..3 {
            let a = keyslot(&mut conn, &keys.config(&first)).await.unwrap();
            let b = keyslot(&mut conn, &keys.config(&second)).await.unwrap();
            if a != b {
                break;
            }
            second = app.create_event(&open_event_spec(2, 5)).await;
        }
    }

    // join.lua, status.lua, admit.lua, then a hold through the worker's pipeline.
    for event in [&first, &second] {
        let fan = app.admitted_fan(event).await;
        app.hold_seats(&fan, &["A-1-1"]).await.assert_status(201);
    }

    let mut slots = Vec::new();
    for event in [&first, &second] {
        let written = written_keys(&keys, event);
        for key in &written {
            let exists: bool = redis::cmd("EXISTS")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap();
            assert!(exists, "{key} was not written");
        }
        if cluster {
            let mut event_slots = Vec::new();
            for key in &written {
                event_slots.push(keyslot(&mut conn, key).await.unwrap());
            }
            event_slots.dedup();
            assert_eq!(
                event_slots.len(),
                1,
                "keys of {event} span slots: {written:?}"
            );
            slots.push(event_slots[0]);
        } else {
            let refused = keyslot(&mut conn, &written[0]).await;
            assert!(
                refused.is_err(),
                "a standalone Redis answered CLUSTER KEYSLOT"
            );
        }
    }
    if cluster {
        assert_ne!(slots[0], slots[1], "the two events share a slot");
        let primaries = conn.primaries().await.unwrap();
        assert!(primaries.len() >= 2, "one primary: {primaries:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespace_purge_reaches_every_primary() {
    let mut conn = testkit::redis_conn().await;
    let namespace = format!("purge-{}", testkit::random_hex(6));
    let keys = RedisKeys::new(namespace.clone());
    // 64 events: on a three-primary cluster every primary holds some of their keys.
    let events: Vec<EventId> = (0..64).map(|_| EventId::new()).collect();
    for event in &events {
        redis::cmd("SET")
            .arg(keys.config(event))
            .arg("{}")
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
    let mut owners = std::collections::BTreeSet::new();
    if testkit::redis_is_cluster() {
        for event in &events {
            let slot = keyslot(&mut conn, &keys.config(event)).await.unwrap();
            owners.insert(slot_owner(&mut conn, slot).await);
        }
        assert!(owners.len() >= 2, "all keys on one primary: {owners:?}");
    }
    worker::delete_namespace(&mut conn, &namespace)
        .await
        .unwrap();
    for event in &events {
        let exists: bool = redis::cmd("EXISTS")
            .arg(keys.config(event))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(!exists, "{} survived the purge", keys.config(event));
    }
}

/// The port of the primary serving `slot`, from `CLUSTER SLOTS`.
async fn slot_owner(conn: &mut runtime::redis::RedisConn, slot: u16) -> i64 {
    let ranges: Vec<(i64, i64, (String, i64))> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async::<Vec<redis::Value>>(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let redis::Value::Array(items) = r else {
                panic!("CLUSTER SLOTS entry {r:?}")
            };
            let start: i64 = redis::from_redis_value(&items[0]).unwrap();
            let end: i64 = redis::from_redis_value(&items[1]).unwrap();
            let redis::Value::Array(node) = &items[2] else {
                panic!("CLUSTER SLOTS node {:?}", items[2])
            };
            let host: String = redis::from_redis_value(&node[0]).unwrap();
            let port: i64 = redis::from_redis_value(&node[1]).unwrap();
            (start, end, (host, port))
        })
        .collect();
    ranges
        .iter()
        .find(|(start, end, _)| (*start..=*end).contains(&i64::from(slot)))
        .map(|(_, _, (_, port))| *port)
        .expect("no primary serves the slot")
}
