// i18n.js: Korean and English. The server writes its pick (from Accept-Language) into
// <html lang>; a choice made with the switch wins and is kept in localStorage.
//
// - `t(key, params)`: a string with `{name}` placeholders filled in.
// - `tn(key, n, params)`: picks `key_one` for n = 1 when the language has it (English).
// - Static text: elements with `data-i18n` (text), `data-i18n-label` (aria-label) and
//   `data-i18n-placeholder` are filled by `applyStatic`.

import en from './strings-en.js';
import ko from './strings-ko.js';

const TABLES = { en, ko };
const STORE_KEY = 'anteroom.lang';
const listeners = [];

function stored() {
  try {
    return localStorage.getItem(STORE_KEY);
  } catch {
    return null;
  }
}

let lang = [stored(), document.documentElement.lang].find((l) => l in TABLES) || 'en';

/** The current language tag: `en` or `ko`. */
export const currentLang = () => lang;

/** The string `key` in the current language, with `{name}` replaced from `params`. */
export function t(key, params = {}) {
  const s = TABLES[lang][key] ?? TABLES.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (params[k] ?? '').toString());
}

/** Like `t`, with `key_one` when `n` is 1 and the language has such a form. */
export function tn(key, n, params = {}) {
  const one = `${key}_one`;
  const k = n === 1 && (TABLES[lang][one] ?? null) !== null ? one : key;
  return t(k, { n, ...params });
}

/** Fills every `data-i18n*` element under `root`. */
export function applyStatic(root = document) {
  document.documentElement.lang = lang;
  root.querySelectorAll('[data-i18n]').forEach((el) => {
    el.textContent = t(el.dataset.i18n);
  });
  root.querySelectorAll('[data-i18n-label]').forEach((el) => {
    el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  });
  root.querySelectorAll('[data-i18n-placeholder]').forEach((el) => {
    el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder));
  });
  document.querySelectorAll('[data-set-lang]').forEach((b) => {
    b.setAttribute('aria-pressed', String(b.dataset.setLang === lang));
  });
}

/** Calls `fn` after every language change (to re-render dynamic text). */
export function onLangChange(fn) {
  listeners.push(fn);
}

/** Switches to `next`, remembers it, and re-renders. */
export function setLang(next) {
  if (!(next in TABLES) || next === lang) return;
  lang = next;
  try {
    localStorage.setItem(STORE_KEY, next);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
  applyStatic();
  listeners.forEach((fn) => fn());
}

/** Wires the `[data-set-lang]` buttons and fills the static text once. */
export function initI18n() {
  document.querySelectorAll('[data-set-lang]').forEach((b) => {
    b.addEventListener('click', () => setLang(b.dataset.setLang));
  });
  applyStatic();
}

/**
 * Adds strings of a page part kept in its own file: `{en: {...}, ko: {...}}`. Keys
 * already in the tables keep their text.
 */
export function addStrings(tables) {
  for (const [l, strings] of Object.entries(tables)) {
    if (TABLES[l]) TABLES[l] = { ...strings, ...TABLES[l] };
  }
}
