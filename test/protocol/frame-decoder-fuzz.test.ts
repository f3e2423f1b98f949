/**
 * Property tests (fast-check) of FrameDecoder and the packet codec.
 *
 * (a) any sequence of valid packets, split anywhere (down to 1-byte and empty chunks), decodes
 *     to exactly the same packets;
 * (b) hostile streams (pure random bytes, and mixes of valid, mutated, truncated and garbage
 *     frames) in random chunks: push() never throws, every error is a ProtocolError reported
 *     through onFrameError, nothing is delivered after a fatal error, and the events are exactly
 *     those of a one-pass reference reading of the whole stream (written from the README's wire
 *     protocol table), whatever the chunking;
 * (c) a truncated packet delivers nothing (and is kept, not reported);
 * (d) declared lengths over the limits, or negative, are fatal at the header, before any body byte
 *     is buffered;
 * (e) decodeInvokeArgs on random bytes and argLength throws only coded ProtocolError/DecodeError.
 *
 * fast-check prints the seed and path of a failing run; replay with FUZZ_SEED=<seed> (and
 * FUZZ_PATH=<path>). FUZZ_RUNS scales the number of runs (default: a few seconds in all).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DecodeError, ProtocolError } from '../../src/errors.js';
import { serializeJsonCodec, taggedCodec } from '../../src/protocol/codec.js';
import { DEFAULT_MAX_CONN_OBJECT_SIZE, DEFAULT_MAX_FRAME_SIZE, FrameDecoder, type FrameDecoderLimits, type FrameSink } from '../../src/protocol/frame-decoder.js';
import { type Codec, type ConnObj, decodeInvokeArgs, encodeInvokeArgs, encodePacket, HEADER_LENGTH, type Packet, packetData } from '../../src/protocol/packet.js';

// ---------------------------------------------------------------------------------------------
// Run parameters

const RUN_SCALE = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) / 100 : 1;
function params(numRuns: number): fc.Parameters<unknown> {
  const p: fc.Parameters<unknown> = { numRuns: Math.max(1, Math.round(numRuns * RUN_SCALE)) };
  if (process.env.FUZZ_SEED) p.seed = Number(process.env.FUZZ_SEED);
  if (process.env.FUZZ_PATH) p.path = process.env.FUZZ_PATH;
  return p;
}

// ---------------------------------------------------------------------------------------------
// What the decoder reports

type DecoderEvent =
  | { kind: 'packet'; id: number; isResponse: boolean; timeout: number; connObj: unknown; data: Buffer | undefined }
  | { kind: 'error'; fatal: boolean; id: number; isResponse: boolean };

/** Records every event in order, and what went wrong with the sink contract itself. */
class Recorder implements FrameSink {
  readonly events: DecoderEvent[] = [];
  readonly errors: ProtocolError[] = [];
  /** Events delivered after a fatal error (must stay empty). */
  readonly afterFatal: DecoderEvent[] = [];
  #fatalSeen = false;

  onPacket(packet: Packet): void {
    const event: DecoderEvent = { kind: 'packet', id: packet.id, isResponse: packet.isResponse, timeout: packet.timeout, connObj: packet.connObj, data: packetData(packet) };
    if (this.#fatalSeen) this.afterFatal.push(event);
    this.events.push(event);
  }

  onFrameError(err: ProtocolError, fatal: boolean, id: number, isResponse: boolean): void {
    const event: DecoderEvent = { kind: 'error', fatal, id, isResponse };
    if (this.#fatalSeen) this.afterFatal.push(event);
    if (fatal) this.#fatalSeen = true;
    this.errors.push(err);
    this.events.push(event);
  }
}

/** Packet events as plain values (data as a copy) so deepStrictEqual compares contents. */
function normalize(events: readonly DecoderEvent[]): unknown[] {
  return events.map(e => (e.kind === 'packet' ? { ...e, data: e.data === undefined ? undefined : Buffer.from(e.data) } : e));
}

/** Splits `buf` at the given cut positions (taken modulo length + 1, so empty chunks happen). */
function splitAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const points = cuts.map(c => c % (buf.length + 1)).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(buf.subarray(from, p));
    from = p;
  }
  chunks.push(buf.subarray(from));
  return chunks;
}

function bytewise(buf: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) chunks.push(buf.subarray(i, i + 1));
  return chunks;
}

/** How a stream is cut into chunks: one byte at a time, or at random points. */
type Chunking = { mode: 'bytes' } | { mode: 'cuts'; cuts: number[] };
const chunkingArb: fc.Arbitrary<Chunking> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<Chunking>({ mode: 'bytes' }) },
  { weight: 4, arbitrary: fc.array(fc.nat(), { maxLength: 60 }).map((cuts): Chunking => ({ mode: 'cuts', cuts })) },
);

function chunk(buf: Buffer, chunking: Chunking): Buffer[] {
  return chunking.mode === 'bytes' ? bytewise(buf) : splitAt(buf, chunking.cuts);
}

/** Feeds the chunks one by one; a throwing push fails the property with the chunk index. */
function feed(decoder: FrameDecoder, chunks: readonly Buffer[]): void {
  chunks.forEach((c, i) => {
    try {
      decoder.push(c);
    } catch (err) {
      assert.fail(`push() threw on chunk ${i} of ${chunks.length}: ${String(err)}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Packets

interface PacketSpec {
  id: number;
  isResponse: boolean;
  timeout: number;
  connObj: ConnObj;
  data: Buffer;
}

const int32Arb = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });

/** A JSON connection object: a string `type` and a few other JSON fields, any Unicode. */
const connObjArb: fc.Arbitrary<ConnObj> = fc
  .record({
    type: fc.string({ unit: 'binary', maxLength: 20 }),
    extra: fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }).filter(k => k !== 'type'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  })
  .map(({ type, extra }) => ({ ...extra, type }));

/** Data up to a few KB; mostly small. */
const dataArb: fc.Arbitrary<Buffer> = fc
  .oneof(
    { weight: 2, arbitrary: fc.constant(new Uint8Array(0)) },
    { weight: 4, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 2, arbitrary: fc.uint8Array({ minLength: 65, maxLength: 4096 }) },
  )
  .map(bytes => Buffer.from(bytes));

const packetArb: fc.Arbitrary<PacketSpec> = fc.record({
  id: fc.maxSafeNat(),
  isResponse: fc.boolean(),
  timeout: int32Arb,
  connObj: connObjArb,
  data: dataArb,
});

function encode(p: PacketSpec): Buffer {
  return encodePacket(p.id, p.isResponse, p.timeout, p.connObj, p.data);
}

/** The event a correct decoder delivers for `p` (the connection object as JSON would carry it). */
function expectedEvent(p: PacketSpec): DecoderEvent {
  return {
    kind: 'packet',
    id: p.id,
    isResponse: p.isResponse,
    timeout: p.timeout,
    connObj: JSON.parse(JSON.stringify(p.connObj)) as unknown,
    data: p.data.length > 0 ? p.data : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// A reference reading of a whole stream, from the README's wire protocol (one pass, no chunks)

function referenceRead(stream: Buffer, maxFrameSize: number, maxConnObjectSize: number): { events: DecoderEvent[]; consumed: number; fatal: boolean } {
  const events: DecoderEvent[] = [];
  let offset = 0;
  while (stream.length - offset >= HEADER_LENGTH) {
    const version = stream[offset]!;
    const kind = stream[offset + 1]!;
    const id = Number(stream.readBigInt64BE(offset + 4));
    const isResponse = kind === 1;
    const connLength = stream.readInt32BE(offset + 16);
    const dataLength = stream.readInt32BE(offset + 20);
    if (version !== 1 || (kind !== 0 && kind !== 1) || connLength < 0 || dataLength < 0 || connLength > maxConnObjectSize || HEADER_LENGTH + connLength + dataLength > maxFrameSize) {
      events.push({ kind: 'error', fatal: true, id, isResponse });
      return { events, consumed: offset, fatal: true };
    }
    const total = HEADER_LENGTH + connLength + dataLength;
    if (stream.length - offset < total) break;
    const connEnd = offset + HEADER_LENGTH + connLength;
    let connObj: unknown;
    let valid = true;
    try {
      connObj = JSON.parse(stream.toString('utf8', offset + HEADER_LENGTH, connEnd));
    } catch {
      valid = false;
    }
    if (valid && (connObj === null || typeof connObj !== 'object' || Array.isArray(connObj) || typeof (connObj as { type?: unknown }).type !== 'string')) valid = false;
    if (valid) {
      events.push({ kind: 'packet', id, isResponse, timeout: stream.readInt32BE(offset + 12), connObj, data: dataLength > 0 ? stream.subarray(connEnd, offset + total) : undefined });
    } else {
      events.push({ kind: 'error', fatal: false, id, isResponse });
    }
    offset += total;
  }
  return { events, consumed: offset, fatal: false };
}

// ---------------------------------------------------------------------------------------------
// Hostile segments

/** A header with the given fields and nothing after it. */
function header(version: number, kind: number, id: number, connLength: number, dataLength: number): Buffer {
  const h = Buffer.alloc(HEADER_LENGTH);
  h[0] = version;
  h[1] = kind;
  h.writeBigInt64BE(BigInt(id), 4);
  h.writeInt32BE(1000, 12);
  h.writeInt32BE(connLength, 16);
  h.writeInt32BE(dataLength, 20);
  return h;
}

/** A packet whose connection object bytes are arbitrary (often not JSON, or JSON without a string type). */
const badConnObjPacketArb: fc.Arbitrary<Buffer> = fc
  .record({
    id: fc.maxSafeNat(),
    kind: fc.constantFrom(0, 1),
    conn: fc.oneof(
      fc.uint8Array({ maxLength: 40 }).map(b => Buffer.from(b)),
      fc.jsonValue({ maxDepth: 2 }).map(v => Buffer.from(JSON.stringify(v) ?? '')),
      fc.constantFrom('{"type":5}', '[]', 'null', '"x"', '{"type":', '{}').map(s => Buffer.from(s)),
    ),
    data: fc.uint8Array({ maxLength: 40 }).map(b => Buffer.from(b)),
  })
  .map(({ id, kind, conn, data }) => Buffer.concat([header(1, kind, id, conn.length, data.length), conn, data]));

/** A valid packet with a few bytes overwritten, mostly in the header. */
const mutatedPacketArb: fc.Arbitrary<Buffer> = fc
  .record({
    packet: packetArb,
    edits: fc.array(fc.record({ at: fc.oneof(fc.integer({ min: 0, max: HEADER_LENGTH - 1 }), fc.nat()), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 3 }),
  })
  .map(({ packet, edits }) => {
    const buf = Buffer.from(encode(packet));
    for (const { at, byte } of edits) buf[at % buf.length] = byte;
    return buf;
  });

/** A header declaring arbitrary (often huge or negative) lengths, alone. */
const wildHeaderArb: fc.Arbitrary<Buffer> = fc
  .record({ version: fc.constantFrom(0, 1, 1, 1, 2, 0x47, 0x16), kind: fc.constantFrom(0, 1, 2, 255), id: fc.maxSafeNat(), conn: int32Arb, data: int32Arb })
  .map(h => header(h.version, h.kind, h.id, h.conn, h.data));

const segmentArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 6, arbitrary: packetArb.map(encode) },
  { weight: 2, arbitrary: badConnObjPacketArb },
  { weight: 1, arbitrary: mutatedPacketArb },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map(b => Buffer.from(b)) },
  { weight: 1, arbitrary: wildHeaderArb },
);

const limitsArb: fc.Arbitrary<Required<FrameDecoderLimits>> = fc.oneof(
  fc.constant({ maxFrameSize: DEFAULT_MAX_FRAME_SIZE, maxConnObjectSize: DEFAULT_MAX_CONN_OBJECT_SIZE }),
  fc.record({ maxFrameSize: fc.integer({ min: HEADER_LENGTH, max: 9000 }), maxConnObjectSize: fc.integer({ min: 0, max: 2048 }) }),
);

// ---------------------------------------------------------------------------------------------

describe('FrameDecoder properties', () => {
  test('(a) valid packets split at any points (1-byte and empty chunks included) decode to exactly the same packets', () => {
    fc.assert(
      fc.property(fc.array(packetArb, { minLength: 1, maxLength: 12 }), chunkingArb, (packets, chunking) => {
        const sink = new Recorder();
        const decoder = new FrameDecoder(sink);
        const stream = Buffer.concat(packets.map(encode));
        feed(decoder, chunk(stream, chunking));
        assert.deepStrictEqual(normalize(sink.events), normalize(packets.map(expectedEvent)));
        assert.equal(decoder.bufferedBytes, 0, 'nothing left over');
        assert.equal(decoder.failed, false);
      }),
      params(300),
    );
  });

  test('(a) the packet boundaries do not matter: one push per packet gives the same result as any chunking', () => {
    fc.assert(
      fc.property(fc.array(packetArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 30 }), (packets, cuts) => {
        const whole = new Recorder();
        const perPacket = new FrameDecoder(whole);
        for (const p of packets) perPacket.push(encode(p));
        const split = new Recorder();
        feed(new FrameDecoder(split), splitAt(Buffer.concat(packets.map(encode)), cuts));
        assert.deepStrictEqual(normalize(split.events), normalize(whole.events));
      }),
      params(200),
    );
  });

  test('(b) pure random bytes in random chunks: push never throws, errors are ProtocolErrors via onFrameError, nothing after a fatal one', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 4096 }), chunkingArb, limitsArb, (bytes, chunking, limits) => {
        const sink = new Recorder();
        const decoder = new FrameDecoder(sink, limits);
        const stream = Buffer.from(bytes);
        feed(decoder, chunk(stream, chunking));
        for (const err of sink.errors) {
          assert.ok(err instanceof ProtocolError, `an error that is not a ProtocolError: ${String(err)}`);
          assert.equal(err.code, 'ERR_CLUSTER_PROTOCOL');
        }
        assert.deepEqual(sink.afterFatal, [], 'events after a fatal error');
        const fatal = sink.events.filter(e => e.kind === 'error' && e.fatal).length;
        assert.ok(fatal <= 1, `${fatal} fatal errors`);
        assert.equal(decoder.failed, fatal === 1);
        assert.ok(decoder.bufferedBytes <= stream.length);
        if (decoder.failed) assert.equal(decoder.bufferedBytes, 0, 'a failed decoder keeps nothing');
        // And the outcome is the reference reading of the whole stream.
        const ref = referenceRead(stream, limits.maxFrameSize, limits.maxConnObjectSize);
        assert.deepStrictEqual(normalize(sink.events), normalize(ref.events));
      }),
      params(400),
    );
  });

  test('(b) mixes of valid, mutated, bad-JSON, garbage and wild-header frames: exactly the reference events, whatever the chunking', () => {
    let sawNonFatal = 0;
    let sawFatal = 0;
    let sawPacketsThenFatal = 0;
    fc.assert(
      fc.property(fc.array(segmentArb, { minLength: 1, maxLength: 10 }), chunkingArb, limitsArb, (segments, chunking, limits) => {
        const stream = Buffer.concat(segments);
        const sink = new Recorder();
        const decoder = new FrameDecoder(sink, limits);
        feed(decoder, chunk(stream, chunking));
        const ref = referenceRead(stream, limits.maxFrameSize, limits.maxConnObjectSize);
        assert.deepStrictEqual(normalize(sink.events), normalize(ref.events));
        for (const err of sink.errors) {
          assert.ok(err instanceof ProtocolError);
          assert.equal(err.code, 'ERR_CLUSTER_PROTOCOL');
        }
        assert.deepEqual(sink.afterFatal, [], 'events after a fatal error');
        assert.equal(decoder.failed, ref.fatal);
        assert.equal(decoder.bufferedBytes, ref.fatal ? 0 : stream.length - ref.consumed, 'buffered = the unfinished tail');
        // Once failed, more bytes (even valid packets) change nothing.
        const before = sink.events.length;
        decoder.push(encodePacket(1, false, 1, { type: 'heartbeat' }));
        if (ref.fatal) assert.equal(sink.events.length, before, 'a failed decoder delivers nothing more');
        if (sink.events.some(e => e.kind === 'error' && !e.fatal)) sawNonFatal++;
        if (ref.fatal) sawFatal++;
        if (ref.fatal && sink.events.some(e => e.kind === 'packet')) sawPacketsThenFatal++;
      }),
      params(500),
    );
    // The generators reach every path (otherwise the property proves little).
    if (RUN_SCALE >= 1) {
      assert.ok(sawNonFatal > 10, `non-fatal frame errors seen in ${sawNonFatal} runs`);
      assert.ok(sawFatal > 10, `fatal errors seen in ${sawFatal} runs`);
      assert.ok(sawPacketsThenFatal > 5, `packets then a fatal error seen in ${sawPacketsThenFatal} runs`);
    }
  });

  test('(c) a truncated packet delivers nothing: the complete packets before it arrive, its bytes wait, no error', () => {
    fc.assert(
      fc.property(fc.array(packetArb, { maxLength: 4 }), packetArb, fc.nat(), chunkingArb, (complete, last, cut, chunking) => {
        const lastBytes = encode(last);
        const keep = cut % lastBytes.length; // 0 .. length-1: never the whole packet
        const stream = Buffer.concat([...complete.map(encode), lastBytes.subarray(0, keep)]);
        const sink = new Recorder();
        const decoder = new FrameDecoder(sink);
        feed(decoder, chunk(stream, chunking));
        assert.deepStrictEqual(normalize(sink.events), normalize(complete.map(expectedEvent)), 'only the complete packets');
        assert.equal(decoder.bufferedBytes, keep, 'the truncated bytes are kept for later');
        assert.equal(decoder.failed, false);
        // The rest arrives later: the packet is delivered after all.
        decoder.push(lastBytes.subarray(keep));
        assert.deepStrictEqual(normalize(sink.events), normalize([...complete, last].map(expectedEvent)));
        assert.equal(decoder.bufferedBytes, 0);
      }),
      params(300),
    );
  });

  test('(d) a header with a length over the limits, or negative, is fatal at once: nothing buffered, the body is never awaited', () => {
    type Bad = { what: string; limits: Required<FrameDecoderLimits>; conn: number; data: number };
    const badArb: fc.Arbitrary<Bad> = limitsArb.chain(limits =>
      fc.oneof(
        // Connection object over its limit (up to 2 GiB).
        fc.record({ conn: fc.integer({ min: limits.maxConnObjectSize + 1, max: 2 ** 31 - 1 }), data: fc.integer({ min: 0, max: 2 ** 31 - 1 }) })
          .map(({ conn, data }): Bad => ({ what: 'connection object over the limit', limits, conn, data })),
        // The whole frame over maxFrameSize (the data up to 2 GiB).
        fc.integer({ min: 0, max: Math.min(limits.maxConnObjectSize, limits.maxFrameSize - HEADER_LENGTH) })
          .chain(conn => fc.integer({ min: limits.maxFrameSize - HEADER_LENGTH - conn + 1, max: 2 ** 31 - 1 }).map((data): Bad => ({ what: 'frame over maxFrameSize', limits, conn, data }))),
        // A negative length.
        fc.record({ conn: fc.integer({ min: -(2 ** 31), max: -1 }), data: int32Arb }).map(({ conn, data }): Bad => ({ what: 'negative connection object length', limits, conn, data })),
        fc.record({ conn: fc.integer({ min: 0, max: 100 }), data: fc.integer({ min: -(2 ** 31), max: -1 }) }).map(({ conn, data }): Bad => ({ what: 'negative data length', limits, conn, data })),
      ),
    );
    fc.assert(
      fc.property(badArb, fc.maxSafeNat(), fc.boolean(), chunkingArb, (bad, id, isResponse, chunking) => {
        const sink = new Recorder();
        const decoder = new FrameDecoder(sink, bad.limits);
        const head = header(1, isResponse ? 1 : 0, id, bad.conn, bad.data);
        feed(decoder, chunk(head, chunking));
        assert.deepStrictEqual(sink.events, [{ kind: 'error', fatal: true, id, isResponse }], bad.what);
        assert.ok(sink.errors[0] instanceof ProtocolError);
        assert.equal(sink.errors[0].code, 'ERR_CLUSTER_PROTOCOL');
        assert.equal(decoder.failed, true);
        assert.equal(decoder.bufferedBytes, 0, 'nothing buffered');
        // The "body" that follows is dropped, not accumulated.
        decoder.push(Buffer.alloc(64 * 1024, 0x01));
        assert.equal(decoder.bufferedBytes, 0, 'nothing buffered after more bytes');
        assert.equal(sink.events.length, 1);
      }),
      params(400),
    );
  });

  test('(d) a header declaring a 2 GiB body, then 1 MiB of body: rejected at the header, bufferedBytes stays 0', () => {
    for (const [conn, data] of [[20, 0x7fffffff], [0x7fffffff, 0], [0x7fffffff, 0x7fffffff]] as const) {
      const sink = new Recorder();
      const decoder = new FrameDecoder(sink);
      decoder.push(header(1, 0, 7, conn, data));
      assert.equal(decoder.bufferedBytes, 0);
      assert.equal(decoder.failed, true);
      for (let i = 0; i < 16; i++) decoder.push(Buffer.alloc(64 * 1024));
      assert.equal(decoder.bufferedBytes, 0, `conn ${conn}, data ${data}: bufferedBytes after 1 MiB more`);
      assert.deepStrictEqual(sink.events, [{ kind: 'error', fatal: true, id: 7, isResponse: false }]);
    }
  });

  test('(d) a legal but large declared frame (64 MiB − 1) is not preallocated: only the bytes received are held', () => {
    const sink = new Recorder();
    const decoder = new FrameDecoder(sink);
    const dataLength = DEFAULT_MAX_FRAME_SIZE - HEADER_LENGTH - 2 - 1;
    globalThis.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    decoder.push(Buffer.concat([header(1, 0, 8, 2, dataLength), Buffer.from('{}')]));
    decoder.push(Buffer.alloc(1000));
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.equal(decoder.failed, false);
    assert.equal(sink.events.length, 0);
    assert.equal(decoder.bufferedBytes, HEADER_LENGTH + 2 + 1000);
    assert.ok(grown < 16 * 1024 * 1024, `ArrayBuffer memory grew by ${grown} bytes after a 64 MiB declaration`);
  });
});

// ---------------------------------------------------------------------------------------------
// decodeInvokeArgs

/** A codec that fast-check prints by its name in counterexamples. */
interface PrintableCodec extends Codec {
  readonly name: string;
  [fc.toStringMethod](): string;
}

function printable(name: string, codec: Codec): PrintableCodec {
  return { name, encode: value => codec.encode(value), decode: data => codec.decode(data), [fc.toStringMethod]: () => name };
}

const SERIALIZE_JSON = printable('serialize-json', serializeJsonCodec);
const TAGGED = printable('tagged-v1', taggedCodec);

/** A codec that throws whatever it is given (a user's transcode may throw anything). */
function throwingCodec(thrown: unknown): PrintableCodec {
  const name = `codec throwing ${thrown instanceof Error ? thrown.name : JSON.stringify(thrown) ?? typeof thrown}`;
  return printable(name, {
    encode: () => Buffer.alloc(0),
    decode: () => {
      throw thrown;
    },
  });
}

const codecArb: fc.Arbitrary<PrintableCodec> = fc.oneof(
  fc.constant(SERIALIZE_JSON),
  fc.constant(TAGGED),
  fc.oneof(
    fc.string(),
    fc.integer(),
    fc.constantFrom(undefined, null, new Error('plain'), new TypeError('type'), new DecodeError('already coded')),
    fc.record({ message: fc.string() }),
  ).map(throwingCodec),
);

/** Argument data: random bytes, or length-prefixed parts whose lengths may lie. */
const argDataArb: fc.Arbitrary<Buffer | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 512 }).map(b => Buffer.from(b)),
  fc
    .array(
      fc.record({
        declared: fc.option(fc.oneof(int32Arb, fc.integer({ min: 0, max: 64 })), { nil: undefined }),
        body: fc.oneof(
          fc.uint8Array({ maxLength: 64 }).map(b => Buffer.from(b)),
          fc.jsonValue({ maxDepth: 2 }).map(v => taggedCodec.encode(v)),
          fc.jsonValue({ maxDepth: 2 }).map(v => serializeJsonCodec.encode(v)),
          // tagged-v1 values of every kind (v8, serialize-json inside), then damaged below by a lying length.
          fc.constantFrom<unknown>(new Map([[1, 2]]), new Set(['a']), 10n, new Error('e'), [undefined, Number.NaN], new Date(0), Buffer.from('buf')).map(v => taggedCodec.encode(v)),
        ),
      }),
      { maxLength: 6 },
    )
    .map(parts =>
      Buffer.concat(
        parts.flatMap(({ declared, body }) => {
          const len = Buffer.alloc(4);
          len.writeInt32BE(declared ?? body.length, 0);
          return [len, body];
        }),
      ),
    ),
);

/** `value` with every number replaced by a safe integer and no "__proto__" key (what serialize-json keeps exactly). */
function forSerializeJson(value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) % 2 ** 53 : 0;
  if (Array.isArray(value)) return value.map(forSerializeJson);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (k !== '__proto__') out[k] = forSerializeJson(v);
    return out;
  }
  return value;
}

/** argLength as a peer may send it (any JSON number), below 2^32. */
const argLengthArb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 0, max: 8 }),
  fc.integer({ min: -1000, max: -1 }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.5, 1.5, -0, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1),
  fc.double().filter(x => !(Number.isInteger(x) && x >= 2 ** 32)),
);

function isCoded(err: unknown): boolean {
  if (err instanceof ProtocolError) return err.code === 'ERR_CLUSTER_PROTOCOL';
  if (err instanceof DecodeError) return err.code === 'ERR_CLUSTER_DECODE';
  return false;
}

function describeThrown(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

describe('decodeInvokeArgs properties', () => {
  test('(e) random bytes and argLength: returns argLength values or throws a coded ProtocolError/DecodeError, nothing else', () => {
    fc.assert(
      fc.property(argDataArb, argLengthArb, codecArb, (data, argLength, codec) => {
        let args: unknown[];
        try {
          args = decodeInvokeArgs(data, argLength, codec);
        } catch (err) {
          assert.ok(isCoded(err), `codec ${codec.name}, argLength ${argLength}: threw ${describeThrown(err)}`);
          return;
        }
        assert.ok(Array.isArray(args));
        // (=== rather than Object.is: an argLength of -0 means no arguments.)
        assert.ok(args.length === argLength, `codec ${codec.name}: returned ${args.length} values for argLength ${argLength}`);
      }),
      params(2000),
    );
  });

  test('(e) well-formed arguments round-trip through encodeInvokeArgs/decodeInvokeArgs with both codecs', () => {
    // serialize-json (the 3.x codec) does not keep every double exactly (1e20 comes back as
    // 99999999999999970000) nor an own "__proto__" key (it becomes the prototype): with it,
    // numbers are safe integers and there is no such key.
    const valuesArb = fc.constantFrom(SERIALIZE_JSON, TAGGED).chain(codec =>
      fc.array(fc.jsonValue({ maxDepth: 3 }).map(v => (codec === TAGGED ? v : forSerializeJson(v))), { maxLength: 6 }).map(values => ({ codec, values })),
    );
    fc.assert(
      fc.property(valuesArb, ({ codec, values }) => {
        const data = Buffer.concat(encodeInvokeArgs(values, codec));
        // tagged-v1 keeps every JSON value exactly (-0 included); serialize-json is compared after JSON.
        const expected = codec === TAGGED ? values : values.map(v => JSON.parse(JSON.stringify(v)) as unknown);
        assert.deepStrictEqual(decodeInvokeArgs(data.length > 0 ? data : undefined, values.length, codec), expected);
      }),
      params(300),
    );
  });

  // An argLength of 2^32 or more (any JSON number a peer may send) once reached
  // `new Array(argLength)` and threw a plain RangeError; it is checked against the data first.
  test(
    '(e) argLength of 2^32 or more (e.g. 1e10, 2^53 − 1, 1e300) throws a coded ProtocolError',
    () => {
      fc.assert(
        fc.property(
          fc.oneof(fc.constantFrom(2 ** 32, 1e10, Number.MAX_SAFE_INTEGER, 1e300), fc.double({ min: 2 ** 32, noNaN: true, noDefaultInfinity: true }).filter(Number.isInteger)),
          argDataArb,
          fc.constantFrom(SERIALIZE_JSON, TAGGED),
          (argLength, data, codec) => {
            let thrown: unknown = undefined;
            let returned = false;
            try {
              decodeInvokeArgs(data, argLength, codec);
              returned = true;
            } catch (err) {
              thrown = err;
            }
            assert.equal(returned, false, `argLength ${argLength}: returned instead of throwing (the data cannot hold that many arguments)`);
            assert.ok(thrown instanceof ProtocolError, `argLength ${argLength}: threw ${describeThrown(thrown)}`);
          },
        ),
        params(100),
      );
    },
  );
});
