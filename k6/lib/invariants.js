// End-of-run (and during-run) invariant check from the admin stats of the event:
// sold + held + available = total, nothing sold beyond the total, no negative count.
// deploy/verify.sql checks the same and more directly in PostgreSQL; this one needs
// only the API. A violation adds to the `oversold` counter, whose threshold is count==0.
import { api } from './api.js';
import * as m from './metrics.js';

/**
 * Reads the stats once; returns `{ok, stats}` (ok = false when unreadable or violated)
 * and records the seat counts in the stats gauges when `record` is true.
 */
export function checkStats(record, label) {
  const a = api.adminStats();
  if (a.status !== 200 || !a.body || !a.body.seats) {
    console.error(`${label}: stats answered ${a.status}: ${a.res && a.res.body}`);
    return { ok: false, stats: null, unreadable: true };
  }
  const s = a.body.seats;
  const bad =
    s.sold + s.held + s.available !== s.total || s.sold > s.total || [s.sold, s.held, s.available].some((n) => n < 0);
  if (record) {
    m.statsTotal.add(s.total);
    m.statsSold.add(s.sold);
    m.statsHeld.add(s.held);
    m.statsAvailable.add(s.available);
    if (a.body.admission && Number.isFinite(a.body.admission.observed_per_minute)) {
      m.statsObservedPerMinute.add(a.body.admission.observed_per_minute);
    }
  }
  if (bad) console.error(`${label}: OVERSOLD or inconsistent seats: ${JSON.stringify(a.body)}`);
  return { ok: !bad, stats: a.body };
}

/** teardown(): final check; an unreadable stats answer counts as a failure too. */
export function finalCheck() {
  const r = checkStats(true, 'teardown');
  if (!r.ok) m.oversold.add(1);
  if (r.stats) console.log(`teardown: stats ${JSON.stringify(r.stats)}`);
  console.log(
    'teardown: for the direct check run: psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 ' +
      `-v event_id=${r.stats ? r.stats.event_id : '<event>'} -f deploy/verify.sql`,
  );
  return r;
}
