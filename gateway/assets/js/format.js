// format.js: dates in a given IANA time zone, durations, money and small DOM helpers.

import { currentLang, t } from './i18n.js';

/** The viewer's IANA time zone (e.g. `Europe/Berlin`). */
export function viewerTimeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** `iso` as a date and time in `timeZone` (the viewer's when omitted), with its zone. */
export function dateTime(iso, timeZone) {
  const opts = {
    weekday: 'short',
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZoneName: 'short',
  };
  if (timeZone) opts.timeZone = timeZone;
  try {
    return new Intl.DateTimeFormat(currentLang(), opts).format(new Date(iso));
  } catch {
    // An unknown zone name: fall back to the viewer's.
    delete opts.timeZone;
    return new Intl.DateTimeFormat(currentLang(), opts).format(new Date(iso));
  }
}

/** A countdown: `1d 02:03:04`, `02:03:04` or `03:04` (negative counts as zero). */
export function clock(seconds) {
  let s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (x) => String(x).padStart(2, '0');
  const hms = h > 0 || d > 0 ? `${pad(h)}:${pad(m)}:${pad(sec)}` : `${pad(m)}:${pad(sec)}`;
  return d > 0 ? `${t('days_short', { n: d })} ${hms}` : hms;
}

/** A rough duration in words: "45 seconds", "3 minutes", "2 hours 5 minutes". */
export function roughDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t('dur_seconds', { n: s });
  const m = Math.round(s / 60);
  if (m < 60) return t('dur_minutes', { n: m });
  return t('dur_hours', { h: Math.floor(m / 60), m: m % 60 });
}

/** An ETA range `[low, high]` in seconds as words. */
export function etaRange(range, seconds) {
  if (!range && seconds == null) return t('eta_unknown');
  const [lo, hi] = range || [seconds, seconds];
  if (hi < 60) return t('eta_under_minute');
  const a = roughDuration(lo);
  const b = roughDuration(hi);
  return a === b ? t('eta_about', { d: a }) : t('eta_between', { a, b });
}

/**
 * The currency prices are shown in: its ISO 4217 code and the digits of its minor unit,
 * as the event gives them (`currency`, `currency_minor_units`). USD until an event is read.
 */
let currency = { code: 'USD', minorUnits: 2 };

/** Sets the currency of every later `money()`: call with the event as read from the API. */
export function setCurrency(code, minorUnits) {
  if (typeof code !== 'string' || !/^[A-Z]{3}$/.test(code)) return;
  currency = { code, minorUnits: Number.isInteger(minorUnits) && minorUnits >= 0 ? minorUnits : 2 };
}

/**
 * An amount counted in the currency's minor unit (`price_cents`, `total_cents`) as money in
 * the page's language, with the currency's own digits: `$12.50`, `₩150,000`.
 */
export function money(minor, cur = currency) {
  const digits = cur.minorUnits;
  return new Intl.NumberFormat(currentLang(), {
    style: 'currency',
    currency: cur.code,
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(minor / 10 ** digits);
}

/** Digits of `code`'s minor unit as the browser knows it (2 when it does not). */
export function currencyDigits(code) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions()
      .maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** A whole number in the page's language. */
export function count(n) {
  return new Intl.NumberFormat(currentLang()).format(n);
}

/** `A-3-12` → {section: 'A', row: 3, number: 12}. */
export function parseSeat(id) {
  const m = /^(.+)-(\d+)-(\d+)$/.exec(id);
  return m ? { section: m[1], row: Number(m[2]), number: Number(m[3]) } : { section: id, row: 0, number: 0 };
}

/** A seat id in words: "Section A, row 3, seat 12". */
export function seatWords(id) {
  return t('seat_words', parseSeat(id));
}

/** Several seat ids in words, grouped by row: "Section A, row 1: seats 4, 5". */
export function seatsWords(ids) {
  const groups = new Map();
  for (const id of ids) {
    const p = parseSeat(id);
    const key = `${p.section}\u0000${p.row}`;
    if (!groups.has(key)) groups.set(key, { ...p, numbers: [] });
    groups.get(key).numbers.push(p.number);
  }
  return [...groups.values()]
    .map((g) => (g.numbers.length === 1
      ? t('seat_words', { ...g, number: g.numbers[0] })
      : t('seats_words', { ...g, numbers: g.numbers.join(', ') })))
    .join('; ');
}

/** `document.getElementById`. */
export const $ = (id) => document.getElementById(id);

/** Shows `el` when `on`, hides it otherwise. */
export function show(el, on = true) {
  if (el) el.hidden = !on;
}

/** A new element with a class and text. */
export function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}
