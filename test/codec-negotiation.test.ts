/**
 * Codec negotiation (DESIGN §2 extension): a cluster-share follower offers its codecs in
 * register_channel, a cluster-share leader answers with its choice, and a peer that offers or
 * answers nothing (cluster-client 3.x) gets serialize-json, byte for byte. Raw sockets play the
 * other side so the bytes on the wire can be checked.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
import cluster, { close, type ClusterOptions, type Transcode } from '../src/index.js';
import { serializeJsonCodec, taggedCodec } from '../src/protocol/codec.js';
import { FrameDecoder } from '../src/protocol/frame-decoder.js';
import { type Codec, decodeInvokeArgs, EncodedConnObj, encodeInvokeArgs, encodePacket, HEADER_LENGTH, nextRequestId, type Packet, packetData, writePacketHead } from '../src/protocol/packet.js';
import { DataClientHost, EncodedValue, type Framer, type Subscriber } from '../src/roles/host.js';
import { resolveOptions } from '../src/options.js';
import { FixtureClient } from './fixtures/data-client.js';
import { freePort } from './helpers/group.js';

const quiet = { info() {}, warn() {}, error() {} };

function make(options: ClusterOptions) {
  return cluster(FixtureClient, { logger: quiet, ...options }).create({});
}

/** A raw peer: a socket plus the packets decoded from it, awaited one at a time. */
class RawPeer {
  readonly socket: net.Socket;
  readonly #packets: Packet[] = [];
  #waiting: ((packet: Packet) => void) | undefined;

  constructor(socket: net.Socket) {
    this.socket = socket;
    const decoder = new FrameDecoder({
      onPacket: packet => {
        const waiting = this.#waiting;
        if (waiting) {
          this.#waiting = undefined;
          waiting(packet);
        } else {
          this.#packets.push(packet);
        }
      },
      onFrameError: err => socket.destroy(err),
    });
    socket.on('data', chunk => decoder.push(chunk));
  }

  static async connect(port: number): Promise<RawPeer> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return new RawPeer(socket);
  }

  next(): Promise<Packet> {
    const packet = this.#packets.shift();
    if (packet) return Promise.resolve(packet);
    return new Promise(resolve => {
      this.#waiting = resolve;
    });
  }

  /** Sends a request and returns the next packet (the peer answers in order on this socket). */
  async request(connObj: { type: string; [k: string]: unknown }, data?: Buffer | Buffer[]): Promise<Packet> {
    const id = nextRequestId();
    this.socket.write(encodePacket(id, false, 5000, connObj, data));
    const packet = await this.next();
    assert.equal(packet.id, id, 'the answer carries the request id');
    return packet;
  }
}

/** A fake leader on `port`: records the follower's packets and answers register_channel with `codec` (or none). */
async function fakeLeader(port: number, codec: string | undefined): Promise<{ server: net.Server; peer: Promise<RawPeer> }> {
  const server = net.createServer();
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const peer = new Promise<RawPeer>(resolve => {
    server.once('connection', socket => {
      const raw = new RawPeer(socket);
      void raw.next().then(register => {
        const connObj = codec ? { type: 'register_channel_res', codec } : { type: 'register_channel_res' };
        socket.write(encodePacket(register.id, true, register.timeout, connObj, serializeJsonCodec.encode({ success: true })));
        resolve(raw);
      });
    });
  });
  return { server, peer };
}

describe('codec negotiation', () => {
  test('a follower that offers tagged-v1 gets it; one that offers nothing gets serialize-json', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = make({ port });
    await leader.ready();

    const fast = await RawPeer.connect(port);
    const fastAnswer = await fast.request({ type: 'register_channel', channelName: 'FixtureClient', codecs: ['zstd-someday', 'tagged-v1'] });
    assert.deepEqual(fastAnswer.connObj, { type: 'register_channel_res', codec: 'tagged-v1', pid: process.pid, acks: false }, 'a cluster-share follower also learns who leads, and that pushes need no acknowledgement');
    // The register answer itself is always in serialize-json: the follower switches after it.
    assert.deepEqual(serializeJsonCodec.decode(packetData(fastAnswer)!), { success: true });
    const map = new Map<string, unknown>([['a', 1n], ['b', new Set([1])]]);
    const fastResult = await fast.request({ type: 'invoke', method: 'echo', argLength: 1, oneway: false }, encodeInvokeArgs([map], taggedCodec));
    assert.equal(fastResult.connObj.success, true);
    assert.equal(packetData(fastResult)![0], 0x76, 'a Map is answered in tagged-v1 (v8 tag)');
    assert.deepEqual(taggedCodec.decode(packetData(fastResult)!), map);

    const plain = await RawPeer.connect(port);
    const plainAnswer = await plain.request({ type: 'register_channel', channelName: 'FixtureClient' });
    assert.deepEqual(plainAnswer.connObj, { type: 'register_channel_res' }, '3.x-shaped registration: no codec nor pid field');
    const value = { s: 'héllo', d: new Date(1_700_000_000_000), b: Buffer.from([1, 2, 3]), u: undefined };
    const args = encodeInvokeArgs([value], serializeJsonCodec);
    const plainResult = await plain.request({ type: 'invoke', method: 'echo', argLength: 1, oneway: false }, args);
    assert.equal(plainResult.connObj.success, true);
    assert.ok(packetData(plainResult)!.equals(serializeJsonCodec.encode(value)), 'answered with the exact serialize-json bytes');

    const unknown = await RawPeer.connect(port);
    const unknownAnswer = await unknown.request({ type: 'register_channel', channelName: 'FixtureClient', codecs: ['nope', 42] });
    assert.deepEqual(unknownAnswer.connObj, { type: 'register_channel_res', pid: process.pid, acks: false }, 'nothing in common: serialize-json');

    for (const peer of [fast, plain, unknown]) peer.socket.destroy();
    await close(leader);
  });

  test('our follower offers tagged-v1, and speaks serialize-json byte for byte to a leader that does not choose', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const { server, peer } = await fakeLeader(port, undefined);
    const follower = cluster(FixtureClient, { port, isLeader: false, logger: quiet }).delegate('echo').create({});
    await follower.ready();
    const raw = await peer;
    const value = { list: [1, 'two', null], when: new Date(0), bytes: Buffer.from('xyz') };
    const result = follower.echo(value);
    const invoke = await raw.next();
    assert.equal(invoke.connObj.type, 'invoke');
    const expected = Buffer.concat(encodeInvokeArgs([value], serializeJsonCodec));
    assert.ok(packetData(invoke)!.equals(expected), 'invoke arguments are exactly what serialize-json produces');
    raw.socket.write(encodePacket(invoke.id, true, invoke.timeout, { type: 'invoke_result', success: true }, serializeJsonCodec.encode('ok')));
    assert.equal(await result, 'ok');
    await close(follower);
    server.close();
  });

  test('our follower switches to the codec the leader chose', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const { server, peer } = await fakeLeader(port, 'tagged-v1');
    const follower = cluster(FixtureClient, { port, isLeader: false, logger: quiet }).delegate('echo').create({});
    await follower.ready();
    const raw = await peer;
    const result = follower.echo(new Set(['x']));
    const invoke = await raw.next();
    assert.deepEqual(decodeInvokeArgs(packetData(invoke), 1, taggedCodec), [new Set(['x'])]);
    raw.socket.write(encodePacket(invoke.id, true, invoke.timeout, { type: 'invoke_result', success: true }, taggedCodec.encode(new Map([[1, 2]]))));
    assert.deepEqual(await result, new Map([[1, 2]]));
    await close(follower);
    server.close();
  });

  test('the register_channel of a follower with negotiateCodec: false or a transcode offers no codec', { timeout: 30_000 }, async () => {
    const transcode: Transcode = { encode: v => Buffer.from(JSON.stringify(v) ?? 'null'), decode: b => JSON.parse(b.toString()) as unknown };
    for (const options of [{ negotiateCodec: false }, { transcode }] as ClusterOptions[]) {
      const port = await freePort();
      const server = net.createServer();
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
      const registered = new Promise<Packet>(resolve => server.once('connection', socket => void new RawPeer(socket).next().then(resolve)));
      const follower = make({ port, isLeader: false, maxWaitTime: 60_000, ...options });
      const register = await registered;
      const { dataClient, ...rest } = register.connObj;
      assert.deepEqual(rest, { type: 'register_channel', channelName: 'FixtureClient', codecs: [], pid: process.pid }, `an empty offer (${Object.keys(options)[0]})`);
      assert.equal((dataClient as { class?: unknown }).class, 'FixtureClient', 'and the DataClient class it expects (channel identity)');
      // Closing before ready: the follower stops waiting for the silent fake leader.
      await close(follower);
      server.close();
    }
  });

  test('between two cluster-share processes a Map survives (tagged-v1); with negotiateCodec: false it does not', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = cluster(FixtureClient, { port, logger: quiet }).delegate('echo').create({});
    await leader.ready();
    const fast = cluster(FixtureClient, { port, logger: quiet }).delegate('echo').create({});
    const plain = cluster(FixtureClient, { port, logger: quiet, negotiateCodec: false }).delegate('echo').create({});
    await Promise.all([fast.ready(), plain.ready()]);
    assert.equal(fast.isClusterClientLeader, false);
    assert.equal(plain.isClusterClientLeader, false);
    const map = new Map([['k', 1]]);
    assert.deepEqual(await fast.echo(map), map);
    // serialize-json turns a Map into a plain object without entries.
    assert.deepEqual(await plain.echo(map), {});
    await close(fast);
    await close(plain);
    await close(leader);
  });

  test('a tagged-v1 argument that does not decode fails that call with ERR_CLUSTER_DECODE; the connection keeps working', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = make({ port });
    await leader.ready();
    const raw = await RawPeer.connect(port);
    await raw.request({ type: 'register_channel', channelName: 'FixtureClient', codecs: ['tagged-v1'] });
    const bad = Buffer.from([0, 0, 0, 2, 0x7f, 0x00]); // one argument: unknown tag 0x7f
    const failed = await raw.request({ type: 'invoke', method: 'echo', argLength: 1, oneway: false }, bad);
    assert.equal(failed.connObj.success, false);
    const error = taggedCodec.decode(packetData(failed)!) as { code?: string; message?: string };
    assert.equal(error.code, 'ERR_CLUSTER_DECODE');
    assert.match(error.message ?? '', /unknown tag 0x7f/);
    const ok = await raw.request({ type: 'invoke', method: 'echo', argLength: 1, oneway: false }, encodeInvokeArgs(['after'], taggedCodec));
    assert.equal(ok.connObj.success, true);
    assert.equal(taggedCodec.decode(packetData(ok)!), 'after');
    raw.socket.destroy();
    await close(leader);
  });
});

describe('subscription values are encoded once per codec in use', () => {
  function counting(codec: Codec): Codec & { encodes: number } {
    const counted = { encodes: 0, encode: (v: unknown) => { counted.encodes++; return codec.encode(v); }, decode: (b: Buffer) => codec.decode(b) };
    return counted;
  }
  class Collector implements Subscriber {
    readonly codec: Codec;
    readonly got: unknown[] = [];
    constructor(codec: Codec) {
      this.codec = codec;
    }
    deliver(_key: string, encoded: EncodedValue): void {
      this.got.push(this.codec.decode(encoded.bytes(this.codec)));
    }
  }

  test('3 tagged and 2 serialize-json subscribers: one encode per codec per value; a late subscriber gets a snapshot', () => {
    const tagged = counting(taggedCodec);
    const sj = counting(serializeJsonCodec);
    const options = { ...resolveOptions('FixtureClient', { logger: quiet }), transcode: sj, codecs: [{ ...tagged, name: 'tagged-v1' }] };
    const client = new FixtureClient();
    const host = new DataClientHost(options, client, { subscribe: 'subscribe', unSubscribe: undefined, publish: undefined, close: undefined });
    const taggedSubs = [0, 1, 2].map(() => new Collector(options.codecs[0]!));
    const sjSubs = [0, 1].map(() => new Collector(sj));
    const key = host.keyOf({ key: 'k' });
    for (const s of [...taggedSubs, ...sjSubs]) host.subscribe(key, { key: 'k' }, s);
    const value = { n: 1, at: new Date(5) };
    void client.push('k', value);
    assert.equal(tagged.encodes, 1, 'tagged-v1 encoded once for 3 subscribers');
    assert.equal(sj.encodes, 1, 'serialize-json encoded once for 2 subscribers');
    for (const s of [...taggedSubs, ...sjSubs]) assert.deepEqual(s.got, [{ n: 1, at: new Date(5) }]);
    // The DataClient changes its object afterwards: a late subscriber gets the bytes made at push time.
    value.n = 2;
    const late = new Collector(sj);
    host.subscribe(key, { key: 'k' }, late);
    assert.deepEqual(late.got, [{ n: 1, at: new Date(5) }]);
    assert.equal(sj.encodes, 1, 'the late subscriber reuses the encoding');

    // A key pushed while only tagged-v1 subscribers exist: a late serialize-json subscriber's
    // bytes are derived from the tagged snapshot (once), not from the since-changed object.
    const key2 = host.keyOf({ key: 'k2' });
    host.subscribe(key2, { key: 'k2' }, new Collector(options.codecs[0]!));
    const value2 = { list: [1, 2] };
    void client.push('k2', value2);
    value2.list.push(3);
    const late2 = [new Collector(sj), new Collector(sj)];
    for (const s of late2) host.subscribe(key2, { key: 'k2' }, s);
    for (const s of late2) assert.deepEqual(s.got, [{ list: [1, 2] }]);
    assert.equal(sj.encodes, 2, 'derived once for two late serialize-json subscribers');
  });

  test('a value is encoded after the room its framer asked for: the packet is that one buffer, and decodes as one', () => {
    const connObj = new EncodedConnObj({ type: 'subscribe_result', key: 'k' });
    const room = HEADER_LENGTH + connObj.bytes.length;
    // Frames like the leader's FollowerLink: the header into the room when there is one, else a copy.
    const framer: Framer<Buffer> = {
      frame(_key, buf, start) {
        if (start < room) return encodePacket(7, false, 3000, connObj, buf.subarray(start));
        const packet = buf.subarray(start - room);
        writePacketHead(packet, 7, false, 3000, connObj, buf.length - start);
        return packet;
      },
    };
    const decode = (bytes: Buffer): Packet[] => {
      const packets: Packet[] = [];
      new FrameDecoder({ onPacket: p => packets.push(p), onFrameError: err => assert.fail(err) }).push(bytes);
      return packets;
    };
    const values: unknown[] = ['text', { n: 1, list: [1, 'x'] }, new Map([[1, 2]]), Buffer.from('raw'), new Date(5), undefined, 'x'.repeat(100_000)];
    for (const value of values) {
      for (const given of [room, room + 9, 0]) { // the room asked for, more than asked, none
        const encoded = new EncodedValue('k', value, taggedCodec, given);
        const packet = encoded.framed(taggedCodec, framer);
        const [decoded, ...more] = decode(packet);
        assert.equal(more.length, 0);
        assert.deepEqual(decoded!.connObj, { type: 'subscribe_result', key: 'k' });
        assert.deepEqual(taggedCodec.decode(packetData(decoded!)!), value, `${String(value).slice(0, 20)}, room ${given}`);
        assert.ok(encoded.bytes(taggedCodec).equals(taggedCodec.encode(value)), 'bytes() are the encoding alone');
        if (given >= room) assert.equal(packet.buffer, encoded.bytes(taggedCodec).buffer, 'the packet shares the encoding\'s memory: no copy');
        // Another codec still derives from the value, with no room.
        assert.deepEqual(serializeJsonCodec.decode(encoded.bytes(serializeJsonCodec)), serializeJsonCodec.decode(serializeJsonCodec.encode(value)));
      }
    }
  });

  test('a codec that cannot encode the value is tried once; its subscribers are skipped with a warning, the others get the value', () => {
    const tagged = counting(taggedCodec);
    let refusals = 0;
    const refusing: Codec = { encode: () => { refusals++; throw new Error('no way'); }, decode: () => undefined };
    const warnings: string[] = [];
    const logger = { ...quiet, warn: (...args: unknown[]) => { warnings.push(args.map(String).join(' ')); } };
    const options = { ...resolveOptions('FixtureClient', { logger }), transcode: tagged, codecs: [] };
    const client = new FixtureClient();
    const host = new DataClientHost(options, client, { subscribe: 'subscribe', unSubscribe: undefined, publish: undefined, close: undefined });
    const good = [new Collector(tagged), new Collector(tagged)];
    const refused = [new Collector(refusing), new Collector(refusing)];
    const key = host.keyOf({ key: 'k' });
    for (const s of [good[0]!, ...refused, good[1]!]) host.subscribe(key, { key: 'k' }, s);
    void client.push('k', { n: 1 });
    for (const s of good) assert.deepEqual(s.got, [{ n: 1 }], 'the other subscribers get it, before and after the refused ones');
    for (const s of refused) assert.deepEqual(s.got, [], 'nothing for the refused codec');
    assert.equal(refusals, 1, 'the refusing codec is asked once per value, not once per subscriber');
    assert.equal(tagged.encodes, 1);
    assert.equal(warnings.length, 2, 'one warning per subscriber that did not get the value');
    for (const w of warnings) assert.match(w, /subscription value for .*k.* cannot be encoded with a subscriber's codec; not delivered to it: no way/);
  });
});
