//! The worker's judgement of a PATCH: merge, postponement by its own clock, archive,
//! currency. Expected values are written out by hand.

use crate::engine::tests::{hold_cmd, spec, t0, Harness};
use chrono::Duration;
use protocol::command::Command;
use protocol::event::{AdminState, EventConfig, EventPatch};
use protocol::ids::{EventId, TicketId};
use protocol::reply::{ErrorCode, Outcome};

fn patch(json: &str) -> Command {
    Command::UpdateEvent {
        patch: serde_json::from_str::<EventPatch>(json).unwrap(),
    }
}

fn updated(o: Outcome) -> EventConfig {
    match o {
        Outcome::EventUpdated(c) => *c,
        other => panic!("expected the event, got {other:?}"),
    }
}

/// The `details.fields[].field` of a 422, or a panic.
fn refused(o: Outcome) -> Vec<String> {
    match o {
        Outcome::Rejected(e) => {
            assert_eq!(e.code, ErrorCode::InvalidField, "{e:?}");
            e.details.unwrap()["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["field"].as_str().unwrap().to_owned())
                .collect()
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn one_admission_field_merges_into_the_others() {
    let mut h = Harness::new();
    let c = updated(h.run(patch(r#"{"admission": {"rate_per_minute": 60000}}"#)));
    assert_eq!(c.version, 2);
    assert_eq!(c.updated_at, h.now);
    let a = &c.spec.admission;
    assert_eq!(
        (a.rate_per_minute, a.max_active, a.pass_ttl_seconds),
        (60000, 100, 600)
    );
    let c = updated(h.run(patch(r#"{"admission": {"max_active": 7}}"#)));
    let a = &c.spec.admission;
    assert_eq!(
        (a.rate_per_minute, a.max_active, a.pass_ttl_seconds),
        (60000, 7, 600)
    );
    assert_eq!(h.state().config().spec.admission.max_active, 7);
}

#[test]
fn an_invalid_merge_changes_nothing() {
    let mut h = Harness::new();
    let before = h.state().config().clone();
    let n = h.effects.len();
    assert_eq!(
        refused(h.run(patch(r#"{"checkout": {"mode": "origin"}}"#))),
        ["checkout.url"]
    );
    assert_eq!(h.state().config(), &before);
    // Only the command's result was recorded, no EventUpdated.
    assert_eq!(h.effects.len(), n + 1);
    let c = updated(h.run(patch(
        r#"{"checkout": {"mode": "origin", "url": "https://pay.example/checkout"}}"#,
    )));
    assert_eq!(
        c.spec.checkout.url.as_ref().map(|u| u.as_str()),
        Some("https://pay.example/checkout")
    );
    // Back to fan mode keeps the url (a merge), and fan mode does not need it anyway.
    let c = updated(h.run(patch(r#"{"checkout": {"mode": "fan"}}"#)));
    assert!(c.spec.checkout.url.is_some());
}

#[test]
fn postponement_goes_by_the_workers_clock() {
    let mut h = Harness::new();
    h.event = EventId::new();
    h.now = t0() - Duration::hours(2); // pre-queue opens at t0 - 30 min, opening at t0
    let created = h.run(Command::CreateEvent { spec: spec(true) });
    assert!(matches!(created, Outcome::EventCreated(_)), "{created:?}");
    let commitment = h.state().config().shuffle_commitment.clone();
    let c = updated(h.run(patch(
        r#"{"opens_at": "2026-12-02T20:00:00+09:00", "prequeue_opens_at": "2026-12-02T19:00:00+09:00"}"#,
    )));
    assert_eq!(c.spec.opens_at.to_rfc3339(), "2026-12-02T20:00:00+09:00");
    assert_eq!(
        c.spec.prequeue_opens_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-12-02T19:00:00+09:00")
    );
    // The lottery keeps its commitment and its seed.
    assert_eq!(c.shuffle_commitment, commitment);
    // The new opening has passed on the worker's clock: it can no longer move.
    h.now = t0() + Duration::days(1) + Duration::seconds(1);
    assert_eq!(
        refused(h.run(patch(r#"{"opens_at": "2026-12-03T20:00:00+09:00"}"#))),
        ["opens_at"]
    );
    // Into the past, while it could still move (and so before the pre-queue too).
    h.now = t0();
    assert_eq!(
        refused(h.run(patch(r#"{"opens_at": "2026-12-01T19:00:00+09:00"}"#))),
        ["opens_at", "prequeue_opens_at"]
    );
    // Opening before the pre-queue that stays: the merged spec is refused.
    assert_eq!(
        refused(h.run(patch(r#"{"opens_at": "2026-12-02T18:00:00+09:00"}"#))),
        ["prequeue_opens_at"]
    );
}

#[test]
fn a_pre_queue_cannot_be_added_later() {
    let mut h = Harness::new();
    h.now = t0() - Duration::hours(2);
    assert_eq!(
        refused(h.run(patch(
            r#"{"prequeue_opens_at": "2026-12-01T19:30:00+09:00"}"#
        ))),
        ["prequeue_opens_at"]
    );
}

#[test]
fn archive_only_when_finished_and_then_final() {
    let mut h = Harness::new();
    // Open with seats for sale: refused.
    assert_eq!(refused(h.run(patch(r#"{"state": "archived"}"#))), ["state"]);
    updated(h.run(patch(r#"{"state": "closed"}"#)));
    let c = updated(h.run(patch(r#"{"state": "archived"}"#)));
    assert_eq!((c.admin_state, c.version), (AdminState::Archived, 3));
    assert!(c.is_archived());
    // Asking again answers the event unchanged.
    let again = updated(h.run(patch(r#"{"state": "archived"}"#)));
    assert_eq!(again, c);
    // Nothing else changes any more, and no hold is taken.
    assert_eq!(refused(h.run(patch(r#"{"state": "open"}"#))), ["state"]);
    assert_eq!(
        refused(h.run(patch(r#"{"hold_ttl_seconds": 30}"#))),
        ["state"]
    );
    match h.run(hold_cmd(TicketId::new(), &["A-1-1"], None)) {
        Outcome::Rejected(e) => assert_eq!(e.code, ErrorCode::QueueClosed),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.state().config().version, 3);
}

#[test]
fn a_sold_out_event_is_archived_once_no_hold_is_active() {
    let mut h = Harness::new();
    // 14 seats: A 3×4, B 1×2; at most 4 per hold.
    let rows = [
        vec!["A-1-1", "A-1-2", "A-1-3", "A-1-4"],
        vec!["A-2-1", "A-2-2", "A-2-3", "A-2-4"],
        vec!["A-3-1", "A-3-2", "A-3-3", "A-3-4"],
        vec!["B-1-1", "B-1-2"],
    ];
    let mut holds = Vec::new();
    for seats in &rows {
        let t = TicketId::new();
        match h.run(hold_cmd(t, seats, None)) {
            Outcome::HoldCreated(hold) => holds.push((t, hold.id)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(h.state().counts().available, 0);
    // Sold out on the map, but holds are live: refused.
    assert_eq!(refused(h.run(patch(r#"{"state": "archived"}"#))), ["state"]);
    for (t, id) in holds {
        let o = h.run(Command::Confirm {
            ticket_id: t,
            hold_id: id,
            payment_ref: "p-1".parse().unwrap(),
            idempotency: None,
            by: Default::default(),
        });
        assert!(matches!(o, Outcome::OrderConfirmed(_)), "{o:?}");
    }
    let c = updated(h.run(patch(r#"{"state": "archived"}"#)));
    assert_eq!(c.admin_state, AdminState::Archived);
    assert_eq!(h.state().counts().orders, 4, "orders are kept");
}

#[test]
fn currency_changes_only_before_the_first_hold() {
    let mut h = Harness::new();
    let c = updated(h.run(patch(r#"{"currency": "KRW"}"#)));
    assert_eq!(c.spec.currency.as_str(), "KRW");
    assert!(matches!(
        h.run(hold_cmd(TicketId::new(), &["A-1-1"], None)),
        Outcome::HoldCreated(_)
    ));
    assert_eq!(
        refused(h.run(patch(r#"{"currency": "USD"}"#))),
        ["currency"]
    );
    // The same currency again is no change, and passes.
    updated(h.run(patch(r#"{"currency": "KRW", "hold_ttl_seconds": 90}"#)));
}
