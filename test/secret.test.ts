/**
 * The optional shared secret: leader and followers prove it to each other in register_channel
 * (protocol/auth.ts); a peer without it, with another one, or a 3.x peer is refused with
 * ERR_CLUSTER_AUTH_FAILED; the secret itself never crosses the wire.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
import cluster, { close, type ClusterOptions } from '../src/index.js';
import { resolveOptions } from '../src/options.js';
import { newNonce, proof } from '../src/protocol/auth.js';
import { serializeJsonCodec } from '../src/protocol/codec.js';
import { FrameDecoder } from '../src/protocol/frame-decoder.js';
import { encodePacket, nextRequestId, type Packet, packetData } from '../src/protocol/packet.js';
import { FixtureClient } from './fixtures/data-client.js';
import { freePort } from './helpers/group.js';

const SECRET = 'S3cr3t-for-the-test';

function logger(warnings: string[] = []) {
  return { info() {}, warn: (m: string) => void warnings.push(m), error() {} };
}

function make(options: ClusterOptions) {
  return cluster(FixtureClient, { logger: logger(), ...options }).delegate('pid').create({});
}

/** Sends packets on a raw socket and reads the answers in order. */
async function rawPeer(port: number): Promise<{ socket: net.Socket; request(connObj: { type: string; [k: string]: unknown }): Promise<Packet>; closed: Promise<unknown> }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const packets: Packet[] = [];
  const waiters: Array<(p: Packet) => void> = [];
  const decoder = new FrameDecoder({ onPacket: p => (waiters.length ? waiters.shift()!(p) : packets.push(p)), onFrameError: err => socket.destroy(err) });
  socket.on('data', chunk => decoder.push(chunk));
  const closed = once(socket, 'close');
  return {
    socket,
    closed,
    request(connObj) {
      socket.write(encodePacket(nextRequestId(), false, 5000, connObj));
      const ready = packets.shift();
      return ready ? Promise.resolve(ready) : new Promise(resolve => waiters.push(resolve));
    },
  };
}

describe('secret', () => {
  test('leader and followers with the same secret work as usual', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = make({ port, secret: SECRET });
    await leader.ready();
    const follower = make({ port, secret: SECRET });
    await follower.ready();
    assert.equal(follower.isClusterClientLeader, false);
    assert.equal(await follower.pid(), process.pid);
    await close(follower);
    await close(leader);
  });

  test('a follower without the secret, or with another one, is refused with ERR_CLUSTER_AUTH_FAILED; the leader keeps serving', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const warnings: string[] = [];
    const leader = cluster(FixtureClient, { port, secret: SECRET, logger: logger(warnings) }).create({});
    await leader.ready();
    for (const secret of [undefined, 'another secret']) {
      const intruder = make({ port, secret, connectTimeout: 5000 });
      await assert.rejects(intruder.ready(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_CLUSTER_AUTH_FAILED', err.message);
        return true;
      }, `secret ${secret}`);
      await close(intruder);
    }
    assert.ok(warnings.some(w => w.includes('requires the shared secret')), 'the leader logged the refusal');
    const friend = make({ port, secret: SECRET });
    await friend.ready();
    assert.equal(await friend.pid(), process.pid, 'a follower with the secret is still served');
    await close(friend);
    await close(leader);
  });

  test('a follower with a secret refuses a leader that has none (it could be anyone on the port)', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = make({ port });
    await leader.ready();
    const follower = make({ port, secret: SECRET, connectTimeout: 5000 });
    await assert.rejects(follower.ready(), (err: Error & { code?: string }) => err.code === 'ERR_CLUSTER_AUTH_FAILED' && /does not use the shared secret/.test(err.message));
    await close(follower);
    await close(leader);
  });

  test('a 3.x-shaped registration (no auth) gets ERR_CLUSTER_AUTH_FAILED and the connection is ended', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = make({ port, secret: SECRET });
    await leader.ready();
    const raw = await rawPeer(port);
    const answer = await raw.request({ type: 'register_channel', channelName: 'FixtureClient' });
    const body = serializeJsonCodec.decode(packetData(answer)!) as { success: boolean; error: { code: string } };
    assert.equal(body.success, false);
    assert.equal(body.error.code, 'ERR_CLUSTER_AUTH_FAILED');
    await raw.closed;
    await close(leader);
  });

  test('the handshake on the wire, done by hand: the leader proves itself, a correct proof registers, and the secret never appears in the bytes', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = make({ port, secret: SECRET });
    await leader.ready();
    const raw = await rawPeer(port);
    const seen: Buffer[] = [];
    raw.socket.on('data', chunk => seen.push(chunk));
    const nonce = newNonce();
    const challenge = await raw.request({ type: 'register_channel', channelName: 'FixtureClient', auth: { nonce } });
    const leaderNonce = String(challenge.connObj.challenge);
    assert.equal(challenge.connObj.proof, proof(SECRET, 'leader', 'FixtureClient', nonce, leaderNonce), 'the leader proved the secret');
    const done = await raw.request({ type: 'register_channel', channelName: 'FixtureClient', auth: { nonce, proof: proof(SECRET, 'follower', 'FixtureClient', leaderNonce, nonce) } });
    assert.deepEqual(serializeJsonCodec.decode(packetData(done)!), { success: true });
    assert.equal(Buffer.concat(seen).includes(SECRET), false, 'the secret is not in what the leader sent');

    // A replayed proof on a new connection is refused: the leader's nonce is new each time.
    const replay = await rawPeer(port);
    await replay.request({ type: 'register_channel', channelName: 'FixtureClient', auth: { nonce } });
    const refused = await replay.request({ type: 'register_channel', channelName: 'FixtureClient', auth: { nonce, proof: proof(SECRET, 'follower', 'FixtureClient', leaderNonce, nonce) } });
    assert.equal((serializeJsonCodec.decode(packetData(refused)!) as { error: { code: string } }).error.code, 'ERR_CLUSTER_AUTH_FAILED');
    raw.socket.destroy();
    await replay.closed;
    await close(leader);
  });

  test('what a follower sends never contains the secret', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const server = net.createServer();
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    const received: Buffer[] = [];
    const gotRegister = new Promise<void>(resolve => server.once('connection', socket => socket.on('data', chunk => {
      received.push(chunk);
      resolve();
    })));
    const follower = make({ port, secret: SECRET, isLeader: false, maxWaitTime: 60_000 });
    await gotRegister;
    await close(follower);
    server.close();
    const bytes = Buffer.concat(received);
    assert.ok(bytes.includes('register_channel'), 'the registration was captured');
    assert.equal(bytes.includes(SECRET), false);
  });

  test('secret comes from NODE_CLUSTER_CLIENT_SECRET; an empty or non-string secret is ERR_CLUSTER_INVALID_OPTION', () => {
    const saved = process.env.NODE_CLUSTER_CLIENT_SECRET;
    try {
      process.env.NODE_CLUSTER_CLIENT_SECRET = 'from-env';
      assert.equal(resolveOptions('X', {}).secret, 'from-env');
      assert.equal(resolveOptions('X', { secret: 'explicit' }).secret, 'explicit', 'an explicit option wins');
      delete process.env.NODE_CLUSTER_CLIENT_SECRET;
      assert.equal(resolveOptions('X', {}).secret, undefined, 'off by default');
    } finally {
      if (saved === undefined) delete process.env.NODE_CLUSTER_CLIENT_SECRET;
      else process.env.NODE_CLUSTER_CLIENT_SECRET = saved;
    }
    for (const secret of ['', 42]) {
      assert.throws(() => resolveOptions('X', { secret } as unknown as ClusterOptions), (err: Error & { code?: string; option?: string }) => err.code === 'ERR_CLUSTER_INVALID_OPTION' && err.option === 'secret');
    }
  });
});
