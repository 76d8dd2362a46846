//! The queue scripts on the real Redis, with an explicit clock: `admit.lua` against its
//! Rust model, FIFO order with leavers and abandoned tickets, the two-step lottery and
//! its public record, and the live-view scripts (`view.lua`, `seen.lua`).

use crate::redis_fixture::Fixture;
use gateway::admission::bucket::TokenBucket;
use gateway::queue::{
    commitment, lottery_order, verify, ShuffleMarker, ShuffleOutcome, TicketState,
};
use protocol::ids::TicketId;
use rand::{Rng, SeedableRng};

#[tokio::test]
async fn admit_lua_is_the_rust_bucket_exactly() {
    let f = Fixture::new().await;
    let joined = 700u64;
    let max_active = 250u64;
    f.join_n(joined as usize, false).await;
    let mut model = TokenBucket::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let mut now = f.redis_now().await;
    let mut total = 0;
    let mut clipped = 0;
    for call in 0..150 {
        // Bursts of simultaneous calls (replicas), gaps up to 400 ms, a clock step back,
        // late steps up to the catch-up window and beyond; a rest (pause) at call 60.
        now += match call % 10 {
            0 => 0,
            7 => -30,
            9 if call % 30 == 9 => rng.gen_range(1_000..7_000),
            _ => rng.gen_range(1..400),
        };
        if call == 60 {
            f.queue.rest(&f.event).await.unwrap();
            model.rest();
        }
        let r = f
            .queue
            .admit(&f.event, f.params(600, max_active as u32, now))
            .await
            .unwrap();
        // Passes live 600 s: every pass issued so far still counts against max_active.
        let expected = model.take(now, 600, joined - total, max_active - total);
        assert_eq!(r.admitted.len() as u64, expected, "call {call} at {now}");
        assert_eq!(r.credit, model.credit, "call {call}");
        total += expected;
        clipped += r.clipped;
    }
    assert_eq!(total, max_active, "max_active bound in the end");
    assert!(clipped > 0, "a step later than the catch-up window clips");
}

#[tokio::test]
async fn admission_order_is_arrival_order_minus_leavers_and_abandoned() {
    let f = Fixture::new().await;
    // Arrivals from four concurrent "replicas": arrival order is the arrival number.
    let mut joins = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (queue, event) = (f.queue.clone(), f.event);
        joins.spawn(async move {
            let mut out = Vec::new();
            for _ in 0..15 {
                out.push(queue.join(&event, false, None).await.unwrap());
            }
            out
        });
    }
    let mut arrivals = Vec::new();
    while let Some(r) = joins.join_next().await {
        arrivals.extend(r.unwrap());
    }
    arrivals.sort_by_key(|j| j.seq);
    let order: Vec<TicketId> = arrivals.iter().map(|j| j.ticket).collect();
    assert_eq!(arrivals.last().unwrap().seq, 60);

    let t0 = f.redis_now().await;
    let leavers: Vec<TicketId> = order.iter().step_by(7).copied().collect();
    for t in &leavers {
        assert!(f.queue.leave(&f.event, t).await.unwrap());
    }
    let silent: Vec<TicketId> = order
        .iter()
        .enumerate()
        .filter(|(i, t)| i % 5 == 3 && !leavers.contains(t))
        .map(|(_, t)| *t)
        .collect();
    let kept: Vec<TicketId> = order
        .iter()
        .filter(|t| !leavers.contains(t) && !silent.contains(t))
        .copied()
        .collect();
    // The kept fans were seen 50 s later; the silent ones never again.
    let settled = f
        .queue
        .mark_seen(&f.event, &kept, Some(t0 + 50_000))
        .await
        .unwrap();
    assert!(settled.is_empty());
    let settled = f
        .queue
        .mark_seen(&f.event, &leavers[..2], Some(t0 + 50_000))
        .await
        .unwrap();
    assert_eq!(settled.len(), 2, "leavers are reported as gone");
    assert!(settled.iter().all(|s| s.state.is_none()));

    // Admission 70 s after the joins, 10 per second, one call per second.
    let mut admitted = Vec::new();
    let mut abandoned = 0;
    f.queue
        .admit(&f.event, f.params(600, 1_000, t0 + 69_000))
        .await
        .unwrap();
    for s in 0..10 {
        let r = f
            .queue
            .admit(&f.event, f.params(600, 1_000, t0 + 70_000 + s * 1_000))
            .await
            .unwrap();
        admitted.extend(r.admitted);
        abandoned += r.abandoned;
    }
    assert_eq!(
        admitted, kept,
        "FIFO: arrival order, skipping leavers and abandoned"
    );
    assert_eq!(abandoned as usize, silent.len());
    let stats = f.queue.stats(&f.event, t0 + 80_000).await.unwrap();
    assert_eq!(stats.abandoned_total as usize, silent.len());
    assert_eq!(stats.waiting, 0);
    let v = f.queue.status(&f.event, &silent[0]).await.unwrap().unwrap();
    assert_eq!(v.state, TicketState::Abandoned);
}

#[tokio::test]
async fn the_lottery_is_frozen_applied_once_and_recorded() {
    let f = Fixture::new().await;
    let early = f.join_n(8, true).await;
    // One leaves before the freeze: not part of the lottery.
    f.queue.leave(&f.event, &early[2]).await.unwrap();
    let players: Vec<TicketId> = early.iter().filter(|t| **t != early[2]).copied().collect();
    // Someone arrives after opens_at, before the shuffle ran.
    let latecomer = f.join_n(1, false).await[0];
    let seed = [42u8; 32];
    assert_eq!(
        f.queue.shuffle(&f.event, &seed).await.unwrap(),
        ShuffleOutcome::Applied {
            queued: 7,
            total: 7
        }
    );
    assert_eq!(
        f.queue.shuffle(&f.event, &[9; 32]).await.unwrap(),
        ShuffleOutcome::AlreadyDone,
        "once, whatever the next caller's seed"
    );
    // A "pre-queue" join after the freeze (a replica with a lagging clock) just waits.
    let after = f.join_n(1, true).await[0];
    let v = f.queue.status(&f.event, &after).await.unwrap().unwrap();
    assert_eq!(v.state, TicketState::Waiting);

    let order = lottery_order(&seed, &players);
    for (i, t) in order.iter().enumerate() {
        let v = f.queue.status(&f.event, t).await.unwrap().unwrap();
        assert_eq!(
            (v.state, v.ahead, v.line),
            (TicketState::Waiting, Some(i as u64), i as u64 + 1)
        );
    }
    // Leaving after the shuffle does not change the record.
    f.queue.leave(&f.event, &order[1]).await.unwrap();
    let record = f.queue.lottery(&f.event).await.unwrap().expect("record");
    assert_eq!(record.tickets, players, "arrival order");
    assert_eq!(record.order, order);
    let seed_hex = hex::encode(seed);
    assert!(verify(
        &seed_hex,
        &commitment(&seed),
        &record.tickets,
        Some(&record.order)
    )
    .is_ok());

    let now = f.redis_now().await;
    f.queue
        .admit(&f.event, f.params(6_000, 100, now - 10_000))
        .await
        .unwrap();
    let r = f
        .queue
        .admit(&f.event, f.params(6_000, 100, now))
        .await
        .unwrap();
    let mut expected: Vec<TicketId> = order.iter().filter(|t| **t != order[1]).copied().collect();
    expected.push(latecomer);
    expected.push(after);
    assert_eq!(r.admitted, expected);
    assert_eq!(
        r.head_line, 10,
        "the last line passed is `after`'s arrival number"
    );
}

#[tokio::test]
async fn the_view_and_seen_scripts() {
    let f = Fixture::new().await;
    let keys = f.queue.event_keys().clone();
    let empty = f.queue.view(&f.event).await.unwrap();
    assert!(empty.config_json.is_none());
    assert_eq!(empty.availability_version, None);
    assert_eq!(empty.view.marker, ShuffleMarker::Open);

    let (config_key, av_key) = (keys.config(&f.event), keys.availability(&f.event));
    let av = format!(
        "{{\"event_id\":\"{}\",\"as_of\":\"2026-01-01T00:00:00.123456Z\",\"version\":42,\"total\":1}}",
        f.event
    );
    let _: () = f
        .redis
        .call(|mut c| async move {
            redis::pipe()
                .set(config_key, "{\"a\":1}")
                .set(av_key, av)
                .query_async(&mut c)
                .await
        })
        .await
        .unwrap();
    let tickets = f.join_n(5, false).await;
    let now = f.redis_now().await;
    f.queue
        .admit(&f.event, f.params(120, 100, now - 1_000))
        .await
        .unwrap();
    let r = f
        .queue
        .admit(&f.event, f.params(120, 100, now))
        .await
        .unwrap();
    assert_eq!(r.admitted, tickets[..2].to_vec());

    let read = f.queue.view(&f.event).await.unwrap();
    assert_eq!(read.config_json.as_deref(), Some("{\"a\":1}"));
    assert_eq!(read.availability_version, Some(Some(42)));
    let v = read.view;
    assert_eq!(
        (v.head_line, v.waiting, v.active, v.admitted_total),
        (2, 3, 2, 2)
    );
    assert_eq!(v.admitted_last_minute, 2);
    assert_eq!(v.first_admit_ms, Some(now));

    f.queue.leave(&f.event, &tickets[4]).await.unwrap();
    let settled = f.queue.mark_seen(&f.event, &tickets, None).await.unwrap();
    let states: Vec<_> = settled.iter().map(|s| (s.ticket, s.state)).collect();
    assert_eq!(
        states,
        vec![
            (tickets[0], Some(TicketState::Admitted)),
            (tickets[1], Some(TicketState::Admitted)),
            (tickets[4], None),
        ]
    );
}

#[tokio::test]
async fn nobody_is_admitted_while_the_snapshot_shows_no_seat_available() {
    let f = Fixture::new().await;
    let tickets = f.join_n(3, false).await;
    let key = f.queue.event_keys().availability(&f.event);
    let snapshot = |available: u64, held: u64| {
        format!(
            "{{\"event_id\":\"x\",\"as_of\":\"2026-01-01T00:00:00Z\",\"version\":1,\"total\":2,\
             \"available\":{available},\"held\":{held},\"sold\":0,\"sections\":[]}}"
        )
    };
    set(&f, &key, snapshot(0, 2)).await;
    let now = f.redis_now().await;
    f.queue
        .admit(&f.event, f.params(600, 10, now - 5_000))
        .await
        .unwrap();
    let r = f
        .queue
        .admit(&f.event, f.params(600, 10, now))
        .await
        .unwrap();
    assert!(r.admitted.is_empty(), "every seat held");
    assert!(
        r.credit < 60_000,
        "the 5 s without a seat stockpiled nothing"
    );
    set(&f, &key, snapshot(1, 1)).await;
    // A seat came back: admission resumes at the rate (10/s), not in a burst.
    let r = f
        .queue
        .admit(&f.event, f.params(600, 10, now + 100))
        .await
        .unwrap();
    assert_eq!(r.admitted, tickets[..1]);
    let r = f
        .queue
        .admit(&f.event, f.params(600, 10, now + 300))
        .await
        .unwrap();
    assert_eq!(r.admitted, tickets[1..]);
}

async fn set(f: &Fixture, key: &str, doc: String) {
    let key = key.to_owned();
    let _: () = f
        .redis
        .call(|mut c| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(doc)
                .query_async(&mut c)
                .await
        })
        .await
        .unwrap();
}
