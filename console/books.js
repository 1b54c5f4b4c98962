// coupon-book admin console: the books list and a book's page (charts, jobs, codes).

import { parsePattern, sampleCode, maxCount, formatBig, CHARSETS, PatternError } from './pattern.js';
import { view, h, put, fill, s, num, pad, fmtTime, nextId, toast, badge, tableWrap, ApiError, api, enc, field, fieldFor, onSubmit, wholeNumber, textOrNull, timeOrNull, toLocalInput, errorBox, rewardSummary, rewardFields, rewardOrNull } from './lib.js';
import { onLeave, every, title } from './console.js';

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
    field({ label: 'Codes must be assigned before use', name: 'requires_assignment', type: 'checkbox', value: book ? b.requires_assignment : true }),
    field({ label: 'Combinable: its codes may share an order with other codes', name: 'combinable', type: 'checkbox', value: Boolean(b.combinable) }),
    rewardFields(b.reward ?? null));
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
    combinable: data.get('combinable') === 'on',
    reward: rewardOrNull(data),
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

/** A book's edit form; `done(updated)` after a save, `done(null)` on Cancel. */
function editBookForm(book, done) {
  return onSubmit(
    h('form.card', { novalidate: true, 'aria-label': `Edit ${book.name}` },
      h('h2', `Edit “${book.name}”`),
      bookFields(book),
      h('div.actions',
        h('button', { type: 'submit' }, 'Save'),
        h('button.secondary', { type: 'button', onclick: () => done(null) }, 'Cancel'))),
    async (data) => {
      const updated = await api(`/v1/books/${enc(book.id)}`, { method: 'PATCH', json: bookBody(data, false) });
      toast(`Saved "${updated.name}"`);
      done(updated);
    });
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
    const form = editBookForm(book, (updated) => {
      fill(editSlot);
      if (updated) load();
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
  const editSlot = h('div');
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
      h('p.meta', 'Reward: ', h('strong', { 'data-book-reward': book.reward ? book.reward.type : 'none' }, rewardSummary(book.reward)), ' · ',
        h('span', { 'data-combinable': String(Boolean(book.combinable)) }, book.combinable ? 'combinable with other codes' : 'not combinable with other codes')),
      h('div.actions', statusActions(book, refresh),
        book.status !== 'archived' && h('button.secondary', { type: 'button', onclick: edit, 'aria-label': `Edit ${book.name}` }, 'Edit'),
        exportButton, h('button.secondary', { type: 'button', onclick: refresh }, 'Refresh'),
        h('a', { href: `#/events?book_id=${enc(book.id)}` }, 'Events of this book'),
        h('a', { href: `#/checkout?book_id=${enc(book.id)}` }, 'Try a checkout with its codes')));
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

  function edit() {
    const form = editBookForm(book, (updated) => {
      fill(editSlot);
      if (updated) refresh();
    });
    fill(editSlot, form);
    form.querySelector('input').focus();
  }

  put(header, editSlot, countsBox, chartBox, usersBox);
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


export { alertNear, booksView, bookView };
