// Failover benchmark: how long after the leader is SIGKILLed is every surviving process
// served again? cluster-share (../dist/esm) against cluster-client 3.7.0 (node_modules), in one run.
//
//   npm run bench:failover                      (builds first)
//   node benchmark/failover.mjs [--followers F] [--kills K] [--kills-reference R]
//                               [--impl both|cluster-share|cluster-client] [--deadline MS]
//
// Per implementation, on a fresh free loopback port: fork 1 + F members (failover-member.mjs),
// the first alone so it leads; every member calls echo() in a loop, one call at a time. Then K
// times: kill the leader (t0 = just before process.kill(pid, 'SIGKILL')), wait until every
// survivor has completed a call that STARTED at or after t0, fork a replacement, wait until
// every member is served again, next kill. A round whose survivors are not all served within
// --deadline ms is reported as stuck, and the whole group is killed and started afresh on a new
// port so the next round is measured cleanly. See benchmark/README.md.
//
// The process bookkeeping (the cluster-share snapshot, forking, cleanup on exit or a signal) is
// lib/harness.mjs's, as for the other benchmarks.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './lib/cli.mjs';
import {
  IpcChild, freePort, machine, median, printTable, resultsDir, roundNumbers, runIfMain, sleep, snapshotClusterShare,
  withinOr,
} from './lib/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const memberScript = join(here, 'failover-member.mjs');
const resultsFile = join(resultsDir, 'failover.json');
/** The clock of failover-member.mjs: wall-clock ms with a fraction, comparable between processes. */
const now = () => performance.timeOrigin + performance.now();

// ------------------------------------------------------------------------------------ options
const USAGE = `usage: node benchmark/failover.mjs [options]
  --followers F          followers besides the leader (default 3)
  --kills K              leader kills for cluster-share (default 10)
  --kills-reference R    leader kills for cluster-client 3.7.0 (default: the same as --kills)
  --impl I               both | cluster-share | cluster-client (default both)
  --deadline MS          how long a round may take before it is reported stuck (default 60000)`;

const { args, int: intOption, impls } = benchArgs({
  followers: { type: 'string', default: '3' },
  kills: { type: 'string', default: '10' },
  'kills-reference': { type: 'string' },
  impl: { type: 'string', default: 'both' },
  deadline: { type: 'string', default: '60000' },
}, USAGE);
const FOLLOWERS = intOption('followers', 1);
const KILLS = intOption('kills', 1);
if (args['kills-reference'] === undefined) args['kills-reference'] = String(KILLS);
const KILLS_REFERENCE = intOption('kills-reference', 1);
const DEADLINE = intOption('deadline', 1000);
const IMPLS = impls();
/** How long a member may take to become ready, and a group to settle, before we give up on it. */
const START_DEADLINE = 60_000;

// ------------------------------------------------------------------------------ a member
/** One forked failover-member.mjs process; it belongs to `group` while it lives. */
class Member extends IpcChild {
  constructor(group) {
    super(memberScript, [group.impl, String(group.port), group.shareUrl ?? ''], 'member');
    this.group = group;
    this.child.on('message', message => {
      if (message.type === 'leader') group.leaderEvents.push(message);
    });
    this.child.on('exit', () => group.members.delete(this.pid));
    group.members.set(this.pid, this);
  }

  request(cmd, extra = {}) {
    return this.call({ cmd, ...extra });
  }
}

// ------------------------------------------------------------------------------- a group
class Group {
  constructor(impl, port, shareUrl) {
    Object.assign(this, { impl, port, shareUrl });
    this.members = new Map(); // pid -> Member
    this.leaderEvents = []; // { pid, at } each time a member's isClusterClientLeader turned true
  }

  static async start(impl, shareUrl) {
    const group = new Group(impl, await freePort(), shareUrl);
    const first = new Member(group);
    const ready = await withinOr(first.ready, START_DEADLINE, null);
    if (!ready) throw new Error(`${impl}: the first member was not ready within ${START_DEADLINE} ms`);
    if (!ready.isLeader) throw new Error(`${impl}: the first member is not the leader`);
    const followers = Array.from({ length: FOLLOWERS }, () => new Member(group));
    const all = await withinOr(Promise.all(followers.map(m => m.ready)), START_DEADLINE, null);
    if (!all) throw new Error(`${impl}: the followers were not ready within ${START_DEADLINE} ms`);
    if (!(await group.settle())) throw new Error(`${impl}: the new group did not settle within ${START_DEADLINE} ms`);
    return group;
  }

  /** Every member has completed a call started from now on (so the group serves everyone). */
  async settle() {
    const t = now();
    const served = await withinOr(Promise.all([...this.members.values()].map(m => m.request('mark', { t0: t }))), START_DEADLINE, null);
    if (!served) return false;
    await sleep(200);
    return true;
  }

  async statuses(t0) {
    return withinOr(Promise.all([...this.members.values()].map(m => m.request('status', { t0 }))), 5000, null);
  }

  async stop() {
    await Promise.all([...this.members.values()].map(m => m.kill()));
  }
}

// ------------------------------------------------------------------------------- one kill
class GroupProblem extends Error {}

async function killRound(group, round) {
  // Exactly one member must claim to lead (it should already: the group has settled).
  let leaders = [];
  for (const until = now() + 3000; ;) {
    const statuses = await group.statuses(0);
    if (!statuses) throw new GroupProblem(`members did not answer a status request before kill ${round}`);
    leaders = statuses.filter(s => s.isLeader);
    if (leaders.length === 1) break;
    if (now() > until) throw new GroupProblem(`${leaders.length} members claim to lead before kill ${round} (${leaders.map(s => s.pid).join(', ')})`);
    await sleep(100);
  }
  const leader = group.members.get(leaders[0].pid);
  const survivors = [...group.members.values()].filter(m => m !== leader);

  const t0 = now();
  process.kill(leader.pid, 'SIGKILL');
  const served = new Map(); // pid -> served message
  const marks = survivors.map(m =>
    m.request('mark', { t0 }).then(
      message => served.set(m.pid, message),
      err => served.set(m.pid, { died: err.message }),
    ));
  const all = await withinOr(Promise.all(marks), DEADLINE, 'stuck');
  await leader.kill(); // already dead: this only waits for its exit event
  // The 'leader' event is sent before the new leader's first served call: give IPC a moment.
  const elected = () => group.leaderEvents.find(e => e.at >= t0 && e.pid !== leader.pid);
  if (!elected()) await sleep(100);
  const newLeader = elected();

  const result = {
    round,
    killedPid: leader.pid,
    newLeaderPid: newLeader?.pid ?? null,
    electedMs: newLeader ? newLeader.at - t0 : null,
    survivors: [],
    lastServedMs: null,
    failedCalls: 0,
    errorCodes: {},
    stuck: all === 'stuck' || [...served.values()].some(s => s.died),
  };
  for (const m of survivors) {
    const s = served.get(m.pid);
    const entry = { pid: m.pid };
    if (s && !s.died) {
      Object.assign(entry, { servedMs: s.endedAt - t0, callStartedMs: s.startedAt - t0, failed: s.failed, codes: s.codes, isLeader: s.isLeader });
      if (s.wrapped) entry.note = 'success ring wrapped: servedMs may be late';
    } else {
      entry.servedMs = null;
      entry.died = s?.died;
    }
    result.survivors.push(entry);
  }
  if (result.stuck) {
    // Where are the unserved ones? (state, failures since t0, the library's warnings)
    const statuses = await group.statuses(t0);
    for (const entry of result.survivors) {
      const st = statuses?.find(s => s.pid === entry.pid);
      if (entry.servedMs === null && st) {
        Object.assign(entry, {
          failed: st.failedSince, codes: st.codes, isLeader: st.isLeader, state: st.state,
          callInFlightForMs: st.inFlightSince ? now() - st.inFlightSince : null,
          stateChanges: st.stateChanges.map(c => ({ ms: +(c.at - t0).toFixed(1), state: c.state })),
          logs: st.logs.map(l => ({ ms: +(l.at - t0).toFixed(1), level: l.level, message: l.message.slice(0, 300) })),
        });
      }
    }
  } else {
    result.lastServedMs = Math.max(...result.survivors.map(e => e.servedMs));
  }
  for (const entry of result.survivors) {
    result.failedCalls += entry.failed ?? 0;
    for (const [code, n] of Object.entries(entry.codes ?? {})) result.errorCodes[code] = (result.errorCodes[code] ?? 0) + n;
  }
  return result;
}

// ------------------------------------------------------------------------- one implementation
async function runImpl(impl, kills, shareUrl) {
  const rounds = [];
  const notes = [];
  let group = await Group.start(impl, shareUrl);
  process.stdout.write(`${impl}: group of ${1 + FOLLOWERS} on port ${group.port}; ${kills} kills: `);
  let problems = 0;
  for (let round = 1; round <= kills; round++) {
    let result;
    try {
      result = await killRound(group, round);
    } catch (err) {
      if (!(err instanceof GroupProblem) || ++problems > 3) throw err;
      notes.push(`${err.message}; the group was restarted and the kill not counted`);
      await group.stop();
      group = await Group.start(impl, shareUrl);
      process.stdout.write(`[!, new group, port ${group.port}]`);
      round--;
      continue;
    }
    result.port = group.port;
    rounds.push(result);
    process.stdout.write(result.stuck ? 'S' : '.');
    if (round === kills) break;
    let restart = result.stuck;
    if (!restart) {
      const replacement = new Member(group);
      const ready = await withinOr(replacement.ready.then(() => true, () => false), START_DEADLINE, false);
      if (!ready || !(await group.settle())) {
        notes.push(`after kill ${round}: the replacement member or the group did not settle; the group was restarted`);
        restart = true;
      }
    }
    if (restart) {
      await group.stop();
      group = await Group.start(impl, shareUrl);
      process.stdout.write(`[new group, port ${group.port}]`);
    }
  }
  process.stdout.write('\n');
  await group.stop();
  return { impl, kills, rounds, notes, summary: summarize(rounds) };
}

// ------------------------------------------------------------------------------ statistics
/** Stuck rounds count as +Infinity (they lasted longer than the deadline). */
function summarize(rounds) {
  const served = rounds.map(r => (r.stuck ? Infinity : r.lastServedMs)).sort((a, b) => a - b);
  const elected = rounds.map(r => r.electedMs).filter(v => v !== null).sort((a, b) => a - b);
  const failed = rounds.map(r => r.failedCalls).sort((a, b) => a - b);
  return {
    rounds: rounds.length,
    stuckRounds: rounds.filter(r => r.stuck).length,
    lastServedMedianMs: median(served),
    lastServedMaxMs: served.at(-1) ?? null,
    electedMedianMs: median(elected),
    electedMaxMs: elected.at(-1) ?? null,
    failedCallsMedian: median(failed),
    failedCallsMax: failed.at(-1) ?? null,
  };
}

const fmtMs = v => (v === null || v === undefined ? '-' : v === Infinity ? `stuck (>${DEADLINE / 1000} s)` : v.toFixed(1));
const fmtMsUnit = v => (v === Infinity ? fmtMs(v) : `${fmtMs(v)} ms`);

function printRounds({ impl, rounds, notes, summary }) {
  const header = ['kill', 'killed pid', 'new leader', 'elected ms', 'last served ms', 'failed calls'];
  const rows = rounds.map(r => [
    String(r.round), String(r.killedPid), r.newLeaderPid ? String(r.newLeaderPid) : '-', fmtMs(r.electedMs),
    r.stuck ? `stuck (>${DEADLINE / 1000} s)` : fmtMs(r.lastServedMs), String(r.failedCalls),
  ]);
  rows.push('-');
  rows.push(['median', '', '', fmtMs(summary.electedMedianMs), fmtMs(summary.lastServedMedianMs), String(summary.failedCallsMedian)]);
  rows.push(['max', '', '', fmtMs(summary.electedMaxMs), fmtMs(summary.lastServedMaxMs), String(summary.failedCallsMax)]);
  printTable(`${impl} — 1 leader + ${FOLLOWERS} followers, ${rounds.length} leader kills`, header, rows);
  for (const r of rounds.filter(r => r.stuck)) {
    const unserved = r.survivors.filter(s => s.servedMs === null);
    const servedOnes = r.survivors.filter(s => s.servedMs !== null);
    console.log(`  kill ${r.round}: ${unserved.length} of ${r.survivors.length} survivors not served within ${DEADLINE / 1000} s` +
      (servedOnes.length ? ` (the others after ${servedOnes.map(s => s.servedMs.toFixed(0)).join(', ')} ms)` : '') +
      `; unserved: ${unserved.map(s => `${s.pid} ${s.died ? `died: ${s.died}` : `leader=${s.isLeader} failed=${s.failed} ${JSON.stringify(s.codes)}${s.callInFlightForMs > 100 ? ` call in flight for ${(s.callInFlightForMs / 1000).toFixed(1)} s` : ''}`}`).join('; ')}`);
  }
  const codes = {};
  for (const r of rounds) for (const [c, n] of Object.entries(r.errorCodes)) codes[c] = (codes[c] ?? 0) + n;
  if (Object.keys(codes).length) console.log(`  failed calls by error code: ${Object.entries(codes).map(([c, n]) => `${c} ${n}`).join(', ')}`);
  for (const note of notes) console.log(`  note: ${note}`);
}

// ------------------------------------------------------------------------------------ main
async function main() {
  const shareUrl = IMPLS.includes('cluster-share') ? snapshotClusterShare() : undefined;
  const started = Date.now();
  console.log(`failover benchmark: 1 leader + ${FOLLOWERS} followers; leader SIGKILLed ${IMPLS.map(i => `${i === 'cluster-share' ? KILLS : KILLS_REFERENCE}× for ${i}`).join(', ')}; deadline ${DEADLINE / 1000} s per kill`);
  const { node, cpuModel, cpuCount, platform } = machine();
  console.log(`node ${node}, ${cpuModel ?? 'unknown cpu'} × ${cpuCount}, ${platform}`);
  const results = {};
  for (const impl of IMPLS) {
    results[impl] = await runImpl(impl, impl === 'cluster-share' ? KILLS : KILLS_REFERENCE, shareUrl);
  }
  for (const impl of IMPLS) printRounds(results[impl]);

  let comparison = null;
  if (results['cluster-share'] && results['cluster-client']) {
    const a = results['cluster-share'].summary;
    const b = results['cluster-client'].summary;
    const ratio = (x, y) => (y === Infinity || !(y > 0) ? null : x === Infinity ? Infinity : x / y);
    const fmtRatio = v => (v === null ? '-' : v === Infinity ? '∞ (stuck)' : `${v.toFixed(v >= 10 ? 0 : 2)}×`);
    comparison = {
      medianRatio: ratio(b.lastServedMedianMs, a.lastServedMedianMs),
      maxRatio: ratio(b.lastServedMaxMs, a.lastServedMaxMs),
    };
    console.log(`\nlast follower served again after a leader SIGKILL:` +
      `\n  cluster-share   median ${fmtMsUnit(a.lastServedMedianMs)}, max ${fmtMsUnit(a.lastServedMaxMs)} (${a.rounds} kills, ${a.stuckRounds} stuck)` +
      `\n  cluster-client  median ${fmtMsUnit(b.lastServedMedianMs)}, max ${fmtMsUnit(b.lastServedMaxMs)} (${b.rounds} kills, ${b.stuckRounds} stuck)` +
      `\n  cluster-client / cluster-share (above 1: cluster-share recovers faster): median ${fmtRatio(comparison.medianRatio)}, max ${fmtRatio(comparison.maxRatio)}`);
  }

  const json = JSON.stringify({
    benchmark: 'failover',
    date: new Date().toISOString(),
    durationS: Math.round((Date.now() - started) / 1000),
    node,
    platform,
    cpuModel,
    cpuCount,
    options: { followers: FOLLOWERS, kills: KILLS, killsReference: KILLS_REFERENCE, deadlineMs: DEADLINE, impl: args.impl },
    results,
    comparison,
  }, (key, value) => (value === Infinity ? 'stuck' : roundNumbers(key, value)), 2);
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(resultsFile, json + '\n');
  console.log(`\nresults written to ${join('benchmark', 'results', 'failover.json')} (${Math.round((Date.now() - started) / 1000)} s)`);
}

runIfMain(import.meta.url, main);
