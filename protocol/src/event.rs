//! Events: the definition a venue submits, live configuration, seat ids and states.
//!
//! Field names and shapes are those of docs/API.md (`POST /v1/admin/events`).

use crate::ids::EventId;
use crate::text::{CheckoutUrl, CurrencyCode, EventName, SectionName, TimeZoneName, VenueName};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod gate;
mod patch;
pub use gate::Gate;
pub use patch::{AdmissionPatch, CheckoutPatch, EventPatch, RESCHEDULE_NOTICE_SECONDS};

/// Admission settings: the outflow rate and its caps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Admission {
    /// Outflow rate: fans admitted per minute.
    pub rate_per_minute: u32,
    /// Cap on admitted fans whose pass has neither expired nor been used up.
    pub max_active: u32,
    /// Lifetime of a pass, in seconds.
    pub pass_ttl_seconds: u32,
}

/// One seating section: `rows` × `seats_per_row` seats at one price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Section {
    /// Section name (1–16 letters, digits or `_`); seat ids are `{name}-{row}-{number}`.
    pub name: SectionName,
    /// Number of rows, from 1.
    pub rows: u32,
    /// Seats in each row, numbered from 1.
    pub seats_per_row: u32,
    /// Price of each seat in the section, in cents.
    pub price_cents: i64,
}

/// The seating plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Seating {
    /// Sections in display order.
    pub sections: Vec<Section>,
}

impl Seating {
    /// Total number of seats.
    pub fn total_seats(&self) -> u64 {
        self.sections
            .iter()
            .map(|s| u64::from(s.rows) * u64::from(s.seats_per_row))
            .sum()
    }

    /// Every seat in row-major order per section (the order of
    /// [`crate::availability::SectionAvailability::statuses`]).
    pub fn seats(&self) -> impl Iterator<Item = (SeatRef<'_>, i64)> + '_ {
        self.sections.iter().flat_map(|s| {
            (1..=s.rows).flat_map(move |row| {
                (1..=s.seats_per_row).map(move |number| {
                    (
                        SeatRef {
                            section: &s.name,
                            row,
                            number,
                        },
                        s.price_cents,
                    )
                })
            })
        })
    }

    /// Index of `seat_id` in [`Seating::seats`] order and its price, or `None` if the
    /// seat does not exist. O(sections).
    pub fn locate(&self, seat_id: &str) -> Option<(usize, i64)> {
        let seat = SeatRef::parse(seat_id)?;
        let mut base = 0usize;
        for s in &self.sections {
            if s.name.as_str() == seat.section {
                if seat.row == 0
                    || seat.row > s.rows
                    || seat.number == 0
                    || seat.number > s.seats_per_row
                {
                    return None;
                }
                let idx = base
                    + (seat.row as usize - 1) * s.seats_per_row as usize
                    + (seat.number as usize - 1);
                return Some((idx, s.price_cents));
            }
            base += s.rows as usize * s.seats_per_row as usize;
        }
        None
    }
}

/// A seat id split into its parts: `{section}-{row}-{number}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatRef<'a> {
    /// Section name.
    pub section: &'a str,
    /// Row, from 1.
    pub row: u32,
    /// Seat number in the row, from 1.
    pub number: u32,
}

impl<'a> SeatRef<'a> {
    /// Parses `A-1-2`; `None` if malformed. The section is everything before the last
    /// two `-`-separated numbers.
    pub fn parse(id: &'a str) -> Option<Self> {
        let mut parts = id.rsplitn(3, '-');
        let number = parts.next()?.parse().ok()?;
        let row = parts.next()?.parse().ok()?;
        let section = parts.next()?;
        if section.is_empty() {
            return None;
        }
        Some(Self {
            section,
            row,
            number,
        })
    }
}

impl std::fmt::Display for SeatRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.section, self.row, self.number)
    }
}

/// Body of `POST /v1/admin/events`. Timestamps must carry an offset (RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Display name, 1–200 characters.
    pub name: EventName,
    /// Venue name, 1–200 characters.
    pub venue: VenueName,
    /// IANA time zone for display, e.g. `Asia/Seoul`.
    pub timezone: TimeZoneName,
    /// When the queue opens (admission starts), RFC 3339 with offset.
    #[schema(value_type = String, format = DateTime)]
    pub opens_at: DateTime<FixedOffset>,
    /// Optional start of the pre-queue (lottery window before `opens_at`).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub prequeue_opens_at: Option<DateTime<FixedOffset>>,
    /// Outflow rate and caps.
    pub admission: Admission,
    /// Lifetime of a hold, in seconds.
    pub hold_ttl_seconds: u32,
    /// Most seats one pass may hold at a time.
    pub max_seats_per_hold: u32,
    /// Seating plan.
    pub seating: Seating,
    /// Whether joining the queue needs a user reference signed by the ticketing site,
    /// with an expiry (`user_ref`, `user_exp`, `user_sig` in the join body): anonymous
    /// joins are then refused. Off when absent.
    #[serde(default)]
    pub require_identity: bool,
    /// How a hold becomes an order (fan or origin checkout). Fan checkout when absent.
    #[serde(default)]
    pub checkout: Checkout,
    /// ISO 4217 currency of the prices: every `price_cents` (and `total_cents`) counts
    /// this currency's minor unit (cents of USD, whole won of KRW). `USD` when absent.
    #[serde(default = "default_currency")]
    #[schema(value_type = String, example = "KRW")]
    pub currency: CurrencyCode,
    /// Gate mode: admitted fans go to the venue's own shop, whose reverse proxy checks
    /// their pass (docs/API.md, "Gate mode"). No gate when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<Gate>,
}

fn default_currency() -> CurrencyCode {
    CurrencyCode::parse("USD").expect("USD is an ISO 4217 code")
}

/// Who may turn a hold into an order.
///
/// The default is `fan`, the v1 behaviour: an event created by a client that knows
/// nothing of checkout modes keeps working as it did. A venue that takes money sets
/// `origin`, so that only its own server, after the payment, can confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutMode {
    /// The fan's own `POST /v1/holds/{id}/confirm` confirms (demos, free events).
    #[default]
    Fan,
    /// Only the venue's server confirms, through the origin API with an API key; the
    /// fan page sends the fan to `checkout.url` with a signed hold token.
    Origin,
}

/// Checkout settings of an event (`checkout` of the event body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Checkout {
    /// Who confirms holds; `fan` when absent.
    #[serde(default)]
    pub mode: CheckoutMode,
    /// The venue's payment page, required in `origin` mode: the fan page sends the fan
    /// there with `hold_id` and `hold_token` in the query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "https://shop.example.com/pay")]
    pub url: Option<CheckoutUrl>,
}

impl Checkout {
    /// Checks that origin mode names its checkout page; problems go to `errors`.
    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        if self.mode == CheckoutMode::Origin && self.url.is_none() {
            errors.push(err(
                "checkout.url",
                "is required when checkout.mode is origin",
            ));
        }
    }
}

/// Limits enforced on an [`EventSpec`] (validation happens in the gateway and again in
/// the worker).
pub mod limits {
    /// Most seats per event (keeps one event's state comfortably in memory).
    pub const MAX_SEATS: u64 = 200_000;
    /// Most seats per hold.
    pub const MAX_SEATS_PER_HOLD: u32 = 20;
    /// Longest hold, in seconds (1 hour).
    pub const MAX_HOLD_TTL_SECONDS: u32 = 3600;
    /// Longest pass, in seconds (1 day).
    pub const MAX_PASS_TTL_SECONDS: u32 = 86_400;
    /// Highest outflow rate, per minute.
    pub const MAX_RATE_PER_MINUTE: u32 = 1_000_000;
}

/// A field that failed validation: `field` is a JSON path like `seating.sections[0].rows`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// JSON path of the field.
    pub field: String,
    /// What is wrong, in plain words.
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

impl Admission {
    /// Checks ranges; every problem is reported.
    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        check_rate(self.rate_per_minute, errors);
        check_max_active(self.max_active, errors);
        check_pass_ttl(self.pass_ttl_seconds, errors);
    }
}

fn check_rate(rate_per_minute: u32, errors: &mut Vec<FieldError>) {
    if rate_per_minute == 0 || rate_per_minute > limits::MAX_RATE_PER_MINUTE {
        errors.push(err(
            "admission.rate_per_minute",
            "must be between 1 and 1000000",
        ));
    }
}

fn check_max_active(max_active: u32, errors: &mut Vec<FieldError>) {
    if max_active == 0 {
        errors.push(err("admission.max_active", "must be at least 1"));
    }
}

fn check_pass_ttl(pass_ttl_seconds: u32, errors: &mut Vec<FieldError>) {
    if !(30..=limits::MAX_PASS_TTL_SECONDS).contains(&pass_ttl_seconds) {
        errors.push(err(
            "admission.pass_ttl_seconds",
            "must be between 30 and 86400",
        ));
    }
}

impl EventSpec {
    /// Validates what the field types cannot see alone (ranges, order of times,
    /// duplicate sections, total size); `Err` lists every problem. Names, venue, time
    /// zone and section names were checked when they were decoded (`crate::text`).
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(pq) = self.prequeue_opens_at {
            if pq >= self.opens_at {
                errors.push(err("prequeue_opens_at", "must be before opens_at"));
            }
        }
        self.admission.validate(&mut errors);
        self.checkout.validate(&mut errors);
        if self.hold_ttl_seconds < 10 || self.hold_ttl_seconds > limits::MAX_HOLD_TTL_SECONDS {
            errors.push(err("hold_ttl_seconds", "must be between 10 and 3600"));
        }
        if self.max_seats_per_hold == 0 || self.max_seats_per_hold > limits::MAX_SEATS_PER_HOLD {
            errors.push(err("max_seats_per_hold", "must be between 1 and 20"));
        }
        if self.seating.sections.is_empty() {
            errors.push(err("seating.sections", "must list at least one section"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.seating.sections.iter().enumerate() {
            if !names.insert(s.name.as_str()) {
                errors.push(err(
                    format!("seating.sections[{i}].name"),
                    "duplicate section name",
                ));
            }
            if s.rows == 0 || s.rows > 1000 {
                errors.push(err(
                    format!("seating.sections[{i}].rows"),
                    "must be between 1 and 1000",
                ));
            }
            if s.seats_per_row == 0 || s.seats_per_row > 1000 {
                errors.push(err(
                    format!("seating.sections[{i}].seats_per_row"),
                    "must be between 1 and 1000",
                ));
            }
            if s.price_cents < 0 {
                errors.push(err(
                    format!("seating.sections[{i}].price_cents"),
                    "must not be negative",
                ));
            }
        }
        if self.seating.total_seats() > limits::MAX_SEATS {
            errors.push(err("seating", "at most 200000 seats per event"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The state a venue sets by `PATCH {"state": ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum AdminState {
    /// Runs on schedule (pre-queue, then open at `opens_at`).
    #[default]
    Open,
    /// Admission stopped; fans keep their place.
    Paused,
    /// Queue closed for good; waiting fans are told.
    Closed,
    /// Finished and put away: the queue stays closed, the event leaves the default
    /// admin list, its orders stay readable. Reached only from `closed`, or from a sold
    /// out event with no active hold; final (no later change is accepted).
    Archived,
}

impl AdminState {
    /// Whether sales and the queue are shut for good (`closed` or `archived`): no hold,
    /// no join, no admission.
    pub fn is_closed(self) -> bool {
        matches!(self, AdminState::Closed | AdminState::Archived)
    }
}

/// The public state of an event (docs/API.md `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PublicState {
    /// Before the pre-queue (or before `opens_at` when there is none).
    Scheduled,
    /// Between `prequeue_opens_at` and `opens_at`.
    Prequeue,
    /// Admitting.
    Open,
    /// Paused by the venue.
    Paused,
    /// No seats available and none held.
    SoldOut,
    /// Closed by the venue (also shown for an archived event).
    Closed,
}

/// Live configuration of an event: what the worker persists and pushes to Redis
/// (`RedisKeys::config`) and every gateway reads. `version` increases with every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventConfig {
    /// Event id.
    pub id: EventId,
    /// The spec as created, with later patches applied.
    pub spec: EventSpec,
    /// The venue's state switch.
    pub admin_state: AdminState,
    /// Hex SHA-256 of the pre-queue shuffle seed (only with a pre-queue).
    pub shuffle_commitment: Option<String>,
    /// Hex shuffle seed (32 bytes); internal until `opens_at`, then public.
    pub shuffle_seed: Option<String>,
    /// Increases by one with every change.
    pub version: u64,
    /// When the event was created.
    pub created_at: DateTime<Utc>,
    /// When the configuration last changed.
    pub updated_at: DateTime<Utc>,
}

impl EventConfig {
    /// Whether the venue archived the event: its queue is closed for good and nothing
    /// about it changes any more, so a replica may stop watching it.
    pub fn is_archived(&self) -> bool {
        self.admin_state == AdminState::Archived
    }

    /// The public state at `now`, given whether the availability snapshot shows the
    /// event sold out (no seat available and none held).
    pub fn public_state(&self, now: DateTime<Utc>, sold_out: bool) -> PublicState {
        match self.admin_state {
            AdminState::Closed | AdminState::Archived => PublicState::Closed,
            _ if sold_out => PublicState::SoldOut,
            AdminState::Paused => PublicState::Paused,
            AdminState::Open => {
                if now >= self.spec.opens_at {
                    PublicState::Open
                } else if self.spec.prequeue_opens_at.is_some_and(|pq| now >= pq) {
                    PublicState::Prequeue
                } else {
                    PublicState::Scheduled
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec() -> EventSpec {
        serde_json::from_str(
            r#"{"name":"Winter Concert","venue":"Olympic Hall","timezone":"Asia/Seoul",
            "opens_at":"2026-12-01T20:00:00+09:00","prequeue_opens_at":"2026-12-01T19:30:00+09:00",
            "admission":{"rate_per_minute":600,"max_active":2000,"pass_ttl_seconds":600},
            "hold_ttl_seconds":300,"max_seats_per_hold":4,
            "seating":{"sections":[{"name":"A","rows":10,"seats_per_row":20,"price_cents":15000},
                                   {"name":"B","rows":2,"seats_per_row":5,"price_cents":9000}]}}"#,
        )
        .unwrap()
    }

    #[test]
    fn api_example_is_valid() {
        assert_eq!(spec().validate(), Ok(()));
        assert_eq!(spec().seating.total_seats(), 210);
    }

    #[test]
    fn timestamp_without_offset_is_rejected() {
        let body = serde_json::to_string(&spec())
            .unwrap()
            .replace("2026-12-01T20:00:00+09:00", "2026-12-01T20:00:00");
        assert!(serde_json::from_str::<EventSpec>(&body).is_err());
    }

    #[test]
    fn every_problem_is_reported() {
        let mut s = spec();
        s.admission.rate_per_minute = 0;
        s.max_seats_per_hold = 0;
        s.seating.sections[1].name = "A".parse().unwrap();
        let errors = s.validate().unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn seat_ids_locate_in_row_major_order() {
        let s = spec();
        assert_eq!(s.seating.locate("A-1-1"), Some((0, 15000)));
        assert_eq!(s.seating.locate("A-2-1"), Some((20, 15000)));
        assert_eq!(s.seating.locate("B-1-1"), Some((200, 9000)));
        assert_eq!(s.seating.locate("B-2-5"), Some((209, 9000)));
        assert_eq!(s.seating.locate("B-3-1"), None);
        assert_eq!(s.seating.locate("C-1-1"), None);
        assert_eq!(s.seating.locate("A-0-1"), None);
        assert_eq!(s.seating.locate("garbage"), None);
        let all: Vec<String> = s.seating.seats().map(|(r, _)| r.to_string()).collect();
        assert_eq!(all.len(), 210);
        for (i, id) in all.iter().enumerate() {
            assert_eq!(s.seating.locate(id).map(|l| l.0), Some(i));
        }
    }

    #[test]
    fn public_state_follows_schedule_and_switch() {
        let s = spec();
        let mut c = EventConfig {
            id: EventId::new(),
            spec: s.clone(),
            admin_state: AdminState::Open,
            shuffle_commitment: None,
            shuffle_seed: None,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let before =
            s.prequeue_opens_at.unwrap().with_timezone(&Utc) - chrono::Duration::seconds(1);
        assert_eq!(c.public_state(before, false), PublicState::Scheduled);
        assert_eq!(
            c.public_state(s.prequeue_opens_at.unwrap().with_timezone(&Utc), false),
            PublicState::Prequeue
        );
        let open = s.opens_at.with_timezone(&Utc);
        assert_eq!(c.public_state(open, false), PublicState::Open);
        assert_eq!(c.public_state(open, true), PublicState::SoldOut);
        c.admin_state = AdminState::Paused;
        assert_eq!(c.public_state(open, false), PublicState::Paused);
        c.admin_state = AdminState::Closed;
        assert_eq!(c.public_state(open, true), PublicState::Closed);
        assert!(!c.is_archived());
        c.admin_state = AdminState::Archived;
        assert_eq!(c.public_state(open, false), PublicState::Closed);
        assert!(c.is_archived());
    }
}
