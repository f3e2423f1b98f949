/**
 * Codecs (src/protocol/codec.ts):
 * - serializeJsonCodec is byte-identical to serialize-json as cluster-client 3.7.0 loads it;
 * - taggedCodec ('tagged-v1') round-trips every kind it claims to keep, takes the documented
 *   tag (fast path) for each kind, rejects bad input with errors and never hangs on it;
 * - chooseCodec picks only a codec it has.
 *
 * Property tests use fast-check with a fixed seed per run (printed on failure); set
 * CODEC_TEST_SEED to explore other seeds.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import util from 'node:util';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { DecodeError } from '../../src/errors.js';
import { chooseCodec, decodeRange, serializeJsonCodec, taggedCodec } from '../../src/protocol/codec.js';
import type { CodecWorkerJob, CodecWorkerResult } from './codec-worker.js';

// ---------------------------------------------------------------------------------------------
// Helpers

const SEED = process.env['CODEC_TEST_SEED'] ? Number(process.env['CODEC_TEST_SEED']) : Date.now() ^ 0x5eed;
/** Moderate run counts: the whole file runs in a few seconds. */
const RUNS = { few: 100, some: 200, many: 400 } as const;

function params(numRuns: number): { numRuns: number; seed: number } {
  return { numRuns, seed: SEED };
}

interface SerializeJson {
  encode(value: unknown): Buffer;
  decode(data: Buffer): unknown;
}

/** serialize-json exactly as cluster-client 3.7.0 resolves it from its own folder. */
const clusterClientRequire = createRequire(createRequire(import.meta.url).resolve('cluster-client/package.json'));
const pkg = clusterClientRequire('serialize-json') as SerializeJson;
/** cluster-client 3.x's default `transcode` (lib/default_transcode.js). */
const clusterClientTranscode = clusterClientRequire('./lib/default_transcode.js') as SerializeJson;
const clusterClientVersion = (clusterClientRequire('./package.json') as { version: string }).version;

const TAG = { string: 's', buffer: 'b', json: 'j', v8: 'v', serializeJson: 'S', undefined: 'u', date: 'd' } as const;

function tagOf(encoded: Buffer): string {
  assert.ok(encoded.length >= 1, 'an encoded value has at least its tag byte');
  return String.fromCharCode(encoded[0]!);
}

function roundTrip(value: unknown): unknown {
  return taggedCodec.decode(taggedCodec.encode(value));
}

type ErrorWithCode = Error & { code?: unknown };

/** The fields that must survive: name, message, stack, code and every other own enumerable property. */
function assertSameError(actual: unknown, expected: ErrorWithCode, where: string): void {
  assert.ok(actual instanceof Error, `${where}: expected an Error, got ${util.inspect(actual)}`);
  const got = actual as ErrorWithCode;
  assert.equal(got.name, expected.name, `${where}: name`);
  assert.equal(got.message, expected.message, `${where}: message`);
  assert.equal(got.stack, expected.stack, `${where}: stack`);
  assert.equal(got.code, expected.code, `${where}: code`);
  for (const key of Object.keys(expected)) {
    assert.deepStrictEqual((got as unknown as Record<string, unknown>)[key], (expected as unknown as Record<string, unknown>)[key], `${where}: own property ${key}`);
  }
}

function makeError(message: string, code: string, ownName?: string, detail?: unknown): ErrorWithCode {
  const err: ErrorWithCode = new Error(message);
  err.code = code;
  // A custom error class usually sets `this.name = '...'`: an own, enumerable property.
  if (ownName !== undefined) err.name = ownName;
  if (detail !== undefined) (err as ErrorWithCode & { detail?: unknown }).detail = detail;
  return err;
}

/** Runs a codec-worker job with a time limit; 'timeout' if it did not finish (the worker is terminated). */
async function runInWorker(job: CodecWorkerJob, timeoutMs: number): Promise<CodecWorkerResult | 'timeout'> {
  const worker = new Worker(new URL('./codec-worker.js', import.meta.url), { workerData: job });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<CodecWorkerResult | 'timeout'>((resolve, reject) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      worker.once('message', (result: CodecWorkerResult) => resolve(result));
      worker.once('error', reject);
      worker.once('exit', code => reject(new Error(`codec worker exited with code ${code} before answering`)));
    });
  } finally {
    clearTimeout(timer);
    await worker.terminate();
  }
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Characters that serialize-json escapes or uses as tokens, and some non-ASCII ones. */
const sjSpecial = fc.constantFrom(' ', '+', '|', '^', '%', '%2B', '%7C', '%5E', '%25', '$', '@', '*', '#', ']', '-', '\n', '\0', 'é', '通', '🎉');
/** Well-formed strings (serialize-json writes UTF-8, so a lone surrogate would not survive). */
const wellFormedString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: sjSpecial }),
);
/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map(c => String.fromCharCode(c));
const anyString = fc.oneof(
  wellFormedString,
  fc.string({ unit: codeUnit }),
  fc.string({ unit: fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uD83D\uDE00', '\uFEFF', '\u2028', '"', '\\', 'a') }),
);

/** Numbers serialize-json keeps exactly: safe integers and non-integer finite doubles (not -0). */
const sjExactNumber = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter(d => !Object.is(d, -0) && (!Number.isInteger(d) || Number.isSafeInteger(d))),
);
const buffer = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map(bytes => Buffer.from(bytes)),
  // A Buffer that is a view into a larger one (as Buffers from a socket are).
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), fc.nat()).map(([bytes, a, b]) => {
    const start = a % bytes.length;
    return Buffer.from(bytes).subarray(start, start + (b % (bytes.length - start + 1)));
  }),
);
const validDate = fc.date({ noInvalidDate: true });
/** Object keys, including ones that are special to JavaScript or to JSON. */
const anyKey = fc.oneof({ weight: 4, arbitrary: fc.string() }, { weight: 1, arbitrary: fc.constantFrom('', '__proto__', 'constructor', 'toJSON', 'length', '0', '10', '-1') });

/**
 * Values serialize-json keeps exactly (checked below against the package itself): well-formed
 * strings, exact numbers, booleans, null, undefined, arrays, plain objects, Buffer, valid Date.
 * No '__proto__' key: serialize-json's decoder assigns it, which sets the prototype instead.
 */
const sjKeepable: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown> }>(tie => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    wellFormedString,
    sjExactNumber,
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    buffer,
    validDate,
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(fc.oneof(wellFormedString, fc.constantFrom('', 'constructor', 'length', '0')).filter(k => k !== '__proto__'), tie('value'), { maxKeys: 5, noNullPrototype: true }),
})).value;

/**
 * Everything serialize-json accepts, including values it does not keep exactly (NaN, -0, big
 * integers, lone surrogates, Errors, null-prototype objects; with `anyKey`, '__proto__' keys).
 */
function sjAcceptable(key: fc.Arbitrary<string>): fc.Arbitrary<unknown> {
  return fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown> }>(tie => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth: 4 },
      anyString,
      fc.double(),
      fc.integer(),
      fc.constantFrom(-0, Number.MAX_VALUE, Number.MIN_VALUE, Number.MAX_SAFE_INTEGER + 2, 1e21, 2 ** 60),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      buffer,
      validDate,
      fc.tuple(wellFormedString, wellFormedString).map(([message, code]) => makeError(message, code)),
      tie('array'),
      tie('object'),
    ),
    array: fc.array(tie('value'), { maxLength: 5 }),
    object: fc.dictionary(key, tie('value'), { maxKeys: 5 }),
  })).value;
}
/**
 * Without '__proto__' keys: serialize-json's decoder assigns such a key, which makes the decoded
 * value its prototype, so two decodes of the same bytes are never deepStrictEqual.
 */
const anyKeyButProto = anyKey.filter(k => k !== '__proto__');

const typedArray: fc.Arbitrary<ArrayBufferView> = fc.oneof(
  fc.uint8Array({ maxLength: 16 }),
  fc.int8Array({ maxLength: 16 }),
  fc.uint8ClampedArray({ maxLength: 16 }),
  fc.int16Array({ maxLength: 16 }),
  fc.uint16Array({ maxLength: 16 }),
  fc.int32Array({ maxLength: 16 }),
  fc.uint32Array({ maxLength: 16 }),
  fc.float32Array({ maxLength: 16 }),
  fc.float64Array({ maxLength: 16 }),
  fc.bigInt64Array({ maxLength: 8 }),
  fc.bigUint64Array({ maxLength: 8 }),
);
const regExp = fc
  .tuple(fc.string({ maxLength: 10 }), fc.subarray(['g', 'i', 'm', 's', 'y']))
  .map(([text, flags]) => new RegExp(text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'), flags.join('')));
const edgeNumber = fc.constantFrom(Number.NaN, -0, 0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON, 2 ** 53 + 2);

/** A leaf of every kind tagged-v1 claims to keep (valid Dates; invalid ones are tested apart). */
const taggedLeaf: fc.Arbitrary<unknown> = fc.oneof(
  anyString,
  fc.double(),
  fc.integer(),
  edgeNumber,
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  buffer,
  validDate,
  fc.bigInt(),
  typedArray,
  regExp,
);

/** Values of every kind tagged-v1 claims to keep, nested in arrays, sparse arrays, objects, Maps and Sets. */
const taggedValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; array: unknown[]; sparse: unknown[]; object: Record<string, unknown>; map: Map<unknown, unknown>; set: Set<unknown> }>(tie => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    taggedLeaf,
    tie('array'),
    tie('sparse'),
    tie('object'),
    tie('map'),
    tie('set'),
  ),
  array: fc.array(tie('value'), { maxLength: 5 }),
  sparse: fc.sparseArray(tie('value'), { maxLength: 8 }),
  object: fc.dictionary(anyKey, tie('value'), { maxKeys: 5, noNullPrototype: true }),
  map: fc.array(fc.tuple(fc.oneof(anyString, fc.double(), tie('value')), tie('value')), { maxLength: 4 }).map(entries => new Map(entries)),
  set: fc.array(tie('value'), { maxLength: 4 }).map(items => new Set(items)),
})).value;

/** Plain data that JSON keeps exactly (what the 'j' fast path is for). */
const jsonExact = fc.jsonValue().filter(v => util.isDeepStrictEqual(JSON.parse(JSON.stringify(v)) as unknown, v));

// ---------------------------------------------------------------------------------------------
// a. serialize-json: byte-identical to the package cluster-client 3.x loads

describe('serializeJsonCodec is serialize-json as cluster-client 3.x uses it', () => {
  test('the comparison copy is the one cluster-client 3.7 loads for its default transcode', () => {
    assert.equal(clusterClientVersion.split('.')[0], '3');
    assert.equal(clusterClientTranscode.encode, pkg.encode, 'cluster-client default_transcode.encode is serialize-json encode');
    assert.equal(clusterClientTranscode.decode, pkg.decode, 'cluster-client default_transcode.decode is serialize-json decode');
    assert.equal(serializeJsonCodec.name, 'serialize-json');
  });

  test('encode is byte-identical for generated values (incl. edge values serialize-json does not keep)', () => {
    fc.assert(
      fc.property(sjAcceptable(anyKey), value => {
        const ours = serializeJsonCodec.encode(value);
        const theirs = clusterClientTranscode.encode(value);
        assert.ok(Buffer.isBuffer(ours));
        assert.ok(ours.equals(theirs), `encode differs for ${util.inspect(value)}:\n ours   ${ours.toString('latin1')}\n theirs ${theirs.toString('latin1')}`);
      }),
      params(RUNS.many),
    );
  });

  test('decode of the package bytes equals the package decode', () => {
    fc.assert(
      fc.property(sjAcceptable(anyKeyButProto), value => {
        const bytes = pkg.encode(value);
        assert.deepStrictEqual(serializeJsonCodec.decode(bytes), pkg.decode(bytes));
      }),
      params(RUNS.many),
    );
  });

  test('values of the kinds serialize-json supports round-trip exactly through both', () => {
    fc.assert(
      fc.property(sjKeepable, value => {
        assert.deepStrictEqual(pkg.decode(pkg.encode(value)), value, 'the package keeps the value');
        assert.deepStrictEqual(serializeJsonCodec.decode(serializeJsonCodec.encode(value)), value, 'our codec keeps the value');
      }),
      params(RUNS.some),
    );
  });

  test('edge values: we do exactly what 3.x does, including where it loses the value', () => {
    const edges: { value: unknown; decodesTo: (decoded: unknown) => void }[] = [
      { value: -0, decodesTo: d => assert.ok(Object.is(d, 0), '-0 becomes 0') },
      { value: Number.NaN, decodesTo: d => assert.ok(Number.isNaN(d)) },
      { value: [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], decodesTo: d => assert.deepStrictEqual(d, [Infinity, -Infinity]) },
      { value: '\uD800', decodesTo: d => assert.equal(d, '\uFFFD', 'a lone surrogate becomes U+FFFD') },
      { value: '', decodesTo: d => assert.equal(d, '') },
      { value: 'a b+c|d^e%f%25', decodesTo: d => assert.equal(d, 'a b+c|d^e%f%25') },
      { value: undefined, decodesTo: d => assert.equal(d, undefined) },
      { value: { a: undefined }, decodesTo: d => assert.deepStrictEqual(d, { a: undefined }) },
      { value: new Date(0), decodesTo: d => assert.deepStrictEqual(d, new Date(0)) },
      { value: new Date(-1e12), decodesTo: d => assert.deepStrictEqual(d, new Date(-1e12)) },
      // An invalid Date is written as base36 "NAN" and read back as a valid date.
      { value: new Date(Number.NaN), decodesTo: d => assert.ok(d instanceof Date && !Number.isNaN(d.getTime())) },
      // An own '__proto__' key is assigned on decode, which sets the prototype: the key is gone.
      { value: JSON.parse('{"__proto__":{"x":1},"a":1}') as unknown, decodesTo: d => assert.deepStrictEqual(Object.keys(d as object), ['a']) },
      { value: Object.assign(Object.create(null) as object, { a: 1 }), decodesTo: d => assert.deepStrictEqual(d, { a: 1 }) },
      { value: Buffer.from([0, 255]), decodesTo: d => assert.deepStrictEqual(d, Buffer.from([0, 255])) },
      { value: new Map([[1, 2]]), decodesTo: d => assert.deepStrictEqual(d, {}) },
      { value: 10n, decodesTo: d => assert.equal(d, null) },
    ];
    for (const { value, decodesTo } of edges) {
      const ours = serializeJsonCodec.encode(value);
      assert.ok(ours.equals(pkg.encode(value)), `encode differs for ${util.inspect(value)}`);
      decodesTo(serializeJsonCodec.decode(ours));
      decodesTo(pkg.decode(ours));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// b. tagged-v1 round-trip

describe('taggedCodec round-trip', () => {
  test('generated values of every kind it keeps come back deepStrictEqual', () => {
    fc.assert(
      fc.property(taggedValue, value => {
        assert.deepStrictEqual(roundTrip(value), value);
      }),
      params(RUNS.many),
    );
  });

  test('strings: unicode, lone surrogates, BOM', () => {
    fc.assert(
      fc.property(anyString, value => {
        assert.equal(roundTrip(value), value);
      }),
      params(RUNS.many),
    );
    for (const s of ['', '\uD800', '\uDC00', 'a\uD800b', '\uDBFF\uDFFF', '\uFEFFbom', '\u2028\u2029', '\0', 'é通🎉']) {
      assert.equal(roundTrip(s), s, util.inspect(s));
    }
  });

  test('numbers: finite, NaN, -0, ±Infinity', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer(), edgeNumber), value => {
        assert.ok(Object.is(roundTrip(value), value), `${value} (Object.is)`);
      }),
      params(RUNS.many),
    );
    for (const n of [Number.NaN, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      assert.ok(Object.is(roundTrip(n), n), String(n));
      assert.ok(Object.is((roundTrip([n]) as number[])[0], n), `[${n}]`);
      assert.ok(Object.is((roundTrip({ n }) as { n: number }).n, n), `{ n: ${n} }`);
    }
  });

  test('booleans, null, undefined (top level, in objects, in arrays), sparse arrays', () => {
    for (const v of [true, false, null, undefined]) assert.equal(roundTrip(v), v);
    const obj = roundTrip({ a: undefined, b: 1 }) as Record<string, unknown>;
    assert.ok(Object.hasOwn(obj, 'a'), 'an undefined property is kept as a property');
    assert.deepStrictEqual(obj, { a: undefined, b: 1 });
    assert.deepStrictEqual(roundTrip([undefined, 1, undefined]), [undefined, 1, undefined]);
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 3];
    const back = roundTrip(sparse) as unknown[];
    assert.deepStrictEqual(back, sparse);
    assert.equal(1 in back, false, 'a hole stays a hole');
  });

  test('Buffer comes back as a Buffer (top level and nested), and a copy', () => {
    fc.assert(
      fc.property(buffer, buf => {
        const top = roundTrip(buf);
        assert.ok(Buffer.isBuffer(top), 'top-level Buffer');
        assert.deepStrictEqual(top, buf);
        const nested = roundTrip({ buf, list: [buf] }) as { buf: unknown; list: unknown[] };
        assert.ok(Buffer.isBuffer(nested.buf), 'nested Buffer');
        assert.ok(Buffer.isBuffer(nested.list[0]), 'Buffer in an array');
        assert.deepStrictEqual(nested, { buf, list: [buf] });
      }),
      params(RUNS.some),
    );
    // The decoded Buffer does not alias the bytes it was decoded from (a socket chunk).
    const encoded = taggedCodec.encode(Buffer.from([1, 2, 3]));
    const decoded = taggedCodec.decode(encoded) as Buffer;
    encoded.fill(0);
    assert.deepStrictEqual(decoded, Buffer.from([1, 2, 3]));
  });

  test('Date: valid (top level and nested) and invalid', () => {
    fc.assert(
      fc.property(validDate, date => {
        assert.deepStrictEqual(roundTrip(date), date);
        assert.deepStrictEqual(roundTrip({ date, list: [date] }), { date, list: [date] });
      }),
      params(RUNS.some),
    );
    // util.isDeepStrictEqual(new Date(NaN), new Date(NaN)) is false on Node 20: check by hand.
    const isInvalidDate = (d: unknown): boolean => d instanceof Date && Number.isNaN(d.getTime());
    assert.ok(isInvalidDate(roundTrip(new Date(Number.NaN))), 'top-level invalid Date');
    assert.ok(isInvalidDate((roundTrip({ d: new Date(Number.NaN) }) as { d: unknown }).d), 'invalid Date in an object');
    assert.ok(isInvalidDate((roundTrip([new Date(Number.NaN)]) as unknown[])[0]), 'invalid Date in an array');
    assert.ok(isInvalidDate((roundTrip(new Map([['d', new Date(Number.NaN)]])) as Map<string, unknown>).get('d')), 'invalid Date in a Map');
  });

  test('Map, Set, BigInt, typed arrays, RegExp', () => {
    const values: unknown[] = [
      new Map<unknown, unknown>([['a', 1], [2, { b: [3] }], [Number.NaN, null], [{ k: 1 }, new Set([1])]]),
      new Set<unknown>([1, 'a', { x: 1 }, [2], undefined]),
      10n ** 30n,
      -1n,
      { big: 2n ** 64n },
      new Uint8Array([0, 255]),
      new Float64Array([Number.NaN, -0, Infinity, 1.5]),
      new BigInt64Array([-(2n ** 63n)]),
      // A typed array that is a view into a larger ArrayBuffer.
      new Float64Array(new Float64Array([1, 2, 3, 4]).buffer, 8, 2),
      /a+b/gi,
      new RegExp('\\d{2,}', 'msy'),
      { re: /x/u, arr: new Int16Array([-1]), map: new Map([[1, new Set([2n])]]) },
    ];
    for (const v of values) assert.deepStrictEqual(roundTrip(v), v, util.inspect(v));
    fc.assert(
      fc.property(fc.oneof(fc.bigInt(), typedArray, regExp), v => {
        assert.deepStrictEqual(roundTrip(v), v);
      }),
      params(RUNS.some),
    );
  });

  test('objects nested 100 deep (and around the JSON depth limit)', () => {
    const nest = (depth: number, leaf: unknown): unknown => {
      let v = leaf;
      for (let i = 0; i < depth; i++) v = i % 2 === 0 ? { child: v, i } : [v, i];
      return v;
    };
    for (const leaf of ['leaf', new Map([[1, 2]]), Buffer.from([1]), undefined, Number.NaN]) {
      const deep = nest(100, leaf);
      assert.deepStrictEqual(roundTrip(deep), deep, `100 deep with leaf ${util.inspect(leaf)}`);
    }
    fc.assert(
      fc.property(fc.integer({ min: 55, max: 120 }), taggedLeaf, (depth, leaf) => {
        const deep = nest(depth, leaf);
        assert.deepStrictEqual(roundTrip(deep), deep);
      }),
      params(RUNS.few),
    );
  });

  test('cyclic objects keep their shape', () => {
    const self: Record<string, unknown> = { name: 'self' };
    self['me'] = self;
    const back = roundTrip(self) as Record<string, unknown>;
    assert.equal(back['me'], back, 'self reference');
    assert.deepStrictEqual(back, self);

    const a: Record<string, unknown> = { name: 'a' };
    const b: Record<string, unknown> = { name: 'b', a };
    a['b'] = b;
    const ab = roundTrip(a) as { b: { a: unknown } };
    assert.equal(ab.b.a, ab, 'two-object cycle');
    assert.deepStrictEqual(ab, a);

    const arr: unknown[] = [1];
    arr.push(arr);
    const arrBack = roundTrip(arr) as unknown[];
    assert.equal(arrBack[1], arrBack, 'array containing itself');

    const map = new Map<string, unknown>();
    map.set('self', map);
    const mapBack = roundTrip(map) as Map<string, unknown>;
    assert.equal(mapBack.get('self'), mapBack, 'Map containing itself');

    const set = new Set<unknown>();
    set.add(set);
    const setBack = roundTrip(set) as Set<unknown>;
    assert.ok(setBack.has(setBack), 'Set containing itself');

    // Shared (not cyclic) references stay shared.
    const shared = { x: 1 };
    const sharedBack = roundTrip({ p: shared, q: shared, m: new Map() }) as { p: unknown; q: unknown };
    assert.equal(sharedBack.p, sharedBack.q);
  });

  test('a value decodes the same from a view inside a larger chunk', () => {
    fc.assert(
      fc.property(taggedValue, fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ maxLength: 16 }), (value, before, after) => {
        const encoded = taggedCodec.encode(value);
        const chunk = Buffer.concat([before, encoded, after]);
        const view = chunk.subarray(before.length, before.length + encoded.length);
        assert.deepStrictEqual(taggedCodec.decode(view), value);
      }),
      params(RUNS.some),
    );
  });

  test('decodeRange reads a value in place, between other bytes, as decode reads it alone', () => {
    fc.assert(
      fc.property(taggedValue, fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ maxLength: 16 }), (value, before, after) => {
        const encoded = taggedCodec.encode(value);
        const chunk = Buffer.concat([before, encoded, after]);
        assert.deepStrictEqual(decodeRange(taggedCodec, chunk, before.length, before.length + encoded.length), value);
      }),
      params(RUNS.some),
    );
    // The bytes after the range are not the value's: a Date's length is checked against the range.
    const date = taggedCodec.encode(new Date(0));
    const padded = Buffer.concat([date, Buffer.from([0x01])]);
    assert.deepEqual(decodeRange(taggedCodec, padded, 0, date.length), new Date(0));
    assert.throws(() => decodeRange(taggedCodec, padded, 0, padded.length), (err: Error) => err instanceof DecodeError && /bad length 10/.test(err.message));
    assert.throws(() => decodeRange(taggedCodec, padded, 3, 3), (err: Error) => err instanceof DecodeError && /empty value/.test(err.message));
    // Another codec gets exactly the range's bytes.
    const seen: Buffer[] = [];
    const own = { encode: (v: unknown) => Buffer.from(String(v)), decode: (data: Buffer) => (seen.push(Buffer.from(data)), data.toString()) };
    assert.equal(decodeRange(own, Buffer.from('xxhelloyy'), 2, 7), 'hello');
    assert.deepEqual(seen, [Buffer.from('hello')]);
  });

  test('values holding an Error: name, message, stack, code and own properties survive', () => {
    const errorArb = fc
      .tuple(wellFormedString, wellFormedString, fc.option(fc.constantFrom('MyError', 'ValidationError', 'Error')), fc.option(sjKeepable))
      .map(([message, code, ownName, detail]) => makeError(message, code, ownName ?? undefined, detail ?? undefined));
    fc.assert(
      fc.property(errorArb, errorArb, sjKeepable, (e1, e2, payload) => {
        assertSameError(roundTrip(e1), e1, 'top-level Error');
        const value = { payload, error: e1, nested: { list: [payload, e2] } };
        const back = roundTrip(value) as { payload: unknown; error: unknown; nested: { list: unknown[] } };
        assert.deepStrictEqual(back.payload, payload, 'data next to the Error');
        assertSameError(back.error, e1, 'error');
        assert.deepStrictEqual(back.nested.list[0], payload, 'data next to the nested Error');
        assertSameError(back.nested.list[1], e2, 'nested.list[1]');
      }),
      params(RUNS.some),
    );
    // A class instance holding an Error.
    class Envelope {
      constructor(readonly err: Error) {}
    }
    const err = makeError('in an envelope', 'E_ENV');
    assertSameError((roundTrip(new Envelope(err)) as { err: unknown }).err, err, 'Envelope.err');
  });
});

// ---------------------------------------------------------------------------------------------
// c. tagged-v1 bytes: the documented tag (fast path) for each kind

describe('taggedCodec picks the documented tag', () => {
  test('one value of each kind', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    // Deeper than the walk goes (1000 levels): left to v8.
    let deep: unknown = 1;
    for (let i = 0; i < 1100; i++) deep = { deep };
    const cases: [unknown, string][] = [
      ['hello', TAG.string],
      ['', TAG.string],
      ['é通🎉', TAG.string],
      ['\uD800', TAG.json],
      [Buffer.from([1, 2]), TAG.buffer],
      [Buffer.alloc(0), TAG.buffer],
      [undefined, TAG.undefined],
      [new Date(0), TAG.date],
      [new Date(Number.NaN), TAG.date],
      [{ a: 1, b: ['x', true, null] }, TAG.json],
      [[1, 'two', { three: 3 }], TAG.json],
      [{}, TAG.json],
      [[], TAG.json],
      [42, TAG.json],
      [1.5, TAG.json],
      [null, TAG.json],
      [true, TAG.json],
      [Number.NaN, TAG.v8],
      [-0, TAG.v8],
      [Number.POSITIVE_INFINITY, TAG.v8],
      [{ n: Number.NEGATIVE_INFINITY }, TAG.v8],
      [new Map([[1, 2]]), TAG.v8],
      [new Set([1]), TAG.v8],
      [10n, TAG.v8],
      [new Uint8Array([1]), TAG.v8],
      [new Float64Array([1]), TAG.v8],
      [/re/g, TAG.v8],
      [{ a: undefined }, TAG.v8],
      [[undefined], TAG.v8],
      // eslint-disable-next-line no-sparse-arrays
      [[1, , 3], TAG.v8],
      [{ d: new Date(0) }, TAG.v8],
      [{ b: Buffer.from([1]) }, TAG.v8],
      [cyclic, TAG.v8],
      [deep, TAG.v8],
      [new Error('boom'), TAG.serializeJson],
      [{ e: new Error('boom') }, TAG.serializeJson],
      [[1, [new Error('boom')]], TAG.serializeJson],
      [{ e: new Error('boom'), m: undefined }, TAG.serializeJson],
    ];
    for (const [value, tag] of cases) assert.equal(tagOf(taggedCodec.encode(value)), tag, util.inspect(value, { depth: 2 }));
  });

  test("well-formed strings: 's' then their UTF-8", () => {
    fc.assert(
      fc.property(wellFormedString, s => {
        const encoded = taggedCodec.encode(s);
        assert.equal(tagOf(encoded), TAG.string);
        assert.ok(encoded.subarray(1).equals(Buffer.from(s, 'utf8')));
      }),
      params(RUNS.some),
    );
  });

  test("strings with a lone surrogate: 'j' then JSON (which escapes it)", () => {
    fc.assert(
      fc.property(fc.string({ unit: codeUnit }).filter(s => Buffer.from(s, 'utf8').toString('utf8') !== s), s => {
        const encoded = taggedCodec.encode(s);
        assert.equal(tagOf(encoded), TAG.json);
        assert.equal(encoded.toString('utf8', 1), JSON.stringify(s));
      }),
      params(RUNS.few),
    );
  });

  test("plain data JSON keeps exactly: 'j' then JSON.stringify", () => {
    fc.assert(
      fc.property(jsonExact.filter(v => typeof v !== 'string'), v => {
        const encoded = taggedCodec.encode(v);
        assert.equal(tagOf(encoded), TAG.json, util.inspect(v));
        assert.equal(encoded.toString('utf8', 1), JSON.stringify(v));
      }),
      params(RUNS.some),
    );
  });

  test("Buffer: 'b' then its bytes; Date: 'd' then a float64 BE", () => {
    fc.assert(
      fc.property(buffer, buf => {
        const encoded = taggedCodec.encode(buf);
        assert.equal(tagOf(encoded), TAG.buffer);
        assert.ok(encoded.subarray(1).equals(buf));
      }),
      params(RUNS.some),
    );
    fc.assert(
      fc.property(fc.date(), date => {
        const encoded = taggedCodec.encode(date);
        assert.equal(tagOf(encoded), TAG.date);
        assert.equal(encoded.length, 9);
        assert.ok(Object.is(encoded.readDoubleBE(1), date.getTime()));
      }),
      params(RUNS.some),
    );
  });

  test("Map, Set, BigInt, typed arrays, RegExp, non-JSON numbers: 'v' then v8.serialize", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.bigInt(),
          typedArray,
          regExp,
          fc.constantFrom(Number.NaN, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
          fc.array(fc.tuple(fc.string(), fc.integer())).map(entries => new Map(entries)),
          fc.array(fc.integer()).map(items => new Set(items)),
        ),
        v => {
          const encoded = taggedCodec.encode(v);
          assert.equal(tagOf(encoded), TAG.v8, util.inspect(v));
          assert.ok(encoded.subarray(1).equals(v8.serialize(v)));
        },
      ),
      params(RUNS.some),
    );
  });

  test("values holding an Error: 'S' then serialize-json", () => {
    fc.assert(
      fc.property(sjKeepable, wellFormedString, (payload, message) => {
        const value = { payload, err: makeError(message, 'E_CODE') };
        const encoded = taggedCodec.encode(value);
        assert.equal(tagOf(encoded), TAG.serializeJson);
        assert.ok(encoded.subarray(1).equals(pkg.encode(value)));
      }),
      params(RUNS.few),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// d. bad input

describe('taggedCodec.decode rejects bad input', () => {
  const isDecodeError = (err: unknown): boolean => {
    assert.ok(err instanceof DecodeError, `expected a DecodeError, got ${util.inspect(err)}`);
    assert.equal(err.code, 'ERR_CLUSTER_DECODE');
    return true;
  };

  test('empty buffer', () => {
    assert.throws(() => taggedCodec.decode(Buffer.alloc(0)), isDecodeError);
  });

  test('every unknown tag byte', () => {
    const known = new Set<string>(Object.values(TAG));
    let unknown = 0;
    for (let byte = 0; byte < 256; byte++) {
      if (known.has(String.fromCharCode(byte))) continue;
      unknown++;
      assert.throws(() => taggedCodec.decode(Buffer.from([byte, 0x7b, 0x7d])), isDecodeError, `tag 0x${byte.toString(16)}`);
      assert.throws(() => taggedCodec.decode(Buffer.from([byte])), isDecodeError, `lone tag 0x${byte.toString(16)}`);
    }
    assert.equal(unknown, 256 - 7);
  });

  test("'d' with a wrong length", () => {
    for (const length of [1, 2, 8, 10, 17]) {
      const data = Buffer.alloc(length);
      data[0] = TAG.date.charCodeAt(0);
      assert.throws(() => taggedCodec.decode(data), isDecodeError, `'d' with ${length} bytes`);
    }
  });

  test('truncated v8 payload', () => {
    const encoded = taggedCodec.encode(new Map<string, unknown>([['key', 'value'], ['n', [1, 2, 3]]]));
    assert.equal(tagOf(encoded), TAG.v8);
    for (const cut of [1, 2, 5, encoded.length - 4]) {
      assert.throws(() => taggedCodec.decode(encoded.subarray(0, encoded.length - cut)), Error, `cut ${cut} bytes`);
    }
    assert.throws(() => taggedCodec.decode(Buffer.from([TAG.v8.charCodeAt(0)])), Error, "'v' alone");
  });

  test("invalid JSON after 'j'", () => {
    for (const text of ['', '{', '{"a":', 'undefined', "{'a':1}", '[1,]', 'NaN']) {
      assert.throws(() => taggedCodec.decode(Buffer.from(`j${text}`)), SyntaxError, `j${text}`);
    }
  });

  test('random bytes: decode returns or throws an Error, never crashes, never hangs', async () => {
    const numRuns = 5000;
    const result = await runInWorker({ kind: 'fuzz-decode', numRuns, seed: SEED }, 20_000);
    assert.notEqual(result, 'timeout', `decoding ${numRuns} random inputs did not finish in 20 s (seed ${SEED})`);
    if (result === 'timeout') return;
    assert.ok(result.ok, `fuzz failed (seed ${SEED}): ${result.ok ? '' : result.message}`);
    assert.equal(result.kind, 'fuzz-decode');
    if (result.kind !== 'fuzz-decode') return;
    assert.equal(result.returned + result.threw, numRuns);
    // The inputs reach both outcomes, including the DecodeError of unknown tags.
    assert.ok(result.returned > 0, 'some inputs decode');
    assert.ok(result.threw > 0, 'some inputs throw');
    assert.ok(result.errorNames.includes('DecodeError'), `error names seen: ${result.errorNames.join(', ')}`);
  });
});

// ---------------------------------------------------------------------------------------------
// e. chooseCodec

describe('chooseCodec', () => {
  test("picks 'tagged-v1' when offered", () => {
    assert.equal(chooseCodec(['x', 'tagged-v1']), taggedCodec);
    assert.equal(chooseCodec(['tagged-v1']), taggedCodec);
    assert.equal(chooseCodec(['tagged-v1', 'x']), taggedCodec);
    assert.equal(chooseCodec(['x', 'tagged-v1'])?.name, 'tagged-v1');
  });

  test('undefined (serialize-json) when nothing offered is known', () => {
    for (const offered of [[], ['unknown'], ['serialize-json'], ['TAGGED-V1'], [null], [{ name: 'tagged-v1' }], undefined, null, 'tagged-v1', {}, { 0: 'tagged-v1', length: 1 }, 1]) {
      assert.equal(chooseCodec(offered), undefined, util.inspect(offered));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Shapes that once broke the codec (found by these tests), and the documented limits for Errors.

/** What every path keeps of an Error: name, message and stack (v8 does not keep own properties). */
function assertErrorBasics(actual: unknown, expected: Error, where: string): void {
  assert.ok(actual instanceof Error, `${where}: expected an Error, got ${util.inspect(actual)}`);
  assert.equal(actual.name, expected.name, `${where}: name`);
  assert.equal(actual.message, expected.message, `${where}: message`);
  assert.equal(actual.stack, expected.stack, `${where}: stack`);
}

describe('taggedCodec: hard shapes and the documented limits for Errors', () => {
  test('encoding a tree with parent pointers finishes (the walk visits each object once, not each path)', async () => {
    // const root = { id: -1, children: [] }; root.children = 3 × { id: i, parent: root, children: [] }
    // v8.serialize of it takes well under a millisecond.
    // 3 s: a worker starts and encodes this in well under 100 ms once need() keeps a visited set.
    const result = await runInWorker({ kind: 'encode-parent-pointer-tree', children: 3 }, 3_000);
    assert.notEqual(result, 'timeout', 'taggedCodec.encode did not finish within 3 s');
    if (result === 'timeout') return;
    assert.ok(result.ok, result.ok ? '' : result.message);
    assert.equal(result.kind, 'encode-parent-pointer-tree');
    if (result.kind !== 'encode-parent-pointer-tree') return;
    assert.equal(String.fromCharCode(result.tag), TAG.v8);
    assert.equal(result.decodedChildren, 3);
  });

  test('a cyclic value holding an Error encodes with v8 (serialize-json cannot do cycles): the cycle, name, message and stack survive', () => {
    const err = makeError('in a cycle', 'E_CYCLE');
    const value: Record<string, unknown> = { err };
    value['self'] = value;
    const bytes = taggedCodec.encode(value);
    assert.equal(String.fromCharCode(bytes[0]!), TAG.v8);
    const back = taggedCodec.decode(bytes) as Record<string, unknown>;
    assert.equal(back['self'], back);
    assertErrorBasics(back['err'], err, 'err');
  });

  test('a built-in Error subclass keeps message, code and stack; its name becomes "Error", exactly as with serialize-json (3.x)', () => {
    const typeError: ErrorWithCode = Object.assign(new TypeError('bad type'), { code: 'E_TYPE' });
    const back = roundTrip({ e: typeError }) as { e: ErrorWithCode };
    const threeX = serializeJsonCodec.decode(serializeJsonCodec.encode({ e: typeError })) as { e: ErrorWithCode };
    assert.ok(back.e instanceof Error);
    assert.equal(back.e.message, 'bad type');
    assert.equal(back.e.code, 'E_TYPE');
    assert.equal(back.e.stack, typeError.stack);
    assert.equal(back.e.name, threeX.e.name, 'the same name serialize-json gives');
  });

  test('the walk past its quick limits (over 64 levels, over 100 000 objects, shared references) picks the same tag as within them', () => {
    // Deep: 70 levels of plain data is still JSON; with a Date at the bottom it needs v8.
    let deep: unknown = { leaf: 1 };
    for (let i = 0; i < 70; i++) deep = { child: deep };
    assert.equal(String.fromCharCode(taggedCodec.encode(deep)[0]!), TAG.json);
    let deepDate: unknown = { at: new Date(1) };
    for (let i = 0; i < 70; i++) deepDate = { child: deepDate };
    assert.equal(String.fromCharCode(taggedCodec.encode(deepDate)[0]!), TAG.v8);
    assert.deepEqual(taggedCodec.decode(taggedCodec.encode(deepDate)), deepDate);
    // Wide: 150 000 objects, then the same with one -0 (JSON would make it 0) as the very last.
    const wide = Array.from({ length: 150_000 }, (_, i) => ({ i }));
    assert.equal(String.fromCharCode(taggedCodec.encode(wide)[0]!), TAG.json);
    wide.push({ i: -0 });
    const wideBack = taggedCodec.decode(taggedCodec.encode(wide)) as Array<{ i: number }>;
    assert.ok(Object.is(wideBack.at(-1)!.i, -0), 'the last object of 150 001 was walked');
    // Shared, not cyclic: the same object twice is JSON (each copy comes back equal).
    const shared = { n: 1 };
    assert.equal(String.fromCharCode(taggedCodec.encode({ a: shared, b: shared })[0]!), TAG.json);
    // A cycle past 64 levels: v8, and the cycle survives.
    const ring: Record<string, unknown> = { id: 0 };
    let tail = ring;
    for (let i = 1; i < 80; i++) {
      const next: Record<string, unknown> = { id: i };
      tail['next'] = next;
      tail = next;
    }
    tail['next'] = ring;
    const ringBytes = taggedCodec.encode(ring);
    assert.equal(String.fromCharCode(ringBytes[0]!), TAG.v8);
    let node = taggedCodec.decode(ringBytes) as Record<string, unknown>;
    const start = node;
    for (let i = 0; i < 80; i++) node = node['next'] as Record<string, unknown>;
    assert.equal(node, start, 'the ring of 80 closes on itself');
  });

  test('an Error nested 100 levels deep keeps its code', () => {
    const err = makeError('deep', 'E_DEEP');
    let value: unknown = { err };
    for (let i = 0; i < 100; i++) value = { child: value };
    let back = roundTrip(value);
    for (let i = 0; i < 100; i++) back = (back as { child: unknown }).child;
    assertSameError((back as { err: unknown }).err, err, '100 deep');
  });

  test('an Error inside a Map or Set keeps name, message and stack (v8 drops its own properties such as code: documented)', () => {
    const err = makeError('in a map', 'E_MAP');
    assertErrorBasics((roundTrip(new Map([['e', err]])) as Map<string, unknown>).get('e'), err, 'Map value');
    assertErrorBasics([...(roundTrip(new Set([err])) as Set<unknown>)][0], err, 'Set item');
  });
});
