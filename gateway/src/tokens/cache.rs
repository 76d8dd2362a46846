//! A per-replica cache of verified queue tokens.
//!
//! A waiting fan polls with the same queue token every few seconds, and verifying it
//! (HMAC, base64, parsing the claims) is the largest part of a status poll's own CPU
//! time (callgrind, issue #4). The cache keeps the claims of tokens whose signature was
//! verified here, so a repeated token costs a hash of its signature segment and a
//! comparison of the whole token.
//!
//! - Only tokens that passed [`super::TokenKeys::verify_queue`]'s signature and expiry
//!   checks are cached (nobody can fill it without valid tokens); `exp` is checked again
//!   on every hit, and the caller checks `kind` and `aud` every time, as before.
//! - Keyed by the signature segment; a hit must match the whole token byte for byte, so a
//!   token with a valid signature and another payload is a miss (and then fails
//!   verification).
//! - Two generations of at most [`GENERATION`] tokens each: when the current one is full
//!   it becomes the previous one and the oldest is dropped. At most 2 × 32,768 tokens,
//!   about 20 MB. A replica serving more fans than that verifies the rest as before.
//! - Hashed with foldhash, not SipHash: a key is the signature of a token this replica
//!   verified, which nobody can choose without the secret.

use crate::FastHash;
use protocol::claims::QueueClaims;
use std::collections::HashMap;
use std::sync::Mutex;

/// Tokens per generation.
pub(crate) const GENERATION: usize = 32_768;

/// Verified queue tokens (see the module doc).
#[derive(Default)]
pub struct VerifiedTokens {
    generations: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<Box<str>, Entry, FastHash>,
    previous: HashMap<Box<str>, Entry, FastHash>,
}

struct Entry {
    token: Box<str>,
    claims: QueueClaims,
}

/// The signature segment of a JWT (after the last `.`), if any.
fn signature(token: &str) -> Option<&str> {
    token
        .rsplit_once('.')
        .map(|(_, s)| s)
        .filter(|s| !s.is_empty())
}

impl VerifiedTokens {
    /// The claims of `token` if it was verified here and has not expired at `now` (Unix
    /// seconds).
    pub fn get(&self, token: &str, now: i64) -> Option<QueueClaims> {
        let sig = signature(token)?;
        let generations = self.generations.lock().expect("token cache poisoned");
        let entry = generations
            .current
            .get(sig)
            .or_else(|| generations.previous.get(sig))?;
        (&*entry.token == token && entry.claims.exp >= now).then(|| entry.claims.clone())
    }

    /// Remembers `token`, whose signature and expiry were just verified, with its claims.
    pub fn insert(&self, token: &str, claims: &QueueClaims) {
        let Some(sig) = signature(token) else {
            return;
        };
        let mut generations = self.generations.lock().expect("token cache poisoned");
        if generations.current.len() >= GENERATION {
            generations.previous = std::mem::take(&mut generations.current);
        }
        generations.current.insert(
            sig.into(),
            Entry {
                token: token.into(),
                claims: claims.clone(),
            },
        );
    }

    /// Tokens held (both generations).
    pub fn len(&self) -> usize {
        let generations = self.generations.lock().expect("token cache poisoned");
        generations.current.len() + generations.previous.len()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::claims::TokenKind;
    use protocol::ids::TicketId;

    fn claims(exp: i64) -> QueueClaims {
        QueueClaims {
            sub: TicketId::new(),
            aud: "e".into(),
            seq: 1,
            iat: 0,
            exp,
            kind: TokenKind::Queue,
        }
    }

    #[test]
    fn a_hit_needs_the_whole_token_and_an_unexpired_exp() {
        let cache = VerifiedTokens::default();
        let c = claims(100);
        cache.insert("h.p.sig", &c);
        assert_eq!(cache.get("h.p.sig", 100), Some(c.clone()));
        // Same signature segment, another payload: a miss.
        assert_eq!(cache.get("h.other.sig", 100), None);
        assert_eq!(cache.get("h.p.sig", 101), None, "expired");
        assert_eq!(cache.get("h.p.nope", 0), None);
        assert_eq!(cache.get("no-dots", 0), None);
    }

    #[test]
    fn old_tokens_fall_out_after_two_generations() {
        let cache = VerifiedTokens::default();
        let c = claims(i64::MAX);
        cache.insert("h.p.first", &c);
        for i in 0..GENERATION {
            cache.insert(&format!("h.p.{i}"), &c);
        }
        // One generation later: still held (previous generation).
        assert!(cache.get("h.p.first", 0).is_some());
        for i in 0..GENERATION {
            cache.insert(&format!("h.q.{i}"), &c);
        }
        assert!(cache.get("h.p.first", 0).is_none());
        assert!(cache.len() <= 2 * GENERATION);
    }
}
