//! The decision engine: a pure state machine, one [`Engine`] per shard session.
//!
//! The worker is the single writer of its events (docs/ARCHITECTURE.md): commands
//! are decided here in delivery order, in memory, without locks, and every decision is
//! returned as plain-data [`Effect`]s that the repository persists in one transaction per
//! batch. Nothing in this module does IO, reads the clock or draws randomness itself,
//! so it is tested exhaustively with unit and property tests.

mod admin;
mod apply;
mod best;
mod effect;
mod event;
mod layout;
mod orders;
mod recent;
mod reserve;
mod restore;

#[cfg(test)]
mod model;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod order_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use apply::{Engine, SNAPSHOT_EPOCH_SHIFT, UNDECODED_KIND};
pub use effect::{CommandResult, Effect};
pub use event::{Counts, EventState, SeatStatus};
pub use restore::{Restore, RestoreError, RestoredHold, RestoredKey, RestoredOrder};
