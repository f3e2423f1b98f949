/**
 * closeOnSignal(): a leader process that gets SIGTERM hands over to a successor (zero failed
 * calls for its followers) and exits with the configured code; bad options change nothing.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import cluster, { close, closeOnSignal } from '../src/index.js';
import { FixtureClient } from './fixtures/data-client.js';
import { freePort } from './helpers/group.js';

const SIGNAL_MEMBER = fileURLToPath(new URL('./fixtures/signal-member.js', import.meta.url));
const quiet = { info() {}, warn() {}, error() {} };

describe('closeOnSignal', () => {
  test('SIGTERM to the leader: it hands over, its follower has zero failed calls and leads next, the process exits with exitCode', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const child = fork(SIGNAL_MEMBER, [String(port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      const [ready] = await once(child, 'message') as [{ event: string; pid: number }];
      assert.equal(ready.event, 'ready');
      const follower = cluster(FixtureClient, { port, logger: quiet, responseTimeout: 10_000 }).delegate('pid').create({});
      await follower.ready();
      assert.equal(follower.isClusterClientLeader, false);
      assert.equal(await follower.pid(), ready.pid, 'served by the child before the signal');

      // Call continuously, one call in flight, through the signal and the handover.
      const failures: unknown[] = [];
      const servedBy = new Set<number>();
      let calling = true;
      const loop = (async () => {
        while (calling) {
          try {
            servedBy.add(await follower.pid());
          } catch (err) {
            failures.push(err);
            if (failures.length > 100) break;
          }
          // Once this process leads, a call is only microtasks: yield so I/O events are seen.
          await new Promise(resolve => setImmediate(resolve));
        }
      })();
      child.kill('SIGTERM');
      const [code, signal] = await exited;
      assert.equal(signal, null, 'exited by itself, not killed by the signal');
      assert.equal(code, 7, 'with the configured exitCode');
      // Served by the successor (this process) after the handover.
      const after = await follower.pid();
      calling = false;
      await loop;
      assert.equal(after, process.pid);
      assert.equal(follower.isClusterClientLeader, true);
      assert.deepEqual(failures, [], 'no call failed during the handover');
      assert.ok(servedBy.has(ready.pid) && servedBy.has(process.pid), 'calls were served by both leaders');
      await close(follower);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('bad options throw ERR_CLUSTER_INVALID_ARGUMENT and install no handler', () => {
    const before = process.listenerCount('SIGTERM');
    for (const bad of [{ signals: [] }, { signals: ['TERM'] }, { exitCode: 300 }, { exitCode: 1.5 }, { timeout: 0 }, { exit: 'yes' }] as unknown[]) {
      assert.throws(() => closeOnSignal(bad as Parameters<typeof closeOnSignal>[0]), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_CLUSTER_INVALID_ARGUMENT');
        assert.match(err.message, /closeOnSignal\(options\)/);
        return true;
      }, JSON.stringify(bad));
      assert.equal(process.listenerCount('SIGTERM'), before, `no handler left behind by ${JSON.stringify(bad)}`);
    }
  });

  test('the returned function removes the handlers', () => {
    const before = process.listenerCount('SIGUSR2');
    const remove = closeOnSignal({ signals: ['SIGUSR2'], exit: false });
    assert.equal(process.listenerCount('SIGUSR2'), before + 1);
    remove();
    assert.equal(process.listenerCount('SIGUSR2'), before);
  });
});
