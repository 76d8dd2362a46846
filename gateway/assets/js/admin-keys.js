// admin-keys.js: the console's API keys for the venue's servers: list, create and
// revoke. A new key's secret is in the create's answer only (the server keeps its
// hash), so it is shown once, with a copy button, until the card is closed.

import { newKey } from './api.js';
import { $, dateTime, el, show } from './format.js';
import { t } from './i18n.js';

export class ApiKeysCard {
  /** @param {{adminApi: Function}} ctx */
  constructor(ctx) {
    this.adminApi = ctx.adminApi;
    this.keys = [];
    this.pendingCreate = null;
    $('apikey-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.create();
    });
    $('apikey-copy').addEventListener('click', () => {
      navigator.clipboard?.writeText($('apikey-secret').textContent).catch(() => {});
    });
    $('apikey-done').addEventListener('click', () => {
      $('apikey-secret').textContent = '';
      show($('apikey-new'), false);
    });
  }

  /** Reads the keys again. */
  async load() {
    const r = await this.adminApi('GET', '/v1/admin/api-keys');
    this.keys = r.body.api_keys;
    this.render();
  }

  /** Renders the table again (after a language change). */
  render() {
    const body = $('apikeys-table').querySelector('tbody');
    body.replaceChildren();
    for (const k of this.keys) {
      const tr = document.createElement('tr');
      const scope = k.events === null ? t('apikey_all_events') : k.events.join(', ');
      const state = k.revoked_at
        ? t('apikey_revoked_at', { time: dateTime(k.revoked_at) })
        : t('apikey_active');
      const act = el('td');
      if (!k.revoked_at) {
        const revoke = el('button', 'danger small', t('apikey_revoke'));
        revoke.type = 'button';
        revoke.setAttribute('aria-label', t('apikey_revoke_named', { name: k.name }));
        revoke.addEventListener('click', () => this.revoke(k));
        act.append(revoke);
      }
      tr.append(
        el('td', '', k.name),
        el('td', 'mono', `ak_${k.prefix}_…`),
        el('td', 'small', scope),
        el('td', '', dateTime(k.created_at)),
        el('td', '', state),
        act,
      );
      body.append(tr);
    }
    show($('apikeys-empty'), this.keys.length === 0);
  }

  async create() {
    const name = $('apikey-name').value.trim();
    const list = $('apikey-events').value.split(/[\s,]+/).filter(Boolean);
    const body = { name, events: list.length ? list : null };
    // One Idempotency-Key per form content, so a retried submit makes no second key.
    const fingerprint = JSON.stringify(body);
    if (!this.pendingCreate || this.pendingCreate.fingerprint !== fingerprint) {
      this.pendingCreate = { fingerprint, key: newKey() };
    }
    const err = $('apikey-error');
    show(err, false);
    try {
      const r = await this.adminApi('POST', '/v1/admin/api-keys', body, this.pendingCreate.key);
      this.pendingCreate = null;
      $('apikey-form').reset();
      if (r.body.key) {
        $('apikey-secret').textContent = r.body.key;
        show($('apikey-new'), true);
        $('apikey-copy').focus();
      }
      await this.load();
    } catch (e) {
      err.textContent = t('error_generic', { message: e.message });
      show(err, true);
    }
  }

  async revoke(k) {
    try {
      await this.adminApi('DELETE', `/v1/admin/api-keys/${k.id}`);
      await this.load();
    } catch (e) {
      const err = $('apikey-error');
      err.textContent = t('error_generic', { message: e.message });
      show(err, true);
    }
  }
}

