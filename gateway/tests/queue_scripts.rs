//! The queue's Lua scripts against the real Redis on loopback (`ANTEROOM_TEST_REDIS_URL`,
//! default `redis://127.0.0.1:6379`). Each test uses its own key prefix and deletes its
//! keys at the end.
//!
//! Admission is driven with an explicit clock (`now_ms`), so rates are checked exactly
//! instead of by sleeping.

use gateway::queue::{lottery_order, AdmitParams, Queue, TicketState};
use gateway::redis_store::RedisStore;
use protocol::ids::{EventId, TicketId};
use protocol::names::RedisKeys;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

struct Fixture {
    queue: Queue,
    redis: RedisStore,
    prefix: String,
    event: EventId,
}

impl Fixture {
    async fn new() -> Self {
        let url = std::env::var("ANTEROOM_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let redis = RedisStore::new(&url, Duration::from_secs(2)).unwrap();
        tokio::time::timeout(
            Duration::from_secs(10),
            redis.run_connector(CancellationToken::new()),
        )
        .await
        .expect("Redis is not reachable");
        let prefix = format!("qtest{}", uuid::Uuid::new_v4().simple());
        Self {
            queue: Queue::new(redis.clone(), RedisKeys::new(prefix.clone()), 3600),
            redis,
            prefix,
            event: EventId::new(),
        }
    }

    /// Redis clock, Unix ms.
    async fn redis_now(&self) -> i64 {
        let (s, us): (i64, i64) = self
            .redis
            .call(|mut c| async move { redis::cmd("TIME").query_async(&mut c).await })
            .await
            .unwrap();
        s * 1000 + us / 1000
    }

    async fn join_n(&self, n: usize) -> Vec<TicketId> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(
                self.queue
                    .join(&self.event, false, None)
                    .await
                    .unwrap()
                    .ticket,
            );
        }
        out
    }

    fn params(&self, rate: u32, max_active: u32, now_ms: i64) -> AdmitParams {
        AdmitParams {
            rate_per_minute: rate,
            max_active,
            pass_ttl_seconds: 60,
            abandon_after_seconds: 120,
            now_ms: Some(now_ms),
        }
    }

    async fn state(&self, t: &TicketId) -> TicketState {
        self.queue
            .status(&self.event, t)
            .await
            .unwrap()
            .unwrap()
            .state
    }

    async fn cleanup(self) {
        let pattern = format!("{}:*", self.prefix);
        let keys: Vec<String> = self
            .redis
            .call(|mut c| async move { redis::cmd("KEYS").arg(pattern).query_async(&mut c).await })
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = self
                .redis
                .call(|mut c| async move { redis::cmd("DEL").arg(keys).query_async(&mut c).await })
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn join_status_rejoin_and_leave() {
    let f = Fixture::new().await;
    let tickets = f.join_n(3).await;
    let third = f
        .queue
        .status(&f.event, &tickets[2])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (third.state, third.ahead, third.seq),
        (TicketState::Waiting, Some(2), 3)
    );

    let again = f
        .queue
        .join(&f.event, false, Some(tickets[1]))
        .await
        .unwrap();
    assert_eq!(
        (again.ticket, again.seq, again.created),
        (tickets[1], 2, false)
    );

    assert!(f.queue.leave(&f.event, &tickets[0]).await.unwrap());
    assert!(
        !f.queue.leave(&f.event, &tickets[0]).await.unwrap(),
        "idempotent"
    );
    assert!(f
        .queue
        .status(&f.event, &tickets[0])
        .await
        .unwrap()
        .is_none());
    let third = f
        .queue
        .status(&f.event, &tickets[2])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.ahead, Some(1), "one fewer ahead after a leave");

    // A rejoin of a ticket that left is a new ticket at the back.
    let back = f
        .queue
        .join(&f.event, false, Some(tickets[0]))
        .await
        .unwrap();
    assert!(back.created);
    assert_ne!(back.ticket, tickets[0]);
    assert_eq!(back.seq, 4);
    f.cleanup().await;
}

#[tokio::test]
async fn admission_follows_the_token_bucket_whoever_calls() {
    let f = Fixture::new().await;
    let tickets = f.join_n(60).await;
    // Aligned to a second (+100 ms) so the 60 s window below is exact.
    let t0 = f.redis_now().await / 1000 * 1000 + 100;
    // 600/min: 10 per second, bucket capacity 10 (one second's worth), full at start.
    let first = f
        .queue
        .admit(&f.event, f.params(600, 1000, t0))
        .await
        .unwrap();
    assert_eq!(
        first.admitted,
        tickets[..10].to_vec(),
        "head first, in order"
    );
    // Three "replicas" calling at the same instant get nothing more.
    for _ in 0..3 {
        let r = f
            .queue
            .admit(&f.event, f.params(600, 1000, t0))
            .await
            .unwrap();
        assert!(r.admitted.is_empty());
    }
    // Half a second later: 5 tokens, however many callers.
    let half = f
        .queue
        .admit(&f.event, f.params(600, 1000, t0 + 500))
        .await
        .unwrap();
    assert_eq!(half.admitted.len(), 5);
    let none = f
        .queue
        .admit(&f.event, f.params(600, 1000, t0 + 500))
        .await
        .unwrap();
    assert!(none.admitted.is_empty());
    // Many small steps over 2 s admit 20: the allowance comes from time, not calls.
    let mut admitted = 0;
    for step in 1..=40 {
        let r = f
            .queue
            .admit(&f.event, f.params(600, 1000, t0 + 500 + step * 50))
            .await
            .unwrap();
        admitted += r.admitted.len();
    }
    assert_eq!(admitted, 20);
    assert_eq!(f.state(&tickets[0]).await, TicketState::Admitted);
    assert_eq!(f.state(&tickets[40]).await, TicketState::Waiting);
    let r = f
        .queue
        .admit(&f.event, f.params(600, 1000, t0 + 2600))
        .await
        .unwrap();
    assert_eq!(r.admitted.len(), 1);
    assert_eq!(r.observed_last_minute, 36, "admissions over the last 60 s");
    // Idle time does not accumulate more than one second's worth.
    let later = f
        .queue
        .admit(&f.event, f.params(600, 1000, t0 + 30_000))
        .await
        .unwrap();
    assert_eq!(later.admitted.len(), 10);
    assert_eq!(later.waiting, 14);
    let stats = f.queue.stats(&f.event, t0 + 30_000).await.unwrap();
    assert_eq!(stats.admitted_total, 46);
    assert_eq!(stats.waiting, 14);
    assert_eq!(stats.observed_per_minute, 46.0);
    f.cleanup().await;
}

#[tokio::test]
async fn max_active_caps_admission_until_passes_expire() {
    let f = Fixture::new().await;
    let tickets = f.join_n(10).await;
    let t0 = f.redis_now().await;
    let r = f
        .queue
        .admit(&f.event, f.params(6000, 3, t0))
        .await
        .unwrap();
    assert_eq!(r.admitted.len(), 3);
    assert_eq!(r.active, 3);
    let r = f
        .queue
        .admit(&f.event, f.params(6000, 3, t0 + 10_000))
        .await
        .unwrap();
    assert!(r.admitted.is_empty(), "capped by max_active");
    // Passes last 60 s: after that, three more.
    let r = f
        .queue
        .admit(&f.event, f.params(6000, 3, t0 + 60_001))
        .await
        .unwrap();
    assert_eq!(r.admitted, tickets[3..6].to_vec());
    assert_eq!(r.active, 3);
    f.cleanup().await;
}

#[tokio::test]
async fn abandoned_tickets_are_skipped_without_using_tokens() {
    let f = Fixture::new().await;
    let silent = f.join_n(5).await;
    let t0 = f.redis_now().await;
    // 121 s later none of them has polled (abandon after 120 s): all are skipped, and
    // the single token (60/min → capacity 1) is still there afterwards.
    let r = f
        .queue
        .admit(&f.event, f.params(60, 100, t0 + 121_000))
        .await
        .unwrap();
    assert!(r.admitted.is_empty());
    assert_eq!(r.abandoned, 5);
    assert!((r.tokens - 1.0).abs() < 1e-9, "tokens {}", r.tokens);
    for t in &silent {
        assert_eq!(f.state(t).await, TicketState::Abandoned);
    }
    // A fan seen recently is admitted with that token.
    let kept = f.join_n(1).await[0];
    let now = f.redis_now().await;
    let r = f
        .queue
        .admit(&f.event, f.params(60, 100, now + 1_000))
        .await
        .unwrap();
    assert_eq!(r.admitted, vec![kept]);
    let stats = f.queue.stats(&f.event, now).await.unwrap();
    assert_eq!((stats.abandoned_total, stats.admitted_total), (5, 1));
    f.cleanup().await;
}

#[tokio::test]
async fn the_prequeue_goes_first_in_lottery_order() {
    let f = Fixture::new().await;
    let mut early = Vec::new();
    for _ in 0..8 {
        let j = f.queue.join(&f.event, true, None).await.unwrap();
        early.push(j.ticket);
        assert_eq!(f.state(&j.ticket).await, TicketState::Prequeue);
    }
    // Someone arrives after opens_at but before the shuffle ran.
    let latecomer = f.queue.join(&f.event, false, None).await.unwrap().ticket;
    let seed = [42u8; 32];
    assert_eq!(f.queue.shuffle(&f.event, &seed).await.unwrap(), Some(8));
    assert_eq!(
        f.queue.shuffle(&f.event, &seed).await.unwrap(),
        None,
        "once"
    );
    // A "prequeue" join after the shuffle (a replica with a lagging clock) waits normally.
    let after = f.queue.join(&f.event, true, None).await.unwrap().ticket;
    assert_eq!(f.state(&after).await, TicketState::Waiting);

    let order = lottery_order(&seed, &early);
    for (i, t) in order.iter().enumerate() {
        let v = f.queue.status(&f.event, t).await.unwrap().unwrap();
        assert_eq!((v.state, v.ahead), (TicketState::Waiting, Some(i as u64)));
    }
    let v = f.queue.status(&f.event, &latecomer).await.unwrap().unwrap();
    assert_eq!(v.ahead, Some(8), "behind the whole pre-queue");
    let now = f.redis_now().await;
    let r = f
        .queue
        .admit(&f.event, f.params(600, 100, now))
        .await
        .unwrap();
    let mut expected = order.clone();
    expected.push(latecomer);
    expected.push(after);
    assert_eq!(r.admitted, expected);
    f.cleanup().await;
}

/// Recovery without restart: a private `redis-server` (skipped if none is installed) is
/// stopped and started again under a live [`RedisStore`].
#[tokio::test]
async fn the_store_answers_503_quickly_while_redis_is_down_and_recovers() {
    use gateway::error::ApiError;
    use std::process::{Command, Stdio};
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let start = || {
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
    };
    let Ok(mut server) = start() else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let store = RedisStore::new(
        &format!("redis://127.0.0.1:{port}"),
        Duration::from_millis(500),
    )
    .unwrap();
    let connector = tokio::spawn({
        let store = store.clone();
        async move { store.run_connector(CancellationToken::new()).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.ping().await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    connector.await.unwrap();

    server.kill().unwrap();
    server.wait().unwrap();
    for _ in 0..3 {
        let started = tokio::time::Instant::now();
        let r = store.ping().await;
        assert!(
            matches!(r, Err(ApiError::Unavailable { .. })),
            "expected 503, got {r:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    let mut server = start().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while store.ping().await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "did not recover after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
}
