//! `PATCH /v1/admin/events/{id}`: a merge into the event's spec.
//!
//! Every field is optional, and so is every field of `admission` and `checkout`: what is
//! absent keeps its value. `gate` is replaced whole, and `"gate": null` removes it. The
//! worker merges the patch into the spec it owns ([`EventPatch::merged`]) and validates
//! the result as a whole ([`EventSpec::validate`]),
//! so `{"admission": {"rate_per_minute": 60000}}` alone is a complete request and a patch
//! can never leave an event that could not have been created.
//!
//! Moving `opens_at` or `prequeue_opens_at` (a postponement) is checked against a clock
//! ([`EventPatch::check_schedule`]): the gateway with its own for an early answer, the
//! worker again with its own, which decides.

use super::gate::absent_null_or;
use super::{
    check_max_active, check_pass_ttl, check_rate, err, limits, AdminState, CheckoutMode, EventSpec,
    FieldError, Gate,
};
use crate::text::{CheckoutUrl, CurrencyCode};
use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How far ahead `opens_at` or `prequeue_opens_at` must still be for a PATCH to move
/// it, in seconds. Gateway replicas read the configuration a moment late; a replica
/// that saw the old time pass would freeze the pre-queue and reveal the shuffle seed
/// (docs/LOTTERY.md), so a time that is about to pass can no longer move.
pub const RESCHEDULE_NOTICE_SECONDS: i64 = 10;

/// Admission settings of a PATCH: any subset of the three.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AdmissionPatch {
    /// New outflow rate, fans per minute (1–1,000,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_minute: Option<u32>,
    /// New cap on admitted fans with a live pass (from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active: Option<u32>,
    /// New pass lifetime in seconds (30–86,400; applies to passes issued afterwards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_ttl_seconds: Option<u32>,
}

/// Checkout settings of a PATCH: either field or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CheckoutPatch {
    /// New checkout mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<CheckoutMode>,
    /// New payment page URL (required, after the merge, in `origin` mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "https://shop.example.com/pay")]
    pub url: Option<CheckoutUrl>,
}

/// Body of `PATCH /v1/admin/events/{id}`: any subset of these, merged into the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EventPatch {
    /// Admission settings to change (any of the three fields).
    #[serde(default)]
    pub admission: Option<AdmissionPatch>,
    /// New venue state. `archived` only from `closed`, or once sold out with no active
    /// hold; an archived event accepts no further change.
    #[serde(default)]
    pub state: Option<AdminState>,
    /// New hold lifetime in seconds (applies to holds made afterwards).
    #[serde(default)]
    pub hold_ttl_seconds: Option<u32>,
    /// Require (or stop requiring) a signed user reference to join (applies to joins
    /// made afterwards).
    #[serde(default)]
    pub require_identity: Option<bool>,
    /// Checkout settings to change (applies to confirms accepted afterwards).
    #[serde(default)]
    pub checkout: Option<CheckoutPatch>,
    /// Postpone (or advance) the opening: RFC 3339 with offset, in the future; only
    /// while the current `opens_at` is at least [`RESCHEDULE_NOTICE_SECONDS`] away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opens_at: Option<DateTime<FixedOffset>>,
    /// Move the pre-queue start of an event that has one: same rules as `opens_at`,
    /// and it must stay before `opens_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub prequeue_opens_at: Option<DateTime<FixedOffset>>,
    /// New ISO 4217 currency of the prices; only before the event's first hold (the
    /// worker checks), since holds and orders count the currency's minor unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "KRW")]
    pub currency: Option<CurrencyCode>,
    /// Gate mode: an object replaces the whole gate, `null` removes it (the event is no
    /// longer gated); absent keeps it.
    #[serde(
        default,
        deserialize_with = "absent_null_or",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Gate>)]
    pub gate: Option<Option<Gate>>,
}

impl EventPatch {
    /// Validates the ranges of the fields given, without the event; `Err` lists every
    /// problem. The merged result is validated again by [`EventSpec::validate`].
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(a) = &self.admission {
            if a == &AdmissionPatch::default() {
                errors.push(err(
                    "admission",
                    "give rate_per_minute, max_active or pass_ttl_seconds",
                ));
            }
            if let Some(v) = a.rate_per_minute {
                check_rate(v, &mut errors);
            }
            if let Some(v) = a.max_active {
                check_max_active(v, &mut errors);
            }
            if let Some(v) = a.pass_ttl_seconds {
                check_pass_ttl(v, &mut errors);
            }
        }
        if self.checkout.as_ref() == Some(&CheckoutPatch::default()) {
            errors.push(err("checkout", "give mode or url"));
        }
        if let Some(t) = self.hold_ttl_seconds {
            if !(10..=limits::MAX_HOLD_TTL_SECONDS).contains(&t) {
                errors.push(err("hold_ttl_seconds", "must be between 10 and 3600"));
            }
        }
        if let (Some(pq), Some(open)) = (self.prequeue_opens_at, self.opens_at) {
            if pq >= open {
                errors.push(err("prequeue_opens_at", "must be before opens_at"));
            }
        }
        if self == &EventPatch::default() {
            errors.push(err(
                "",
                "nothing to change: give admission, state, hold_ttl_seconds, require_identity, \
                 checkout, opens_at, prequeue_opens_at, currency or gate",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// `spec` with the fields of this patch merged in (not validated: call
    /// [`EventSpec::validate`] on the result).
    pub fn merged(&self, spec: &EventSpec) -> EventSpec {
        let mut s = spec.clone();
        if let Some(a) = &self.admission {
            let cur = &mut s.admission;
            cur.rate_per_minute = a.rate_per_minute.unwrap_or(cur.rate_per_minute);
            cur.max_active = a.max_active.unwrap_or(cur.max_active);
            cur.pass_ttl_seconds = a.pass_ttl_seconds.unwrap_or(cur.pass_ttl_seconds);
        }
        if let Some(c) = &self.checkout {
            if let Some(mode) = c.mode {
                s.checkout.mode = mode;
            }
            if let Some(url) = &c.url {
                s.checkout.url = Some(url.clone());
            }
        }
        if let Some(t) = self.hold_ttl_seconds {
            s.hold_ttl_seconds = t;
        }
        if let Some(required) = self.require_identity {
            s.require_identity = required;
        }
        if let Some(at) = self.opens_at {
            s.opens_at = at;
        }
        if self.prequeue_opens_at.is_some() {
            s.prequeue_opens_at = self.prequeue_opens_at;
        }
        if let Some(currency) = &self.currency {
            s.currency = currency.clone();
        }
        if let Some(gate) = &self.gate {
            s.gate.clone_from(gate);
        }
        s
    }

    /// Checks a postponement against `current` at `now`: a time that changes must still
    /// be at least [`RESCHEDULE_NOTICE_SECONDS`] away and its new value in the future;
    /// an event without a pre-queue cannot get one (its shuffle commitment is made at
    /// creation). A time given unchanged is not checked, so a retried PATCH passes.
    pub fn check_schedule(&self, current: &EventSpec, now: DateTime<Utc>) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let notice = now + Duration::seconds(RESCHEDULE_NOTICE_SECONDS);
        let mut check = |field: &str, old: DateTime<FixedOffset>, new: DateTime<FixedOffset>| {
            if old == new {
                return;
            }
            if old <= notice {
                errors.push(err(
                    field,
                    format!(
                        "can no longer move: it has passed or is less than \
                         {RESCHEDULE_NOTICE_SECONDS} s away"
                    ),
                ));
            } else if new <= now {
                errors.push(err(field, "must be in the future"));
            }
        };
        if let Some(new) = self.opens_at {
            check("opens_at", current.opens_at, new);
        }
        match (self.prequeue_opens_at, current.prequeue_opens_at) {
            (Some(new), Some(old)) => check("prequeue_opens_at", old, new),
            (Some(_), None) => errors.push(err(
                "prequeue_opens_at",
                "this event has no pre-queue; one can only be set at creation",
            )),
            (None, _) => {}
        }
        errors
    }
}

#[cfg(test)]
#[path = "patch_tests.rs"]
mod tests;
