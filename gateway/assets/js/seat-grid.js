// seat-grid.js: the accessible seat grid of one section, limited to a window of rows.
//
// An ARIA grid (aria-rowcount / aria-rowindex tell screen readers where the window sits
// in the section) whose cells are <button>s with a label ("Section A, row 1, seat 2,
// 150.00, available") and aria-pressed for the fan's choice; held and sold seats are
// disabled. At most WINDOW_SEATS buttons exist at a time: a small section fits whole,
// a 100-seat-wide one shows two rows. Arrow keys move between free seats and slide the
// window at its edges (Page Up/Down by a window, Home/End along the row); Enter or Space
// chooses. Only one button is in the tab order (a roving tabindex).

import { el } from './format.js';
import { t } from './i18n.js';

/** The most seat buttons in the page at once. */
export const WINDOW_SEATS = 240;

/** Rows of section `sec` that fit in the window (at least one). */
export const windowRows = (sec) => Math.max(1, Math.min(sec.rows, Math.floor(WINDOW_SEATS / sec.seats_per_row)));

export class SeatGrid {
  /**
   * @param {HTMLElement} root
   * @param {{model: () => import('./seat-model.js').SeatModel,
   *   look: (i: number) => string, label: (i: number) => string,
   *   onToggle: (i: number) => void, onWindow: () => void}} o
   */
  constructor(root, o) {
    this.root = root;
    this.o = o;
    this.sec = null;
    this.start = 1;
    this.buttons = new Map(); // layout index -> button
    this.tabStop = -1;
    root.addEventListener('keydown', (e) => this.key(e));
  }

  /** The window's rows: [first, last], 1-based. */
  rows() {
    return [this.start, Math.min(this.sec.rows, this.start + windowRows(this.sec) - 1)];
  }

  /** Shows section `sec` from row `start` (clamped); rebuilds the buttons. */
  show(sec, start = 1) {
    this.sec = sec;
    const k = windowRows(sec);
    this.start = Math.max(1, Math.min(start, sec.rows - k + 1));
    const model = this.o.model();
    const root = this.root;
    root.replaceChildren();
    this.buttons.clear();
    root.setAttribute('role', 'grid');
    root.setAttribute('aria-rowcount', String(sec.rows));
    root.setAttribute('aria-colcount', String(sec.seats_per_row + 1));
    const [first, last] = this.rows();
    root.setAttribute('aria-label', t('grid_label', { section: sec.name, first, last, rows: sec.rows }));
    for (let row = first; row <= last; row++) {
      const line = el('div', 'seat-row');
      // Seats shrink to fit a phone (down to 22 px, 3 px apart: WCAG 2.5.8's spacing
      // exception); longer rows scroll sideways, with a hint.
      line.style.gridTemplateColumns = `22px repeat(${sec.seats_per_row}, minmax(22px, 40px))`;
      line.setAttribute('role', 'row');
      line.setAttribute('aria-rowindex', String(row));
      const head = el('span', 'row-label', String(row));
      head.setAttribute('role', 'rowheader');
      head.setAttribute('aria-label', t('row_label', { section: sec.name, row }));
      line.append(head);
      for (let n = 1; n <= sec.seats_per_row; n++) {
        const i = model.at(sec, row, n);
        const cell = el('span', 'seat-cell');
        cell.setAttribute('role', 'gridcell');
        const b = el('button', 'seat', String(n));
        b.type = 'button';
        b.tabIndex = -1;
        b.dataset.seat = model.idOf(i);
        b.dataset.index = String(i);
        b.addEventListener('click', () => this.o.onToggle(i));
        this.buttons.set(i, b);
        this.paint(i);
        cell.append(b);
        line.append(cell);
      }
      root.append(line);
    }
    if (!this.buttons.has(this.tabStop) || this.buttons.get(this.tabStop).disabled) {
      this.setTabStop(this.firstFree(first, last));
    } else {
      this.setTabStop(this.tabStop);
    }
  }

  /**
   * Repaints seat index `i`'s button if it is in the window. A seat taken under the
   * keyboard's focus or tab stop hands both to the nearest free seat of its row.
   */
  paint(i) {
    const b = this.buttons.get(i);
    if (!b) return;
    const look = this.o.look(i);
    const focused = document.activeElement === b;
    b.className = `seat ${look}`;
    b.disabled = look === 'held' || look === 'sold';
    if (b.disabled && (focused || this.tabStop === i)) {
      const sec = this.sec;
      const k = i - sec.base;
      const next = this.nearestIn(Math.floor(k / sec.seats_per_row) + 1, k % sec.seats_per_row);
      if (next >= 0 && this.buttons.has(next)) {
        this.setTabStop(next);
        if (focused) this.buttons.get(next).focus();
      }
    }
    b.setAttribute('aria-pressed', String(look === 'selected'));
    const label = this.o.label(i);
    b.setAttribute('aria-label', label);
    b.title = label;
  }

  setTabStop(i) {
    this.buttons.get(this.tabStop)?.setAttribute('tabindex', '-1');
    this.tabStop = i;
    this.buttons.get(i)?.setAttribute('tabindex', '0');
  }

  firstFree(first, last) {
    for (const [i, b] of this.buttons) {
      const row = Math.floor((i - this.sec.base) / this.sec.seats_per_row) + 1;
      if (row >= first && row <= last && !b.disabled) return i;
    }
    return this.buttons.keys().next().value ?? -1;
  }

  /** Brings seat index `i` into the window (sliding it if needed); focuses it if `focus`. */
  reveal(i, focus) {
    const sec = this.sec;
    const row = Math.floor((i - sec.base) / sec.seats_per_row) + 1;
    const [first, last] = this.rows();
    if (row < first || row > last) {
      this.show(sec, row < first ? row : row - windowRows(sec) + 1);
      this.o.onWindow();
    }
    this.setTabStop(i);
    if (focus) this.buttons.get(i)?.focus();
  }

  /** Whether seat index `i` can take focus (a free or chosen seat). */
  focusable(i) {
    const look = this.o.look(i);
    return look === 'available' || look === 'selected';
  }

  /** The nearest focusable seat of `row` to column `col` (0-based), or -1. */
  nearestIn(row, col) {
    const sec = this.sec;
    const model = this.o.model();
    for (let d = 0; d < sec.seats_per_row; d++) {
      for (const c of [col - d, col + d]) {
        if (c < 0 || c >= sec.seats_per_row) continue;
        const i = model.at(sec, row, c + 1);
        if (this.focusable(i)) return i;
      }
    }
    return -1;
  }

  key(e) {
    const b = e.target.closest?.('button.seat');
    if (!b || !this.sec) return;
    const sec = this.sec;
    const i = Number(b.dataset.index);
    const row = Math.floor((i - sec.base) / sec.seats_per_row) + 1;
    const col = (i - sec.base) % sec.seats_per_row;
    let target = -1;
    const along = (from, step) => {
      for (let c = from; c >= 0 && c < sec.seats_per_row; c += step) {
        const j = this.o.model().at(sec, row, c + 1);
        if (this.focusable(j)) return j;
      }
      return -1;
    };
    const across = (step, jump = 1) => {
      for (let r = row + step * jump; r >= 1 && r <= sec.rows; r += step) {
        const j = this.nearestIn(r, col);
        if (j >= 0) return j;
      }
      return -1;
    };
    switch (e.key) {
      case 'ArrowLeft': target = along(col - 1, -1); break;
      case 'ArrowRight': target = along(col + 1, 1); break;
      case 'ArrowUp': target = across(-1); break;
      case 'ArrowDown': target = across(1); break;
      case 'PageUp': target = across(-1, windowRows(sec)); break;
      case 'PageDown': target = across(1, windowRows(sec)); break;
      case 'Home': target = along(0, 1); break;
      case 'End': target = along(sec.seats_per_row - 1, -1); break;
      default: return;
    }
    e.preventDefault();
    if (target >= 0) this.reveal(target, true);
  }
}
