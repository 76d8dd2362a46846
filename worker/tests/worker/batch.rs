//! The batch form on the wire (`protocol::batch`): many commands in one AMQP message,
//! decided in their order, answered in one reply batch per gateway, each line decoded
//! and refused alone; and a worker killed with SIGKILL while a batch message is half
//! applied, after which every command of it has exactly one outcome.

use crate::dead_letters::{dead_count, wait_for_dead_letters};
use crate::helpers::commands::hold;
use crate::helpers::{eventually, spec, TestEnv, SHARDS};
use crate::poison::poison_seat;
use crate::webhooks::worker_process;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use protocol::batch::{encode_command, BATCH_MAX_COMMANDS};
use protocol::command::Envelope;
use protocol::ids::EventId;
use protocol::names::AmqpNames;
use protocol::reply::{ErrorCode, Outcome};
use std::collections::HashSet;
use std::time::Duration;
use testkit::Proxy;
use worker::dead_letters;

fn holds(event: EventId, seats: &[&str]) -> Vec<Envelope> {
    seats
        .iter()
        .map(|s| TestEnv::envelope(event, hold(s)))
        .collect()
}

fn lines(envelopes: &[Envelope]) -> Vec<Vec<u8>> {
    envelopes
        .iter()
        .map(|e| encode_command(e).unwrap())
        .collect()
}

async fn count(env: &TestEnv, sql: &str, event: EventId) -> i64 {
    sqlx::query_scalar(sql)
        .bind(event.0)
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_message_is_decided_in_order_and_answered_in_one_reply_batch() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    let batch = holds(event, &["A-1-1", "A-1-1", "A-1-2"]);
    env.publish_batch(event, &lines(&batch)).await;
    let outcomes: Vec<Outcome> = {
        let mut v = Vec::new();
        for e in &batch {
            v.push(env.reply(e.request_id).await.outcome);
        }
        v
    };
    assert!(
        matches!(outcomes[0], Outcome::HoldCreated(_)),
        "{outcomes:?}"
    );
    match &outcomes[1] {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::SeatsUnavailable),
        other => panic!("the second hold of the same seat must lose: {other:?}"),
    }
    assert!(
        matches!(outcomes[2], Outcome::HoldCreated(_)),
        "{outcomes:?}"
    );
    assert_eq!(env.reply_batches, [3], "one reply message for the batch");
    assert!(env.unclaimed_replies().is_empty());
    // The database agrees: two holds, two claims.
    let held = count(
        &env,
        "SELECT count(*) FROM holds WHERE event_id = $1",
        event,
    )
    .await;
    assert_eq!(held, 2);
    // The single form still works next to it.
    assert!(matches!(
        env.send(event, hold("A-1-3")).await,
        Outcome::HoldCreated(_)
    ));
}

/// A batch of 300 commands is answered in parts of 128, each after its Redis writes:
/// while the worker's Redis connection is frozen (a proxy that passes no byte, shorter
/// than the worker's Redis timeout), the batch commits but nobody is answered; once it
/// thaws, three reply messages arrive, and when each does, Redis (asked directly at
/// that moment) holds every request and hold document it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_is_answered_in_parts_each_after_its_redis_writes() {
    let mut env = TestEnv::without_worker().await;
    let (redis_link, proxied) = Proxy::start(&env.settings.redis_url.clone()).await;
    env.settings.redis_url = proxied;
    env.settings.redis_timeout_ms = 20_000;
    env.worker = Some(env.spawn_worker().await);
    let event = env.create_event(&spec(3, 100, 300)).await;
    let seats: Vec<String> = (1..=3)
        .flat_map(|row| (1..=100).map(move |n| format!("A-{row}-{n}")))
        .collect();
    let seats: Vec<&str> = seats.iter().map(String::as_str).collect();
    let batch = holds(event, &seats);

    redis_link.freeze();
    env.publish_batch(event, &lines(&batch)).await;
    eventually(Duration::from_secs(10), "the batch to commit", || async {
        let held = count(
            &env,
            "SELECT count(*) FROM holds WHERE event_id = $1",
            event,
        )
        .await;
        (held == 300).then_some(())
    })
    .await;
    let early = env
        .reply_within(batch[0].request_id, Duration::from_millis(500))
        .await;
    assert!(
        early.is_none(),
        "answered before its documents were in Redis"
    );
    assert!(env.reply_batches.is_empty(), "{:?}", env.reply_batches);
    redis_link.thaw();

    let mut redis = env.redis.clone();
    let mut answered = 0;
    while answered < batch.len() {
        let replies = env.next_reply_batch().await;
        for reply in &replies {
            let Outcome::HoldCreated(h) = &reply.outcome else {
                panic!("{:?}", reply.outcome);
            };
            let request_doc = env.keys.request(&event, &reply.request_id);
            let hold_doc = env.keys.hold(&event, &h.id);
            let present: i64 = redis::cmd("EXISTS")
                .arg(&request_doc)
                .arg(&hold_doc)
                .query_async(&mut redis)
                .await
                .unwrap();
            assert_eq!(
                present, 2,
                "a reply arrived before its documents were in Redis"
            );
        }
        answered += replies.len();
    }
    let mut sizes = env.reply_batches.clone();
    sizes.sort_unstable();
    assert_eq!(
        sizes,
        [44, 128, 128],
        "parts of 128 commands, each its own reply batch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_line_is_refused_or_dead_lettered_alone() {
    let mut env = TestEnv::start().await;
    let names = AmqpNames::new(env.namespace.clone());
    let event = env.create_event(&spec(1, 4, 300)).await;
    let good = holds(event, &["A-1-1", "A-1-2"]);
    // A command whose ids are readable but whose seat is not: refused with a 422.
    let refused = TestEnv::envelope(event, hold("A-1-3"));
    let mut value =
        serde_json::to_value(protocol::command::CommandMessage::V1(refused.clone())).unwrap();
    value["command"]["selection"]["seats"][0] = "A-1-\u{0}".into();
    let garbage = b"{\"version\": \"1\", \"not a command\"".to_vec();
    let mut body = lines(&good[..1]);
    body.push(serde_json::to_vec(&value).unwrap());
    body.push(garbage.clone());
    body.extend(lines(&good[1..]));
    env.publish_batch(event, &body).await;

    for e in &good {
        let outcome = env.reply(e.request_id).await.outcome;
        assert!(matches!(outcome, Outcome::HoldCreated(_)), "{outcome:?}");
    }
    match env.reply(refused.request_id).await.outcome {
        Outcome::Rejected(e) => {
            assert_eq!(e.code, ErrorCode::InvalidField);
            assert!(e.message.contains("seats[0]"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(env.reply_batches, [3]);
    let stored: Option<i32> =
        sqlx::query_scalar("SELECT status FROM request_results WHERE request_id = $1")
            .bind(refused.request_id.0)
            .fetch_optional(&env.pool)
            .await
            .unwrap();
    assert_eq!(stored, Some(422), "the refusal is stored like any outcome");
    // The unreadable line alone is a dead letter, in the single form.
    wait_for_dead_letters(&env, 1).await;
    let letters = dead_letters::list(
        env.amqp(),
        &protocol::topology::Topology::new(names.clone(), SHARDS),
    )
    .await
    .unwrap();
    let [letter] = letters.as_slice() else {
        panic!("{letters:?}")
    };
    assert_eq!(letter.reason, "malformed");
    assert_eq!(letter.size, garbage.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_its_bounds_is_malformed_as_a_whole() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    let too_many = holds(event, &vec!["A-1-1"; BATCH_MAX_COMMANDS + 1]);
    env.publish_batch(event, &lines(&too_many)).await;
    env.publish_batch_body(event, b"\n\n").await;
    // Nothing of them is decided; the shard goes on.
    assert!(matches!(
        env.send(event, hold("A-1-1")).await,
        Outcome::HoldCreated(_)
    ));
    wait_for_dead_letters(&env, 2).await;
    assert_eq!(dead_count(&env).await, 2);
    let results: i64 =
        sqlx::query_scalar("SELECT count(*) FROM request_results WHERE request_id = ANY($1)")
            .bind(too_many.iter().map(|e| e.request_id.0).collect::<Vec<_>>())
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(results, 0);
}

/// The worker process is killed with SIGKILL while poison isolation is committing a
/// batch message part by part: the parts before the poison are committed (their holds
/// and results are in PostgreSQL), the part after it is in its transaction, held there
/// by a trigger that sleeps, nothing is acked and no reply is sent. A new worker gets
/// the message again and answers every command exactly once: the committed ones from
/// their stored results, the others decided now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_while_a_batch_message_is_half_applied_gives_each_command_one_outcome() {
    let mut env = TestEnv::without_worker().await;
    let mut first = worker_process(&env.settings);
    let event = EventId::new();
    consumed(&env, event).await;
    let event = env.create_event_with_id(event, &spec(1, 16, 300)).await;
    poison_seat(&env, "A-1-4").await;
    // The claim of A-1-12 sleeps once the poison's error outcome is committed, that is
    // in isolation after the parts before it committed (never in the first, whole try).
    for sql in [
        "CREATE FUNCTION sleep_after_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.seat_id = 'A-1-12'
                AND EXISTS (SELECT 1 FROM request_results WHERE status = 500) THEN
                 PERFORM pg_sleep(60);
             END IF;
             RETURN NEW;
         END $$",
        "CREATE TRIGGER sleep_after_poison BEFORE INSERT ON seat_claims
         FOR EACH ROW EXECUTE FUNCTION sleep_after_poison()",
    ] {
        sqlx::query(sql).execute(&env.pool).await.unwrap();
    }
    let seats: Vec<String> = (1..=16).map(|n| format!("A-1-{n}")).collect();
    let seat_refs: Vec<&str> = seats.iter().map(String::as_str).collect();
    let batch = holds(event, &seat_refs);
    let ids: Vec<uuid::Uuid> = batch.iter().map(|e| e.request_id.0).collect();
    env.publish_batch(event, &lines(&batch)).await;

    let pool = env.pool.clone();
    let sleeper: i32 = eventually(
        Duration::from_secs(30),
        "isolation to hold the part after the poison in its transaction",
        || async {
            sqlx::query_scalar(
                "SELECT pid FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event = 'PgSleep'",
            )
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten()
        },
    )
    .await;
    let stored_before: i64 =
        sqlx::query_scalar("SELECT count(*) FROM request_results WHERE request_id = ANY($1)")
            .bind(&ids)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert!(
        0 < stored_before && stored_before < 16,
        "part of the batch took effect: {stored_before} of 16 stored"
    );
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("the killed worker");
    // Its sleeping transaction dies with it (PostgreSQL notices a dead client only when
    // it talks to it): end it now, and let the claim of A-1-12 pass from here on.
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(sleeper)
        .execute(&env.pool)
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER sleep_after_poison ON seat_claims")
        .execute(&env.pool)
        .await
        .unwrap();
    assert!(
        env.reply_batches.is_empty(),
        "nothing was answered before the kill"
    );

    let _second = worker_process(&env.settings);
    let mut held = HashSet::new();
    for (seat, e) in seats.iter().zip(&batch) {
        match env.reply(e.request_id).await.outcome {
            Outcome::HoldCreated(h) => {
                assert_eq!(h.seats, std::slice::from_ref(seat));
                assert!(held.insert(h.id), "one hold per command");
            }
            Outcome::Rejected(r) if seat == "A-1-4" => assert_eq!(r.code, ErrorCode::Internal),
            other => panic!("{seat}: {other:?}"),
        }
    }
    assert_eq!(held.len(), 15);
    assert_eq!(
        env.reply_batches,
        [16],
        "one reply batch, each command once"
    );
    // PostgreSQL: one result per command, the holds of the replies and no others, one
    // claim per seat.
    let rows: Vec<(uuid::Uuid, i32)> =
        sqlx::query_as("SELECT request_id, status FROM request_results WHERE request_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 16);
    assert_eq!(rows.iter().filter(|(_, s)| *s == 201).count(), 15);
    let stored_holds: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM holds WHERE event_id = $1 AND state = 'held'")
            .bind(event.0)
            .fetch_all(&env.pool)
            .await
            .unwrap();
    let stored_holds: HashSet<_> = stored_holds.into_iter().collect();
    let replied: HashSet<_> = held.iter().map(|h| h.0).collect();
    assert_eq!(stored_holds, replied);
    let claims = count(
        &env,
        "SELECT count(DISTINCT seat_id) FROM seat_claims WHERE event_id = $1",
        event,
    )
    .await;
    assert_eq!(claims, 15);
    verify_sql(&env, event).await;
}

/// Waits until the worker process consumes the shard queue of `event`.
async fn consumed(env: &TestEnv, event: EventId) {
    let queue = AmqpNames::new(env.namespace.clone())
        .shard_queue(protocol::shard_of(&event, crate::helpers::SHARDS));
    let amqp = env.amqp();
    eventually(
        Duration::from_secs(30),
        "the worker process to consume its shard",
        || async {
            let probe = amqp.create_channel().await.ok()?;
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            let found = probe
                .queue_declare(&queue, passive, FieldTable::default())
                .await
                .ok()?;
            (found.consumer_count() > 0).then_some(())
        },
    )
    .await;
}

/// Runs `deploy/verify.sql` on the test database for `event` and asserts it passed.
async fn verify_sql(env: &TestEnv, event: EventId) {
    use secrecy::ExposeSecret;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = tokio::process::Command::new("psql")
        .arg(env.settings.database_url.expose_secret())
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-v"])
        .arg(format!("event_id={event}"))
        .arg("-f")
        .arg(root.join("deploy/verify.sql"))
        .output()
        .await
        .expect("psql (postgresql-client)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("oversold=0"),
        "deploy/verify.sql: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
