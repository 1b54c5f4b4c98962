// coupon-book admin console: webhooks and API keys.

import { h, put, fill, fmtTime, fmtTimeEl, nextId, toast, badge, tableWrap, api, enc, field, onSubmit, textOrNull, timeOrNull, errorBox } from './lib.js';
import { every, title } from './console.js';

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


export { webhooksView, keysView };
