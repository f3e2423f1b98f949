/**
 * FrameDecoder: bytes in, packets out, across any chunking; limits and bad frames.
 * Random tests use a seeded PRNG (mulberry32); set FRAME_TEST_SEED to explore other seeds.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from '../../src/errors.js';
import { DEFAULT_MAX_FRAME_SIZE, FrameDecoder, type FrameDecoderLimits, type FrameSink } from '../../src/protocol/frame-decoder.js';
import { type ConnObj, encodePacket, type Packet, packetData } from '../../src/protocol/packet.js';
import { mulberry32 } from '../helpers/random.js';

// ---------------------------------------------------------------------------------------------
// Helpers

interface FrameErrorRecord {
  err: ProtocolError;
  fatal: boolean;
  id: number;
  isResponse: boolean;
}

class Collector implements FrameSink {
  readonly packets: Packet[] = [];
  readonly errors: FrameErrorRecord[] = [];
  onPacket(packet: Packet): void {
    this.packets.push(packet);
  }
  onFrameError(err: ProtocolError, fatal: boolean, id: number, isResponse: boolean): void {
    this.errors.push({ err, fatal, id, isResponse });
  }
}

function setup(limits?: FrameDecoderLimits): { sink: Collector; decoder: FrameDecoder } {
  const sink = new Collector();
  return { sink, decoder: new FrameDecoder(sink, limits) };
}

/** Integer in [min, max]. */
function randInt(rand: () => number, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

function randBytes(rand: () => number, n: number): Buffer {
  const buf = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) buf[i] = randInt(rand, 0, 255);
  return buf;
}

const ALPHABET = ['a', 'b', 'z', '0', ' ', '"', '\\', '\n', 'é', '通', '🎉', '{', '}'];
function randString(rand: () => number, maxLen: number): string {
  let s = '';
  const n = randInt(rand, 0, maxLen);
  for (let i = 0; i < n; i++) s += ALPHABET[randInt(rand, 0, ALPHABET.length - 1)];
  return s;
}

const BASE_SEED = process.env.FRAME_TEST_SEED ? Number(process.env.FRAME_TEST_SEED) : 0x5eed_c0de;

/** A raw packet whose connection object bytes are given as is (may be invalid JSON). */
function rawPacket(id: number, isResponse: boolean, conn: Buffer, data: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(24);
  head[0] = 1;
  head[1] = isResponse ? 1 : 0;
  head.writeUInt32BE(Math.floor(id / 2 ** 32), 4);
  head.writeUInt32BE(id >>> 0, 8);
  head.writeInt32BE(1000, 12);
  head.writeInt32BE(conn.length, 16);
  head.writeInt32BE(data.length, 20);
  return Buffer.concat([head, conn, data]);
}

interface Expected {
  id: number;
  isResponse: boolean;
  timeout: number;
  connObj: ConnObj;
  data: Buffer | undefined;
}

function assertPacket(actual: Packet | undefined, expected: Expected, message: string): void {
  assert.ok(actual, `${message}: packet missing`);
  assert.equal(actual.id, expected.id, `${message}: id`);
  assert.equal(actual.isResponse, expected.isResponse, `${message}: isResponse`);
  assert.equal(actual.timeout, expected.timeout, `${message}: timeout`);
  assert.deepEqual(actual.connObj, expected.connObj, `${message}: connObj`);
  const data = packetData(actual);
  if (expected.data === undefined || expected.data.length === 0) {
    assert.equal(actual.dataEnd, actual.dataStart, `${message}: empty data has no bytes`);
    assert.equal(data, undefined, `${message}: empty data is undefined`);
  } else {
    assert.ok(data, `${message}: data missing`);
    assert.ok(data.equals(expected.data), `${message}: data bytes differ`);
  }
}

// ---------------------------------------------------------------------------------------------
// Tests

describe('FrameDecoder: chunking', () => {
  const expected: Expected[] = [
    { id: 1, isResponse: false, timeout: 3000, connObj: { type: 'register_channel', channelName: 'c' }, data: undefined },
    { id: 2, isResponse: true, timeout: 0, connObj: { type: 'register_channel_res' }, data: Buffer.from('{"success":true}') },
    { id: 3, isResponse: false, timeout: 20, connObj: { type: 'heartbeat' }, data: undefined },
    { id: 2 ** 30 - 1, isResponse: false, timeout: 3000, connObj: { type: 'invoke', method: 'é', argLength: 0, oneway: true }, data: Buffer.alloc(1000, 7) },
  ];
  const encoded = expected.map(p => encodePacket(p.id, p.isResponse, p.timeout, p.connObj, p.data));

  test('(a) several packets in one chunk', () => {
    const { sink, decoder } = setup();
    decoder.push(Buffer.concat(encoded));
    assert.equal(sink.errors.length, 0);
    assert.equal(sink.packets.length, expected.length);
    expected.forEach((e, i) => assertPacket(sink.packets[i], e, `packet ${i}`));
    assert.equal(decoder.bufferedBytes, 0);
    assert.equal(decoder.failed, false);
  });

  test('(a) a chunk that ends mid-packet keeps the rest buffered', () => {
    const { sink, decoder } = setup();
    const all = Buffer.concat(encoded);
    const cut = encoded[0]!.length + encoded[1]!.length + 10;
    decoder.push(all.subarray(0, cut));
    assert.equal(sink.packets.length, 2);
    assert.equal(decoder.bufferedBytes, 10);
    decoder.push(all.subarray(cut));
    assert.equal(sink.packets.length, 4);
    assert.equal(decoder.bufferedBytes, 0);
  });

  test('(b) one packet fed byte by byte', () => {
    const { sink, decoder } = setup();
    const bytes = encoded[3]!;
    for (let i = 0; i < bytes.length; i++) {
      assert.equal(sink.packets.length, 0, `delivered early, before byte ${i}`);
      decoder.push(bytes.subarray(i, i + 1));
    }
    assert.equal(sink.errors.length, 0);
    assert.equal(sink.packets.length, 1);
    assertPacket(sink.packets[0], expected[3]!, 'byte by byte');
    assert.equal(decoder.bufferedBytes, 0);
  });

  test('(b) every packet fed byte by byte, back to back, with empty chunks in between', () => {
    const { sink, decoder } = setup();
    const all = Buffer.concat(encoded);
    for (let i = 0; i < all.length; i++) {
      decoder.push(all.subarray(i, i + 1));
      decoder.push(Buffer.alloc(0));
    }
    assert.equal(sink.errors.length, 0);
    assert.equal(sink.packets.length, expected.length);
    expected.forEach((e, i) => assertPacket(sink.packets[i], e, `packet ${i}`));
  });

  test('(c) ~50 random packets split at random points, many times (seeded)', () => {
    for (let round = 0; round < 40; round++) {
      const seed = (BASE_SEED + round) >>> 0;
      const rand = mulberry32(seed);
      const packets: Expected[] = [];
      const count = randInt(rand, 45, 55);
      for (let i = 0; i < count; i++) {
        const connObj: ConnObj = { type: randString(rand, 12) };
        const extra = randInt(rand, 0, 3);
        for (let f = 0; f < extra; f++) connObj[`f${f}`] = rand() < 0.5 ? randString(rand, 200) : randInt(rand, -1000, 1000);
        const sizeClass = rand();
        const dataLen = sizeClass < 0.25 ? 0 : sizeClass < 0.8 ? randInt(rand, 1, 64) : randInt(rand, 65, 9000);
        packets.push({
          id: randInt(rand, 1, 2 ** 30 - 1),
          isResponse: rand() < 0.5,
          timeout: randInt(rand, 0, 2 ** 31 - 1),
          connObj,
          data: randBytes(rand, dataLen),
        });
      }
      const stream = Buffer.concat(packets.map(p => encodePacket(p.id, p.isResponse, p.timeout, p.connObj, p.data)));

      // Several random splittings of the same stream.
      for (let split = 0; split < 5; split++) {
        const { sink, decoder } = setup();
        let offset = 0;
        while (offset < stream.length) {
          const style = rand();
          const size = style < 0.3 ? randInt(rand, 1, 3) : style < 0.6 ? randInt(rand, 4, 40) : randInt(rand, 41, 6000);
          decoder.push(stream.subarray(offset, offset + size));
          offset += size;
        }
        const where = `seed ${seed} (FRAME_TEST_SEED=${BASE_SEED}, round ${round}), split ${split}`;
        assert.equal(sink.errors.length, 0, `${where}: unexpected frame errors ${sink.errors.map(e => e.err.message).join('; ')}`);
        assert.equal(sink.packets.length, packets.length, `${where}: packet count`);
        packets.forEach((p, i) => assertPacket(sink.packets[i], p, `${where}: packet ${i}`));
        assert.equal(decoder.bufferedBytes, 0, `${where}: leftover bytes`);
      }
    }
  });

  test('(d) data is the chunk itself, from dataStart to dataEnd, when the packet lies in one chunk', () => {
    const { sink, decoder } = setup();
    const connObj: ConnObj = { type: 'subscribe_result', key: 'k' };
    const data = Buffer.alloc(10_000, 0x5a); // large: not from the shared pool
    const chunk = encodePacket(11, false, 3000, connObj, data);
    decoder.push(chunk);
    const packet = sink.packets[0];
    assert.ok(packet, 'packet delivered');
    assert.equal(packet.bytes, chunk, 'the chunk itself: not a copy');
    assert.equal(packet.dataStart, 24 + Buffer.byteLength(JSON.stringify(connObj)));
    assert.equal(packet.dataEnd, chunk.length);
    const view = packetData(packet)!;
    assert.equal(view.buffer, chunk.buffer, 'packetData is a view: same ArrayBuffer');
    assert.equal(view.byteOffset, chunk.byteOffset + packet.dataStart);
    assert.equal(view.length, data.length);
    // Writing through the chunk shows through the packet data: it is a view.
    chunk[chunk.length - 1] = 0x01;
    assert.equal(view[view.length - 1], 0x01);
  });

  test('(d) several packets in one chunk: the data of each lies in that chunk', () => {
    const { sink, decoder } = setup();
    const chunk = Buffer.concat([
      encodePacket(1, false, 1, { type: 'a' }, Buffer.from('first')),
      encodePacket(2, false, 1, { type: 'b' }, Buffer.from('second')),
    ]);
    decoder.push(chunk);
    assert.equal(sink.packets.length, 2);
    for (const p of sink.packets) {
      assert.equal(p.bytes, chunk);
      assert.ok(p.dataStart > 0 && p.dataStart < p.dataEnd && p.dataEnd <= chunk.length, `data at ${p.dataStart}..${p.dataEnd}`);
    }
    assert.equal(packetData(sink.packets[0]!)!.toString(), 'first');
    assert.equal(packetData(sink.packets[1]!)!.toString(), 'second');
  });

  test('(e) push(slab, limit, start, end): only slab[start .. end) counts, at every cut, as a slab reader hands it over', () => {
    // A reader reads into the unused end of a slab and hands over the whole slab with where the
    // read went; what lies around it is garbage (here the second read goes into a new slab, so
    // the first one's garbage stays garbage).
    const all = Buffer.concat(encoded);
    for (let cut = 1; cut < all.length; cut += 7) {
      const { sink, decoder } = setup();
      const slab1 = Buffer.alloc(all.length + 64, 0xee); // 0xee around each read: never part of a packet
      const slab2 = Buffer.alloc(all.length + 64, 0xee);
      const at1 = cut % 29;
      const at2 = 64 - (cut % 31);
      all.copy(slab1, at1, 0, cut);
      decoder.push(slab1, Infinity, at1, at1 + cut);
      all.copy(slab2, at2, cut);
      decoder.push(slab2, Infinity, at2, at2 + all.length - cut);
      assert.equal(sink.errors.length, 0, `cut ${cut}: no error`);
      assert.equal(sink.packets.length, expected.length, `cut ${cut}: every packet`);
      expected.forEach((e, i) => assertPacket(sink.packets[i], e, `cut ${cut}, packet ${i}`));
      assert.equal(decoder.bufferedBytes, 0, `cut ${cut}: nothing left over`);
    }
  });

  test('(e) an empty range is nothing, whatever the chunk holds', () => {
    const { sink, decoder } = setup();
    decoder.push(encoded[0]!, Infinity, 0, 0);
    decoder.push(encoded[0]!, Infinity, 5, 5);
    assert.equal(sink.packets.length, 0);
    assert.equal(decoder.bufferedBytes, 0);
  });
});

describe('FrameDecoder: a connection object repeated byte for byte is parsed once', () => {
  test('the same bytes give the same frozen object; other bytes, nested fields or a big object are parsed anew', () => {
    const { sink, decoder } = setup();
    const push = (id: number, connObj: ConnObj): ConnObj => {
      decoder.push(encodePacket(id, false, 1000, connObj, Buffer.from('x')));
      return sink.packets.at(-1)!.connObj;
    };
    const first = push(1, { type: 'subscribe_result', key: 'k' });
    const again = push(2, { type: 'subscribe_result', key: 'k' });
    assert.equal(again, first, 'the repeated bytes reuse the parsed object');
    assert.ok(Object.isFrozen(first), 'a shared object is frozen: a reader cannot change what the next packet sees');
    assert.throws(() => {
      first['key'] = 'changed';
    }, TypeError);
    assert.deepEqual(sink.packets.map(p => p.id), [1, 2], 'each packet keeps its own id');

    const otherKey = push(3, { type: 'subscribe_result', key: 'j' });
    assert.notEqual(otherKey, first);
    assert.deepEqual(otherKey, { type: 'subscribe_result', key: 'j' });
    // Same length, one byte different: a new parse, the right value.
    assert.deepEqual(push(4, { type: 'subscribe_result', key: 'k' }), { type: 'subscribe_result', key: 'k' });

    // A nested object (a tracing carrier) is never shared between packets.
    const nested1 = push(5, { type: 'invoke', carrier: { traceparent: 'a' } });
    const nested2 = push(6, { type: 'invoke', carrier: { traceparent: 'a' } });
    assert.notEqual(nested2, nested1);
    assert.notEqual(nested2.carrier, nested1.carrier);
    assert.ok(!Object.isFrozen(nested2));

    // A connection object over 256 bytes is parsed each time.
    const big = { type: 'invoke', method: 'm'.repeat(300) };
    assert.notEqual(push(7, big), push(8, big));
    assert.deepEqual(sink.packets.at(-1)!.connObj, big);
    assert.equal(sink.errors.length, 0);
  });
});

describe('FrameDecoder: a limit per call (fair share per turn)', () => {
  test('push(chunk, limit) delivers at most limit packets and says more are buffered; drain() hands out the rest in order', () => {
    const { sink, decoder } = setup();
    const packets = Array.from({ length: 10 }, (_, i) => encodePacket(i + 1, false, 1000, { type: 'heartbeat' }));
    assert.equal(decoder.push(Buffer.concat(packets), 3), true, 'stopped at the limit');
    assert.deepEqual(sink.packets.map(p => p.id), [1, 2, 3]);
    assert.equal(decoder.drain(3), true);
    assert.deepEqual(sink.packets.map(p => p.id), [1, 2, 3, 4, 5, 6]);
    assert.equal(decoder.drain(), false, 'everything delivered');
    assert.deepEqual(sink.packets.map(p => p.id), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(decoder.bufferedBytes, 0);
    // Exactly at the limit with nothing left: not "more buffered".
    assert.equal(decoder.push(Buffer.concat(packets.slice(0, 2)), 2), false);
    // A partial packet left over is not "more" either: it waits for bytes, not for a turn.
    assert.equal(decoder.push(packets[0]!.subarray(0, 10), 5), false);
    assert.equal(decoder.bufferedBytes, 10);
  });
});

describe('FrameDecoder: fatal errors', () => {
  const good = encodePacket(100, false, 3000, { type: 'heartbeat' });

  function withHeader(edit: (buf: Buffer) => void, base: Buffer = encodePacket(9, true, 3000, { type: 'invoke_result', success: true }, Buffer.from('xyz'))): Buffer {
    const copy = Buffer.from(base);
    edit(copy);
    return copy;
  }

  const cases: Array<{ name: string; bytes: Buffer; limits?: FrameDecoderLimits; pattern: RegExp }> = [
    { name: 'version 2', bytes: withHeader(b => { b[0] = 2; }), pattern: /version/ },
    { name: 'version 0', bytes: withHeader(b => { b[0] = 0; }), pattern: /version/ },
    { name: 'kind byte 7', bytes: withHeader(b => { b[1] = 7; }), pattern: /kind/ },
    { name: 'negative connection object length', bytes: withHeader(b => b.writeInt32BE(-1, 16)), pattern: /negative/ },
    { name: 'negative data length', bytes: withHeader(b => b.writeInt32BE(-5, 20)), pattern: /negative/ },
    {
      name: 'frame over maxFrameSize',
      bytes: encodePacket(9, true, 3000, { type: 't' }, Buffer.alloc(200)),
      limits: { maxFrameSize: 100 },
      pattern: /maxFrameSize/,
    },
    {
      name: 'connection object over maxConnObjectSize',
      bytes: encodePacket(9, true, 3000, { type: 'register_channel', channelName: 'a-rather-long-name' }),
      limits: { maxConnObjectSize: 30 }, // {"type":"heartbeat"} (20 bytes) fits
      pattern: /connection object/,
    },
  ];

  for (const c of cases) {
    test(`${c.name}: onFrameError once, fatal, ProtocolError; later pushes deliver nothing`, () => {
      const { sink, decoder } = setup(c.limits);
      // A good packet first (delivered), then the bad one and a good one in the same chunk.
      decoder.push(Buffer.concat([good, c.bytes, good]));
      assert.equal(sink.packets.length, 1, 'only the packet before the bad frame');
      assert.equal(sink.errors.length, 1);
      const e = sink.errors[0]!;
      assert.equal(e.fatal, true);
      assert.ok(e.err instanceof ProtocolError);
      assert.equal(e.err.code, 'ERR_CLUSTER_PROTOCOL');
      assert.match(e.err.message, c.pattern);
      assert.equal(decoder.failed, true);
      assert.equal(decoder.bufferedBytes, 0);

      decoder.push(good);
      decoder.push(Buffer.concat([good, good]));
      assert.equal(sink.packets.length, 1, 'nothing delivered after a fatal error');
      assert.equal(sink.errors.length, 1, 'no further errors reported');
      assert.equal(decoder.bufferedBytes, 0, 'nothing buffered after a fatal error');
    });
  }

  test('the fatal error reports the id and kind of the bad header', () => {
    const { sink, decoder } = setup();
    decoder.push(withHeader(b => { b[0] = 2; }, encodePacket(4242, true, 1, { type: 'x' })));
    assert.equal(sink.errors[0]?.id, 4242);
    assert.equal(sink.errors[0]?.isResponse, true);
  });

  test('the fatal error fires once the header is complete, even when it arrives in pieces', () => {
    const { sink, decoder } = setup();
    const bad = withHeader(b => { b[1] = 7; });
    decoder.push(bad.subarray(0, 23));
    assert.equal(sink.errors.length, 0, 'no decision before the whole header');
    decoder.push(bad.subarray(23, 24));
    assert.equal(sink.errors.length, 1);
    assert.equal(sink.errors[0]!.fatal, true);
  });

  test('a 2 GiB body (data length 0x7fffffff) is rejected at once, without waiting for the bytes', () => {
    const { sink, decoder } = setup();
    const head = withHeader(b => b.writeInt32BE(0x7fffffff, 20), encodePacket(1, false, 3000, { type: 'invoke' })).subarray(0, 24);
    decoder.push(head);
    assert.equal(sink.errors.length, 1);
    assert.equal(sink.errors[0]!.fatal, true);
    assert.ok(sink.errors[0]!.err instanceof ProtocolError);
    assert.equal(decoder.failed, true);
    assert.ok(decoder.bufferedBytes <= 24, `bufferedBytes ${decoder.bufferedBytes}`);
    // The body bytes that follow are dropped, not accumulated.
    decoder.push(Buffer.alloc(64 * 1024));
    assert.ok(decoder.bufferedBytes <= 24, `bufferedBytes ${decoder.bufferedBytes} after more bytes`);
    assert.equal(sink.errors.length, 1);
  });

  test('a 2 GiB connection object length is rejected at once too', () => {
    const { sink, decoder } = setup();
    const head = withHeader(b => b.writeInt32BE(0x7fffffff, 16)).subarray(0, 24);
    decoder.push(head);
    assert.equal(sink.errors.length, 1);
    assert.equal(sink.errors[0]!.fatal, true);
    assert.ok(decoder.bufferedBytes <= 24);
  });

  test('a frame exactly at maxFrameSize is accepted, one byte over is not', () => {
    const connObj: ConnObj = { type: 't' };
    const frameSize = 24 + Buffer.byteLength(JSON.stringify(connObj)) + 50;
    {
      const { sink, decoder } = setup({ maxFrameSize: frameSize });
      decoder.push(encodePacket(1, false, 1, connObj, Buffer.alloc(50)));
      assert.equal(sink.packets.length, 1);
      assert.equal(sink.errors.length, 0);
    }
    {
      const { sink, decoder } = setup({ maxFrameSize: frameSize });
      decoder.push(encodePacket(1, false, 1, connObj, Buffer.alloc(51)));
      assert.equal(sink.packets.length, 0);
      assert.equal(sink.errors.length, 1);
      assert.equal(sink.errors[0]!.fatal, true);
    }
  });

  test('default maxFrameSize is 64 MiB', () => {
    assert.equal(DEFAULT_MAX_FRAME_SIZE, 64 * 1024 * 1024);
  });
});

describe('FrameDecoder: non-fatal errors', () => {
  const next = encodePacket(500, false, 3000, { type: 'heartbeat' }, Buffer.from('after'));
  const cases: Array<{ name: string; conn: Buffer }> = [
    { name: 'invalid JSON', conn: Buffer.from('{"type":') },
    { name: 'invalid UTF-8/JSON bytes', conn: Buffer.from([0xff, 0xfe, 0x00]) },
    { name: 'empty connection object', conn: Buffer.alloc(0) },
    { name: 'JSON that is an array', conn: Buffer.from('["type","x"]') },
    { name: 'JSON null', conn: Buffer.from('null') },
    { name: 'JSON number', conn: Buffer.from('42') },
    { name: 'JSON string', conn: Buffer.from('"heartbeat"') },
    { name: 'JSON without type', conn: Buffer.from('{"method":"x"}') },
    { name: 'JSON with a non-string type', conn: Buffer.from('{"type":5}') },
  ];

  for (const c of cases) {
    for (const isResponse of [false, true]) {
      test(`${c.name} (${isResponse ? 'response' : 'request'}): onFrameError(fatal=false, id, isResponse), next packet still delivered`, () => {
        const { sink, decoder } = setup();
        decoder.push(Buffer.concat([rawPacket(77, isResponse, c.conn, Buffer.from('ignored data')), next]));
        assert.equal(sink.errors.length, 1);
        const e = sink.errors[0]!;
        assert.equal(e.fatal, false);
        assert.equal(e.id, 77);
        assert.equal(e.isResponse, isResponse);
        assert.ok(e.err instanceof ProtocolError);
        assert.equal(e.err.code, 'ERR_CLUSTER_PROTOCOL');
        assert.equal(decoder.failed, false);
        assert.equal(sink.packets.length, 1, 'the next packet in the same chunk');
        assertPacket(sink.packets[0], { id: 500, isResponse: false, timeout: 3000, connObj: { type: 'heartbeat' }, data: Buffer.from('after') }, 'next');
        assert.equal(decoder.bufferedBytes, 0);
      });
    }
  }

  test('invalid JSON keeps the parse error as cause', () => {
    const { sink, decoder } = setup();
    decoder.push(rawPacket(1, false, Buffer.from('{oops')));
    assert.ok(sink.errors[0]!.err.cause instanceof SyntaxError);
  });

  test('the decoder keeps working across many skipped frames', () => {
    const { sink, decoder } = setup();
    const chunks: Buffer[] = [];
    for (let i = 1; i <= 20; i++) {
      chunks.push(i % 2 === 0 ? rawPacket(i, false, Buffer.from('nope')) : encodePacket(i, false, 1, { type: 'ok' }));
    }
    decoder.push(Buffer.concat(chunks));
    assert.deepEqual(sink.packets.map(p => p.id), [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
    assert.deepEqual(sink.errors.map(e => e.id), [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    assert.ok(sink.errors.every(e => !e.fatal));
  });
});

describe('FrameDecoder: garbage', () => {
  test('(g) random garbage never makes push throw (seeded)', () => {
    for (let round = 0; round < 300; round++) {
      const seed = (BASE_SEED ^ 0x9e3779b9) + round >>> 0;
      const rand = mulberry32(seed);
      const { sink, decoder } = setup({ maxFrameSize: 1 << 16, maxConnObjectSize: 1 << 12 });
      const total = randInt(rand, 1, 4000);
      let sent = 0;
      while (sent < total) {
        let chunk = randBytes(rand, randInt(rand, 1, 300));
        // Often make it look like a header so the decoder gets past the first checks.
        if (rand() < 0.5 && chunk.length >= 24) {
          chunk[0] = 1;
          chunk[1] = rand() < 0.5 ? 0 : 1;
          chunk.writeInt32BE(randInt(rand, 0, 40), 16);
          chunk.writeInt32BE(randInt(rand, 0, 40), 20);
          if (rand() < 0.3) chunk = Buffer.concat([chunk.subarray(0, 24), Buffer.from('{"type":"g"}'), chunk.subarray(24)]);
        }
        assert.doesNotThrow(() => decoder.push(chunk), `seed ${seed}: push threw`);
        sent += chunk.length;
      }
      const fatal = sink.errors.filter(e => e.fatal).length;
      assert.ok(fatal <= 1, `seed ${seed}: ${fatal} fatal errors`);
      assert.equal(decoder.failed, fatal === 1, `seed ${seed}: failed flag`);
      for (const e of sink.errors) assert.ok(e.err instanceof ProtocolError, `seed ${seed}: error type`);
      assert.ok(decoder.bufferedBytes < (1 << 16), `seed ${seed}: bufferedBytes ${decoder.bufferedBytes}`);
    }
  });
});
