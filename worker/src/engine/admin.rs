//! Admin commands: create an event, patch its configuration.
//!
//! The gateway validates first; the worker validates again because it is the writer
//! (a rejected spec is `422 invalid_field` with `details.fields: [{field, message}]`).
//! An event with a pre-queue gets a shuffle seed (32 random bytes, hex) and its
//! commitment (hex SHA-256 of the 32 seed bytes) at creation (docs/LOTTERY.md).

use super::effect::Effect;
use super::event::EventState;
use chrono::{DateTime, Utc};
use protocol::event::{EventConfig, EventPatch, EventSpec, FieldError};
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

/// Applies `patch` to `ev` (new `version`, `updated_at = now`) and emits
/// `EventUpdated`; an invalid patch changes nothing.
pub(crate) fn update(
    ev: &mut EventState,
    patch: &EventPatch,
    now: DateTime<Utc>,
    out: &mut Vec<Effect>,
) -> Outcome {
    if let Err(errors) = patch.validate() {
        return invalid(errors);
    }
    let c = &mut ev.config;
    if let Some(a) = &patch.admission {
        c.spec.admission = a.clone();
    }
    if let Some(s) = patch.state {
        c.admin_state = s;
    }
    if let Some(t) = patch.hold_ttl_seconds {
        c.spec.hold_ttl_seconds = t;
    }
    if let Some(required) = patch.require_identity {
        c.spec.require_identity = required;
    }
    if let Some(checkout) = &patch.checkout {
        c.spec.checkout = checkout.clone();
    }
    c.version += 1;
    c.updated_at = now;
    out.push(Effect::EventUpdated(Box::new(c.clone())));
    Outcome::EventUpdated(Box::new(c.clone()))
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
