//! `anteroom-gateway verify-shuffle`: checks a lottery from files anyone can save.
//!
//! A ticket file is either JSON (the `GET /v1/events/{id}/prequeue` record, whose
//! `tickets` and `order` are used, or a plain array of ticket ids) or text with one
//! ticket id per line (blank lines and lines starting with `#` are ignored).

use super::{verify, VerifyError};
use anyhow::Context;
use protocol::ids::TicketId;
use std::fmt::Write as _;
use std::path::Path;

/// Ticket lists read from a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFile {
    /// The participants (arrival order), if the file has them.
    pub tickets: Vec<TicketId>,
    /// The published order, if the file has one (`order` of a record).
    pub order: Option<Vec<TicketId>>,
}

/// Parses a ticket file's `text` (see the module doc).
///
/// # Errors
/// Malformed JSON or ticket ids.
pub fn parse_ticket_file(text: &str) -> anyhow::Result<TicketFile> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: serde_json::Value =
            serde_json::from_str(text).context("Failed to parse the JSON ticket file")?;
        let ids = |v: &serde_json::Value| -> anyhow::Result<Vec<TicketId>> {
            serde_json::from_value(v.clone()).context("Expected an array of ticket ids")
        };
        return Ok(match &value {
            serde_json::Value::Array(_) => TicketFile {
                tickets: ids(&value)?,
                order: None,
            },
            _ => TicketFile {
                tickets: ids(&value["tickets"]).context("in `tickets`")?,
                order: value
                    .get("order")
                    .map(|o| ids(o).context("in `order`"))
                    .transpose()?,
            },
        });
    }
    let tickets = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.parse()
                .with_context(|| format!("{l:?} is not a ticket id"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(TicketFile {
        tickets,
        order: None,
    })
}

/// Verifies the lottery of `tickets_path` (and the published order of `order_path`, else
/// the `order` in the ticket file, if any) against `seed_hex` and `commitment_hex`.
/// Returns the report to print: the checks, then `rank ticket` lines.
///
/// # Errors
/// Unreadable files, or a [`VerifyError`] (the seed does not match the commitment, a
/// duplicate, or an order that differs from the published one).
pub fn verify_files(
    seed_hex: &str,
    commitment_hex: &str,
    tickets_path: &Path,
    order_path: Option<&Path>,
) -> anyhow::Result<String> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).with_context(|| format!("Failed to read {}", p.display()))
    };
    let file = parse_ticket_file(&read(tickets_path)?)?;
    let published = match order_path {
        Some(p) => {
            let f = parse_ticket_file(&read(p)?)?;
            Some(f.order.unwrap_or(f.tickets))
        }
        None => file.order.clone(),
    };
    let order: Result<Vec<TicketId>, VerifyError> = verify(
        seed_hex,
        commitment_hex,
        &file.tickets,
        published.as_deref(),
    );
    let order = order?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "commitment: ok (SHA-256 of the seed is {commitment_hex})"
    );
    match &published {
        Some(_) => {
            let _ = writeln!(out, "order: ok ({} tickets, as published)", order.len());
        }
        None => {
            let _ = writeln!(
                out,
                "order: recomputed ({} tickets; no published order given)",
                order.len()
            );
        }
    }
    for (rank, t) in order.iter().enumerate() {
        let _ = writeln!(out, "{} {t}", rank + 1);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_files_in_three_shapes() {
        let a = TicketId(uuid::Uuid::from_u128(1));
        let b = TicketId(uuid::Uuid::from_u128(2));
        let text = format!("# pre-queue\n{a}\n\n  {b}  \n");
        assert_eq!(parse_ticket_file(&text).unwrap().tickets, vec![a, b]);
        let array = format!("[\"{a}\", \"{b}\"]");
        assert_eq!(parse_ticket_file(&array).unwrap().tickets, vec![a, b]);
        let record = format!("{{\"tickets\": [\"{a}\", \"{b}\"], \"order\": [\"{b}\", \"{a}\"]}}");
        let f = parse_ticket_file(&record).unwrap();
        assert_eq!((f.tickets, f.order), (vec![a, b], Some(vec![b, a])));
        assert!(parse_ticket_file("not-a-uuid").is_err());
        assert!(parse_ticket_file("{\"tickets\": 3}").is_err());
    }
}
