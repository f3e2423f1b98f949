/**
 * Interoperability with the real cluster-client 3.7.0, across real processes on one loopback
 * port, in both directions:
 *   (a) a cluster-share leader serving cluster-client 3.7.0 followers (and one of ours), and
 *   (b) a cluster-client 3.7.0 leader serving cluster-share followers (and one 3.x follower).
 * Plus a raw 3.x-shaped peer (hand-built frames) sending bad input to a cluster-share leader.
 *
 * Members are test/fixtures/member.ts with `impl` set; values cross IPC in a tagged form
 * (fixtures/ipc-values.ts), so a Buffer, Date, undefined or Error that the cluster returns
 * reaches the assertions as exactly what it is.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import serializeJson from 'serialize-json';
import type { ClusterOptions } from '../src/index.js';
import type { ProtocolError } from '../src/errors.js';
import { FrameDecoder } from '../src/protocol/frame-decoder.js';
import { type ConnObj, encodePacket, nextRequestId, type Packet, packetData } from '../src/protocol/packet.js';
import { type Impl, type Member, RemoteError, freePort, killAll, leaderOf, spawnMember } from './helpers/group.js';

const live = new Set<Member>();
after(() => killAll(live));

/** The channel both implementations use: the DataClient's class name. */
const CHANNEL = 'FixtureClient';
/** Subscription key on the wire for `{ key }` (3.x: '$$inner$$__' + json-stringify-safe(reg)). */
const wireKey = (key: string): string => `$$inner$$__${JSON.stringify({ key })}`;

function track(m: Member): Member {
  live.add(m);
  return m;
}

const label = (impl: Impl): string => (impl === 'cluster-client' ? 'cluster-client 3.7.0' : 'cluster-share');

/**
 * Starts the leader first and waits until it is ready, then the followers. With `pin`, roles
 * are forced (isLeader: true / false, both implementations support it); without, the leader
 * simply won the free port first and every member competes again on failover.
 */
async function startGroup(leaderImpl: Impl, followerImpls: Impl[], options: ClusterOptions, pin = true): Promise<{ leader: Member; followers: Member[] }> {
  const leader = track(spawnMember(pin ? { ...options, isLeader: true } : options, undefined, leaderImpl));
  assert.equal(await leader.ready(), true, `the ${label(leaderImpl)} member leads`);
  const followers = followerImpls.map(impl => track(spawnMember(pin ? { ...options, isLeader: false } : options, undefined, impl)));
  const roles = await Promise.all(followers.map(m => m.ready()));
  roles.forEach((isLeader, i) => assert.equal(isLeader, false, `the ${label(followerImpls[i]!)} member #${i} follows`));
  for (const m of [leader, ...followers]) {
    const state = await m.state();
    assert.equal(state.impl, m.impl);
    // Only cluster-share clients have a `state`: a member without one really runs cluster-client 3.x.
    assert.equal(state.state === undefined, m.impl === 'cluster-client', `member ${m.pid} runs ${label(m.impl)}`);
  }
  return { leader, followers };
}

/** Graceful close: followers first, then the leader (no re-election noise). */
async function closeGroup(followers: Member[], leader?: Member): Promise<void> {
  for (const m of followers) {
    await m.close();
    live.delete(m);
  }
  if (leader) {
    await leader.close();
    live.delete(leader);
  }
}

/** `promise`, or a rejection after `ms` (a 3.x call made while it has no leader waits for its ready without a timeout). */
async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const timer = delay(ms, undefined, { ref: false }).then(() => {
    throw new Error(`${what}: no answer in ${ms}ms`);
  });
  return Promise.race([promise, timer]);
}

/**
 * Invokes until the member is served again, up to `deadline`. After a SIGKILL of the leader a
 * call fails while there is no leader: cluster-client 3.x fails it at once (socket closed) or
 * when its re-initialisation fails; cluster-share fails only a call that was in flight.
 */
async function invokeUntilServed(m: Member, deadline: number, method: string, ...args: unknown[]): Promise<{ value: unknown; attempts: number; ms: number }> {
  const started = Date.now();
  const errors: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error(`${label(m.impl)} member ${m.pid} was not served again before the deadline; errors: ${errors.join(' | ')}`);
    try {
      const value = await withTimeout(m.invoke(method, ...args), Math.min(remaining, 10_000), `${method} on ${m.pid}`);
      return { value, attempts: attempt, ms: Date.now() - started };
    } catch (err) {
      errors.push(`${(err as RemoteError).code ?? (err as Error).name}: ${(err as Error).message}`);
      // A back-off between retries of a call that failed at once, so the loop does not spin
      // over IPC while there is no leader; not a synchronisation point.
      await delay(100);
    }
  }
}

/** Every value kind serialize-json keeps, as [description, value]. */
function valueKinds(): Array<[string, unknown]> {
  const big = Array.from({ length: 100 * 1024 }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26))).join('');
  return [
    ['non-ASCII string', 'héllo ✓ 日本 🎉'],
    ['empty string', ''],
    ['string with serialize-json separator characters', 'a|b^c%d+e f$@*#]'],
    ['integer', 42],
    ['zero', 0],
    ['negative integer', -17],
    ['largest safe integer', Number.MAX_SAFE_INTEGER],
    ['float', 3.14159],
    ['negative float', -0.5],
    ['true', true],
    ['false', false],
    ['null', null],
    ['undefined', undefined],
    ['nested object', { a: { b: [1, { c: null }], s: 'héllo' }, n: -1.25, t: true }],
    ['nested array', [1, 'two', [3, [4, [5]]], {}, [], null]],
    ['empty object', {}],
    ['Buffer', Buffer.from([0, 1, 2, 127, 128, 254, 255])],
    ['empty Buffer', Buffer.alloc(0)],
    ['Date', new Date(1700000000123)],
    ['Date before 1970', new Date(-86_400_000)],
    ['object holding a Buffer, a Date and undefined', { bytes: Buffer.from('héllo'), when: new Date(0), nothing: undefined, list: [undefined, null] }],
    ['100 KB string', big],
  ];
}

/** Asserts the type of a special value explicitly, on top of deepEqual. */
function assertSameKind(actual: unknown, expected: unknown, what: string): void {
  if (Buffer.isBuffer(expected)) assert.ok(Buffer.isBuffer(actual), `${what}: a Buffer comes back as a Buffer`);
  if (expected instanceof Date) assert.ok(actual instanceof Date, `${what}: a Date comes back as a Date`);
  if (expected === undefined) assert.equal(actual, undefined, `${what}: undefined comes back as undefined`);
}

interface Direction {
  title: string;
  leader: Impl;
  other: Impl;
}

const DIRECTIONS: Direction[] = [
  { title: '(a) cluster-share leader with cluster-client 3.7.0 followers', leader: 'cluster-share', other: 'cluster-client' },
  { title: '(b) cluster-client 3.7.0 leader with cluster-share followers', leader: 'cluster-client', other: 'cluster-share' },
];

for (const d of DIRECTIONS) {
  describe(d.title, () => {
    test('invoke round-trips every value kind serialize-json keeps, promise and callback style', { timeout: 90_000 }, async () => {
      const port = await freePort();
      const { leader, followers } = await startGroup(d.leader, [d.other, d.leader], { port });
      const [other, same] = followers as [Member, Member];
      for (const m of [other, same]) {
        for (const [kind, value] of valueKinds()) {
          const what = `${kind} from a ${label(m.impl)} follower to a ${label(d.leader)} leader`;
          const viaAsync = await m.invoke('echo', value);
          assert.deepEqual(viaAsync, value, `${what} (async method)`);
          assertSameKind(viaAsync, value, what);
          const viaCallback = await m.invokeCallback('echoCallback', value);
          assert.deepEqual(viaCallback, value, `${what} (callback-style method, called with a callback)`);
          assertSameKind(viaCallback, value, what);
        }
        // Several arguments, and a generator method on the leader.
        assert.deepEqual(await m.invoke('echoPromise', { many: ['a', 1, null] }), { many: ['a', 1, null] });
        assert.deepEqual(await m.invoke('echoGenerator', 'gen ✓'), 'gen ✓');
        // serialize-json keeps an Error value too (as a plain Error with its fields).
        const err = await m.invoke('echo', Object.assign(new Error('an error as a value'), { code: 'E_VALUE' }));
        assert.ok(err instanceof Error, 'an Error value comes back as an Error');
        assert.equal(err.message, 'an error as a value');
        assert.equal((err as Error & { code?: unknown }).code, 'E_VALUE');
        assert.equal(await m.invoke('pid'), leader.pid, 'the call ran in the leader');
      }
      await closeGroup(followers, leader);
    });

    test('DataClient errors cross with name, message, code and the leader\'s stack', { timeout: 60_000 }, async () => {
      const port = await freePort();
      const { leader, followers } = await startGroup(d.leader, [d.other], { port });
      const [other] = followers as [Member];
      await assert.rejects(other.invoke('fail', 'broken ✓ on purpose'), (err: unknown) => {
        assert.ok(err instanceof RemoteError);
        assert.equal(err.remoteName, 'TypeError');
        assert.equal(err.message, 'broken ✓ on purpose');
        assert.equal(err.code, 'E_FIXTURE');
        assert.match(err.remoteStack ?? '', /fail/, 'the stack is the leader\'s DataClient stack');
        return true;
      });
      for (const style of ['promise', 'callback'] as const) {
        const call = style === 'callback' ? other.invokeCallback('failCallback', 'cb broken') : other.invoke('failCallback', 'cb broken');
        await assert.rejects(call, (err: unknown) => {
          assert.ok(err instanceof RemoteError);
          assert.equal(err.remoteName, 'RangeError', `${style} style`);
          assert.equal(err.message, 'cb broken');
          assert.equal(err.code, 'E_FIXTURE_CB');
          return true;
        });
      }
      if (d.leader === 'cluster-share') {
        // A method the DataClient lacks: our leader answers a coded error (a 3.x leader throws
        // inside its socket handler and its process dies, so this is not sent to one).
        await assert.rejects(other.rawInvoke('noSuchMethod', 1), (err: unknown) => {
          assert.ok(err instanceof RemoteError);
          assert.equal(err.code, 'ERR_CLUSTER_METHOD_NOT_FOUND');
          assert.equal(err.remoteName, 'MethodNotFoundError');
          return true;
        });
      }
      assert.equal(await other.invoke('echo', 'still served'), 'still served', 'the connection survives the errors');
      await closeGroup(followers, leader);
    });

    test('a DataClient error with a numeric code reaches the follower with a numeric code', {
      timeout: 60_000,
      // cluster-client 3.7.0 sends err.code as it is (serialize-json keeps numbers); so must we,
      // or a 3.x follower comparing err.code === 404 breaks behind a cluster-share leader.
    }, async () => {
      const port = await freePort();
      const { leader, followers } = await startGroup(d.leader, [d.other], { port });
      const [other] = followers as [Member];
      try {
        await assert.rejects(leader.invoke('failWithCode', 'not found', 404), (err: unknown) => {
          assert.ok(err instanceof RemoteError);
          assert.equal(err.rawCode, 404, 'a call on the leader itself gets the number 404');
          return true;
        });
        await assert.rejects(other.invoke('failWithCode', 'not found', 404), (err: unknown) => {
          assert.ok(err instanceof RemoteError);
          assert.equal(err.message, 'not found');
          assert.equal(err.rawCode, 404, `the ${label(other.impl)} follower gets the number 404`);
          return true;
        });
      } finally {
        await closeGroup(followers, leader);
      }
    });

    test('subscribe, publish and unSubscribe fan out across the mixed group', { timeout: 90_000 }, async () => {
      const port = await freePort();
      const { leader, followers } = await startGroup(d.leader, [d.other, d.other, d.leader], { port });
      const [other1, other2, same] = followers as [Member, Member, Member];
      const sync = (members: Member[]): Promise<unknown[]> => Promise.all(members.filter(m => m !== leader).map(m => m.invoke('echo', 'sync')));

      // Subscribers: the leader itself, a follower of the other implementation, one of the leader's.
      const early = [leader, other1, same];
      for (const m of early) await m.command({ cmd: 'subscribe', key: 'cfg' });
      // A follower's subscribe goes out before its invoke on the same ordered socket: once the
      // invoke is answered, the leader knows the subscription.
      await sync(early);
      const first = { v: 1, s: 'héllo ✓', when: new Date(1700000000123), bytes: Buffer.from([0, 255, 7]), nothing: undefined };
      assert.equal(await other1.invoke('push', 'cfg', first), 1, 'one upstream listener for the key, however many subscribers');
      for (const m of early) {
        const [got] = await m.waitValues('cfg', 1);
        assert.deepEqual(got, first, `the ${label(m.impl)} ${m === leader ? 'leader' : 'follower'} receives the value pushed by the leader's DataClient`);
        assert.ok(Buffer.isBuffer((got as { bytes: unknown }).bytes) && (got as { when: unknown }).when instanceof Date, 'Buffer and Date survive the fan-out');
      }

      await other2.command({ cmd: 'subscribe', key: 'cfg' });
      assert.deepEqual(await other2.waitValues('cfg', 1), [first], 'a late subscriber of the other implementation gets the last value at once');

      await other1.command({ cmd: 'unSubscribe', key: 'cfg' });
      await other1.invoke('echo', 'sync');
      await same.invoke('push', 'cfg', { v: 2 });
      for (const m of [leader, other2, same]) assert.deepEqual((await m.waitValues('cfg', 2)).at(-1), { v: 2 });
      // The leader wrote any value for other1 before the answer to this call on the same socket.
      await other1.invoke('echo', 'sync');
      assert.deepEqual(other1.values('cfg'), [first], 'no delivery after unSubscribe');
      const stats = await other2.invoke('stats') as { upstreamSubscribes: number; published: unknown[] };
      assert.equal(stats.upstreamSubscribes, 1, 'one upstream subscription for the key');

      // A publication from a follower of the other implementation reaches the DataClient, which
      // notifies every subscriber of the key (FixtureClient behaves as a registry).
      const all = [leader, other1, other2, same];
      for (const m of all) await m.command({ cmd: 'subscribe', key: 'svc' });
      await sync(all);
      const reg = { key: 'svc', value: { host: '10.0.0.1', port: 8080, at: new Date(42) } };
      await other1.command({ cmd: 'publish', reg });
      for (const m of all) assert.deepEqual(await m.waitValues('svc', 1), [reg.value], `the ${label(m.impl)} member receives the publication`);
      const leaderStats = await leader.invoke('stats') as { published: unknown[] };
      assert.deepEqual(leaderStats.published, [reg], 'the DataClient saw the publication once, Date included');
      await closeGroup(followers, leader);
    });

    test('heartbeats keep idle connections alive; a follower that does not send them is dropped', { timeout: 60_000 }, async () => {
      // Short enough to see many intervals pass, long enough that a follower on a loaded 2-core
      // machine is not dropped for a late heartbeat (the leader drops after 3 silent intervals).
      const heartbeatInterval = 400;
      // A 3.x leader waits this long for the acknowledgement of each subscription value it
      // pushes, then reports an error: shorter than the idle time below, so a missing
      // acknowledgement shows up in the leader's errors.
      const responseTimeout = 1500;
      const port = await freePort();
      const { leader, followers } = await startGroup(d.leader, [d.other, d.leader], { port, heartbeatInterval, responseTimeout });
      for (const m of followers) await m.command({ cmd: 'subscribe', key: 'hb' });
      await Promise.all(followers.map(m => m.invoke('echo', 'sync')));
      await leader.invoke('push', 'hb', 'before idle');
      for (const m of followers) assert.deepEqual(await m.waitValues('hb', 1), ['before idle']);
      // Negative control: a follower of the other implementation whose heartbeats are far apart.
      // The leader must drop it after 3 silent intervals; this proves the leader checks.
      const control = track(spawnMember({ port, isLeader: false, heartbeatInterval: 60_000 }, undefined, d.other));
      assert.equal(await control.ready(), false);
      assert.equal(await control.invoke('pid'), leader.pid);
      const idleSince = Date.now();
      const dropped = d.other === 'cluster-share' ? /lost its leader/ : /closed, and try to init it again/;
      await control.waitFor(m => m.event === 'log' && dropped.test(String(m.message)));
      // The real event above shows ≥ 3 intervals passed. The idle survival of the others is the
      // thing under test: let them sit idle for 10 intervals in all (a bounded wait, on purpose).
      const idleFor = 10 * heartbeatInterval;
      const left = idleFor - (Date.now() - idleSince);
      if (left > 0) await delay(left);

      for (const m of followers) {
        assert.deepEqual(m.logs(), [], `the ${label(m.impl)} follower never lost its connection (nothing logged)`);
        assert.deepEqual(m.clientErrors(), [], `the ${label(m.impl)} follower reported no error`);
        assert.equal(await m.invoke('pid'), leader.pid, `the ${label(m.impl)} follower is still served by the same leader`);
      }
      assert.deepEqual(leader.clientErrors().filter(e => e.name !== 'ClusterClientNoResponseError'), [],
        'the leader reported nothing about the idle followers (a 3.x leader reports a subscription value nobody acknowledged)');
      // Both implementations report the drop the same way: an 'error' on the leader's client.
      assert.ok(leader.clientErrors().some(e => e.name === 'ClusterClientNoResponseError' && /client no response in \d+ms exceeding maxIdleTime/.test(String(e.message))),
        `the ${label(d.leader)} leader reported the control as unresponsive ('error' event, 3.x's name and message)`);
      await control.kill();
      live.delete(control);
      await closeGroup(followers, leader);
    });

    test('close() of the leader hands over: the survivors elect one leader and are served again', { timeout: 120_000 }, async (t) => {
      const port = await freePort();
      const { leader, followers } = await startGroup(d.leader, [d.other, d.other], { port }, false);
      await leader.close();
      live.delete(leader);
      const served = await Promise.all(followers.map(m => invokeUntilServed(m, Date.now() + 30_000, 'pid')));
      for (const [i, m] of followers.entries()) t.diagnostic(`${label(m.impl)} follower ${m.pid}: served again after ${served[i]!.ms}ms, ${served[i]!.attempts} attempt(s)`);
      assert.equal(new Set(served.map(s => s.value)).size, 1, 'every survivor is served by the same new leader');
      const newLeaders = await leaderOf(followers);
      assert.equal(newLeaders.length, 1, 'exactly one survivor reports isLeader');
      assert.equal(newLeaders[0]!.pid, served[0]!.value);
      await closeGroup(followers.filter(m => m !== newLeaders[0]), newLeaders[0]);
    });

    test('SIGKILL of the leader: the survivors elect one leader and are served again, with subscriptions and publications replayed', { timeout: 120_000 }, async (t) => {
      const port = await freePort();
      // Roles are not pinned: every survivor competes for the port after the kill.
      const { leader, followers } = await startGroup(d.leader, [d.other, d.other, d.leader], { port, responseTimeout: 5000 }, false);
      for (const m of followers) await m.command({ cmd: 'subscribe', key: 'cfg' });
      const publication = { service: 'replayed', from: d.other };
      await followers[0]!.command({ cmd: 'publish', reg: publication });
      await Promise.all(followers.map(m => m.invoke('echo', 'sync')));

      await leader.kill('SIGKILL');
      live.delete(leader);
      const killedAt = Date.now();

      // cluster-client 3.x members retry with fixed 3 s pauses in places: allow 30 s.
      const deadline = killedAt + 30_000;
      const served = await Promise.all(followers.map(m => invokeUntilServed(m, deadline, 'pid')));
      for (const [i, m] of followers.entries()) {
        t.diagnostic(`${label(m.impl)} follower ${m.pid}: served again ${served[i]!.ms}ms after the kill, ${served[i]!.attempts} attempt(s)`);
      }
      const pids = new Set(served.map(s => s.value));
      assert.equal(pids.size, 1, 'every survivor is served by the same new leader');
      const [newLeaderPid] = pids;
      assert.notEqual(newLeaderPid, leader.pid);
      const newLeaders = await leaderOf(followers);
      assert.equal(newLeaders.length, 1, 'exactly one survivor reports isLeader');
      const newLeader = newLeaders[0]!;
      assert.equal(newLeader.pid, newLeaderPid);
      t.diagnostic(`new leader: ${label(newLeader.impl)} ${newLeader.pid}`);

      const stats = await newLeader.invoke('stats') as { published: unknown[] };
      assert.deepEqual(stats.published, [publication], 'the publication was replayed to the new leader once');
      // Every survivor replays its subscription before its first call to the new leader.
      await Promise.all(followers.map(m => m.invoke('echo', 'sync')));
      await followers[1]!.invoke('push', 'cfg', { after: 'failover', at: new Date(7) });
      for (const m of followers) {
        assert.deepEqual(await m.waitValues('cfg', 1), [{ after: 'failover', at: new Date(7) }], `the ${label(m.impl)} survivor's subscription was replayed`);
      }
      await closeGroup(followers.filter(m => m !== newLeader), newLeader);
    });
  });
}

/** A hand-driven peer that speaks the 3.x wire protocol (serialize-json, no codec negotiation). */
class RawPeer {
  readonly socket: net.Socket;
  readonly requests: Packet[] = [];
  readonly frameErrors: ProtocolError[] = [];
  readonly #waiters = new Map<number, (packet: Packet) => void>();
  readonly #requestWaiters: Array<{ match: (p: Packet) => boolean; resolve: (p: Packet) => void }> = [];
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    const decoder = new FrameDecoder({
      onPacket: packet => {
        if (packet.isResponse) {
          this.#waiters.get(packet.id)?.(packet);
          this.#waiters.delete(packet.id);
          return;
        }
        this.requests.push(packet);
        for (const [i, w] of this.#requestWaiters.entries()) {
          if (w.match(packet)) {
            this.#requestWaiters.splice(i, 1);
            w.resolve(packet);
            break;
          }
        }
      },
      onFrameError: err => {
        this.frameErrors.push(err);
      },
    });
    socket.on('data', chunk => decoder.push(chunk as Buffer));
    this.closed = once(socket, 'close').then(() => undefined);
  }

  static async connect(port: number): Promise<RawPeer> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return new RawPeer(socket);
  }

  /** Sends a request and resolves with the response of the same id. */
  request(connObj: ConnObj, data?: Buffer | Buffer[], timeout = 5000): Promise<Packet> {
    const id = nextRequestId();
    const answered = new Promise<Packet>(resolve => this.#waiters.set(id, resolve));
    this.socket.write(encodePacket(id, false, timeout, connObj, data));
    return withTimeout(answered, timeout, `raw ${connObj.type}`);
  }

  /** Sends a request that gets no answer. */
  send(connObj: ConnObj, data?: Buffer | Buffer[]): void {
    this.socket.write(encodePacket(nextRequestId(), false, 5000, connObj, data));
  }

  /** The first request from the leader (received or future) matching `match`. */
  nextRequest(match: (p: Packet) => boolean): Promise<Packet> {
    const found = this.requests.find(match);
    if (found) return Promise.resolve(found);
    return withTimeout(new Promise(resolve => this.#requestWaiters.push({ match, resolve })), 10_000, 'a request from the leader');
  }
}

/** invoke argument bytes as 3.x writes them: [int32 length][serialize-json bytes] per argument. */
function invokeArgs(...encoded: Buffer[]): Buffer[] {
  return encoded.flatMap(bytes => {
    const len = Buffer.alloc(4);
    len.writeInt32BE(bytes.length, 0);
    return [len, bytes];
  });
}

function decodeData(packet: Packet): unknown {
  const data = packetData(packet);
  assert.ok(data, `${packet.connObj.type} carries data`);
  return serializeJson.decode(data);
}

describe('bad input from a 3.x-shaped peer to a cluster-share leader', () => {
  test('an unknown connObj type and undecodable invoke arguments: coded errors, the connection and a real follower keep working', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const { leader, followers } = await startGroup('cluster-share', ['cluster-client', 'cluster-share'], { port });
    const [real3x, ours] = followers as [Member, Member];
    for (const m of followers) await m.command({ cmd: 'subscribe', key: 'cfg' });
    await Promise.all(followers.map(m => m.invoke('echo', 'sync')));

    const peer = await RawPeer.connect(port);
    const registered = await peer.request({ type: 'register_channel', channelName: CHANNEL });
    assert.equal(registered.isResponse, true);
    assert.equal(registered.connObj.type, 'register_channel_res');
    assert.deepEqual(decodeData(registered), { success: true }, 'a peer that negotiates nothing gets a serialize-json answer');
    peer.send({ type: 'subscribe', key: wireKey('cfg'), reg: { key: 'cfg' } });

    // (i) a connObj type the leader does not know: ignored and logged, no answer.
    peer.send({ type: 'no_such_type', detail: 'from a raw peer' });
    await leader.waitFor(m => m.event === 'log' && /no_such_type/.test(String(m.message)));

    // (ii) an invoke whose argument bytes serialize-json cannot decode.
    const undecodable = await peer.request({ type: 'invoke', method: 'echo', argLength: 1, oneway: false }, invokeArgs(Buffer.from('not serialize-json')));
    assert.equal(undecodable.connObj.type, 'invoke_result');
    assert.equal(undecodable.connObj.success, false);
    const decodeError = decodeData(undecodable) as { name?: unknown; message?: unknown; code?: unknown };
    assert.equal(typeof decodeError.code, 'string', 'the error carries a code');
    // The leader's answer for bytes that do not decode is ERR_CLUSTER_DECODE.
    assert.equal(decodeError.code, 'ERR_CLUSTER_DECODE');
    assert.equal(typeof decodeError.message, 'string');

    // (iii) an invoke that declares more arguments than its data holds.
    const truncated = await peer.request({ type: 'invoke', method: 'echo', argLength: 2, oneway: false }, invokeArgs(serializeJson.encode('only one')));
    assert.equal(truncated.connObj.success, false);
    assert.match(String((decodeData(truncated) as { code?: unknown }).code), /^ERR_CLUSTER_/);

    // The same connection still gets correct answers.
    const value = { still: 'here ✓', when: new Date(1700000000123), bytes: Buffer.from([1, 2, 3]), nothing: undefined };
    const echoed = await peer.request({ type: 'invoke', method: 'echo', argLength: 1, oneway: false }, invokeArgs(serializeJson.encode(value)));
    assert.equal(echoed.connObj.type, 'invoke_result');
    assert.equal(echoed.connObj.success, true);
    assert.deepEqual(decodeData(echoed), value);
    const heartbeat = await peer.request({ type: 'heartbeat' });
    assert.equal(heartbeat.isResponse, true);
    assert.equal(heartbeat.connObj.type, 'heartbeat_res');
    assert.equal(peer.frameErrors.length, 0, 'the leader sent only well-formed frames');

    // A value pushed now reaches the raw peer (serialize-json) and both real followers, whatever codec each speaks.
    const pushed = { after: 'bad input', bytes: Buffer.from('✓'), when: new Date(5) };
    assert.equal(await real3x.invoke('push', 'cfg', pushed), 1);
    const delivered = await peer.nextRequest(p => p.connObj.type === 'subscribe_result');
    assert.equal(delivered.connObj.key, wireKey('cfg'));
    assert.deepEqual(decodeData(delivered), pushed, 'the raw peer got the value in serialize-json');
    for (const m of followers) {
      assert.deepEqual(await m.waitValues('cfg', 1), [pushed], `the ${label(m.impl)} follower still receives values`);
      assert.equal(await m.invoke('pid'), leader.pid, `the ${label(m.impl)} follower is still served`);
      assert.deepEqual(m.logs(), [], `the ${label(m.impl)} follower never lost its connection`);
    }
    assert.equal(peer.socket.destroyed, false, 'the raw connection is still open');
    peer.socket.destroy();
    await peer.closed;
    await closeGroup([real3x, ours], leader);
  });
});
