// Admission accuracy: FANS fans join within JOIN_SECONDS and wait; nobody shops. The
// queue must drain at the configured outflow, never faster, in arrival order.
//
//   k6 run -e BASE_URLS=https://gw-1.example.org,https://gw-2.example.org \
//          -e ADMIN_KEY=... [-e EVENT_ID=...] -e FANS=2000 -e RATE_PER_MINUTE=1200 k6/admission.js
//
// Measured:
// - outflow from the server's own count: a sampler reads the admin stats every second;
//   the rate is (admitted_total change) / (time) between the first and the last sample
//   that found fans waiting, the time being each reading's `queue.as_of` (the Redis
//   clock at the read). `admission_rate_error` = |observed − configured| / configured;
//   threshold < ADMISSION_TOLERANCE (0.05).
// - over-admission: between any two samples, admissions may not exceed the configured
//   rate × elapsed time + 1 s of outflow + 1 (credit owed at the first sample and not yet
//   taken: the loop steps every 100 ms; the bucket would make up more only after a loop
//   more than a second late, see gateway/src/admitter/bucket.rs); `over_admissions`
//   counts violations; threshold 0.
// - order: a fan's `ahead` may only go down while it waits (nobody overtakes);
//   `position_regressions` counts increases; threshold 0.
// - ETA honesty (reported): time from join to admission minus the ETA given at join.
// With several gateways (BASE_URLS), fans are spread over them: replicas must not
// over-admit together. Without EVENT_ID, setup creates an event with RATE_PER_MINUTE
// (600), max_active = FANS and enough seats, so neither caps admission.
import { sleep } from 'k6';
import exec from 'k6/execution';
import { Counter, Gauge, Trend } from 'k6/metrics';
import { api, judge, retryAfterS } from './lib/api.js';
import { readingTime } from './lib/clock.js';
import { joinQueue } from './lib/buyer.js';
import { config } from './lib/config.js';
import { baseUrls, envNum } from './lib/env.js';
import { adopt, useOrCreateEvent } from './lib/event.js';
import { finalCheck } from './lib/invariants.js';
import * as m from './lib/metrics.js';
import { summarize } from './lib/summary.js';

const fans = envNum('FANS', 600);
const joinSeconds = envNum('JOIN_SECONDS', 5);
const rateDefault = envNum('RATE_PER_MINUTE', 600);
const tolerance = envNum('ADMISSION_TOLERANCE', 0.05);
const urls = baseUrls(config.baseUrl);
// Draining FANS at the configured rate, plus margin.
const drainS = Math.ceil((fans / rateDefault) * 60 * 1.5) + joinSeconds + 30;

const rateError = new Gauge('admission_rate_error');
const observedRate = new Gauge('server_admission_per_minute');
const overAdmissions = new Counter('over_admissions');
const positionRegressions = new Counter('position_regressions');
const etaError = new Trend('eta_error_s');

export const options = {
  scenarios: {
    fans: {
      executor: 'constant-arrival-rate',
      rate: Math.max(1, Math.ceil(fans / joinSeconds)),
      timeUnit: '1s',
      duration: `${joinSeconds}s`,
      preAllocatedVUs: fans + 10,
      maxVUs: fans + 10,
      gracefulStop: `${drainS}s`,
    },
    sampler: {
      executor: 'per-vu-iterations',
      exec: 'sampleAdmission',
      vus: 1,
      iterations: 1,
      maxDuration: `${drainS + joinSeconds + 10}s`,
    },
  },
  thresholds: {
    admission_rate_error: [`value<${tolerance}`],
    over_admissions: ['count==0'],
    position_regressions: ['count==0'],
    http_5xx: ['count==0'],
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
  overAdmissions.add(0);
  positionRegressions.add(0);
  config.eventId = useOrCreateEvent('admission', {
    rate_per_minute: rateDefault,
    max_active: fans + 100,
    pass_ttl_seconds: 3600,
    hold_ttl_seconds: 60,
    sections: 1,
    rows: Math.max(1, Math.ceil(fans / 50)),
    seats_per_row: 50,
  });
  const ev = api.adminEvent();
  if (ev.status !== 200 || !ev.body) throw new Error(`GET admin event answered ${ev.status}: ${ev.res.body}`);
  const rate = (ev.body.admission || {}).rate_per_minute;
  console.log(`admission: ${fans} fans within ${joinSeconds}s over ${urls.length} gateway(s), outflow ${rate}/min`);
  return { t0: Date.now(), event_id: config.eventId, base_url: urls.join(','), rate_per_minute: rate, buyers: fans };
}

/** One fan: join (on its gateway), then poll until admitted. */
export default function (setupData) {
  adopt(setupData);
  if (exec.scenario.iterationInTest >= fans) return;
  config.baseUrl = urls[exec.vu.idInTest % urls.length];
  m.arrived.add(1);
  m.arriveAt.add(Date.now() - setupData.t0);
  const token = joinQueue();
  if (!token) return;
  const joinedAt = Date.now();
  let lastAhead = null;
  let etaAtJoin = null;
  const until = joinedAt + drainS * 1000;
  while (Date.now() < until) {
    const a = api.status(token);
    if (a.status === 429 || a.status === 503) {
      judge(a, a.status === 429, 'status');
      sleep(retryAfterS(a));
      continue;
    }
    if (!judge(a, a.status === 200 && a.body, 'status')) return;
    const s = a.body;
    if (s.state === 'admitted') {
      const now = Date.now();
      m.admitted.add(1);
      m.admitAt.add(now - setupData.t0);
      m.queueWait.add(now - joinedAt);
      if (etaAtJoin !== null) etaError.add((now - joinedAt) / 1000 - etaAtJoin);
      return;
    }
    if (s.state !== 'waiting' && s.state !== 'prequeue') {
      judge(a, false, 'status');
      return;
    }
    if (Number.isFinite(s.ahead)) {
      if (lastAhead !== null && s.ahead > lastAhead) {
        positionRegressions.add(1);
        console.warn(`ahead went from ${lastAhead} to ${s.ahead}`);
      }
      lastAhead = s.ahead;
    }
    if (etaAtJoin === null && Number.isFinite(s.eta_seconds)) etaAtJoin = s.eta_seconds;
    sleep(Math.min(config.maxPollMs, Math.max(config.minPollMs, Number(s.poll_after_ms) || 1000)) / 1000);
  }
  m.gaveUpWaiting.add(1);
}

/** The server-side view: admitted_total once a second while fans wait. */
export function sampleAdmission(setupData) {
  adopt(setupData);
  const rate = setupData.rate_per_minute;
  const burst = rate / 60 + 1;
  const until = Date.now() + (drainS + joinSeconds) * 1000;
  const samples = [];
  while (Date.now() < until) {
    const a = api.adminStats();
    const q = a.status === 200 && a.body && a.body.queue;
    if (q) {
      const now = readingTime(a.body, Date.now());
      samples.push({ t: now, admitted: q.admitted_total, waiting: q.waiting });
      for (const earlier of samples) {
        const allowed = (rate * (now - earlier.t)) / 60000 + burst;
        if (q.admitted_total - earlier.admitted > allowed + 1e-9) {
          overAdmissions.add(1);
          console.warn(`over-admission: ${q.admitted_total - earlier.admitted} in ${(now - earlier.t) / 1000}s (allowed ${allowed.toFixed(1)})`);
          break;
        }
      }
      if (q.waiting === 0 && now - setupData.t0 > (joinSeconds + 2) * 1000) break;
    }
    sleep(1);
  }
  // The outflow while the queue was non-empty: from the first sample with fans waiting
  // to the last one (the one after it already found the queue empty).
  const waiting = samples.filter((s) => s.waiting > 0);
  if (waiting.length >= 2) {
    const first = waiting[0];
    const last = waiting[waiting.length - 1];
    const perMinute = ((last.admitted - first.admitted) * 60000) / (last.t - first.t);
    observedRate.add(perMinute);
    m.sampledPerMinute.add(perMinute);
    m.sampledSpanS.add((last.t - first.t) / 1000);
    rateError.add(Math.abs(perMinute - rate) / rate);
  } else {
    console.error('admission: fewer than two samples with fans waiting; raise FANS or lower RATE_PER_MINUTE');
    rateError.add(1);
  }
}

export function teardown(setupData) {
  adopt(setupData);
  finalCheck();
}

export function handleSummary(data) {
  const v = (name, key) => (data.metrics[name] ? data.metrics[name].values[key] : undefined);
  const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const out = summarize(data);
  out.stdout =
    out.stdout.replace('Anteroom spike', `Anteroom admission accuracy (${fans} fans, ${urls.length} gateway(s))`) +
    `  server outflow     ${f(v('server_admission_per_minute', 'value'))}/min vs configured ${data.setup_data ? data.setup_data.rate_per_minute : '-'}/min` +
    ` (error ${f(100 * v('admission_rate_error', 'value'), 2)} %, tolerance ${100 * tolerance} %)\n` +
    `  over-admissions    ${v('over_admissions', 'count') || 0}; position regressions ${v('position_regressions', 'count') || 0}\n` +
    `  ETA error          median ${f(v('eta_error_s', 'med'))} s, p95 ${f(v('eta_error_s', 'p(95)'))} s (admitted later than the ETA at join: > 0)\n`;
  return out;
}
