//! Tokens crafted by the tests: expired, foreign, forged and `alg: none` credentials,
//! signed with the deployment's real keys where the point is that only one claim is wrong.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use protocol::claims::{QueueClaims, TokenKind};
use protocol::ids::TicketId;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Queue-token claims for `event`, valid from `iat` to `exp` (Unix seconds).
pub(crate) fn queue_claims(event: &str, iat: i64, exp: i64) -> QueueClaims {
    QueueClaims {
        sub: TicketId::new(),
        aud: event.to_owned(),
        seq: 1,
        iat,
        exp,
        kind: TokenKind::Queue,
        user_ref: None,
    }
}

/// HS256 token over `claims` with `secret` (a queue token when the secret is the
/// gateway's, a forgery otherwise).
pub(crate) fn hs256(secret: &str, claims: &impl Serialize) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("Failed to sign HS256")
}

/// `kid` of the pass key with this seed: first 16 hex chars of SHA-256 of the public key.
pub(crate) fn kid(seed: &[u8; 32]) -> String {
    let public = SigningKey::from_bytes(seed).verifying_key().to_bytes();
    hex::encode(Sha256::digest(public))[..16].to_owned()
}

/// EdDSA token over `claims` signed with the Ed25519 key of `seed`, with its `kid`.
pub(crate) fn eddsa(seed: &[u8; 32], claims: &impl Serialize) -> String {
    eddsa_with_kid(seed, &kid(seed), claims)
}

/// EdDSA token over `claims` signed with the key of `seed` but naming `kid` (a forgery
/// when `kid` is another key's).
pub(crate) fn eddsa_with_kid(seed: &[u8; 32], kid: &str, claims: &impl Serialize) -> String {
    // PKCS#8 v1 wrapping of a raw Ed25519 seed (RFC 8410, section 7).
    let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
    der.extend_from_slice(seed);
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, &EncodingKey::from_ed_der(&der)).expect("Failed to sign EdDSA")
}

/// An unsigned token: header `{"alg":"none","typ":"JWT"}`, empty signature.
pub(crate) fn alg_none(claims: &impl Serialize) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{header}.{payload}.")
}

/// The unverified JSON payload of a JWT.
pub(crate) fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("not a JWT");
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(part)
            .expect("payload is not base64url"),
    )
    .expect("payload is not JSON")
}

/// The unverified JSON header of a JWT.
pub(crate) fn header(token: &str) -> Value {
    let part = token.split('.').next().expect("not a JWT");
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(part)
            .expect("header is not base64url"),
    )
    .expect("header is not JSON")
}
