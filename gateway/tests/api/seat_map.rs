//! The seat map of a 100,000-seat event (10 sections × 100 rows × 100 seats) on the
//! wire: compressed answers decoded by independent decoders (flate2, brotli) equal the
//! uncompressed ones; the layout and the two-bit state are small; `If-None-Match`
//! revalidates; the state, decoded here, agrees with the v1 JSON `/seats` (the oracle)
//! after holds and an order; small answers such as a status poll stay uncompressed. The
//! compact stream: `seat_map_stream.rs`.

use crate::helpers::wire::GzipSse;
use crate::helpers::{eventually, open_event_spec, spawn_app, Fan, TestApp};
use base64::Engine;
use protocol::event::{EventSpec, Section};
use protocol::ids::EventId;
use protocol::reply::Hold;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// 10 sections `A`…`J` of 100 rows × 100 seats.
pub(crate) fn stadium() -> EventSpec {
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

pub(crate) const TOTAL: usize = 100_000;

/// Decodes a `2bit` state: seat `i` in byte `i / 4`, bits `(i % 4) * 2`, low first.
pub(crate) fn decode_state(state: &Value) -> Vec<u8> {
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
pub(crate) fn codes_of_v1_map(map: &Value, layout: &Value) -> Vec<u8> {
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
pub(crate) async fn hold(app: &TestApp, fan: &Fan, seats: &[&str]) -> Hold {
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

/// The codes of the v1 map once it shows `held` seats held (5 s deadline).
pub(crate) async fn v1_codes_once_held(
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
