//! One buyer of the spike: join the queue, wait for the pass, then hold seats (a hot
//! section most buyers want, seats anywhere, or best-available), and confirm, release
//! or abandon (let expire) each hold. A buyer ends after an order, an abandoned hold or
//! three holds. One confirm in five is sent late on purpose, 0.2–2 s before the hold's
//! `expires_at`, so that some confirms are in time by a hair while a fault is on.

use crate::client::Api;
use crate::log::Record;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

/// The event's seating: sections A–H of `ROWS` × `PER_ROW` (8,000 seats, more than a
/// 2-minute spike sells); the first two rows of A are what most buyers want.
pub(crate) const SECTIONS: [&str; 8] = ["A", "B", "C", "D", "E", "F", "G", "H"];
pub(crate) const ROWS: u32 = 20;
pub(crate) const PER_ROW: u32 = 50;
const HOT_ROWS: u32 = 2;

/// The event spec (JSON for `POST /v1/admin/events`): open now, admission fast enough
/// that nobody waits long, holds of up to 4 seats for `hold_ttl_seconds`.
pub(crate) fn event_spec(hold_ttl_seconds: u32, rate_per_minute: u32) -> Value {
    let sections: Vec<Value> = SECTIONS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({"name": name, "rows": ROWS, "seats_per_row": PER_ROW,
                   "price_cents": 12_000 - 1_000 * i as i64})
        })
        .collect();
    json!({
        "name": "Fault run", "venue": "Fault Hall", "timezone": "UTC",
        "opens_at": chrono::Utc::now().to_rfc3339(),
        "admission": {"rate_per_minute": rate_per_minute, "max_active": 100_000, "pass_ttl_seconds": 1800},
        "hold_ttl_seconds": hold_ttl_seconds,
        "max_seats_per_hold": 4,
        "seating": {"sections": sections}
    })
}

/// A logical request of `buyer` not sent yet (holds and confirms get an idempotency key).
pub(crate) fn record(
    buyer: usize,
    ticket: Option<&str>,
    kind: &'static str,
    body: Value,
) -> Record {
    Record {
        buyer,
        ticket: ticket.map(str::to_owned),
        kind,
        key: matches!(kind, "hold" | "confirm" | "poison confirm")
            .then(|| Uuid::new_v4().to_string()),
        hold_id: None,
        body,
        attempts: Vec::new(),
        outcome: None,
        done_ms: None,
        admitted_ms: None,
        queue_end: None,
    }
}

/// Joins the queue as `buyer` and waits for admission, logging the join (with when and
/// how the wait ended): `(pass, ticket id)` once admitted.
pub(crate) async fn admitted(api: &Api, buyer: usize) -> Option<(String, String)> {
    let mut join = record(buyer, None, "join", Value::Null);
    let path = format!("/v1/events/{}/queue", api.event);
    let joined = api.run(&mut join, Method::POST, &path, None).await;
    join.done_ms = Some(api.log.ms());
    join.outcome.clone_from(&joined);
    let token = joined
        .as_ref()
        .filter(|f| f.status == 201)
        .and_then(|f| f.body["queue_token"].as_str().map(str::to_owned));
    join.ticket = joined
        .as_ref()
        .and_then(|f| f.body["ticket_id"].as_str().map(str::to_owned));
    let Some(token) = token else {
        api.log.push(join);
        return None;
    };
    let waited = api.wait_admitted(buyer, &token).await;
    match &waited {
        Ok(_) => {
            join.admitted_ms = Some(api.log.ms());
            join.queue_end = Some("admitted".into());
        }
        Err(end) => join.queue_end = Some(end.clone()),
    }
    let ticket = join.ticket.clone();
    api.log.push(join);
    Some((waited.ok()?, ticket?))
}

/// Ms from now until `expires_at` (RFC 3339) minus `before_ms`, at least 0.
fn until_before(expires_at: &Value, before_ms: i64) -> Duration {
    let at = expires_at
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map_or(0, |t| t.timestamp_millis());
    Duration::from_millis(u64::try_from(at - before_ms - crate::log::Log::unix_ms()).unwrap_or(0))
}

/// What a hold asks for.
fn selection(rng: &mut StdRng) -> Value {
    let quantity = rng.gen_range(1..=4u32);
    let adjacent = |section: &str, row: u32, rng: &mut StdRng| {
        let start = rng.gen_range(1..=PER_ROW - quantity + 1);
        let seats: Vec<String> = (start..start + quantity)
            .map(|n| format!("{section}-{row}-{n}"))
            .collect();
        json!({ "seats": seats })
    };
    match rng.gen_range(0..10) {
        0..=3 => {
            let row = rng.gen_range(1..=HOT_ROWS);
            adjacent("A", row, rng)
        }
        4..=6 => {
            let section = SECTIONS[rng.gen_range(0..SECTIONS.len())];
            let row = rng.gen_range(1..=ROWS);
            adjacent(section, row, rng)
        }
        _ => {
            let section = SECTIONS[rng.gen_range(0..SECTIONS.len())];
            json!({ "section": section, "quantity": quantity })
        }
    }
}

async fn think(rng: &mut StdRng, max_ms: u64) {
    let ms = rng.gen_range(50..=max_ms);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Runs buyer `id` to the end, logging every logical request.
pub(crate) async fn buy(api: Api, id: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let event = api.event.clone();
    let Some((pass, ticket)) = admitted(&api, id).await else {
        return;
    };
    let ticket = Some(ticket.as_str());

    for _ in 0..3 {
        think(&mut rng, 400).await;
        let mut hold = record(id, ticket, "hold", selection(&mut rng));
        let path = format!("/v1/events/{event}/holds");
        hold.outcome = api.run(&mut hold, Method::POST, &path, Some(&pass)).await;
        let created = hold
            .outcome
            .as_ref()
            .filter(|f| f.status == 201)
            .and_then(|f| f.body["id"].as_str().map(str::to_owned));
        let expires_at = hold
            .outcome
            .as_ref()
            .map_or(Value::Null, |f| f.body["expires_at"].clone());
        let conflict = hold.outcome.as_ref().is_some_and(|f| f.status == 409);
        api.log.push(hold);
        let Some(hold_id) = created else {
            if conflict {
                continue;
            }
            return;
        };
        match rng.gen_range(0..10) {
            0..=5 => {
                if rng.gen_range(0..5) == 0 {
                    let before = rng.gen_range(200..=2_000);
                    tokio::time::sleep(until_before(&expires_at, before)).await;
                } else {
                    think(&mut rng, 3_000).await;
                }
                let body = json!({ "payment_ref": format!("fault-{id}") });
                let mut confirm = record(id, ticket, "confirm", body);
                confirm.hold_id = Some(hold_id.clone());
                let path = format!("/v1/holds/{hold_id}/confirm");
                confirm.outcome = api
                    .run(&mut confirm, Method::POST, &path, Some(&pass))
                    .await;
                api.log.push(confirm);
                return;
            }
            6..=7 => {
                think(&mut rng, 2_000).await;
                let mut release = record(id, ticket, "release", Value::Null);
                release.hold_id = Some(hold_id.clone());
                let path = format!("/v1/holds/{hold_id}");
                release.outcome = api
                    .run(&mut release, Method::DELETE, &path, Some(&pass))
                    .await;
                api.log.push(release);
            }
            // Abandoned: the hold expires at its deadline.
            _ => return,
        }
    }
}
