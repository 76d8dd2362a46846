// fan.js: the fan page /e/{event_id}: event → queue → seat map → hold → order.
//
// State lives in `app`; credentials come back from the API (queue token on join, pass
// when admitted) and are kept in sessionStorage per event (and in the HttpOnly cookies
// the API sets, which the SSE streams use), so a reload resumes where the fan was.
// The event is re-read every second while the fan is on the landing or queue view, so
// a venue's pause, resume, rate change or close shows within about a second.

import { api, isUuid, serverNow, withRetry } from './api.js';
import { Checkout } from './checkout.js';
import { HandOff } from './handoff.js';
import { LiveFeed } from './fan-live.js';
import { $, setCurrency } from './format.js';
import { initI18n, onLangChange, t } from './i18n.js';
import { SeatsView } from './fan-seats.js';
import {
  alertMsg, currentView, liveSentence, note, renderEnd, renderEvent, renderLanding,
  renderLiveMode, renderQueue, showView,
} from './fan-views.js';

const eventId = decodeURIComponent(location.pathname.split('/')[2] || '');
const STORE = `anteroom.fan.${eventId}`;
const app = {
  event: null, token: null, pass: null, passExp: null, status: null, maxPos: 0,
  seedOk: null, spoken: '', spokenAt: 0, end: null, liveMode: ['live'],
};

function saved() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE)) || {};
  } catch {
    return {};
  }
}
function save(patch) {
  try {
    sessionStorage.setItem(STORE, JSON.stringify({ ...saved(), ...patch }));
  } catch {
    // Storage disabled: the cookies still carry the credentials.
  }
}

/** Tells the fan that we wait out a 429 / 503 / lost connection. */
function waitNote(e, seconds) {
  const key = e.status === 429 ? 'rate_limited' : e.status === 503 ? 'unavailable' : 'offline';
  note(t(key, { s: Math.ceil(seconds) }));
}

async function checkSeed(ev) {
  if (!ev.shuffle_seed || !ev.shuffle_commitment || !(crypto && crypto.subtle)) return null;
  const bytes = new Uint8Array(ev.shuffle_seed.match(/../g).map((h) => parseInt(h, 16)));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  const hex = [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
  return hex === ev.shuffle_commitment.toLowerCase();
}

async function setEvent(ev) {
  const prev = app.event;
  app.event = ev;
  setCurrency(ev.currency, ev.currency_minor_units);
  if (ev.shuffle_seed && ev.shuffle_seed !== prev?.shuffle_seed) app.seedOk = await checkSeed(ev);
  renderEvent(ev);
  return prev;
}

async function fetchEvent() {
  const r = await withRetry(() => api('GET', `/v1/events/${eventId}`), waitNote);
  note(null);
  await setEvent(r.body);
}

/** Once a second on the landing and queue views: re-read the event, react to changes. */
async function refreshEvent() {
  let r;
  try {
    r = await api('GET', `/v1/events/${eventId}`);
  } catch {
    return; // the next tick tries again; the queue feed reports outages
  }
  const prev = await setEvent(r.body);
  const ev = app.event;
  const changed = !prev || prev.state !== ev.state
    || prev.admission.rate_per_minute !== ev.admission.rate_per_minute;
  if (currentView() === 'landing' && changed) showLanding();
  if (currentView() === 'queue') {
    renderQueueNow();
    if (changed) queueFeed.nudge();
  }
}

function renderQueueNow() {
  if (app.status) renderQueue(app.status, app.event, app.maxPos, serverNow(), app.seedOk);
}

function showLanding() {
  const ev = app.event;
  if (ev.state === 'sold_out') return end('sold_out');
  if (ev.state === 'closed') return end('closed');
  renderLanding(ev, serverNow(), app.seedOk);
  showView('landing');
}

function end(kind, action) {
  refreshEvent(); // fresh seat counts on the card
  queueFeed.stop();
  seats.stop();
  checkout.stopTimer();
  app.end = { kind, action };
  renderEnd(kind, action);
  showView('end');
}
const rejoinAction = { label: 'join_again', run: () => rejoin() };

const queueFeed = new LiveFeed({
  sseUrl: `/v1/events/${eventId}/queue/stream`,
  eventName: 'status',
  poll: async () => (await api('GET', `/v1/events/${eventId}/queue`, { token: app.token })).body,
  onData: (st) => onStatus(st),
  nextPollMs: () => app.status?.poll_after_ms ?? 5000,
  onMode: (mode, s) => {
    app.liveMode = [mode, s];
    renderLiveMode(mode, s);
    if (mode !== 'retrying') note(null);
  },
  onWait: waitNote,
  onFail: (e) => (e.status === 401 || e.status === 404 ? end('expired', rejoinAction)
    : alertMsg(t('error_generic', { message: e.message }))),
});

function speak(st) {
  const sentence = liveSentence(st);
  if (sentence === app.spoken || Date.now() - app.spokenAt < 5000) return;
  app.spoken = sentence;
  app.spokenAt = Date.now();
  $('q-live').textContent = sentence;
}

function onStatus(st) {
  if (['seats', 'hold', 'done'].includes(currentView()) && st.state !== 'admitted') return;
  if (st.queue_token) {
    app.token = st.queue_token;
    save({ token: app.token });
  }
  const before = app.status;
  app.status = st;
  // An ETA that appears or disappears means the venue paused or resumed: re-read the
  // event now rather than at the next refresh.
  if (before && st.state === 'waiting' && (before.eta_seconds == null) !== (st.eta_seconds == null)) {
    refreshEvent();
  }
  switch (st.state) {
    case 'prequeue':
    case 'waiting':
      app.maxPos = Math.max(app.maxPos, st.position || 0);
      showView('queue');
      renderQueueNow();
      if (st.state === 'waiting') speak(st);
      queueFeed.start();
      return;
    case 'admitted':
      queueFeed.stop();
      app.pass = st.pass;
      app.passExp = st.pass_expires_at;
      save({ pass: app.pass, passExp: app.passExp });
      // Gate mode: the venue's own shop takes over; the gateway hands the pass over.
      if (app.event && app.event.gate) return location.assign(enterUrl());
      if (!['seats', 'hold', 'done'].includes(currentView())) seats.enter();
      return;
    case 'sold_out':
    case 'closed':
      return end(st.state);
    default:
      return end('expired', rejoinAction);
  }
}

/** Gate mode's hand-off, keeping the `return` this page was opened with. */
function enterUrl() {
  const back = new URLSearchParams(location.search).get('return');
  const url = `/e/${encodeURIComponent(eventId)}/enter`;
  return back ? `${url}?return=${encodeURIComponent(back)}` : url;
}

async function join() {
  const btn = $('join-btn');
  btn.disabled = true;
  alertMsg(null);
  try {
    const r = await withRetry(
      () => api('POST', `/v1/events/${eventId}/queue`, { token: app.token }),
      waitNote,
    );
    note(null);
    onStatus(r.body);
  } catch (e) {
    note(null);
    btn.disabled = false;
    if (e.code === 'sold_out') return end('sold_out');
    if (e.code === 'queue_closed') {
      await fetchEvent();
      if (app.event.state === 'closed') return end('closed');
      showLanding();
      return alertMsg(t('not_open_yet'));
    }
    alertMsg(t('error_generic', { message: e.message }));
  }
}

async function leaveQueue() {
  try {
    await api('DELETE', `/v1/events/${eventId}/queue`, { token: app.token });
  } catch {
    // Already gone; the place is given up either way.
  }
  queueFeed.stop();
  app.token = null;
  app.pass = null;
  app.maxPos = 0;
  save({ token: null, pass: null, holdId: null, order: null });
}

async function rejoin() {
  await leaveQueue();
  showLanding();
  await join();
}

const seats = new SeatsView({
  eventId,
  event: () => app.event,
  pass: () => app.pass,
  passExpires: () => app.passExp,
  expired: () => end('expired', rejoinAction),
  onWait: waitNote,
  savedHold: () => saved().holdId,
  forgetHold: () => save({ holdId: null }),
  showHold: (h) => checkout.show(h),
  // Confirmed by the venue's server (origin checkout): the order is on the order page.
  confirmedElsewhere: (h) => window.location.assign(`/e/${eventId}/orders/${h.id}`),
});

const checkout = new Checkout({
  eventId,
  timeZone: () => app.event.timezone,
  holdTtl: () => app.event.hold_ttl_seconds,
  pass: () => app.pass,
  seatMap: () => seats.map,
  backToSeats: () => seats.back(),
  refreshMap: () => seats.refresh(),
  end: (kind) => end(kind, kind === 'expired' ? rejoinAction : undefined),
  onWait: waitNote,
  save,
  onDone: () => seats.stop(),
  holdShown: (h, fresh) => handOff.shown(h, fresh),
});

const handOff = new HandOff({
  event: () => app.event,
  pass: () => app.pass,
  onWait: waitNote,
  alive: (holdId) => checkout.hold?.id === holdId,
});

// --- clock, language, start -------------------------------------------------------

function tick() {
  const view = currentView();
  const ev = app.event;
  if (!ev) return;
  if (view === 'landing') {
    renderLanding(ev, serverNow(), app.seedOk);
    const next = ev.state === 'scheduled' ? ev.prequeue_opens_at || ev.opens_at : ev.opens_at;
    if (Date.parse(next) <= serverNow() + 500 && ev.state !== 'open') refreshEvent();
  }
  // The event is re-read every second, or every 5 s while the status stream is live
  // (then a pause or resume also shows as a status push, see onStatus).
  const every = view === 'queue' && app.liveMode[0] === 'live' ? 5 : 1;
  app.ticks = (app.ticks || 0) + 1;
  if ((view === 'landing' || view === 'queue') && app.ticks % every === 0) {
    if (document.visibilityState !== 'hidden') refreshEvent();
  }
  if (view === 'queue' && app.status?.state === 'prequeue') renderQueueNow();
  if (view === 'seats') seats.tick();
}

function rerender() {
  if (app.event) renderEvent(app.event);
  const view = currentView();
  if (view === 'landing') showLanding();
  if (view === 'queue') {
    renderQueueNow();
    app.spoken = '';
    app.spokenAt = 0;
    if (app.status?.state === 'waiting') speak(app.status);
  }
  if (view === 'seats' || view === 'hold') seats.rerender();
  if (view === 'hold') checkout.rerender();
  if (view === 'hold') handOff.rerender();
  if (view === 'done' && saved().order) checkout.renderDone(saved().order);
  if (view === 'end' && app.end) renderEnd(app.end.kind, app.end.action);
  renderLiveMode(...app.liveMode);
  tick();
}

async function start() {
  initI18n();
  onLangChange(rerender);
  $('join-btn').addEventListener('click', join);
  $('leave-btn').addEventListener('click', async () => {
    await leaveQueue();
    end('left', rejoinAction);
  });
  $('hold-btn').addEventListener('click', () => checkout.request({ seats: seats.map.selection() }));
  $('best-form').addEventListener('submit', (e) => {
    e.preventDefault();
    checkout.request({ section: $('best-section').value, quantity: Number($('best-quantity').value) });
  });
  if (!isUuid(eventId)) return end('not_found');
  try {
    await fetchEvent();
  } catch (e) {
    return e.status === 404 ? end('not_found') : alertMsg(t('error_generic', { message: e.message }));
  }
  setInterval(tick, 1000);
  const s = saved();
  app.token = s.token || null;
  app.pass = s.pass || null;
  if (s.order) return checkout.renderDone(s.order);
  try {
    const r = await withRetry(() => api('GET', `/v1/events/${eventId}/queue`, { token: app.token }), waitNote);
    onStatus(r.body);
  } catch {
    // No ticket yet (401/404): the fan starts on the landing view.
    note(null);
    app.token = null;
    showLanding();
  }
}

start();
