// seat-canvas.js: the two canvases of a large seat map.
//
// - VenueOverview: one block per section (name, share of seats still free, a bar of
//   that share), the shown section outlined; a click picks a section.
// - SectionCanvas: every seat of one section as a small square, row-major, `cell` CSS
//   pixels apart; a click is turned into a seat index by arithmetic (no per-seat
//   objects), and a status change repaints that seat's cell only (a dirty rectangle),
//   never the whole section.
//
// Both draw in CSS pixels scaled by devicePixelRatio, so squares stay sharp. Colour is
// not the only cue once squares are big enough (held seats hollow, sold ones smaller);
// the accessible grid beside the canvas carries every state in words.

const INK = '#111827';
const FILL = { available: '#15803d', held: '#b45309', sold: '#9ca3af', selected: '#1d4ed8' };

function sizeCanvas(canvas, w, h) {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

/** Colour of a section block by its free share (0…1). */
function shareColour(share) {
  if (share <= 0) return '#d1d5db';
  if (share < 0.1) return '#f59e0b';
  if (share < 0.5) return '#84cc16';
  return '#22c55e';
}

export class VenueOverview {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    this.sections = [];
    this.free = null;
    this.current = 0;
    this.geom = null;
  }

  /** Lays out `sections` (SeatModel sections) in `width` CSS px and draws them all. */
  show(sections, free, current, width) {
    this.sections = sections;
    this.free = free;
    this.current = current;
    const gap = 4;
    const cols = Math.max(1, Math.min(sections.length, Math.floor((width + gap) / (64 + gap))));
    const w = Math.floor((width - (cols - 1) * gap) / cols);
    const h = 40;
    const lines = Math.ceil(sections.length / cols);
    this.geom = { cols, w, h, gap };
    this.ctx = sizeCanvas(this.canvas, width, lines * h + (lines - 1) * gap);
    sections.forEach((_, k) => this.drawBlock(k));
  }

  /** Redraws the block of section `k` (its free count or the current section changed). */
  drawBlock(k) {
    const { cols, w, h, gap } = this.geom;
    const sec = this.sections[k];
    const x = (k % cols) * (w + gap);
    const y = Math.floor(k / cols) * (h + gap);
    const ctx = this.ctx;
    const share = sec.size ? this.free[k] / sec.size : 0;
    ctx.clearRect(x, y, w, h);
    ctx.fillStyle = '#f3f4f6';
    ctx.fillRect(x, y, w, h);
    ctx.fillStyle = shareColour(share);
    ctx.fillRect(x, y + h - 8, Math.round(w * share), 8);
    ctx.lineWidth = k === this.current ? 3 : 1;
    ctx.strokeStyle = k === this.current ? INK : '#6b7280';
    const inset = ctx.lineWidth / 2;
    ctx.strokeRect(x + inset, y + inset, w - ctx.lineWidth, h - ctx.lineWidth);
    ctx.fillStyle = INK;
    ctx.font = '600 12px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    ctx.fillText(sec.name, x + 6, y + 5, w - 10);
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillText(`${Math.floor(share * 100)}%`, x + 6, y + 19, w - 10);
  }

  /** Marks section `k` as the shown one. */
  setCurrent(k) {
    const before = this.current;
    this.current = k;
    if (before < this.sections.length) this.drawBlock(before);
    this.drawBlock(k);
  }

  /** The section index under a click at client (x, y), or -1. */
  hit(clientX, clientY) {
    if (!this.geom) return -1;
    const r = this.canvas.getBoundingClientRect();
    const { cols, w, h, gap } = this.geom;
    const x = clientX - r.left;
    const y = clientY - r.top;
    const c = Math.floor(x / (w + gap));
    const l = Math.floor(y / (h + gap));
    if (c < 0 || c >= cols || l < 0 || x - c * (w + gap) > w || y - l * (h + gap) > h) return -1;
    const k = l * cols + c;
    return k < this.sections.length ? k : -1;
  }
}

export class SectionCanvas {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {(i: number) => string} look  the look of seat index `i`: a key of FILL
   */
  constructor(canvas, look) {
    this.canvas = canvas;
    this.look = look;
    this.sec = null;
  }

  /**
   * Shows section `sec` (a SeatModel section) and draws every seat: fitted to `width` CSS
   * px, or `cell` px a seat when given (zoomed in; the wrap scrolls).
   */
  show(sec, width, cell = 0) {
    this.sec = sec;
    // At least 3 px a seat (2 px square + 1 px gap), at most 16, and no taller than about
    // a phone's screen unless that means less than 3 px: a larger section scrolls.
    const fit = Math.min(16, Math.floor(width / sec.seats_per_row), Math.floor(640 / sec.rows));
    this.cell = cell || Math.max(3, fit);
    this.ctx = sizeCanvas(this.canvas, sec.seats_per_row * this.cell, sec.rows * this.cell);
    this.drawAll();
  }

  drawAll() {
    const { sec, cell, ctx } = this;
    ctx.clearRect(0, 0, sec.seats_per_row * cell, sec.rows * cell);
    // One rect per seat: a 10,000-seat section draws in a few milliseconds.
    for (let k = 0; k < sec.size; k++) this.paintCell(k, this.look(sec.base + k), false);
  }

  /** Repaints seat index `i` if it is in the shown section: its cell only. */
  drawSeat(i) {
    const sec = this.sec;
    if (!sec || i < sec.base || i >= sec.base + sec.size) return;
    this.paintCell(i - sec.base, this.look(i), true);
  }

  paintCell(k, look, clear) {
    const { ctx, cell } = this;
    const x = (k % this.sec.seats_per_row) * cell;
    const y = Math.floor(k / this.sec.seats_per_row) * cell;
    const s = cell - 1;
    if (clear) ctx.clearRect(x, y, cell, cell);
    ctx.fillStyle = FILL[look];
    if (cell >= 8 && look === 'held') {
      ctx.fillRect(x, y, s, s);
      ctx.clearRect(x + 2, y + 2, s - 4, s - 4);
    } else if (cell >= 8 && look === 'sold') {
      ctx.fillRect(x + 1, y + 1, s - 2, s - 2);
    } else {
      ctx.fillRect(x, y, s, s);
    }
  }

  /** The layout index under client (x, y), or -1 (index arithmetic, no search). */
  hit(clientX, clientY) {
    const sec = this.sec;
    if (!sec) return -1;
    const r = this.canvas.getBoundingClientRect();
    const col = Math.floor((clientX - r.left) / this.cell);
    const row = Math.floor((clientY - r.top) / this.cell);
    if (col < 0 || col >= sec.seats_per_row || row < 0 || row >= sec.rows) return -1;
    return sec.base + row * sec.seats_per_row + col;
  }

  /** The CSS-pixel box of seat index `i` relative to the canvas, or null. */
  box(i) {
    const sec = this.sec;
    if (!sec || i < sec.base || i >= sec.base + sec.size) return null;
    const k = i - sec.base;
    const { cell } = this;
    return { x: (k % sec.seats_per_row) * cell, y: Math.floor(k / sec.seats_per_row) * cell, w: cell - 1, h: cell - 1 };
  }

  /** The colour (`#rrggbb`) drawn one pixel inside seat index `i`'s square (for tests). */
  pixel(i) {
    const b = this.box(i);
    if (!b) return null;
    const dpr = window.devicePixelRatio || 1;
    const cx = Math.floor((b.x + 1) * dpr);
    const cy = Math.floor((b.y + 1) * dpr);
    const [r, g, bl] = this.ctx.getImageData(cx, cy, 1, 1).data;
    return `#${[r, g, bl].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
  }
}

/** The fill colour of each look, for tests and the legend. */
export const LOOK_FILL = FILL;
