//! JSON decoding that names the field that failed, for `422 invalid_field` answers.
//!
//! Both binaries decode client strings into the [`crate::text`] types, which refuse
//! what storage cannot take. When one refuses, the answer must say which field:
//! [`from_slice`] decodes with `serde_path_to_error` and reports `field` as a JSON path
//! (`seating.sections[0].name`, `seats[1]`, `payment_ref`).
//!
//! A lone UTF-16 surrogate escape (`"\ud800"`) is valid JSON syntax by the grammar but
//! cannot be decoded into a string; serde_json reports it as a syntax error. It is a bad
//! value, not a broken document, so it is classified as a field error here, while
//! genuinely broken JSON (unbalanced brackets, raw control bytes, bad UTF-8, trailing
//! garbage) stays a syntax error (`400 invalid_json` at the gateway).
//!
//! [`command_refusal`] serves the worker: a command message whose envelope is readable
//! but whose command holds a refused value still gets an answer (`422`) instead of
//! being dropped.

use crate::command::{Idempotency, SeatSelection};
use crate::event::{EventPatch, EventSpec, FieldError};
use crate::ids::{EventId, HoldId, RequestId, TicketId};
use crate::text::PaymentRef;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Why a body did not decode.
#[derive(Debug)]
pub enum DecodeError {
    /// Not JSON (or not one JSON value): the serde_json error.
    Syntax(serde_json::Error),
    /// JSON, but a field is missing, of the wrong type or refused: `field` is its JSON
    /// path (empty for the whole document), `message` what is wrong with it.
    Field(FieldError),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Syntax(e) => e.fmt(f),
            DecodeError::Field(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Whether serde_json's `e` is about a lone surrogate escape. serde_json has no public
/// error code for it, only these two messages (a leading surrogate not followed by a
/// `\u` escape, and one followed by anything but a trailing surrogate).
fn is_lone_surrogate(e: &serde_json::Error) -> bool {
    let m = e.to_string();
    m.starts_with("lone leading surrogate in hex escape")
        || m.starts_with("unexpected end of hex escape")
}

/// serde_json's message without its ` at line L column C` suffix.
fn bare_message(e: &serde_json::Error) -> String {
    let m = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    m.strip_suffix(&suffix).map(str::to_owned).unwrap_or(m)
}

/// Decodes `bytes` as JSON `T`, naming the failing field.
///
/// # Errors
/// [`DecodeError::Syntax`] for broken JSON; [`DecodeError::Field`] for a missing,
/// unknown, mistyped or refused field (including a lone surrogate escape).
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        classify(path, inner)
    })?;
    de.end().map_err(DecodeError::Syntax)?;
    Ok(value)
}

fn classify(path: String, e: serde_json::Error) -> DecodeError {
    use serde_json::error::Category;
    let field = if path == "." { String::new() } else { path };
    match e.classify() {
        Category::Data => DecodeError::Field(FieldError {
            field,
            message: bare_message(&e),
        }),
        Category::Syntax if is_lone_surrogate(&e) => DecodeError::Field(FieldError {
            field,
            message: "must not contain a lone UTF-16 surrogate escape".into(),
        }),
        _ => DecodeError::Syntax(e),
    }
}

/// What the worker can still read of a command message that failed to decode.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRefusal {
    /// The request to answer.
    pub request_id: RequestId,
    /// Its event (decides where the refusal is stored).
    pub event_id: EventId,
    /// The ticket it was sent for, when readable (so the ticket can read the result).
    pub ticket_id: Option<TicketId>,
    /// The command's `type` (`create_event`, `confirm`, ...), when it is a known one.
    pub kind: Option<&'static str>,
    /// The refused field, named as in the HTTP request (`payment_ref`,
    /// `seating.sections[0].name`, `seats[1]`, `Idempotency-Key`), and why.
    pub error: FieldError,
}

/// The readable head of a version-1 command message. Unknown fields are skipped
/// without decoding their strings, so a refused value elsewhere does not hide these.
#[derive(Deserialize)]
struct Head {
    version: String,
    request_id: RequestId,
    event_id: EventId,
    #[serde(default)]
    command: Option<CommandHead>,
}

#[derive(Deserialize)]
struct CommandHead {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    ticket_id: Option<TicketId>,
}

/// Every field a version-1 command may carry, each optional and without the internal
/// `type` tag: serde buffers a tagged enum before decoding it, which loses the path,
/// so this flat form is decoded to find which field is refused.
#[derive(Deserialize)]
#[allow(dead_code)] // decoded only for its errors
struct Fields {
    request_id: RequestId,
    event_id: EventId,
    command: CommandFields,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct CommandFields {
    #[serde(default)]
    spec: Option<EventSpec>,
    #[serde(default)]
    patch: Option<EventPatch>,
    #[serde(default)]
    ticket_id: Option<TicketId>,
    #[serde(default)]
    hold_id: Option<HoldId>,
    #[serde(default)]
    selection: Option<SeatSelection>,
    #[serde(default)]
    payment_ref: Option<PaymentRef>,
    #[serde(default)]
    idempotency: Option<Idempotency>,
    #[serde(default)]
    user_ref: Option<crate::text::UserRef>,
    #[serde(default)]
    by: Option<crate::command::Confirmer>,
    #[serde(default)]
    order_id: Option<crate::ids::OrderId>,
    #[serde(default)]
    reason: Option<crate::text::CancelReason>,
}

/// The path of a field of a command message as the HTTP request named it:
/// `command.payment_ref` → `payment_ref`, `command.spec.seating.sections[0].name` →
/// `seating.sections[0].name`, `command.selection.seats[1]` → `seats[1]`,
/// `command.idempotency.key` → `Idempotency-Key`.
fn request_path(path: &str) -> String {
    if path == "command.idempotency.key" {
        return "Idempotency-Key".into();
    }
    [
        "command.spec.",
        "command.patch.",
        "command.selection.",
        "command.",
    ]
    .iter()
    .find_map(|prefix| path.strip_prefix(prefix))
    .unwrap_or(path)
    .to_owned()
}

/// Command kinds of version 1, as `Command::kind` names them.
const KINDS: &[&str] = &[
    "create_event",
    "update_event",
    "hold",
    "confirm",
    "release",
    "cancel_order",
];

/// For a body that failed to decode as a `CommandMessage` with `failure`: the refusal
/// to answer it with, if it is a version-1 message whose request id and event id are
/// readable. `None` means the message cannot be answered (no request id, another
/// version, not JSON): the caller treats it as malformed.
pub fn command_refusal(body: &[u8], failure: &serde_json::Error) -> Option<CommandRefusal> {
    let head: Head = serde_json::from_slice(body).ok()?;
    if head.version != "1" {
        return None;
    }
    let (kind, ticket_id) = match head.command {
        Some(c) => (
            c.kind
                .and_then(|k| KINDS.iter().copied().find(|known| *known == k)),
            c.ticket_id,
        ),
        None => (None, None),
    };
    let error = match from_slice::<Fields>(body) {
        Err(DecodeError::Field(e)) => FieldError {
            field: request_path(&e.field),
            message: e.message,
        },
        // The flat form decoded (or failed on syntax): the failure is in something it
        // does not mirror, e.g. the command type; report the decoder's own words.
        _ => FieldError {
            field: String::new(),
            message: bare_message(failure),
        },
    };
    Some(CommandRefusal {
        request_id: head.request_id,
        event_id: head.event_id,
        ticket_id,
        kind,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CommandMessage;
    use crate::text::SeatId;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: crate::text::EventName,
        seats: Vec<SeatId>,
    }

    fn field(bytes: &[u8]) -> FieldError {
        match from_slice::<Body>(bytes) {
            Err(DecodeError::Field(e)) => e,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn refused_values_are_named_by_their_path() {
        let e = field(br#"{"name": "bad\u0000name", "seats": []}"#);
        assert_eq!(e.field, "name");
        assert!(e.message.starts_with("must not contain control characters"));
        let e = field(br#"{"name": "ok", "seats": ["A-1-1", "A-\ud800"]}"#);
        assert_eq!(e.field, "seats[1]");
        assert_eq!(e.message, "must not contain a lone UTF-16 surrogate escape");
        let e = field(br#"{"name": "ok", "seats": ["A-1-1", "A-\udc00"]}"#);
        assert_eq!(e.field, "seats[1]");
        let e = field(br#"{"seats": []}"#);
        assert_eq!(e.field, "");
        assert!(e.message.contains("missing field `name`"), "{}", e.message);
    }

    #[test]
    fn broken_json_stays_a_syntax_error() {
        for body in [
            &br#"{"name": "x""#[..],
            b"{\"name\": \"a\x01b\", \"seats\": []}",
            b"{\"name\": \"\xff\", \"seats\": []}",
            br#"{"name": "x", "seats": []} trailing"#,
            br#"{"name": "\uZZZZ", "seats": []}"#,
        ] {
            assert!(
                matches!(from_slice::<Body>(body), Err(DecodeError::Syntax(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    fn refusal(body: serde_json::Value) -> Option<CommandRefusal> {
        let bytes = serde_json::to_vec(&body).unwrap();
        let failure = serde_json::from_slice::<CommandMessage>(&bytes).unwrap_err();
        command_refusal(&bytes, &failure)
    }

    #[test]
    fn a_refused_command_is_answerable_and_names_its_field() {
        let (request, event, ticket) = (RequestId::new(), EventId::new(), TicketId::new());
        let r = refusal(serde_json::json!({
            "version": "1", "request_id": request, "event_id": event,
            "sent_at": "2026-12-01T11:00:00Z",
            "command": {"type": "confirm", "ticket_id": ticket, "hold_id": HoldId::new(),
                        "payment_ref": "pay\u{0}ref", "idempotency": null}
        }))
        .unwrap();
        assert_eq!(
            (r.request_id, r.event_id, r.ticket_id, r.kind),
            (request, event, Some(ticket), Some("confirm"))
        );
        assert_eq!(r.error.field, "payment_ref");
        assert!(r
            .error
            .message
            .starts_with("must not contain control characters"));
    }

    #[test]
    fn event_fields_are_named_as_the_admin_body_names_them() {
        let spec = |name: &str, section: &str| {
            serde_json::json!({
                "version": "1", "request_id": RequestId::new(), "event_id": EventId::new(),
                "sent_at": "2026-12-01T11:00:00Z",
                "command": {"type": "create_event", "spec": {
                    "name": name, "venue": "v", "timezone": "UTC",
                    "opens_at": "2026-12-01T20:00:00Z",
                    "admission": {"rate_per_minute": 60, "max_active": 10, "pass_ttl_seconds": 600},
                    "hold_ttl_seconds": 300, "max_seats_per_hold": 2,
                    "seating": {"sections": [{"name": section, "rows": 1, "seats_per_row": 1,
                                              "price_cents": 1}]}}}
            })
        };
        let r = refusal(spec("bad\u{0}name", "A")).unwrap();
        assert_eq!(
            (r.kind, r.error.field.as_str()),
            (Some("create_event"), "name")
        );
        let r = refusal(spec("ok", "A\u{7f}")).unwrap();
        assert_eq!(r.error.field, "seating.sections[0].name");
    }

    #[test]
    fn a_lone_surrogate_in_a_raw_message_is_answerable() {
        let (request, event) = (RequestId::new(), EventId::new());
        let body = format!(
            r#"{{"version":"1","request_id":"{request}","event_id":"{event}",
               "sent_at":"2026-12-01T11:00:00Z","command":{{"type":"hold",
               "ticket_id":"{}","selection":{{"seats":["A-1-1","\ud800"]}},"idempotency":null}}}}"#,
            TicketId::new()
        );
        let failure = serde_json::from_slice::<CommandMessage>(body.as_bytes()).unwrap_err();
        let r = command_refusal(body.as_bytes(), &failure).unwrap();
        assert_eq!(r.kind, Some("hold"));
        assert_eq!(r.error.field, "seats[1]");
    }

    #[test]
    fn unanswerable_messages_are_none() {
        let bad = serde_json::json!({"version": "1", "event_id": EventId::new()});
        assert_eq!(refusal(bad), None);
        let other = serde_json::json!({"version": "2", "request_id": RequestId::new(),
            "event_id": EventId::new()});
        assert_eq!(refusal(other), None);
        let e = serde_json::from_slice::<CommandMessage>(b"not json").unwrap_err();
        assert_eq!(command_refusal(b"not json", &e), None);
    }
}
