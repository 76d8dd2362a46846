// A hold expires while the fan watches its countdown; the fan is
// told, is back on the seat map, and the seats are on sale again.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  admin, createEvent, joinAndWaitForSeats, launch, newPage, openFanPage, seat, snap, text, until,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a hold expires while the fan watches', async () => {
  const ev = await createEvent({ hold_ttl_seconds: 10 });
  const { page, errors } = await newPage(browser);
  await openFanPage(page, ev.id);
  await joinAndWaitForSeats(page);

  // Best available: 2 seats in section A (the front row's middle).
  await page.selectOption('#best-section', 'A');
  await page.selectOption('#best-quantity', '2');
  await page.click('#best-form button[type=submit]');
  await page.waitForSelector('#view-hold', { state: 'visible' });
  const held = await page.locator('#hold-seats li').allInnerTexts();
  assert.equal(held.length, 2);
  const timer = await text(page, '#hold-timer');
  assert.match(timer, /^00:(10|0\d)$/);
  const stats = await admin('GET', `/v1/admin/events/${ev.id}/stats`);
  assert.equal(stats.seats.held, 2);
  await page.waitForFunction(() => /^00:0[0-5]$/.test(document.getElementById('hold-timer').textContent));
  assert.match(await page.locator('#hold-timer').getAttribute('class'), /urgent/);
  await snap(page, '08-hold-countdown');

  await page.waitForSelector('#view-seats', { state: 'visible', timeout: 15000 });
  assert.match(await text(page, '#alert'), /Your hold expired, so the seats were released/);
  // The worker's expiry reaches the map: every seat is available again.
  await until('seats back on sale', async () => (await page.locator('button.seat.held').count()) === 0, 10000);
  assert.equal(await page.locator('button.seat.available').count(), 24);
  await snap(page, '09-hold-expired');

  const after = await admin('GET', `/v1/admin/events/${ev.id}/stats`);
  assert.equal(after.seats.held, 0);
  assert.equal(after.seats.available, 24);
  // The fan can choose again.
  await seat(page, 'A-2-1').click();
  assert.equal(await page.locator('#hold-btn').isDisabled(), false);
  assert.deepEqual(errors, []);
});
