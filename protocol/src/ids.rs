//! Typed ids. Every id is a UUID serialised as lowercase hyphenated text.
//!
//! New ids are UUIDv7 (time ordered), so database indexes on them stay append-mostly.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered (UUIDv7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

id_type!(
    /// An event (one on-sale: a show on a date in a venue).
    EventId
);
id_type!(
    /// A fan's place in an event's queue; the `sub` of both queue token and pass.
    TicketId
);
id_type!(
    /// A hold: seats reserved for a ticket until `expires_at`.
    HoldId
);
id_type!(
    /// A confirmed order.
    OrderId
);
id_type!(
    /// One command sent to a worker; AMQP `correlation_id`, key of stored results.
    RequestId
);
