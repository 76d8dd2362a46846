//! Cheap status (most polls make no Redis call), the status stream, abandonment and
//! leaving, through real gateways.

use crate::stack::sse::SseClient;
use crate::stack::{admission, open_event, Stack};
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_polls_from_500_waiting_fans_make_at_most_100_redis_calls() {
    let mut stack = Stack::start(|_| {}).await;
    let other = stack.add_gateway(stack.settings.clone()).await;
    let base = stack.url().to_owned();
    // One admission per minute from an empty bucket: nobody goes in during the test.
    let event = stack
        .create_event(&open_event(2, 5, admission(1, 10, 600)))
        .await;
    let mut tokens = Vec::new();
    for _ in 0..500 {
        tokens.push(stack.join_token(&base, &event).await);
    }
    let requests = stack.metric(&base, "anteroom_status_requests_total").await;
    let calls = stack
        .metric(&base, "anteroom_status_redis_calls_total")
        .await;
    let polls: Vec<(usize, u16, serde_json::Value)> =
        futures::stream::iter(tokens.iter().chain(tokens.iter()).enumerate())
            .map(|(i, t)| {
                let (stack, base, event) = (&stack, &base, &event);
                async move {
                    let (code, body) = stack.status(base, event, t).await;
                    (i % 500, code, body)
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
    for (i, code, body) in &polls {
        assert_eq!(*code, 200, "{body}");
        assert_eq!(body["state"], "waiting");
        assert_eq!(body["position"], json!(i + 1), "fan {i}: {body}");
    }
    let requests = stack.metric(&base, "anteroom_status_requests_total").await - requests;
    let calls = stack
        .metric(&base, "anteroom_status_redis_calls_total")
        .await
        - calls;
    println!("{requests} status requests made {calls} Redis calls");
    assert_eq!(requests, 1000.0);
    assert!(calls <= 100.0, "{calls} Redis calls for 1000 polls");

    // Leaving frees the place at once in Redis; the replica that served the DELETE knows
    // at once, one that answered from its view learns it when the fan's seen mark is
    // next written: at the next seen refresh window (`stream/hub.rs`, 10 s by default),
    // then the next flush (≤ 1 s).
    assert_eq!(stack.leave(&base, &event, &tokens[0]).await, 204);
    assert_eq!(stack.status(&base, &event, &tokens[0]).await.0, 404);
    assert_eq!(stack.leave(&other, &event, &tokens[1]).await, 204);
    let window = gateway::live::hub::seen_refresh(stack.settings.abandon_after_seconds);
    let until = tokio::time::Instant::now() + window + Duration::from_secs(5);
    while stack.status(&base, &event, &tokens[1]).await.0 != 404 {
        assert!(
            tokio::time::Instant::now() < until,
            "the leave never showed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The documented approximation: those who left count until admission passes them.
    let (_, third) = stack.status(&base, &event, &tokens[2]).await;
    assert_eq!(third["position"], 3, "{third}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_stream_keeps_the_place_and_pushes_the_admission() {
    let stack = Stack::start(|s| s.abandon_after_seconds = 3).await;
    let base = stack.url().to_owned();
    let event = stack
        .create_event(&open_event(2, 5, admission(60_000, 1, 600)))
        .await;
    let first = stack.join_token(&base, &event).await;
    stack.wait_admitted(&base, &event, &first).await;
    let streamer = stack.join_token(&base, &event).await;
    let silent = stack.join_token(&base, &event).await;
    let leaver = stack.join_token(&base, &event).await;
    let url = format!("{base}/v1/events/{event}/queue/stream");
    let mut stream = SseClient::connect(&stack.client, &url, &streamer).await;
    let e = stream
        .next(Duration::from_secs(5))
        .await
        .expect("first event");
    assert_eq!(e.event, "status");
    let s = e.json();
    assert_eq!(
        (s["state"].as_str(), s["position"].as_u64()),
        (Some("waiting"), Some(1))
    );
    let mut gone = SseClient::connect(&stack.client, &url, &leaver).await;
    assert_eq!(
        gone.next(Duration::from_secs(5)).await.unwrap().json()["position"],
        3
    );

    // A ticket that leaves ends its stream with an error event.
    assert_eq!(stack.leave(&base, &event, &leaver).await, 204);
    let end = gone
        .next_named("error", Duration::from_secs(5))
        .await
        .expect("no error event after leaving");
    assert_eq!(end.json()["error"]["code"], "not_found");
    assert!(
        gone.next(Duration::from_secs(2)).await.is_none(),
        "stream ended"
    );

    // Longer than abandon_after_seconds with nobody polling: only the stream keeps its
    // fan seen. (Waiting is the behaviour under test here.)
    tokio::time::sleep(Duration::from_secs(4)).await;
    stack.patch(&base, &event, json!({"admission": {"rate_per_minute": 60_000, "max_active": 3, "pass_ttl_seconds": 600}})).await;
    let admitted = stream
        .next_named("status", Duration::from_secs(5))
        .await
        .expect("the admission was not pushed");
    let a = admitted.json();
    assert_eq!(a["state"], "admitted", "{a}");
    assert!(a["pass"].as_str().is_some_and(|p| !p.is_empty()));

    let (code, s) = stack.status(&base, &event, &silent).await;
    assert_eq!((code, s["state"].as_str()), (200, Some("expired")), "{s}");
    let stats = stack
        .send(
            stack
                .client
                .get(format!("{base}/v1/admin/events/{event}/stats"))
                .bearer_auth(&stack.admin_key),
        )
        .await
        .1;
    assert_eq!(stats["queue"]["abandoned_total"], 1, "{stats}");
}
