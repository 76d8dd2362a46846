//! Admission: every replica's loop that lets fans through at the event's outflow rate.
//!
//! - [`admitter`]: the loop (one step per event per tick, the pre-queue lottery at
//!   `opens_at`).
//! - [`admit`]: one step in Redis (`admit.lua`: the token bucket on the Redis clock).
//! - [`bucket`]: the same token bucket in Rust, the reference model the script is tested
//!   against.

pub mod admit;
pub mod admitter;
pub mod bucket;

pub use admit::{AdmitParams, AdmitResult};
