//! Rate limits: an abusive client gets `429 rate_limited` + `Retry-After` while a fan who
//! polls as told never does; a spoofed `X-Forwarded-For` counts only when configured;
//! the join quota holds across replicas.

use crate::helpers::spawn;
use std::time::{Duration, Instant};

/// A trusted proxy header, so that clients of one test have distinct IPs.
fn behind_proxy(s: &mut gateway::Settings) {
    s.abuse.trusted_proxy_header = "X-Forwarded-For".into();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abusive_poller_is_refused_while_a_fan_polling_as_told_never_is() {
    let gw = spawn(behind_proxy).await;
    let event = gw.open_event().await;
    let abuser = gw.join(&gw.base, &event, Some("203.0.113.66"), None).await;
    let fan = gw.join(&gw.base, &event, Some("203.0.113.7"), None).await;
    assert_eq!((abuser.status, fan.status), (201, 201));
    let (abuser_token, fan_token) = (abuser.token(), fan.token());

    let window = Duration::from_millis(4_500);
    let abuse = async {
        // Default per token: 5/s with a burst of 10. Polls as fast as possible.
        let started = Instant::now();
        let mut refused = Vec::new();
        while started.elapsed() < window {
            let a = gw.status(&event, &abuser_token, Some("203.0.113.66")).await;
            if a.status == 429 {
                refused.push(a);
            } else {
                assert_eq!(a.status, 200, "{:?}", a.body);
            }
        }
        refused
    };
    let polite = async {
        // The fan polls after `poll_after_ms` each time (≥ 1000 ms) meanwhile.
        let started = Instant::now();
        let mut polls = 0;
        while started.elapsed() < window {
            let a = gw.status(&event, &fan_token, Some("203.0.113.7")).await;
            assert_eq!(
                a.status, 200,
                "a fan polling as told was refused: {:?}",
                a.body
            );
            polls += 1;
            let wait = a.body["poll_after_ms"].as_u64().expect("poll_after_ms");
            assert!(wait >= 1_000);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        polls
    };
    let (refused, polls) = tokio::join!(abuse, polite);
    assert!(polls >= 3, "the fan polled {polls} times");
    // At most 10 + 5/s × 4.5 s ≈ 33 polls of the abuser pass.
    assert!(refused.len() >= 30, "only {} refused", refused.len());
    for a in &refused {
        assert_eq!(a.code(), "rate_limited");
        // 5/s: the next cell is at most 200 ms away, rounded up to 1 s.
        assert_eq!(a.retry_after, Some(1));
    }
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains(r#"anteroom_rate_limited_total{class="status",scope="token"}"#),
        "{metrics}"
    );
}

/// The limits read the event id from the path themselves (`limits::path_event_id`); an
/// id written percent-encoded, which axum decodes for the handler, must not slip past
/// the per-token limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_limit_holds_when_the_event_id_is_percent_encoded() {
    let gw = spawn(behind_proxy).await;
    let event = gw.open_event().await;
    let fan = gw.join(&gw.base, &event, Some("203.0.113.80"), None).await;
    assert_eq!(fan.status, 201);
    let token = fan.token();
    let id = event.to_string();
    let encoded = format!("%{:02X}{}", id.as_bytes()[0], &id[1..]);
    let mut codes = Vec::new();
    // Default per token: 5/s with a burst of 10; every poll from its own address, so
    // only the token's limit can refuse.
    for i in 0..25 {
        let res = gw
            .client
            .get(format!("{}/v1/events/{encoded}/queue", gw.base))
            .bearer_auth(&token)
            .header("x-forwarded-for", format!("198.18.0.{i}"))
            .send()
            .await
            .expect("request failed");
        codes.push(res.status().as_u16());
    }
    assert_eq!(
        codes[0], 200,
        "the encoded id names the same event: {codes:?}"
    );
    assert!(codes.iter().all(|&c| c == 200 || c == 429), "{codes:?}");
    assert!(
        codes.iter().filter(|&&c| c == 429).count() >= 5,
        "the token's limit was not applied: {codes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_flood_from_one_ip_is_held_to_the_burst_and_others_still_join() {
    let gw = spawn(behind_proxy).await;
    let event = gw.open_event().await;
    // Default per IP: 20/s, burst 50.
    let mut ok = 0;
    let mut refused = 0;
    let flood = (0..80).map(|_| gw.join(&gw.base, &event, Some("198.51.100.23"), None));
    for a in futures::future::join_all(flood).await {
        match a.status {
            201 => ok += 1,
            429 => {
                refused += 1;
                assert_eq!(a.code(), "rate_limited");
                assert!(a.retry_after.is_some_and(|s| (1..=2).contains(&s)), "{a:?}");
            }
            other => panic!("unexpected {other}: {:?}", a.body),
        }
    }
    assert!((50..=65).contains(&ok), "{ok} joins allowed");
    assert!(refused >= 15);
    let other = gw.join(&gw.base, &event, Some("198.51.100.24"), None).await;
    assert_eq!(other.status, 201, "another client is not affected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarded_for_is_ignored_unless_a_proxy_header_is_configured() {
    let tight = |s: &mut gateway::Settings| {
        s.abuse.join_per_ip_per_second = 1;
        s.abuse.join_per_ip_burst = 3;
    };
    // Not configured: every request is the TCP peer 127.0.0.1, whatever the header says.
    let direct = spawn(tight).await;
    let event = direct.open_event().await;
    for i in 0..3 {
        let a = direct
            .join(&direct.base, &event, Some(&format!("192.0.2.{i}")), None)
            .await;
        assert_eq!(a.status, 201);
    }
    let spoofed = direct
        .join(&direct.base, &event, Some("192.0.2.99"), None)
        .await;
    assert_eq!(
        spoofed.status, 429,
        "a forged header must not buy a fresh limit"
    );

    // Configured: the right-most entry is the client; what the client wrote left of it
    // does not count.
    let proxied = spawn(|s| {
        tight(s);
        behind_proxy(s);
    })
    .await;
    let event = proxied.open_event().await;
    for i in 0..4 {
        let a = proxied
            .join(&proxied.base, &event, Some(&format!("192.0.2.{i}")), None)
            .await;
        assert_eq!(a.status, 201, "distinct clients behind the proxy");
    }
    for i in 0..3 {
        let forged = format!("10.9.9.{i}, 192.0.2.50");
        let a = proxied
            .join(&proxied.base, &event, Some(&forged), None)
            .await;
        assert_eq!(a.status, 201);
    }
    let forged = proxied
        .join(&proxied.base, &event, Some("10.9.9.9, 192.0.2.50"), None)
        .await;
    assert_eq!(
        forged.status, 429,
        "the forged left part does not change the client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_join_quota_is_shared_by_every_replica() {
    let gw = spawn(|s| {
        behind_proxy(s);
        s.abuse.join_quota_per_ip_per_minute = 4;
    })
    .await;
    let second = gw.replica(gw.settings.clone()).await;
    let event = gw.open_event().await;
    let bases = [gw.base.clone(), second];
    // 4 counted in Redis, plus the one join per minute each replica lets through
    // without counting (a fan joins once: no Redis call for it).
    for i in 0..6 {
        let a = gw
            .join(&bases[i % 2], &event, Some("203.0.113.80"), None)
            .await;
        assert_eq!(a.status, 201, "join {i}: {:?}", a.body);
    }
    for base in &bases {
        let a = gw.join(base, &event, Some("203.0.113.80"), None).await;
        assert_eq!(
            a.status, 429,
            "over the quota of the minute, on any replica"
        );
        assert_eq!(a.code(), "rate_limited");
        assert!(
            a.retry_after.is_some_and(|s| (1..=60).contains(&s)),
            "{a:?}"
        );
    }
    let other = gw.join(&bases[1], &event, Some("203.0.113.81"), None).await;
    assert_eq!(other.status, 201);
    let metrics = gw.metrics().await;
    assert!(metrics.contains(r#"anteroom_rate_limited_total{class="join",scope="quota"}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_switched_off_refuse_nothing() {
    let gw = spawn(|s| {
        s.abuse = gateway::settings::AbuseSettings::unlimited();
        s.abuse.join_per_ip_burst = 1;
        s.abuse.join_quota_per_ip_per_minute = 1;
    })
    .await;
    let event = gw.open_event().await;
    for _ in 0..10 {
        assert_eq!(gw.join(&gw.base, &event, None, None).await.status, 201);
    }
}

/// `GET /v1/admin/events/{event}` with `key` from `ip`: status and `Retry-After`.
async fn admin_get(
    gw: &crate::helpers::TestGateway,
    event: &protocol::ids::EventId,
    key: &str,
    ip: &str,
) -> (u16, Option<u64>, String) {
    let res = gw
        .client
        .get(format!("{}/v1/admin/events/{event}", gw.base))
        .bearer_auth(key)
        .header("x-forwarded-for", ip)
        .send()
        .await
        .expect("request failed");
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
    (status, retry_after, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_admin_keys_are_throttled_per_client_even_for_the_right_key() {
    let gw = spawn(|s| {
        behind_proxy(s);
        // One forgiven a minute, 3 at once: the test never waits for one.
        s.abuse.admin_failures_per_minute = 1;
        s.abuse.admin_failures_burst = 3;
    })
    .await;
    let event = gw.open_event().await;
    let key = secrecy::ExposeSecret::expose_secret(&gw.settings.admin_key).to_owned();
    let (guesser, admin) = ("203.0.113.90", "203.0.113.91");
    for guess in 0..3 {
        let (status, _, code) = admin_get(&gw, &event, &format!("guess-{guess}"), guesser).await;
        assert_eq!((status, code.as_str()), (401, "unauthorized"));
    }
    // Over the allowance: refused before the key is compared, the right one included.
    for k in ["guess-3", key.as_str()] {
        let (status, retry_after, code) = admin_get(&gw, &event, k, guesser).await;
        assert_eq!((status, code.as_str()), (429, "rate_limited"));
        let wait = retry_after.expect("Retry-After");
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
    }
    // Another client is not affected, with the right key or a wrong one.
    assert_eq!(admin_get(&gw, &event, &key, admin).await.0, 200);
    assert_eq!(admin_get(&gw, &event, "wrong", admin).await.0, 401);
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains(r#"anteroom_rate_limited_total{class="admin",scope="ip"} 2"#),
        "{metrics}"
    );
}
