//! Poison isolation: a command PostgreSQL refuses is answered alone with a stored error
//! and never stalls its shard; a failure PostgreSQL recovers from is still retried. The
//! classification of errors is checked on errors the real PostgreSQL raises.

use crate::helpers::commands::hold;
use crate::helpers::{eventually, spec, TestEnv};
use crate::metrics::series;
use protocol::command::{Command, Envelope};
use protocol::ids::{EventId, RequestId};
use protocol::reply::{ErrorCode, Outcome, StoredResult};
use redis::AsyncCommands;
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};
use worker::repo::CommitError;

async fn run(env: &TestEnv, sql: &str) {
    sqlx::query(sql).execute(&env.pool).await.unwrap();
}

pub(crate) async fn metric(env: &TestEnv, name: &str) -> Option<f64> {
    let (_, text) = env.http_get("/metrics").await;
    series(&text, name)
}

/// A connection of its own to the test database.
async fn connect(env: &TestEnv) -> PgConnection {
    use secrecy::ExposeSecret;
    PgConnection::connect(env.settings.database_url.expose_secret())
        .await
        .unwrap()
}

fn classified(e: sqlx::Error) -> (CommitError, Option<String>) {
    let code = worker::repo::classify::sqlstate(&e);
    (CommitError::from(e), code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_errors_are_classified_by_whether_a_retry_can_help() {
    let env = TestEnv::without_worker().await;
    let pool = env.pool.clone();

    // A NUL byte in text, and in JSON: data exceptions of the value (class 22).
    let e = sqlx::query("SELECT $1::text")
        .bind("pay\0ref")
        .execute(&pool)
        .await
        .unwrap_err();
    let (e, code) = classified(e);
    assert_eq!(code.as_deref(), Some("22021"));
    assert!(matches!(e, CommitError::Permanent(_)) && e.is_data_exception());
    let e = sqlx::query("SELECT $1::jsonb")
        .bind(sqlx::types::Json(
            serde_json::json!({"name": "bad\u{0}name"}),
        ))
        .execute(&pool)
        .await
        .unwrap_err();
    let (e, code) = classified(e);
    assert_eq!(code.as_deref(), Some("22P05"));
    assert!(matches!(e, CommitError::Permanent(_)) && e.is_data_exception());

    // A duplicate key and a check violation: permanent, not the value's fault.
    sqlx::query("CREATE TABLE t (id int PRIMARY KEY CHECK (id > 0))")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO t VALUES (1)")
        .execute(&pool)
        .await
        .unwrap();
    for (sql, expected) in [
        ("INSERT INTO t VALUES (1)", "23505"),
        ("INSERT INTO t VALUES (-1)", "23514"),
    ] {
        let (e, code) = classified(sqlx::query(sql).execute(&pool).await.unwrap_err());
        assert_eq!(code.as_deref(), Some(expected));
        assert!(matches!(e, CommitError::Permanent(_)) && !e.is_data_exception());
    }

    // A statement timeout: transient.
    let mut conn = connect(&env).await;
    sqlx::query("SET statement_timeout = '50ms'")
        .execute(&mut conn)
        .await
        .unwrap();
    let e = sqlx::query("SELECT pg_sleep(2)")
        .execute(&mut conn)
        .await
        .unwrap_err();
    let (e, code) = classified(e);
    assert_eq!(code.as_deref(), Some("57014"));
    assert!(matches!(e, CommitError::Transient(_)), "{e:?}");

    // A serialization failure (write skew of two serializable transactions): transient.
    sqlx::query("CREATE TABLE s (v int)")
        .execute(&pool)
        .await
        .unwrap();
    let (mut a, mut b) = (connect(&env).await, connect(&env).await);
    for (conn, read, write) in [(&mut a, 1, 2), (&mut b, 2, 1)] {
        sqlx::query("BEGIN ISOLATION LEVEL SERIALIZABLE")
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query("SELECT count(*) FROM s WHERE v = $1")
            .bind(read)
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO s VALUES ($1)")
            .bind(write)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    sqlx::query("COMMIT").execute(&mut a).await.unwrap();
    let e = sqlx::query("COMMIT").execute(&mut b).await.unwrap_err();
    let (e, code) = classified(e);
    assert_eq!(code.as_deref(), Some("40001"));
    assert!(matches!(e, CommitError::Transient(_)), "{e:?}");

    // The connection killed by the server: transient (57P01, or the socket's I/O error).
    let mut victim = connect(&env).await;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut victim)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&pool)
        .await
        .unwrap();
    let e = sqlx::query("SELECT 1")
        .execute(&mut victim)
        .await
        .unwrap_err();
    let (e, _) = classified(e);
    assert!(matches!(e, CommitError::Transient(_)), "{e:?}");

    // No connection to be had in time: transient.
    let small = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(200))
        .connect(secrecy::ExposeSecret::expose_secret(
            &env.settings.database_url,
        ))
        .await
        .unwrap();
    let _held = small.acquire().await.unwrap();
    let e = small.acquire().await.unwrap_err();
    assert!(matches!(CommitError::from(e), CommitError::Transient(_)));
}

/// Publishes `commands` while no worker runs, then starts one: they arrive as one batch.
async fn one_batch(env: &mut TestEnv, event: EventId, commands: Vec<Command>) -> Vec<Envelope> {
    TestEnv::stop(env.worker.take().expect("a worker")).await;
    let envelopes: Vec<Envelope> = commands
        .into_iter()
        .map(|c| TestEnv::envelope(event, c))
        .collect();
    for e in &envelopes {
        env.publish(e).await;
    }
    env.worker = Some(env.spawn_worker().await);
    envelopes
}

/// Makes PostgreSQL refuse any claim of seat `seat` with a duplicate key (SQLSTATE
/// 23505), which the engine cannot know: a unique index on the seat id alone and a
/// claim of that seat by an event no worker loads, both written behind its back.
pub(crate) async fn poison_seat(env: &TestEnv, seat: &str) {
    run(
        env,
        &format!(
            "CREATE UNIQUE INDEX rogue_claim ON seat_claims (seat_id) WHERE seat_id = '{seat}'"
        ),
    )
    .await;
    run(
        env,
        &format!(
            "INSERT INTO seat_claims (event_id, seat_id, hold_id, state, claimed_at)
             VALUES (gen_random_uuid(), '{seat}', gen_random_uuid(), 'held', now())"
        ),
    )
    .await;
}

pub(crate) async fn stored_status(env: &TestEnv, request: RequestId) -> Option<i32> {
    sqlx::query_scalar("SELECT status FROM request_results WHERE request_id = $1")
        .bind(request.0)
        .fetch_optional(&env.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_hold_is_answered_alone_and_the_rest_of_its_batch_commits() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 10, 300)).await;
    poison_seat(&env, "A-1-4").await;
    let seats: Vec<String> = (1..=8).map(|n| format!("A-1-{n}")).collect();
    let envelopes = one_batch(&mut env, event, seats.iter().map(|s| hold(s)).collect()).await;
    let started = Instant::now();

    let mut held = Vec::new();
    for (seat, e) in seats.iter().zip(&envelopes) {
        let outcome = env.reply(e.request_id).await.outcome;
        if seat == "A-1-4" {
            match outcome {
                Outcome::Rejected(e) => {
                    assert_eq!(e.code, ErrorCode::Internal);
                    assert!(!e.message.contains("seat_claims"), "{}", e.message);
                }
                other => panic!("the refused hold got {other:?}"),
            }
        } else {
            let Outcome::HoldCreated(h) = outcome else {
                panic!("{seat}: {outcome:?}")
            };
            held.push((seat.clone(), h.id.0));
        }
    }
    // Isolated at once, not retried with backoff (the first backoff alone is 100 ms or
    // more, and it doubles forever).
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(
        metric(&env, "anteroom_worker_commit_failures_total").await,
        Some(0.0)
    );
    assert_eq!(
        metric(
            &env,
            "anteroom_worker_poison_commands_total{outcome=\"internal\"}"
        )
        .await,
        Some(1.0)
    );

    // PostgreSQL holds the seven others, and the stored 500 of the refused one.
    let claims: Vec<(String, uuid::Uuid)> = sqlx::query_as(
        "SELECT seat_id, hold_id FROM seat_claims WHERE event_id = $1 ORDER BY seat_id",
    )
    .bind(event.0)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(claims, held);
    let refused = envelopes[3].request_id;
    assert_eq!(stored_status(&env, refused).await, Some(500));
    // So does Redis, for `GET /v1/requests/{id}`.
    let mut redis = env.redis.clone();
    let doc: Option<String> = redis.get(env.keys.request(&event, &refused)).await.unwrap();
    let doc: StoredResult = serde_json::from_str(&doc.expect("request document")).unwrap();
    assert_eq!(doc.status, 500);

    // The shard goes on.
    assert!(matches!(
        env.send(event, hold("A-1-9")).await,
        Outcome::HoldCreated(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_postgresql_refuses_is_answered_422_and_a_replay_gets_the_same() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 10, 300)).await;
    // PostgreSQL refuses one value of one hold as it refuses a NUL byte in text.
    run(
        &env,
        "CREATE FUNCTION refuse_a13() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF 'A-1-3' = ANY (NEW.seats) THEN
                 RAISE EXCEPTION 'refused value' USING ERRCODE = 'character_not_in_repertoire';
             END IF;
             RETURN NEW;
         END $$",
    )
    .await;
    run(
        &env,
        "CREATE TRIGGER refuse_a13 BEFORE INSERT ON holds
         FOR EACH ROW EXECUTE FUNCTION refuse_a13()",
    )
    .await;
    let commands = vec![hold("A-1-1"), hold("A-1-2"), hold("A-1-3"), hold("A-1-4")];
    let envelopes = one_batch(&mut env, event, commands).await;
    for (i, e) in envelopes.iter().enumerate() {
        let outcome = env.reply(e.request_id).await.outcome;
        match (i, outcome) {
            (2, Outcome::Rejected(e)) => assert_eq!(e.code, ErrorCode::InvalidField),
            (2, other) => panic!("{other:?}"),
            (_, Outcome::HoldCreated(_)) => {}
            (_, other) => panic!("{i}: {other:?}"),
        }
    }
    assert_eq!(
        stored_status(&env, envelopes[2].request_id).await,
        Some(422)
    );
    assert_eq!(
        metric(
            &env,
            "anteroom_worker_poison_commands_total{outcome=\"invalid_field\"}"
        )
        .await,
        Some(1.0)
    );
    // Sent again, it gets the same answer, stored once.
    env.publish(&envelopes[2]).await;
    match env.reply(envelopes[2].request_id).await.outcome {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::InvalidField),
        other => panic!("{other:?}"),
    }
    let holds: i64 = sqlx::query_scalar("SELECT count(*) FROM holds WHERE event_id = $1")
        .bind(event.0)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(holds, 3);
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM request_results WHERE request_id = $1")
            .bind(envelopes[2].request_id.0)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(stored, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_database_connection_is_retried_not_isolated() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(1, 4, 300)).await;
    // The next hold insert waits until the test kills its connection.
    run(&env, "CREATE SEQUENCE slow_seq").await;
    run(
        &env,
        "CREATE FUNCTION slow_once() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('slow_seq') = 1 THEN PERFORM pg_sleep(30); END IF;
             RETURN NEW;
         END $$",
    )
    .await;
    run(
        &env,
        "CREATE TRIGGER slow_once BEFORE INSERT ON holds
         FOR EACH ROW EXECUTE FUNCTION slow_once()",
    )
    .await;
    let first = TestEnv::envelope(event, hold("A-1-1"));
    env.publish(&first).await;
    let pool = env.pool.clone();
    let killed = eventually(
        Duration::from_secs(10),
        "the worker's commit to wait in its insert",
        || async {
            let killed: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event = 'PgSleep'",
            )
            .fetch_all(&pool)
            .await
            .ok()?;
            (!killed.is_empty()).then_some(killed)
        },
    )
    .await;
    assert_eq!(killed, vec![true]);
    match env.reply(first.request_id).await.outcome {
        Outcome::HoldCreated(h) => assert_eq!(h.seats, vec!["A-1-1".to_string()]),
        other => panic!("a transient failure must be retried, not isolated: {other:?}"),
    }
    assert!(metric(&env, "anteroom_worker_commit_failures_total").await >= Some(1.0));
    for outcome in ["internal", "invalid_field", "dead_lettered"] {
        let name = format!("anteroom_worker_poison_commands_total{{outcome=\"{outcome}\"}}");
        assert_eq!(metric(&env, &name).await, Some(0.0), "{name}");
    }
    assert_eq!(stored_status(&env, first.request_id).await, Some(201));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_expiry_does_not_stall_the_shard() {
    let mut env = TestEnv::start().await;
    // 10 s is the shortest hold the spec allows.
    let event = env.create_event(&spec(1, 4, 10)).await;
    let Outcome::HoldCreated(first) = env.send(event, hold("A-1-1")).await else {
        panic!("no hold")
    };
    // PostgreSQL refuses to end that hold (a check only this test adds).
    run(
        &env,
        &format!(
            "ALTER TABLE holds ADD CONSTRAINT stays_held
             CHECK (id <> '{}' OR state = 'held') NOT VALID",
            first.id
        ),
    )
    .await;
    let env_ref = &env;
    eventually(
        Duration::from_secs(20),
        "the refused expiry to be counted",
        || async move {
            let n = metric(env_ref, "anteroom_worker_expiries_unwritten_total").await?;
            (n >= 1.0).then_some(())
        },
    )
    .await;
    // Commands of the shard are decided within the usual time.
    let started = Instant::now();
    assert!(matches!(
        env.send(event, hold("A-1-2")).await,
        Outcome::HoldCreated(_)
    ));
    assert!(started.elapsed() < Duration::from_secs(2));
    // The expired seat stays claimed in PostgreSQL: it cannot be sold twice.
    let state: String = sqlx::query_scalar("SELECT state FROM holds WHERE id = $1")
        .bind(first.id.0)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(state, "held");
}
