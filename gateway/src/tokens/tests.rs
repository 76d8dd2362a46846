//! Unit tests of `tokens.rs`.

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

fn keys() -> TokenKeys {
    TokenKeys::new(
        &SecretString::from("s".repeat(32)),
        &SecretString::from("07".repeat(32)),
        3600,
    )
    .unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[test]
fn queue_token_round_trip_and_event_pinning() {
    let k = keys();
    let (e, t) = (EventId::new(), TicketId::new());
    let tok = k.issue_queue(&e, t, 7, now());
    let c = k.verify_queue(&tok, &e).unwrap();
    assert_eq!((c.sub, c.seq), (t, 7));
    assert!(k.verify_queue(&tok, &EventId::new()).is_err());
    // A queue token is never a pass.
    assert!(k.verify_pass(&tok, Some(&e)).is_err());
}

#[test]
fn pass_round_trip_kid_and_aud() {
    let k = keys();
    let (e, t) = (EventId::new(), TicketId::new());
    let p = k.issue_pass(&e, t, "j".into(), now(), now() + 60).unwrap();
    assert_eq!(
        p,
        k.issue_pass(&e, t, "j".into(), now(), now() + 60).unwrap()
    );
    let (c, aud) = k.verify_pass(&p, None).unwrap();
    assert_eq!((c.sub, aud), (t, e));
    assert!(k.verify_pass(&p, Some(&e)).is_ok());
    assert!(k.verify_pass(&p, Some(&EventId::new())).is_err());
    // A pass is not a queue token.
    assert!(k.verify_queue(&p, &e).is_err());
    assert_eq!(k.jwks()["keys"][0]["kid"], k.kid());
    assert_eq!(k.kid().len(), 16);
}

#[test]
fn expired_tokens_are_refused() {
    let k = keys();
    let e = EventId::new();
    let q = k.issue_queue(&e, TicketId::new(), 1, now() - 100_000);
    assert!(k.verify_queue(&q, &e).is_err());
    let p = k
        .issue_pass(&e, TicketId::new(), "j".into(), now() - 100, now() - 1)
        .unwrap();
    assert!(k.verify_pass(&p, Some(&e)).is_err());
}

#[test]
fn forged_and_alg_none_tokens_are_refused() {
    let k = keys();
    let e = EventId::new();
    let other = TokenKeys::new(
        &SecretString::from("x".repeat(32)),
        &SecretString::from("08".repeat(32)),
        3600,
    )
    .unwrap();
    let q = other.issue_queue(&e, TicketId::new(), 1, now());
    assert!(k.verify_queue(&q, &e).is_err());
    let p = other
        .issue_pass(&e, TicketId::new(), "j".into(), now(), now() + 60)
        .unwrap();
    assert!(k.verify_pass(&p, Some(&e)).is_err());

    // alg: none, with valid-looking claims and an empty signature.
    let claims = serde_json::json!({"sub": TicketId::new(), "aud": e.to_string(), "seq": 1,
        "jti": "j", "iat": now(), "exp": now() + 60, "kind": "pass"});
    for header in [
        serde_json::json!({"alg": "none", "typ": "JWT"}),
        serde_json::json!({"alg": "none", "kid": k.kid()}),
    ] {
        let t = format!(
            "{}.{}.",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        assert!(k.verify_pass(&t, Some(&e)).is_err());
        assert!(k.verify_queue(&t, &e).is_err());
    }

    // HS256 token signed with the *public* key bytes, claiming to be a pass.
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some(k.kid().into());
    let public = B64
        .decode(k.jwks()["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let t = jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(&public)).unwrap();
    assert!(k.verify_pass(&t, Some(&e)).is_err());

    // Tampered payload.
    let good = k
        .issue_pass(&e, TicketId::new(), "j".into(), now(), now() + 60)
        .unwrap();
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged_claims = B64.encode(claims.to_string());
    parts[1] = &forged_claims;
    assert!(k.verify_pass(&parts.join("."), Some(&e)).is_err());
}

#[test]
fn wrong_kind_with_valid_signature_is_refused() {
    let k = keys();
    let e = EventId::new();
    let claims = QueueClaims {
        sub: TicketId::new(),
        aud: e.to_string(),
        seq: 1,
        iat: now(),
        exp: now() + 60,
        kind: TokenKind::Pass,
    };
    let t = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &k.queue_enc).unwrap();
    assert!(k.verify_queue(&t, &e).is_err());
}

#[test]
fn seed_parsing() {
    assert!(parse_seed(&"ab".repeat(32)).is_some());
    assert!(parse_seed(&"ab".repeat(31)).is_none());
    assert!(parse_seed("zz").is_none());
    assert!(parse_seed("").is_none());
}
