//! Metrics of a committed batch: commands by kind and outcome, batch size, seats sold,
//! active holds.

use super::batch::Decision;
use super::delivery::Incoming;
use super::session::Active;
use crate::engine::Effect;

impl Active {
    /// Metrics of a committed batch.
    pub(super) fn record(
        &mut self,
        incoming: &[Incoming],
        decisions: &[Option<Decision>],
        effects: &[Effect],
    ) {
        let m = &self.ctx.metrics;
        let mut commands = 0u32;
        for (inc, decision) in incoming.iter().zip(decisions) {
            match (inc, decision) {
                (Incoming::Command { env, .. }, Some(d)) => {
                    let o = &d.outcome;
                    commands += 1;
                    if env.command.kind() == "create_event"
                        && protocol::shard_of(&env.event_id, self.ctx.settings.shards) != self.shard
                    {
                        tracing::warn!(
                            event_id = %env.event_id,
                            "event routed to another shard than ours: do gateways and workers agree on ANTEROOM_SHARDS?"
                        );
                    }
                    tracing::debug!(
                        request_id = %env.request_id,
                        event_id = %env.event_id,
                        ticket_id = ?env.command.ticket_id(),
                        kind = env.command.kind(),
                        outcome = o.label(),
                        "decided"
                    );
                    m.commands
                        .with_label_values(&[env.command.kind(), o.label()])
                        .inc();
                }
                (Incoming::Invalid { refusal, .. }, Some(d)) => {
                    commands += 1;
                    let kind = refusal.kind.unwrap_or(crate::engine::UNDECODED_KIND);
                    m.commands
                        .with_label_values(&[kind, d.outcome.label()])
                        .inc();
                }
                (Incoming::Malformed, _) => {
                    m.commands
                        .with_label_values(&["malformed", "dead_lettered"])
                        .inc();
                }
                _ => {}
            }
        }
        if commands > 0 {
            m.batch_size.observe(f64::from(commands));
        }
        let sold: usize = effects
            .iter()
            .map(|e| match e {
                Effect::OrderConfirmed { order, .. } => order.seats.len(),
                _ => 0,
            })
            .sum();
        m.seats_sold.inc_by(sold as u64);
        self.report_holds();
    }
}
