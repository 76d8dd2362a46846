//! Gate mode: the venue's own shop behind Anteroom's queue (docs/API.md, "Gate mode").
//!
//! An event with a `gate` sends each admitted fan to `target_url` with their pass; the
//! venue's reverse proxy asks the gateway on every shop request whether the pass is
//! good (`/v1/gate/check`), and the shop's server ends a session by revoking the pass.

use crate::text::{CookieDomain, GateUrl};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// The gate of an event (`gate` of the event body): where admitted fans go, and the
/// domain of the pass cookie set for the shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// The venue's shop: admitted fans are sent there with `anteroom_pass=<pass>` added
    /// to its query (its own query is kept).
    pub target_url: GateUrl,
    /// `Domain` of the `anteroom_pass` cookie set on the hand-off and by the check, so
    /// the shop's hosts receive it; host-only cookies when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_domain: Option<CookieDomain>,
}

/// Decodes a PATCH member that may be absent (`None`), `null` (`Some(None)`: remove) or
/// a value (`Some(Some(v))`: replace). Used with `#[serde(default)]`.
pub(crate) fn absent_null_or<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
