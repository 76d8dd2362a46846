//! Pass signing keys rotate: a gateway whose current key is new and whose previous key is
//! the old one accepts the passes the old key signed and publishes both keys; once the
//! old key is removed, its passes are refused.

use crate::helpers::spawn_app;
use secrecy::SecretString;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_of_a_previous_key_are_accepted_and_published_until_it_is_removed() {
    let app = spawn_app().await;
    let event = app
        .create_event(&crate::helpers::open_event_spec(2, 5))
        .await;
    let fan = app.admitted_fan(&event).await;
    let old_seed = hex::encode(app.pass_seed);
    let new_seed = hex::encode(rand::random::<[u8; 32]>());

    let mut rotated = app.gateway_settings.clone();
    rotated.pass_signing_key = SecretString::from(new_seed.clone());
    rotated.pass_previous_keys = SecretString::from(old_seed);
    let rotated = app.spawn_ready_gateway(rotated).await;
    let jwks: serde_json::Value = app
        .client
        .get(format!("{rotated}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    let old_kid = jsonwebtoken::decode_header(&fan.pass).unwrap().kid.unwrap();
    assert_eq!(kids.len(), 2, "{jwks}");
    assert_eq!(
        kids[1], old_kid,
        "the previous key is published after the current one"
    );
    let held = app
        .hold_raw(
            &rotated,
            &event,
            &fan.pass,
            r#"{"seats": ["A-1-1"]}"#.into(),
            None,
        )
        .await;
    held.assert_status(201);

    let mut removed = app.gateway_settings.clone();
    removed.pass_signing_key = SecretString::from(new_seed);
    let removed = app.spawn_ready_gateway(removed).await;
    app.hold_raw(
        &removed,
        &event,
        &fan.pass,
        r#"{"seats": ["A-1-2"]}"#.into(),
        None,
    )
    .await
    .assert_error(401, "unauthorized");
}
