// fan-live.js: live updates over SSE, falling back to polling, reconnecting by itself.
//
// A LiveFeed opens an EventSource on `sseUrl` (a string, or a function asked at each
// (re)connection; the browser sends the credential cookies) and hands each message of
// `eventName` (one name or several) to `onData(json, via, name)`. When the stream
// fails (not served, 401, network) or goes quiet for longer than `quietMs` (the server
// sends at least every 15 s), it closes it, polls with `poll()` instead (every
// `nextPollMs()` ms) and tries SSE again after 5, 10, 20 … 60 s. `onMode` is told
// `live`, `polling` or `retrying`; transient poll failures (429/503/network) wait their
// Retry-After and are reported through `onWait`; other poll failures go to `onFail`
// and stop the feed.

import { isTransient } from './api.js';

export class LiveFeed {
  /**
   * @param {{sseUrl: string|(() => string), eventName: string|string[],
   *   poll: () => Promise<any>,
   *   onData: (data: any, via: string, name?: string) => void, nextPollMs: () => number,
   *   onMode?: (mode: string, seconds?: number) => void,
   *   onWait?: (err: any, seconds: number) => void, onFail?: (err: any) => void,
   *   quietMs?: number}} o
   */
  constructor(o) {
    this.o = { onMode() {}, onWait() {}, onFail() {}, quietMs: 25000, ...o };
    this.running = false;
    this.es = null;
    this.sseFailures = 0;
    this.pollTimer = null;
    this.sseTimer = null;
    this.watchdog = null;
    this.lastMessage = 0;
  }

  /** Starts (idempotent). */
  start() {
    if (this.running) return;
    this.running = true;
    if (window.EventSource) this.openSse();
    else this.schedulePoll(0);
  }

  /** Stops everything; no callback fires afterwards. */
  stop() {
    this.running = false;
    this.closeSse();
    clearTimeout(this.pollTimer);
    clearTimeout(this.sseTimer);
    this.pollTimer = null;
  }

  /** Polls once now (e.g. after the event changed), keeping the schedule. */
  nudge() {
    if (!this.running) return;
    if (this.es && this.es.readyState === EventSource.OPEN) return;
    this.schedulePoll(0);
  }

  openSse() {
    if (!this.running) return;
    const url = typeof this.o.sseUrl === 'function' ? this.o.sseUrl() : this.o.sseUrl;
    const es = new EventSource(url);
    this.es = es;
    this.lastMessage = Date.now();
    es.addEventListener('open', () => {
      if (this.es !== es) return;
      this.lastMessage = Date.now();
      this.o.onMode('live');
    });
    const onMessage = (e) => {
      if (this.es !== es || !this.running) return;
      this.lastMessage = Date.now();
      this.sseFailures = 0;
      clearTimeout(this.pollTimer);
      this.pollTimer = null;
      this.o.onMode('live');
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      this.o.onData(data, 'sse', e.type);
    };
    [this.o.eventName].flat().forEach((name) => es.addEventListener(name, onMessage));
    es.addEventListener('error', () => {
      if (this.es === es) this.sseFailed();
    });
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => {
      if (this.es === es && Date.now() - this.lastMessage > this.o.quietMs) this.sseFailed();
    }, 5000);
  }

  closeSse() {
    clearInterval(this.watchdog);
    if (this.es) this.es.close();
    this.es = null;
  }

  sseFailed() {
    this.closeSse();
    if (!this.running) return;
    this.sseFailures += 1;
    const retryIn = Math.min(60, 5 * 2 ** (this.sseFailures - 1));
    clearTimeout(this.sseTimer);
    this.sseTimer = setTimeout(() => this.openSse(), retryIn * 1000);
    this.o.onMode('polling', this.o.nextPollMs() / 1000);
    this.schedulePoll(0);
  }

  schedulePoll(ms) {
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => this.pollOnce(), ms);
  }

  async pollOnce() {
    this.pollTimer = null;
    if (!this.running) return;
    if (this.es && this.es.readyState === EventSource.OPEN) return;
    try {
      const data = await this.o.poll();
      if (!this.running) return;
      this.o.onData(data, 'poll');
      if (!this.running) return;
      const next = this.o.nextPollMs();
      if (!this.es || this.es.readyState !== EventSource.OPEN) this.o.onMode('polling', next / 1000);
      if (!this.pollTimer) this.schedulePoll(next);
    } catch (e) {
      if (!this.running) return;
      if (isTransient(e)) {
        const s = e.status === 429 ? (e.retryAfter ?? 1) : Math.max(e.retryAfter ?? 0, 2);
        this.o.onMode('retrying');
        this.o.onWait(e, s);
        this.schedulePoll(s * 1000);
      } else {
        this.stop();
        this.o.onFail(e);
      }
    }
  }
}
