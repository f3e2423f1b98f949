/**
 * The leader's user check (src/transport/peer-user.ts, port-server.ts): on Linux the leader
 * reads the owner of every accepted loopback connection in /proc/net/tcp(6) and refuses another
 * user's with ERR_CLUSTER_USER_REFUSED; its own user and root are always allowed, `allowedUsers`
 * / NODE_CLUSTER_CLIENT_ALLOWED_USERS widen the rule.
 *
 * The pure helpers are tested on hand-written /proc texts. The rest runs real processes on
 * 127.0.0.1: a leader as root, followers as root and as user `nobody` (fork with uid/gid, which
 * needs root on Linux; elsewhere those tests are skipped with the reason), cluster-client 3.7.0
 * followers, and the `cluster-share status` bin (dist/esm/cli.js). "Ways around the check" runs
 * a raw peer as nobody (fixtures/intruder.ts) that tries what a hostile local user would: a
 * second registration after the refusal, time-wait rows (listed with uid 0) for the same ports,
 * closing its socket before a busy (here: stopped) leader looks it up, and an idle connection
 * held open while the leader closes. Every wait is on a process event, a member's reply or, for
 * kernel state (/proc), a bounded poll.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import cluster, { close, type ClusterOptions, InvalidOptionError, UserRefusedError } from '../src/index.js';
import { findSocketUid, isAllowedUid, resolveAllowedUsers } from '../src/transport/peer-user.js';
import { FixtureClient } from './fixtures/data-client.js';
import type { IntruderConfig, IntruderReport } from './fixtures/intruder.js';
import { type Impl, Member, type MemberIo, RemoteError, freePort, killAll } from './helpers/group.js';
import { sigcont, sigstop } from './helpers/signals.js';
import { within } from './helpers/within.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(root, 'dist', 'esm', 'cli.js');
const INTRUDER = fileURLToPath(new URL('./fixtures/intruder.js', import.meta.url));
/** The channel of every group here: the fixture's class name (what 3.x registers too). */
const CHANNEL = 'FixtureClient';

/** A user from /etc/passwd: [uid, gid], or undefined. */
function passwdEntry(name: string): [number, number] | undefined {
  let text = '';
  try {
    text = fs.readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && /^\d+$/.test(uid ?? '') && /^\d+$/.test(gid ?? '')) return [Number(uid), Number(gid)];
  }
  return undefined;
}

const NOBODY = passwdEntry('nobody');
/** Why the multi-user tests cannot run here, or undefined when they can. */
const multiUserSkip = process.platform !== 'linux' ? `the user check reads /proc/net/tcp: Linux only (this is ${process.platform})`
  : process.getuid?.() !== 0 ? 'starting a follower as another user (nobody) needs root'
    : !NOBODY || NOBODY[0] === 0 ? 'no user "nobody" in /etc/passwd'
      : undefined;
const multiUser = multiUserSkip ? { skip: multiUserSkip } : {};
const NOBODY_UID = NOBODY?.[0] ?? 65534;
const NOBODY_GID = NOBODY?.[1] ?? 65534;
const AS_NOBODY: MemberIo = { uid: NOBODY_UID, gid: NOBODY_GID };
/** A third user, with no /etc/passwd entry (root may run a process as any uid). */
const OTHER_UID = NOBODY_UID === 54321 ? 54322 : 54321;

const live = new Set<Member>();
after(() => killAll(live));

/** Starts a member (a fixtures/member.ts process) and tracks it for the `after` hook. */
function start(options: ClusterOptions, io: MemberIo = {}, impl: Impl = 'cluster-share'): Member {
  const m = new Member({ options, impl }, undefined, io);
  live.add(m);
  return m;
}

/** Closes members in order (followers first, then the leader), or kills one that cannot close. */
async function closeAll(members: Member[]): Promise<void> {
  for (const m of members) {
    await within(m.close(), 30_000, () => `closing member ${m.pid}`).catch(() => m.kill());
    live.delete(m);
  }
}

/** Asserts `promise` rejects with ERR_CLUSTER_USER_REFUSED naming the uid. */
async function assertRefused(promise: Promise<unknown>, uid: number, what: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof RemoteError, `${what}: ${String(err)}`);
    assert.equal(err.code, 'ERR_CLUSTER_USER_REFUSED', `${what}: ${err.message}`);
    assert.equal(err.remoteName, 'UserRefusedError', what);
    assert.match(err.message, new RegExp(`refused a connection of uid ${uid}\\b`), what);
    return true;
  }, what);
}

/** The leader's warnings that are about refusing users. */
const refusalWarnings = (leader: Member): string[] => leader.logs('warn').filter(w => /refused/.test(w));

// ─── the pure helpers ────────────────────────────────────────────────────────────────────────

/** /proc/net/tcp as the kernel writes it (trailing spaces and all). */
const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     ';
function tcpRow(sl: number, local: string, remote: string, st: string, uid: number, inode: number): string {
  return `${String(sl).padStart(4)}: ${local} ${remote} ${st} 00000000:00000000 00:00000000 00000000 ${String(uid).padStart(5)}        0 ${inode} 1 0000000000000000 20 4 30 10 -1                     `;
}
/** A socket end as /proc/net/tcp writes it: `HEXADDR:HEXPORT`, the IPv4 address in host (little-endian) byte order. */
const hexPort = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0');
const V4 = (port: number, host = 1): string => `${host.toString(16).toUpperCase().padStart(2, '0')}00007F:${hexPort(port)}`;
/** The same end in /proc/net/tcp6 as an IPv4-mapped address (::ffff:127.0.0.host). */
const V6 = (port: number, host = 1): string => `0000000000000000FFFF0000${V4(port, host)}`;

describe('peer-user: pure helpers', () => {
  // The leader (uid 1001) listens on 7777 (1E61); the follower's socket (uid 1000) is 51234 (C822).
  const LEADER_PORT = 7777;
  const FOLLOWER_PORT = 51234;
  const F = V4(FOLLOWER_PORT);
  const L = V4(LEADER_PORT);
  const tcp = [
    TCP_HEADER,
    tcpRow(0, '00000000:0016', '00000000:0000', '0A', 0, 1201), // sshd LISTEN
    tcpRow(1, L, '00000000:0000', '0A', 1001, 1202), // the leader's LISTEN
    // The leader's own accepted socket: the same two ends, reversed, and the leader's uid.
    tcpRow(2, L, F, '01', 1001, 1203),
    // Another socket using the follower's end as its REMOTE end (not the follower's).
    tcpRow(3, V4(40000), F, '01', 33, 1204),
    // A socket of the follower's port to another address and port.
    tcpRow(4, F, '0A00020F:01BB', '01', 44, 1205),
    // The same two ports between other loopback addresses (127.0.0.2:51234 → 127.0.0.3:7777), uid 0.
    tcpRow(5, V4(FOLLOWER_PORT, 2), V4(LEADER_PORT, 3), '01', 0, 1206),
    tcpRow(6, F, L, '01', 1000, 1207), // the follower
    tcpRow(7, V4(52000), L, '01', 1001, 1208), // another follower, the leader's user
  ].join('\n') + '\n';

  test('findSocketUid finds the follower\'s row: not the leader\'s reversed row, nor rows sharing one end or the ports only', () => {
    assert.equal(findSocketUid(tcp, F, L), 1000);
    assert.equal(findSocketUid(tcp, V4(52000), L), 1001);
    // The reversed lookup is the leader's own accepted socket.
    assert.equal(findSocketUid(tcp, L, F), 1001);
    assert.equal(findSocketUid(tcp, F, '0A00020F:01BB'), 44);
    assert.equal(findSocketUid(tcp, V4(FOLLOWER_PORT, 2), V4(LEADER_PORT, 3)), 0);
    // The table's last line without its newline is read too.
    assert.equal(findSocketUid(tcp.trimEnd(), V4(52000), L), 1001);
  });

  test('findSocketUid: an end nobody uses, the header alone and an empty text give undefined', () => {
    assert.equal(findSocketUid(tcp, V4(51235), L), undefined);
    assert.equal(findSocketUid(tcp, F, V4(7778)), undefined);
    assert.equal(findSocketUid(tcp, V4(FOLLOWER_PORT, 4), L), undefined, 'same ports, another address');
    assert.equal(findSocketUid(`${TCP_HEADER}\n`, F, L), undefined);
    assert.equal(findSocketUid('', F, L), undefined);
  });

  test('findSocketUid trusts established sockets only: time-wait and closing rows (listed with uid 0) are not the follower', () => {
    // Time-wait entries of the same two ports on other loopback addresses (127.0.0.3 → 127.0.0.2),
    // listed before the follower's live socket: the kernel prints uid 0 for every time-wait row.
    const decoyed = [
      TCP_HEADER,
      tcpRow(0, V4(FOLLOWER_PORT, 3), V4(LEADER_PORT, 2), '06', 0, 0).replace(' 00:00000000 ', ' 03:00001770 '),
      tcpRow(1, F, L, '01', 1000, 1207),
    ].join('\n') + '\n';
    assert.equal(findSocketUid(decoyed, F, L), 1000);
    // The follower's own socket after it closed first: an orphaned FIN_WAIT2 is a time-wait entry
    // too (state 05, timer 3, uid 0, inode 0). Its owner is unknown, not root.
    const closed = [TCP_HEADER, tcpRow(0, F, L, '05', 0, 0).replace(' 00:00000000 ', ' 03:00001770 ')].join('\n') + '\n';
    assert.equal(findSocketUid(closed, F, L), undefined);
    for (const st of ['02', '03', '04', '06', '07', '08', '09', '0A', '0B', '0C']) {
      assert.equal(findSocketUid([TCP_HEADER, tcpRow(0, F, L, st, 0, 0)].join('\n'), F, L), undefined, `state ${st}`);
    }
  });

  test('findSocketUid reads /proc/net/tcp6 rows with ::ffff:127.0.0.1 (IPv4-mapped) addresses', () => {
    const tcp6 = [
      TCP_HEADER,
      tcpRow(0, `00000000000000000000000000000000:${hexPort(LEADER_PORT)}`, '00000000000000000000000000000000:0000', '0A', 1001, 2201),
      tcpRow(1, V6(LEADER_PORT), V6(FOLLOWER_PORT), '01', 1001, 2202),
      tcpRow(2, V6(FOLLOWER_PORT), V6(LEADER_PORT), '01', 1000, 2203),
      tcpRow(3, `00000000000000000000000001000000:${hexPort(FOLLOWER_PORT)}`, `00000000000000000000000001000000:${hexPort(LEADER_PORT)}`, '01', 2000, 2204),
    ].join('\n') + '\n';
    assert.equal(findSocketUid(tcp6, V6(FOLLOWER_PORT), V6(LEADER_PORT)), 1000);
    assert.equal(findSocketUid(tcp6, V6(LEADER_PORT), V6(FOLLOWER_PORT)), 1001);
    assert.equal(findSocketUid(tcp6, V6(51235), V6(LEADER_PORT)), undefined);
    // The v4 spelling of an end is not found in the tcp6 text (and the other way round).
    assert.equal(findSocketUid(tcp6, F, L), undefined);
    assert.equal(findSocketUid(tcp, V6(FOLLOWER_PORT), V6(LEADER_PORT)), undefined);
  });

  test('resolveAllowedUsers: uids, numeric strings, user names, "*"', () => {
    assert.deepEqual(resolveAllowedUsers([], 'opt'), new Set());
    assert.deepEqual(resolveAllowedUsers([1000, '1001', 0, 4294967295], 'opt'), new Set([1000, 1001, 0, 4294967295]));
    assert.deepEqual(resolveAllowedUsers(['root'], 'opt'), new Set([0]));
    const nobody = passwdEntry('nobody');
    if (nobody) assert.deepEqual(resolveAllowedUsers(['nobody', 5], 'opt'), new Set([nobody[0], 5]));
    assert.equal(resolveAllowedUsers(['*'], 'opt'), 'any');
    assert.equal(resolveAllowedUsers([1000, '*'], 'opt'), 'any');
  });

  test('resolveAllowedUsers: a bad entry throws InvalidOptionError naming the option', () => {
    const bad: unknown[] = [-1, 1.5, NaN, Infinity, 2 ** 32, '', {}, null, undefined, true, [1], 'no-such-user-zz9'];
    for (const entry of bad) {
      assert.throws(() => resolveAllowedUsers([1000, entry], 'myOption'), (err: unknown) => {
        assert.ok(err instanceof InvalidOptionError, `${String(entry)}: ${String(err)}`);
        assert.equal(err.code, 'ERR_CLUSTER_INVALID_OPTION');
        assert.equal(err.option, 'myOption');
        assert.match(err.message, /myOption/);
        return true;
      }, `entry ${typeof entry === 'string' ? JSON.stringify(entry) : String(entry)}`);
    }
    assert.throws(() => resolveAllowedUsers(['no-such-user-zz9'], 'x'), /no-such-user-zz9.*not in \/etc\/passwd/);
  });

  test('UserRefusedError is exported, with its code and uid', () => {
    const err = new UserRefusedError('refused a connection of uid 4242', 4242);
    assert.equal(err.code, 'ERR_CLUSTER_USER_REFUSED');
    assert.equal(err.uid, 4242);
    assert.equal(err.name, 'UserRefusedError');
    assert.match(err.message, /^\[cluster-share\] refused/);
  });

  test('isAllowedUid: its own user and root always; others only if allowed, or with "any"', () => {
    const own = process.getuid?.() ?? 1000;
    const other = own === 4242 ? 4343 : 4242;
    assert.equal(isAllowedUid(own, new Set()), true);
    assert.equal(isAllowedUid(0, new Set()), true);
    assert.equal(isAllowedUid(other, new Set()), false);
    assert.equal(isAllowedUid(other, new Set([other])), true);
    assert.equal(isAllowedUid(other, new Set([other + 1])), false);
    assert.equal(isAllowedUid(other, 'any'), true);
  });

  test('cluster(): a bad allowedUsers (or NODE_CLUSTER_CLIENT_ALLOWED_USERS) throws ERR_CLUSTER_INVALID_OPTION at once and starts nothing', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const bad: unknown[] = ['x', 1000, {}, [-1], [1.5], [''], ['no-such-user-zz9'], [{}]];
    for (const allowedUsers of bad) {
      assert.throws(() => cluster(FixtureClient, { port, allowedUsers } as unknown as ClusterOptions), (err: unknown) => {
        assert.ok(err instanceof InvalidOptionError, String(err));
        assert.equal(err.code, 'ERR_CLUSTER_INVALID_OPTION');
        assert.equal(err.option, 'allowedUsers');
        return true;
      }, `allowedUsers ${JSON.stringify(allowedUsers)}`);
    }
    const saved = process.env.NODE_CLUSTER_CLIENT_ALLOWED_USERS;
    try {
      process.env.NODE_CLUSTER_CLIENT_ALLOWED_USERS = '1000,no-such-user-zz9';
      assert.throws(() => cluster(FixtureClient, { port }), (err: unknown) => {
        assert.ok(err instanceof InvalidOptionError, String(err));
        assert.match(err.option, /NODE_CLUSTER_CLIENT_ALLOWED_USERS/);
        return true;
      });
      // A valid explicit option wins over a bad environment variable.
      cluster(FixtureClient, { port, allowedUsers: [1000] });
      // create() reads the environment again: set bad after cluster(), it throws there.
      process.env.NODE_CLUSTER_CLIENT_ALLOWED_USERS = '1000';
      const generator = cluster(FixtureClient, { port, logger: { info() {}, warn() {}, error() {} } });
      process.env.NODE_CLUSTER_CLIENT_ALLOWED_USERS = '-1';
      assert.throws(() => generator.create({}), (err: unknown) => err instanceof InvalidOptionError && err.code === 'ERR_CLUSTER_INVALID_OPTION');
    } finally {
      if (saved === undefined) delete process.env.NODE_CLUSTER_CLIENT_ALLOWED_USERS;
      else process.env.NODE_CLUSTER_CLIENT_ALLOWED_USERS = saved;
    }
    // Nothing was started: the port is still free, and a valid client on it leads and works.
    const client = cluster(FixtureClient, { port, allowedUsers: ['root', 1000, '1001'], logger: { info() {}, warn() {}, error() {} } }).delegate('echo').create({});
    await client.ready();
    assert.equal(client.isClusterClientLeader, true, 'the valid client won the port: the bad ones never claimed it');
    assert.equal(await client.echo('ok'), 'ok');
    await close(client);
  });
});

// ─── real processes, two users ───────────────────────────────────────────────────────────────

describe('peer-user: a leader refuses other local users (real processes)', () => {
  test('a follower of user nobody is refused (ERR_CLUSTER_USER_REFUSED, never reaches the DataClient, one warning); root followers of cluster-share and cluster-client 3.x are served', { ...multiUser, timeout: 120_000 }, async () => {
    const port = await freePort();
    const leader = start({ port });
    assert.equal(await leader.ready(), true, 'the root member leads');

    // Two followers of user nobody, one after the other: both refused, the leader warns once.
    const intruders: Member[] = [];
    for (const i of [1, 2]) {
      const intruder = start({ port }, AS_NOBODY);
      intruders.push(intruder);
      await assertRefused(intruder.ready(), NOBODY_UID, `nobody follower #${i}: ready()`);
      // Calls fail at once with the refusal: nothing is queued for a leader.
      await assertRefused(intruder.invoke('record', `nobody-${i}`), NOBODY_UID, `nobody follower #${i}: a call`);
      const state = await intruder.state();
      assert.equal(state.isLeader, false, `nobody follower #${i} does not lead`);
    }

    // Same user as the leader: a cluster-share follower and a cluster-client 3.x follower.
    const follower = start({ port });
    assert.equal(await follower.ready(), false);
    assert.equal(await follower.invoke('record', 'root cluster-share follower'), 'root cluster-share follower');
    assert.equal(await follower.invoke('pid'), leader.pid, 'served by the root leader');
    const legacy = start({ port }, {}, 'cluster-client');
    assert.equal(await legacy.ready(), false);
    assert.equal((await legacy.state()).state, undefined, 'the member runs cluster-client 3.x (it has no state)');
    assert.equal(await legacy.invoke('record', 'root cluster-client 3.x follower'), 'root cluster-client 3.x follower');
    assert.equal(await legacy.invoke('pid'), leader.pid, 'the 3.x follower is served by the root leader');

    // The leader's DataClient: exactly the two served followers' calls, nothing from nobody.
    assert.deepEqual(await leader.invoke('recorded'), ['root cluster-share follower', 'root cluster-client 3.x follower']);
    const stats = await leader.clusterStats();
    const pids = stats.followers.map(f => f.pid);
    assert.equal(stats.followers.length, 2, `the leader has exactly the two root followers: ${JSON.stringify(stats.followers)}`);
    assert.ok(pids.includes(follower.pid), 'the cluster-share follower is listed');
    for (const m of intruders) assert.ok(!pids.includes(m.pid), `nobody member ${m.pid} is not a follower`);

    // One warning, naming the uid, for two refused connections of that user (and nothing else).
    const warnings = leader.logs('warn');
    assert.equal(warnings.length, 1, `one warning in all: ${JSON.stringify(warnings)}`);
    assert.match(warnings[0]!, new RegExp(`refused a connection of uid ${NOBODY_UID}\\b`));
    assert.match(warnings[0]!, /allowedUsers/, 'it says how to allow the user');
    assert.deepEqual(leader.clientErrors(), []);
    // A refusal is final: the refused members did not retry (a retry warns "trying again").
    for (const m of intruders) assert.deepEqual(m.logs('warn').filter(w => /trying again/.test(w)), [], `nobody member ${m.pid} did not retry`);
    for (const m of [follower, legacy]) assert.deepEqual(m.logs(), [], `root member ${m.pid} logged nothing`);

    await closeAll([...intruders, follower, legacy, leader]);
  });

  test('the refusal is decided by the leader alone: allowedUsers set only on the follower changes nothing', { ...multiUser, timeout: 60_000 }, async () => {
    const port = await freePort();
    const leader = start({ port, allowedUsers: [NOBODY_UID + 1] });
    assert.equal(await leader.ready(), true);
    const intruder = start({ port, allowedUsers: ['*'] }, { ...AS_NOBODY, env: { ...process.env, NODE_CLUSTER_CLIENT_ALLOWED_USERS: '*' } });
    await assertRefused(intruder.ready(), NOBODY_UID, 'nobody follower of a leader that allows another uid');
    assert.deepEqual(await leader.invoke('recorded'), []);
    assert.equal(refusalWarnings(leader).length, 1);
    await closeAll([intruder, leader]);
  });

  test('a leader running as nobody serves its own user and root, and refuses another uid', { ...multiUser, timeout: 60_000 }, async () => {
    const port = await freePort();
    const leader = start({ port }, AS_NOBODY);
    assert.equal(await leader.ready(), true, 'the nobody member leads');
    const same = start({ port }, AS_NOBODY);
    assert.equal(await same.ready(), false);
    assert.equal(await same.invoke('record', 'nobody follower'), 'nobody follower');
    const rootFollower = start({ port });
    assert.equal(await rootFollower.ready(), false);
    assert.equal(await rootFollower.invoke('record', 'root follower'), 'root follower');
    const other = start({ port }, { uid: OTHER_UID, gid: OTHER_UID });
    await assertRefused(other.ready(), OTHER_UID, `a follower of uid ${OTHER_UID}`);
    assert.deepEqual(await leader.invoke('recorded'), ['nobody follower', 'root follower']);
    const warnings = leader.logs('warn');
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.match(warnings[0]!, new RegExp(`\\(pid ${leader.pid}, uid ${NOBODY_UID}\\) refused a connection of uid ${OTHER_UID}\\b`));
    await closeAll([same, rootFollower, other, leader]);
  });

  const allowedBy: Array<[string, ClusterOptions, NodeJS.ProcessEnv | undefined]> = [
    ['allowedUsers: ["nobody"]', { allowedUsers: ['nobody'] }, undefined],
    ['allowedUsers: [uid]', { allowedUsers: [NOBODY_UID] }, undefined],
    ['NODE_CLUSTER_CLIENT_ALLOWED_USERS=<uid> in the leader\'s environment', {}, { NODE_CLUSTER_CLIENT_ALLOWED_USERS: String(NOBODY_UID) }],
    ['NODE_CLUSTER_CLIENT_ALLOWED_USERS=*', {}, { NODE_CLUSTER_CLIENT_ALLOWED_USERS: '*' }],
  ];
  for (const [how, leaderOptions, leaderEnv] of allowedBy) {
    test(`with ${how} a follower of user nobody is served`, { ...multiUser, timeout: 60_000 }, async () => {
      const port = await freePort();
      const leader = start({ port, ...leaderOptions }, leaderEnv ? { env: { ...process.env, ...leaderEnv } } : {});
      assert.equal(await leader.ready(), true);
      const guest = start({ port }, AS_NOBODY);
      assert.equal(await guest.ready(), false, 'the nobody member follows');
      assert.equal(await guest.invoke('record', 'nobody'), 'nobody');
      assert.equal(await guest.invoke('pid'), leader.pid);
      assert.deepEqual(await leader.invoke('recorded'), ['nobody'], 'the call reached the leader\'s DataClient');
      const stats = await leader.clusterStats();
      assert.deepEqual(stats.followers.map(f => f.pid), [guest.pid]);
      assert.deepEqual(leader.logs('warn'), [], 'no refusal was logged');
      await closeAll([guest, leader]);
    });
  }
});

// ─── the status command ──────────────────────────────────────────────────────────────────────

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cluster-share <args>` (dist/esm/cli.js) as `io`'s user and waits for it to exit. */
async function cli(args: string[], io: MemberIo = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_CLUSTER_CLIENT_PORT;
  delete env.NODE_CLUSTER_CLIENT_SECRET;
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'],
    ...(io.uid !== undefined ? { uid: io.uid } : {}),
    ...(io.gid !== undefined ? { gid: io.gid } : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  try {
    const [code] = (await within(once(child, 'close'), 30_000, () => `cluster-share ${args.join(' ')}`)) as [number | null];
    return { code, stdout, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
const show = (run: Run): string => `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;

describe('peer-user: cluster-share status', () => {
  test('run as nobody it is refused (exit 1, ERR_CLUSTER_USER_REFUSED on stderr); run as root it prints the status', { ...multiUser, timeout: 90_000 }, async () => {
    const port = await freePort();
    const leader = start({ port });
    assert.equal(await leader.ready(), true);
    const follower = start({ port });
    assert.equal(await follower.ready(), false);

    for (const args of [['status', '--port', String(port)], ['status', '--json', '--port', String(port), '--timeout', '60000']]) {
      const refused = await cli(args, AS_NOBODY);
      assert.equal(refused.code, 1, show(refused));
      assert.equal(refused.stdout, '', show(refused));
      assert.match(refused.stderr, /ERR_CLUSTER_USER_REFUSED/, show(refused));
      assert.match(refused.stderr, /refused/, show(refused));
      assert.match(refused.stderr, new RegExp(`uid ${NOBODY_UID}\\b`), show(refused));
    }

    const table = await cli(['status', '--port', String(port)]);
    assert.equal(table.code, 0, show(table));
    assert.match(table.stdout, new RegExp(`leader on port ${port}`), show(table));
    const json = await cli(['status', '--json', '--port', String(port)]);
    assert.equal(json.code, 0, show(json));
    assert.equal(json.stderr, '', show(json));
    const status = JSON.parse(json.stdout) as { leader: { pid: number }; channels: Array<{ name: string; followers: Array<{ pid?: number }> }> };
    assert.equal(status.leader.pid, leader.pid);
    assert.deepEqual(status.channels.map(c => [c.name, c.followers.map(f => f.pid)]), [[CHANNEL, [follower.pid]]]);

    // The group was not affected; the leader warned once about the refused user.
    assert.equal(await follower.invoke('pid'), leader.pid);
    const warnings = refusalWarnings(leader);
    assert.equal(warnings.length, 1, JSON.stringify(leader.logs()));
    assert.match(warnings[0]!, new RegExp(`uid ${NOBODY_UID}\\b`));
    await closeAll([follower, leader]);
  });
});

// ─── ways around the check ─────────────────────────────────────────────────────────────────

/** Runs the intruder fixture as `io`'s user; resolves with its report. */
async function intrude(config: IntruderConfig, io: MemberIo): Promise<IntruderReport> {
  const child = spawn(process.execPath, [INTRUDER, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    ...(io.uid !== undefined ? { uid: io.uid } : {}),
    ...(io.gid !== undefined ? { gid: io.gid } : {}),
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  try {
    const [code] = (await within(once(child, 'close'), 30_000, () => `intruder ${config.mode}`)) as [number | null];
    assert.equal(code, 0, `the intruder exited with ${code}; stdout: ${stdout}`);
    return JSON.parse(stdout.trim().split('\n').pop()!) as IntruderReport;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

describe('peer-user: ways around the check', () => {
  test('a refused connection cannot register with a second register_channel in the same write', { ...multiUser, timeout: 60_000 }, async () => {
    const port = await freePort();
    const leader = start({ port });
    assert.equal(await leader.ready(), true);
    const report = await intrude({ port, mode: 'double-register', channel: CHANNEL, method: 'record', tag: 'intruder: double register' }, AS_NOBODY);
    assert.equal(report.uid, NOBODY_UID, 'the intruder ran as nobody');
    assert.equal(report.firstAnswerCode, 'ERR_CLUSTER_USER_REFUSED', 'the first registration was refused');
    // The leader handled the whole write before it closed the connection the intruder saw close.
    assert.deepEqual(await leader.invoke('recorded'), [], 'no call of the refused user reached the DataClient');
    assert.equal((await leader.clusterStats()).followers.length, 0, 'the refused connection did not become a follower');
    await closeAll([leader]);
  });

  test('a time-wait row of the same two ports on other loopback addresses does not make another user\'s connection pass for root\'s', { ...multiUser, timeout: 60_000 }, async () => {
    const port = await freePort();
    const leader = start({ port });
    assert.equal(await leader.ready(), true);
    const tag = 'intruder: time-wait decoy';
    const report = await intrude({ port, mode: 'tw-decoy', channel: CHANNEL, method: 'record', tag }, AS_NOBODY);
    assert.equal(report.uid, NOBODY_UID, 'the intruder ran as nobody');
    assert.ok((report.decoyRows ?? []).length > 0, `the decoy left time-wait rows: ${JSON.stringify(report)}`);
    const recorded = await leader.invoke('recorded');
    const followers = (await leader.clusterStats()).followers.length;
    await closeAll([leader]);
    assert.equal(report.registered, false, `the leader did not accept the registration: ${JSON.stringify(report)}`);
    assert.equal(report.firstAnswerCode, 'ERR_CLUSTER_USER_REFUSED', JSON.stringify(report));
    assert.deepEqual(recorded, [], 'no call of user nobody reached the DataClient');
    assert.equal(followers, 0);
  });

  test('another user\'s idle connection does not hold the leader\'s close() until frameTimeout', { ...multiUser, timeout: 60_000 }, async () => {
    const port = await freePort();
    const leader = start({ port, frameTimeout: 60_000 });
    assert.equal(await leader.ready(), true);
    const config: IntruderConfig = { port, mode: 'idle', channel: CHANNEL, method: 'record', tag: 'idle' };
    const child = spawn(process.execPath, [INTRUDER, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'], uid: NOBODY_UID, gid: NOBODY_GID });
    try {
      let stdout = '';
      const connected = new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          stdout += chunk;
          if (stdout.includes('"connected":true')) resolve();
        });
        child.once('exit', code => reject(new Error(`the idle intruder exited (${code}) before it connected`)));
      });
      await connected;
      // The leader has looked the connection up and refused it (it warns at once, before any packet).
      await within(leader.waitFor(m => m.event === 'log' && /refused a connection of uid/.test(String(m.message))), 30_000, () => 'the refusal warning');
      // A graceful close takes milliseconds; the refused connection must not make it wait for frameTimeout.
      await within(leader.close(), 5_000, () => 'the leader\'s close() with an idle refused connection open');
      live.delete(leader);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  test('a connection closed before the leader looked its owner up is not taken for root\'s (time-wait rows show uid 0)', { ...multiUser, timeout: 60_000 }, async () => {
    const port = await freePort();
    const leader = start({ port });
    assert.equal(await leader.ready(), true);
    const tag = 'intruder: closed early';
    // A leader busy for a moment (here: stopped) accepts the connection late.
    let report: IntruderReport;
    try {
      await sigstop(leader.pid);
      report = await intrude({ port, mode: 'close-early', channel: CHANNEL, method: 'gate', tag }, AS_NOBODY);
    } finally {
      sigcont(leader.pid);
    }
    assert.equal(report.uid, NOBODY_UID, 'the intruder ran as nobody');
    // Whichever comes first once the leader runs again: it refuses the connection (a warning),
    // or the intruder's call reaches its DataClient.
    const reached = leader.invoke('gateReached', tag).then(() => 'the call reached the DataClient');
    reached.catch(() => undefined);
    const refused = leader.waitFor(m => m.event === 'log' && /refused/.test(String(m.message))).then(() => 'refused');
    refused.catch(() => undefined);
    const outcome = await within(Promise.race([reached, refused]), 30_000, () => 'the leader handling the intruder');
    const recorded = await leader.invoke('recorded');
    await leader.invoke('openGate', tag);
    await closeAll([leader]);
    assert.deepEqual(recorded, [], `no call of user nobody reached the DataClient (outcome: ${outcome}; the socket's row when the leader resumed: ${report.row})`);
  });
});
