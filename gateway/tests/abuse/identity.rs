//! One place per identity: a signed user reference holds one ticket per event, even
//! under concurrent joins; bad signatures are `401`; without a configured secret a user
//! reference is `422`; anonymous joins are unchanged.

use crate::helpers::spawn;
use gateway::identity::Identity;
use protocol::ids::EventId;
use secrecy::SecretString;
use serde_json::json;

fn secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn signed(identity: &Identity, user: &str, event: &EventId) -> serde_json::Value {
    json!({"user_ref": user, "user_sig": identity.sign(user, event)})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_user_holds_one_place_per_event() {
    let key = secret();
    let gw = spawn(|s| s.abuse.identity_secret = SecretString::from(key.clone())).await;
    let site = Identity::new(&SecretString::from(key)).unwrap();
    let event = gw.open_event().await;
    let base = gw.base.clone();

    let first = gw
        .join(&base, &event, None, Some(signed(&site, "alice", &event)))
        .await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let again = gw
        .join(&base, &event, None, Some(signed(&site, "alice", &event)))
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.ticket(), first.ticket(), "same ticket");
    assert_eq!(again.body["position"], first.body["position"], "same place");
    // The fresh queue token works.
    assert_eq!(gw.status(&event, &again.token(), None).await.status, 200);

    // Someone else is someone else; the same user in another event too.
    let bob = gw
        .join(&base, &event, None, Some(signed(&site, "bob", &event)))
        .await;
    assert_eq!(bob.status, 201);
    assert_ne!(bob.ticket(), first.ticket());
    let other_event = gw.open_event().await;
    let elsewhere = gw
        .join(
            &base,
            &other_event,
            None,
            Some(signed(&site, "alice", &other_event)),
        )
        .await;
    assert_eq!(elsewhere.status, 201);

    // After leaving, the user joins again at the back with a new ticket.
    assert_eq!(gw.leave(&event, &first.token()).await, 204);
    let back = gw
        .join(&base, &event, None, Some(signed(&site, "alice", &event)))
        .await;
    assert_eq!(back.status, 201);
    assert_ne!(back.ticket(), first.ticket());
    assert!(back.body["position"].as_u64() > first.body["position"].as_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_joins_of_one_user_end_on_one_ticket_across_replicas() {
    let key = secret();
    let gw = spawn(|s| s.abuse.identity_secret = SecretString::from(key.clone())).await;
    let second = gw.replica(gw.settings.clone()).await;
    let site = Identity::new(&SecretString::from(key)).unwrap();
    let event = gw.open_event().await;
    let bases = [gw.base.clone(), second];
    let joins = (0..16).map(|i| {
        gw.join(
            &bases[i % 2],
            &event,
            None,
            Some(signed(&site, "carol", &event)),
        )
    });
    let answers = futures::future::join_all(joins).await;
    let created = answers.iter().filter(|a| a.status == 201).count();
    assert_eq!(created, 1, "exactly one new place: {answers:?}");
    assert!(answers.iter().all(|a| a.status == 201 || a.status == 200));
    let ticket = answers[0].ticket();
    assert!(answers.iter().all(|a| a.ticket() == ticket), "one ticket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_unauthorized() {
    let key = secret();
    let gw = spawn(|s| s.abuse.identity_secret = SecretString::from(key.clone())).await;
    let site = Identity::new(&SecretString::from(key)).unwrap();
    let forger = Identity::new(&SecretString::from(secret())).unwrap();
    let event = gw.open_event().await;
    let other = EventId::new();
    let base = gw.base.clone();
    let cases = [
        json!({"user_ref": "dave"}),
        json!({"user_ref": "dave", "user_sig": "not hex"}),
        json!({"user_ref": "dave", "user_sig": site.sign("erin", &event)}),
        json!({"user_ref": "dave", "user_sig": site.sign("dave", &other)}),
        json!({"user_ref": "dave", "user_sig": forger.sign("dave", &event)}),
    ];
    for body in cases {
        let a = gw.join(&base, &event, None, Some(body.clone())).await;
        assert_eq!((a.status, a.code()), (401, "unauthorized"), "{body}");
    }
    let a = gw
        .join(&base, &event, None, Some(json!({"user_sig": "00"})))
        .await;
    assert_eq!((a.status, a.code()), (422, "invalid_field"));
    let a = gw
        .join(
            &base,
            &event,
            None,
            Some(json!({"user_ref": "dave", "x": 1})),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (422, "invalid_field"),
        "unknown fields are refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_user_refs_are_refused_and_anonymous_joins_unchanged() {
    let gw = spawn(|_| {}).await;
    let event = gw.open_event().await;
    let base = gw.base.clone();
    let site = Identity::new(&SecretString::from(secret())).unwrap();
    let a = gw
        .join(&base, &event, None, Some(signed(&site, "frank", &event)))
        .await;
    assert_eq!((a.status, a.code()), (422, "invalid_field"));
    assert_eq!(gw.join(&base, &event, None, None).await.status, 201);
    assert_eq!(
        gw.join(&base, &event, None, Some(json!({}))).await.status,
        201
    );
    let raw = gw
        .client
        .post(format!("{base}/v1/events/{event}/queue"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
}

/// Turns `require_identity` on in the event's config as the worker would write it
/// (before any replica has read the config).
async fn require_identity(gw: &crate::helpers::TestGateway, event: &EventId) {
    let key = protocol::names::RedisKeys::new(gw.settings.namespace.clone()).config(event);
    let mut conn = crate::helpers::redis_conn().await;
    let raw: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut config: protocol::event::EventConfig = serde_json::from_str(&raw).unwrap();
    assert!(!config.spec.require_identity, "off unless set");
    config.spec.require_identity = true;
    config.version += 1;
    redis::cmd("SET")
        .arg(&key)
        .arg(serde_json::to_string(&config).unwrap())
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_requiring_identity_takes_only_unexpired_signed_references() {
    let key = secret();
    let gw = spawn(|s| s.abuse.identity_secret = SecretString::from(key.clone())).await;
    let site = Identity::new(&SecretString::from(key)).unwrap();
    let event = gw.open_event().await;
    require_identity(&gw, &event).await;
    let base = gw.base.clone();
    let now = chrono::Utc::now().timestamp();

    // Anonymous joins: 403 with a message that says what is missing.
    for body in [None, Some(json!({}))] {
        let a = gw.join(&base, &event, None, body).await;
        assert_eq!((a.status, a.code()), (403, "forbidden"), "{:?}", a.body);
        let message = a.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("user_exp"), "{message}");
    }
    // A signature without expiry, or one whose expiry has passed: 401.
    let expired = now - 1;
    for body in [
        signed(&site, "gina", &event),
        json!({"user_ref": "gina", "user_exp": expired,
               "user_sig": site.sign_until("gina", &event, expired)}),
        // The expiry changed after signing.
        json!({"user_ref": "gina", "user_exp": now + 600,
               "user_sig": site.sign_until("gina", &event, now + 60)}),
    ] {
        let a = gw.join(&base, &event, None, Some(body.clone())).await;
        assert_eq!((a.status, a.code()), (401, "unauthorized"), "{body}");
    }
    // A valid, unexpired signature joins (one place per user, as without the setting).
    let good = json!({"user_ref": "gina", "user_exp": now + 60,
                      "user_sig": site.sign_until("gina", &event, now + 60)});
    let first = gw.join(&base, &event, None, Some(good.clone())).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let again = gw.join(&base, &event, None, Some(good)).await;
    assert_eq!((again.status, again.ticket()), (200, first.ticket()));

    // An event without the setting still takes anonymous joins and both signature forms.
    let open = gw.open_event().await;
    assert_eq!(gw.join(&base, &open, None, None).await.status, 201);
    assert_eq!(
        gw.join(&base, &open, None, Some(signed(&site, "hal", &open)))
            .await
            .status,
        201
    );
    let until = now + 60;
    let expiring = json!({"user_ref": "ida", "user_exp": until,
                          "user_sig": site.sign_until("ida", &open, until)});
    assert_eq!(
        gw.join(&base, &open, None, Some(expiring)).await.status,
        201
    );
    let stale = json!({"user_ref": "ida", "user_exp": now - 5,
                       "user_sig": site.sign_until("ida", &open, now - 5)});
    assert_eq!(gw.join(&base, &open, None, Some(stale)).await.status, 401);
}
