// coupon-book admin console: plain JavaScript, no build step, no third-party code.
// Every data call goes to the JSON API (docs/API.md) with the key pasted into the
// header form; the key lives in sessionStorage only and travels as an Authorization
// header, never in a URL or a cookie.

import { parsePattern, sampleCode, maxCount, formatBig, CHARSETS, PatternError } from './pattern.js';

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

/** An error shown in place of a whole section. */
function errorBox(err) {
  return h('p.form-error', { role: 'alert' }, err instanceof ApiError ? `${err.message} (${err.code})` : String(err));
}

// ---------------------------------------------------------------- key handling

const keyForm = document.getElementById('key-form');
const keyInput = document.getElementById('api-key');
const keyState = document.getElementById('key-state');

function setKeyState(text, bad = false) {
  keyState.textContent = text;
  keyState.classList.toggle('bad', bad);
}

function describeKey() {
  const key = getKey();
  if (key) setKeyState(`Key in use (…${key.slice(-4)})`);
  else setKeyState('No key yet', true);
}

keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) {
    setKeyState('Paste a key first', true);
    keyInput.focus();
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
  keyInput.value = '';
  describeKey();
  if (!location.hash || location.hash === '#/' || location.hash === '#/welcome') location.hash = '#/books';
  else route();
});
document.getElementById('key-forget').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  describeKey();
  route();
  keyInput.focus();
});

// ---------------------------------------------------------------- routing

let cleanups = [];
function onLeave(fn) {
  cleanups.push(fn);
}
function every(ms, fn) {
  const timer = setInterval(() => {
    if (!document.hidden) fn();
  }, ms);
  onLeave(() => clearInterval(timer));
}

const routes = [
  [/^#\/books\/?$/, () => booksView()],
  [/^#\/books\/([^/]+)$/, (id) => bookView(decodeURIComponent(id))],
  [/^#\/coupons\/?$/, () => couponView(null)],
  [/^#\/coupons\/([^/]+)$/, (code) => couponView(decodeURIComponent(code))],
  [/^#\/events\/?(?:\?(.*))?$/, (query) => eventsView(query)],
  [/^#\/webhooks\/?$/, () => webhooksView()],
  [/^#\/keys\/?$/, () => keysView()],
];

function route() {
  for (const fn of cleanups) fn();
  cleanups = [];
  const hash = location.hash || '#/books';
  const section = hash.split(/[/?]/)[1] || 'books';
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  fill(view);
  if (!getKey()) {
    welcomeView();
    return;
  }
  for (const [re, render] of routes) {
    const m = hash.match(re);
    if (m) {
      render(...m.slice(1));
      return;
    }
  }
  put(h('h1', { tabindex: -1 }, 'Not found'), h('p', 'No such screen. ', h('a', { href: '#/books' }, 'Back to the books.')));
}

function title(text, ...extra) {
  const el = h('h1', { tabindex: -1 }, text, ...extra);
  document.title = `${typeof text === 'string' ? text : 'coupon-book'} · coupon-book console`;
  return el;
}

// The skip link moves focus to the content without touching the route.
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  view.focus();
});

window.addEventListener('hashchange', () => {
  if (location.hash && !location.hash.startsWith('#/')) return;
  route();
  const heading = view.querySelector('h1');
  if (heading) heading.focus({ preventScroll: false });
});

function welcomeView() {
  put(
    title('Welcome'),
    h('p', 'Paste an API key into the field at the top of the page to start. An admin key sees every screen; a narrower key sees what its scopes allow.'),
    h('p', 'The first admin key comes from ', h('code', 'COUPON_BOOK_BOOTSTRAP_ADMIN_KEY'), ' or ', h('code', 'coupon-book keys create --name ops --scope admin'), '.'));
}

// ---------------------------------------------------------------- books list

function bookFields(book) {
  const b = book || {};
  const fields = [
    field({ label: 'Name', name: 'name', value: b.name ?? '', required: true, attrs: { maxlength: 200 } }),
    field({ label: 'Description', name: 'description', type: 'textarea', value: b.description ?? '' }),
  ];
  if (!book) {
    fields.push(field({ label: 'Status', name: 'status', type: 'select', value: 'draft', options: [['draft', 'draft'], ['active', 'active']] }));
  }
  fields.push(
    h('div.grid',
      field({ label: 'Redemptions per code', name: 'max_redemptions_per_coupon', value: book ? (b.max_redemptions_per_coupon ?? '') : '1', hint: 'Empty = unlimited', attrs: { inputmode: 'numeric' } }),
      field({ label: 'Codes per user', name: 'max_coupons_per_user', value: b.max_coupons_per_user ?? '', hint: 'Empty = unlimited', attrs: { inputmode: 'numeric' } }),
      field({ label: 'Redemptions per user', name: 'max_redemptions_per_user', value: b.max_redemptions_per_user ?? '', hint: 'Empty = unlimited', attrs: { inputmode: 'numeric' } }),
      field({ label: 'Budget (total redemptions)', name: 'max_total_redemptions', value: b.max_total_redemptions ?? '', hint: 'Empty = unlimited', attrs: { inputmode: 'numeric' } }),
      field({ label: 'Valid from (UTC)', name: 'valid_from', type: 'datetime-local', value: toLocalInput(b.valid_from) }),
      field({ label: 'Valid until (UTC)', name: 'valid_until', type: 'datetime-local', value: toLocalInput(b.valid_until) }),
      field({ label: 'Lock time-to-live (s)', name: 'lock_ttl_seconds', value: b.lock_ttl_seconds ?? 300, attrs: { inputmode: 'numeric' } })),
    field({ label: 'Codes must be assigned before use', name: 'requires_assignment', type: 'checkbox', value: book ? b.requires_assignment : true }));
  return fields;
}

function bookBody(data, creating) {
  const body = {
    name: String(data.get('name') ?? '').trim(),
    description: textOrNull(data, 'description'),
    max_redemptions_per_coupon: wholeNumber(data, 'max_redemptions_per_coupon'),
    max_coupons_per_user: wholeNumber(data, 'max_coupons_per_user'),
    max_redemptions_per_user: wholeNumber(data, 'max_redemptions_per_user'),
    max_total_redemptions: wholeNumber(data, 'max_total_redemptions'),
    valid_from: timeOrNull(data, 'valid_from'),
    valid_until: timeOrNull(data, 'valid_until'),
    lock_ttl_seconds: wholeNumber(data, 'lock_ttl_seconds') ?? 300,
    requires_assignment: data.get('requires_assignment') === 'on',
  };
  if (creating) body.status = data.get('status') || 'draft';
  return body;
}

function validity(book, now = Date.now()) {
  const from = book.valid_from ? Date.parse(book.valid_from) : null;
  const until = book.valid_until ? Date.parse(book.valid_until) : null;
  let state = 'always';
  if (from && now < from) state = 'not yet';
  else if (until && now >= until) state = 'ended';
  else if (from || until) state = 'valid now';
  const range = from || until ? `${book.valid_from ? fmtTime(book.valid_from) : '…'} → ${book.valid_until ? fmtTime(book.valid_until) : '…'}` : 'no window';
  return h('span', h(`span.validity.v-${state.replace(' ', '-')}`, state), h('br'), h('small', range));
}

/** Net redemptions of a book (for its budget), from its stats. */
async function netRedemptions(bookId) {
  const stats = await api(`/v1/books/${enc(bookId)}/stats?bucket=day`);
  return stats.redemptions.reduce((n, b) => n + b.redeemed - b.reversed, 0);
}

function budgetCell(book) {
  const cell = h('td', { 'data-label': 'Budget' });
  if (book.max_total_redemptions === null || book.max_total_redemptions === undefined) {
    cell.append('unlimited');
    return cell;
  }
  cell.append('…');
  netRedemptions(book.id).then((used) => {
    const max = book.max_total_redemptions;
    const pct = max ? Math.min(100, Math.round((used / max) * 100)) : 0;
    fill(cell, 
      h('span', `${num(used)} / ${num(max)}`),
      h('meter', { min: 0, max, value: used, 'aria-label': `Budget used for ${book.name}: ${pct}%` }));
  }).catch(() => fill(cell, '?'));
  return cell;
}

/** The status moves a book allows: draft -> active <-> paused, any -> archived. */
function statusActions(book, after) {
  const move = async (status, verb) => {
    if (status === 'archived' && !confirm(`Archive "${book.name}"? Archived books are final: no more assigning or redeeming.`)) return;
    try {
      await api(`/v1/books/${enc(book.id)}`, { method: 'PATCH', json: { status } });
      toast(`${book.name}: ${verb}`);
      after();
    } catch (err) {
      toast(`${book.name}: ${err.message}`);
      alertNear(err);
    }
  };
  const buttons = [];
  if (book.status === 'draft' || book.status === 'paused') {
    buttons.push(h('button.small', { type: 'button', onclick: () => move('active', 'activated'), 'aria-label': `Activate ${book.name}` }, 'Activate'));
  }
  if (book.status === 'active') {
    buttons.push(h('button.small.secondary', { type: 'button', onclick: () => move('paused', 'paused'), 'aria-label': `Pause ${book.name}` }, 'Pause'));
  }
  if (book.status !== 'archived') {
    buttons.push(h('button.small.danger', { type: 'button', onclick: () => move('archived', 'archived'), 'aria-label': `Archive ${book.name}` }, 'Archive'));
  }
  return buttons;
}

function alertNear(err) {
  const box = view.querySelector('.page-error') || view.appendChild(h('p.form-error.page-error', { role: 'alert' }));
  box.textContent = `${err.message} (${err.code})`;
}

function booksView() {
  const list = h('div', h('p', 'Loading…'));
  const editSlot = h('div');
  let cursor = null;
  let books = [];

  const createForm = onSubmit(
    h('form.card', { novalidate: true, 'aria-labelledby': 'new-book-title' },
      h('h2#new-book-title', 'New book'),
      bookFields(null),
      h('div.actions', h('button', { type: 'submit' }, 'Create book'))),
    async (data) => {
      const book = await api('/v1/books', { method: 'POST', json: bookBody(data, true) });
      toast(`Book "${book.name}" created`);
      location.hash = `#/books/${enc(book.id)}`;
    });
  const details = h('details.create', h('summary', 'New book'), createForm);

  function edit(book) {
    const form = onSubmit(
      h('form.card', { novalidate: true, 'aria-label': `Edit ${book.name}` },
        h('h2', `Edit “${book.name}”`),
        bookFields(book),
        h('div.actions',
          h('button', { type: 'submit' }, 'Save'),
          h('button.secondary', { type: 'button', onclick: () => fill(editSlot) }, 'Cancel'))),
      async (data) => {
        const updated = await api(`/v1/books/${enc(book.id)}`, { method: 'PATCH', json: bookBody(data, false) });
        toast(`Saved "${updated.name}"`);
        fill(editSlot);
        load();
      });
    fill(editSlot, form);
    form.querySelector('input').focus();
  }

  function render() {
    const rows = books.map((b) => h('tr',
      h('th', { scope: 'row', 'data-label': 'Book' }, h('a', { href: `#/books/${enc(b.id)}` }, b.name), h('br'), h('small.mono', b.id)),
      h('td', { 'data-label': 'Status' }, badge(b.status)),
      h('td', { 'data-label': 'Codes' }, h('span', `${num(b.counts.total)} total`), h('br'),
        h('small', `${num(b.counts.available)} available · ${num(b.counts.assigned)} assigned · ${num(b.counts.redeemed)} redeemed`)),
      budgetCell(b),
      h('td', { 'data-label': 'Validity' }, validity(b)),
      h('td.row-actions', { 'data-label': 'Actions' },
        b.status !== 'archived' && h('button.small.secondary', { type: 'button', onclick: () => edit(b), 'aria-label': `Edit ${b.name}` }, 'Edit'),
        statusActions(b, load))));
    fill(list, 
      tableWrap('Books', ['Book', 'Status', 'Codes', 'Budget', 'Validity', 'Actions'], rows, 'No books yet: create one above.'),
      cursor && h('button.secondary', { type: 'button', onclick: more }, 'Load more'));
  }

  async function load() {
    try {
      const page = await api('/v1/books?limit=100');
      books = page.data;
      cursor = page.next_cursor;
      render();
    } catch (err) {
      fill(list, errorBox(err));
    }
  }
  async function more() {
    try {
      const page = await api(`/v1/books?limit=100&cursor=${enc(cursor)}`);
      books = books.concat(page.data);
      cursor = page.next_cursor;
      render();
    } catch (err) {
      list.append(errorBox(err));
    }
  }

  put(title('Books'), details, editSlot, list);
  load();
}

// ---------------------------------------------------------------- book page: charts

const COUNT_PARTS = [
  ['available', 'Available'],
  ['assigned', 'Assigned'],
  ['locked', 'Locked'],
  ['redeemed', 'Redeemed'],
  ['voided', 'Voided'],
];

/** Counts as one stacked bar, with a legend that also carries the numbers. */
function countsBar(counts) {
  const total = COUNT_PARTS.reduce((n, [k]) => n + (counts[k] || 0), 0);
  const svg = s('svg', { class: 'stack', viewBox: '0 0 1000 40', preserveAspectRatio: 'none', role: 'img',
    'aria-label': `Codes by status: ${COUNT_PARTS.map(([k, l]) => `${l} ${counts[k] || 0}`).join(', ')}` });
  let x = 0;
  if (total === 0) svg.append(s('rect', { x: 0, y: 0, width: 1000, height: 40, class: 'seg-empty' }));
  for (const [k, label] of COUNT_PARTS) {
    const w = total ? ((counts[k] || 0) / total) * 1000 : 0;
    if (w > 0) {
      svg.append(s('rect', { x, y: 0, width: w, height: 40, class: `seg-${k}` }, s('title', {}, `${label}: ${counts[k]}`)));
      x += w;
    }
  }
  const legend = h('ul.legend', COUNT_PARTS.map(([k, label]) =>
    h('li', h(`span.swatch.seg-${k}`, { 'aria-hidden': 'true' }), `${label} `, h('strong', { 'data-count': k }, num(counts[k] || 0)))));
  return h('div.counts', h('p.total', h('strong', { 'data-count': 'total' }, num(counts.total)), ' codes'), svg, legend);
}

/** Buckets from the API, with the empty ones in between filled in. */
function fillBuckets(buckets, bucket, maxBuckets) {
  const step = bucket === 'day' ? 86_400_000 : 3_600_000;
  const floor = (t) => Math.floor(t / step) * step;
  const byStart = new Map(buckets.map((b) => [floor(Date.parse(b.start)), b]));
  const end = floor(Date.now());
  // The whole window, so that time reads from left to right at a steady pace.
  const start = end - (maxBuckets - 1) * step;
  const out = [];
  for (let t = start; t <= end; t += step) {
    const b = byStart.get(t);
    out.push({ start: t, redeemed: b ? b.redeemed : 0, reversed: b ? b.reversed : 0 });
  }
  return out;
}

function redemptionsChart(stats, bucket) {
  const data = fillBuckets(stats.redemptions, bucket, bucket === 'day' ? 30 : 24);
  const W = 640;
  const H = 220;
  const m = { l: 40, r: 10, t: 12, b: 34 };
  const max = Math.max(1, ...data.map((d) => Math.max(d.redeemed, d.reversed)));
  const niceMax = max <= 5 ? max : Math.ceil(max / 5) * 5;
  const plotW = W - m.l - m.r;
  const plotH = H - m.t - m.b;
  const slot = plotW / Math.max(data.length, 1);
  const barW = Math.max(2, Math.min(18, slot / 2 - 2));
  const y = (v) => m.t + plotH - (v / niceMax) * plotH;
  const totalRedeemed = data.reduce((n, d) => n + d.redeemed, 0);
  const totalReversed = data.reduce((n, d) => n + d.reversed, 0);
  const label = `Redemptions per ${bucket} over the last ${data.length} ${bucket}${data.length === 1 ? '' : 's'}: ${totalRedeemed} redeemed, ${totalReversed} reversed`;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label });
  const ticks = niceMax <= 5 ? niceMax : 5;
  for (let i = 0; i <= ticks; i++) {
    const v = Math.round((niceMax / ticks) * i);
    svg.append(
      s('line', { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: m.l - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(v)));
  }
  const labelEvery = Math.ceil(data.length / 8);
  data.forEach((d, i) => {
    const x0 = m.l + i * slot + slot / 2;
    const date = new Date(d.start);
    const when = bucket === 'day' ? `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}` : `${pad(date.getUTCHours())}:00`;
    if (d.redeemed) svg.append(s('rect', { x: x0 - barW - 1, y: y(d.redeemed), width: barW, height: y(0) - y(d.redeemed), class: 'bar-redeemed' }, s('title', {}, `${when}: ${d.redeemed} redeemed`)));
    if (d.reversed) svg.append(s('rect', { x: x0 + 1, y: y(d.reversed), width: barW, height: y(0) - y(d.reversed), class: 'bar-reversed' }, s('title', {}, `${when}: ${d.reversed} reversed`)));
    if (i % labelEvery === 0 || i === data.length - 1) {
      svg.append(s('text', { x: x0, y: H - m.b + 16, class: 'axis', 'text-anchor': 'middle' }, bucket === 'day' ? when.slice(5) : when));
    }
  });
  svg.append(s('line', { x1: m.l, x2: W - m.r, y1: y(0), y2: y(0), class: 'baseline' }));
  const legend = h('ul.legend',
    h('li', h('span.swatch.bar-redeemed', { 'aria-hidden': 'true' }), 'Redeemed ', h('strong', { 'data-total': 'redeemed' }, num(totalRedeemed))),
    h('li', h('span.swatch.bar-reversed', { 'aria-hidden': 'true' }), 'Reversed ', h('strong', { 'data-total': 'reversed' }, num(totalReversed))));
  const table = h('details.data',
    h('summary', 'Chart data as a table'),
    tableWrap('Redemptions per bucket', ['Start (UTC)', 'Redeemed', 'Reversed'],
      data.filter((d) => d.redeemed || d.reversed).map((d) => h('tr', h('td', fmtTime(new Date(d.start).toISOString())), h('td', d.redeemed), h('td', d.reversed))),
      'No redemptions in this window.'));
  return h('div', svg, legend, table);
}

// ---------------------------------------------------------------- book page: jobs

const JOB_NAMES = { generate: 'Generation', upload: 'Upload', assign: 'Bulk assign', void: 'Bulk void', delete: 'Bulk delete' };
const BULK_KINDS = ['assign', 'void', 'delete'];
/** The counts each kind of job reports, in order. */
const REPORTS = {
  upload: [['inserted', 'Inserted'], ['duplicates_in_file', 'Duplicates in file'], ['already_exist', 'Already exist'], ['invalid', 'Invalid']],
  assign: [['assigned', 'Assigned'], ['limit_reached', 'Limit reached'], ['exhausted', 'No code left'], ['invalid', 'Invalid']],
  void: [['voided', 'Voided'], ['not_found', 'Not found'], ['invalid', 'Invalid']],
  delete: [['deleted', 'Deleted'], ['in_use', 'In use (kept)'], ['not_found', 'Not found'], ['invalid', 'Invalid']],
};
REPORTS.generate = REPORTS.upload;

/** A job's progress and, once finished, its per-line report. Polls until done. */
function jobPanel(job, onDone) {
  const panel = h('div.job', { 'aria-live': 'polite' });
  let stopped = false;
  onLeave(() => { stopped = true; });
  function render(j) {
    const total = j.total || 0;
    const pct = total ? Math.floor((j.processed / total) * 100) : (j.status === 'running' ? 0 : 100);
    const progressId = nextId('progress');
    const parts = [
      h('p', h('strong', `${JOB_NAMES[j.kind] || 'Generation'} job `), h('span.mono', j.id), ' ', h(`span.badge.job-${j.status}`, { 'data-job-status': j.status }, j.status)),
      h('label', { for: progressId }, `Progress: ${num(j.processed)} of ${num(total)} (${pct}%)`),
      h('progress', { id: progressId, max: 100, value: pct }, `${pct}%`),
      h('dl.report', ...(REPORTS[j.kind] || REPORTS.upload).map(([name, label]) =>
        h('div', h('dt', label), h('dd', { 'data-report': name }, num(j[name] || 0))))),
    ];
    if (BULK_KINDS.includes(j.kind)) {
      const button = h('button.secondary', { type: 'button', 'data-action': 'results' }, 'Download results CSV');
      button.addEventListener('click', () => downloadCsv(`/v1/jobs/${enc(j.id)}/results`, `${j.id}-results.csv`, button));
      parts.push(h('div.actions', button));
    }
    if (j.errors && j.errors.length) {
      parts.push(tableWrap('Rejected lines', ['Line', 'Code', 'Reason'],
        j.errors.map((e) => h('tr', { 'data-line': e.line }, h('td', e.line), h('td.mono', e.code || '(empty)'), h('td', e.reason)))));
    }
    fill(panel, ...parts);
  }
  async function poll(j) {
    render(j);
    if (j.status !== 'running' || stopped) {
      if (j.status !== 'running') onDone(j);
      return;
    }
    await new Promise((r) => setTimeout(r, 400));
    if (stopped) return;
    try {
      poll(await api(`/v1/jobs/${enc(j.id)}`));
    } catch (err) {
      panel.append(errorBox(err));
    }
  }
  poll(job);
  return panel;
}

const CHARSET_OPTIONS = [
  ['unambiguous', 'unambiguous (no 0 O 1 I)'],
  ['alphanumeric', 'alphanumeric (0-9 A-Z)'],
  ['alphabetic', 'alphabetic (A-Z)'],
  ['numeric', 'numeric (0-9)'],
  ['custom', 'custom set…'],
];

function generateForm(book, onJob) {
  const defaults = (book.code_pattern && typeof book.code_pattern === 'object') ? book.code_pattern : {};
  const preset = defaults.charset && !Object.hasOwn(CHARSETS, defaults.charset) ? 'custom' : (defaults.charset || 'unambiguous');
  const preview = h('div.preview', { 'aria-live': 'polite', 'aria-atomic': 'true' });
  const form = h('form.card', { novalidate: true, 'aria-labelledby': 'gen-title' },
    h('h2#gen-title', 'Generate codes'),
    h('div.grid',
      field({ label: 'How many', name: 'count', value: defaults.count ?? '1000', required: true, attrs: { inputmode: 'numeric' } }),
      field({ label: 'Pattern', name: 'pattern', value: defaults.pattern ?? '', hint: '# = one random character; \\X = a literal X. Empty: use Length.', attrs: { spellcheck: 'false', autocapitalize: 'characters' } }),
      field({ label: 'Charset', name: 'charset_preset', type: 'select', value: preset, options: CHARSET_OPTIONS }),
      field({ label: 'Custom charset', name: 'charset', value: preset === 'custom' ? defaults.charset : '', hint: 'Used with “custom set”: e.g. ABC123', attrs: { spellcheck: 'false' } }),
      field({ label: 'Prefix', name: 'prefix', value: defaults.prefix ?? '' }),
      field({ label: 'Suffix', name: 'suffix', value: defaults.suffix ?? '' }),
      field({ label: 'Length (no pattern)', name: 'length', value: defaults.length ?? '', hint: 'Default 8', attrs: { inputmode: 'numeric' } })),
    field({ label: 'Add a check character (Luhn mod N: typos become “not found”)', name: 'check_character', type: 'checkbox', value: Boolean(defaults.check_character) }),
    preview,
    h('div.actions', h('button', { type: 'submit' }, 'Generate')));

  function spec(data) {
    const presetValue = data.get('charset_preset');
    const out = {
      pattern: textOrNull(data, 'pattern'),
      charset: presetValue === 'custom' ? (textOrNull(data, 'charset') ?? '') : presetValue,
      prefix: textOrNull(data, 'prefix'),
      suffix: textOrNull(data, 'suffix'),
      length: wholeNumber(data, 'length'),
      check_character: data.get('check_character') === 'on',
    };
    for (const k of Object.keys(out)) if (out[k] === null) delete out[k];
    return out;
  }

  function update() {
    for (const name of ['pattern', 'charset', 'prefix', 'suffix', 'length', 'check_character']) {
      const f = fieldFor(form, name);
      f.querySelector('.field-error').textContent = '';
      f.querySelector('input, select').removeAttribute('aria-invalid');
    }
    const customField = fieldFor(form, 'charset');
    customField.hidden = form.elements.charset_preset.value !== 'custom';
    try {
      const parsed = parsePattern(spec(new FormData(form)));
      const samples = Array.from({ length: 5 }, () => sampleCode(parsed));
      fill(preview, 
        h('p', h('strong', 'Preview'), ` · ${parsed.length} characters · space of `, h('strong', { 'data-space': parsed.space.toString() }, formatBig(parsed.space)), ' codes · at most ', formatBig(maxCount(parsed)), ' can be generated'),
        h('ul.samples', { 'aria-label': 'Five sample codes' }, samples.map((c) => h('li.mono', c))));
      return parsed;
    } catch (err) {
      fill(preview, h('p', 'No preview: fix the field marked below.'));
      if (err instanceof PatternError || err instanceof ApiError) {
        const f = fieldFor(form, err.field === 'charset' && form.elements.charset_preset.value !== 'custom' ? 'charset_preset' : err.field);
        if (f) {
          f.querySelector('.field-error').textContent = err.message;
          f.querySelector('input, select').setAttribute('aria-invalid', 'true');
        }
      }
      return null;
    }
  }
  form.addEventListener('input', update);
  form.addEventListener('change', update);
  update();

  onSubmit(form, async (data) => {
    const body = spec(data);
    const parsed = parsePattern(body);
    const count = wholeNumber(data, 'count');
    if (count === null) throw new ApiError(0, 'invalid_request', 'count is required', 'count');
    if (BigInt(count) > maxCount(parsed)) {
      throw new ApiError(0, 'pattern_space_too_small', `the pattern allows ${formatBig(parsed.space)} codes: at most ${formatBig(maxCount(parsed))} can be generated`, 'count');
    }
    body.count = count;
    const job = await api(`/v1/books/${enc(book.id)}/codes/generate`, { method: 'POST', json: body, headers: { 'Idempotency-Key': crypto.randomUUID() } });
    onJob(job);
  });
  return form;
}

function uploadForm(book, onJob) {
  const form = h('form.card', { novalidate: true, 'aria-labelledby': 'up-title' },
    h('h2#up-title', 'Upload codes'),
    field({ label: 'CSV or text file, one code per line (optional header line “code”)', name: 'body', type: 'file', attrs: { accept: '.csv,.txt,text/csv,text/plain' } }),
    h('div.actions', h('button', { type: 'submit' }, 'Upload')));
  onSubmit(form, async (data) => {
    const file = data.get('body');
    if (!(file instanceof File) || !file.name) throw new ApiError(0, 'invalid_request', 'choose a file first', 'body');
    const job = await api(`/v1/books/${enc(book.id)}/codes/upload`, {
      method: 'POST',
      body: file,
      headers: { 'Content-Type': 'text/csv', 'Idempotency-Key': crypto.randomUUID() },
    });
    onJob(job);
  }, 'body');
  return form;
}

/** The codes of a text file, one a line (blank lines and a `code` header skipped). */
function codesOfFile(text) {
  const lines = text.split(/\r?\n/).map((l) => l.replace(/^\uFEFF/, '').trim().replace(/^"(.*)"$/, '$1'));
  const codes = lines.filter((l) => l !== '');
  if (codes.length && codes[0].toLowerCase() === 'code') codes.shift();
  return codes;
}

/** Bulk jobs on the book: assign codes to a file of users; void or delete a file of
 * codes or every code of a status. */
function bulkForm(book, onJob) {
  const form = h('form.card', { novalidate: true, 'aria-labelledby': 'bulk-title' },
    h('h2#bulk-title', 'Bulk jobs'),
    h('div.grid',
      field({ label: 'Job', name: 'kind', type: 'select', value: 'assign', options: [['assign', 'assign a code to each user'], ['void', 'void codes'], ['delete', 'delete unused codes']] }),
      field({ label: 'Codes to void or delete', name: 'source', type: 'select', value: 'file', options: [['file', 'the codes in the file'], ['status', 'every code with status…']] }),
      field({ label: 'Status', name: 'status', type: 'select', value: 'available', options: [['available', 'available'], ['assigned', 'assigned'], ['locked', 'locked'], ['redeemed', 'redeemed'], ['voided', 'voided']] })),
    field({ label: 'File: user ids (header “user_id”) for assign, codes (header “code”) for void and delete; one a line', name: 'body', type: 'file', attrs: { accept: '.csv,.txt,text/csv,text/plain' } }),
    h('div.actions', h('button', { type: 'submit' }, 'Start job')));
  onSubmit(form, async (data) => {
    const kind = data.get('kind');
    const file = data.get('body');
    const hasFile = file instanceof File && file.name;
    const headers = { 'Idempotency-Key': crypto.randomUUID() };
    let job;
    if (kind === 'assign') {
      if (!hasFile) throw new ApiError(0, 'invalid_request', 'choose a file of user ids first', 'body');
      job = await api(`/v1/books/${enc(book.id)}/assign/bulk`, { method: 'POST', body: file, headers: { ...headers, 'Content-Type': 'text/csv' } });
    } else {
      let json;
      if (data.get('source') === 'status') {
        json = { status: data.get('status') };
      } else {
        if (!hasFile) throw new ApiError(0, 'invalid_request', 'choose a file of codes first', 'body');
        const codes = codesOfFile(await file.text());
        if (codes.length > 10000) throw new ApiError(0, 'invalid_request', 'at most 10,000 codes a file: use the status filter for more', 'body');
        json = { codes };
      }
      job = await api(`/v1/books/${enc(book.id)}/codes/${kind}`, { method: 'POST', json, headers });
    }
    onJob(job);
  }, 'body');
  return form;
}

/** Downloads a CSV of the API (the key goes in a header, never in the URL). */
async function downloadCsv(path, filename, button) {
  button.disabled = true;
  const old = button.textContent;
  button.textContent = 'Exporting…';
  try {
    const response = await api(path, { raw: true });
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    toast(`Exported ${num(blob.size)} bytes`);
  } catch (err) {
    toast(`Export failed: ${err.message}`);
  } finally {
    button.disabled = false;
    button.textContent = old;
  }
}

const fileStem = (book) => book.name.replace(/[^A-Za-z0-9_-]+/g, '-') || 'book';

function exportCodes(book, button) {
  return downloadCsv(`/v1/books/${enc(book.id)}/codes/export`, `${fileStem(book)}-codes.csv`, button);
}

function exportRedemptions(book, button) {
  return downloadCsv(`/v1/redemptions/export?book_id=${enc(book.id)}`, `${fileStem(book)}-redemptions.csv`, button);
}

function codesList(book) {
  const box = h('section.card', { 'aria-labelledby': 'codes-title' });
  const statusSelect = field({ label: 'Status', name: 'status', type: 'select', value: '', options: [['', 'any'], ['available', 'available'], ['assigned', 'assigned'], ['locked', 'locked'], ['redeemed', 'redeemed'], ['voided', 'voided']] });
  const list = h('div');
  let cursor = null;
  let coupons = [];
  async function load(reset) {
    const status = statusSelect.querySelector('select').value;
    const q = `limit=20${status ? `&status=${enc(status)}` : ''}${!reset && cursor ? `&cursor=${enc(cursor)}` : ''}`;
    try {
      const page = await api(`/v1/books/${enc(book.id)}/codes?${q}`);
      coupons = reset ? page.data : coupons.concat(page.data);
      cursor = page.next_cursor;
      fill(list, 
        tableWrap('Codes', ['Code', 'Status', 'Assigned to', 'Redemptions'],
          coupons.map((c) => h('tr',
            h('td.mono', h('a', { href: `#/coupons/${enc(c.code)}` }, c.code)),
            h('td', badge(c.status)),
            h('td', c.assigned_to ?? '—'),
            h('td', `${c.redemption_count}${c.max_redemptions === null ? '' : ` / ${c.max_redemptions}`}`))),
          'No codes yet.'),
        cursor && h('button.secondary', { type: 'button', onclick: () => load(false) }, 'Load more'));
    } catch (err) {
      fill(list, errorBox(err));
    }
  }
  statusSelect.querySelector('select').addEventListener('change', () => load(true));
  box.append(h('h2#codes-title', 'Codes'), h('div.inline', statusSelect), list);
  box.reload = () => load(true);
  load(true);
  return box;
}

// ---------------------------------------------------------------- book page

function bookView(bookId) {
  const header = h('div', h('p', 'Loading…'));
  const countsBox = h('section.card', { 'aria-labelledby': 'counts-title' }, h('h2#counts-title', 'Codes by status'), h('div.counts-slot'));
  const chartBox = h('section.card', { 'aria-labelledby': 'chart-title' });
  const usersBox = h('section.card', { 'aria-labelledby': 'users-title' });
  const jobsBox = h('div.jobs');
  let bucket = 'hour';
  let book = null;
  let codes = null;

  const bucketField = field({ label: 'Bucket', name: 'bucket', type: 'select', value: bucket, options: [['hour', 'per hour (last 24)'], ['day', 'per day (last 30)']] });
  bucketField.querySelector('select').addEventListener('change', (e) => {
    bucket = e.target.value;
    loadStats();
  });
  const chartSlot = h('div.chart-slot');
  const redemptionsButton = h('button.secondary', { type: 'button' }, 'Download redemptions (CSV)');
  redemptionsButton.addEventListener('click', () => book && exportRedemptions(book, redemptionsButton));
  chartBox.append(h('div.section-head', h('h2#chart-title', 'Redemptions over time'), bucketField), chartSlot,
    h('div.actions', redemptionsButton));

  async function loadBook() {
    try {
      book = await api(`/v1/books/${enc(bookId)}`);
    } catch (err) {
      fill(header, title('Book'), errorBox(err));
      return false;
    }
    const exportButton = h('button.secondary', { type: 'button' }, 'Export CSV');
    exportButton.addEventListener('click', () => exportCodes(book, exportButton));
    const had = header.querySelector('h1') === document.activeElement;
    fill(header, 
      h('p.crumbs', h('a', { href: '#/books' }, '← Books')),
      title(book.name, ' ', badge(book.status)),
      book.description && h('p', book.description),
      h('p.meta', h('span.mono', book.id), ' · ', validity(book), ' · ',
        `${book.max_redemptions_per_coupon ?? '∞'} redemption(s) per code · budget ${book.max_total_redemptions === null ? 'unlimited' : num(book.max_total_redemptions)} · ${book.requires_assignment ? 'assignment required' : 'no assignment needed'} · locks ${book.lock_ttl_seconds} s`),
      h('div.actions', statusActions(book, refresh), exportButton, h('button.secondary', { type: 'button', onclick: refresh }, 'Refresh'),
        h('a', { href: `#/events?book_id=${enc(book.id)}` }, 'Events of this book')));
    if (had) header.querySelector('h1').focus();
    fill(countsBox.querySelector('.counts-slot'), countsBar(book.counts));
    return true;
  }

  async function loadStats() {
    try {
      const stats = await api(`/v1/books/${enc(bookId)}/stats?bucket=${bucket}`);
      fill(chartSlot, redemptionsChart(stats, bucket));
      fill(usersBox, h('h2#users-title', 'Top users'),
        tableWrap('Top users', ['User', 'Net redemptions'],
          stats.top_users.map((u) => h('tr', h('td', u.user_id), h('td', num(u.redemptions)))),
          'No redemptions yet.'));
    } catch (err) {
      fill(chartSlot, errorBox(err));
    }
  }

  async function refresh() {
    if (await loadBook()) {
      loadStats();
      if (codes) codes.reload();
    }
  }

  function onJob(job) {
    jobsBox.prepend(jobPanel(job, () => refresh()));
  }

  put(header, countsBox, chartBox, usersBox);
  loadBook().then((ok) => {
    if (!ok) return;
    codes = codesList(book);
    put(
      h('div.two', generateForm(book, onJob), uploadForm(book, onJob)),
      bulkForm(book, onJob),
      jobsBox,
      codes);
    loadStats();
  });
  every(5000, () => {
    if (!book) return;
    api(`/v1/books/${enc(bookId)}`).then((fresh) => {
      fill(countsBox.querySelector('.counts-slot'), countsBar(fresh.counts));
    }).catch(() => {});
    loadStats();
  });
}

// ---------------------------------------------------------------- coupon page

function couponView(code) {
  const lookup = onSubmit(
    h('form.card.lookup', { novalidate: true, role: 'search', 'aria-label': 'Look up a coupon' },
      field({ label: 'Code', name: 'code', value: code ?? '', required: true, attrs: { spellcheck: 'false', autocapitalize: 'characters', autocomplete: 'off' } }),
      h('div.actions', h('button', { type: 'submit' }, 'Look up'))),
    async (data) => {
      const wanted = String(data.get('code') ?? '').trim().toUpperCase();
      if (!wanted) throw new ApiError(0, 'invalid_request', 'type a code', 'code');
      await api(`/v1/coupons/${enc(wanted)}`);
      if (location.hash === `#/coupons/${enc(wanted)}`) route();
      else location.hash = `#/coupons/${enc(wanted)}`;
    }, 'code');
  put(title(code ? `Coupon ${code}` : 'Coupons'), lookup);
  if (!code) {
    lookup.querySelector('input').focus();
    return;
  }
  const details = h('section.card', { 'aria-labelledby': 'coupon-title' }, h('p', 'Loading…'));
  const redemptions = h('section.card', { 'aria-labelledby': 'red-title' });
  put(details, redemptions);
  let countdownTimer = null;
  onLeave(() => clearInterval(countdownTimer));

  async function load() {
    let coupon;
    try {
      coupon = await api(`/v1/coupons/${enc(code)}`);
    } catch (err) {
      fill(details, h('h2#coupon-title', 'Coupon'), errorBox(err));
      if (err.code === 'coupon_not_found') showError(lookup, err, 'code');
      fill(redemptions);
      return;
    }
    renderCoupon(coupon);
    loadRedemptions();
  }

  function renderCoupon(c) {
    clearInterval(countdownTimer);
    const lock = h('dd', { 'data-lock': '' });
    const tick = () => {
      const left = c.locked_until ? Date.parse(c.locked_until) - Date.now() : 0;
      if (left > 0) {
        fill(lock, h('span.badge.status-locked', 'live lock'), ' expires in ', h('strong.countdown', { 'aria-live': 'off' }, duration(left)), ' (', fmtTimeEl(c.locked_until), ')');
      } else {
        fill(lock, 'no live lock');
        if (c.locked_until) {
          clearInterval(countdownTimer);
          c.locked_until = null;
          setTimeout(load, 300);
        }
      }
    };
    tick();
    countdownTimer = setInterval(tick, 1000);

    const bookLink = h('a', { href: `#/books/${enc(c.book_id)}`, title: c.book_id }, c.book_id);
    api(`/v1/books/${enc(c.book_id)}`).then((b) => { bookLink.textContent = b.name; }).catch(() => {});
    const assignForm = onSubmit(
      h('form.inline', { novalidate: true, 'aria-label': 'Assign to a user' },
        field({ label: 'Assign to user', name: 'user_id', value: '' }),
        h('button', { type: 'submit' }, 'Assign')),
      async (data) => {
        const user = String(data.get('user_id') ?? '').trim();
        const updated = await api(`/v1/coupons/${enc(c.code)}/assign`, { method: 'POST', json: { user_id: user }, headers: { 'Idempotency-Key': crypto.randomUUID() } });
        toast(`${c.code} assigned to ${updated.assigned_to}`);
        load();
      }, 'user_id');
    const actions = h('div.actions');
    if (c.assigned_to && c.redemption_count === 0 && c.status !== 'voided') {
      actions.append(h('button.secondary', { type: 'button', onclick: () => couponAction('DELETE', 'assignment', 'unassigned') }, 'Unassign'));
    }
    if (c.status !== 'voided') {
      actions.append(h('button.danger', { type: 'button', onclick: () => { if (confirm(`Void ${c.code}? It can never be locked or redeemed again.`)) couponAction('POST', 'void', 'voided'); } }, 'Void'));
    }
    fill(details, 
      h('h2#coupon-title', h('span.mono', c.code), ' ', badge(c.status)),
      h('dl.facts',
        h('div', h('dt', 'Book'), h('dd', bookLink)),
        h('div', h('dt', 'Status'), h('dd', { 'data-coupon-status': c.status }, c.status)),
        h('div', h('dt', 'Assigned to'), h('dd', { 'data-assigned': '' }, c.assigned_to ?? 'nobody')),
        h('div', h('dt', 'Redemptions'), h('dd', { 'data-redemptions': '' }, `${c.redemption_count} of ${c.max_redemptions ?? 'unlimited'}`)),
        h('div', h('dt', 'Lock'), lock),
        h('div', h('dt', 'Created'), h('dd', fmtTimeEl(c.created_at)))),
      c.status !== 'voided' && !c.assigned_to ? assignForm : null,
      actions,
      h('button.secondary.small', { type: 'button', onclick: load }, 'Refresh'));
  }

  async function couponAction(method, path, verb) {
    try {
      await api(`/v1/coupons/${enc(code)}/${path}`, { method });
      toast(`${code} ${verb}`);
      load();
    } catch (err) {
      alertNear(err);
    }
  }

  async function loadRedemptions() {
    try {
      const page = await api(`/v1/redemptions?code=${enc(code)}&limit=100`);
      const rows = page.data.map((r) => {
        const cell = h('td');
        if (r.status === 'redeemed') {
          cell.append(h('button.small.secondary', {
            type: 'button',
            'aria-label': `Reverse redemption ${r.id}`,
            onclick: async (e) => {
              e.target.disabled = true;
              try {
                await api(`/v1/redemptions/${enc(r.id)}/reverse`, { method: 'POST', headers: { 'Idempotency-Key': crypto.randomUUID() } });
                toast('Redemption reversed: the use is given back');
                load();
              } catch (err) {
                cell.append(errorBox(err));
                e.target.disabled = false;
              }
            },
          }, 'Reverse'));
        } else {
          cell.append('—');
        }
        return h('tr', { 'data-redemption': r.id },
          h('td.mono', r.id), h('td', r.user_id), h('td', badge(r.status)), h('td', fmtTimeEl(r.redeemed_at)), h('td', fmtTimeEl(r.reversed_at)), cell);
      });
      fill(redemptions, h('h2#red-title', 'Redemptions'),
        tableWrap('Redemptions', ['Id', 'User', 'Status', 'Redeemed', 'Reversed', 'Action'], rows, 'Not redeemed yet.'));
    } catch (err) {
      fill(redemptions, h('h2#red-title', 'Redemptions'), errorBox(err));
    }
  }

  load();
}

// ---------------------------------------------------------------- events

function summarize(event) {
  const d = event.data || {};
  if (event.type.startsWith('book.')) return `${d.name ?? ''} (${d.status ?? ''})`;
  if (event.type === 'coupon.redeemed' || event.type === 'redemption.reversed') return `${d.code ?? ''} by ${d.user_id ?? '?'}`;
  if (event.type.startsWith('coupon.')) return `${d.code ?? ''}${d.assigned_to ? ` → ${d.assigned_to}` : ''} (${d.status ?? ''})`;
  if (event.type.startsWith('codes.')) return `${d.inserted ?? d.count ?? ''} codes`;
  return '';
}

const EVENT_TYPES = [
  'book.created', 'book.updated', 'book.deleted', 'book.codes_added', 'book.exhausted',
  'coupon.assigned', 'coupon.unassigned', 'coupon.locked', 'coupon.unlocked', 'coupon.lock_expired',
  'coupon.redeemed', 'coupon.voided', 'coupon.deleted', 'redemption.reversed',
];
const EVENT_FILTERS = ['type', 'book_id', 'code', 'user_id'];

/** Who made a change, in words: "API key key_…", "JWT ann", "system (job_…)". */
function actorEl(actor) {
  if (!actor) return h('span', 'unknown');
  const kinds = { api_key: 'API key', jwt: 'JWT', system: 'system' };
  const kind = kinds[actor.type] ?? actor.type;
  if (actor.id === null || actor.id === undefined) {
    return h('span', { 'data-actor': actor.type }, kind, h('small', ' (not recorded)'));
  }
  return h('span', { 'data-actor': actor.type }, `${kind} `, h('span.mono', actor.id));
}

/** The feed's query string for a set of filters (`type` may hold several, comma-separated). */
function eventQuery(filters) {
  const parts = [];
  for (const name of EVENT_FILTERS) {
    const value = (filters[name] ?? '').trim();
    if (!value) continue;
    const values = name === 'type' ? value.split(',').map((t) => t.trim()).filter(Boolean) : [value];
    for (const v of values) parts.push(`${name}=${enc(v)}`);
  }
  return parts.join('&');
}

/** The events screen: the audit trail, filtered by type, book, code and user (all
 * optional; the filters stay in the address, #/events?book_id=…, to be shared). */
function eventsView(query) {
  const initial = new URLSearchParams(query || '');
  const filters = Object.fromEntries(EVENT_FILTERS.map((name) => [name, initial.getAll(name).join(', ')]));
  const list = h('div', h('p', 'Loading…'));
  let events = [];
  let after = null;
  let paused = false;
  let generation = 0;
  const status = h('p.hint', { role: 'status' });
  const pause = h('button.secondary', { type: 'button', 'aria-pressed': 'false' }, 'Pause');
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(paused));
  });
  const clear = h('button.secondary', { type: 'button' }, 'Clear filters');
  const form = onSubmit(
    h('form.card', { novalidate: true, 'aria-labelledby': 'ev-filter-title' },
      h('h2#ev-filter-title', 'Filter'),
      h('div.inline.filters',
        field({ label: 'Types', name: 'type', value: filters.type, hint: 'Comma-separated, e.g. coupon.redeemed, redemption.reversed', attrs: { list: 'event-types' } }),
        field({ label: 'Book id', name: 'book_id', value: filters.book_id }),
        field({ label: 'Code', name: 'code', value: filters.code }),
        field({ label: 'User id', name: 'user_id', value: filters.user_id })),
      h('datalist#event-types', EVENT_TYPES.map((t) => h('option', { value: t }))),
      h('div.actions', h('button', { type: 'submit' }, 'Apply'), clear)),
    async (data) => {
      const wanted = Object.fromEntries(EVENT_FILTERS.map((name) => [name, String(data.get(name) ?? '')]));
      await restart(wanted);
    });
  clear.addEventListener('click', () => {
    for (const input of form.querySelectorAll('input')) input.value = '';
    clearErrors(form);
    restart(Object.fromEntries(EVENT_FILTERS.map((name) => [name, '']))).catch((err) => showError(form, err));
  });
  put(title('Events'),
    h('p', 'The audit trail: every change, who made it, newest first; new ones appear every two seconds.'),
    form, h('div.actions', pause, status), list);

  function render() {
    const rows = events.slice(-200).reverse().map((e) => h('tr', { 'data-event': e.type },
      h('td', fmtTimeEl(e.created_at)),
      h('td.mono', e.type),
      h('td', actorEl(e.actor)),
      h('td', summarize(e)),
      h('td', h('details', h('summary', { 'aria-label': `Data of event ${e.id}` }, 'data'), h('pre', JSON.stringify(e.data, null, 2))))));
    const filtered = Boolean(eventQuery(filters));
    fill(list, tableWrap('Events', ['Time', 'Type', 'Actor', 'About', 'Data'], rows,
      filtered ? 'No events match these filters.' : 'No events yet.'));
  }

  async function read() {
    const mine = generation;
    const q = eventQuery(filters);
    // Pages through to the end, then keeps the last 200. A filtered page may be
    // short (even empty) while more follow: its cursor says where to go on.
    for (let pages = 0; pages < 50; pages++) {
      const page = await api(`/v1/events?limit=1000${q ? `&${q}` : ''}${after ? `&after=${enc(after)}` : ''}`);
      if (mine !== generation) return;
      if (page.data.length) {
        events.push(...page.data);
        if (events.length > 200) events.splice(0, events.length - 200);
      }
      const last = page.data.length ? page.data[page.data.length - 1].id : null;
      after = page.next_cursor ?? last ?? after;
      if (!page.next_cursor) break;
    }
  }

  /** Reads anew with other filters; the address keeps them. Errors reach the form. */
  async function restart(wanted) {
    generation += 1;
    Object.assign(filters, wanted);
    events = [];
    after = null;
    const q = eventQuery(filters);
    history.replaceState(null, '', `#/events${q ? `?${q}` : ''}`);
    fill(list, h('p', 'Loading…'));
    await read();
    render();
    status.textContent = `${events.length} shown`;
  }

  restart(filters).catch((err) => {
    fill(list, errorBox(err));
    showError(form, err);
  });
  every(2000, async () => {
    if (paused) return;
    const before = after;
    const mine = generation;
    try {
      await read();
      if (mine === generation && after !== before) {
        render();
        status.textContent = `updated ${fmtTime(new Date().toISOString())}`;
      }
    } catch (err) {
      status.textContent = err.message;
    }
  });
}

// ---------------------------------------------------------------- webhooks

/** `keeps` says truthfully what the server keeps of the secret. */
function shownOnce(label, secret, keeps) {
  const id = nextId('secret');
  const input = h('input.mono', { id, type: 'text', readonly: true, value: secret });
  const copy = h('button.secondary', { type: 'button' }, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(secret);
      toast('Copied');
    } catch {
      input.select();
      toast('Select and copy it by hand');
    }
  });
  return h('div.once', { role: 'alert' },
    h('p', h('strong', `${label}: shown this once.`), ` Store it now; ${keeps}`),
    h('label.visually-hidden', { for: id }, label), h('div.inline', input, copy));
}

function webhooksView() {
  const list = h('div', h('p', 'Loading…'));
  const once = h('div');
  const form = onSubmit(
    h('form.card', { novalidate: true, 'aria-labelledby': 'wh-title' },
      h('h2#wh-title', 'New webhook'),
      field({ label: 'URL', name: 'url', type: 'url', required: true, attrs: { placeholder: 'https://example.com/hooks/coupons' } }),
      field({ label: 'Event types', name: 'event_types', value: '*', hint: 'Comma-separated, e.g. coupon.redeemed, redemption.reversed; * = all' }),
      field({ label: 'Description', name: 'description' }),
      h('div.actions', h('button', { type: 'submit' }, 'Subscribe'))),
    async (data) => {
      const created = await api('/v1/webhooks', {
        method: 'POST',
        headers: { 'Idempotency-Key': crypto.randomUUID() },
        json: {
          url: String(data.get('url') ?? '').trim(),
          event_types: String(data.get('event_types') ?? '').split(',').map((t) => t.trim()).filter(Boolean),
          description: textOrNull(data, 'description'),
        },
      });
      fill(once, shownOnce('Signing secret', created.secret,
        'the server keeps it to sign deliveries, but never shows it again (rotate it if it leaks).'));
      form.reset();
      load();
    });

  async function showDeliveries(hook, slot) {
    try {
      const page = await api(`/v1/webhooks/${enc(hook.id)}/deliveries?limit=50`);
      fill(slot, tableWrap(`Delivery attempts of ${hook.url}`, ['When', 'Event', 'Attempt', 'Result', 'Latency', 'Actions'],
        page.data.map((a) => h('tr', { 'data-attempt': a.id },
          h('td', fmtTimeEl(a.attempted_at)),
          h('td', h('span.mono', a.event_type)),
          h('td', a.attempt),
          h('td', badge(a.status), ' ', a.response_status ?? '', a.error ? ` ${a.error}` : '', a.next_attempt_at ? ` · next ${fmtTime(a.next_attempt_at)}` : ''),
          h('td', `${a.latency_ms} ms`),
          h('td', h('button.small.secondary', {
            type: 'button',
            'aria-label': `Redeliver ${a.event_type} ${a.event_id} (attempt ${a.attempt})`,
            title: 'Send this event again now (same Webhook-Id), as a new attempt',
            onclick: async (e) => {
              e.currentTarget.disabled = true;
              try {
                const again = await api(`/v1/webhooks/${enc(hook.id)}/deliveries/${enc(a.id)}/redeliver`, { method: 'POST', headers: { 'Idempotency-Key': crypto.randomUUID() } });
                toast(`Redelivered: ${again.status} ${again.response_status ?? again.error ?? ''}`);
              } catch (err) { toast(`Redeliver failed: ${err.message}`); }
              showDeliveries(hook, slot);
            },
          }, 'Redeliver')))),
        'No delivery attempts yet.'));
    } catch (err) {
      fill(slot, errorBox(err));
    }
  }

  async function deliveries(hook, slot, button) {
    if (slot.childElementCount) {
      fill(slot);
      button.setAttribute('aria-expanded', 'false');
      return;
    }
    button.setAttribute('aria-expanded', 'true');
    await showDeliveries(hook, slot);
  }

  async function load() {
    try {
      const page = await api('/v1/webhooks?limit=100');
      fill(list, ...(page.data.length ? page.data.map((hook) => {
        const slot = h('div');
        const show = h('button.small.secondary', { type: 'button', 'aria-expanded': 'false' }, 'Delivery attempts');
        show.addEventListener('click', () => deliveries(hook, slot, show));
        return h('article.card.hook',
          h('h3', h('span.mono', hook.url), ' ', badge(hook.status)),
          h('p', hook.description ?? '', ' ', h('small', `events: ${hook.event_types.join(', ')} · since ${fmtTime(hook.created_at)}`),
            hook.failing_since ? h('span.warn', ` · failing since ${fmtTime(hook.failing_since)}`) : null),
          hook.status === 'disabled' ? h('p.warn', 'Disabled after failing too long: nothing is sent. Its queue and place in the event feed are kept; enabling it resumes from there.') : null,
          h('div.actions', show,
            hook.status === 'disabled' ? h('button.small', { type: 'button', 'aria-label': `Enable webhook ${hook.url}`, onclick: async () => {
              try {
                await api(`/v1/webhooks/${enc(hook.id)}/enable`, { method: 'POST', headers: { 'Idempotency-Key': crypto.randomUUID() } });
                toast(`Enabled ${hook.url}: delivery resumes where it stopped`);
              } catch (err) { toast(`Enable failed: ${err.message}`); }
              load();
            } }, 'Enable') : null,
            h('button.small.secondary', { type: 'button', onclick: async () => {
              try {
                const attempt = await api(`/v1/webhooks/${enc(hook.id)}/test`, { method: 'POST', headers: { 'Idempotency-Key': crypto.randomUUID() } });
                toast(`Test sent: ${attempt.status} ${attempt.response_status ?? attempt.error ?? ''}`);
              } catch (err) { toast(`Test failed: ${err.message}`); }
            } }, 'Send test'),
            h('button.small.danger', { type: 'button', 'aria-label': `Delete webhook ${hook.url}`, onclick: async () => {
              if (!confirm(`Delete the webhook to ${hook.url}?`)) return;
              try { await api(`/v1/webhooks/${enc(hook.id)}`, { method: 'DELETE' }); load(); } catch (err) { toast(err.message); }
            } }, 'Delete')),
          slot);
      }) : [h('p.empty', 'No webhooks yet.')]));
    } catch (err) {
      fill(list, errorBox(err));
    }
  }
  put(title('Webhooks'), form, once, h('h2', 'Endpoints'), list);
  load();
}

// ---------------------------------------------------------------- API keys

const SCOPES = ['admin', 'books:read', 'books:write', 'coupons:assign', 'coupons:redeem', 'events:read'];

function keysView() {
  const list = h('div', h('p', 'Loading…'));
  const once = h('div');
  const scopes = h('fieldset.field', { 'data-field': 'scopes' },
    h('legend', 'Scopes'),
    h('div.checks', SCOPES.map((sc) => {
      const id = nextId('scope');
      return h('span.check', h('input', { id, type: 'checkbox', name: 'scopes', value: sc }), h('label', { for: id }, sc));
    })),
    h('p.field-error', { 'aria-live': 'polite' }));
  const bookChecks = h('div.checks', h('p.hint', 'Loading books…'));
  const books = h('fieldset.field', { 'data-field': 'book_ids' },
    h('legend', 'Limit to books'),
    h('p.hint', 'None ticked: every book. A key limited to books sees nothing else, and cannot manage keys or webhooks.'),
    bookChecks,
    h('p.field-error', { 'aria-live': 'polite' }));
  const bookNames = new Map();
  const form = onSubmit(
    h('form.card', { novalidate: true, 'aria-labelledby': 'key-title' },
      h('h2#key-title', 'New API key'),
      field({ label: 'Name', name: 'name', required: true }),
      scopes,
      books,
      field({ label: 'Expires at (UTC)', name: 'expires_at', type: 'datetime-local', hint: 'Empty: never.' }),
      h('div.actions', h('button', { type: 'submit' }, 'Create key'))),
    async (data) => {
      const bookIds = data.getAll('book_ids');
      const created = await api('/v1/api-keys', {
        method: 'POST',
        headers: { 'Idempotency-Key': crypto.randomUUID() },
        json: {
          name: String(data.get('name') ?? '').trim(),
          scopes: data.getAll('scopes'),
          book_ids: bookIds.length ? bookIds : null,
          expires_at: timeOrNull(data, 'expires_at'),
        },
      });
      fill(once, shownOnce(`API key “${created.name}”`, created.key, 'the server keeps only a hash.'));
      form.reset();
      load();
    });

  async function loadBooks() {
    try {
      const page = await api('/v1/books?limit=100');
      for (const b of page.data) bookNames.set(b.id, b.name);
      fill(bookChecks, page.data.length ? page.data.map((b) => {
        const id = nextId('book');
        return h('span.check', h('input', { id, type: 'checkbox', name: 'book_ids', value: b.id }), h('label', { for: id }, b.name));
      }) : [h('p.hint', 'No books yet.')]);
    } catch (err) {
      fill(bookChecks, errorBox(err));
    }
  }

  const change = async (k, body, done) => {
    try {
      await api(`/v1/api-keys/${enc(k.id)}`, { method: 'PATCH', json: body });
      toast(done);
    } catch (err) { toast(err.message); }
    load();
  };
  const state = (k) => {
    if (k.disabled) return 'disabled';
    if (k.expires_at && new Date(k.expires_at) <= new Date()) return 'expired';
    return 'active';
  };
  const bookList = (k) => (k.book_ids
    ? k.book_ids.map((id) => bookNames.get(id) ?? id).join(', ')
    : 'all');

  async function load() {
    try {
      const page = await api('/v1/api-keys?limit=100');
      fill(list, tableWrap('API keys', ['Name', 'Id', 'Scopes', 'Books', 'Expires', 'Last used', 'State', 'Created', 'Action'],
        page.data.map((k) => h('tr',
          h('td', k.name), h('td.mono', k.id), h('td', k.scopes.join(' ')),
          h('td', bookList(k)),
          h('td', k.expires_at ? fmtTimeEl(k.expires_at) : 'never'),
          h('td', k.last_used_at ? fmtTimeEl(k.last_used_at) : 'never'),
          h('td', badge(state(k))),
          h('td', fmtTimeEl(k.created_at)),
          h('td',
            h('button.small.secondary', { type: 'button', 'aria-label': `Rename key ${k.name}`, onclick: () => {
              const name = prompt(`New name for the key "${k.name}"`, k.name);
              if (name === null || name.trim() === '' || name.trim() === k.name) return;
              change(k, { name: name.trim() }, `Renamed to ${name.trim()}`);
            } }, 'Rename'),
            ' ',
            k.disabled
              ? h('button.small', { type: 'button', 'aria-label': `Enable key ${k.name}`, onclick: () => change(k, { disabled: false }, `Enabled ${k.name}`) }, 'Enable')
              : h('button.small.secondary', { type: 'button', 'aria-label': `Disable key ${k.name}`, onclick: () => {
                if (!confirm(`Disable the key "${k.name}"? Calls with it will get 401 (within 5 seconds everywhere) until it is enabled.`)) return;
                change(k, { disabled: true }, `Disabled ${k.name}`);
              } }, 'Disable'),
            ' ',
            h('button.small.danger', { type: 'button', 'aria-label': `Revoke key ${k.name}`, onclick: async () => {
              if (!confirm(`Revoke the key "${k.name}"? Calls with it will get 401.`)) return;
              try { await api(`/v1/api-keys/${enc(k.id)}`, { method: 'DELETE' }); load(); } catch (err) { toast(err.message); }
            } }, 'Revoke')))),
        'No stored keys (the bootstrap key is not listed).'));
    } catch (err) {
      fill(list, errorBox(err));
    }
  }
  put(title('API keys'), form, once, h('h2', 'Keys'), list);
  loadBooks().then(load);
}

// ---------------------------------------------------------------- start

describeKey();
route();
