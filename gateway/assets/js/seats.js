// seats.js: the seat map with live availability.
//
// One section is drawn at a time (tabs above the grid), one row per line, each seat a
// <button> with an aria-label ("Section A, row 1, seat 2, 150.00, available") and
// aria-pressed for the fan's choice; held and sold seats are disabled. Statuses come
// from `load` (the full map of GET /seats) and `apply` (changes: [{id, status}], from
// the SSE stream or a poll); a chosen seat that someone else takes is dropped from
// the choice and reported through `onLost`.

import { el, money, parseSeat } from './format.js';
import { t } from './i18n.js';

export class SeatMap {
  /**
   * @param {{tabs: HTMLElement, grid: HTMLElement, scrollHint?: HTMLElement, max: number,
   *   onChange: (ids: string[]) => void, onLost: (ids: string[]) => void,
   *   onLimit: (max: number) => void}} o
   */
  constructor(o) {
    this.o = o;
    this.sections = [];
    this.seats = new Map(); // id -> {id, row, number, price_cents, status, section}
    this.selected = new Set();
    this.buttons = new Map();
    this.current = null;
  }

  /** Replaces the whole map (GET /v1/events/{id}/seats). */
  load(map) {
    const changes = [];
    this.sections = map.sections.map((s) => s.name);
    for (const sec of map.sections) {
      for (const seat of sec.seats) {
        const old = this.seats.get(seat.id);
        if (old && old.status !== seat.status) changes.push({ id: seat.id, status: seat.status });
        this.seats.set(seat.id, { ...seat, section: sec.name });
      }
    }
    if (!this.current || !this.sections.includes(this.current)) this.current = this.sections[0];
    this.render();
    this.dropUnavailable();
    return changes;
  }

  /** Applies status changes [{id, status}]; unknown ids are ignored. */
  apply(changes) {
    for (const c of changes) {
      const seat = this.seats.get(c.id);
      if (!seat || seat.status === c.status) continue;
      seat.status = c.status;
      this.paint(seat);
    }
    this.refreshTabs();
    this.dropUnavailable();
  }

  /** Seats of `section` (in row-major order). */
  sectionSeats(section) {
    return [...this.seats.values()].filter((s) => s.section === section);
  }

  /** Number of available seats in `section`. */
  availableIn(section) {
    return this.sectionSeats(section).filter((s) => s.status === 'available').length;
  }

  /** The chosen seats' ids, in map order. */
  selection() {
    return [...this.seats.keys()].filter((id) => this.selected.has(id));
  }

  /** Total price of the choice, in cents. */
  selectionCents() {
    return this.selection().reduce((sum, id) => sum + this.seats.get(id).price_cents, 0);
  }

  /** Empties the choice. */
  clearSelection() {
    const ids = [...this.selected];
    this.selected.clear();
    ids.forEach((id) => this.paint(this.seats.get(id)));
    this.o.onChange([]);
  }

  /** Marks `ids` as taken (a 409 told us before the stream did). */
  markTaken(ids) {
    this.apply(ids.map((id) => ({ id, status: 'held' })));
  }

  dropUnavailable() {
    const lost = [...this.selected].filter((id) => this.seats.get(id)?.status !== 'available');
    if (lost.length === 0) return;
    lost.forEach((id) => {
      this.selected.delete(id);
      this.paint(this.seats.get(id));
    });
    this.o.onLost(lost);
    this.o.onChange(this.selection());
  }

  toggle(id) {
    const seat = this.seats.get(id);
    if (!seat) return;
    if (this.selected.has(id)) {
      this.selected.delete(id);
    } else {
      if (seat.status !== 'available') return;
      if (this.selected.size >= this.o.max) {
        this.o.onLimit(this.o.max);
        return;
      }
      this.selected.add(id);
    }
    this.paint(seat);
    this.o.onChange(this.selection());
  }

  label(seat) {
    const p = parseSeat(seat.id);
    const state = this.selected.has(seat.id) ? t('seat_selected') : t(`seat_${seat.status}`);
    return t('seat_label', { ...p, price: money(seat.price_cents), state });
  }

  paint(seat) {
    const b = seat && this.buttons.get(seat.id);
    if (!b) return;
    const chosen = this.selected.has(seat.id);
    b.className = `seat ${chosen ? 'selected' : seat.status}`;
    b.disabled = !chosen && seat.status !== 'available';
    b.setAttribute('aria-pressed', String(chosen));
    b.setAttribute('aria-label', this.label(seat));
    b.title = this.label(seat);
  }

  /** Draws the tabs and the current section (also after a language change). */
  render() {
    const { tabs, grid } = this.o;
    tabs.replaceChildren();
    tabs.setAttribute('aria-label', t('sections'));
    for (const name of this.sections) {
      const b = el('button', 'tab', t('section_tab', { name, n: this.availableIn(name) }));
      b.type = 'button';
      b.dataset.section = name;
      b.setAttribute('aria-pressed', String(name === this.current));
      b.addEventListener('click', () => {
        this.current = name;
        this.render();
        grid.querySelector('button.seat:not([disabled])')?.focus();
      });
      tabs.append(b);
    }
    grid.replaceChildren();
    this.buttons.clear();
    const rows = new Map();
    for (const seat of this.sectionSeats(this.current)) {
      if (!rows.has(seat.row)) rows.set(seat.row, []);
      rows.get(seat.row).push(seat);
    }
    const widest = Math.max(0, ...[...rows.values()].map((r) => r.length));
    for (const [row, seats] of rows) {
      const line = el('div', 'seat-row');
      // Seats shrink to fit a phone (down to 22 px, 3 px apart: WCAG 2.5.8's spacing
      // exception); longer rows scroll sideways, with a hint.
      line.style.gridTemplateColumns = `22px repeat(${widest}, minmax(22px, 40px))`;
      line.setAttribute('role', 'group');
      line.setAttribute('aria-label', t('row_label', { section: this.current, row }));
      line.append(el('span', 'row-label', String(row)));
      for (const seat of seats) {
        const b = el('button', 'seat', String(seat.number));
        b.type = 'button';
        b.dataset.seat = seat.id;
        b.addEventListener('click', () => this.toggle(seat.id));
        this.buttons.set(seat.id, b);
        this.paint(seat);
        line.append(b);
      }
      grid.append(line);
    }
    const hint = this.o.scrollHint;
    if (hint) requestAnimationFrame(() => { hint.hidden = grid.scrollWidth <= grid.clientWidth + 1; });
  }

  /** Refreshes the tab counts (cheap; after changes). */
  refreshTabs() {
    this.o.tabs.querySelectorAll('button.tab').forEach((b) => {
      const name = b.dataset.section;
      b.textContent = t('section_tab', { name, n: this.availableIn(name) });
    });
  }
}
