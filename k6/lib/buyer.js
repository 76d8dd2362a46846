// One buyer's journey, shared by the soak, stress and admission scenarios: join the
// queue, wait until admitted (polling as `poll_after_ms` says), then shop (seat map,
// hold with retries after 409, confirm / release / walk away). The same steps as
// k6/spike.js, with the shares and waits passed in, so each scenario sets its own mix.
import { sleep } from 'k6';
import { api, errorCode, judge, retryAfterS, settle } from './api.js';
import { config } from './config.js';
import * as m from './metrics.js';
import { pickTogether, randInt } from './seats.js';

/** A random v4 UUID (Idempotency-Key). */
export function uuid() {
  const h = '0123456789abcdef';
  let s = '';
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) s += '-';
    else if (i === 14) s += '4';
    else if (i === 19) s += h[8 + Math.floor(Math.random() * 4)];
    else s += h[Math.floor(Math.random() * 16)];
  }
  return s;
}

function think(s) {
  if (s > 0) sleep(s * (0.5 + Math.random()));
}

/** Joins the queue; the queue token, or null when the buyer stops (sold out, error). */
export function joinQueue() {
  for (let attempt = 0; attempt < 5; attempt++) {
    const a = api.join();
    if ((a.status === 201 || a.status === 200) && a.body && a.body.queue_token) {
      judge(a, true, 'join');
      m.joined.add(1);
      return a.body.queue_token;
    }
    if (a.status === 409 && ['sold_out', 'queue_closed'].includes(errorCode(a))) {
      judge(a, true, 'join');
      m.soldOutSeen.add(1);
      return null;
    }
    if (a.status === 429 || a.status === 503) {
      judge(a, a.status === 429, 'join');
      sleep(retryAfterS(a));
      continue;
    }
    judge(a, false, 'join');
    return null;
  }
  return null;
}

/**
 * Polls the status until admitted; `{pass, admittedAt}` or null (gave up after
 * `maxWaitS`, sold out, closed, or an unexpected answer). `t0` is the run's start (ms)
 * for the admit_at_ms trend.
 */
export function waitUntilAdmitted(queueToken, t0, maxWaitS) {
  const joinedAt = Date.now();
  const until = joinedAt + maxWaitS * 1000;
  while (Date.now() < until) {
    const a = api.status(queueToken);
    if (a.status === 429 || a.status === 503) {
      judge(a, a.status === 429, 'status');
      sleep(retryAfterS(a));
      continue;
    }
    if (a.status !== 200 || !a.body) {
      judge(a, false, 'status');
      return null;
    }
    const state = a.body.state;
    if (state === 'admitted' && a.body.pass) {
      judge(a, true, 'status');
      const now = Date.now();
      m.admitted.add(1);
      m.admitAt.add(now - t0);
      m.queueWait.add(now - joinedAt);
      return { pass: a.body.pass, admittedAt: now };
    }
    if (state === 'sold_out' || state === 'closed') {
      judge(a, true, 'status');
      m.soldOutSeen.add(1);
      return null;
    }
    if (state !== 'waiting' && state !== 'prequeue') {
      judge(a, false, 'status');
      return null;
    }
    judge(a, true, 'status');
    const pollMs = Math.min(config.maxPollMs, Math.max(config.minPollMs, Number(a.body.poll_after_ms) || 1000));
    sleep(pollMs / 1000);
  }
  m.gaveUpWaiting.add(1);
  return null;
}

/**
 * The available seats of a seat-map response as `{id, section, row, number}`, or null
 * if it is not a seat map. Only the available ids are taken out of the JSON (a GJSON
 * selector, evaluated in Go): cheap even for a map of many thousand seats.
 */
export function availableOf(res) {
  let ids;
  try {
    ids = res.json('sections.#.seats.#(status=="available")#.id');
  } catch (_) {
    return null;
  }
  if (!Array.isArray(ids)) return null;
  const out = [];
  for (const section of ids) {
    for (const id of section || []) {
      const parts = String(id).split('-'); // `A-1-2`: section, row, number
      if (parts.length < 3) continue;
      const number = Number(parts.pop());
      const row = Number(parts.pop());
      out.push({ id, section: parts.join('-'), row, number });
    }
  }
  return out;
}

/**
 * The hold body: `{"seats": [...]}` (kind `popular`: in the first `config.popularRows`
 * rows of `config.popularSection` when possible; `any`: anywhere, together) or
 * `{"section", "quantity"}` (kind `best`), or null when nothing is left.
 */
function selection(kind, free, quantity) {
  if (free.length === 0) return null;
  const q = Math.min(quantity, free.length);
  if (kind === 'popular') {
    const block = free.filter((s) => s.section === config.popularSection && s.row <= config.popularRows);
    if (block.length > 0) return { seats: pickTogether(block, Math.min(q, block.length)) };
  }
  if (kind === 'best') {
    const counts = {};
    for (const s of free) counts[s.section] = (counts[s.section] || 0) + 1;
    const sections = Object.keys(counts).filter((name) => counts[name] >= q);
    if (sections.length > 0) return { section: sections[Math.floor(Math.random() * sections.length)], quantity: q };
  }
  return { seats: pickTogether(free, q) };
}

/**
 * Admitted: seat map, a hold of 1–`maxSeats` seats (retried after 409 with other
 * seats), then confirm (`mix.confirmShare`), release (`mix.releaseShare` of the rest) or
 * walk away (the hold expires). `mix`: {confirmShare, releaseShare, popularShare,
 * thinkS, holdRetries, maxSeats, confirmFor?}. `confirmFor(pass, hold)`, when given,
 * returns the `confirm(idempotencyKey)` used instead of the fan's own confirm.
 */
export function shop(pass, mix) {
  const r = Math.random();
  let kind = r < mix.popularShare ? 'popular' : r < mix.popularShare + (1 - mix.popularShare) / 2 ? 'any' : 'best';
  const quantity = randInt(1, Math.max(1, Math.min(4, mix.maxSeats || 4)));
  const taken = new Set();
  let hold = null;
  const map = api.seats(pass);
  const available = map.status === 200 ? availableOf(map.res) : null;
  if (!judge(map, available !== null, 'seats')) return;
  for (let attempt = 0; attempt <= mix.holdRetries && !hold; attempt++) {
    const chosen = selection(kind, available.filter((s) => !taken.has(s.id)), quantity);
    if (!chosen) break;
    if (attempt === 0) think(mix.thinkS);
    let a = api.hold(pass, chosen, uuid());
    while (a.status === 429) {
      judge(a, true, 'hold');
      sleep(retryAfterS(a));
      a = api.hold(pass, chosen, uuid());
    }
    a = settle(a, pass);
    const code = errorCode(a);
    if (a.status === 201 && a.body && a.body.id) {
      judge(a, true, 'hold');
      m.holdsOk.add(1);
      hold = a.body;
    } else if (a.status === 409 && code === 'seats_unavailable') {
      judge(a, true, 'hold');
      m.holdsConflict.add(1);
      const details = (a.body && a.body.error && a.body.error.details) || {};
      for (const id of details.unavailable || chosen.seats || []) taken.add(id);
      if (chosen.section) kind = 'any';
    } else if (a.status === 409 && (code === 'sold_out' || code === 'queue_closed')) {
      judge(a, true, 'hold');
      m.soldOutSeen.add(1);
      return;
    } else {
      judge(a, false, 'hold');
      return;
    }
  }
  if (!hold) {
    m.gaveUpSeats.add(1);
    return;
  }
  think(mix.thinkS);
  if (Math.random() < mix.confirmShare) {
    const key = uuid();
    // `mix.confirmFor` says how the hold gets paid: the fan's own confirm by default, the
    // venue's server through the origin API in k6/checkout.js.
    const confirm = mix.confirmFor
      ? mix.confirmFor(pass, hold)
      : (k) => api.confirm(pass, hold.id, `k6-${hold.id}`, k);
    let a = confirm(key);
    while (a.status === 429) {
      judge(a, true, 'confirm');
      sleep(retryAfterS(a));
      a = confirm(key);
    }
    a = settle(a, pass);
    // 410 hold_expired is the buyer's own slowness (THINK_S near the hold TTL), not a bug.
    const expired = a.status === 410 && errorCode(a) === 'hold_expired';
    if (judge(a, (a.status === 200 && a.body && a.body.hold_id === hold.id) || expired, 'confirm') && !expired) {
      m.confirmsOk.add(1);
      if (Math.random() < (mix.repeatConfirmShare || 0)) {
        // The same Idempotency-Key and body again: the same order, not a second one.
        const again = settle(confirm(key), pass);
        judge(again, again.status === 200 && again.body && again.body.id === a.body.id, 'confirm_repeat');
      }
    }
  } else if (Math.random() < mix.releaseShare) {
    const a = settle(api.release(pass, hold.id), pass);
    if (judge(a, a.status === 200 && a.body && a.body.state === 'released', 'release')) m.releasesOk.add(1);
  }
}
