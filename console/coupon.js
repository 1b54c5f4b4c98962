// coupon-book admin console: a coupon's page, and a checkout to try codes on.

import { h, put, fill, fmtTimeEl, duration, toast, badge, tableWrap, ApiError, api, enc, field, showError, onSubmit, textOrNull, timeOrNull, toLocalInput, errorBox, money, moneyText, amountOrNull, rewardSummary, rewardFields, rewardOrNull, sameReward } from './lib.js';
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
    actions.append(h('a', { href: `#/checkout?code=${enc(c.code)}${c.assigned_to ? `&user_id=${enc(c.assigned_to)}` : ''}` }, 'Try it in a checkout'));
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

// ---------------------------------------------------------------- try a checkout

/** The reasons a validation gives, in words (an unknown one is shown as its code). */
const REASON_WORDS = {
  coupon_not_found: 'no such code (or not in this key’s books)',
  book_not_active: 'its book is not active',
  book_not_valid_now: 'outside its book’s validity window',
  coupon_not_valid_now: 'outside the code’s own dates',
  coupon_voided: 'the code is voided',
  coupon_not_assigned_to_user: 'not assigned to this user',
  coupon_already_redeemed: 'no redemptions left on this code',
  coupon_locked: 'locked by another checkout',
  user_coupon_limit_reached: 'this user holds as many of the book’s codes as allowed',
  user_redemption_limit_reached: 'this user has redeemed the book’s codes as often as allowed',
  book_budget_exhausted: 'the book’s budget is used up',
  currency_mismatch: 'the order’s currency is not the reward’s',
  order_below_minimum: 'the order is below the reward’s minimum',
  no_eligible_items: 'no order item has one of the reward’s SKUs',
  not_combinable: 'may not share the order with the valid codes before it',
};

/** "A-1, b-2\nC-3" -> ["A-1", "b-2", "C-3"]: one a line or comma-separated. */
const codesOf = (text) => String(text ?? '').split(/[\n,;]+/).map((c) => c.trim()).filter(Boolean);

const discountText = (d) => (d ? `${money(d.amount, d.currency)}${d.free_shipping ? ' + free shipping' : ''}` : '—');

/** One order line: SKU, quantity and unit price, named as the API names them
 * (order.items[0].sku, …) once `renumber` has placed it. */
function itemRow(item, onRemove) {
  const row = h('div.item-row', { role: 'group' },
    field({ label: 'SKU', name: 'sku', value: item.sku ?? '', attrs: { spellcheck: 'false', maxlength: 200 } }),
    field({ label: 'Quantity', name: 'quantity', value: item.quantity ?? '1', attrs: { inputmode: 'numeric' } }),
    field({ label: 'Unit price', name: 'unit_amount', value: item.unit_price ?? '', attrs: { inputmode: 'decimal' } }),
    h('button.small.secondary.remove', { type: 'button', onclick: () => onRemove(row) }, 'Remove'));
  for (const f of row.querySelectorAll('.field')) f.dataset.key = f.dataset.field;
  return row;
}

/** The request of the checkout form, and which item row each sent item came from
 * (empty rows are not sent). Amounts are typed as prices in the order's currency. */
function checkoutRequest(data, rowCount) {
  const currencyText = textOrNull(data, 'order.currency');
  const currency = currencyText && currencyText.toUpperCase();
  const order = {};
  const id = textOrNull(data, 'order.id');
  if (id !== null) order.id = id;
  // Left out when empty: the server says what it needs (order.amount is required).
  const amount = amountOrNull(data, 'order.amount', currency, 'order amount');
  if (amount !== null) order.amount = amount;
  if (currency !== null) order.currency = currency;
  const items = [];
  const rows = [];
  for (let i = 0; i < rowCount; i++) {
    const at = (key) => `order.items[${i}].${key}`;
    const sku = textOrNull(data, at('sku'));
    const quantity = textOrNull(data, at('quantity'));
    if (sku === null && textOrNull(data, at('unit_amount')) === null) continue;
    const item = {};
    if (sku !== null) item.sku = sku;
    if (quantity !== null) {
      if (!/^\d+$/.test(quantity)) throw new ApiError(0, 'invalid_request', 'quantity must be a whole number, like 2', at('quantity'));
      item.quantity = Number(quantity);
    }
    const unit = amountOrNull(data, at('unit_amount'), currency, 'unit price');
    if (unit !== null) item.unit_amount = unit;
    items.push(item);
    rows.push(i);
  }
  if (items.length) order.items = items;
  const body = { user_id: String(data.get('user_id') ?? '').trim(), codes: codesOf(data.get('codes')), order };
  return { body, rows };
}

/** The answer of POST /v1/validations: the verdict and total, then each code. */
function checkoutResult(answer, request) {
  const { order } = request;
  const total = answer.total_discount;
  const failing = answer.results.filter((r) => !r.valid).length;
  const rows = answer.results.map((r) => h('tr', { 'data-code': r.code, 'data-valid': String(r.valid) },
    h('th', { scope: 'row' }, r.reasons.includes('coupon_not_found') ? h('span.mono', r.code) : h('a.mono', { href: `#/coupons/${enc(r.code)}` }, r.code)),
    h('td', h(`span.badge.verdict-${r.valid ? 'valid' : 'invalid'}`, r.valid ? 'valid' : 'not valid')),
    h('td', { 'data-reasons': r.reasons.join(' ') }, r.reasons.length
      ? h('ul.reasons', r.reasons.map((reason) => h('li', h('code', reason), REASON_WORDS[reason] ? ` ${REASON_WORDS[reason]}` : '')))
      : '—'),
    h('td', { 'data-discount': r.discount ? `${r.discount.amount} ${r.discount.currency}` : '' },
      r.discount ? discountText(r.discount) : (r.valid ? h('small', 'none computed (no reward, or a custom one)') : '—'))));
  const toPay = order.amount - Math.min(total.amount, order.amount);
  return h('div',
    h('p.verdict', { role: 'status', 'data-checkout-valid': String(answer.valid) },
      h(`span.badge.verdict-${answer.valid ? 'valid' : 'invalid'}`, answer.valid ? 'valid' : 'not valid'), ' ',
      answer.valid ? 'Every code applies to this order.' : `${failing} of ${answer.results.length} code${answer.results.length === 1 ? '' : 's'} ${failing === 1 ? 'does' : 'do'} not apply: the checkout would be refused as it is.`),
    h('dl.facts',
      h('div', h('dt', 'Order'), h('dd', { 'data-order-amount': '' }, money(order.amount, order.currency))),
      h('div', h('dt', 'Total discount'), h('dd', { 'data-total-discount': `${total.amount} ${total.currency}` }, discountText(total))),
      h('div', h('dt', 'Left to pay'), h('dd', { 'data-to-pay': '' }, money(toPay, order.currency)))),
    tableWrap('Codes on this order', ['Code', 'Verdict', 'Reasons', 'Discount'], rows),
    h('details.data', h('summary', 'Request and answer (JSON)'),
      h('pre', `POST /v1/validations\n${JSON.stringify(request, null, 2)}\n\n200\n${JSON.stringify(answer, null, 2)}`)));
}

/** Fills the form from a book: one of its codes (with its user, when assigned), the
 * currency of its reward. */
async function prefillFromBook(form, bookId, note) {
  const book = await api(`/v1/books/${enc(bookId)}`);
  const order = book.requires_assignment ? ['assigned', 'available'] : ['available', 'assigned'];
  let coupon = null;
  for (const status of order) {
    const page = await api(`/v1/books/${enc(bookId)}/codes?status=${status}&limit=1`);
    if (page.data.length) {
      coupon = page.data[0];
      break;
    }
  }
  const set = (name, value) => {
    const input = form.elements[name];
    if (input && !input.value && value) input.value = value;
  };
  set('codes', coupon && coupon.code);
  set('user_id', coupon && coupon.assigned_to);
  set('order.currency', book.reward && book.reward.currency);
  fill(note, 'Prefilled from ', h('a', { href: `#/books/${enc(book.id)}` }, book.name), coupon ? ` with its code ${coupon.code}` : ' (it has no code to use yet)',
    `; its reward: ${rewardSummary(book.reward)}${book.combinable ? ', combinable' : ', not combinable'}. Add codes of other books to try them together.`);
}

/** A checkout to try codes on: POST /v1/validations with an order, which changes
 * nothing. `query` may prefill it: book_id (one of its codes), code, user_id. */
function checkoutView(query) {
  const params = new URLSearchParams(query || '');
  const note = h('p.meta', { 'data-prefill': '' });
  const itemsBox = h('div.item-rows');
  const itemsTotal = h('span.hint', { 'aria-live': 'polite' });
  const resultBox = h('section.card', { 'aria-labelledby': 'checkout-result-title', hidden: true });

  const renumber = () => {
    [...itemsBox.children].forEach((row, i) => {
      row.setAttribute('aria-label', `Item ${i + 1}`);
      for (const f of row.querySelectorAll('.field')) {
        f.dataset.field = `order.items[${i}].${f.dataset.key}`;
        f.querySelector('input').name = f.dataset.field;
      }
      row.querySelector('.remove').setAttribute('aria-label', `Remove item ${i + 1}`);
    });
  };
  const addItem = (item = {}) => {
    const row = itemRow(item, (gone) => {
      gone.remove();
      renumber();
      sumItems();
    });
    itemsBox.append(row);
    renumber();
    return row;
  };

  const useTotal = h('button.small.secondary', { type: 'button' }, 'Use as order amount');
  const form = h('form.card', { novalidate: true, 'aria-labelledby': 'checkout-form-title' },
    h('h2#checkout-form-title', 'Order and codes'),
    h('div.grid',
      field({ label: 'User id', name: 'user_id', value: params.get('user_id') ?? '', required: true, hint: 'The shopper the codes are checked for', attrs: { spellcheck: 'false', autocomplete: 'off' } }),
      field({ label: 'Order id', name: 'order.id', value: '', hint: 'Optional', attrs: { spellcheck: 'false', autocomplete: 'off' } }),
      field({ label: 'Order amount', name: 'order.amount', value: '', required: true, hint: 'In the currency: 120.00', attrs: { inputmode: 'decimal', autocomplete: 'off' } }),
      field({ label: 'Currency', name: 'order.currency', value: params.get('currency') ?? '', required: true, hint: 'ISO 4217, like EUR', attrs: { maxlength: 3, spellcheck: 'false', autocapitalize: 'characters', autocomplete: 'off' } })),
    h('fieldset.field.items', { 'data-field': 'order.items' },
      h('legend', 'Order items (optional: a reward limited to SKUs counts only these)'),
      h('p.field-error', { 'aria-live': 'polite' }),
      itemsBox,
      h('div.actions', h('button.small.secondary', { type: 'button', onclick: () => addItem().querySelector('input').focus() }, 'Add item'), itemsTotal, useTotal)),
    field({ label: 'Codes', name: 'codes', type: 'textarea', value: params.getAll('code').join('\n'), required: true, hint: 'One a line or comma-separated; 1 to 10, applied in this order', attrs: { spellcheck: 'false', autocapitalize: 'characters' } }),
    h('div.actions', h('button', { type: 'submit' }, 'Check'), h('span.hint', 'Changes nothing: no lock, no redemption.')));

  /** The items' total in the order's currency, when every filled row reads. */
  function sumItems() {
    const data = new FormData(form);
    const currency = (textOrNull(data, 'order.currency') || '').toUpperCase() || null;
    let sum = 0;
    let any = false;
    try {
      for (let i = 0; i < itemsBox.children.length; i++) {
        const unit = amountOrNull(data, `order.items[${i}].unit_amount`, currency, 'unit price');
        const quantity = textOrNull(data, `order.items[${i}].quantity`) ?? '1';
        if (unit === null || !/^\d+$/.test(quantity)) continue;
        sum += unit * Number(quantity);
        any = true;
      }
    } catch {
      any = false;
    }
    itemsTotal.textContent = any && Number.isSafeInteger(sum) ? `Items total: ${money(sum, currency)}` : '';
    useTotal.hidden = !itemsTotal.textContent;
    useTotal.dataset.amount = any ? moneyText(sum, currency) : '';
  }
  useTotal.addEventListener('click', () => {
    form.elements['order.amount'].value = useTotal.dataset.amount;
  });
  form.addEventListener('input', sumItems);
  addItem();
  sumItems();

  onSubmit(form, async (data) => {
    resultBox.hidden = true;
    fill(resultBox);
    const { body, rows } = checkoutRequest(data, itemsBox.children.length);
    let answer;
    try {
      answer = await api('/v1/validations', { method: 'POST', json: body });
    } catch (err) {
      // Name the row the server means (empty rows were not sent), and the field.
      const item = err.field && err.field.match(/^order\.items\[(\d+)\](.*)$/);
      if (item && rows[Number(item[1])] !== undefined) err.field = `order.items[${rows[Number(item[1])]}]${item[2]}`;
      const code = err.field && err.field.match(/^codes\[(\d+)\]$/);
      if (code) err.message = `${err.field} “${body.codes[Number(code[1])]}”: ${err.message}`;
      else if (err.status && err.field && !err.message.includes(err.field)) err.message = `${err.field}: ${err.message}`;
      throw err;
    }
    fill(resultBox, h('h2#checkout-result-title', 'Result'), checkoutResult(answer, body));
    resultBox.hidden = false;
  });

  put(title('Try a checkout'),
    h('p', 'Checks codes on an order the way a shop’s checkout would (', h('code', 'POST /v1/validations'),
      '): each code’s verdict with every reason it fails, its discount, and the total. Nothing changes.'),
    note, form, resultBox);
  const bookId = params.get('book_id');
  if (bookId) prefillFromBook(form, bookId, note).catch((err) => fill(note, errorBox(err)));
}


export { couponView, checkoutView };
