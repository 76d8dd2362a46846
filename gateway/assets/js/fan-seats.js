// fan-seats.js: the admitted fan's seat view: the seat map kept live, the choice and
// its total, best-available, the pass's countdown, and resuming a hold after a reload.
//
// The map is the layout (GET /seats/layout: static, cached by the browser and
// revalidated with its ETag, so a repeat visit costs a 304) plus the live state (GET
// /seats/state: 2 bits a seat), then the compact stream (`/seats/stream?format=compact
// &since=<version>`: `delta` events, a new `state` after a gap), else a poll of the
// state every 2 s. Performance marks `seats:state` (the state arrived), `seats:data`
// (layout and state in hand) and `seats:ready` (the map drawn and answering clicks)
// time the first paint; `window.__seatMap` lets tests read the map's model.

import { api, serverNow, withRetry } from './api.js';
import { LiveFeed } from './fan-live.js';
import { $, clock, money, seatsWords } from './format.js';
import { t } from './i18n.js';
import { SeatMap } from './seats.js';
import { alertMsg, note, showView } from './fan-views.js';

export class SeatsView {
  /**
   * @param {{eventId: string, event: () => object, pass: () => string,
   *   passExpires: () => string, expired: () => void, onWait: (e: any, s: number) => void,
   *   savedHold: () => string|null, forgetHold: () => void,
   *   showHold: (hold: object) => void}} ctx
   */
  constructor(ctx) {
    this.ctx = ctx;
    this.map = null;
    this.url = `/v1/events/${ctx.eventId}/seats`;
    this.feed = new LiveFeed({
      sseUrl: () => {
        const v = this.map?.model?.version ?? -1;
        return `${this.url}/stream?format=compact${v >= 0 ? `&since=${v}` : ''}`;
      },
      eventName: ['state', 'delta'],
      poll: () => this.fetchState(),
      onData: (d, via, name) => (name === 'delta' ? this.takeDelta(d) : this.takeState(d)),
      nextPollMs: () => 2000,
      // A quiet event sends no seat events (only keep-alive comments, which EventSource
      // does not surface): allow a minute of silence before reconnecting; with `since`
      // a reconnection costs no state.
      quietMs: 60000,
      onWait: ctx.onWait,
      onFail: (e) => (e.status === 401 ? ctx.expired() : null),
    });
  }

  max() {
    return this.ctx.event().max_seats_per_hold ?? 4;
  }

  /** GET /seats/layout, revalidated against the browser's cached copy. */
  async fetchLayout() {
    return (await api('GET', `${this.url}/layout`, { token: this.ctx.pass(), cache: 'no-cache' })).body;
  }

  /** GET /seats/state. */
  async fetchState() {
    return (await api('GET', `${this.url}/state`, { token: this.ctx.pass() })).body;
  }

  /** Applies a whole state; a state of another layout (the venue edited it) reloads both. */
  async takeState(st) {
    if (this.map.loadState(st)) return;
    this.map.setLayout(await this.fetchLayout());
    this.map.loadState(st) || this.map.loadState(await this.fetchState());
    this.map.render();
    this.fillBestForm();
  }

  /** Applies a delta; after a gap the whole state is read again. */
  takeDelta(d) {
    if (!this.map.applyDelta(d)) this.refresh();
  }

  /** Loads the map and shows the view (then resumes a hold kept from before a reload). */
  async enter() {
    // One SeatMap per page: it listens on the view's canvases and buttons.
    if (this.map) {
      this.map.o.max = this.max();
      if (this.map.model) this.map.clearSelection();
    }
    this.map ??= new SeatMap({
      tabs: $('section-tabs'),
      grid: $('seat-grid'),
      venue: $('seat-venue'),
      overview: $('venue-overview'),
      canvas: $('section-canvas'),
      lens: $('seat-lens'),
      zoomIn: $('zoom-in'),
      zoomOut: $('zoom-out'),
      scrollHint: $('seat-scroll-hint'),
      max: this.max(),
      onChange: (ids) => this.renderSelection(ids),
      onLost: (ids) => alertMsg(t('seat_taken', { seats: seatsWords(ids) })),
      onLimit: (n) => alertMsg(t('too_many', { max: n })),
    });
    try {
      const [layout, state] = await withRetry(() => Promise.all([
        this.fetchLayout(),
        this.fetchState().then((st) => {
          performance.mark('seats:state');
          return st;
        }),
      ]), this.ctx.onWait);
      performance.mark('seats:data');
      note(null);
      this.map.setLayout(layout);
      if (!this.map.loadState(state)) {
        this.map.setLayout(await this.fetchLayout());
        this.map.loadState(state);
      }
    } catch (e) {
      if (e.status === 401) return this.ctx.expired();
      return alertMsg(t('error_generic', { message: e.message }));
    }
    this.fillBestForm();
    this.renderSelection([]);
    showView('seats');
    this.map.render();
    performance.mark('seats:ready');
    this.expose();
    this.tick();
    this.feed.start();
    const holdId = this.ctx.savedHold();
    if (!holdId) return;
    try {
      const h = await api('GET', `/v1/holds/${holdId}`, { token: this.ctx.pass() });
      if (h.body.state === 'held') this.ctx.showHold(h.body);
      else if (h.body.state === 'confirmed' && this.ctx.confirmedElsewhere) this.ctx.confirmedElsewhere(h.body);
      else this.ctx.forgetHold();
    } catch {
      this.ctx.forgetHold();
    }
  }

  /** `window.__seatMap`: the map's model for tests (status and drawn colour by seat id). */
  expose() {
    const map = this.map;
    window.__seatMap = {
      statusOf: (id) => {
        const i = map.model.indexOf(id);
        return i < 0 ? null : map.look(i);
      },
      pixelOf: (id) => map.canvas.pixel(map.model.indexOf(id)),
      /** Client coordinates of the centre of seat `id` on the section canvas, or null. */
      pointOf: (id) => {
        const b = map.canvas.box(map.model.indexOf(id));
        if (!b) return null;
        const r = map.o.canvas.getBoundingClientRect();
        return { x: r.left + b.x + b.w / 2, y: r.top + b.y + b.h / 2 };
      },
      version: () => map.model.version,
    };
  }

  /** Stops the live map. */
  stop() {
    this.feed.stop();
  }

  /** Back from a hold: the map, nothing chosen. */
  back() {
    showView('seats');
    this.map.clearSelection();
  }

  /** Reloads the live state now (after a 409, an expiry or a gap in the stream). */
  async refresh() {
    try {
      await this.takeState(await this.fetchState());
    } catch {
      // The live feed catches up.
    }
  }

  renderSelection(ids) {
    $('hold-btn').disabled = ids.length === 0;
    $('selection').textContent = ids.length === 0
      ? t('choose_hint', { max: this.max() })
      : t('selection', { seats: seatsWords(ids), total: money(this.map.selectionCents()) });
  }

  fillBestForm() {
    const max = this.max();
    const section = $('best-section');
    const chosen = section.value;
    section.replaceChildren(...this.map.sections.map((name) => new Option(name, name)));
    if (chosen) section.value = chosen;
    const qty = $('best-quantity');
    const q = qty.value || '2';
    qty.replaceChildren(...Array.from({ length: max }, (_, i) => new Option(String(i + 1), String(i + 1))));
    qty.value = Number(q) <= max ? q : '1';
  }

  /** Once a second: the pass's countdown; at zero the fan's turn is over. */
  tick() {
    const exp = this.ctx.passExpires();
    if (!exp) return;
    const left = (Date.parse(exp) - serverNow()) / 1000;
    $('pass-left').textContent = t('pass_left', { time: clock(left) });
    if (left <= 0) this.ctx.expired();
  }

  /** Re-renders the dynamic text (language change). */
  rerender() {
    if (!this.map?.model) return;
    this.map.render();
    this.renderSelection(this.map.selection());
    this.tick();
  }
}
