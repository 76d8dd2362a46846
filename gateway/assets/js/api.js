// api.js: the public HTTP API (docs/API.md) over fetch.
//
// - JSON in and out; `Authorization: Bearer` when a token is given (else the browser
//   sends the `anteroom_queue` / `anteroom_pass` cookies, same origin).
// - Failures become ApiError {status, code, message, details, retryAfter (seconds)},
//   from the API's error body `{"error": {code, message, details}}`; a network failure is
//   status 0, code "network".
// - `settle` follows a `202 {request_id, status_url}` until the worker's answer.
// - `withRetry` waits out `429` (Retry-After) and `503` / network failures (Retry-After,
//   else exponential backoff up to 30 s), telling the page how long it waits.
// - The server's clock (from `Date` headers) for countdowns: `serverNow()`.

/** An API failure. */
export class ApiError extends Error {
  constructor(status, code, message, details, retryAfter) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.details = details || null;
    this.retryAfter = retryAfter;
  }
}

// The server's clock minus ours, bounded from every response: the server wrote its
// `Date` (whole seconds, so its clock read D … D + 1 s) between our send and receive,
// hence skew ∈ [D − received, D + 1000 − sent]. The bounds narrow with each response.
let skewLow = -Infinity;
let skewHigh = Infinity;

/** Milliseconds since the epoch on the server's clock. */
export function serverNow() {
  if (!Number.isFinite(skewLow) || !Number.isFinite(skewHigh)) return Date.now();
  return Date.now() + (skewLow + skewHigh) / 2;
}

function noteServerDate(res, sent, received) {
  const d = Date.parse(res.headers.get('date') || '');
  if (Number.isNaN(d)) return;
  const low = Math.max(skewLow, d - received);
  const high = Math.min(skewHigh, d + 1000 - sent);
  // Inconsistent with earlier answers (our clock jumped): start over.
  [skewLow, skewHigh] = low <= high ? [low, high] : [d - received, d + 1000 - sent];
}

function parseRetryAfter(value) {
  if (!value) return null;
  const s = Number(value);
  if (Number.isFinite(s)) return Math.max(0, s);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, (at - Date.now()) / 1000);
}

/**
 * One API call. Resolves to {status, body} for 2xx; rejects with ApiError otherwise.
 * @param {string} method
 * @param {string} path  e.g. `/v1/events/{id}/queue`
 * `cache` is fetch's cache mode: `no-store` unless given (`no-cache` revalidates a
 * cached answer with its ETag, for the cacheable seat layout).
 * @param {{token?: string, body?: any, idempotencyKey?: string, cache?: RequestCache}} [opts]
 */
export async function api(method, path, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
  let res;
  const sent = Date.now();
  try {
    res = await fetch(path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      credentials: 'same-origin',
      cache: opts.cache || 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'network', String(e), null, null);
  }
  noteServerDate(res, sent, Date.now());
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (res.ok) return { status: res.status, body };
  const err = (body && body.error) || {};
  throw new ApiError(
    res.status,
    err.code || `http_${res.status}`,
    err.message || res.statusText,
    err.details,
    parseRetryAfter(res.headers.get('retry-after')),
  );
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Follows a `202` answer through its `status_url` (every 500 ms, at most `limitMs`)
 * and returns the final {status, body}, or throws the ApiError the request got.
 */
export async function settle(result, token, limitMs = 60000) {
  if (result.status !== 202 || !result.body || !result.body.status_url) return result;
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    await sleep(500);
    const r = await withRetry(() => api('GET', result.body.status_url, { token }));
    if (r.body && r.body.state === 'done') {
      const { status, body } = r.body;
      if (status >= 400) {
        const e = (body && body.error) || {};
        throw new ApiError(status, e.code || `http_${status}`, e.message, e.details, null);
      }
      return { status, body };
    }
  }
  throw new ApiError(0, 'network', 'no answer in time', null, null);
}

/** Whether `e` is worth retrying by itself: rate limited, unavailable, or no network. */
export function isTransient(e) {
  return e instanceof ApiError && (e.status === 429 || e.status === 503 || e.status === 0);
}

/**
 * Runs `fn` until it does not fail transiently. Before each wait it calls
 * `onWait(error, seconds)`; `alive()` false stops the retries (the error is thrown).
 * A `429` waits its Retry-After (1 s if absent); a `503` or network failure waits its
 * Retry-After or 1, 2, 4 … 30 s.
 */
export async function withRetry(fn, onWait = () => {}, alive = () => true) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!isTransient(e) || !alive()) throw e;
      const backoff = Math.min(30, 2 ** Math.min(attempt, 5));
      const seconds = e.status === 429 ? (e.retryAfter ?? 1) : Math.max(e.retryAfter ?? 0, backoff);
      onWait(e, seconds);
      await sleep(seconds * 1000);
      if (!alive()) throw e;
    }
  }
}

/** A fresh Idempotency-Key (UUID v4; works outside secure contexts too). */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Whether `s` is a UUID. */
export const isUuid = (s) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
