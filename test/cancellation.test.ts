/**
 * Per-call options: `client.withCallOptions({ signal, timeout })`. An abort before the call, while
 * it waits for a leader and while it is in flight on a real follower; a per-call timeout shorter
 * and longer than responseTimeout; late answers dropped silently; bad options. Also on a leader
 * (local calls) and in single mode.
 *
 * A call stays in flight as long as a test wants with the fixture's `gate(tag)`, answered only
 * when `openGate(tag)` is called; `gateReached(tag)` tells when it reached the leader's
 * DataClient. Every wait is on an IPC message or a process event, bounded by a generous deadline.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import cluster, { CallAbortedError, type CallOptions, close, type ClusterOptions, stats } from '../src/index.js';
import { FixtureClient } from './fixtures/data-client.js';
import { type CallOutcome, freePort, Member, trackMembers } from './helpers/group.js';
import { within } from './helpers/within.js';

const { live, spawn } = trackMembers();

/** Starts a leader, then `followers` followers (so who leads is known). */
async function group(options: ClusterOptions, followers = 1): Promise<{ leader: Member; followers: Member[] }> {
  const leader = spawn(options);
  assert.equal(await within(leader.ready(), 30_000, () => 'leader ready'), true, 'the first member leads');
  const fs = Array.from({ length: followers }, () => spawn(options));
  const roles = await within(Promise.all(fs.map(m => m.ready())), 30_000, () => 'followers ready');
  assert.deepEqual(roles, fs.map(() => false), 'the others follow');
  return { leader, followers: fs };
}

async function closeAllOf(members: Member[]): Promise<void> {
  for (const m of members) {
    await within(m.close(), 30_000, () => `close of member ${m.pid}`);
    live.delete(m);
  }
}

function assertAborted(outcome: CallOutcome, reason: string, what: string): void {
  assert.equal(outcome.settled, 'rejected', `${what}: the call is rejected (got ${JSON.stringify(outcome)})`);
  if (outcome.settled !== 'rejected') return;
  assert.equal(outcome.error.code, 'ERR_CLUSTER_ABORTED', `${what}: code`);
  assert.equal(outcome.error.name, 'AbortError', `${what}: name`);
  assert.ok(outcome.cause instanceof Error, `${what}: the cause is the signal's reason (an Error), got ${String(outcome.cause)}`);
  assert.equal(outcome.cause.message, reason, `${what}: the cause is the signal's reason`);
}

function assertTimedOut(outcome: CallOutcome, ms: number, what: string): void {
  assert.equal(outcome.settled, 'rejected', `${what}: the call is rejected (got ${JSON.stringify(outcome)})`);
  if (outcome.settled !== 'rejected') return;
  assert.equal(outcome.error.code, 'ERR_CLUSTER_RESPONSE_TIMEOUT', `${what}: code`);
  assert.match(outcome.error.message ?? '', new RegExp(`no response in ${ms}ms \\(the per-call timeout passed\\)`), `${what}: the message names the per-call timeout`);
}

/**
 * After a late answer was sent to `m` (and a round trip on the same connection proved it was
 * read): the call settled once, nothing was logged, no error event.
 */
async function assertDroppedSilently(m: Member, callId: string, what: string): Promise<void> {
  assert.equal(await m.invoke('echo', 'after'), 'after', `${what}: the client still works`);
  assert.equal(m.settledCount(callId), 1, `${what}: the call settled exactly once`);
  assert.deepEqual(m.logs(), [], `${what}: nothing was logged`);
  assert.deepEqual(m.clientErrors(), [], `${what}: no error event`);
}

describe('on a follower (real processes)', () => {
  for (const style of ['promise', 'callback'] as const) {
    test(`${style}: an already-aborted signal rejects at once and nothing is sent`, { timeout: 60_000 }, async () => {
      const { leader, followers: [f] } = await group({ port: await freePort(), responseTimeout: 30_000 });
      const method = style === 'callback' ? 'echoCallback' : 'record';
      assertAborted(await f!.callWith('pre', method, ['pre'], { signal: 'aborted', abortReason: 'too late' }, style), 'too late', 'pre-aborted');
      assert.equal((await f!.clusterStats()).inFlightCalls, 0);
      // A call on the same connection after it: had the aborted one been sent, the leader would have read it first.
      assert.equal(await f!.invoke('record', 'post'), 'post');
      assert.deepEqual(await leader.invoke('recorded'), ['post'], 'the aborted call never reached the leader');
      await assertDroppedSilently(f!, 'pre', 'pre-aborted');
      await closeAllOf([f!, leader]);
    });

    test(`${style}: abort in flight rejects at once; the leader still runs it; its late answer is dropped silently`, { timeout: 60_000 }, async () => {
      const { leader, followers: [f] } = await group({ port: await freePort(), responseTimeout: 30_000 });
      // In callback style the member passes a trailing callback to the delegated `gate`.
      const pending = f!.callWith('inflight', 'gate', ['held'], { signal: 'controller' }, style);
      await within(leader.invoke('gateReached', 'held'), 30_000, () => 'the call reached the leader');
      assert.equal((await f!.clusterStats()).inFlightCalls, 1, 'in flight before the abort');
      await f!.abort('inflight', 'user gave up');
      assertAborted(await within(pending, 30_000, () => 'the aborted call settles'), 'user gave up', 'aborted in flight');
      assert.equal((await f!.clusterStats()).inFlightCalls, 0, 'inFlightCalls goes back down at once, before the leader answers');
      // The leader ran it and answers it now.
      assert.equal(await leader.invoke('openGate', 'held'), 1, 'the leader still had the call');
      assert.deepEqual(await leader.invoke('recorded'), ['held'], 'the leader ran the aborted call');
      await assertDroppedSilently(f!, 'inflight', 'late answer after abort');
      assert.equal((await f!.clusterStats()).inFlightCalls, 0);
      assert.deepEqual(leader.logs(), [], 'the leader logged nothing');
      await closeAllOf([f!, leader]);
    });
  }

  test('aborting a call that already settled changes nothing', { timeout: 60_000 }, async () => {
    const { leader, followers: [f] } = await group({ port: await freePort(), responseTimeout: 30_000 });
    assert.deepEqual(await f!.callWith('done', 'echo', ['v'], { signal: 'controller' }), { settled: 'resolved', value: 'v' });
    await f!.abort('done', 'after the fact');
    await assertDroppedSilently(f!, 'done', 'abort after the answer');
    await closeAllOf([f!, leader]);
  });

  test('abort while the call waits for a leader: rejects at once and the call is never sent to the leader that comes later', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const f = spawn({ port, isLeader: false, maxWaitTime: 30_000, responseTimeout: 30_000 });
    const followerReady = f.ready();
    const aborted = f.callWith('queued', 'record', ['aborted'], { signal: 'controller' });
    const kept = f.invoke('record', 'kept');
    const waiting = await f.clusterStats();
    assert.equal(waiting.state, 'electing', 'no leader yet');
    assert.equal(waiting.role, undefined);
    assert.equal(waiting.queuedCalls, 2, 'both calls wait for a leader');
    await f.abort('queued', 'no longer needed');
    assertAborted(await within(aborted, 30_000, () => 'the queued call settles'), 'no longer needed', 'aborted while queued');
    assert.equal((await f.clusterStats()).queuedCalls, 1, 'the aborted call left the queue');

    const leader = spawn({ port, isLeader: true });
    assert.equal(await within(leader.ready(), 30_000, () => 'leader ready'), true);
    assert.equal(await within(followerReady, 30_000, () => 'follower ready'), false);
    assert.equal(await within(kept, 30_000, () => 'the kept call is answered'), 'kept');
    assert.deepEqual(await leader.invoke('recorded'), ['kept'], 'only the call that was not aborted ran on the leader');
    await assertDroppedSilently(f, 'queued', 'aborted while queued');
    await closeAllOf([f, leader]);
  });

  test('a per-call timeout also bounds the wait for a leader', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const f = spawn({ port, isLeader: false, maxWaitTime: 30_000, responseTimeout: 30_000 });
    const started = Date.now();
    const outcome = await within(f.callWith('nobody', 'record', ['nobody'], { timeout: 300 }), 30_000, () => 'the call times out');
    const took = Date.now() - started;
    assertTimedOut(outcome, 300, 'queued with a timeout');
    assert.ok(took >= 290 && took < 25_000, `it took the per-call timeout, not responseTimeout: ${took} ms`);
    assert.equal((await f.clusterStats()).queuedCalls, 0, 'it left the queue');
    assert.equal(f.settledCount('nobody'), 1);
    await closeAllOf([f]);
  });

  test('a per-call timeout shorter than responseTimeout: ERR_CLUSTER_RESPONSE_TIMEOUT; the late answer is dropped silently', { timeout: 60_000 }, async () => {
    const { leader, followers: [f] } = await group({ port: await freePort(), responseTimeout: 30_000 });
    const started = Date.now();
    const pending = f!.callWith('short', 'gate', ['slow'], { timeout: 300 });
    await within(leader.invoke('gateReached', 'slow'), 30_000, () => 'the call reached the leader');
    const outcome = await within(pending, 25_000, () => 'the call times out before responseTimeout');
    const took = Date.now() - started;
    assertTimedOut(outcome, 300, 'short timeout');
    assert.ok(took >= 290, `not before the per-call timeout: ${took} ms`);
    assert.equal((await f!.clusterStats()).inFlightCalls, 0, 'no longer in flight');
    assert.equal(await leader.invoke('openGate', 'slow'), 1, 'the leader still had the call');
    await assertDroppedSilently(f!, 'short', 'late answer after timeout');
    await closeAllOf([f!, leader]);
  });

  test('a per-call timeout longer than responseTimeout lets a slow call finish', { timeout: 60_000 }, async () => {
    const RESPONSE_TIMEOUT = 300;
    const { leader, followers: [f] } = await group({ port: await freePort(), responseTimeout: RESPONSE_TIMEOUT });
    // Control: without the option the same call times out after responseTimeout.
    await assert.rejects(f!.invoke('slow', RESPONSE_TIMEOUT * 5), (err: Error & { code?: string }) => err.code === 'ERR_CLUSTER_RESPONSE_TIMEOUT', 'responseTimeout applies without options');
    assert.deepEqual(await f!.callWith('long', 'slow', [RESPONSE_TIMEOUT * 5], { timeout: 30_000 }), { settled: 'resolved', value: RESPONSE_TIMEOUT * 5 });
    assert.equal((await f!.clusterStats()).inFlightCalls, 0);
    await closeAllOf([f!, leader]);
  });
});

describe('on a leader (local calls, real processes)', () => {
  test('pre-aborted, aborted while running, timed out: settled once, inFlightCalls back to 0, nothing logged', { timeout: 60_000 }, async () => {
    const { leader, followers: [f] } = await group({ port: await freePort(), responseTimeout: 30_000 });
    assertAborted(await leader.callWith('pre', 'record', ['pre'], { signal: 'aborted', abortReason: 'before' }), 'before', 'pre-aborted on the leader');

    const running = leader.callWith('run', 'gate', ['run'], { signal: 'controller' });
    await leader.invoke('gateReached', 'run');
    assert.equal((await leader.clusterStats()).inFlightCalls, 1, 'the leader\'s own call is in flight');
    await leader.abort('run', 'stop');
    assertAborted(await running, 'stop', 'aborted on the leader');
    assert.equal((await leader.clusterStats()).inFlightCalls, 0, 'back to 0 before the DataClient answers');
    assert.equal(await leader.invoke('openGate', 'run'), 1);

    const timed = await leader.callWith('timed', 'gate', ['timed'], { timeout: 200 });
    assertTimedOut(timed, 200, 'timed out on the leader');
    assert.equal((await leader.clusterStats()).inFlightCalls, 0);
    assert.equal(await leader.invoke('openGate', 'timed'), 1);

    assert.deepEqual(await leader.invoke('recorded'), ['run', 'timed'], 'the pre-aborted call never ran');
    for (const id of ['pre', 'run', 'timed']) await assertDroppedSilently(leader, id, `leader call ${id}`);
    // The follower was not disturbed.
    assert.equal(await f!.invoke('echo', 'ok'), 'ok');
    await closeAllOf([f!, leader]);
  });
});

// ---------------------------------------------------------------------------------------------
// In this process

interface Recorded {
  level: 'info' | 'warn' | 'error';
  message: string;
}

function recordingLogger(): { logger: { info(m: string): void; warn(m: string): void; error(m: string | Error): void }; lines: Recorded[] } {
  const lines: Recorded[] = [];
  return {
    lines,
    logger: {
      info: m => lines.push({ level: 'info', message: m }),
      warn: m => lines.push({ level: 'warn', message: m }),
      error: m => lines.push({ level: 'error', message: String(m) }),
    },
  };
}

/**
 * A FixtureClient whose instances are kept, to look at what reached them. A subclass's inherited
 * methods are not auto-generated (own prototype keys only, as in 3.x): delegate them explicitly.
 */
function spiedClass(): { Spied: typeof FixtureClient; instances: FixtureClient[] } {
  const instances: FixtureClient[] = [];
  class Spied extends FixtureClient {
    constructor(options?: object) {
      super(options);
      instances.push(this);
    }
  }
  return { Spied, instances };
}

/** A promise's state without waiting: 'pending', 'resolved' or 'rejected'. */
async function stateOf(p: Promise<unknown>): Promise<string> {
  const marker = Symbol('pending');
  return Promise.race([p, Promise.resolve(marker)]).then(v => (v === marker ? 'pending' : 'resolved'), () => 'rejected');
}

const isAbort = (reason: unknown) => (err: unknown): boolean => {
  assert.ok(err instanceof CallAbortedError, `a CallAbortedError, got ${String(err)}`);
  assert.equal(err.code, 'ERR_CLUSTER_ABORTED');
  assert.equal(err.name, 'AbortError');
  assert.equal(err.cause, reason, 'cause is the signal\'s reason');
  return true;
};

describe('in one process', () => {
  test('bad options throw ERR_CLUSTER_INVALID_ARGUMENT synchronously; the client still works', { timeout: 30_000 }, async () => {
    const { logger, lines } = recordingLogger();
    const client = cluster(FixtureClient, { port: await freePort(), logger, name: 'bad-options' }).create({});
    await client.ready();
    const bad: unknown[] = [
      undefined, null, 42, 'signal', true,
      { foo: 1 }, { signal: undefined, timeout: undefined, extra: true },
      { signal: {} }, { signal: 'abort' }, { signal: new AbortController() }, { signal: null },
      { timeout: 0 }, { timeout: -1 }, { timeout: 1.5 }, { timeout: 2 ** 31 }, { timeout: Number.NaN }, { timeout: Number.POSITIVE_INFINITY }, { timeout: '100' }, { timeout: null },
    ];
    for (const options of bad) {
      assert.throws(() => client.withCallOptions(options as CallOptions), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_CLUSTER_INVALID_ARGUMENT', `${JSON.stringify(options) ?? String(options)}: code`);
        assert.equal(err.name, 'InvalidArgumentError');
        return true;
      }, `withCallOptions(${JSON.stringify(options) ?? String(options)}) throws`);
    }
    // The limits themselves and an empty object are fine.
    for (const options of [{}, { timeout: 1 }, { timeout: 2 ** 31 - 1 }, { signal: new AbortController().signal }, { signal: undefined, timeout: undefined }]) {
      assert.doesNotThrow(() => client.withCallOptions(options), `withCallOptions(${JSON.stringify(options)})`);
    }
    assert.equal(await client.echo('still works'), 'still works');
    assert.equal(await client.withCallOptions({ timeout: 10_000 }).echo('with options'), 'with options');
    const s = stats(client);
    assert.equal(s.inFlightCalls, 0);
    assert.equal(s.queuedCalls, 0);
    assert.deepEqual(lines, [], 'nothing logged');
    await close(client);
  });

  test('the view: same client, options only on delegated invoke methods', { timeout: 30_000 }, async () => {
    const client = cluster(FixtureClient, { singleMode: true, name: 'view', logger: recordingLogger().logger }).create({});
    await client.ready();
    const view = client.withCallOptions({ signal: AbortSignal.abort('no') });
    assert.equal(view.state, client.state, 'a getter reads the client');
    assert.equal(view.isClusterClientLeader, true);
    assert.equal(stats(view).name, 'view', 'cluster.stats works on the view');
    await assert.rejects(view.echo('x'), isAbort('no'));
    assert.equal(await client.echo('x'), 'x', 'the client itself has no options');
    await close(client);
  });

  test('single mode: pre-aborted, aborted while running, timed out; late answers dropped; nothing logged', { timeout: 30_000 }, async () => {
    const { logger, lines } = recordingLogger();
    const { Spied, instances } = spiedClass();
    const client = cluster(Spied, { singleMode: true, name: 'cancel-single', logger }).delegate('record').delegate('gate').delegate('echo').create({});
    await client.ready();
    const data = instances[0]!;

    const early = new Error('early');
    await assert.rejects(client.withCallOptions({ signal: AbortSignal.abort(early) }).record('pre'), isAbort(early));
    assert.deepEqual(data.calls, [], 'a pre-aborted call never reaches the DataClient');

    const controller = new AbortController();
    const settled: unknown[] = [];
    const running = client.withCallOptions({ signal: controller.signal }).gate('run');
    running.then(v => settled.push(['resolved', v]), e => settled.push(['rejected', e]));
    await data.gateReached('run');
    assert.equal(stats(client).inFlightCalls, 1);
    controller.abort(); // no reason: the signal's default reason, a DOMException
    await assert.rejects(running, (err: Error & { code?: string; cause?: unknown }) => {
      assert.equal(err.code, 'ERR_CLUSTER_ABORTED');
      assert.ok(err.cause instanceof DOMException && err.cause.name === 'AbortError', `cause is the default reason: ${String(err.cause)}`);
      return true;
    });
    assert.equal(stats(client).inFlightCalls, 0, 'back to 0 at once');
    assert.equal(await data.openGate('run'), 1, 'the DataClient still ran it');

    const timed = client.withCallOptions({ timeout: 50 }).gate('timed');
    timed.catch(() => undefined);
    await assert.rejects(timed, (err: Error & { code?: string }) => err.code === 'ERR_CLUSTER_RESPONSE_TIMEOUT');
    assert.equal(stats(client).inFlightCalls, 0);
    assert.equal(await data.openGate('timed'), 1);

    // Callback style: the callback is called once, with the abort error.
    const calls: unknown[][] = [];
    const cbController = new AbortController();
    // Any delegated invoke takes a trailing callback instead of returning a promise.
    const gateWithCallback = client.withCallOptions({ signal: cbController.signal }).gate as unknown as (tag: string, cb: (...args: unknown[]) => void) => void;
    gateWithCallback('cb', (...args: unknown[]) => calls.push(args));
    await data.gateReached('cb');
    cbController.abort('cb reason');
    assert.equal(calls.length, 1, 'the callback is called at once');
    assert.ok(isAbort('cb reason')(calls[0]![0]));
    assert.equal(await data.openGate('cb'), 1);

    assert.equal(await client.echo('after'), 'after');
    assert.equal(calls.length, 1, 'the late answer did not call the callback again');
    assert.equal(settled.length, 1, 'the aborted promise settled once');
    assert.equal(await stateOf(running), 'rejected');
    assert.deepEqual(lines.filter(l => l.level !== 'info'), [], 'nothing logged');
    await close(client);
  });

  test('invokeOneway delegates take the options: a pre-aborted oneway is never sent', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const { logger, lines } = recordingLogger();
    const { Spied, instances } = spiedClass();
    const make = () => cluster(Spied, { port, name: 'oneway', logger }).delegate('record', 'invokeOneway').delegate('recorded').create({});
    const leader = make();
    await leader.ready();
    const follower = make();
    await follower.ready();
    assert.equal(follower.isClusterClientLeader, false);
    assert.equal(follower.withCallOptions({ signal: AbortSignal.abort('no') }).record('aborted'), undefined, 'a oneway returns nothing');
    follower.withCallOptions({ signal: new AbortController().signal, timeout: 10_000 }).record('sent');
    // The same connection, in order: the oneways were read before this call.
    assert.deepEqual(await follower.recorded(), ['sent'], 'only the oneway that was not aborted reached the leader');
    leader.withCallOptions({ signal: AbortSignal.abort('no') }).record('leader-aborted');
    leader.withCallOptions({ timeout: 10_000 }).record('leader-sent');
    assert.deepEqual(await leader.recorded(), ['sent', 'leader-sent'], 'on the leader too');
    assert.equal(instances.length, 1, 'one DataClient');
    assert.deepEqual(lines.filter(l => l.level !== 'info'), [], 'nothing logged');
    await close(follower);
    await close(leader);
  });

  test('the timeout error names the timeout the caller set, whichever timer fires first', {
    timeout: 30_000,
  }, async () => {
    const TIMEOUT = 2000;
    const port = await freePort();
    const { logger } = recordingLogger();
    const { Spied, instances } = spiedClass();
    const make = (isLeader: boolean) => cluster(Spied, { port, name: 'timeout-named', logger, isLeader, responseTimeout: 30_000 }).delegate('gate').create({});
    // Queued first (no leader yet), so the calls are sent with less than TIMEOUT left.
    const follower = make(false);
    const calls = Array.from({ length: 5 }, (_, i) => follower.withCallOptions({ timeout: TIMEOUT }).gate(`t${i}`).then(() => undefined, (err: unknown) => err));
    const leader = make(true);
    await leader.ready();
    await follower.ready();
    const errors = await Promise.all(calls) as Array<Error & { code?: string; timeout?: number }>;
    // Answer the held calls, so the leader's graceful close does not wait for them.
    for (let i = 0; i < calls.length; i++) await instances[0]!.openGate(`t${i}`);
    await close(follower);
    await close(leader);
    for (const err of errors) {
      assert.equal(err.code, 'ERR_CLUSTER_RESPONSE_TIMEOUT');
      assert.equal(err.timeout, TIMEOUT, `the error names the caller's timeout: ${err.message}`);
      assert.match(err.message, /the per-call timeout passed/);
    }
  });

  test('a per-call timeout longer than responseTimeout also applies while the call waits for a leader', {
    timeout: 30_000,
  }, async () => {
    const port = await freePort();
    const { logger } = recordingLogger();
    const follower = cluster(FixtureClient, { port, name: 'long-queued', logger, isLeader: false, responseTimeout: 300, maxWaitTime: 30_000 }).create({});
    let leader: typeof follower | undefined;
    try {
      const long = follower.withCallOptions({ timeout: 30_000 }).echo('long').then(v => ({ ok: v }), (err: Error) => ({ err: err.message }));
      // Control, queued after it: responseTimeout applies to a call without options.
      await assert.rejects(follower.echo('control'), (err: Error & { code?: string }) => err.code === 'ERR_CLUSTER_RESPONSE_TIMEOUT');
      assert.equal(stats(follower).queuedCalls, 1, 'the call with its own, longer timeout still waits for a leader');
      leader = cluster(FixtureClient, { port, name: 'long-queued', logger, isLeader: true }).create({});
      await leader.ready();
      assert.deepEqual(await long, { ok: 'long' }, 'it goes to the leader that comes later');
    } finally {
      await close(follower);
      if (leader) await close(leader);
    }
  });

  test('many calls sharing one AbortSignal: no MaxListenersExceededWarning', {
    timeout: 30_000,
  }, async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      if (w.name === 'MaxListenersExceededWarning') warnings.push(w);
    };
    process.on('warning', onWarning);
    const { Spied, instances } = spiedClass();
    const client = cluster(Spied, { singleMode: true, name: 'shared-signal', logger: recordingLogger().logger }).delegate('gate').create({});
    try {
      await client.ready();
      const controller = new AbortController();
      const calls = Array.from({ length: 20 }, () => client.withCallOptions({ signal: controller.signal }).gate('shared'));
      await instances[0]!.gateReached('shared');
      assert.equal(stats(client).inFlightCalls, 20);
      assert.equal(await instances[0]!.openGate('shared'), 20);
      assert.deepEqual(await Promise.all(calls), calls.map(() => 'shared'));
      // process.emitWarning emits on a later tick: one more turn of the event loop.
      await new Promise(resolve => setImmediate(resolve));
      assert.deepEqual(warnings.map(w => w.message), [], 'no warning about the abort listeners');
    } finally {
      process.off('warning', onWarning);
      await close(client);
    }
  });

  test('a callback-style call on a follower takes the options', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const { logger, lines } = recordingLogger();
    const make = () => cluster(FixtureClient, { port, name: 'cb', logger }).delegate('echoCallback').create({});
    const leader = make();
    await leader.ready();
    const follower = make();
    await follower.ready();
    const results: unknown[][] = [];
    follower.withCallOptions({ signal: AbortSignal.abort('cb-no') }).echoCallback('x', (...args: unknown[]) => results.push(args));
    follower.withCallOptions({ timeout: 10_000 }).echoCallback('y', (...args: unknown[]) => results.push(args));
    assert.equal(await follower.echo('sync'), 'sync');
    assert.equal(results.length, 2, 'each callback once');
    assert.ok(isAbort('cb-no')(results[0]![0]));
    assert.deepEqual(results[1], [null, 'y']);
    assert.deepEqual(lines.filter(l => l.level !== 'info'), [], 'nothing logged');
    await close(follower);
    await close(leader);
  });
});
