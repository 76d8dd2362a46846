// Thin client of the Anteroom HTTP API (docs/API.md) for k6 scenarios. Every call is tagged
// with a fixed `name` (one time series per endpoint, not per URL), records its latency
// in its endpoint's trend and counts 5xx answers. Whether an answer was *expected* is
// the scenario's call: see `judge`.
import http from 'k6/http';
import { sleep } from 'k6';
import { config } from './config.js';
import * as m from './metrics.js';

// 409 (seats taken, sold out) is part of the game; do not count it in http_req_failed.
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, 409));

/** A parsed answer: `status`, `body` (JSON or null), `headers` and the raw response. */
function answer(res, parse) {
  let body = null;
  if (parse && res.body && String(res.headers['Content-Type'] || '').includes('json')) {
    try {
      body = res.json();
    } catch (_) {
      body = null;
    }
  }
  return { status: res.status, body, headers: res.headers, res };
}

/** `parse: false` leaves the body unparsed (read parts of it with `res.json(selector)`). */
function send(method, path, { token, body, key, name, trend, parse = true }) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (key) headers['Idempotency-Key'] = key;
  let payload = null;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const url = path.startsWith('http') ? path : `${config.baseUrl}${path}`;
  const res = http.request(method, url, payload, { headers, tags: { name } });
  if (trend && res.status !== 0) trend.add(res.timings.duration);
  if (res.status >= 500) m.http5xx.add(1, { endpoint: name });
  if (res.status === 429) m.rateLimited.add(1, { endpoint: name });
  return answer(res, parse);
}

/** The error code of an API error body, or ''. */
export function errorCode(a) {
  return (a.body && a.body.error && a.body.error.code) || '';
}

/** Seconds to wait after a 429 (`Retry-After`, default 1). */
export function retryAfterS(a) {
  const v = Number(a.headers['Retry-After']);
  return Number.isFinite(v) && v > 0 ? Math.min(v, 30) : 1;
}

let reported = 0;
/** Records whether answer `a` of step `what` was expected; logs the first few surprises. */
export function judge(a, expected, what) {
  m.unexpected.add(!expected, { step: what });
  if (!expected && reported < 20) {
    reported += 1;
    const body = a.res && a.res.body ? String(a.res.body).slice(0, 300) : a.res && a.res.error;
    console.warn(`unexpected answer to ${what}: ${a.status} ${body}`);
  }
  return expected;
}

const ev = () => `/v1/events/${config.eventId}`;

export const api = {
  // ----- admin -----
  adminEvent: () =>
    send('GET', `/v1/admin/events/${config.eventId}`, { token: config.adminKey, name: 'admin_event' }),
  adminStats: () =>
    send('GET', `/v1/admin/events/${config.eventId}/stats`, { token: config.adminKey, name: 'admin_stats' }),

  // ----- queue -----
  join: (token) => send('POST', `${ev()}/queue`, { token, name: 'join', trend: m.joinMs }),
  status: (token) => send('GET', `${ev()}/queue`, { token, name: 'status', trend: m.statusMs }),
  leave: (token) => send('DELETE', `${ev()}/queue`, { token, name: 'leave' }),

  // ----- seats, holds, orders -----
  // The seat map is large (every seat of the event): not parsed here, see seats.js.
  seats: (pass) => send('GET', `${ev()}/seats`, { token: pass, name: 'seats', trend: m.seatsMs, parse: false }),
  hold: (pass, selection, key) =>
    send('POST', `${ev()}/holds`, { token: pass, body: selection, key, name: 'hold', trend: m.holdMs }),
  confirm: (pass, holdId, paymentRef, key) =>
    send('POST', `/v1/holds/${holdId}/confirm`, {
      token: pass,
      body: { payment_ref: paymentRef },
      key,
      name: 'confirm',
      trend: m.confirmMs,
    }),
  release: (pass, holdId) =>
    send('DELETE', `/v1/holds/${holdId}`, { token: pass, name: 'release', trend: m.releaseMs }),
  request: (pass, statusUrl) => send('GET', statusUrl, { token: pass, name: 'request' }),
};

/**
 * Resolves a `202 {request_id, status_url}` by polling the request URL until it is
 * `done`; returns the final `{status, body}` (other answers come back unchanged).
 * Gives up after SETTLE_S with status 0.
 */
export function settle(a, pass) {
  if (a.status !== 202) return a;
  m.accepted202.add(1);
  const url = a.body && a.body.status_url;
  if (!url) return { status: 0, body: null, headers: {}, res: a.res };
  const until = Date.now() + config.settleS * 1000;
  while (Date.now() < until) {
    sleep(0.2);
    const r = api.request(pass, url);
    if (r.status === 200 && r.body && r.body.state === 'done') {
      return { status: r.body.status, body: r.body.body, headers: r.headers, res: r.res };
    }
    if (r.status === 429) sleep(retryAfterS(r));
    else if (r.status !== 200) return r;
  }
  return { status: 0, body: null, headers: {}, res: a.res };
}
