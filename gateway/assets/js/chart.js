// chart.js: a small line chart in inline SVG (no library): time on x (the last
// `windowS` seconds up to now), one y axis from 0 to the largest value shown.

const NS = 'http://www.w3.org/2000/svg';
const W = 600;
const H = 160;
const PAD = { left: 48, right: 8, top: 10, bottom: 22 };

function node(tag, attrs, text) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

/**
 * Draws `series` into `svg` (viewBox 0 0 600 160).
 * @param {SVGElement} svg
 * @param {{name: string, className: string, points: {t: number, v: number}[]}[]} series
 *   `t` in ms since the epoch; `className` styles the line (see style.css)
 * @param {{windowS?: number, now?: number, label?: string, format?: (v: number) => string,
 *   axisNow?: string, axisStart?: string}} opts
 */
export function lineChart(svg, series, opts = {}) {
  const windowS = opts.windowS ?? 300;
  const now = opts.now ?? Date.now();
  const from = now - windowS * 1000;
  const fmt = opts.format ?? ((v) => new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }).format(v));
  const shown = series.map((s) => ({ ...s, points: s.points.filter((p) => p.t >= from) }));
  const max = niceMax(Math.max(0, ...shown.flatMap((s) => s.points.map((p) => p.v))));
  const x = (t) => PAD.left + ((t - from) / (windowS * 1000)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  svg.replaceChildren();
  svg.setAttribute('aria-label', opts.label ?? '');
  for (const v of [0, max / 2, max]) {
    svg.append(node('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(node('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, fmt(v)));
  }
  svg.append(node('text', { x: PAD.left, y: H - 6, class: 'axis' }, opts.axisStart ?? `-${windowS / 60} min`));
  svg.append(node('text', { x: W - PAD.right, y: H - 6, 'text-anchor': 'end', class: 'axis' }, opts.axisNow ?? 'now'));
  for (const s of shown) {
    if (s.points.length === 0) continue;
    const pts = s.points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
    const line = node('polyline', { points: pts, class: `line ${s.className}` });
    line.append(node('title', {}, s.name));
    svg.append(line);
    const last = s.points[s.points.length - 1];
    svg.append(node('circle', { cx: x(last.t), cy: y(last.v), r: 3, class: `dot ${s.className}` }));
  }
}
