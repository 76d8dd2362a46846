// Join spike against several gateway replicas (the gateway benchmark): FANS fans join
// within JOIN_SECONDS (uniform arrivals, by default 50,000 in 20 s), alternating between
// the replicas in BASE_URLS, and then poll their status exactly when the server says
// (`poll_after_ms`) until admitted or RUN_SECONDS is over. One VU stands for many fans
// (FANS / VUS of them): it joins each at its arrival time and polls whichever of its
// fans is due next, so the poll load is the one the fans would make.
//
//   k6 run -e BASE_URLS=http://127.0.0.1:18081,http://127.0.0.1:18082 -e EVENT_ID=<id> \
//          -e ADMIN_KEY=<key> -e RATE_PER_MINUTE=6000 k6/join-spike.js
//   GATEWAYS=2 PROFILE=release k6/local.sh k6/join-spike.js    # a private stack, two replicas
//
// Without EVENT_ID, setup creates an open event through the first replica's admin API
// (RATE_PER_MINUTE, `max_active` 1,000,000, one section of 40 × 50 seats; MAX_ACTIVE,
// ROWS, SEATS_PER_ROW override them, as in lib/event.js).
//
// Every fan has its own client address in `X-Forwarded-For` (10.150+.x.y), so the
// gateways must run with ANTEROOM_TRUSTED_PROXY_HEADER=X-Forwarded-For: per-IP limits
// then see one address per fan, as behind a real load balancer, and must never refuse
// anyone here (threshold: no 429 at all).
//
// A sampler reads the admin stats every SAMPLE_SECONDS (2); over the samples where fans
// were waiting throughout, the observed admissions per minute (least-squares slope of
// admitted_total over time) must be within ADMISSION_TOLERANCE (1 %) of RATE_PER_MINUTE (the event's configured rate, checked in
// setup). Thresholds: no 5xx, no 429, admission within tolerance, active passes never
// above max_active, nothing oversold (teardown: sold + held + available = total).
// BUY_SHARE of admitted fans hold and confirm one best-available seat, so the seat
// check is not vacuous. SUMMARY_JSON=path also writes the outcome as JSON.
import http from 'k6/http';
import exec from 'k6/execution';
import { sleep } from 'k6';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import { readingTime } from './lib/clock.js';
import { config } from './lib/config.js';
import { useOrCreateEvent } from './lib/event.js';

const env = (name, fallback) => (__ENV[name] === undefined || __ENV[name] === '' ? fallback : __ENV[name]);
const BASES = env('BASE_URLS', 'http://127.0.0.1:8080')
  .split(',')
  .map((s) => s.trim().replace(/\/+$/, ''))
  .filter((s) => s.length > 0);
const EVENT_ID = env('EVENT_ID', '');
const ADMIN_KEY = env('ADMIN_KEY', '');
const FANS = Number(env('FANS', 50000));
const JOIN_S = Number(env('JOIN_SECONDS', 20));
const RUN_S = Math.max(Number(env('RUN_SECONDS', 60)), JOIN_S + 10);
const VUS = Number(env('VUS', 500));
const RATE = Number(env('RATE_PER_MINUTE', 6000));
const TOLERANCE = Number(env('ADMISSION_TOLERANCE', 0.01));
const SAMPLE_S = Number(env('SAMPLE_SECONDS', 2));
const BUY_SHARE = Number(env('BUY_SHARE', 0.05));
/** Most requests one VU has in flight at once (joins and polls that are due). */
const BATCH = Number(env('BATCH', 10));

const joined = new Counter('fans_joined');
const polls = new Counter('polls');
const admitted = new Counter('fans_admitted');
const bought = new Counter('seats_bought');
const http5xx = new Counter('http_5xx');
const rateLimited = new Counter('rate_limited');
const unexpected = new Rate('unexpected_answers');
const overMaxActive = new Counter('over_max_active');
const oversold = new Counter('oversold');
const admissionError = new Gauge('admission_error');
const observedPerMinute = new Gauge('admission_observed_per_minute');
const joinMs = new Trend('join_ms', true);
const statusMs = new Trend('status_ms', true);
/** How late a poll went out after the time the server asked for (load generator lag). */
const pollLagMs = new Trend('poll_lag_ms', true);

http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, 409));

// A VU is many fans and runs one long iteration: its cookie jar would carry one fan's
// `anteroom_queue` cookie into the next fan's join (a rejoin). Each request gets an empty
// jar instead; credentials travel as `Authorization: Bearer`.
const params = (headers, name) => ({ headers, tags: { name }, jar: new http.CookieJar() });

export const options = {
  scenarios: {
    fans: {
      executor: 'per-vu-iterations',
      exec: 'fans',
      vus: VUS,
      iterations: 1,
      maxDuration: `${RUN_S + 30}s`,
    },
    sampler: {
      executor: 'per-vu-iterations',
      exec: 'sampler',
      vus: 1,
      iterations: 1,
      maxDuration: `${RUN_S + 30}s`,
    },
  },
  thresholds: {
    http_5xx: ['count==0'],
    rate_limited: ['count==0'],
    unexpected_answers: ['rate<0.001'],
    admission_error: [`value<=${TOLERANCE}`],
    over_max_active: ['count==0'],
    oversold: ['count==0'],
  },
  batch: BATCH,
  batchPerHost: BATCH,
  summaryTrendStats: ['avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
  setupTimeout: '30s',
  teardownTimeout: '30s',
};

const adminHeaders = () => ({ Authorization: `Bearer ${ADMIN_KEY}` });
const ev = (eventId) => `/v1/events/${eventId}`;
const fanIp = (k) => `10.${150 + Math.floor(k / 65536)}.${Math.floor(k / 256) % 256}.${k % 256}`;

function json(res) {
  try {
    return res.json();
  } catch (_) {
    return null;
  }
}

function retryAfterMs(res) {
  const s = Number(res.headers['Retry-After']);
  return Number.isFinite(s) && s > 0 ? s * 1000 : 1000;
}

/** Counts the answer's class; returns whether it was one of `ok`. */
function judge(res, ok) {
  if (res.status >= 500 || res.status === 0) http5xx.add(1);
  if (res.status === 429) rateLimited.add(1);
  const good = ok.includes(res.status);
  unexpected.add(!good && res.status !== 429);
  return good;
}

export function setup() {
  if (!ADMIN_KEY) throw new Error('ADMIN_KEY is required');
  for (const c of [http5xx, rateLimited, overMaxActive, oversold]) c.add(0);
  // The event is created through the first replica unless BASE_URL names another.
  if (!__ENV.BASE_URL) config.baseUrl = BASES[0];
  const eventId =
    EVENT_ID ||
    useOrCreateEvent('join-spike', {
      rate_per_minute: RATE,
      max_active: 1000000,
      pass_ttl_seconds: 600,
      hold_ttl_seconds: 120,
      sections: 1,
      rows: 40,
      seats_per_row: 50,
    });
  const res = http.get(`${BASES[0]}/v1/admin/events/${eventId}`, { headers: adminHeaders() });
  const body = json(res);
  if (res.status !== 200 || !body) throw new Error(`admin event: ${res.status} ${res.body}`);
  const admission = body.admission || (body.spec && body.spec.admission) || {};
  if (admission.rate_per_minute !== RATE) {
    throw new Error(`RATE_PER_MINUTE=${RATE} but the event admits ${admission.rate_per_minute}/min`);
  }
  const seating = body.seating || (body.spec && body.spec.seating) || { sections: [{ name: 'A' }] };
  return {
    eventId,
    t0: Date.now(),
    maxActive: admission.max_active,
    section: seating.sections[0].name,
  };
}

function buy(base, eventId, k, pass, section) {
  const headers = { Authorization: `Bearer ${pass}`, 'Content-Type': 'application/json', 'X-Forwarded-For': fanIp(k) };
  const hold = http.post(
    `${base}${ev(eventId)}/holds`,
    JSON.stringify({ section, quantity: 1 }),
    params(Object.assign({ 'Idempotency-Key': `hold-${k}` }, headers), 'hold'),
  );
  if (!judge(hold, [201, 202, 409])) return;
  const h = json(hold);
  if (hold.status !== 201 || !h) return;
  const confirm = http.post(
    `${base}/v1/holds/${h.id}/confirm`,
    JSON.stringify({ payment_ref: `k6-${k}` }),
    params(Object.assign({ 'Idempotency-Key': `confirm-${k}` }, headers), 'confirm'),
  );
  if (judge(confirm, [200, 202, 409, 410]) && confirm.status === 200) bought.add(1);
}

/** One VU: the fans k ≡ slot (mod VUS), joining at k × JOIN_S / FANS, then polling.
 * Whatever is due (joins and polls, up to BATCH) goes out in one `http.batch`, so a VU
 * keeps up with its fans even when answers are slow. */
export function fans(data) {
  const slot = exec.scenario.iterationInTest;
  const mine = [];
  for (let k = slot; k < FANS; k += VUS) {
    mine.push({ k, at: (k * JOIN_S * 1000) / FANS, base: BASES[k % BASES.length], token: null, next: Infinity, done: false });
  }
  const end = RUN_S * 1000;
  const clock = () => Date.now() - data.t0;
  let joinIdx = 0;
  for (;;) {
    const now = clock();
    if (now >= end) return;
    const joins = [];
    for (let j = joinIdx; j < mine.length && joins.length < BATCH && mine[j].at <= now; j += 1) joins.push(mine[j]);
    const due = [];
    let nextPoll = Infinity;
    for (const f of mine) {
      if (f.done || !f.token) continue;
      if (f.next <= now && due.length + joins.length < BATCH) due.push(f);
      else nextPoll = Math.min(nextPoll, f.next);
    }
    if (joins.length === 0 && due.length === 0) {
      const nextJoin = joinIdx < mine.length ? mine[joinIdx].at : Infinity;
      sleep(Math.max(0.005, (Math.min(nextJoin, nextPoll, end) - now) / 1000));
      continue;
    }
    const requests = joins.map((f) => ({
      method: 'POST',
      url: `${f.base}${ev(data.eventId)}/queue`,
      body: null,
      params: params({ 'X-Forwarded-For': fanIp(f.k) }, 'join'),
    }));
    for (const f of due) {
      pollLagMs.add(now - f.next);
      requests.push({
        method: 'GET',
        url: `${f.base}${ev(data.eventId)}/queue`,
        params: params({ Authorization: `Bearer ${f.token}`, 'X-Forwarded-For': fanIp(f.k) }, 'status'),
      });
    }
    const answers = http.batch(requests);
    joins.forEach((f, i) => {
      const res = answers[i];
      joinMs.add(res.timings.duration);
      joinIdx += 1;
      // A refused join (429 included, which fails the run) is not retried.
      if (judge(res, [201])) {
        const b = json(res);
        f.token = b.queue_token;
        f.next = clock() + b.poll_after_ms;
        joined.add(1);
      }
    });
    due.forEach((f, i) => {
      const res = answers[joins.length + i];
      statusMs.add(res.timings.duration);
      polls.add(1);
      if (res.status === 429) {
        judge(res, [200]);
        f.next = clock() + retryAfterMs(res);
        return;
      }
      if (!judge(res, [200])) {
        f.done = true;
        return;
      }
      const st = json(res);
      if (st.state === 'admitted') {
        admitted.add(1);
        f.done = true;
        if (Math.random() < BUY_SHARE) buy(f.base, data.eventId, f.k, st.pass, data.section);
      } else if (st.state === 'waiting' || st.state === 'prequeue') {
        f.next = clock() + st.poll_after_ms;
      } else {
        f.done = true;
      }
    });
  }
}

function stats(base, eventId) {
  const res = http.get(`${base}/v1/admin/events/${eventId}/stats`, { headers: adminHeaders(), tags: { name: 'admin_stats' } });
  judge(res, [200]);
  return res.status === 200 ? json(res) : null;
}

/** Reads the stats every SAMPLE_S and measures the outflow while fans were waiting. */
export function sampler(data) {
  const samples = [];
  const end = RUN_S * 1000;
  for (let t = SAMPLE_S * 1000; t < end; t += SAMPLE_S * 1000) {
    const wait = t - (Date.now() - data.t0);
    if (wait > 0) sleep(wait / 1000);
    // A sample's time is the server's `queue.as_of` (the Redis clock at the read). A
    // server without it: the middle of the request, read again up to 5 times while the
    // answer is slow (> 100 ms), so that the time is known within 50 ms.
    let s = null;
    let at = 0;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const before = Date.now();
      s = stats(BASES[samples.length % BASES.length], data.eventId);
      const after = Date.now();
      at = readingTime(s, (before + after) / 2);
      if (s && (s.queue.as_of || after - before <= 100)) break;
    }
    if (!s) continue;
    samples.push({ at, admitted: s.queue.admitted_total, waiting: s.queue.waiting });
    if (data.maxActive !== undefined && s.queue.active > data.maxActive) overMaxActive.add(1);
  }
  // The longest run of consecutive samples with fans waiting at each of them.
  let best = null;
  let start = null;
  samples.forEach((s, i) => {
    if (s.waiting > 0) {
      if (start === null) start = i;
      if (best === null || i - start > best[1] - best[0]) best = [start, i];
    } else {
      start = null;
    }
  });
  if (best === null || best[1] === best[0]) {
    console.error(`admission: no window with fans waiting (${samples.length} samples)`);
    admissionError.add(1);
    return;
  }
  console.log(
    `admission samples (s since start: admitted/waiting): ${samples
      .map((x) => `${((x.at - data.t0) / 1000).toFixed(2)}:${x.admitted}/${x.waiting}`)
      .join(' ')}`,
  );
  // Least-squares slope of admitted over time across the window: timing noise of single
  // samples (slow answers under load) averages out instead of landing on two endpoints.
  const w = samples.slice(best[0], best[1] + 1);
  const mt = w.reduce((acc, x) => acc + x.at, 0) / w.length;
  const ma = w.reduce((acc, x) => acc + x.admitted, 0) / w.length;
  let sxy = 0;
  let sxx = 0;
  for (const x of w) {
    sxy += (x.at - mt) * (x.admitted - ma);
    sxx += (x.at - mt) * (x.at - mt);
  }
  const observed = (sxy / sxx) * 60000;
  observedPerMinute.add(observed);
  admissionError.add(Math.abs(observed - RATE) / RATE);
  const a = w[0];
  const b = w[w.length - 1];
  console.log(
    `admission: ${observed.toFixed(1)}/min over ${((b.at - a.at) / 1000).toFixed(1)} s and ${w.length} samples ` +
      `(endpoints: ${b.admitted - a.admitted} admitted = ` +
      `${(((b.admitted - a.admitted) * 60000) / (b.at - a.at)).toFixed(1)}/min; configured ${RATE}/min)`,
  );
}

export function teardown(data) {
  const s = stats(BASES[0], data.eventId);
  if (!s) {
    oversold.add(1);
    return;
  }
  const seats = s.seats;
  if (seats.sold + seats.held + seats.available !== seats.total || seats.sold > seats.total) {
    console.error(`seat counts do not add up: ${JSON.stringify(seats)}`);
    oversold.add(1);
  }
}

export function handleSummary(data) {
  const v = (name) => (data.metrics[name] ? data.metrics[name].values : {});
  const n = (x, d = 1) => (x === undefined || x === null || !Number.isFinite(x) ? null : Number(x.toFixed(d)));
  const thresholdsOk = Object.values(data.metrics).every(
    (m) => !m.thresholds || Object.values(m.thresholds).every((t) => t.ok),
  );
  const out = {
    event_id: (data.setup_data && data.setup_data.eventId) || EVENT_ID || null,
    replicas: BASES.length,
    fans_planned: FANS,
    join_seconds: JOIN_S,
    fans_joined: v('fans_joined').count || 0,
    polls: v('polls').count || 0,
    polls_per_second: n(v('polls').rate),
    fans_admitted: v('fans_admitted').count || 0,
    seats_bought: v('seats_bought').count || 0,
    admission_configured_per_minute: RATE,
    admission_observed_per_minute: n(v('admission_observed_per_minute').value),
    admission_error: n(v('admission_error').value, 4),
    http_5xx: v('http_5xx').count || 0,
    rate_limited: v('rate_limited').count || 0,
    unexpected_rate: n(v('unexpected_answers').rate, 4),
    join_p50_ms: n(v('join_ms').med, 2),
    join_p95_ms: n(v('join_ms')['p(95)'], 2),
    join_p99_ms: n(v('join_ms')['p(99)'], 2),
    status_p50_ms: n(v('status_ms').med, 2),
    status_p95_ms: n(v('status_ms')['p(95)'], 2),
    status_p99_ms: n(v('status_ms')['p(99)'], 2),
    poll_lag_p99_ms: n(v('poll_lag_ms')['p(99)'], 0),
    oversold: v('oversold').count || 0,
    over_max_active: v('over_max_active').count || 0,
    thresholds_ok: thresholdsOk,
  };
  const lines = Object.entries(out).map(([k, val]) => `  ${k.padEnd(34)} ${val}`);
  const files = { stdout: `\njoin-spike outcome\n${lines.join('\n')}\n` };
  if (__ENV.SUMMARY_JSON) files[__ENV.SUMMARY_JSON] = JSON.stringify(out, null, 2);
  return files;
}
