//! The poison case: while the spike runs, every second for the window, commands that
//! storage cannot take, or that cannot even be decoded, are sent towards the busy
//! event's shard:
//!
//! - `confirm`: an admitted fan (a poison buyer: join, admission, a 1-seat hold) confirms
//!   with a NUL in `payment_ref`, through a gateway;
//! - `event`: `POST /v1/admin/events` with a NUL in `name`, through a gateway;
//! - `direct confirm` and `direct event`: the same two commands as well-formed command
//!   messages published straight to the shard queue over AMQP (the worker must not trust
//!   the gateway); the event's id is picked on the busy shard;
//! - `not json` and `no request_id`: undecodable bodies published straight to the shard
//!   queue.
//!
//! Each gateway request is logged as a [`Record`] (kind `poison confirm` or
//! `poison event`); each AMQP message as a [`Sent`], whose fate the checks look up
//! afterwards (its stored result in PostgreSQL, or the dead-letter queue). Every body
//! carries a unique marker, so a dead letter is recognised even if its body is wrapped.

use crate::buyer;
use crate::client::Api;
use crate::log::Record;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant};
use uuid::Uuid;

/// Poison buyers' ids start here (the spike's buyers count from 0).
const BUYER_BASE: usize = 1_000_000;

/// One AMQP message published straight to the shard queue.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    /// `direct confirm`, `direct event`, `not json` or `no request_id`.
    pub(crate) kind: &'static str,
    /// The command's request id, for decodable commands (its stored result is looked up).
    pub(crate) request_id: Option<Uuid>,
    /// A string found in the body and nowhere else.
    pub(crate) marker: String,
    /// When it was published, ms since the run started.
    pub(crate) at_ms: u64,
}

/// What the poison window sent.
#[derive(Debug, Default)]
pub(crate) struct Injected {
    pub(crate) sent: Vec<Sent>,
    /// Gateway requests made (their records are in the log).
    pub(crate) requests: usize,
    /// Poison buyers that got no hold to confirm (their confirm was not sent).
    pub(crate) buyers_without_hold: usize,
    /// When the last round was sent, ms since the run started (the poison window ends
    /// there; the poison buyers' own requests may still be under way).
    pub(crate) last_round_ms: u64,
}

/// Where poison goes.
pub(crate) struct Target<'a> {
    pub(crate) api: &'a Api,
    pub(crate) admin_key: &'a str,
    pub(crate) amqp_url: &'a str,
    /// `{ns}.shard.{k}` of the busy event.
    pub(crate) queue: String,
    pub(crate) shard: u16,
    pub(crate) shards: u16,
}

/// A small event spec with `name` (the poison is in the name).
fn event_spec(name: &str) -> Value {
    let mut spec = buyer::event_spec(10, 60_000);
    spec["name"] = json!(name);
    spec["seating"] = json!({"sections": [
        {"name": "P", "rows": 1, "seats_per_row": 2, "price_cents": 100}
    ]});
    spec
}

/// An event id on `shard`.
fn event_on(shard: u16, shards: u16) -> Uuid {
    loop {
        let id = Uuid::new_v4();
        if protocol::shard_of(&protocol::ids::EventId(id), shards) == shard {
            return id;
        }
    }
}

/// A version 1 command message, as JSON (not through the protocol types, so that the
/// bytes are exactly what a misbehaving or older publisher could send).
fn command(request_id: Uuid, event_id: Uuid, command: Value, marker: &str) -> Vec<u8> {
    let now = chrono::Utc::now().to_rfc3339();
    serde_json::to_vec(&json!({
        "version": "1", "request_id": request_id, "event_id": event_id,
        "sent_at": now, "accepted_at": now, "command": command, "marker": marker
    }))
    .expect("JSON")
}

/// Runs the poison window for `secs` seconds (one round a second) against `target`.
///
/// # Panics
/// If the broker cannot be reached when the window starts.
pub(crate) async fn inject(target: &Target<'_>, secs: u64, run: &str) -> Injected {
    let conn = Connection::connect(target.amqp_url, ConnectionProperties::default())
        .await
        .expect("AMQP connection for the poison case");
    let channel = conn.create_channel().await.expect("AMQP channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    let log = &target.api.log;
    let event_id: Uuid = target.api.event.parse().expect("event id");
    let start = Instant::now();
    let mut done = Injected::default();
    let mut buyers = JoinSet::new();
    let mut admin = JoinSet::new();
    for n in 0..secs {
        sleep_until(start + Duration::from_secs(n)).await;
        let marker = |kind: &str| format!("faults-poison-{run}-{n}-{kind}");
        // (a) an admitted fan confirms with a NUL, then the same command goes straight in.
        buyers.spawn(poison_buyer(
            target.api.clone(),
            n as usize,
            marker("confirm"),
        ));
        // (b) an event named with a NUL, through a gateway.
        let mut rec = buyer::record(BUYER_BASE + n as usize, None, "poison event", Value::Null);
        rec.body = event_spec(&format!("bad\u{0}name {}", marker("event")));
        let (api, key) = (target.api.clone(), target.admin_key.to_owned());
        admin.spawn(async move {
            rec.outcome = api
                .run(&mut rec, Method::POST, "/v1/admin/events", Some(&key))
                .await;
            api.log.push_poison(rec);
        });
        done.requests += 1;
        // (b') the same, straight to the busy shard, for an event id on that shard.
        let m = marker("direct-event");
        let rid = Uuid::new_v4();
        let cmd = json!({"type": "create_event", "spec": event_spec(&format!("bad\u{0}name {m}"))});
        let body = command(rid, event_on(target.shard, target.shards), cmd, &m);
        publish(&channel, &target.queue, &body, Some(rid)).await;
        done.sent.push(Sent {
            kind: "direct event",
            request_id: Some(rid),
            marker: m,
            at_ms: log.ms(),
        });
        // (c) undecodable: not JSON at all, and a command without its request id.
        let m = marker("not-json");
        publish(
            &channel,
            &target.queue,
            format!("not json {m}").as_bytes(),
            None,
        )
        .await;
        done.sent.push(Sent {
            kind: "not json",
            request_id: None,
            marker: m,
            at_ms: log.ms(),
        });
        let m = marker("no-request-id");
        let body = serde_json::to_vec(&json!({
            "version": "1", "event_id": event_id, "sent_at": chrono::Utc::now().to_rfc3339(),
            "command": {"type": "release", "ticket_id": Uuid::new_v4(), "hold_id": Uuid::new_v4()},
            "marker": m
        }))
        .expect("JSON");
        publish(&channel, &target.queue, &body, None).await;
        done.sent.push(Sent {
            kind: "no request_id",
            request_id: None,
            marker: m,
            at_ms: log.ms(),
        });
        while let Some(r) = buyers.try_join_next() {
            direct_confirm(
                &channel,
                target,
                r.expect("a poison buyer panicked"),
                &mut done,
            )
            .await;
        }
    }
    done.last_round_ms = log.ms();
    while let Some(r) = buyers.join_next().await {
        direct_confirm(
            &channel,
            target,
            r.expect("a poison buyer panicked"),
            &mut done,
        )
        .await;
    }
    while let Some(r) = admin.join_next().await {
        r.expect("a poison admin request panicked");
    }
    let _ = conn.close(200, "poison window over").await;
    done
}

/// Publishes a poison buyer's confirm straight to the shard queue (`None`: the buyer
/// got no hold).
async fn direct_confirm(
    channel: &lapin::Channel,
    target: &Target<'_>,
    confirm: Option<(Uuid, Vec<u8>, String)>,
    done: &mut Injected,
) {
    let Some((rid, body, marker)) = confirm else {
        done.buyers_without_hold += 1;
        return;
    };
    done.requests += 1;
    publish(channel, &target.queue, &body, Some(rid)).await;
    done.sent.push(Sent {
        kind: "direct confirm",
        request_id: Some(rid),
        marker,
        at_ms: target.api.log.ms(),
    });
}

/// Poison buyer `n`: admitted, holds one seat, confirms it with a NUL in `payment_ref`
/// through a gateway. Returns the same confirm as a command message to publish straight
/// to the shard queue (request id, body, marker), or `None` without a hold.
async fn poison_buyer(api: Api, n: usize, marker: String) -> Option<(Uuid, Vec<u8>, String)> {
    let id = BUYER_BASE + n;
    let (pass, ticket) = buyer::admitted(&api, id).await?;
    let mut hold = buyer::record(
        id,
        Some(&ticket),
        "hold",
        json!({"section": "H", "quantity": 1}),
    );
    let path = format!("/v1/events/{}/holds", api.event);
    hold.outcome = api.run(&mut hold, Method::POST, &path, Some(&pass)).await;
    let hold_id = hold
        .outcome
        .as_ref()
        .filter(|f| f.status == 201)
        .and_then(|f| f.body["id"].as_str().map(str::to_owned));
    api.log.push(hold);
    let hold_id = hold_id?;
    let payment_ref = format!("pay\u{0}ref {marker}");
    let mut confirm: Record = buyer::record(
        id,
        Some(&ticket),
        "poison confirm",
        json!({ "payment_ref": payment_ref }),
    );
    confirm.hold_id = Some(hold_id.clone());
    let path = format!("/v1/holds/{hold_id}/confirm");
    confirm.outcome = api
        .run(&mut confirm, Method::POST, &path, Some(&pass))
        .await;
    api.log.push_poison(confirm);
    let rid = Uuid::new_v4();
    let m = format!("{marker}-direct");
    let cmd = json!({"type": "confirm", "ticket_id": ticket, "hold_id": hold_id,
                     "payment_ref": format!("pay\u{0}ref {m}"), "idempotency": null});
    let event: Uuid = api.event.parse().ok()?;
    Some((rid, command(rid, event, cmd, &m), m))
}

/// Publishes `body` to `queue` through the default exchange (persistent), waiting for
/// the broker's confirm.
async fn publish(channel: &lapin::Channel, queue: &str, body: &[u8], request_id: Option<Uuid>) {
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into());
    if let Some(rid) = request_id {
        props = props.with_correlation_id(rid.to_string().into());
    }
    channel
        .basic_publish("", queue, BasicPublishOptions::default(), body, props)
        .await
        .expect("publish poison")
        .await
        .expect("poison confirmed by the broker");
}
