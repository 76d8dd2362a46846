//! One buyer of the spike: join the queue, wait for the pass, then hold seats (a hot
//! section most buyers want, seats anywhere, or best-available), and confirm, release
//! or abandon (let expire) each hold. A buyer ends after an order, an abandoned hold or
//! three holds.

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
pub(crate) fn event_spec(hold_ttl_seconds: u32) -> Value {
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
        "admission": {"rate_per_minute": 60_000, "max_active": 100_000, "pass_ttl_seconds": 1800},
        "hold_ttl_seconds": hold_ttl_seconds,
        "max_seats_per_hold": 4,
        "seating": {"sections": sections}
    })
}

fn record(buyer: usize, ticket: Option<&str>, kind: &'static str, body: Value) -> Record {
    Record {
        buyer,
        ticket: ticket.map(str::to_owned),
        kind,
        key: matches!(kind, "hold" | "confirm").then(|| Uuid::new_v4().to_string()),
        hold_id: None,
        body,
        attempts: Vec::new(),
        outcome: None,
    }
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
    let mut join = record(id, None, "join", Value::Null);
    let joined = api
        .run(
            &mut join,
            Method::POST,
            &format!("/v1/events/{event}/queue"),
            None,
        )
        .await;
    join.outcome.clone_from(&joined);
    let token = joined
        .as_ref()
        .filter(|f| f.status == 201)
        .and_then(|f| f.body["queue_token"].as_str().map(str::to_owned));
    let ticket = joined
        .as_ref()
        .and_then(|f| f.body["ticket_id"].as_str().map(str::to_owned));
    join.ticket.clone_from(&ticket);
    api.log.push(join);
    let Some(token) = token else { return };
    let Some(pass) = api.wait_admitted(id, &token).await else {
        return;
    };
    let ticket = ticket.as_deref();

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
                think(&mut rng, 3_000).await;
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
