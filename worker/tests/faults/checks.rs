//! After the run: the client's log against PostgreSQL (direct SQL) and Redis.
//!
//! - no seat claimed or sold twice (`deploy/verify.sql` and the audit's own counts);
//! - every hold answered `201` and every order answered `200` exists in PostgreSQL with
//!   the same seats; no hold or order exists that no fan was told about;
//! - every logical request has exactly one outcome, and it is the one stored: the
//!   idempotency key's row in `request_results`, or the `202`'s request id;
//! - the gateway never hung (no attempt slower than its bound) and every `503` had
//!   `Retry-After`;
//! - once the holds' deadlines passed: no `held` claim left, every ended hold's seats
//!   free again, available = total − sold, and the Redis snapshot agrees;
//! - every hold's document in Redis (what `GET /v1/holds/{id}` answers) has the state
//!   PostgreSQL has, even for holds decided in a batch whose worker was killed.

use crate::log::Record;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// Counts and violations.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) counts: BTreeMap<&'static str, i64>,
    /// One line per case of a fault window, with its figures (printed under `cases:`).
    pub(crate) cases: Vec<String>,
    pub(crate) violations: Vec<String>,
}

impl Report {
    /// Adds a case line with its figures.
    pub(crate) fn case(&mut self, line: impl Into<String>) {
        self.cases.push(line.into());
    }
    /// Records a violation.
    pub(crate) fn violation(&mut self, what: impl Into<String>) {
        self.violations.push(what.into());
    }
    pub(crate) fn set(&mut self, name: &'static str, v: i64) {
        self.counts.insert(name, v);
    }
    pub(crate) fn add(&mut self, name: &'static str, v: i64) {
        *self.counts.entry(name).or_default() += v;
    }
    /// Records `n` violations of `what` (nothing when `n == 0`), with examples.
    pub(crate) fn expect_zero(&mut self, name: &'static str, n: usize, examples: &[String]) {
        self.set(name, n as i64);
        if n > 0 {
            let shown: Vec<&str> = examples.iter().take(3).map(String::as_str).collect();
            self.violations
                .push(format!("{name}: {n} (e.g. {})", shown.join("; ")));
        }
    }
}

fn seats(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    s.sort();
    s
}

fn uuid(v: &Value) -> Option<Uuid> {
    v.as_str().and_then(|s| s.parse().ok())
}

/// What the client saw, checked on its own.
pub(crate) fn client_side(records: &[Record], hang_ms: u64, r: &mut Report) {
    let mut no_outcome = Vec::new();
    let mut no_retry_after = Vec::new();
    let mut hung = Vec::new();
    let mut errors_5xx = Vec::new();
    let mut latencies: Vec<u64> = Vec::new();
    for rec in records {
        r.add("requests", 1);
        r.add(
            match rec.kind {
                "join" => "requests: join",
                "hold" => "requests: hold",
                "confirm" => "requests: confirm",
                _ => "requests: release",
            },
            1,
        );
        r.add("http attempts", rec.attempts.len() as i64);
        for a in &rec.attempts {
            match a.status {
                0 => r.add("attempts: transport error", 1),
                202 => r.add("attempts: 202 (followed to /v1/requests)", 1),
                503 => {
                    r.add("attempts: 503", 1);
                    if a.retry_after.is_none() {
                        no_retry_after.push(format!("{} at {} ms", rec.kind, a.at_ms));
                    }
                }
                s if s >= 500 => errors_5xx.push(format!("{} {s} at {} ms", rec.kind, a.at_ms)),
                _ => {}
            }
            if rec.kind != "join" {
                latencies.push(a.ms);
            }
            if a.ms > hang_ms {
                hung.push(format!("{} took {} ms at {} ms", rec.kind, a.ms, a.at_ms));
            }
        }
        match &rec.outcome {
            None => no_outcome.push(format!("{} of buyer {}", rec.kind, rec.buyer)),
            Some(f) => {
                let name = match (rec.kind, f.status) {
                    ("hold", 201) => "outcome: hold 201",
                    ("hold", 409) => "outcome: hold 409",
                    ("hold", _) => "outcome: hold other",
                    ("confirm", 200) => "outcome: confirm 200",
                    ("confirm", 410) => "outcome: confirm 410 (expired)",
                    ("confirm", _) => "outcome: confirm other",
                    ("release", 200) => "outcome: release 200",
                    ("release", _) => "outcome: release other",
                    ("join", 201) => "outcome: join 201",
                    _ => "outcome: join other",
                };
                r.add(name, 1);
                if f.via == "request" {
                    r.add("outcomes via GET /v1/requests", 1);
                }
            }
        }
    }
    latencies.sort_unstable();
    let rank = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len().max(1));
        latencies.get(i - 1).copied().unwrap_or(0) as i64
    };
    r.set("hold/confirm/release attempt p50 (ms)", rank(0.50));
    r.set("hold/confirm/release attempt p99 (ms)", rank(0.99));
    r.set("hold/confirm/release attempt max (ms)", rank(1.0));
    r.set("gateway bound checked (ms)", hang_ms as i64);
    r.expect_zero("requests without an outcome", no_outcome.len(), &no_outcome);
    r.expect_zero(
        "503 without Retry-After",
        no_retry_after.len(),
        &no_retry_after,
    );
    r.expect_zero("attempts over the gateway's bound", hung.len(), &hung);
    r.expect_zero("5xx other than 503", errors_5xx.len(), &errors_5xx);
}

/// The log against PostgreSQL.
pub(crate) async fn against_postgres(
    db: &PgPool,
    event: Uuid,
    records: &[Record],
    r: &mut Report,
) -> sqlx::Result<()> {
    let holds: HashMap<Uuid, (Vec<String>, String)> =
        sqlx::query_as::<_, (Uuid, Vec<String>, String)>(
            "SELECT id, seats, state FROM holds WHERE event_id = $1",
        )
        .bind(event)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|(id, mut s, st)| {
            s.sort();
            (id, (s, st))
        })
        .collect();
    let orders: HashMap<Uuid, (Uuid, Vec<String>)> =
        sqlx::query_as::<_, (Uuid, Uuid, Vec<String>)>(
            "SELECT id, hold_id, seats FROM orders WHERE event_id = $1",
        )
        .bind(event)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|(id, hold, mut s)| {
            s.sort();
            (id, (hold, s))
        })
        .collect();
    let keyed: HashMap<(Uuid, String), (i32, Value)> =
        sqlx::query_as::<_, (Uuid, String, i32, Value)>(
            "SELECT ticket_id, idempotency_key, status, body FROM request_results
             WHERE event_id = $1 AND idempotency_key IS NOT NULL",
        )
        .bind(event)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|(t, k, s, b)| ((t, k), (s, b)))
        .collect();
    let by_request: HashMap<Uuid, i32> = sqlx::query_as::<_, (Uuid, i32)>(
        "SELECT request_id, status FROM request_results WHERE event_id = $1",
    )
    .bind(event)
    .fetch_all(db)
    .await?
    .into_iter()
    .collect();

    let (mut missing_holds, mut missing_orders, mut mismatched) = (vec![], vec![], vec![]);
    let (mut seen_holds, mut seen_orders) = (HashSet::new(), HashSet::new());
    for rec in records {
        let Some(f) = &rec.outcome else { continue };
        let id = uuid(&f.body["id"]);
        match (rec.kind, f.status, id) {
            ("hold", 201, Some(id)) => {
                seen_holds.insert(id);
                if holds.get(&id).map(|h| &h.0) != Some(&seats(&f.body["seats"])) {
                    missing_holds.push(id.to_string());
                }
            }
            ("confirm", 200, Some(id)) => {
                seen_orders.insert(id);
                let want = (
                    rec.hold_id.as_deref().and_then(|h| h.parse().ok()),
                    seats(&f.body["seats"]),
                );
                let got = orders.get(&id).map(|(h, s)| (Some(*h), s.clone()));
                if got.as_ref() != Some(&want) {
                    missing_orders.push(id.to_string());
                }
            }
            _ => {}
        }
        // The stored outcome of the request is the one the fan got.
        let ticket = rec.ticket.as_deref().and_then(|t| t.parse::<Uuid>().ok());
        if let (Some(key), Some(ticket)) = (&rec.key, ticket) {
            match keyed.get(&(ticket, key.clone())) {
                Some((status, body)) => {
                    r.add("keyed requests matched to their stored result", 1);
                    if i64::from(*status) != i64::from(f.status) || body["id"] != f.body["id"] {
                        mismatched.push(format!("key {key}: fan {} vs stored {status}", f.status));
                    }
                }
                None if matches!(f.status, 200 | 201) => {
                    mismatched.push(format!("key {key}: {} but no stored result", f.status));
                }
                None => {}
            }
        }
        if let Some(rid) = f.request_id.as_deref().and_then(|s| s.parse::<Uuid>().ok()) {
            if by_request.get(&rid).map(|s| i64::from(*s)) != Some(i64::from(f.status)) {
                mismatched.push(format!(
                    "request {rid}: fan {} vs stored {:?}",
                    f.status,
                    by_request.get(&rid)
                ));
            }
        }
    }
    r.expect_zero(
        "201 holds missing in PostgreSQL",
        missing_holds.len(),
        &missing_holds,
    );
    let wrong_state = hold_states(records, &holds);
    r.expect_zero(
        "holds whose state differs from what the fan was told",
        wrong_state.len(),
        &wrong_state,
    );
    r.expect_zero(
        "200 orders missing in PostgreSQL (lost orders)",
        missing_orders.len(),
        &missing_orders,
    );
    r.expect_zero(
        "outcomes differing from the stored result",
        mismatched.len(),
        &mismatched,
    );
    let unseen_holds: Vec<String> = holds
        .keys()
        .filter(|h| !seen_holds.contains(h))
        .map(Uuid::to_string)
        .collect();
    let unseen_orders: Vec<String> = orders
        .keys()
        .filter(|o| !seen_orders.contains(o))
        .map(Uuid::to_string)
        .collect();
    r.expect_zero(
        "holds in PostgreSQL no fan was told about",
        unseen_holds.len(),
        &unseen_holds,
    );
    r.expect_zero(
        "orders in PostgreSQL no fan was told about",
        unseen_orders.len(),
        &unseen_orders,
    );
    r.set("holds in PostgreSQL", holds.len() as i64);
    for state in ["confirmed", "released", "expired", "held"] {
        let n = holds.values().filter(|h| h.1 == state).count() as i64;
        r.set(
            match state {
                "confirmed" => "holds confirmed",
                "released" => "holds released",
                "expired" => "holds expired",
                _ => "holds still held",
            },
            n,
        );
    }
    r.set("orders in PostgreSQL", orders.len() as i64);
    Ok(())
}

/// Holds whose state in PostgreSQL is not the one the fan's outcomes imply: `confirmed`
/// after a `200` confirm, `released` after a release answered `200` (or `409` "already
/// released", a retry), `expired` otherwise (abandoned, or the confirm came too late).
fn hold_states(records: &[Record], holds: &HashMap<Uuid, (Vec<String>, String)>) -> Vec<String> {
    let mut expected: HashMap<Uuid, &'static str> = HashMap::new();
    for rec in records {
        let Some(f) = &rec.outcome else { continue };
        if rec.kind == "hold" && f.status == 201 {
            if let Some(id) = uuid(&f.body["id"]) {
                expected.entry(id).or_insert("expired");
            }
        }
    }
    for rec in records {
        let (Some(f), Some(id)) = (&rec.outcome, rec.hold_id.as_deref()) else {
            continue;
        };
        let Ok(id) = id.parse::<Uuid>() else { continue };
        let message = f.body["error"]["message"].as_str().unwrap_or("");
        match (rec.kind, f.status) {
            ("confirm", 200) => {
                expected.insert(id, "confirmed");
            }
            ("release", 200) => {
                expected.insert(id, "released");
            }
            ("release", 409) if message.contains("released") => {
                expected.insert(id, "released");
            }
            _ => {}
        }
    }
    expected
        .into_iter()
        .filter_map(|(id, want)| {
            let got = holds.get(&id).map(|h| h.1.as_str());
            (got != Some(want)).then(|| format!("hold {id}: told {want}, stored {got:?}"))
        })
        .collect()
}

/// Seat invariants, straight from the tables, once every hold has ended.
pub(crate) async fn seats_after_expiry(
    db: &PgPool,
    event: Uuid,
    redis_availability: Option<Value>,
    r: &mut Report,
) -> sqlx::Result<()> {
    let one = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).bind(event).fetch_one(db);
    let total = one("SELECT count(*) FROM seats WHERE event_id = $1").await?;
    let sold =
        one("SELECT count(*) FROM seat_claims WHERE event_id = $1 AND state = 'sold'").await?;
    let held =
        one("SELECT count(*) FROM seat_claims WHERE event_id = $1 AND state = 'held'").await?;
    let order_seats = one("SELECT count(*) FROM order_seats WHERE event_id = $1").await?;
    let available =
        one("SELECT count(*) FROM seat_statuses WHERE event_id = $1 AND status = 'available'")
            .await?;
    let claimed_twice = one(
        "SELECT count(*) FROM (SELECT 1 FROM holds h, unnest(h.seats) s WHERE h.event_id = $1
           AND h.state IN ('held', 'confirmed') GROUP BY s HAVING count(*) > 1) x",
    )
    .await?;
    let ended_claims = one(
        "SELECT count(*) FROM seat_claims c JOIN holds h ON h.id = c.hold_id
         WHERE c.event_id = $1 AND h.state IN ('released', 'expired')",
    )
    .await?;
    let overdue = one(
        "SELECT count(*) FROM holds WHERE event_id = $1 AND state = 'held' AND expires_at < now()",
    )
    .await?;
    r.set("seats total", total);
    r.set("seats sold", sold);
    r.set("seats available", available);
    let mut expect = |name, bad: i64, detail: String| r.expect_zero(name, bad as usize, &[detail]);
    expect(
        "seats claimed twice (live holds)",
        claimed_twice,
        String::new(),
    );
    expect("seats still held after every deadline", held, String::new());
    expect(
        "holds past their deadline still held",
        overdue,
        String::new(),
    );
    expect(
        "claims of released or expired holds",
        ended_claims,
        String::new(),
    );
    expect(
        "available != total - sold",
        (available - (total - sold)).abs(),
        format!("available {available}, total {total}, sold {sold}"),
    );
    expect(
        "sold claims != order seats",
        (sold - order_seats).abs(),
        format!("sold {sold}, order seats {order_seats}"),
    );
    match redis_availability {
        Some(a) => {
            let same = a["available"].as_i64() == Some(available)
                && a["sold"].as_i64() == Some(sold)
                && a["held"].as_i64() == Some(held);
            let detail = format!("Redis {}/{}/{}", a["available"], a["held"], a["sold"]);
            expect(
                "Redis availability differs from PostgreSQL",
                i64::from(!same),
                detail,
            );
        }
        None => expect("Redis availability missing", 1, String::new()),
    }
    Ok(())
}

/// Every hold's Redis document (`docs`: hold id → state) against PostgreSQL.
pub(crate) async fn hold_docs(
    db: &PgPool,
    event: Uuid,
    docs: &HashMap<Uuid, Option<String>>,
    r: &mut Report,
) -> sqlx::Result<()> {
    let states: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, state FROM holds WHERE event_id = $1")
            .bind(event)
            .fetch_all(db)
            .await?;
    let stale: Vec<String> = states
        .iter()
        .filter(|(id, state)| docs.get(id).and_then(Option::as_deref) != Some(state.as_str()))
        .map(|(id, state)| {
            format!(
                "hold {id}: {state} in PostgreSQL, {:?} in Redis",
                docs.get(id)
            )
        })
        .collect();
    r.expect_zero(
        "hold documents in Redis differing from PostgreSQL",
        stale.len(),
        &stale,
    );
    Ok(())
}
