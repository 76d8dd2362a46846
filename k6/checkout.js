// Origin checkout under a spike: BUYERS fans arrive within ARRIVAL_SECONDS for an event
// in `origin` checkout mode, wait their turn and hold seats like k6/spike.js; the hold is
// then paid the way a venue's shop does it: the fan page asks for the hand-off
// (`POST /v1/holds/{id}/checkout`: the venue's checkout URL with a signed hold token),
// and the venue's payment server confirms through the origin API with its API key
// (`POST /v1/origin/holds/{id}/confirm`, with an Idempotency-Key; some twice). A share of
// the fans also try the fan's own confirm first, which an origin-mode event refuses with
// `403 forbidden`.
//
//   k6/local.sh k6/checkout.js -e BUYERS=5000 -e ARRIVAL_SECONDS=20      # WEBHOOKS=1 also
//                                                                        # checks webhooks
//
// Thresholds: no 5xx at all, < 1 % unexpected answers, nothing oversold (teardown reads
// the stats; k6/local.sh then runs deploy/verify.sql), and every fan confirm refused.
// With WEBHOOKS=1, k6/local.sh checks that every order in PostgreSQL was announced by
// exactly one `order.confirmed` webhook (k6/webhooks_check.py).
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter } from 'k6/metrics';
import { sleep } from 'k6';
import { api, errorCode, judge } from './lib/api.js';
import { config } from './lib/config.js';
import { joinQueue, shop, uuid, waitUntilAdmitted } from './lib/buyer.js';
import { adopt, useOrCreateEvent } from './lib/event.js';
import { finalCheck } from './lib/invariants.js';
import * as m from './lib/metrics.js';
import { summarize } from './lib/summary.js';

/** Fan confirms of an origin-mode event that were not refused with 403. */
const fanConfirmsAccepted = new Counter('fan_confirms_accepted');
/** Hand-offs to the venue's checkout page that worked. */
const handoffsOk = new Counter('handoffs_ok');

const peakPerSecond = Math.max(1, Math.ceil((2.2 * config.buyers) / config.arrivalSeconds));
const vus = config.buyers + Math.max(20, Math.ceil(config.buyers * 0.02));
/** Share of buyers who try the fan's own confirm first (must be refused). */
const fanConfirmShare = Number(__ENV.FAN_CONFIRM_SHARE || 0.1);

export const options = {
  scenarios: {
    checkout: {
      executor: 'ramping-arrival-rate',
      startRate: 0,
      timeUnit: '1s',
      stages: [{ target: peakPerSecond, duration: `${config.arrivalSeconds}s` }],
      preAllocatedVUs: vus,
      maxVUs: vus,
      gracefulStop: `${config.maxWaitS + 120}s`,
    },
  },
  thresholds: {
    http_5xx: ['count==0'],
    unexpected_errors: ['rate<0.01'],
    oversold: ['count==0'],
    fan_confirms_accepted: ['count==0'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
  setupTimeout: '60s',
  teardownTimeout: '60s',
};

function admin(method, path, body) {
  const res = http.request(method, `${config.baseUrl}${path}`, body ? JSON.stringify(body) : null, {
    headers: {
      Authorization: `Bearer ${config.adminKey}`,
      'Content-Type': 'application/json',
      'Idempotency-Key': uuid(),
    },
    tags: { name: 'admin' },
    timeout: '30s',
  });
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${res.body}`);
  return res.json();
}

export function setup() {
  m.http5xx.add(0);
  m.oversold.add(0);
  fanConfirmsAccepted.add(0);
  const eventId = useOrCreateEvent(
    'checkout',
    { rate_per_minute: 6000, max_active: 500, pass_ttl_seconds: 600, hold_ttl_seconds: 120, sections: 4, rows: 25, seats_per_row: 40 },
    { checkout: { mode: 'origin', url: 'http://127.0.0.1:9/pay' }, currency: 'KRW' },
  );
  const key = admin('POST', '/v1/admin/api-keys', { name: `k6 payment server ${new Date().toISOString()}`, events: [eventId] });
  console.log(`checkout: ${config.buyers} buyers over ${config.arrivalSeconds}s → origin-mode event ${eventId}`);
  return { t0: Date.now(), event_id: eventId, api_key: key.key };
}

/** The venue's payment server: confirms `holdId` with its API key; follows a 202. */
function originConfirm(apiKey, holdId, key) {
  const send = (method, url, body) =>
    http.request(method, url.startsWith('http') ? url : `${config.baseUrl}${url}`, body ? JSON.stringify(body) : null, {
      headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
      tags: { name: method === 'POST' ? 'origin_confirm' : 'origin_request' },
    });
  let res = send('POST', `/v1/origin/holds/${holdId}/confirm`, { payment_ref: `pay-${holdId}` });
  if (res.status >= 500) m.http5xx.add(1, { endpoint: 'origin_confirm' });
  m.confirmMs.add(res.timings.duration);
  const until = Date.now() + config.settleS * 1000;
  while (res.status === 202 && Date.now() < until) {
    m.accepted202.add(1);
    sleep(0.2);
    const r = send('GET', res.json('status_url'));
    if (r.status === 200 && r.json('state') === 'done') {
      return { status: r.json('status'), body: r.json('body'), headers: r.headers, res: r };
    }
  }
  let body = null;
  try {
    body = res.json();
  } catch (_) {
    body = null;
  }
  return { status: res.status, body, headers: res.headers, res };
}

/** How a buyer's hold gets paid: the fan page's hand-off once, then the payment server. */
function confirmFor(setupData) {
  return (pass, hold) => {
    // The fan page's part happens once per hold; a repeat (the same Idempotency-Key, or
    // after a 429) is the payment server's confirm alone.
    let handedOff = false;
    return (key) => {
      if (!handedOff) {
        handedOff = true;
        const refusal = handOff(pass, hold);
        if (refusal) return refusal;
      }
      return originConfirm(setupData.api_key, hold.id, key);
    };
  };
}

/** The fan's own confirm (some of the time; must be refused) and the hand-off; an
 * answer to give back instead of confirming (a 429), or null. */
function handOff(pass, hold) {
  if (Math.random() < fanConfirmShare) {
    const a = api.confirm(pass, hold.id, `fan-${hold.id}`, uuid());
    const refused = a.status === 403 && errorCode(a) === 'forbidden';
    if (!judge(a, refused || a.status === 429, 'fan_confirm_refused') && a.status < 500) fanConfirmsAccepted.add(1);
  }
  const h = http.post(`${config.baseUrl}/v1/holds/${hold.id}/checkout`, null, {
    headers: { Authorization: `Bearer ${pass}` },
    tags: { name: 'checkout' },
  });
  if (h.status >= 500) m.http5xx.add(1, { endpoint: 'checkout' });
  if (h.status === 429) return { status: 429, body: null, headers: h.headers, res: h };
  const ok = h.status === 200 && String(h.json('checkout_url') || '').includes(hold.id);
  judge({ status: h.status, res: h }, ok, 'checkout');
  if (ok) handoffsOk.add(1);
  return null;
}

export default function (setupData) {
  adopt(setupData);
  if (exec.scenario.iterationInTest >= config.buyers) return;
  m.arrived.add(1);
  const queueToken = joinQueue();
  if (!queueToken) return;
  const admitted = waitUntilAdmitted(queueToken, setupData.t0, config.maxWaitS);
  if (!admitted) return;
  shop(admitted.pass, {
    popularShare: config.popularShare,
    confirmShare: config.confirmShare,
    releaseShare: config.releaseShare,
    repeatConfirmShare: config.repeatConfirmShare,
    thinkS: config.thinkS,
    holdRetries: config.holdRetries,
    maxSeats: 4,
    confirmFor: confirmFor(setupData),
  });
}

export function teardown(setupData) {
  adopt(setupData);
  finalCheck();
}

export function handleSummary(data) {
  return summarize(data);
}
