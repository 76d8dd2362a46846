// admin.js: the venue console /admin: admin key, event list, create form, event panel.
//
// The admin key is kept in sessionStorage (this tab only) and sent as a Bearer token;
// a 401 asks for it again. The list refreshes every 5 s; the selected event (in the
// URL hash, `#event=<id>`) gets the live panel of admin-event.js.

import { api } from './api.js';
import { CreateForm } from './admin-create.js';
import { EventPanel } from './admin-event.js';
import { WebhooksCard } from './admin-webhooks.js';
import { ApiKeysCard } from './admin-keys.js';
import { $, count, dateTime, el, show } from './format.js';
import { initI18n, onLangChange, t } from './i18n.js';

const KEY_STORE = 'anteroom.adminKey';
let listTimer = null;
let events = [];
/** Archived events are listed only on request: a deployment's past would crowd the list. */
let showArchived = false;

function key() {
  try {
    return sessionStorage.getItem(KEY_STORE);
  } catch {
    return null;
  }
}

/** An admin API call with the stored key; a 401 locks the console. */
export async function adminApi(method, path, body, idempotencyKey) {
  try {
    return await api(method, path, { token: key(), body, idempotencyKey });
  } catch (e) {
    if (e.status === 401) lock(t('key_rejected'));
    throw e;
  }
}

/** A one-line message in the console's status area (null clears it). */
export function consoleNote(text) {
  const n = $('console-note');
  n.textContent = text || '';
  show(n, Boolean(text));
}

function lock(message) {
  try {
    sessionStorage.removeItem(KEY_STORE);
  } catch {
    // nothing stored
  }
  clearInterval(listTimer);
  panel.close();
  show($('console'), false);
  show($('key-view'), true);
  const err = $('key-error');
  err.textContent = message || '';
  show(err, Boolean(message));
  $('admin-key').focus();
}

async function unlock(candidate) {
  try {
    sessionStorage.setItem(KEY_STORE, candidate);
  } catch {
    // private mode: this page only
  }
  try {
    await loadEvents();
  } catch (e) {
    if (e.status !== 401) lock(t('error_generic', { message: e.message }));
    return;
  }
  show($('key-view'), false);
  show($('key-error'), false);
  show($('console'), true);
  apiKeys.load().catch(() => {});
  clearInterval(listTimer);
  listTimer = setInterval(() => loadEvents().catch(() => {}), 5000);
  webhooks.load().catch(() => {});
  route();
}

async function loadEvents() {
  const r = await adminApi('GET', showArchived ? '/v1/admin/events?include_archived=true' : '/v1/admin/events');
  events = r.body.events;
  renderList();
}

function stateBadge(state) {
  return el('span', `badge state-${state}`, t(`state_${state}`));
}

function renderList() {
  const body = $('events-table').querySelector('tbody');
  body.replaceChildren();
  for (const ev of events) {
    const tr = document.createElement('tr');
    const name = el('td');
    name.append(el('strong', '', ev.name), el('span', 'muted block', ev.venue));
    const st = el('td');
    st.append(stateBadge(ev.admin_state === 'archived' ? 'archived' : ev.state));
    const manage = el('button', 'secondary small', t('manage'));
    manage.type = 'button';
    manage.setAttribute('aria-label', t('manage_named', { name: ev.name }));
    manage.addEventListener('click', () => {
      location.hash = `event=${ev.id}`;
    });
    const act = el('td');
    act.append(manage);
    tr.append(
      name,
      st,
      el('td', '', dateTime(ev.opens_at, ev.timezone)),
      el('td', 'num', `${count(ev.seats.available)} / ${count(ev.seats.total)}`),
      act,
    );
    body.append(tr);
  }
  show($('events-empty'), events.length === 0);
}

const apiKeys = new ApiKeysCard({ adminApi });
const panel = new EventPanel({ adminApi, onChanged: () => loadEvents().catch(() => {}) });
const createForm = new CreateForm({
  adminApi,
  onCreated: (ev) => {
    show($('create-card'), false);
    consoleNote(t('created', { name: ev.name }));
    loadEvents().catch(() => {});
    location.hash = `event=${ev.id}`;
  },
});

const webhooks = new WebhooksCard({ adminApi });

function route() {
  const m = /event=([0-9a-f-]{36})/i.exec(location.hash);
  if (m) panel.open(m[1]);
  else panel.close();
}

function start() {
  initI18n();
  onLangChange(() => {
    renderList();
    apiKeys.render();
    createForm.rerender();
    panel.rerender();
    webhooks.rerender();
  });
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const k = $('admin-key').value.trim();
    if (k) unlock(k);
  });
  $('lock-btn').addEventListener('click', () => lock(null));
  $('archived-btn').addEventListener('click', () => {
    showArchived = !showArchived;
    $('archived-btn').setAttribute('aria-pressed', String(showArchived));
    loadEvents().catch(() => {});
  });
  $('new-event-btn').addEventListener('click', () => {
    const card = $('create-card');
    show(card, card.hidden);
    if (!card.hidden) createForm.focus();
  });
  window.addEventListener('hashchange', () => {
    if (!$('console').hidden) route();
  });
  const k = key();
  if (k) unlock(k);
  else $('admin-key').focus();
}

start();
