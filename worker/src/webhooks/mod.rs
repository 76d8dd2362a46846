//! Webhooks following the Standard Webhooks specification (docs/WEBHOOKS.md).
//!
//! - [`payload`]: the messages, one per decision and type, and their JSON bodies;
//! - [`outbox`]: the group commit writes the messages of its decisions, and one delivery
//!   per matching endpoint, in the batch's own transaction;
//! - [`sign`]: the `webhook-signature` header (both secrets during a rotation);
//! - `deliver`: the runner that sends the deliveries of the shards this worker owns,
//!   in order per endpoint and event, with retries, off the batch loop; `attempt`: one
//!   attempt (URL check, signature, POST, the next delay);
//! - `prune`: retention of the delivered and given-up rows.

mod attempt;
pub(crate) mod deliver;
pub mod outbox;
pub mod payload;
mod prune;
pub mod sign;
