// A fan waiting in line is told when the event sells out.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, apiAdmitted, apiFan, createEvent, launch, newPage, openFanPage, patchEvent, snap, text,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the sold-out state shows to a waiting fan', async () => {
  const ev = await createEvent({
    seating: { sections: [{ name: 'A', rows: 1, seats_per_row: 2, price_cents: 20000 }] },
  });
  // Two fans are let in at once; then the venue slows admission to a trickle and caps
  // active fans at 1, so the browser fan has to wait behind them.
  const buyer = await apiFan(ev.id);
  const other = await apiFan(ev.id);
  const pass = await apiAdmitted(ev.id, buyer);
  await apiAdmitted(ev.id, other);
  await patchEvent(ev.id, { admission: { rate_per_minute: 1, max_active: 1, pass_ttl_seconds: 600 } });

  const { page, errors } = await newPage(browser);
  await openFanPage(page, ev.id);
  await page.click('#join-btn');
  await page.waitForSelector('#queue-waiting', { state: 'visible' });
  assert.equal(await text(page, '#q-position'), '1');
  await snap(page, '10-waiting-before-sold-out');

  // The buyer takes both seats.
  const hold = await api('POST', `/v1/events/${ev.id}/holds`, {
    token: pass, body: { seats: ['A-1-1', 'A-1-2'] }, headers: { 'Idempotency-Key': 'sold-out-hold' },
  });
  assert.equal(hold.status, 201, JSON.stringify(hold.body));
  const order = await api('POST', `/v1/holds/${hold.body.id}/confirm`, {
    token: pass, body: { payment_ref: 'mock-1' }, headers: { 'Idempotency-Key': 'sold-out-confirm' },
  });
  assert.equal(order.status, 200, JSON.stringify(order.body));
  const soldAt = Date.now();

  await page.waitForSelector('#view-end', { state: 'visible', timeout: 15000 });
  const seconds = (Date.now() - soldAt) / 1000;
  console.log(`sold out shown to the waiting fan ${seconds.toFixed(1)} s after the last sale`);
  assert.equal(await text(page, '#end-title'), 'Sold out');
  assert.match(await text(page, '#end-text'), /All seats have been sold/);
  assert.match(await text(page, '#end-next'), /Nothing more will go on sale/);
  await snap(page, '11-sold-out');
  assert.deepEqual(errors, []);
});
