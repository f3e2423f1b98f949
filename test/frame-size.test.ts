/**
 * Values larger than maxFrameSize, in both directions: only that call fails, with a coded error
 * naming the size and the limit, checked before anything is written; the other calls in flight
 * on the same connection are answered and the connection stays (no re-election).
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import cluster, { close } from '../src/index.js';
import { freePort } from './helpers/group.js';

class Sizes extends EventEmitter {
  #listeners: Array<(value: unknown) => void> = [];
  /** Answers after `ms`, so calls overlap. */
  async echo(value: unknown, ms = 0): Promise<unknown> {
    await new Promise(resolve => setTimeout(resolve, ms));
    return value;
  }

  async big(bytes: number): Promise<string> {
    return 'x'.repeat(bytes);
  }

  subscribe(_reg: unknown, listener: (value: unknown) => void): void {
    this.#listeners.push(listener);
  }

  async push(value: unknown): Promise<void> {
    for (const listener of this.#listeners) listener(value);
  }
}

type Coded = Error & { code?: string; size?: number; limit?: number };

/** A leader and a follower (same process, over loopback) with maxFrameSize 4096; the warnings logged. */
async function pair() {
  const port = await freePort();
  const warnings: string[] = [];
  const logger = { info() {}, warn: (m: string) => warnings.push(m), error() {} };
  const options = { port, maxFrameSize: 4096, logger };
  const leader = cluster(Sizes, options).create();
  await leader.ready();
  const follower = cluster(Sizes, options).create();
  await follower.ready();
  return { leader, follower, warnings };
}

describe('values larger than maxFrameSize', () => {
  test('an argument or a result too large fails only its own call; the other call in flight and later calls are answered on the same connection', { timeout: 30_000 }, async () => {
    const { leader, follower, warnings } = await pair();
    assert.equal(follower.isClusterClientLeader, false);
    const before = follower.stats();

    // A slow call in flight while the too-large ones fail.
    const inFlight = follower.echo('still here', 200);
    await assert.rejects(follower.echo('a'.repeat(8000)), (err: Coded) => {
      assert.equal(err.code, 'ERR_CLUSTER_FRAME_TOO_LARGE');
      assert.equal(err.limit, 4096);
      assert.ok(err.size! > 8000, `size ${err.size}`);
      assert.match(err.message, /the call echo\(\) is \d+ bytes on the wire, more than maxFrameSize 4096; not sent/);
      return true;
    });
    await assert.rejects(follower.big(10_000), (err: Coded) => {
      assert.equal(err.code, 'ERR_CLUSTER_FRAME_TOO_LARGE');
      assert.match(err.message, /the result of big\(\) is \d+ bytes on the wire, more than maxFrameSize 4096/);
      return true;
    });
    assert.equal(await inFlight, 'still here');
    assert.equal(await follower.big(100), 'x'.repeat(100));
    const after = follower.stats();
    assert.equal(after.elections, before.elections, 'no re-election: the connection stayed');
    assert.ok(warnings.some(w => /the result of big\(\)/.test(w)), 'the leader says what it did not send');
    await close(follower);
    await close(leader);
  });

  test('a subscription value too large is not sent to a follower (a warning says so); the next values are', { timeout: 30_000 }, async () => {
    const { leader, follower, warnings } = await pair();
    const seen: unknown[] = [];
    let gotSmall!: () => void;
    const small = new Promise<void>(resolve => (gotSmall = resolve));
    follower.subscribe({ key: 'k' }, (value: unknown) => {
      seen.push(typeof value === 'string' && value.length > 100 ? `${value.length} chars` : value);
      if (value === 'small') gotSmall();
    });
    // Subscribed at the leader once a call made after it is answered (same connection, in order).
    await follower.echo('sync');
    await leader.push('y'.repeat(10_000));
    await leader.push('small');
    await small;
    assert.deepEqual(seen, ['small'], 'only the value that fits arrived');
    assert.ok(warnings.some(w => /the subscription value for .* is \d+ bytes on the wire, more than maxFrameSize 4096/.test(w)), JSON.stringify(warnings));
    await close(follower);
    await close(leader);
  });
});
