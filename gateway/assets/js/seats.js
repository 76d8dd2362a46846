// seats.js: the seat map with live availability, at any size.
//
// The numbers live in a SeatModel (layout + one status byte per seat). The fan sees:
// - the sections list (tabs with the free seats of each: the keyboard's way in);
// - for a venue whose sections outgrow the seat grid's window: a venue overview canvas
//   (a click picks a section; the tabs turn compact) and the section's canvas (every
//   seat a small square; a click chooses the seat under it and slides the grid's
//   window there; three zoom levels);
// - the accessible seat grid of the section (seat-grid.js), the whole section when it
//   is small, else a window of rows outlined on the canvas.
// Statuses arrive as a whole state (`loadState`) or deltas (`applyDelta`); only the
// seats that changed are repainted. A chosen seat that someone else takes is dropped
// from the choice and reported through `onLost`.

import { count, el, money, parseSeat } from './format.js';
import { t } from './i18n.js';
import { SectionCanvas, VenueOverview } from './seat-canvas.js';
import { SeatGrid, windowRows } from './seat-grid.js';
import { SeatModel } from './seat-model.js';

/** Seat pitch (CSS px) of each zoom level; 0 fits the section to the card. */
const ZOOM_CELLS = [0, 8, 16];

export class SeatMap {
  /**
   * @param {{tabs: HTMLElement, grid: HTMLElement, venue: HTMLElement,
   *   overview: HTMLCanvasElement, canvas: HTMLCanvasElement, lens: HTMLElement,
   *   zoomIn: HTMLButtonElement, zoomOut: HTMLButtonElement,
   *   scrollHint?: HTMLElement, max: number,
   *   onChange: (ids: string[]) => void, onLost: (ids: string[]) => void,
   *   onLimit: (max: number) => void}} o
   */
  constructor(o) {
    this.o = o;
    this.model = null;
    this.selected = new Set(); // layout indices
    this.current = 0;
    this.width = 0;
    this.zoom = 0; // index into ZOOM_CELLS
    this.overview = new VenueOverview(o.overview);
    this.canvas = new SectionCanvas(o.canvas, (i) => this.look(i));
    this.grid = new SeatGrid(o.grid, {
      model: () => this.model,
      look: (i) => this.look(i),
      label: (i) => this.label(i),
      onToggle: (i) => this.toggle(i),
      onWindow: () => this.placeLens(),
    });
    o.overview.addEventListener('click', (e) => {
      const k = this.overview.hit(e.clientX, e.clientY);
      if (k >= 0) this.showSection(k, false);
    });
    o.canvas.addEventListener('click', (e) => {
      const i = this.canvas.hit(e.clientX, e.clientY);
      if (i < 0) return;
      this.grid.reveal(i, false);
      this.toggle(i);
    });
    // A pinch on a trackpad arrives as a wheel event with ctrlKey: zoom, not page zoom.
    o.canvas.addEventListener('wheel', (e) => {
      if (!e.ctrlKey) return;
      e.preventDefault();
      this.setZoom(this.zoom + (e.deltaY < 0 ? 1 : -1));
    }, { passive: false });
    o.zoomIn.addEventListener('click', () => this.setZoom(this.zoom + 1));
    o.zoomOut.addEventListener('click', () => this.setZoom(this.zoom - 1));
    // Canvases follow the card's width (a rotated phone, the view becoming visible).
    new ResizeObserver(() => {
      if (this.model && this.large && this.measure() !== this.width) this.drawCanvases();
    }).observe(o.venue);
  }

  /** Section names, in layout order. */
  get sections() {
    return this.model ? this.model.sections.map((s) => s.name) : [];
  }

  /** Whether some section is too big for the grid alone (then the canvases show). */
  get large() {
    return this.model.sections.some((s) => s.rows > windowRows(s));
  }

  /** Takes a layout (GET /seats/layout); keeps the choice where the seats still exist. */
  setLayout(layout) {
    const ids = this.model ? this.selection() : [];
    const name = this.model?.sections[this.current]?.name;
    this.model = new SeatModel(layout);
    this.selected = new Set(ids.map((id) => this.model.indexOf(id)).filter((i) => i >= 0));
    this.current = Math.max(0, this.model.sections.findIndex((s) => s.name === name));
  }

  /** Applies a whole live state; false when it belongs to another layout. */
  loadState(st) {
    const changed = this.model.loadState(st);
    if (changed === null) return false;
    this.changed(changed);
    return true;
  }

  /** Applies a delta; false when it leaves a gap (the caller reloads the state). */
  applyDelta(d) {
    const changed = this.model.applyDelta(d);
    if (changed === null) return false;
    this.changed(changed);
    return true;
  }

  /** Marks `ids` as taken (a 409 told us before the stream did). */
  markTaken(ids) {
    this.changed(this.model.mark(ids, 'held'));
  }

  /** Repaints what `indices` changed: their cells, buttons, blocks and tabs only. */
  changed(indices) {
    if (indices.length === 0) return;
    const touched = new Set();
    for (const i of indices) {
      this.canvas.drawSeat(i);
      this.grid.paint(i);
      touched.add(this.model.sectionOf(i).index);
    }
    for (const k of touched) {
      if (this.large && this.overview.geom) this.overview.drawBlock(k);
      this.tabText(k);
    }
    this.dropUnavailable();
  }

  /** The look of seat index `i`: available, held, sold or selected. */
  look(i) {
    return this.selected.has(i) ? 'selected' : this.model.statusName(i);
  }

  /** Seat `id` as {id, price_cents, status}, or null. */
  seat(id) {
    const i = this.model ? this.model.indexOf(id) : -1;
    return i < 0 ? null : { id, price_cents: this.model.priceOf(i), status: this.model.statusName(i) };
  }

  /** Number of available seats in `section`. */
  availableIn(section) {
    const sec = this.model.byName.get(section);
    return sec ? this.model.free[sec.index] : 0;
  }

  /** The chosen seats' ids, in map order. */
  selection() {
    return [...this.selected].sort((a, b) => a - b).map((i) => this.model.idOf(i));
  }

  /** Total price of the choice, in minor units. */
  selectionCents() {
    return [...this.selected].reduce((sum, i) => sum + this.model.priceOf(i), 0);
  }

  /** Empties the choice. */
  clearSelection() {
    const was = [...this.selected];
    this.selected.clear();
    was.forEach((i) => this.repaint(i));
    this.o.onChange([]);
  }

  repaint(i) {
    this.canvas.drawSeat(i);
    this.grid.paint(i);
  }

  dropUnavailable() {
    const lost = [...this.selected].filter((i) => this.model.status[i] !== 0);
    if (lost.length === 0) return;
    lost.forEach((i) => {
      this.selected.delete(i);
      this.repaint(i);
    });
    this.o.onLost(lost.map((i) => this.model.idOf(i)));
    this.o.onChange(this.selection());
  }

  /** Chooses or un-chooses seat index `i` (held and sold seats cannot be chosen). */
  toggle(i) {
    if (this.selected.has(i)) {
      this.selected.delete(i);
    } else {
      if (this.model.status[i] !== 0) return;
      if (this.selected.size >= this.o.max) {
        this.o.onLimit(this.o.max);
        return;
      }
      this.selected.add(i);
    }
    this.repaint(i);
    this.o.onChange(this.selection());
  }

  label(i) {
    const p = parseSeat(this.model.idOf(i));
    const look = this.look(i);
    const state = look === 'selected' ? t('seat_selected') : t(`seat_${look}`);
    return t('seat_label', { ...p, price: money(this.model.priceOf(i)), state });
  }

  /** Shows section `k`; `focus` moves the keyboard into its grid. */
  showSection(k, focus) {
    this.current = k;
    this.render();
    if (focus) this.o.grid.querySelector('button.seat:not([disabled])')?.focus();
  }

  measure() {
    return Math.floor(this.o.venue.clientWidth) || 320;
  }

  /** Draws the tabs, the canvases (large venues) and the section's grid. */
  render() {
    const { tabs } = this.o;
    tabs.replaceChildren();
    tabs.setAttribute('aria-label', t('sections'));
    this.model.sections.forEach((sec, k) => {
      const b = el('button', 'tab', '');
      b.type = 'button';
      b.dataset.section = sec.name;
      b.setAttribute('aria-pressed', String(k === this.current));
      b.addEventListener('click', () => this.showSection(k, true));
      tabs.append(b);
      this.tabText(k);
    });
    const sec = this.model.sections[this.current];
    this.grid.show(sec, this.grid.sec === sec ? this.grid.start : 1);
    this.o.venue.hidden = !this.large;
    this.o.zoomIn.parentElement.hidden = !this.large;
    this.o.overview.hidden = !this.large || this.model.sections.length < 2;
    tabs.classList.toggle('compact', this.large);
    if (this.large) this.drawCanvases();
    const { grid, scrollHint: hint } = this.o;
    if (hint) requestAnimationFrame(() => { hint.hidden = grid.scrollWidth <= grid.clientWidth + 1; });
  }

  drawCanvases() {
    this.width = this.measure();
    const sections = this.model.sections;
    if (sections.length > 1) this.overview.show(sections, this.model.free, this.current, this.width);
    // The wrap pads the canvas by 3 px on the left (room for the lens's border).
    this.canvas.show(sections[this.current], this.width - 6, ZOOM_CELLS[this.zoom]);
    this.placeLens();
  }

  /** Zoom level `z` (0 fits the card); keeps the grid's window in sight. */
  setZoom(z) {
    this.zoom = Math.max(0, Math.min(ZOOM_CELLS.length - 1, z));
    this.o.zoomOut.disabled = this.zoom === 0;
    this.o.zoomIn.disabled = this.zoom === ZOOM_CELLS.length - 1;
    this.drawCanvases();
    const i = this.grid.tabStop;
    const b = this.canvas.box(i);
    const wrap = this.o.canvas.parentElement;
    if (b) wrap.scrollLeft = Math.max(0, b.x - wrap.clientWidth / 2);
    this.o.lens.scrollIntoView({ block: 'nearest' });
  }

  /** Outlines the grid's window of rows on the section canvas. */
  placeLens() {
    const lens = this.o.lens;
    if (!this.large || !this.canvas.sec) return;
    const [first, last] = this.grid.rows();
    const cell = this.canvas.cell;
    // The wrap pads the canvas by 3 px; the 2 px border sits just outside the squares.
    lens.style.top = `${(first - 1) * cell + 1}px`;
    lens.style.height = `${(last - first + 1) * cell + 3}px`;
    lens.style.width = `${this.canvas.sec.seats_per_row * cell + 3}px`;
  }

  tabText(k) {
    const b = this.o.tabs.children[k];
    const sec = this.model.sections[k];
    if (b) b.textContent = t('section_tab', { name: sec.name, n: count(this.model.free[k]) });
  }
}
