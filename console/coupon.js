// coupon-book admin console: a coupon's page.

import { h, put, fill, fmtTimeEl, duration, toast, badge, tableWrap, ApiError, api, enc, field, showError, onSubmit, timeOrNull, toLocalInput, errorBox, rewardSummary, rewardFields, rewardOrNull, sameReward } from './lib.js';
import { alertNear } from './books.js';
import { onLeave, route, title } from './console.js';

// ---------------------------------------------------------------- a code's own data

/** The form that sets or clears a code's own dates, metadata and reward. Sends only
 * what changed (a date the form shows to the minute stays exact when left alone);
 * `done(updated)` after a save, `done(null)` on Cancel or when nothing changed. */
function detailsForm(c, done) {
  const metadataText = c.metadata ? JSON.stringify(c.metadata, null, 2) : '';
  const form = h('form.card', { novalidate: true, 'aria-labelledby': 'details-title' },
    h('h2#details-title', 'Edit dates, metadata and reward'),
    h('p.meta', 'An empty field clears the code’s own value: the book’s window and reward then apply.'),
    h('div.grid',
      field({ label: 'Starts at (UTC)', name: 'starts_at', type: 'datetime-local', value: toLocalInput(c.starts_at), hint: 'Empty: from the book’s start' }),
      field({ label: 'Expires at (UTC)', name: 'expires_at', type: 'datetime-local', value: toLocalInput(c.expires_at), hint: 'Empty: until the book’s end' })),
    field({ label: 'Metadata (JSON object)', name: 'metadata', type: 'textarea', value: metadataText, hint: 'At most 4 KiB, like {"campaign": "spring"}; empty = none', attrs: { rows: 5, spellcheck: 'false' } }),
    rewardFields(c.reward, 'none: the book’s reward applies'),
    h('div.actions',
      h('button', { type: 'submit' }, 'Save'),
      h('button.secondary', { type: 'button', onclick: () => done(null) }, 'Cancel')));
  return onSubmit(form, async (data) => {
    const patch = {};
    for (const name of ['starts_at', 'expires_at']) {
      const value = timeOrNull(data, name);
      if (String(data.get(name) ?? '') !== toLocalInput(c[name])) patch[name] = value;
    }
    const text = String(data.get('metadata') ?? '').trim();
    let metadata = null;
    if (text !== '') {
      try {
        metadata = JSON.parse(text);
      } catch (err) {
        throw new ApiError(0, 'invalid_json', `metadata is not valid JSON: ${err.message}`, 'metadata');
      }
      if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
        throw new ApiError(0, 'invalid_request', 'metadata must be a JSON object, like {"campaign": "spring"}', 'metadata');
      }
    }
    if (JSON.stringify(metadata) !== JSON.stringify(c.metadata ?? null)) patch.metadata = metadata;
    const reward = rewardOrNull(data);
    if (!sameReward(reward, c.reward)) patch.reward = reward;
    if (!Object.keys(patch).length) {
      toast('Nothing changed');
      done(null);
      return;
    }
    const updated = await api(`/v1/coupons/${enc(c.code)}`, { method: 'PATCH', json: patch });
    toast(`${updated.code} saved`);
    done(updated);
  });
}

/** The code's own window against now: null inside it (or without one). */
function ownWindow(c, now = Date.now()) {
  if (c.starts_at && now < Date.parse(c.starts_at)) return 'not-yet';
  if (c.expires_at && now >= Date.parse(c.expires_at)) return 'ended';
  return null;
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
  const editSlot = h('div');
  put(details, editSlot, redemptions);
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
    const reward = h('dd', { 'data-reward': c.reward ? 'coupon' : 'book' });
    if (c.reward) fill(reward, rewardSummary(c.reward), h('br'), h('small', 'its own: overrides the book’s'));
    else fill(reward, 'the book’s reward applies', h('br'), h('small', { 'data-book-reward': '' }, '…'));
    api(`/v1/books/${enc(c.book_id)}`).then((b) => {
      bookLink.textContent = b.name;
      const bookReward = reward.querySelector('[data-book-reward]');
      if (bookReward) bookReward.textContent = b.reward ? rewardSummary(b.reward) : 'the book has none';
    }).catch(() => {});
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
    actions.append(h('button.secondary', { type: 'button', onclick: () => editDetails(c) }, 'Edit dates, metadata and reward'));
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
        h('div', h('dt', 'Created'), h('dd', fmtTimeEl(c.created_at))),
        h('div', h('dt', 'Starts'), h('dd', { 'data-starts': c.starts_at ?? '' }, c.starts_at ? fmtTimeEl(c.starts_at) : 'with its book')),
        h('div', h('dt', 'Expires'), h('dd', { 'data-expires': c.expires_at ?? '' }, c.expires_at ? fmtTimeEl(c.expires_at) : 'with its book')),
        h('div.wide', h('dt', 'Reward'), reward),
        h('div.wide', h('dt', 'Metadata'), h('dd', { 'data-metadata': '' }, c.metadata ? h('pre', JSON.stringify(c.metadata, null, 2)) : 'none'))),
      ownWindow(c) && h('p.warn', { 'data-window': ownWindow(c) },
        ownWindow(c) === 'ended' ? 'Past its own expiry' : 'Before its own start', ': assign, lock and redeem answer coupon_not_valid_now.'),
      c.status !== 'voided' && !c.assigned_to ? assignForm : null,
      actions,
      h('button.secondary.small', { type: 'button', onclick: load }, 'Refresh'));
  }

  function editDetails(c) {
    const form = detailsForm(c, (updated) => {
      fill(editSlot);
      if (updated) load();
    });
    fill(editSlot, form);
    form.querySelector('input').focus();
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


export { couponView };
