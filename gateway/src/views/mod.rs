//! Response bodies of docs/API.md that the gateway renders itself (the worker renders Hold,
//! Order and its rejections: `protocol::reply::Outcome::http_body`).

use crate::live::catalog::EventSnapshot;
use chrono::{DateTime, Utc};
use protocol::event::{AdminState, CheckoutMode, EventSpec, Gate, PublicState};
use protocol::ids::{EventId, RequestId};
use protocol::reply::{ErrorBody, ErrorCode, ErrorDetail};
use serde::Serialize;
use utoipa::ToSchema;

pub mod prequeue;
mod seats;
mod stats;
pub mod webhooks;
pub use seats::{SeatMap, SeatView, SectionView};
pub use stats::{AdmissionFigures, EventStats, QueueCounts, SeatFigures};

/// Seat counts of an event.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct SeatCounts {
    /// All seats.
    pub total: u64,
    /// Seats on sale now.
    pub available: u64,
}

/// The admin view of an event: the spec plus live state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminEvent {
    /// Event id.
    pub id: EventId,
    /// The spec with patches applied.
    #[serde(flatten)]
    pub spec: EventSpec,
    /// Public state now.
    pub state: PublicState,
    /// The venue's switch.
    pub admin_state: AdminState,
    /// Hex SHA-256 of the pre-queue shuffle seed.
    pub shuffle_commitment: Option<String>,
    /// Hex shuffle seed; `null` until `opens_at`.
    pub shuffle_seed: Option<String>,
    /// Configuration version.
    pub version: u64,
    /// Seat counts.
    pub seats: SeatCounts,
    /// Digits after the decimal point of `currency`'s minor unit (ISO 4217: 0 for
    /// KRW, 2 for USD): a price of `price_cents` is `price_cents / 10^currency_minor_units`
    /// units of the currency.
    pub currency_minor_units: u32,
    /// Created at.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// Last changed at.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

/// Public admission settings.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct PublicAdmission {
    /// Outflow rate, per minute.
    pub rate_per_minute: u32,
}

/// The public view of an event (docs/API.md `GET /v1/events/{id}`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicEvent {
    /// Event id.
    pub id: EventId,
    /// Display name.
    pub name: String,
    /// Venue.
    pub venue: String,
    /// IANA time zone.
    pub timezone: String,
    /// Opening, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub opens_at: DateTime<chrono::FixedOffset>,
    /// Pre-queue start, if any.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub prequeue_opens_at: Option<DateTime<chrono::FixedOffset>>,
    /// Public state.
    pub state: PublicState,
    /// Seat counts.
    pub seats: SeatCounts,
    /// Outflow rate.
    pub admission: PublicAdmission,
    /// Most seats one pass may hold at a time (the fan page's seat picker limit).
    pub max_seats_per_hold: u32,
    /// Lifetime of a hold, in seconds.
    pub hold_ttl_seconds: u32,
    /// Hex SHA-256 of the shuffle seed.
    pub shuffle_commitment: Option<String>,
    /// The seed, `null` until the event opens.
    pub shuffle_seed: Option<String>,
    /// ISO 4217 currency of every price (`price_cents`, `total_cents`).
    #[schema(example = "KRW")]
    pub currency: String,
    /// Digits after the decimal point of the currency's minor unit (0 for KRW, 2 for
    /// USD): prices count that unit.
    pub currency_minor_units: u32,
    /// How holds of this event are confirmed.
    pub checkout: PublicCheckout,
    /// Gate mode: the venue's shop admitted fans are sent to (through
    /// `/e/{event_id}/enter`); `null` for an event without a gate.
    pub gate: Option<Gate>,
}

/// The public checkout settings: the mode, and in `origin` mode the venue's payment
/// page (public anyway: the fan page sends the fan's browser there).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicCheckout {
    /// `fan` (the fan confirms) or `origin` (the venue's server confirms).
    pub mode: CheckoutMode,
    /// The venue's payment page, in `origin` mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn seat_counts(s: &EventSnapshot) -> SeatCounts {
    let total = s.config.spec.seating.total_seats();
    SeatCounts {
        total,
        available: s.availability.as_ref().map_or(total, |a| a.available),
    }
}

impl AdminEvent {
    /// The admin view of `s` at `now`.
    pub fn new(s: &EventSnapshot, now: DateTime<Utc>) -> Self {
        let c = &s.config;
        Self {
            id: c.id,
            spec: c.spec.clone(),
            state: s.state(now),
            admin_state: c.admin_state,
            shuffle_commitment: c.shuffle_commitment.clone(),
            shuffle_seed: s.public_seed(now),
            version: c.version,
            seats: seat_counts(s),
            currency_minor_units: c.spec.currency.minor_units(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl PublicEvent {
    /// The public view of `s` at `now`.
    pub fn new(s: &EventSnapshot, now: DateTime<Utc>) -> Self {
        let spec = &s.config.spec;
        Self {
            id: s.config.id,
            name: spec.name.to_string(),
            venue: spec.venue.to_string(),
            timezone: spec.timezone.to_string(),
            opens_at: spec.opens_at,
            prequeue_opens_at: spec.prequeue_opens_at,
            state: s.state(now),
            seats: seat_counts(s),
            admission: PublicAdmission {
                rate_per_minute: spec.admission.rate_per_minute,
            },
            max_seats_per_hold: spec.max_seats_per_hold,
            hold_ttl_seconds: spec.hold_ttl_seconds,
            shuffle_commitment: s.config.shuffle_commitment.clone(),
            shuffle_seed: s.public_seed(now),
            currency: spec.currency.to_string(),
            currency_minor_units: spec.currency.minor_units(),
            checkout: PublicCheckout {
                mode: spec.checkout.mode,
                url: (spec.checkout.mode == CheckoutMode::Origin)
                    .then(|| spec.checkout.url.as_ref().map(ToString::to_string))
                    .flatten(),
            },
            gate: spec.gate.clone(),
        }
    }
}

/// `202`: the decision takes longer than the gateway waits.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Accepted {
    /// The request's id.
    pub request_id: RequestId,
    /// Where to look for the result: `/v1/requests/{request_id}`.
    pub status_url: String,
}

/// `GET /v1/requests/{id}`: `{"state": "pending"}` or `{"state": "done", status, body}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RequestState {
    /// Not decided yet.
    Pending,
    /// Decided.
    Done {
        /// The HTTP status the request got.
        status: u16,
        /// The body it got.
        body: serde_json::Value,
    },
}

/// The `404 not_found` body for `what` (`"ticket"` → `ticket not found`): the answer of
/// the API and the status stream's `error` event.
pub fn not_found(what: &str) -> ErrorBody {
    ErrorBody {
        error: ErrorDetail {
            code: ErrorCode::NotFound,
            message: format!("{what} not found"),
            details: None,
        },
    }
}
