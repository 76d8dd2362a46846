// Soak: a steady stream of buyers for a long time (default 30 min), to find what only
// time shows: leaks, creeping latency, Redis keys or holds that pile up, expiry that
// falls behind. Seats recycle (most holds are released or expire, few are bought), so a
// modest event lasts the whole run.
//
//   k6 run -e BASE_URL=... -e ADMIN_KEY=... [-e EVENT_ID=...] \
//          -e ARRIVALS_PER_SECOND=20 -e DURATION=30m k6/soak.js
//
// Without EVENT_ID, setup creates an open event (RATE_PER_MINUTE 6000, 2,000 seats,
// HOLD_TTL_SECONDS 30). Every CHECK_EVERY_S (30) a sampler reads the admin stats and
// checks sold + held + available = total during the run, not only at the end.
// Thresholds: no 5xx, < 1 % unexpected answers, nothing oversold, p95 of status
// < 250 ms, of hold and confirm < 1 s, over the whole run and in its first and last
// thirds; the report shows the drift (last third's p95 hold latency / first third's).
import { sleep } from 'k6';
import exec from 'k6/execution';
import { api } from './lib/api.js';
import { config } from './lib/config.js';
import { joinQueue, shop, waitUntilAdmitted } from './lib/buyer.js';
import { envNum, envStr } from './lib/env.js';
import { adopt, useOrCreateEvent } from './lib/event.js';
import { checkStats, finalCheck } from './lib/invariants.js';
import * as m from './lib/metrics.js';
import { summarize } from './lib/summary.js';

const rate = envNum('ARRIVALS_PER_SECOND', 20);
const duration = envStr('DURATION', '30m');
const durationS = parseDuration(duration);
const maxWaitS = envNum('MAX_WAIT_S', 120);
const checkEveryS = envNum('CHECK_EVERY_S', 30);
const mix = {
  confirmShare: envNum('CONFIRM_SHARE', 0.1),
  releaseShare: envNum('RELEASE_SHARE', 0.7),
  popularShare: envNum('POPULAR_SHARE', 0.3),
  thinkS: envNum('THINK_S', 1),
  holdRetries: envNum('HOLD_RETRIES', 3),
  maxSeats: 4,
};
// Buyers in flight at once: arrivals × (longest wait + shopping), with margin.
const vus = Math.ceil(rate * (Math.min(maxWaitS, 30) + 10 + 6 * mix.thinkS) * 1.5) + 10;

export const options = {
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: '1s',
      duration,
      preAllocatedVUs: Math.min(vus, 200),
      maxVUs: vus,
      gracefulStop: `${maxWaitS + 60}s`,
    },
    invariants: {
      executor: 'constant-vus',
      exec: 'sampleInvariants',
      vus: 1,
      duration,
    },
  },
  thresholds: {
    http_5xx: ['count==0'],
    unexpected_errors: ['rate<0.01'],
    oversold: ['count==0'],
    status_ms: ['p(95)<250'],
    hold_ms: ['p(95)<1000'],
    confirm_ms: ['p(95)<1000'],
    // The thirds of the run, for the drift report (handleSummary).
    'hold_ms{phase:early}': ['p(95)<1000'],
    'hold_ms{phase:late}': ['p(95)<1000'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
  setupTimeout: '60s',
  teardownTimeout: '60s',
};

export function setup() {
  m.http5xx.add(0);
  m.oversold.add(0);
  config.eventId = useOrCreateEvent('soak', {
    rate_per_minute: 6000,
    max_active: 5000,
    pass_ttl_seconds: 600,
    hold_ttl_seconds: 30,
    sections: 4,
    rows: 20,
    seats_per_row: 25,
  });
  const ev = api.adminEvent();
  if (ev.status !== 200 || !ev.body) throw new Error(`GET admin event answered ${ev.status}: ${ev.res.body}`);
  const admission = ev.body.admission || {};
  console.log(`soak: ${rate} buyers/s for ${duration} → event ${config.eventId}, outflow ${admission.rate_per_minute}/min`);
  return {
    t0: Date.now(),
    event_id: config.eventId,
    base_url: config.baseUrl,
    rate_per_minute: admission.rate_per_minute,
    buyers: null,
  };
}

/** One buyer; its metrics carry `phase` early / middle / late (thirds of the run). */
export default function (setupData) {
  adopt(setupData);
  const elapsedS = (Date.now() - setupData.t0) / 1000;
  exec.vu.metrics.tags.phase = elapsedS < durationS / 3 ? 'early' : elapsedS > (2 * durationS) / 3 ? 'late' : 'middle';
  m.arrived.add(1);
  m.arriveAt.add(Date.now() - setupData.t0);
  const token = joinQueue();
  if (!token) return;
  const admitted = waitUntilAdmitted(token, setupData.t0, maxWaitS);
  if (!admitted) return;
  shop(admitted.pass, mix);
}

/** The invariant sampler: the stats every CHECK_EVERY_S while the soak runs. */
export function sampleInvariants(setupData) {
  adopt(setupData);
  const r = checkStats(false, `t=${Math.round((Date.now() - setupData.t0) / 1000)}s`);
  if (!r.ok && !r.unreadable) m.oversold.add(1);
  sleep(checkEveryS);
}

export function teardown(setupData) {
  adopt(setupData);
  finalCheck();
}

export function handleSummary(data) {
  // Drift, reported (not a threshold: k6 decides the exit status before this runs):
  // the last third's p95 hold latency against the first third's.
  const early = data.metrics['hold_ms{phase:early}'];
  const late = data.metrics['hold_ms{phase:late}'];
  let drift = '';
  if (early && late && early.values.count > 0 && late.values.count > 0) {
    const e = early.values['p(95)'];
    const l = late.values['p(95)'];
    drift = `  drift              hold p95 first third ${e.toFixed(1)} ms, last third ${l.toFixed(1)} ms (× ${(l / Math.max(1, e)).toFixed(2)})\n`;
  }
  const out = summarize(data);
  out.stdout = out.stdout.replace('Anteroom spike', `Anteroom soak (${rate} buyers/s for ${duration})`) + drift;
  return out;
}

function parseDuration(s) {
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s)/g;
  let total = 0;
  let match;
  while ((match = re.exec(s)) !== null) {
    const n = Number(match[1]);
    total += match[2] === 'h' ? n * 3600 : match[2] === 'm' ? n * 60 : match[2] === 's' ? n : n / 1000;
  }
  return total || 1;
}
