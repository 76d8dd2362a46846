//! Arbitrary strings through every string field of every command, as raw JSON bytes
//! published straight to the shard queues: the worker's own decode, the engine and a
//! real PostgreSQL group commit. PostgreSQL is the oracle that nothing unstorable got
//! through: a batch it refused would be retried forever and its replies never come.
//!
//! Every command must get exactly one reply, never a 5xx, and a stored result row; a
//! command whose strings are all acceptable by the rules written out here
//! ([`acceptable`], independent of `protocol::text`) must not be refused for them.

use crate::helpers::{spec, TestEnv};
use crate::hygiene::{message, stored};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use protocol::command::{Command, SeatSelection};
use protocol::event::Section;
use protocol::ids::{RequestId, TicketId};
use protocol::reply::{ErrorCode, Outcome};
use serde_json::{json, Value};
use std::time::Duration;

/// Cases per run: enough to hit every kind of string many times, few enough to run in
/// seconds.
const CASES: usize = 64;

/// Stands for a lone surrogate: a Rust string cannot hold one, so this private-use
/// character is replaced by the escape `\ud800` in the raw JSON.
const LONE: char = '\u{E000}';

/// A string of any kind a client might send.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Za-z0-9_ -]{1,20}",
        2 => "\\PC{1,30}",
        2 => any::<String>(),
        1 => "\\PC{0,10}".prop_map(|s| format!("{s}\u{0}{s}")),
        1 => "\\PC{0,10}".prop_map(|s| format!("{s}{LONE}")),
        1 => Just("קונצרט חורף".to_string()),
        1 => Just("حفلة الشتاء 🎻".to_string()),
        1 => Just("🎄🎟️👩‍👩‍👧".to_string()),
        1 => Just("evil\u{202E}txt".to_string()),
        1 => (0usize..3).prop_map(|_| "x".repeat(1 << 20)),
        1 => Just(String::new()),
        1 => Just("  ".to_string()),
    ]
}

/// Whether `s` is acceptable free text of at most `max` characters: no control
/// characters (C0, DEL, C1), line or paragraph separators, bidirectional controls or
/// lone surrogates; not blank (when `blank_ok` is false).
fn acceptable(s: &str, max: usize, blank_ok: bool) -> bool {
    let refused = |c: char| {
        let n = u32::from(c);
        n < 0x20
            || (0x7F..=0x9F).contains(&n)
            || n == 0x2028
            || n == 0x2029
            || (0x202A..=0x202E).contains(&n)
            || (0x2066..=0x2069).contains(&n)
            || c == LONE
    };
    let n = s.chars().count();
    !s.chars().any(refused) && n >= 1 && n <= max && (blank_ok || !s.trim().is_empty())
}

/// Serializes `v` and swaps [`LONE`] for a lone surrogate escape.
fn raw(v: &Value) -> Vec<u8> {
    serde_json::to_string(v)
        .unwrap()
        .replace(LONE, r"\ud800")
        .into_bytes()
}

#[derive(Debug, Clone)]
struct Case {
    name: String,
    venue: String,
    section: String,
    timezone: String,
    seat: String,
    payment_ref: String,
    key: Option<String>,
}

fn case() -> impl Strategy<Value = Case> {
    let valid_or = |valid: &'static str| prop_oneof![1 => Just(valid.to_string()), 2 => any_text()];
    (
        valid_or("Winter Concert"),
        valid_or("Olympic Hall"),
        valid_or("A"),
        prop_oneof![
            Just("Asia/Seoul".to_string()),
            Just("Mars/Olympus".to_string()),
            any_text()
        ],
        valid_or("A-1-2"),
        valid_or("mock-123"),
        proptest::option::of(any_text()),
    )
        .prop_map(
            |(name, venue, section, timezone, seat, payment_ref, key)| Case {
                name,
                venue,
                section,
                timezone,
                seat,
                payment_ref,
                key,
            },
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_strings_in_every_command_get_exactly_one_stored_outcome() {
    let mut env = TestEnv::start().await;
    // Section A is the fuzzed holds' to take; section B is for the holds the fuzzed
    // confirms act on.
    let mut seating = spec(10, 20, 300);
    seating.seating.sections.push(Section {
        name: "B".parse().unwrap(),
        rows: 4,
        seats_per_row: 20,
        price_cents: 100,
    });
    let event = env.create_event(&seating).await;
    let mut runner = TestRunner::new(Config {
        cases: CASES as u32,
        ..Config::default()
    });
    let strategy = case();
    let cases: Vec<Case> = (0..CASES)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect();
    // A fresh hold of a real seat per case for its confirm to act on, all published
    // first so they are decided in a few batches.
    let mut setup = Vec::with_capacity(CASES);
    for i in 0..CASES {
        let ticket = TicketId::new();
        let seat = format!("B-{}-{}", 1 + i / 20, 1 + i % 20);
        let hold = TestEnv::envelope(
            event,
            Command::Hold {
                ticket_id: ticket,
                selection: SeatSelection::Seats {
                    seats: vec![seat.parse().unwrap()],
                },
                idempotency: None,
                user_ref: None,
            },
        );
        env.publish(&hold).await;
        setup.push((ticket, hold.request_id));
    }
    let mut holds = Vec::with_capacity(CASES);
    for (i, (ticket, id)) in setup.into_iter().enumerate() {
        let Outcome::HoldCreated(held) = env.reply(id).await.outcome else {
            panic!("case {i}: the setup hold was refused");
        };
        holds.push((ticket, held));
    }

    let mut expected = Vec::with_capacity(3 * CASES);
    for (i, (c, (ticket, held))) in cases.iter().zip(holds).enumerate() {
        let (create_id, mut create) = message(
            protocol::ids::EventId::new(),
            Command::CreateEvent {
                spec: spec(1, 1, 300),
            },
        );
        let s = &mut create["command"]["spec"];
        s["name"] = json!(c.name);
        s["venue"] = json!(c.venue);
        s["timezone"] = json!(c.timezone);
        s["seating"]["sections"][0]["name"] = json!(c.section);
        let create_ok = acceptable(&c.name, 200, false)
            && acceptable(&c.venue, 200, false)
            && c.section
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            && (1..=16).contains(&c.section.len())
            && c.timezone.parse::<chrono_tz::Tz>().is_ok();

        let key = c
            .key
            .as_ref()
            .map(|k| json!({"key": k, "fingerprint": "f"}));
        let key_ok = c.key.as_ref().is_none_or(|k| acceptable(k, 255, true));
        let (hold_id, mut fuzz_hold) = message(
            event,
            Command::Hold {
                ticket_id: TicketId::new(),
                selection: SeatSelection::Best {
                    section: "A".parse().unwrap(),
                    quantity: 1,
                },
                idempotency: None,
                user_ref: None,
            },
        );
        fuzz_hold["command"]["selection"] = if i % 2 == 0 {
            json!({"seats": [c.seat]})
        } else {
            json!({"section": c.section, "quantity": 1})
        };
        fuzz_hold["command"]["idempotency"] = key.clone().unwrap_or(Value::Null);

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
        confirm["command"]["payment_ref"] = json!(c.payment_ref);
        confirm["command"]["idempotency"] = key.unwrap_or(Value::Null);
        let confirm_ok = acceptable(&c.payment_ref, 200, false) && key_ok;

        env.publish_raw(
            create["event_id"].as_str().unwrap().parse().unwrap(),
            &raw(&create),
        )
        .await;
        env.publish_raw(event, &raw(&fuzz_hold)).await;
        env.publish_raw(event, &raw(&confirm)).await;

        expected.push((i, "create_event", create_id, Some(create_ok)));
        expected.push((i, "hold", hold_id, None));
        expected.push((i, "confirm", confirm_id, Some(confirm_ok)));
    }

    let mut sent: Vec<RequestId> = Vec::with_capacity(expected.len());
    for (i, what, id, ok) in expected {
        let c = &cases[i];
        let reply = env.reply(id).await;
        let status = reply.outcome.http_status();
        assert!(status < 500, "case {i} {what} {c:?}: {:?}", reply.outcome);
        let refused_for_text = matches!(
            &reply.outcome,
            Outcome::Rejected(e) if e.code == ErrorCode::InvalidField
        );
        match ok {
            Some(true) => assert!(
                !refused_for_text,
                "case {i} {what}: acceptable strings refused {c:?}: {:?}",
                reply.outcome
            ),
            Some(false) => assert!(
                refused_for_text,
                "case {i} {what}: unacceptable strings accepted {c:?}: {:?}",
                reply.outcome
            ),
            None => {}
        }
        sent.push(id);
    }

    // Exactly one outcome each: every request has its stored row, and no reply came
    // twice (a second reply would still be waiting in the reply queue).
    for id in &sent {
        let (status, _, _) = stored(&env, *id)
            .await
            .unwrap_or_else(|| panic!("no stored result for {id}"));
        assert!(status < 500);
    }
    assert!(env
        .reply_within(RequestId::new(), Duration::from_millis(300))
        .await
        .is_none());
    let extra = env.unclaimed_replies();
    assert!(extra.is_empty(), "extra replies: {extra:?}");
}
