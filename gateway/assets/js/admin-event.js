// admin-event.js: one event's live panel in the venue console.
//
// Stats are read every second (GET /v1/admin/events/{id}/stats) and kept for 10
// minutes; two charts show the last 5: waiting fans, and admitted per minute observed
// next to the configured rate. Controls PATCH the event: admission (rate, max active,
// pass lifetime), hold lifetime, the gate (the venue's shop; an empty URL removes it),
// and the queue state (pause, resume, close — close asks for a second click).

import { lineChart } from './chart.js';
import { $, count, dateTime, el, show } from './format.js';
import { t } from './i18n.js';

const HISTORY_MS = 10 * 60 * 1000;
const now = () => Date.now();

export class EventPanel {
  /** @param {{adminApi: Function, onChanged: () => void}} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    this.id = null;
    this.event = null;
    this.stats = null;
    this.history = [];
    this.timer = null;
    $('admission-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.patch({
        admission: {
          rate_per_minute: Number($('ctl-rate').value),
          max_active: Number($('ctl-max-active').value),
          pass_ttl_seconds: Number($('ctl-pass-ttl').value),
        },
      }, 'saved_admission');
    });
    $('hold-ttl-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.patch({ hold_ttl_seconds: Number($('ctl-hold-ttl').value) }, 'saved_hold_ttl');
    });
    $('gate-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const url = $('ctl-gate-url').value.trim();
      const domain = $('ctl-gate-domain').value.trim();
      const gate = url ? { target_url: url, ...(domain ? { cookie_domain: domain } : {}) } : null;
      this.patch({ gate }, gate ? 'saved_gate' : 'saved_gate_removed');
    });
    $('pause-btn').addEventListener('click', () => this.patch({ state: 'paused' }, 'saved_paused'));
    $('resume-btn').addEventListener('click', () => this.patch({ state: 'open' }, 'saved_resumed'));
    $('close-btn').addEventListener('click', () => {
      show($('close-confirm'), true);
      $('close-confirm').focus();
    });
    // Archiving puts a finished event away: out of the default list, orders kept.
    $('archive-btn').addEventListener('click', () => this.patch({ state: 'archived' }, 'saved_archived'));
    $('close-confirm').addEventListener('click', () => {
      show($('close-confirm'), false);
      this.patch({ state: 'closed' }, 'saved_closed');
    });
  }

  /** Shows event `id` and starts its stats (once a second). */
  async open(id) {
    if (this.id !== id) {
      this.id = id;
      this.history = [];
      this.stats = null;
      this.message(null);
    }
    show($('event-panel'), true);
    try {
      const r = await this.ctx.adminApi('GET', `/v1/admin/events/${id}`);
      this.setEvent(r.body, true);
    } catch (e) {
      this.message(t('error_generic', { message: e.message }));
      return;
    }
    clearInterval(this.timer);
    this.timer = setInterval(() => this.poll(), 1000);
    this.poll();
    $('ev-title').focus?.();
  }

  close() {
    clearInterval(this.timer);
    this.timer = null;
    this.id = null;
    show($('event-panel'), false);
  }

  message(text) {
    const p = $('panel-msg');
    p.textContent = text || '';
    show(p, Boolean(text));
  }

  setEvent(ev, fillControls) {
    this.event = ev;
    $('ev-title').textContent = ev.name;
    $('ev-title').tabIndex = -1;
    $('ev-meta').textContent = t('ev_meta', {
      venue: ev.venue,
      opens: dateTime(ev.opens_at, ev.timezone),
      state: t(`state_${ev.state}`),
    });
    $('ev-fan-link').href = `/e/${ev.id}`;
    if (fillControls) {
      $('ctl-rate').value = ev.admission.rate_per_minute;
      $('ctl-max-active').value = ev.admission.max_active;
      $('ctl-pass-ttl').value = ev.admission.pass_ttl_seconds;
      $('ctl-hold-ttl').value = ev.hold_ttl_seconds;
      $('ctl-gate-url').value = ev.gate ? ev.gate.target_url : '';
      $('ctl-gate-domain').value = (ev.gate && ev.gate.cookie_domain) || '';
    }
    const admin = ev.admin_state;
    $('pause-btn').disabled = admin !== 'open';
    $('resume-btn').disabled = admin !== 'paused';
    $('close-btn').disabled = admin === 'closed' || admin === 'archived';
    if (admin === 'closed') show($('close-confirm'), false);
    $('archive-btn').disabled = !(admin === 'closed' || (admin !== 'archived' && ev.state === 'sold_out'));
  }

  async patch(body, savedKey) {
    if (!this.id) return;
    try {
      const r = await this.ctx.adminApi('PATCH', `/v1/admin/events/${this.id}`, body);
      if (r.status === 202) {
        this.message(t('accepted_later'));
      } else {
        this.setEvent(r.body, true);
        this.message(t(savedKey, { rate: count(r.body.admission.rate_per_minute) }));
      }
      this.ctx.onChanged();
    } catch (e) {
      const fields = (e.details && e.details.fields) || [];
      const detail = fields.map((f) => `${f.field}: ${f.message}`).join('; ');
      this.message(t('error_generic', { message: detail || e.message }));
    }
  }

  async poll() {
    const id = this.id;
    if (!id) return;
    let s;
    try {
      s = (await this.ctx.adminApi('GET', `/v1/admin/events/${id}/stats`)).body;
    } catch (e) {
      if (this.id === id) $('ev-stats').dataset.stale = 'true';
      return;
    }
    if (this.id !== id) return;
    delete $('ev-stats').dataset.stale;
    this.stats = s;
    const now = Date.now();
    this.history.push({
      t: now,
      waiting: s.queue.waiting,
      observed: s.admission.observed_per_minute ?? 0,
      configured: s.admission.rate_per_minute,
    });
    this.history = this.history.filter((h) => h.t >= now - HISTORY_MS);
    if (this.event && s.state !== this.event.state) {
      this.event = { ...this.event, state: s.state };
      this.setEvent(this.event, false);
    }
    this.render();
  }

  render() {
    const s = this.stats;
    if (!s) return;
    const box = $('ev-stats');
    box.replaceChildren();
    const observed = s.admission.observed_per_minute;
    const items = [
      ['stat_state', t(`state_${s.state}`), `state-${s.state}`],
      ['stat_waiting', count(s.queue.waiting), 'waiting'],
      ['stat_rate', t('rate_pair', {
        configured: count(s.admission.rate_per_minute),
        observed: observed == null ? '–' : count(Math.round(observed * 10) / 10),
      }), 'rate'],
      ['stat_active', count(s.queue.active), 'active'],
      ['stat_holds', count(s.holds_active), 'holds'],
      ['stat_sold', count(s.seats.sold), 'sold'],
      ['stat_available', `${count(s.seats.available)} / ${count(s.seats.total)}`, 'available'],
      ['stat_orders', count(s.orders), 'orders'],
      ['stat_admitted_total', count(s.queue.admitted_total), 'admitted-total'],
    ];
    for (const [label, value, key] of items) {
      const d = el('div', 'stat');
      d.dataset.stat = key;
      d.append(el('span', 'muted', t(label)), el('strong', '', value));
      box.append(d);
    }
    // The window grows with the history: 1 minute at first, up to 5.
    const span = now() - (this.history[0]?.t ?? now());
    const minutes = Math.min(5, Math.max(1, Math.ceil(span / 60000)));
    const axis = { windowS: minutes * 60, axisNow: t('axis_now'), axisStart: t('axis_start', { n: minutes }) };
    lineChart($('chart-waiting'), [
      { name: t('stat_waiting'), className: 's-waiting', points: this.history.map((h) => ({ t: h.t, v: h.waiting })) },
    ], { ...axis, label: t('chart_waiting_label', { n: count(s.queue.waiting) }) });
    lineChart($('chart-rate'), [
      { name: t('configured'), className: 's-configured', points: this.history.map((h) => ({ t: h.t, v: h.configured })) },
      { name: t('observed'), className: 's-observed', points: this.history.map((h) => ({ t: h.t, v: h.observed })) },
    ], {
      ...axis,
      label: t('chart_rate_label', { configured: count(s.admission.rate_per_minute), observed: count(Math.round(observed ?? 0)) }),
    });
  }

  rerender() {
    if (this.event) this.setEvent(this.event, false);
    this.render();
  }
}
