//! The pass verifiers of deploy/gate/verify (Python with PyJWT, Node with jose), run as a
//! shop would run them, against the real gateway's JWKS: they accept a pass the gateway
//! issued and refuse a forged, an expired, another event's pass and a token of another
//! kind signed with the real key.

use super::pass_claims;
use crate::helpers::{open_event_spec, spawn_app, tokens};
use protocol::ids::EventId;

/// Runs a verifier CLI (`program args… JWKS_URL EVENT_ID TOKEN`): its exit success and stdout.
async fn verify(
    program: &str,
    script: &str,
    jwks: &str,
    event: &str,
    token: &str,
) -> (bool, String) {
    let path = format!(
        "{}/../deploy/gate/verify/{script}",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = tokio::process::Command::new(program)
        .arg(&path)
        .args([jwks, event, token])
        .output()
        .await
        .unwrap_or_else(|e| panic!("Failed to run {program} {script}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{program} {script} broke ({}): {stderr} (deploy/local/test.sh installs its packages)",
        out.status
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

#[tokio::test]
async fn pass_verifiers_accept_the_gateways_pass_and_refuse_the_rest() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fan = app.admitted_fan(&event).await;
    let jwks = app.url("/.well-known/jwks.json");
    let e = event.to_string();
    let now = tokens::now();
    let forged = tokens::eddsa_with_kid(
        &[7u8; 32],
        &tokens::kid(&app.pass_seed),
        &pass_claims(&e, now + 600),
    );
    let expired = tokens::eddsa(&app.pass_seed, &pass_claims(&e, now - 120));
    let mut queue_kind = pass_claims(&e, now + 600);
    queue_kind["kind"] = "queue".into();
    let not_a_pass = tokens::eddsa(&app.pass_seed, &queue_kind);
    let other_event = EventId::new().to_string();

    for (program, script) in [("python3", "python/verify.py"), ("node", "node/verify.mjs")] {
        let good = verify(program, script, &jwks, &e, &fan.pass).await;
        assert_eq!(
            good,
            (true, fan.ticket_id.clone()),
            "{script} refused a good pass"
        );
        for (token, audience, what) in [
            (&forged, &e, "a forged pass"),
            (&expired, &e, "an expired pass"),
            (&not_a_pass, &e, "a token of another kind"),
            (&fan.pass, &other_event, "another event's pass"),
        ] {
            let (accepted, _) = verify(program, script, &jwks, audience, token).await;
            assert!(!accepted, "{script} accepted {what}");
        }
    }
}
