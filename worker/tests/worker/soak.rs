//! Soak, run by hand (`#[ignore]`): a steady load of holds, releases, expiries and
//! refusals on one worker for `SOAK_SECS` (default 240), sampling every
//! `SOAK_SAMPLE_SECS` (default 15) Redis (`INFO memory` used_memory, `DBSIZE`) and
//! PostgreSQL (`pg_total_relation_size` and row counts of `request_results` and `holds`).
//! Retention and Redis lifetimes are compressed from days to seconds (the settings'
//! floors apply to configuration files, not to this struct), so the steady state comes
//! within a minute instead of a week; after it every figure must stay flat.
//!
//! `used_memory` and `DBSIZE` are the whole server's: give the soak a Redis of its own.
//! Deleted rows free their space for reuse once vacuumed; the test server runs with
//! `autovacuum = off`, so the soak runs `VACUUM` on the two tables before each sample,
//! as autovacuum would (`autovacuum_naptime` is 1 min by default).
//!
//! ```text
//! redis-server --port 6390 --save '' --appendonly no --daemonize yes
//! ANTEROOM_TEST_REDIS_URL=redis://127.0.0.1:6390 cargo nextest run -p anteroom-worker \
//!     --test worker --run-ignored only -E 'test(soak)' --no-capture
//! redis-cli -p 6390 shutdown nosave
//! ```

use crate::helpers::commands::hold_for;
use crate::helpers::{spec, TestEnv};
use protocol::command::Command;
use protocol::ids::TicketId;
use protocol::reply::Outcome;
use std::time::{Duration, Instant};

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// One sample: (Redis used_memory B, DBSIZE, results rows, results B, holds rows, holds B).
async fn sample(env: &TestEnv) -> [i64; 6] {
    sqlx::query("VACUUM request_results, holds")
        .execute(&env.pool)
        .await
        .expect("Failed to vacuum");
    let mut redis = env.redis.clone();
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut redis)
        .await
        .unwrap();
    let used = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory in INFO memory");
    let keys: i64 = redis::cmd("DBSIZE").query_async(&mut redis).await.unwrap();
    let (results, results_bytes, holds, holds_bytes): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM request_results), pg_total_relation_size('request_results'),
                (SELECT count(*) FROM holds), pg_total_relation_size('holds')",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    [used, keys, results, results_bytes, holds, holds_bytes]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a soak of minutes, run by hand (see the module doc)"]
async fn soak_storage_stays_flat_at_a_steady_load() {
    let run_for = env_secs("SOAK_SECS", 240);
    let every = env_secs("SOAK_SAMPLE_SECS", 15);
    let mut env = TestEnv::without_worker().await;
    env.settings.retention_secs = 30;
    env.settings.prune_interval_secs = 5;
    env.settings.result_ttl_secs = 30;
    env.settings.refusal_ttl_secs = 10;
    env.worker = Some(env.spawn_worker().await);
    // 200 seats, holds expire after 10 s.
    let event = env.create_event(&spec(10, 20, 10)).await;

    let started = Instant::now();
    let mut next_sample = started;
    let (mut commands, mut i) = (0u64, 0u64);
    let mut samples: Vec<(u64, u64, [i64; 6])> = Vec::new();
    println!("t_s commands used_memory_B dbsize results_rows results_B holds_rows holds_B");
    while started.elapsed() < run_for {
        if Instant::now() >= next_sample {
            let s = sample(&env).await;
            let t = started.elapsed().as_secs();
            println!(
                "{t} {commands} {} {} {} {} {} {}",
                s[0], s[1], s[2], s[3], s[4], s[5]
            );
            samples.push((t, commands, s));
            next_sample += every;
        }
        i += 1;
        let seat = format!("A-{}-{}", i % 10 + 1, (i / 10) % 20 + 1);
        let ticket = TicketId::new();
        // A hold (or a refusal when the seat is still in a hold left to expire); two in
        // three are released at once, the third expires.
        let outcome = env.send(event, hold_for(ticket, &seat)).await;
        commands += 1;
        if let (Outcome::HoldCreated(h), false) = (outcome, i % 3 == 0) {
            let release = Command::Release {
                ticket_id: ticket,
                hold_id: h.id,
            };
            env.send(event, release).await;
            commands += 1;
        }
        // A refusal every round: a seat that does not exist.
        env.send(event, hold_for(ticket, "A-99-1")).await;
        commands += 1;
    }
    let s = sample(&env).await;
    let t = started.elapsed().as_secs();
    println!(
        "{t} {commands} {} {} {} {} {} {}",
        s[0], s[1], s[2], s[3], s[4], s[5]
    );
    samples.push((t, commands, s));

    // Flat after the warm-up (the longest lifetime, 30 s, plus a prune period): the
    // second half's highest figure is within 1.5× of the first sample after the warm-up.
    let warm: Vec<_> = samples.iter().filter(|(t, _, _)| *t >= 45).collect();
    assert!(
        warm.len() >= 3,
        "run longer than a minute: {} samples after the warm-up",
        warm.len()
    );
    let base = warm[0].2;
    for (t, _, s) in &warm[warm.len() / 2..] {
        for (k, name) in [
            (0, "used_memory"),
            (1, "DBSIZE"),
            (2, "request_results rows"),
            (3, "request_results bytes"),
            (4, "holds rows"),
            (5, "holds bytes"),
        ] {
            assert!(
                s[k] as f64 <= base[k] as f64 * 1.5 + 100.0,
                "{name} grew from {} to {} at {t} s",
                base[k],
                s[k]
            );
        }
    }
}
