//! The compact seats stream of a 100,000-seat event, through gzip: the first state, then
//! a hold as a delta of under 1 KB that, applied to the state, gives the v1 map's
//! statuses (the oracle); `since` skips the first state; the v1 stream is compressed too
//! and still starts with the whole map.

use crate::helpers::wire::{GzipSse, RawEvent};
use crate::helpers::{spawn_app, TestApp};
use crate::seat_map::{decode_state, hold, stadium, v1_codes_once_held, TOTAL};
use protocol::ids::EventId;
use serde_json::Value;
use std::time::Duration;

/// Opens the compact seats stream with `query`, gzip-compressed.
async fn compact_stream(app: &TestApp, event: &EventId, pass: &str, query: &str) -> GzipSse {
    let resp = app
        .client
        .get(app.url(&format!(
            "/v1/events/{event}/seats/stream?format=compact{query}"
        )))
        .bearer_auth(pass)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("Failed to open the compact stream");
    GzipSse::new(resp)
}

/// Applies a delta's changes to decoded `codes`, asserting it follows `version`.
fn apply(codes: &mut [u8], version: &mut u64, delta: &Value) {
    assert_eq!(delta["from"], *version, "a delta from another version");
    for change in delta["changes"].as_array().unwrap() {
        codes[change[0].as_u64().unwrap() as usize] = change[1].as_u64().unwrap() as u8;
    }
    *version = delta["to"].as_u64().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compact_stream_delivers_a_hold_as_a_small_delta_at_once() {
    let app = spawn_app().await;
    let event = app.create_event(&stadium()).await;
    let fans = app.admitted_fans(&event, 3).await;
    let layout = app
        .get_wire(
            &format!("/v1/events/{event}/seats/layout"),
            &fans[0].pass,
            None,
            &[],
        )
        .await
        .json();
    let mut stream = compact_stream(&app, &event, &fans[0].pass, "").await;
    let first = stream.next(Duration::from_secs(5), "the first state").await;
    assert_eq!(first.event, "state");
    let first: Value = serde_json::from_str(&first.data).unwrap();
    let mut codes = decode_state(&first);
    let mut version = first["version"].as_u64().unwrap();

    hold(&app, &fans[1], &["B-7-7", "B-7-8", "H-42-1"]).await;
    let oracle = v1_codes_once_held(&app, &event, &fans[2].pass, &layout, 3).await;
    let mut largest_delta = 0;
    while codes != oracle {
        let RawEvent { event: name, data } = stream.next(Duration::from_secs(5), "the hold").await;
        let body: Value = serde_json::from_str(&data).unwrap();
        if name == "delta" {
            largest_delta = largest_delta.max(data.len());
            apply(&mut codes, &mut version, &body);
        } else {
            assert_eq!(name, "state");
            codes = decode_state(&body);
            version = body["version"].as_u64().unwrap();
        }
    }
    eprintln!("largest delta of the hold: {largest_delta} bytes");
    assert!(largest_delta > 0, "the hold came as a delta");
    assert!(largest_delta < 1024, "a delta of {largest_delta} bytes");

    // `since` the version held: no state first, the next change comes as a delta from it.
    let mut resumed =
        compact_stream(&app, &event, &fans[0].pass, &format!("&since={version}")).await;
    hold(&app, &fans[2], &["C-1-1"]).await;
    let next = resumed
        .next(Duration::from_secs(5), "a delta after since")
        .await;
    assert_eq!(next.event, "delta", "{}", next.data);
    apply(
        &mut codes,
        &mut version,
        &serde_json::from_str(&next.data).unwrap(),
    );
    let oracle = v1_codes_once_held(&app, &event, &fans[0].pass, &layout, 4).await;
    assert_eq!(codes, oracle);

    // The v1 stream is compressed too, and still starts with the whole map.
    let v1 = app
        .client
        .get(app.url(&format!("/v1/events/{event}/seats/stream")))
        .bearer_auth(&fans[0].pass)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    let mut v1 = GzipSse::new(v1);
    let full = v1.next(Duration::from_secs(10), "the v1 full map").await;
    assert_eq!(full.event, "seats");
    let full: Value = serde_json::from_str(&full.data).unwrap();
    assert_eq!(full["full"], true);
    assert_eq!(full["seats"].as_array().unwrap().len(), TOTAL);

    let bad = app
        .client
        .get(app.url(&format!("/v1/events/{event}/seats/stream?format=tiny")))
        .bearer_auth(&fans[0].pass)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}
