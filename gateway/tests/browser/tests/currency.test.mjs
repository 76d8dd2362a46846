// Prices in the event's currency with its own minor unit: a KRW event on the Korean page
// shows ₩150,000 (won have no decimals) on the seat map, the selection, the hold and the
// order; the numbers are checked against the prices the event was created with.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createEvent, joinAndWaitForSeats, launch, newPage, openFanPage, seat, snap, text,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a KRW event shows won without decimals on the Korean page', async () => {
  const ev = await createEvent({
    currency: 'KRW',
    seating: { sections: [{ name: 'A', rows: 2, seats_per_row: 6, price_cents: 150000 }] },
  });
  assert.equal(ev.currency, 'KRW');
  assert.equal(ev.currency_minor_units, 0);
  const { page, errors } = await newPage(browser, { locale: 'ko-KR' });
  await openFanPage(page, ev.id);
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'ko');

  await joinAndWaitForSeats(page);
  const label = await seat(page, 'A-1-2').getAttribute('aria-label');
  assert.match(label, /, ₩150,000, /, label);
  assert.doesNotMatch(label, /150000|\.00/);

  await seat(page, 'A-1-2').click();
  await seat(page, 'A-1-3').click();
  assert.match(await text(page, '#selection'), /₩300,000/);
  await snap(page, '30-fan-krw-seats');

  await page.click('#hold-btn');
  await page.waitForSelector('#view-hold', { state: 'visible' });
  assert.equal(await text(page, '#hold-total'), '₩300,000');
  await page.fill('#pay-name', '김지우');
  await page.fill('#pay-card', '4242 4242 4242 4242');
  await snap(page, '31-fan-krw-hold');
  await page.click('#pay-btn');
  await page.waitForSelector('#view-done', { state: 'visible' });
  assert.equal(await text(page, '#order-total'), '₩300,000');
  assert.deepEqual(errors, []);
});

test('a USD event keeps two decimals', async () => {
  const ev = await createEvent({
    seating: { sections: [{ name: 'A', rows: 1, seats_per_row: 4, price_cents: 1250 }] },
  });
  assert.equal(ev.currency, 'USD');
  const { page, errors } = await newPage(browser);
  await openFanPage(page, ev.id);
  await joinAndWaitForSeats(page);
  const label = await seat(page, 'A-1-1').getAttribute('aria-label');
  assert.match(label, /, \$12\.50, /, label);
  assert.deepEqual(errors, []);
});
