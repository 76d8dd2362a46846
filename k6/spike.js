// Ticket-open spike: BUYERS fans arrive within ARRIVAL_SECONDS (arrivals ramp from 0/s
// to 2 × BUYERS / ARRIVAL_SECONDS per second), each joins the queue of EVENT_ID, waits
// until admitted (polling as told by `poll_after_ms`), then shops: seat map, a hold of
// 1–4 seats (half of the buyers aim at a small popular block), retries after
// `409 seats_unavailable` with other seats, confirms about 80 % of holds with an
// Idempotency-Key and releases some of the rest.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e EVENT_ID=... -e ADMIN_KEY=... k6/spike.js
//
// Thresholds: no 5xx at all, < 1 % unexpected answers, and nothing oversold (teardown
// reads the event's stats: sold + held + available must equal total). 409s after the
// seats are gone, and `sold_out` from the queue, are expected. See k6/lib/config.js for
// every knob; SUMMARY_JSON=path also writes the report as JSON.
import { sleep } from 'k6';
import exec from 'k6/execution';
import { config, requireEnv } from './lib/config.js';
import { api } from './lib/api.js';
import { readingTime } from './lib/clock.js';
import { joinQueue, shop, waitUntilAdmitted } from './lib/buyer.js';
import * as m from './lib/metrics.js';
import { summarize } from './lib/summary.js';

// A linear ramp from 0/s to the peak brings peak × seconds / 2 arrivals. k6 starts fewer
// than that when the load generator itself is short of CPU, so the ramp aims 10 % high
// and iterations past the BUYERS-th return at once: exactly BUYERS buyers arrive.
const peakPerSecond = Math.max(1, Math.ceil((2.2 * config.buyers) / config.arrivalSeconds));
// Surplus iterations end at once, so a few spare VUs cover them.
const vus = config.buyers + Math.max(20, Math.ceil(config.buyers * 0.02));
const shoppingS = 120;

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: 0,
      timeUnit: '1s',
      stages: [{ target: peakPerSecond, duration: `${config.arrivalSeconds}s` }],
      // One VU per buyer: every buyer may be waiting at the same time.
      preAllocatedVUs: vus,
      maxVUs: vus,
      // Buyers that arrived keep waiting and shopping after the arrivals stop.
      gracefulStop: `${config.maxWaitS + shoppingS}s`,
    },
    // One VU reads the admin stats every second while fans wait: admissions counted by
    // the server, so this outflow figure carries no polling delay.
    admission_sampler: {
      executor: 'per-vu-iterations',
      exec: 'sampleAdmission',
      vus: 1,
      iterations: 1,
      maxDuration: `${config.arrivalSeconds + config.maxWaitS + 30}s`,
    },
  },
  thresholds: {
    http_5xx: ['count==0'],
    unexpected_errors: ['rate<0.01'],
    oversold: ['count==0'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
  setupTimeout: '30s',
  teardownTimeout: '60s',
};

export function setup() {
  requireEnv();
  // Every threshold metric gets a sample, so "no sample" can never pass by accident.
  m.http5xx.add(0);
  m.oversold.add(0);
  const ev = api.adminEvent();
  if (ev.status !== 200 || !ev.body) {
    throw new Error(`GET /v1/admin/events/${config.eventId} answered ${ev.status}: ${ev.res.body}`);
  }
  const admission = ev.body.admission || {};
  console.log(
    `spike: ${config.buyers} buyers over ${config.arrivalSeconds}s (peak ${peakPerSecond}/s) → ` +
      `event ${config.eventId}, outflow ${admission.rate_per_minute}/min, max_active ${admission.max_active}`,
  );
  return {
    t0: Date.now(),
    buyers: config.buyers,
    event_id: config.eventId,
    base_url: config.baseUrl,
    rate_per_minute: admission.rate_per_minute,
    max_seats_per_hold: ev.body.max_seats_per_hold || 4,
  };
}

/** What the buyers do once admitted (k6/lib/buyer.js `shop`). */
const mix = {
  popularShare: config.popularShare,
  confirmShare: config.confirmShare,
  releaseShare: config.releaseShare,
  repeatConfirmShare: config.repeatConfirmShare,
  thinkS: config.thinkS,
  holdRetries: config.holdRetries,
};

/** One buyer: join, wait, shop (k6/lib/buyer.js). */
export default function (setupData) {
  if (exec.scenario.iterationInTest >= config.buyers) return; // surplus arrival
  m.arrived.add(1);
  m.arriveAt.add(Date.now() - setupData.t0);
  const queueToken = joinQueue();
  if (!queueToken) return;
  const admitted = waitUntilAdmitted(queueToken, setupData.t0, config.maxWaitS);
  if (!admitted) return;
  shop(admitted.pass, { ...mix, maxSeats: setupData.max_seats_per_hold });
}

/**
 * The admission sampler: `admitted_total` from the stats once a second. The outflow is
 * measured over the intervals in which admission could not have stopped for want of fans
 * or seats: admission is capped by seats left (nobody is admitted while every seat is
 * held or sold; docs/ARCHITECTURE.md) and nobody is admitted from an empty queue, so
 * those capped intervals say nothing about the outflow rate. An interval counts when, at
 * both ends, at least ten holds' worth of seats were available (10 × max_seats_per_hold:
 * near zero, availability flickers to 0 and back between two readings as holds take and
 * release seats, and admission stops in between; a Redis monitor of the demo showed it), fans
 * still waited at its end, and at its start more fans waited than it could admit at
 * the configured rate (so the queue cannot have run dry inside it). Sum
 * of admitted over sum of time, per minute, the time being each reading's `queue.as_of`
 * (the Redis clock at the read), not the reply's arrival at k6: on a saturated box
 * replies come seconds after the read, which made the demo report 13–40 % less than the
 * server admitted.
 */
export function sampleAdmission(setupData) {
  const rate = setupData.rate_per_minute;
  const seatMargin = 10 * setupData.max_seats_per_hold;
  const until = Date.now() + (config.arrivalSeconds + config.maxWaitS) * 1000;
  const arrivalsEnd = Date.now() + (config.arrivalSeconds + 2) * 1000;
  let prev = null;
  let admittedSum = 0;
  let spanMs = 0;
  while (Date.now() < until) {
    const a = api.adminStats();
    const q = a.status === 200 && a.body && a.body.queue;
    if (q) {
      const now = readingTime(a.body, Date.now());
      const seats = a.body.seats && a.body.seats.available >= seatMargin;
      if (seats && q.waiting > 0 && prev && now > prev.t) {
        const couldRunDry = prev.waiting < (rate * (now - prev.t)) / 60000;
        if (!couldRunDry) {
          admittedSum += q.admitted_total - prev.admitted;
          spanMs += now - prev.t;
          m.sampledPerMinute.add((admittedSum * 60000) / spanMs);
          m.sampledSpanS.add(spanMs / 1000);
        }
      }
      prev = seats ? { t: now, admitted: q.admitted_total, waiting: q.waiting } : null;
      if (q.waiting === 0 && now > arrivalsEnd) {
        break; // the queue drained after the arrivals: nothing more to measure
      }
    }
    sleep(1);
  }
}

/** Reads the event's stats and fails the run (threshold on `oversold`) if seats are oversold. */
export function teardown() {
  const a = api.adminStats();
  if (a.status !== 200 || !a.body || !a.body.seats) {
    console.error(`teardown: stats answered ${a.status}: ${a.res.body}`);
    m.oversold.add(1);
    return;
  }
  const s = a.body.seats;
  m.statsTotal.add(s.total);
  m.statsSold.add(s.sold);
  m.statsHeld.add(s.held);
  m.statsAvailable.add(s.available);
  if (a.body.admission && Number.isFinite(a.body.admission.observed_per_minute)) {
    m.statsObservedPerMinute.add(a.body.admission.observed_per_minute);
  }
  const bad = s.sold + s.held + s.available !== s.total || s.sold > s.total;
  if (bad) m.oversold.add(1);
  console.log(
    `teardown: stats ${JSON.stringify(a.body)}${bad ? ' — OVERSOLD: sold + held + available != total' : ''}`,
  );
}

export function handleSummary(data) {
  return summarize(data);
}
