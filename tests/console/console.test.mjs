// Browser test of the admin console against a real server (started by
// scripts/console-test.sh, which passes CONSOLE_URL and CONSOLE_KEY). Debian's
// chromium, driven by playwright-core; every request to another origin is aborted
// and recorded, and the test fails if there was any.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir, copyFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.CONSOLE_URL;
const KEY = process.env.CONSOLE_KEY;
const SCREENS = process.env.CONSOLE_SCREENS || path.resolve('target/console-screens');
const UPDATE_DOCS = process.env.CONSOLE_UPDATE_DOCS === '1';
const DOCS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../docs');
if (!BASE || !KEY) throw new Error('run through scripts/console-test.sh (CONSOLE_URL, CONSOLE_KEY)');
const ORIGIN = new URL(BASE).origin;

let context;
let page;
let profile;
const foreign = [];
const requested = [];
const pageErrors = [];

/** The JSON API, as a client other than the console would call it. */
async function api(method, route, body) {
  const response = await fetch(`${BASE}${route}`, {
    method,
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`);
  return json;
}

before(async () => {
  profile = await mkdtemp(path.join(process.env.CONSOLE_TMP || tmpdir(), 'chromium-profile-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
    timeout: 30_000,
  });
  // Everything but the server is unreachable: abort and remember.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    requested.push(url);
    if (url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    if (new URL(url).origin !== ORIGIN) {
      foreign.push(url);
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });
  context.on('request', (request) => requested.push(request.url()));
  page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/the server responded with a status of 4\d\d/.test(msg.text())) pageErrors.push(msg.text());
  });
  page.on('dialog', (dialog) => dialog.accept());
  await mkdir(SCREENS, { recursive: true });
});

after(async () => {
  if (context) await context.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

// A script error in the page fails the test that caused it.
afterEach(() => {
  if (pageErrors.length) throw new Error(`errors in the page: ${pageErrors.splice(0).join('\n')}`);
});

async function screenshot(name) {
  await page.evaluate(() => document.getElementById('toast').classList.remove('shown'));
  await page.waitForTimeout(250);
  const file = path.join(SCREENS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (UPDATE_DOCS) await copyFile(file, path.join(DOCS, `console-${name}.png`));
}

/** The error text shown next to the field named `name` in `scope`. */
function fieldError(scope, name) {
  return scope.locator(`[data-field="${name}"] .field-error`);
}

let bookId;
let code;
let rewardBookId;

test('the page loads from the binary alone, with a strict policy', async () => {
  const response = await page.goto(`${BASE}/console`);
  assert.equal(response.status(), 200);
  const csp = response.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  await page.getByRole('heading', { name: 'Welcome' }).waitFor();
  assert.deepEqual(foreign, [], 'no request left the server');
});

test('a pasted key is kept in sessionStorage only', async () => {
  await page.getByLabel('API key').fill(KEY);
  await page.getByRole('button', { name: 'Use key' }).click();
  await page.getByRole('heading', { name: 'Books', level: 1 }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('coupon-book.api-key')), KEY);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.equal(await page.getByLabel('API key').inputValue(), '', 'the field is emptied');
  assert.deepEqual(await context.cookies(), []);
});

test('create a book; API errors appear next to their field', async () => {
  await page.getByText('New book', { exact: true }).first().click();
  const form = page.locator('form', { has: page.getByRole('heading', { name: 'New book' }) });
  // An empty name: the server's `field` puts the message next to the name input.
  await form.getByRole('button', { name: 'Create book' }).click();
  await fieldError(form, 'name').filter({ hasText: 'name must be 1..200 characters' }).waitFor();
  assert.equal(await form.getByLabel('Name').getAttribute('aria-invalid'), 'true');
  // A client-side check on a number field, also in words next to it.
  await form.getByLabel('Name').fill('Summer 2026');
  await form.getByLabel('Redemptions per code').fill('two');
  await form.getByRole('button', { name: 'Create book' }).click();
  await fieldError(form, 'max_redemptions_per_coupon').filter({ hasText: 'whole number' }).waitFor();
  await form.getByLabel('Redemptions per code').fill('2');
  await form.getByLabel('Status').selectOption('active');
  await form.getByLabel('Codes must be assigned before use').uncheck();
  await form.getByLabel('Budget (total redemptions)').fill('500');
  await form.getByRole('button', { name: 'Create book' }).click();
  await page.getByRole('heading', { name: /Summer 2026/, level: 1 }).waitFor();
  bookId = decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
  assert.match(bookId, /^book_/);
  const book = await api('GET', `/v1/books/${bookId}`);
  assert.equal(book.status, 'active');
  assert.equal(book.max_redemptions_per_coupon, 2);
  assert.equal(book.requires_assignment, false);
});

test('generate 1,000 codes with a previewed pattern and watch the job finish', async () => {
  const form = page.locator('form', { has: page.getByRole('heading', { name: 'Generate codes' }) });
  await form.getByLabel('Pattern', { exact: true }).fill('NOHASH');
  await fieldError(form, 'pattern').filter({ hasText: 'at least one #' }).waitFor();
  await form.getByLabel('Pattern', { exact: true }).fill('A#\\#');
  await fieldError(form, 'pattern').filter({ hasText: 'literal #' }).waitFor();
  await form.getByLabel('Pattern', { exact: true }).fill('summer-####-####');
  const samples = form.locator('.samples li');
  assert.equal(await samples.count(), 5);
  for (const sample of await samples.allTextContents()) {
    assert.match(sample, /^SUMMER-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/);
  }
  assert.equal(await form.locator('[data-space]').getAttribute('data-space'), String(32n ** 8n));
  // Numeric charset, 2 random characters: 100 codes, at most 50 may be asked for.
  await form.getByLabel('Charset', { exact: true }).selectOption('numeric');
  await form.getByLabel('Pattern', { exact: true }).fill('X-##');
  await form.getByLabel('How many').fill('51');
  await form.getByRole('button', { name: 'Generate' }).click();
  await fieldError(form, 'count').filter({ hasText: 'at most 50' }).waitFor();
  await form.getByLabel('Charset', { exact: true }).selectOption('unambiguous');
  await form.getByLabel('Pattern', { exact: true }).fill('SUMMER-####-####');
  await form.getByLabel('How many').fill('1000');
  await form.getByRole('button', { name: 'Generate' }).click();
  await page.locator('.job').first().waitFor();
  const job = page.locator('.job').first();
  await job.locator('[data-job-status="succeeded"]').waitFor();
  assert.equal(await job.locator('[data-report="inserted"]').textContent(), '1,000');
  assert.equal(await job.locator('progress').getAttribute('value'), '100');
  await page.locator('[data-count="total"]', { hasText: '1,000' }).waitFor();
});

test('a background job shows its progress until it finishes', async () => {
  // Above the inline limit (20,000): 202 and a running job polled through /v1/jobs.
  await page.evaluate(() => {
    window.seenJobStates = new Set();
    new MutationObserver(() => {
      for (const el of document.querySelectorAll('[data-job-status]')) window.seenJobStates.add(el.dataset.jobStatus);
    }).observe(document.body, { subtree: true, childList: true });
  });
  const form = page.locator('form', { has: page.getByRole('heading', { name: 'Generate codes' }) });
  await form.getByLabel('Pattern', { exact: true }).fill('BG-######');
  await form.getByLabel('How many').fill('30000');
  await form.getByRole('button', { name: 'Generate' }).click();
  await page.locator('.job').nth(1).waitFor();
  await page.locator('.job').first().locator('[data-job-status="succeeded"]').waitFor({ timeout: 60_000 });
  assert.equal(await page.locator('.job').first().locator('[data-report="inserted"]').textContent(), '30,000');
  const seen = await page.evaluate(() => [...window.seenJobStates]);
  assert.ok(seen.includes('running'), `saw ${seen}`);
  await page.locator('[data-count="total"]', { hasText: '31,000' }).waitFor();
});

test('upload a CSV with bad lines and read the per-line report', async () => {
  const form = page.locator('form', { has: page.getByRole('heading', { name: 'Upload codes' }) });
  await form.getByRole('button', { name: 'Upload' }).click();
  await fieldError(form, 'body').filter({ hasText: 'choose a file' }).waitFor();
  const csv = ['code', 'FALL-0001', 'fall-0002', 'not a code!', 'FALL-0001', 'ab', '', 'FALL-0003'].join('\n');
  await form.getByLabel(/CSV or text file/).setInputFiles({ name: 'codes.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  const jobs = await page.locator('.job').count();
  await form.getByRole('button', { name: 'Upload' }).click();
  await page.locator('.job').nth(jobs).waitFor();
  const job = page.locator('.job').first();
  await job.locator('[data-job-status="succeeded"]').waitFor();
  assert.equal(await job.locator('[data-report="inserted"]').textContent(), '3');
  assert.equal(await job.locator('[data-report="duplicates_in_file"]').textContent(), '1');
  assert.equal(await job.locator('[data-report="invalid"]').textContent(), '2');
  const lines = await job.locator('tr[data-line]').evaluateAll((rows) => rows.map((r) => Number(r.dataset.line)));
  assert.deepEqual(lines.sort((a, b) => a - b), [4, 5, 6]);
  assert.match(await job.locator('tr[data-line="5"]').textContent(), /duplicate in file/);
});

test('bulk jobs: assign codes to a file of users, void by status filter', async () => {
  const form = page.locator('form', { has: page.getByRole('heading', { name: 'Bulk jobs' }) });
  await form.getByRole('button', { name: 'Start job' }).click();
  await fieldError(form, 'body').filter({ hasText: 'choose a file' }).waitFor();
  const csv = ['user_id', 'ann', 'ben', '', 'cat'].join('\n');
  await form.getByLabel(/File: user ids/).setInputFiles({ name: 'users.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  let jobs = await page.locator('.job').count();
  await form.getByRole('button', { name: 'Start job' }).click();
  await page.locator('.job').nth(jobs).waitFor();
  let job = page.locator('.job').first();
  await job.locator('[data-job-status="succeeded"]').waitFor();
  assert.match(await job.textContent(), /Bulk assign job/);
  assert.equal(await job.locator('[data-report="assigned"]').textContent(), '3');
  assert.equal(await job.locator('[data-report="invalid"]').textContent(), '0');
  await job.locator('[data-action="results"]').waitFor();
  const ann = await api('GET', '/v1/users/ann/coupons');
  assert.equal(ann.data.length, 1);
  // Every voided code of the book, by the status filter: none yet, so an empty job.
  await form.getByLabel('Job').selectOption('void');
  await form.getByLabel('Codes to void or delete').selectOption('status');
  await form.getByLabel('Status', { exact: true }).selectOption('voided');
  jobs = await page.locator('.job').count();
  await form.getByRole('button', { name: 'Start job' }).click();
  await page.locator('.job').nth(jobs).waitFor();
  job = page.locator('.job').first();
  await job.locator('[data-job-status="succeeded"]').waitFor();
  assert.match(await job.textContent(), /Bulk void job/);
  assert.equal(await job.locator('[data-report="voided"]').textContent(), '0');
});

test('look up a code', async () => {
  const page1 = await api('GET', `/v1/books/${bookId}/codes?status=available&limit=1`);
  code = page1.data[0].code;
  await page.getByRole('link', { name: 'Coupons' }).click();
  const form = page.getByRole('search', { name: 'Look up a coupon' });
  await form.getByLabel('Code').fill('NO-SUCH-CODE');
  await form.getByRole('button', { name: 'Look up' }).click();
  await fieldError(form, 'code').filter({ hasText: 'coupon_not_found' }).waitFor();
  await form.getByLabel('Code').fill(code.toLowerCase());
  await form.getByRole('button', { name: 'Look up' }).click();
  await page.getByRole('heading', { name: `Coupon ${code}`, level: 1 }).waitFor();
  assert.equal(await page.locator('[data-coupon-status]').textContent(), 'available');
  assert.equal(await page.locator('[data-redemptions]').textContent(), '0 of 2');
});

test('redeem through the API; the coupon, counts and chart follow', async () => {
  const lock = await api('POST', `/v1/coupons/${code}/lock`, { user_id: 'alice', ttl_seconds: 600 });
  await page.getByRole('button', { name: 'Refresh' }).click();
  await page.locator('[data-lock] .countdown').waitFor();
  assert.match(await page.locator('[data-lock]').textContent(), /expires in (9|10):\d\d/);
  await api('POST', `/v1/coupons/${code}/redeem`, { user_id: 'alice', lock_id: lock.lock_id });
  // A second user holds the remaining use: the coupon is locked, with a countdown.
  await api('POST', `/v1/coupons/${code}/lock`, { user_id: 'bob', ttl_seconds: 300 });
  await page.getByRole('button', { name: 'Refresh' }).click();
  await page.locator('[data-redemptions]', { hasText: '1 of 2' }).waitFor();
  assert.equal(await page.locator('[data-coupon-status]').textContent(), 'locked');
  assert.match(await page.locator('[data-lock]').textContent(), /expires in [45]:\d\d/);
  const row = page.locator('tr[data-redemption]');
  assert.equal(await row.count(), 1);
  assert.match(await row.textContent(), /alice/);
  await row.getByRole('button', { name: /Reverse/ }).waitFor();
  await page.setViewportSize({ width: 1100, height: 900 });
  await screenshot('coupon');
  await page.setViewportSize({ width: 1280, height: 900 });

  await page.getByRole('link', { name: /^Summer 2026/ }).last().click();
  await page.getByRole('heading', { name: /Summer 2026/, level: 1 }).waitFor();
  await page.locator('[data-count="locked"]', { hasText: /^1$/ }).waitFor();
  await page.locator('[data-total="redeemed"]', { hasText: /^1$/ }).waitFor();
  assert.equal(await page.locator('svg.chart rect.bar-redeemed').count(), 1);
  assert.match(await page.locator('section', { has: page.getByRole('heading', { name: 'Top users' }) }).textContent(), /alice\s*1/);
  // Budget use on the books list: 1 of 500.
  await page.getByRole('link', { name: 'Books', exact: true }).first().click();
  await page.getByRole('cell', { name: /1 \/ 500/ }).waitFor();
  // A little more traffic, for the screenshot.
  const more = await api('GET', `/v1/books/${bookId}/codes?status=available&limit=6`);
  for (const [i, user] of ['carol', 'carol', 'dave', 'erin', 'frank'].entries()) {
    await api('POST', `/v1/coupons/${more.data[i].code}/assign`, { user_id: user });
    await api('POST', `/v1/coupons/${more.data[i].code}/redeem`, { user_id: user });
  }
  await page.getByRole('link', { name: 'Summer 2026' }).click();
  await page.locator('[data-total="redeemed"]', { hasText: /^6$/ }).waitFor();
  await page.setViewportSize({ width: 1100, height: 900 });
  await screenshot('book');
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('reverse the redemption from the coupon page', async () => {
  await page.goto(`${BASE}/console#/coupons/${code}`);
  const row = page.locator('tr[data-redemption]');
  await row.getByRole('button', { name: /Reverse/ }).click();
  await row.getByText('reversed', { exact: true }).waitFor();
  await page.locator('[data-redemptions]', { hasText: '0 of 2' }).waitFor();
  const reds = await api('GET', `/v1/redemptions?code=${code}`);
  assert.equal(reds.data[0].status, 'reversed');
  await page.getByRole('link', { name: /^Summer 2026/ }).last().click();
  await page.locator('[data-total="reversed"]', { hasText: /^1$/ }).waitFor();
  assert.equal(await page.locator('svg.chart rect.bar-reversed').count(), 1);
});

test('export downloads the CSV with the key in a header, not the URL', async () => {
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Export CSV' }).click(),
  ]);
  const file = await download.path();
  const lines = (await readFile(file, 'utf8')).trim().split('\n');
  assert.equal(lines[0], 'code,status,assigned_to,redemption_count,created_at,starts_at,expires_at,metadata,reward');
  assert.equal(lines.length, 1 + 31_003);
});

test('the book page downloads its redemptions as CSV', async () => {
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download redemptions (CSV)' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /redemptions\.csv$/);
  const lines = (await readFile(await download.path(), 'utf8')).trim().split('\n');
  assert.equal(lines[0], 'id,code,book_id,user_id,status,redeemed_at,reversed_at,order_id,order_amount,currency,discount_amount');
  const rows = lines.slice(1).map((line) => line.split(','));
  assert.equal(rows.length, 6);
  assert.ok(rows.every((row) => row[2] === bookId && row.length === 11), lines.join('\n'));
  const reversed = rows.filter((row) => row[4] === 'reversed');
  assert.equal(reversed.length, 1);
  assert.equal(reversed[0][3], 'alice');
});

test('a book with a reward: set in the create form, shown on its page, edited there', async () => {
  await page.getByRole('link', { name: 'Books', exact: true }).first().click();
  await page.getByText('New book', { exact: true }).first().click();
  const form = page.locator('form', { has: page.getByRole('heading', { name: 'New book' }) });
  await form.getByLabel('Name').fill('Rewards 2026');
  await form.getByLabel('Status').selectOption('active');
  await form.getByLabel('Codes must be assigned before use').uncheck();
  await form.getByLabel(/^Combinable/).check();
  // Only the inputs the chosen type uses are shown.
  assert.equal(await form.getByLabel('Percent off').isVisible(), false);
  await form.getByLabel('Reward type').selectOption('percent_off');
  await form.getByLabel('Percent off').waitFor();
  assert.equal(await form.getByLabel('Amount off').isVisible(), false);
  await form.getByLabel('Percent off').fill('15.5');
  await form.getByLabel('Max discount').fill('20');
  // An amount without its currency: the server names reward.currency.
  await form.getByRole('button', { name: 'Create book' }).click();
  await fieldError(form, 'reward.currency').filter({ hasText: 'currency is required' }).waitFor();
  assert.equal(await form.getByLabel('Currency').getAttribute('aria-invalid'), 'true');
  await form.getByLabel('Currency').fill('eur');
  await form.getByLabel('Minimum order').fill('50.00');
  await form.getByLabel('Only for SKUs').fill('A, B');
  await form.getByRole('button', { name: 'Create book' }).click();
  await page.getByRole('heading', { name: /Rewards 2026/, level: 1 }).waitFor();
  rewardBookId = decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
  assert.equal(await page.locator('[data-book-reward]').textContent(), '15.5% off, max 20.00 EUR, min order 50.00 EUR, SKUs: A, B');
  assert.equal(await page.locator('[data-combinable]').getAttribute('data-combinable'), 'true');
  const book = await api('GET', `/v1/books/${rewardBookId}`);
  assert.deepEqual(book.reward, {
    type: 'percent_off', percent_off: 15.5, amount_off: null, currency: 'EUR', max_discount: 2000,
    min_order_amount: 5000, applies_to_skus: ['A', 'B'], label: null,
  });
  assert.equal(book.combinable, true);

  // The book page's edit form starts from the book as it is: amounts come back whole.
  await page.getByRole('button', { name: 'Edit Rewards 2026' }).click();
  const edit = page.getByRole('form', { name: 'Edit Rewards 2026' });
  assert.equal(await edit.getByLabel('Max discount').inputValue(), '20.00');
  assert.equal(await edit.getByLabel('Reward type').inputValue(), 'percent_off');
  await edit.getByLabel('Label').fill('Spring sale');
  await edit.screenshot({ path: path.join(SCREENS, 'book-reward-form.png') });
  await edit.getByLabel(/^Combinable/).uncheck();
  await edit.getByRole('button', { name: 'Save' }).click();
  await page.locator('[data-combinable="false"]').waitFor();
  assert.equal(await edit.count(), 0, 'the form closes after a save');
  assert.equal(await page.locator('[data-book-reward]').textContent(), '15.5% off, max 20.00 EUR, min order 50.00 EUR, SKUs: A, B, label “Spring sale”');
  const saved = await api('GET', `/v1/books/${rewardBookId}`);
  assert.equal(saved.reward.max_discount, 2000);
  assert.equal(saved.reward.label, 'Spring sale');
  assert.equal(saved.combinable, false);
});

test('a code’s own dates, metadata and reward: shown, set and cleared on its page', async () => {
  await api('POST', `/v1/books/${rewardBookId}/codes`, { codes: ['RW-0001', 'RW-0002'] });
  await page.goto(`${BASE}/console#/coupons/RW-0001`);
  await page.getByRole('heading', { name: 'Coupon RW-0001', level: 1 }).waitFor();
  // No reward of its own: the book's applies, and the page says which it is.
  await page.locator('[data-reward="book"]', { hasText: /the book’s reward applies\s*15\.5% off, max 20\.00 EUR/ }).waitFor();
  assert.equal(await page.locator('[data-starts]').textContent(), 'with its book');
  assert.equal(await page.locator('[data-expires]').textContent(), 'with its book');
  assert.equal(await page.locator('[data-metadata]').textContent(), 'none');

  await page.getByRole('button', { name: 'Edit dates, metadata and reward' }).click();
  const form = page.locator('form', { has: page.getByRole('heading', { name: 'Edit dates, metadata and reward' }) });
  // A percent above 100: the server's message, next to the percent.
  await form.getByLabel('Reward type').selectOption('percent_off');
  await form.getByLabel('Percent off').fill('100.5');
  await form.getByRole('button', { name: 'Save' }).click();
  await fieldError(form, 'reward.percent_off').filter({ hasText: 'reward.percent_off must be above 0 and at most 100' }).waitFor();
  assert.equal(await form.getByLabel('Percent off').getAttribute('aria-invalid'), 'true');
  // Metadata that is not JSON, or not an object: said in the form, nothing sent.
  const patches = [];
  const onRequest = (request) => {
    if (request.method() === 'PATCH') patches.push(request.url());
  };
  page.on('request', onRequest);
  await form.getByLabel('Metadata').fill('{"campaign": spring}');
  await form.getByRole('button', { name: 'Save' }).click();
  await fieldError(form, 'metadata').filter({ hasText: 'metadata is not valid JSON' }).waitFor();
  assert.equal(await form.getByLabel('Metadata').getAttribute('aria-invalid'), 'true');
  await form.getByLabel('Metadata').fill('["spring"]');
  await form.getByRole('button', { name: 'Save' }).click();
  await fieldError(form, 'metadata').filter({ hasText: 'must be a JSON object' }).waitFor();
  assert.deepEqual(patches, []);
  // Its own expiry, metadata and a reward of 10.00 EUR off.
  await form.getByLabel('Metadata').fill('{"campaign": "spring", "tier": 2}');
  await form.getByLabel('Expires at (UTC)').fill('2030-06-30T12:00');
  await form.getByLabel('Reward type').selectOption('amount_off');
  await form.getByLabel('Amount off').fill('10');
  await form.getByLabel('Currency').fill('EUR');
  await form.screenshot({ path: path.join(SCREENS, 'coupon-details-form.png') });
  await form.getByRole('button', { name: 'Save' }).click();
  await page.locator('[data-reward="coupon"]').waitFor();
  page.off('request', onRequest);
  assert.equal(patches.length, 1);
  assert.equal(await form.count(), 0, 'the form closes after a save');
  assert.match(await page.locator('[data-reward]').textContent(), /^10\.00 EUR off/);
  assert.equal(await page.locator('[data-expires]').textContent(), '2030-06-30 12:00 UTC');
  assert.equal(await page.locator('[data-starts]').textContent(), 'with its book');
  assert.deepEqual(JSON.parse(await page.locator('[data-metadata] pre').textContent()), { campaign: 'spring', tier: 2 });
  let coupon = await api('GET', '/v1/coupons/RW-0001');
  assert.equal(coupon.expires_at, '2030-06-30T12:00:00.000Z');
  assert.equal(coupon.starts_at, null);
  assert.deepEqual(coupon.metadata, { campaign: 'spring', tier: 2 });
  assert.equal(coupon.reward.type, 'amount_off');
  assert.equal(coupon.reward.amount_off, 1000);
  assert.equal(coupon.reward.currency, 'EUR');

  // Past its own expiry: the page says so, and the server refuses a lock.
  await page.getByRole('button', { name: 'Edit dates, metadata and reward' }).click();
  assert.equal(await form.getByLabel('Amount off').inputValue(), '10.00');
  await form.getByLabel('Expires at (UTC)').fill('2021-01-01T00:00');
  await form.getByRole('button', { name: 'Save' }).click();
  await page.locator('[data-window="ended"]').waitFor();
  assert.equal(await page.locator('[data-expires]').textContent(), '2021-01-01 00:00 UTC');
  await assert.rejects(api('POST', '/v1/coupons/RW-0001/lock', { user_id: 'gina' }), /409.*coupon_not_valid_now/);

  // Empty fields clear the code's own values: the book's window and reward apply.
  await page.getByRole('button', { name: 'Edit dates, metadata and reward' }).click();
  await form.getByLabel('Expires at (UTC)').fill('');
  await form.getByLabel('Metadata').fill('');
  await form.getByLabel('Reward type').selectOption('');
  await form.getByRole('button', { name: 'Save' }).click();
  await page.locator('[data-reward="book"]').waitFor();
  assert.equal(await page.locator('[data-window]').count(), 0);
  assert.equal(await page.locator('[data-expires]').textContent(), 'with its book');
  assert.equal(await page.locator('[data-metadata]').textContent(), 'none');
  coupon = await api('GET', '/v1/coupons/RW-0001');
  assert.equal(coupon.expires_at, null);
  assert.equal(coupon.metadata, null);
  assert.equal(coupon.reward, null);

  // The second code keeps data of its own, for the narrow-screen check below.
  await api('PATCH', '/v1/coupons/RW-0002', {
    starts_at: '2026-01-01T00:00:00Z',
    metadata: { campaign: 'spring', note: 'a rather long note that has to wrap on a narrow screen without a sideways scroll' },
    reward: { type: 'custom', label: 'Free tote bag with every order over fifty euros', min_order_amount: 5000, currency: 'EUR' },
  });
  await page.goto(`${BASE}/console#/coupons/RW-0002`);
  await page.locator('[data-reward="coupon"]', { hasText: 'custom: Free tote bag with every order over fifty euros, min order 50.00 EUR' }).waitFor();
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.screenshot({ path: path.join(SCREENS, 'coupon-details.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('try a checkout: each code’s verdict, every reason, the discounts and the total', async () => {
  // Two combinable books: 10% off the SKU-1 items, and 15.00 EUR off from 50.00 EUR.
  const percent = await api('POST', '/v1/books', {
    name: 'Checkout 10%', status: 'active', requires_assignment: false, combinable: true,
    reward: { type: 'percent_off', percent_off: 10, applies_to_skus: ['SKU-1'] },
  });
  const amount = await api('POST', '/v1/books', {
    name: 'Checkout 15 off', status: 'active', requires_assignment: false, combinable: true, max_redemptions_per_coupon: 1,
    reward: { type: 'amount_off', amount_off: 1500, currency: 'EUR', min_order_amount: 5000 },
  });
  await api('POST', `/v1/books/${percent.id}/codes`, { codes: ['CO-PCT-1'] });
  await api('POST', `/v1/books/${amount.id}/codes`, { codes: ['CO-AMT-1', 'CO-AMT-2'] });
  await api('POST', '/v1/coupons/CO-AMT-2/redeem', { user_id: 'zoe', order: { amount: 6000, currency: 'EUR' } });

  await page.goto(`${BASE}/console#/books`);
  await page.getByRole('link', { name: 'Checkout', exact: true }).click();
  await page.getByRole('heading', { name: 'Try a checkout', level: 1 }).waitFor();
  assert.equal(await page.locator('[data-nav="checkout"]').getAttribute('aria-current'), 'page');
  const form = page.locator('form', { has: page.getByRole('heading', { name: 'Order and codes' }) });
  await form.getByLabel('User id').fill('ivy');
  await form.getByLabel('Order id').fill('o-1');
  await form.getByLabel('Order amount').fill('120.00');
  await form.getByLabel('Currency').fill('eur');
  const first = form.getByRole('group', { name: 'Item 1', exact: true });
  await first.getByLabel('SKU').fill('SKU-1');
  await first.getByLabel('Quantity').fill('2');
  await first.getByLabel('Unit price').fill('30');
  await form.getByRole('button', { name: 'Add item' }).click();
  const second = form.getByRole('group', { name: 'Item 2', exact: true });
  await second.getByLabel('SKU').fill('SKU-2');
  await second.getByLabel('Unit price').fill('60.00');
  await form.getByRole('button', { name: 'Add item' }).click();
  await form.getByRole('group', { name: 'Item 3', exact: true }).getByLabel('SKU').fill('SKU-3');
  await form.getByRole('button', { name: 'Remove item 3' }).click();
  assert.equal(await form.locator('.item-row').count(), 2);
  await form.getByText('Items total: 120.00 EUR').waitFor();
  await form.getByLabel('Codes').fill('CO-PCT-1, co-amt-1');
  const sent = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/v1/validations'));
  await form.getByRole('button', { name: 'Check', exact: true }).click();
  // Prices become minor units in the currency's decimals.
  assert.deepEqual(JSON.parse((await sent).postData()), {
    user_id: 'ivy',
    codes: ['CO-PCT-1', 'co-amt-1'],
    order: {
      id: 'o-1', amount: 12000, currency: 'EUR',
      items: [{ sku: 'SKU-1', quantity: 2, unit_amount: 3000 }, { sku: 'SKU-2', quantity: 1, unit_amount: 6000 }],
    },
  });
  const result = page.locator('section', { has: page.getByRole('heading', { name: 'Result' }) });
  await result.locator('[data-checkout-valid="true"]').waitFor();
  assert.match(await result.locator('.verdict').textContent(), /Every code applies/);
  // 10% of the SKU-1 items (60.00), then 15.00 off what is left.
  const pct = result.locator('tr[data-code="CO-PCT-1"]');
  const amt = result.locator('tr[data-code="CO-AMT-1"]');
  assert.equal(await pct.getAttribute('data-valid'), 'true');
  assert.equal(await amt.getAttribute('data-valid'), 'true');
  assert.equal(await pct.locator('[data-discount]').textContent(), '6.00 EUR');
  assert.equal(await amt.locator('[data-discount]').textContent(), '15.00 EUR');
  assert.equal(await result.locator('[data-total-discount]').textContent(), '21.00 EUR');
  assert.equal(await result.locator('[data-order-amount]').textContent(), '120.00 EUR');
  assert.equal(await result.locator('[data-to-pay]').textContent(), '99.00 EUR');
  await screenshot('checkout');

  // In dollars: the euro reward does not apply, and a used code says both reasons.
  await form.getByLabel('Currency').fill('USD');
  await form.getByLabel('Codes').fill('CO-PCT-1\nCO-AMT-1\nCO-AMT-2');
  await form.getByRole('button', { name: 'Check', exact: true }).click();
  await result.locator('[data-checkout-valid="false"]').waitFor();
  assert.match(await result.locator('.verdict').textContent(), /2 of 3 codes do not apply/);
  assert.equal(await pct.locator('[data-discount]').textContent(), '6.00 USD');
  assert.equal(await amt.getAttribute('data-valid'), 'false');
  assert.equal(await amt.locator('[data-reasons]').getAttribute('data-reasons'), 'currency_mismatch');
  const used = result.locator('tr[data-code="CO-AMT-2"]');
  assert.equal(await used.locator('[data-reasons]').getAttribute('data-reasons'), 'coupon_already_redeemed currency_mismatch');
  assert.match(await used.locator('[data-reasons]').innerText(), /coupon_already_redeemed no redemptions left[^]*currency_mismatch the order’s currency is not the reward’s/);
  assert.equal(await used.locator('[data-discount]').textContent(), '—');
  assert.equal(await result.locator('[data-total-discount]').textContent(), '6.00 USD');
  await screenshot('checkout-refused');

  // Errors in words next to their input: the console's own, then the server's.
  await form.getByLabel('Order amount').fill('12.345');
  await form.getByRole('button', { name: 'Check', exact: true }).click();
  await fieldError(form, 'order.amount').filter({ hasText: 'at most 2 decimals in USD' }).waitFor();
  await form.getByLabel('Order amount').fill('');
  await form.getByRole('button', { name: 'Check', exact: true }).click();
  await fieldError(form, 'order.amount').filter({ hasText: 'order.amount is required (invalid_request)' }).waitFor();
  assert.equal(await form.getByLabel('Order amount').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('[data-checkout-valid]').count(), 0, 'no stale answer is left shown');
  await form.getByLabel('Order amount').fill('120');
  await second.getByLabel('Quantity').fill('0');
  await form.getByRole('button', { name: 'Check', exact: true }).click();
  await fieldError(second, 'order.items[1].quantity').filter({ hasText: 'order.items[1].quantity must be a whole number' }).waitFor();
  assert.equal(await second.getByLabel('Quantity').getAttribute('aria-invalid'), 'true');
  await second.getByLabel('Quantity').fill('1');
  await form.getByLabel('Codes').fill('CO-PCT-1, CO-AMT-1, co-pct-1');
  await form.getByRole('button', { name: 'Check', exact: true }).click();
  await fieldError(form, 'codes').filter({ hasText: 'codes[2] “co-pct-1”: a code may be listed once per order' }).waitFor();
  // Checking changed nothing.
  const untouched = await api('GET', '/v1/coupons/CO-AMT-1');
  assert.equal(untouched.status, 'available');
  assert.equal(untouched.redemption_count, 0);

  // From a book's page: one of its codes and its reward's currency are filled in.
  await page.goto(`${BASE}/console#/books/${amount.id}`);
  await page.getByRole('link', { name: 'Try a checkout with its codes' }).click();
  await page.locator('[data-prefill]', { hasText: 'with its code CO-AMT-1' }).waitFor();
  assert.equal(await form.getByLabel('Codes').inputValue(), 'CO-AMT-1');
  assert.equal(await form.getByLabel('Currency').inputValue(), 'EUR');
  await form.getByLabel('User id').fill('ivy');
  await form.getByLabel('Order amount').fill('40');
  await form.getByRole('button', { name: 'Check', exact: true }).click();
  await result.locator('[data-checkout-valid="false"]').waitFor();
  assert.equal(await amt.locator('[data-reasons]').getAttribute('data-reasons'), 'order_below_minimum');
  // And from a coupon's page.
  await page.goto(`${BASE}/console#/coupons/CO-PCT-1`);
  await page.getByRole('link', { name: 'Try it in a checkout' }).click();
  await page.getByRole('heading', { name: 'Try a checkout', level: 1 }).waitFor();
  assert.equal(await form.getByLabel('Codes').inputValue(), 'CO-PCT-1');
});

test('a book can be paused, edited and archived from the list', async () => {
  await page.getByRole('link', { name: 'Books', exact: true }).first().click();
  await page.getByRole('button', { name: 'Pause Summer 2026' }).click();
  await page.getByRole('row', { name: /Summer 2026/ }).getByText('paused', { exact: true }).waitFor();
  await page.getByRole('button', { name: 'Edit Summer 2026' }).click();
  const form = page.getByRole('form', { name: 'Edit Summer 2026' });
  await form.getByLabel('Valid until (UTC)').fill('2020-01-01T00:00');
  await form.getByLabel('Valid from (UTC)').fill('2021-01-01T00:00');
  await form.getByRole('button', { name: 'Save' }).click();
  await form.locator('.field-error, .form-error').filter({ hasText: /valid/ }).first().waitFor();
  await form.getByLabel('Valid from (UTC)').fill('');
  await form.getByLabel('Valid until (UTC)').fill('');
  await form.getByLabel('Name').fill('Summer 2026 (ended)');
  await form.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('link', { name: 'Summer 2026 (ended)' }).waitFor();
  await page.getByRole('button', { name: 'Archive Summer 2026 (ended)' }).click();
  await page.getByRole('row', { name: /Summer 2026/ }).getByText('archived', { exact: true }).waitFor();
});

test('events, webhooks and API keys screens', async () => {
  await page.getByRole('link', { name: 'Events' }).click();
  await page.getByRole('cell', { name: 'coupon.redeemed' }).first().waitFor();
  await page.getByRole('cell', { name: 'redemption.reversed' }).first().waitFor();
  // A new event appears by itself.
  await api('POST', '/v1/books', { name: 'Tail check' });
  await page.getByRole('cell', { name: /Tail check/ }).first().waitFor({ timeout: 8000 });
  // The audit trail: one code's redemptions, and who made them.
  const filterForm = page.locator('form', { has: page.getByRole('heading', { name: 'Filter' }) });
  await filterForm.getByLabel('Types').fill('coupon.stolen');
  await filterForm.getByRole('button', { name: 'Apply' }).click();
  await fieldError(filterForm, 'type').filter({ hasText: /unknown event type/ }).waitFor();
  await filterForm.getByLabel('Types').fill('coupon.redeemed, redemption.reversed');
  await filterForm.getByLabel('Code').fill(code.toLowerCase());
  await filterForm.getByRole('button', { name: 'Apply' }).click();
  await page.locator('tr[data-event="redemption.reversed"]').waitFor();
  const audited = page.locator('tr[data-event]');
  assert.equal(await audited.count(), 2);
  assert.equal(await page.locator('tr[data-event="coupon.redeemed"]').count(), 1);
  // Made in this console, with its key: the bootstrap admin key.
  for (const row of await audited.all()) assert.match(await row.innerText(), /API key\s+key_bootstrap/);
  assert.match(new URL(page.url()).hash, /^#\/events\?type=coupon\.redeemed&type=redemption\.reversed&code=/);
  await screenshot('events');
  // The address keeps the filters: a reload shows the same rows.
  await page.reload();
  await page.locator('tr[data-event="redemption.reversed"]').waitFor();
  assert.equal(await page.locator('tr[data-event]').count(), 2);
  assert.equal(await filterForm.getByLabel('Code').inputValue(), code.toLowerCase());
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await page.getByRole('cell', { name: 'book.created' }).first().waitFor();
  // A book links to its own events.
  await page.goto(`${BASE}/console#/books/${bookId}`);
  await page.getByRole('link', { name: 'Events of this book' }).click();
  await page.locator('tr[data-event="book.created"]').waitFor();
  assert.equal(await filterForm.getByLabel('Book id').inputValue(), bookId);
  assert.equal(await page.getByRole('cell', { name: /Tail check/ }).count(), 0);

  await page.getByRole('link', { name: 'Webhooks' }).click();
  const hookForm = page.locator('form', { has: page.getByRole('heading', { name: 'New webhook' }) });
  await hookForm.getByLabel('URL').fill('ftp://example.com/x');
  await hookForm.getByRole('button', { name: 'Subscribe' }).click();
  await fieldError(hookForm, 'url').filter({ hasText: /./ }).waitFor();
  await hookForm.getByLabel('URL').fill('https://hooks.example.com/coupons');
  await hookForm.getByLabel('Event types').fill('coupon.redeemed, redemption.reversed');
  await hookForm.getByRole('button', { name: 'Subscribe' }).click();
  const secret = await page.locator('.once input').inputValue();
  assert.match(secret, /^whsec_/);
  // Signing secrets are kept as they are (they sign): the note must not claim a hash.
  const secretNote = await page.locator('.once p').innerText();
  assert.doesNotMatch(secretNote, /hash/);
  await page.getByRole('heading', { name: /hooks\.example\.com/ }).waitFor();
  await page.getByRole('button', { name: 'Delivery attempts' }).click();
  await page.getByText('No delivery attempts yet.').waitFor();
  // A test send (not sent: delivery is off on this server) is logged; Redeliver sends
  // its event again as a new attempt.
  await page.getByRole('button', { name: 'Send test' }).click();
  await page.locator('#toast', { hasText: /Test sent: failed/ }).waitFor();
  await page.getByRole('button', { name: 'Delivery attempts' }).click();
  await page.getByRole('button', { name: 'Delivery attempts' }).click();
  const attempts = page.locator('tr[data-attempt]');
  await attempts.first().waitFor();
  assert.equal(await attempts.count(), 1);
  await attempts.first().getByRole('button', { name: /^Redeliver webhook\.test evt_.* \(attempt 1\)$/ }).click();
  await page.locator('#toast', { hasText: /Redelivered: failed/ }).waitFor();
  await page.locator('tr[data-attempt]').nth(1).waitFor();
  assert.equal(await page.locator('tr[data-attempt]').count(), 2);
  assert.match(await page.locator('tr[data-attempt]').nth(1).textContent(), /webhook\.test\s*2/);

  // An endpoint disabled after failing (made to look so: delivery is off here) offers
  // Enable, which asks the server and shows the endpoint enabled.
  await page.route('**/v1/webhooks?limit=100', async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    body.data = body.data.map((w) => ({ ...w, status: 'disabled', failing_since: '2026-11-20T10:00:00.000Z' }));
    await route.fulfill({ response, json: body });
  }, { times: 1 });
  await page.getByRole('link', { name: 'Events' }).click();
  await page.getByRole('link', { name: 'Webhooks' }).click();
  await page.getByText(/Disabled after failing too long/).waitFor();
  const enabling = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/enable'));
  await page.getByRole('button', { name: 'Enable webhook https://hooks.example.com/coupons' }).click();
  await enabling;
  await page.locator('#toast', { hasText: /Enabled https:\/\/hooks\.example\.com\/coupons/ }).waitFor();
  await page.getByRole('heading', { name: /hooks\.example\.com/ }).getByText('enabled', { exact: true }).waitFor();
  assert.equal(await page.getByRole('button', { name: /^Enable webhook/ }).count(), 0);

  await page.getByRole('link', { name: 'API keys' }).click();
  const keyForm = page.locator('form', { has: page.getByRole('heading', { name: 'New API key' }) });
  await keyForm.getByLabel('Name').fill('checkout');
  await keyForm.getByRole('button', { name: 'Create key' }).click();
  await fieldError(keyForm, 'scopes').filter({ hasText: /./ }).waitFor();
  await keyForm.getByLabel('coupons:redeem').check();
  await keyForm.getByRole('button', { name: 'Create key' }).click();
  const created = await page.locator('.once input').inputValue();
  assert.ok(created.length > 10);
  assert.match(await page.locator('.once p').innerText(), /only a hash/);
  await page.getByRole('cell', { name: 'checkout', exact: true }).waitFor();
  const keys = await api('GET', '/v1/api-keys');
  assert.ok(keys.data.some((k) => k.name === 'checkout'));
  // A key limited to one book, with an expiry; then disabled, enabled and renamed.
  await keyForm.getByLabel('Name').fill('till');
  await keyForm.getByLabel('coupons:redeem').check();
  await keyForm.locator('[data-field="book_ids"]').getByLabel('Tail check').first().check();
  await keyForm.getByLabel('Expires at (UTC)').fill('2099-01-31T12:00');
  await keyForm.getByRole('button', { name: 'Create key' }).click();
  await page.getByRole('cell', { name: 'till', exact: true }).waitFor();
  const till = (await api('GET', '/v1/api-keys')).data.find((k) => k.name === 'till');
  assert.equal(till.book_ids.length, 1);
  assert.equal(till.expires_at, '2099-01-31T12:00:00.000Z');
  const tillRow = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'till', exact: true }) });
  await tillRow.getByRole('cell', { name: 'Tail check' }).waitFor();
  await tillRow.getByText('never', { exact: true }).waitFor();
  await page.getByRole('button', { name: 'Disable key till' }).click();
  await page.getByRole('button', { name: 'Enable key till' }).waitFor();
  await tillRow.getByText('disabled', { exact: true }).waitFor();
  assert.equal((await api('GET', '/v1/api-keys')).data.find((k) => k.id === till.id).disabled, true);
  await page.getByRole('button', { name: 'Enable key till' }).click();
  await page.getByRole('button', { name: 'Disable key till' }).waitFor();
  page.removeAllListeners('dialog');
  page.once('dialog', (dialog) => dialog.accept('till 2'));
  await page.getByRole('button', { name: 'Rename key till' }).click();
  await page.getByRole('cell', { name: 'till 2', exact: true }).waitFor();
  page.on('dialog', (dialog) => dialog.accept());
  assert.equal((await api('GET', '/v1/api-keys')).data.find((k) => k.id === till.id).name, 'till 2');
  assert.ok(!(await page.content()).includes(KEY), 'the admin key is not in the page');
});

test('keyboard: skip link first, visible focus', async () => {
  await page.goto(`${BASE}/console#/books`);
  await page.reload();
  await page.getByRole('heading', { name: 'Books', level: 1 }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'view');
  assert.equal(new URL(page.url()).hash, '#/books', 'the route stays');
  await page.reload();
  await page.getByRole('heading', { name: 'Books', level: 1 }).waitFor();
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
});

test('usable at 375 px wide: nothing scrolls the page sideways', async () => {
  await page.setViewportSize({ width: 375, height: 800 });
  for (const hash of [`#/books/${bookId}`, `#/coupons/${code}`, `#/books/${rewardBookId}`, '#/coupons/RW-0002', '#/checkout', '#/books', '#/events', '#/webhooks', '#/keys']) {
    await page.goto(`${BASE}/console${hash}`);
    await page.locator('h1').first().waitFor();
    await page.waitForLoadState('networkidle').catch(() => {});
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    const wide = await page.evaluate(() => [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > 376 && !el.closest('.table-wrap'))
      .slice(0, 5).map((el) => `${el.tagName.toLowerCase()}.${el.className}`));
    assert.ok(width <= 375, `${hash}: page is ${width}px wide: ${wide.join(' ')}`);
  }
  await page.goto(`${BASE}/console#/books/${bookId}`);
  await page.locator('[data-count="total"]').waitFor();
  await page.screenshot({ path: path.join(SCREENS, 'book-375.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('nothing but the server was asked for, and the key never went into a URL', () => {
  assert.deepEqual(foreign, []);
  assert.ok(requested.length > 20, `${requested.length} requests seen`);
  assert.ok(!requested.some((url) => url.includes(KEY)), 'no URL carries the key');
  assert.deepEqual(pageErrors, []);
});
