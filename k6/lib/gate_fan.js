// One fan of the gate scenario (k6/gate.js) as a small state machine, so that one
// virtual user can drive many fans: `request()` is the fan's next HTTP request (for
// `http.batch`), `answer(res)` takes its response and schedules the step after it.
//
//   arrive → join (gateway) → poll status at `poll_after_ms` until admitted
//          → enter the shop through nginx with `?anteroom_pass=<pass>` (the hand-off)
//          → 2–3 shop pages with the cookie alone → `/done` (the shop revokes the pass)
//          → one more shop page a little later: nginx must send it back to the queue.
//
// Each fan has its own cookie jar, on the gateway too: a join answered with the queue
// token's cookie would otherwise make the VU's next fan the same ticket. On admission the fan writes `gate-pass <jwt>` to the
// k6 log: k6/gate_check.py reads each ticket's admission time (`iat`) from it.
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';
import { judge, retryAfterS } from './api.js';
import { config } from './config.js';
import * as m from './metrics.js';

/** Fans who entered the shop (the hand-off answered by the shop). */
export const entered = new Counter('shop_entered');
/** Fans whose `/done` was answered 200 (the shop revoked the pass). */
export const done = new Counter('shop_done');
/** A shop page answered by a redirect to the queue while the pass was good. */
export const sentBack = new Counter('sent_back_to_queue');
/** After `/done`, a shop page that nginx still let through (threshold: none). */
export const revokedLetIn = new Counter('revoked_let_in');
/** After `/done`, a shop page that nginx sent back to the queue. */
export const revokedSentBack = new Counter('revoked_sent_back');
/** Fans who had not finished when their virtual user's time ran out. */
export const unfinished = new Counter('unfinished_fans');
/** Duration of one shop request through nginx (check + shop), ms. */
export const shopMs = new Trend('shop_ms', true);
/** Admission → `/done` answered, ms. */
export const sessionMs = new Trend('session_ms', true);

const JSON_PARAMS = { responseType: 'text' };

/**
 * Milliseconds to wait for the next poll: the server's hint (`poll_after_ms`), never
 * sooner than MIN_POLL_MS. Not capped by MAX_POLL_MS as the other scenarios do: a fan
 * polling sooner than told would load the gateway more than real fans do.
 */
function pollDelay(body) {
  return Math.max(config.minPollMs, Number(body && body.poll_after_ms) || 1000);
}

function think(thinkS) {
  return thinkS > 0 ? thinkS * 1000 * (0.5 + Math.random()) : 0;
}

function parse(res) {
  try {
    return res.body ? JSON.parse(res.body) : null;
  } catch (_) {
    return null;
  }
}

/**
 * A fan arriving at `arriveAt` (Unix ms) for event `eventId` of gateway `baseUrl`;
 * `target` is the gate target (through nginx), `queuePrefix` the queue page URL that
 * nginx sends a fan without a good pass to, `pages` the shop pages visited before
 * `/done`, `thinkS` the mean pause between shop pages (s), `afterMs` how long after
 * `/done` the fan tries the shop once more.
 */
export class Fan {
  constructor({ baseUrl, eventId, target, queuePrefix, arriveAt, pages, thinkS, afterMs }) {
    this.queueUrl = `${baseUrl}/v1/events/${eventId}/queue`;
    this.target = target;
    this.shopBase = target.replace(/\/+$/, '');
    this.queuePrefix = queuePrefix;
    this.next = arriveAt;
    this.pages = pages;
    this.thinkS = thinkS;
    this.afterMs = afterMs;
    this.step = 'join';
    this.jar = new http.CookieJar();
    this.token = null;
    this.pass = null;
    this.admittedAt = 0;
    this.joinTries = 0;
  }

  get finished() {
    return this.step === 'finished';
  }

  /** The next request, as an `http.batch` entry. */
  request() {
    const shop = (path) => ({
      method: 'GET', url: `${this.shopBase}${path}`, params: { jar: this.jar, tags: { name: `shop_${this.step}` } },
    });
    switch (this.step) {
      case 'join':
        return {
          method: 'POST', url: this.queueUrl, body: null, params: { ...JSON_PARAMS, jar: this.jar, tags: { name: 'join' } },
        };
      case 'poll':
        return {
          method: 'GET', url: this.queueUrl,
          params: {
            ...JSON_PARAMS, jar: this.jar, headers: { Authorization: `Bearer ${this.token}` }, tags: { name: 'status' },
          },
        };
      case 'enter': {
        const sep = this.target.includes('?') ? '&' : '?';
        return {
          method: 'GET', url: `${this.target}${sep}anteroom_pass=${encodeURIComponent(this.pass)}`,
          params: { jar: this.jar, tags: { name: 'shop_enter' } },
        };
      }
      case 'browse':
        return shop(`/item/${this.pages}`);
      case 'buy':
        return shop('/done');
      case 'after':
        return shop('/after');
      default:
        throw new Error(`no request in step ${this.step}`);
    }
  }

  /** Takes the answer to `request()` (at `now`, Unix ms) and moves on. */
  answer(res, now) {
    if (res.status >= 500) m.http5xx.add(1, { endpoint: this.step });
    if (res.status !== 0) {
      const trend = { join: m.joinMs, poll: m.statusMs }[this.step] || shopMs;
      trend.add(res.timings.duration);
    }
    const a = { status: res.status, res };
    switch (this.step) {
      case 'join': return this.joined(a, parse(res), now);
      case 'poll': return this.polled(a, parse(res), now);
      case 'enter':
      case 'browse': return this.shopped(a, now);
      case 'buy': return this.bought(a, now);
      case 'after': return this.triedAfter(a);
      default: return undefined;
    }
  }

  finish() {
    this.step = 'finished';
  }

  retryLater(a, now) {
    this.next = now + retryAfterS({ headers: a.res.headers }) * 1000;
  }

  joined(a, body, now) {
    if ((a.status === 201 || a.status === 200) && body && body.queue_token) {
      judge(a, true, 'join');
      m.joined.add(1);
      this.token = body.queue_token;
      this.step = 'poll';
      this.next = now + pollDelay(body);
    } else if ((a.status === 429 || a.status === 503) && ++this.joinTries < 5) {
      judge(a, a.status === 429, 'join');
      this.retryLater(a, now);
    } else {
      judge(a, false, 'join');
      this.finish();
    }
  }

  polled(a, body, now) {
    if (a.status === 429 || a.status === 503) {
      judge(a, a.status === 429, 'status');
      this.retryLater(a, now);
      return;
    }
    const state = body && body.state;
    if (a.status === 200 && state === 'admitted' && body.pass) {
      judge(a, true, 'status');
      m.admitted.add(1);
      this.pass = body.pass;
      this.admittedAt = now;
      console.log(`gate-pass ${body.pass}`);
      this.step = 'enter';
      this.next = now;
    } else if (a.status === 200 && (state === 'waiting' || state === 'prequeue')) {
      judge(a, true, 'status');
      this.next = now + pollDelay(body);
    } else {
      judge(a, false, 'status');
      this.finish();
    }
  }

  /** A shop page with a good pass must be the shop's own page (200). */
  shopOk(a) {
    if (a.status === 302 && String(a.res.headers.Location || '').startsWith(this.queuePrefix)) sentBack.add(1);
    return judge(a, a.status === 200, `shop_${this.step}`);
  }

  shopped(a, now) {
    if (!this.shopOk(a)) return this.finish();
    if (this.step === 'enter') {
      entered.add(1);
      this.step = 'browse';
    } else {
      this.pages -= 1;
    }
    if (this.pages <= 0) this.step = 'buy';
    this.next = now + think(this.thinkS);
    return undefined;
  }

  bought(a, now) {
    if (!this.shopOk(a)) return this.finish();
    done.add(1);
    sessionMs.add(now - this.admittedAt);
    if (this.afterMs < 0) return this.finish();
    this.step = 'after';
    this.next = now + this.afterMs;
    return undefined;
  }

  triedAfter(a) {
    const back = a.status === 302 && String(a.res.headers.Location || '').startsWith(this.queuePrefix);
    (back ? revokedSentBack : revokedLetIn).add(1);
    judge(a, back, 'shop_after');
    this.finish();
  }
}
