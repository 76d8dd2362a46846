//! The poison commands' fates, against their independent records: the gateway's answer
//! (client log), the stored result (PostgreSQL `request_results`) and the namespace's
//! dead-letter queue (RabbitMQ, read after the run).
//!
//! - every poison request through a gateway ended in a `4xx`;
//! - every decodable poison command published straight to the shard queue has a stored
//!   `4xx` outcome, or is a dead letter;
//! - every undecodable message is a dead letter.
//!
//! A build without dead letters (no dead-letter queue declared and no
//! `anteroom_worker_dead_letters_total` metric) gets the last point reported as not
//! checked instead of failed.

use crate::checks::Report;
use crate::log::Record;
use crate::poison::Injected;
use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use sqlx::PgPool;
use std::collections::BTreeMap;

/// Names the dead-letter queue of namespace `ns` may have (`FAULTS_DEAD_LETTER_QUEUE`
/// first when set).
fn candidates(ns: &str) -> Vec<String> {
    let mut names: Vec<String> = std::env::var("FAULTS_DEAD_LETTER_QUEUE")
        .into_iter()
        .collect();
    for suffix in ["dead", "dead-letters", "dead_letters", "dlq"] {
        names.push(format!("{ns}.{suffix}"));
    }
    names
}

/// The dead-letter queue's name and every message in it (bodies, lossy UTF-8, with
/// their headers' text), taken off the queue; `None` when no candidate queue exists.
async fn dead_letters(amqp_url: &str, ns: &str) -> Option<(String, Vec<String>)> {
    let conn = Connection::connect(amqp_url, ConnectionProperties::default())
        .await
        .ok()?;
    let mut found = None;
    for name in candidates(ns) {
        // A passive declare of a missing queue closes the channel: one channel each.
        let Ok(channel) = conn.create_channel().await else {
            break;
        };
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        if channel
            .queue_declare(&name, passive, FieldTable::default())
            .await
            .is_ok()
        {
            found = Some((name, channel));
            break;
        }
    }
    let (name, channel) = found?;
    let mut messages = Vec::new();
    let get = BasicGetOptions { no_ack: true };
    while let Ok(Some(m)) = channel.basic_get(&name, get).await {
        let headers = m
            .delivery
            .properties
            .headers()
            .as_ref()
            .map(|h| format!("{h:?}"))
            .unwrap_or_default();
        messages.push(format!(
            "{} {headers}",
            String::from_utf8_lossy(&m.delivery.data)
        ));
    }
    let _ = conn.close(200, "dead letters read").await;
    Some((name, messages))
}

/// Checks the poison commands; `dead_letter_metric` is the sum of
/// `anteroom_worker_dead_letters_total` over the workers alive at the end (`None` if no
/// worker exports it).
pub(crate) async fn check(
    injected: &Injected,
    records: &[Record],
    db: &PgPool,
    amqp_url: &str,
    ns: &str,
    dead_letter_metric: Option<f64>,
    r: &mut Report,
) -> sqlx::Result<()> {
    // Through the gateways.
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut not_4xx = Vec::new();
    for rec in records {
        let status = rec.outcome.as_ref().map(|f| f.status);
        *by_status
            .entry(format!(
                "{} {}",
                rec.kind,
                status.map_or("none".into(), |s| s.to_string())
            ))
            .or_default() += 1;
        if !status.is_some_and(|s| (400..500).contains(&s)) {
            not_4xx.push(format!("{} of buyer {}: {status:?}", rec.kind, rec.buyer));
        }
    }
    r.case(format!(
        "poison through the gateways: {} requests, outcomes {by_status:?}",
        records.len()
    ));
    r.expect_zero("poison requests not answered 4xx", not_4xx.len(), &not_4xx);

    // Straight to the shard queue.
    let dead = dead_letters(amqp_url, ns).await;
    let strict = dead.is_some() || dead_letter_metric.is_some();
    let is_dead = |marker: &str| {
        dead.as_ref()
            .is_some_and(|(_, msgs)| msgs.iter().any(|m| m.contains(marker)))
    };
    let mut fates: BTreeMap<String, usize> = BTreeMap::new();
    let mut unanswered = Vec::new();
    let mut undead = Vec::new();
    for sent in &injected.sent {
        let stored: Option<i32> = match sent.request_id {
            Some(rid) => {
                sqlx::query_scalar("SELECT status FROM request_results WHERE request_id = $1")
                    .bind(rid)
                    .fetch_optional(db)
                    .await?
            }
            None => None,
        };
        let fate = match (stored, is_dead(&sent.marker)) {
            (Some(s), _) if (400..500).contains(&s) => format!("stored {s}"),
            (_, true) => "dead letter".to_owned(),
            (Some(s), false) => format!("stored {s}"),
            (None, false) => "nothing".to_owned(),
        };
        let ok = fate == "dead letter" || fate.starts_with("stored 4");
        *fates.entry(format!("{}: {fate}", sent.kind)).or_default() += 1;
        if !ok {
            let what = format!("{} at {} ms: {fate}", sent.kind, sent.at_ms);
            if sent.request_id.is_some() {
                unanswered.push(what);
            } else {
                undead.push(what);
            }
        }
    }
    r.case(format!(
        "poison straight to the shard queue: {} messages, fates {fates:?}; dead-letter queue: \
         {}; anteroom_worker_dead_letters_total: {}",
        injected.sent.len(),
        dead.as_ref()
            .map_or("none found".into(), |(name, msgs)| format!(
                "{name} ({} messages)",
                msgs.len()
            )),
        dead_letter_metric.map_or("not exported".into(), |v| v.to_string()),
    ));
    r.expect_zero(
        "poison commands without a 4xx outcome or dead letter",
        unanswered.len(),
        &unanswered,
    );
    if strict {
        r.expect_zero(
            "undecodable messages not dead-lettered",
            undead.len(),
            &undead,
        );
    } else {
        r.case(format!(
            "undecodable messages not dead-lettered: {} (NOT CHECKED: this build has no \
             dead-letter queue)",
            undead.len()
        ));
    }
    Ok(())
}
