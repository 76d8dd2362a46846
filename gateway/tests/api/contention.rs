//! Overlapping contention: many fans hold different, overlapping seat pairs at once.
//! Winners never share a seat, every loser asked for a seat a winner got, and the
//! database, the stats and the answers agree. Best-available falls back to the
//! front-most free seats when no row has enough adjacent ones.

use crate::helpers::{eventually, open_event_spec, select, spawn_app};
use protocol::command::SeatSelection;
use protocol::reply::Hold;
use std::collections::HashSet;
use std::time::Duration;

const FANS: usize = 60;
const SEATS: usize = 10; // 2 rows of 5

fn seat(i: usize) -> String {
    format!("A-{}-{}", i / 5 + 1, i % 5 + 1)
}

/// Fan `i`'s two distinct seats (a fixed, overlapping pattern).
fn pair(i: usize) -> [String; 2] {
    let a = i % SEATS;
    let b = (a + 1 + (i * 7) % (SEATS - 1)) % SEATS;
    [seat(a), seat(b)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_holds_never_share_a_seat() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 5)).await;
    let fans = app.admitted_fans(&event, FANS).await;
    let (app, event) = (&app, &event);
    let results = futures::future::join_all(fans.iter().enumerate().map(|(i, fan)| async move {
        let [a, b] = pair(i);
        let resp = app.hold(event, &fan.pass, &select(&[&a, &b]), None).await;
        (pair(i), app.settle(resp, &fan.pass).await)
    }))
    .await;

    let mut taken: HashSet<String> = HashSet::new();
    let mut winners = 0;
    for (asked, r) in results.iter().filter(|(_, r)| r.status == 201) {
        let hold: Hold = r.json();
        assert_eq!(&hold.seats, asked);
        for s in &hold.seats {
            assert!(taken.insert(s.clone()), "seat {s} held twice");
        }
        winners += 1;
    }
    assert!((1..=SEATS / 2).contains(&winners), "{winners} winners");
    for (asked, r) in results.iter().filter(|(_, r)| r.status != 201) {
        r.assert_error(409, "seats_unavailable");
        let listed = r.body["error"]["details"]["unavailable"]
            .as_array()
            .expect("unavailable");
        assert!(!listed.is_empty());
        for s in listed {
            let s = s.as_str().expect("seat id");
            assert!(
                asked.iter().any(|a| a == s),
                "{s} was not asked for: {}",
                r.body
            );
            assert!(
                taken.contains(s),
                "{s} reported unavailable but no winner holds it"
            );
        }
    }

    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM seat_claims WHERE event_id = $1")
        .bind(event.0)
        .fetch_one(app.sql())
        .await
        .expect("Failed to count claims");
    assert_eq!(claims as usize, taken.len());
    let held = taken.len();
    eventually(Duration::from_secs(5), "stats to agree", || async {
        let s = app.admin_stats(event).await.body;
        (s["seats"]["held"] == held && s["holds_active"] == winners).then_some(())
    })
    .await;
    // Holds sent at once went to the shard in fewer messages than commands (the
    // batcher coalesced them), and the answers above came back through reply batches.
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0)
    };
    let (commands, messages) = (
        value("anteroom_commands_published_total"),
        value("anteroom_command_messages_total"),
    );
    assert!(commands >= FANS as u64, "{commands} commands published");
    assert!(
        messages < commands,
        "{FANS} holds at once must share messages: {messages} messages for {commands} commands"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_available_falls_back_to_the_front_most_free_seats() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(2, 3)).await;
    let fans = app.admitted_fans(&event, 4).await;
    // Take the middle of both rows: no row has two adjacent seats left.
    app.hold_seats(&fans[0], &["A-1-2", "A-2-2"])
        .await
        .assert_status(201);
    let best = SeatSelection::Best {
        section: "A".parse().unwrap(),
        quantity: 2,
    };

    let first = app.hold(&event, &fans[1].pass, &best, None).await;
    first.assert_status(201);
    let mut seats = first.json::<Hold>().seats;
    seats.sort();
    assert_eq!(seats, ["A-1-1", "A-1-3"], "front-most free seats");
    let second = app.hold(&event, &fans[2].pass, &best, None).await;
    second.assert_status(201);
    let mut seats = second.json::<Hold>().seats;
    seats.sort();
    assert_eq!(seats, ["A-2-1", "A-2-3"]);
    let one = SeatSelection::Best {
        section: "A".parse().unwrap(),
        quantity: 1,
    };
    app.hold(&event, &fans[3].pass, &one, None)
        .await
        .assert_error(409, "seats_unavailable");
}
