// Code patterns, mirrored from src/domain/pattern.rs so the console can preview codes
// and the space size before anything is sent. The server stays the judge: the same
// spec is validated again there, with the same fields and messages.
//
// '#' = one random character from the charset; every other character is literal;
// '\X' is a literal X ('\#' is refused: '#' cannot appear in a code); prefix and
// suffix are literal; without a pattern, `length` random characters (default 8);
// `check_character` appends a Luhn mod N check character over the random characters.

export const CHARSETS = {
  unambiguous: '23456789ABCDEFGHJKLMNPQRSTUVWXYZ',
  alphanumeric: '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  alphabetic: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  numeric: '0123456789',
};
export const DEFAULT_LENGTH = 8;
export const MIN_CODE_LEN = 3;
export const MAX_CODE_LEN = 64;
export const MAX_GENERATE_COUNT = 10_000_000;

/** A spec the server would refuse: `field` names the input at fault. */
export class PatternError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

const isCodeChar = (c) => /^[A-Z0-9_-]$/.test(c);
// Rust's to_ascii_uppercase: only a-z change.
const asciiUpper = (s) => s.replace(/[a-z]/g, (c) => c.toUpperCase());

function literals(field, text, slots) {
  for (const ch of text) {
    const c = asciiUpper(ch);
    if (!isCodeChar(c)) {
      throw new PatternError(field, `${field} may contain only A-Z 0-9 - _`);
    }
    slots.push(c);
  }
}

function charsetOf(name) {
  const word = name ?? 'unambiguous';
  let set;
  if (Object.hasOwn(CHARSETS, word)) {
    set = CHARSETS[word];
  } else if (/^[a-z]*$/.test(word)) {
    throw new PatternError('charset',
      `unknown charset ${JSON.stringify(word)}: use unambiguous, alphanumeric, alphabetic, numeric, or a literal set in upper case such as "ABC123"`);
  } else {
    set = asciiUpper(word);
  }
  const chars = [];
  for (const c of set) {
    if (!isCodeChar(c)) {
      throw new PatternError('charset',
        'charset is unambiguous, alphanumeric, alphabetic, numeric, or a set of A-Z 0-9 - _');
    }
    if (!chars.includes(c)) chars.push(c);
  }
  if (chars.length < 2) {
    throw new PatternError('charset', 'charset needs at least 2 different characters');
  }
  return chars;
}

/**
 * Parses a generate spec ({pattern, charset, prefix, suffix, length, check_character};
 * absent fields are null/undefined) into {slots, charset, checkCharacter, length,
 * randoms, space}; `slots` holds literal characters and null for a random one.
 * Throws PatternError.
 */
export function parsePattern(spec) {
  const charset = charsetOf(spec.charset ?? undefined);
  const slots = [];
  literals('prefix', spec.prefix ?? '', slots);
  const hasPattern = spec.pattern !== undefined && spec.pattern !== null;
  if (hasPattern) {
    const chars = [...spec.pattern];
    let randoms = 0;
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i];
      if (c === '#') {
        slots.push(null);
        randoms++;
      } else if (c === '\\') {
        i++;
        if (i >= chars.length) throw new PatternError('pattern', 'the pattern ends with \\');
        if (chars[i] === '#') {
          throw new PatternError('pattern', 'a literal # cannot appear in a code (A-Z 0-9 - _ only)');
        }
        literals('pattern', chars[i], slots);
      } else {
        literals('pattern', c, slots);
      }
    }
    if (randoms === 0) {
      throw new PatternError('pattern', 'the pattern needs at least one # (a random character)');
    }
  } else {
    const length = spec.length ?? DEFAULT_LENGTH;
    if (!Number.isInteger(length) || length < 1 || length > MAX_CODE_LEN) {
      throw new PatternError('length', 'length must be 1..64');
    }
    for (let i = 0; i < length; i++) slots.push(null);
  }
  literals('suffix', spec.suffix ?? '', slots);
  const checkCharacter = Boolean(spec.check_character);
  if (checkCharacter && charset.length % 2 === 1) {
    throw new PatternError('check_character',
      'Luhn mod N check characters need a charset with an even number of characters');
  }
  const length = slots.length + (checkCharacter ? 1 : 0);
  if (length < MIN_CODE_LEN || length > MAX_CODE_LEN) {
    throw new PatternError(hasPattern ? 'pattern' : 'length',
      `codes would be ${length} characters long; they must be 3..64`);
  }
  const randoms = slots.filter((s) => s === null).length;
  const space = BigInt(charset.length) ** BigInt(randoms);
  return { slots, charset, checkCharacter, length, randoms, space };
}

/** Luhn mod N check value over charset indexes (N even), as the server computes it. */
export function luhnCheck(indexes, n) {
  let factor = 2;
  let sum = 0;
  for (let i = indexes.length - 1; i >= 0; i--) {
    const addend = factor * indexes[i];
    factor = factor === 2 ? 1 : 2;
    sum += Math.floor(addend / n) + (addend % n);
  }
  return (n - (sum % n)) % n;
}

/** A uniform index below n from the browser's CSPRNG (rejection sampling). */
function randomIndex(n) {
  const buf = new Uint32Array(1);
  const limit = Math.floor(0x1_0000_0000 / n) * n;
  for (;;) {
    crypto.getRandomValues(buf);
    if (buf[0] < limit) return buf[0] % n;
  }
}

/** One sample code of a parsed pattern (a preview: the server makes the real ones). */
export function sampleCode(parsed, random = randomIndex) {
  let code = '';
  const indexes = [];
  for (const slot of parsed.slots) {
    if (slot === null) {
      const index = random(parsed.charset.length);
      indexes.push(index);
      code += parsed.charset[index];
    } else {
      code += slot;
    }
  }
  if (parsed.checkCharacter) code += parsed.charset[luhnCheck(indexes, parsed.charset.length)];
  return code;
}

/** The server refuses a count above half of the space (minus codes already there). */
export function maxCount(parsed) {
  return parsed.space / 2n;
}

/** 1234567 -> "1,234,567"; huge numbers as "3.4 × 10^38". */
export function formatBig(n) {
  const text = n.toString();
  if (text.length <= 15) return text.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${text[0]}.${text[1]} × 10^${text.length - 1}`;
}
