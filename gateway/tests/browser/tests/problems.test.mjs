// Every problem state in plain words with what to do next: rate limited (429, waits
// Retry-After, retries by itself), service unavailable (503, retries by itself), no such
// event, the venue closes the queue while a fan waits, and a pass that expires.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  BASE_URL, api, apiAdmitted, apiFan, createEvent, joinAndWaitForSeats, launch, newPage, openFanPage,
  patchEvent, snap, text,
} from './helpers.mjs';

let browser;
let expiring; // a fan admitted at the start, whose 30 s pass runs out during the file
before(async () => {
  browser = await launch();
  const ev = await createEvent({ admission: { rate_per_minute: 6000, max_active: 100, pass_ttl_seconds: 30 } });
  expiring = await newPage(browser);
  await openFanPage(expiring.page, ev.id);
  await joinAndWaitForSeats(expiring.page);
});
after(async () => { await browser?.close(); });

const errorBody = (code, message) => JSON.stringify({ error: { code, message } });

test('429 and 503 are explained and retried by themselves', async () => {
  const ev = await createEvent();
  const { page, errors } = await newPage(browser);
  const joins = [];
  await page.route(`**/v1/events/${ev.id}/queue`, (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    joins.push(Date.now());
    if (joins.length > 1) return route.continue();
    return route.fulfill({
      status: 429, contentType: 'application/json', headers: { 'Retry-After': '2' },
      body: errorBody('rate_limited', 'too many requests'),
    });
  });
  let seatCalls = 0;
  await page.route(`**/v1/events/${ev.id}/seats/state`, (route) => {
    seatCalls += 1;
    if (seatCalls > 1) return route.continue();
    return route.fulfill({
      status: 503, contentType: 'application/json', headers: { 'Retry-After': '2' },
      body: errorBody('unavailable', 'service unavailable'),
    });
  });
  await openFanPage(page, ev.id);
  await page.click('#join-btn');
  await page.waitForFunction(() => /Too many requests/.test(document.getElementById('note').textContent));
  assert.equal(await text(page, '#note'), 'Too many requests right now. Trying again by itself in 2 s.');
  await snap(page, '24-rate-limited');
  await page.waitForFunction(() => /busy or briefly unavailable/.test(document.getElementById('note').textContent));
  assert.match(await text(page, '#note'), /Trying again by itself in 2 s; you keep your place/);
  await snap(page, '25-service-unavailable');
  await page.waitForSelector('#view-seats', { state: 'visible' });
  assert.equal(await page.locator('#note').isVisible(), false);
  assert.equal(joins.length, 2);
  assert.ok(joins[1] - joins[0] >= 2000, `retried after ${joins[1] - joins[0]} ms, Retry-After was 2 s`);
  assert.equal(seatCalls >= 2, true);
  assert.deepEqual(errors, []);
});

test('without SSE the page polls: the queue and the seat map still move', async () => {
  const ev = await createEvent({ admission: { rate_per_minute: 1, max_active: 100, pass_ttl_seconds: 600 } });
  await apiFan(ev.id);
  await apiFan(ev.id);
  const { page, errors } = await newPage(browser);
  const refused = [];
  await page.route((url) => url.pathname.endsWith('/stream'), (route) => {
    refused.push(route.request().url());
    return route.fulfill({ status: 503, contentType: 'application/json', body: errorBody('unavailable', 'no streams') });
  });
  await openFanPage(page, ev.id);
  await page.click('#join-btn');
  await page.waitForSelector('#queue-waiting', { state: 'visible' });
  await page.waitForFunction(() => /Updating every \d+ s/.test(document.getElementById('live-mode').textContent));
  await snap(page, '29-polling-fallback');
  await patchEvent(ev.id, { admission: { rate_per_minute: 6000, max_active: 100, pass_ttl_seconds: 600 } });
  await page.waitForSelector('#view-seats', { state: 'visible', timeout: 10000 });
  await page.waitForSelector('button.seat');
  const other = await apiFan(ev.id);
  const pass = await apiAdmitted(ev.id, other);
  const held = await api('POST', `/v1/events/${ev.id}/holds`, {
    token: pass, body: { seats: ['A-2-2'] }, headers: { 'Idempotency-Key': 'poll-other' },
  });
  assert.equal(held.status, 201, JSON.stringify(held.body));
  await page.waitForFunction(() => document.querySelector('button[data-seat="A-2-2"]').disabled, null, { timeout: 5000 });
  const paths = refused.map((u) => new URL(u).pathname);
  assert.ok(paths.some((u) => u.endsWith('/queue/stream')), refused.join());
  assert.ok(paths.some((u) => u.endsWith('/seats/stream')), refused.join());
  assert.deepEqual(errors, []);
});

test('an unknown event, leaving, and a queue closed while waiting are explained', async () => {
  const { page, errors } = await newPage(browser);
  await page.goto(`${BASE_URL}/e/${randomUUID()}`);
  await page.waitForSelector('#view-end', { state: 'visible' });
  assert.equal(await text(page, '#end-title'), 'We cannot find this event');
  await snap(page, '26-unknown-event');

  const ev = await createEvent({ admission: { rate_per_minute: 1, max_active: 100, pass_ttl_seconds: 600 } });
  await apiFan(ev.id);
  await apiFan(ev.id);
  await openFanPage(page, ev.id);
  await page.click('#join-btn');
  await page.waitForSelector('#queue-waiting', { state: 'visible' });

  // A second fan leaves the queue: told so, offered to join again, place given up.
  const leaver = await newPage(browser);
  await openFanPage(leaver.page, ev.id);
  await leaver.page.click('#join-btn');
  await leaver.page.waitForSelector('#queue-waiting', { state: 'visible' });
  await leaver.page.click('#leave-btn');
  await leaver.page.waitForSelector('#view-end', { state: 'visible' });
  assert.equal(await text(leaver.page, '#end-title'), 'You left the queue');
  assert.equal(await text(leaver.page, '#end-action'), 'Join the queue again');
  await snap(leaver.page, '30-left-the-queue');
  assert.deepEqual(leaver.errors, []);

  await patchEvent(ev.id, { state: 'closed' });
  await page.waitForSelector('#view-end', { state: 'visible', timeout: 5000 });
  assert.equal(await text(page, '#end-title'), 'The queue is closed');
  assert.match(await text(page, '#end-text'), /nobody else will be let in/);
  await snap(page, '27-closed-while-waiting');
  assert.deepEqual(errors, []);
});

test('an expired pass is explained, and the fan can join again', async () => {
  const { page, errors } = expiring;
  await page.waitForSelector('#view-end', { state: 'visible', timeout: 40000 });
  assert.equal(await text(page, '#end-title'), 'Your time ran out');
  assert.match(await text(page, '#end-next'), /join the queue again/);
  assert.equal(await text(page, '#end-action'), 'Join the queue again');
  await snap(page, '28-pass-expired');
  await page.click('#end-action');
  await page.waitForSelector('#view-seats', { state: 'visible', timeout: 15000 });
  assert.deepEqual(errors, []);
});
