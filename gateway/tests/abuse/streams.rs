//! Open SSE streams are capped per ticket, per client IP and per replica: beyond a cap
//! a new stream is `429 rate_limited` with `Retry-After`, and a slot comes back when its
//! stream closes.

use crate::helpers::{spawn, TestGateway};
use protocol::ids::EventId;
use std::time::{Duration, Instant};

/// `GET /v1/events/{event}/queue/stream` with `token` from `ip`: the response (kept
/// open by the caller as long as it holds it).
async fn open(gw: &TestGateway, event: &EventId, token: &str, ip: &str) -> reqwest::Response {
    gw.client
        .get(format!("{}/v1/events/{event}/queue/stream", gw.base))
        .bearer_auth(token)
        .header("x-forwarded-for", ip)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("request failed")
}

async fn refused(gw: &TestGateway, event: &EventId, token: &str, ip: &str) {
    let res = open(gw, event, token, ip).await;
    assert_eq!(res.status().as_u16(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_capped_per_ticket_client_and_replica_and_freed_on_close() {
    let gw = spawn(|s| {
        s.abuse.trusted_proxy_header = "X-Forwarded-For".into();
        s.abuse.streams_per_ticket = 2;
        s.abuse.streams_per_ip = 3;
        s.abuse.streams_per_replica = 5;
    })
    .await;
    let event = gw.open_event().await;
    let (a, b, c) = ("203.0.113.10", "203.0.113.11", "203.0.113.12");
    let mut tokens = Vec::new();
    for ip in [a, a, a, b, b] {
        let joined = gw.join(&gw.base, &event, Some(ip), None).await;
        assert_eq!(joined.status, 201);
        tokens.push(joined.token());
    }
    let mut held = Vec::new();
    for _ in 0..2 {
        let res = open(&gw, &event, &tokens[0], a).await;
        assert_eq!(res.status().as_u16(), 200);
        held.push(res);
    }
    refused(&gw, &event, &tokens[0], b).await; // ticket: 2 open
    held.push(open(&gw, &event, &tokens[1], a).await);
    refused(&gw, &event, &tokens[2], a).await; // client a: 3 open
    held.push(open(&gw, &event, &tokens[3], b).await);
    held.push(open(&gw, &event, &tokens[4], b).await);
    assert!(held.iter().all(|r| r.status() == 200));
    refused(&gw, &event, &tokens[2], c).await; // replica: 5 open
    let metrics = gw.metrics().await;
    for scope in ["token", "ip", "replica"] {
        let line = format!(r#"anteroom_rate_limited_total{{class="stream",scope="{scope}"}} 1"#);
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }

    // Closing one of the ticket's streams gives its slot back (the server notices the
    // closed connection at its next write: a keep-alive at the latest, 10 s).
    drop(held.remove(0));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = open(&gw, &event, &tokens[0], c).await;
        if res.status() == 200 {
            break;
        }
        assert_eq!(res.status().as_u16(), 429);
        assert!(
            Instant::now() < deadline,
            "the closed stream's slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
