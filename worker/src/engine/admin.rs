//! Admin commands: create an event, merge a patch into its configuration.
//!
//! The gateway validates first; the worker validates again because it is the writer
//! (a rejected spec is `422 invalid_field` with `details.fields: [{field, message}]`).
//! An event with a pre-queue gets a shuffle seed (32 random bytes, hex) and its
//! commitment (hex SHA-256 of the 32 seed bytes) at creation (docs/LOTTERY.md).

use super::effect::Effect;
use super::event::EventState;
use chrono::{DateTime, Utc};
use protocol::event::{AdminState, EventConfig, EventPatch, EventSpec, FieldError};
use protocol::ids::EventId;
use protocol::reply::{ErrorCode, ErrorDetail, Outcome};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Builds the state of a new event, or the rejection of an invalid spec.
pub(crate) fn create<R: RngCore + ?Sized>(
    id: EventId,
    spec: &EventSpec,
    now: DateTime<Utc>,
    rng: &mut R,
) -> Result<EventState, Outcome> {
    spec.validate().map_err(invalid)?;
    let (shuffle_seed, shuffle_commitment) = if spec.prequeue_opens_at.is_some() {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        (
            Some(hex::encode(seed)),
            Some(hex::encode(Sha256::digest(seed))),
        )
    } else {
        (None, None)
    };
    let config = EventConfig {
        id,
        spec: spec.clone(),
        admin_state: Default::default(),
        shuffle_commitment,
        shuffle_seed,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    Ok(EventState::new(config))
}

/// Merges `patch` into `ev` (new `version`, `updated_at = now`) and emits
/// `EventUpdated`; a patch that is invalid, or whose merged result is, changes nothing.
///
/// Judged here, by the writer, whatever the gateway checked: the merged spec must be
/// one that could have been created; a postponement goes by this worker's clock
/// (`EventPatch::check_schedule`); `archived` is reached only from `closed` or from a
/// sold-out event with no active hold, and is final (asking for it again changes
/// nothing and answers the event as it is); `currency` changes only before the first
/// hold, since holds and orders count its minor unit.
pub(crate) fn update(
    ev: &mut EventState,
    patch: &EventPatch,
    now: DateTime<Utc>,
    out: &mut Vec<Effect>,
) -> Outcome {
    if let Err(errors) = patch.validate() {
        return invalid(errors);
    }
    let c = &ev.config;
    if c.is_archived() {
        if *patch == archive_only() {
            return Outcome::EventUpdated(Box::new(c.clone()));
        }
        return invalid(vec![FieldError {
            field: "state".into(),
            message: "the event is archived and can no longer change".into(),
        }]);
    }
    let mut errors = patch.check_schedule(&c.spec, now);
    if patch.state == Some(AdminState::Archived) && !may_archive(ev) {
        errors.push(FieldError {
            field: "state".into(),
            message: "only a closed event, or a sold-out one with no active hold, can be archived"
                .into(),
        });
    }
    if patch
        .currency
        .as_ref()
        .is_some_and(|cur| *cur != c.spec.currency)
        && !before_first_hold(ev)
    {
        errors.push(FieldError {
            field: "currency".into(),
            message: "can change only before the event's first hold".into(),
        });
    }
    let spec = patch.merged(&c.spec);
    if let Err(more) = spec.validate() {
        errors.extend(more);
    }
    if !errors.is_empty() {
        return invalid(errors);
    }
    let c = &mut ev.config;
    c.spec = spec;
    if let Some(s) = patch.state {
        c.admin_state = s;
    }
    c.version += 1;
    c.updated_at = now;
    out.push(Effect::EventUpdated(Box::new(c.clone())));
    Outcome::EventUpdated(Box::new(c.clone()))
}

/// `{"state": "archived"}` and nothing else.
fn archive_only() -> EventPatch {
    EventPatch {
        state: Some(AdminState::Archived),
        ..EventPatch::default()
    }
}

/// Closed, or nothing left to sell and nothing held.
fn may_archive(ev: &EventState) -> bool {
    let counts = ev.counts();
    ev.config.admin_state == AdminState::Closed
        || (counts.available == 0 && counts.holds_active == 0)
}

/// No hold was ever made (none in memory) and nothing is sold.
fn before_first_hold(ev: &EventState) -> bool {
    let counts = ev.counts();
    ev.holds.is_empty() && counts.orders == 0 && counts.sold == 0 && counts.held == 0
}

/// `422 invalid_field` for one field that could not be decoded: the message starts
/// with the field's path (`payment_ref: must not contain control characters ...`),
/// `details.field` is the path and `details.fields` lists it as [`invalid`] does.
pub(crate) fn field_refusal(e: &FieldError) -> Outcome {
    let message = if e.field.is_empty() {
        e.message.clone()
    } else {
        e.to_string()
    };
    Outcome::Rejected(ErrorDetail {
        code: ErrorCode::InvalidField,
        message,
        details: Some(serde_json::json!({
            "field": e.field,
            "fields": [{"field": e.field, "message": e.message}],
        })),
    })
}

/// `422 invalid_field` listing every field error.
fn invalid(errors: Vec<FieldError>) -> Outcome {
    let fields: Vec<serde_json::Value> = errors
        .iter()
        .map(|e| serde_json::json!({"field": e.field, "message": e.message}))
        .collect();
    let message = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    Outcome::Rejected(ErrorDetail {
        code: ErrorCode::InvalidField,
        message,
        details: Some(serde_json::json!({ "fields": fields })),
    })
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
