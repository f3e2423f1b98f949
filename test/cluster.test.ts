/**
 * Leader/follower behaviour across real processes on real loopback sockets.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type Member, RemoteError, freePort, killAll, leaderOf, spawnGroup, spawnMember } from './helpers/group.js';
import { meetingPoint, TRANSPORTS } from './helpers/endpoint.js';

const live = new Set<Member>();
after(() => killAll(live));

async function group(n: number, options: Parameters<typeof spawnGroup>[1], fixture?: Parameters<typeof spawnGroup>[2]): Promise<Member[]> {
  const members = await spawnGroup(n, options, fixture);
  for (const m of members) live.add(m);
  return members;
}

/**
 * Invokes, retrying only a call that failed with ERR_CLUSTER_LEADER_LOST: a call sent just as
 * the leader died is in flight, fails with that code and is never re-sent by the library (at
 * most once). Any other error fails the test.
 */
async function invokeAfterKill(m: Member, method: string, ...args: unknown[]): Promise<unknown> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await m.invoke(method, ...args);
    } catch (err) {
      if ((err as RemoteError).code !== 'ERR_CLUSTER_LEADER_LOST' || attempt >= 3) throw err;
    }
  }
}

async function closeAll(members: Member[]): Promise<void> {
  // Followers first, then the leader: no re-election noise.
  const states = await Promise.all(members.map(m => (m.child.exitCode === null ? m.command({ cmd: 'state' }) : { isLeader: false })));
  const ordered = members.map((m, i) => ({ m, leader: (states[i] as { isLeader: boolean }).isLeader })).sort((a, b) => Number(a.leader) - Number(b.leader));
  for (const { m } of ordered) {
    await m.close();
    live.delete(m);
  }
}

for (const transport of TRANSPORTS) {
  describe(`a group of 4 processes on one ${transport === 'tcp' ? 'port' : 'unix socket'}`, () => {
    test('exactly one leader; every call style returns the leader\'s result', { timeout: 60_000 }, async () => {
      const at = await meetingPoint(transport);
      const members = await group(4, { ...at });
      const leaders = await leaderOf(members);
      assert.equal(leaders.length, 1, 'exactly one leader');
      const leaderPid = leaders[0]!.pid;
      for (const m of members) {
        assert.equal(await m.invoke('pid'), leaderPid, 'pid() runs in the leader');
        const value = { s: 'héllo ✓', n: 42, nested: [1, { a: null }], empty: '' };
        assert.deepEqual(await m.invoke('echo', value), value, 'async method');
        assert.deepEqual(await m.invoke('echoPromise', value), value, 'promise-returning method');
        assert.deepEqual(await m.invoke('echoGenerator', value), value, 'generator method');
        assert.deepEqual(await m.invoke('echoCallback', value), value, 'callback-style method, called for a promise');
        assert.deepEqual(await m.invokeCallback('echoCallback', value), value, 'callback-style method, called with a callback');
      }
      await closeAll(members);
    });

    test('DataClient errors reach followers with name, message, code and the leader\'s stack', { timeout: 60_000 }, async () => {
      const at = await meetingPoint(transport);
      const members = await group(3, { ...at });
      const [leader] = await leaderOf(members);
      const follower = members.find(m => m !== leader)!;
      await assert.rejects(follower.invoke('fail', 'broken on purpose'), (err: RemoteError) => {
        assert.equal(err.remoteName, 'TypeError');
        assert.equal(err.message, 'broken on purpose');
        assert.equal(err.code, 'E_FIXTURE');
        assert.match(err.remoteStack ?? '', /fail/, 'stack comes from the leader\'s DataClient');
        return true;
      });
      await assert.rejects(follower.invokeCallback('failCallback', 'cb broken'), (err: RemoteError) => {
        assert.equal(err.remoteName, 'RangeError');
        assert.equal(err.code, 'E_FIXTURE_CB');
        return true;
      });
      await assert.rejects(follower.invoke('echo', 1).then(() => follower.command({ cmd: 'invoke', method: 'nope', args: [] })), (err: RemoteError) => {
        assert.equal(err.name, 'Error', 'a method the client does not have fails locally');
        return true;
      });
      await closeAll(members);
    });

    test('subscribe reaches every process; late subscribers get the last value; unSubscribe stops delivery; one upstream subscription', { timeout: 60_000 }, async () => {
      const at = await meetingPoint(transport);
      const members = await group(4, { ...at });
      const [leader] = await leaderOf(members);
      const [a, b, c] = members.filter(m => m !== leader) as [Member, Member, Member];
      for (const m of [leader!, a, b]) await m.command({ cmd: 'subscribe', key: 'cfg' });
      // Every subscribe is sent before this invoke on the same ordered socket, so the leader knows all.
      for (const m of [a, b]) await m.invoke('echo', 'sync');
      assert.equal(await a.invoke('push', 'cfg', { v: 1 }), 1, 'one upstream listener for the key');
      for (const m of [leader!, a, b]) assert.deepEqual(await m.waitValues('cfg', 1), [{ v: 1 }]);

      await c.command({ cmd: 'subscribe', key: 'cfg' });
      assert.deepEqual(await c.waitValues('cfg', 1), [{ v: 1 }], 'late subscriber gets the last value at once');

      await b.command({ cmd: 'unSubscribe', key: 'cfg' });
      await b.invoke('echo', 'sync');
      await a.invoke('push', 'cfg', { v: 2 });
      for (const m of [leader!, a, c]) assert.deepEqual((await m.waitValues('cfg', 2)).at(-1), { v: 2 });
      // b's unSubscribe was processed before the push (same socket order): it can never get v2.
      await b.invoke('echo', 'sync');
      assert.deepEqual(b.values('cfg'), [{ v: 1 }], 'no delivery after unSubscribe');
      const stats = await leader!.invoke('stats') as { upstreamSubscribes: number };
      assert.equal(stats.upstreamSubscribes, 1, 'one upstream subscription for the key, however many subscribers');
      await closeAll(members);
    });

    test('isBroadcast: false pushes each value to exactly one subscriber', { timeout: 60_000 }, async () => {
      const at = await meetingPoint(transport);
      const members = await group(3, { ...at, isBroadcast: false });
      for (const m of members) await m.command({ cmd: 'subscribe', key: 'job' });
      for (const m of members) await m.invoke('echo', 'sync');
      const pushes = 12;
      for (let i = 0; i < pushes; i++) await members[0]!.invoke('push', 'job', i);
      // Each value goes to one process; wait until all 12 arrived somewhere.
      const received = (): number => members.reduce((n, m) => n + m.values('job').length, 0);
      await Promise.all(members.map(m => m.invoke('echo', 'sync')));
      while (received() < pushes) await members[0]!.invoke('echo', 'flush');
      assert.equal(received(), pushes, 'every value delivered exactly once in total');
      const all = members.flatMap(m => m.values('job')).sort((x, y) => Number(x) - Number(y));
      assert.deepEqual(all, Array.from({ length: pushes }, (_, i) => i));
      await closeAll(members);
    });

    test('publish reaches the DataClient once per publish', { timeout: 60_000 }, async () => {
      const at = await meetingPoint(transport);
      const members = await group(3, { ...at });
      const [leader] = await leaderOf(members);
      const followers = members.filter(m => m !== leader);
      for (const [i, m] of followers.entries()) await m.command({ cmd: 'publish', reg: { service: 'svc', from: i } });
      for (const m of followers) await m.invoke('echo', 'sync');
      const stats = await leader!.invoke('stats') as { published: Array<{ from: number }> };
      // Two processes, two sockets: arrival order between them is not defined; each arrives once.
      const published = [...stats.published].sort((x, y) => x.from - y.from);
      assert.deepEqual(published, [{ service: 'svc', from: 0 }, { service: 'svc', from: 1 }]);
      await closeAll(members);
    });
  });

  describe(`failover (${transport})`, () => {
    test('SIGKILL of the leader: a follower takes over, calls work again, subscriptions and publications are replayed', { timeout: 90_000 }, async () => {
      const at = await meetingPoint(transport);
      const members = await group(4, { ...at, responseTimeout: 5000 });
      const [leader] = await leaderOf(members);
      const followers = members.filter(m => m !== leader);
      for (const m of followers) await m.command({ cmd: 'subscribe', key: 'cfg' });
      await followers[0]!.command({ cmd: 'publish', reg: { service: 'replayed' } });
      for (const m of followers) await m.invoke('echo', 'sync');

      await leader!.kill('SIGKILL');
      live.delete(leader!);

      // Calls made now wait for the election and go to the new leader.
      const pids = await Promise.all(followers.map(m => invokeAfterKill(m, 'pid')));
      assert.equal(new Set(pids).size, 1, 'all followers agree on one new leader');
      assert.ok(followers.some(m => m.pid === pids[0]), 'the new leader is one of the survivors');
      assert.notEqual(pids[0], leader!.pid);
      const newLeaders = await leaderOf(followers);
      assert.equal(newLeaders.length, 1, 'exactly one leader after the failover');

      const stats = await newLeaders[0]!.invoke('stats') as { published: unknown[]; upstreamSubscribes: number };
      assert.deepEqual(stats.published, [{ service: 'replayed' }], 'the publication was replayed to the new leader');
      // Subscriptions were re-established: a value pushed now reaches every survivor.
      for (const m of followers) await m.invoke('echo', 'sync');
      await followers[0]!.invoke('push', 'cfg', 'after-failover');
      for (const m of followers) assert.deepEqual(await m.waitValues('cfg', 1), ['after-failover']);
      await closeAll(followers);
    });

    test('close() of the leader releases the port: another process leads and calls keep working', { timeout: 60_000 }, async () => {
      const at = await meetingPoint(transport);
      const members = await group(3, { ...at });
      const [leader] = await leaderOf(members);
      const followers = members.filter(m => m !== leader);
      await leader!.close();
      live.delete(leader!);
      const pids = await Promise.all(followers.map(m => m.invoke('pid')));
      if (new Set(pids).size !== 1) {
        // Two leaders: say who thought what, for the log.
        const seen = await Promise.all(followers.map(async m => ({ pid: m.pid, servedBy: pids[followers.indexOf(m)], stats: await m.clusterStats(), logs: m.logs() })));
        assert.fail(`the followers were served by different processes: ${JSON.stringify(seen.map(x => ({ pid: x.pid, servedBy: x.servedBy, state: x.stats.state, leaderPid: x.stats.leaderPid, lastElection: x.stats.lastElection, logs: x.logs })))}`);
      }
      assert.ok(followers.some(m => m.pid === pids[0]));
      await closeAll(followers);
    });
  });

  describe(`roles (${transport})`, () => {
    test('isLeader: true leads; isLeader: false follows and waits for a leader', { timeout: 60_000 }, async () => {
      const at = await meetingPoint(transport);
      const follower = spawnMember({ ...at, isLeader: false, maxWaitTime: 20_000 });
      live.add(follower);
      // The follower is waiting for a leader: start one.
      const leader = spawnMember({ ...at, isLeader: true });
      live.add(leader);
      assert.equal(await leader.ready(), true);
      assert.equal(await follower.ready(), false);
      assert.equal(await follower.invoke('pid'), leader.pid);
      await follower.close();
      await leader.close();
      live.delete(follower);
      live.delete(leader);
    });

    test('isLeader: true on a taken port fails with ERR_CLUSTER_PORT_IN_USE', { timeout: 60_000 }, async () => {
      const at = await meetingPoint(transport);
      const [first] = await group(1, { ...at });
      const second = spawnMember({ ...at, isLeader: true });
      live.add(second);
      await assert.rejects(second.ready(), (err: RemoteError) => err.code === 'ERR_CLUSTER_PORT_IN_USE');
      await second.kill();
      await first!.close();
      live.delete(first!);
      live.delete(second);
    });

    test('isLeader: false with no leader fails after maxWaitTime with ERR_CLUSTER_CONNECT_TIMEOUT', { timeout: 60_000 }, async () => {
      const at = await meetingPoint(transport);
      const m = spawnMember({ ...at, isLeader: false, maxWaitTime: 300 });
      live.add(m);
      await assert.rejects(m.ready(), (err: RemoteError) => err.code === 'ERR_CLUSTER_CONNECT_TIMEOUT');
      await m.kill();
      live.delete(m);
    });

    test('a DataClient that fails to start: the error reaches leader and followers', { timeout: 60_000 }, async () => {
      const at = await meetingPoint(transport);
      // The first process leads; its DataClient fails after 200 ms, while followers wait on register.
      const members = [spawnMember({ ...at, isLeader: true }, { failReady: 'upstream down', readyDelay: 200 })];
      live.add(members[0]!);
      await assert.rejects(members[0]!.ready(), (err: RemoteError) => err.message === 'upstream down' && err.code === 'E_FIXTURE_START');
      await members[0]!.kill();
      live.delete(members[0]!);
    });
  });
}

describe('single mode', () => {
  test('singleMode: no sockets, the process holds the DataClient', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const [m] = await group(1, { port, singleMode: true });
    assert.equal(await m!.invoke('pid'), m!.pid);
    await m!.command({ cmd: 'subscribe', key: 'k' });
    await m!.invoke('push', 'k', 'local');
    assert.deepEqual(await m!.waitValues('k', 1), ['local']);
    // No server was started: the port is still free.
    const other = await group(1, { port });
    assert.equal(await other[0]!.ready(), true, 'another process can lead on the port');
    await m!.close();
    await other[0]!.close();
    live.delete(m!);
    live.delete(other[0]!);
  });
});
