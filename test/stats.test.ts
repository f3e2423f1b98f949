/**
 * `client.stats()` / `cluster.stats(client)` and the role events (electionStart, electionEnd,
 * becomeLeader, becomeFollower), with real processes on real loopback sockets: what a leader
 * and its followers report about each other, traffic counters, elections after a SIGKILL and
 * after a graceful close, and a follower behind a cluster-client 3.x leader. Single mode, the
 * delegated `stats` of a DataClient and a closed client are checked in this process.
 *
 * Every wait is on an IPC message or a process event, bounded by a generous deadline.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import cluster, { type ClientStats, close, type ClusterOptions, stats } from '../src/index.js';
import { FixtureClient } from './fixtures/data-client.js';
import type { MemberConfig } from './fixtures/member.js';
import { freePort, Member, type RoleEvent, trackMembers } from './helpers/group.js';
import { within } from './helpers/within.js';

const { live } = trackMembers();
const quiet = { info() {}, warn() {}, error() {} };
/** The channel every member uses: the DataClient's class name. */
const CHANNEL = 'FixtureClient';
/** A packet's fixed header: no packet is shorter. */
const HEADER_BYTES = 24;

/** A member that reports its role events from the moment its client is created. */
function member(options: ClusterOptions, extra: Partial<MemberConfig> = {}): Member {
  const m = new Member({ options, reportRoleEvents: true, ...extra });
  live.add(m);
  return m;
}

/** Starts `n` members together; answers the one that is ready as leader and the others. */
async function group(n: number, options: ClusterOptions): Promise<{ leader: Member; followers: Member[]; all: Member[] }> {
  const all = Array.from({ length: n }, () => member(options));
  const roles = await within(Promise.all(all.map(m => m.ready())), 30_000, () => `${n} members ready`);
  assert.equal(roles.filter(Boolean).length, 1, 'exactly one member is ready as leader');
  return { leader: all[roles.indexOf(true)]!, followers: all.filter((_, i) => !roles[i]), all };
}

async function closeAllOf(members: Member[]): Promise<void> {
  for (const m of members) {
    await within(m.close(), 30_000, () => `close of member ${m.pid}`);
    live.delete(m);
  }
}

const sortNumbers = (xs: Array<number | undefined>): Array<number | undefined> => [...xs].sort((a, b) => (a ?? 0) - (b ?? 0));
const types = (events: RoleEvent[]): string[] => events.map(e => e.type);

/** The follower entry of `pid` in a leader's stats. */
function entryOf(s: ClientStats, pid: number): ClientStats['followers'][number] {
  const entry = s.followers.find(f => f.pid === pid);
  assert.ok(entry, `the leader lists follower ${pid} (it lists ${s.followers.map(f => f.pid).join(', ')})`);
  return entry;
}

/**
 * One member's events of one election, starting at `from`: electionStart then electionEnd then
 * becomeLeader/becomeFollower, consistent with each other. Answers the electionEnd payload.
 */
function checkElection(events: RoleEvent[], from: number, reason: string, who: string): Record<string, unknown> {
  const slice = events.slice(from, from + 3);
  const role = slice[1]?.data.role;
  assert.deepEqual(types(slice), ['electionStart', 'electionEnd', role === 'leader' ? 'becomeLeader' : 'becomeFollower'], `${who}: the events of one election, in order`);
  const [start, end, become] = slice as [RoleEvent, RoleEvent, RoleEvent];
  assert.equal(start.data.name, CHANNEL, `${who}: electionStart names the channel`);
  assert.equal(start.data.reason, reason, `${who}: electionStart reason`);
  assert.equal(typeof start.data.startedAt, 'number', `${who}: electionStart startedAt`);
  assert.ok(role === 'leader' || role === 'follower', `${who}: electionEnd role is leader or follower, got ${String(role)}`);
  assert.equal(end.data.name, CHANNEL);
  assert.equal(end.data.reason, reason, `${who}: electionEnd has the same reason`);
  assert.equal(end.data.startedAt, start.data.startedAt, `${who}: electionEnd has the same startedAt`);
  assert.equal(typeof end.data.durationMs, 'number', `${who}: durationMs is a number`);
  assert.ok((end.data.durationMs as number) >= 0, `${who}: durationMs >= 0, got ${String(end.data.durationMs)}`);
  assert.deepEqual(become.data, end.data, `${who}: ${become.type} carries the electionEnd payload`);
  return end.data;
}

describe('stats of a group', () => {
  test('the leader lists exactly its followers; each follower names the leader; roles, states and elections', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const t0 = Date.now();
    const { leader, followers, all } = await group(3, { port });
    const [ls, ...fss] = await Promise.all([leader, ...followers].map(m => m.clusterStats()));

    assert.equal(ls!.name, CHANNEL);
    assert.equal(ls!.role, 'leader');
    assert.equal(ls!.state, 'leading');
    assert.equal(ls!.pid, leader.pid);
    assert.equal(ls!.leaderPid, leader.pid, 'a leader names itself');
    assert.equal(ls!.endpoint, `port ${port}`);
    assert.equal(ls!.queuedCalls, 0);
    assert.equal(ls!.inFlightCalls, 0);
    assert.equal(ls!.elections, 1);
    assert.equal(ls!.lastElection?.reason, 'start');
    assert.equal(ls!.lastElection?.role, 'leader');
    assert.ok(typeof ls!.lastElection?.durationMs === 'number' && ls!.lastElection.durationMs >= 0, 'the leader\'s election has a duration');
    assert.deepEqual(sortNumbers(ls!.followers.map(f => f.pid)), sortNumbers(followers.map(m => m.pid)), 'the leader lists exactly the followers\' pids');
    assert.equal(new Set(ls!.followers.map(f => f.connection)).size, followers.length, 'each follower has its own connection id');
    for (const f of ls!.followers) {
      assert.equal(f.channel, CHANNEL);
      assert.ok(Number.isInteger(f.connection), 'connection is an integer id');
      assert.equal(typeof f.codec, 'string');
      assert.notEqual(f.codec, '', 'the codec is named');
      assert.ok(f.connectedAt >= t0 - 1000 && f.connectedAt <= Date.now(), `connectedAt ${f.connectedAt} is during this test`);
      assert.equal(f.inFlightCalls, 0);
      assert.equal(f.subscriptions, 0);
      assert.ok(f.traffic.packetsIn >= 1 && f.traffic.packetsOut >= 1, 'the registration crossed the follower\'s connection');
    }

    for (const [i, s] of fss.entries()) {
      const m = followers[i]!;
      assert.equal(s.name, CHANNEL);
      assert.equal(s.role, 'follower', `member ${m.pid} role`);
      assert.equal(s.state, 'following', `member ${m.pid} state`);
      assert.equal(s.pid, m.pid);
      assert.equal(s.leaderPid, leader.pid, `follower ${m.pid} names the leader's pid`);
      assert.equal(s.endpoint, `port ${port}`);
      assert.deepEqual(s.followers, [], 'a follower has no followers');
      assert.equal(s.elections, 1);
      assert.equal(s.lastElection?.reason, 'start');
      assert.equal(s.lastElection?.role, 'follower');
      assert.ok(s.traffic.packetsOut >= 1 && s.traffic.packetsIn >= 1 && s.traffic.bytesIn >= HEADER_BYTES, 'the registration is counted');
    }
    // Everything runs in the leader: the stats agree with where the calls go.
    assert.deepEqual(await Promise.all(all.map(m => m.invoke('pid'))), all.map(() => leader.pid));
    await closeAllOf([...followers, leader]);
  });

  test('traffic counters grow with the calls, on the follower and on the leader', { timeout: 60_000 }, async () => {
    const CALLS = 10;
    const { leader, followers } = await group(2, { port: await freePort() });
    const f = followers[0]!;
    const before = await f.clusterStats();
    const leaderBefore = await leader.clusterStats();
    for (let i = 0; i < CALLS; i++) assert.equal(await f.invoke('echo', `call ${i}`), `call ${i}`);
    const after = await f.clusterStats();
    const leaderAfter = await leader.clusterStats();

    const grew = (a: ClientStats['traffic'], b: ClientStats['traffic']) => ({
      packetsOut: b.packetsOut - a.packetsOut, packetsIn: b.packetsIn - a.packetsIn, bytesOut: b.bytesOut - a.bytesOut, bytesIn: b.bytesIn - a.bytesIn,
    });
    const fd = grew(before.traffic, after.traffic);
    assert.ok(fd.packetsOut >= CALLS, `follower packetsOut grew by >= ${CALLS}: ${JSON.stringify(fd)}`);
    assert.ok(fd.packetsIn >= CALLS, `follower packetsIn grew by >= ${CALLS}: ${JSON.stringify(fd)}`);
    assert.ok(fd.bytesOut >= CALLS * HEADER_BYTES, `follower bytesOut grew by >= ${CALLS} headers: ${JSON.stringify(fd)}`);
    assert.ok(fd.bytesIn >= CALLS * HEADER_BYTES, `follower bytesIn grew by >= ${CALLS} headers: ${JSON.stringify(fd)}`);

    const ld = grew(leaderBefore.traffic, leaderAfter.traffic);
    assert.ok(ld.packetsIn >= CALLS && ld.packetsOut >= CALLS, `leader packets grew by >= ${CALLS}: ${JSON.stringify(ld)}`);
    assert.ok(ld.bytesIn >= CALLS * HEADER_BYTES && ld.bytesOut >= CALLS * HEADER_BYTES, `leader bytes grew: ${JSON.stringify(ld)}`);
    const ed = grew(entryOf(leaderBefore, f.pid).traffic, entryOf(leaderAfter, f.pid).traffic);
    assert.ok(ed.packetsIn >= CALLS && ed.packetsOut >= CALLS, `the leader's entry for the follower grew by >= ${CALLS}: ${JSON.stringify(ed)}`);
    assert.ok(ed.bytesIn >= CALLS * HEADER_BYTES && ed.bytesOut >= CALLS * HEADER_BYTES, `the entry's bytes grew: ${JSON.stringify(ed)}`);
    // The leader's totals include its follower's connection.
    assert.ok(leaderAfter.traffic.packetsIn >= entryOf(leaderAfter, f.pid).traffic.packetsIn, 'leader totals include the follower connection');
    await closeAllOf([f, leader]);
  });

  test('subscriptions, publications and calls in flight, on both sides', { timeout: 60_000 }, async () => {
    const { leader, followers } = await group(2, { port: await freePort() });
    const f = followers[0]!;
    await f.command({ cmd: 'subscribe', key: 'a' });
    await f.command({ cmd: 'subscribe', key: 'b' });
    await f.command({ cmd: 'subscribe', key: 'b' }); // a second listener of the same key: still one subscription
    await f.command({ cmd: 'publish', reg: { service: 'x' } });
    await f.command({ cmd: 'publish', reg: { service: 'x' } }); // the same publication again: kept once
    await f.command({ cmd: 'publish', reg: { service: 'y' } });
    let fs = await f.clusterStats();
    assert.equal(fs.subscriptions, 2, 'two subscription keys');
    assert.equal(fs.publications, 2, 'two publications');
    // A round trip on the same connection: the leader has read the subscriptions before it.
    await f.invoke('echo', 'sync');
    assert.equal(entryOf(await leader.clusterStats(), f.pid).subscriptions, 2, 'the leader counts the follower\'s two keys');

    await f.command({ cmd: 'unSubscribe', key: 'a' });
    fs = await f.clusterStats();
    assert.equal(fs.subscriptions, 1, 'one key left after unSubscribe');
    await f.invoke('echo', 'sync');
    assert.equal(entryOf(await leader.clusterStats(), f.pid).subscriptions, 1, 'the leader counts one key after unSubscribe');

    await leader.command({ cmd: 'subscribe', key: 'own' });
    await leader.command({ cmd: 'publish', reg: { service: 'leader' } });
    const ls = await leader.clusterStats();
    assert.equal(ls.subscriptions, 1, 'the leader\'s own subscriptions');
    assert.equal(ls.publications, 1, 'the leader\'s own publications');

    // A call held in the leader's DataClient: in flight on both sides until the gate opens.
    const held = f.invoke('gate', 'held');
    await leader.invoke('gateReached', 'held');
    assert.equal((await f.clusterStats()).inFlightCalls, 1, 'the follower has one call in flight');
    assert.equal(entryOf(await leader.clusterStats(), f.pid).inFlightCalls, 1, 'the leader runs one call of the follower');
    assert.equal((await leader.clusterStats()).inFlightCalls, 0, 'none of the leader\'s own');
    assert.equal(await leader.invoke('openGate', 'held'), 1);
    assert.equal(await held, 'held');
    assert.equal((await f.clusterStats()).inFlightCalls, 0, 'answered: nothing in flight on the follower');
    assert.equal(entryOf(await leader.clusterStats(), f.pid).inFlightCalls, 0, 'answered: nothing in flight on the leader');
    await closeAllOf([f, leader]);
  });
});

describe('role events and elections', () => {
  test('at start every member reports electionStart(start), electionEnd, then become*; exactly one becomeLeader', { timeout: 60_000 }, async () => {
    const { leader, all } = await group(3, { port: await freePort() });
    let leaders = 0;
    for (const m of all) {
      const events = await m.waitRoleEvents(3);
      // The events come before the ready message: nothing more follows.
      assert.equal(events.length, 3, `member ${m.pid}: three events (${types(events).join(', ')})`);
      const end = checkElection(events, 0, 'start', `member ${m.pid}`);
      assert.equal(end.leaderPid, leader.pid, `member ${m.pid}: electionEnd names the leader's pid`);
      assert.equal(end.role, m === leader ? 'leader' : 'follower', `member ${m.pid}: role matches its ready()`);
      if (events[2]!.type === 'becomeLeader') leaders++;
    }
    assert.equal(leaders, 1, 'exactly one becomeLeader in the group');
    await closeAllOf(all.filter(m => m !== leader).concat(leader));
  });

  test('SIGKILL of the leader: survivors report electionStart(leaderLost), electionEnd, one becomeLeader; elections 2', { timeout: 60_000 }, async () => {
    const { leader, followers } = await group(3, { port: await freePort() });
    const trafficBefore = new Map<Member, ClientStats['traffic']>();
    for (const m of followers) {
      await m.invoke('echo', 'before');
      trafficBefore.set(m, (await m.clusterStats()).traffic);
    }
    await leader.kill('SIGKILL');
    live.delete(leader);
    const events = await within(Promise.all(followers.map(m => m.waitRoleEvents(6))), 30_000, () => 'survivors end their second election');
    const ends = events.map((e, i) => checkElection(e, 3, 'leaderLost', `survivor ${followers[i]!.pid}`));
    const newLeaders = followers.filter((_, i) => ends[i]!.role === 'leader');
    assert.equal(newLeaders.length, 1, `exactly one becomeLeader among the survivors (roles: ${ends.map(e => e.role).join(', ')})`);
    const newLeader = newLeaders[0]!;
    for (const [i, m] of followers.entries()) {
      assert.equal(ends[i]!.leaderPid, newLeader.pid, `survivor ${m.pid}: electionEnd names the new leader`);
      const s = await m.clusterStats();
      assert.equal(s.elections, 2, `survivor ${m.pid}: two elections`);
      assert.equal(s.lastElection?.reason, 'leaderLost');
      assert.equal(s.lastElection?.role, m === newLeader ? 'leader' : 'follower');
      assert.equal(s.lastElection?.durationMs, ends[i]!.durationMs, 'lastElection matches the electionEnd event');
      assert.equal(s.role, m === newLeader ? 'leader' : 'follower');
      assert.equal(s.state, m === newLeader ? 'leading' : 'following');
      assert.equal(s.leaderPid, newLeader.pid);
      const was = trafficBefore.get(m)!;
      assert.ok(s.traffic.packetsOut >= was.packetsOut && s.traffic.bytesIn >= was.bytesIn, `survivor ${m.pid}: traffic is cumulative across roles (${JSON.stringify(was)} -> ${JSON.stringify(s.traffic)})`);
    }
    const ls = await newLeader.clusterStats();
    assert.deepEqual(ls.followers.map(f => f.pid), followers.filter(m => m !== newLeader).map(m => m.pid), 'the new leader lists the other survivor');
    assert.equal(await followers.find(m => m !== newLeader)!.invoke('pid'), newLeader.pid, 'calls go to the new leader');
    await closeAllOf([...followers.filter(m => m !== newLeader), newLeader]);
  });

  test('graceful close of the leader: survivors report electionStart(leaderClosing); elections 2', { timeout: 60_000 }, async () => {
    const { leader, followers } = await group(3, { port: await freePort() });
    await within(leader.close(), 30_000, () => 'graceful close of the leader');
    live.delete(leader);
    const events = await within(Promise.all(followers.map(m => m.waitRoleEvents(6))), 30_000, () => 'survivors end their second election');
    const ends = events.map((e, i) => checkElection(e, 3, 'leaderClosing', `survivor ${followers[i]!.pid}`));
    const newLeaders = followers.filter((_, i) => ends[i]!.role === 'leader');
    assert.equal(newLeaders.length, 1, `exactly one becomeLeader among the survivors (roles: ${ends.map(e => e.role).join(', ')})`);
    for (const [i, m] of followers.entries()) {
      assert.equal(ends[i]!.leaderPid, newLeaders[0]!.pid, `survivor ${m.pid}: electionEnd names the new leader`);
      const s = await m.clusterStats();
      assert.equal(s.elections, 2);
      assert.equal(s.lastElection?.reason, 'leaderClosing');
    }
    for (const m of followers) assert.deepEqual(m.logs(), [], `survivor ${m.pid}: a handover logs no warning`);
    await closeAllOf([...followers.filter(m => m !== newLeaders[0]), newLeaders[0]!]);
  });
});

describe('with cluster-client 3.x', () => {
  test('a follower behind a 3.x leader: role follower, leaderPid undefined', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const old = member({ port }, { impl: 'cluster-client', reportRoleEvents: false });
    assert.equal(await within(old.ready(), 30_000, () => '3.x leader ready'), true);
    const f = member({ port });
    assert.equal(await within(f.ready(), 30_000, () => 'follower ready'), false);
    const s = await f.clusterStats();
    assert.equal(s.role, 'follower');
    assert.equal(s.state, 'following');
    assert.ok('leaderPid' in s, 'leaderPid is a field of the stats');
    assert.equal(s.leaderPid, undefined, 'a 3.x leader does not say its pid');
    assert.equal(s.elections, 1);
    const events = await f.waitRoleEvents(3);
    const end = checkElection(events, 0, 'start', 'follower of 3.x');
    assert.equal(end.role, 'follower');
    assert.ok('leaderPid' in end, 'the electionEnd payload has leaderPid');
    assert.equal(end.leaderPid, undefined, 'electionEnd: leaderPid undefined behind a 3.x leader');
    assert.equal(await f.invoke('pid'), old.pid, 'the follower is served by the 3.x leader');
    await closeAllOf([f, old]);
  });

  test('a 3.x follower in a leader\'s stats: no pid, codec serialize-json', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const leader = member({ port });
    assert.equal(await within(leader.ready(), 30_000, () => 'leader ready'), true);
    const old = member({ port }, { impl: 'cluster-client', reportRoleEvents: false });
    assert.equal(await within(old.ready(), 30_000, () => '3.x follower ready'), false);
    const s = await leader.clusterStats();
    assert.equal(s.followers.length, 1, 'one follower');
    const entry = s.followers[0]!;
    assert.equal(entry.pid, undefined, 'a 3.x follower does not say its pid');
    assert.equal(entry.codec, 'serialize-json');
    assert.equal(entry.channel, CHANNEL);
    await assert.rejects(old.clusterStats(), (err: Error & { code?: string }) => err.code === 'ERR_CLUSTER_INVALID_ARGUMENT', 'cluster.stats() refuses a 3.x client');
    await closeAllOf([old, leader]);
  });
});

describe('stats in this process', () => {
  test('single mode: role local, no elections, no role events, no traffic', { timeout: 30_000 }, async () => {
    const client = cluster(FixtureClient, { singleMode: true, name: 'stats-single', logger: quiet }).create({});
    const seen: string[] = [];
    for (const type of ['electionStart', 'electionEnd', 'becomeLeader', 'becomeFollower'] as const) client.on(type, () => seen.push(type));
    await client.ready();
    assert.equal(await client.echo('x'), 'x');
    // The DataClient's own async stats() is delegated in place of client.stats(): cluster.stats reaches ours.
    const s = stats(client);
    assert.equal(s.name, 'stats-single');
    assert.equal(s.role, 'local');
    assert.equal(s.state, 'local');
    assert.equal(s.pid, process.pid);
    assert.equal(s.leaderPid, process.pid);
    assert.deepEqual(s.followers, []);
    assert.equal(s.elections, 0);
    assert.equal(s.lastElection, undefined);
    assert.deepEqual(s.traffic, { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 });
    assert.equal(s.inFlightCalls, 0);
    assert.equal(s.queuedCalls, 0);
    assert.deepEqual(seen, [], 'single mode emits no role event');
    await close(client);
  });

  test('cluster.stats(client) when the DataClient\'s own stats is delegated or overridden; client.stats() otherwise', { timeout: 30_000 }, async () => {
    const port = await freePort();
    // autoGenerate delegates the fixture's async stats(): client.stats() is the DataClient's.
    const delegated = cluster(FixtureClient, { port, name: 'stats-delegated', logger: quiet }).create({});
    await delegated.ready();
    const own = await delegated.stats();
    assert.equal(own.pid, process.pid);
    assert.equal(own.upstreamSubscribes, 0, 'client.stats() is the DataClient\'s stats');
    const ours = stats(delegated);
    assert.equal(ours.name, 'stats-delegated');
    assert.equal(ours.role, 'leader');
    assert.equal(ours.endpoint, `port ${port}`);

    // An override of stats: cluster.stats still reaches the client's.
    const overridden = cluster(FixtureClient, { port, name: 'stats-overridden', logger: quiet }).override('stats', 42).create({});
    await overridden.ready();
    assert.equal(overridden.stats, 42);
    assert.equal(stats(overridden).name, 'stats-overridden');

    // Without delegation, client.stats() is the client's, the same as cluster.stats(client).
    const plain = cluster(FixtureClient, { port, name: 'stats-plain', autoGenerate: false, logger: quiet }).delegate('echo').create({});
    await plain.ready();
    const a = plain.stats();
    const b = stats(plain);
    assert.equal(a.name, 'stats-plain');
    assert.deepEqual({ ...a, followers: [], traffic: undefined }, { ...b, followers: [], traffic: undefined }, 'client.stats() and cluster.stats(client) agree');

    for (const bad of [{}, null, 42, new FixtureClient()]) {
      assert.throws(() => stats(bad as object), (err: Error & { code?: string }) => err.code === 'ERR_CLUSTER_INVALID_ARGUMENT', `stats(${String(bad)}) throws`);
    }
    await close(plain);
    await close(overridden);
    await close(delegated);
  });

  test('while electing: state electing, no role, the election under way has no duration yet', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const follower = cluster(FixtureClient, { port, isLeader: false, maxWaitTime: 30_000, logger: quiet }).create({});
    const started = new Promise<{ reason: string; startedAt: number }>(resolve => follower.once('electionStart', e => resolve(e)));
    const ended = new Promise<{ role: string; durationMs: number }>(resolve => follower.once('electionEnd', e => resolve(e)));
    const start = await started;
    const s = stats(follower);
    assert.equal(s.state, 'electing');
    assert.equal(s.role, undefined);
    assert.equal(s.leaderPid, undefined);
    assert.equal(s.elections, 0, 'no election completed yet');
    assert.deepEqual(s.lastElection, { reason: 'start', startedAt: start.startedAt, durationMs: undefined, role: undefined }, 'the election under way');
    const leader = cluster(FixtureClient, { port, isLeader: true, logger: quiet }).create({});
    await leader.ready();
    await follower.ready();
    const end = await ended;
    const after = stats(follower);
    assert.equal(after.elections, 1);
    assert.equal(after.lastElection?.role, 'follower');
    assert.equal(after.lastElection?.durationMs, end.durationMs);
    assert.equal(after.leaderPid, process.pid, 'the leader is this process');
    await close(follower);
    await close(leader);
  });

  test('a closed client: state closed, role undefined, its elections and traffic kept', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = cluster(FixtureClient, { port, logger: quiet }).create({});
    await leader.ready();
    const follower = cluster(FixtureClient, { port, logger: quiet }).create({});
    await follower.ready();
    assert.equal(stats(follower).role, 'follower');
    for (let i = 0; i < 3; i++) await follower.echo(i);
    const open = stats(follower);
    await close(follower);
    const s = stats(follower);
    assert.equal(s.state, 'closed');
    assert.equal(s.role, undefined);
    assert.equal(s.leaderPid, undefined);
    assert.equal(s.inFlightCalls, 0);
    assert.equal(s.queuedCalls, 0);
    assert.deepEqual(s.followers, []);
    assert.equal(s.elections, 1, 'the election it took part in is kept');
    assert.ok(s.traffic.packetsOut >= open.traffic.packetsOut && s.traffic.packetsOut >= 3, `traffic is kept after close: ${JSON.stringify(s.traffic)}`);
    await close(leader);
    const ls = stats(leader);
    assert.equal(ls.state, 'closed');
    assert.equal(ls.role, undefined);
  });

  test('a follower that takes over after a handover keeps its traffic (cumulative across roles)', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const leader = cluster(FixtureClient, { port, logger: quiet }).create({});
    await leader.ready();
    const follower = cluster(FixtureClient, { port, logger: quiet }).create({});
    await follower.ready();
    for (let i = 0; i < 5; i++) await follower.echo(i);
    const before = stats(follower).traffic;
    const became = new Promise<void>(resolve => follower.once('becomeLeader', () => resolve()));
    await close(leader);
    await within(became, 20_000, () => 'the follower becomes leader');
    const s = stats(follower);
    assert.equal(s.role, 'leader');
    assert.equal(s.elections, 2);
    assert.equal(s.lastElection?.reason, 'leaderClosing');
    for (const key of ['bytesIn', 'bytesOut', 'packetsIn', 'packetsOut'] as const) {
      assert.ok(s.traffic[key] >= before[key], `${key} did not go back: ${before[key]} -> ${s.traffic[key]}`);
    }
    assert.ok(s.traffic.packetsOut >= 5, 'the calls made as a follower are still counted');
    await close(follower);
  });
});
