// seat-model.js: the seat map as numbers: the static layout (GET /seats/layout) and one
// status byte per seat in layout order (a Uint8Array: 0 available, 1 held, 2 sold),
// filled from the 2-bit live state (GET /seats/state, the stream's `state` event) and
// patched by the stream's `delta` events. Everything else (ids, rows, prices, the
// free seats per section) is index arithmetic over the layout, so a 100,000-seat
// venue costs 100 KB of memory and no object per seat.
//
// Layout order: sections in order, each row-major; seat `i` of a section is row
// `floor(i / seats_per_row) + 1`, number `i % seats_per_row + 1`, id
// `{section}-{row}-{number}` (docs/API.md, "Seat layout and live state").

/** Status names by code, as the v1 API spells them. */
export const STATUS = ['available', 'held', 'sold'];
const CODE = { available: 0, held: 1, sold: 2 };

/** Base64 → bytes (atob is fast enough for 25 KB; no per-seat work). */
function fromBase64(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export class SeatModel {
  /**
   * @param {{layout_version: string, currency: string, total: number,
   *   sections: {name: string, rows: number, seats_per_row: number, price_cents: number,
   *   base: number}[]}} layout
   */
  constructor(layout) {
    this.layoutVersion = layout.layout_version;
    this.sections = layout.sections.map((s, k) => ({ ...s, index: k, size: s.rows * s.seats_per_row }));
    this.byName = new Map(this.sections.map((s) => [s.name, s]));
    this.total = layout.total;
    this.status = new Uint8Array(this.total);
    this.free = new Int32Array(this.sections.length);
    this.version = -1;
    this.recount();
  }

  /** The section holding layout index `i`, by binary search over the bases. */
  sectionOf(i) {
    const s = this.sections;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid].base <= i) lo = mid;
      else hi = mid - 1;
    }
    return s[lo];
  }

  /** {section, row, number} (1-based) of index `i`. */
  place(i) {
    const sec = this.sectionOf(i);
    const k = i - sec.base;
    return { section: sec.name, row: Math.floor(k / sec.seats_per_row) + 1, number: (k % sec.seats_per_row) + 1 };
  }

  /** The seat id of index `i`, e.g. `A-3-12`. */
  idOf(i) {
    const p = this.place(i);
    return `${p.section}-${p.row}-${p.number}`;
  }

  /** The index of seat `id`, or -1 when the layout has no such seat. */
  indexOf(id) {
    const m = /^(.+)-(\d+)-(\d+)$/.exec(id);
    const sec = m && this.byName.get(m[1]);
    if (!sec) return -1;
    const row = Number(m[2]);
    const number = Number(m[3]);
    if (row < 1 || row > sec.rows || number < 1 || number > sec.seats_per_row) return -1;
    return sec.base + (row - 1) * sec.seats_per_row + number - 1;
  }

  /** Index of row `row` (1-based), seat `number` (1-based) of section `sec`. */
  at(sec, row, number) {
    return sec.base + (row - 1) * sec.seats_per_row + number - 1;
  }

  /** The status name of index `i`. */
  statusName(i) {
    return STATUS[this.status[i]] || 'sold';
  }

  /** The price of index `i`, in minor units. */
  priceOf(i) {
    return this.sectionOf(i).price_cents;
  }

  recount() {
    this.free.fill(0);
    for (const sec of this.sections) {
      let n = 0;
      for (let i = sec.base, end = sec.base + sec.size; i < end; i++) if (this.status[i] === 0) n++;
      this.free[sec.index] = n;
    }
  }

  /**
   * Replaces every status from a live state `{version, layout_version, encoding: "2bit",
   * state: base64}` (seat `i` in byte `i/4`, bits `(i%4)*2`, low bits first). Returns the
   * indices whose status changed, or null when the state belongs to another layout (the
   * caller reloads the layout).
   */
  loadState(st) {
    if (st.layout_version !== this.layoutVersion || st.encoding !== '2bit') return null;
    const packed = fromBase64(st.state);
    const changed = [];
    const s = this.status;
    for (let i = 0; i < this.total; i++) {
      const v = (packed[i >> 2] >> ((i & 3) * 2)) & 3;
      if (v !== s[i]) {
        changed.push(i);
        s[i] = v;
      }
    }
    this.version = st.version;
    if (changed.length > 0) this.recount();
    return changed;
  }

  /**
   * Applies a delta `{from, to, changes: [[index, code], …]}`. Returns the changed
   * indices, or null when the delta starts after our version (a gap: the caller reloads
   * the state). A delta we already have is ignored.
   */
  applyDelta(d) {
    if (d.to <= this.version) return [];
    if (d.from > this.version) return null;
    const changed = this.set(d.changes);
    this.version = d.to;
    return changed;
  }

  /** Sets `[[index, code], …]`; returns the indices whose status changed. */
  set(pairs) {
    const changed = [];
    for (const [i, v] of pairs) {
      if (!(i >= 0 && i < this.total) || v < 0 || v > 2 || this.status[i] === v) continue;
      const sec = this.sectionOf(i);
      if (this.status[i] === 0) this.free[sec.index]--;
      if (v === 0) this.free[sec.index]++;
      this.status[i] = v;
      changed.push(i);
    }
    return changed;
  }

  /** Marks seats `ids` with status name `status` (a 409 told us before the stream). */
  mark(ids, status) {
    return this.set(ids.map((id) => [this.indexOf(id), CODE[status]]).filter(([i]) => i >= 0));
  }
}
