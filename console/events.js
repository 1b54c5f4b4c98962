// coupon-book admin console: the event feed with its filters.

import { h, put, fill, s, fmtTime, fmtTimeEl, tableWrap, api, enc, field, clearErrors, showError, onSubmit, errorBox } from './lib.js';
import { every, title } from './console.js';

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
  'coupon.redeemed', 'coupon.voided', 'coupon.deleted', 'coupon.updated', 'redemption.reversed',
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


export { eventsView };
