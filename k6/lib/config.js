// Settings of the k6 scenarios, all from environment variables (`k6 run -e NAME=value`
// or the process environment). Only BASE_URL, EVENT_ID and ADMIN_KEY matter for a
// remote run; the rest shape the crowd.

function str(name, fallback) {
  const v = __ENV[name];
  return v === undefined || v === '' ? fallback : v;
}

function num(name, fallback) {
  const v = str(name, undefined);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

export const config = {
  /** Gateway base URL, no trailing slash. */
  baseUrl: str('BASE_URL', 'http://127.0.0.1:8080').replace(/\/+$/, ''),
  /** The event under test (must exist and be open). */
  eventId: str('EVENT_ID', ''),
  /** Admin key: setup reads the event, teardown reads its stats. */
  adminKey: str('ADMIN_KEY', ''),
  /** Buyers arriving during the spike (one k6 iteration = one buyer). */
  buyers: num('BUYERS', 5000),
  /** Seconds over which arrivals ramp from 0/s to their peak (2 × BUYERS / ARRIVAL_SECONDS). */
  arrivalSeconds: num('ARRIVAL_SECONDS', 10),
  /** A buyer gives up waiting in the queue after this many seconds. */
  maxWaitS: num('MAX_WAIT_S', 180),
  /** Mean human pause between steps once admitted, in seconds (0 = none). */
  thinkS: num('THINK_S', 1),
  /** Share of buyers who go for the popular block instead of any seat. */
  popularShare: num('POPULAR_SHARE', 0.5),
  /** The popular block: section and first rows. */
  popularSection: str('POPULAR_SECTION', 'A'),
  popularRows: num('POPULAR_ROWS', 2),
  /** Share of holds confirmed (bought); of the others RELEASE_SHARE are released, the
   * rest left to expire. */
  confirmShare: num('CONFIRM_SHARE', 0.8),
  releaseShare: num('RELEASE_SHARE', 0.5),
  /** Share of confirms sent twice with the same Idempotency-Key (must give the same order). */
  repeatConfirmShare: num('REPEAT_CONFIRM_SHARE', 0.05),
  /** Retries of a hold after `409 seats_unavailable`, each with other seats. */
  holdRetries: num('HOLD_RETRIES', 3),
  /** Polls of a `202` request URL give up after this many seconds. */
  settleS: num('SETTLE_S', 30),
  /** Bounds on the server's `poll_after_ms`, in ms. */
  minPollMs: num('MIN_POLL_MS', 100),
  maxPollMs: num('MAX_POLL_MS', 10000),
};

export function requireEnv() {
  const missing = [];
  if (!config.eventId) missing.push('EVENT_ID');
  if (!config.adminKey) missing.push('ADMIN_KEY');
  if (missing.length) {
    throw new Error(`missing ${missing.join(', ')} (k6 run -e EVENT_ID=... -e ADMIN_KEY=...)`);
  }
}
