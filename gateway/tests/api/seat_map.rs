//! The seat map of a 100,000-seat event (10 sections × 100 rows × 100 seats) on the
//! wire: compressed answers decoded by independent decoders (flate2, brotli) equal the
//! uncompressed ones; the layout and the two-bit state are small; `If-None-Match`
//! revalidates; the state, decoded here, agrees with the v1 JSON `/seats` (the oracle)
//! after holds and an order; the compact stream delivers a hold as a small delta, flushed
//! through gzip at once; small answers such as a status poll stay uncompressed.

use crate::helpers::wire::{GzipSse, RawEvent};
use crate::helpers::{eventually, open_event_spec, spawn_app, Fan, TestApp};
use base64::Engine;
use protocol::event::{EventSpec, Section};
use protocol::ids::EventId;
use protocol::reply::Hold;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// 10 sections `A`…`J` of 100 rows × 100 seats.
fn stadium() -> EventSpec {
    let mut spec = open_event_spec(1, 1);
    spec.seating.sections = "ABCDEFGHIJ"
        .chars()
        .map(|c| Section {
            name: c.to_string().parse().unwrap(),
            rows: 100,
            seats_per_row: 100,
            price_cents: 5_000 + 1_000 * i64::from(c as u8 - b'A'),
        })
        .collect();
    spec
}

const TOTAL: usize = 100_000;

/// Decodes a `2bit` state: seat `i` in byte `i / 4`, bits `(i % 4) * 2`, low first.
fn decode_state(state: &Value) -> Vec<u8> {
    assert_eq!(state["encoding"], "2bit");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(state["state"].as_str().expect("state"))
        .expect("standard base64");
    assert_eq!(bytes.len(), TOTAL.div_ceil(4));
    (0..TOTAL)
        .map(|i| (bytes[i / 4] >> ((i % 4) * 2)) & 0b11)
        .collect()
}

/// The codes of the v1 map, each seat placed by its id and the layout's `base`.
fn codes_of_v1_map(map: &Value, layout: &Value) -> Vec<u8> {
    let sections: HashMap<&str, (u64, u64)> = layout["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let name = s["name"].as_str().unwrap();
            (
                name,
                (
                    s["base"].as_u64().unwrap(),
                    s["seats_per_row"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    let mut codes = vec![9u8; TOTAL];
    for seat in map["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["seats"].as_array().unwrap())
    {
        let id = seat["id"].as_str().unwrap();
        let mut parts = id.split('-');
        let (section, row, number) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let (base, per_row) = sections[section];
        let i =
            base + (row.parse::<u64>().unwrap() - 1) * per_row + number.parse::<u64>().unwrap() - 1;
        codes[i as usize] = match seat["status"].as_str().unwrap() {
            "available" => 0,
            "held" => 1,
            "sold" => 2,
            other => panic!("status {other}"),
        };
    }
    assert!(!codes.contains(&9), "the v1 map lacks seats");
    codes
}

/// Holds `seats` for `fan` (`202` settled), asserting `201`.
async fn hold(app: &TestApp, fan: &Fan, seats: &[&str]) -> Hold {
    let resp = app.hold_seats(fan, seats).await;
    let resp = app.settle(resp, &fan.pass).await;
    resp.assert_status(201);
    resp.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stadium_map_is_small_on_the_wire_and_revalidates() {
    let app = spawn_app().await;
    let event = app.create_event(&stadium()).await;
    let fan = app.admitted_fan(&event).await;
    let seats = format!("/v1/events/{event}/seats");

    let plain = app.get_wire(&seats, &fan.pass, None, &[]).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);
    for accept in ["gzip", "br"] {
        let packed = app.get_wire(&seats, &fan.pass, Some(accept), &[]).await;
        assert_eq!(packed.header("content-encoding"), Some(accept));
        assert!(packed
            .header("vary")
            .is_some_and(|v| v.contains("accept-encoding")));
        assert_eq!(
            packed.decoded(),
            plain.raw,
            "{accept} decodes to the plain map"
        );
        eprintln!(
            "GET /seats: {} bytes plain, {} {accept}",
            plain.raw.len(),
            packed.raw.len()
        );
        assert!(packed.raw.len() * 10 < plain.raw.len());
    }

    let layout_path = format!("/v1/events/{event}/seats/layout");
    let layout = app
        .get_wire(&layout_path, &fan.pass, Some("gzip, br"), &[])
        .await;
    assert_eq!(layout.status, 200);
    assert_eq!(layout.header("cache-control"), Some("private, no-cache"));
    let body = layout.json();
    let etag = format!("\"{}\"", body["layout_version"].as_str().unwrap());
    assert_eq!(layout.header("etag"), Some(etag.as_str()));
    assert_eq!(body["event_id"], event.to_string());
    assert_eq!(body["currency"], "USD");
    assert_eq!(body["total"], TOTAL);
    assert_eq!(body["sections"][3]["name"], "D");
    assert_eq!(body["sections"][3]["base"], 30_000);
    assert_eq!(body["sections"][3]["price_cents"], 8_000);

    let state_path = format!("/v1/events/{event}/seats/state");
    let state = app
        .get_wire(&state_path, &fan.pass, Some("gzip, br"), &[])
        .await;
    assert_eq!(state.status, 200);
    assert_eq!(state.header("cache-control"), Some("no-cache"));
    let s = state.json();
    assert_eq!(s["layout_version"], body["layout_version"]);
    let state_tag = format!("\"v{}\"", s["version"]);
    assert_eq!(state.header("etag"), Some(state_tag.as_str()));
    assert!(decode_state(&s).iter().all(|&c| c == 0));
    eprintln!(
        "layout: {} bytes on the wire ({} decoded); state: {} ({} decoded)",
        layout.raw.len(),
        layout.decoded().len(),
        state.raw.len(),
        state.decoded().len()
    );
    assert!(state.raw.len() <= 50_000, "state {} bytes", state.raw.len());
    assert!(layout.raw.len() + state.raw.len() <= 300_000);

    // Revalidation: the same tags answer 304 without a body; another tag gets the body.
    for (path, tag) in [(&layout_path, &etag), (&state_path, &state_tag)] {
        let again = app
            .get_wire(path, &fan.pass, Some("gzip"), &[("if-none-match", tag)])
            .await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.raw.is_empty());
        assert_eq!(again.header("etag"), Some(tag.as_str()));
        let other = app
            .get_wire(path, &fan.pass, None, &[("if-none-match", "\"other\"")])
            .await;
        assert_eq!(other.status, 200, "{path}");
    }
    let anonymous = app.client.get(app.url(&layout_path)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // Pages and their scripts are compressed too.
    for page in [format!("/e/{event}"), "/assets/js/fan-seats.js".to_owned()] {
        let plain = app.get_wire(&page, &fan.pass, None, &[]).await;
        let packed = app.get_wire(&page, &fan.pass, Some("gzip"), &[]).await;
        assert_eq!((plain.status, packed.status), (200, 200), "{page}");
        assert_eq!(packed.header("content-encoding"), Some("gzip"), "{page}");
        assert_eq!(packed.decoded(), plain.raw, "{page}");
    }

    // A status poll stays uncompressed, even when the client accepts compression.
    let poll = app
        .get_wire(
            &format!("/v1/events/{event}/queue"),
            &fan.queue_token,
            Some("gzip, br"),
            &[],
        )
        .await;
    assert_eq!(poll.status, 200);
    assert_eq!(poll.header("content-encoding"), None);
    assert_eq!(poll.json()["state"], "admitted");
    // The queue's stream is compressed, its events flushed one by one.
    let stream = app
        .client
        .get(app.url(&format!("/v1/events/{event}/queue/stream")))
        .bearer_auth(&fan.queue_token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    let first = GzipSse::new(stream)
        .next(Duration::from_secs(5), "a status")
        .await;
    assert_eq!(first.event, "status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_bit_state_agrees_with_the_v1_map_after_holds_and_an_order() {
    let app = spawn_app().await;
    let event = app.create_event(&stadium()).await;
    let fans = app.admitted_fans(&event, 3).await;
    let bought = hold(&app, &fans[0], &["A-1-1", "A-1-2", "E-50-100"]).await;
    app.confirm(&bought.id, &fans[0].pass, "mock-1", None)
        .await
        .assert_status(200);
    hold(&app, &fans[1], &["D-100-1", "J-100-100", "J-1-1"]).await;

    let reader = &fans[2];
    let layout = app
        .get_wire(
            &format!("/v1/events/{event}/seats/layout"),
            &reader.pass,
            Some("br"),
            &[],
        )
        .await
        .json();
    let (state, oracle) = eventually(
        Duration::from_secs(10),
        "the state to match /seats",
        || async {
            let before = app.seats(&event, &reader.pass).await.body;
            let state = app
                .get_wire(
                    &format!("/v1/events/{event}/seats/state"),
                    &reader.pass,
                    Some("gzip"),
                    &[],
                )
                .await
                .json();
            let after = app.seats(&event, &reader.pass).await.body;
            let oracle = codes_of_v1_map(&after, &layout);
            let decoded = decode_state(&state);
            (before == after && decoded == oracle && oracle.contains(&1))
                .then_some((decoded, oracle))
        },
    )
    .await;
    assert_eq!(state, oracle);
    let at = |section: u64, row: u64, number: u64| {
        ((section * 100 + row - 1) * 100 + number - 1) as usize
    };
    assert_eq!(
        (
            state[at(0, 1, 1)],
            state[at(0, 1, 2)],
            state[at(4, 50, 100)]
        ),
        (2, 2, 2)
    );
    assert_eq!(
        (
            state[at(3, 100, 1)],
            state[at(9, 100, 100)],
            state[at(9, 1, 1)]
        ),
        (1, 1, 1)
    );
    assert_eq!(state.iter().filter(|&&c| c != 0).count(), 6);
}

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

/// The codes of the v1 map once it shows `held` seats held (5 s deadline).
async fn v1_codes_once_held(
    app: &TestApp,
    event: &EventId,
    pass: &str,
    layout: &Value,
    held: usize,
) -> Vec<u8> {
    eventually(
        Duration::from_secs(5),
        "the v1 map to show the hold",
        || async {
            let codes = codes_of_v1_map(&app.seats(event, pass).await.body, layout);
            (codes.iter().filter(|&&c| c == 1).count() == held).then_some(codes)
        },
    )
    .await
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
