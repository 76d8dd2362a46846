//! JWT claims of the two credentials (docs/ARCHITECTURE.md).
//!
//! - Queue token: HS256 with the gateway secret; `kind: "queue"`.
//! - Pass: EdDSA (Ed25519) with a `kid` from `/.well-known/jwks.json`; `kind: "pass"`.
//!
//! `aud` is the event id; verifiers pin the algorithm and the audience.

use crate::ids::TicketId;
use serde::{Deserialize, Serialize};

/// Which credential a token is. A queue token is never accepted where a pass is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Proves a place in the queue.
    Queue,
    /// Admits its holder to reserve seats.
    Pass,
}

/// Claims of a queue token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueClaims {
    /// Ticket id.
    pub sub: TicketId,
    /// Event id (text).
    pub aud: String,
    /// Arrival number: the ticket's score in the waiting set.
    pub seq: u64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Always [`TokenKind::Queue`].
    pub kind: TokenKind,
    /// The ticketing site's reference of the user, when the join carried a signed one:
    /// the pass issued on admission names it too (and the holds made with that pass),
    /// so the venue's server learns which of its users holds the seats. Absent
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_ref: Option<String>,
}

/// Claims of a pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassClaims {
    /// Ticket id.
    pub sub: TicketId,
    /// Event id (text).
    pub aud: String,
    /// Unique pass id.
    pub jti: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds (`admitted_at + pass_ttl_seconds`).
    pub exp: i64,
    /// Always [`TokenKind::Pass`].
    pub kind: TokenKind,
    /// The user reference of the fan's signed join, if it carried one: the gateway
    /// copies it into the hold command so the venue's server can tell whose hold it
    /// confirms. Absent for anonymous joins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_ref: Option<String>,
}

/// The `kind` of a hold token: its own type, so that neither a pass nor a queue token
/// ever decodes as a hold token, nor a hold token as either of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldTokenKind {
    /// Names a held hold for the venue's payment page.
    Hold,
}

/// Claims of a hold token: an EdDSA JWT signed with the pass key (same `kid`, same
/// JWKS) that the fan page hands to the venue's payment page with the hold id, so the
/// page knows which hold it charges without trusting the query string.
///
/// Short-lived: `exp` is the hold's `expires_at` or 15 minutes after issue, whichever
/// comes first. Verifiers pin `alg: EdDSA`, the audience (the event id) and `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldClaims {
    /// Hold id.
    pub sub: crate::ids::HoldId,
    /// Event id (text).
    pub aud: String,
    /// The ticket that holds it (the pass's `sub`).
    pub ticket_id: TicketId,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Always [`HoldTokenKind::Hold`].
    pub kind: HoldTokenKind,
}
