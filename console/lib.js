// coupon-book admin console: small DOM helpers, the API client and form handling.

import { setKeyState } from './console.js';

const KEY_STORAGE = 'coupon-book.api-key';
const view = document.getElementById('view');
const toastEl = document.getElementById('toast');

// ---------------------------------------------------------------- small helpers

/** h('tag.class', {attrs}, ...children): a DOM element. */
function h(spec, attrs, ...children) {
  const [tagAndId, ...classes] = spec.split('.');
  const [tag, id] = tagAndId.split('#');
  const el = document.createElement(tag);
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(' ');
  const plain = attrs !== null && typeof attrs === 'object' && !(attrs instanceof Node) && !Array.isArray(attrs);
  if (!plain) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** Appends to the view, skipping null/false children. */
function put(...children) {
  return append(view, children);
}

/** Replaces an element's children, skipping null/false ones. */
function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const num = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US'));
const pad = (n) => String(n).padStart(2, '0');
function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}
function fmtTimeEl(iso) {
  return iso ? h('time', { datetime: iso }, fmtTime(iso)) : '—';
}
function duration(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const mins = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  return hours ? `${hours}:${pad(mins)}:${pad(secs)}` : `${mins}:${pad(secs)}`;
}
let uid = 0;
const nextId = (base) => `${base}-${++uid}`;

function toast(message) {
  toastEl.textContent = message;
  toastEl.classList.add('shown');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => toastEl.classList.remove('shown'), 4000);
}

function badge(status) {
  return h(`span.badge.status-${status}`, status);
}

function tableWrap(caption, head, rows, empty = 'Nothing yet.') {
  if (!rows.length) return h('p.empty', empty);
  return h('div.table-wrap', { tabindex: 0, role: 'region', 'aria-label': caption },
    h('table',
      h('caption.visually-hidden', caption),
      h('thead', h('tr', head.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', rows)));
}

// ---------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

function getKey() {
  return sessionStorage.getItem(KEY_STORAGE) || '';
}

/** Calls the API with the key; JSON in, JSON out; throws ApiError. */
async function api(path, { method = 'GET', json, body, headers = {}, raw = false } = {}) {
  const key = getKey();
  if (!key) throw new ApiError(0, 'no_key', 'paste an API key first', null);
  const init = { method, headers: { Authorization: `Bearer ${key}`, ...headers }, cache: 'no-store', credentials: 'omit' };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'network', `the server could not be reached (${err.message})`, null);
  }
  if (!response.ok) {
    let error = { code: `http_${response.status}`, message: response.statusText || 'request failed' };
    try {
      const parsed = await response.json();
      if (parsed && parsed.error) error = parsed.error;
    } catch { /* not JSON */ }
    if (response.status === 401) setKeyState('The server refused this key.', true);
    throw new ApiError(response.status, error.code, error.message, error.field);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

const enc = encodeURIComponent;

// ---------------------------------------------------------------- forms and errors

/** A labelled input with room for its error; `name` is the API field it feeds. */
function field({ label, name, type = 'text', value = '', hint, required, options, attrs = {} }) {
  const id = nextId(`f-${name}`);
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  const described = [hintId, errorId].filter(Boolean).join(' ');
  let input;
  if (type === 'select') {
    input = h('select', { id, name, 'aria-describedby': described, ...attrs },
      options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
  } else if (type === 'checkbox') {
    input = h('input', { id, name, type, checked: Boolean(value), 'aria-describedby': described, ...attrs });
    return h('div.field.check', { 'data-field': name },
      input, h('label', { for: id }, label),
      hint && h('p.hint', { id: hintId }, hint),
      h('p.field-error', { id: errorId, 'aria-live': 'polite' }));
  } else if (type === 'textarea') {
    input = h('textarea', { id, name, rows: 3, 'aria-describedby': described, ...attrs });
    input.value = value ?? '';
  } else {
    input = h('input', { id, name, type, 'aria-describedby': described, required, ...attrs });
    input.value = value ?? '';
  }
  return h('div.field', { 'data-field': name },
    h('label', { for: id }, label, required ? h('span.req', { 'aria-hidden': 'true' }, ' *') : null),
    input,
    hint && h('p.hint', { id: hintId }, hint),
    h('p.field-error', { id: errorId, 'aria-live': 'polite' }));
}

function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error, .form-error')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/** The field element for an API error's `field` ("code_pattern.pattern", "codes[2]"). */
function fieldFor(form, name) {
  if (!name) return null;
  const candidates = [name, name.split(/[.[]/)[0], name.split('.').pop()];
  for (const c of candidates) {
    const el = form.querySelector(`[data-field="${CSS.escape(c)}"]`);
    if (el) return el;
  }
  return null;
}

/** Shows an API error in words next to the field it concerns (or the whole form). */
function showError(form, err, fallbackField) {
  const message = err instanceof ApiError ? `${err.message} (${err.code})` : String(err.message || err);
  const target = fieldFor(form, err.field) || fieldFor(form, fallbackField);
  if (target) {
    target.querySelector('.field-error').textContent = message;
    const input = target.querySelector('input, select, textarea');
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
    return;
  }
  let box = form.querySelector('.form-error');
  if (!box) {
    box = h('p.form-error', { role: 'alert' });
    form.prepend(box);
  }
  box.textContent = message;
}

/** Submits a form through `action`, with the button disabled and errors shown. */
function onSubmit(form, action, fallbackField) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const button = form.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    try {
      await action(new FormData(form));
    } catch (err) {
      showError(form, err, fallbackField);
    } finally {
      if (button) button.disabled = false;
    }
  });
  return form;
}

/** "" -> null, "12" -> 12, anything else -> an error on that field. */
function wholeNumber(data, name) {
  const text = String(data.get(name) ?? '').trim().replaceAll(',', '');
  if (text === '') return null;
  if (!/^\d+$/.test(text)) throw new ApiError(0, 'invalid_request', `${name} must be a whole number (or empty)`, name);
  return Number(text);
}
function textOrNull(data, name) {
  const text = String(data.get(name) ?? '').trim();
  return text === '' ? null : text;
}
/** datetime-local (read as UTC) -> RFC 3339. */
function timeOrNull(data, name) {
  const text = textOrNull(data, name);
  if (!text) return null;
  const d = new Date(`${text}${text.length === 16 ? ':00' : ''}Z`);
  if (Number.isNaN(d.getTime())) throw new ApiError(0, 'invalid_request', `${name} is not a date and time`, name);
  return d.toISOString().replace('.000Z', 'Z');
}
const toLocalInput = (iso) => (iso ? iso.slice(0, 16) : '');

// ---------------------------------------------------------------- rewards

const given = (v) => v !== null && v !== undefined;

/** Decimals of a currency's minor unit (EUR 2, JPY 0, KWD 3); 2 when unknown. */
function currencyDigits(currency) {
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** Minor units as typed in a form: 2000, "EUR" -> "20.00"; null -> "". */
function moneyText(minor, currency) {
  if (!given(minor)) return '';
  const d = currencyDigits(currency);
  const digits = String(minor).padStart(d + 1, '0');
  return d ? `${digits.slice(0, -d)}.${digits.slice(-d)}` : digits;
}

/** Minor units in words: 200000, "EUR" -> "2,000.00 EUR". */
function money(minor, currency) {
  const [whole, frac] = moneyText(minor, currency).split('.');
  return `${BigInt(whole).toLocaleString('en-US')}${frac ? `.${frac}` : ''}${currency ? ` ${currency}` : ''}`;
}

const REWARD_TYPES = [['percent_off', 'percent off'], ['amount_off', 'amount off'], ['free_shipping', 'free shipping'], ['custom', 'custom']];
/** The reward inputs each type uses: the others are hidden and not sent. */
const REWARD_INPUTS = {
  percent_off: ['percent_off', 'max_discount', 'currency', 'min_order_amount', 'applies_to_skus', 'label'],
  amount_off: ['amount_off', 'currency', 'min_order_amount', 'applies_to_skus', 'label'],
  free_shipping: ['currency', 'min_order_amount', 'applies_to_skus', 'label'],
  custom: ['label', 'currency', 'min_order_amount', 'applies_to_skus'],
};
const MONEY_INPUTS = { amount_off: 'amount off', max_discount: 'max discount', min_order_amount: 'minimum order' };

/** A reward in words: "15.5% off, max 20.00 EUR, min order 50.00 EUR, SKUs: A, B". */
function rewardSummary(r) {
  if (!r) return 'none';
  const cur = r.currency;
  const heads = {
    percent_off: () => `${r.percent_off}% off`,
    amount_off: () => `${money(r.amount_off, cur)} off`,
    free_shipping: () => 'free shipping',
    custom: () => (r.label ? `custom: ${r.label}` : 'custom'),
  };
  const parts = [heads[r.type] ? heads[r.type]() : String(r.type)];
  if (given(r.max_discount)) parts.push(`max ${money(r.max_discount, cur)}`);
  if (given(r.min_order_amount)) parts.push(`min order ${money(r.min_order_amount, cur)}`);
  if (r.applies_to_skus && r.applies_to_skus.length) parts.push(`SKUs: ${r.applies_to_skus.join(', ')}`);
  if (r.label && r.type !== 'custom') parts.push(`label “${r.label}”`);
  return parts.join(', ');
}

/** The reward inputs of a form (names "reward.percent_off", … as the API's `field`),
 * showing only those the chosen type uses. `noneText` names the empty choice. */
function rewardFields(reward, noneText = 'none') {
  const r = reward || {};
  const cur = r.currency ?? null;
  const box = h('fieldset.field.reward', { 'data-field': 'reward' },
    h('legend', 'Reward'),
    h('p.field-error', { 'aria-live': 'polite' }),
    h('div.grid',
      field({ label: 'Reward type', name: 'reward.type', type: 'select', value: reward ? r.type : '', options: [['', noneText], ...REWARD_TYPES] }),
      field({ label: 'Percent off', name: 'reward.percent_off', value: r.percent_off ?? '', hint: 'Above 0, at most 100, 2 decimals: 15.5', attrs: { inputmode: 'decimal' } }),
      field({ label: 'Amount off', name: 'reward.amount_off', value: moneyText(r.amount_off, cur), hint: 'In the currency: 10.00', attrs: { inputmode: 'decimal' } }),
      field({ label: 'Max discount', name: 'reward.max_discount', value: moneyText(r.max_discount, cur), hint: 'Cap on the discount; empty = none', attrs: { inputmode: 'decimal' } }),
      field({ label: 'Currency', name: 'reward.currency', value: cur ?? '', hint: 'ISO 4217 (EUR): needed with an amount', attrs: { maxlength: 3, spellcheck: 'false', autocapitalize: 'characters' } }),
      field({ label: 'Minimum order', name: 'reward.min_order_amount', value: moneyText(r.min_order_amount, cur), hint: 'Empty = any order', attrs: { inputmode: 'decimal' } }),
      field({ label: 'Only for SKUs', name: 'reward.applies_to_skus', value: (r.applies_to_skus || []).join(', '), hint: 'Comma-separated; empty = the whole order', attrs: { spellcheck: 'false' } }),
      field({ label: 'Label', name: 'reward.label', value: r.label ?? '', hint: 'For receipts, up to 200 characters', attrs: { maxlength: 200 } })));
  const select = box.querySelector('select');
  const sync = () => {
    const used = REWARD_INPUTS[select.value] || [];
    for (const f of box.querySelectorAll('.grid > .field')) {
      const name = f.dataset.field.replace('reward.', '');
      if (name !== 'type') f.hidden = !used.includes(name);
    }
  };
  select.addEventListener('change', sync);
  sync();
  return box;
}

/** The reward of a form made by rewardFields, or null for none. */
function rewardOrNull(data) {
  const type = data.get('reward.type') || '';
  if (!type) return null;
  const currencyText = textOrNull(data, 'reward.currency');
  const currency = currencyText && currencyText.toUpperCase();
  const reward = { type };
  for (const name of REWARD_INPUTS[type] || []) {
    const key = `reward.${name}`;
    let value;
    if (name === 'percent_off') {
      value = textOrNull(data, key);
      if (value !== null) {
        if (!/^\d+(\.\d+)?$/.test(value)) throw new ApiError(0, 'invalid_request', 'percent off must be a number, like 15.5', key);
        value = Number(value);
      }
    } else if (MONEY_INPUTS[name]) {
      value = amountOrNull(data, key, currency, MONEY_INPUTS[name]);
    } else if (name === 'currency') {
      value = currency;
    } else if (name === 'applies_to_skus') {
      const skus = String(data.get(key) ?? '').split(/[,\n]/).map((sku) => sku.trim()).filter(Boolean);
      value = skus.length ? skus : null;
    } else {
      value = textOrNull(data, key);
    }
    if (value !== null) reward[name] = value;
  }
  return reward;
}

/** "20.00" in `currency` -> 2000 minor units; "" -> null. */
function amountOrNull(data, name, currency, label) {
  const text = String(data.get(name) ?? '').trim().replaceAll(',', '');
  if (text === '') return null;
  const d = currencyDigits(currency);
  const m = text.match(/^(\d+)(?:\.(\d*))?$/);
  const example = d ? `10.${'5'.padEnd(d, '0')}` : '10';
  if (!m || (m[2] ?? '').length > d) {
    throw new ApiError(0, 'invalid_request', `${label} must be an amount with at most ${d} decimals${currency ? ` in ${currency}` : ''}, like ${example}`, name);
  }
  const minor = Number(m[1] + (m[2] ?? '').padEnd(d, '0'));
  if (!Number.isSafeInteger(minor)) throw new ApiError(0, 'invalid_request', `${label} is too large`, name);
  return minor;
}

/** JSON with sorted keys and no null members, to compare two rewards. */
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().filter((k) => given(value[k])).map((k) => [k, canonical(value[k])]));
  }
  return value ?? null;
}
const sameReward = (a, b) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/** An error shown in place of a whole section. */
function errorBox(err) {
  return h('p.form-error', { role: 'alert' }, err instanceof ApiError ? `${err.message} (${err.code})` : String(err));
}


export { KEY_STORAGE, view, h, put, fill, s, num, pad, fmtTime, fmtTimeEl, duration, nextId, toast, badge, tableWrap, ApiError, getKey, api, enc, field, clearErrors, fieldFor, showError, onSubmit, wholeNumber, textOrNull, timeOrNull, toLocalInput, errorBox, money, moneyText, amountOrNull, rewardSummary, rewardFields, rewardOrNull, sameReward };
