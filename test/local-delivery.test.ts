/**
 * The leader process's own listeners (LocalRole) get a decoded copy of each pushed value on a
 * later tick, and the decoding waits for that tick: the followers in the same delivery loop are
 * written to first, even when the local subscription is the oldest (an egg agent subscribes
 * before any app worker connects).
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { resolveOptions } from '../src/options.js';
import { taggedCodec } from '../src/protocol/codec.js';
import type { Codec } from '../src/protocol/packet.js';
import { DataClientHost, type EncodedValue, type Subscriber } from '../src/roles/host.js';
import { LocalRole } from '../src/roles/local.js';
import type { Role, RoleSink } from '../src/roles/role.js';
import { FixtureClient } from './fixtures/data-client.js';

const DELEGATES = { subscribe: 'subscribe', unSubscribe: undefined, publish: undefined, close: undefined } as const;

/** Everything that happens, in order: `encode`, `decode`, `remote <value>`, `local <value>`. */
function setup(decode: (bytes: Buffer) => unknown = bytes => taggedCodec.decode(bytes)) {
  const events: string[] = [];
  const warnings: string[] = [];
  const codec: Codec = {
    encode: value => {
      events.push('encode');
      return taggedCodec.encode(value);
    },
    decode: bytes => {
      events.push('decode');
      return decode(bytes);
    },
  };
  const logger = { info() {}, error() {}, warn: (...args: unknown[]) => void warnings.push(args.map(String).join(' ')) };
  const options = { ...resolveOptions('FixtureClient', { logger }), transcode: codec, codecs: [] };
  const client = new FixtureClient();
  const host = new DataClientHost(options, client, DELEGATES);
  const sink: RoleSink = {
    deliver: (_key, value) => void events.push(`local ${JSON.stringify(value)}`),
    lost: (_role: Role) => {},
    leaderClosing: () => {},
    leaderUnresponsive: () => {},
    takenOver: () => {},
  };
  const local = new LocalRole(host, sink, new EventEmitter());
  // A follower link's place in the loop: records when the delivery loop reaches it.
  const remote: Subscriber = {
    codec,
    deliver: (_key: string, encoded: EncodedValue) => void events.push(`remote ${encoded.bytes(codec).length} bytes`),
  };
  const key = host.keyOf({ key: 'k' });
  host.subscribe(key, { key: 'k' }, local); // the oldest subscription
  host.subscribe(key, { key: 'k' }, remote);
  return { client, events, warnings };
}

describe('the leader process\'s own listeners', () => {
  test('get a decoded copy on a later tick, decoded after the followers were written to', async () => {
    const { client, events } = setup();
    const value = { n: 1 };
    await client.push('k', value);
    value.n = 2; // the DataClient changes its object afterwards: the copy is the pushed value
    assert.deepEqual(events, ['encode', 'remote 8 bytes'], 'in the loop: one encode, the follower written; no decode yet');
    await new Promise(resolve => process.nextTick(resolve));
    assert.deepEqual(events, ['encode', 'remote 8 bytes', 'decode', 'local {"n":1}']);
  });

  test('values arrive in push order', async () => {
    const { client, events } = setup();
    for (let n = 0; n < 5; n++) void client.push('k', n);
    await new Promise(resolve => setImmediate(resolve));
    assert.deepEqual(events.filter(e => e.startsWith('local')), ['local 0', 'local 1', 'local 2', 'local 3', 'local 4']);
  });

  test('a copy that does not decode is a warning; the followers and the later values are not affected', async () => {
    const { client, events, warnings } = setup(bytes => {
      const value = taggedCodec.decode(bytes);
      if (value === 'bad') throw new Error('refused by the codec');
      return value;
    });
    await client.push('k', 'bad');
    await client.push('k', 'good');
    await new Promise(resolve => setImmediate(resolve));
    assert.deepEqual(events.filter(e => e.startsWith('remote')), ['remote 4 bytes', 'remote 5 bytes'], 'the follower got both');
    assert.deepEqual(events.filter(e => e.startsWith('local')), ['local "good"']);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /subscription value for \S*"k"\S* does not decode with transcode; this process's listeners did not get it: refused by the codec/);
  });
});
