// join_rate.js (k6): join latency at a fixed offered rate (open model: arrivals do not
// wait for answers, so a slow server cannot slow the offered load down, unlike wrk's
// closed loop). Issue #4 target: p99 < 25 ms at 10,000 joins/s.
//
//   k6 run -e URL=http://127.0.0.1:18081/v1/events/<id>/queue -e RATE=10000 \
//          -e SECONDS=10 -e SUMMARY_JSON=out.json gateway/benches/join_rate.js
//
// Each join comes from its own client address (`X-Forwarded-For: 10.<a>.<b>.<c>` from
// the iteration number), for a gateway with ANTEROOM_TRUSTED_PROXY_HEADER set. When k6
// cannot start iterations on time (not enough VUs or CPU) it counts them in
// `dropped_iterations`: the report shows the rate actually offered.
import http from 'k6/http';
import exec from 'k6/execution';

const url = __ENV.URL;
const rate = Number(__ENV.RATE || 10000);
const seconds = Number(__ENV.SECONDS || 10);
const vus = Number(__ENV.VUS || 400);

export const options = {
  discardResponseBodies: true,
  scenarios: {
    joins: {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: '1s',
      duration: `${seconds}s`,
      preAllocatedVUs: vus,
      maxVUs: vus * 4,
    },
  },
  summaryTrendStats: ['avg', 'med', 'p(90)', 'p(99)', 'max', 'count'],
};

export default function () {
  const n = exec.scenario.iterationInTest;
  const ip = `10.${50 + (Math.floor(n / 65536) % 50)}.${Math.floor(n / 256) % 256}.${n % 256}`;
  http.post(url, null, { headers: { 'X-Forwarded-For': ip }, tags: { name: 'join' } });
}

export function handleSummary(data) {
  const m = data.metrics;
  const dur = m.http_req_duration ? m.http_req_duration.values : {};
  const reqs = m.http_reqs ? m.http_reqs.values : { count: 0, rate: 0 };
  const failed = m.http_req_failed ? m.http_req_failed.values.passes || 0 : 0;
  const dropped = m.dropped_iterations ? m.dropped_iterations.values.count : 0;
  const out = {
    offered_per_second: rate,
    seconds,
    requests: reqs.count,
    achieved_per_second: reqs.rate,
    dropped_iterations: dropped,
    failed_requests: failed,
    p50_ms: dur.med,
    p99_ms: dur['p(99)'],
    max_ms: dur.max,
  };
  const text =
    `join_rate: offered ${rate}/s for ${seconds}s, sent ${reqs.count} ` +
    `(${reqs.rate.toFixed(0)}/s), dropped ${dropped}, failed ${failed}, ` +
    `p50 ${Number(dur.med).toFixed(2)} ms, p99 ${Number(dur['p(99)']).toFixed(2)} ms\n`;
  const files = { stdout: text };
  if (__ENV.SUMMARY_JSON) files[__ENV.SUMMARY_JSON] = JSON.stringify(out, null, 2);
  return files;
}
