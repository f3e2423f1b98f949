/**
 * Elections and leader changes under load, with real processes on real loopback sockets:
 * simultaneous start-up, repeated SIGKILL of the leader, graceful handover, a rolling restart,
 * a foreign program on the port and a stalled follower.
 *
 * Every wait is on an IPC answer or a process event, bounded by a generous deadline; timings
 * are reported with t.diagnostic, never asserted tightly (the suite runs on loaded 2-core machines).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import type { ClusterOptions } from '../src/index.js';
import type { LoopStats } from './fixtures/member.js';
import {
  Member, RemoteError, failureCount, freePort, killAll, leaderOf, loopStats, served, spawnGroup, startLoop, stopLoop, trackMembers,
} from './helpers/group.js';
import { sigcont, sigstop } from './helpers/signals.js';
import { within } from './helpers/within.js';

const { live, spawn } = trackMembers();

async function group(n: number, options: ClusterOptions): Promise<Member[]> {
  const members = await spawnGroup(n, options);
  for (const m of members) live.add(m);
  return members;
}

/** Every member served again, within a generous deadline; returns the slowest wait. */
async function allServed(members: Member[], what: string): Promise<number> {
  const waits = await within(Promise.all(members.map(served)), 30_000, () => `${what}: members ${members.map(m => m.pid).join(', ')} served again`);
  return Math.max(...waits.map(w => w.waitedMs));
}

function describeStats(m: Member, s: LoopStats): string {
  return `pid ${m.pid}: ${s.ok} ok, failures ${JSON.stringify(s.failures)}${s.failureSamples.length ? `, first: ${JSON.stringify(s.failureSamples.slice(0, 3))}` : ''}`;
}

describe('election race', () => {
  test('8 processes started at the same moment on a fresh port, 10 rounds: all ready, one leader, all served by it', { timeout: 90_000 }, async t => {
    const ROUNDS = 10;
    const N = 8;
    const readyTimes: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const port = await freePort();
      const members = Array.from({ length: N }, () => new Member({ options: { port }, deferStart: true }));
      for (const m of members) live.add(m);
      try {
        // Every process is up and listening for `start`: the elections begin together.
        await within(Promise.all(members.map(m => m.waitFor(x => x.event === 'waiting'))), 30_000, () => `round ${round}: processes started`);
        const t0 = performance.now();
        const starts = members.map(m => m.command({ cmd: 'start' }));
        const roles = await within(Promise.all(members.map(m => m.ready())), 30_000, () => `round ${round}: all ${N} ready`);
        readyTimes.push(performance.now() - t0);
        await Promise.all(starts);
        assert.equal(roles.filter(Boolean).length, 1, `round ${round}: exactly one member is ready as leader (got ${roles.filter(Boolean).length})`);
        const leader = members[roles.indexOf(true)]!;
        const leaders = await leaderOf(members);
        assert.deepEqual(leaders.map(m => m.pid), [leader.pid], `round ${round}: exactly one member reports isLeader`);
        const pids = await within(Promise.all(members.map(m => m.invoke('pid'))), 30_000, () => `round ${round}: every member invokes pid`);
        assert.deepEqual(pids, members.map(() => leader.pid), `round ${round}: every call runs in the leader`);
      } finally {
        await killAll(members);
        for (const m of members) live.delete(m);
      }
    }
    t.diagnostic(`time from start to all ${N} ready, per round (ms): ${readyTimes.map(x => x.toFixed(0)).join(', ')}`);
  });
});

describe('leader SIGKILL chaos', () => {
  test('20 leader kills while every process calls in a loop: only in-flight calls fail, with ERR_CLUSTER_LEADER_LOST', { timeout: 150_000 }, async t => {
    const KILLS = 20;
    const options: ClusterOptions = { port: await freePort(), responseTimeout: 5000 };
    const members = await group(4, options);
    const everyone = [...members];
    await Promise.all(members.map(startLoop));
    await allServed(members, 'start');
    let before = new Map<Member, LoopStats>();
    for (const m of members) before.set(m, await loopStats(m));

    const violations: string[] = [];
    const codes: Record<string, number> = {};
    const servedTimes: number[] = [];
    const failingSurvivors: number[] = [];
    for (let kill = 1; kill <= KILLS; kill++) {
      const leaders = await leaderOf(members);
      assert.equal(leaders.length, 1, `before kill ${kill}: exactly one leader among ${members.length} members`);
      const victim = leaders[0]!;
      const t0 = performance.now();
      await victim.kill('SIGKILL');
      live.delete(victim);
      members.splice(members.indexOf(victim), 1);
      const survivors = [...members];
      const replacement = spawn(options);

      // Every survivor completes a call that started after the kill.
      await allServed(survivors, `kill ${kill}`);
      servedTimes.push(performance.now() - t0);

      await within(replacement.ready(), 30_000, () => `kill ${kill}: replacement ready`);
      await startLoop(replacement);
      await allServed([replacement], `kill ${kill}: replacement`);
      members.push(replacement);
      everyone.push(replacement);

      const now = new Map<Member, LoopStats>();
      for (const m of members) now.set(m, await loopStats(m));
      let failing = 0;
      for (const m of members) {
        const was = before.get(m);
        const is = now.get(m)!;
        for (const [code, n] of Object.entries(is.failures)) {
          const delta = n - (was?.failures[code] ?? 0);
          if (delta > 0) codes[code] = (codes[code] ?? 0) + delta;
        }
        const delta = failureCount(is) - (was ? failureCount(was) : 0);
        if (delta > 0) failing++;
        if (!was && delta > 0) violations.push(`kill ${kill}: replacement ${describeStats(m, is)} (it was not running at the kill)`);
        if (was && delta > 1) violations.push(`kill ${kill}: survivor had ${delta} failed calls (at most 1, the call in flight): ${describeStats(m, is)}`);
      }
      failingSurvivors.push(failing);
      before = now;
    }

    const final = await Promise.all(members.map(stopLoop));
    const totalOk = final.reduce((n, s) => n + s.ok, 0);
    t.diagnostic(`"served again" after a leader SIGKILL (kill → every survivor completed a call started after it), ms: worst ${Math.max(...servedTimes).toFixed(0)}, median ${[...servedTimes].sort((a, b) => a - b)[Math.floor(servedTimes.length / 2)]!.toFixed(0)}`);
    t.diagnostic(`failed calls by code: ${JSON.stringify(codes)}; survivors with a failed call, per kill: ${failingSurvivors.join(',')}; successful calls of the final members: ${totalOk}`);
    assert.deepEqual(Object.keys(codes).filter(code => code !== 'ERR_CLUSTER_LEADER_LOST'), [], `only ERR_CLUSTER_LEADER_LOST may fail a call; seen ${JSON.stringify(codes)}`);
    assert.deepEqual(violations, [], 'only calls in flight at a kill may fail');
    for (const [i, s] of final.entries()) assert.ok(s.ok > 0, `member ${members[i]!.pid} made successful calls`);
    for (const m of everyone) assert.deepEqual(m.clientErrors(), [], `member ${m.pid} emitted no error event`);
    await killAll(members);
    for (const m of members) live.delete(m);
  });
});

describe('graceful handover', () => {
  test('close() of the leader while everyone calls: zero failed calls on the followers, one new leader, calls keep succeeding', { timeout: 60_000 }, async t => {
    const members = await group(4, { port: await freePort(), responseTimeout: 5000 });
    await Promise.all(members.map(startLoop));
    await allServed(members, 'start');
    const [leader, ...extra] = await leaderOf(members);
    assert.equal(extra.length, 0, 'one leader');
    const followers = members.filter(m => m !== leader);
    const okBefore = (await Promise.all(followers.map(loopStats))).map(s => s.ok);

    await stopLoop(leader!);
    const t0 = performance.now();
    await within(leader!.close(), 30_000, () => 'graceful close of the leader');
    const closeMs = performance.now() - t0;
    live.delete(leader!);

    const waited = await allServed(followers, 'after the handover');
    await allServed(followers, 'after the handover, again');
    const newLeaders = await leaderOf(followers);
    const stats = await Promise.all(followers.map(stopLoop));
    t.diagnostic(`leader close took ${closeMs.toFixed(0)} ms; followers served again within ${waited} ms of asking`);
    t.diagnostic(stats.map((s, i) => describeStats(followers[i]!, s)).join(' | '));
    t.diagnostic(`follower warnings: ${JSON.stringify(followers.flatMap(m => m.logs('warn')))}`);
    assert.deepEqual(stats.map(s => s.failures), followers.map(() => ({})), `no follower call failed: ${stats.map((s, i) => describeStats(followers[i]!, s)).join(' | ')}`);
    assert.equal(newLeaders.length, 1, 'exactly one new leader');
    for (const [i, s] of stats.entries()) assert.ok(s.ok > okBefore[i]!, 'calls kept succeeding after the handover');
    for (const m of followers) assert.deepEqual(m.clientErrors(), [], 'no error events');
    // A handover is announced (leader_closing, logged at info level), not discovered as a loss.
    assert.deepEqual(followers.flatMap(m => m.logs()), [], 'the followers logged no warning or error');
    // Followers first, the leader last: no further elections.
    for (const m of [...followers.filter(m => m !== newLeaders[0]), ...newLeaders]) {
      await m.close();
      live.delete(m);
    }
  });
});

describe('rolling restart', () => {
  test('each of 4 members closed and replaced in turn while all call: zero failed calls, never two leaders', { timeout: 90_000 }, async t => {
    const options: ClusterOptions = { port: await freePort(), responseTimeout: 5000 };
    const members = await group(4, options);
    const originals = [...members];
    await Promise.all(members.map(startLoop));
    await allServed(members, 'start');
    const finals: Array<{ m: Member; s: LoopStats }> = [];
    const samples: string[] = [];

    /** Asks every live member whether it leads; at most one may. */
    const sample = async (step: string, exactlyOne: boolean): Promise<void> => {
      const leaders = await leaderOf(members);
      samples.push(`${step}: ${leaders.length}`);
      assert.ok(leaders.length <= 1, `${step}: at most one live member reports isLeader, got ${leaders.map(m => m.pid).join(', ')}`);
      if (exactlyOne) assert.equal(leaders.length, 1, `${step}: once everyone is served, one member leads`);
    };

    for (const [i, old] of originals.entries()) {
      const wasLeader = (await old.state()).isLeader;
      finals.push({ m: old, s: await stopLoop(old) });
      await within(old.close(), 30_000, () => `step ${i + 1}: close of ${old.pid}`);
      live.delete(old);
      members.splice(members.indexOf(old), 1);
      await sample(`step ${i + 1}${wasLeader ? ' (leader)' : ''} closed`, false);

      const fresh = spawn(options);
      await within(fresh.ready(), 30_000, () => `step ${i + 1}: replacement ready`);
      members.push(fresh);
      await startLoop(fresh);
      await allServed(members, `step ${i + 1}`);
      await sample(`step ${i + 1}${wasLeader ? ' (leader)' : ''} replaced`, true);
    }
    assert.ok(members.every(m => !originals.includes(m)), 'all 4 originals replaced');
    for (const m of members) finals.push({ m, s: await stopLoop(m) });
    t.diagnostic(`leaders per sample: ${samples.join('; ')}`);
    t.diagnostic(finals.map(({ m, s }) => describeStats(m, s)).join(' | '));
    const failed = finals.filter(({ s }) => failureCount(s) > 0).map(({ m, s }) => describeStats(m, s));
    assert.deepEqual(failed, [], 'no call failed on any member');
    for (const m of members) assert.deepEqual(m.clientErrors(), [], 'no error events');
    assert.deepEqual([...originals, ...members].flatMap(m => m.logs()), [], 'graceful closes: no member logged a warning or error');
    await killAll(members);
    for (const m of members) live.delete(m);
  });
});

describe('a foreign program on the port', () => {
  test('an HTTP server: ready() fails with ERR_CLUSTER_PORT_CONFLICT naming the port, long before connectTimeout', { timeout: 60_000 }, async t => {
    const port = await freePort();
    let requests = 0;
    const server = http.createServer((_req, res) => res.end('not a leader'));
    server.on('connection', () => requests++);
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    try {
      const t0 = performance.now();
      const m = spawn({ port, connectTimeout: 20_000 });
      const err = await m.ready().then(() => undefined, (e: unknown) => e);
      const elapsed = performance.now() - t0;
      await m.kill();
      live.delete(m);
      t.diagnostic(`failed after ${elapsed.toFixed(0)} ms (process start-up included; connectTimeout 20000): ${(err as Error | undefined)?.message}`);
      assert.ok(err instanceof RemoteError, 'ready() rejects');
      assert.equal(err.code, 'ERR_CLUSTER_PORT_CONFLICT');
      assert.ok(err.message.includes(String(port)), `the message names port ${port}: ${err.message}`);
      assert.ok(elapsed < 15_000, `it did not wait for connectTimeout (${elapsed.toFixed(0)} ms)`);
      assert.ok(requests > 0, 'the member did connect to the HTTP server');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test('a silent TCP server (accepts, never writes) is not called foreign: ready() fails with ERR_CLUSTER_CONNECT_TIMEOUT naming the silence, after one warning', { timeout: 60_000 }, async t => {
    const port = await freePort();
    const sockets = new Set<net.Socket>();
    const server = net.createServer(socket => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    try {
      const t0 = performance.now();
      const m = spawn({ port, connectTimeout: 1000, maxWaitTime: 2000, responseTimeout: 500 });
      const err = await m.ready().then(() => undefined, (e: unknown) => e);
      const elapsed = performance.now() - t0;
      const warnings = m.logs('warn');
      await m.kill();
      live.delete(m);
      t.diagnostic(`failed after ${elapsed.toFixed(0)} ms (maxWaitTime 2000): ${(err as Error | undefined)?.message}; warnings: ${JSON.stringify(warnings)}`);
      assert.ok(err instanceof RemoteError, 'ready() rejects');
      // Silence alone proves nothing: a stopped leader is silent too.
      assert.equal(err.code, 'ERR_CLUSTER_CONNECT_TIMEOUT');
      assert.ok(err.message.includes(String(port)), `the message names port ${port}: ${err.message}`);
      assert.ok(warnings.some(w => w.includes(`port ${port}`) && /has not answered/.test(w)), 'one warning says the peer on the port is silent');
      assert.equal(warnings.filter(w => /has not answered/.test(w)).length, 1, 'warned once');
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  test('a server that accepts connections and closes them at once: ERR_CLUSTER_PORT_CONFLICT within about a second, naming the port and what it did', { timeout: 60_000 }, async t => {
    const port = await freePort();
    const server = net.createServer(socket => socket.destroy());
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    try {
      const t0 = performance.now();
      const m = spawn({ port, connectTimeout: 10_000 });
      const err = await m.ready().then(() => undefined, (e: unknown) => e);
      const elapsed = performance.now() - t0;
      await m.kill();
      live.delete(m);
      t.diagnostic(`failed after ${elapsed.toFixed(0)} ms (connectTimeout 10000): ${(err as Error | undefined)?.message}`);
      assert.ok(err instanceof RemoteError, 'ready() rejects');
      assert.equal(err.code, 'ERR_CLUSTER_PORT_CONFLICT');
      assert.match(err.message, new RegExp(`port ${port}`));
      assert.match(err.message, /closed each without answering/);
      assert.match(err.message, /choose another port/);
      assert.ok(elapsed < 10_000, `reported before connectTimeout (${elapsed.toFixed(0)} ms)`);
    } finally {
      server.close();
    }
  });

  test('a process that joins while the leader is stopped (SIGSTOP) follows it once it resumes, and its calls work', { timeout: 90_000 }, async t => {
    const port = await freePort();
    const [leader] = await group(1, { port });
    assert.equal(await leader!.ready(), true);
    let resumed = false;
    try {
      await sigstop(leader!.pid);
      // Longer than the joiner's connectTimeout: silence must not make it give up for good.
      const joiner = new Member({ options: { port, connectTimeout: 1500, maxWaitTime: 3000, responseTimeout: 1000 }, reportRoleEvents: true });
      live.add(joiner);
      // It has connected and registered: the stopped leader's kernel queued the registration.
      await within(joiner.waitFor(m => m.event === 'log' && /has not answered/.test(String(m.message))), 30_000, () => 'the joiner warns that the leader is silent');
      const stoppedFor = 4000;
      const t0 = performance.now();
      await new Promise(resolve => setTimeout(resolve, stoppedFor)); // the length of the stop under test, not a synchronisation
      sigcont(leader!.pid);
      resumed = true;
      const tResume = performance.now();
      const role = await within(joiner.waitFor(m => m.event === 'role' && m.type === 'becomeFollower'), 30_000, () => `the joiner follows once the leader resumes (its messages: ${JSON.stringify(joiner.messages.map(x => [x.event, x.type ?? x.level ?? '']))})`);
      const followedAfter = performance.now() - tResume;
      t.diagnostic(`stopped ${stoppedFor} ms, then followed ${followedAfter.toFixed(0)} ms after SIGCONT (${JSON.stringify(role)}); total ${(performance.now() - t0).toFixed(0)} ms`);
      assert.equal(await within(joiner.invoke('pid'), 10_000, () => 'a call after the resume'), leader!.pid, 'served by the resumed leader');
      assert.equal((await leaderOf([leader!, joiner])).length, 1, 'one leader');
    } finally {
      if (!resumed) sigcont(leader!.pid);
    }
  });
});

describe('stalled follower', () => {
  test('a follower that blocks its event loop for > 3 heartbeat intervals is dropped, comes back by itself and keeps its subscription', {
    timeout: 60_000,
  }, async t => {
    const HEARTBEAT = 300;
    const BLOCK = 2000; // > 3 intervals + one check period
    const members = await group(4, { port: await freePort(), heartbeatInterval: HEARTBEAT, responseTimeout: 5000 });
    const [leader] = await leaderOf(members);
    const [stalled, ...others] = members.filter(m => m !== leader) as [Member, Member, Member];
    await stalled.command({ cmd: 'subscribe', key: 'cfg' });
    await stalled.invoke('echo', 'sync'); // the subscribe went first on the same socket
    await leader!.invoke('push', 'cfg', 'before');
    await stalled.waitValues('cfg', 1);
    await Promise.all(others.map(startLoop));
    await allServed(others, 'start');
    const okBefore = (await Promise.all(others.map(loopStats))).map(s => s.ok);
    const leaderLogs = leader!.messages.length;

    await stalled.command({ cmd: 'block', ms: BLOCK });
    const t0 = performance.now();
    const okDuring = (await Promise.all(others.map(loopStats))).map(s => s.ok);
    // The leader dropped it (it emits the drop as an 'error' on its client, as 3.x does).
    await within(leader!.waitFor(m => m.event === 'client-error' && (m.error as { code?: string }).code === 'ERR_CLUSTER_HEARTBEAT_TIMEOUT', leaderLogs), 10_000, () => 'the leader reports the drop');
    // Served again, by itself: the first call made after the stall succeeds (it may wait for the
    // re-registration). Its outcome is asserted at the end, so the checks below still run.
    const first = await within(stalled.invoke('pid').then(pid => ({ pid }), (error: RemoteError) => ({ error })), 30_000, () => 'the first call after the stall');
    const firstMs = performance.now() - t0;
    assert.equal(await within(stalled.invoke('pid'), 30_000, () => 'the stalled follower is served again'), leader!.pid);
    const servedMs = performance.now() - t0;
    // Its subscription was replayed with the re-registration, ahead of that call: a new value reaches it.
    const valuesBefore = stalled.messages.length;
    assert.equal(await leader!.invoke('push', 'cfg', 'after'), 1, 'still one upstream listener');
    await within(stalled.waitFor(m => m.event === 'value' && m.key === 'cfg' && m.value === 'after', valuesBefore), 10_000, () => 'the stalled follower receives a value pushed after its return');
    await allServed(others, 'after the stall');
    const stats = await Promise.all(others.map(stopLoop));

    t.diagnostic(`first call after the stall: ${'error' in first ? `FAILED with ${first.error.code}: ${first.error.message}` : 'ok'} (${firstMs.toFixed(0)} ms); served again ${servedMs.toFixed(0)} ms after the ${BLOCK} ms block ended; stalled follower warnings: ${JSON.stringify(stalled.logs('warn'))}; leader warnings: ${JSON.stringify(leader!.logs('warn'))}`);
    t.diagnostic(stats.map((s, i) => describeStats(others[i]!, s)).join(' | '));
    assert.deepEqual(stalled.logs('error'), [], 'the stalled follower logged no errors (warnings at most)');
    assert.ok(!('error' in first), `the first call after the stall succeeds (the user sees at most a warning), got ${'error' in first ? `${first.error.code}: ${first.error.message}` : ''}`);
    assert.equal(first.pid, leader!.pid);
    assert.deepEqual(stalled.clientErrors(), [], 'the stalled follower emitted no error event');
    assert.deepEqual(stats.map(s => s.failures), others.map(() => ({})), 'no call of the other followers failed');
    for (const i of stats.keys()) assert.ok(okDuring[i]! > okBefore[i]!, `follower ${others[i]!.pid} was served during the block`);
    await killAll(members);
    for (const m of members) live.delete(m);
  });
});
