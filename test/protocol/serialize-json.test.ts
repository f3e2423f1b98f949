/**
 * src/protocol/serialize-json.ts against the real serialize-json@1.0.3 (the copy cluster-client
 * 3.x loads) as the oracle:
 * - encode: byte-identical for generated values of every kind (fc.anything, and a generator of
 *   Buffers, Dates, Errors with own properties, exotic objects, edge numbers and strings);
 * - decode: of the package's bytes, the same value as the package's decode (compared by shape:
 *   own keys, enumerability, prototypes, Buffer bytes, Date times, -0);
 * - bad input: truncated, mutated and random bytes throw a DecodeError, and whatever our decode
 *   does accept it decodes to what the package gives; nothing hangs (checked in a worker).
 *
 * fast-check runs with a fixed seed (set SERIALIZE_JSON_TEST_SEED to explore others; a failure
 * prints the seed and path to replay it).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import util from 'node:util';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { DecodeError } from '../../src/errors.js';
import { decode, encode } from '../../src/protocol/serialize-json.js';

// ---------------------------------------------------------------------------------------------
// The oracle and helpers

interface SerializeJson {
  encode(value: unknown): Buffer;
  decode(data: Buffer): unknown;
}

/** serialize-json exactly as cluster-client 3.x resolves it from its own folder. */
const clusterClientRequire = createRequire(createRequire(import.meta.url).resolve('cluster-client/package.json'));
const pkg = clusterClientRequire('serialize-json') as SerializeJson;
const pkgVersion = (clusterClientRequire('serialize-json/package.json') as { version: string }).version;

const SEED = process.env['SERIALIZE_JSON_TEST_SEED'] ? Number(process.env['SERIALIZE_JSON_TEST_SEED']) : 0x5e71a1;
const RUNS = { few: 150, some: 300, many: 600 } as const;

function params(numRuns: number): { numRuns: number; seed: number } {
  return { numRuns, seed: SEED };
}

/**
 * A description of a decoded value that deepStrictEqual can compare strictly: own string keys in
 * order with their enumerability, the prototype (by name, or described itself when a decoded
 * "__proto__" key made an object the prototype), Buffer bytes, Date times, -0 and NaN.
 */
function shape(value: unknown): unknown {
  if (typeof value === 'number') return { number: Object.is(value, -0) ? '-0' : String(value) };
  if (value === null || typeof value !== 'object') return value;
  // (Checked by internal slot: a decoded "__proto__" key can give a plain object a Buffer or Date prototype.)
  if (util.types.isUint8Array(value) && Buffer.isBuffer(value)) return { buffer: value.toString('hex'), isBuffer: true };
  const proto: unknown = Object.getPrototypeOf(value);
  const protoShape =
    proto === null ? 'null' : proto === Object.prototype ? 'Object' : proto === Array.prototype ? 'Array' : proto === Error.prototype ? 'Error' : proto === Date.prototype ? 'Date' : shape(proto);
  const own: unknown[] = [];
  for (const key of Reflect.ownKeys(value)) {
    if (typeof key !== 'string') continue;
    const enumerable = Object.getOwnPropertyDescriptor(value, key)!.enumerable;
    own.push([key, enumerable, shape((value as Record<string, unknown>)[key])]);
  }
  return { proto: protoShape, own, time: util.types.isDate(value) ? String(value.getTime()) : undefined };
}

/** util.inspect, which throws for an Error whose stack is an object without a prototype. */
function show(value: unknown, depth = 6): string {
  try {
    return util.inspect(value, { depth });
  } catch (err) {
    return `(not inspectable: ${(err as Error).message})`;
  }
}

/** `where` is what the value was: the encoded value, or the bytes. */
function assertSameDecoded(ours: unknown, theirs: unknown, where: unknown): void {
  const a = shape(ours);
  const b = shape(theirs);
  if (util.isDeepStrictEqual(a, b)) return;
  assert.deepStrictEqual(a, b, `${typeof where === 'string' ? where : show(where, 3)}: decoded values differ\n ours   ${show(ours)}\n theirs ${show(theirs)}`);
}

function assertSameBytes(value: unknown): Buffer {
  const theirs = pkg.encode(value);
  const ours = encode(value);
  assert.ok(Buffer.isBuffer(ours), 'encode returns a Buffer');
  if (!ours.equals(theirs)) {
    assert.fail(`encode differs for ${show(value)}\n ours   ${JSON.stringify(ours.toString())}\n theirs ${JSON.stringify(theirs.toString())}`);
  }
  return theirs;
}

/** Bytes and decode both match the package. */
function assertLikePackage(value: unknown): void {
  const bytes = assertSameBytes(value);
  assertSameDecoded(decode(bytes), pkg.decode(bytes), value);
}

/** What the package decode does with bytes: a value, or that it threw. */
function pkgDecode(bytes: Buffer): { ok: true; value: unknown } | { ok: false; error: unknown } {
  try {
    return { ok: true, value: pkg.decode(bytes) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Ours throws a DecodeError, or decodes to exactly what the package gives. */
function checkDecodeOrReject(bytes: Buffer, counts: { accepted: number; rejected: number; pkgSilent: number }): void {
  let ours: unknown;
  try {
    ours = decode(bytes);
  } catch (err) {
    assert.ok(err instanceof DecodeError, `decode threw ${show(err)} (not a DecodeError) for ${JSON.stringify(bytes.toString('latin1'))}`);
    counts.rejected++;
    if (pkgDecode(bytes).ok) counts.pkgSilent++;
    return;
  }
  counts.accepted++;
  const theirs = pkgDecode(bytes);
  assert.ok(theirs.ok, `we accepted bytes the package throws on: ${JSON.stringify(bytes.toString('latin1'))}`);
  assertSameDecoded(ours, theirs.value, JSON.stringify(bytes.toString('latin1')));
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Characters the format escapes or uses as tokens, escape look-alikes, and non-ASCII. */
const special = fc.constantFrom(' ', '+', '|', '^', '%', '%2B', '%7C', '%5E', '%25', '%2b', '%41', '$', '@', '*', '#', ']', '-', '-1', '\n', '\0', 'é', '通', '🎉', '\uD800', '\uDFFF', '\uFEFF', 'a');
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map(c => String.fromCharCode(c));
const anyString = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.string({ unit: special }), fc.string({ unit: codeUnit }));
const edgeNumber = fc.constantFrom(
  -0, 0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON,
  Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 53, 2 ** 53 + 2, 2 ** 60, 1e21, -1e21, 1e300, 2 ** 31, -(2 ** 31), 35, 36, 1295, 1296, -1295, -1296, 36 ** 10 - 1, 36 ** 10, 36 ** 11,
);
const anyNumber = fc.oneof(fc.double(), fc.integer(), fc.maxSafeInteger(), edgeNumber, fc.double({ min: -1e-5, max: 1e-5 }), fc.integer({ min: -1e6, max: 1e6 }).map(n => n / 1024));
const anyDate = fc.oneof(fc.date(), fc.constant(new Date(Number.NaN)), fc.integer({ min: -8.64e15, max: 8.64e15 }).map(t => new Date(t)));
const buffer = fc.oneof(
  fc.uint8Array({ maxLength: 48 }).map(bytes => Buffer.from(bytes)),
  // A view into a larger Buffer, as Buffers read from a socket are.
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 48 }), fc.nat(), fc.nat()).map(([bytes, a, b]) => {
    const start = a % bytes.length;
    return Buffer.from(bytes).subarray(start, start + (b % (bytes.length - start + 1)));
  }),
);
const anyKey = fc.oneof({ weight: 4, arbitrary: anyString }, { weight: 2, arbitrary: fc.constantFrom('', '__proto__', 'constructor', 'toString', 'message', 'stack', 'name', 'length', '0', '10', '2', '-1', '1.5', ' ', '|') });

class Point {
  constructor(
    readonly x: unknown,
    readonly y: unknown,
  ) {}
}
// An enumerable inherited property: for-in sees it, the own-property check drops it.
(Point.prototype as unknown as Record<string, unknown>)['inherited'] = 'from the prototype';

class CustomError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CustomError'; // own and enumerable, as custom errors usually have it
  }
}

/** An Error of some class with some own properties, messages and stacks, holding `inner`. */
function makeError([kind, message, code, detail, variant]: [number, string, unknown, unknown, number]): Error {
  let err: Error & Record<string, unknown>;
  switch (kind) {
    case 0:
      err = new Error(message) as Error & Record<string, unknown>;
      break;
    case 1:
      err = new TypeError(message) as Error & Record<string, unknown>;
      break;
    case 2:
      err = new CustomError(message) as unknown as Error & Record<string, unknown>;
      break;
    case 3:
      err = new RangeError(message, { cause: detail }) as Error & Record<string, unknown>;
      break;
    default:
      // No own message: assigning one creates an own enumerable "message" (written twice).
      err = new Error() as Error & Record<string, unknown>;
      err['message'] = message;
  }
  if (code !== undefined) err['code'] = code;
  switch (variant) {
    case 1:
      err['detail'] = detail;
      break;
    case 2:
      err.stack = undefined as unknown as string;
      break;
    case 3:
      (err as Record<string, unknown>)['stack'] = detail;
      break;
    case 4:
      err['name'] = message;
      break;
    case 5:
      Object.defineProperty(err, 'hidden', { value: detail, enumerable: false });
      break;
  }
  return err;
}

/** Objects that are not plain: the package writes their own enumerable string keys. */
function makeExotic([kind, a, b]: [number, unknown, unknown]): unknown {
  switch (kind) {
    case 0:
      return new Map([[a, b]]);
    case 1:
      return new Set([a, b]);
    case 2:
      return new Point(a, b);
    case 3:
      return Object.assign(Object.create(null) as object, { a, b });
    case 4:
      return new Uint8Array([1, 2, 3]);
    case 5:
      return Object.assign([a, b], { extra: 'dropped' });
    case 6:
      return { [Symbol('s')]: a, visible: b };
    case 7:
      return Object.defineProperty({ shown: a }, 'hidden', { value: b, enumerable: false });
    case 8:
      return { get computed() { return a; }, b };
    case 9:
      return new String('str');
    case 10:
      return /re/g;
    case 11:
      return { 10: a, 2: b, z: 1, 1: 'one', '-1': 'neg' };
    case 12:
      return () => a;
    case 13:
      return Symbol('x');
    default:
      return 12345678901234567890n;
  }
}

/** Everything the package accepts, nested: the main generator. */
const sjValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; array: unknown[]; sparse: unknown[]; object: Record<string, unknown>; error: Error; exotic: unknown }>(tie => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    anyString,
    anyNumber,
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    buffer,
    anyDate,
    tie('array'),
    tie('sparse'),
    tie('object'),
    tie('error'),
    tie('exotic'),
  ),
  array: fc.array(tie('value'), { maxLength: 5 }),
  sparse: fc.sparseArray(tie('value'), { maxLength: 6 }),
  object: fc.dictionary(anyKey, tie('value'), { maxKeys: 5 }),
  error: fc.tuple(fc.nat({ max: 4 }), anyString, fc.option(fc.oneof(anyString, fc.integer()), { nil: undefined }), tie('value'), fc.nat({ max: 5 })).map(makeError),
  exotic: fc.tuple(fc.nat({ max: 14 }), tie('value'), tie('value')).map(makeExotic),
})).value;

/** fast-check's own "anything", with every option on. */
const anything = fc.anything({
  maxDepth: 4,
  maxKeys: 5,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withNullPrototype: true,
  withObjectString: true,
  withSet: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
});

/** Values serialize-json gives back exactly (no NaN-free guarantee needed: deepStrictEqual takes NaN). */
const keepable: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown> }>(tie => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: special }).filter(s => !/[\uD800-\uDFFF]/.test(s)),
    fc.oneof(fc.integer(), fc.double({ noDefaultInfinity: false }).filter(d => !Object.is(d, -0) && (!Number.isInteger(d) || Number.isSafeInteger(d)))),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    buffer,
    fc.date({ noInvalidDate: true }),
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(fc.string().filter(k => k !== '__proto__'), tie('value'), { maxKeys: 5, noNullPrototype: true }),
})).value;

// ---------------------------------------------------------------------------------------------
// Encode

describe('encode is byte-identical to serialize-json@1.0.3', () => {
  test('the oracle is serialize-json 1.0.3 as cluster-client 3.x loads it', () => {
    assert.equal(pkgVersion, '1.0.3');
    assert.equal((clusterClientRequire('./package.json') as { version: string }).version.split('.')[0], '3');
  });

  test('generated values: strings, numbers, Buffers, Dates, Errors with own properties, exotic objects, nested', () => {
    fc.assert(fc.property(sjValue, value => void assertSameBytes(value)), params(RUNS.many));
  });

  test('fc.anything with every option (Map, Set, boxed values, null prototypes, typed arrays, sparse arrays, bigint)', () => {
    fc.assert(fc.property(anything, value => void assertSameBytes(value)), params(RUNS.many));
  });

  test('strings of every kind: escapes, look-alike escapes, unicode, lone surrogates', () => {
    fc.assert(fc.property(anyString, value => assertLikePackage(value)), params(RUNS.many));
    fc.assert(fc.property(fc.array(anyString, { maxLength: 8 }), value => assertLikePackage(value)), params(RUNS.some));
    fc.assert(fc.property(fc.dictionary(anyKey, anyString, { maxKeys: 6 }), value => assertLikePackage(value)), params(RUNS.some));
  });

  test('long strings (spaces and "+" swapped four bytes at a time) at every alignment', () => {
    const longString = fc.string({ unit: fc.constantFrom(' ', ' ', ' ', '+', 'a', 'b', '%', '|', '^', 'é', '通', '🎉', '\uD800', '\0'), minLength: 60, maxLength: 700 });
    fc.assert(
      fc.property(fc.string({ maxLength: 7 }), longString, fc.array(longString, { maxLength: 2 }), (prefix, text, more) => {
        assertLikePackage(text);
        assertLikePackage([prefix, text, ...more]);
        assertLikePackage({ [prefix]: text, k: more });
      }),
      params(RUNS.some),
    );
    assertLikePackage(' '.repeat(10_000));
    assertLikePackage('+'.repeat(10_000));
    assertLikePackage(`${'a b'.repeat(3000)}+${'é '.repeat(3000)}`);
  });

  test('numbers of every kind: integers, floats, -0, NaN, ±Infinity, beyond 2^53, beyond 1e21', () => {
    fc.assert(fc.property(anyNumber, value => assertLikePackage(value)), params(RUNS.many));
    fc.assert(fc.property(fc.array(anyNumber, { maxLength: 40 }), value => assertLikePackage(value)), params(RUNS.some));
  });

  test('hand-written edge cases', () => {
    const noMessage = new Error();
    noMessage.message = 'assigned later';
    const stackless = new Error('no stack');
    delete (stackless as { stack?: string }).stack;
    const nested = Object.assign(new Error('outer'), { code: 'E_OUTER', inner: Object.assign(new Error('inner'), { code: 42 }), list: [new TypeError('t')] });
    const big = Buffer.alloc(2000, 7);
    const arrayWith1300 = Array.from({ length: 1300 }, (_, i) => (i % 2 ? `s${i}` : i));
    const edges: unknown[] = [
      undefined, null, true, false, '', ' ', '  ', '+', '%', '%25', '^', '|', '|^|', 'a b+c|d^e%f', '\0', '\uD800', '\uDC00a', '🎉', '\uFEFF',
      0, -0, 1, -1, 35, 36, 1295, 1296, 0.5, -0.5, 1e-7, 5e-324, Number.NaN, Infinity, -Infinity, 2 ** 53 + 2, 1e21, Number.MAX_VALUE,
      [], {}, [[]], [{}], { a: {} }, [undefined], [null], [''], { '': '' }, { '': undefined },
      // eslint-disable-next-line no-sparse-arrays
      [, 1, , 3, ,],
      new Date(0), new Date(-1), new Date(8.64e15), new Date(-8.64e15), new Date(Number.NaN), [new Date(1), new Date(2)],
      Buffer.alloc(0), Buffer.from([0, 255, 36, 1]), big, [big, big], { buf: Buffer.from('hi') },
      new Error('plain'), noMessage, stackless, nested, new CustomError('custom'), Object.assign(new Error('coded'), { code: 'E_CODE', errno: -2 }),
      new Map([[1, 2]]), new Set([1]), 10n, Symbol('s'), () => 1, new Point(1, [2]), Object.create(null) as unknown, new Uint8Array([9]), new Float64Array([1.5]),
      new String('ab'), new Number(3), new Boolean(false), /x/g,
      JSON.parse('{"__proto__":{"x":1},"a":1}') as unknown,
      { constructor: 'c', toString: 't', hasOwnProperty: 'h' },
      arrayWith1300,
      { deep: { deeper: { deepest: [1, { k: 'v' }] } } },
    ];
    for (const value of edges) assertLikePackage(value);
  });

  test('the examples in the file header are right', () => {
    const examples: [unknown, string][] = [
      [5, '^5^^^0'],
      [undefined, '^^^^-5'],
      ['a b+c', 'a+b%2Bc^^^^0'],
      [[1, [2, 3], [], {}], '^1|2|3^^^@0|@1|2]|@]|$]]'],
      [{ a: 1, b: 'x', c: [true] }, 'a|b|x|c^1^^^$0|4|1|2|3|@-1]]'],
      [Buffer.from([0, 1, 255]), '^0|1|73^^^*0|1|2]'],
      [[1.5, Number.NaN, new Date(0)], '^^1.5|NaN^0^@0|1|2]'],
    ];
    for (const [value, text] of examples) {
      assert.equal(encode(value).toString(), text);
      assert.equal(pkg.encode(value).toString(), text);
    }
  });

  test('an encode called from a getter during another encode does not disturb it (the package shares one state)', () => {
    const plain = { a: 'x', b: [1, 2], c: 'y' };
    const withGetter = {
      a: 'x',
      get b() {
        encode({ unrelated: ['q', 3.5, new Date(5)] });
        return [1, 2];
      },
      c: 'y',
    };
    assert.ok(encode(withGetter).equals(pkg.encode(plain)));
  });

  test('cycles: a TypeError that says so (the package overflows the stack: RangeError)', () => {
    const obj: Record<string, unknown> = { a: 1 };
    obj['self'] = obj;
    const arr: unknown[] = [1];
    arr.push([arr]);
    const err = new Error('cyclic') as Error & { self?: unknown };
    err.self = { err };
    let long: Record<string, unknown> = {};
    const head = long;
    for (let i = 0; i < 250; i++) long = (long['next'] = {}) as Record<string, unknown>;
    long['back'] = head;
    for (const value of [obj, arr, err, head]) {
      assert.throws(() => encode(value), (e: unknown) => e instanceof TypeError && /cyclic/.test(e.message));
      assert.throws(() => pkg.encode(value), RangeError);
    }
    // Shared (not cyclic) references are fine and written once per occurrence, as by the package.
    const shared = { s: 'shared' };
    let dag: unknown = shared;
    for (let i = 0; i < 150; i++) dag = [dag, shared];
    assertLikePackage(dag);
  });

  test('deep nesting: byte-identical near the deepest the package can go, and ours goes deeper', () => {
    const nest = (depth: number, kind: number): unknown => {
      let v: unknown = 'leaf';
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 1; // short stacks: thousands of them are encoded
      try {
        for (let i = 0; i < depth; i++) v = kind === 0 ? [v] : kind === 1 ? { k: v } : Object.assign(new Error('e'), { inner: v });
      } finally {
        Error.stackTraceLimit = limit;
      }
      return v;
    };
    // About the deepest array the package encodes here (binary search; it throws RangeError beyond).
    let lo = 500;
    let hi = 8_000;
    while (hi - lo > 50) {
      const mid = (lo + hi) >> 1;
      try {
        pkg.encode(nest(mid, 0));
        lo = mid;
      } catch {
        hi = mid;
      }
    }
    for (const kind of [0, 1, 2]) {
      // Just under that limit (it moves with the stack already in use and JIT state; objects and
      // Errors go about as deep as arrays).
      const near = Math.floor(lo * 0.85);
      const bytes = assertSameBytes(nest(near, kind));
      // (Re-encoded rather than compared by shape: a recursive comparison would run out of stack.)
      assert.ok(encode(decode(bytes)).equals(encode(pkg.decode(bytes))), `decode at depth ${near}`);
      // And deeper still (ours: one stack frame per level, the package: two).
      assert.ok(Buffer.isBuffer(encode(nest(Math.floor(lo * 1.2), kind))));
    }
    // The decoder keeps no stack: 100 000 levels decode.
    const deep = Buffer.from(`^^^^${'@'.repeat(100_000)}${']'.repeat(100_000)}`);
    let v = decode(deep);
    let levels = 0;
    while (Array.isArray(v) && v.length === 1) {
      v = v[0];
      levels++;
    }
    assert.equal(levels, 99_999);
  });
});

// ---------------------------------------------------------------------------------------------
// Decode

describe('decode of the package bytes equals the package decode', () => {
  test('generated values (including "__proto__" keys, compared by shape)', () => {
    fc.assert(
      fc.property(sjValue, value => {
        const bytes = pkg.encode(value);
        assertSameDecoded(decode(bytes), pkg.decode(bytes), value);
      }),
      params(RUNS.many),
    );
  });

  test('fc.anything', () => {
    fc.assert(
      fc.property(anything, value => {
        const bytes = pkg.encode(value);
        assertSameDecoded(decode(bytes), pkg.decode(bytes), value);
      }),
      params(RUNS.some),
    );
  });

  test('values serialize-json keeps come back deepStrictEqual through ours', () => {
    fc.assert(
      fc.property(keepable, value => {
        assert.deepStrictEqual(decode(encode(value)), value);
      }),
      params(RUNS.some),
    );
  });

  test('what the package loses, we lose the same way', () => {
    const cases: [unknown, (decoded: unknown) => void][] = [
      [-0, d => assert.ok(Object.is(d, 0))],
      [new Date(Number.NaN), d => assert.deepStrictEqual(d, new Date(30191))], // "NAN" read as base36
      ['\uD800', d => assert.equal(d, '\uFFFD')],
      [new Map([[1, 2]]), d => assert.deepStrictEqual(d, {})],
      [10n, d => assert.equal(d, null)],
      [new CustomError('c'), d => assert.ok(d instanceof Error && !(d instanceof CustomError) && d.name === 'CustomError')],
      [new TypeError('t'), d => assert.ok(d instanceof Error && d.name === 'Error')],
      // Integers beyond 2^53 are written with V8's base36 digits, and parseInt(_, 36) reads some back differently.
      [1e21, d => assert.equal(d, 1.0000000000000001e21)],
      [2 ** 60, d => assert.equal(d, 2 ** 60)],
      [1e300, d => assert.equal(d, 1.0000000000000006e300)],
      [Number.MAX_VALUE, d => assert.equal(d, Infinity)],
    ];
    for (const [value, check] of cases) {
      check(decode(encode(value)));
      check(pkg.decode(pkg.encode(value)));
    }
  });

  test('"__proto__" keys set the prototype, as with the package (no global pollution)', () => {
    const value = JSON.parse('{"__proto__":{"polluted":true},"a":1,"o":{"__proto__":null}}') as unknown;
    const bytes = pkg.encode(value);
    const ours = decode(bytes) as Record<string, unknown>;
    assertSameDecoded(ours, pkg.decode(bytes), '__proto__');
    assert.deepStrictEqual(Object.keys(ours), ['a', 'o']);
    assert.equal(ours['polluted'], true, 'inherited from the decoded prototype');
    assert.equal(Object.getPrototypeOf(ours['o']), null);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  test('Errors: message, stack and own properties as Object.assign(new Error(message), fields)', () => {
    const err = Object.assign(new CustomError('boom'), { code: 'E_BOOM', status: 500, data: { list: [1, 'two'] } });
    const bytes = encode(err);
    const ours = decode(bytes) as Error & Record<string, unknown>;
    assertSameDecoded(ours, pkg.decode(bytes), 'error');
    assert.equal(ours.message, 'boom');
    assert.equal(ours.stack, err.stack);
    assert.equal(ours.name, 'CustomError');
    assert.equal(ours['code'], 'E_BOOM');
    assert.deepStrictEqual(ours['data'], { list: [1, 'two'] });
  });

  test('Buffers decode to fresh memory, and from a view inside a larger chunk', () => {
    const bytes = encode({ b: Buffer.from([1, 2, 3]), s: 'a string long enough to be sliced' });
    const chunk = Buffer.concat([Buffer.from('junk^|@'), bytes, Buffer.from(']^|x')]);
    const view = chunk.subarray(7, 7 + bytes.length);
    const decoded = decode(view) as { b: Buffer; s: string };
    assertSameDecoded(decoded, pkg.decode(bytes), 'view');
    chunk.fill(0);
    assert.deepStrictEqual(decoded.b, Buffer.from([1, 2, 3]));
    assert.equal(decoded.s, 'a string long enough to be sliced');
    // A plain Uint8Array is read too.
    assertSameDecoded(decode(new Uint8Array(bytes) as Buffer), pkg.decode(bytes), 'Uint8Array');
  });

  test('UTF-8 inside strings, invalid sequences included, reads as the package reads it', () => {
    // Random bytes (no '^' or '%') as the STRINGS section, every entry referenced.
    const stringsSection = fc.uint8Array({ maxLength: 40 }).map(bytes => Buffer.from(bytes.filter(b => b !== 0x5e && b !== 0x25)));
    fc.assert(
      fc.property(fc.array(fc.oneof(stringsSection, fc.constant(Buffer.from([0xe2, 0x82])), fc.constant(Buffer.from([0xf0, 0x9f, 0x8e]))), { minLength: 1, maxLength: 4 }), parts => {
        const section = Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from('|'), p])));
        // An empty section holds no entries; otherwise one more than its '|'.
        let entries = section.length === 0 ? 0 : 1;
        for (const b of section) if (b === 0x7c) entries++;
        const refs = Array.from({ length: entries }, (_, i) => i.toString(36).toUpperCase()).join('|');
        const bytes = Buffer.concat([section, Buffer.from(`^^^^@${refs}]`)]);
        assertSameDecoded(decode(bytes), pkg.decode(bytes), section.toString('hex'));
      }),
      params(RUNS.some),
    );
  });

  test('base36 entries: lowercase, leading zeros, long ones read as parseInt reads them', () => {
    const digits = fc.string({ unit: fc.constantFrom(...'0123456789abcdefghijklmnopqrstuvwxyzABCXYZ'), minLength: 1, maxLength: 24 });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), digits), { minLength: 1, maxLength: 4 }), fc.boolean(), (entries, asDates) => {
        const section = entries.map(([neg, d]) => (neg ? '-' : '') + d).join('|');
        const refs = entries.map((_, i) => i.toString(36)).join('|');
        const bytes = Buffer.from(asDates ? `^^^${section}^@${refs}]` : `^${section}^^^@${refs}]`);
        assertSameDecoded(decode(bytes), pkg.decode(bytes), bytes.toString());
      }),
      params(RUNS.some),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Bad input

describe('bad input to decode: a DecodeError, never a different value than the package gives', () => {
  test('every proper prefix of a valid encoding throws a DecodeError (the package often returns garbage)', t => {
    const counts = { prefixes: 0, pkgSilent: 0 };
    fc.assert(
      fc.property(sjValue, value => {
        const bytes = pkg.encode(value);
        for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 40))) {
          const prefix = bytes.subarray(0, cut);
          counts.prefixes++;
          assert.throws(() => decode(prefix), DecodeError, `prefix ${cut}/${bytes.length} of ${JSON.stringify(bytes.toString())}`);
          if (pkgDecode(prefix).ok) counts.pkgSilent++;
        }
      }),
      params(RUNS.few),
    );
    t.diagnostic(`${counts.prefixes} prefixes: all rejected by ours; the package returned a value for ${counts.pkgSilent}`);
  });

  test('mutated valid encodings: ours rejects, or decodes exactly as the package', t => {
    const counts = { accepted: 0, rejected: 0, pkgSilent: 0 };
    const interesting = [0x5e, 0x7c, 0x40, 0x24, 0x2a, 0x23, 0x5d, 0x2d, 0x30, 0x31, 0x35, 0x41, 0x5a, 0x61, 0x25, 0x2b, 0x20, 0x2e, 0x65, 0x00, 0x80, 0xc3, 0xe2, 0xff];
    const mutation = fc.tuple(fc.nat({ max: 3 }), fc.nat(), fc.oneof(fc.constantFrom(...interesting), fc.integer({ min: 0, max: 255 })));
    fc.assert(
      fc.property(sjValue, fc.array(mutation, { minLength: 1, maxLength: 3 }), (value, mutations) => {
        let bytes = [...pkg.encode(value)];
        for (const [kind, at, byte] of mutations) {
          const pos = bytes.length === 0 ? 0 : at % (bytes.length + (kind === 1 ? 1 : 0));
          if (kind === 0 && bytes.length > 0) bytes[pos] = byte; // replace
          else if (kind === 1) bytes.splice(pos, 0, byte); // insert
          else if (kind === 2) bytes.splice(pos, 1); // delete
          else bytes = bytes.slice(0, pos); // truncate
        }
        checkDecodeOrReject(Buffer.from(bytes), counts);
      }),
      params(RUNS.many * 2),
    );
    t.diagnostic(`accepted ${counts.accepted}, rejected ${counts.rejected} (of which the package returned a value for ${counts.pkgSilent})`);
    assert.ok(counts.accepted > 0 && counts.rejected > 0, 'both outcomes are exercised');
  });

  test('random bytes, and random sequences of format tokens: ours rejects, or decodes exactly as the package', t => {
    const counts = { accepted: 0, rejected: 0, pkgSilent: 0 };
    const token = fc.constantFrom('^', '|', '@', '$', '*', '#', ']', '-1', '-3', '-4', '-5', '-6', '0', '1', '2', 'A', 'z', 'x', '1.5', 'NaN', '%2B', '%', '+', ' ', 'é');
    const tokens = fc.array(token, { maxLength: 24 }).map(parts => Buffer.from(parts.join('')));
    const fiveSections = fc
      .tuple(fc.array(fc.constantFrom('a', 'b+c', '', '%25'), { maxLength: 3 }), fc.array(fc.constantFrom('0', '1', 'Z', '-7', '7F'), { maxLength: 3 }), fc.array(fc.constantFrom('1.5', 'NaN', '-Infinity', '2'), { maxLength: 2 }), fc.array(fc.constantFrom('0', 'NAN', '-1'), { maxLength: 2 }), fc.array(token, { maxLength: 16 }))
      .map(([s, i, f, d, st]) => Buffer.from(`${s.join('|')}^${i.join('|')}^${f.join('|')}^${d.join('|')}^${st.join('')}`));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }).map(b => Buffer.from(b)), tokens, fiveSections), bytes => checkDecodeOrReject(bytes, counts)),
      params(RUNS.many * 3),
    );
    t.diagnostic(`accepted ${counts.accepted}, rejected ${counts.rejected} (of which the package returned a value for ${counts.pkgSilent})`);
  });

  test('specific bad inputs: a DecodeError saying what is wrong', () => {
    const bad: [string | Buffer, RegExp][] = [
      ['', /no data/],
      ['abc', /fewer than 5 sections/],
      ['^^^', /fewer than 5 sections/],
      ['^^^^', /no value/],
      ['^^^^^', /unexpected byte 0x5e/],
      ['^^^^@', /array opened at byte 4 is not closed/],
      ['^^^^$-4', /object opened at byte 4 is not closed/],
      ['^^^^]', /no open container/],
      ['^^^^0', /reference to entry 0 of 0/],
      ['a^^^^1', /reference to entry 1 of 1/],
      ['^^^^-6', /unknown token -6/],
      ['^^^^-0', /unknown token -0/],
      ['^^^^-', /"-" with no digits/],
      ['^^^^ 0', /unexpected byte 0x20/],
      ['^^^^-1|-2', /bytes after the value/],
      ['^^^^|', /"\|" outside any container/],
      ['^^^^-1-2', /bytes after the value/],
      ['^^^^@-1-2]', /value that does not follow "\|"/],
      ['^^^^@-1|]', /"]" right after "\|"/],
      ['^^^^@|-1]', /"\|" that does not follow a value/],
      ['^^^^$-4]', /object key without a value/],
      ['message^^^^#0]', /Error key without a value/],
      ['^^^^#]', /Error without its "message" and "stack"/],
      ['message|m^^^^#0|1]', /Error without its "message" and "stack"/],
      ['message|m|code|c^^^^#0|1|2|3]', /field 2 is not "stack"/],
      ['^^^^#-4|-4]', /field 1 is not "message"/],
      ['^1^^^$0|-1]', /key that is not a string in an object/],
      ['^^^^$@]|-1]', /key that is not a string/],
      ['a^^^^*0]', /Buffer item that is not a byte/],
      ['^100^^^*0]', /Buffer item that is not a byte/],
      ['^^1.5^^*0]', /Buffer item that is not a byte/],
      ['^^^^*-1]', /Buffer item that is not a byte/],
      ['^1|^^^@0]', /empty number/],
      ['^1x!^^^0', /not base36/],
      ['^-^^^0', /empty number/],
      ['^^1.5.5^^0', /float that is not a number/],
      ['^^^1.5^0', /not base36/],
      ['a%41^^^^0', /"%" in a string/],
      ['a%2b^^^^0', /"%" in a string/],
      ['a%^^^^0', /"%" in a string/],
      [Buffer.from([0x5e, 0x5e, 0x5e, 0x5e, 0xc3, 0xa9]), /unexpected byte 0xc3/],
    ];
    for (const [input, message] of bad) {
      const bytes = typeof input === 'string' ? Buffer.from(input) : input;
      assert.throws(() => decode(bytes), (e: unknown) => e instanceof DecodeError && message.test(e.message) && e.code === 'ERR_CLUSTER_DECODE', `${JSON.stringify(input.toString())} should throw ${message}`);
    }
    assert.throws(() => decode('^^^^-1' as unknown as Buffer), TypeError);
    assert.throws(() => decode(null as unknown as Buffer), TypeError);
  });

  test('nothing hangs: a worker decodes random and pathological inputs within a time limit', async () => {
    // Run in a worker so that a loop that never ends could be stopped (a synchronous loop on
    // this thread could not be interrupted by node:test's timeout).
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.url).then(({ decode }) => {
        let seed = workerData.seed >>> 0;
        const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
        const alphabet = Buffer.from('^|@$*#]-0123456789AZaz%+ .eNI');
        let returned = 0, threw = 0, wrong = 0;
        const run = bytes => { try { decode(bytes); returned++; } catch (e) { if (e && e.code === 'ERR_CLUSTER_DECODE') threw++; else wrong++; } };
        for (let i = 0; i < 10000; i++) {
          const len = next() % 80;
          const bytes = Buffer.allocUnsafe(len);
          for (let j = 0; j < len; j++) bytes[j] = next() % 4 === 0 ? next() & 0xff : alphabet[next() % alphabet.length];
          run(bytes);
        }
        const big = 1 << 19;
        for (const text of ['@'.repeat(big), '|'.repeat(big), '^'.repeat(big), '%'.repeat(big), '9'.repeat(big), '-'.repeat(big), '^^^^' + '0'.repeat(big), '^^^^' + '@]|'.repeat(big / 3), '^^^^@' + '-1|'.repeat(big / 3) + ']', 'a|'.repeat(big / 2) + '^^^^-1', '+'.repeat(big) + '^^^^0', '^' + '1|'.repeat(big / 2) + '^^^*' + '0|'.repeat(big / 2) + ']'])
          run(Buffer.from(text));
        parentPort.postMessage({ returned, threw, wrong });
      }, e => parentPort.postMessage({ error: String(e && e.stack || e) }));
    `;
    const url = new URL('../../src/protocol/serialize-json.js', import.meta.url).href;
    const worker = new Worker(code, { eval: true, workerData: { url, seed: SEED } });
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await new Promise<Record<string, unknown> | 'timeout'>((resolve, reject) => {
        timer = setTimeout(() => resolve('timeout'), 20_000);
        worker.once('message', (m: Record<string, unknown>) => resolve(m));
        worker.once('error', reject);
      });
      assert.notEqual(result, 'timeout', 'decode did not finish the fuzz within 20 s');
      if (result === 'timeout') return;
      assert.equal(result['error'], undefined);
      assert.equal(result['wrong'], 0, 'every throw is a DecodeError');
      assert.ok((result['threw'] as number) > 0);
    } finally {
      clearTimeout(timer);
      await worker.terminate();
    }
  });
});
