//! Dead-lettering a batch's deliveries that cannot be decided (see `dead_letters.rs`
//! for why the worker publishes them itself): malformed ones, and commands isolation
//! could not even answer. Runs in the finisher, after the batch's COMMIT and before its
//! ack, so a dead letter is confirmed by the broker before its original leaves the shard
//! queue.

use super::delivery::{Incoming, Origin};
use super::finisher::Finishing;
use crate::dead_letters::{self, Letter, Reason};
use anyhow::Context;
use lapin::message::Delivery;
use lapin::options::ConfirmSelectOptions;
use lapin::BasicProperties;

impl Finishing {
    /// Publishes the malformed items of the batch and those of `dead` (indexes into
    /// `incoming`) to the dead-letter queue, each confirmed by the broker. A member of
    /// a batch message goes alone, as a single-form message of its own line, so the
    /// dead-letter tool can replay it without its batch-mates.
    ///
    /// # Errors
    /// The broker is unreachable or did not take a dead letter: nothing may be acked.
    pub(super) async fn dead_letter(
        &self,
        deliveries: &[Delivery],
        incoming: &[Incoming],
        origins: &[Origin],
        mut dead: Vec<(usize, Letter)>,
    ) -> anyhow::Result<()> {
        for (i, inc) in incoming.iter().enumerate() {
            if matches!(inc, Incoming::Malformed) {
                let error = dead_letters::decode_error(body_of(deliveries, &origins[i]));
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
                let origin = &origins[*i];
                let d = &deliveries[origin.delivery];
                let body = body_of(deliveries, origin);
                let properties = match origin.line {
                    None => d.properties.clone(),
                    // The batch's `type` would make the line read as a batch.
                    Some(_) => member_properties(&d.properties),
                };
                dead_letters::send(&channel, &self.ctx.names, &properties, body, letter).await?;
                self.ctx
                    .metrics
                    .dead_letters
                    .with_label_values(&[letter.reason.label()])
                    .inc();
                tracing::warn!(
                    reason = letter.reason.label(),
                    delivery_tag = d.delivery_tag,
                    bytes = body.len(),
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

/// The bytes of the item at `origin`: its delivery's body, or its line of a batch.
fn body_of<'a>(deliveries: &'a [Delivery], origin: &Origin) -> &'a [u8] {
    let data = &deliveries[origin.delivery].data;
    match &origin.line {
        Some(line) => &data[line.clone()],
        None => data,
    }
}

/// The properties of a batch member standing alone: the batch's headers and reply
/// queue, the single form's content type, no `type`.
fn member_properties(batch: &BasicProperties) -> BasicProperties {
    let mut p = BasicProperties::default().with_content_type("application/json".into());
    if let Some(headers) = batch.headers() {
        p = p.with_headers(headers.clone());
    }
    if let Some(reply_to) = batch.reply_to() {
        p = p.with_reply_to(reply_to.clone());
    }
    p
}
