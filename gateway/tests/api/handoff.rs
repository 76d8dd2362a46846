//! Origin checkout's hand-off: `POST /v1/holds/{id}/checkout` gives the venue's payment
//! URL with the hold id, a hold token and the order page to come back to; the token
//! verifies with the published JWKS alone, checked by the two verifier examples of
//! `deploy/examples/hold-token/` (PyJWT and `jose`, implementations nobody on the
//! project wrote), which also refuse a pass, a token of another event and a forged one.

use crate::helpers::tokens::payload;
use crate::helpers::{spawn_app, ApiResponse, TestApp};
use protocol::event::{Checkout, CheckoutMode};
use protocol::ids::{EventId, HoldId};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Time allowed for one verifier run, the first of which installs its dependencies.
const VERIFIER_DEADLINE: Duration = Duration::from_secs(300);

const CHECKOUT_URL: &str = "http://127.0.0.1:9/pay?venue=olympic";

/// An event in origin checkout whose holds last `hold_ttl_seconds`.
async fn origin_event(app: &TestApp, hold_ttl_seconds: u32) -> EventId {
    let mut spec = crate::helpers::open_event_spec(2, 4);
    spec.hold_ttl_seconds = hold_ttl_seconds;
    spec.checkout = Checkout {
        mode: CheckoutMode::Origin,
        url: Some(CHECKOUT_URL.parse().expect("a checkout URL")),
    };
    spec.currency = "KRW".parse().expect("a currency code");
    app.create_event(&spec).await
}

async fn start_checkout(app: &TestApp, hold: &str, pass: Option<&str>) -> ApiResponse {
    let mut req = app
        .client
        .post(app.url(&format!("/v1/holds/{hold}/checkout")))
        .header("idempotency-key", "checkout-1");
    if let Some(pass) = pass {
        req = req.bearer_auth(pass);
    }
    app.send(req).await
}

/// Runs `deploy/examples/hold-token/run.sh <verifier> --jwks .. --event .. --hold ..
/// <token>`: `Ok(claims)` when it accepts, `Err(stderr)` when it refuses.
async fn verify(
    verifier: &str,
    app: &TestApp,
    event: &str,
    hold: &str,
    token: &str,
) -> Result<Value, String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/examples/hold-token/run.sh")
        .canonicalize()
        .expect("the verifier examples");
    let run = tokio::process::Command::new(script)
        .arg(verifier)
        .args(["--jwks", &app.url("/.well-known/jwks.json")])
        .args(["--event", event, "--hold", hold, token])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(VERIFIER_DEADLINE, run)
        .await
        .unwrap_or_else(|_| panic!("{verifier} verifier: no answer in {VERIFIER_DEADLINE:?}"))
        .unwrap_or_else(|e| panic!("{verifier} verifier did not start: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => Ok(serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{verifier} printed no JSON ({e}): {stderr}"))),
        Some(1) => Err(stderr),
        other => panic!("{verifier} verifier failed to run ({other:?}): {stderr}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hold_token_verifies_with_the_jwks_in_python_and_node() {
    let app = spawn_app().await;
    // Holds of an hour: the token's 15 minutes end first.
    let event = origin_event(&app, 3600).await;
    let fan = app.admitted_fan(&event).await;
    let held = app.hold_seats(&fan, &["A-1-1", "A-1-2"]).await;
    held.assert_status(201);
    let hold = held.body["id"].as_str().unwrap().to_owned();
    let hold_expires =
        chrono::DateTime::parse_from_rfc3339(held.body["expires_at"].as_str().unwrap())
            .unwrap()
            .timestamp();

    let started = start_checkout(&app, &hold, Some(&fan.pass)).await;
    started.assert_status(200);
    let token = started.body["hold_token"].as_str().unwrap().to_owned();
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(started.body["expires_at"].as_str().unwrap())
            .unwrap()
            .timestamp();

    // The URL: the venue's own, its parameter kept, the three hand-off ones added.
    let url = reqwest::Url::parse(started.body["checkout_url"].as_str().unwrap()).unwrap();
    assert_eq!(
        (url.host_str(), url.port(), url.path()),
        (Some("127.0.0.1"), Some(9), "/pay")
    );
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let return_url = app.url(&format!("/e/{event}/orders/{hold}"));
    assert_eq!(
        query,
        vec![
            ("venue".into(), "olympic".into()),
            ("hold_id".into(), hold.clone()),
            ("hold_token".into(), token.clone()),
            ("return_url".into(), return_url.clone()),
        ]
    );
    // The order page the fan comes back to is served.
    let page = app.send(app.client.get(&return_url)).await;
    page.assert_status(200);
    assert!(page.body.as_str().unwrap().contains("/assets/js/order.js"));

    let event_text = event.to_string();
    for verifier in ["python", "node"] {
        let claims = verify(verifier, &app, &event_text, &hold, &token)
            .await
            .unwrap_or_else(|e| panic!("{verifier} refused the hold token: {e}"));
        assert_eq!(claims["kind"], "hold", "{verifier}: {claims}");
        assert_eq!(claims["sub"], hold.as_str(), "{verifier}");
        assert_eq!(claims["aud"], event_text.as_str(), "{verifier}");
        assert_eq!(claims["ticket_id"], fan.ticket_id.as_str(), "{verifier}");
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert_eq!(
            exp, expires_at,
            "{verifier}: exp is the answer's expires_at"
        );
        assert_eq!(exp, iat + 15 * 60, "{verifier}: {claims}");
        assert!(exp < hold_expires, "{verifier}: {claims}");

        // Refused: another event, another hold, the fan's pass, a forged signature.
        let other_event = EventId::new().to_string();
        let refusals = [
            (
                "another event",
                other_event.as_str(),
                hold.as_str(),
                token.clone(),
            ),
            ("another hold", event_text.as_str(), "h", token.clone()),
            (
                "a pass",
                event_text.as_str(),
                fan.ticket_id.as_str(),
                fan.pass.clone(),
            ),
            (
                "a forged signature",
                event_text.as_str(),
                hold.as_str(),
                forge(&token),
            ),
        ];
        for (what, event, hold, token) in refusals {
            let refused = verify(verifier, &app, event, hold, &token).await;
            assert!(refused.is_err(), "{verifier} accepted {what}: {refused:?}");
        }
    }
}

/// `token` with the first character of its signature changed (the last one carries
/// padding bits that a decoder may ignore).
fn forge(token: &str) -> String {
    let (message, signature) = token.rsplit_once('.').unwrap();
    let mut sig: Vec<char> = signature.chars().collect();
    sig[0] = if sig[0] == 'A' { 'B' } else { 'A' };
    format!("{message}.{}", sig.into_iter().collect::<String>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_is_refused_in_fan_mode_and_for_holds_not_held_and_ends_with_the_hold() {
    let app = spawn_app().await;
    // Fan checkout (the default): 409 checkout_not_origin.
    let fan_event = app
        .create_event(&crate::helpers::open_event_spec(1, 4))
        .await;
    let fan = app.admitted_fan(&fan_event).await;
    let held = app.hold_seats(&fan, &["A-1-1"]).await;
    held.assert_status(201);
    let hold = held.body["id"].as_str().unwrap();
    start_checkout(&app, hold, Some(&fan.pass))
        .await
        .assert_error(409, "checkout_not_origin");

    // Holds of a minute: the token ends with the hold.
    let event = origin_event(&app, 60).await;
    let (fan, other) = (
        app.admitted_fan(&event).await,
        app.admitted_fan(&event).await,
    );
    let held = app.hold_seats(&fan, &["A-1-1"]).await;
    held.assert_status(201);
    let hold = held.body["id"].as_str().unwrap().to_owned();
    let started = start_checkout(&app, &hold, Some(&fan.pass)).await;
    started.assert_status(200);
    let claims = payload(started.body["hold_token"].as_str().unwrap());
    let hold_expires =
        chrono::DateTime::parse_from_rfc3339(held.body["expires_at"].as_str().unwrap())
            .unwrap()
            .timestamp();
    assert_eq!(claims["exp"].as_i64(), Some(hold_expires), "{claims}");
    // Without a pass, with another fan's pass, for a hold that does not exist.
    start_checkout(&app, &hold, None)
        .await
        .assert_error(401, "unauthorized");
    start_checkout(&app, &hold, Some(&other.pass))
        .await
        .assert_error(404, "not_found");
    start_checkout(&app, &HoldId::new().to_string(), Some(&fan.pass))
        .await
        .assert_error(404, "not_found");
    // A released hold is no longer handed to the venue.
    app.release(&hold.parse().unwrap(), &fan.pass)
        .await
        .assert_status(200);
    start_checkout(&app, &hold, Some(&fan.pass))
        .await
        .assert_error(409, "hold_not_active");
}
