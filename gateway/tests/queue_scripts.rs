//! The queue's Lua scripts against the real Redis on loopback (`ANTEROOM_TEST_REDIS_URL`,
//! default `redis://127.0.0.1:6379`). Each test uses its own key prefix and deletes its
//! keys at the end.
//!
//! Admission is driven with an explicit clock (`now_ms`), so rates are checked exactly
//! instead of by sleeping. The token bucket against its Rust model, FIFO order, the
//! lottery and the live-view scripts are tested in `tests/admission/scripts.rs`.

use gateway::adapters::redis_store::RedisStore;
use gateway::admission::AdmitParams;
use gateway::queue::{Queue, TicketState};
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
        let redis =
            RedisStore::with_settings(&testkit::redis_settings(), Duration::from_secs(2)).unwrap();
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

    /// `TTL` of a ticket's record, seconds (-2: no record).
    async fn record_ttl(&self, event: &EventId, t: &TicketId) -> i64 {
        let key = self.queue.keys(event).ticket(t);
        self.redis
            .call(|mut c| async move { redis::cmd("TTL").arg(key).query_async(&mut c).await })
            .await
            .unwrap()
    }

    async fn state(&self, t: &TicketId) -> TicketState {
        self.queue
            .status(&self.event, t)
            .await
            .unwrap()
            .unwrap()
            .state
    }

    /// Deletes the prefix's keys (`testkit::cleanup`).
    async fn cleanup(self) {
        testkit::cleanup::Cleanup {
            namespace: self.prefix.clone(),
            shards: 0,
            database: None,
        }
        .delete()
        .await;
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

/// Joins made at the same time are group committed (`queue/group_commit.rs`): far fewer
/// script calls than joins, and each ticket as a lone join makes it: consecutive arrival
/// numbers in the order the joins were made, its place; its record at once in the
/// pre-queue, at its first status for the waiting set (lazy records, `join_group.lua`).
#[tokio::test]
async fn concurrent_joins_are_group_committed_in_arrival_order() {
    const JOINS: usize = 600;
    let f = Fixture::new().await;
    let commits_before = f.queue.join_commits().get();
    let other = EventId::new();
    // `join_all` polls every join once before any commit runs: they reach the committer
    // in this order. Every third join is for another event, and every seventh of those
    // in its pre-queue: three groups.
    let specs: Vec<(EventId, bool)> = (0..JOINS)
        .map(|i| match i % 3 {
            2 => (other, i % 7 == 0),
            _ => (f.event, false),
        })
        .collect();
    let joined = futures::future::join_all(
        specs
            .iter()
            .map(|(event, prequeue)| f.queue.join(event, *prequeue, None)),
    )
    .await;
    let commits = f.queue.join_commits().get() - commits_before;
    // At most 256 joins a commit, one commit per event and mode: 9 when the committer
    // takes them all at once; a few more if it ran between polls.
    assert!(
        (3..JOINS as u64 / 10).contains(&commits),
        "{JOINS} joins in {commits} commits"
    );

    let ours: Vec<_> = specs
        .iter()
        .zip(&joined)
        .filter(|((event, _), _)| *event == f.event)
        .map(|(_, j)| j.as_ref().unwrap())
        .collect();
    let seqs: Vec<u64> = ours.iter().map(|j| j.seq).collect();
    assert_eq!(
        seqs,
        (1..=ours.len() as u64).collect::<Vec<_>>(),
        "arrival order"
    );
    assert!(ours
        .iter()
        .all(|j| j.created && j.state == TicketState::Waiting));
    let last = ours.last().unwrap();
    assert_eq!(
        f.record_ttl(&f.event, &last.ticket).await,
        -2,
        "no record until first seen"
    );
    let view = f
        .queue
        .status(&f.event, &last.ticket)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (view.state, view.seq, view.ahead),
        (TicketState::Waiting, last.seq, Some(last.seq - 1))
    );
    let ttl = f.record_ttl(&f.event, &last.ticket).await;
    assert!(
        ttl > 3000 && ttl <= 3600,
        "record made at the status: TTL {ttl} s"
    );

    let theirs: Vec<_> = specs
        .iter()
        .zip(&joined)
        .filter(|((event, _), _)| *event == other)
        .map(|((_, prequeue), j)| (*prequeue, j.as_ref().unwrap()))
        .collect();
    let mut seqs: Vec<u64> = theirs.iter().map(|(_, j)| j.seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=theirs.len() as u64).collect::<Vec<_>>(),
        "one counter per event"
    );
    for (prequeue, j) in &theirs {
        let expected = if *prequeue {
            TicketState::Prequeue
        } else {
            TicketState::Waiting
        };
        assert_eq!(j.state, expected);
    }
    for (prequeue, j) in theirs.iter().take(30) {
        let ttl = f.record_ttl(&other, &j.ticket).await;
        if *prequeue {
            assert!(ttl > 3000 && ttl <= 3600, "pre-queue record TTL {ttl} s");
        } else {
            assert_eq!(ttl, -2, "no record until first seen");
        }
    }
    // `cleanup` deletes both events' keys (one prefix).
    f.cleanup().await;
}

#[tokio::test]
async fn max_active_caps_admission_until_passes_expire() {
    let f = Fixture::new().await;
    let tickets = f.join_n(10).await;
    let t0 = f.redis_now().await;
    // The bucket starts empty: the first call only starts the clock.
    let r = f
        .queue
        .admit(&f.event, f.params(6000, 3, t0 - 1_000))
        .await
        .unwrap();
    assert!(r.admitted.is_empty());
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
    let kept = f.join_n(2).await;
    let t0 = f.redis_now().await;
    // The two kept fans were seen 2 minutes later; the five silent ones never again.
    f.queue
        .mark_seen(&f.event, &kept, Some(t0 + 120_000))
        .await
        .unwrap();
    f.queue
        .admit(&f.event, f.params(60, 100, t0 + 119_000))
        .await
        .unwrap();
    // 121 s after the joins (abandon after 120 s): the silent five are skipped and the
    // two tokens that two seconds at 60/min gave go to the two kept fans.
    let r = f
        .queue
        .admit(&f.event, f.params(60, 100, t0 + 121_000))
        .await
        .unwrap();
    assert_eq!(r.admitted, kept);
    assert_eq!(r.abandoned, 5);
    assert_eq!(r.head_line, 7, "the head passed all seven");
    for t in &silent {
        assert_eq!(f.state(t).await, TicketState::Abandoned);
    }
    let stats = f.queue.stats(&f.event, t0 + 121_000).await.unwrap();
    assert_eq!((stats.abandoned_total, stats.admitted_total), (5, 2));
    f.cleanup().await;
}

/// Recovery without restart: a private `redis-server` (skipped if none is installed) is
/// stopped and started again under a live [`RedisStore`].
#[tokio::test]
async fn the_store_answers_503_quickly_while_redis_is_down_and_recovers() {
    use gateway::adapters::redis_store::StoreError;
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
    let mut server = start().expect("redis-server (deploy/local/services.sh installs it)");
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
            matches!(r, Err(StoreError::Unavailable(_))),
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

/// During a Redis hang (the server stopped with SIGSTOP, so connections stay open and
/// calls wait for the timeout), the joins queued behind a commit that timed out are
/// answered `503` with it, not after a second timeout of their own.
#[tokio::test]
async fn joins_queued_behind_a_timed_out_commit_fail_with_it() {
    use gateway::adapters::redis_store::StoreError;
    use gateway::queue::group_commit::GroupCommit;
    use gateway::queue::SeqFloors;
    use std::process::{Command, Stdio};
    use std::sync::Arc;
    const TIMEOUT: Duration = Duration::from_millis(600);
    let port = 20_000 + ((std::process::id() + 7_919) % 20_000) as u16;
    /// Kills the private server even when an assertion fails while it is stopped.
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let server = Server(
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
            .expect("redis-server (deploy/local/services.sh installs it)"),
    );
    let store = RedisStore::new(&format!("redis://127.0.0.1:{port}"), TIMEOUT).unwrap();
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
    let commits = Arc::new(GroupCommit::new(
        store,
        RedisKeys::new("hang"),
        60,
        Arc::new(SeqFloors::default()),
    ));
    let event = EventId::new();
    commits.join(&event, false, TicketId::new()).await.unwrap();

    let pid = server.0.id().to_string();
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    };
    signal("-STOP");
    let join = |commits: Arc<GroupCommit>| {
        tokio::spawn(async move {
            let sent = tokio::time::Instant::now();
            let result = commits.join(&event, false, TicketId::new()).await;
            (result, sent.elapsed())
        })
    };
    let first = join(commits.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let queued: Vec<_> = (0..5).map(|_| join(commits.clone())).collect();
    let (result, _) = first.await.unwrap();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    for waiter in queued {
        let (result, waited) = waiter.await.unwrap();
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        // Queued 200 ms into the first commit's 600 ms timeout: answered with it (about
        // 400 ms), where a commit of their own would have added another 600 ms.
        assert!(
            waited < TIMEOUT + Duration::from_millis(150),
            "waited {waited:?}"
        );
    }
    signal("-CONT");
}
