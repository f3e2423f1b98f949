/**
 * Leader and followers inside this test process (they still talk over real loopback sockets:
 * a second client of the same name in one process is a follower of the first).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
import cluster, { APIClientBase, close, type ClusterOptions } from '../src/index.js';
import { encodePacket, nextRequestId } from '../src/protocol/packet.js';
import { serializeJsonCodec } from '../src/protocol/codec.js';
import { FixtureClient } from './fixtures/data-client.js';
import { freePort } from './helpers/group.js';

const quiet = { info() {}, warn() {}, error() {} };

function make(options: ClusterOptions) {
  return cluster(FixtureClient, { logger: quiet, ...options }).delegate('echoCallback').create({});
}

describe('in one process', () => {
  test('a registration for a channel the leader creates later is held, then answered', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const other = cluster(FixtureClient, { port, name: 'other', logger: quiet }).create({});
    await other.ready();
    assert.equal(other.isClusterClientLeader, true);
    // Register "lazy", which this process has not created yet, and wait until the leader has it.
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const id = nextRequestId();
    socket.write(encodePacket(id, false, 20_000, { type: 'register_channel', channelName: 'lazy' }));
    const answered = once(socket, 'data') as Promise<[Buffer]>;
    // A round trip on another connection to the same server: the registration above was read first.
    const probe = make({ port, name: 'other' });
    await probe.ready();
    assert.equal(probe.isClusterClientLeader, false);
    const lazy = cluster(FixtureClient, { port, name: 'lazy', logger: quiet }).create({});
    await lazy.ready();
    const [answer] = await answered;
    const connLength = answer.readInt32BE(16);
    assert.equal(answer.readUInt32BE(8), id);
    assert.deepEqual(JSON.parse(answer.toString('utf8', 24, 24 + connLength)), { type: 'register_channel_res' }, 'a 3.x-shaped registration gets exactly what a 3.x leader sends');
    assert.deepEqual(serializeJsonCodec.decode(answer.subarray(24 + connLength)), { success: true });
    socket.destroy();
    await close(probe);
    await close(lazy);
    await close(other);
  });

  test('calls made before any leader exists wait and go to the leader once it appears', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const follower = make({ port, isLeader: false, responseTimeout: 20_000 });
    const early = (follower as unknown as { echo(v: unknown): Promise<unknown> }).echo('queued');
    const leader = make({ port, isLeader: true });
    await leader.ready();
    assert.equal(await early, 'queued');
    assert.equal(follower.isClusterClientLeader, false);
    await close(follower);
    await close(leader);
  });

  test('a call with no leader fails after responseTimeout with ERR_CLUSTER_RESPONSE_TIMEOUT', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const follower = make({ port, isLeader: false, maxWaitTime: 60_000, responseTimeout: 100 });
    await assert.rejects(follower.echo('nobody'), (err: Error & { code?: string }) => err.code === 'ERR_CLUSTER_RESPONSE_TIMEOUT');
    await close(follower);
  });

  test('a method the DataClient lacks is answered with ERR_CLUSTER_METHOD_NOT_FOUND; the leader keeps serving', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = make({ port });
    await leader.ready();
    const follower = make({ port });
    await follower.ready();
    assert.equal(follower.isClusterClientLeader, false);
    const invoke = (follower as unknown as Record<symbol, (m: string, a: unknown[], cb: (e: unknown, r?: unknown) => void) => void>)[Symbol.for('ClusterClient#invoke')]!;
    const err = await new Promise<unknown>(resolve => invoke.call(follower, 'noSuchMethod', [], e => resolve(e))) as Error & { code?: string };
    assert.equal(err.code, 'ERR_CLUSTER_METHOD_NOT_FOUND');
    assert.equal(await follower.echo('still fine'), 'still fine');
    await close(follower);
    await close(leader);
  });

  test('methods every object or emitter has, and the delegated close, cannot be invoked by a peer', { timeout: 30_000 }, async () => {
    const port = await freePort();
    let dataClient: FixtureClient | undefined;
    class Spied extends FixtureClient {
      constructor(options: object) {
        super(options);
        dataClient = this;
      }
    }
    const leader = cluster(Spied, { port, logger: quiet, name: 'Spied' }).create({});
    await leader.ready();
    const follower = cluster(Spied, { port, logger: quiet, name: 'Spied' }).create({});
    await follower.ready();
    assert.equal(follower.isClusterClientLeader, false);
    const invoke = (follower as unknown as Record<symbol, (m: string, a: unknown[], cb: (e: unknown, r?: unknown) => void) => void>)[Symbol.for('ClusterClient#invoke')]!;
    const call = (method: string, args: unknown[]) => new Promise<{ err: (Error & { code?: string }) | undefined; result: unknown }>(resolve => {
      invoke.call(follower, method, args, (err, result) => resolve({ err: err as (Error & { code?: string }) | undefined, result }));
    });
    let forged = 0;
    dataClient!.on('published', () => forged++);
    for (const [method, args] of [['emit', ['published', 'forged']], ['hasOwnProperty', ['x']], ['close', []], ['constructor', []], ['on', ['x']]] as [string, unknown[]][]) {
      const { err } = await call(method, args);
      assert.equal(err?.code, 'ERR_CLUSTER_METHOD_NOT_FOUND', method);
      assert.match(err!.message, /cannot be invoked/, method);
    }
    assert.equal(forged, 0, 'no event was forged on the leader');
    assert.equal(dataClient!.closed, false, 'the shared DataClient was not closed by a peer');
    assert.equal((await call('echo', ['still fine'])).result, 'still fine');
    await close(follower);
    await close(leader);
  });

  test('DataClient events are re-emitted on the leader\'s client', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = make({ port });
    await leader.ready();
    const published = once(leader, 'published');
    leader.publish({ service: 'x' });
    assert.deepEqual(await published, [{ service: 'x' }]);
    await close(leader);
  });

  test('subscribeTimeout: no value in time emits ERR_CLUSTER_SUBSCRIBE_TIMEOUT on the client', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = make({ port, subscribeTimeout: 50 });
    await leader.ready();
    const error = once(leader, 'error');
    leader.subscribe({ key: 'silent' }, () => undefined);
    const [err] = await error as [Error & { code?: string }];
    assert.equal(err.code, 'ERR_CLUSTER_SUBSCRIBE_TIMEOUT');
    await close(leader);
  });

  test('the leader drops a follower silent for 3 heartbeat intervals', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = make({ port, heartbeatInterval: 50 });
    await leader.ready();
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const id = nextRequestId();
    socket.write(encodePacket(id, false, 1000, { type: 'register_channel', channelName: 'FixtureClient' }));
    await once(socket, 'data');
    // Then nothing: the leader must close this connection by itself.
    const started = Date.now();
    await once(socket, 'close');
    assert.ok(Date.now() - started >= 100, 'not dropped before 3 intervals of silence');
    await close(leader);
  });

  test('an unknown packet type from a follower is ignored; the connection keeps working', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = make({ port });
    await leader.ready();
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(encodePacket(nextRequestId(), false, 1000, { type: 'register_channel', channelName: 'FixtureClient' }));
    await once(socket, 'data');
    socket.write(encodePacket(nextRequestId(), false, 1000, { type: 'something_new' }));
    const hb = nextRequestId();
    socket.write(encodePacket(hb, false, 1000, { type: 'heartbeat' }));
    const [answer] = await once(socket, 'data') as [Buffer];
    assert.equal(answer.readUInt32BE(8), hb, 'the heartbeat after the unknown packet is answered');
    assert.match(answer.toString(), /heartbeat_res/);
    socket.destroy();
    await close(leader);
  });

  test('close() while waiting for a silent leader\'s registration answer ends the wait and the connection at once', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const server = net.createServer();
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const follower = make({ port, isLeader: false, maxWaitTime: 60_000 });
    const ready = follower.ready();
    const [socket] = await accepted;
    await once(socket, 'data'); // its register_channel, which is never answered
    const started = Date.now();
    await close(follower);
    await assert.rejects(ready, (err: Error & { code?: string }) => err.code === 'ERR_CLUSTER_CLIENT_CLOSED');
    await once(socket, 'close');
    assert.ok(Date.now() - started < 30_000, 'did not wait for the 60 s registration timeout');
    server.close();
  });

  test('close() releases the port: it can be listened on again', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = make({ port });
    await leader.ready();
    await close(leader);
    const server = net.createServer().listen(port, '127.0.0.1');
    await once(server, 'listening');
    server.close();
    assert.equal(leader.state, 'closed');
    // A call after close goes to the (closed) DataClient, as in 3.x: it decides what to answer.
    assert.equal(await leader.echo('late'), 'late');
  });
});

describe('APIClientBase', () => {
  const port = freePort();

  class FixtureAPI extends APIClientBase {
    override get DataClient() {
      return FixtureClient;
    }
    override get delegates() {
      return { echoCallback: 'invoke' } as const;
    }
    override get clusterOptions(): ClusterOptions {
      return { name: 'fixture-api', logger: quiet, port: this.port };
    }
    get port(): number {
      return (this.constructor as typeof FixtureAPI).port;
    }
    static port = 0;
    async echoTwice(value: string): Promise<string> {
      const client = this._client as unknown as { echo(v: string): Promise<string>; echoCallback(v: string): Promise<string> };
      return (await client.echo(value)) + (await client.echoCallback(value));
    }
  }

  test('wraps the clustered DataClient; a second instance follows the first over the socket', { timeout: 30_000 }, async () => {
    FixtureAPI.port = await port;
    const a = new FixtureAPI();
    await a.ready();
    const b = new FixtureAPI();
    await b.ready();
    assert.equal(a.isClusterClientLeader, true);
    assert.equal(b.isClusterClientLeader, false);
    assert.equal(await b.echoTwice('x'), 'xx');
    await b.close();
    await a.close();
  });

  test('initMethod defers ready until the subclass init finishes', { timeout: 30_000 }, async () => {
    FixtureAPI.port = await freePort();
    const order: string[] = [];
    class WithInit extends FixtureAPI {
      async init(): Promise<void> {
        await this._client.ready();
        order.push('init');
      }
    }
    const api = new WithInit({ initMethod: 'init' });
    await api.ready();
    order.push('ready');
    assert.deepEqual(order, ['init', 'ready']);
    await api.close();
  });

  test('a subclass without DataClient fails with a coded error', () => {
    class Broken extends APIClientBase {}
    assert.throws(() => new Broken(), (err: Error & { code?: string }) => err.code === 'ERR_CLUSTER_INVALID_OPTION');
  });
});

test('a follower of a channel the leader never creates gets ERR_CLUSTER_CHANNEL_NOT_FOUND', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const leader = cluster(FixtureClient, { port, name: 'present', logger: quiet }).create({});
  await leader.ready();
  const orphan = cluster(FixtureClient, { port, name: 'absent', isLeader: false, maxWaitTime: 200, logger: quiet }).create({});
  await assert.rejects(orphan.ready(), (err: Error & { code?: string }) => err.code === 'ERR_CLUSTER_CHANNEL_NOT_FOUND');
  await close(orphan);
  await close(leader);
});
