// The event under test: EVENT_ID when given (a remote rehearsal on a real event), else
// one created by setup through the admin API (local runs and CI smoke runs). Each
// scenario's setup calls `useOrCreateEvent`, and every VU calls `adopt(setupData)` so the
// shared API client (lib/api.js, which reads `config.eventId`) targets that event.
import http from 'k6/http';
import { config } from './config.js';
import { envNum, envStr } from './env.js';

/** A seating of `sections` sections (A, B, ...) of `rows` × `perRow` seats. */
export function seating(sections, rows, perRow) {
  const out = [];
  for (let i = 0; i < sections; i++) {
    out.push({ name: String.fromCharCode(65 + i), rows, seats_per_row: perRow, price_cents: 5000 + 1000 * i });
  }
  return { sections: out };
}

/**
 * The event id to use: EVENT_ID, or a new open event built from `defaults`
 * `{rate_per_minute, max_active, pass_ttl_seconds, hold_ttl_seconds, sections, rows,
 * seats_per_row}` (each overridable by the upper-case environment variable of the same
 * name: RATE_PER_MINUTE, MAX_ACTIVE, SECTIONS, ROWS, SEATS_PER_ROW, ...); `extra` fields
 * (e.g. `checkout`, `currency`) are added to the event as given.
 */
export function useOrCreateEvent(name, defaults, extra = {}) {
  if (!config.adminKey) throw new Error('ADMIN_KEY is required (k6 run -e ADMIN_KEY=...)');
  if (config.eventId) return config.eventId;
  const d = (k) => envNum(k.toUpperCase(), defaults[k]);
  const spec = {
    name: `k6 ${name} ${new Date().toISOString()}`,
    venue: envStr('VENUE', 'k6 hall'),
    timezone: 'UTC',
    opens_at: new Date(Date.now() - 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
    admission: {
      rate_per_minute: d('rate_per_minute'),
      max_active: d('max_active'),
      pass_ttl_seconds: d('pass_ttl_seconds'),
    },
    hold_ttl_seconds: d('hold_ttl_seconds'),
    max_seats_per_hold: 4,
    seating: seating(d('sections'), d('rows'), d('seats_per_row')),
    ...extra,
  };
  const res = http.post(`${config.baseUrl}/v1/admin/events`, JSON.stringify(spec), {
    headers: { Authorization: `Bearer ${config.adminKey}`, 'Content-Type': 'application/json' },
    tags: { name: 'admin_create' },
    timeout: '30s',
  });
  if (res.status !== 201) throw new Error(`POST /v1/admin/events answered ${res.status}: ${res.body}`);
  const id = res.json('id');
  console.log(`created event ${id}: ${JSON.stringify(spec.admission)}, ${JSON.stringify(spec.seating.sections.length)} sections`);
  return id;
}

/** Points this VU's API client at the event of the setup data. */
export function adopt(setupData) {
  if (setupData && setupData.event_id) config.eventId = setupData.event_id;
}
