// The console's pattern mirror (console/pattern.js) against the rules of
// src/domain/pattern.rs, and its check characters against codes the server made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePattern, sampleCode, luhnCheck, maxCount, formatBig } from '../../console/pattern.js';

const fieldOf = (spec) => {
  try {
    parsePattern(spec);
    return null;
  } catch (err) {
    return err.field;
  }
};

test('literals, randoms and the space', () => {
  const p = parsePattern({ pattern: 'summer-####-####' });
  assert.equal(p.length, 16);
  assert.equal(p.space, 32n ** 8n);
  assert.match(sampleCode(p), /^SUMMER-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/);
  assert.equal(maxCount(parsePattern({ pattern: 'X-##', charset: 'numeric' })), 50n);
  assert.equal(parsePattern({ length: 6, prefix: 'ab-', suffix: '_z' }).length, 11);
  assert.equal(parsePattern({}).length, 8, 'default length 8');
  assert.equal(parsePattern({ pattern: 'A\\B##' }).slots[1], 'B', '\\X is a literal X');
  assert.equal(parsePattern({ charset: 'AaBbcC', pattern: '###' }).charset.join(''), 'ABC');
  assert.equal(formatBig(1234567n), '1,234,567');
  assert.equal(formatBig(32n ** 20n), '1.2 × 10^30');
});

test('the server refuses the same specs, on the same field', () => {
  assert.equal(fieldOf({ pattern: 'NOHASH' }), 'pattern');
  assert.equal(fieldOf({ pattern: 'A#\\#' }), 'pattern');
  assert.equal(fieldOf({ pattern: 'AB#\\' }), 'pattern');
  assert.equal(fieldOf({ pattern: 'ä##' }), 'pattern');
  assert.equal(fieldOf({ pattern: '#' }), 'pattern');
  assert.equal(fieldOf({ pattern: '###', charset: 'A' }), 'charset');
  assert.equal(fieldOf({ pattern: '###', charset: 'hex' }), 'charset');
  assert.equal(fieldOf({ pattern: '###', charset: 'AB!' }), 'charset');
  assert.equal(fieldOf({ length: 65 }), 'length');
  assert.equal(fieldOf({ length: 2 }), 'length');
  assert.equal(fieldOf({ prefix: 'a b', length: 4 }), 'prefix');
  assert.equal(fieldOf({ suffix: '#', length: 4 }), 'suffix');
  assert.equal(fieldOf({ pattern: '####', charset: 'ABC', check_character: true }), 'check_character');
  assert.equal(fieldOf({ pattern: '####', charset: 'numeric', check_character: true }), null);
});

test('Luhn mod N: the check characters match the server\'s', async (t) => {
  const base = process.env.CONSOLE_URL;
  const key = process.env.CONSOLE_KEY;
  if (!base || !key) {
    t.skip('no server (run through scripts/console-test.sh)');
    return;
  }
  const call = async (method, route, body) => {
    const r = await fetch(`${base}${route}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: body && JSON.stringify(body),
    });
    assert.ok(r.ok, `${method} ${route}: ${r.status}`);
    return r.json();
  };
  const book = await call('POST', '/v1/books', { name: 'Check characters' });
  const spec = { pattern: 'LU-######', charset: 'unambiguous', check_character: true };
  await call('POST', `/v1/books/${book.id}/codes/generate`, { count: 50, ...spec });
  const codes = await call('GET', `/v1/books/${book.id}/codes?limit=50`);
  assert.equal(codes.data.length, 50);
  const p = parsePattern(spec);
  for (const { code } of codes.data) {
    const randoms = [...code.slice(3, 9)].map((c) => p.charset.indexOf(c));
    assert.equal(code[9], p.charset[luhnCheck(randoms, p.charset.length)], code);
  }
});
