// In the venue console the admin creates an event, pauses it (the
// waiting fan's page says so within about a second), resumes, and raises the rate (the
// waiting fan is admitted at once instead of after minutes).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_KEY, BASE_URL, admin, apiFan, launch, newPage, openFanPage, snap, text, until,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** The wall-clock time in Seoul (UTC+9, no DST) `seconds` from now, for datetime-local. */
const seoulWallTime = (seconds) => new Date(Date.now() + seconds * 1000 + 9 * 3600 * 1000)
  .toISOString().slice(0, 16);

test('the console creates an event; rate and pause reach the waiting fan', async () => {
  const { page: con, errors: conErrors } = await newPage(browser, { viewport: { width: 1280, height: 900 } });
  await con.goto(`${BASE_URL}/admin`);
  await con.fill('#admin-key', 'not-the-key');
  await con.click('#key-form button[type=submit]');
  await con.waitForSelector('#key-error', { state: 'visible' });
  assert.match(await text(con, '#key-error'), /not accepted/);
  await snap(con, '12-console-key-rejected');
  await con.fill('#admin-key', ADMIN_KEY);
  await con.click('#key-form button[type=submit]');
  await con.waitForSelector('#console', { state: 'visible' });

  // Create the event with the form: 1 fan per minute, opened a minute ago.
  await con.click('#new-event-btn');
  await con.fill('#f-name', 'Console Test Night');
  await con.fill('#f-venue', 'Blue Square');
  await con.fill('#f-timezone', 'Asia/Seoul');
  await con.fill('#f-opens_at', seoulWallTime(-60));
  await con.fill('#f-rate', '1');
  await con.fill('#f-s0-rows', '4');
  await con.fill('#f-s0-seats', '12');
  // Won have no minor unit: 150000 typed is 150000 counted.
  await con.fill('#f-currency', 'KRW');
  await con.fill('#f-s0-price', '150000');
  await snap(con, '13-console-create-form');
  await con.click('#create-form button[type=submit]');
  await con.waitForSelector('#event-panel', { state: 'visible' });
  await con.waitForFunction(() => /event=/.test(location.hash));
  const eventId = /event=([0-9a-f-]{36})/.exec(await con.evaluate(() => location.hash))[1];
  assert.equal(await text(con, '#ev-title'), 'Console Test Night');
  const created = await admin('GET', `/v1/admin/events/${eventId}`);
  assert.equal(created.currency, 'KRW');
  assert.equal(created.currency_minor_units, 0);
  assert.equal(created.seating.sections[0].price_cents, 150000);

  // Two fans ahead (through the API), then the browser fan.
  await apiFan(eventId);
  await apiFan(eventId);
  const { page: fan, errors: fanErrors } = await newPage(browser);
  await openFanPage(fan, eventId);
  await fan.click('#join-btn');
  await fan.waitForSelector('#queue-waiting', { state: 'visible' });
  const position = Number(await text(fan, '#q-position'));
  assert.ok(position >= 2, `position ${position}`);
  const eta = await text(fan, '#q-eta');
  assert.doesNotMatch(eta, /Under a minute|Not known/);
  assert.equal(await fan.locator('#q-live').getAttribute('aria-live'), 'polite');
  await until('console shows the waiting fans', async () =>
    Number(await con.locator('[data-stat=waiting] strong').innerText().catch(() => '0')) >= 2);
  await snap(fan, '14-fan-waiting-slow-rate');

  // Pause: the fan page says so.
  await con.click('#pause-btn');
  await con.waitForFunction(() => /paused/.test(document.getElementById('panel-msg').textContent));
  const pausedAt = Date.now();
  await fan.waitForSelector('#paused-banner', { state: 'visible', timeout: 5000 });
  const pauseMs = Date.now() - pausedAt;
  console.log(`pause shown on the fan page ${pauseMs} ms after the console's PATCH answered`);
  assert.ok(pauseMs <= 1000, `pause took ${pauseMs} ms to show (expected within 1 s)`);
  assert.equal(await text(fan, '#q-eta'), 'Paused');
  await snap(fan, '15-fan-paused');
  await snap(con, '16-console-paused');

  // Resume, then raise the rate: the fan is admitted at once.
  await con.click('#resume-btn');
  await fan.waitForSelector('#paused-banner', { state: 'hidden', timeout: 5000 });
  await con.fill('#ctl-rate', '6000');
  await con.click('#admission-form button[type=submit]');
  await con.waitForFunction(() => /6,000/.test(document.getElementById('panel-msg').textContent));
  const raisedAt = Date.now();
  await fan.waitForSelector('#view-seats', { state: 'visible', timeout: 10000 });
  const admitMs = Date.now() - raisedAt;
  console.log(`fan admitted ${admitMs} ms after the rate was raised (estimate before: ${eta})`);
  assert.ok(admitMs < 5000, `admission took ${admitMs} ms`);
  // A 12-seat row fits a phone's width without sideways scrolling.
  await fan.waitForSelector('button[data-seat="A-1-12"]');
  const box = await fan.locator('button[data-seat="A-1-12"]').boundingBox();
  assert.ok(box.x + box.width <= 390 && box.width >= 22, JSON.stringify(box));
  assert.equal(await fan.locator('#seat-scroll-hint').isVisible(), false);
  await snap(fan, '17-fan-admitted-after-rate-raise');

  await until('console shows the new rate', async () =>
    /^6,000 \//.test(await con.locator('[data-stat=rate] strong').innerText()));
  await until('console shows the admissions', async () =>
    Number(await con.locator('[data-stat=admitted-total] strong').innerText()) >= 3);
  await snap(con, '18-console-stats-after-rate-raise');
  // The console works on a phone too.
  await con.setViewportSize({ width: 390, height: 844 });
  await snap(con, '18b-console-on-a-phone');
  assert.deepEqual(fanErrors, []);

  // Close for good, then archive: the event leaves the default list and stays readable.
  await con.click('#close-btn');
  await con.click('#close-confirm');
  await con.waitForFunction(() => !document.getElementById('archive-btn').disabled);
  assert.equal((await admin('GET', `/v1/admin/events/${eventId}`)).admin_state, 'closed');
  await con.click('#archive-btn');
  await con.waitForFunction(() => /archived/.test(document.getElementById('panel-msg').textContent));
  assert.equal((await admin('GET', `/v1/admin/events/${eventId}`)).admin_state, 'archived');
  const ids = async (path) => (await admin('GET', path)).events.map((e) => e.id);
  assert.ok(!(await ids('/v1/admin/events')).includes(eventId));
  assert.ok((await ids('/v1/admin/events?include_archived=true')).includes(eventId));
  assert.equal(await con.locator('#archive-btn').isDisabled(), true);
  // The console's list shows it only on request.
  const row = `#events-table tr:has-text("Console Test Night")`;
  await con.waitForSelector(row, { state: 'detached', timeout: 7000 });
  await con.click('#archived-btn');
  await con.waitForSelector(row, { timeout: 5000 });
  assert.match(await text(con, row), /Archived/);
  assert.deepEqual(conErrors, []);
});
