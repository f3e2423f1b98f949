/**
 * A DataClient that does not get ready: the leader warns once (startWarningAfter) naming the
 * class and the process, and calls waiting meanwhile say what they wait for, on the leader and
 * on a follower (a second client of the same name in this process follows over loopback).
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import cluster, { close } from '../src/index.js';
import { freePort } from './helpers/group.js';
import { within } from './helpers/within.js';

/** Ready only when told. */
class NeverReady extends EventEmitter {
  static release: (() => void) | undefined;
  ready(callback: (err?: Error) => void): void {
    NeverReady.release = () => callback();
  }

  async ping(): Promise<string> {
    return 'pong';
  }
}

function recordingLogger(): { logger: { info(): void; warn(message: string): void; error(): void }; warnings: string[]; warned: Promise<string> } {
  const warnings: string[] = [];
  let resolve!: (message: string) => void;
  const warned = new Promise<string>(r => (resolve = r));
  return {
    warnings,
    warned,
    logger: {
      info() {},
      warn(message: string) {
        warnings.push(message);
        if (/still not ready/.test(message)) resolve(message);
      },
      error() {},
    },
  };
}

describe('a DataClient that does not get ready', () => {
  test('the leader warns once after startWarningAfter, naming the class and pid; waiting calls say what they wait for; all is served once it is ready', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const { logger, warnings, warned } = recordingLogger();
    const options = { port, logger, startWarningAfter: 200, responseTimeout: 500 };
    const leader = cluster(NeverReady, options).create();
    const message = await within(warned, 5_000, () => 'the warning');
    assert.match(message, /"NeverReady": the DataClient \(NeverReady\) in pid \d+ is still not ready after 200ms \(startWarningAfter\)/);
    assert.ok(message.includes(`pid ${process.pid}`));

    // The leader's own call: it leads, and says so.
    await assert.rejects(leader.ping(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_CLUSTER_RESPONSE_TIMEOUT');
      assert.match(err.message, /this process leads "NeverReady" but its DataClient is not ready yet/);
      return true;
    });
    // A follower (same name, same process: it registers over loopback and waits for the answer).
    const follower = cluster(NeverReady, options).create();
    await assert.rejects(follower.ping(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_CLUSTER_RESPONSE_TIMEOUT');
      assert.match(err.message, /the leader has not accepted this follower yet: its DataClient is not ready/);
      return true;
    });
    assert.equal(warnings.filter(w => /still not ready/.test(w)).length, 1, 'warned once');

    NeverReady.release!();
    await leader.ready();
    await follower.ready();
    assert.equal(follower.isClusterClientLeader, false);
    assert.equal(await follower.ping(), 'pong');
    assert.equal(await leader.ping(), 'pong');
    await close(follower);
    await close(leader);
  });

  test('startWarningAfter: 0 turns the warning off; a bad value is refused before anything starts', { timeout: 30_000 }, async () => {
    assert.throws(() => cluster(NeverReady, { startWarningAfter: -1 }), (err: Error & { code?: string; option?: string }) => err.code === 'ERR_CLUSTER_INVALID_OPTION' && err.option === 'startWarningAfter');
    assert.throws(() => cluster(NeverReady, { startWarningAfter: 'soon' as unknown as number }), (err: Error & { code?: string }) => err.code === 'ERR_CLUSTER_INVALID_OPTION');
    const port = await freePort();
    const { logger, warnings } = recordingLogger();
    const leader = cluster(NeverReady, { port, logger, startWarningAfter: 0, responseTimeout: 300 }).create();
    // A call's timeout (longer than any warning delay that could have been armed by mistake).
    await assert.rejects(leader.ping(), (err: Error & { code?: string }) => err.code === 'ERR_CLUSTER_RESPONSE_TIMEOUT');
    assert.deepEqual(warnings.filter(w => /still not ready/.test(w)), []);
    NeverReady.release!();
    await leader.ready();
    await close(leader);
  });
});
