//! Queue tokens and passes (`docs/ARCHITECTURE.md`).
//!
//! - Queue token: JWT HS256 with `queue_token_secret` (joins are the hot path; HMAC costs
//!   about 1 µs where a signature costs 40–70 µs). Claims [`QueueClaims`].
//! - Pass: JWT EdDSA (Ed25519) with a `kid` header; claims [`PassClaims`]. The public key
//!   is served as a JWKS (`/.well-known/jwks.json`) so a ticketing site can verify passes
//!   without calling us. `kid` = first 16 hex characters of SHA-256(public key).
//! - Pass keys rotate: passes are signed with the current key only; previous keys
//!   ([`TokenKeys::with_previous_pass_keys`], setting `pass_previous_keys`) still verify
//!   the passes they signed and stay in the JWKS, current key first. A pass is checked
//!   against the key its `kid` names. The operator's procedure is in `docs/OPERATIONS.md`
//!   ("Rotating the pass signing key").
//! - Hold token: JWT EdDSA with the pass key and `kid`, claims
//!   [`protocol::claims::HoldClaims`] (`tokens/hold.rs`): names a hold for the venue's
//!   payment page in origin checkout.
//!
//! Verification pins the algorithm (`Validation::new(HS256)` / `new(EdDSA)`: a token
//! signed otherwise, or with `alg: none`, is refused), requires `exp` with no leeway,
//! checks `kind`, and checks `aud` against the event the request is about. Every failure
//! is the same [`TokenError`] → `401 unauthorized`: callers learn nothing more.
//!
//! Queue tokens are verified on every status poll, so they have a fast path: a token
//! whose header segment is byte for byte the one this gateway issues (HS256, `typ: JWT`)
//! has its signature checked by `jsonwebtoken::crypto::verify` (constant-time HMAC) and
//! its claims parsed once, straight into [`QueueClaims`]. Any other header goes through
//! `jsonwebtoken::decode`, which refuses it unless it is an HS256 header in
//! another spelling. The checks are the same on both paths (`queue_fast_path_agrees_*`
//! in the tests); the fast path skips parsing the header and parsing the claims twice
//! (about a third of a status poll's own CPU time, measured with `perf`). A
//! token verified once is then answered from a per-replica cache (`tokens/cache.rs`).

use base64::Engine;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use protocol::claims::{PassClaims, QueueClaims, TokenKind};
use protocol::ids::{EventId, TicketId};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::sync::Arc;

mod cache;
mod hold;

pub use cache::VerifiedTokens;
pub use hold::{hold_token_expiry, HOLD_TOKEN_TTL_SECONDS};

/// A token that must not be accepted (forged, expired, wrong kind, wrong event, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid token: {0}")]
pub struct TokenError(pub &'static str);

/// What a valid queue token proves (its `sub` and `seq` claims), for the event it was
/// checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePlace {
    /// The ticket (`sub`).
    pub ticket: TicketId,
    /// Arrival number (`seq`): the ticket's score in the waiting set.
    pub seq: u64,
    /// The signed user reference the join carried (`user_ref`), if any.
    pub user_ref: Option<Arc<str>>,
}

/// Parses the hex of a 32-byte Ed25519 seed; `None` if it is not exactly that.
pub fn parse_seed(hex_seed: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_seed.trim()).ok()?;
    bytes.try_into().ok()
}

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410 §7); followed by the 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A pass verification key.
#[derive(Clone)]
struct PassKey {
    kid: String,
    dec: DecodingKey,
    x: String,
}

impl PassKey {
    /// The verification key of `seed`, and its PKCS#8 private key document.
    fn from_seed(seed: &[u8; 32]) -> (Self, Vec<u8>) {
        let public = SigningKey::from_bytes(seed).verifying_key().to_bytes();
        let mut pkcs8 = PKCS8_ED25519_PREFIX.to_vec();
        pkcs8.extend_from_slice(seed);
        let key = PassKey {
            kid: hex::encode(Sha256::digest(public))[..16].to_string(),
            dec: DecodingKey::from_ed_der(&public),
            x: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public),
        };
        (key, pkcs8)
    }
}

/// Signing and verification keys of both credentials. Lives in the app state (never in a
/// `static`), built once from the settings.
#[derive(Clone)]
pub struct TokenKeys {
    queue_enc: EncodingKey,
    queue_dec: DecodingKey,
    pass_enc: EncodingKey,
    /// Every verification key, the current one first: its `kid`, the key, and its
    /// public half as base64url (the JWKS `x`).
    pass_keys: Vec<PassKey>,
    queue_ttl_seconds: i64,
    /// The base64url header segment of the queue tokens issued here.
    queue_header: String,
    /// Queue tokens verified here (shared by the clones).
    verified: Arc<VerifiedTokens>,
    /// Passes verified here by [`TokenKeys::verify_pass_cached`] (shared by the clones).
    verified_passes: Arc<VerifiedTokens<Arc<PassClaims>>>,
}

impl TokenKeys {
    /// Keys from the queue secret and the hex Ed25519 seed.
    ///
    /// # Errors
    /// `TokenError` if the seed is not 64 hex characters.
    pub fn new(
        queue_secret: &SecretString,
        pass_seed_hex: &SecretString,
        queue_ttl_seconds: u64,
    ) -> Result<Self, TokenError> {
        let seed = parse_seed(pass_seed_hex.expose_secret())
            .ok_or(TokenError("pass signing key is not a hex 32-byte seed"))?;
        let (current, pkcs8) = PassKey::from_seed(&seed);
        let secret = queue_secret.expose_secret().as_bytes();
        let queue_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&Header::new(Algorithm::HS256))
                .map_err(|_| TokenError("queue token header"))?,
        );
        Ok(Self {
            queue_enc: EncodingKey::from_secret(secret),
            queue_dec: DecodingKey::from_secret(secret),
            pass_enc: EncodingKey::from_ed_der(&pkcs8),
            pass_keys: vec![current],
            queue_ttl_seconds: i64::try_from(queue_ttl_seconds).unwrap_or(86_400),
            queue_header,
            verified: Arc::default(),
            verified_passes: Arc::default(),
        })
    }

    /// Adds previous pass signing keys: hex 32-byte Ed25519 seeds separated by commas or
    /// white space (`""` = none). They verify the passes they signed and are published in
    /// the JWKS; nothing is signed with them (only their public halves are kept). A seed
    /// equal to the current one, or given twice, counts once.
    ///
    /// # Errors
    /// `TokenError` if an entry is not a hex 32-byte seed.
    pub fn with_previous_pass_keys(mut self, seeds: &SecretString) -> Result<Self, TokenError> {
        for entry in previous_seeds(seeds.expose_secret()) {
            let seed = parse_seed(entry)
                .ok_or(TokenError("a previous pass key is not a hex 32-byte seed"))?;
            let (key, _) = PassKey::from_seed(&seed);
            if self.pass_keys.iter().all(|k| k.kid != key.kid) {
                self.pass_keys.push(key);
            }
        }
        Ok(self)
    }

    /// The current pass key id (`kid`), which signs every new pass.
    pub fn kid(&self) -> &str {
        &self.pass_keys[0].kid
    }

    /// The JWKS document: every pass key (the current one first, then the previous
    /// ones) as OKP/Ed25519 with `kid`, `alg: EdDSA`, `use: sig`.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .pass_keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "x": k.x,
                    "kid": k.kid, "alg": "EdDSA", "use": "sig"
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// A queue token for `ticket` with arrival number `seq`, issued at `now` (Unix s),
    /// naming `user_ref` when the join carried a signed user reference.
    pub fn issue_queue(
        &self,
        event: &EventId,
        ticket: TicketId,
        seq: u64,
        now: i64,
        user_ref: Option<&str>,
    ) -> String {
        let claims = QueueClaims {
            sub: ticket,
            aud: event.to_string(),
            seq,
            iat: now,
            exp: now + self.queue_ttl_seconds,
            kind: TokenKind::Queue,
            user_ref: user_ref.map(str::to_owned),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.queue_enc)
            .expect("HS256 signing cannot fail")
    }

    /// A pass for `ticket`, valid from `iat` until `exp` (Unix s). Deterministic: the
    /// same inputs give the same token (Ed25519 signatures are deterministic).
    ///
    /// # Errors
    /// `TokenError` if signing fails (a malformed key; prevented by validation).
    pub fn issue_pass(
        &self,
        event: &EventId,
        ticket: TicketId,
        jti: String,
        iat: i64,
        exp: i64,
    ) -> Result<String, TokenError> {
        self.issue_pass_with_user(event, ticket, jti, iat, exp, None)
    }

    /// [`TokenKeys::issue_pass`] for a fan whose join carried the signed user reference
    /// `user_ref`: the pass names it, and the holds made with the pass carry it to the
    /// venue's server (`GET /v1/origin/holds/{id}`).
    ///
    /// # Errors
    /// `TokenError` if signing fails (a malformed key; prevented by validation).
    pub fn issue_pass_with_user(
        &self,
        event: &EventId,
        ticket: TicketId,
        jti: String,
        iat: i64,
        exp: i64,
        user_ref: Option<String>,
    ) -> Result<String, TokenError> {
        let claims = PassClaims {
            sub: ticket,
            aud: event.to_string(),
            jti,
            iat,
            exp,
            kind: TokenKind::Pass,
            user_ref,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid().to_owned());
        jsonwebtoken::encode(&header, &claims, &self.pass_enc).map_err(|_| TokenError("signing"))
    }

    /// Verifies a queue token (text or bytes) for `event`: the ticket and arrival number
    /// it proves. A token verified here before is answered from the cache
    /// (`tokens/cache.rs`); only a new one is checked for UTF-8 and decoded.
    ///
    /// # Errors
    /// `TokenError` if forged, expired, not HS256, not a queue token or for another event.
    pub fn verify_queue(
        &self,
        token: impl AsRef<[u8]>,
        event: &EventId,
    ) -> Result<QueuePlace, TokenError> {
        let token = token.as_ref();
        if let Some(hit) = self.verified.get(token, unix_seconds()) {
            return if hit.event == *event {
                Ok(hit.place)
            } else {
                Err(TokenError("token for another event"))
            };
        }
        let token = std::str::from_utf8(token).map_err(|_| TokenError("not UTF-8"))?;
        let claims = match self.decode_queue_fast(token) {
            Some(decoded) => decoded?,
            None => decode(token, &self.queue_dec, Algorithm::HS256)?,
        };
        if claims.kind != TokenKind::Queue {
            return Err(TokenError("not a queue token"));
        }
        let mut buf = uuid::Uuid::encode_buffer();
        if claims.aud.as_str() != &*event.0.hyphenated().encode_lower(&mut buf) {
            return Err(TokenError("token for another event"));
        }
        let place = QueuePlace {
            ticket: claims.sub,
            seq: claims.seq,
            user_ref: claims.user_ref.map(Arc::from),
        };
        self.verified.insert(
            token,
            cache::Verified {
                place: place.clone(),
                event: *event,
                exp: claims.exp,
            },
        );
        Ok(place)
    }

    /// The fast path of [`TokenKeys::verify_queue`] (see the module doc): `None` if the
    /// header segment is not exactly ours (the caller then uses `jsonwebtoken::decode`);
    /// otherwise the claims, or the error `decode` would give (bad signature, bad
    /// claims, `exp` in the past; no leeway).
    fn decode_queue_fast(&self, token: &str) -> Option<Result<QueueClaims, TokenError>> {
        let (message, signature) = token.rsplit_once('.')?;
        let (header, payload) = message.split_once('.')?;
        if header != self.queue_header {
            return None;
        }
        let failed = TokenError("signature, algorithm or expiry");
        let verified = jsonwebtoken::crypto::verify(
            signature,
            message.as_bytes(),
            &self.queue_dec,
            Algorithm::HS256,
        );
        if !matches!(verified, Ok(true)) {
            return Some(Err(failed));
        }
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice::<QueueClaims>(&json).ok());
        Some(match claims {
            Some(c) if c.exp >= unix_seconds() => Ok(c),
            _ => Err(failed),
        })
    }

    /// Verifies a pass; for `Some(event)` the pass must be for that event, for `None`
    /// (`/v1/holds/..`, `/v1/requests/..`) its `aud` names the event. Returns the claims
    /// and the event.
    ///
    /// # Errors
    /// `TokenError` if forged, expired, not EdDSA, not a pass or for another event.
    pub fn verify_pass(
        &self,
        token: &str,
        event: Option<&EventId>,
    ) -> Result<(PassClaims, EventId), TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError("malformed"))?;
        let key = self
            .pass_keys
            .iter()
            .find(|k| header.kid.as_deref() == Some(k.kid.as_str()))
            .ok_or(TokenError("unknown kid"))?;
        let claims: PassClaims = decode(token, &key.dec, Algorithm::EdDSA)?;
        if claims.kind != TokenKind::Pass {
            return Err(TokenError("not a pass"));
        }
        let aud: EventId = claims
            .aud
            .parse()
            .map_err(|_| TokenError("malformed aud"))?;
        if event.is_some_and(|e| *e != aud) {
            return Err(TokenError("pass for another event"));
        }
        Ok((claims, aud))
    }
}

impl TokenKeys {
    /// [`TokenKeys::verify_pass`] for `event`, answered from a per-replica cache of the
    /// passes verified here (`tokens/cache.rs`): a pass presented again costs a hash and
    /// a comparison instead of an Ed25519 verification. `exp` is checked on every hit.
    /// For gate mode's check, where a reverse proxy asks about every shop request.
    ///
    /// # Errors
    /// `TokenError` if forged, expired, not EdDSA, not a pass or for another event.
    pub fn verify_pass_cached(
        &self,
        token: &[u8],
        event: &EventId,
    ) -> Result<Arc<PassClaims>, TokenError> {
        if let Some(hit) = self.verified_passes.get(token, unix_seconds()) {
            return if hit.event == *event {
                Ok(hit.place)
            } else {
                Err(TokenError("pass for another event"))
            };
        }
        let token = std::str::from_utf8(token).map_err(|_| TokenError("not UTF-8"))?;
        let (claims, aud) = self.verify_pass(token, Some(event))?;
        let claims = Arc::new(claims);
        self.verified_passes.insert(
            token,
            cache::Verified {
                place: claims.clone(),
                event: aud,
                exp: claims.exp,
            },
        );
        Ok(claims)
    }
}

/// The entries of a `pass_previous_keys` value (commas or white space between them).
pub fn previous_seeds(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

fn decode<T: serde::de::DeserializeOwned>(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
) -> Result<T, TokenError> {
    let mut v = Validation::new(alg);
    v.leeway = 0;
    v.validate_aud = false; // checked by the caller against the path's event
    v.set_required_spec_claims(&["exp", "aud", "sub"]);
    jsonwebtoken::decode::<T>(token, key, &v)
        .map(|d| d.claims)
        .map_err(|_| TokenError("signature, algorithm or expiry"))
}

/// Now, in whole Unix seconds (a token's `exp` clock), without `chrono`'s calendar
/// conversion: checked on every status poll.
fn unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
