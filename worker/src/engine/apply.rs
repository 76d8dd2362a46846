//! The shard engine: all events of one shard, and `apply(command) -> (outcome, effects)`.
//!
//! Deterministic: time (`now`) and randomness (`rng`, for new ids and shuffle seeds) are
//! passed in by the shell, so the same inputs always give the same outcome and effects.
//!
//! Time has two meanings here (docs/RESERVATIONS.md, "Accepted time and hold expiry"):
//! a confirm or release is judged by when the gateway *accepted* it (`Envelope::sent_at`,
//! never later than `now`), not by when the worker got to it; and a hold is expired only
//! once the shard's *watermark* passes its deadline, i.e. once no command accepted
//! before the deadline can still be waiting in the shard queue. The shell advances the
//! watermark ([`Engine::advance_watermark`]) from the probes it reads back from its own
//! queue; the engine itself never expires a hold because the clock moved.

use super::admin;
use super::effect::{CommandResult, Effect};
use super::event::EventState;
use super::orders;
use super::reserve;
use chrono::{DateTime, Utc};
use protocol::command::{Command, Envelope, Idempotency};
use protocol::decode::CommandRefusal;
use protocol::ids::{EventId, HoldId, TicketId};
use protocol::reply::{ErrorCode, ErrorDetail, HoldState, Outcome, StoredHold};
use rand::RngCore;
use std::collections::HashMap;
use uuid::Uuid;

/// Availability snapshot versions of a session start at `epoch << SNAPSHOT_EPOCH_SHIFT`,
/// so a new owner's snapshots always supersede the previous owner's.
pub const SNAPSHOT_EPOCH_SHIFT: u32 = 40;

/// The state of every event of one shard.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    /// Last availability snapshot version handed out (shard-wide, so it stays monotonic
    /// for every event even when events are rebuilt).
    snapshot_version: u64,
    events: HashMap<EventId, EventState>,
    /// No command accepted at or before this instant can still be waiting in the shard
    /// queue; every hold whose deadline is at or before it has been expired. `None`
    /// until the session's first watermark: a rebuilt engine expires nothing until it
    /// has read its backlog.
    watermark: Option<DateTime<Utc>>,
}

impl Engine {
    /// An empty engine for a session with fencing epoch `epoch`.
    pub fn new(epoch: u64) -> Self {
        Self {
            snapshot_version: epoch << SNAPSHOT_EPOCH_SHIFT,
            events: HashMap::new(),
            watermark: None,
        }
    }

    /// Continues the snapshot numbering of `previous` (an engine this one replaces
    /// within the same session), so versions never go back.
    pub fn continue_versions_of(&mut self, previous: &Engine) {
        self.snapshot_version = self.snapshot_version.max(previous.snapshot_version);
    }

    /// The availability snapshot of event `id` at `as_of`, with a version higher than
    /// any this engine handed out before.
    pub fn availability(
        &mut self,
        id: &EventId,
        as_of: DateTime<Utc>,
    ) -> Option<protocol::availability::Availability> {
        let ev = self.events.get(id)?;
        self.snapshot_version += 1;
        Some(ev.availability(as_of, self.snapshot_version))
    }

    /// The earliest deadline of an active hold over all events.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.events
            .values()
            .filter_map(EventState::next_deadline)
            .min()
    }

    /// Adds (or replaces) an event's state, e.g. one rebuilt from PostgreSQL.
    pub fn insert(&mut self, event: EventState) {
        self.events.insert(event.config.id, event);
    }

    /// Whether event `id` is sold out: no seat available and none held that could come
    /// back (`Availability::sold_out` of its next snapshot). `None` for an unknown event.
    pub fn sold_out(&self, id: &EventId) -> Option<bool> {
        let c = self.events.get(id)?.counts;
        Some(c.available == 0 && c.held == 0)
    }

    /// The state of `id`.
    pub fn event(&self, id: &EventId) -> Option<&EventState> {
        self.events.get(id)
    }

    /// Every event of the shard.
    pub fn events(&self) -> impl Iterator<Item = &EventState> {
        self.events.values()
    }

    /// The current view of hold `id` of `event` while it is active (`held`).
    pub fn active_hold(&self, event: &EventId, id: &HoldId) -> Option<StoredHold> {
        let ev = self.events.get(event)?;
        let rec = ev.holds.get(id)?;
        (rec.state == HoldState::Held).then(|| ev.hold_view(*id, rec))
    }

    /// Active holds over all events.
    pub fn holds_active(&self) -> u64 {
        self.events.values().map(|e| e.counts.holds_active).sum()
    }

    /// The watermark: no command accepted at or before it can still be waiting in the
    /// shard queue (`None` until the first [`Engine::advance_watermark`]).
    pub fn watermark(&self) -> Option<DateTime<Utc>> {
        self.watermark
    }

    /// Moves the watermark forward to `to` (never back: an older `to` changes nothing)
    /// and expires every hold of every event whose deadline is at or before it,
    /// appending one `Effect::HoldEnded` per hold to `out`.
    ///
    /// The caller guarantees that every command accepted at or before `to` has been
    /// applied already: then no confirm or release that could still save one of these
    /// holds is waiting, and expiring them changes no answer.
    pub fn advance_watermark(&mut self, to: DateTime<Utc>, out: &mut Vec<Effect>) {
        if self.watermark.is_some_and(|w| w >= to) {
            return;
        }
        self.watermark = Some(to);
        for ev in self.events.values_mut() {
            ev.expire_through(to, out);
        }
    }

    /// Decides `env` at `now`, appending its effects to `out` (the last one is always
    /// `Effect::Result`, except for a recent replay, which changes nothing). Never
    /// panics on any input: bad commands become `Outcome::Rejected`.
    ///
    /// Confirms and releases are judged by the command's accepted time, `env.sent_at`
    /// clamped to at most `now` (a command cannot have been accepted after the worker
    /// read it; see docs/RESERVATIONS.md for why no lower clamp is needed): accepted
    /// before the hold's `expires_at`, the hold is confirmed or released if it is still
    /// held, however late `now` is. Accepted at or after it: `410 hold_expired` (confirm)
    /// or `409 hold_not_active` (release), and the hold is left to the watermark, so a
    /// late or forged command cannot cut short an in-time one still in the queue.
    pub fn apply<R: RngCore + ?Sized>(
        &mut self,
        env: &Envelope,
        now: DateTime<Utc>,
        rng: &mut R,
        out: &mut Vec<Effect>,
    ) -> Outcome {
        let (outcome, key) = match self.events.get_mut(&env.event_id) {
            Some(ev) => {
                if let Some(o) = ev.recent.get(&env.request_id) {
                    return o.clone();
                }
                decide(ev, env, now, rng, out)
            }
            None => match &env.command {
                Command::CreateEvent { spec } => {
                    match admin::create(env.event_id, spec, now, rng) {
                        Ok(ev) => {
                            let outcome = Outcome::EventCreated(Box::new(ev.config.clone()));
                            out.push(Effect::EventCreated(Box::new(ev.config.clone())));
                            self.events.insert(env.event_id, ev);
                            (outcome, None)
                        }
                        Err(rejection) => (rejection, None),
                    }
                }
                _ => (
                    Outcome::rejected(ErrorCode::NotFound, "no such event"),
                    None,
                ),
            },
        };
        if let Some(ev) = self.events.get_mut(&env.event_id) {
            ev.recent.insert(env.request_id, outcome.clone());
        }
        out.push(Effect::Result(Box::new(CommandResult::of(
            env,
            key,
            outcome.clone(),
        ))));
        outcome
    }
}

impl Engine {
    /// Answers a command that could not be decoded (`refusal`): `422 invalid_field`
    /// naming the field, recorded as the command's result (`Effect::Result`, the last
    /// effect pushed to `out`) so it is stored, replayed and readable like any outcome.
    /// The event's state is not touched; a second delivery of the same request id
    /// gets the same answer.
    pub fn refuse(&mut self, refusal: &CommandRefusal, out: &mut Vec<Effect>) -> Outcome {
        let ev = self.events.get_mut(&refusal.event_id);
        if let Some(o) = ev
            .as_ref()
            .and_then(|ev| ev.recent.get(&refusal.request_id))
        {
            return o.clone();
        }
        let outcome = admin::field_refusal(&refusal.error);
        if let Some(ev) = ev {
            ev.recent.insert(refusal.request_id, outcome.clone());
        }
        out.push(Effect::Result(Box::new(CommandResult::new(
            refusal.request_id,
            refusal.event_id,
            refusal.ticket_id,
            refusal.kind.unwrap_or(UNDECODED_KIND),
            None,
            outcome.clone(),
        ))));
        outcome
    }
}

/// `CommandResult::kind` of a refused command whose `type` is not a known one.
pub const UNDECODED_KIND: &str = "undecoded";

/// Decides a command for an existing event. Returns the outcome and the idempotency key
/// the request established (to store with its result).
fn decide<R: RngCore + ?Sized>(
    ev: &mut EventState,
    env: &Envelope,
    now: DateTime<Utc>,
    rng: &mut R,
    out: &mut Vec<Effect>,
) -> (Outcome, Option<Idempotency>) {
    let accepted = env.sent_at.min(now);
    match &env.command {
        Command::CreateEvent { .. } => (
            Outcome::rejected(
                ErrorCode::InvalidField,
                "an event with this id already exists",
            ),
            None,
        ),
        Command::UpdateEvent { patch } => (admin::update(ev, patch, now, out), None),
        Command::Hold {
            ticket_id,
            selection,
            idempotency,
            user_ref,
        } => keyed(ev, *ticket_id, idempotency.as_ref(), |ev| {
            let user_ref = user_ref.as_ref().map(|u| u.as_str());
            reserve::hold(ev, *ticket_id, selection, user_ref, now, rng, out)
        }),
        Command::Confirm {
            ticket_id,
            hold_id,
            payment_ref,
            idempotency,
            by,
        } => keyed(ev, *ticket_id, idempotency.as_ref(), |ev| {
            let at = reserve::At { accepted, now };
            reserve::confirm(ev, *ticket_id, *hold_id, payment_ref, *by, at, rng, out)
        }),
        Command::CancelOrder {
            ticket_id,
            order_id,
            reason,
            idempotency,
        } => keyed(ev, *ticket_id, idempotency.as_ref(), |ev| {
            let reason = reason.as_ref().map(|r| r.as_str());
            orders::cancel(ev, *ticket_id, *order_id, reason, now, out)
        }),
        Command::Release { ticket_id, hold_id } => {
            let at = reserve::At { accepted, now };
            (reserve::release(ev, *ticket_id, *hold_id, at, out), None)
        }
    }
}

/// Most idempotency keys one ticket may have remembered per event. Each hold or confirm
/// attempt of a pass takes one key (retries reuse it); a pass buys once and holds at most
/// `max_seats_per_hold` seats at a time, so even a contested on-sale with a dozen tries
/// stays well under 64. The cap bounds what one pass can make the engine (and
/// `request_results`) keep: 64 × (key ≤ 255 B + fingerprint 64 B + outcome) ≈ 40 KiB.
///
/// Beyond it a new key is refused (`422 invalid_field`) rather than the oldest
/// forgotten: forgetting would let a retry of that key apply a second time, and the
/// refusal costs an honest client nothing but the key (it may send without one).
pub(crate) const KEYS_PER_TICKET: usize = 64;

/// Idempotency (per event, ticket and key): the same key with the same fingerprint gets
/// the first outcome again; with another fingerprint `422 idempotency_key_reused`;
/// a new key runs `decide` and remembers its outcome, unless the ticket already has
/// [`KEYS_PER_TICKET`] keys (`422 invalid_field`, nothing decided).
fn keyed(
    ev: &mut EventState,
    ticket: TicketId,
    idempotency: Option<&Idempotency>,
    decide: impl FnOnce(&mut EventState) -> Outcome,
) -> (Outcome, Option<Idempotency>) {
    let Some(idem) = idempotency else {
        return (decide(ev), None);
    };
    if let Some(first) = ev.keyed.get(&ticket).and_then(|m| m.get(idem.key.as_str())) {
        let outcome = if first.fingerprint == idem.fingerprint.as_str() {
            first.outcome.clone()
        } else {
            Outcome::rejected(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different request (method, path or body)",
            )
        };
        return (outcome, None);
    }
    if ev.keyed.get(&ticket).map_or(0, HashMap::len) >= KEYS_PER_TICKET {
        let refusal = Outcome::Rejected(ErrorDetail {
            code: ErrorCode::InvalidField,
            message: format!(
                "Idempotency-Key: this pass has used its {KEYS_PER_TICKET} keys for this \
                 event; retry with one of them or send the request without a key"
            ),
            details: Some(serde_json::json!({
                "field": "Idempotency-Key", "max_keys": KEYS_PER_TICKET
            })),
        });
        return (refusal, None);
    }
    let outcome = decide(ev);
    ev.keyed.entry(ticket).or_default().insert(
        idem.key.to_string(),
        super::event::Keyed {
            fingerprint: idem.fingerprint.to_string(),
            outcome: outcome.clone(),
        },
    );
    (outcome, Some(idem.clone()))
}

/// A fresh UUIDv7 at `now` from `rng` (ids stay time-ordered and deterministic).
pub(crate) fn new_uuid<R: RngCore + ?Sized>(now: DateTime<Utc>, rng: &mut R) -> Uuid {
    let mut bytes = [0u8; 10];
    rng.fill_bytes(&mut bytes);
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
}
