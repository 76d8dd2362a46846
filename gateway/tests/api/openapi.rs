//! The OpenAPI document lists the docs/API.md paths, and a pass verifies with the
//! published JWKS alone (as a ticketing site's own origin would do it).

use crate::helpers::tokens::{header, kid};
use crate::helpers::{open_event_spec, spawn_app};
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use protocol::claims::{PassClaims, TokenKind};
use serde_json::Value;

const API_PATHS: &[(&str, &str)] = &[
    ("/v1/admin/events", "post"),
    ("/v1/admin/events/{event_id}", "get"),
    ("/v1/admin/events/{event_id}", "patch"),
    ("/v1/admin/events/{event_id}/stats", "get"),
    ("/v1/events/{event_id}", "get"),
    ("/v1/events/{event_id}/queue", "post"),
    ("/v1/events/{event_id}/queue", "get"),
    ("/v1/events/{event_id}/queue", "delete"),
    ("/v1/events/{event_id}/queue/stream", "get"),
    ("/v1/events/{event_id}/seats", "get"),
    ("/v1/events/{event_id}/seats/stream", "get"),
    ("/v1/events/{event_id}/holds", "post"),
    ("/v1/requests/{request_id}", "get"),
    ("/v1/holds/{hold_id}", "get"),
    ("/v1/holds/{hold_id}", "delete"),
    ("/v1/holds/{hold_id}/confirm", "post"),
    ("/.well-known/jwks.json", "get"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_the_contract_paths() {
    let app = spawn_app().await;
    let resp = app.send(app.client.get(app.url("/openapi.json"))).await;
    resp.assert_status(200);
    let doc: &Value = &resp.body;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "not an OpenAPI 3 document: {}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths object");
    let missing: Vec<String> = API_PATHS
        .iter()
        .filter(|(path, method)| paths.get(*path).and_then(|p| p.get(*method)).is_none())
        .map(|(path, method)| format!("{} {path}", method.to_uppercase()))
        .collect();
    assert!(
        missing.is_empty(),
        "missing from /openapi.json: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_verifies_against_the_published_jwks() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let other_event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;

    let jwks = app
        .send(app.client.get(app.url("/.well-known/jwks.json")))
        .await;
    jwks.assert_status(200);
    let pass_kid = header(&fan.pass)["kid"]
        .as_str()
        .expect("pass without kid")
        .to_owned();
    assert_eq!(
        pass_kid,
        kid(&app.pass_seed),
        "kid = first 16 hex of SHA-256(public key)"
    );
    let jwk = jwks.body["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .find(|k| k["kid"] == pass_kid.as_str())
        .unwrap_or_else(|| panic!("kid {pass_kid} not in {}", jwks.body));
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert!(
        jwk.get("d").is_none(),
        "the JWKS must not publish the private key"
    );

    let key = DecodingKey::from_ed_components(jwk["x"].as_str().expect("x"))
        .expect("x is not a base64url Ed25519 key");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[event.to_string()]);
    let claims = decode::<PassClaims>(&fan.pass, &key, &validation)
        .expect("the pass does not verify with the JWKS")
        .claims;
    assert_eq!(claims.sub.to_string(), fan.ticket_id);
    assert_eq!(claims.kind, TokenKind::Pass);
    assert!(
        (claims.exp - fan.pass_expires_at.timestamp()).abs() <= 1,
        "exp vs pass_expires_at"
    );

    let mut wrong_event = Validation::new(Algorithm::EdDSA);
    wrong_event.set_audience(&[other_event.to_string()]);
    assert!(decode::<PassClaims>(&fan.pass, &key, &wrong_event).is_err());
}
