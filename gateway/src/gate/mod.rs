//! Gate mode (docs/API.md, "Gate mode"): the venue's own shop behind the queue.
//!
//! - [`urls`]: the URL rules: the pass added to the shop's URL, `return` only to the
//!   gate's own origin (no open redirect), the absolute queue page URL.
//! - [`revoked`]: each replica's copy of the revoked passes of the gated events it is
//!   asked about, so that the check makes no Redis call.

pub mod revoked;
pub mod urls;

pub use revoked::RevokedPasses;
pub use urls::PublicUrl;

/// Query parameter and cookie carrying the pass to the shop.
pub const PASS_PARAM: &str = "anteroom_pass";
