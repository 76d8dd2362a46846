// admin-webhooks.js: the console's webhook section: endpoints (add, rotate the secret,
// delete) and, per endpoint, the deliveries that were given up, with a redeliver button.
//
// A secret is shown once, right after a create or a rotation (the API never shows it
// again); docs/WEBHOOKS.md is the contract the venue's receiver implements.

import { $, dateTime, el, show } from './format.js';
import { t } from './i18n.js';

export class WebhooksCard {
  /** @param {{adminApi: Function}} deps */
  constructor({ adminApi }) {
    this.adminApi = adminApi;
    this.endpoints = [];
    this.failed = new Map();
    $('webhook-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.create();
    });
    $('webhooks-refresh').addEventListener('click', () => this.load().catch(() => {}));
  }

  async load() {
    const r = await this.adminApi('GET', '/v1/admin/webhooks');
    this.endpoints = r.body.webhooks;
    this.failed = new Map();
    for (const ep of this.endpoints) {
      const d = await this.adminApi('GET', `/v1/admin/webhooks/${ep.id}/deliveries?state=failed&limit=20`);
      this.failed.set(ep.id, d.body.deliveries);
    }
    this.render();
  }

  note(text, secret) {
    const n = $('webhook-msg');
    n.replaceChildren(el('span', '', text));
    if (secret) {
      n.append(' ', el('code', 'secret', secret));
    }
    show(n, Boolean(text));
  }

  async create() {
    const url = $('webhook-url').value.trim();
    if (!url) return;
    try {
      const r = await this.adminApi('POST', '/v1/admin/webhooks', { url });
      $('webhook-url').value = '';
      this.note(t('webhook_created'), r.body.secret);
      await this.load();
    } catch (e) {
      this.note(t('error_generic', { message: e.message }));
    }
  }

  async act(method, path, done) {
    try {
      const r = await this.adminApi(method, path);
      done(r);
      await this.load();
    } catch (e) {
      this.note(t('error_generic', { message: e.message }));
    }
  }

  button(label, cls, onClick) {
    const b = el('button', `${cls} small`, label);
    b.type = 'button';
    b.addEventListener('click', onClick);
    return b;
  }

  render() {
    const list = $('webhooks-list');
    list.replaceChildren();
    for (const ep of this.endpoints) {
      const item = el('li', 'webhook');
      const scope = ep.types ? ep.types.join(', ') : t('webhook_all_types');
      item.append(
        el('strong', 'block', ep.url),
        el('span', 'muted block small', `${scope} · ${t('webhook_since', { time: dateTime(ep.created_at) })}`),
        this.button(t('webhook_rotate'), 'secondary', () =>
          this.act('POST', `/v1/admin/webhooks/${ep.id}/rotate-secret`, (r) =>
            this.note(t('webhook_rotated'), r.body.secret))),
        this.button(t('webhook_delete'), 'danger', () =>
          this.act('DELETE', `/v1/admin/webhooks/${ep.id}`, () => this.note(t('webhook_deleted')))),
      );
      const failed = this.failed.get(ep.id) || [];
      if (failed.length > 0) {
        const rows = el('ul', 'failed-deliveries');
        for (const d of failed) {
          const row = el('li', 'small');
          const why = d.last_error || (d.last_status ? `HTTP ${d.last_status}` : '');
          row.append(
            el('span', '', `${d.type} #${d.sequence} · ${why} · ${t('webhook_attempts', { n: d.attempts })} `),
            this.button(t('webhook_redeliver'), 'secondary', () =>
              this.act('POST', `/v1/admin/webhooks/${ep.id}/deliveries/${d.id}/redeliver`, () =>
                this.note(t('webhook_redelivery_requested')))),
          );
          rows.append(row);
        }
        item.append(el('span', 'block', t('webhook_failed', { n: failed.length })), rows);
      }
      list.append(item);
    }
    show($('webhooks-empty'), this.endpoints.length === 0);
  }

  rerender() {
    this.render();
  }
}
