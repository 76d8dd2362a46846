//! Many admitted buyers race for the same seats; exactly one wins, and the
//! database holds exactly one claim per seat.

use crate::helpers::{open_event_spec, select, spawn_app};
use std::collections::{BTreeMap, HashSet};

const BUYERS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_buyers_race_for_two_seats_and_exactly_one_wins() {
    let app = spawn_app().await;
    let event = app.create_event(&open_event_spec(20, 20)).await;
    let fans = app.admitted_fans(&event, BUYERS).await;
    let tickets: HashSet<_> = fans.iter().map(|f| f.ticket_id.clone()).collect();
    let passes: HashSet<_> = fans.iter().map(|f| f.pass.clone()).collect();
    assert_eq!(tickets.len(), BUYERS, "every buyer has their own ticket");
    assert_eq!(passes.len(), BUYERS, "every buyer has their own pass");

    let wanted = ["A-1-1", "A-1-2"];
    let selection = select(&wanted);
    let (app, event) = (&app, &event);
    let results = futures::future::join_all(fans.iter().map(|fan| {
        let selection = selection.clone();
        async move {
            let resp = app.hold(event, &fan.pass, &selection, None).await;
            let pending = resp.status == 202;
            (pending, app.settle(resp, &fan.pass).await)
        }
    }))
    .await;
    let pending = results.iter().filter(|(p, _)| *p).count();
    let results: Vec<_> = results.into_iter().map(|(_, r)| r).collect();

    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for r in &results {
        *by_status.entry(r.status).or_default() += 1;
    }
    eprintln!("hold statuses: {by_status:?} ({pending} answered 202 first)");
    let winners: Vec<_> = results.iter().filter(|r| r.status == 201).collect();
    assert_eq!(winners.len(), 1, "statuses: {by_status:?}");
    let hold = &winners[0].body;
    assert_eq!(hold["state"], "held");
    assert_eq!(hold["seats"], serde_json::json!(wanted));
    assert_eq!(hold["total_cents"], 30_000);

    for r in results.iter().filter(|r| r.status != 201) {
        r.assert_error(409, "seats_unavailable");
        let unavailable = r.body["error"]["details"]["unavailable"]
            .as_array()
            .unwrap_or_else(|| panic!("no details.unavailable: {}", r.body));
        assert!(!unavailable.is_empty(), "{}", r.body);
        for seat in unavailable {
            assert!(
                wanted.contains(&seat.as_str().unwrap_or("")),
                "unexpected unavailable seat in {}",
                r.body
            );
        }
    }

    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM seat_claims WHERE event_id = $1")
        .bind(event.0)
        .fetch_one(app.sql())
        .await
        .expect("Failed to count seat claims");
    assert_eq!(claims, 2, "exactly one claim per contested seat");
}
