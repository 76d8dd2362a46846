//! Dead-lettering a batch's deliveries that cannot be decided (see `dead_letters.rs`
//! for why the worker publishes them itself): malformed ones, and commands isolation
//! could not even answer. Runs in `finish`, after the batch's COMMIT and before its ack,
//! so a dead letter is confirmed by the broker before its original leaves the shard
//! queue.

use super::delivery::Incoming;
use super::session::Active;
use crate::dead_letters::{self, Letter, Reason};
use anyhow::Context;
use lapin::message::Delivery;
use lapin::options::ConfirmSelectOptions;

impl Active {
    /// Publishes the malformed deliveries of the batch and those of `dead` (indexes
    /// into `deliveries`) to the dead-letter queue, each confirmed by the broker.
    ///
    /// # Errors
    /// The broker is unreachable or did not take a dead letter: nothing may be acked.
    pub(super) async fn dead_letter(
        &self,
        deliveries: &[Delivery],
        incoming: &[Incoming],
        mut dead: Vec<(usize, Letter)>,
    ) -> anyhow::Result<()> {
        for (i, inc) in incoming.iter().enumerate() {
            if matches!(inc, Incoming::Malformed) {
                let error = dead_letters::decode_error(&deliveries[i].data);
                dead.push((
                    i,
                    Letter {
                        reason: Reason::Malformed,
                        shard: self.shard,
                        error,
                    },
                ));
            }
        }
        if dead.is_empty() {
            return Ok(());
        }
        dead.sort_by_key(|(i, _)| *i);
        // A channel of its own: replies go out without confirms, dead letters need them.
        let channel = self.ctx.broker.channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .context("Failed to enable publisher confirms for dead letters")?;
        let sent = async {
            for (i, letter) in &dead {
                dead_letters::send(&channel, &self.ctx.names, &deliveries[*i], letter).await?;
                self.ctx
                    .metrics
                    .dead_letters
                    .with_label_values(&[letter.reason.label()])
                    .inc();
                tracing::warn!(
                    reason = letter.reason.label(),
                    delivery_tag = deliveries[*i].delivery_tag,
                    bytes = deliveries[*i].data.len(),
                    error = %letter.error,
                    "delivery moved to the dead-letter queue"
                );
            }
            anyhow::Ok(())
        }
        .await;
        let _ = channel.close(200, "dead letters sent").await;
        sent
    }
}
