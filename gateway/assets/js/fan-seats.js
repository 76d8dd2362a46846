// fan-seats.js: the admitted fan's seat view: the seat map kept live (SSE `seats`
// stream, else a poll every 2 s), the choice and its total, best-available, the pass's
// countdown, and resuming a hold after a reload.

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
    const url = `/v1/events/${ctx.eventId}/seats`;
    this.feed = new LiveFeed({
      sseUrl: `${url}/stream`,
      eventName: 'seats',
      poll: async () => (await api('GET', url, { token: ctx.pass() })).body,
      onData: (d) => (d.sections ? this.map.load(d) : this.map.apply(d.seats || [])),
      nextPollMs: () => 2000,
      onWait: ctx.onWait,
      onFail: (e) => (e.status === 401 ? ctx.expired() : null),
    });
  }

  max() {
    return this.ctx.event().max_seats_per_hold ?? 4;
  }

  /** Loads the map and shows the view (then resumes a hold kept from before a reload). */
  async enter() {
    this.map = new SeatMap({
      tabs: $('section-tabs'),
      grid: $('seat-grid'),
      scrollHint: $('seat-scroll-hint'),
      max: this.max(),
      onChange: (ids) => this.renderSelection(ids),
      onLost: (ids) => alertMsg(t('seat_taken', { seats: seatsWords(ids) })),
      onLimit: (n) => alertMsg(t('too_many', { max: n })),
    });
    const url = `/v1/events/${this.ctx.eventId}/seats`;
    try {
      const r = await withRetry(() => api('GET', url, { token: this.ctx.pass() }), this.ctx.onWait);
      note(null);
      this.map.load(r.body);
    } catch (e) {
      if (e.status === 401) return this.ctx.expired();
      return alertMsg(t('error_generic', { message: e.message }));
    }
    this.fillBestForm();
    this.renderSelection([]);
    showView('seats');
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

  /** Stops the live map. */
  stop() {
    this.feed.stop();
  }

  /** Back from a hold: the map, nothing chosen. */
  back() {
    showView('seats');
    this.map.clearSelection();
  }

  /** Reloads the whole map now (after a 409 or an expiry). */
  async refresh() {
    try {
      const r = await api('GET', `/v1/events/${this.ctx.eventId}/seats`, { token: this.ctx.pass() });
      this.map.load(r.body);
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
    if (!this.map) return;
    this.map.render();
    this.renderSelection(this.map.selection());
    this.tick();
  }
}
