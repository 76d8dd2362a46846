// admin-create.js: the create-event form (every field of POST /v1/admin/events, docs/API.md).
//
// Times are entered as wall-clock times in the event's own time zone (the zone field)
// and sent as RFC 3339 with that zone's offset at that moment. Prices are entered in
// currency units and sent in cents. A 422's `details.fields` are shown next to their
// inputs.

import { $, currencyDigits, el, show, viewerTimeZone } from './format.js';
import { applyStatic, t } from './i18n.js';

/** Suggested ISO 4217 currencies (any other code may be typed). */
const CURRENCIES = ['KRW', 'USD', 'EUR', 'JPY', 'GBP'];
const ZONES = ['Asia/Seoul', 'Asia/Tokyo', 'UTC', 'Europe/London', 'Europe/Berlin', 'America/New_York', 'America/Los_Angeles'];

/** Offset of `tz` from UTC at `utcMs`, in minutes. */
export function zoneOffsetMinutes(utcMs, tz) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(utcMs));
  const n = (type) => Number(parts.find((p) => p.type === type).value);
  const asUtc = Date.UTC(n('year'), n('month') - 1, n('day'), n('hour'), n('minute'), n('second'));
  return Math.round((asUtc - utcMs) / 60000);
}

/** `2026-12-01T20:00` in `tz` → `2026-12-01T20:00:00+09:00`. */
export function zonedToRfc3339(local, tz) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local);
  if (!m) return null;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  let utc = wall;
  for (let i = 0; i < 3; i++) utc = wall - zoneOffsetMinutes(utc, tz) * 60000;
  const off = zoneOffsetMinutes(utc, tz);
  const sign = off < 0 ? '-' : '+';
  const pad = (x) => String(Math.floor(Math.abs(x))).padStart(2, '0');
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00${sign}${pad(off / 60)}:${pad(off % 60)}`;
}

/** The wall-clock time in `tz` at `utcMs`, as a datetime-local value. */
function wallTime(utcMs, tz) {
  const d = new Date(utcMs + zoneOffsetMinutes(utcMs, tz) * 60000);
  return d.toISOString().slice(0, 16);
}

function field(id, labelKey, input, hintKey) {
  const wrap = el('div', 'field');
  const label = el('label', '', t(labelKey));
  label.htmlFor = id;
  label.dataset.i18n = labelKey;
  input.id = id;
  const err = el('p', 'field-error');
  err.id = `${id}-error`;
  err.hidden = true;
  input.setAttribute('aria-describedby', err.id);
  wrap.append(label, input);
  if (hintKey) {
    const hint = el('p', 'muted small', t(hintKey));
    hint.dataset.i18n = hintKey;
    wrap.append(hint);
  }
  wrap.append(err);
  return wrap;
}

function input(type, attrs = {}) {
  const i = document.createElement('input');
  i.type = type;
  for (const [k, v] of Object.entries(attrs)) i.setAttribute(k, v);
  return i;
}

export class CreateForm {
  /** @param {{adminApi: Function, onCreated: (event: object) => void}} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    this.sectionCount = 0;
    this.form = $('create-form');
    this.build();
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
  }

  build() {
    const f = this.form;
    const tz = viewerTimeZone();
    const zones = el('datalist');
    zones.id = 'zones';
    ZONES.forEach((z) => zones.append(new Option(z, z)));
    const tzInput = input('text', { list: 'zones', required: '', value: tz, autocomplete: 'off' });
    const soon = wallTime(Date.now() + 5 * 60000, tz);
    const currencies = el('datalist');
    currencies.id = 'currencies';
    CURRENCIES.forEach((c) => currencies.append(new Option(c, c)));
    f.append(
      field('f-name', 'f_name', input('text', { required: '', maxlength: '200' })),
      field('f-venue', 'f_venue', input('text', { required: '', maxlength: '200' })),
      field('f-timezone', 'f_timezone', tzInput, 'f_timezone_hint'),
      zones,
      field('f-opens_at', 'f_opens_at', input('datetime-local', { required: '', value: soon }), 'f_times_hint'),
      field('f-prequeue_opens_at', 'f_prequeue_opens_at', input('datetime-local'), 'f_prequeue_hint'),
      field('f-rate', 'rate_per_minute', input('number', { min: '1', required: '', value: '600' })),
      field('f-max_active', 'max_active', input('number', { min: '1', required: '', value: '2000' })),
      field('f-pass_ttl', 'pass_ttl', input('number', { min: '1', required: '', value: '600' })),
      field('f-hold_ttl', 'hold_ttl', input('number', { min: '1', required: '', value: '300' })),
      field('f-max_seats', 'f_max_seats', input('number', { min: '1', max: '20', required: '', value: '4' })),
      field('f-currency', 'f_currency',
        input('text', { required: '', value: 'USD', maxlength: '3', pattern: '[A-Z]{3}', list: 'currencies', autocomplete: 'off' }),
        'f_currency_hint'),
      currencies,
      field('f-gate_url', 'f_gate_url',
        input('url', { maxlength: '2048', placeholder: 'https://shop.example.com/tickets' }), 'f_gate_url_hint'),
      field('f-gate_domain', 'f_gate_domain',
        input('text', { maxlength: '253', placeholder: 'example.com' }), 'f_gate_domain_hint'),
    );
    const fs = el('fieldset', 'sections');
    const legend = el('legend', '', t('f_sections'));
    legend.dataset.i18n = 'f_sections';
    this.sectionList = el('div');
    const add = el('button', 'secondary small', t('f_add_section'));
    add.type = 'button';
    add.dataset.i18n = 'f_add_section';
    add.addEventListener('click', () => this.addSection());
    fs.append(legend, this.sectionList, add);
    const submit = el('button', 'primary', t('f_create'));
    submit.type = 'submit';
    submit.dataset.i18n = 'f_create';
    f.append(fs, submit);
    this.addSection('A', 10, 20, '150.00');
  }

  addSection(name = '', rows = 10, perRow = 20, price = '100.00') {
    const i = this.sectionCount++;
    const row = el('div', 'section-row');
    row.dataset.index = String(i);
    row.append(
      field(`f-s${i}-name`, 'f_section_name', input('text', { required: '', value: name, maxlength: '20' })),
      field(`f-s${i}-rows`, 'f_rows', input('number', { min: '1', required: '', value: String(rows) })),
      field(`f-s${i}-seats`, 'f_seats_per_row', input('number', { min: '1', required: '', value: String(perRow) })),
      field(`f-s${i}-price`, 'f_price', input('number', { min: '0', step: 'any', required: '', value: price })),
    );
    const remove = el('button', 'secondary small', t('f_remove_section'));
    remove.type = 'button';
    remove.dataset.i18n = 'f_remove_section';
    remove.addEventListener('click', () => row.remove());
    row.append(remove);
    this.sectionList.append(row);
  }

  focus() {
    $('f-name').focus();
  }

  rerender() {
    applyStatic(this.form);
  }

  spec() {
    const v = (id) => $(id).value.trim();
    const num = (id) => Number(v(id));
    const tz = v('f-timezone');
    const currency = v('f-currency').toUpperCase();
    // Prices are typed in the currency's main unit; the API counts its minor unit.
    const scale = 10 ** currencyDigits(currency);
    const sections = [...this.sectionList.querySelectorAll('.section-row')].map((row) => {
      const i = row.dataset.index;
      return {
        name: v(`f-s${i}-name`),
        rows: num(`f-s${i}-rows`),
        seats_per_row: num(`f-s${i}-seats`),
        price_cents: Math.round(num(`f-s${i}-price`) * scale),
      };
    });
    const spec = {
      name: v('f-name'),
      venue: v('f-venue'),
      timezone: tz,
      opens_at: zonedToRfc3339(v('f-opens_at'), tz) || v('f-opens_at'),
      admission: { rate_per_minute: num('f-rate'), max_active: num('f-max_active'), pass_ttl_seconds: num('f-pass_ttl') },
      hold_ttl_seconds: num('f-hold_ttl'),
      max_seats_per_hold: num('f-max_seats'),
      seating: { sections },
      currency,
    };
    if (v('f-prequeue_opens_at')) spec.prequeue_opens_at = zonedToRfc3339(v('f-prequeue_opens_at'), tz);
    if (v('f-gate_url')) {
      spec.gate = { target_url: v('f-gate_url') };
      if (v('f-gate_domain')) spec.gate.cookie_domain = v('f-gate_domain');
    }
    return spec;
  }

  /** The input of an API field path (`seating.sections[1].rows` → `f-s1-rows`). */
  inputFor(path) {
    const rows = [...this.sectionList.querySelectorAll('.section-row')];
    const m = /^seating\.sections\[(\d+)\]\.(\w+)/.exec(path);
    if (m) {
      const i = rows[Number(m[1])]?.dataset.index;
      const suffix = { name: 'name', rows: 'rows', seats_per_row: 'seats', price_cents: 'price' }[m[2]];
      return i !== undefined && suffix ? $(`f-s${i}-${suffix}`) : null;
    }
    const map = {
      name: 'f-name', venue: 'f-venue', timezone: 'f-timezone', opens_at: 'f-opens_at',
      prequeue_opens_at: 'f-prequeue_opens_at', 'admission.rate_per_minute': 'f-rate',
      'admission.max_active': 'f-max_active', 'admission.pass_ttl_seconds': 'f-pass_ttl',
      hold_ttl_seconds: 'f-hold_ttl', max_seats_per_hold: 'f-max_seats', currency: 'f-currency',
      gate: 'f-gate_url', 'gate.target_url': 'f-gate_url', 'gate.cookie_domain': 'f-gate_domain',
    };
    return map[path] ? $(map[path]) : null;
  }

  clearErrors() {
    this.form.querySelectorAll('.field-error').forEach((p) => {
      p.hidden = true;
      p.textContent = '';
    });
    this.form.querySelectorAll('[aria-invalid]').forEach((i) => i.removeAttribute('aria-invalid'));
    show($('create-error'), false);
  }

  async submit() {
    this.clearErrors();
    const btn = this.form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      const r = await this.ctx.adminApi('POST', '/v1/admin/events', this.spec());
      if (r.status === 202) {
        $('create-error').textContent = t('accepted_later');
        show($('create-error'), true);
        return;
      }
      this.ctx.onCreated(r.body);
    } catch (e) {
      const box = $('create-error');
      box.textContent = t('create_failed', { message: e.message });
      show(box, true);
      for (const f of (e.details && e.details.fields) || []) {
        const target = this.inputFor(f.field);
        if (!target) continue;
        target.setAttribute('aria-invalid', 'true');
        const p = $(`${target.id}-error`);
        p.textContent = f.message;
        p.hidden = false;
      }
      this.form.querySelector('[aria-invalid]')?.focus();
    } finally {
      btn.disabled = false;
    }
  }
}
