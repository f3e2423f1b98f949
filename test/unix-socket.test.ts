/**
 * The unix domain socket transport (`path`): what only it has. The shared behaviour (calls,
 * errors, fan-out, failover, roles) runs over both transports in cluster.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { after, describe, test } from 'node:test';
import cluster, { close } from '../src/index.js';
import { FixtureClient } from './fixtures/data-client.js';
import { freeSocketPath } from './helpers/endpoint.js';
import { type Member, RemoteError, killAll, leaderOf, spawnGroup, spawnMember } from './helpers/group.js';

const quiet = { info() {}, warn() {}, error() {} };
const live = new Set<Member>();
after(() => killAll(live));

async function group(n: number, path: string): Promise<Member[]> {
  const members = await spawnGroup(n, { path });
  for (const m of members) live.add(m);
  return members;
}

/** A socket file left behind: a child listens on `path`, then is SIGKILLed (the file stays). */
async function staleSocket(path: string): Promise<void> {
  const script = `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.send('up'))`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await once(child, 'message');
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.ok(fs.lstatSync(path).isSocket(), 'the killed process left its socket file');
}

describe('unix socket transport', { skip: process.platform === 'win32' ? 'unix sockets' : false }, () => {
  test('the socket file is mode 0600 (only this user can connect) and is removed by a graceful close', { timeout: 30_000 }, async () => {
    const path = freeSocketPath();
    const leader = cluster(FixtureClient, { path, logger: quiet }).delegate('pid').create({});
    await leader.ready();
    assert.equal(leader.isClusterClientLeader, true);
    assert.equal(fs.statSync(path).mode & 0o777, 0o600);
    const follower = cluster(FixtureClient, { path, logger: quiet }).delegate('pid').create({});
    await follower.ready();
    assert.equal(follower.isClusterClientLeader, false);
    assert.equal(await follower.pid(), process.pid);
    await close(follower);
    await close(leader);
    assert.equal(fs.existsSync(path), false, 'no socket file left');
  });

  test('a stale socket file from a killed process is reclaimed: 6 processes racing for it make exactly one leader', { timeout: 60_000 }, async () => {
    for (let round = 0; round < 3; round++) {
      const path = freeSocketPath();
      await staleSocket(path);
      const members = await group(6, path);
      const leaders = await leaderOf(members);
      assert.equal(leaders.length, 1, `round ${round}: exactly one leader`);
      const pids = await Promise.all(members.map(m => m.invoke('pid')));
      assert.deepEqual(new Set(pids), new Set([leaders[0]!.pid]), `round ${round}: all served by that leader`);
      assert.equal(fs.existsSync(`${path}.lock`), false, 'the reclaim lock is released');
      await Promise.all(members.map(m => m.close()));
      for (const m of members) live.delete(m);
    }
  });

  test('SIGKILL of the leader leaves its socket file; the followers reclaim it and are served again', { timeout: 60_000 }, async () => {
    const path = freeSocketPath();
    const members = await group(4, path);
    const [leader] = await leaderOf(members);
    await leader!.kill();
    live.delete(leader!);
    const rest = members.filter(m => m !== leader);
    const deadline = Date.now() + 30_000;
    const pids = await Promise.all(rest.map(async m => {
      for (;;) {
        try {
          return await m.invoke('pid');
        } catch (err) {
          // Only a call in flight at the kill may fail, with the documented code.
          assert.equal((err as RemoteError).code, 'ERR_CLUSTER_LEADER_LOST');
          assert.ok(Date.now() < deadline, 'served again in time');
        }
      }
    }));
    const leaders = await leaderOf(rest);
    assert.equal(leaders.length, 1);
    assert.deepEqual(new Set(pids), new Set([leaders[0]!.pid]));
    assert.equal(fs.statSync(path).mode & 0o777, 0o600, 'the reclaimed socket is mode 0600 too');
  });

  test('a path that exists and is not a socket: ERR_CLUSTER_PORT_CONFLICT and the file is left untouched', { timeout: 30_000 }, async () => {
    const path = freeSocketPath();
    fs.writeFileSync(path, 'precious');
    const m = spawnMember({ path });
    live.add(m);
    await assert.rejects(m.ready(), (err: RemoteError) => {
      assert.equal(err.code, 'ERR_CLUSTER_PORT_CONFLICT');
      assert.ok(err.message.includes(path), err.message);
      return true;
    });
    assert.equal(fs.readFileSync(path, 'utf8'), 'precious');
  });

  test('path with port, an empty path or one over 103 bytes: ERR_CLUSTER_INVALID_OPTION naming path', () => {
    for (const options of [{ path: '/tmp/x.sock', port: 7000 }, { path: '' }, { path: `/tmp/${'x'.repeat(120)}` }]) {
      assert.throws(() => cluster(FixtureClient, options), (err: Error & { code?: string; option?: string }) => {
        assert.equal(err.code, 'ERR_CLUSTER_INVALID_OPTION');
        assert.equal(err.option, 'path');
        return true;
      }, JSON.stringify(options));
    }
  });
});
