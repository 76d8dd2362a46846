//! Throughput smoke test (ignored by default; run with `--ignored --nocapture`, ideally
//! `--release`): a burst of single-seat holds on one event, timed to the last reply.

use crate::helpers::{spec, TestEnv};
use protocol::command::{Command, SeatSelection};
use protocol::ids::TicketId;
use protocol::reply::Outcome;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing, not a correctness check"]
async fn burst_of_holds() {
    let n: usize = std::env::var("BURST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut env = TestEnv::start().await;
    let event = env.create_event(&spec(200, 100, 300)).await;
    let envelopes: Vec<_> = (0..n)
        .map(|_| {
            TestEnv::envelope(
                event,
                Command::Hold {
                    ticket_id: TicketId::new(),
                    selection: SeatSelection::Best {
                        section: "A".into(),
                        quantity: 1,
                    },
                    idempotency: None,
                },
            )
        })
        .collect();
    let started = std::time::Instant::now();
    env.publish_many(&envelopes).await;
    let published = started.elapsed();
    let mut held = 0;
    for e in &envelopes {
        if let Outcome::HoldCreated(_) = env.reply(e.request_id).await.outcome {
            held += 1;
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{n} holds ({held} held): published in {published:?}, all replies in {elapsed:?} = {:.0}/s",
        n as f64 / elapsed.as_secs_f64()
    );
    let (_, metrics) = env.http_get("/metrics").await;
    for l in metrics.lines().filter(|l| {
        l.starts_with("anteroom_worker_batch_size_")
            || l.starts_with("anteroom_worker_commit_seconds_")
    }) {
        if l.contains("_sum") || l.contains("_count") {
            eprintln!("{l}");
        }
    }
}
