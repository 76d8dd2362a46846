// Origin checkout, end to end in Korean: a fan holds a seat on the map, the fan page
// sends them to the venue's payment page (served here by the test's own server, which
// verifies the hold token through Anteroom's JWKS with `jose`), the fan pays and is
// sent back to Anteroom's order page, which waits for the payment until the venue's
// server confirms the hold with its API key, then shows the order with won shown
// without decimals (₩150,000).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import {
  BASE_URL, admin, api, createEvent, joinAndWaitForSeats, launch, newPage, openFanPage, seat, shot, snap,
  text, until,
} from './helpers.mjs';

let browser;
let venue;
before(async () => {
  browser = await launch();
  venue = await startVenue();
});
after(async () => {
  await browser?.close();
  await venue?.close();
});

/**
 * The venue's shop on an ephemeral loopback port: `GET /pay` verifies the hold token
 * and shows a payment form; `POST /pay` takes the (pretend) payment and sends the fan
 * back to `return_url` at once, as a shop does whose payment provider notifies its
 * server a moment later; `confirm()` is that server confirming through the origin API.
 */
async function startVenue() {
  const jwks = createRemoteJWKSet(new URL(`${BASE_URL}/.well-known/jwks.json`));
  const state = { eventId: null, apiKey: null, seen: [], paid: [], refused: [] };
  const page = (status, title, body) => [status, `<!doctype html><html lang="ko"><head><meta charset="utf-8">
<title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`];
  const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  async function pay(url) {
    const q = url.searchParams;
    const [holdId, token, returnUrl] = ['hold_id', 'hold_token', 'return_url'].map((k) => q.get(k));
    try {
      const { payload, protectedHeader } = await jwtVerify(token || '', jwks, {
        algorithms: ['EdDSA'], audience: state.eventId, requiredClaims: ['exp', 'sub'],
      });
      if (payload.kind !== 'hold') throw new Error(`kind ${payload.kind}`);
      if (payload.sub !== holdId) throw new Error('the token names another hold');
      if (!returnUrl.startsWith(`${BASE_URL}/e/`)) throw new Error(`return_url ${returnUrl}`);
      state.seen.push({ query: Object.fromEntries(q), payload, protectedHeader });
    } catch (e) {
      state.refused.push(String(e));
      return page(403, '잘못된 결제 요청', `<p id="refused">${escape(e)}</p>`);
    }
    return page(200, '올림픽홀 결제', `<p id="hold">${escape(holdId)}</p>
<form method="post" action="/pay"><input type="hidden" name="hold_id" value="${escape(holdId)}">
<input type="hidden" name="return_url" value="${escape(returnUrl)}">
<button id="pay" type="submit">결제하기</button></form>`);
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    let status = 404;
    let html = '';
    if (req.method === 'GET' && url.pathname === '/pay') {
      [status, html] = await pay(url);
    } else if (req.method === 'POST' && url.pathname === '/pay') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      state.paid.push(form.get('hold_id'));
      res.writeHead(303, { Location: form.get('return_url') });
      return res.end();
    }
    res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    state,
    /** The venue's server confirms a paid hold with its API key (the origin API). */
    confirm: (holdId) => api('POST', `/v1/origin/holds/${holdId}/confirm`, {
      token: state.apiKey,
      body: { payment_ref: `olympic-pay-${holdId.slice(0, 8)}` },
      headers: { 'Idempotency-Key': `confirm-${holdId}` },
    }),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

test('origin checkout: seat map → venue payment page → order page in Korean, in won', async () => {
  // The venue's API key for its server (the admin console's "API keys").
  const key = await api('POST', '/v1/admin/api-keys', {
    token: process.env.ADMIN_KEY, body: { name: 'shop' }, headers: { 'Idempotency-Key': 'handoff-shop-key' },
  });
  const ev = await createEvent({
    name: '겨울 콘서트 1일차',
    venue: '올림픽홀',
    currency: 'KRW',
    checkout: { mode: 'origin', url: `${venue.base}/pay?shop=olympic` },
    seating: { sections: [{ name: 'A', rows: 3, seats_per_row: 8, price_cents: 150000 }] },
  });
  venue.state.eventId = ev.id;

  const { page, errors } = await newPage(browser, { locale: 'ko-KR', timezoneId: 'Asia/Seoul' });
  await openFanPage(page, ev.id);
  await joinAndWaitForSeats(page);
  await seat(page, 'A-1-1').click();
  await page.click('#hold-btn');

  // The fan page asks for the checkout and sends the fan to the venue's page.
  await page.waitForURL((u) => u.href.startsWith(`${venue.base}/pay?`), { timeout: 15000 });
  assert.deepEqual(venue.state.refused, []);
  await page.waitForSelector('#pay');
  assert.equal(venue.state.seen.length, 1);
  const [{ query, payload, protectedHeader }] = venue.state.seen;
  assert.equal(query.shop, 'olympic', 'the venue URL keeps its own parameters');
  assert.equal(payload.aud, ev.id);
  assert.equal(protectedHeader.alg, 'EdDSA');
  assert.ok(payload.exp - payload.iat <= 15 * 60, JSON.stringify(payload));
  const holdId = query.hold_id;
  assert.equal(query.return_url, `${BASE_URL}/e/${ev.id}/orders/${holdId}`);
  const stats = await admin('GET', `/v1/admin/events/${ev.id}/stats`);
  assert.equal(stats.seats.held, 1);
  await shot(page, '30-handoff-venue-payment-page');

  // Back to Anteroom without paying: the hold is still there, with a button to the
  // payment page (not sent away again by itself, which would trap the Back button).
  await page.goBack();
  await page.waitForSelector('#handoff-btn', { state: 'visible' });
  assert.equal(await page.locator('#pay-form').isHidden(), true, 'no demo payment in origin checkout');
  assert.equal(await text(page, '#handoff-btn'), '결제 페이지로 이동');
  await snap(page, '30b-handoff-back-on-the-hold');
  await page.click('#handoff-btn');
  await page.waitForURL((u) => u.href.startsWith(`${venue.base}/pay?`), { timeout: 15000 });
  await page.waitForSelector('#pay');
  assert.equal(venue.state.seen.length, 2);
  assert.equal(venue.state.seen[1].query.hold_id, holdId, 'the same hold, a fresh token');

  // Paid: back on Anteroom's order page, which waits for the venue's confirm.
  await page.click('#pay');
  await page.waitForURL(query.return_url);
  await page.waitForSelector('#view-waiting', { state: 'visible' });
  assert.equal(await text(page, '#waiting-title'), '결제 확인을 기다리는 중');
  assert.equal(await text(page, '#order-total'), '₩150,000');
  await snap(page, '31-handoff-order-waiting-ko');

  // The venue's server confirms with its API key; the page shows the order.
  assert.equal(key.status, 201, `POST /v1/admin/api-keys: ${key.status} ${JSON.stringify(key.body)}`);
  venue.state.apiKey = key.body.key;
  const confirmed = await venue.confirm(holdId);
  assert.equal(confirmed.status, 200, `origin confirm: ${confirmed.status} ${JSON.stringify(confirmed.body)}`);
  assert.equal(confirmed.body.hold_id, holdId);
  await page.waitForSelector('#view-order', { state: 'visible', timeout: 10000 });
  assert.equal(await text(page, '#order-title'), '주문이 완료되었습니다');
  assert.deepEqual(await page.locator('#order-seats li').allInnerTexts(), ['A구역 1열 1번']);
  assert.equal(await text(page, '#order-total'), '₩150,000');
  assert.equal(await text(page, '#order-ref'), holdId);
  await snap(page, '32-handoff-order-confirmed-ko');
  // The language switch re-renders the order in English, the amount still in won.
  await page.click('[data-set-lang="en"]');
  assert.equal(await text(page, '#order-title'), 'Order confirmed');
  assert.deepEqual(await page.locator('#order-seats li').allInnerTexts(), ['Section A, row 1, seat 1']);
  assert.equal(await text(page, '#order-total'), '₩150,000');

  // The fan page of the event, opened again, leads to the order.
  await page.goto(`${BASE_URL}/e/${ev.id}`);
  await page.waitForURL(query.return_url);
  await page.waitForSelector('#view-order', { state: 'visible' });

  const sold = await until('the order in the stats', async () => {
    const s = await admin('GET', `/v1/admin/events/${ev.id}/stats`);
    return s.orders === 1 ? s : null;
  });
  assert.equal(sold.seats.sold, 1);
  assert.deepEqual(venue.state.paid, [holdId]);
  assert.deepEqual(errors, []);
});
