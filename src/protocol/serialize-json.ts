/**
 * The wire format of serialize-json@1.0.3 (the default codec of cluster-client 3.x),
 * written from scratch without its dependencies. `encode` gives the same bytes as the package
 * for every value it can encode; `decode` gives the same value as the package for every byte
 * string the package writes, and throws a {@link DecodeError} where the package would quietly
 * return garbage.
 *
 * ## The format, byte by byte
 *
 * An encoded value is UTF-8 text with five sections separated by `^` (0x5E):
 *
 * ```text
 *   STRINGS ^ INTEGERS ^ FLOATS ^ DATES ^ STRUCTURE
 * ```
 *
 * The first four sections together form one dictionary; each holds zero or more entries
 * separated by `|` (0x7C). An empty section holds no entries (not one empty entry).
 *
 * - STRINGS: every non-empty string of the value (object keys too, and for an Error the
 *   literal keys `message` and `stack`), in the order the value is walked, with no
 *   de-duplication. Five characters are escaped, one by one: space → `+`, `+` → `%2B`,
 *   `|` → `%7C`, `^` → `%5E`, `%` → `%25`; nothing else is (`$ @ * # ]`, newlines, NUL and
 *   non-ASCII are written as they are, as UTF-8; a lone surrogate becomes EF BF BD, U+FFFD).
 * - INTEGERS: every number `n` with `n % 1 === 0` (so -0 too, and every number of magnitude at
 *   least 2^52, e.g. 1e21 and Number.MAX_VALUE), as `n.toString(36).toUpperCase()`: `-`, then
 *   digits `0-9A-Z`. Beyond 2^53 these are V8's shortest digits padded with zeros, which
 *   `parseInt(s, 36)` often reads back as another number: 1e21 (`5V1J4F4DS7C000`) comes back
 *   as 1.0000000000000001e21, 1e300 as 1.0000000000000006e300, Number.MAX_VALUE as Infinity
 *   (2^60 does come back). -0 is written `0`. Every byte of a Buffer is an entry here too
 *   (`0` to `73`).
 * - FLOATS: every other number, as `String(n)`: `1.5`, `-0.25`, `1e-7`, `5e-324`, `NaN`,
 *   `Infinity`, `-Infinity`.
 * - DATES: every Date, as `date.getTime().toString(36).toUpperCase()`; an invalid Date is
 *   written `NAN`, which reads back as the valid `new Date(30191)`.
 *
 * The entries are numbered from 0 across the four sections in order: strings first, then
 * integers, floats, dates. STRUCTURE is the value itself, ASCII only:
 *
 * ```text
 *   value     := reference | container
 *   reference := base36              entry number in the dictionary (uppercase, no leading zeros)
 *              | "-1"                true
 *              | "-2"                false
 *              | "-3"                null (also functions, symbols and bigints)
 *              | "-4"                the empty string
 *              | "-5"                undefined (also array holes)
 *   container := open [ value { "|" value } ] "]"
 *   open      := "@"                 array: its items
 *              | "$"                 object: key, value, key, value, ... (own enumerable string keys, for-in order)
 *              | "*"                 Buffer: one integer reference per byte
 *              | "#"                 Error: "message", err.message, "stack", err.stack, then its own
 *                                    enumerable keys and values as for an object (so "message"
 *                                    may come twice: an Error made without a message and given
 *                                    one later has an own enumerable "message")
 * ```
 *
 * Examples (value → bytes):
 *
 * ```text
 *   5                              ^5^^^0
 *   undefined                      ^^^^-5
 *   'a b+c'                        a+b%2Bc^^^^0
 *   [1, [2, 3], [], {}]            ^1|2|3^^^@0|@1|2]|@]|$]]
 *   { a: 1, b: 'x', c: [true] }    a|b|x|c^1^^^$0|4|1|2|3|@-1]]
 *   Buffer.from([0, 1, 255])       ^0|1|73^^^*0|1|2]
 *   [1.5, NaN, new Date(0)]        ^^1.5|NaN^0^@0|1|2]
 * ```
 *
 * How each kind of value is written (the package's rules, kept exactly):
 * - `typeof` string, number, boolean and undefined as above; function, symbol and bigint as null.
 * - Objects, in this order of checks: null; `instanceof Date`; `Array.isArray` (iterated, so
 *   holes are undefined and extra properties are dropped); `Buffer.isBuffer` (a Uint8Array
 *   that is not a Buffer is an object with keys "0", "1", ...); `instanceof Error`; anything
 *   else (Map, Set, RegExp, class instances, boxed primitives, null-prototype objects) is an
 *   object of its own enumerable string keys, so a Map or Set becomes `{}`.
 * - An Error keeps message, stack and own enumerable properties (`code`, an own `name`, ...);
 *   its class does not survive: it decodes as `Object.assign(new Error(message), fields)`.
 * - Decoding assigns keys with `obj[key] = value`, exactly as the package does: a key
 *   `__proto__` sets the decoded object's prototype instead of adding a key.
 *
 * ## Where this module differs from the package
 *
 * - A cyclic value throws a TypeError ("cannot encode a cyclic value"); the package overflows
 *   the stack (RangeError). A value nested so deep that the stack runs out still throws a
 *   RangeError, but this encoder goes deeper than the package and the decoder has no depth
 *   limit at all.
 * - The package keeps one shared encoder, so an `encode` called from a getter during another
 *   `encode` corrupts the outer result; here each call has its own state.
 * - `decode` accepts exactly the grammar above (plus lowercase base36 digits and leading zeros,
 *   which the package reads the same way) and throws a DecodeError for anything else, where
 *   the package returns whatever its lenient reading gives: too few or too many sections,
 *   an empty or non-numeric integer, float or date entry, a `%` not followed by `2B`, `7C`,
 *   `5E` or `25`, a reference past the dictionary or a negative one other than -1 to -5,
 *   a missing or doubled `|`, an unclosed or stray `]`, a non-string key, an object or Error
 *   with a key and no value, an Error that does not start with the keys "message" and
 *   "stack" (the package would give it a stack trace of its own decoder), a Buffer item that
 *   is not an integer 0 to 255, bytes after the value, or any other byte in STRUCTURE.
 *   Whatever `decode` accepts, it decodes to what the package gives (the tests check this on
 *   mutated and random input). Invalid UTF-8 inside a string reads as U+FFFD, as with the
 *   package.
 * - `decode` takes a Buffer or another Uint8Array (the package calls `toString()` on anything).
 */
import { DecodeError } from '../errors.js';

// ---------------------------------------------------------------------------------------------
// Shared constants

const SECTION_SEPARATOR = 0x5e; // '^'
const ITEM_SEPARATOR = 0x7c; // '|'
const OPEN_ARRAY = 0x40; // '@'
const OPEN_OBJECT = 0x24; // '$'
const OPEN_BUFFER = 0x2a; // '*'
const OPEN_ERROR = 0x23; // '#'
const CLOSE = 0x5d; // ']'
const MINUS = 0x2d; // '-'
const PERCENT = 0x25; // '%'
const SPACE = 0x20; // ' '
const PLUS = 0x2b; // '+'

/** Reference -1 .. -5: the values that need no dictionary entry. */
const TOKEN_TRUE = 1;
const TOKEN_FALSE = 2;
const TOKEN_NULL = 3;
const TOKEN_EMPTY_STRING = 4;
const TOKEN_UNDEFINED = 5;

const BASE36_DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/**
 * Replaces every byte `from` with `to` in bytes[start, end), four bytes at a time: spaces and
 * '+' trade places in strings, often thousands of times in a text, and a string replace of that
 * many matches is slow. `from` and `to` are ASCII, which UTF-8 never uses inside a character.
 */
function swapByte(bytes: Uint8Array, start: number, end: number, from: number, to: number): void {
  let i = start;
  const offset = bytes.byteOffset;
  if (end - start >= 64) {
    while (((offset + i) & 3) !== 0) {
      if (bytes[i] === from) bytes[i] = to;
      i++;
    }
    const count = (end - i) >> 2;
    const words = new Uint32Array(bytes.buffer, offset + i, count);
    const fromWord = Math.imul(from, 0x01010101);
    const diff = from ^ to;
    for (let w = 0; w < count; w++) {
      const x = words[w]! ^ fromWord; // a zero byte where the byte was `from`
      // High bit of each byte: set where x's byte is not zero (no carry crosses a byte).
      const nonZero = (((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x) & 0x80808080;
      const matches = ~nonZero & 0x80808080;
      if (matches !== 0) words[w] = words[w]! ^ Math.imul(matches >>> 7, diff);
    }
    i += count * 4;
  }
  for (; i < end; i++) if (bytes[i] === from) bytes[i] = to;
}

// ---------------------------------------------------------------------------------------------
// Encoder

/**
 * Structure ops recorded while walking, packed into bytes once the dictionary sizes are known.
 * A reference is `index * 4 + kind` (>= 0); the rest are negative.
 */
const OP_TRUE = -TOKEN_TRUE;
const OP_FALSE = -TOKEN_FALSE;
const OP_NULL = -TOKEN_NULL;
const OP_EMPTY_STRING = -TOKEN_EMPTY_STRING;
const OP_UNDEFINED = -TOKEN_UNDEFINED;
const OP_OPEN_ARRAY = -6;
const OP_OPEN_OBJECT = -7;
const OP_OPEN_BUFFER = -8;
const OP_OPEN_ERROR = -9;
const OP_CLOSE = -10;
/** The byte each op < 0 is written as (index: -op); the tokens are written as '-' + digit. */
const OP_BYTES = [0, 0x31, 0x32, 0x33, 0x34, 0x35, OPEN_ARRAY, OPEN_OBJECT, OPEN_BUFFER, OPEN_ERROR, CLOSE];

const KIND_STRING = 0;
const KIND_INTEGER = 1;
const KIND_FLOAT = 2;
const KIND_DATE = 3;

/** Containers deeper than this are checked for cycles (a cycle nests without end). */
const CYCLE_CHECK_DEPTH = 100;

/** `n.toString(36).toUpperCase()` for 0 .. 1295 (Buffer bytes, small integers). */
const SMALL_BASE36: readonly string[] = Array.from({ length: 36 * 36 }, (_, n) => n.toString(36).toUpperCase());
const BASE36_CODES = Uint8Array.from(BASE36_DIGITS, c => c.charCodeAt(0));

/**
 * What one encode call collects: the four dictionary sections and the structure ops. The
 * structure can only be written once the walk is over (a reference's number depends on how many
 * strings, integers and floats there are in all), so the walk records ops and pack() writes them.
 */
class EncodeState {
  readonly strings: string[] = [];
  readonly integers: string[] = [];
  readonly floats: string[] = [];
  readonly dates: string[] = [];
  readonly ops: number[] = [];
  /** Containers deeper than CYCLE_CHECK_DEPTH on the current path. */
  deepPath: Set<object> | undefined = undefined;
  /** Some string holds a space (written as '+' by pack). */
  spaces = false;
}

/** `n.toString(36).toUpperCase()` for an integer or NaN (as the package writes integers and dates). */
function toBase36(n: number): string {
  if (n >= 0 && n < 1296) return SMALL_BASE36[n]!;
  return n.toString(36).toUpperCase();
}

const NEEDS_ESCAPE = /[ +|^%]/;
const NEEDS_PERCENT_ESCAPE = /[+|^%]/;

/**
 * Escapes '%', '+', '|' and '^' (in that order, so the steps stay independent). Spaces are left
 * for pack(), which turns them into '+' in the output bytes: a byte loop, where replacing
 * thousands of spaces in a string is slow.
 */
function escapeString(st: EncodeState, s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  if (!st.spaces && s.includes(' ')) st.spaces = true;
  if (!NEEDS_PERCENT_ESCAPE.test(s)) return s;
  if (s.includes('%')) s = s.replaceAll('%', '%25');
  if (s.includes('+')) s = s.replaceAll('+', '%2B');
  if (s.includes('|')) s = s.replaceAll('|', '%7C');
  if (s.includes('^')) s = s.replaceAll('^', '%5E');
  return s;
}

function pushString(st: EncodeState, s: string): void {
  st.ops.push(s === '' ? OP_EMPTY_STRING : (st.strings.push(escapeString(st, s)) - 1) * 4 + KIND_STRING);
}

/**
 * Writes a value. walkObject calls itself directly for nested objects: one stack frame per
 * level of nesting (the package uses two), so this encoder goes deeper than the package.
 */
function walk(st: EncodeState, value: unknown, depth: number): void {
  if (typeof value === 'object' && value !== null) walkObject(st, value, depth);
  else walkPrimitive(st, value);
}

function walkPrimitive(st: EncodeState, value: unknown): void {
  switch (typeof value) {
    case 'string':
      pushString(st, value);
      return;
    case 'number':
      // Number.isInteger(n) is `n % 1 === 0` (the package's test) for every number.
      if (Number.isInteger(value)) st.ops.push((st.integers.push(toBase36(value)) - 1) * 4 + KIND_INTEGER);
      else st.ops.push((st.floats.push(String(value)) - 1) * 4 + KIND_FLOAT);
      return;
    case 'boolean':
      st.ops.push(value ? OP_TRUE : OP_FALSE);
      return;
    case 'undefined':
      st.ops.push(OP_UNDEFINED);
      return;
    default:
      // null, function, symbol, bigint
      st.ops.push(OP_NULL);
  }
}

const hasOwn = Object.prototype.hasOwnProperty;

function walkObject(st: EncodeState, value: object, depth: number): void {
  const ops = st.ops;
  if (value instanceof Date) {
    ops.push((st.dates.push(toBase36(value.getTime())) - 1) * 4 + KIND_DATE);
    return;
  }
  const checkCycle = depth >= CYCLE_CHECK_DEPTH;
  if (checkCycle) {
    const path = (st.deepPath ??= new Set());
    if (path.has(value)) throw new TypeError('serialize-json: cannot encode a cyclic value (an object contains itself)');
    path.add(value);
  }
  if (Array.isArray(value)) {
    ops.push(OP_OPEN_ARRAY);
    // for-of, as the package: holes are undefined.
    for (const item of value as unknown[]) {
      if (typeof item === 'object' && item !== null) walkObject(st, item, depth + 1);
      else walkPrimitive(st, item);
    }
  } else if (Buffer.isBuffer(value)) {
    ops.push(OP_OPEN_BUFFER);
    const integers = st.integers;
    for (let i = 0; i < value.length; i++) ops.push((integers.push(SMALL_BASE36[value[i]!]!) - 1) * 4 + KIND_INTEGER);
  } else {
    if (value instanceof Error) {
      ops.push(OP_OPEN_ERROR);
      pushString(st, 'message');
      walk(st, value.message, depth + 1);
      pushString(st, 'stack');
      walk(st, value.stack, depth + 1);
    } else {
      ops.push(OP_OPEN_OBJECT);
    }
    const record = value as Record<string, unknown>;
    // for-in + own check (not Object.keys), as the package: the same keys in the same order.
    for (const key in record) {
      if (!hasOwn.call(record, key)) continue;
      pushString(st, key);
      const item = record[key];
      if (typeof item === 'object' && item !== null) walkObject(st, item, depth + 1);
      else walkPrimitive(st, item);
    }
  }
  ops.push(OP_CLOSE);
  if (checkCycle) st.deepPath!.delete(value);
}

/** Scratch for STRUCTURE bytes (ASCII), reused between calls; nothing user-defined runs while it is in use. */
let scratch = new Uint8Array(4096);
const SCRATCH_KEEP = 1 << 20;

/** Writes `n` (an integer, 0 <= n < 2^31) in uppercase base36 at `pos`; returns the new position. */
function writeBase36(out: Uint8Array, pos: number, n: number): number {
  if (n < 36) {
    out[pos] = BASE36_CODES[n]!;
    return pos + 1;
  }
  let digits = 2;
  for (let limit = 36 * 36; n >= limit; limit *= 36) digits++;
  for (let i = pos + digits - 1; i >= pos; i--) {
    const q = (n / 36) | 0;
    out[i] = BASE36_CODES[n - q * 36]!;
    n = q;
  }
  return pos + digits;
}

function pack(st: EncodeState): Buffer {
  const { strings, integers, floats, dates, ops } = st;
  const stringsText = strings.join('|');
  // The other sections are ASCII.
  const numbersText = `^${integers.join('|')}^${floats.join('|')}^${dates.join('|')}^`;
  // Where each section's entries start in the shared numbering.
  const integerBase = strings.length;
  const floatBase = integerBase + integers.length;
  const dateBase = floatBase + floats.length;
  const total = dateBase + dates.length;
  let maxDigits = 2; // "-5"
  for (let limit = 36; total > limit; limit *= 36) maxDigits++;
  const worst = ops.length * (maxDigits + 1);
  let out = scratch;
  if (worst > out.length) {
    out = new Uint8Array(Math.max(worst, out.length * 2));
    if (out.length <= SCRATCH_KEEP) scratch = out;
  }
  let pos = 0;
  // A '|' goes before a value that follows a value (not an opening byte) in the same container.
  let afterValue = false;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op === OP_CLOSE) {
      out[pos++] = CLOSE;
      afterValue = true;
      continue;
    }
    if (afterValue) out[pos++] = ITEM_SEPARATOR;
    if (op >= 0) {
      // (An index within its section is below 2^28: a section is one string, at most 2^29 characters.)
      const kind = op & 3;
      pos = writeBase36(out, pos, (op >> 2) + (kind === KIND_STRING ? 0 : kind === KIND_INTEGER ? integerBase : kind === KIND_FLOAT ? floatBase : dateBase));
      afterValue = true;
    } else if (op >= OP_UNDEFINED) {
      out[pos++] = MINUS;
      out[pos++] = OP_BYTES[-op]!;
      afterValue = true;
    } else {
      out[pos++] = OP_BYTES[-op]!;
      afterValue = false;
    }
  }
  const stringsLength = Buffer.byteLength(stringsText);
  const headLength = stringsLength + numbersText.length;
  const result = Buffer.allocUnsafe(headLength + pos);
  result.write(stringsText, 0, stringsLength, 'utf8');
  if (st.spaces) swapByte(result, 0, stringsLength, SPACE, PLUS);
  result.write(numbersText, stringsLength, numbersText.length, 'latin1');
  result.set(out.subarray(0, pos), headLength);
  return result;
}

/** Encodes a value exactly as serialize-json@1.0.3 `encode` does (see the file header). */
export function encode(value: unknown): Buffer {
  const st = new EncodeState();
  walk(st, value, 0);
  return pack(st);
}

// ---------------------------------------------------------------------------------------------
// Decoder

/** Value of a base36 digit byte (either case), -1 for any other byte. */
const DIGIT_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 36; i++) {
  DIGIT_VALUE[BASE36_DIGITS.charCodeAt(i)] = i;
  DIGIT_VALUE[BASE36_DIGITS.toLowerCase().charCodeAt(i)] = i;
}

/** What String(n) gives for a number that is not an integer (digits may also be an integer's). */
const FLOAT_TEXT = /^(?:-?(?:\d+(?:\.\d+)?(?:e[+-]\d+)?|Infinity)|NaN)$/;
const PERCENT_NOT_ESCAPE = /%(?!2B|7C|5E|25)/;

function fail(message: string, at: number): never {
  throw new DecodeError(`serialize-json: ${message} (at byte ${at})`);
}

/** Undoes the '%' escapes of escapeString; `s` holds a '%'. */
function unescapePercent(s: string, at: number): string {
  if (PERCENT_NOT_ESCAPE.test(s)) fail('a "%" in a string is not followed by 2B, 7C, 5E or 25', at);
  // "%25" last: each '%' starts exactly one escape, so the steps cannot make new ones.
  if (s.includes('%2B')) s = s.replaceAll('%2B', '+');
  if (s.includes('%7C')) s = s.replaceAll('%7C', '|');
  if (s.includes('%5E')) s = s.replaceAll('%5E', '^');
  if (s.includes('%25')) s = s.replaceAll('%25', '%');
  return s;
}

/** Scratch for a string entry's bytes with '+' turned back into ' ' (its own ArrayBuffer: aligned). */
let stringScratch = Buffer.allocUnsafeSlow(256);
const STRING_SCRATCH_KEEP = 1 << 20;
/** Bytes of a string entry searched by a byte loop before memchr takes over. */
const SHORT_SCAN = 32;

/** The string in buf[start, end) with every '+' read as a space (in a copy: the input may be a socket chunk's view). */
function readWithSpaces(buf: Buffer, start: number, end: number): string {
  const length = end - start;
  let copy = stringScratch;
  if (copy.length < length) {
    copy = Buffer.allocUnsafeSlow(Math.max(length, 2 * copy.length));
    if (copy.length <= STRING_SCRATCH_KEEP) stringScratch = copy;
  }
  buf.copy(copy, 0, start, end);
  swapByte(copy, 0, length, PLUS, SPACE);
  return copy.toString(undefined, 0, length);
}

/**
 * STRINGS: entries in [start, end). Each is decoded from its own bytes, so it shares no memory
 * with the input (a slice of one big decoded string would keep all of it alive). UTF-8 never
 * has an ASCII byte inside a multi-byte character, so this reads the same characters as
 * decoding the whole text and splitting it, U+FFFD for invalid bytes included.
 */
function readStrings(buf: Buffer, start: number, end: number, dict: unknown[]): void {
  if (start === end) return;
  let entry = start;
  for (;;) {
    // The entry's end: a byte loop over the first bytes (most strings are short), then memchr.
    let bar = entry;
    let escaped = false;
    const shortEnd = Math.min(end, entry + SHORT_SCAN);
    for (; bar < shortEnd; bar++) {
      const c = buf[bar]!;
      if (c === ITEM_SEPARATOR) break;
      if (c === PLUS || c === PERCENT) escaped = true;
    }
    if (bar === shortEnd && bar < end) {
      bar = buf.indexOf(ITEM_SEPARATOR, bar);
      if (bar === -1 || bar > end) bar = end;
      escaped = true; // not known: the string is searched below
    }
    let s = bar === entry ? '' : buf.toString(undefined, entry, bar);
    if (escaped) {
      if (s.includes('+')) s = readWithSpaces(buf, entry, bar);
      if (s.includes('%')) s = unescapePercent(s, entry);
    }
    dict.push(s);
    if (bar === end) return;
    entry = bar + 1;
  }
}

/** Reads a base36 integer entry (`-`? digits) in [start, end), as parseInt(text, 36) does. */
function readBase36(buf: Buffer, start: number, end: number): number {
  let i = start;
  const negative = buf[i] === MINUS;
  if (negative) i++;
  if (i === end) fail('an empty number', start);
  if (end - i > 10) {
    // Beyond 36^10 (still below 2^53 for 10 digits) parseInt's own rounding is the reference.
    for (let j = i; j < end; j++) if (DIGIT_VALUE[buf[j]!]! < 0) fail('a number that is not base36', j);
    return parseInt(buf.toString('latin1', start, end), 36);
  }
  let n = 0;
  for (; i < end; i++) {
    const d = DIGIT_VALUE[buf[i]!]!;
    if (d < 0) fail('a number that is not base36', i);
    n = n * 36 + d;
  }
  return negative ? -n : n;
}

/** INTEGERS, FLOATS or DATES (`kind`): entries in [start, end) split on '|' (none if empty). */
function readNumbers(buf: Buffer, start: number, end: number, dict: unknown[], kind: number): void {
  if (start === end) return;
  let entry = start;
  for (let i = start; i <= end; i++) {
    if (i < end && buf[i] !== ITEM_SEPARATOR) continue;
    if (kind === KIND_INTEGER) {
      dict.push(readBase36(buf, entry, i));
    } else if (kind === KIND_DATE) {
      dict.push(new Date(readBase36(buf, entry, i)));
    } else {
      const text = buf.toString('latin1', entry, i);
      if (!FLOAT_TEXT.test(text)) fail(`a float that is not a number: ${JSON.stringify(text.slice(0, 40))}`, entry);
      dict.push(parseFloat(text));
    }
    entry = i + 1;
  }
}

const CONTAINER_NAMES: Record<number, string> = { [OPEN_ARRAY]: 'array', [OPEN_OBJECT]: 'object', [OPEN_BUFFER]: 'Buffer', [OPEN_ERROR]: 'Error' };

/** An open container while STRUCTURE is read. */
interface Frame {
  readonly open: number;
  /** Array items or Buffer bytes (`@`, `*`); object entries or an Error's fields (`$`, `#`). */
  readonly target: unknown[] | Record<string, unknown>;
  /** The key read, waiting for its value (objects and Errors). */
  key: string | undefined;
  /** Keys read so far (Errors: the first two must be "message" and "stack"). */
  keys: number;
  readonly at: number;
}

/** Where STRUCTURE is: what may come next. */
const EXPECT_VALUE = 0; // at the start, or after '|'
const EXPECT_VALUE_OR_CLOSE = 1; // after an opening byte
const EXPECT_SEPARATOR_OR_CLOSE = 2; // after a value

function closeFrame(frame: Frame, at: number): unknown {
  switch (frame.open) {
    case OPEN_ARRAY:
      return frame.target;
    case OPEN_BUFFER:
      return Buffer.from(frame.target as number[]);
    case OPEN_OBJECT:
      if (frame.key !== undefined) fail('an object key without a value', at);
      return frame.target;
    default: {
      if (frame.key !== undefined) fail('an Error key without a value', at);
      if (frame.keys < 2) fail('an Error without its "message" and "stack" fields', at);
      const fields = frame.target as Record<string, unknown>;
      const err = new Error(fields['message'] as string | undefined);
      Object.assign(err, fields);
      return err;
    }
  }
}

/** Adds a value to the innermost open container. */
function addToFrame(frame: Frame, value: unknown, at: number): void {
  switch (frame.open) {
    case OPEN_ARRAY:
      (frame.target as unknown[]).push(value);
      return;
    case OPEN_BUFFER:
      if (typeof value !== 'number' || !(value >= 0 && value <= 255 && Number.isInteger(value))) fail('a Buffer item that is not a byte', at);
      (frame.target as unknown[]).push(value);
      return;
    default:
      if (frame.key === undefined) {
        if (typeof value !== 'string') fail(`a key that is not a string in an ${CONTAINER_NAMES[frame.open]}`, at);
        // An Error starts with "message" and "stack" (so its stack is never the decoder's own).
        if (frame.open === OPEN_ERROR && frame.keys < 2 && value !== (frame.keys === 0 ? 'message' : 'stack')) fail(`an Error whose field ${frame.keys + 1} is not "${frame.keys === 0 ? 'message' : 'stack'}"`, at);
        frame.key = value;
        frame.keys++;
      } else {
        // Plain assignment, as the package: a "__proto__" key sets the prototype.
        (frame.target as Record<string, unknown>)[frame.key] = value;
        frame.key = undefined;
      }
  }
}

function readStructure(buf: Buffer, start: number, dict: unknown[]): unknown {
  const end = buf.length;
  const stack: Frame[] = [];
  let frame: Frame | undefined;
  let expect = EXPECT_VALUE;
  let root: unknown;
  let done = false;
  let pos = start;
  while (pos < end) {
    const c = buf[pos]!;
    const at = pos;
    let value: unknown;
    if (c === CLOSE) {
      if (frame === undefined) fail('"]" with no open container', at);
      if (expect === EXPECT_VALUE) fail('"]" right after "|"', at);
      value = closeFrame(frame, at);
      frame = stack.pop();
      pos++;
    } else if (c === ITEM_SEPARATOR) {
      if (frame === undefined) fail(done ? 'bytes after the value' : 'a "|" outside any container', at);
      if (expect !== EXPECT_SEPARATOR_OR_CLOSE) fail('a "|" that does not follow a value', at);
      expect = EXPECT_VALUE;
      pos++;
      continue;
    } else {
      if (done) fail('bytes after the value', at);
      if (expect === EXPECT_SEPARATOR_OR_CLOSE) fail('a value that does not follow "|"', at);
      if (c === OPEN_ARRAY || c === OPEN_OBJECT || c === OPEN_BUFFER || c === OPEN_ERROR) {
        if (frame !== undefined) stack.push(frame);
        frame = { open: c, target: c === OPEN_ARRAY || c === OPEN_BUFFER ? [] : {}, key: undefined, keys: 0, at };
        expect = EXPECT_VALUE_OR_CLOSE;
        pos++;
        continue;
      }
      // A reference: '-' and 1..5, or an entry number.
      const negative = c === MINUS;
      if (negative) pos++;
      let n = 0;
      const digitsStart = pos;
      while (pos < end) {
        const d = DIGIT_VALUE[buf[pos]!]!;
        if (d < 0) break;
        n = n * 36 + d;
        pos++;
      }
      if (pos === digitsStart) fail(pos < end ? `unexpected byte 0x${buf[pos]!.toString(16).padStart(2, '0')}` : 'a "-" with no digits', pos);
      if (negative) {
        if (n < TOKEN_TRUE || n > TOKEN_UNDEFINED) fail(`an unknown token -${n.toString(36).toUpperCase()}`, at);
        value = n === TOKEN_TRUE ? true : n === TOKEN_FALSE ? false : n === TOKEN_NULL ? null : n === TOKEN_EMPTY_STRING ? '' : undefined;
      } else {
        if (n >= dict.length) fail(`a reference to entry ${n} of ${dict.length}`, at);
        value = dict[n];
      }
    }
    if (frame === undefined) {
      root = value;
      done = true;
    } else {
      addToFrame(frame, value, at);
    }
    expect = EXPECT_SEPARATOR_OR_CLOSE;
  }
  if (frame !== undefined) fail(`the ${CONTAINER_NAMES[frame.open]} opened at byte ${frame.at} is not closed`, end);
  if (!done) fail('no value', end);
  return root;
}

/** Decodes serialize-json@1.0.3 bytes to the value the package gives; throws a DecodeError for bytes it cannot have written. */
export function decode(data: Buffer): unknown {
  let buf: Buffer = data;
  if (!Buffer.isBuffer(buf)) {
    const view: unknown = data;
    if (!(view instanceof Uint8Array)) throw new TypeError(`serialize-json: decode takes a Buffer, got ${view === null ? 'null' : typeof view}`);
    buf = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  }
  // The four '^': ASCII, so never inside a multi-byte character, and escaped inside strings.
  const c1 = buf.indexOf(SECTION_SEPARATOR);
  const c2 = c1 === -1 ? -1 : buf.indexOf(SECTION_SEPARATOR, c1 + 1);
  const c3 = c2 === -1 ? -1 : buf.indexOf(SECTION_SEPARATOR, c2 + 1);
  const c4 = c3 === -1 ? -1 : buf.indexOf(SECTION_SEPARATOR, c3 + 1);
  if (c4 === -1) fail(`${buf.length === 0 ? 'no data' : 'fewer than 5 sections'} (truncated, or not serialize-json)`, buf.length);
  const dict: unknown[] = [];
  readStrings(buf, 0, c1, dict);
  readNumbers(buf, c1 + 1, c2, dict, KIND_INTEGER);
  readNumbers(buf, c2 + 1, c3, dict, KIND_FLOAT);
  readNumbers(buf, c3 + 1, c4, dict, KIND_DATE);
  return readStructure(buf, c4 + 1, dict);
}
