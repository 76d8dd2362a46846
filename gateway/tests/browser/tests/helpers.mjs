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
      '--disable-component-update', '--disable-sync', '--no-first-run',
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

/** Creates an open event (overrides are shallow-merged into the spec). */
export function createEvent(overrides = {}) {
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
  return admin('POST', '/v1/admin/events', spec, 201);
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
