// helpers.mjs: what every browser test shares: the stack's URL and admin key (from
// run.sh), Debian's chromium through playwright-core, phone-sized fan pages,
// screenshots, the public API for setting the scene, and deadline-based waits.

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';

export const BASE_URL = process.env.BASE_URL || 'http://127.0.0.1:8080';
export const ADMIN_KEY = process.env.ADMIN_KEY || '';
const SHOTS = process.env.SCREENSHOT_DIR || join(process.cwd(), 'screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** The phone the fan pages are tested on (CSS pixels). */
export const PHONE = { width: 390, height: 844 };

/** Starts headless chromium. */
export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
    ],
  });
}

/**
 * A new browser context (own cookies and storage: one fan) and page. Page errors and
 * console errors are collected in `errors` (tests assert there are none).
 * @param {import('playwright-core').Browser} browser
 */
export async function newPage(browser, { locale = 'en-US', viewport = PHONE, timezoneId = 'Europe/Berlin' } = {}) {
  const context = await browser.newContext({ locale, viewport, timezoneId, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // Failed fetches (409, 429, …) are logged by chromium as console errors: expected.
    if (m.type() === 'error' && !/Failed to load resource|EventSource/.test(m.text())) {
      errors.push(`console: ${m.text()}`);
    }
  });
  return { context, page, errors };
}

/** Saves a full-page screenshot as artifacts/screenshots/NAME.png. */
export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/**
 * A screenshot of a state (artifacts/screenshots/NAME.png) that must also pass the
 * contrast and phone-width checks of `a11yProblems`.
 */
export async function snap(page, name) {
  await shot(page, name);
  assert.deepEqual(await a11yProblems(page), [], `${name}: contrast or width problems`);
}

/** One API call: {status, body, headers}. */
export async function api(method, path, { token, body, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const res = await fetch(`${BASE_URL}${path}`, {
    method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = text; }
  return { status: res.status, body: json, headers: res.headers };
}

/** An admin call that must succeed with `expect`. */
export async function admin(method, path, body, expect = 200) {
  const r = await api(method, path, { token: ADMIN_KEY, body });
  assert.equal(r.status, expect, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** RFC 3339 (UTC) of now + `seconds`. */
export const at = (seconds) => new Date(Date.now() + seconds * 1000).toISOString();

/**
 * Creates an open event (overrides are shallow-merged into the spec). A `202` (the worker
 * took longer than the API waits, e.g. for a large plan on a busy machine) is followed
 * through its `status_url` until the event exists.
 */
export async function createEvent(overrides = {}) {
  const spec = {
    name: 'Winter Concert, Day 1',
    venue: 'Olympic Hall',
    timezone: 'Asia/Seoul',
    opens_at: at(-1),
    admission: { rate_per_minute: 6000, max_active: 100, pass_ttl_seconds: 600 },
    hold_ttl_seconds: 120,
    max_seats_per_hold: 4,
    seating: { sections: [{ name: 'A', rows: 3, seats_per_row: 8, price_cents: 15000 }] },
    ...overrides,
  };
  const r = await api('POST', '/v1/admin/events', { token: ADMIN_KEY, body: spec });
  if (r.status === 202) {
    return until('the event to be created', async () => {
      const s = await api('GET', r.body.status_url, { token: ADMIN_KEY });
      if (s.status === 200 && s.body?.state === 'done') return s.body.body;
      return s.status === 200 && s.body?.id ? s.body : null;
    }, 60000, 250);
  }
  assert.equal(r.status, 201, `POST /v1/admin/events: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** PATCHes an event (admin). */
export const patchEvent = (id, body) => admin('PATCH', `/v1/admin/events/${id}`, body);

/** Polls `fn` until it returns a truthy value, failing after `timeoutMs`. */
export async function until(what, fn, timeoutMs = 15000, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A fan joined through the API: {token, status}. */
export async function apiFan(eventId) {
  const r = await api('POST', `/v1/events/${eventId}/queue`);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { token: r.body.queue_token, status: r.body };
}

/** Polls an API fan's status until admitted; returns the pass. */
export async function apiAdmitted(eventId, fan, timeoutMs = 15000) {
  return until('admission', async () => {
    const r = await api('GET', `/v1/events/${eventId}/queue`, { token: fan.token });
    return r.body && r.body.state === 'admitted' ? r.body.pass : null;
  }, timeoutMs, 250);
}

/** Opens the fan page of `eventId`, waiting until it has left the loading view. */
export async function openFanPage(page, eventId) {
  await page.goto(`${BASE_URL}/e/${eventId}`);
  await page.waitForSelector('#view-loading', { state: 'hidden' });
}

/** Clicks "Join" and waits for the seat map (a fast queue). */
export async function joinAndWaitForSeats(page, timeout = 15000) {
  await page.click('#join-btn');
  await page.waitForSelector('#view-seats', { state: 'visible', timeout });
  await page.waitForSelector('button.seat');
}

/** The locator of seat `id`'s button. */
export const seat = (page, id) => page.locator(`button[data-seat="${id}"]`);

/** Visible text of `selector`. */
export const text = (page, selector) => page.locator(selector).innerText();

/**
 * Checks, in the page, every visible text against WCAG AA: a contrast ratio of at least
 * 4.5:1 between its colour and the first opaque background behind it (3:1 for large
 * text: ≥ 24 px, or ≥ 18.66 px bold). Disabled controls are exempt (WCAG 1.4.3).
 * Returns the offenders as strings (empty when all pass); also fails if the page is
 * wider than the viewport (no sideways scrolling on a phone).
 */
export async function a11yProblems(page) {
  return page.evaluate(() => {
    const parse = (c) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[,\s/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const lum = ({ r, g, b }) => {
      const ch = (v) => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b);
    };
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const s = getComputedStyle(e);
        if (s.backgroundImage && s.backgroundImage !== 'none') return null; // patterns: skip
        const c = parse(s.backgroundColor);
        if (c && c.a >= 0.99) return c;
      }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    const problems = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || seen.has(el) || !n.textContent.trim()) continue;
      seen.add(el);
      if (el.closest('[hidden], [disabled], svg, noscript, .skip') || !el.getClientRects().length) continue;
      const s = getComputedStyle(el);
      if (s.visibility === 'hidden' || Number(s.opacity) === 0) continue;
      const fg = parse(s.color);
      const bg = background(el);
      if (!fg || !bg) continue;
      const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
      const ratio = (hi + 0.05) / (lo + 0.05);
      const size = parseFloat(s.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) {
        problems.push(`${ratio.toFixed(2)}:1 "${n.textContent.trim().slice(0, 40)}" (${s.color} on rgb(${bg.r}, ${bg.g}, ${bg.b}))`);
      }
    }
    const width = document.documentElement.scrollWidth;
    if (width > window.innerWidth) problems.push(`page is ${width}px wide in a ${window.innerWidth}px viewport`);
    return problems;
  });
}
