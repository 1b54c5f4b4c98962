// coupon-book admin console: a coupon's page.

import { h, put, fill, fmtTimeEl, duration, toast, badge, tableWrap, ApiError, api, enc, field, showError, onSubmit, errorBox } from './lib.js';
import { alertNear } from './books.js';
import { onLeave, route, title } from './console.js';

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


export { couponView };
