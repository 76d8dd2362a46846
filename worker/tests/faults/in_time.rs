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
//!
//! The promise rests on one bound (docs/RESERVATIONS.md): a command reaches the shard
//! queue within the worker's `accept_skew_ms` of its stamp. A command the broker queued
//! later (a publish stuck on its way while the worker's probes went through) may find
//! its hold expired, by design. The workers log every such command with its request id
//! ([`late_requests`] reads their logs); a `410` for one of them is reported apart, with
//! the gateway's own log of its publish, and is not a violation of the rule above.

use crate::checks::Report;
use crate::log::{Attempt, Record};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What a worker logs for a command read after its shard's watermark had passed the
/// command's stamp (`worker/src/shard/session.rs`, `note_late`).
const LATE_LINE: &str = "command queued later than accept_skew_ms";
/// What a gateway logs when the broker did not confirm a publish in time
/// (`gateway/src/adapters/publisher/mod.rs`).
const UNCONFIRMED_LINE: &str = "no publisher confirm in time";

/// Request ids (lower-case hex, no hyphens) on the lines of the `*.log` files in `dir`
/// whose name starts with `prefix` and that contain `marker`.
fn logged_requests(dir: &Path, prefix: &str, marker: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return ids;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(prefix) || !name.ends_with(".log") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains(marker)) {
            if let Some(rest) = line.split("request_id=").nth(1) {
                let id: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
                    .filter(char::is_ascii_hexdigit)
                    .collect();
                ids.insert(id.to_ascii_lowercase());
            }
        }
    }
    ids
}

/// The request ids the workers logged as read after the watermark had passed their
/// stamp, and those whose publish the gateways logged as unconfirmed in time, from the
/// process logs in `artifacts`.
pub(crate) fn late_requests(artifacts: &Path) -> (HashSet<String>, HashSet<String>) {
    (
        logged_requests(artifacts, "worker-", LATE_LINE),
        logged_requests(artifacts, "gateway-", UNCONFIRMED_LINE),
    )
}

fn plain(id: &str) -> String {
    id.chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_lowercase()
}

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

/// Runs the check over the buyers' records; `late` and `unconfirmed` are the request
/// ids of [`late_requests`].
pub(crate) fn confirms(
    records: &[Record],
    queued_after: &HashSet<String>,
    unconfirmed: &HashSet<String>,
    r: &mut Report,
) {
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
    let mut queued_late = Vec::new();
    let mut sold_late = Vec::new();
    // By the engine's own account (the times in a 410's details): refusals of confirms
    // it was told were accepted before the deadline, and how long the others waited
    // between the client's send and the gateway's stamp.
    let mut refused_in_time = Vec::new();
    let (mut stamped_late, mut stamp_wait_max) = (0, 0_i64);
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
        if f.status == 410 {
            let details = &f.body["error"]["details"];
            if let (Some(accepted), Some(deadline)) = (
                unix_ms(&details["accepted_at"]),
                unix_ms(&details["expires_at"]),
            ) {
                let request = last.request_id.as_deref().map(plain).unwrap_or_default();
                if accepted < deadline && !queued_after.contains(&request) {
                    refused_in_time.push(format!(
                        "hold {hold}: accepted {} ms before expires_at by the engine's own \
                         account, answered 410 (request {request})",
                        deadline - accepted
                    ));
                } else if last.unix_ms < deadline {
                    stamped_late += 1;
                    stamp_wait_max = stamp_wait_max.max(accepted - last.unix_ms);
                }
            }
        }
        let bound = accepted_by(last);
        if bound < expires_at {
            in_time += 1;
            last_1s += i32::from(lead <= 1_000);
            last_2s += i32::from(lead <= 2_000);
            if f.status == 410 {
                let request = last.request_id.as_deref().map(plain).unwrap_or_default();
                let line = format!(
                    "hold {hold}: sent {lead} ms and accepted at least {} ms before \
                     expires_at, answered 410 (request {request}; publish unconfirmed in \
                     time by the broker: {})",
                    expires_at - bound,
                    unconfirmed.contains(&request)
                );
                if queued_after.contains(&request) {
                    queued_late.push(line);
                } else {
                    lost.push(line);
                }
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
    r.case(format!(
        "commands the workers read after the watermark had passed their stamp (queued \
         later than accept_skew_ms): {}; publishes the gateways saw unconfirmed in time: \
         {}; in-time confirms among the late answered 410: {}{}",
        queued_after.len(),
        unconfirmed.len(),
        queued_late.len(),
        queued_late
            .iter()
            .take(3)
            .map(|l| format!("\n    {l}"))
            .collect::<String>()
    ));
    r.set(
        "in-time confirms queued late answered 410",
        queued_late.len() as i64,
    );
    r.case(format!(
        "410s by the engine's own times (details.accepted_at against details.expires_at): \
         accepted before the deadline: {}; sent before it but stamped by the gateway at or \
         after it: {stamped_late} (longest wait from the client's send to the stamp: \
         {stamp_wait_max} ms)",
        refused_in_time.len()
    ));
    r.expect_zero(
        "confirms the engine refused with 410 though accepted before expires_at",
        refused_in_time.len(),
        &refused_in_time,
    );
    r.expect_zero("confirms accepted in time answered 410", lost.len(), &lost);
    r.expect_zero(
        "confirms first sent after expires_at answered 200",
        sold_late.len(),
        &sold_late,
    );
}
