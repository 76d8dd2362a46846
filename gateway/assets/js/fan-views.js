// fan-views.js: rendering of the fan page's views from state (no API calls here).
//
// Views (one visible at a time): loading, landing (before joining), queue (pre-queue
// and waiting), seats, hold, done, end (sold out, closed, expired, left, not found).
// Two message areas: #alert (role=alert: something the fan must read) and #note
// (role=status: retries, waits).

import { $, clock, count, dateTime, el, etaRange, show, viewerTimeZone } from './format.js';
import { t, tn } from './i18n.js';

const VIEWS = ['loading', 'landing', 'queue', 'seats', 'hold', 'done', 'end'];
let current = 'loading';

/** The visible view's name. */
export const currentView = () => current;

/** Shows view `name` and moves focus to its heading when the view changes. */
export function showView(name) {
  const changed = name !== current;
  current = name;
  document.body.dataset.view = name;
  for (const v of VIEWS) show($(`view-${v}`), v === name);
  if (changed) {
    const h = $(`view-${name}`).querySelector('h2');
    if (h) {
      h.tabIndex = -1;
      h.focus({ preventScroll: false });
    }
  }
}

/** Shows `text` in the alert area (null clears it). */
export function alertMsg(text) {
  const a = $('alert');
  a.textContent = text || '';
  show(a, Boolean(text));
}

/** Shows `text` in the status area (null clears it). */
export function note(text) {
  const n = $('note');
  n.textContent = text || '';
  show(n, Boolean(text));
}

/** The event card: name, venue, opening times in the event's zone and the viewer's. */
export function renderEvent(ev) {
  show($('event-card'), true);
  $('event-name').textContent = ev.name;
  document.title = `${ev.name} · Anteroom`;
  $('event-venue').textContent = ev.venue;
  const sameZone = viewerTimeZone() === ev.timezone;
  const both = (iso, eventEl, viewerEl) => {
    eventEl.textContent = dateTime(iso, ev.timezone);
    viewerEl.textContent = sameZone ? '' : t('your_time', { time: dateTime(iso) });
  };
  both(ev.opens_at, $('opens-event-tz'), $('opens-viewer-tz'));
  show($('prequeue-times'), Boolean(ev.prequeue_opens_at));
  if (ev.prequeue_opens_at) both(ev.prequeue_opens_at, $('prequeue-event-tz'), $('prequeue-viewer-tz'));
  $('event-seats').textContent = t('seats_left', {
    available: count(ev.seats.available),
    total: count(ev.seats.total),
  });
}

/**
 * The lottery box: before open, what the lottery is and the commitment; after open,
 * the seed, the browser's check of the commitment (`seedOk`: true/false/null) and the
 * command that recomputes the order.
 */
export function renderLottery(box, ev, seedOk) {
  box.replaceChildren();
  if (!ev.shuffle_commitment) {
    show(box, false);
    return;
  }
  show(box, true);
  // After open the draw is history: folded away, one click to check it.
  let body = box;
  if (ev.shuffle_seed) {
    body = el('details');
    body.append(el('summary', '', t('lottery_done_title')));
    box.append(body);
  } else {
    box.append(el('h3', '', t('lottery_title')));
  }
  body.append(el('p', '', t('lottery_text', { opens: dateTime(ev.opens_at, ev.timezone) })));
  const dl = el('dl', 'hashes');
  const pair = (label, value) => {
    const wrap = el('div');
    wrap.append(el('dt', '', label), el('dd', 'mono', value));
    dl.append(wrap);
  };
  pair(t('commitment'), ev.shuffle_commitment);
  if (ev.shuffle_seed) pair(t('seed'), ev.shuffle_seed);
  body.append(dl);
  if (!ev.shuffle_seed) {
    body.append(el('p', 'muted small', t('commitment_text')));
    return;
  }
  if (seedOk !== null && seedOk !== undefined) {
    body.append(el('p', seedOk ? 'ok' : 'bad', t(seedOk ? 'seed_matches' : 'seed_mismatch')));
  }
  const record = el('a', '', t('verify_record'));
  record.href = `/v1/events/${ev.id}/prequeue`;
  record.download = 'prequeue.json';
  const step = el('p', 'small');
  step.append(record);
  body.append(step, el('p', 'small', t('verify_how')));
  body.append(
    el(
      'pre',
      'mono small',
      `anteroom-gateway verify-shuffle --seed ${ev.shuffle_seed} \\\n  --commitment ${ev.shuffle_commitment} --tickets prequeue.json`,
    ),
  );
}

/** Seconds from `nowMs` until `iso`. */
const secondsUntil = (iso, nowMs) => (Date.parse(iso) - nowMs) / 1000;

/** The landing view for an event in state `ev.state` (scheduled, prequeue, open, paused). */
export function renderLanding(ev, nowMs, seedOk) {
  const opensIn = secondsUntil(ev.opens_at, nowMs);
  const pqIn = ev.prequeue_opens_at ? secondsUntil(ev.prequeue_opens_at, nowMs) : null;
  let title;
  let text;
  let label = null;
  let target = null;
  let canJoin = true;
  if (ev.state === 'scheduled') {
    canJoin = false;
    if (pqIn !== null && pqIn > 0) {
      [title, text, label, target] = ['landing_soon_pq', 'landing_soon_pq_text', 'prequeue_in', pqIn];
    } else {
      [title, text, label, target] = ['landing_soon', 'landing_soon_text', 'sale_in', opensIn];
    }
  } else if (ev.state === 'prequeue') {
    [title, text, label, target] = ['landing_prequeue', 'landing_prequeue_text', 'sale_in', opensIn];
  } else if (ev.state === 'paused') {
    canJoin = opensIn <= 0;
    [title, text] = ['landing_paused', canJoin ? 'landing_paused_text' : 'landing_paused_early'];
  } else {
    [title, text] = ['landing_open', 'landing_open_text'];
  }
  $('landing-title').textContent = t(title);
  $('landing-text').textContent = t(text);
  show($('landing-countdown'), label !== null);
  if (label !== null) {
    $('landing-countdown-label').textContent = t(label);
    $('landing-countdown-value').textContent = clock(target);
  }
  $('join-btn').disabled = !canJoin;
  renderLottery($('landing-lottery'), ev, seedOk);
}

/**
 * The queue view from a Status (`prequeue` or `waiting`), the event, and the worst
 * position seen (the progress bar's start).
 */
export function renderQueue(st, ev, maxPosition, nowMs, seedOk) {
  const pre = st.state === 'prequeue';
  $('queue-title').textContent = t(pre ? 'queue_title_pre' : 'queue_title');
  show($('queue-prequeue'), pre);
  show($('queue-waiting'), !pre);
  show($('paused-banner'), ev.state === 'paused');
  if (pre) {
    $('draw-countdown').textContent = clock(secondsUntil(ev.opens_at, nowMs));
    renderLottery($('queue-lottery'), ev, seedOk);
    return;
  }
  const known = st.position !== null && st.position !== undefined;
  $('q-position').textContent = known ? count(st.position) : '…';
  $('q-ahead').textContent = known ? count(st.ahead) : '…';
  $('q-eta').textContent =
    ev.state === 'paused' ? t('eta_paused') : etaRange(st.eta_range_seconds, st.eta_seconds);
  const total = Math.max(maxPosition, st.position || 0, 1);
  const pct = known ? (total <= 1 ? 100 : ((total - st.position) / (total - 1)) * 100) : 0;
  const bar = $('q-progress');
  bar.setAttribute('aria-valuenow', String(Math.round(pct)));
  bar.setAttribute('aria-valuetext', known ? t('progress_text', { pos: count(st.position), total: count(total) }) : '');
  bar.setAttribute('aria-label', t('progress_label'));
  $('q-progress-fill').style.width = `${pct.toFixed(1)}%`;
  const box = $('verify-box');
  if (ev.shuffle_seed) renderLottery(box, ev, seedOk);
  else show(box, false);
}

/** The sentence read out by screen readers when the position changes. */
export function liveSentence(st) {
  if (st.position === null || st.position === undefined) return t('live_unknown');
  return `${t('live_position', { pos: count(st.position) })} ${tn('live_ahead', st.ahead, { n: count(st.ahead) })}`;
}

/** How the page gets its updates: `live`, `polling` (every `seconds`) or `retrying`. */
export function renderLiveMode(mode, seconds) {
  const text = {
    live: t('mode_live'),
    polling: t('mode_polling', { s: Math.max(1, Math.round(seconds || 5)) }),
    retrying: t('mode_retrying'),
  }[mode];
  $('live-mode').textContent = text || '';
}

const END_TEXT = {
  not_found: ['end_not_found', 'end_not_found_text', 'end_not_found_next'],
  sold_out: ['end_sold_out', 'end_sold_out_text', 'end_sold_out_next'],
  closed: ['end_closed', 'end_closed_text', 'end_closed_next'],
  expired: ['end_expired', 'end_expired_text', 'end_expired_next'],
  left: ['end_left', 'end_left_text', 'end_left_next'],
  pass_used: ['end_pass_used', 'end_pass_used_text', 'end_pass_used_next'],
};

/** The end view `kind` (see END_TEXT), with an optional action button. */
export function renderEnd(kind, action) {
  const [title, text, next] = END_TEXT[kind] || END_TEXT.not_found;
  $('end-title').textContent = t(title);
  $('end-text').textContent = t(text);
  $('end-next').textContent = t(next);
  const btn = $('end-action');
  show(btn, Boolean(action));
  if (action) {
    btn.textContent = t(action.label);
    btn.onclick = action.run;
  }
  document.body.dataset.end = kind;
}
