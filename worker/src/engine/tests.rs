//! Unit tests of the engine's business rules (docs/RESERVATIONS.md), one rule per test.

use super::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use protocol::command::{Command, Envelope, Idempotency, SeatSelection};
use protocol::event::{AdminState, EventPatch, EventSpec};
use protocol::ids::{EventId, HoldId, RequestId, TicketId};
use protocol::reply::{ErrorCode, HoldState, Outcome};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// A small event: section A 3 rows × 4 seats at 100, B 1 row × 2 at 50; hold TTL 60 s,
/// at most 4 seats per hold.
pub(crate) fn spec(prequeue: bool) -> EventSpec {
    let pq = if prequeue {
        r#""prequeue_opens_at":"2026-12-01T19:30:00+09:00","#
    } else {
        ""
    };
    serde_json::from_str(&format!(
        r#"{{"name":"Test","venue":"Hall","timezone":"Asia/Seoul",
        "opens_at":"2026-12-01T20:00:00+09:00",{pq}
        "admission":{{"rate_per_minute":600,"max_active":100,"pass_ttl_seconds":600}},
        "hold_ttl_seconds":60,"max_seats_per_hold":4,
        "seating":{{"sections":[{{"name":"A","rows":3,"seats_per_row":4,"price_cents":100}},
                              {{"name":"B","rows":1,"seats_per_row":2,"price_cents":50}}]}}}}"#
    ))
    .expect("valid test spec")
}

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 11, 0, 0).unwrap()
}

pub(crate) struct Harness {
    pub(crate) engine: Engine,
    pub(crate) event: EventId,
    pub(crate) rng: StdRng,
    pub(crate) now: DateTime<Utc>,
    pub(crate) effects: Vec<Effect>,
}

impl Harness {
    pub(crate) fn new() -> Self {
        let mut h = Harness {
            engine: Engine::new(1),
            event: EventId::new(),
            rng: StdRng::seed_from_u64(7),
            now: t0(),
            effects: Vec::new(),
        };
        let out = h.run(Command::CreateEvent { spec: spec(false) });
        assert!(matches!(out, Outcome::EventCreated(_)), "{out:?}");
        h
    }

    pub(crate) fn env(&self, command: Command) -> Envelope {
        Envelope {
            request_id: RequestId::new(),
            event_id: self.event,
            sent_at: self.now,
            command,
        }
    }

    pub(crate) fn send(&mut self, env: &Envelope) -> Outcome {
        self.engine
            .apply(env, self.now, &mut self.rng, &mut self.effects)
    }

    pub(crate) fn run(&mut self, command: Command) -> Outcome {
        let env = self.env(command);
        self.send(&env)
    }

    pub(crate) fn hold(&mut self, ticket: TicketId, seats: &[&str]) -> Outcome {
        self.run(hold_cmd(ticket, seats, None))
    }

    pub(crate) fn state(&self) -> &EventState {
        self.engine.event(&self.event).unwrap()
    }
}

pub(crate) fn hold_cmd(ticket: TicketId, seats: &[&str], key: Option<(&str, &str)>) -> Command {
    Command::Hold {
        ticket_id: ticket,
        selection: SeatSelection::Seats {
            seats: seats.iter().map(|s| s.parse().unwrap()).collect(),
        },
        idempotency: key.map(|(k, f)| Idempotency {
            key: k.parse().unwrap(),
            fingerprint: f.parse().unwrap(),
        }),
        user_ref: None,
    }
}

fn confirm_cmd(ticket: TicketId, hold_id: HoldId, key: Option<&str>) -> Command {
    Command::Confirm {
        ticket_id: ticket,
        hold_id,
        payment_ref: "mock-1".parse().unwrap(),
        idempotency: key.map(|k| Idempotency {
            key: k.parse().unwrap(),
            fingerprint: "f".parse().unwrap(),
        }),
        by: Default::default(),
    }
}

fn code(o: &Outcome) -> Option<ErrorCode> {
    match o {
        Outcome::Rejected(e) => Some(e.code),
        _ => None,
    }
}

fn held(o: Outcome) -> protocol::reply::Hold {
    match o {
        Outcome::HoldCreated(h) => h,
        other => panic!("expected a hold, got {other:?}"),
    }
}

#[test]
fn hold_then_confirm_sells_the_seats() {
    let mut h = Harness::new();
    let t = TicketId::new();
    let hold = held(h.hold(t, &["A-1-1", "B-1-2"]));
    assert_eq!(hold.total_cents, 150);
    assert_eq!(hold.seats, vec!["A-1-1", "B-1-2"]);
    assert_eq!(hold.expires_at, h.now + Duration::seconds(60));
    assert_eq!(h.state().seat_status("A-1-1"), Some(SeatStatus::Held));
    let order = match h.run(confirm_cmd(t, hold.id, None)) {
        Outcome::OrderConfirmed(o) => o,
        other => panic!("{other:?}"),
    };
    assert_eq!(order.seats, hold.seats);
    assert_eq!(order.total_cents, 150);
    let c = h.state().counts();
    assert_eq!((c.available, c.held, c.sold, c.orders), (12, 0, 2, 1));
    // The pass is used up.
    assert_eq!(code(&h.hold(t, &["A-2-1"])), Some(ErrorCode::Forbidden));
    // A second confirm without the key is refused.
    assert_eq!(
        code(&h.run(confirm_cmd(t, hold.id, None))),
        Some(ErrorCode::HoldNotActive)
    );
}

#[test]
fn hold_validation() {
    let mut h = Harness::new();
    let t = TicketId::new();
    let bad = |o: Outcome| code(&o);
    assert_eq!(bad(h.hold(t, &[])), Some(ErrorCode::InvalidField));
    assert_eq!(
        bad(h.hold(t, &["A-1-1", "A-1-1"])),
        Some(ErrorCode::InvalidField)
    );
    let five = ["A-1-1", "A-1-2", "A-1-3", "A-1-4", "A-2-1"];
    assert_eq!(bad(h.hold(t, &five)), Some(ErrorCode::InvalidField));
    match h.hold(t, &["A-1-1", "Z-1-1", "A-9-9"]) {
        Outcome::Rejected(e) => {
            assert_eq!(e.code, ErrorCode::InvalidField);
            assert_eq!(
                e.details.unwrap()["unknown"],
                serde_json::json!(["Z-1-1", "A-9-9"])
            );
        }
        other => panic!("{other:?}"),
    }
    // Per-ticket limit over several holds.
    held(h.hold(t, &["A-1-1", "A-1-2", "A-1-3"]));
    assert_eq!(
        bad(h.hold(t, &["A-2-1", "A-2-2"])),
        Some(ErrorCode::InvalidField)
    );
    held(h.hold(t, &["A-2-1"]));
    assert_eq!(h.state().counts().held, 4);
}

#[test]
fn taken_seats_are_listed_and_nothing_is_held() {
    let mut h = Harness::new();
    held(h.hold(TicketId::new(), &["A-1-2"]));
    match h.hold(TicketId::new(), &["A-1-1", "A-1-2"]) {
        Outcome::Rejected(e) => {
            assert_eq!(e.code, ErrorCode::SeatsUnavailable);
            assert_eq!(
                e.details.unwrap()["unavailable"],
                serde_json::json!(["A-1-2"])
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.state().seat_status("A-1-1"), Some(SeatStatus::Available));
}

#[test]
fn best_available_prefers_adjacent_front_seats() {
    let mut h = Harness::new();
    held(h.hold(TicketId::new(), &["A-1-2"]));
    let best = |section: &str, quantity| Command::Hold {
        ticket_id: TicketId::new(),
        selection: SeatSelection::Best {
            section: section.parse().unwrap(),
            quantity,
        },
        idempotency: None,
        user_ref: None,
    };
    assert_eq!(held(h.run(best("A", 2))).seats, vec!["A-1-3", "A-1-4"]);
    assert_eq!(held(h.run(best("B", 2))).seats, vec!["B-1-1", "B-1-2"]);
    assert_eq!(
        code(&h.run(best("B", 1))),
        Some(ErrorCode::SeatsUnavailable)
    );
    assert_eq!(code(&h.run(best("Q", 1))), Some(ErrorCode::InvalidField));
    assert_eq!(code(&h.run(best("A", 0))), Some(ErrorCode::InvalidField));
}

#[test]
fn a_hold_expires_once_the_watermark_reaches_its_deadline() {
    let mut h = Harness::new();
    let t = TicketId::new();
    let hold = held(h.hold(t, &["A-1-1"]));
    h.effects.clear();
    // The clock passing the deadline expires nothing: a confirm accepted in time may
    // still be waiting in the queue.
    h.now = hold.expires_at + Duration::seconds(30);
    h.engine
        .advance_watermark(hold.expires_at - Duration::milliseconds(1), &mut h.effects);
    assert!(h.effects.is_empty());
    assert_eq!(h.state().seat_status("A-1-1"), Some(SeatStatus::Held));
    h.engine.advance_watermark(hold.expires_at, &mut h.effects);
    match &h.effects[..] {
        [Effect::HoldEnded(v)] => {
            assert_eq!(v.hold.state, HoldState::Expired);
            assert_eq!(v.hold.seats, vec!["A-1-1"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.engine.watermark(), Some(hold.expires_at));
    assert_eq!(h.state().seat_status("A-1-1"), Some(SeatStatus::Available));
    // The watermark never goes back.
    h.effects.clear();
    h.engine.advance_watermark(t0(), &mut h.effects);
    assert_eq!(h.engine.watermark(), Some(hold.expires_at));
    assert!(h.effects.is_empty());
    assert_eq!(
        code(&h.run(confirm_cmd(t, hold.id, None))),
        Some(ErrorCode::HoldExpired)
    );
}

#[test]
fn a_confirm_accepted_before_the_deadline_succeeds_however_late_it_is_decided() {
    let mut h = Harness::new();
    let t = TicketId::new();
    let hold = held(h.hold(t, &["A-1-1", "A-1-2"]));
    let mut env = h.env(confirm_cmd(t, hold.id, None));
    env.sent_at = hold.expires_at - Duration::milliseconds(1);
    h.now = hold.expires_at + Duration::seconds(30);
    match h.send(&env) {
        Outcome::OrderConfirmed(o) => {
            assert_eq!(o.seats, vec!["A-1-1", "A-1-2"]);
            assert_eq!(o.confirmed_at, h.now, "the order is stamped when decided");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.state().seat_status("A-1-1"), Some(SeatStatus::Sold));
    assert_eq!(h.state().counts().holds_active, 0);
    // The watermark passing the deadline later finds nothing to expire.
    h.effects.clear();
    h.engine.advance_watermark(h.now, &mut h.effects);
    assert!(h.effects.is_empty(), "{:?}", h.effects);
}

#[test]
fn a_confirm_accepted_after_the_deadline_is_refused_and_leaves_the_hold_to_the_watermark() {
    let mut h = Harness::new();
    let t = TicketId::new();
    let hold = held(h.hold(t, &["A-1-1"]));
    let mut late = h.env(confirm_cmd(t, hold.id, None));
    late.sent_at = hold.expires_at + Duration::milliseconds(1);
    h.now = hold.expires_at + Duration::milliseconds(5);
    h.effects.clear();
    let refused = h.send(&late);
    assert_eq!(code(&refused), Some(ErrorCode::HoldExpired));
    // The answer says which came first, in the instants the engine was given.
    let Outcome::Rejected(detail) = &refused else {
        panic!("{refused:?}")
    };
    let details = detail.details.clone().expect("times of a 410");
    let instant =
        |k: &str| chrono::DateTime::parse_from_rfc3339(details[k].as_str().expect(k)).expect(k);
    assert_eq!(instant("accepted_at"), late.sent_at);
    assert_eq!(instant("expires_at"), hold.expires_at);
    // Only the stored result: the hold is left held, so a confirm accepted in time and
    // still behind this one in the queue is decided by its own accepted time.
    assert!(
        matches!(&h.effects[..], [Effect::Result(_)]),
        "{:?}",
        h.effects
    );
    assert_eq!(h.state().seat_status("A-1-1"), Some(SeatStatus::Held));
    let mut in_time = h.env(confirm_cmd(t, hold.id, None));
    in_time.sent_at = hold.expires_at - Duration::milliseconds(1);
    assert!(matches!(h.send(&in_time), Outcome::OrderConfirmed(_)));
}

#[test]
fn a_confirm_accepted_exactly_at_the_deadline_is_too_late() {
    let mut h = Harness::new();
    let t = TicketId::new();
    let hold = held(h.hold(t, &["A-1-1"]));
    h.now = hold.expires_at;
    assert_eq!(
        code(&h.run(confirm_cmd(t, hold.id, None))),
        Some(ErrorCode::HoldExpired)
    );
    let release = Command::Release {
        ticket_id: t,
        hold_id: hold.id,
    };
    assert_eq!(code(&h.run(release)), Some(ErrorCode::HoldNotActive));
    assert_eq!(h.state().seat_status("A-1-1"), Some(SeatStatus::Held));
}

#[test]
fn an_accepted_time_ahead_of_the_worker_counts_as_now() {
    let mut h = Harness::new();
    let t = TicketId::new();
    let hold = held(h.hold(t, &["A-1-1"]));
    // A gateway clock (or a forger) an hour ahead gains nothing and loses nothing:
    // the command cannot have been accepted after the worker read it.
    let mut env = h.env(confirm_cmd(t, hold.id, None));
    env.sent_at = h.now + Duration::hours(1);
    h.now = hold.expires_at - Duration::milliseconds(1);
    assert!(matches!(h.send(&env), Outcome::OrderConfirmed(_)));
}

#[test]
fn a_release_accepted_before_the_deadline_releases_however_late_it_is_decided() {
    let mut h = Harness::new();
    let t = TicketId::new();
    let hold = held(h.hold(t, &["A-1-1"]));
    let mut env = h.env(Command::Release {
        ticket_id: t,
        hold_id: hold.id,
    });
    env.sent_at = hold.expires_at - Duration::microseconds(1);
    h.now = hold.expires_at + Duration::seconds(30);
    match h.send(&env) {
        Outcome::HoldReleased(v) => assert_eq!(v.state, HoldState::Released),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.state().seat_status("A-1-1"), Some(SeatStatus::Available));
}

#[test]
fn release_rules() {
    let mut h = Harness::new();
    let (t, other) = (TicketId::new(), TicketId::new());
    let hold = held(h.hold(t, &["A-1-1"]));
    let release = |ticket| Command::Release {
        ticket_id: ticket,
        hold_id: hold.id,
    };
    assert_eq!(code(&h.run(release(other))), Some(ErrorCode::NotFound));
    match h.run(release(t)) {
        Outcome::HoldReleased(v) => assert_eq!(v.state, HoldState::Released),
        o => panic!("{o:?}"),
    }
    assert_eq!(code(&h.run(release(t))), Some(ErrorCode::HoldNotActive));
    assert_eq!(
        code(&h.run(confirm_cmd(t, hold.id, None))),
        Some(ErrorCode::HoldNotActive)
    );
    assert_eq!(
        code(&h.run(confirm_cmd(t, HoldId::new(), None))),
        Some(ErrorCode::NotFound)
    );
}

#[test]
fn idempotency_keys() {
    let mut h = Harness::new();
    let t = TicketId::new();
    let first = h.run(hold_cmd(t, &["A-1-1"], Some(("k1", "f1"))));
    let again = h.run(hold_cmd(t, &["A-1-1"], Some(("k1", "f1"))));
    assert_eq!(first, again);
    let other_body = h.run(hold_cmd(t, &["A-1-2"], Some(("k1", "f2"))));
    assert_eq!(code(&other_body), Some(ErrorCode::IdempotencyKeyReused));
    // Keys are per ticket.
    let other_ticket = h.run(hold_cmd(TicketId::new(), &["A-1-1"], Some(("k1", "f1"))));
    assert_eq!(code(&other_ticket), Some(ErrorCode::SeatsUnavailable));
    // A repeated confirm with the same key returns the original order.
    let id = held(first).id;
    let order = h.run(confirm_cmd(t, id, Some("c1")));
    assert!(matches!(order, Outcome::OrderConfirmed(_)));
    assert_eq!(h.run(confirm_cmd(t, id, Some("c1"))), order);
}

#[test]
fn a_ticket_keeps_at_most_its_cap_of_idempotency_keys_and_a_new_one_is_refused() {
    let cap = super::apply::KEYS_PER_TICKET;
    let mut h = Harness::new();
    let t = TicketId::new();
    let first = h.run(hold_cmd(t, &["A-1-1"], Some(("k0", "f"))));
    for i in 1..cap {
        let key = format!("k{i}");
        h.run(hold_cmd(t, &["A-1-1"], Some((&key, "f"))));
    }
    assert_eq!(h.state().keyed[&t].len(), cap);
    let refused = h.run(hold_cmd(t, &["A-1-2"], Some(("one-more", "f"))));
    assert_eq!(code(&refused), Some(ErrorCode::InvalidField));
    assert_eq!(
        h.state().keyed[&t].len(),
        cap,
        "the refused key is not remembered"
    );
    assert_eq!(
        h.state().seat_status("A-1-2"),
        Some(SeatStatus::Available),
        "a refused key decides nothing"
    );
    // Known keys still replay; a request without a key is decided; other tickets are free.
    assert_eq!(h.run(hold_cmd(t, &["A-1-1"], Some(("k0", "f")))), first);
    assert!(matches!(
        h.run(hold_cmd(t, &["A-1-2"], None)),
        Outcome::HoldCreated(_)
    ));
    let other = h.run(hold_cmd(TicketId::new(), &["A-1-3"], Some(("k0", "f"))));
    assert!(matches!(other, Outcome::HoldCreated(_)));
}

#[test]
fn replay_of_a_request_id_changes_nothing() {
    let mut h = Harness::new();
    let env = h.env(hold_cmd(TicketId::new(), &["A-1-1"], None));
    let first = h.send(&env);
    let n = h.effects.len();
    assert_eq!(h.send(&env), first);
    assert_eq!(h.effects.len(), n, "a replay emits no effects");
}

#[test]
fn closed_event_and_unknown_event() {
    let mut h = Harness::new();
    let patch = EventPatch {
        state: Some(AdminState::Closed),
        ..Default::default()
    };
    match h.run(Command::UpdateEvent { patch }) {
        Outcome::EventUpdated(c) => assert_eq!((c.version, c.admin_state), (2, AdminState::Closed)),
        o => panic!("{o:?}"),
    }
    assert_eq!(
        code(&h.hold(TicketId::new(), &["A-1-1"])),
        Some(ErrorCode::QueueClosed)
    );
    h.event = EventId::new();
    assert_eq!(
        code(&h.hold(TicketId::new(), &["A-1-1"])),
        Some(ErrorCode::NotFound)
    );
    let empty = Command::UpdateEvent {
        patch: EventPatch::default(),
    };
    assert_eq!(code(&h.run(empty)), Some(ErrorCode::NotFound));
}

#[test]
fn create_commits_to_the_shuffle_seed() {
    let mut h = Harness::new();
    h.event = EventId::new();
    let c = match h.run(Command::CreateEvent { spec: spec(true) }) {
        Outcome::EventCreated(c) => c,
        o => panic!("{o:?}"),
    };
    let seed = hex::decode(c.shuffle_seed.unwrap()).unwrap();
    assert_eq!(seed.len(), 32);
    use sha2::Digest;
    assert_eq!(
        c.shuffle_commitment.unwrap(),
        hex::encode(sha2::Sha256::digest(&seed))
    );
    // Creating it again under another request id is refused; an invalid spec too.
    assert_eq!(
        code(&h.run(Command::CreateEvent { spec: spec(true) })),
        Some(ErrorCode::InvalidField)
    );
    let mut bad = spec(false);
    bad.max_seats_per_hold = 0;
    h.event = EventId::new();
    assert_eq!(
        code(&h.run(Command::CreateEvent { spec: bad })),
        Some(ErrorCode::InvalidField)
    );
}

#[test]
fn availability_snapshot_counts_and_statuses() {
    let mut h = Harness::new();
    let t = TicketId::new();
    let hold = held(h.hold(t, &["A-1-1", "B-1-1"]));
    h.run(confirm_cmd(t, hold.id, None));
    held(h.hold(TicketId::new(), &["A-1-2"]));
    let now = h.now;
    let a1 = h.engine.availability(&h.event, now).unwrap();
    let a2 = h.engine.availability(&h.event, now).unwrap();
    assert!(a2.version > a1.version);
    assert_eq!(a1.version >> SNAPSHOT_EPOCH_SHIFT, 1);
    assert_eq!((a1.total, a1.available, a1.held, a1.sold), (14, 11, 1, 2));
    assert_eq!(a1.sections[0].statuses, "sha".to_string() + &"a".repeat(9));
    assert_eq!(a1.sections[1].statuses, "sa");
}

#[test]
fn a_refused_command_is_recorded_once_and_changes_nothing() {
    use protocol::decode::CommandRefusal;
    use protocol::event::FieldError;
    let mut h = Harness::new();
    let ticket = TicketId::new();
    let refusal = CommandRefusal {
        request_id: RequestId::new(),
        event_id: h.event,
        ticket_id: Some(ticket),
        kind: Some("confirm"),
        error: FieldError {
            field: "payment_ref".into(),
            message: "must not contain control characters (U+0000 at character 4)".into(),
        },
    };
    let counts = h.state().counts;
    h.effects.clear();
    let first = h.engine.refuse(&refusal, &mut h.effects);
    let Outcome::Rejected(e) = &first else {
        panic!("{first:?}");
    };
    assert_eq!(e.code, ErrorCode::InvalidField);
    assert!(e.message.starts_with("payment_ref: must not contain"));
    assert_eq!(e.details.as_ref().unwrap()["field"], "payment_ref");
    match h.effects.as_slice() {
        [Effect::Result(r)] => {
            assert_eq!(
                (r.request_id, r.ticket_id, r.kind),
                (refusal.request_id, Some(ticket), "confirm")
            );
            assert_eq!(r.outcome, first);
        }
        other => panic!("expected one result, got {other:?}"),
    }
    // The same request again is answered the same, without a second result.
    h.effects.clear();
    assert_eq!(h.engine.refuse(&refusal, &mut h.effects), first);
    assert!(h.effects.is_empty());
    assert_eq!(h.state().counts, counts);
    // An event the shard does not know still gets its refusal recorded.
    let elsewhere = CommandRefusal {
        event_id: EventId::new(),
        kind: None,
        ..refusal
    };
    h.engine.refuse(&elsewhere, &mut h.effects);
    assert!(matches!(h.effects.as_slice(), [Effect::Result(r)] if r.kind == UNDECODED_KIND));
}
