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
import { api, errorCode, judge, retryAfterS, settle } from './lib/api.js';
import * as m from './lib/metrics.js';
import { availableSeats, chooseSelection, randInt } from './lib/seats.js';
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

/** One buyer: join, wait, shop. */
export default function (setupData) {
  if (exec.scenario.iterationInTest >= config.buyers) return; // surplus arrival
  m.arrived.add(1);
  m.arriveAt.add(Date.now() - setupData.t0);
  const queueToken = joinQueue();
  if (!queueToken) return;
  const joinedAt = Date.now();
  const pass = waitUntilAdmitted(queueToken, setupData, joinedAt);
  if (!pass) return;
  shop(pass, setupData);
}

function think() {
  if (config.thinkS > 0) sleep(config.thinkS * (0.5 + Math.random()));
}

/** Joins the queue; the queue token, or null when the buyer stops. */
function joinQueue() {
  for (let attempt = 0; attempt < 5; attempt++) {
    const a = api.join();
    if ((a.status === 201 || a.status === 200) && a.body && a.body.queue_token) {
      judge(a, true, 'join');
      m.joined.add(1);
      return a.body.queue_token;
    }
    if (a.status === 409 && ['sold_out', 'queue_closed'].includes(errorCode(a))) {
      judge(a, true, 'join');
      m.soldOutSeen.add(1);
      return null;
    }
    if (a.status === 429 || a.status === 503) {
      judge(a, a.status === 429, 'join');
      sleep(retryAfterS(a));
      continue;
    }
    judge(a, false, 'join');
    return null;
  }
  return null;
}

/** Polls the queue status until admitted; the pass, or null when the buyer stops. */
function waitUntilAdmitted(queueToken, setupData, joinedAt) {
  const until = joinedAt + config.maxWaitS * 1000;
  while (Date.now() < until) {
    const a = api.status(queueToken);
    if (a.status === 429 || a.status === 503) {
      judge(a, a.status === 429, 'status');
      sleep(retryAfterS(a));
      continue;
    }
    if (a.status !== 200 || !a.body) {
      judge(a, false, 'status');
      return null;
    }
    const state = a.body.state;
    if (state === 'admitted' && a.body.pass) {
      judge(a, true, 'status');
      const now = Date.now();
      m.admitted.add(1);
      m.admitAt.add(now - setupData.t0);
      m.queueWait.add(now - joinedAt);
      return a.body.pass;
    }
    if (state === 'sold_out' || state === 'closed') {
      judge(a, true, 'status');
      m.soldOutSeen.add(1);
      return null;
    }
    if (state !== 'waiting' && state !== 'prequeue') {
      judge(a, false, 'status');
      return null;
    }
    judge(a, true, 'status');
    const pollMs = Math.min(config.maxPollMs, Math.max(config.minPollMs, Number(a.body.poll_after_ms) || 1000));
    sleep(pollMs / 1000);
  }
  m.gaveUpWaiting.add(1);
  return null;
}

/** Admitted: seat map, hold (with retries), then confirm, release or walk away. */
function shop(pass, setupData) {
  const r = Math.random();
  let kind = r < config.popularShare ? 'popular' : r < config.popularShare + (1 - config.popularShare) / 2 ? 'any' : 'best';
  const quantity = randInt(1, Math.max(1, Math.min(4, setupData.max_seats_per_hold)));
  const taken = new Set();
  const holdKey = uuid();
  let hold = null;
  // The seat map is loaded once; after a 409 the buyer picks again from it, minus the
  // seats the refusal named (a fan page keeps its map current through the SSE stream).
  const available = loadAvailableSeats(pass);
  if (available === null) return;
  for (let attempt = 0; attempt <= config.holdRetries && !hold; attempt++) {
    const selection = chooseSelection(kind, available, taken, quantity, {
      section: config.popularSection,
      rows: config.popularRows,
    });
    if (!selection) {
      m.gaveUpSeats.add(1);
      return;
    }
    if (attempt === 0) think();
    // A new key per attempt: a retry is a different request (other seats).
    let a = api.hold(pass, selection, attempt === 0 ? holdKey : uuid());
    while (a.status === 429) {
      judge(a, true, 'hold');
      sleep(retryAfterS(a));
      a = api.hold(pass, selection, uuid());
    }
    a = settle(a, pass);
    const code = errorCode(a);
    if (a.status === 201 && a.body && a.body.id) {
      judge(a, true, 'hold');
      m.holdsOk.add(1);
      hold = a.body;
    } else if (a.status === 409 && code === 'seats_unavailable') {
      judge(a, true, 'hold');
      m.holdsConflict.add(1);
      const details = (a.body && a.body.error && a.body.error.details) || {};
      for (const id of details.unavailable || selection.seats || []) taken.add(id);
      if (selection.section) kind = 'any'; // best-available found too few: pick seats instead
    } else if (a.status === 409 && (code === 'sold_out' || code === 'queue_closed')) {
      judge(a, true, 'hold');
      m.soldOutSeen.add(1);
      return;
    } else {
      judge(a, false, 'hold');
      return;
    }
  }
  if (!hold) {
    m.gaveUpSeats.add(1);
    return;
  }

  think();
  if (Math.random() < config.confirmShare) {
    confirm(pass, hold);
  } else if (Math.random() < config.releaseShare) {
    const a = api.release(pass, hold.id);
    if (judge(a, a.status === 200 && a.body && a.body.state === 'released', 'release')) m.releasesOk.add(1);
  }
  // Else: walk away; the hold expires after hold_ttl_seconds and its seats go back on sale.
}

/** The seat map's available seats (the big response itself is not kept), or null. */
function loadAvailableSeats(pass) {
  const map = api.seats(pass);
  const available = map.status === 200 ? availableSeats(map.res) : null;
  judge(map, available !== null, 'seats');
  return available;
}

function confirm(pass, hold) {
  const key = uuid();
  const ref = `k6-${hold.id}`;
  let a = api.confirm(pass, hold.id, ref, key);
  while (a.status === 429) {
    judge(a, true, 'confirm');
    sleep(retryAfterS(a));
    a = api.confirm(pass, hold.id, ref, key);
  }
  a = settle(a, pass);
  if (!judge(a, a.status === 200 && a.body && a.body.hold_id === hold.id, 'confirm')) return;
  m.confirmsOk.add(1);
  if (Math.random() < config.repeatConfirmShare) {
    // The same Idempotency-Key and body again: the same order, not a second one.
    const again = settle(api.confirm(pass, hold.id, ref, key), pass);
    judge(again, again.status === 200 && again.body && again.body.id === a.body.id, 'confirm_repeat');
  }
}

/**
 * The admission sampler: `admitted_total` from the stats once a second; the outflow is
 * measured between the first and the last sample that still found fans waiting.
 */
export function sampleAdmission() {
  const until = Date.now() + (config.arrivalSeconds + config.maxWaitS) * 1000;
  const arrivalsEnd = Date.now() + (config.arrivalSeconds + 2) * 1000;
  let first = null;
  while (Date.now() < until) {
    const a = api.adminStats();
    const q = a.status === 200 && a.body && a.body.queue;
    if (q) {
      const now = Date.now();
      if (q.waiting > 0) {
        if (!first) first = { t: now, admitted: q.admitted_total };
        else if (now > first.t) {
          m.sampledPerMinute.add(((q.admitted_total - first.admitted) * 60000) / (now - first.t));
          m.sampledSpanS.add((now - first.t) / 1000);
        }
      } else if (now > arrivalsEnd) {
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

/** A random v4 UUID (Idempotency-Key). */
function uuid() {
  const h = '0123456789abcdef';
  let s = '';
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) s += '-';
    else if (i === 14) s += '4';
    else if (i === 19) s += h[8 + Math.floor(Math.random() * 4)];
    else s += h[Math.floor(Math.random() * 16)];
  }
  return s;
}
