//! In-time confirms, from the buyers' own clock: a fan whose confirm the gateway
//! accepted before the hold's `expires_at` keeps the seat, however long the worker was
//! away.
//!
//! The fans and the gateways run on one machine and read the same clock, so no margin
//! for clock skew is needed. The gateway's accepted stamp of an attempt is not sent to
//! the client, but it is bounded on both sides by what the client sees:
//!
//! - not before the attempt was sent (`Attempt::unix_ms`);
//! - not after the gateway made the command's request id, a UUIDv7 whose millisecond
//!   timestamp the `202` carries (the gateway stamps the request, then builds the
//!   command), nor after the answer came back (`unix_ms + ms`) when it answered directly.
//!
//! So the checks need no assumption about how long a request takes to reach the
//! gateway (a busy 2-core box can delay it by hundreds of milliseconds):
//!
//! - A confirm whose accepted attempt provably reached the gateway before `expires_at`
//!   (its upper bound is earlier) must not end in `410 hold_expired`.
//! - A confirm whose first attempt was sent after `expires_at` must not end in `200`:
//!   the gateway cannot have accepted it in time.
//!
//! Confirms sent before `expires_at` whose upper bound is not earlier are counted, not
//! judged; the report says how many got `410`, and how many were sent more than
//! [`TRANSIT_MS`] before `expires_at` (the typical way from client to gateway).

use crate::checks::Report;
use crate::log::{Attempt, Record};
use std::collections::HashMap;

/// The typical time from the client's send to the gateway's accepted stamp, in ms: only
/// used to describe the confirms the checks cannot judge.
pub(crate) const TRANSIT_MS: i64 = 100;

fn unix_ms(v: &serde_json::Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The latest the gateway can have stamped `attempt` as accepted, Unix ms: the
/// millisecond after its request id's UUIDv7 timestamp for a `202`, else the moment the
/// answer arrived.
fn accepted_by(attempt: &Attempt) -> i64 {
    let from_request_id = attempt
        .request_id
        .as_deref()
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .and_then(|id| id.get_timestamp())
        .map(|ts| {
            let (secs, nanos) = ts.to_unix();
            i64::try_from(secs).unwrap_or(i64::MAX / 2) * 1000 + i64::from(nanos / 1_000_000) + 1
        });
    let answered = attempt.unix_ms + i64::try_from(attempt.ms).unwrap_or(i64::MAX / 2);
    from_request_id.map_or(answered, |by| by.min(answered))
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
    let (mut unjudged, mut unjudged_410, mut unjudged_early) = (0, 0, 0);
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
        let hold = rec.hold_id.as_deref().unwrap_or("?");
        let lead = expires_at - last.unix_ms;
        let bound = accepted_by(last);
        if bound < expires_at {
            in_time += 1;
            last_1s += i32::from(lead <= 1_000);
            last_2s += i32::from(lead <= 2_000);
            if f.status == 410 {
                lost.push(format!(
                    "hold {hold}: sent {lead} ms and accepted at least {} ms before \
                     expires_at, answered 410",
                    expires_at - bound
                ));
            }
        } else if lead > 0 {
            unjudged += 1;
            unjudged_410 += i32::from(f.status == 410);
            unjudged_early += i32::from(lead > TRANSIT_MS);
        } else {
            late += 1;
        }
        if first.unix_ms > expires_at && f.status == 200 {
            sold_late.push(format!(
                "hold {hold}: first sent {} ms after expires_at, answered 200",
                first.unix_ms - expires_at
            ));
        }
    }
    r.case(format!(
        "in-time confirms: {in_time} accepted provably before expires_at ({last_2s} sent \
         within its last 2 s, {last_1s} within its last 1 s), of which answered 410: {}; \
         {unjudged} sent before it but not provably accepted before it (not judged; \
         {unjudged_early} of them sent more than {TRANSIT_MS} ms before it; {unjudged_410} \
         got 410); {late} sent after it; confirmed though first sent after it: {}",
        lost.len(),
        sold_late.len()
    ));
    r.expect_zero("confirms accepted in time answered 410", lost.len(), &lost);
    r.expect_zero(
        "confirms first sent after expires_at answered 200",
        sold_late.len(),
        &sold_late,
    );
}
