// Gate mode under load: FANS fans arrive within ARRIVAL_SECONDS for an event whose gate
// sends admitted fans to a shop behind nginx (deploy/gate/). Each fan joins the queue on
// the gateway, polls its status at `poll_after_ms` until admitted, enters the shop
// through nginx with `?anteroom_pass=` (the hand-off, after which nginx's cookie carries
// the pass), browses 2–3 shop pages, then buys: the shop's `/done` revokes the pass
// through the origin API, which frees the fan's `max_active` slot. A little later
// (AFTER_MS, default 1,500) the fan tries the shop once more and must be sent back to
// the queue.
//
//   k6/gate.sh                                   # the local stack, nginx and shop; see there
//   k6 run -e BASE_URL=https://queue.example.org -e ADMIN_KEY=... -e EVENT_ID=<gated event> \
//          -e FANS=10000 --log-output=file=k6-console.log k6/gate.js
//
// The event must exist and have a `gate` whose `target_url` is the shop through nginx.
// Memory: one virtual user drives many fans (VUS, default FANS / 50, at most 200; each
// polls its fans in turn with `http.batch`), and response bodies are discarded except
// the gateway's JSON, so memory grows with VUS rather than with FANS.
//
// On admission each fan logs `gate-pass <jwt>`: k6/gate_check.py reads every ticket's
// admission time from it and checks the shop's access log against it (nobody in before
// admission, at most max_active live sessions, the admission rate). Thresholds here: no
// 5xx, < 1 % unexpected answers, every fan finished, every revoked fan sent back.
import http from 'k6/http';
import { sleep } from 'k6';
import exec from 'k6/execution';
import { config } from './lib/config.js';
import { envNum } from './lib/env.js';
import { adopt } from './lib/event.js';
import { Fan, unfinished } from './lib/gate_fan.js';
import * as m from './lib/metrics.js';
import { gateSummary } from './lib/gate_summary.js';

const fans = envNum('FANS', 10000);
const vus = Math.max(1, Math.min(fans, envNum('VUS', Math.min(200, Math.ceil(fans / 50)))));
const arrivalS = envNum('ARRIVAL_SECONDS', 60);
const thinkS = envNum('THINK_S', 1);
const afterMs = envNum('AFTER_MS', 1500);
// Setup reads the event's admission rate; this bounds the run for the configured one.
const rateHint = envNum('RATE_PER_MINUTE', 600);
const runS = Math.ceil((fans / rateHint) * 60 * 1.3) + arrivalS + 120;

export const options = {
  discardResponseBodies: true,
  maxRedirects: 0,
  // Fans of one VU whose steps are due together go out in parallel, at most this many.
  batch: 20,
  batchPerHost: 20,
  scenarios: {
    fans: { executor: 'per-vu-iterations', vus, iterations: 1, maxDuration: `${runS}s`, gracefulStop: '30s' },
  },
  thresholds: {
    http_5xx: ['count==0'],
    unexpected_errors: ['rate<0.01'],
    unfinished_fans: ['count==0'],
    revoked_let_in: ['count==0'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
  setupTimeout: '60s',
};

function adminGet(path) {
  const res = http.get(`${config.baseUrl}${path}`, {
    headers: { Authorization: `Bearer ${config.adminKey}` }, responseType: 'text', tags: { name: 'admin' },
  });
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${res.body}`);
  return JSON.parse(res.body);
}

export function setup() {
  m.http5xx.add(0);
  unfinished.add(0);
  if (!config.eventId || !config.adminKey) throw new Error('EVENT_ID and ADMIN_KEY are required');
  const ev = adminGet(`/v1/admin/events/${config.eventId}`);
  const target = ev.gate && ev.gate.target_url;
  if (!target) throw new Error(`event ${config.eventId} has no gate`);
  // The shop must be behind the gate: without a pass nginx sends the fan to the queue.
  const probe = http.get(target, { tags: { name: 'shop_probe' } });
  const queuePrefix = `${config.baseUrl}/e/${config.eventId}`;
  if (probe.status !== 302 || !String(probe.headers.Location || '').startsWith(queuePrefix)) {
    throw new Error(`GET ${target} without a pass answered ${probe.status} ${probe.headers.Location || ''}, not a redirect to ${queuePrefix}`);
  }
  const rate = ev.admission.rate_per_minute;
  console.log(`gate: ${fans} fans within ${arrivalS}s on ${vus} VUs, outflow ${rate}/min, max_active ${ev.admission.max_active}, shop ${target}`);
  return {
    t0: Date.now() + 1000, event_id: config.eventId, target, queue_prefix: queuePrefix,
    rate_per_minute: rate, max_active: ev.admission.max_active, buyers: fans,
  };
}

/** One VU: the fans i ≡ VU − 1 (mod VUS), each arriving at its share of ARRIVAL_SECONDS. */
export default function (s) {
  adopt(s);
  const mine = [];
  for (let i = exec.vu.idInTest - 1; i < fans; i += vus) {
    mine.push(new Fan({
      baseUrl: config.baseUrl, eventId: s.event_id, target: s.target, queuePrefix: s.queue_prefix,
      arriveAt: s.t0 + Math.floor((i * arrivalS * 1000) / fans),
      pages: 2 + Math.floor(Math.random() * 2), thinkS, afterMs,
    }));
  }
  const until = s.t0 + (runS - 10) * 1000;
  let open = mine.length;
  while (open > 0 && Date.now() < until) {
    const now = Date.now();
    const due = mine.filter((f) => !f.finished && f.next <= now);
    if (due.length === 0) {
      const next = Math.min(...mine.filter((f) => !f.finished).map((f) => f.next));
      sleep(Math.min(1, Math.max(0.005, (next - now) / 1000)));
      continue;
    }
    for (const f of due) {
      if (f.step === 'join' && f.joinTries === 0) {
        m.arrived.add(1);
        m.arriveAt.add(now - s.t0);
      }
    }
    const res = http.batch(due.map((f) => f.request()));
    const after = Date.now();
    due.forEach((f, k) => f.answer(res[k], after));
    open = mine.filter((f) => !f.finished).length;
  }
  unfinished.add(open);
}

export function handleSummary(data) {
  return gateSummary(data, fans);
}
