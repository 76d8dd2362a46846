// Custom metrics shared by the scenarios. Counters count buyers' milestones; trends hold
// per-endpoint latencies in ms (the HTTP duration of that one call).
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';

/** Buyers who started (one per iteration). */
export const arrived = new Counter('arrived');
export const joined = new Counter('joined');
export const admitted = new Counter('admitted');
/** Buyers told `sold_out`/`closed` (by the queue or a hold): expected once seats are gone. */
export const soldOutSeen = new Counter('sold_out_seen');
/** Buyers still waiting when MAX_WAIT_S ran out. */
export const gaveUpWaiting = new Counter('gave_up_waiting');
/** Buyers who found no available seat in the map (or ran out of hold retries). */
export const gaveUpSeats = new Counter('gave_up_seats');
export const holdsOk = new Counter('holds_ok');
/** `409 seats_unavailable`: someone else was faster. Expected, not an error. */
export const holdsConflict = new Counter('holds_conflict');
export const confirmsOk = new Counter('confirms_ok');
export const releasesOk = new Counter('releases_ok');
/** Answers that took the `202` + `GET /v1/requests/{id}` path. */
export const accepted202 = new Counter('accepted_202');
export const rateLimited = new Counter('rate_limited');
/** Responses with a 5xx status. Threshold: none. */
export const http5xx = new Counter('http_5xx');
/** Share of responses that were neither a success nor an expected refusal. */
export const unexpected = new Rate('unexpected_errors');
/** Set by teardown from the admin stats when seats are oversold. Threshold: none. */
export const oversold = new Counter('oversold');

export const joinMs = new Trend('join_ms', true);
export const statusMs = new Trend('status_ms', true);
export const seatsMs = new Trend('seats_ms', true);
export const holdMs = new Trend('hold_ms', true);
export const confirmMs = new Trend('confirm_ms', true);
export const releaseMs = new Trend('release_ms', true);
/** When each buyer arrived, in ms since the test's setup. */
export const arriveAt = new Trend('arrive_at_ms');
/** When each buyer saw `admitted`, in ms since the test's setup. */
export const admitAt = new Trend('admit_at_ms');
/** Join → admitted, in ms. */
export const queueWait = new Trend('queue_wait_ms', true);

/** Admissions per minute from the server's admitted_total while fans were waiting. */
export const sampledPerMinute = new Gauge('sampled_admission_per_minute');
/** Over how many seconds of waiting fans that figure was measured. */
export const sampledSpanS = new Gauge('sampled_admission_span_s');

/** The event's seat counts and server-side outflow, read by teardown. */
export const statsTotal = new Gauge('stats_seats_total');
export const statsSold = new Gauge('stats_seats_sold');
export const statsHeld = new Gauge('stats_seats_held');
export const statsAvailable = new Gauge('stats_seats_available');
export const statsObservedPerMinute = new Gauge('stats_observed_per_minute');
