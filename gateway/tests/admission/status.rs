//! Cheap status (most polls make no Redis call), the status stream, abandonment and
//! leaving, through real gateways.

use crate::private_redis::{delta, CommandStats, PrivateRedis};
use crate::stack::sse::SseClient;
use crate::stack::{admission, open_event, Stack};
use futures::StreamExt;
use protocol::ids::EventId;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// Commands Redis ran on top of its background: per command, the calls counted `during`
/// a measured stretch of `elapsed`, less the calls of the same command in the `idle`
/// stretch (`idle_elapsed`, nothing but the background) scaled to `elapsed`; at least 0.
fn beyond_background(
    during: &CommandStats,
    elapsed: Duration,
    idle: &CommandStats,
    idle_elapsed: Duration,
) -> BTreeMap<String, f64> {
    let scale = elapsed.as_secs_f64() / idle_elapsed.as_secs_f64();
    during
        .iter()
        .map(|(cmd, &n)| {
            let background = idle.get(cmd).copied().unwrap_or(0) as f64 * scale;
            (cmd.clone(), (n as f64 - background).max(0.0))
        })
        .filter(|(_, n)| *n >= 0.5)
        .collect()
}

/// Commands that start a script: one round trip each, whatever the script runs.
const SCRIPT_CALLS: [&str; 5] = ["evalsha", "eval", "evalsha_ro", "eval_ro", "script|load"];

/// Every command the gateway's Lua scripts run (`redis.call('HGET', ...)` in
/// `gateway/src/**/*.lua`), lower case as in `INFO commandstats`.
fn commands_run_by_scripts() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("gateway/src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "lua") {
                let lua = std::fs::read_to_string(&path).expect("a Lua script");
                for call in lua.split("redis.").skip(1) {
                    let Some(args) = call
                        .strip_prefix("call(")
                        .or_else(|| call.strip_prefix("pcall("))
                    else {
                        continue;
                    };
                    let args = args.trim_start();
                    let Some(quote) = args.chars().next().filter(|c| matches!(c, '\'' | '"'))
                    else {
                        continue;
                    };
                    if let Some(name) = args[1..].split(quote).next() {
                        out.insert(name.to_ascii_lowercase());
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    assert!(out.contains("zcount"), "no Lua script found: {out:?}");
    out
}

/// Round trips among `counts`, as far as Redis can tell: script calls, plus commands no
/// script runs (so each was sent by itself). A command that scripts also run (`GET`,
/// `HSET`...) sent on its own is not told apart from the scripts' own: the gateway's
/// counter covers those.
fn round_trips(counts: &BTreeMap<String, f64>) -> f64 {
    let in_scripts = commands_run_by_scripts();
    counts
        .iter()
        .filter(|(c, _)| SCRIPT_CALLS.contains(&c.as_str()) || !in_scripts.contains(*c))
        // The test's own `INFO commandstats`.
        .filter(|(c, _)| c.as_str() != "info")
        .map(|(_, n)| n)
        .sum()
}

/// Every poll's `(fan index, HTTP status, body)`: each token of `tokens` `rounds` times,
/// 16 at a time.
async fn poll_all(
    stack: &Stack,
    base: &str,
    event: &EventId,
    tokens: &[String],
    rounds: usize,
) -> Vec<(usize, u16, serde_json::Value)> {
    let n = tokens.len();
    futures::stream::iter(tokens.iter().cycle().take(n * rounds).enumerate())
        .map(|(i, t)| async move {
            let (code, body) = stack.status(base, event, t).await;
            (i % n, code, body)
        })
        .buffer_unordered(16)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_polls_from_500_waiting_fans_make_at_most_100_redis_calls() {
    // Redis counts the stack's commands itself (`INFO commandstats`) on a server of this
    // test's own, so no other test's commands are counted. Declared first, dropped last:
    // the stack stops before its Redis does.
    let redis = PrivateRedis::start();
    // A slow admission loop (nobody is admitted anyway) keeps Redis's background small
    // next to what is measured.
    let mut stack = Stack::start_on(redis.url.clone(), |s| s.admit_interval_ms = 1000).await;
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
    // The background (admission loops, view refreshes, the worker) while nobody polls.
    let (idle_started, idle_before) = (Instant::now(), redis.commandstats());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = delta(&idle_before, &redis.commandstats());
    let idle_elapsed = idle_started.elapsed();

    // A thousand polls, each fan's first two: their Redis calls counted by the gateway and
    // by Redis. A status not answered from the view is one `status.lua`; each fan's first
    // poll also marks it seen, a write batched with every other fan's into one `seen.lua`
    // a second (its commands, a few per fan, are one call).
    let requests = stack.metric(&base, "anteroom_status_requests_total").await;
    let calls = stack
        .metric(&base, "anteroom_status_redis_calls_total")
        .await;
    let (started, before) = (Instant::now(), redis.commandstats());
    let polls = poll_all(&stack, &base, &event, &tokens, 2).await;
    let first = beyond_background(
        &delta(&before, &redis.commandstats()),
        started.elapsed(),
        &idle,
        idle_elapsed,
    );
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
    println!("Redis, beyond its background: {first:.0?}");
    assert_eq!(requests, 1000.0);
    assert!(calls <= 100.0, "{calls} Redis calls for 1000 polls");
    let trips = round_trips(&first);
    println!("Redis counted {trips:.0} calls");
    assert!(
        trips <= 100.0,
        "Redis counted {trips:.0} calls for 1000 polls: {first:.0?}"
    );

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
