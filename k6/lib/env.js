// Reading scenario-specific settings from the environment (`k6 run -e NAME=value`),
// with defaults that may differ per scenario (k6/lib/config.js holds the shared ones).

/** `__ENV[name]` as a string, or `fallback` when unset or empty. */
export function envStr(name, fallback) {
  const v = __ENV[name];
  return v === undefined || v === '' ? fallback : v;
}

/** `__ENV[name]` as a finite number, or `fallback`; throws on a non-number. */
export function envNum(name, fallback) {
  const v = envStr(name, undefined);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

/** Gateway base URLs: BASE_URLS (comma-separated, e.g. every replica) or BASE_URL. */
export function baseUrls(fallback) {
  return envStr('BASE_URLS', envStr('BASE_URL', fallback))
    .split(',')
    .map((u) => u.trim().replace(/\/+$/, ''))
    .filter((u) => u.length > 0);
}
