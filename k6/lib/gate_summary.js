// End-of-run report of k6/gate.js: the fans' milestones, the shop through nginx, the
// thresholds; SUMMARY_JSON=path also writes the numbers as JSON. The admission rate and
// the live sessions are checked by k6/gate_check.py from the shop's log, not here.

const values = (data, name) => (data.metrics[name] && data.metrics[name].values) || {};
const count = (data, name) => values(data, name).count || 0;
const ms = (x) => (Number.isFinite(x) ? `${Math.round(x)} ms` : '-');

/** The run's numbers as plain JSON. */
function outcome(data, fans) {
  const setup = data.setup_data || {};
  const thresholds = {};
  for (const [name, m] of Object.entries(data.metrics)) {
    if (!m.thresholds) continue;
    for (const [expr, t] of Object.entries(m.thresholds)) thresholds[`${name}: ${expr}`] = t.ok;
  }
  const admitAt = values(data, 'admit_at_ms');
  const admitted = count(data, 'admitted');
  return {
    event_id: setup.event_id || null,
    shop: setup.target || null,
    duration_s: Math.round(data.state.testRunDurationMs / 100) / 10,
    fans,
    rate_per_minute: setup.rate_per_minute || null,
    max_active: setup.max_active || null,
    arrived: count(data, 'arrived'),
    joined: count(data, 'joined'),
    admitted,
    shop_entered: count(data, 'shop_entered'),
    shop_done: count(data, 'shop_done'),
    revoked_sent_back: count(data, 'revoked_sent_back'),
    revoked_let_in: count(data, 'revoked_let_in'),
    sent_back_to_queue: count(data, 'sent_back_to_queue'),
    unfinished: count(data, 'unfinished_fans'),
    http_5xx: count(data, 'http_5xx'),
    unexpected_rate: values(data, 'unexpected_errors').rate || 0,
    p95_ms: {
      join: values(data, 'join_ms')['p(95)'] ?? null,
      status: values(data, 'status_ms')['p(95)'] ?? null,
      shop: values(data, 'shop_ms')['p(95)'] ?? null,
    },
    session_median_ms: values(data, 'session_ms').med ?? null,
    admitted_span_s: admitted > 1 ? (admitAt.max - admitAt.min) / 1000 : null,
    thresholds,
  };
}

function text(o) {
  const line = (label, value) => `  ${label.padEnd(22)} ${value}\n`;
  let s = `\nAnteroom gate mode — event ${o.event_id}, shop ${o.shop} (${o.duration_s} s)\n\n`;
  s += line('fans', `${o.arrived} arrived of ${o.fans}, ${o.joined} joined, ${o.admitted} admitted`);
  s += line('outflow / max_active', `${o.rate_per_minute}/min, ${o.max_active}`);
  s += line('shop', `${o.shop_entered} entered (hand-off), ${o.shop_done} bought (pass revoked)`);
  s += line('after the revoke', `${o.revoked_sent_back} sent back to the queue, ${o.revoked_let_in} let in`);
  s += line('good pass sent back', o.sent_back_to_queue);
  s += line('unfinished fans', o.unfinished);
  s += line('http 5xx', o.http_5xx);
  s += line('unexpected', `${(o.unexpected_rate * 100).toFixed(2)} %`);
  s += line('p95 latency', `join ${ms(o.p95_ms.join)}, status ${ms(o.p95_ms.status)}, shop via nginx ${ms(o.p95_ms.shop)}`);
  s += line('session (median)', `${ms(o.session_median_ms)} from admission to /done`);
  s += '\n  thresholds\n';
  for (const [name, ok] of Object.entries(o.thresholds)) s += `    ${ok ? 'ok  ' : 'FAIL'} ${name}\n`;
  return `${s}\n`;
}

/** k6's `handleSummary` for k6/gate.js. */
export function gateSummary(data, fans) {
  const o = outcome(data, fans);
  const out = { stdout: text(o) };
  if (__ENV.SUMMARY_JSON) out[__ENV.SUMMARY_JSON] = JSON.stringify(o, null, 2);
  return out;
}
