//! The status stream's timing with tokio's paused clock, without Redis: the catalog and
//! the live view are seeded by hand, so every check is answered from memory.

use super::*;
use crate::live::hub::Signal;
use crate::live::place::resolve;
use crate::queue::QueueView;
use crate::settings::Settings;
use axum::response::sse::Sse;
use axum::response::IntoResponse;
use chrono::Duration as Minutes;
use http_body_util::BodyExt;
use protocol::event::{AdminState, Admission, EventConfig, EventSpec, Seating, Section};
use protocol::ids::TicketId;

fn replica() -> Replica {
    Replica::new(&Settings {
        admin_key: "admin-key-of-a-unit-test-0123456789".to_string().into(),
        queue_token_secret: "q".repeat(32).into(),
        pass_signing_key: "0123456789abcdef".repeat(4).into(),
        // Nothing listens there: a check that reached Redis would fail the test.
        redis_url: "redis://127.0.0.1:1".into(),
        redis_timeout_ms: 100,
        ..Settings::default()
    })
    .unwrap()
}

fn config(admin_state: AdminState, version: u64) -> EventConfig {
    let now = chrono::Utc::now();
    EventConfig {
        id: EventId(uuid::Uuid::from_u128(7)),
        spec: EventSpec {
            name: "n".parse().unwrap(),
            venue: "v".parse().unwrap(),
            timezone: "UTC".parse().unwrap(),
            opens_at: (now - Minutes::minutes(1)).fixed_offset(),
            prequeue_opens_at: None,
            // One admission per minute: the fifth in line waits about four minutes.
            admission: Admission {
                rate_per_minute: 1,
                max_active: 10,
                pass_ttl_seconds: 600,
            },
            hold_ttl_seconds: 60,
            max_seats_per_hold: 2,
            seating: Seating {
                sections: vec![Section {
                    name: "A".parse().unwrap(),
                    rows: 1,
                    seats_per_row: 10,
                    price_cents: 1,
                }],
            },
            require_identity: false,
            checkout: Default::default(),
            currency: "USD".parse().expect("a currency code"),
            gate: None,
        },
        admin_state,
        shuffle_commitment: None,
        shuffle_seed: None,
        version,
        created_at: now,
        updated_at: now,
    }
}

/// Reads the next SSE frame of `body` as (event name, JSON data).
async fn next(body: &mut axum::body::Body) -> (String, serde_json::Value) {
    loop {
        let frame = body.frame().await.expect("stream ended").unwrap();
        let Ok(bytes) = frame.into_data() else {
            continue;
        };
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let event = text.lines().find_map(|l| l.strip_prefix("event: "));
        let data = text.lines().find_map(|l| l.strip_prefix("data: "));
        if let (Some(e), Some(d)) = (event, data) {
            return (e.to_owned(), serde_json::from_str(d).unwrap());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn heartbeat_cadence_and_state_changes() {
    let replica = replica();
    let event = EventId(uuid::Uuid::from_u128(7));
    let ticket = TicketId(uuid::Uuid::from_u128(99));
    replica.catalog.store(config(AdminState::Open, 1), None);
    replica.live.publish_view(
        &event,
        QueueView::empty(chrono::Utc::now().timestamp_millis()),
    );
    let snapshot = replica.catalog.fresh(&event).unwrap();
    let (first, _) = resolve(&replica, &snapshot, ticket, 5, None, Via::Status)
        .await
        .unwrap();
    assert_eq!((first.position, first.poll_after_ms), (Some(5), 8_000));
    let events = status_events(
        replica.clone(),
        event,
        crate::tokens::QueuePlace {
            ticket,
            seq: 5,
            user_ref: None,
        },
        &first,
    );
    let mut body = Sse::new(events).into_response().into_body();
    let start = Instant::now();
    let (name, s) = next(&mut body).await;
    assert_eq!((name.as_str(), s["position"].as_u64()), ("status", Some(5)));

    // Nothing changes: a check at 8 s sends nothing, the heartbeat goes at 15 s.
    let (_, s) = next(&mut body).await;
    assert_eq!(start.elapsed(), HEARTBEAT);
    assert_eq!(s["position"], 5);
    assert!(
        replica.live.take_seen()[&event].contains(&ticket),
        "checks mark the fan seen"
    );

    // Admission passes four tickets: the change goes out at the next check (8 s).
    replica.live.advance_head(&event, 4);
    let before = Instant::now();
    let (_, s) = next(&mut body).await;
    assert_eq!(s["position"], 1);
    assert_eq!(before.elapsed(), Duration::from_secs(8));

    // The venue closes the queue: pushed at once, not at the next check.
    replica.catalog.store(config(AdminState::Closed, 2), None);
    let before = Instant::now();
    replica.live.set_signal(
        &event,
        Signal {
            state: Some(protocol::event::PublicState::Closed),
            config_version: 2,
        },
    );
    let (_, s) = next(&mut body).await;
    assert_eq!(s["state"], "closed");
    assert_eq!(before.elapsed(), Duration::ZERO);

    // Shutdown ends the stream.
    replica.live.close();
    assert!(body.frame().await.is_none());
}
