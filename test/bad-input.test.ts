/**
 * "A listener that is not a function, an unknown delegate target, a delegated method the class
 * lacks, a port that is not a valid number, unknown option names: each throws a clear, coded
 * error at the call, before anything is started."
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { close, cluster, type ClusterOptions, InvalidArgumentError, InvalidDelegateError, InvalidOptionError } from '../src/index.js';

interface Reg {
  key: string;
}

/** What the DataClient instances saw (module level: instances are created inside the library). */
const seen = {
  constructed: 0,
  subscribes: [] as Array<{ reg: Reg; listenerIsFunction: boolean }>,
  listeners: [] as Array<(value: string) => void>,
  published: [] as Reg[],
};

class DataClient {
  constructor() {
    seen.constructed++;
  }

  async getData(key: string): Promise<string> {
    return `data:${key}`;
  }

  subscribe(reg: Reg, listener: (value: string) => void): void {
    seen.subscribes.push({ reg, listenerIsFunction: typeof listener === 'function' });
    seen.listeners.push(listener);
  }

  publish(reg: Reg): void {
    seen.published.push(reg);
  }
}

function coded<E extends Error & { code: string }>(Cls: abstract new (...args: never[]) => E, code: string, check?: (err: E) => void): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof Cls, `expected ${Cls.name}, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.name, Cls.name);
    assert.ok(err.message.startsWith('[cluster-share]'), err.message);
    check?.(err);
    return true;
  };
}

const invalidOption = (option: string, message?: RegExp): ((err: unknown) => boolean) =>
  coded(InvalidOptionError, 'ERR_CLUSTER_INVALID_OPTION', err => {
    assert.equal(err.option, option);
    if (message) assert.match(err.message, message);
  });
const invalidDelegate = (message?: RegExp): ((err: unknown) => boolean) =>
  coded(InvalidDelegateError, 'ERR_CLUSTER_INVALID_DELEGATE', err => {
    if (message) assert.match(err.message, message);
  });
const invalidArgument = (message?: RegExp): ((err: unknown) => boolean) =>
  coded(InvalidArgumentError, 'ERR_CLUSTER_INVALID_ARGUMENT', err => {
    if (message) assert.match(err.message, message);
  });

/** A loopback port that is free right now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  await new Promise<void>(resolve => server.close(() => resolve()));
  return address.port;
}

/** Resolves true if `port` can be listened on (nothing holds it), and releases it again. */
async function canListen(port: number): Promise<boolean> {
  const server = net.createServer();
  const ok = await new Promise<boolean>(resolve => {
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(true));
  });
  if (ok) await new Promise<void>(resolve => server.close(() => resolve()));
  return ok;
}

function socketHandles(): number {
  return process.getActiveResourcesInfo().filter(r => r.startsWith('TCP') || r.startsWith('Pipe')).length;
}

describe('bad input throws a coded error at the call', () => {
  test('a port that is not a valid number: InvalidOptionError at cluster()', () => {
    assert.throws(() => cluster(DataClient, { port: 'x' as unknown as number }), invalidOption('port'));
    assert.throws(() => cluster(DataClient, { port: 0 }), invalidOption('port'));
    assert.throws(() => cluster(DataClient, { port: 65536 }), invalidOption('port'));
    assert.throws(() => cluster(DataClient, { port: Number.NaN }), invalidOption('port'));
  });

  test('an unknown option name: InvalidOptionError naming it, at cluster()', () => {
    assert.throws(() => cluster(DataClient, { prot: 1 } as ClusterOptions), invalidOption('prot', /"prot"/));
  });

  test('an unknown delegate target: InvalidDelegateError', () => {
    assert.throws(() => cluster(DataClient).delegate('getData', 'nope' as never), invalidDelegate(/nope/));
  });

  test('a delegated method the class lacks: InvalidDelegateError naming it', () => {
    assert.throws(() => cluster(DataClient).delegate('missing' as never), invalidDelegate(/"missing"/));
    assert.throws(() => cluster(DataClient).delegate('missing' as never, 'invokeOneway'), invalidDelegate(/"missing"/));
  });

  test('delegating a member of the client itself: InvalidDelegateError', () => {
    assert.throws(() => cluster(DataClient).delegate('ready' as never), invalidDelegate(/"ready"/));
  });

  test('an empty delegate name: InvalidDelegateError', () => {
    assert.throws(() => cluster(DataClient).delegate('' as never), invalidDelegate());
  });

  test('a DataClient that is not a class: InvalidArgumentError at cluster()', () => {
    assert.throws(() => cluster(null as never), invalidArgument(/DataClient/));
    assert.throws(() => cluster('DataClient' as never), invalidArgument(/DataClient/));
  });

  test('close() of something that is not a client throws InvalidArgumentError synchronously', () => {
    assert.throws(() => close({}), invalidArgument(/close/));
    assert.throws(() => close(null as never), invalidArgument(/close/));
  });

  test('nothing is started by the failing calls: the port stays free, no DataClient, no socket', async () => {
    const port = await freePort();
    const constructedBefore = seen.constructed;
    const handlesBefore = socketHandles();

    assert.throws(() => cluster(DataClient, { port, prot: 1 } as ClusterOptions), invalidOption('prot'));
    assert.throws(() => cluster(DataClient, { port, responseTimeout: -1 }), invalidOption('responseTimeout'));
    assert.throws(() => cluster(DataClient, { port }).delegate('getData', 'nope' as never), invalidDelegate());
    assert.throws(() => cluster(DataClient, { port }).delegate('missing' as never), invalidDelegate(/"missing"/));
    assert.throws(() => cluster(DataClient, { port }).delegate('ready' as never), invalidDelegate());
    assert.throws(() => cluster(DataClient, { port, isLeader: true }).delegate('missing' as never).create(), invalidDelegate());

    assert.equal(seen.constructed, constructedBefore, 'no DataClient was constructed');
    assert.equal(socketHandles(), handlesBefore, 'no socket or server handle was opened');
    assert.equal(await canListen(port), true, `port ${port} is still free`);
  });
});

describe('bad input on a created client (single mode: no sockets)', () => {
  test('subscribe with a listener that is not a function throws; a valid subscribe still works', { timeout: 10_000 }, async () => {
    const client = cluster(DataClient, { singleMode: true, name: 'bad-input-subscribe' }).create();
    try {
      await client.ready();
      const before = seen.subscribes.length;

      assert.throws(() => client.subscribe({ key: 'k' }, 'notfn' as never), invalidArgument(/listener/));
      assert.throws(() => client.subscribe({ key: 'k' }, undefined as never), invalidArgument(/listener/));
      assert.equal(seen.subscribes.length, before, 'the DataClient saw no subscribe for the bad calls');

      const received: string[] = [];
      let gotValue!: () => void;
      const delivered = new Promise<void>(resolve => { gotValue = resolve; });
      client.subscribe({ key: 'k' }, value => {
        received.push(value);
        gotValue();
      });
      assert.equal(seen.subscribes.length, before + 1, 'the DataClient subscribe ran exactly once, for the valid call');
      const call = seen.subscribes[before]!;
      assert.deepEqual(call.reg, { key: 'k' });
      assert.equal(call.listenerIsFunction, true);

      // The subscription works end to end: a value pushed by the DataClient reaches the listener.
      seen.listeners[before]!('v1');
      await delivered;
      assert.deepEqual(received, ['v1']);
    } finally {
      await close(client);
    }
    assert.equal(client.state, 'closed');
  });

  test('unSubscribe with a listener that is neither a function nor omitted throws', async () => {
    const client = cluster(DataClient, { singleMode: true, name: 'bad-input-unsubscribe' }).delegate('unSubscribe', 'unSubscribe').create();
    try {
      await client.ready();
      assert.throws(() => client.unSubscribe({ key: 'k' }, 42 as never), invalidArgument(/listener/));
    } finally {
      await close(client);
    }
  });

  test('the generator stays usable after a bad delegate() call', async () => {
    const generator = cluster(DataClient, { singleMode: true, name: 'bad-input-generator' });
    assert.throws(() => generator.delegate('missing' as never), invalidDelegate(/"missing"/));
    assert.throws(() => generator.delegate('getData', 'nope' as never), invalidDelegate());
    const client = generator.delegate('getData').create();
    try {
      await client.ready();
      assert.equal(await client.getData('a'), 'data:a');
      assert.equal(client.isClusterClientLeader, true);
    } finally {
      await close(client);
    }
  });
});
