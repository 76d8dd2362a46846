// Stress / breakpoint: buyers arrive at a rate that climbs step by step (START_RATE,
// then + STEP_RATE every STEP_DURATION, STEPS steps) until the system breaks: the run
// stops itself (abortOnFail) as soon as p95 status latency passes MAX_STATUS_P95_MS
// (500), p95 hold latency passes MAX_HOLD_P95_MS (2000), more than 5 % of requests fail,
// or any 5xx. The report names the arrival rate reached: the breakpoint is the last
// step that held.
//
//   k6 run -e BASE_URL=... -e ADMIN_KEY=... [-e EVENT_ID=...] \
//          -e START_RATE=50 -e STEP_RATE=50 -e STEPS=20 -e STEP_DURATION=30s k6/stress.js
//
// Buyers do not think (THINK_S 0) and half of them buy. Without EVENT_ID, setup creates
// an event big enough not to sell out early (20,000 seats, outflow 60,000/min,
// max_active 100,000). Run with the gateways' rate limits off (every buyer of one load
// generator shares its IP) or from many generators. Teardown checks the invariants.
import exec from 'k6/execution';
import { Gauge } from 'k6/metrics';
import { api } from './lib/api.js';
import { joinQueue, shop, waitUntilAdmitted } from './lib/buyer.js';
import { config } from './lib/config.js';
import { envNum, envStr } from './lib/env.js';
import { adopt, useOrCreateEvent } from './lib/event.js';
import { finalCheck } from './lib/invariants.js';
import * as m from './lib/metrics.js';
import { summarize } from './lib/summary.js';

const startRate = envNum('START_RATE', 50);
const stepRate = envNum('STEP_RATE', 50);
const steps = envNum('STEPS', 20);
const stepDuration = envStr('STEP_DURATION', '30s');
const maxWaitS = envNum('MAX_WAIT_S', 60);
const peak = startRate + stepRate * (steps - 1);
const mix = {
  confirmShare: envNum('CONFIRM_SHARE', 0.5),
  releaseShare: envNum('RELEASE_SHARE', 0.5),
  popularShare: envNum('POPULAR_SHARE', 0.2),
  thinkS: envNum('THINK_S', 0),
  holdRetries: envNum('HOLD_RETRIES', 2),
  maxSeats: 4,
};
const stepS = Number(stepDuration.replace(/s$/, '')) || 30;

/** The target arrival rate (buyers/s) when each buyer arrived; its max = rate reached. */
const arrivalRate = new Gauge('arrival_rate');

const abort = (threshold) => ({ threshold, abortOnFail: true, delayAbortEval: '10s' });

export const options = {
  scenarios: {
    stress: {
      executor: 'ramping-arrival-rate',
      startRate,
      timeUnit: '1s',
      // Each step: a quick ramp to the new rate, then hold it.
      stages: Array.from({ length: steps }, (_, i) => [
        { target: startRate + stepRate * i, duration: '2s' },
        { target: startRate + stepRate * i, duration: stepDuration },
      ]).flat(),
      preAllocatedVUs: Math.min(500, peak * 5),
      maxVUs: Math.ceil(peak * (10 + Math.min(maxWaitS, 20))),
      gracefulStop: '30s',
    },
  },
  thresholds: {
    http_5xx: [abort('count==0')],
    http_req_failed: [abort('rate<0.05')],
    status_ms: [abort(`p(95)<${envNum('MAX_STATUS_P95_MS', 500)}`)],
    hold_ms: [abort(`p(95)<${envNum('MAX_HOLD_P95_MS', 2000)}`)],
    unexpected_errors: ['rate<0.01'],
    oversold: ['count==0'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
  setupTimeout: '60s',
  teardownTimeout: '60s',
};

export function setup() {
  m.http5xx.add(0);
  m.oversold.add(0);
  config.eventId = useOrCreateEvent('stress', {
    rate_per_minute: 60000,
    max_active: 100000,
    pass_ttl_seconds: 600,
    hold_ttl_seconds: 60,
    sections: 10,
    rows: 40,
    seats_per_row: 50,
  });
  const ev = api.adminEvent();
  if (ev.status !== 200 || !ev.body) throw new Error(`GET admin event answered ${ev.status}: ${ev.res.body}`);
  console.log(`stress: ${startRate} → ${peak} buyers/s in ${steps} steps of ${stepDuration} → event ${config.eventId}`);
  return {
    t0: Date.now(),
    event_id: config.eventId,
    base_url: config.baseUrl,
    rate_per_minute: (ev.body.admission || {}).rate_per_minute,
    buyers: null,
  };
}

export default function (setupData) {
  adopt(setupData);
  const step = Math.min(steps - 1, Math.floor((Date.now() - setupData.t0) / 1000 / (stepS + 2)));
  arrivalRate.add(startRate + stepRate * step);
  exec.vu.metrics.tags.step = String(step);
  m.arrived.add(1);
  m.arriveAt.add(Date.now() - setupData.t0);
  const token = joinQueue();
  if (!token) return;
  const admitted = waitUntilAdmitted(token, setupData.t0, maxWaitS);
  if (!admitted) return;
  shop(admitted.pass, mix);
}

export function teardown(setupData) {
  adopt(setupData);
  finalCheck();
}

export function handleSummary(data) {
  const reached = data.metrics.arrival_rate ? data.metrics.arrival_rate.values.max : null;
  const failed = Object.entries(data.metrics)
    .filter(([, v]) => v.thresholds && Object.values(v.thresholds).some((t) => !t.ok))
    .map(([k]) => k);
  let verdict;
  if (!failed.length) {
    verdict = `held up to ${reached} buyers/s, the last step: raise STEPS or STEP_RATE to find the breakpoint`;
  } else if (reached === null || reached <= startRate) {
    verdict = `broke in the first step (${startRate} buyers/s; failed: ${failed.join(', ')}): lower START_RATE`;
  } else {
    verdict = `broke at about ${reached} buyers/s (failed: ${failed.join(', ')}); it held ${reached - stepRate} buyers/s`;
  }
  const out = summarize(data);
  out.stdout =
    out.stdout.replace('Anteroom spike', `Anteroom stress (${startRate} → ${peak} buyers/s)`) +
    `  breakpoint         ${verdict}\n`;
  return out;
}
