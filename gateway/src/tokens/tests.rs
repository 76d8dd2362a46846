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
    let tok = k.issue_queue(&e, t, 7, now(), None);
    let c = k.verify_queue(&tok, &e).unwrap();
    assert_eq!((c.ticket, c.seq), (t, 7));
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
    let q = k.issue_queue(&e, TicketId::new(), 1, now() - 100_000, None);
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
    let q = other.issue_queue(&e, TicketId::new(), 1, now(), None);
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

        user_ref: None,
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

/// Queue tokens with our header take the fast path; it must accept and refuse exactly
/// what `jsonwebtoken::decode` does.
#[test]
fn queue_fast_path_agrees_with_jsonwebtoken_decode() {
    let k = keys();
    let e = EventId::new();
    let sign = |claims: &serde_json::Value| {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &k.queue_enc).unwrap()
    };
    let claims = |exp: i64| {
        serde_json::json!({"sub": TicketId::new(), "aud": e.to_string(), "seq": 3,
            "iat": now(), "exp": exp, "kind": "queue"})
    };
    let valid = k.issue_queue(&e, TicketId::new(), 9, now(), None);
    let mut missing_aud = claims(now() + 60);
    missing_aud.as_object_mut().unwrap().remove("aud");
    let mut string_exp = claims(now() + 60);
    string_exp["exp"] = serde_json::json!("soon");
    let (message, signature) = valid.rsplit_once('.').unwrap();
    let (header, _) = message.split_once('.').unwrap();
    let other_payload = format!(
        "{header}.{}.{signature}",
        B64.encode(claims(now() + 60).to_string())
    );
    let cases = [
        ("issued here", valid.clone()),
        ("custom claims", sign(&claims(now() + 60))),
        ("expired a second ago", sign(&claims(now() - 1))),
        ("expired long ago", sign(&claims(now() - 100_000))),
        ("no aud", sign(&missing_aud)),
        ("exp not a number", sign(&string_exp)),
        ("payload swapped", other_payload),
        ("signature cut", valid[..valid.len() - 3].to_string()),
        (
            "signature of another token",
            format!(
                "{message}.{}",
                sign(&claims(now() + 60)).rsplit_once('.').unwrap().1
            ),
        ),
        ("payload not base64", format!("{header}.%%%.{signature}")),
        ("signed elsewhere", {
            let other = TokenKeys::new(
                &SecretString::from("x".repeat(32)),
                &SecretString::from("08".repeat(32)),
                3600,
            )
            .unwrap();
            other.issue_queue(&e, TicketId::new(), 1, now(), None)
        }),
    ];
    for (name, token) in cases {
        let fast = k
            .decode_queue_fast(&token)
            .unwrap_or_else(|| panic!("{name}: our header must take the fast path"));
        let slow: Result<QueueClaims, _> = decode(&token, &k.queue_dec, Algorithm::HS256);
        assert_eq!(
            fast.is_ok(),
            slow.is_ok(),
            "{name}: fast {fast:?}, slow {slow:?}"
        );
        if let (Ok(f), Ok(s)) = (&fast, &slow) {
            assert_eq!((f.sub, f.seq, f.exp), (s.sub, s.seq, s.exp), "{name}");
        }
    }
    // Expected outcomes, so that a path accepting everything cannot pass.
    assert!(k.decode_queue_fast(&valid).unwrap().is_ok());
    assert!(k
        .decode_queue_fast(&sign(&claims(now() - 1)))
        .unwrap()
        .is_err());
    // Another header spelling goes the slow way, with the same verdict.
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("k".into());
    let t = jsonwebtoken::encode(&h, &claims(now() + 60), &k.queue_enc).unwrap();
    assert!(k.decode_queue_fast(&t).is_none());
    assert!(k.verify_queue(&t, &e).is_ok());
}

#[test]
fn previous_pass_keys_verify_their_passes_and_stay_published() {
    let (e, t) = (EventId::new(), TicketId::new());
    let old = keys();
    let old_pass = old
        .issue_pass(&e, t, "j".into(), now(), now() + 60)
        .unwrap();
    let rotated = TokenKeys::new(
        &SecretString::from("s".repeat(32)),
        &SecretString::from("0123456789abcdef".repeat(4)),
        3600,
    )
    .unwrap()
    .with_previous_pass_keys(&SecretString::from(format!(
        "{}, {}",
        "07".repeat(32),
        "0123456789abcdef".repeat(4)
    )))
    .unwrap();
    // New passes carry the new kid; the old pass still verifies with the old key.
    assert_ne!(rotated.kid(), old.kid());
    let new_pass = rotated
        .issue_pass(&e, t, "k".into(), now(), now() + 60)
        .unwrap();
    let kid_of = |p: &str| jsonwebtoken::decode_header(p).unwrap().kid.unwrap();
    assert_eq!(kid_of(&new_pass), rotated.kid());
    assert_eq!(kid_of(&old_pass), old.kid());
    assert_eq!(rotated.verify_pass(&old_pass, Some(&e)).unwrap().0.sub, t);
    assert!(rotated.verify_pass(&new_pass, Some(&e)).is_ok());
    // The JWKS lists the current key first, then the previous one; the current seed
    // given again as previous counts once.
    let jwks = rotated.jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [rotated.kid(), old.kid()]);
    assert_eq!(jwks["keys"][1]["x"], old.jwks()["keys"][0]["x"]);
    // Once the previous key is removed, its passes are refused.
    let without = TokenKeys::new(
        &SecretString::from("s".repeat(32)),
        &SecretString::from("0123456789abcdef".repeat(4)),
        3600,
    )
    .unwrap();
    assert!(without.verify_pass(&old_pass, Some(&e)).is_err());
    // A pass signed by the old key but labelled with the new kid is refused.
    let mut h = Header::new(Algorithm::EdDSA);
    h.kid = Some(rotated.kid().into());
    let claims = old.verify_pass(&old_pass, None).unwrap().0;
    let relabelled = jsonwebtoken::encode(&h, &claims, &old.pass_enc).unwrap();
    assert!(rotated.verify_pass(&relabelled, Some(&e)).is_err());
    assert!(TokenKeys::new(
        &SecretString::from("s".repeat(32)),
        &SecretString::from("07".repeat(32)),
        3600,
    )
    .unwrap()
    .with_previous_pass_keys(&SecretString::from("nothex".to_string()))
    .is_err());
}
