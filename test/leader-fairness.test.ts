/**
 * The leader's own process calls its local client in a loop whose calls resolve without I/O (a
 * DataClient answering from memory), never yielding on purpose. Followers must still be answered
 * and new followers must still register meanwhile: local answers give the event loop to the
 * sockets every few ms (src/roles/local.ts).
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { freePort, startLoop, stopLoop, trackMembers } from './helpers/group.js';
import { within } from './helpers/within.js';

const { spawn } = trackMembers();

describe('leader fairness', () => {
  test('during a 5 s never-yielding local loop on the leader, no follower call times out (responseTimeout 1000) and a new follower registers', { timeout: 90_000 }, async t => {
    const port = await freePort();
    const options = { port, responseTimeout: 1000 };
    const leader = spawn({ ...options, isLeader: true });
    assert.equal(await leader.ready(), true);
    const busy = spawn(options);
    assert.equal(await busy.ready(), false);
    await startLoop(busy);

    const SPIN_MS = 5000;
    const t0 = performance.now();
    const spin = leader.command({ cmd: 'spin', ms: SPIN_MS }) as Promise<number>;
    // A follower that starts while the leader spins: it must register before the spin ends.
    const late = spawn(options);
    assert.equal(await within(late.ready(), 30_000, () => 'the late follower registers'), false);
    const registeredAfter = performance.now() - t0;
    assert.equal(await late.invoke('pid'), leader.pid, 'the late follower is served during the spin');
    const servedAfter = performance.now() - t0;
    const calls = await within(spin, 30_000, () => 'the spin ends');
    const spunFor = performance.now() - t0;
    const stats = await stopLoop(busy);
    t.diagnostic(`spin: ${calls} local calls in ${SPIN_MS} ms; late follower registered after ${registeredAfter.toFixed(0)} ms and served after ${servedAfter.toFixed(0)} ms; busy follower: ${stats.ok} calls ok, failures ${JSON.stringify(stats.failures)}`);
    assert.ok(registeredAfter < spunFor && servedAfter < spunFor, `the late follower was served while the leader spun (${servedAfter.toFixed(0)} ms < ${spunFor.toFixed(0)} ms)`);
    assert.deepEqual(stats.failures, {}, 'no follower call failed or timed out');
    assert.ok(stats.ok > 0, 'the busy follower was answered');
    assert.ok(calls > 1000, `the spin itself kept running (${calls} calls)`);
  });
});
