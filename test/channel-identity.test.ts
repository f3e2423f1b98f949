/**
 * One channel name, two different DataClient classes on one port: refused, never served by the
 * other class's DataClient. In one process at create(), and across processes by the leader (our
 * extension of register_channel; a 3.x follower sends nothing and is not checked). Also what a
 * follower of a missing channel is told.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import cluster, { close } from '../src/index.js';
import { FixtureClient } from './fixtures/data-client.js';
import { freePort, RemoteError, trackMembers } from './helpers/group.js';
import { within } from './helpers/within.js';

const quiet = { info() {}, warn() {}, error() {} };
const { spawn } = trackMembers();

/** A different client that happens to use FixtureClient's name. */
class Registry extends EventEmitter {
  async echo(value: unknown): Promise<string> {
    return `registry: ${String(value)}`;
  }
}

class Cache extends EventEmitter {
  async echo(value: unknown): Promise<string> {
    return `cache: ${String(value)}`;
  }

  async get(key: string): Promise<string> {
    return key;
  }
}

type Mismatch = Error & { code?: string; leaderClass?: string; clientClass?: string; channel?: string; leaderPid?: number };

describe('channel identity', () => {
  test('in one process: a second class on a name already used on the port throws at create(); nothing else changes', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const registry = cluster(Registry, { port, name: 'shared', logger: quiet }).create();
    await registry.ready();
    assert.throws(() => cluster(Cache, { port, name: 'shared', logger: quiet }).create(), (err: Mismatch) => {
      assert.equal(err.code, 'ERR_CLUSTER_CHANNEL_MISMATCH');
      assert.equal(err.leaderClass, 'Registry');
      assert.equal(err.clientClass, 'Cache');
      assert.match(err.message, /channel "shared" is served by this process with DataClient class Registry, but this client's class is Cache/);
      assert.match(err.message, /give one of them another name \(options\.name\) or port/);
      return true;
    });
    // The refused create() left nothing behind: the first client still serves, and the same
    // class (another instance) still joins.
    assert.equal(await registry.echo('a'), 'registry: a');
    const again = cluster(Registry, { port, name: 'shared', logger: quiet }).create();
    await again.ready();
    assert.equal(await again.echo('b'), 'registry: b');
    // Another name, or another port, is fine.
    const elsewhere = cluster(Cache, { port, name: 'cache', logger: quiet }).create();
    await elsewhere.ready();
    assert.equal(await elsewhere.echo('c'), 'cache: c');
    // Once every client of the name is closed, the name is free for another class.
    await close(again);
    await close(registry);
    const reused = cluster(Cache, { port, name: 'shared', logger: quiet }).create();
    await reused.ready();
    assert.equal(await reused.get('k'), 'k');
    await close(reused);
    await close(elsewhere);
  });

  test('single mode: the same check', () => {
    const name = `single-${process.pid}`;
    const first = cluster(Registry, { singleMode: true, name, logger: quiet }).create();
    assert.throws(() => cluster(Cache, { singleMode: true, name, logger: quiet }).create(), (err: Mismatch) => err.code === 'ERR_CLUSTER_CHANNEL_MISMATCH');
    return close(first);
  });

  test('across processes: a follower of another class is refused by the leader with a coded error naming both classes and the leader pid; the leader keeps serving', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const warnings: string[] = [];
    const logger = { info() {}, warn: (m: string) => warnings.push(m), error() {} };
    // This process leads "FixtureClient" with another class than the member's FixtureClient.
    const leader = cluster(Registry, { port, name: 'FixtureClient', logger }).create();
    await leader.ready();
    const member = spawn({ port, connectTimeout: 5000 });
    const err = await within(member.ready().then(() => undefined, (e: unknown) => e), 20_000, () => 'the member\'s ready() settles');
    assert.ok(err instanceof RemoteError, 'ready() rejects');
    assert.equal(err.code, 'ERR_CLUSTER_CHANNEL_MISMATCH');
    assert.match(err.message, new RegExp(`served by the leader \\(pid ${process.pid}\\) with DataClient class Registry, but this client's class is FixtureClient \\(another class\\)`));
    assert.ok(warnings.some(w => /refused follower/.test(w) && /FixtureClient/.test(w)), 'the leader says whom it refused');
    assert.equal(await leader.echo('still'), 'registry: still');
    assert.equal(leader.stats().followers.length, 0, 'the refused follower is not one of the leader\'s');
    await member.kill();
    await close(leader);
  });

  test('across processes: a follower that delegates a method the leader\'s DataClient lacks is refused', { timeout: 60_000 }, async () => {
    const port = await freePort();
    // Same class name as the member's, but without most of its methods.
    const Lean = { FixtureClient: class extends EventEmitter {
      async echo(value: unknown): Promise<unknown> {
        return value;
      }
    } }.FixtureClient;
    const leader = cluster(Lean, { port, logger: quiet }).create();
    await leader.ready();
    assert.equal(leader.isClusterClientLeader, true);
    const member = spawn({ port, connectTimeout: 5000 });
    const err = await within(member.ready().then(() => undefined, (e: unknown) => e), 20_000, () => 'the member\'s ready() settles');
    assert.ok(err instanceof RemoteError);
    assert.equal(err.code, 'ERR_CLUSTER_CHANNEL_MISMATCH');
    assert.match(err.message, /the leader's DataClient has no "/);
    await member.kill();
    await close(leader);
  });

  test('the same class in two processes is served as before', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const leader = cluster(FixtureClient, { port, logger: quiet }).delegate('echoCallback').create({});
    await leader.ready();
    const member = spawn({ port });
    assert.equal(await member.ready(), false);
    assert.equal(await member.invoke('echo', 'x'), 'x');
    await member.kill();
    await close(leader);
  });

  test('a missing channel: the error names the leader pid, the channels it serves and the fix', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = cluster(Registry, { port, name: 'registry', logger: quiet }).create();
    await leader.ready();
    const lost = cluster(Cache, { port, name: 'cache', isLeader: false, maxWaitTime: 300, responseTimeout: 300, logger: quiet }).create();
    await assert.rejects(lost.ready(), (err: Error & { code?: string; leaderPid?: number; channels?: string[] }) => {
      assert.equal(err.code, 'ERR_CLUSTER_CHANNEL_NOT_FOUND');
      assert.equal(err.leaderPid, process.pid);
      assert.deepEqual(err.channels, ['registry']);
      assert.match(err.message, new RegExp(`the leader \\(pid ${process.pid}\\) has no channel "cache" \\(waited 300ms for it to be created\\); it serves "registry"\\. If another application leads on this port, give each its own port`));
      return true;
    });
    await close(lost);
    await close(leader);
  });
});

describe('channel identity and subclasses', () => {
  test('a DataClient subclass serves clients of its base class, in one process and across processes; the reverse is refused', { timeout: 60_000 }, async () => {
    const port = await freePort();
    class Recording extends FixtureClient {}
    const leader = cluster(Recording, { port, logger: quiet }).create({});
    await leader.ready();
    // Another process's client of the base class.
    const member = spawn({ port, name: 'Recording' });
    assert.equal(await member.ready(), false);
    assert.equal(await member.invoke('echo', 'via the subclass'), 'via the subclass');
    await member.kill();
    // In this process: a base-class client on the subclass's channel is served; a subclass
    // client on a base-class channel is not.
    const base = cluster(FixtureClient, { port, name: 'Recording', logger: quiet }).create({});
    await base.ready();
    assert.equal(await base.echo('b'), 'b');
    await close(base);
    const plain = cluster(FixtureClient, { port, name: 'plain', logger: quiet }).create({});
    assert.throws(() => cluster(Recording, { port, name: 'plain', logger: quiet }).create({}), (err: Mismatch) => err.code === 'ERR_CLUSTER_CHANNEL_MISMATCH');
    await close(plain);
    await close(leader);
  });
});
