// Before and during the pre-queue (in Korean, from Accept-Language): countdown in the
// event's zone and the viewer's, the lottery and its commitment; at open the revealed
// seed, checked in the browser; the language switch and its memory.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { at, createEvent, launch, newPage, openFanPage, snap, text } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const titleIs = (page, title, timeout = 10000) => page.waitForFunction(
  (t) => document.getElementById('landing-title').textContent === t, title, { timeout },
);

test('pre-queue in Korean: countdown, lottery, commitment; seed revealed and checked at open', async () => {
  const ev = await createEvent({
    name: '겨울 콘서트 1일차', venue: '올림픽홀', prequeue_opens_at: at(4), opens_at: at(9),
  });
  assert.match(ev.shuffle_commitment, /^[0-9a-f]{64}$/);
  const { page, errors } = await newPage(browser, { locale: 'ko-KR' });
  await openFanPage(page, ev.id);

  // Before the pre-queue: Korean, a countdown, both time zones, no joining yet.
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'ko');
  assert.equal(await text(page, '#landing-title'), '곧 사전 대기열이 열립니다');
  assert.equal(await text(page, '#landing-countdown-label'), '사전 대기열 시작까지');
  assert.match(await text(page, '#landing-countdown-value'), /^00:0[0-4]$/);
  assert.match(await text(page, '#opens-event-tz'), /GMT\+9|KST/);
  assert.match(await text(page, '#opens-viewer-tz'), /^내 시간: /);
  assert.equal(await page.locator('#join-btn').isDisabled(), true);
  await snap(page, '19-ko-before-prequeue');

  // The pre-queue opens by itself: the lottery is explained, the commitment shown.
  await titleIs(page, '사전 대기열이 열렸습니다');
  assert.match(await text(page, '#landing-lottery'), /사전 대기열 추첨 방식/);
  assert.match(await text(page, '#landing-lottery'), new RegExp(ev.shuffle_commitment));
  assert.equal(await page.locator('#join-btn').isDisabled(), false);
  await snap(page, '20-ko-prequeue-open');

  await page.click('#join-btn');
  await page.waitForSelector('#queue-prequeue', { state: 'visible' });
  assert.equal(await text(page, '#queue-title'), '사전 대기열에 있습니다');
  assert.match(await text(page, '#draw-countdown'), /^00:0\d$/);
  await snap(page, '21-ko-in-prequeue');

  // At open the fan is drawn and let in (fast outflow).
  await page.waitForSelector('#view-seats', { state: 'visible', timeout: 20000 });

  // Another visitor (English) sees the revealed seed, checked in the browser.
  const { page: viewer, errors: viewerErrors } = await newPage(browser, { locale: 'en-GB' });
  await openFanPage(viewer, ev.id);
  assert.equal(await text(viewer, '#landing-title'), 'Tickets are on sale');
  await viewer.click('#landing-lottery summary');
  const lottery = await text(viewer, '#landing-lottery');
  assert.match(lottery, /The pre-queue draw: check it yourself/);
  const [commitment, seed] = await viewer.locator('#landing-lottery dd').allInnerTexts();
  assert.equal(commitment, ev.shuffle_commitment);
  assert.equal(createHash('sha256').update(Buffer.from(seed, 'hex')).digest('hex'), commitment);
  assert.match(lottery, /Checked in your browser: the SHA-256 of the seed matches the commitment/);
  assert.match(lottery, /anteroom-gateway verify-shuffle --seed [0-9a-f]{64}/);
  assert.equal(await viewer.locator('#landing-lottery a[download]').getAttribute('href'), `/v1/events/${ev.id}/prequeue`);
  await snap(viewer, '22-seed-revealed-and-checked');

  // The switch changes the language at once and is remembered across a reload.
  await viewer.click('[data-set-lang=ko]');
  assert.equal(await text(viewer, '#landing-title'), '예매가 진행 중입니다');
  assert.equal(await viewer.locator('[data-set-lang=ko]').getAttribute('aria-pressed'), 'true');
  await viewer.reload();
  await viewer.waitForSelector('#view-landing', { state: 'visible' });
  assert.equal(await text(viewer, '#landing-title'), '예매가 진행 중입니다');
  await snap(viewer, '23-switched-to-korean');
  assert.deepEqual(errors, []);
  assert.deepEqual(viewerErrors, []);
});
