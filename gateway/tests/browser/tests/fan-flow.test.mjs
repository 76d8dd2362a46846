// A fan goes from the queue to a confirmed order, on a phone,
// using the keyboard for one seat.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  admin, api, apiAdmitted, apiFan, createEvent, joinAndWaitForSeats, launch, newPage, openFanPage, seat, snap, text,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a fan goes from the queue to a confirmed order', async () => {
  const ev = await createEvent({
    seating: {
      sections: [
        { name: 'A', rows: 3, seats_per_row: 8, price_cents: 15000 },
        { name: 'B', rows: 4, seats_per_row: 10, price_cents: 9000 },
      ],
    },
  });
  const { page, errors } = await newPage(browser);
  await openFanPage(page, ev.id);

  // Landing: details in the event's zone and the viewer's (Europe/Berlin).
  assert.equal(await text(page, '#event-name'), 'Winter Concert, Day 1');
  assert.match(await text(page, '#opens-event-tz'), /GMT\+9|KST/);
  assert.match(await text(page, '#opens-viewer-tz'), /^Your time: .*(GMT\+1|GMT\+2|CET|CEST)/);
  assert.equal(await text(page, '#landing-title'), 'Tickets are on sale');
  await snap(page, '01-fan-landing-open');

  await joinAndWaitForSeats(page);
  assert.match(await text(page, '#pass-left'), /Time left to choose: \d\d:\d\d/);
  assert.match(await text(page, '#selection'), /up to 4 seats/);
  const label = await seat(page, 'A-1-4').getAttribute('aria-label');
  assert.equal(label, 'Section A, row 1, seat 4, $150.00, available');
  await snap(page, '02-fan-seat-map');

  // Live availability: another fan holds A-3-8; this map shows it within 3 s (live stream).
  const other = await apiFan(ev.id);
  const otherPass = await apiAdmitted(ev.id, other);
  const held = await api('POST', `/v1/events/${ev.id}/holds`, {
    token: otherPass, body: { seats: ['A-3-8'] }, headers: { 'Idempotency-Key': 'flow-other' },
  });
  assert.equal(held.status, 201, JSON.stringify(held.body));
  const heldAt = Date.now();
  await page.waitForFunction(() => document.querySelector('button[data-seat="A-3-8"]').disabled, null, { timeout: 3000 });
  console.log(`seat held by another fan shown on the map after ${Date.now() - heldAt} ms`);
  assert.match(await seat(page, 'A-3-8').getAttribute('aria-label'), /being held by someone/);

  // One seat by mouse, one by keyboard (focus + Enter).
  await seat(page, 'A-1-4').click();
  await seat(page, 'A-1-5').focus();
  await page.keyboard.press('Enter');
  assert.equal(await seat(page, 'A-1-5').getAttribute('aria-pressed'), 'true');
  assert.equal(await text(page, '#selection'), 'Your choice: Section A, row 1: seats 4, 5. Total $300.00.');
  await snap(page, '03-fan-seats-chosen');

  await page.click('#hold-btn');
  await page.waitForSelector('#view-hold', { state: 'visible' });
  assert.match(await text(page, '#hold-timer'), /^0[12]:\d\d$/);
  assert.equal(await text(page, '#hold-total'), '$300.00');
  // The payment form checks its fields before paying.
  await page.click('#pay-btn');
  assert.equal(await page.locator('#pay-name').getAttribute('aria-invalid'), 'true');
  await page.fill('#pay-name', 'Kim Jiwoo');
  await page.fill('#pay-card', '4242 4242 4242 4242');
  await snap(page, '04-fan-hold-and-payment');

  await page.click('#pay-btn');
  await page.waitForSelector('#view-done', { state: 'visible' });
  const seats = await page.locator('#order-seats li').allInnerTexts();
  assert.deepEqual(seats, ['Section A, row 1, seat 4', 'Section A, row 1, seat 5']);
  assert.equal(await text(page, '#order-total'), '$300.00');
  assert.match(await text(page, '#order-id'), /^[0-9a-f-]{36}$/);
  await snap(page, '05-fan-order-confirmed');

  const stats = await admin('GET', `/v1/admin/events/${ev.id}/stats`);
  assert.equal(stats.seats.sold, 2);
  assert.equal(stats.seats.held, 1);
  assert.equal(stats.orders, 1);

  // A reload shows the confirmation again (kept in sessionStorage).
  await page.reload();
  await page.waitForSelector('#view-done', { state: 'visible' });
  assert.deepEqual(errors, []);
});
