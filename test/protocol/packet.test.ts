/**
 * Wire protocol v1 (DESIGN.md §2): header layout, encoders, invoke argument framing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from '../../src/errors.js';
import { serializeJsonCodec } from '../../src/protocol/codec.js';
import {
  type ConnObj, decodeInvokeArgs, encodeInvokeArgs, encodePacket, encodePacketHead, HEADER_LENGTH, MAX_REQUEST_ID,
  nextRequestId, PACKET_REQUEST, PACKET_RESPONSE, PROTOCOL_VERSION, readHeader,
} from '../../src/protocol/packet.js';

function isProtocolError(err: unknown): boolean {
  assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
  assert.equal(err.code, 'ERR_CLUSTER_PROTOCOL');
  assert.equal(err.name, 'ProtocolError');
  return true;
}

describe('packet constants', () => {
  test('match the spec', () => {
    assert.equal(PROTOCOL_VERSION, 1);
    assert.equal(HEADER_LENGTH, 24);
    assert.equal(PACKET_REQUEST, 0);
    assert.equal(PACKET_RESPONSE, 1);
    assert.equal(MAX_REQUEST_ID, 2 ** 30);
  });
});

describe('encodePacket header layout', () => {
  test('each field of a known response packet sits at its offset', () => {
    const connObj: ConnObj = { type: 'heartbeat_res' };
    const json = JSON.stringify(connObj);
    const buf = encodePacket(5, true, 3000, connObj);

    assert.equal(buf.length, 24 + Buffer.byteLength(json));
    assert.equal(buf[0], 1, 'version byte');
    assert.equal(buf[1], 1, 'response byte');
    assert.equal(buf[2], 0, 'reserved byte 2');
    assert.equal(buf[3], 0, 'reserved byte 3');
    assert.equal(buf.readUInt32BE(4), 0, 'id high word');
    assert.equal(buf.readUInt32BE(8), 5, 'id low word');
    assert.equal(buf.readBigUInt64BE(4), 5n, 'id as int64 big-endian');
    assert.equal(buf.readInt32BE(12), 3000, 'timeout');
    assert.equal(buf.readInt32BE(16), Buffer.byteLength(json), 'connection object length');
    assert.equal(buf.readInt32BE(20), 0, 'data length');
    assert.equal(buf.toString('utf8', 24), json, 'connection object JSON');
    assert.deepEqual(JSON.parse(buf.toString('utf8', 24)), connObj);
  });

  test('request byte is 0 and the data follows the connection object', () => {
    const data = Buffer.from([9, 8, 7, 6, 5]);
    const connObj: ConnObj = { type: 'invoke', method: 'getData', argLength: 1, oneway: false };
    const json = JSON.stringify(connObj);
    const buf = encodePacket(123456, false, 0, connObj, data);

    assert.equal(buf[0], 1);
    assert.equal(buf[1], 0);
    assert.equal(buf.readUInt32BE(8), 123456);
    assert.equal(buf.readInt32BE(12), 0);
    assert.equal(buf.readInt32BE(16), json.length);
    assert.equal(buf.readInt32BE(20), 5);
    assert.equal(buf.length, 24 + json.length + 5);
    assert.deepEqual(buf.subarray(24 + json.length), data);
  });

  test('connection object length counts UTF-8 bytes, not characters', () => {
    const connObj: ConnObj = { type: 'register_channel', channelName: 'héllo-通道-🎉' };
    const json = JSON.stringify(connObj);
    assert.notEqual(Buffer.byteLength(json), json.length, 'precondition: multi-byte characters');
    const buf = encodePacket(1, false, 10, connObj);
    assert.equal(buf.readInt32BE(16), Buffer.byteLength(json));
    assert.equal(buf.length, 24 + Buffer.byteLength(json));
    assert.deepEqual(JSON.parse(buf.toString('utf8', 24)), connObj);
  });

  test('hand-derived bytes: id 5, response, timeout 3000, {"type":"heartbeat_res"}', () => {
    // {"type":"heartbeat_res"} is 24 bytes = 0x18; 3000 = 0x0bb8.
    const expected = Buffer.from(
      '01' + '01' + '0000' // version 1, response, reserved
      + '0000000000000005' // id 5
      + '00000bb8' // timeout 3000
      + '00000018' // connection object length 24
      + '00000000' // data length 0
      + '7b2274797065223a22686561727462656174' + '5f726573227d', // {"type":"heartbeat_res"}
      'hex',
    );
    assert.equal(expected.toString('utf8', 24), '{"type":"heartbeat_res"}', 'self-check of the hand-written JSON bytes');
    assert.deepEqual(encodePacket(5, true, 3000, { type: 'heartbeat_res' }), expected);
  });

  test('hand-derived bytes: id 0x0102, request, timeout 0, {"type":"x"}, data de ad', () => {
    const expected = Buffer.from(
      '01' + '00' + '0000'
      + '0000000000000102'
      + '00000000'
      + '0000000c' // {"type":"x"} is 12 bytes
      + '00000002'
      + '7b2274797065223a2278227d'
      + 'dead',
      'hex',
    );
    assert.deepEqual(encodePacket(0x0102, false, 0, { type: 'x' }, Buffer.from([0xde, 0xad])), expected);
    assert.deepEqual(encodePacket(0x0102, false, 0, { type: 'x' }, [Buffer.from([0xde]), Buffer.from([0xad])]), expected);
  });
});

describe('encodePacket data forms', () => {
  const connObj: ConnObj = { type: 'subscribe_result', key: '$$inner$$__"k"' };

  test('an array of parts equals the concatenated buffer', () => {
    const parts = [Buffer.from('abc'), Buffer.alloc(0), Buffer.from([0, 1, 2, 255]), Buffer.from('é')];
    const joined = Buffer.concat(parts);
    const fromParts = encodePacket(42, false, 3000, connObj, parts);
    const fromBuffer = encodePacket(42, false, 3000, connObj, joined);
    assert.deepEqual(fromParts, fromBuffer);
    assert.equal(fromParts.readInt32BE(20), joined.length);
    assert.deepEqual(fromParts.subarray(fromParts.length - joined.length), joined);
  });

  test('no data, an empty buffer and an empty array encode the same', () => {
    const none = encodePacket(7, true, 1, connObj);
    assert.equal(none.readInt32BE(20), 0);
    assert.deepEqual(encodePacket(7, true, 1, connObj, Buffer.alloc(0)), none);
    assert.deepEqual(encodePacket(7, true, 1, connObj, []), none);
  });

  test('the encoded packet does not alias the data buffer', () => {
    const data = Buffer.from([1, 2, 3]);
    const buf = encodePacket(7, true, 1, connObj, data);
    data[0] = 99;
    assert.equal(buf[buf.length - 3], 1);
  });

  test('encodePacketHead + data equals encodePacket with the same data', () => {
    for (const data of [Buffer.alloc(0), Buffer.from('x'), Buffer.alloc(5000, 0xab)]) {
      const head = encodePacketHead(99, false, 2500, connObj, data.length);
      assert.equal(head.length, 24 + Buffer.byteLength(JSON.stringify(connObj)));
      assert.equal(head.readInt32BE(20), data.length, 'head declares the data length');
      assert.deepEqual(Buffer.concat([head, data]), encodePacket(99, false, 2500, connObj, data));
    }
  });
});

describe('readHeader', () => {
  test('round trip of every field', () => {
    const cases: Array<{ id: number; isResponse: boolean; timeout: number; connObj: ConnObj; data?: Buffer }> = [
      { id: 1, isResponse: false, timeout: 0, connObj: { type: 'heartbeat' } },
      { id: 5, isResponse: true, timeout: 3000, connObj: { type: 'heartbeat_res' } },
      { id: MAX_REQUEST_ID - 1, isResponse: false, timeout: 2 ** 31 - 1, connObj: { type: 'invoke', method: 'm' }, data: Buffer.alloc(17) },
      { id: 2 ** 32 + 7, isResponse: true, timeout: 1, connObj: { type: 'invoke_result', success: true }, data: Buffer.from('ok') },
    ];
    for (const c of cases) {
      const buf = encodePacket(c.id, c.isResponse, c.timeout, c.connObj, c.data);
      const h = readHeader(buf);
      assert.deepEqual(h, {
        version: 1,
        isResponse: c.isResponse,
        id: c.id,
        timeout: c.timeout,
        connLength: Buffer.byteLength(JSON.stringify(c.connObj)),
        dataLength: c.data?.length ?? 0,
      }, `case id ${c.id}`);
    }
  });

  test('reads a header that is not at the start of the underlying memory', () => {
    const packet = encodePacket(77, true, 12, { type: 't' });
    const backing = Buffer.concat([Buffer.alloc(3, 0xff), packet]);
    const h = readHeader(backing.subarray(3));
    assert.equal(h.id, 77);
    assert.equal(h.timeout, 12);
    assert.equal(h.isResponse, true);
  });
});

describe('nextRequestId', () => {
  test('increments by one and stays in 1..2^30-1', () => {
    let prev = nextRequestId();
    assert.ok(Number.isInteger(prev) && prev >= 1 && prev < 2 ** 30, `first id ${prev}`);
    for (let i = 0; i < 10_000; i++) {
      const id = nextRequestId();
      assert.ok(Number.isInteger(id) && id >= 1 && id <= 2 ** 30 - 1, `id ${id} out of range`);
      const expected = prev === 2 ** 30 - 1 ? 1 : prev + 1;
      assert.equal(id, expected, `after ${prev}`);
      prev = id;
    }
  });
});

describe('invoke arguments', () => {
  const codec = serializeJsonCodec;

  test('encodeInvokeArgs frames each argument as [int32 length][codec bytes]', () => {
    const args = ['a', 12, { x: 1 }];
    const parts = encodeInvokeArgs(args, codec);
    assert.equal(parts.length, 2 * args.length);
    for (let i = 0; i < args.length; i++) {
      const len = parts[2 * i]!;
      const bytes = parts[2 * i + 1]!;
      assert.equal(len.length, 4);
      assert.equal(len.readInt32BE(0), bytes.length);
      assert.deepEqual(bytes, codec.encode(args[i]));
    }
    assert.deepEqual(encodeInvokeArgs([], codec), []);
  });

  test('round trip with serialize-json keeps every supported value', () => {
    const args: unknown[] = [
      'plain',
      '',
      'non-ASCII: héllo 通道 🎉',
      0,
      -1.5,
      Number.MAX_SAFE_INTEGER,
      true,
      false,
      null,
      undefined,
      { nested: { deep: [1, 'two', null, { three: 3 }] }, empty: {}, list: [] },
      Buffer.from([0, 1, 2, 254, 255]),
      Buffer.alloc(0),
      new Date(1_700_000_000_123),
      { when: new Date(5), bytes: Buffer.from('inner') },
      [undefined, 'x'],
    ];
    const data = Buffer.concat(encodeInvokeArgs(args, codec));
    const decoded = decodeInvokeArgs(data, args.length, codec);
    assert.equal(decoded.length, args.length);
    assert.deepEqual(decoded, args);
    assert.ok(Buffer.isBuffer(decoded[11]), 'Buffer stays a Buffer');
    assert.ok(decoded[13] instanceof Date, 'Date stays a Date');
    assert.equal(decoded[9], undefined);
    assert.ok(9 in decoded, 'undefined argument is present, not a hole');
  });

  test('round trip through a whole invoke packet', () => {
    const args: unknown[] = ['key', { opt: true }, Buffer.from('payload')];
    const packet = encodePacket(3, false, 3000, { type: 'invoke', method: 'getData', argLength: args.length, oneway: false }, encodeInvokeArgs(args, codec));
    const h = readHeader(packet);
    const connObj = JSON.parse(packet.toString('utf8', 24, 24 + h.connLength)) as ConnObj;
    const data = packet.subarray(24 + h.connLength);
    assert.equal(data.length, h.dataLength);
    assert.deepEqual(decodeInvokeArgs(data, connObj.argLength as number, codec), args);
  });

  test('zero arguments decode from no data', () => {
    assert.deepEqual(decodeInvokeArgs(undefined, 0, codec), []);
    assert.deepEqual(decodeInvokeArgs(Buffer.alloc(0), 0, codec), []);
  });

  test('a missing argument is a ProtocolError', () => {
    const one = Buffer.concat(encodeInvokeArgs(['only'], codec));
    assert.throws(() => decodeInvokeArgs(one, 2, codec), isProtocolError);
    assert.throws(() => decodeInvokeArgs(undefined, 1, codec), isProtocolError);
    // A truncated length prefix (fewer than 4 bytes left) is missing too.
    assert.throws(() => decodeInvokeArgs(Buffer.concat([one, Buffer.from([0, 0])]), 2, codec), isProtocolError);
  });

  test('a negative argument length is a ProtocolError', () => {
    const data = Buffer.alloc(8);
    data.writeInt32BE(-1, 0);
    assert.throws(() => decodeInvokeArgs(data, 1, codec), isProtocolError);
    data.writeInt32BE(-2147483648, 0);
    assert.throws(() => decodeInvokeArgs(data, 1, codec), isProtocolError);
  });

  test('a length running past the data is a ProtocolError', () => {
    const data = Buffer.alloc(4 + 3);
    data.writeInt32BE(100, 0);
    assert.throws(() => decodeInvokeArgs(data, 1, codec), isProtocolError);
    // The second argument runs past by one byte.
    const good = Buffer.concat(encodeInvokeArgs(['a'], codec));
    const bad = Buffer.alloc(4 + 2);
    bad.writeInt32BE(3, 0);
    assert.throws(() => decodeInvokeArgs(Buffer.concat([good, bad]), 2, codec), isProtocolError);
  });

  test('a negative or non-integer argLength is a ProtocolError', () => {
    const data = Buffer.concat(encodeInvokeArgs(['a'], codec));
    assert.throws(() => decodeInvokeArgs(data, -1, codec), isProtocolError);
    assert.throws(() => decodeInvokeArgs(data, 1.5, codec), isProtocolError);
    assert.throws(() => decodeInvokeArgs(data, Number.NaN, codec), isProtocolError);
  });
});
