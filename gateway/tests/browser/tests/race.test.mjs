// Two fans race for the same seat; one gets it, the other is told
// it is gone and sees the seat map updated.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, createEvent, joinAndWaitForSeats, launch, newPage, openFanPage, seat, snap, text, until,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('two fans race for one seat: the loser is told and the map is updated', async () => {
  const ev = await createEvent({
    seating: { sections: [{ name: 'A', rows: 2, seats_per_row: 6, price_cents: 12000 }] },
  });
  const fans = [await newPage(browser), await newPage(browser)];
  for (const { page } of fans) {
    await openFanPage(page, ev.id);
    await joinAndWaitForSeats(page);
  }
  // Both want A-1-3; the second fan also wants A-1-4.
  await seat(fans[0].page, 'A-1-3').click();
  await seat(fans[1].page, 'A-1-3').click();
  await seat(fans[1].page, 'A-1-4').click();

  await Promise.all(fans.map(({ page }) => page.click('#hold-btn')));
  const outcome = async (page) => {
    if (await page.locator('#view-hold').isVisible()) return 'won';
    if (await page.locator('#alert').isVisible()) return 'lost';
    return null;
  };
  const results = await until('both outcomes', async () => {
    const r = await Promise.all(fans.map(({ page }) => outcome(page)));
    return r.every(Boolean) ? r : null;
  });
  assert.equal(results.filter((r) => r === 'won').length, 1, `outcomes: ${results}`);
  const winner = fans[results.indexOf('won')].page;
  const loser = fans[results.indexOf('lost')].page;

  assert.match(await text(loser, '#alert'), /someone else just took Section A, row 1, seat 3/);
  // The loser's map shows the seat taken (disabled, no longer chosen).
  const taken = seat(loser, 'A-1-3');
  await until('the seat shown taken', async () => (await taken.getAttribute('class')) !== 'seat available');
  assert.equal(await taken.isDisabled(), true);
  assert.match(await taken.getAttribute('aria-label'), /being held by someone|sold/);
  assert.equal(await taken.getAttribute('aria-pressed'), 'false');
  assert.doesNotMatch(await text(loser, '#selection'), /seats? 3\b/);
  await snap(loser, '06-race-loser-told-seat-taken');
  await snap(winner, '07-race-winner-holds');

  // Only one hold exists for the seat.
  const stats = await api('GET', `/v1/admin/events/${ev.id}/stats`, {
    token: process.env.ADMIN_KEY,
  });
  assert.equal(stats.body.seats.held, results.indexOf('won') === 0 ? 1 : 2);
  for (const { errors } of fans) assert.deepEqual(errors, []);
});
