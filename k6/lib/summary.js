// End-of-test report for the Anteroom scenarios: a short plain-text summary on stdout
// and, when SUMMARY_JSON is set, the same numbers as JSON in that file (demo.sh reads it).
//
// Observed admission rate (client side) = (admitted − 1) / (last admit − first admit),
// per minute, where "admit" is when a buyer's poll first saw `admitted`: the outflow
// while the queue was non-empty, give or take one poll interval at each end.

function metric(data, name) {
  return (data.metrics[name] && data.metrics[name].values) || {};
}
const count = (data, name) => metric(data, name).count || 0;
const gauge = (data, name) => metric(data, name).value;
const round = (x, digits = 1) => (x === undefined || x === null || !Number.isFinite(x) ? null : Number(x.toFixed(digits)));

/** The numbers of a run, as plain JSON. */
export function outcome(data) {
  const setup = data.setup_data || {};
  const admitted = count(data, 'admitted');
  const admitAt = metric(data, 'admit_at_ms');
  const spanMs = admitted > 1 ? admitAt.max - admitAt.min : 0;
  const p95 = {};
  const p99 = {};
  for (const step of ['join', 'status', 'seats', 'hold', 'confirm', 'release']) {
    p95[step] = round(metric(data, `${step}_ms`)['p(95)']);
    p99[step] = round(metric(data, `${step}_ms`)['p(99)']);
  }
  const thresholds = {};
  let thresholdsOk = true;
  for (const [name, m] of Object.entries(data.metrics)) {
    if (!m.thresholds) continue;
    thresholds[name] = {};
    for (const [expr, t] of Object.entries(m.thresholds)) {
      thresholds[name][expr] = t.ok;
      thresholdsOk = thresholdsOk && t.ok;
    }
  }
  return {
    event_id: setup.event_id || null,
    base_url: setup.base_url || null,
    duration_s: round(data.state.testRunDurationMs / 1000),
    buyers_planned: setup.buyers || null,
    buyers_arrived: count(data, 'arrived'),
    last_arrival_s: count(data, 'arrived') > 0 ? round(metric(data, 'arrive_at_ms').max / 1000, 2) : null,
    buyers_dropped: count(data, 'dropped_iterations'),
    joined: count(data, 'joined'),
    admitted,
    sold_out_seen: count(data, 'sold_out_seen'),
    gave_up_waiting: count(data, 'gave_up_waiting'),
    gave_up_seats: count(data, 'gave_up_seats'),
    holds_ok: count(data, 'holds_ok'),
    holds_conflict: count(data, 'holds_conflict'),
    confirms_ok: count(data, 'confirms_ok'),
    releases_ok: count(data, 'releases_ok'),
    accepted_202: count(data, 'accepted_202'),
    rate_limited: count(data, 'rate_limited'),
    http_5xx: count(data, 'http_5xx'),
    unexpected_rate: round(metric(data, 'unexpected_errors').rate, 4),
    oversold: count(data, 'oversold'),
    admission: {
      configured_per_minute: setup.rate_per_minute || null,
      observed_per_minute: spanMs > 0 ? round(((admitted - 1) / spanMs) * 60000) : null,
      sampled_per_minute: round(gauge(data, 'sampled_admission_per_minute')),
      sampled_span_s: round(gauge(data, 'sampled_admission_span_s')),
      server_observed_per_minute: round(gauge(data, 'stats_observed_per_minute')),
      first_admit_s: admitted > 0 ? round(admitAt.min / 1000, 2) : null,
      last_admit_s: admitted > 0 ? round(admitAt.max / 1000, 2) : null,
    },
    p95_ms: p95,
    p99_ms: p99,
    queue_wait_p95_ms: round(metric(data, 'queue_wait_ms')['p(95)']),
    stats: {
      total: gauge(data, 'stats_seats_total') ?? null,
      sold: gauge(data, 'stats_seats_sold') ?? null,
      held: gauge(data, 'stats_seats_held') ?? null,
      available: gauge(data, 'stats_seats_available') ?? null,
    },
    thresholds,
    thresholds_ok: thresholdsOk,
  };
}

function text(o) {
  const line = (label, value) => `  ${label.padEnd(18)} ${value}\n`;
  const ms = (v) => (v === null ? '-' : `${v} ms`);
  let s = `\nAnteroom spike — event ${o.event_id} at ${o.base_url} (${o.duration_s} s)\n\n`;
  s += line(
    'buyers arrived',
    `${o.buyers_arrived} of ${o.buyers_planned ?? '-'}, the last at ${o.last_arrival_s ?? '-'} s` +
      ` (arrivals dropped for lack of VUs: ${o.buyers_dropped})`,
  );
  if (o.buyers_planned && o.buyers_arrived < o.buyers_planned) {
    s += `  WARNING: only ${o.buyers_arrived} of ${o.buyers_planned} buyers arrived: the load generator fell behind (CPU)\n`;
  }
  s += line('joined', o.joined);
  s += line('admitted', `${o.admitted} (first at ${o.admission.first_admit_s} s, last at ${o.admission.last_admit_s} s)`);
  s += line(
    'admission rate',
    `observed ${o.admission.observed_per_minute ?? '-'}/min vs configured ${o.admission.configured_per_minute ?? '-'}/min` +
      ' (buyers\' admission times)',
  );
  s += line(
    '',
    `sampled ${o.admission.sampled_per_minute ?? '-'}/min over ${o.admission.sampled_span_s ?? '-'} s with fans waiting and seats available` +
      ` (stats admitted_total); stats' own figure at the end ${o.admission.server_observed_per_minute ?? '-'}/min`,
  );
  s += line('told sold out', o.sold_out_seen);
  s += line('gave up', `${o.gave_up_waiting} waiting, ${o.gave_up_seats} finding seats`);
  s += line('holds', `${o.holds_ok} ok, ${o.holds_conflict} conflicts (409, expected)`);
  s += line('confirms', `${o.confirms_ok} ok; releases ${o.releases_ok}; 202s ${o.accepted_202}; 429s ${o.rate_limited}`);
  s += line('http 5xx', o.http_5xx);
  s += line('unexpected', `${((o.unexpected_rate || 0) * 100).toFixed(2)} %`);
  s += line(
    'p95 latency',
    ['join', 'status', 'seats', 'hold', 'confirm'].map((k) => `${k} ${ms(o.p95_ms[k])}`).join(', '),
  );
  s += line('queue wait p95', ms(o.queue_wait_p95_ms));
  const st = o.stats;
  s += line(
    'seats (stats)',
    `total ${st.total ?? '-'}, sold ${st.sold ?? '-'}, held ${st.held ?? '-'}, available ${st.available ?? '-'}; oversold ${o.oversold}`,
  );
  s += '\n  thresholds\n';
  for (const [name, exprs] of Object.entries(o.thresholds)) {
    for (const [expr, ok] of Object.entries(exprs)) s += `    ${ok ? 'ok  ' : 'FAIL'} ${name}: ${expr}\n`;
  }
  return s + '\n';
}

/** k6's `handleSummary`: text on stdout, JSON in SUMMARY_JSON when set. */
export function summarize(data) {
  const o = outcome(data);
  const out = { stdout: text(o) };
  if (__ENV.SUMMARY_JSON) out[__ENV.SUMMARY_JSON] = JSON.stringify(o, null, 2);
  return out;
}
