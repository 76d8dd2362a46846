//! One place per identity: the ticketing site may vouch for who is joining, and then a
//! user holds at most one place per event.
//!
//! The join body may carry `{"user_ref": "...", "user_exp": 1764590400, "user_sig":
//! "<hex>"}` where
//! `user_sig = hex(HMAC-SHA256(key = identity_secret, message = user_ref ‖ event_id ‖ "@" ‖ user_exp))`:
//! the UTF-8 bytes of `user_ref`, the event id as a lowercase hyphenated UUID (36
//! characters), `@`, and `user_exp` in decimal (Unix seconds, no sign or leading zeros).
//! The event id has a fixed length and contains no `@`, so the message is unambiguous
//! and never equals one of the form without expiry. The site signs with the secret it
//! shares with the gateway (`ANTEROOM_IDENTITY_SECRET`) for a short time (minutes: the
//! page that sends the fan to the queue); a fan cannot mint a reference for someone
//! else, reuse one across events, or keep one beyond `user_exp`.
//!
//! The form without expiry, `HMAC(user_ref ‖ event_id)` and no `user_exp`, is still
//! accepted for events that do not require identity; an event with `require_identity`
//! accepts only the form with expiry.
//!
//! - No body, an empty body or `{}`: an anonymous join, unless the event requires
//!   identity: then `403 forbidden` (the message says a signed user reference is needed).
//! - A valid signature: the first join creates a ticket (`201`); every later join of the
//!   same user for the same event returns the same ticket and place (`200`, a fresh
//!   queue token) while that ticket waits or holds a live pass. A user who left, was
//!   skipped as abandoned or whose pass expired gets a new ticket at the back.
//! - A missing or wrong signature, a `user_exp` in the past, or (for an event that
//!   requires identity) a signature without `user_exp`: `401 unauthorized`. A user
//!   reference while no identity secret is configured: `422 invalid_field` (fail loudly,
//!   not silently without the guarantee).
//!
//! Redis: `{ns}:{E}:user:{h}` → `"<ticket>|<claimed ms>"`, where `h` is a keyed hash of
//! the reference (hex of the first 16 bytes of HMAC-SHA256(identity_secret,
//! "anteroom-user\0" ‖ user_ref)), so references (often e-mail addresses) are not stored
//! in the clear. `identity/claim.lua` reads or sets it atomically before the join, and
//! the join then runs with that exact ticket id, so two concurrent joins of one user
//! still end on one ticket. A fresh claim is marked joined afterwards, so that a claim
//! whose ticket record is missing is "in flight" only for the first moments (a
//! concurrent join of the same user), never after the fan left.

use crate::adapters::redis_store::StoreError;
use crate::queue::{JoinOutcome, Queue};
use hmac::{Hmac, Mac};
use protocol::ids::{EventId, TicketId};
use protocol::text::UserRef;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;
use utoipa::ToSchema;

type HmacSha256 = Hmac<Sha256>;

/// Longest accepted `user_ref`, in characters.
pub const MAX_USER_REF_CHARS: usize = UserRef::MAX_CHARS;

/// How long a claim whose ticket has no record yet counts as a join in flight, in ms.
const IN_FLIGHT_GRACE_MS: u64 = 10_000;

/// Optional body of `POST /v1/events/{event_id}/queue`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The ticketing site's reference of the user (1–256 characters, opaque).
    pub user_ref: Option<UserRef>,
    /// Until when the signature is valid, Unix seconds (required by events with
    /// `require_identity`).
    pub user_exp: Option<i64>,
    /// Hex HMAC-SHA256 of `user_ref ‖ event_id ‖ "@" ‖ user_exp` (or, without
    /// `user_exp`, of `user_ref ‖ event_id`) with the shared identity secret.
    pub user_sig: Option<String>,
}

/// A user reference whose signature checked out, as its keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    hash: String,
    /// The reference itself (already checked as a `UserRef`: no control characters),
    /// carried by the queue token and the pass to the holds, for the venue's server.
    pub user_ref: String,
    /// Whether the signature carried an expiry (`user_exp`), which events with
    /// `require_identity` insist on.
    pub expiring: bool,
}

/// Marks a claim as joined: `"T|<claimed ms>"` → `"T|0"` if it still names ticket
/// ARGV[1], so a later claim that finds no record (the fan left) knows the ticket is
/// gone, not in flight.
const CONFIRM_LUA: &str = r"
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  redis.call('SET', KEYS[1], ARGV[1] .. '|0', 'KEEPTTL')
  return 1
end
return 0
";

/// Why a join's user reference was refused.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// `user_ref` is empty or too long; the string is the message for the fan.
    #[error("invalid field: {0}")]
    InvalidUserRef(String),
    /// The signature is missing, not hex or wrong, `user_exp` has passed, or an event
    /// that requires identity got a signature without `user_exp`; the string names the
    /// check, for logs only.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// An anonymous join of an event that requires identity; the string says why, for
    /// the fan ([`IDENTITY_REQUIRED`]).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
}

/// The identity secret and what it does.
pub struct Identity {
    secret: SecretString,
    claim: redis::Script,
    confirm: redis::Script,
}

impl Identity {
    /// `None` when no secret is configured (identity off).
    pub fn new(secret: &SecretString) -> Option<Self> {
        (!secret.expose_secret().is_empty()).then(|| Self {
            secret: secret.clone(),
            claim: redis::Script::new(include_str!("identity/claim.lua")),
            confirm: redis::Script::new(CONFIRM_LUA),
        })
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length")
    }

    /// The signature the ticketing site sends for `user_ref` joining `event` without
    /// an expiry (hex): accepted only by events that do not require identity.
    pub fn sign(&self, user_ref: &str, event: &EventId) -> String {
        hex::encode(self.message(user_ref, event, None).finalize().into_bytes())
    }

    /// The signature the ticketing site sends for `user_ref` joining `event`, valid
    /// until `exp` (Unix seconds; hex).
    pub fn sign_until(&self, user_ref: &str, event: &EventId, exp: i64) -> String {
        hex::encode(
            self.message(user_ref, event, Some(exp))
                .finalize()
                .into_bytes(),
        )
    }

    /// The MAC over `user_ref ‖ event_id`, then `"@" ‖ exp` when given (module doc).
    fn message(&self, user_ref: &str, event: &EventId, exp: Option<i64>) -> HmacSha256 {
        let mut mac = self.mac();
        mac.update(user_ref.as_bytes());
        mac.update(event.to_string().as_bytes());
        if let Some(exp) = exp {
            mac.update(b"@");
            mac.update(exp.to_string().as_bytes());
        }
        mac
    }

    /// Checks `user_sig` for `user_ref`, `event` and `user_exp` (if given, it must be
    /// after `now`, Unix seconds) in constant time.
    ///
    /// # Errors
    /// [`IdentityError::InvalidUserRef`] if `user_ref` is empty or too long;
    /// [`IdentityError::Unauthorized`] if the signature is missing, not
    /// hex or wrong, or `user_exp` has passed.
    pub fn verify(
        &self,
        event: &EventId,
        user_ref: &str,
        user_exp: Option<i64>,
        user_sig: Option<&str>,
        now: i64,
    ) -> Result<VerifiedUser, IdentityError> {
        let n = user_ref.chars().count();
        if n == 0 || n > MAX_USER_REF_CHARS {
            return Err(IdentityError::InvalidUserRef(format!(
                "user_ref must be 1 to {MAX_USER_REF_CHARS} characters"
            )));
        }
        let sig = user_sig
            .and_then(|s| hex::decode(s.trim()).ok())
            .ok_or(IdentityError::Unauthorized("user signature"))?;
        self.message(user_ref, event, user_exp)
            .verify_slice(&sig)
            .map_err(|_| IdentityError::Unauthorized("user signature"))?;
        if user_exp.is_some_and(|exp| exp <= now) {
            return Err(IdentityError::Unauthorized("user signature expired"));
        }
        let mut key = self.mac();
        key.update(b"anteroom-user\0");
        key.update(user_ref.as_bytes());
        Ok(VerifiedUser {
            hash: hex::encode(&key.finalize().into_bytes()[..16]),
            user_ref: user_ref.to_owned(),
            expiring: user_exp.is_some(),
        })
    }

    fn user_key(queue: &Queue, event: &EventId, user: &VerifiedUser) -> String {
        format!(
            "{}:user:{}",
            queue.event_keys().event_base(event),
            user.hash
        )
    }

    /// The ticket `user` joins `event` with: `(false, current)` if their current one is
    /// still live (or being joined), else `(true, fresh)`, which the mapping now names.
    /// One Redis call.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable.
    #[tracing::instrument(skip_all, fields(event_id = %event))]
    pub async fn claim(
        &self,
        queue: &Queue,
        event: &EventId,
        user: &VerifiedUser,
        fresh: TicketId,
    ) -> Result<(bool, TicketId), StoreError> {
        let key = Self::user_key(queue, event, user);
        let ttl = queue.ticket_ttl_seconds();
        let args = [
            queue.keys(event).ticket_prefix(),
            fresh.to_string(),
            ttl.to_string(),
            IN_FLIGHT_GRACE_MS.to_string(),
        ];
        let (created, ticket): (u8, String) =
            queue.redis().script(&self.claim, &[key], &args).await?;
        let ticket = ticket
            .parse()
            .map_err(|e| StoreError::internal(format!("claim.lua ticket id: {e}")))?;
        Ok((created == 1, ticket))
    }

    /// Records that `ticket`, claimed by `user`, now exists (one Redis call).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if Redis is unavailable.
    pub async fn confirm(
        &self,
        queue: &Queue,
        event: &EventId,
        user: &VerifiedUser,
        ticket: TicketId,
    ) -> Result<(), StoreError> {
        let key = Self::user_key(queue, event, user);
        let _: u8 = queue
            .redis()
            .script(&self.confirm, &[key], &[ticket.to_string()])
            .await?;
        Ok(())
    }
}

/// Joins `event` as `user`: [`Identity::claim`], then the queue's join with that exact
/// ticket id (kept if live, created once if not), then, for a new claim,
/// [`Identity::confirm`]. Two Redis calls for a returning user, three for a new one.
///
/// # Errors
/// [`StoreError::Unavailable`] if Redis is unavailable.
pub async fn join_as(
    identity: &Identity,
    queue: &Queue,
    event: &EventId,
    prequeue: bool,
    user: &VerifiedUser,
) -> Result<JoinOutcome, StoreError> {
    let (claimed, ticket) = identity.claim(queue, event, user, TicketId::new()).await?;
    let joined = queue
        .join_with(event, prequeue, Some(ticket), ticket)
        .await?;
    if claimed {
        identity.confirm(queue, event, user, ticket).await?;
    }
    Ok(joined)
}

/// Message of the `403` for an anonymous join of an event that requires identity.
pub const IDENTITY_REQUIRED: &str = "this event requires a user reference signed by the ticketing \
     site (user_ref, user_exp, user_sig); join through the ticketing site";

/// Checks a join's identity against the event's `require_identity`.
///
/// # Errors
/// [`IdentityError::Forbidden`] for an anonymous join of an event that requires identity;
/// [`IdentityError::Unauthorized`] for a signature without expiry there.
pub fn check_required(required: bool, user: Option<&VerifiedUser>) -> Result<(), IdentityError> {
    match (required, user) {
        (false, _) => Ok(()),
        (true, None) => Err(IdentityError::Forbidden(IDENTITY_REQUIRED)),
        (true, Some(u)) if !u.expiring => Err(IdentityError::Unauthorized("user_exp required")),
        (true, Some(_)) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity::new(&SecretString::from("k".repeat(32))).unwrap()
    }

    /// `verify` at Unix second 1000, without expiry.
    fn check(
        id: &Identity,
        event: &EventId,
        user: &str,
        sig: Option<&str>,
    ) -> Result<VerifiedUser, IdentityError> {
        id.verify(event, user, None, sig, 1000)
    }

    #[test]
    fn off_without_a_secret() {
        assert!(Identity::new(&SecretString::from(String::new())).is_none());
    }

    #[test]
    fn signature_is_hmac_of_ref_then_event_id() {
        let id = identity();
        let event: EventId = "0190a8f2-1c3b-7def-8a00-0000000000aa".parse().unwrap();
        // Independent computation of the documented construction.
        let mut mac = HmacSha256::new_from_slice(&[b'k'; 32]).unwrap();
        mac.update(b"user-42");
        mac.update(b"0190a8f2-1c3b-7def-8a00-0000000000aa");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(id.sign("user-42", &event), expected);
        let user = check(&id, &event, "user-42", Some(&expected)).unwrap();
        assert!(!user.expiring);
        // Uppercase hex is the same signature.
        assert_eq!(
            check(&id, &event, "user-42", Some(&expected.to_uppercase())).unwrap(),
            user
        );
    }

    #[test]
    fn expiring_signature_covers_the_expiry_and_ends_with_it() {
        let id = identity();
        let event: EventId = "0190a8f2-1c3b-7def-8a00-0000000000aa".parse().unwrap();
        // Independent computation: ref ‖ event id ‖ "@" ‖ decimal expiry.
        let mut mac = HmacSha256::new_from_slice(&[b'k'; 32]).unwrap();
        mac.update(b"user-42");
        mac.update(b"0190a8f2-1c3b-7def-8a00-0000000000aa@2000");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(id.sign_until("user-42", &event, 2000), expected);
        let user = id
            .verify(&event, "user-42", Some(2000), Some(&expected), 1999)
            .unwrap();
        assert!(user.expiring);
        let unauthorized = |r: Result<VerifiedUser, IdentityError>| {
            matches!(r, Err(IdentityError::Unauthorized(_)))
        };
        // At or after the expiry; another expiry; the expiring signature without one.
        assert!(unauthorized(id.verify(
            &event,
            "user-42",
            Some(2000),
            Some(&expected),
            2000
        )));
        assert!(unauthorized(id.verify(
            &event,
            "user-42",
            Some(3000),
            Some(&expected),
            1999
        )));
        assert!(unauthorized(check(&id, &event, "user-42", Some(&expected))));
        // A signature without expiry does not pass as one with an expiry.
        let plain = id.sign("user-42", &event);
        assert!(unauthorized(id.verify(
            &event,
            "user-42",
            Some(2000),
            Some(&plain),
            1999
        )));
    }

    #[test]
    fn required_identity_refuses_anonymous_and_non_expiring_joins() {
        let id = identity();
        let event = EventId::new();
        let plain = check(&id, &event, "u", Some(&id.sign("u", &event))).unwrap();
        let expiring = id
            .verify(
                &event,
                "u",
                Some(2000),
                Some(&id.sign_until("u", &event, 2000)),
                1000,
            )
            .unwrap();
        assert!(check_required(false, None).is_ok());
        assert!(check_required(false, Some(&plain)).is_ok());
        assert!(matches!(
            check_required(true, None),
            Err(IdentityError::Forbidden(_))
        ));
        assert!(matches!(
            check_required(true, Some(&plain)),
            Err(IdentityError::Unauthorized(_))
        ));
        assert!(check_required(true, Some(&expiring)).is_ok());
    }

    #[test]
    fn wrong_missing_or_foreign_signatures_are_401() {
        let id = identity();
        let event = EventId::new();
        let other = EventId::new();
        let sig = id.sign("alice", &event);
        let unauthorized = |r: Result<VerifiedUser, IdentityError>| {
            matches!(r, Err(IdentityError::Unauthorized(_)))
        };
        assert!(unauthorized(check(&id, &event, "alice", None)));
        assert!(unauthorized(check(&id, &event, "alice", Some("zz"))));
        assert!(unauthorized(check(&id, &event, "mallory", Some(&sig))));
        assert!(unauthorized(check(&id, &other, "alice", Some(&sig))));
        let forged = Identity::new(&SecretString::from("x".repeat(32))).unwrap();
        assert!(unauthorized(check(
            &id,
            &event,
            "alice",
            Some(&forged.sign("alice", &event))
        )));
        assert!(matches!(
            check(&id, &event, "", Some(&sig)),
            Err(IdentityError::InvalidUserRef(_))
        ));
    }

    #[test]
    fn user_hash_is_keyed_and_hides_the_reference() {
        let id = identity();
        let event = EventId::new();
        let user = check(
            &id,
            &event,
            "alice@example.org",
            Some(&id.sign("alice@example.org", &event)),
        )
        .unwrap();
        assert_eq!(user.hash.len(), 32);
        assert!(!user.hash.contains("alice"));
        // The same user in another event maps to the same hash (keys are per event).
        let other = EventId::new();
        let again = check(
            &id,
            &other,
            "alice@example.org",
            Some(&id.sign("alice@example.org", &other)),
        )
        .unwrap();
        assert_eq!(user, again);
    }
}
