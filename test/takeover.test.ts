/**
 * A hung leader is taken over (README "A hung leader"), with real processes on real sockets: a
 * leader is stopped with SIGSTOP (the fault), its cluster-share followers give it up after
 * `leaderTimeout`, elect an interim leader on the takeover rendezvous
 * ($TMPDIR/cluster-share-<uid>/takeover-<port>.sock) and are served there; when the hung leader
 * wakes (SIGCONT) it steps down and the interim leader moves to the port.
 *
 * Every DataClient of a group appends each `exec(id)` it runs to one shared file (one line
 * `<id> <pid>`), so a call that ran twice, in whichever process, shows. The length of a stop is
 * the fault under test and is timed; everything else waits on IPC answers and reported events,
 * bounded by deadlines. Timings are reported with t.diagnostic; the bounds asserted are the
 * feature's own (served within leaderTimeout + 1 s of the stop, back to one leader on the port
 * within 5 s of the resume).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { ClientStats, ClusterOptions } from '../src/index.js';
import {
  freePort, type Impl, killAll, Member, type MemberConfig, RemoteError, startTrace, stopTrace, type TraceRecord, traceRecords, traceServed,
} from './helpers/group.js';
import { mulberry32 } from './helpers/random.js';
import { sigcont, sigstop } from './helpers/signals.js';
import { within } from './helpers/within.js';

/** leaderTimeout of every group here: small, so the file runs quickly. */
const LT = 1000;

/** Runs `cluster-share status --port <port> --timeout 500 ...extra` (the built CLI). */
function statusOf(port: number, extra: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = fileURLToPath(new URL('../../dist/esm/cli.js', import.meta.url));
  return new Promise(resolve => {
    execFile(process.execPath, [cli, 'status', '--port', String(port), '--timeout', '500', ...extra], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}
/** The takeover events every member reports. */
const TAKEOVER_EVENTS = ['leaderUnresponsive', 'takeover', 'takenOver'];
/** How soon after a stop every other member must complete a call it started after the stop. */
const SERVED_BOUND = LT + 1000;
/** How soon after a resume the group must be back to one leader on the port. */
const CONVERGE_BOUND = 5000;

const live = new Set<Member>();
/** Members stopped by a test and not resumed yet (resumed before the kill in `after`, so they can die cleanly). */
const stopped = new Set<number>();
/** The ports this file's groups use. */
const ports = new Set<number>();
after(async () => {
  for (const pid of stopped) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  }
  await killAll(live);
  // A test that failed may have killed an interim leader, whose socket file stays behind.
  for (const port of ports) fs.rmSync(rendezvousOf(port), { force: true });
});

/** A directory for the call logs, removed when this process exits. */
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-takeover-'));
process.once('exit', () => fs.rmSync(logDir, { recursive: true, force: true }));
let logs = 0;
const newCallLog = (): string => path.join(logDir, `calls-${logs++}.log`);

/** Where the followers of the leader on `port` meet to elect an interim leader. */
function rendezvousOf(port: number): string {
  return path.join(os.tmpdir(), `cluster-share-${process.getuid!()}`, `takeover-${port}.sock`);
}

/**
 * A free port for a new group. A rendezvous file of that port can only be left over (a killed
 * interim leader of an earlier group on the same port number: an interim leader exists only while
 * a hung leader holds the port): it is removed, so that what a test finds there is its own.
 */
async function freshPort(): Promise<number> {
  const port = await freePort();
  ports.add(port);
  fs.rmSync(rendezvousOf(port), { force: true });
  return port;
}

/** A member that reports its role and takeover events from the moment its client is created. */
function member(options: ClusterOptions, callLog: string, extra: Partial<MemberConfig> = {}): Member {
  const m = new Member({ options, fixture: { callLog }, reportRoleEvents: true, reportEvents: TAKEOVER_EVENTS, ...extra });
  live.add(m);
  return m;
}

/** Starts a leader, waits until it leads, then `n` followers (`impls`, default all cluster-share). */
async function group(options: ClusterOptions, callLog: string, n: number, impls: Impl[] = []): Promise<{ leader: Member; followers: Member[] }> {
  const leader = member(options, callLog);
  assert.equal(await within(leader.ready(), 30_000, () => 'the first member ready'), true, 'the first member leads');
  const followers = Array.from({ length: n }, (_, i) => member(options, callLog, { impl: impls[i] ?? 'cluster-share' }));
  const roles = await within(Promise.all(followers.map(m => m.ready())), 30_000, () => `${n} followers ready`);
  assert.deepEqual(roles, followers.map(() => false), 'the others follow');
  return { leader, followers };
}

/** SIGSTOP, confirmed: resolves to the first whole ms at which `m` was surely stopped (see `sigstop`). */
async function stop(m: Member): Promise<number> {
  stopped.add(m.pid);
  return sigstop(m.pid);
}

/** SIGCONT: returns the last whole ms at which `m` was surely still stopped (see `sigcont`). */
function resume(m: Member): number {
  const at = sigcont(m.pid);
  stopped.delete(m.pid);
  return at;
}

/** Graceful close, followers first and the port's leader last; then the rendezvous socket must be gone. */
async function closeGroup(members: Member[], port: number): Promise<void> {
  const states = await Promise.all(members.map(m => (m.impl === 'cluster-share' ? m.clusterStats() : undefined)));
  const order = [...members.keys()].sort((a, b) => Number(states[a]?.role === 'leader') - Number(states[b]?.role === 'leader'));
  for (const i of order) {
    const m = members[i]!;
    await within(m.close(), 30_000, () => `close of member ${m.pid}`);
    live.delete(m);
  }
  assert.equal(fs.existsSync(rendezvousOf(port)), false, `the rendezvous socket ${rendezvousOf(port)} is gone once the group is closed`);
}

/** `stats` of a converged group, or why it is not: one leader on the port, not interim, everyone else following it. */
function portLeader(stats: ClientStats[]): { pid: number } | { why: string } {
  const leaders = stats.filter(s => s.role === 'leader');
  const describe = (): string => stats.map(s => `${s.pid}: ${s.state}${s.interim ? ' (interim)' : ''} → ${s.leaderPid ?? '?'}`).join(', ');
  if (leaders.length !== 1) return { why: `${leaders.length} leaders [${describe()}]` };
  const leader = leaders[0]!;
  if (leader.interim || leader.state !== 'leading' || leader.leaderPid !== leader.pid) return { why: `the leader is not (yet) on the port [${describe()}]` };
  const astray = stats.filter(s => s !== leader && (s.state !== 'following' || s.role !== 'follower' || s.leaderPid !== leader.pid || s.interim));
  if (astray.length > 0) return { why: `not every other member follows ${leader.pid} [${describe()}]` };
  return { pid: leader.pid };
}

/**
 * Waits until the group has exactly one leader on the port (see portLeader); rejects after `ms`.
 * Re-checks whenever a member reports a role or takeover event (and every 100 ms besides).
 */
async function untilOneLeader(members: Member[], ms: number, what: string): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const marks = members.map(m => m.messages.length);
    const found = portLeader(await Promise.all(members.map(m => m.clusterStats())));
    if ('pid' in found) return found.pid;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`${what}: the group is not back to one leader on the port within ${ms}ms: ${found.why}`);
    await Promise.race([
      ...members.map((m, i) => m.waitFor(x => x.event === 'role' || x.event === 'clientEvent', marks[i]).catch(() => undefined)),
      delay(Math.min(100, left)),
    ]);
  }
}

/** The lines of a call log, by call id: the pids that ran it. */
function executions(callLog: string): Map<string, number[]> {
  const runs = new Map<string, number[]>();
  const text = fs.existsSync(callLog) ? fs.readFileSync(callLog, 'utf8') : '';
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [id, pid] = line.split(' ');
    runs.set(id!, [...(runs.get(id!) ?? []), Number(pid)]);
  }
  return runs;
}

/** Calls that ran more than once, and successful calls whose run is missing or ran elsewhere than they said. */
function checkExecutions(callLog: string, records: TraceRecord[]): { duplicates: string[]; inconsistent: string[]; runs: number } {
  const runs = executions(callLog);
  const duplicates = [...runs].filter(([, pids]) => pids.length > 1).map(([id, pids]) => `${id} ran ${pids.length} times (pids ${pids.join(', ')})`);
  const inconsistent = records
    .filter(r => r.ok && (runs.get(r.id)?.length !== 1 || runs.get(r.id)![0] !== r.value))
    .map(r => `${r.id} succeeded with pid ${String(r.value)} but the log has ${JSON.stringify(runs.get(r.id) ?? [])}`);
  const started = new Set(records.map(r => r.id));
  for (const id of runs.keys()) if (!started.has(id)) inconsistent.push(`${id} ran but no member made it`);
  return { duplicates, inconsistent, runs: runs.size };
}

const isTakeoverLoss = (r: TraceRecord): boolean => r.code === 'ERR_CLUSTER_LEADER_LOST' && r.causeCode === 'ERR_CLUSTER_LEADER_UNRESPONSIVE';
const failureKey = (r: TraceRecord): string => (r.causeCode ? `${r.code} (cause ${r.causeCode})` : String(r.code));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

describe('chaos: the port leader is stopped and resumed 20 times under load', () => {
  test('no call runs twice, everyone is served by an interim leader within leaderTimeout + 1 s, one leader on the port again within 5 s', { timeout: 240_000 }, async t => {
    const ROUNDS = 20;
    const seed = Number(process.env.TAKEOVER_SEED ?? Date.now() % 2 ** 31);
    const random = mulberry32(seed);
    t.diagnostic(`seed ${seed} (TAKEOVER_SEED=${seed} replays the same stops)`);
    const port = await freshPort();
    const callLog = newCallLog();
    const options: ClusterOptions = { port, leaderTimeout: LT };
    const { leader, followers } = await group(options, callLog, 4);
    const members = [leader, ...followers];
    await Promise.all(members.map(m => startTrace(m, { prefix: 'chaos', minGapMs: 10, maxGapMs: 20, maxInFlight: 16 })));
    const since = Date.now();
    await within(Promise.all(members.map(m => traceServed(m, since))), 30_000, () => 'every member served before the first stop');

    const servedLate: string[] = [];
    const notTakenOver: string[] = [];
    const servedMs: number[] = [];
    const convergeMs: number[] = [];
    const rounds: string[] = [];
    let portLeaderPid = leader.pid;
    for (let round = 1; round <= ROUNDS; round++) {
      await delay(50 + random() * 250); // a random moment under load: the fault's timing, not a synchronisation
      const victim = members.find(m => m.pid === portLeaderPid)!;
      const others = members.filter(m => m !== victim);
      const takenOverBefore = victim.clientEvents('takenOver').length;
      const marks = others.map(m => m.messages.length);
      const hold = Math.round((1.5 + 1.5 * random()) * LT);
      const stoppedAt = await stop(victim);
      // Every other member completes a call it started after the stop (asked now, answered whenever).
      const served = others.map(m => traceServed(m, stoppedAt));
      await delay(hold); // the length of the stop: the fault under test
      const resumedAt = resume(victim);
      const firsts = await within(Promise.all(served), 30_000, () => `round ${round}: every other member served after the stop of ${victim.pid}`);
      const newLeader = await untilOneLeader(members, CONVERGE_BOUND + 25_000, `round ${round}`);
      const converged = Date.now() - resumedAt;
      convergeMs.push(converged);
      assert.ok(converged <= CONVERGE_BOUND, `round ${round}: back to one leader on the port within ${CONVERGE_BOUND}ms of the resume (took ${converged}ms)`);
      const waits = firsts.map(r => r.end - stoppedAt);
      servedMs.push(...waits);
      for (const [i, m] of others.entries()) {
        const first = firsts[i]!;
        if (waits[i]! > SERVED_BOUND || first.value === victim.pid) {
          // What the member went through since the stop: its role events, takeover events and warnings.
          const story = m.messages.slice(marks[i]!).filter(x => x.event === 'role' || x.event === 'clientEvent' || x.event === 'log').map(x => (x.event === 'log'
            ? `${String(x.level)}: ${String(x.message)}`
            : `${String(x.type)} ${JSON.stringify(x.data)}${typeof x.at === 'number' ? ` at +${x.at - stoppedAt}ms` : ''}`));
          servedLate.push(`round ${round}: member ${m.pid} first served ${waits[i]}ms after the stop of ${victim.pid}, by ${String(first.value)} (call ${first.id} started at +${first.start - stoppedAt}ms); since the stop: ${story.join(' / ')}`);
        }
      }
      const interim = others.flatMap(m => m.clientEvents('takeover').filter(e => e.at >= stoppedAt && e.data.phase === 'interim').map(() => m.pid));
      if (victim.clientEvents('takenOver').length !== takenOverBefore + 1 || newLeader === victim.pid) {
        notTakenOver.push(`round ${round}: ${victim.pid} stopped ${hold}ms; takenOver events ${victim.clientEvents('takenOver').length - takenOverBefore}, new port leader ${newLeader}, interim ${interim.join(', ') || 'none'}`);
      }
      rounds.push(`${round}: ${victim.pid} stopped ${hold}ms, interim ${interim.join('/') || '-'}, served after ${Math.max(...waits)}ms, port leader ${newLeader} after ${converged}ms`);
      portLeaderPid = newLeader;
    }

    await Promise.all(members.map(stopTrace));
    const records = (await Promise.all(members.map(m => traceRecords(m)))).flat();
    await closeGroup(members, port);
    const { duplicates, inconsistent, runs } = checkExecutions(callLog, records);
    const failed = records.filter(r => !r.ok);
    const byCode: Record<string, number> = {};
    for (const r of failed) byCode[failureKey(r)] = (byCode[failureKey(r)] ?? 0) + 1;
    const unexpected = failed.filter(r => !isTakeoverLoss(r) && r.code !== 'ERR_CLUSTER_RESPONSE_TIMEOUT');

    t.diagnostic(`rounds: ${rounds.join(' | ')}`);
    t.diagnostic(`${records.length} calls, ${records.length - failed.length} ok, ${failed.length} failed: ${JSON.stringify(byCode)}; ${runs} distinct calls ran`);
    t.diagnostic(`first call after a stop served (ms after the stop): median ${median(servedMs)}, max ${Math.max(...servedMs)}; back to one leader on the port after a resume (ms): median ${median(convergeMs)}, max ${Math.max(...convergeMs)}`);
    assert.deepEqual(duplicates, [], '(1) no call ran twice');
    assert.deepEqual(inconsistent, [], 'every successful call ran exactly once, where it said');
    assert.deepEqual(servedLate, [], `(2) every other member completed a call started after the stop within ${SERVED_BOUND}ms of the stop, run by another process than the stopped one`);
    assert.deepEqual(unexpected.slice(0, 10).map(r => `${r.id}: ${failureKey(r)}: ${r.message}`), [], '(4) calls fail only with ERR_CLUSTER_LEADER_LOST (cause ERR_CLUSTER_LEADER_UNRESPONSIVE) or ERR_CLUSTER_RESPONSE_TIMEOUT');
    assert.deepEqual(notTakenOver, [], 'each stopped leader stepped down when it woke, and the interim leader took the port');
  });
});

/**
 * After a stop: the first of `members` to report a 'takeover' event with phase 'interim', once
 * every one of them has given the stopped leader up ('leaderUnresponsive'; calls made from then
 * on queue for the interim leader instead of going to the stopped one).
 */
async function interimLeader(members: Member[], what: string, ms = 15_000): Promise<{ interim: Member; at: number }> {
  const marks = members.map(m => m.messages.length);
  const [interim] = await within(Promise.all([
    Promise.any(members.map((m, i) => m.waitClientEvent('takeover', d => d.phase === 'interim', marks[i]).then(e => ({ interim: m, at: e.at })))),
    ...members.map((m, i) => m.waitClientEvent('leaderUnresponsive', () => true, marks[i])),
  ]), ms, () => what);
  return interim;
}

/**
 * Invokes `pid` until the member is served, up to `ms` (a cluster-client 3.x call made while it
 * has no leader may fail at once); answers the pid and the failures seen before.
 */
async function pidUntilServed(m: Member, ms: number): Promise<{ pid: number; errors: string[] }> {
  const deadline = Date.now() + ms;
  const errors: string[] = [];
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`member ${m.pid} (${m.impl}) was not served within ${ms}ms; errors: ${errors.join(' | ')}`);
    try {
      return { pid: await within(m.invoke('pid'), left, () => `pid on ${m.pid}`) as number, errors };
    } catch (err) {
      errors.push(`${(err as RemoteError).code ?? (err as Error).name}: ${(err as Error).message}`);
      await delay(100); // a pause between retries of a call that failed at once, not a synchronisation
    }
  }
}

describe('focused cases', () => {
  test('a leader stopped for good, then SIGKILLed: the interim leader moves to the port, and a process started afterwards follows it there', { timeout: 60_000 }, async t => {
    const port = await freshPort();
    const callLog = newCallLog();
    const options: ClusterOptions = { port, leaderTimeout: LT };
    const { leader, followers } = await group(options, callLog, 3);
    const stoppedAt = await stop(leader);
    const { interim, at } = await interimLeader(followers, 'an interim leader after the stop');
    assert.ok(fs.existsSync(rendezvousOf(port)), 'the interim leader serves on the rendezvous socket');
    assert.deepEqual(await within(Promise.all(followers.map(m => m.invoke('exec', `stopped-${m.pid}`))), 10_000, () => 'calls during the stop'),
      followers.map(() => interim.pid), 'every follower is served by the interim leader while the leader is stopped');
    const s = await interim.clusterStats();
    assert.equal(s.interim, true, 'stats().interim while it leads on the rendezvous');
    assert.equal(s.role, 'leader');
    // `cluster-share status` asks the port (no answer: it hangs) and the rendezvous.
    const status = await statusOf(port, ['--json']);
    assert.equal(status.code, 0, `status exits 0 while an interim leader serves (stderr: ${status.stderr})`);
    const json = JSON.parse(status.stdout) as { leader: { pid: number; interimFor?: string } };
    assert.equal(json.leader.pid, interim.pid, 'the status is the interim leader\'s');
    assert.equal(json.leader.interimFor, `port ${port}`, 'it says which endpoint\'s holder hangs');
    const text = await statusOf(port, []);
    assert.match(text.stdout, /the holder of port \d+ does not answer .*; an interim leader serves meanwhile/);
    assert.match(text.stdout, new RegExp(`interim leader on socket \\S+ \\(while the holder of port ${port} hangs\\)`));

    const killedAt = Date.now();
    await leader.kill('SIGKILL'); // the hung process dies without ever waking
    stopped.delete(leader.pid);
    live.delete(leader);
    const moved = await within(interim.waitClientEvent('takeover', d => d.phase === 'port'), 10_000, () => 'the interim leader moves to the port after the kill');
    const others = followers.filter(m => m !== interim);
    const movedMs = moved.at - killedAt;
    assert.ok(movedMs <= 5000, `the interim leader took the port as soon as it was free (${movedMs}ms after the kill)`);
    const after = await interim.clusterStats();
    assert.equal(after.interim, false, 'no longer interim');
    assert.equal(after.role, 'leader');
    assert.equal(after.state, 'leading');

    const newcomer = member(options, callLog);
    assert.equal(await within(newcomer.ready(), 30_000, () => 'the newcomer ready'), false, 'the newcomer follows');
    assert.equal(await newcomer.invoke('exec', 'newcomer'), interim.pid, 'the newcomer is served by the former interim leader');
    assert.equal(fs.existsSync(rendezvousOf(port)), false, 'the rendezvous is closed: the newcomer follows on the port');
    const everyone = [...followers, newcomer];
    assert.equal(await untilOneLeader(everyone, 10_000, 'after the kill'), interim.pid, 'the former interim leader leads on the port; everyone follows it');
    assert.deepEqual(await Promise.all(others.map(m => m.invoke('exec', `after-${m.pid}`))), others.map(() => interim.pid));
    // They joined the interim leader before the kill (they were served by it): no election since.
    assert.deepEqual(others.flatMap(m => m.roleEvents().filter(e => e.type === 'electionStart' && Number(e.data.startedAt) >= killedAt).map(e => `${m.pid}: ${JSON.stringify(e.data)}`)), [],
      'the followers on the rendezvous kept their connection when the interim leader moved to the port (no new election)');
    t.diagnostic(`interim leader ${interim.pid} after ${at - stoppedAt}ms; moved to the port ${movedMs}ms after the SIGKILL`);
    await closeGroup(everyone, port);
    assert.deepEqual(checkExecutions(callLog, []).duplicates, [], 'no call ran twice');
  });

  test('a leader that is only slow (its event loop blocked for 0.5 × leaderTimeout, again and again) is not taken over', { timeout: 60_000 }, async t => {
    const BLOCKS = 6;
    const port = await freshPort();
    const callLog = newCallLog();
    const { leader, followers } = await group({ port, leaderTimeout: LT }, callLog, 3);
    const members = [leader, ...followers];
    // Two followers call all the time; the third is idle, so its leader is probed with heartbeats.
    const busy = followers.slice(0, 2);
    await Promise.all(busy.map(m => startTrace(m, { prefix: 'slow', minGapMs: 10, maxGapMs: 20, maxInFlight: 16 })));
    const since = Date.now();
    await within(Promise.all(busy.map(m => traceServed(m, since))), 30_000, () => 'the busy followers served');
    const blockedFrom = Date.now();
    for (let i = 0; i < BLOCKS; i++) {
      await within(leader.command({ cmd: 'block', ms: LT / 2 }), 30_000, () => `block ${i + 1}`);
      // Between two blocks the leader gets to its sockets: a busy follower is answered a call it
      // made after this block (back to back, two blocks would be one stall of a whole leaderTimeout).
      const unblocked = Date.now();
      await within(Promise.all(busy.map(m => traceServed(m, unblocked))), 30_000, () => `served after block ${i + 1}`);
    }
    const blockedMs = Date.now() - blockedFrom;
    await Promise.all(busy.map(stopTrace));
    const records = (await Promise.all(busy.map(m => traceRecords(m)))).flat();
    const stats = await Promise.all(members.map(m => m.clusterStats()));
    const slowest = Math.max(...records.filter(r => r.start >= blockedFrom).map(r => r.end - r.start));
    t.diagnostic(`${BLOCKS} blocks of ${LT / 2}ms took ${blockedMs}ms; slowest call meanwhile ${slowest}ms; ${records.length} calls`);
    assert.ok(slowest >= 0.4 * LT, `the leader really stalled its followers' calls (slowest ${slowest}ms)`);
    assert.deepEqual(members.flatMap(m => m.clientEvents().map(e => `${m.pid}: ${e.type} ${JSON.stringify(e.data)} at +${e.at - blockedFrom}ms`)), [], 'no leaderUnresponsive, takeover or takenOver event');
    assert.deepEqual(stats.map(s => [s.takeovers, s.takenOver, s.interim]), members.map(() => [0, 0, false]), 'no takeover counted');
    assert.deepEqual(portLeader(stats), { pid: leader.pid }, 'the same leader leads, everyone follows it');
    assert.deepEqual(records.filter(r => !r.ok).map(r => `${r.id}: ${failureKey(r)}`), [], 'no call failed');
    await closeGroup(members, port);
  });

  test('a process started while the leader is stopped (after the interim leader exists) is served by the interim leader within leaderTimeout + 1 s', { timeout: 60_000 }, async t => {
    const port = await freshPort();
    const callLog = newCallLog();
    const options: ClusterOptions = { port, leaderTimeout: LT };
    const { leader, followers } = await group(options, callLog, 2);
    const newcomer = member(options, callLog, { deferStart: true });
    await within(newcomer.waitFor(m => m.event === 'waiting'), 30_000, () => 'the newcomer process is up');
    const stoppedAt = await stop(leader);
    const { interim } = await interimLeader(followers, 'an interim leader after the stop');
    // The process is up: its client is created now, and its first call is made at once.
    const startedAt = Date.now();
    await newcomer.command({ cmd: 'start' });
    const pid = await within(newcomer.invoke('exec', 'newcomer-first'), 30_000, () => 'the newcomer\'s first call');
    const servedMs = Date.now() - startedAt;
    const role = await newcomer.ready();
    const resumedAt = resume(leader);
    t.diagnostic(`interim leader ${interim.pid}; newcomer started ${startedAt - stoppedAt}ms after the stop, served ${servedMs}ms after its start`);
    assert.equal(pid, interim.pid, 'the newcomer is served by the interim leader');
    assert.equal(role, false, 'the newcomer follows');
    assert.ok(servedMs <= LT + 1000, `served within leaderTimeout + 1 s of its start (${servedMs}ms)`);
    const all = [leader, ...followers, newcomer];
    assert.equal(await untilOneLeader(all, CONVERGE_BOUND + 25_000, 'after the resume'), interim.pid, 'the interim leader leads on the port after the resume');
    t.diagnostic(`one leader on the port ${Date.now() - resumedAt}ms after the resume`);
    assert.equal(await newcomer.invoke('exec', 'newcomer-after'), interim.pid);
    await closeGroup(all, port);
    assert.deepEqual(checkExecutions(callLog, []).duplicates, [], 'no call ran twice');
  });

  test('leaderTimeout: 0: the followers of a stopped leader wait for it (their calls time out), and the same leader serves again after SIGCONT', { timeout: 60_000 }, async t => {
    const HOLD = 2 * LT;
    const port = await freshPort();
    const callLog = newCallLog();
    const { leader, followers } = await group({ port, leaderTimeout: 0, responseTimeout: LT }, callLog, 2);
    const members = [leader, ...followers];
    await Promise.all(followers.map(m => startTrace(m, { prefix: 'off', minGapMs: 10, maxGapMs: 20, maxInFlight: 16 })));
    const since = Date.now();
    await within(Promise.all(followers.map(m => traceServed(m, since))), 30_000, () => 'the followers served');
    const stoppedAt = await stop(leader);
    await delay(HOLD); // the length of the stop: the fault under test
    const rendezvousDuringStop = fs.existsSync(rendezvousOf(port));
    const resumedAt = resume(leader);
    const after = await within(Promise.all(followers.map(m => traceServed(m, resumedAt))), 30_000, () => 'the followers served after the resume');
    await Promise.all(followers.map(stopTrace));
    const records = (await Promise.all(followers.map(m => traceRecords(m)))).flat();
    const stats = await Promise.all(members.map(m => m.clusterStats()));

    const servedDuring = records.filter(r => r.ok && r.start >= stoppedAt && r.end < resumedAt);
    const failed = records.filter(r => !r.ok);
    t.diagnostic(`stopped ${resumedAt - stoppedAt}ms: ${failed.length} calls failed (${[...new Set(failed.map(failureKey))].join(', ')}); served again ${Math.max(...after.map(r => r.end - resumedAt))}ms after the resume`);
    assert.equal(rendezvousDuringStop, false, 'no rendezvous was made');
    assert.deepEqual(servedDuring.map(r => r.id), [], 'no call was served while the leader was stopped');
    assert.ok(failed.length >= followers.length, 'calls made while the leader was stopped failed');
    assert.deepEqual([...new Set(failed.map(failureKey))], ['ERR_CLUSTER_RESPONSE_TIMEOUT'], 'they failed with ERR_CLUSTER_RESPONSE_TIMEOUT');
    assert.deepEqual(after.map(r => r.value), followers.map(() => leader.pid), 'the same leader serves again');
    assert.deepEqual(members.flatMap(m => m.clientEvents().map(e => `${m.pid}: ${e.type}`)), [], 'no takeover event');
    assert.deepEqual(stats.map(s => [s.takeovers, s.takenOver, s.interim]), members.map(() => [0, 0, false]), 'no takeover counted');
    assert.deepEqual(portLeader(stats), { pid: leader.pid }, 'the leader still leads, everyone follows it');
    await closeGroup(members, port);
    assert.deepEqual(checkExecutions(callLog, records).duplicates, [], 'no call ran twice');
  });

  test('a cluster-client 3.x follower of a stopped cluster-share leader keeps its 3.x behaviour: it waits, and is served again after SIGCONT', { timeout: 90_000 }, async t => {
    const HOLD = 2 * LT;
    const port = await freshPort();
    const callLog = newCallLog();
    const { leader, followers } = await group({ port, leaderTimeout: LT }, callLog, 3, ['cluster-share', 'cluster-share', 'cluster-client']);
    const shares = followers.slice(0, 2);
    const old = followers[2]!;
    assert.equal((await old.state()).state, undefined, 'the third follower runs cluster-client 3.x');
    assert.equal(await old.invoke('exec', 'old-before'), leader.pid);

    const stoppedAt = await stop(leader);
    const { interim } = await interimLeader(shares, 'an interim leader after the stop');
    const during = await within(Promise.all(shares.map(m => m.invoke('exec', `share-during-${m.pid}`))), 10_000, () => 'cluster-share calls during the stop');
    assert.deepEqual(during, shares.map(() => interim.pid), 'the cluster-share followers are served by the interim leader');
    // The 3.x follower's call goes to the stopped leader: it is not answered while it is stopped.
    let oldSettledAt: number | undefined;
    const oldCall = old.invoke('exec', 'old-during').then(
      pid => ({ pid }),
      (err: RemoteError) => ({ error: `${err.code ?? err.name}: ${err.message}` }),
    ).finally(() => {
      oldSettledAt = Date.now();
    });
    await delay(Math.max(0, stoppedAt + HOLD - Date.now())); // the length of the stop: the fault under test
    const settledBeforeResume = oldSettledAt !== undefined;
    const marks = [leader, interim].map(m => m.messages.length);
    const resumedAt = resume(leader);
    const oldOutcome = await within(oldCall, 30_000, () => 'the 3.x call made during the stop settles');
    // The woken leader steps down; the interim leader moves to the port, or hands over to a 3.x
    // process that won the port meanwhile ('ended').
    await within(leader.waitClientEvent('takenOver', () => true, marks[0]), 10_000, () => 'the woken leader steps down');
    const phase = (await within(interim.waitClientEvent('takeover', d => d.phase === 'port' || d.phase === 'ended', marks[1]), 10_000, () => 'the interim leader leaves the rendezvous')).data.phase;
    const everyone = [leader, ...followers];
    const states = await Promise.all(everyone.map(m => m.state()));
    const portLeaders = everyone.filter((_, i) => states[i]!.isLeader);
    assert.equal(portLeaders.length, 1, `one process leads (${portLeaders.map(m => m.pid).join(', ')})`);
    const portLeader = portLeaders[0]!;
    if (portLeader.impl === 'cluster-share') assert.equal((await portLeader.clusterStats()).interim, false, 'the leader is on the port, not interim');
    // Served again by the port's leader. (The stepping-down leader still answers what a 3.x
    // follower, which ignores leader_closing, sends it until its connection ends.)
    const served = await Promise.all(everyone.map(async m => {
      const deadline = Date.now() + 30_000;
      const seen: number[] = [];
      const errors: string[] = [];
      for (;;) {
        const { pid, errors: failed } = await pidUntilServed(m, Math.max(1, deadline - Date.now()));
        seen.push(pid);
        errors.push(...failed);
        if (pid === portLeader.pid || Date.now() >= deadline) return { seen, errors, ms: Date.now() - resumedAt };
      }
    }));
    t.diagnostic(`interim leader ${interim.pid} (then '${String(phase)}'); the 3.x call made during the stop: ${JSON.stringify(oldOutcome)} ${oldSettledAt! - resumedAt}ms after the resume; `
      + `port leader ${portLeader.pid} (${portLeader.impl}); after the resume served by: ${served.map((s, i) => `${everyone[i]!.pid} (${everyone[i]!.impl}): ${s.seen.join(' → ')} after ${s.ms}ms${s.errors.length ? `, failures ${s.errors.join(' | ')}` : ''}`).join('; ')}`);
    assert.equal(settledBeforeResume, false, 'the 3.x follower waited for the stopped leader (its call was not answered before SIGCONT)');
    assert.deepEqual(served.map(s => s.seen.at(-1)), everyone.map(() => portLeader.pid), 'every member, the 3.x follower included, is served by the port\'s leader');
    assert.deepEqual(old.clientEvents(), [], 'the 3.x client emitted no takeover event');
    await closeGroup([leader, ...followers], port);
    assert.deepEqual(checkExecutions(callLog, []).duplicates, [], 'no call ran twice');
  });
});
