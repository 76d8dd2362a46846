//! A per-replica cache of verified tokens: queue tokens (status polls) and passes (gate
//! mode's check, asked on every request to the venue's shop).
//!
//! A waiting fan polls with the same queue token every few seconds, and verifying it
//! (HMAC, base64, parsing the claims) is the largest part of a status poll's own CPU
//! time (measured with callgrind). The cache keeps the claims of tokens whose signature was
//! verified here, so a repeated token costs a hash of its signature segment and a
//! comparison of the whole token.
//!
//! - Only tokens that fully passed [`super::TokenKeys::verify_queue`] (signature,
//!   expiry, `kind`, `aud`) are cached, with the event they were checked for (nobody can
//!   fill it without valid tokens). On a hit, `exp` is checked again and the event must be
//!   the request's.
//! - Keyed by a fingerprint of the signature segment (its first 8 bytes); a hit must match
//!   the whole token byte for byte, so a token with a valid signature and another payload
//!   is a miss (and then fails verification). Two tokens with the same fingerprint only
//!   take each other's place: a miss, and the token is verified in full.
//! - An entry is the token and what it proves (48 bytes for a queue token, a shared
//!   pointer to the claims for a pass), with no other allocation: a hit touches the
//!   table's slot and the token's bytes, and copies no string (per fan, the cache is
//!   memory the probe never touches). Passes are worth it most: an Ed25519 verification
//!   costs 40–70 µs where the look-up costs well under one.
//! - Two generations of at most [`GENERATION`] tokens each: when the current one is full
//!   it becomes the previous one and the oldest is dropped. At most 2 × 32,768 tokens,
//!   about 20 MB. A replica serving more fans than that verifies the rest in full.
//! - Hashed with foldhash, not SipHash: a key comes from the signature of a token this
//!   replica verified, which nobody can choose without the secret.

use super::QueuePlace;
use crate::FastHash;
use protocol::ids::EventId;
use std::collections::HashMap;
use std::sync::Mutex;

/// Tokens per generation.
pub(crate) const GENERATION: usize = 32_768;

/// Verified tokens (see the module doc); `P` is what one proves (a queue token's
/// [`QueuePlace`], a pass's shared claims).
pub struct VerifiedTokens<P = QueuePlace> {
    generations: Mutex<Generations<P>>,
}

impl<P> Default for VerifiedTokens<P> {
    fn default() -> Self {
        Self {
            generations: Mutex::new(Generations {
                current: HashMap::default(),
                previous: HashMap::default(),
            }),
        }
    }
}

struct Generations<P> {
    current: HashMap<u64, Entry<P>, FastHash>,
    previous: HashMap<u64, Entry<P>, FastHash>,
}

struct Entry<P> {
    token: Box<str>,
    verified: Verified<P>,
}

/// What a cached token was verified to prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified<P> {
    /// What it proves (a queue token's ticket and arrival number; a pass's claims).
    pub place: P,
    /// The event it was checked against (`aud`).
    pub event: EventId,
    /// Expires at, Unix seconds.
    pub exp: i64,
}

/// The key of a JWT: the first 8 bytes of its signature segment (after the last `.`),
/// if that segment has 8 bytes (an HS256 signature has 43).
fn fingerprint(token: &[u8]) -> Option<u64> {
    let dot = token.iter().rposition(|&b| b == b'.')?;
    let head: [u8; 8] = token.get(dot + 1..dot + 9)?.try_into().ok()?;
    Some(u64::from_le_bytes(head))
}

impl<P: Clone> VerifiedTokens<P> {
    /// What `token` proves, if it was verified here and has not expired at `now` (Unix
    /// seconds). The caller checks the event.
    pub(crate) fn get(&self, token: &[u8], now: i64) -> Option<Verified<P>> {
        let key = fingerprint(token)?;
        let generations = self.generations.lock().expect("token cache poisoned");
        let entry = generations
            .current
            .get(&key)
            .or_else(|| generations.previous.get(&key))?;
        (entry.token.as_bytes() == token && entry.verified.exp >= now)
            .then(|| entry.verified.clone())
    }

    /// Remembers `token`, which was just verified to prove `verified`.
    pub(crate) fn insert(&self, token: &str, verified: Verified<P>) {
        let Some(key) = fingerprint(token.as_bytes()) else {
            return;
        };
        let mut generations = self.generations.lock().expect("token cache poisoned");
        if generations.current.len() >= GENERATION {
            generations.previous = std::mem::take(&mut generations.current);
        }
        generations.current.insert(
            key,
            Entry {
                token: token.into(),
                verified,
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
    use protocol::ids::TicketId;

    fn verified(exp: i64) -> Verified<QueuePlace> {
        Verified {
            place: QueuePlace {
                ticket: TicketId::new(),
                seq: 1,
                user_ref: None,
            },
            event: EventId::new(),
            exp,
        }
    }

    #[test]
    fn a_hit_needs_the_whole_token_and_an_unexpired_exp() {
        let cache = VerifiedTokens::<QueuePlace>::default();
        let v = verified(100);
        cache.insert("h.p.signature", v.clone());
        assert_eq!(cache.get(b"h.p.signature", 100), Some(v.clone()));
        // Same signature segment, another payload: a miss.
        assert_eq!(cache.get(b"h.other.signature", 100), None);
        assert_eq!(cache.get(b"h.p.signature", 101), None, "expired");
        // Same fingerprint, another token: a miss.
        assert_eq!(cache.get(b"h.p.signatureX", 0), None);
        assert_eq!(cache.get(b"h.p.nope", 0), None);
        assert_eq!(cache.get(b"no-dots", 0), None);
        // Too short to fingerprint: never cached.
        cache.insert("h.p.short", v);
        assert_eq!(cache.get(b"h.p.short", 0), None);
    }

    #[test]
    fn a_token_with_the_same_fingerprint_takes_the_place() {
        let cache = VerifiedTokens::<QueuePlace>::default();
        let (a, b) = (verified(100), verified(100));
        cache.insert("h.p.12345678a", a);
        cache.insert("h.q.12345678b", b.clone());
        assert_eq!(cache.get(b"h.p.12345678a", 0), None);
        assert_eq!(cache.get(b"h.q.12345678b", 0), Some(b));
    }

    #[test]
    fn old_tokens_fall_out_after_two_generations() {
        let cache = VerifiedTokens::<QueuePlace>::default();
        let v = verified(i64::MAX);
        cache.insert("h.p.first___", v.clone());
        for i in 0..GENERATION {
            cache.insert(&format!("h.p.{i:08}"), v.clone());
        }
        // One generation later: still held (previous generation).
        assert!(cache.get(b"h.p.first___", 0).is_some());
        for i in 0..GENERATION {
            cache.insert(&format!("h.q.{:08}", GENERATION + i), v.clone());
        }
        assert!(cache.get(b"h.p.first___", 0).is_none());
        assert!(cache.len() <= 2 * GENERATION);
    }
}
