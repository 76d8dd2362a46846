//! The oversold audit: every `audit_interval_secs`, for the shards this worker owns,
//! count in PostgreSQL the seats given to more than one buyer and publish the count as
//! `anteroom_seats_oversold{shard}` (it must stay 0, an alert fires otherwise).
//!
//! It runs beside the shard consumers, never inside a batch, so a slow audit query
//! cannot delay a group commit. A shard this worker no longer owns loses its series
//! (its new owner reports it).

use crate::shard::ShardContext;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Runs the audit until `shutdown`.
pub(crate) async fn run(ctx: Arc<ShardContext>, shutdown: CancellationToken) {
    let every = Duration::from_secs(ctx.settings.audit_interval_secs);
    // The first round soon after start (takeovers take a moment), then every period.
    let mut tick = interval_at(Instant::now() + every.min(Duration::from_secs(2)), every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let gauge = &ctx.metrics.seats_oversold;
    let mut reported: BTreeSet<u16> = BTreeSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let owned: BTreeSet<u16> = ctx.owned_shards().into_iter().collect();
        for gone in reported.difference(&owned) {
            let _ = gauge.remove_label_values(&[&gone.to_string()]);
        }
        reported.retain(|s| owned.contains(s));
        let shards: Vec<u16> = owned.iter().copied().collect();
        match tokio::time::timeout(every, ctx.repo.oversold_by_shard(&shards)).await {
            Ok(Ok(counts)) => {
                for (shard, oversold) in counts {
                    // Still ours? A shard lost during the query is its new owner's to report.
                    if !ctx.owned_shards().contains(&shard) {
                        continue;
                    }
                    if oversold > 0 {
                        tracing::error!(shard, oversold, "oversold seats found in PostgreSQL");
                    }
                    gauge.with_label_values(&[&shard.to_string()]).set(oversold);
                    reported.insert(shard);
                }
            }
            Ok(Err(e)) => {
                ctx.metrics.audit_failures.inc();
                tracing::warn!(error = %e, "oversold audit failed; retrying next period");
            }
            Err(_) => {
                ctx.metrics.audit_failures.inc();
                tracing::warn!("oversold audit timed out; retrying next period");
            }
        }
    }
    for shard in reported {
        let _ = gauge.remove_label_values(&[&shard.to_string()]);
    }
}
