/**
 * The `cluster-share status` command: the real bin (dist/esm/cli.js, built by `npm run build`)
 * run as a child process against real groups of member processes (fixtures/member.ts), on a
 * port and on a unix socket, against a cluster-client 3.x leader, an HTTP server, nothing at all,
 * and a leader with a shared secret. Every wait is on a process event or a member's reply; the
 * only polling is for a call to reach the leader, and it is bounded by that call's own end.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ClusterOptions } from '../src/index.js';
import { packetData, STATUS, STATUS_RES } from '../src/protocol/packet.js';
import type { FollowerStats, LeaderStatus } from '../src/stats.js';
import { freeSocketPath, type MeetingPoint, meetingPoint, TRANSPORTS } from './helpers/endpoint.js';
import { type Impl, type Member, freePort, killAll, leaderOf, spawnGroup, spawnMember } from './helpers/group.js';
import { RawPeer } from './helpers/raw-peer.js';
import { within } from './helpers/within.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(root, 'dist', 'esm', 'cli.js');
/** The channel of every group here (options.name). */
const NAME = 'cli-status';
const SECRET = 'cli-test-secret-✓';
/** How long one run of the CLI may take, on a loaded machine, before the test gives up on it. */
const CLI_DEADLINE = 30_000;
/**
 * A --timeout far beyond CLI_DEADLINE: a run given it that has its answer (or its refusal) must
 * exit on its own at once; a timer or socket left behind would hold it past the deadline.
 */
const LONG = ['--timeout', '120000'];

const live = new Set<Member>();
after(() => killAll(live));

/** What one run of the CLI did. */
interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, ms. */
  ms: number;
}

/**
 * Runs `cluster-share <args>` and waits for it to exit. The child gets this process's
 * environment without NODE_CLUSTER_CLIENT_PORT / _SECRET (so only `env` sets them).
 */
async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.NODE_CLUSTER_CLIENT_PORT;
  delete childEnv.NODE_CLUSTER_CLIENT_SECRET;
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], { cwd: root, env: { ...childEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  try {
    const [code, signal] = (await within(once(child, 'close'), CLI_DEADLINE, () => `cluster-share ${args.join(' ')}`)) as [number | null, NodeJS.Signals | null];
    return { code, signal, stdout, stderr, ms: performance.now() - started };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** A run's output, for assertion messages. */
const show = (run: Run): string => `exit ${run.code} (signal ${run.signal}) after ${Math.round(run.ms)}ms\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;

/** The CLI options that point at `at`. */
const target = (at: MeetingPoint): string[] => ('port' in at ? ['--port', String(at.port)] : ['--path', at.path]);

/** `status --json` that must succeed; its parsed output. */
async function statusJson(args: string[], env: Record<string, string> = {}): Promise<LeaderStatus> {
  const run = await cli(['status', '--json', ...args], env);
  assert.equal(run.code, 0, show(run));
  assert.equal(run.stderr, '', show(run));
  return JSON.parse(run.stdout) as LeaderStatus;
}

/** A group of `n` on `options`: the member that won the endpoint and the others. */
async function group(n: number, options: ClusterOptions, impl: Impl = 'cluster-share'): Promise<{ leader: Member; followers: Member[]; members: Member[] }> {
  const members = await spawnGroup(n, options, undefined, impl);
  for (const m of members) live.add(m);
  const leaders = await leaderOf(members);
  assert.equal(leaders.length, 1, 'exactly one leader');
  const leader = leaders[0]!;
  return { leader, followers: members.filter(m => m !== leader), members };
}

/** Graceful close: followers first, then the leader (no re-election noise). */
async function closeGroup({ leader, followers }: { leader: Member; followers: Member[] }): Promise<void> {
  for (const m of [...followers, leader]) {
    await m.close();
    live.delete(m);
  }
}

const sortedPids = (list: ReadonlyArray<{ pid: number | undefined }>): Array<number | undefined> => list.map(x => x.pid).sort((a, b) => (a ?? 0) - (b ?? 0));

/**
 * After the status requests: every follower's call still runs in the leader, and no member
 * logged a warning or an error, nor had a client error. The calls are round trips through the
 * leader, and `state()` one more round trip to each member after them, so whatever the leader
 * logged about the observers' connections (closed before this runs) has arrived by then.
 */
async function assertUnaffected({ leader, followers, members }: { leader: Member; followers: Member[]; members: Member[] }): Promise<void> {
  for (const f of followers) assert.equal(await f.invoke('pid'), leader.pid, `follower ${f.pid} is still served by the leader`);
  for (const f of followers) assert.deepEqual(await f.invoke('echo', { after: 'status' }), { after: 'status' });
  await Promise.all(members.map(m => m.state()));
  for (const m of members) {
    assert.deepEqual(m.logs(), [], `member ${m.pid}${m === leader ? ' (the leader)' : ''} logged nothing`);
    assert.deepEqual(m.clientErrors(), [], `member ${m.pid} had no client error`);
  }
}

/**
 * The table whose header line matches `header` in the CLI's readable output: the header and the
 * rows after it (up to a blank line), each split into its cells.
 */
function tableAt(output: string, header: RegExp): { header: string; rows: string[][] } {
  const lines = output.split('\n');
  const at = lines.findIndex(line => header.test(line));
  assert.notEqual(at, -1, `the output has a table headed ${header}:\n${output}`);
  const rows: string[][] = [];
  for (const line of lines.slice(at + 1)) {
    if (line.trim() === '') break;
    rows.push(line.trim().split(/\s{2,}/));
  }
  return { header: lines[at]!, rows };
}

/** The followers table of `channel` (one channel only in the output): one row per follower, the pid first. */
function followersTable(output: string, channel = NAME): string[][] {
  assert.match(output, new RegExp(`^followers of "${channel}":\\n\\s+pid\\s+connection\\s+in-flight\\s+subscriptions\\s+codec\\s`, 'm'), output);
  return tableAt(output, /^\s+pid\s+connection\s+in-flight/).rows;
}

for (const transport of TRANSPORTS) {
  describe(`cluster-share status: a leader and 3 followers on ${transport === 'tcp' ? 'a port' : 'a unix socket'}`, () => {
    test('--json and the tables show the leader, the channel and exactly the followers; the group is unaffected', { timeout: 120_000 }, async () => {
      const at = await meetingPoint(transport);
      const before = Date.now();
      const g = await group(4, { ...at, name: NAME });
      const { leader, followers } = g;
      const where = 'port' in at ? `port ${at.port}` : `socket ${at.path}`;

      const status = await statusJson(target(at));
      const afterStatus = Date.now();
      assert.equal(status.leader.pid, leader.pid, 'the leader\'s pid');
      assert.equal(status.leader.endpoint, where);
      assert.equal(status.leader.node, process.version, 'the leader runs this node');
      assert.ok(status.leader.since >= before && status.leader.since <= afterStatus, `since ${status.leader.since} is within the test (${before}..${afterStatus})`);
      assert.ok(status.leader.uptimeMs >= 0 && status.leader.uptimeMs <= afterStatus - before, `uptime ${status.leader.uptimeMs}ms`);
      assert.equal(status.pendingConnections, 0, 'no connection waits to register (the observer itself does not count)');
      assert.deepEqual(status.channels.map(c => c.name), [NAME], 'one channel, the group\'s');
      const [channel] = status.channels;
      assert.equal(channel!.leaderInFlightCalls, 0);
      assert.equal(channel!.followerInFlightCalls, 0);
      assert.equal(channel!.subscriptions, 0);
      assert.equal(channel!.followers.length, 3, JSON.stringify(channel!.followers));
      assert.deepEqual(sortedPids(channel!.followers), sortedPids(followers), 'the followers are exactly the 3 follower processes');
      assert.equal(new Set(channel!.followers.map(f => f.connection)).size, 3, 'one connection each');
      for (const f of channel!.followers) {
        assert.equal(f.channel, NAME);
        assert.equal(f.codec, 'tagged-v1', `follower ${f.pid} negotiated tagged-v1`);
        assert.equal(f.inFlightCalls, 0);
        assert.equal(f.subscriptions, 0);
        assert.ok(f.connectedAt >= status.leader.since && f.connectedAt <= afterStatus, `follower ${f.pid} connected (${f.connectedAt}) after the leader won (${status.leader.since})`);
        assert.ok(f.traffic.packetsIn >= 1 && f.traffic.bytesIn > 0, `its registration crossed the connection: ${JSON.stringify(f.traffic)}`);
        assert.ok(f.traffic.packetsOut >= 1 && f.traffic.bytesOut > 0, `the answer to it too: ${JSON.stringify(f.traffic)}`);
      }

      // The readable form of the same.
      const run = await cli(['status', ...target(at), ...LONG]);
      assert.equal(run.code, 0, show(run));
      assert.equal(run.stderr, '', show(run));
      assert.ok(run.stdout.startsWith(`leader on ${where}\n`), show(run));
      assert.match(run.stdout, new RegExp(`^\\s+pid\\s+${leader.pid}$`, 'm'), `the leader's pid\n${run.stdout}`);
      const channels = tableAt(run.stdout, /^channel\s+followers\s+in-flight \(leader\)\s+in-flight \(followers\)\s+subscriptions$/);
      assert.deepEqual(channels.rows.map(row => row.slice(0, 4)), [[NAME, '3', '0', '0']], `the channel row: name, 3 followers, nothing in flight\n${run.stdout}`);
      const table = followersTable(run.stdout);
      assert.deepEqual(table.map(row => Number(row[0])).sort((a, b) => a - b), sortedPids(followers), `a row per follower, by pid\n${run.stdout}`);
      for (const row of table) assert.equal(row[4], 'tagged-v1', `codec column\n${run.stdout}`);

      if ('port' in at) {
        // No --port: NODE_CLUSTER_CLIENT_PORT says where.
        const byEnv = await statusJson([], { NODE_CLUSTER_CLIENT_PORT: String(at.port) });
        assert.equal(byEnv.leader.pid, leader.pid, 'NODE_CLUSTER_CLIENT_PORT points the CLI at the leader');
        assert.deepEqual(sortedPids(byEnv.channels[0]!.followers), sortedPids(followers));
      }

      await assertUnaffected(g);
      await closeGroup(g);
    });
  });
}

describe('cluster-share status: calls in flight', () => {
  test('a follower\'s slow call and the leader\'s own are counted while they run, and no longer once answered', { timeout: 120_000 }, async () => {
    const port = await freePort();
    // responseTimeout far above the slow call, so it is answered, not timed out.
    const g = await group(4, { port, name: NAME, responseTimeout: 60_000 });
    const { leader, followers } = g;
    const slowFollower = followers[0]!;
    // 10 s: the time the CLI has to see the calls (each run takes well under a second,
    // a few seconds on a loaded machine). The polling below stops when the calls end.
    const SLOW_MS = 10_000;
    let settled = false;
    const calls = Promise.all([slowFollower.invoke('slow', SLOW_MS), leader.invoke('slow', SLOW_MS)]).finally(() => {
      settled = true;
    });
    calls.catch(() => undefined); // awaited below; no unhandled rejection meanwhile

    let seen: LeaderStatus | undefined;
    const polls: string[] = [];
    while (!settled) {
      const status = await statusJson(['--port', String(port)]);
      const c = status.channels[0]!;
      polls.push(`leader ${c.leaderInFlightCalls}, followers ${c.followerInFlightCalls}`);
      if (c.followerInFlightCalls >= 1 && c.leaderInFlightCalls >= 1) {
        seen = status;
        break;
      }
    }
    assert.ok(seen, `status showed both calls in flight before they ended (polls: ${polls.join('; ')})`);
    assert.equal(settled, false, 'the calls were still running when the status was taken');
    const channel = seen.channels[0]!;
    assert.equal(channel.followerInFlightCalls, 1, 'the one follower call');
    assert.equal(channel.leaderInFlightCalls, 1, 'the leader\'s own call');
    const byPid = new Map<number | undefined, FollowerStats>(channel.followers.map(f => [f.pid, f]));
    assert.equal(byPid.get(slowFollower.pid)?.inFlightCalls, 1, `follower ${slowFollower.pid} has its call in flight`);
    for (const f of followers.slice(1)) assert.equal(byPid.get(f.pid)?.inFlightCalls, 0, `follower ${f.pid} has none`);

    // While the call runs, the table shows it too, in the slow follower's row.
    const run = await cli(['status', '--port', String(port)]);
    assert.equal(run.code, 0, show(run));
    if (!settled) {
      const rows = followersTable(run.stdout);
      assert.equal(rows.find(row => row[0] === String(slowFollower.pid))?.[2], '1', `in-flight column of ${slowFollower.pid}\n${run.stdout}`);
    }

    assert.deepEqual(await calls, [SLOW_MS, SLOW_MS], 'both slow calls succeed');
    const afterwards = await statusJson(['--port', String(port)]);
    const done = afterwards.channels[0]!;
    assert.equal(done.followerInFlightCalls, 0, 'answered: no follower call in flight');
    assert.equal(done.leaderInFlightCalls, 0, 'answered: no leader call in flight');
    for (const f of done.followers) assert.equal(f.inFlightCalls, 0, `follower ${f.pid}`);

    await assertUnaffected(g);
    await closeGroup(g);
  });
});

describe('cluster-share status: a cluster-share leader with a cluster-client 3.x follower', () => {
  test('the 3.x follower is listed with the serialize-json codec and no pid ("?" in the table)', { timeout: 120_000 }, async () => {
    const port = await freePort();
    // Roles pinned, as in interop.test.ts; the channel is the default (the class name) for both.
    const leader = spawnMember({ port, isLeader: true });
    live.add(leader);
    assert.equal(await leader.ready(), true, 'the cluster-share member leads');
    const ours = spawnMember({ port, isLeader: false });
    const theirs = spawnMember({ port, isLeader: false }, undefined, 'cluster-client');
    for (const m of [ours, theirs]) live.add(m);
    assert.deepEqual(await Promise.all([ours.ready(), theirs.ready()]), [false, false], 'both follow');

    const status = await statusJson(['--port', String(port)]);
    assert.equal(status.leader.pid, leader.pid);
    assert.deepEqual(status.channels.map(c => c.name), ['FixtureClient']);
    const followers = status.channels[0]!.followers;
    assert.equal(followers.length, 2, JSON.stringify(followers));
    const withPid = followers.filter(f => f.pid !== undefined);
    assert.deepEqual(withPid.map(f => [f.pid, f.codec]), [[ours.pid, 'tagged-v1']], 'ours says its pid and speaks tagged-v1');
    const without = followers.filter(f => f.pid === undefined);
    assert.deepEqual(without.map(f => f.codec), ['serialize-json'], 'the 3.x follower says no pid and speaks serialize-json');

    const run = await cli(['status', '--port', String(port)]);
    assert.equal(run.code, 0, show(run));
    const rows = followersTable(run.stdout, 'FixtureClient');
    assert.deepEqual(rows.map(row => [row[0], row[4]]).sort(), [[String(ours.pid), 'tagged-v1'], ['?', 'serialize-json']].sort(), run.stdout);

    assert.equal(await theirs.invoke('pid'), leader.pid, 'the 3.x follower is still served');
    assert.equal(await ours.invoke('pid'), leader.pid, 'ours too');
    await closeGroup({ leader, followers: [ours, theirs] });
  });
});

describe('an observer that stays connected (a raw status request)', () => {
  test('it is not a pending connection, and the leader closes it frameTimeout after it connected, without a warning', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const FRAME_TIMEOUT = 2000;
    const g = await group(2, { port, name: NAME, frameTimeout: FRAME_TIMEOUT });
    const { leader } = g;
    // A connection that never registers: pending, and warned about when frameTimeout closes it.
    const silent = await RawPeer.connect(port);
    const observer = await RawPeer.connect(port);
    const answer = await observer.response(observer.send({ type: STATUS }));
    assert.equal(answer.connObj.type, STATUS_RES);
    assert.equal(answer.connObj.success, true);
    const status = JSON.parse(packetData(answer)?.toString('utf8') ?? '') as LeaderStatus;
    assert.equal(status.leader.pid, leader.pid);
    assert.equal(status.pendingConnections, 1, 'the silent connection is pending; the observer is not');

    const [observerEnd, silentEnd] = await within(Promise.all([observer.ended, silent.ended]), 60_000, () => 'the leader closes both connections');
    // The leader's timer starts when it accepts, after our 'connect'; 500 ms of slack for clocks.
    assert.ok(observerEnd.afterMs >= FRAME_TIMEOUT - 500, `the observer was closed after frameTimeout, not at once (${Math.round(observerEnd.afterMs)}ms)`);
    assert.ok(silentEnd.afterMs >= FRAME_TIMEOUT - 500, `the silent connection too (${Math.round(silentEnd.afterMs)}ms)`);
    await Promise.all(g.members.map(m => m.state()));
    const warnings = leader.logs();
    assert.equal(warnings.length, 1, `one warning, about the silent connection only: ${JSON.stringify(warnings)}`);
    assert.match(warnings[0]!, /did not register within/);
    assert.equal(await g.followers[0]!.invoke('pid'), leader.pid, 'the follower is still served');
    await closeGroup(g);
  });
});

describe('cluster-share status: no status to print (exit 1)', () => {
  test('nothing listens on the port, or at the socket path', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const onPort = await cli(['status', '--port', String(port), ...LONG]);
    assert.equal(onPort.code, 1, show(onPort));
    assert.equal(onPort.stdout, '', show(onPort));
    assert.match(onPort.stderr, new RegExp(`nothing listens on port ${port}`), show(onPort));

    const path = freeSocketPath();
    const onPath = await cli(['status', '--json', '--path', path, ...LONG]);
    assert.equal(onPath.code, 1, show(onPath));
    assert.equal(onPath.stdout, '', show(onPath));
    assert.ok(onPath.stderr.includes(`nothing listens on socket ${path}`), show(onPath));
  });

  test('a cluster-client 3.x leader does not answer: exit 1 after --timeout, and the 3.x group keeps working', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const g = await group(2, { port, name: NAME }, 'cluster-client');
    const { leader, followers } = g;
    assert.equal(await followers[0]!.invoke('echo', 'before'), 'before');

    const run = await cli(['status', '--port', String(port), '--timeout', '500']);
    assert.equal(run.code, 1, show(run));
    assert.equal(run.stdout, '', show(run));
    assert.match(run.stderr, /cluster-client 3\.x/, show(run));
    assert.match(run.stderr, /within 500ms/, `the --timeout is the one waited\n${show(run)}`);
    assert.ok(run.ms >= 500, `it waited the timeout (${Math.round(run.ms)}ms)`);
    // Generous, for node's start-up on a loaded machine; the message above says which timeout it waited.
    assert.ok(run.ms < 15_000, `it gave up about --timeout after it connected (${Math.round(run.ms)}ms)`);

    assert.equal(await followers[0]!.invoke('echo', 'after'), 'after', 'the 3.x follower is still served');
    assert.equal(await followers[0]!.invoke('pid'), leader.pid, 'by the same leader');
    await closeGroup(g);
  });

  test('an HTTP server on the port is not a cluster-share leader', { timeout: 60_000 }, async () => {
    let requests = 0;
    const server = http.createServer((_req, res) => {
      requests++;
      res.end('hello');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as net.AddressInfo;
      const run = await cli(['status', '--port', String(port), ...LONG]);
      assert.equal(run.code, 1, show(run));
      assert.equal(run.stdout, '', show(run));
      assert.match(run.stderr, /not a cluster-share leader/, show(run));
      assert.equal(requests, 0, 'the status packet is no HTTP request');
    } finally {
      server.close();
      server.closeAllConnections();
      await once(server, 'close');
    }
  });

  test('a listener that closes every connection at once, and one that never answers', { timeout: 60_000 }, async () => {
    const closing = net.createServer(socket => socket.destroy());
    // The silent one keeps what it accepted, to destroy it at the end (a socket nobody reads
    // would keep its server from closing without keeping the event loop alive).
    const accepted = new Set<net.Socket>();
    const silent = net.createServer(socket => void accepted.add(socket));
    for (const server of [closing, silent]) {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
    }
    try {
      const closed = await cli(['status', '--port', String((closing.address() as net.AddressInfo).port), ...LONG]);
      assert.equal(closed.code, 1, show(closed));
      assert.equal(closed.stdout, '', show(closed));
      assert.match(closed.stderr, /closed the connection without answering the status request: not a cluster-share leader/, show(closed));

      const mute = await cli(['status', '--port', String((silent.address() as net.AddressInfo).port), '--timeout', '500']);
      assert.equal(mute.code, 1, show(mute));
      assert.equal(mute.stdout, '', show(mute));
      assert.match(mute.stderr, /did not answer the status request within 500ms/, show(mute));
    } finally {
      for (const socket of accepted) socket.destroy();
      for (const server of [closing, silent]) {
        server.close();
        await once(server, 'close');
      }
    }
  });
});

describe('cluster-share status: a leader with a shared secret', () => {
  test('refused without the secret or with another; answered with --secret or NODE_CLUSTER_CLIENT_SECRET', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const g = await group(3, { port, name: NAME, secret: SECRET });
    const { leader, followers } = g;
    const args = ['status', '--port', String(port), ...LONG];

    const refusals: Array<[string, Run]> = [
      ['no secret', await cli(args)],
      ['another --secret', await cli([...args, '--secret', 'not-the-secret'])],
      ['another NODE_CLUSTER_CLIENT_SECRET', await cli(args, { NODE_CLUSTER_CLIENT_SECRET: 'not-the-secret' })],
      ['--secret wrong, the env right (the option wins)', await cli([...args, '--secret', 'not-the-secret'], { NODE_CLUSTER_CLIENT_SECRET: SECRET })],
    ];
    for (const [what, run] of refusals) {
      assert.equal(run.code, 1, `${what}: ${show(run)}`);
      assert.equal(run.stdout, '', `${what}: ${show(run)}`);
      assert.match(run.stderr, /refused/, `${what}: ${show(run)}`);
      assert.match(run.stderr, /ERR_CLUSTER_AUTH_FAILED/, `${what}: ${show(run)}`);
      assert.match(run.stderr, /secret/, `${what}: ${show(run)}`);
      assert.ok(!run.stderr.includes(SECRET), `${what}: the secret is not printed`);
    }

    for (const [what, status] of [
      ['--secret', await statusJson(['--port', String(port), '--secret', SECRET])],
      ['NODE_CLUSTER_CLIENT_SECRET', await statusJson(['--port', String(port)], { NODE_CLUSTER_CLIENT_SECRET: SECRET })],
    ] as const) {
      assert.equal(status.leader.pid, leader.pid, what);
      assert.deepEqual(status.channels.map(c => c.name), [NAME], what);
      assert.deepEqual(sortedPids(status.channels[0]!.followers), sortedPids(followers), what);
    }
    const table = await cli(['status', '--port', String(port), '--secret', SECRET]);
    assert.equal(table.code, 0, show(table));
    assert.match(table.stdout, new RegExp(`^\\s+pid\\s+${leader.pid}$`, 'm'), show(table));

    // The refusals are the leader's business: it warned about each, and about nothing else.
    await Promise.all(g.members.map(m => m.state()));
    const warnings = leader.logs();
    assert.equal(warnings.length, refusals.length, `one warning per refused observer: ${JSON.stringify(warnings)}`);
    for (const w of warnings) assert.match(w, /asked for the status without proving the shared secret/);
    for (const f of followers) {
      assert.deepEqual(f.logs(), [], `follower ${f.pid} logged nothing`);
      assert.equal(await f.invoke('pid'), leader.pid, `follower ${f.pid} is still served`);
    }
    await closeGroup(g);
  });
});

describe('cluster-share: usage', () => {
  const usage = /^Usage: cluster-share status \[options\]$/m;
  const bad: Array<[string[], RegExp, Record<string, string>?]> = [
    [[], /missing command/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['status', 'now'], /unknown command "status now"/],
    [['status', '--port', 'abc'], /--port must be an integer from 1 to 65535, got "abc"/],
    [['status', '--port', '70000'], /--port must be an integer from 1 to 65535/],
    [['status', '--port', '1', '--path', '/x'], /--port or --path, not both/],
    [['status', '--path', ''], /--path must not be empty/],
    [['status', '--timeout', '0'], /--timeout must be an integer/],
    [['status', '--bogus'], /bogus/],
    [['status'], /NODE_CLUSTER_CLIENT_PORT must be an integer/, { NODE_CLUSTER_CLIENT_PORT: 'abc' }],
  ];
  for (const [args, message, env] of bad) {
    test(`\`cluster-share ${args.join(' ')}\`${env ? ` with ${JSON.stringify(env)}` : ''}: exit 2, the usage on stderr`, { timeout: 60_000 }, async () => {
      const run = await cli(args, env);
      assert.equal(run.code, 2, show(run));
      assert.equal(run.stdout, '', show(run));
      assert.match(run.stderr, message, show(run));
      assert.match(run.stderr, usage, show(run));
    });
  }

  for (const help of ['--help', '-h']) {
    test(`\`cluster-share ${help}\`: exit 0, the usage on stdout`, { timeout: 60_000 }, async () => {
      const run = await cli([help]);
      assert.equal(run.code, 0, show(run));
      assert.equal(run.stderr, '', show(run));
      assert.match(run.stdout, usage, show(run));
      assert.match(run.stdout, /--port <port>/, show(run));
      assert.match(run.stdout, /Exit codes: 0 printed, 1 no status/, show(run));
    });
  }
});
