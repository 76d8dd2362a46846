//! Checks tied to the fault windows, from the client log alone.
//!
//! - **Poison**: no buyer request (hold, confirm, release) that started in the poison
//!   window waited (first attempt to outcome, `202` follow-ups included) more than
//!   [`POISON_SLACK_MS`] longer than the normal p99 of its route. Normal: requests whose
//!   span touches no fault window, nor the [`SETTLE_MS`] after one.
//! - **Redis restart and Redis hang**: every attempt or poll that needs Redis (joins,
//!   queue status and `GET /v1/requests/{id}` polls) started in the window got an HTTP
//!   answer, a `503` had `Retry-After`, and during the hang none took longer than the
//!   gateway's Redis call timeout plus [`HANG_MARGIN_MS`]; holds, confirms and releases
//!   stay under the gateway's overall bound (checked for the whole run). Admission resumed
//!   by itself: a fan was admitted within [`RESUME_MS`] after the window.
//! - **Redis Cluster failover** (a primary killed, its replica promoted): the same
//!   answers and `Retry-After` rules and the same resumption of admission; fans may see no
//!   `503` at all if the promotion is quick.
//! - **Nothing accepted lost from the queue**: every fan who joined (`201`) was admitted
//!   in the end.
//! - **Admission rate** (cluster run): the fans' own admission times show the event's
//!   configured rate within [`RATE_TOLERANCE`].

use crate::checks::Report;
use crate::log::{Poll, Record, Window};

/// What a request in the poison window may wait beyond the route's normal p99, in ms.
pub(crate) const POISON_SLACK_MS: u64 = 1_000;
/// Time after a fault during which latencies are not "normal" yet, in ms.
pub(crate) const SETTLE_MS: u64 = 5_000;
/// Slack over the Redis call timeout for a request while Redis hangs (scheduling on a
/// loaded machine, the rest of the request), in ms.
pub(crate) const HANG_MARGIN_MS: u64 = 1_000;
/// How soon after a Redis fault a fan must be admitted again, in ms.
pub(crate) const RESUME_MS: u64 = 5_000;
/// Largest relative difference between the admissions the fans saw and the configured
/// rate, over the run.
pub(crate) const RATE_TOLERANCE: f64 = 0.05;

/// The `q` quantile (nearest rank) of sorted `v`; 0 when empty.
pub(crate) fn rank(v: &[u64], q: f64) -> u64 {
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len().max(1));
    v.get(i - 1).copied().unwrap_or(0)
}

fn overlaps(windows: &[Window], from: u64, to: u64) -> bool {
    windows
        .iter()
        .any(|w| from <= w.to_ms + SETTLE_MS && to >= w.from_ms)
}

/// The poison window's latencies against the normal ones, per route.
pub(crate) fn poison_latency(records: &[Record], windows: &[Window], r: &mut Report) {
    let Some(poison) = windows.iter().find(|w| w.kind == "poison") else {
        return;
    };
    for route in ["hold", "confirm", "release"] {
        let (mut normal, mut during) = (Vec::new(), Vec::new());
        for rec in records.iter().filter(|rec| rec.kind == route) {
            let (Some(from), Some(waited)) = (rec.started_ms(), rec.waited_ms()) else {
                continue;
            };
            if rec.outcome.is_none() {
                continue; // Failed on its own (no outcome), counted elsewhere.
            }
            if poison.contains(from) {
                during.push((waited, from, rec.buyer));
            } else if !overlaps(windows, from, from + waited) {
                normal.push(waited);
            }
        }
        normal.sort_unstable();
        during.sort_unstable();
        let p99 = rank(&normal, 0.99);
        let bound = p99 + POISON_SLACK_MS;
        let waits: Vec<u64> = during.iter().map(|d| d.0).collect();
        let slow: Vec<String> = during
            .iter()
            .filter(|d| d.0 > bound)
            .map(|d| format!("{route} of buyer {} at {} ms waited {} ms", d.2, d.1, d.0))
            .collect();
        r.case(format!(
            "poison, {route}: normal p50/p99 {}/{p99} ms over {} requests; in the poison \
             window p50/p99/max {}/{}/{} ms over {} requests; bound {bound} ms; over it: {}",
            rank(&normal, 0.5),
            normal.len(),
            rank(&waits, 0.5),
            rank(&waits, 0.99),
            rank(&waits, 1.0),
            waits.len(),
            slow.len()
        ));
        if !slow.is_empty() {
            r.violation(format!(
                "poison window: {} {route} requests waited more than the normal p99 + \
                 {POISON_SLACK_MS} ms ({bound} ms), e.g. {}",
                slow.len(),
                slow.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
            ));
        }
    }
}

/// One exchange that needs Redis: (what, start ms, duration ms, status, Retry-After).
struct Exchange<'a> {
    what: &'static str,
    at_ms: u64,
    ms: u64,
    status: u16,
    retry_after: Option<&'a str>,
}

fn redis_exchanges<'a>(records: &'a [Record], polls: &'a [Poll]) -> Vec<Exchange<'a>> {
    let joins = records
        .iter()
        .filter(|rec| rec.kind == "join")
        .flat_map(|rec| rec.attempts.iter())
        .map(|a| Exchange {
            what: "join",
            at_ms: a.at_ms,
            ms: a.ms,
            status: a.status,
            retry_after: a.retry_after.as_deref(),
        });
    let polls = polls.iter().map(|p| Exchange {
        what: if p.kind == "status" {
            "status poll"
        } else {
            "request poll"
        },
        at_ms: p.at_ms,
        ms: p.ms,
        status: p.status,
        retry_after: p.retry_after.as_deref(),
    });
    joins.chain(polls).collect()
}

/// The Redis restart and hang windows: answers, `Retry-After`, time bounds, admission.
pub(crate) fn redis_windows(
    records: &[Record],
    polls: &[Poll],
    windows: &[Window],
    redis_timeout_ms: u64,
    r: &mut Report,
) {
    let exchanges = redis_exchanges(records, polls);
    let mut admitted: Vec<u64> = records.iter().filter_map(|rec| rec.admitted_ms).collect();
    admitted.sort_unstable();
    for w in windows
        .iter()
        .filter(|w| matches!(w.kind, "redis-restart" | "redis-hang" | "redis-failover"))
    {
        let hang = w.kind == "redis-hang";
        let inside: Vec<&Exchange> = exchanges.iter().filter(|e| w.contains(e.at_ms)).collect();
        let unavailable: Vec<&&Exchange> = inside.iter().filter(|e| e.status == 503).collect();
        let seen_from = unavailable.iter().map(|e| e.at_ms + e.ms).min();
        let seen_to = unavailable.iter().map(|e| e.at_ms + e.ms).max();
        let mut problems = Vec::new();
        for e in &inside {
            let at = format!("{} at {} ms", e.what, e.at_ms);
            match e.status {
                0 => problems.push(format!("{at}: no HTTP answer")),
                503 if e.retry_after.is_none() => {
                    problems.push(format!("{at}: 503 without Retry-After"))
                }
                s if s >= 500 && s != 503 => problems.push(format!("{at}: {s}")),
                _ => {}
            }
        }
        let bound = redis_timeout_ms + HANG_MARGIN_MS;
        let mut durations: Vec<u64> = inside.iter().map(|e| e.ms).collect();
        durations.sort_unstable();
        if hang {
            problems.extend(
                inside
                    .iter()
                    .filter(|e| e.ms > bound)
                    .map(|e| format!("{} at {} ms took {} ms", e.what, e.at_ms, e.ms)),
            );
        }
        // Holds, confirms and releases sent meanwhile (their bound is checked run-wide).
        let mut shard_ms: Vec<u64> = records
            .iter()
            .filter(|rec| matches!(rec.kind, "hold" | "confirm" | "release"))
            .flat_map(|rec| rec.attempts.iter())
            .filter(|a| w.contains(a.at_ms))
            .map(|a| a.ms)
            .collect();
        shard_ms.sort_unstable();
        let resumed = admitted
            .iter()
            .find(|&&a| a >= w.to_ms)
            .map(|a| a - w.to_ms);
        r.case(format!(
            "{}: {:.1} s from {:.1} s; joins and polls sent meanwhile: {} ({} answered 503, \
             all with Retry-After: {}); fans saw 503 from {} to {}; their p50/p99/max \
             {}/{}/{} ms{}; holds/confirms/releases meanwhile: {} attempts, max {} ms; \
             first admission after it: {}",
            w.kind,
            (w.to_ms - w.from_ms) as f64 / 1000.0,
            w.from_ms as f64 / 1000.0,
            inside.len(),
            unavailable.len(),
            unavailable.iter().all(|e| e.retry_after.is_some()),
            seen_from.map_or("-".into(), |t| format!("{:.1} s", t as f64 / 1000.0)),
            seen_to.map_or("-".into(), |t| format!("{:.1} s", t as f64 / 1000.0)),
            rank(&durations, 0.5),
            rank(&durations, 0.99),
            rank(&durations, 1.0),
            if hang {
                format!(" (bound: Redis timeout {redis_timeout_ms} + {HANG_MARGIN_MS} ms)")
            } else {
                String::new()
            },
            shard_ms.len(),
            rank(&shard_ms, 1.0),
            resumed.map_or("none".into(), |ms| format!(
                "{:.1} s after",
                ms as f64 / 1000.0
            )),
        ));
        if unavailable.is_empty() && w.kind != "redis-failover" {
            problems.push("no fan saw 503 while Redis was away".into());
        }
        match resumed {
            Some(ms) if ms <= RESUME_MS => {}
            Some(ms) => problems.push(format!(
                "admission resumed only {ms} ms after (bound {RESUME_MS} ms)"
            )),
            None => problems.push("no fan admitted after it".into()),
        }
        if !problems.is_empty() {
            r.violation(format!(
                "{}: {} problems, e.g. {}",
                w.kind,
                problems.len(),
                problems
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    let lost: Vec<String> = records
        .iter()
        .filter(|rec| rec.kind == "join" && rec.outcome.as_ref().is_some_and(|f| f.status == 201))
        .filter(|rec| rec.admitted_ms.is_none())
        .map(|rec| {
            format!(
                "buyer {} ({})",
                rec.buyer,
                rec.queue_end.as_deref().unwrap_or("?")
            )
        })
        .collect();
    r.expect_zero("joined (201) but never admitted", lost.len(), &lost);
}

/// Admission over the run against `rate_per_minute`, from the fans' own log: from the
/// first admission to the last, admissions per minute must be within [`RATE_TOLERANCE`]
/// of the rate. Each admission time is when the fan's status poll saw it (polls every
/// 500 ms), so each end of the span is late by at most one poll. The queue must never
/// have run dry in between (fans joined but not yet admitted at every admission), or the
/// rate would be the arrivals', not the admitter's: that is reported, and checked.
pub(crate) fn admission_rate(records: &[Record], rate_per_minute: u32, r: &mut Report) {
    let mut admitted: Vec<u64> = records.iter().filter_map(|rec| rec.admitted_ms).collect();
    admitted.sort_unstable();
    let mut joined: Vec<u64> = records
        .iter()
        .filter(|rec| rec.kind == "join" && rec.outcome.as_ref().is_some_and(|f| f.status == 201))
        .filter_map(|rec| rec.done_ms)
        .collect();
    joined.sort_unstable();
    let (Some(&first), Some(&last)) = (admitted.first(), admitted.last()) else {
        r.violation("admission rate: no fan was admitted".to_owned());
        return;
    };
    // Fans still waiting right after each admission but the last: joined by then minus
    // admitted so far. Below 1, the next admission had to wait for a fan to arrive.
    let min_waiting = admitted
        .iter()
        .take(admitted.len() - 1)
        .enumerate()
        .map(|(i, &at)| joined.partition_point(|&j| j <= at) as i64 - (i as i64 + 1))
        .min()
        .unwrap_or(0);
    let span_ms = last.saturating_sub(first).max(1);
    let measured = (admitted.len() - 1) as f64 * 60_000.0 / span_ms as f64;
    let off = measured / f64::from(rate_per_minute) - 1.0;
    r.case(format!(
        "admission: {} fans admitted from {:.1} s to {:.1} s: {measured:.1}/min against \
         {rate_per_minute}/min configured ({:+.2} %, bound ±{:.0} %); fewest fans waiting \
         after an admission: {min_waiting}",
        admitted.len(),
        first as f64 / 1000.0,
        last as f64 / 1000.0,
        off * 100.0,
        RATE_TOLERANCE * 100.0
    ));
    if off.abs() > RATE_TOLERANCE {
        r.violation(format!(
            "admission rate {measured:.1}/min is {:+.2} % off the configured \
             {rate_per_minute}/min",
            off * 100.0
        ));
    }
    if min_waiting < 1 {
        r.violation(format!(
            "admission rate: the queue ran dry (fewest waiting {min_waiting}): the run \
             measured the arrivals, not the admitter"
        ));
    }
}
