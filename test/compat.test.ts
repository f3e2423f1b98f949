/**
 * The behaviours that follow cluster-client 3.x (and sdk-base 4, its base), each observed the way
 * a 3.x user's code observes it, in this process and in member processes on real sockets:
 *
 * 1. Clients of one process created in one tick share one listen: each gets its role at once.
 * 2. APIClientBase keeps its options on `this.options` (zookeeper-cluster-client names its channel from them).
 * 3. A call after close: a leader hands it to its (closed) DataClient; a follower fails it, never silently.
 * 4. The leader's client emits 'error' for failed follower calls and for a follower dropped for silence.
 * 5. Subscription listeners are called on a later tick, never inside the DataClient's push.
 * 6. Base: await / awaitFirst / ready(err) / initMethod / generator listeners as sdk-base 4.
 * 7. Start failures: followers fail at once with the DataClient's message; the start is retried.
 * 8. 3.x's message wordings that users' tests match.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import cluster, { APIClientBase, Base, close, closeAll, type ClusterOptions, stats } from '../src/index.js';
import { FixtureClient } from './fixtures/data-client.js';
import { LabelledClient } from './fixtures/compat-clients.js';
import type { CompatClientSpec, CompatCommand, CompatState } from './fixtures/compat-member.js';
import { freeSocketPath } from './helpers/endpoint.js';
import { freePort, IpcChild, RemoteError } from './helpers/group.js';
import { within } from './helpers/within.js';

const quiet = { info() {}, warn() {}, error() {} };

// ---------------------------------------------------------------------------------------------
// Member processes running test/fixtures/compat-member.ts (several clients each, created in one tick)

const COMPAT_MEMBER = fileURLToPath(new URL('./fixtures/compat-member.js', import.meta.url));

type Body = CompatCommand extends infer C ? (C extends CompatCommand ? Omit<C, 'id'> : never) : never;

class Proc extends IpcChild {
  constructor(clients: CompatClientSpec[]) {
    super(fork(COMPAT_MEMBER, [JSON.stringify({ clients })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  }

  async command(body: Body): Promise<unknown> {
    return (await this.request(body)).value;
  }

  invoke(index: number, method: string, ...args: unknown[]): Promise<unknown> {
    return this.command({ cmd: 'invoke', index, method, args });
  }

  /** Resolves with isClusterClientLeader once client `index` is ready; rejects (RemoteError) with its ready error. */
  async ready(index: number): Promise<boolean> {
    const m = await this.waitFor(x => (x.event === 'ready' || x.event === 'ready-error') && x.index === index);
    if (m.event === 'ready-error') throw new RemoteError(m.error!);
    return m.isLeader as boolean;
  }

  state(index: number): Promise<CompatState> {
    return this.command({ cmd: 'state', index }) as Promise<CompatState>;
  }
}

const procs = new Set<Proc>();
// A test that fails half-way leaves its clients open; they must not keep this file's process alive.
after(() => closeAll());
after(async () => {
  await Promise.all([...procs].map(p => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return undefined;
    p.child.kill('SIGKILL');
    return p.exited;
  }));
});

function spawnProc(clients: CompatClientSpec[]): Proc {
  const p = new Proc(clients);
  procs.add(p);
  return p;
}

async function closeProc(p: Proc): Promise<void> {
  await p.close();
  procs.delete(p);
}

// ---------------------------------------------------------------------------------------------
// In-process helpers

type ClientLike = EventEmitter & { ready(): Promise<void>; readonly isClusterClientLeader: boolean; readonly state: string };

/** Every emission of `event` on `emitter`, and a way to wait for the first one matching. */
function record<T = unknown>(emitter: EventEmitter, event: string): { list: T[]; next(match: (value: T) => boolean, what: string, ms?: number): Promise<T> } {
  const list: T[] = [];
  let waiters: Array<{ match: (value: T) => boolean; resolve: (value: T) => void }> = [];
  emitter.on(event, (value: T) => {
    list.push(value);
    waiters = waiters.filter(w => {
      if (!w.match(value)) return true;
      w.resolve(value);
      return false;
    });
  });
  return {
    list,
    next(match, what, ms = 10_000) {
      const found = list.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return within(new Promise<T>(resolve => waiters.push({ match, resolve })), ms, () => what);
    },
  };
}

/** Closes followers first, then leaders: no re-election on the way. */
async function closeClients(clients: ClientLike[]): Promise<void> {
  await Promise.all(clients.filter(c => !c.isClusterClientLeader).map(c => close(c)));
  await Promise.all(clients.filter(c => c.isClusterClientLeader).map(c => close(c)));
}

/** A turn of the event loop: every nextTick, microtask and immediate queued before it has run. */
const turn = (): Promise<void> => new Promise(resolve => setImmediate(resolve));

type Code = { code?: unknown };

// ---------------------------------------------------------------------------------------------
// 1. One tick, one process

type At = { port: number } | { path: string };

interface Planned {
  name: string;
  isLeader: boolean | null | undefined;
  expect: 'leader' | 'follower';
}

/**
 * Ten channel names on one endpoint, created in ONE synchronous pass: for each name, a client that
 * may lead (isLeader true, unset or null, in turn), some of them preceded by an isLeader:false
 * client of the same name, some followed by a second client of the same name that may lead too
 * (it must follow the first through its own process) or by an isLeader:false one.
 */
function tenChannelPlan(prefix: string): Planned[] {
  const plan: Planned[] = [];
  for (let i = 0; i < 10; i++) {
    const name = `${prefix}${i}`;
    if (i % 2 === 0) plan.push({ name, isLeader: false, expect: 'follower' });
    plan.push({ name, isLeader: [true, undefined, null][i % 3], expect: 'leader' });
    if (i % 3 === 1) plan.push({ name, isLeader: undefined, expect: 'follower' });
    if (i % 3 === 2) plan.push({ name, isLeader: false, expect: 'follower' });
  }
  return plan;
}

/** Creates the plan's clients in one tick; asserts that all are ready at once, in the planned role, served by the right DataClient. */
async function createInOneTick(at: At, plan: Planned[], labelOf: (name: string) => string = name => name) {
  const constructedBefore = LabelledClient.constructed.length;
  // Long waits: a client that lost the port to its own process would wait for them; we do not.
  const options = (p: Planned): ClusterOptions => ({ ...at, name: p.name, isLeader: p.isLeader, logger: quiet, maxWaitTime: 30_000, connectTimeout: 30_000 });
  const clients = plan.map(p => cluster(LabelledClient, options(p)).create({ label: labelOf(p.name) }));
  const outcomes = await within(Promise.allSettled(clients.map(c => c.ready())), 5_000,
    () => `${plan.length} clients created in one tick: every ready() settles at once`);
  const failures = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [`${plan[i]!.name} (isLeader ${plan[i]!.isLeader}): ${(o.reason as Code).code} ${(o.reason as Error).message}`] : []));
  assert.deepEqual(failures, [], 'no client failed (no ERR_CLUSTER_PORT_IN_USE, no lost port)');
  clients.forEach((c, i) => {
    const p = plan[i]!;
    assert.equal(c.isClusterClientLeader, p.expect === 'leader', `${p.name} #${i} (isLeader ${p.isLeader}) is a ${p.expect}`);
    assert.equal(c.state, p.expect === 'leader' ? 'leading' : 'following');
    const s = stats(c);
    assert.equal(s.leaderPid, process.pid, `${p.name} #${i}: led in this process`);
  });
  // One DataClient per channel, made by the client that leads it.
  assert.deepEqual(LabelledClient.constructed.slice(constructedBefore).sort(), [...new Set(plan.map(p => labelOf(p.name)))].sort(), 'one DataClient per channel name');
  // Every client reaches its own channel's DataClient (followers over the socket).
  const answers = await Promise.all(clients.map(c => c.whoami()));
  assert.deepEqual(answers, plan.map(p => labelOf(p.name)), 'each client is served by the DataClient of its own channel');
  return clients;
}

/** A member process creates clients of the same names in one tick (may lead or isLeader:false): they all follow this process. */
async function otherProcessFollows(at: At, names: string[]): Promise<void> {
  const specs: CompatClientSpec[] = names.map((name, i) => ({
    kind: 'labelled',
    options: { ...at, name, isLeader: i % 2 === 0 ? undefined : false, maxWaitTime: 30_000, connectTimeout: 30_000 },
    args: { label: `other process: ${name}` },
  }));
  const p = spawnProc(specs);
  const roles = await within(Promise.all(names.map((_, i) => p.ready(i))), 15_000, () => 'the other process\'s clients are ready');
  assert.deepEqual(roles, names.map(() => false), 'every client of the other process follows');
  const answers = await Promise.all(names.map((_, i) => p.invoke(i, 'whoami')));
  assert.deepEqual(answers, names, 'served by this process\'s DataClients, channel by channel');
  assert.deepEqual(await Promise.all(names.map((_, i) => p.invoke(i, 'pid'))), names.map(() => process.pid));
  await closeProc(p);
}

describe('1. clients created in one tick in one process share one listen', () => {
  test('10 names with isLeader true/unset/null/false, on one port: each channel is led at once, the same name twice follows the first, isLeader:false follows; then another process follows them all', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const plan = tenChannelPlan('tcp-svc');
    const clients = await createInOneTick({ port }, plan);
    await otherProcessFollows({ port }, [...new Set(plan.map(p => p.name))]);
    await closeClients(clients);
  });

  test('two ports in one tick: the same names lead on each port, each follower follows its own port\'s leader', { timeout: 60_000 }, async () => {
    const portA = await freePort();
    let portB = await freePort();
    while (portB === portA) portB = await freePort();
    const plan: Array<Planned & { port: number }> = [];
    for (const name of ['alpha', 'beta', 'gamma']) {
      for (const port of [portA, portB]) {
        plan.push({ name, port, isLeader: false, expect: 'follower' });
        plan.push({ name, port, isLeader: name === 'alpha' ? true : undefined, expect: 'leader' });
        plan.push({ name, port, isLeader: undefined, expect: 'follower' });
      }
    }
    const constructedBefore = LabelledClient.constructed.length;
    const clients = plan.map(p => cluster(LabelledClient, { port: p.port, name: p.name, isLeader: p.isLeader, logger: quiet, maxWaitTime: 30_000, connectTimeout: 30_000 })
      .create({ label: `${p.name}@${p.port}` }));
    const outcomes = await within(Promise.allSettled(clients.map(c => c.ready())), 5_000, () => 'every ready() settles at once');
    assert.deepEqual(outcomes.flatMap((o, i) => (o.status === 'rejected' ? [`${plan[i]!.name}@${plan[i]!.port}: ${(o.reason as Error).message}`] : [])), []);
    clients.forEach((c, i) => {
      const p = plan[i]!;
      assert.equal(c.isClusterClientLeader, p.expect === 'leader', `${p.name}@${p.port} #${i} is a ${p.expect}`);
      assert.equal(stats(c).endpoint, `port ${p.port}`);
    });
    assert.equal(LabelledClient.constructed.length - constructedBefore, 6, 'one DataClient per name per port');
    assert.deepEqual(await Promise.all(clients.map(c => c.whoami())), plan.map(p => `${p.name}@${p.port}`), 'each client is served on its own port');
    await closeClients(clients);
  });

  test('the unix socket transport: the same 10-name mix on one path, then another process follows', { skip: process.platform === 'win32' ? 'unix sockets' : false, timeout: 60_000 }, async () => {
    const at = { path: freeSocketPath() };
    const plan = tenChannelPlan('unix-svc');
    const clients = await createInOneTick(at, plan);
    await otherProcessFollows(at, [...new Set(plan.map(p => p.name))]);
    await closeClients(clients);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. APIClientBase options

describe('2. APIClientBase keeps its options', () => {
  test('this.options is the object given (also in the clusterOptions getter); a channel named from options.connectionString: 2 connection strings make 2 DataClients, a third client with the first\'s options shares the first\'s', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const made: ZkDataClient[] = [];
    class ZkDataClient extends EventEmitter {
      readonly options: { connectionString: string };
      constructor(options: { connectionString: string }) {
        super();
        this.options = options;
        made.push(this);
      }

      ready(callback: () => void): void {
        setImmediate(callback);
      }

      async instance(): Promise<number> {
        return made.indexOf(this);
      }

      async close(): Promise<void> {}
    }
    const inGetter: unknown[] = [];
    class ZookeeperClient extends APIClientBase {
      override get DataClient() {
        return ZkDataClient;
      }

      override get clusterOptions(): ClusterOptions {
        // Runs inside APIClientBase's constructor: this.options must already be set.
        inGetter.push(this.options);
        return { name: `ZookeeperClient@${String(this.options.connectionString)}`, port: this.options.port as number, logger: quiet };
      }

      instance(): Promise<number> {
        return (this._client as unknown as { instance(): Promise<number> }).instance();
      }
    }
    const optionsA = { connectionString: 'zk-a:2181', port };
    const optionsB = { connectionString: 'zk-b:2181', port };
    const a = new ZookeeperClient(optionsA);
    const b = new ZookeeperClient(optionsB);
    assert.equal(a.options, optionsA, 'this.options is the object given to the constructor');
    assert.equal(b.options, optionsB);
    assert.equal(inGetter[0], optionsA, 'clusterOptions saw this.options === the options given');
    assert.equal(inGetter[1], optionsB);
    await within(Promise.all([a.ready(), b.ready()]), 10_000, () => 'both API clients ready');
    assert.equal(made.length, 2, 'two connection strings: two DataClients');
    assert.equal(a.isClusterClientLeader, true);
    assert.equal(b.isClusterClientLeader, true, 'a channel of its own: it leads it');
    assert.equal(made[0]!.options, optionsA, 'the options object reaches the DataClient constructor');
    assert.equal(made[1]!.options, optionsB);

    const optionsC = { ...optionsA };
    const c = new ZookeeperClient(optionsC);
    assert.equal(c.options, optionsC);
    await within(c.ready(), 10_000, () => 'the third API client ready');
    assert.equal(made.length, 2, 'the third (same connection string) constructs no DataClient');
    assert.equal(c.isClusterClientLeader, false, 'it follows the first');
    assert.equal(await c.instance(), 0, 'served by the first\'s DataClient');
    assert.equal(await b.instance(), 1);
    await c.close();
    await Promise.all([a.close(), b.close()]);
  });
});

// ---------------------------------------------------------------------------------------------
// 3. A call after close

describe('3. a call after close', () => {
  for (const mode of ['leader', 'single mode'] as const) {
    test(`${mode}: the call goes to the closed DataClient, which answers it or reports itself (its 'error' event reaches the closed client)`, { timeout: 30_000 }, async () => {
      let dataClient: ZkLike | undefined;
      class ZkLike extends EventEmitter {
        closed = false;
        readonly emitted: Error[] = [];
        constructor() {
          super();
          dataClient = this;
        }

        ready(callback: () => void): void {
          setImmediate(callback);
        }

        async echo(value: unknown): Promise<unknown> {
          return value;
        }

        /** As zookeeper-cluster-client: after close it emits an 'error' instead of answering. */
        async getData(p: string): Promise<string | null> {
          if (this.closed) {
            const err = Object.assign(new Error(`getData(${p}): after client closed`), { code: 'E_AFTER_CLOSE' });
            this.emitted.push(err);
            this.emit('error', err);
            return null;
          }
          return `data of ${p}`;
        }

        async mustBeOpen(): Promise<string> {
          if (this.closed) throw Object.assign(new Error('the DataClient is closed'), { code: 'E_CLOSED' });
          return 'open';
        }

        async close(): Promise<void> {
          this.closed = true;
        }
      }
      const options: ClusterOptions = mode === 'leader' ? { port: await freePort(), logger: quiet } : { singleMode: true, name: 'after-close-single', logger: quiet };
      const client = cluster(ZkLike, options).create();
      await client.ready();
      assert.equal(client.isClusterClientLeader, true);
      assert.equal(await client.getData('/a'), 'data of /a');
      const errors = record<Error>(client, 'error');
      await close(client);
      assert.equal(client.state, 'closed');
      assert.equal(dataClient!.closed, true, 'close() closed the DataClient');

      assert.equal(await client.echo('late'), 'late', 'a promise call is answered by the closed DataClient');
      const viaCallback = await new Promise<unknown>((resolve, reject) => {
        (client.echo as unknown as (v: string, cb: (err: unknown, value?: unknown) => void) => void)('late callback', (err, value) => (err ? reject(err) : resolve(value)));
      });
      assert.equal(viaCallback, 'late callback', 'a callback call is answered by the closed DataClient');
      await assert.rejects(client.mustBeOpen(), (err: Error & Code) => err.code === 'E_CLOSED', 'the DataClient\'s own error, not ERR_CLUSTER_CLIENT_CLOSED');

      assert.equal(await client.getData('/b'), null, 'the DataClient answered');
      const reported = await errors.next(e => (e as Error & Code).code === 'E_AFTER_CLOSE', 'the DataClient\'s error event reaches the closed client');
      assert.equal(reported, dataClient!.emitted[0], 'the very error the DataClient emitted');
      assert.equal(errors.list.length, 1, 'and nothing else was emitted');
    });
  }

  test('follower: a promise call rejects, a callback call gets, a oneway call emits ERR_CLUSTER_CLIENT_CLOSED; nothing reaches the leader', { timeout: 30_000 }, async () => {
    const port = await freePort();
    let dataClient: Inbox | undefined;
    class Inbox extends EventEmitter {
      readonly received: unknown[] = [];
      constructor() {
        super();
        dataClient = this;
      }

      async echo(value: unknown): Promise<unknown> {
        this.received.push(value);
        return value;
      }

      notify(value: unknown): void {
        this.received.push(value);
      }
    }
    const make = () => cluster(Inbox, { port, logger: quiet }).delegate('notify', 'invokeOneway').create();
    const leader = make();
    await leader.ready();
    const follower = make();
    await follower.ready();
    assert.equal(follower.isClusterClientLeader, false);
    follower.notify('oneway before close');
    assert.equal(await follower.echo('before close'), 'before close');
    assert.deepEqual(dataClient!.received, ['oneway before close', 'before close'], 'the follower was served before its close');

    await close(follower);
    const errors = record<Error & Code>(follower, 'error');
    await assert.rejects(follower.echo('promise after close'), (err: Error & Code) => {
      assert.equal(err.code, 'ERR_CLUSTER_CLIENT_CLOSED');
      assert.match(err.message, /echo called after close/);
      return true;
    });
    const callbackErr = await within(new Promise<Error & Code>(resolve => {
      (follower.echo as unknown as (v: string, cb: (err: unknown) => void) => void)('callback after close', err => resolve(err as Error & Code));
    }), 5_000, () => 'the callback is called');
    assert.equal(callbackErr?.code, 'ERR_CLUSTER_CLIENT_CLOSED');
    follower.notify('oneway after close');
    const onewayErr = await errors.next(() => true, 'the oneway call after close is reported as an error event');
    assert.equal(onewayErr.code, 'ERR_CLUSTER_CLIENT_CLOSED');
    assert.match(onewayErr.message, /notify called after close/);
    assert.equal(errors.list.length, 1, 'only the oneway call is reported as an event (the others failed their caller)');
    assert.equal(await leader.echo('leader still serves'), 'leader still serves');
    assert.deepEqual(dataClient!.received, ['oneway before close', 'before close', 'leader still serves'], 'no call made after the follower closed reached the DataClient');
    await close(leader);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. Errors reported on the leader's client

class RecordingFixture extends FixtureClient {
  static last: RecordingFixture | undefined;
  /** The errors this DataClient failed calls with, in order. */
  readonly thrown: Error[] = [];
  constructor(options: object) {
    super(options);
    RecordingFixture.last = this;
  }

  override async fail(message: string): Promise<never> {
    try {
      return await super.fail(message);
    } catch (err) {
      this.thrown.push(err as Error);
      throw err;
    }
  }

  override failCallback(message: string, callback: (err: Error | null) => void): void {
    super.failCallback(message, err => {
      this.thrown.push(err!);
      callback(err);
    });
  }
}

type FollowerCallFailure = Error & Code & { method?: string; followerPid?: number; cause?: unknown };

describe('4. the leader\'s client reports what goes wrong with its followers', () => {
  test('each failed follower call (promise, callback, oneway; two followers) is emitted once as ERR_CLUSTER_FOLLOWER_CALL_FAILED with method, the follower\'s pid and the DataClient\'s error as cause; the leader\'s own failed calls emit nothing', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const leader = cluster(RecordingFixture, { port, name: 'calls', isLeader: true, logger: quiet }).delegate('failCallback').create({});
    const errors = record<FollowerCallFailure>(leader, 'error');
    await leader.ready();
    const spec: CompatClientSpec = { kind: 'fixture', options: { port, name: 'calls', isLeader: false } };
    const [a, b] = [spawnProc([spec]), spawnProc([spec])];
    assert.deepEqual(await within(Promise.all([a.ready(0), b.ready(0)]), 15_000, () => 'followers ready'), [false, false]);
    assert.equal(await a.invoke(0, 'echo', 'fine'), 'fine');

    await assert.rejects(a.invoke(0, 'fail', 'A promise'), (err: RemoteError) => err.code === 'E_FIXTURE' && err.message === 'A promise');
    await assert.rejects(a.command({ cmd: 'invoke', index: 0, method: 'failCallback', args: ['A callback'], style: 'callback' }), (err: RemoteError) => err.code === 'E_FIXTURE_CB');
    await a.command({ cmd: 'invoke', index: 0, method: 'fail', args: ['A oneway'], style: 'oneway' });
    await assert.rejects(b.invoke(0, 'fail', 'B promise'), (err: RemoteError) => err.code === 'E_FIXTURE');
    const expected = new Map([
      ['A promise', { method: 'fail', followerPid: a.pid }],
      ['A callback', { method: 'failCallback', followerPid: a.pid }],
      ['A oneway', { method: 'fail', followerPid: a.pid }],
      ['B promise', { method: 'fail', followerPid: b.pid }],
    ]);
    for (const message of expected.keys()) {
      await errors.next(e => (e.cause as Error | undefined)?.message === message, `the leader reports the failure of "${message}"`);
    }

    // The leader's own failing calls (promise and callback) are its caller's business: no event.
    await assert.rejects(leader.fail('local promise'));
    await new Promise<void>(resolve => {
      (leader.failCallback as unknown as (m: string, cb: (err: unknown) => void) => void)('local callback', err => {
        assert.equal((err as Code).code, 'E_FIXTURE_CB');
        resolve();
      });
    });
    // A follower failure after them: once it is reported, a report of the local ones would be too.
    await assert.rejects(b.invoke(0, 'fail', 'sentinel'));
    await errors.next(e => (e.cause as Error | undefined)?.message === 'sentinel', 'the sentinel failure is reported');

    const thrown = RecordingFixture.last!.thrown;
    assert.equal(errors.list.length, 5, `exactly one event per failed follower call: ${errors.list.map(e => e.message).join(' | ')}`);
    for (const err of errors.list) {
      const cause = err.cause as Error;
      assert.equal(err.code, 'ERR_CLUSTER_FOLLOWER_CALL_FAILED');
      assert.ok(thrown.includes(cause), `cause is the DataClient's own error object (${cause?.message})`);
      const want = expected.get(cause.message) ?? { method: 'fail', followerPid: b.pid };
      assert.equal(err.method, want.method, cause.message);
      assert.equal(err.followerPid, want.followerPid, `${cause.message}: the follower's real pid`);
      assert.ok(!cause.message.startsWith('local'), 'no event for the leader\'s own calls');
    }
    await Promise.all([closeProc(a), closeProc(b)]);
    await close(leader);
  });

  test('a follower silent for 3 heartbeat intervals: the leader emits ClusterClientNoResponseError (ERR_CLUSTER_HEARTBEAT_TIMEOUT); the follower\'s client emits \'close\' and then is served again', { timeout: 60_000 }, async () => {
    const port = await freePort();
    // 250 ms: a member starved by a loaded machine for a moment is not dropped by accident (750 ms of silence are).
    const leader = cluster(FixtureClient, { port, name: 'hb', isLeader: true, heartbeatInterval: 250, logger: quiet }).create({});
    const errors = record<Error & Code>(leader, 'error');
    await leader.ready();
    const p = spawnProc([{ kind: 'fixture', options: { port, name: 'hb', heartbeatInterval: 250 } }]);
    assert.equal(await within(p.ready(0), 15_000, () => 'follower ready'), false);
    assert.equal(await p.invoke(0, 'pid'), process.pid);
    const mark = p.messages.length;
    // 10 heartbeat intervals of silence: the leader's check (every 250 ms) sees it whatever the load.
    await p.command({ cmd: 'block', ms: 2_500 });
    const dropped = await errors.next(e => e.code === 'ERR_CLUSTER_HEARTBEAT_TIMEOUT', 'the leader reports the silent follower');
    assert.equal(dropped.name, 'ClusterClientNoResponseError');
    assert.match(dropped.message, /client no response in \d+ms exceeding maxIdleTime 750ms, maybe the connection is close on other side/);
    assert.ok(dropped.message.includes(`(pid ${p.pid})`), dropped.message);
    const closed = await within(p.waitFor(m => m.event === 'close' && m.index === 0, mark), 10_000, () => 'the follower\'s client emits close');
    assert.notEqual(closed.state, 'closed', 'the client itself is not closed: it elects again');
    assert.equal(await within(p.invoke(0, 'pid'), 10_000, () => 'a call after the drop'), process.pid, 'served again by the same leader');
    assert.equal((await p.state(0)).state, 'following');
    await closeProc(p);
    await close(leader);
  });
});

// ---------------------------------------------------------------------------------------------
// 5. Listeners are called on a later tick

describe('5. subscription listeners are called asynchronously on the leader', () => {
  test('never inside subscribe() (a value the client holds, or one the DataClient pushes from its own subscribe), nor inside the DataClient\'s push in an invoked method', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const log: string[] = [];
    class Pusher extends EventEmitter {
      readonly upstream = new Map<string, Array<(value: unknown) => void>>();
      readonly cache = new Map<string, unknown>();

      ready(callback: () => void): void {
        setImmediate(callback);
      }

      /** Calls the listener at once, inside subscribe, when it has a value (as a caching registry client does). */
      subscribe(reg: { key: string }, listener: (value: unknown) => void): void {
        this.upstream.set(reg.key, [...(this.upstream.get(reg.key) ?? []), listener]);
        if (this.cache.has(reg.key)) {
          log.push(`dc:subscribe-push:${reg.key}`);
          listener(this.cache.get(reg.key));
          log.push(`dc:subscribe-push-returned:${reg.key}`);
        }
      }

      /** Pushes the value to its upstream listeners synchronously, inside the invoked method. */
      async set(key: string, value: unknown): Promise<string> {
        this.cache.set(key, value);
        for (const listener of this.upstream.get(key) ?? []) {
          log.push(`dc:push:${key}`);
          listener(value);
          log.push(`dc:push-returned:${key}`);
        }
        log.push(`dc:set-returns:${key}`);
        return 'set';
      }
    }
    const leader = cluster(Pusher, { port, logger: quiet }).create();
    await leader.ready();
    assert.equal(leader.isClusterClientLeader, true);
    const values = new EventEmitter();
    const got = record<{ who: string; value: unknown }>(values, 'value');
    const listener = (who: string) => (value: unknown) => {
      log.push(`listener:${who}`);
      values.emit('value', { who, value });
    };

    // (a) A value pushed inside an invoked method.
    leader.subscribe({ key: 'k1' }, listener('first'));
    const answer = await leader.set('k1', 'v1');
    assert.equal(answer, 'set');
    await got.next(v => v.who === 'first', 'the first listener gets v1');
    assert.deepEqual(log, ['dc:push:k1', 'dc:push-returned:k1', 'dc:set-returns:k1', 'listener:first'],
      'the listener ran after the DataClient\'s push returned and after the method returned');

    // (b) A value the client already holds: a new listener is called on a later tick, not inside subscribe().
    log.length = 0;
    leader.subscribe({ key: 'k1' }, listener('second'));
    assert.deepEqual(log, [], 'subscribe() returned without calling the listener');
    assert.deepEqual((await got.next(v => v.who === 'second', 'the second listener gets the held value')).value, 'v1');

    // (c) A value the DataClient pushes from inside its own subscribe().
    await leader.set('k2', 'cached');
    log.length = 0;
    leader.subscribe({ key: 'k2' }, listener('third'));
    assert.deepEqual(log, ['dc:subscribe-push:k2', 'dc:subscribe-push-returned:k2'], 'subscribe() returned without calling the listener, though the DataClient pushed inside it');
    assert.equal((await got.next(v => v.who === 'third', 'the third listener gets the cached value')).value, 'cached');
    assert.deepEqual(log, ['dc:subscribe-push:k2', 'dc:subscribe-push-returned:k2', 'listener:third']);
    await close(leader);
  });
});

// ---------------------------------------------------------------------------------------------
// 6. Base semantics (sdk-base 4)

describe('6. Base behaves as sdk-base 4', () => {
  test('await(event) waits for that event only; await(\'error\') rejects; awaitFirst resolves { event, args } and removes its listeners', { timeout: 30_000 }, async () => {
    const client = cluster(FixtureClient, { singleMode: true, name: 'base-await', logger: quiet }).create({});
    await client.ready();
    const appErrors = record<Error>(client, 'error');
    const foo = client.await('foo');
    client.emit('error', new Error('unrelated'));
    client.emit('foo', 'first', 'second');
    assert.equal(await foo, 'first', 'await(\'foo\') resolved on foo although an error came first');
    assert.equal(appErrors.list.length, 1);

    const boom = new Error('boom');
    const awaitingError = client.await('error');
    client.emit('error', boom);
    await assert.rejects(awaitingError, (err: unknown) => err === boom);

    const first = client.awaitFirst(['foo', 'bar']);
    client.emit('bar', 1, 2);
    client.emit('foo', 'too late');
    assert.deepEqual(await first, { event: 'bar', args: [1, 2] });
    assert.equal(client.listenerCount('foo'), 0, 'awaitFirst removed its listeners');
    assert.equal(client.listenerCount('bar'), 0);
    await close(client);
  });

  test('a generator function listener runs (with co); its failure is emitted as EventListenerProcessError; off() removes it', { timeout: 30_000 }, async () => {
    const client = cluster(FixtureClient, { singleMode: true, name: 'base-generator', logger: quiet }).create({});
    await client.ready();
    const results = new EventEmitter();
    const got = record<unknown>(results, 'got');
    function* onNumber(n: number): Generator<Promise<number>, void, number> {
      const doubled = yield Promise.resolve(n * 2);
      results.emit('got', doubled);
    }
    client.on('number', onNumber as never);
    client.emit('number', 21);
    assert.equal(await got.next(() => true, 'the generator listener ran'), 42);
    client.off('number', onNumber as never);
    assert.equal(client.listenerCount('number'), 0, 'off() with the generator function removes it');

    function* broken(): Generator<Promise<void>, void, void> {
      yield Promise.resolve();
      throw new Error('listener broke');
    }
    client.on('broken', broken as never);
    const failed = client.await('error');
    client.emit('broken');
    await assert.rejects(failed, (err: Error) => err.name === 'EventListenerProcessError' && err.message === 'listener broke');
    await close(client);
  });

  test('ready(err) with nobody waiting emits \'error\'; with someone waiting it does not; a cluster client whose start fails and nobody awaits emits it', { timeout: 30_000 }, async () => {
    const nobody = new Base();
    const seen = record<Error>(nobody, 'error');
    const err = new Error('start failed');
    nobody.ready(err);
    assert.deepEqual(seen.list, [err], 'emitted at once');
    await assert.rejects(nobody.ready(), (e: unknown) => e === err, 'and ready() rejects with it afterwards');

    const waited = new Base();
    const seenWaited = record<Error>(waited, 'error');
    const waiting = waited.ready();
    const err2 = new Error('start failed too');
    waited.ready(err2);
    await assert.rejects(waiting, (e: unknown) => e === err2);
    await turn();
    assert.deepEqual(seenWaited.list, [], 'not emitted: someone waited for ready');

    const startError = Object.assign(new Error('upstream refused'), { code: 'E_UP' });
    class Refused extends EventEmitter {
      ready(callback: (err: Error) => void): void {
        setImmediate(callback, startError);
      }
    }
    const client = cluster(Refused, { singleMode: true, name: 'base-refused', logger: quiet }).create();
    const [emitted] = await within(once(client, 'error'), 5_000, () => 'the unawaited start failure is emitted') as [Error];
    assert.equal(emitted, startError);
    await assert.rejects(client.ready(), (e: unknown) => e === startError);
    await close(client);
  });

  test('APIClientBase: a failing initMethod rejects ready() (each callback once) and emits \'error\' at most once; a failed DataClient start with nobody waiting emits it once', { timeout: 30_000 }, async () => {
    const initError = new Error('init failed');
    let n = 0;
    class InitFails extends APIClientBase {
      override get DataClient() {
        return FixtureClient;
      }

      override get clusterOptions(): ClusterOptions {
        return { singleMode: true, name: `init-fails-${n++}`, logger: quiet };
      }

      async init(): Promise<void> {
        await this._client.ready();
        throw initError;
      }
    }

    // Someone waits: ready() rejects, the callback is called once, no 'error'.
    const waited = new InitFails({ initMethod: 'init' });
    const waitedErrors = record<Error>(waited, 'error');
    const callbacks: unknown[] = [];
    waited.ready(err => callbacks.push(err));
    await assert.rejects(waited.ready(), (e: unknown) => e === initError);
    await turn();
    await turn();
    assert.deepEqual(callbacks, [initError], 'the ready callback was called once, with the init error');
    assert.deepEqual(waitedErrors.list, [], 'no error event: ready() was awaited');
    await waited.close();

    // Nobody waits: 'error' exactly once; ready() then rejects with it.
    const unwaited = new InitFails({ initMethod: 'init' });
    const unwaitedErrors = record<Error>(unwaited, 'error');
    assert.equal(await unwaitedErrors.next(() => true, 'the init failure is emitted'), initError);
    await assert.rejects(unwaited.ready(), (e: unknown) => e === initError);
    await turn();
    await turn();
    assert.deepEqual(unwaitedErrors.list, [initError], 'emitted once, not twice');
    await unwaited.close();

    // No initMethod, the DataClient's start fails, nobody waits: one 'error' (not one from the
    // cluster client relayed plus one of the API client's own).
    const startError = new Error('DataClient refused to start');
    class Refused extends EventEmitter {
      ready(callback: (err: Error) => void): void {
        setImmediate(callback, startError);
      }
    }
    class RefusedAPI extends APIClientBase {
      override get DataClient() {
        return Refused;
      }

      override get clusterOptions(): ClusterOptions {
        return { singleMode: true, name: 'refused-api', logger: quiet };
      }
    }
    const api = new RefusedAPI();
    const apiErrors = record<Error>(api, 'error');
    assert.equal(await apiErrors.next(() => true, 'the start failure is emitted'), startError);
    await assert.rejects(api.ready(), (e: unknown) => e === startError);
    await turn();
    await turn();
    assert.deepEqual(apiErrors.list, [startError], 'emitted once, not twice');
    await api.close();
  });
});

// ---------------------------------------------------------------------------------------------
// 7. Start failures

describe('7. a DataClient that fails to start', () => {
  /** Spawns a waiting isLeader:false follower of `name`; resolves once its client exists (it keeps looking for a leader). */
  async function waitingFollower(port: number, name: string): Promise<Proc> {
    const p = spawnProc([{ kind: 'fixture', options: { port, name, isLeader: false, maxWaitTime: 30_000, responseTimeout: 20_000 } }]);
    await within(p.waitFor(m => m.event === 'created'), 15_000, () => 'the follower process started');
    return p;
  }

  /** The follower's ready() rejects soon with the DataClient's message; then its calls fail at once with it. */
  async function followerFailsFast(p: Proc, started: number, message: string): Promise<number> {
    const err = await within(p.ready(0).then(() => undefined, (e: RemoteError) => e), 5_000, () => 'the waiting follower\'s ready() settles (not after maxWaitTime)');
    const ms = performance.now() - started;
    assert.ok(err, 'ready() rejected');
    assert.equal(err.code, 'ERR_CLUSTER_LEADER_START_FAILED');
    assert.equal(err.message, message, 'the DataClient\'s own message, word for word');
    const callErr = await within(p.invoke(0, 'pid').then(() => undefined, (e: RemoteError) => e), 2_000, () => 'a follower call fails at once (responseTimeout is 20 s)');
    assert.equal(callErr?.code, 'ERR_CLUSTER_LEADER_START_FAILED');
    assert.equal(callErr?.message, message);
    return ms;
  }

  test('ready fails: a waiting isLeader:false follower in another process fails at once with ERR_CLUSTER_LEADER_START_FAILED and the DataClient\'s message; the leader\'s ready() rejects with the DataClient\'s error; calls fail at once with it', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const p = await waitingFollower(port, 'failing-ready');
    const startErrors: Error[] = [];
    class FailingReady extends EventEmitter {
      ready(callback: (err: Error) => void): void {
        const err = Object.assign(new Error('upstream refused the connection'), { code: 'E_UPSTREAM' });
        startErrors.push(err);
        setImmediate(callback, err);
      }

      async echo(value: unknown): Promise<unknown> {
        return value;
      }
    }
    const started = performance.now();
    const leader = cluster(FailingReady, { port, name: 'failing-ready', isLeader: true, responseTimeout: 20_000, logger: quiet }).create();
    await assert.rejects(within(leader.ready(), 5_000, () => 'the leader\'s ready()'), (err: unknown) => err === startErrors[0], 'the DataClient\'s own error');
    const callErr = await within(leader.echo('x').then(() => undefined, (e: unknown) => e), 2_000, () => 'a leader call fails at once (responseTimeout is 20 s)');
    assert.equal(callErr, startErrors[0], 'with the start error');
    const ms = await followerFailsFast(p, started, 'upstream refused the connection');
    assert.ok(ms < 5_000, `the follower failed ${Math.round(ms)}ms after the leader started`);
    await closeProc(p);
    await close(leader);
  });

  test('the constructor throws: the same for followers; the leader\'s ready() rejects with the thrown error', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const p = await waitingFollower(port, 'throwing');
    const thrown: Error[] = [];
    class Throwing extends EventEmitter {
      constructor() {
        super();
        const err = Object.assign(new Error('bad connection string "::"'), { code: 'E_CONFIG' });
        thrown.push(err);
        throw err;
      }

      async echo(value: unknown): Promise<unknown> {
        return value;
      }
    }
    const started = performance.now();
    const leader = cluster(Throwing, { port, name: 'throwing', isLeader: true, responseTimeout: 20_000, logger: quiet }).create();
    await assert.rejects(within(leader.ready(), 5_000, () => 'the leader\'s ready()'), (err: unknown) => err === thrown[0], 'the error the constructor threw');
    const callErr = await within(leader.echo('x').then(() => undefined, (e: unknown) => e), 2_000, () => 'a leader call fails at once');
    assert.equal(callErr, thrown[0]);
    await followerFailsFast(p, started, 'bad connection string "::"');
    await closeProc(p);
    await close(leader);
  });

  test('closing a client whose start failed (ready() rejected, a retry pending): no \'error\' event, and ready() still rejects with the start error', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const startError = Object.assign(new Error('upstream refused the connection'), { code: 'E_UPSTREAM' });
    class FailingReady extends EventEmitter {
      ready(callback: (err: Error) => void): void {
        setImmediate(callback, startError);
      }
    }
    const leader = cluster(FailingReady, { port, name: 'closed-after-failure', isLeader: true, logger: quiet }).create();
    const errors = record<Error & Code>(leader, 'error');
    await assert.rejects(within(leader.ready(), 5_000, () => 'ready()'), (err: unknown) => err === startError);
    await close(leader);
    // What close() set off runs without I/O from here: a few turns of the event loop see it all.
    await turn();
    await turn();
    assert.deepEqual(errors.list.map(e => `${e.code}: ${e.message}`), [], 'close() is no failure: nothing is emitted');
    await assert.rejects(leader.ready(), (err: unknown) => err === startError, 'ready() keeps the start error');
  });

  test('ready fails twice, then succeeds (starts counted across the group): the group ends with one leader, 3 starts, and every process served', { timeout: 90_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-flaky-'));
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const spec = (isLeader: boolean | undefined): CompatClientSpec => ({
      kind: 'flaky', options: { port, name: 'flaky', isLeader, maxWaitTime: 30_000, responseTimeout: 2_000 }, args: { dir, failTimes: 2 },
    });
    const members = [spawnProc([spec(undefined)]), spawnProc([spec(undefined)]), spawnProc([spec(false)])];
    // Each one leads or follows in the end: its client's election ends (after retries 1 s, then 2 s apart).
    const roles = await within(Promise.all(members.map(m => m.waitFor(x => x.event === 'electionEnd' && x.index === 0))), 45_000,
      () => `every member leads or follows in the end (attempts so far: ${fs.readdirSync(dir).sort().join(', ')})`);
    const leaders = members.filter((_, i) => roles[i]!.role === 'leader');
    assert.equal(leaders.length, 1, 'exactly one leader');
    const leader = leaders[0]!;
    assert.deepEqual(fs.readdirSync(dir).sort(), ['attempt-1', 'attempt-2', 'attempt-3'], 'two failed starts and one that succeeded');
    assert.equal(Number(fs.readFileSync(path.join(dir, 'attempt-3'), 'utf8')), leader.pid, 'the third start is the leader\'s');
    assert.equal(await leader.invoke(0, 'attemptNumber'), 3);
    for (const m of members) {
      assert.equal(await within(m.invoke(0, 'pid'), 10_000, () => `member ${m.pid} is served`), leader.pid, `member ${m.pid} is served by the leader`);
      assert.equal((await m.state(0)).state, m === leader ? 'leading' : 'following');
      // ready() of a client whose first start failed resolves once a retry succeeded.
      assert.equal(await within(m.command({ cmd: 'ready', index: 0 }), 5_000, () => `ready() of member ${m.pid} now`), m === leader);
    }
    // The forced follower could not lead; a failed start was reported to every member (its ready() rejected once or it followed late).
    assert.notEqual(leader, members[2], 'the isLeader:false member did not lead');
    for (const m of members) {
      const readyErrors = m.messages.filter(x => x.event === 'ready-error');
      assert.ok(readyErrors.length <= 1, 'ready() settles once');
      for (const e of readyErrors) assert.match(String(e.error?.message), /^upstream refused start attempt #[12]$/);
    }
    for (const m of members.filter(x => x !== leader)) await closeProc(m);
    await closeProc(leader);
  });
});

// ---------------------------------------------------------------------------------------------
// 8. 3.x's wordings

describe('8. messages worded as 3.x', () => {
  for (const transport of ['tcp', 'unix'] as const) {
    test(`${transport}: a call the leader never answers fails with "Server no response in <responseTimeout>ms, address#<address>"`, { skip: transport === 'unix' && process.platform === 'win32' ? 'unix sockets' : false, timeout: 30_000 }, async () => {
      const at: At = transport === 'tcp' ? { port: await freePort() } : { path: freeSocketPath() };
      const address = 'port' in at ? `127.0.0.1:${at.port}` : at.path;
      const leader = cluster(FixtureClient, { ...at, name: 'slow', logger: quiet }).create({});
      await leader.ready();
      const follower = cluster(FixtureClient, { ...at, name: 'slow', responseTimeout: 300, logger: quiet }).create({});
      await follower.ready();
      assert.equal(follower.isClusterClientLeader, false);
      await assert.rejects(within(follower.gate('never'), 10_000, () => 'the unanswered call'), (err: Error & Code) => {
        assert.equal(err.code, 'ERR_CLUSTER_RESPONSE_TIMEOUT');
        assert.ok(err.message.startsWith(`Server no response in 300ms, address#${address}`), err.message);
        return true;
      });
      assert.equal(await leader.openGate('never'), 1, 'the call did reach the leader');
      await close(follower);
      await close(leader);
    });
  }

  test('an isLeader:false follower with no leader within maxWaitTime: exactly "[ClusterClient:<Name>] follower try to connect leader failed, cause by connect ECONNREFUSED 127.0.0.1:<port>"', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const follower = cluster(FixtureClient, { port, name: 'Registry', isLeader: false, maxWaitTime: 300, logger: quiet }).create({});
    await assert.rejects(within(follower.ready(), 10_000, () => 'ready() of the lonely follower'), (err: Error & Code & { port?: number }) => {
      assert.equal(err.message, `[ClusterClient:Registry] follower try to connect leader failed, cause by connect ECONNREFUSED 127.0.0.1:${port}`);
      assert.equal(err.code, 'ERR_CLUSTER_CONNECT_TIMEOUT');
      assert.equal(err.port, port);
      return true;
    });
    await close(follower);
  });

  test('subscribeTimeout: the error event\'s message contains "subscribe timeout for" (on the leader and on a follower)', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = cluster(FixtureClient, { port, name: 'silent', subscribeTimeout: 100, logger: quiet }).create({});
    await leader.ready();
    const follower = cluster(FixtureClient, { port, name: 'silent', subscribeTimeout: 100, logger: quiet }).create({});
    await follower.ready();
    assert.equal(follower.isClusterClientLeader, false);
    for (const client of [leader, follower]) {
      const errors = record<Error & Code>(client, 'error');
      client.subscribe({ key: 'nothing-comes' }, () => assert.fail('no value was pushed'));
      const err = await errors.next(() => true, 'the subscribe timeout');
      assert.equal(err.code, 'ERR_CLUSTER_SUBSCRIBE_TIMEOUT');
      assert.ok(err.message.includes('subscribe timeout for $$inner$$__{"key":"nothing-comes"}'), err.message);
    }
    await close(follower);
    await close(leader);
  });
});
