// order.js: the order page /e/{event_id}/orders/{hold_id}, where the venue's payment
// page sends the fan back in origin checkout.
//
// It reads the hold with the fan's pass (the `anteroom_pass` cookie, or the pass the
// fan page kept for this event in sessionStorage) and shows "waiting for the payment"
// while the hold is held, polling every second: the venue's server confirms through
// the origin API, possibly a moment after the fan is sent back. A confirmed hold shows
// the order: seats and total in the event's currency. A released or expired hold says
// nothing was bought.

import { api, serverNow, sleep, withRetry } from './api.js';
import { $, clock, el, money, seatWords, setCurrency, show } from './format.js';
import { addStrings, initI18n, onLangChange, t } from './i18n.js';
import strings from './strings-order.js';

addStrings(strings);

const [, , eventId, , holdId] = location.pathname.split('/').map(decodeURIComponent);
const VIEWS = ['loading', 'waiting', 'order', 'end'];
const POLL_MS = 1000;
const page = { event: null, hold: null, end: null, timer: null };

/** The pass the fan page kept for this event, if any (else the cookie is sent). */
function pass() {
  try {
    return JSON.parse(sessionStorage.getItem(`anteroom.fan.${eventId}`))?.pass || undefined;
  } catch {
    return undefined;
  }
}

function showView(name) {
  for (const v of VIEWS) show($(`view-${v}`), v === name);
  show($('view-summary'), name === 'waiting' || name === 'order');
  document.body.dataset.view = name;
}

function note(text) {
  $('note').textContent = text || '';
  show($('note'), Boolean(text));
}

function waitNote(e, seconds) {
  const key = e.status === 429 ? 'rate_limited' : e.status === 503 ? 'unavailable' : 'offline';
  note(t(key, { s: Math.ceil(seconds) }));
}

function renderEvent() {
  const ev = page.event;
  if (!ev) return;
  show($('event-card'), true);
  $('event-name').textContent = ev.name;
  $('event-venue').textContent = ev.venue;
  document.title = `${t('order_page_title')} · ${ev.name} · Anteroom`;
}

function renderSummary(h) {
  $('order-ref').textContent = h.id;
  $('order-seats').replaceChildren(...h.seats.map((id) => el('li', '', seatWords(id))));
  $('order-total').textContent = money(h.total_cents);
}

function renderEnd(kind) {
  page.end = kind;
  const [title, text] = {
    expired: ['order_ended_title', 'order_ended_expired'],
    released: ['order_ended_title', 'order_ended_released'],
    no_pass: ['order_no_pass_title', 'order_no_pass_text'],
    not_found: ['order_not_found_title', 'order_not_found_text'],
  }[kind];
  $('end-title').textContent = t(title);
  $('end-text').textContent = t(text);
  $('end-back').href = `/e/${encodeURIComponent(eventId)}`;
  showView('end');
}

function render() {
  renderEvent();
  const h = page.hold;
  if (page.end) return renderEnd(page.end);
  if (!h) return;
  renderSummary(h);
  if (h.state === 'confirmed') {
    clearInterval(page.timer);
    showView('order');
    return;
  }
  showView('waiting');
  const tick = () => {
    $('waiting-timer').textContent = clock(Math.ceil((Date.parse(h.expires_at) - serverNow()) / 1000));
  };
  tick();
  clearInterval(page.timer);
  page.timer = setInterval(tick, 250);
}

async function poll() {
  for (;;) {
    let r;
    try {
      r = await withRetry(() => api('GET', `/v1/holds/${holdId}`, { token: pass() }), waitNote);
      note(null);
    } catch (e) {
      note(null);
      clearInterval(page.timer);
      return renderEnd(e.status === 401 ? 'no_pass' : 'not_found');
    }
    page.hold = r.body;
    if (r.body.state === 'expired' || r.body.state === 'released') {
      clearInterval(page.timer);
      return renderEnd(r.body.state);
    }
    render();
    if (r.body.state === 'confirmed') return;
    await sleep(POLL_MS);
  }
}

async function start() {
  initI18n();
  onLangChange(render);
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  if (!uuid.test(eventId || '') || !uuid.test(holdId || '')) return renderEnd('not_found');
  try {
    page.event = (await withRetry(() => api('GET', `/v1/events/${eventId}`), waitNote)).body;
    setCurrency(page.event?.currency, page.event?.currency_minor_units);
    note(null);
  } catch {
    return renderEnd('not_found');
  }
  renderEvent();
  await poll();
}

start();
