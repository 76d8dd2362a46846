//! Design (c), the lock-per-seat design of the seed reports, on the same schema
//! (migrated by the worker's `MIGRATOR`) and the same Redis and PostgreSQL:
//!
//! 1. `SET {ns}:lock:{E}:{seat} <token> NX EX 30` for every seat of the hold (pipelined:
//!    one round trip); if any is taken, unlock the ones it got and refuse (all or
//!    nothing);
//! 2. one PostgreSQL transaction: insert the hold and its claims (`ON CONFLICT DO
//!    NOTHING`: a seat already claimed by an earlier hold refuses the hold and rolls
//!    back), commit;
//! 3. unlock every seat (compare-and-delete script, one round trip).
//!
//! `clients` tasks run reservations back to back (a closed loop); each is timed from the
//! first `SET` to the unlock.

use crate::cpu;
use crate::env::{RunEnv, Services};
use crate::stats::{load_average, RunResult};
use crate::workload::{HoldSeats, Venue};
use anyhow::Context;
use chrono::Utc;
use redis::Script;
use runtime::redis::RedisConn;
use sqlx::PgPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

/// Seconds a seat lock lives if its owner dies.
const LOCK_TTL_SECONDS: u64 = 30;
/// Deletes each of KEYS whose value is still ARGV[1] (our token).
const UNLOCK: &str = r"
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k) end
end
return 0";

/// One lock-per-seat run.
pub(crate) struct LockRun<'a> {
    pub(crate) services: &'a Services,
    pub(crate) venue: Venue,
    pub(crate) clients: usize,
    pub(crate) pg_connections: u32,
    pub(crate) workload: &'static str,
}

/// What every client task shares.
struct Shared {
    pool: PgPool,
    redis: RedisConn,
    unlock: Script,
    lock_prefix: String,
    event: Uuid,
    holds: Vec<HoldSeats>,
    next: AtomicUsize,
}

impl LockRun<'_> {
    /// Runs `holds` on a fresh database and namespace and removes them afterwards.
    ///
    /// # Errors
    /// A service is unreachable or a statement failed.
    pub(crate) async fn run(&self, holds: &[HoldSeats]) -> anyhow::Result<RunResult> {
        let env = RunEnv::create(self.services).await?;
        let result = self.drive(&env, holds).await;
        env.remove().await;
        result
    }

    async fn drive(&self, env: &RunEnv, holds: &[HoldSeats]) -> anyhow::Result<RunResult> {
        let pool = env.pool(self.pg_connections).await?;
        worker::repo::MIGRATOR
            .run(&pool)
            .await
            .context("Failed to migrate the run database")?;
        let event = Uuid::new_v4();
        create_event(&pool, event, &self.venue).await?;
        let redis = self
            .services
            .redis()
            .await
            .context("Failed to connect to Redis")?;
        let shared = Arc::new(Shared {
            pool,
            redis,
            unlock: Script::new(UNLOCK),
            lock_prefix: format!("{}:lock:{event}:", env.namespace),
            event,
            holds: holds.to_vec(),
            next: AtomicUsize::new(0),
        });
        let load = load_average();
        let cpu_before = cpu::snapshot(&self.services.database_url, &env.db_name).await?;
        let started = Instant::now();
        let mut clients = tokio::task::JoinSet::new();
        for _ in 0..self.clients {
            clients.spawn(client(shared.clone()));
        }
        let (mut committed, mut latencies_us) = (0, Vec::with_capacity(holds.len()));
        while let Some(done) = clients.join_next().await {
            let (c, l) = done.context("a client panicked")??;
            committed += c;
            latencies_us.extend(l);
        }
        let wall = started.elapsed();
        let cpu_after = cpu::snapshot(&self.services.database_url, &env.db_name).await?;
        shared.pool.close().await;
        Ok(RunResult {
            design: "(c) lock per seat".into(),
            workload: self.workload,
            ops: holds.len(),
            committed,
            decided: latencies_us.len(),
            wall,
            latencies_us,
            batch: None,
            load,
            cpu: cpu::delta(&cpu_before, &cpu_after),
        })
    }
}

/// One client: reservations back to back until the work runs out. Returns (held,
/// latencies in µs).
async fn client(s: Arc<Shared>) -> anyhow::Result<(usize, Vec<u64>)> {
    let mut redis = s.redis.clone();
    let (mut committed, mut latencies) = (0, Vec::new());
    loop {
        let i = s.next.fetch_add(1, Ordering::Relaxed);
        let Some(seats) = s.holds.get(i) else {
            return Ok((committed, latencies));
        };
        let t0 = Instant::now();
        if reserve(&s, &mut redis, seats).await? {
            committed += 1;
        }
        latencies.push(t0.elapsed().as_micros() as u64);
    }
}

/// One reservation; `Ok(false)` when a seat was locked or already claimed.
async fn reserve(s: &Shared, redis: &mut RedisConn, seats: &[String]) -> anyhow::Result<bool> {
    let token = Uuid::new_v4().to_string();
    let keys: Vec<String> = seats
        .iter()
        .map(|seat| format!("{}{seat}", s.lock_prefix))
        .collect();
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.cmd("SET")
            .arg(k)
            .arg(&token)
            .arg("NX")
            .arg("EX")
            .arg(LOCK_TTL_SECONDS);
    }
    let got: Vec<Option<String>> = pipe.query_async(redis).await?;
    let locked: Vec<&String> = keys
        .iter()
        .zip(&got)
        .filter_map(|(k, g)| g.as_ref().map(|_| k))
        .collect();
    if locked.len() < keys.len() {
        if !locked.is_empty() {
            unlock(s, redis, &locked, &token).await?;
        }
        return Ok(false);
    }
    let held = claim(s, seats).await;
    unlock(s, redis, &locked, &token).await?;
    held
}

async fn unlock(
    s: &Shared,
    redis: &mut RedisConn,
    keys: &[&String],
    token: &str,
) -> anyhow::Result<()> {
    let mut call = s.unlock.prepare_invoke();
    for k in keys {
        call.key(k.as_str());
    }
    call.arg(token).invoke_async::<()>(redis).await?;
    Ok(())
}

/// The hold and its claims in one transaction; rolled back if a seat is claimed.
async fn claim(s: &Shared, seats: &[String]) -> anyhow::Result<bool> {
    let now = Utc::now();
    let mut tx = s.pool.begin().await?;
    let inserted: i64 = sqlx::query_scalar(
        "WITH h AS (
            INSERT INTO holds (id, event_id, ticket_id, seats, state, total_cents, expires_at,
                               created_at, updated_at)
            VALUES ($1, $2, $3, $4, 'held', $5, $6, $7, $7) RETURNING id),
         c AS (
            INSERT INTO seat_claims (event_id, seat_id, hold_id, state, claimed_at)
            SELECT $2, seat, h.id, 'held', $7 FROM h, UNNEST($4::text[]) AS seat
            ON CONFLICT DO NOTHING RETURNING 1)
         SELECT count(*) FROM c",
    )
    .bind(Uuid::new_v4())
    .bind(s.event)
    .bind(Uuid::new_v4())
    .bind(seats)
    .bind(1500 * seats.len() as i64)
    .bind(now + chrono::Duration::hours(1))
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    if usize::try_from(inserted).unwrap_or(0) == seats.len() {
        tx.commit().await?;
        Ok(true)
    } else {
        tx.rollback().await?;
        Ok(false)
    }
}

/// The event row and every seat, as the worker writes them at creation.
async fn create_event(pool: &PgPool, event: Uuid, venue: &Venue) -> anyhow::Result<()> {
    let spec = venue.spec();
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO events (id, shard, spec, admin_state, version, created_at, updated_at)
         VALUES ($1, 0, $2, 'open', 1, $3, $3)",
    )
    .bind(event)
    .bind(sqlx::types::Json(&spec))
    .bind(now)
    .execute(pool)
    .await?;
    let (mut ids, mut sections, mut rows, mut numbers, mut prices) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (seat, price) in spec.seating.seats() {
        ids.push(seat.to_string());
        sections.push(seat.section.to_owned());
        rows.push(i32::try_from(seat.row)?);
        numbers.push(i32::try_from(seat.number)?);
        prices.push(price);
    }
    sqlx::query(
        "INSERT INTO seats (event_id, seat_id, section, \"row\", number, price_cents)
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::int[], $5::int[], $6::bigint[])",
    )
    .bind(event)
    .bind(&ids)
    .bind(&sections)
    .bind(&rows)
    .bind(&numbers)
    .bind(&prices)
    .execute(pool)
    .await
    .context("Failed to insert the seats")?;
    Ok(())
}
