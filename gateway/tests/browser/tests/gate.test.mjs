// Gate mode, the browser's round trip through a real nginx (deploy/gate/run-nginx.sh):
// a fan opens a link into the venue's shop, nginx asks the gateway's check, finds no
// pass and sends the fan to the queue page; the fan joins, is admitted at once, and the
// fan page hands the pass over (`/e/{id}/enter` → the shop URL with `anteroom_pass`);
// nginx moves the pass into a cookie and the shop (this test's own server, which logs
// every request and the `X-Anteroom-Ticket` it got) shows the ticket, then again from
// the cookie alone. The shop's server ends the session with the origin API (an API key
// of the event); the next shop page load goes back to the queue.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ADMIN_KEY, BASE_URL, api, createEvent, launch, newPage, snap, text, until } from './helpers.mjs';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const RUN_NGINX = `${ROOT}deploy/gate/run-nginx.sh`;
const NGINX_DIR = `${ROOT}artifacts/browser/nginx-gate`;

let browser;
let shop;
let nginxPid;
before(async () => {
  browser = await launch();
  shop = await startShop();
});
after(async () => {
  await browser?.close();
  if (nginxPid) {
    try {
      process.kill(nginxPid, 'SIGQUIT');
    } catch {
      // already gone
    }
  }
  await shop?.close();
});

/** A free loopback port (bound, then released for nginx). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * The venue's shop: answers any path with a page showing the `X-Anteroom-Ticket` nginx
 * passed on, and logs every request (`log`: method, path, query, ticket, time).
 */
async function startShop() {
  const log = [];
  const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://shop.invalid');
    const ticket = req.headers['x-anteroom-ticket'] || '';
    log.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), ticket, at: Date.now() });
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Olympic Hall shop</title></head>
<body><h1>Olympic Hall shop</h1><p>Your ticket: <code id="ticket">${escape(ticket || 'none')}</code></p>
<p id="path">${escape(url.pathname)}</p></body></html>`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    log,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Starts nginx in front of the shop for `eventId`; its master's pid. */
async function startNginx(port, eventId) {
  mkdirSync(NGINX_DIR, { recursive: true });
  const gateway = new URL(BASE_URL).host;
  const { stdout } = await promisify(execFile)(
    RUN_NGINX, [String(port), gateway, `127.0.0.1:${shop.port}`, eventId, NGINX_DIR, 'closed'],
    { timeout: 120000 },
  );
  const pid = Number(stdout.trim().split('\n').pop());
  assert.ok(Number.isInteger(pid) && pid > 0, `run-nginx.sh printed ${JSON.stringify(stdout)}`);
  return pid;
}

/** The gateway's check for `pass` (as nginx asks it): its status. */
async function check(eventId, pass) {
  const r = await api('GET', '/v1/gate/check', { token: pass, headers: { 'X-Anteroom-Event': eventId } });
  return r.status;
}

test('gate: shop link → queue → admitted → shop through nginx; revoked → back to the queue', async () => {
  const nginxPort = await freePort();
  const shopBase = `http://127.0.0.1:${nginxPort}/shop/`;
  const ev = await createEvent({
    name: 'Winter Concert, shop sale',
    admission: { rate_per_minute: 6000, max_active: 100, pass_ttl_seconds: 600 },
    gate: { target_url: shopBase },
  });
  assert.equal(ev.gate.target_url, shopBase);
  const key = await api('POST', '/v1/admin/api-keys', {
    token: ADMIN_KEY, body: { name: 'olympic shop', events: [ev.id] }, headers: { 'Idempotency-Key': `gate-shop-${ev.id}` },
  });
  assert.equal(key.status, 201, JSON.stringify(key.body));
  nginxPid = await startNginx(nginxPort, ev.id);

  const queuePage = `${BASE_URL}/e/${ev.id}`;
  const link = `${shopBase}tickets?section=A`;
  // Until the gateway's catalog has the event's gate, the check answers 404 and nginx its
  // fail-closed page: wait for the redirect to the queue.
  const redirect = await until('nginx to send a fan without a pass to the queue', async () => {
    const r = await fetch(link, { redirect: 'manual' });
    return r.status === 302 ? r.headers.get('location') : null;
  });
  assert.ok(redirect.startsWith(`${queuePage}?`), redirect);
  assert.equal(new URL(redirect).searchParams.get('return'), link, 'the shop link rides along as `return`');
  assert.deepEqual(shop.log, [], 'nothing reached the shop without a pass');

  // The fan follows the shop link: nginx sends them to the queue page.
  const { context, page, errors } = await newPage(browser);
  await page.goto(link);
  await page.waitForURL((u) => u.href.startsWith(`${queuePage}?`));
  await page.waitForSelector('#view-loading', { state: 'hidden' });
  await snap(page, '40-gate-queue-from-the-shop-link');

  // Join: admitted at once, the fan page hands the pass over and nginx lets the fan in.
  await page.click('#join-btn');
  await page.waitForURL((u) => u.href.startsWith(shopBase), { timeout: 20000 });
  await page.waitForSelector('#ticket');
  const ticket = await text(page, '#ticket');
  assert.match(ticket, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'the shop page shows a ticket');
  assert.equal(await text(page, '#path'), '/shop/tickets', 'the shop link the fan came with');
  // (chromium also asks for /favicon.ico, through nginx like any other path)
  const pages = () => shop.log.filter((e) => e.path.startsWith('/shop/'));
  assert.equal(pages().length, 1, JSON.stringify(shop.log));
  const [entry] = pages();
  assert.equal(entry.ticket, ticket, 'the upstream got the ticket from nginx');
  assert.equal(entry.query.section, 'A', "the link's own query is kept");
  assert.equal(entry.query.anteroom_pass, undefined, 'the pass is not passed on to the shop');
  const cookie = (await context.cookies(shopBase)).find((c) => c.name === 'anteroom_pass');
  assert.ok(cookie, 'nginx set the pass cookie');
  assert.equal(cookie.httpOnly, true);
  await snap(page, '41-gate-shop-with-the-pass');

  // Another shop page: the cookie alone lets the fan in.
  await page.goto(`${shopBase}seats`);
  await page.waitForSelector('#ticket');
  assert.equal(await text(page, '#path'), '/shop/seats');
  assert.equal(await text(page, '#ticket'), ticket);
  assert.deepEqual(pages().map((e) => [e.path, e.ticket]), [['/shop/tickets', ticket], ['/shop/seats', ticket]]);
  assert.ok(shop.log.every((e) => e.ticket === ticket), 'every request that reached the shop had the ticket');

  // The shop's server ends the session (the fan bought, say) with its API key.
  const revoked = await api('POST', `/v1/origin/events/${ev.id}/passes/${ticket}/revoke`, {
    token: key.body.key, headers: { 'Idempotency-Key': `revoke-${ticket}` },
  });
  assert.equal(revoked.status, 204, JSON.stringify(revoked.body));
  await until('the check to refuse the revoked pass', async () => (await check(ev.id, cookie.value)) === 401, 5000, 100);

  // The next shop page load goes back to the queue; the shop sees nothing of it.
  const refusedAt = Date.now();
  await page.goto(`${shopBase}seats`);
  await page.waitForURL((u) => u.href.startsWith(`${queuePage}?`));
  await page.waitForSelector('#view-loading', { state: 'hidden' });
  assert.equal(new URL(page.url()).searchParams.get('return'), `${shopBase}seats`);
  assert.deepEqual(shop.log.filter((e) => e.at >= refusedAt), [], 'the revoked pass did not reach the shop');
  // The ended ticket is gone: the fan sees the landing view and may queue again.
  await page.waitForSelector('#join-btn', { state: 'visible' });
  await snap(page, '42-gate-back-in-the-queue-after-the-revoke');
  assert.deepEqual(errors, []);
  await context.close();
});
