//! Hold tokens: what the fan page hands to the venue's payment page in origin checkout.
//!
//! An EdDSA JWT signed with the current pass key, so the venue verifies it with the
//! same JWKS (`/.well-known/jwks.json`) it may already use for passes, offline, without
//! a secret shared with Anteroom. Claims [`HoldClaims`]: `sub` the hold, `aud` the
//! event, `ticket_id`, `kind: "hold"`, and an `exp` of at most [`HOLD_TOKEN_TTL_SECONDS`]
//! that never outlives the hold.
//!
//! The token proves to the payment page which hold the fan came to pay for (the query
//! string alone could name any hold). It grants nothing at Anteroom: no route accepts
//! it as a credential, and the confirm itself is made by the venue's server with its
//! API key. Its distinct `kind` type keeps it from ever decoding as a pass, and a pass
//! from decoding as a hold token.

use super::{decode, TokenError, TokenKeys};
use jsonwebtoken::{Algorithm, Header};
use protocol::claims::{HoldClaims, HoldTokenKind};
use protocol::ids::{EventId, HoldId, TicketId};

/// Longest life of a hold token, in seconds: long enough to fill in a payment form,
/// short enough that a token copied from a browser history is soon worthless.
pub const HOLD_TOKEN_TTL_SECONDS: i64 = 15 * 60;

/// The expiry of a hold token issued at `now` for a hold that expires at
/// `hold_expires_at` (both Unix seconds): the earlier of the hold's end and
/// `now + HOLD_TOKEN_TTL_SECONDS`.
pub fn hold_token_expiry(now: i64, hold_expires_at: i64) -> i64 {
    hold_expires_at.min(now.saturating_add(HOLD_TOKEN_TTL_SECONDS))
}

impl TokenKeys {
    /// A hold token for `hold` of `ticket` in `event`, issued at `iat`, expiring at `exp`
    /// (Unix seconds; see [`hold_token_expiry`]), signed with the current pass key and
    /// its `kid`. Deterministic, like passes.
    ///
    /// # Errors
    /// `TokenError` if signing fails (a malformed key; prevented by validation).
    pub fn issue_hold(
        &self,
        event: &EventId,
        hold: HoldId,
        ticket: TicketId,
        iat: i64,
        exp: i64,
    ) -> Result<String, TokenError> {
        let claims = HoldClaims {
            sub: hold,
            aud: event.to_string(),
            ticket_id: ticket,
            iat,
            exp,
            kind: HoldTokenKind::Hold,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid().to_owned());
        jsonwebtoken::encode(&header, &claims, &self.pass_enc).map_err(|_| TokenError("signing"))
    }

    /// Verifies a hold token for `event` as a venue would: the key its `kid` names
    /// (current or previous pass key), `alg` pinned to EdDSA, `exp` required with no
    /// leeway, `kind: "hold"`, `aud` the event. Returns the claims.
    ///
    /// # Errors
    /// `TokenError` if forged, expired, not EdDSA, not a hold token or for another event.
    pub fn verify_hold(&self, token: &str, event: &EventId) -> Result<HoldClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError("malformed"))?;
        let key = self
            .pass_keys
            .iter()
            .find(|k| header.kid.as_deref() == Some(k.kid.as_str()))
            .ok_or(TokenError("unknown kid"))?;
        let claims: HoldClaims = decode(token, &key.dec, Algorithm::EdDSA)?;
        if claims.kind != HoldTokenKind::Hold {
            return Err(TokenError("not a hold token"));
        }
        let aud: EventId = claims
            .aud
            .parse()
            .map_err(|_| TokenError("malformed aud"))?;
        if aud != *event {
            return Err(TokenError("hold token for another event"));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn keys(seed: &str) -> TokenKeys {
        TokenKeys::new(
            &SecretString::from("q".repeat(32)),
            &SecretString::from(seed.to_owned()),
            3600,
        )
        .unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn expiry_is_the_earlier_of_the_hold_and_fifteen_minutes() {
        assert_eq!(hold_token_expiry(1_000, 1_300), 1_300);
        assert_eq!(hold_token_expiry(1_000, 1_000 + 3_600), 1_000 + 900);
        assert_eq!(hold_token_expiry(1_000, 1_900), 1_900);
    }

    #[test]
    fn a_hold_token_verifies_for_its_event_only() {
        let k = keys(&"11".repeat(32));
        let (event, hold, ticket) = (EventId::new(), HoldId::new(), TicketId::new());
        let t = k
            .issue_hold(&event, hold, ticket, now(), now() + 60)
            .unwrap();
        let header = jsonwebtoken::decode_header(&t).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(k.kid()));
        let c = k.verify_hold(&t, &event).unwrap();
        assert_eq!(
            (c.sub, c.ticket_id, c.aud),
            (hold, ticket, event.to_string())
        );
        assert!(k.verify_hold(&t, &EventId::new()).is_err());
    }

    #[test]
    fn expired_forged_and_foreign_tokens_are_refused() {
        let k = keys(&"11".repeat(32));
        let event = EventId::new();
        let old = k
            .issue_hold(
                &event,
                HoldId::new(),
                TicketId::new(),
                now() - 120,
                now() - 1,
            )
            .unwrap();
        assert!(k.verify_hold(&old, &event).is_err());
        // Signed by a key the JWKS does not publish, under our kid.
        let other = keys(&"22".repeat(32));
        let forged = other
            .issue_hold(&event, HoldId::new(), TicketId::new(), now(), now() + 60)
            .unwrap();
        let mut parts: Vec<&str> = forged.split('.').collect();
        let ours = k
            .issue_hold(&event, HoldId::new(), TicketId::new(), now(), now() + 60)
            .unwrap();
        let our_header = ours.split('.').next().unwrap().to_owned();
        parts[0] = &our_header;
        assert!(k.verify_hold(&parts.join("."), &event).is_err());
        // `alg: none`.
        let payload = forged.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(k.verify_hold(&none, &event).is_err());
    }

    #[test]
    fn passes_and_hold_tokens_are_not_interchangeable() {
        let k = keys(&"11".repeat(32));
        let event = EventId::new();
        let pass = k
            .issue_pass(&event, TicketId::new(), "j".into(), now(), now() + 60)
            .unwrap();
        assert!(k.verify_hold(&pass, &event).is_err());
        let hold = k
            .issue_hold(&event, HoldId::new(), TicketId::new(), now(), now() + 60)
            .unwrap();
        assert!(k.verify_pass(&hold, Some(&event)).is_err());
        assert!(k.verify_pass(&hold, None).is_err());
    }

    #[test]
    fn a_previous_key_still_verifies_the_hold_tokens_it_signed() {
        let (old_seed, new_seed) = ("11".repeat(32), "22".repeat(32));
        let old = keys(&old_seed);
        let event = EventId::new();
        let t = old
            .issue_hold(&event, HoldId::new(), TicketId::new(), now(), now() + 60)
            .unwrap();
        let rotated = keys(&new_seed)
            .with_previous_pass_keys(&SecretString::from(old_seed))
            .unwrap();
        assert!(rotated.verify_hold(&t, &event).is_ok());
        assert!(keys(&new_seed).verify_hold(&t, &event).is_err());
    }
}
