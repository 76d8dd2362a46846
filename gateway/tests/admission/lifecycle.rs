//! Sold out and back (item 5), and the pre-queue lottery from the fans' side: the public
//! record and `anteroom-gateway verify-shuffle` (item 2).

use crate::stack::sse::SseClient;
use crate::stack::{admission, in_seconds, open_event, Stack};
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_seats_held_stops_admission_sold_out_closes_the_queue() {
    let stack = Stack::start(|_| {}).await;
    let base = stack.url().to_owned();
    let mut spec = open_event(1, 2, admission(60_000, 3, 600));
    spec.max_seats_per_hold = 2;
    spec.hold_ttl_seconds = 10;
    let event = stack.create_event(&spec).await;
    let a = stack.join_token(&base, &event).await;
    let a_pass = stack.wait_admitted(&base, &event, &a).await;
    let (code, hold) = stack.hold(&event, &a_pass, &["A-1-1", "A-1-2"]).await;
    assert_eq!(code, 201, "{hold}");

    // Once the availability snapshot shows every seat held, a pass would buy nothing, so
    // nobody else goes in...
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while stack.public_event(&base, &event).await["seats"]["available"] != 0 {
        assert!(tokio::time::Instant::now() < until, "the hold never showed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = stack.join_token(&base, &event).await;
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < until {
        let (_, s) = stack.status(&base, &event, &b).await;
        assert_eq!(
            s["state"], "waiting",
            "admitted while every seat is held: {s}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ...until the hold expires and the seats come back.
    let b_pass = stack.wait_admitted(&base, &event, &b).await;
    let c = stack.join_token(&base, &event).await;
    stack.wait_admitted(&base, &event, &c).await;
    let e = stack.join_token(&base, &event).await;
    let url = format!("{base}/v1/events/{event}/queue/stream");
    let mut stream = SseClient::connect(&stack.client, &url, &e).await;
    assert_eq!(
        stream.next(Duration::from_secs(5)).await.unwrap().json()["state"],
        "waiting",
        "max_active 3 reached"
    );

    // The last seats sell: the queue closes and the waiting fan is told at once.
    let (code, hold) = stack.hold(&event, &b_pass, &["A-1-1", "A-1-2"]).await;
    assert_eq!(code, 201, "{hold}");
    let (code, order) = stack.confirm(hold["id"].as_str().unwrap(), &b_pass).await;
    assert_eq!(code, 200, "{order}");
    let told = stream
        .next_named("status", Duration::from_secs(5))
        .await
        .expect("sold_out was not pushed");
    assert_eq!(told.json()["state"], "sold_out", "{}", told.data);
    let (_, s) = stack.status(&base, &event, &e).await;
    assert_eq!(s["state"], "sold_out");
    let (code, refused) = stack.join(&base, &event).await;
    assert_eq!(
        (code, refused["error"]["code"].as_str()),
        (409, Some("sold_out"))
    );
    assert_eq!(stack.public_event(&base, &event).await["state"], "sold_out");
}

fn verify_shuffle(seed: &str, commitment: &str, file: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_anteroom-gateway"))
        .args([
            "verify-shuffle",
            "--seed",
            seed,
            "--commitment",
            commitment,
            "--tickets",
        ])
        .arg(file)
        .output()
        .expect("Failed to run verify-shuffle");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lottery_record_verifies_and_tampering_does_not() {
    let stack = Stack::start(|_| {}).await;
    let base = stack.url().to_owned();
    let mut spec = open_event(2, 5, admission(60_000, 2, 600));
    spec.prequeue_opens_at = Some(in_seconds(-60));
    spec.opens_at = in_seconds(3);
    let event = stack.create_event(&spec).await;
    let record_url = format!("{base}/v1/events/{event}/prequeue");
    let mut fans = Vec::new();
    for _ in 0..5 {
        let (code, joined) = stack.join(&base, &event).await;
        assert_eq!((code, joined["state"].as_str()), (201, Some("prequeue")));
        assert!(joined["position"].is_null());
        fans.push(joined);
    }
    let (_, before) = stack.send(stack.client.get(&record_url)).await;
    assert_eq!(before["shuffled"], false);
    assert!(before["shuffle_seed"].is_null(), "{before}");
    let commitment = before["shuffle_commitment"].as_str().unwrap().to_owned();

    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    let record = loop {
        let (_, r) = stack.send(stack.client.get(&record_url)).await;
        if r["shuffled"] == true {
            break r;
        }
        assert!(tokio::time::Instant::now() < until, "never shuffled: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let arrival: Vec<&serde_json::Value> = fans.iter().map(|f| &f["ticket_id"]).collect();
    assert_eq!(
        record["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        arrival
    );
    assert_eq!(record["shuffle_commitment"], commitment.as_str());
    let order = record["order"].as_array().unwrap().clone();

    // Two go in (max_active 2); the third in lottery order is first in line.
    let third = fans.iter().find(|f| f["ticket_id"] == order[2]).unwrap()["queue_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, s) = stack.status(&base, &event, &third).await;
        if s["position"] == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "rank 3 never first in line: {s}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let dir = std::env::temp_dir().join(format!("anteroom-lottery-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("record.json");
    std::fs::write(&file, record.to_string()).unwrap();
    let seed = record["shuffle_seed"].as_str().unwrap().to_owned();
    let (ok, out) = verify_shuffle(&seed, &commitment, &file);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("1 {}", order[0].as_str().unwrap())),
        "{out}"
    );

    let mut tampered_seed = seed.clone();
    let last = if tampered_seed.ends_with('0') {
        "1"
    } else {
        "0"
    };
    tampered_seed.replace_range(seed.len() - 1.., last);
    let (ok, out) = verify_shuffle(&tampered_seed, &commitment, &file);
    assert!(!ok && out.contains("commitment"), "{out}");

    let mut dropped = record.clone();
    dropped["tickets"].as_array_mut().unwrap().remove(0);
    let dropped_file = dir.join("dropped.json");
    std::fs::write(&dropped_file, dropped.to_string()).unwrap();
    let (ok, out) = verify_shuffle(&seed, &commitment, &dropped_file);
    assert!(!ok && out.contains("differs"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seat_stream_sends_the_map_then_the_changes() {
    let stack = Stack::start(|_| {}).await;
    let base = stack.url().to_owned();
    let event = stack
        .create_event(&open_event(2, 3, admission(60_000, 10, 600)))
        .await;
    let a = stack.join_token(&base, &event).await;
    let a_pass = stack.wait_admitted(&base, &event, &a).await;
    let b = stack.join_token(&base, &event).await;
    let b_pass = stack.wait_admitted(&base, &event, &b).await;
    let url = format!("{base}/v1/events/{event}/seats/stream");
    let refused = stack.send(stack.client.get(&url).bearer_auth(&a)).await;
    assert_eq!(refused.0, 401, "a queue token is not a pass");

    let mut stream = SseClient::connect(&stack.client, &url, &a_pass).await;
    let full = stream
        .next_named("seats", Duration::from_secs(5))
        .await
        .unwrap()
        .json();
    assert_eq!(full["full"], true);
    let seats = full["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 6);
    assert!(seats.iter().all(|s| s["status"] == "available"), "{full}");
    assert_eq!(
        seats[4],
        serde_json::json!({"id": "A-2-2", "status": "available"})
    );

    let (code, hold) = stack.hold(&event, &b_pass, &["A-1-2"]).await;
    assert_eq!(code, 201, "{hold}");
    let change = stream
        .next_named("seats", Duration::from_secs(5))
        .await
        .unwrap()
        .json();
    assert_eq!(change["full"], false);
    assert_eq!(
        change["seats"],
        serde_json::json!([{"id": "A-1-2", "status": "held"}])
    );
    assert!(change["version"].as_u64() > full["version"].as_u64());
    let (code, _) = stack.confirm(hold["id"].as_str().unwrap(), &b_pass).await;
    assert_eq!(code, 200);
    let sold = stream
        .next_named("seats", Duration::from_secs(5))
        .await
        .unwrap()
        .json();
    assert_eq!(
        sold["seats"],
        serde_json::json!([{"id": "A-1-2", "status": "sold"}])
    );
}
