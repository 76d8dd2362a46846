// checkout.js: hold → (mock) payment → confirmation, and every way it can go wrong.
//
// Holds and confirms carry an Idempotency-Key, so the automatic retries after a 429 or
// 503 can never hold or buy twice (the confirm key and its payment_ref are fixed per
// hold: the same key with another body would be refused). A `202` is followed through
// its request URL. The hold's countdown runs on the server's clock; at zero the fan is
// told the seats were released and is back on the seat map.

import { api, newKey, serverNow, settle, withRetry } from './api.js';
import { $, clock, dateTime, el, money, seatWords, seatsWords, show } from './format.js';
import { t } from './i18n.js';
import { alertMsg, note, showView } from './fan-views.js';

export class Checkout {
  /**
   * @param {{eventId: string, timeZone: () => string, pass: () => string,
   *   holdTtl: () => number|undefined,
   *   seatMap: () => import('./seats.js').SeatMap, backToSeats: () => void,
   *   refreshMap: () => void, end: (kind: string) => void,
   *   onWait: (e: any, s: number) => void, save: (patch: object) => void,
   *   onDone: () => void, holdShown?: (h: any, fresh: boolean) => void}} ctx
   */
  constructor(ctx) {
    this.ctx = ctx;
    this.hold = null;
    this.timer = null;
    this.busy = false;
    this.confirmKey = null;
    $('pay-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.confirm();
    });
    $('release-btn').addEventListener('click', () => this.release());
    ['pay-name', 'pay-card'].forEach((id) => $(id).addEventListener('input', () => this.fieldError(id, null)));
  }

  alive(holdId) {
    return () => this.hold !== null && this.hold.id === holdId;
  }

  /** Asks for a hold: `{seats: [...]}` or `{section, quantity}`. */
  async request(body) {
    if (this.busy) return;
    this.busy = true;
    const key = newKey();
    const token = this.ctx.pass();
    const btns = [$('hold-btn'), $('best-form').querySelector('button')];
    btns.forEach((b) => b.setAttribute('aria-busy', 'true'));
    alertMsg(null);
    try {
      const first = await withRetry(
        () => api('POST', `/v1/events/${this.ctx.eventId}/holds`, { token, body, idempotencyKey: key }),
        this.ctx.onWait,
      );
      const done = await settle(first, token);
      note(null);
      this.show(done.body, 'fresh');
    } catch (e) {
      note(null);
      this.refused(e, body);
    } finally {
      this.busy = false;
      btns.forEach((b) => b.removeAttribute('aria-busy'));
    }
  }

  refused(e, body) {
    const ids = (e.details && e.details.unavailable) || [];
    switch (e.code) {
      case 'seats_unavailable':
        if (ids.length > 0) {
          this.ctx.seatMap().markTaken(ids);
          alertMsg(t('seat_taken', { seats: seatsWords(ids) }));
        } else {
          alertMsg(t('best_none', { section: body.section, n: body.quantity }));
        }
        this.ctx.refreshMap();
        return;
      case 'invalid_field':
        alertMsg(t('hold_invalid', { message: e.message }));
        return;
      case 'forbidden':
        return this.ctx.end('pass_used');
      case 'unauthorized':
        return this.ctx.end('expired');
      case 'queue_closed':
        return this.ctx.end('closed');
      case 'sold_out':
        return this.ctx.end('sold_out');
      default:
        alertMsg(t('error_generic', { message: e.message }));
    }
  }

  /**
   * Shows hold `h` with its countdown and the payment form; `how` is `fresh` (just
   * made), `shown` (again, after a reload) or `rerender` (a language change).
   */
  show(h, how = 'shown') {
    this.hold = h;
    this.confirmKey = newKey();
    this.ctx.save({ holdId: h.id });
    const map = this.ctx.seatMap();
    const list = $('hold-seats');
    list.replaceChildren();
    for (const id of h.seats) {
      const li = el('li', '', seatWords(id));
      const seat = map && map.seat(id);
      if (seat) li.append(el('span', 'price', money(seat.price_cents)));
      list.append(li);
    }
    $('hold-total').textContent = money(h.total_cents);
    $('pay-btn').textContent = t('pay', { total: money(h.total_cents) });
    ['pay-name', 'pay-card'].forEach((id) => this.fieldError(id, null));
    showView('hold');
    clearInterval(this.timer);
    // A hold never has more than the hold TTL left (the clock estimate may be ahead).
    const ttl = this.ctx.holdTtl() ?? Infinity;
    const tick = () => {
      const left = Math.min((Date.parse(h.expires_at) - serverNow()) / 1000, ttl);
      const timer = $('hold-timer');
      timer.textContent = clock(Math.ceil(left));
      timer.classList.toggle('urgent', left <= 60);
      if (left <= 0) this.expired();
    };
    tick();
    this.timer = setInterval(tick, 250);
    if (how !== 'rerender' && this.ctx.holdShown) this.ctx.holdShown(h, how === 'fresh');
  }

  /** Re-renders the hold view's dynamic text (language change). */
  rerender() {
    if (this.hold) this.show(this.hold, 'rerender');
  }

  stopTimer() {
    clearInterval(this.timer);
    this.timer = null;
  }

  /** The hold ran out: tell the fan, back to the seat map. */
  expired() {
    this.stopTimer();
    this.hold = null;
    this.ctx.save({ holdId: null });
    this.ctx.backToSeats();
    alertMsg(t('hold_expired'));
    this.ctx.refreshMap();
  }

  fieldError(id, text) {
    const input = $(id);
    const msg = $(`${id}-error`);
    msg.textContent = text || '';
    show(msg, Boolean(text));
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  validForm() {
    const name = $('pay-name').value.trim();
    const digits = $('pay-card').value.replace(/[\s-]/g, '');
    this.fieldError('pay-name', name ? null : t('card_name_missing'));
    const cardOk = /^\d{12,19}$/.test(digits);
    this.fieldError('pay-card', cardOk ? null : t('card_number_invalid'));
    if (!name) $('pay-name').focus();
    else if (!cardOk) $('pay-card').focus();
    return Boolean(name) && cardOk;
  }

  /** Pays (mock) and confirms the hold. */
  async confirm() {
    const h = this.hold;
    if (!h || this.busy || !this.validForm()) return;
    this.busy = true;
    const btn = $('pay-btn');
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    alertMsg(null);
    const token = this.ctx.pass();
    const body = { payment_ref: `mock-${h.id.slice(0, 8)}` };
    try {
      const first = await withRetry(
        () => api('POST', `/v1/holds/${h.id}/confirm`, { token, body, idempotencyKey: this.confirmKey }),
        this.ctx.onWait,
        this.alive(h.id),
      );
      const done = await settle(first, token);
      note(null);
      this.done(done.body);
    } catch (e) {
      note(null);
      if (e.code === 'hold_expired') this.expired();
      else if (e.code === 'hold_not_active') {
        this.stopTimer();
        this.hold = null;
        this.ctx.backToSeats();
        alertMsg(t('hold_not_active'));
        this.ctx.refreshMap();
      } else if (e.code === 'unauthorized') this.ctx.end('expired');
      else alertMsg(t('error_generic', { message: e.message }));
    } finally {
      this.busy = false;
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
    }
  }

  /** Gives the held seats back. */
  async release() {
    const h = this.hold;
    if (!h || this.busy) return;
    this.busy = true;
    try {
      await withRetry(() => api('DELETE', `/v1/holds/${h.id}`, { token: this.ctx.pass() }), this.ctx.onWait);
      note(null);
    } catch (e) {
      // Already expired or released: either way the seats are back.
      if (e.code === 'unauthorized') return this.ctx.end('expired');
    } finally {
      this.busy = false;
    }
    this.stopTimer();
    this.hold = null;
    this.ctx.save({ holdId: null });
    this.ctx.backToSeats();
    this.ctx.refreshMap();
  }

  /** The confirmation: order number, time, seats and total. */
  done(order) {
    this.stopTimer();
    this.hold = null;
    this.ctx.save({ holdId: null, order });
    this.renderDone(order);
    this.ctx.onDone();
  }

  renderDone(order) {
    $('order-id').textContent = order.id;
    $('order-time').textContent = dateTime(order.confirmed_at, this.ctx.timeZone());
    $('order-total').textContent = money(order.total_cents);
    const list = $('order-seats');
    list.replaceChildren(...order.seats.map((id) => el('li', '', seatWords(id))));
    showView('done');
  }
}
