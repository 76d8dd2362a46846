//! In-time confirms, from the buyers' own send times: a fan who confirmed before the
//! hold's `expires_at` keeps the seat, however long the worker was away.
//!
//! The fans and the gateways run on one machine and read the same clock, so no margin
//! for clock skew is needed. [`TRANSIT_MS`] covers the time between the client sending
//! a request and the gateway stamping it as accepted (the request crossing loopback and
//! waiting for a busy gateway's scheduler): confirms sent closer than that to
//! `expires_at` are reported, not judged.
//!
//! - A confirm whose last attempt (the one the gateway accepted: it answered `202` or
//!   the outcome) was sent more than [`TRANSIT_MS`] before `expires_at` must not end in
//!   `410 hold_expired`.
//! - A confirm whose first attempt was sent more than [`TRANSIT_MS`] after `expires_at`
//!   must not end in `200`: the gateway cannot have accepted it in time.

use crate::checks::Report;
use crate::log::Record;
use std::collections::HashMap;

/// Time from the client's send to the gateway's accepted stamp, at most, in ms.
pub(crate) const TRANSIT_MS: i64 = 100;

fn unix_ms(v: &serde_json::Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Runs the check over the buyers' records.
pub(crate) fn confirms(records: &[Record], r: &mut Report) {
    let expires: HashMap<&str, i64> = records
        .iter()
        .filter(|rec| rec.kind == "hold")
        .filter_map(|rec| {
            let f = rec.outcome.as_ref().filter(|f| f.status == 201)?;
            Some((f.body["id"].as_str()?, unix_ms(&f.body["expires_at"])?))
        })
        .collect();
    let (mut in_time, mut last_1s, mut last_2s, mut late) = (0, 0, 0, 0);
    let (mut near, mut near_410) = (0, 0);
    let mut lost = Vec::new();
    let mut sold_late = Vec::new();
    for rec in records.iter().filter(|rec| rec.kind == "confirm") {
        let (Some(f), Some(first), Some(last)) =
            (&rec.outcome, rec.attempts.first(), rec.attempts.last())
        else {
            continue;
        };
        let Some(&expires_at) = rec.hold_id.as_deref().and_then(|h| expires.get(h)) else {
            continue;
        };
        let lead = expires_at - last.unix_ms;
        if lead > TRANSIT_MS {
            in_time += 1;
            last_1s += i32::from(lead <= 1_000);
            last_2s += i32::from(lead <= 2_000);
            if f.status == 410 {
                lost.push(format!(
                    "hold {}: sent {lead} ms before expires_at, answered 410",
                    rec.hold_id.as_deref().unwrap_or("?")
                ));
            }
        } else if lead > 0 {
            near += 1;
            near_410 += i32::from(f.status == 410);
        } else {
            late += 1;
        }
        if expires_at - first.unix_ms < -TRANSIT_MS && f.status == 200 {
            sold_late.push(format!(
                "hold {}: first sent {} ms after expires_at, answered 200",
                rec.hold_id.as_deref().unwrap_or("?"),
                first.unix_ms - expires_at
            ));
        }
    }
    r.case(format!(
        "in-time confirms: {in_time} sent more than {TRANSIT_MS} ms before expires_at \
         ({last_2s} within its last 2 s, {last_1s} within its last 1 s), of which answered \
         410: {}; {near} sent within {TRANSIT_MS} ms of it (not judged; {near_410} got 410); \
         {late} sent after it; confirmed though first sent after it: {}",
        lost.len(),
        sold_late.len()
    ));
    r.expect_zero("confirms sent in time answered 410", lost.len(), &lost);
    r.expect_zero(
        "confirms first sent after expires_at answered 200",
        sold_late.len(),
        &sold_late,
    );
}
