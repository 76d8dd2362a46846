//! A command carrying a string that storage cannot take (NUL, a lone surrogate escape),
//! published straight to a shard queue past any gateway, is answered `422` with a
//! stored result, and the shard goes on deciding the commands behind it.

use crate::helpers::{spec, TestEnv, SHARDS};
use chrono::Utc;
use protocol::command::{Command, CommandMessage, Envelope, SeatSelection};
use protocol::ids::{EventId, RequestId, TicketId};
use protocol::reply::{Outcome, Reply};
use serde_json::{json, Value};
use std::time::Duration;

/// How long a valid command queued behind refused ones may take to be decided.
const DECIDED_WITHIN: Duration = Duration::from_secs(2);

/// A version-1 command message as JSON, for editing before it is published raw.
pub(crate) fn message(event: EventId, command: Command) -> (RequestId, Value) {
    let env = Envelope {
        request_id: RequestId::new(),
        event_id: event,
        sent_at: Utc::now(),
        command,
    };
    let id = env.request_id;
    (id, serde_json::to_value(CommandMessage::V1(env)).unwrap())
}

/// An event id on the same shard as `event` (so its commands queue behind `event`'s).
pub(crate) fn same_shard(event: EventId) -> EventId {
    let shard = protocol::shard_of(&event, SHARDS);
    loop {
        let other = EventId::new();
        if protocol::shard_of(&other, SHARDS) == shard {
            return other;
        }
    }
}

/// The stored `(status, kind, body)` of `request`, read from PostgreSQL itself.
pub(crate) async fn stored(env: &TestEnv, request: RequestId) -> Option<(i32, String, Value)> {
    sqlx::query_as("SELECT status, kind, body FROM request_results WHERE request_id = $1")
        .bind(request.0)
        .fetch_optional(&env.pool)
        .await
        .unwrap()
}

fn refused_naming(reply: &Reply, field: &str) {
    let Outcome::Rejected(e) = &reply.outcome else {
        panic!("expected a refusal of {field}, got {:?}", reply.outcome);
    };
    assert_eq!(reply.outcome.http_status(), 422, "{e:?}");
    assert!(
        e.message.starts_with(&format!("{field}: ")),
        "message does not name {field}: {}",
        e.message
    );
    assert_eq!(e.details.as_ref().unwrap()["field"], field);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_strings_get_a_stored_422_and_the_shard_goes_on() {
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(2, 5, 300)).await;
    let ticket = TicketId::new();
    let hold = Command::Hold {
        ticket_id: ticket,
        selection: SeatSelection::Seats {
            seats: vec!["A-1-1".parse().unwrap()],
        },
        idempotency: None,
        user_ref: None,
    };
    let Outcome::HoldCreated(held) = env.send(event, hold).await else {
        panic!("hold refused");
    };

    // A confirm whose payment_ref holds a NUL (PostgreSQL `text` cannot store it).
    let (confirm_id, mut confirm) = message(
        event,
        Command::Confirm {
            ticket_id: ticket,
            hold_id: held.id,
            payment_ref: "placeholder".parse().unwrap(),
            idempotency: None,
            by: Default::default(),
        },
    );
    confirm["command"]["payment_ref"] = json!("pay\u{0}ref");
    let confirm = serde_json::to_vec(&confirm).unwrap();
    assert!(confirm.windows(6).any(|w| w == br"\u0000"));

    // An event whose name holds a NUL (`jsonb` cannot store it), on the same shard.
    let other = same_shard(event);
    let (create_id, mut create) = message(
        other,
        Command::CreateEvent {
            spec: spec(1, 1, 300),
        },
    );
    create["command"]["spec"]["name"] = json!("bad\u{0}name");

    // A hold whose seat id is a lone surrogate escape (not even a Rust string).
    let (lone_id, lone) = message(
        event,
        Command::Hold {
            ticket_id: TicketId::new(),
            selection: SeatSelection::Seats {
                seats: vec!["LONE".parse().unwrap()],
            },
            idempotency: None,
            user_ref: None,
        },
    );
    let lone = serde_json::to_string(&lone)
        .unwrap()
        .replace("LONE", r"\ud800");

    env.publish_raw(event, &confirm).await;
    env.publish_raw(other, &serde_json::to_vec(&create).unwrap())
        .await;
    env.publish_raw(event, lone.as_bytes()).await;
    let after = TestEnv::envelope(
        event,
        Command::Hold {
            ticket_id: TicketId::new(),
            selection: SeatSelection::Seats {
                seats: vec!["A-2-1".parse().unwrap()],
            },
            idempotency: None,
            user_ref: None,
        },
    );
    env.publish(&after).await;

    let decided = env
        .reply_within(after.request_id, DECIDED_WITHIN)
        .await
        .unwrap_or_else(|| {
            panic!("a valid hold behind refused commands waited over {DECIDED_WITHIN:?}")
        });
    assert_eq!(decided.outcome.http_status(), 201, "{:?}", decided.outcome);

    for (id, field, kind) in [
        (confirm_id, "payment_ref", "confirm"),
        (create_id, "name", "create_event"),
        (lone_id, "seats[0]", "hold"),
    ] {
        let reply = env.reply(id).await;
        refused_naming(&reply, field);
        let (status, stored_kind, body) = stored(&env, id)
            .await
            .unwrap_or_else(|| panic!("no stored result for the {kind} refusal"));
        assert_eq!((status, stored_kind.as_str()), (422, kind));
        assert_eq!(body, reply.outcome.http_body());
    }

    // Nothing of the refused commands was applied: the hold is still held, unsold,
    // and the event with the NUL name does not exist.
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(orders, 0);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE id = $1")
        .bind(other.0)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(events, 0);

    // The same message delivered again gets the same stored answer.
    env.publish_raw(event, &confirm).await;
    let again = env.reply(confirm_id).await;
    refused_naming(&again, "payment_ref");

    // A confirm with a valid payment_ref still works on the hold.
    let ok = env
        .send(
            event,
            Command::Confirm {
                ticket_id: ticket,
                hold_id: held.id,
                payment_ref: "pay-ref".parse().unwrap(),
                idempotency: None,
                by: Default::default(),
            },
        )
        .await;
    assert!(matches!(ok, Outcome::OrderConfirmed(_)), "{ok:?}");
}
