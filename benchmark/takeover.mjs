// Takeover benchmark: while the leader hangs (SIGSTOP), how long until each follower is served
// again? cluster-share with leaderTimeout 1000 and with the default (3000) against cluster-client
// 3.7.0 (node_modules), in one run.
//
//   node benchmark/takeover.mjs [--followers F] [--rounds R] [--stop MS]
//                               [--impl both|cluster-share|cluster-client] [--deadline MS]
//
// Per configuration and round, on a fresh free loopback port: fork 1 + F members
// (takeover-member.mjs), the first alone so it leads; every member calls echo() in a paced loop
// (one call in flight, 10 ms between calls). Once every member is served, the leader is stopped
// (t0 = just before process.kill(pid, 'SIGSTOP')) for --stop ms, then resumed (SIGCONT). Measured:
//
//   served      t0 → the end of the first successful call each follower STARTED at or after t0.
//               Later than the stop itself means it was not served while the leader was stopped:
//               reported as "not served while stopped (served X ms after SIGCONT)".
//   one leader  SIGCONT → the group is back to exactly one leader on the port: one member leads
//               and is not an interim leader, every other one follows it (from the members' own
//               stats(), reported the moment they change). cluster-client 3.x has no takeover:
//               the stopped leader never leaves the port, so that time is 0 by definition.
//
// Medians over the rounds (and the followers). The process bookkeeping (the cluster-share snapshot
// of dist/esm, forking, cleanup on exit or a signal) is lib/harness.mjs's, as for the other
// benchmarks. The last line is `RESULT {json}`; the same JSON goes to benchmark/results/takeover.json.
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './lib/cli.mjs';
import {
  IpcChild, freePort, machine, median, printTable, runIfMain, sleep, snapshotClusterShare, withinOr, writeResult,
} from './lib/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const memberScript = join(here, 'takeover-member.mjs');
/** The clock of takeover-member.mjs: wall-clock ms with a fraction, comparable between processes. */
const now = () => performance.timeOrigin + performance.now();

// ------------------------------------------------------------------------------------ options
const USAGE = `usage: node benchmark/takeover.mjs [options]
  --followers F   followers besides the leader (default 4)
  --rounds R      leader stops per configuration (default 3)
  --stop MS       how long the leader stays stopped (default 6000)
  --impl I        both | cluster-share | cluster-client (default both)
  --deadline MS   how long after SIGCONT every follower must have been served (default 30000)`;

const { args, int: intOption, impls } = benchArgs({
  followers: { type: 'string', default: '4' },
  rounds: { type: 'string', default: '3' },
  stop: { type: 'string', default: '6000' },
  impl: { type: 'string', default: 'both' },
  deadline: { type: 'string', default: '30000' },
}, USAGE);
const FOLLOWERS = intOption('followers', 1);
const ROUNDS = intOption('rounds', 1);
const STOP_MS = intOption('stop', 100);
const DEADLINE = intOption('deadline', 1000);
const IMPLS = impls();
/** How long a member may take to become ready, and a group to be served, before we give up on it. */
const START_DEADLINE = 60_000;

const CONFIGS = [
  { key: 'cluster-share-1000', label: 'cluster-share, leaderTimeout 1000', impl: 'cluster-share', options: { leaderTimeout: 1000 } },
  { key: 'cluster-share-3000', label: 'cluster-share, leaderTimeout 3000 (default)', impl: 'cluster-share', options: {} },
  { key: 'cluster-client', label: 'cluster-client 3.7.0', impl: 'cluster-client', options: {} },
].filter(c => IMPLS.includes(c.impl));

// ------------------------------------------------------------------------------ a member
class Member extends IpcChild {
  constructor(group) {
    super(memberScript, [group.config.impl, String(group.port), group.shareUrl ?? '', JSON.stringify(group.config.options)], 'member');
    this.group = group;
    this.child.on('message', message => {
      if (message.type === 'state') group.onState(message);
      else if (message.type === 'event') group.events.push(message);
    });
  }
}

// ------------------------------------------------------------------------------- a group
class Group {
  constructor(config, port, shareUrl) {
    Object.assign(this, { config, port, shareUrl });
    this.members = [];
    this.states = new Map(); // pid -> the member's latest state message
    this.events = []; // takeover events, in arrival order
    this.watchers = new Set(); // called after each state change
  }

  add() {
    const m = new Member(this);
    this.members.push(m);
    return m;
  }

  onState(message) {
    this.states.set(message.pid, message);
    for (const watch of this.watchers) watch(message.at);
  }

  /** The pid of the one leader on the port, if every member follows it; else null. */
  portLeader() {
    const states = this.members.map(m => this.states.get(m.pid));
    if (states.some(s => !s)) return null;
    const leaders = states.filter(s => s.isLeader);
    if (leaders.length !== 1) return null;
    const [leader] = leaders;
    if (this.config.impl === 'cluster-client') return leader.pid; // 3.x says no more
    if (leader.interim || leader.state !== 'leading') return null;
    return states.every(s => s === leader || (s.state === 'following' && s.leaderPid === leader.pid)) ? leader.pid : null;
  }

  /** Resolves with { pid, at } once the group has one leader on the port (at: when that became true, at least `since`); null after `ms`. */
  untilOneLeader(since, ms) {
    return withinOr(new Promise(resolve => {
      const check = at => {
        const pid = this.portLeader();
        if (pid === null) return false;
        this.watchers.delete(check);
        resolve({ pid, at: Math.max(at, since) });
        return true;
      };
      if (!check(now())) this.watchers.add(check);
    }), ms, null);
  }

  static async start(config, shareUrl) {
    const group = new Group(config, await freePort(), shareUrl);
    const leader = group.add();
    const ready = await withinOr(leader.ready, START_DEADLINE, null);
    if (!ready?.isLeader) throw new Error(`${config.label}: the first member ${ready ? 'does not lead' : 'was not ready in time'}`);
    const followers = Array.from({ length: FOLLOWERS }, () => group.add());
    const all = await withinOr(Promise.all(followers.map(m => m.ready)), START_DEADLINE, null);
    if (!all || all.some(r => r.isLeader)) throw new Error(`${config.label}: the followers were not ready in time, or one leads`);
    const t = now();
    if (!(await withinOr(Promise.all(group.members.map(m => m.call({ cmd: 'mark', t0: t }))), START_DEADLINE, null))) {
      throw new Error(`${config.label}: the new group was not served within ${START_DEADLINE} ms`);
    }
    if (!(await group.untilOneLeader(now(), START_DEADLINE))) throw new Error(`${config.label}: the new group has no single leader`);
    return { group, leader, followers };
  }

  async stop() {
    await Promise.all(this.members.map(m => m.kill()));
  }
}

// ------------------------------------------------------------------------------- one stop
async function stopRound(config, round, shareUrl) {
  const { group, leader, followers } = await Group.start(config, shareUrl);
  const t0 = now();
  process.kill(leader.pid, 'SIGSTOP');
  let resumed = false;
  try {
    const served = new Map(); // pid -> served message
    const marks = followers.map(m => m.call({ cmd: 'mark', t0 }).then(message => served.set(m.pid, message), () => undefined));
    await sleep(Math.max(0, t0 + STOP_MS - now())); // the length of the stop: the fault under test
    const tResume = now();
    process.kill(leader.pid, 'SIGCONT');
    resumed = true;
    const oneLeader = await group.untilOneLeader(tResume, DEADLINE);
    await withinOr(Promise.all(marks), Math.max(1, tResume + DEADLINE - now()), null);
    const stoppedMs = tResume - t0;
    const first = type => group.events.find(e => e.name === 'takeover' && e.data.phase === type);
    const result = {
      round,
      port: group.port,
      leaderPid: leader.pid,
      stoppedMs,
      interimPid: first('interim')?.pid ?? null,
      interimMs: first('interim') ? first('interim').at - t0 : null,
      takenOverMs: group.events.find(e => e.name === 'takenOver') ? group.events.find(e => e.name === 'takenOver').at - tResume : null,
      portMs: first('port') ? first('port').at - tResume : null,
      oneLeaderMs: oneLeader ? oneLeader.at - tResume : null,
      oneLeaderPid: oneLeader?.pid ?? null,
      followers: followers.map(m => {
        const s = served.get(m.pid);
        if (!s) return { pid: m.pid, servedMs: null, servedWhileStopped: false, afterResumeMs: null };
        const servedMs = s.endedAt - t0;
        return {
          pid: m.pid, servedMs, servedWhileStopped: s.endedAt < tResume, afterResumeMs: s.endedAt < tResume ? null : s.endedAt - tResume,
          failed: s.failed, codes: s.codes,
        };
      }),
    };
    return result;
  } finally {
    if (!resumed) process.kill(leader.pid, 'SIGCONT');
    await group.stop();
  }
}

// ------------------------------------------------------------------------------ statistics
function summarize(rounds) {
  const followers = rounds.flatMap(r => r.followers);
  const whileStopped = followers.filter(f => f.servedWhileStopped);
  const after = followers.filter(f => !f.servedWhileStopped && f.afterResumeMs !== null);
  const codes = {};
  for (const f of followers) for (const [c, n] of Object.entries(f.codes ?? {})) codes[c] = (codes[c] ?? 0) + n;
  const max = xs => (xs.length ? Math.max(...xs) : null);
  return {
    followers: followers.length,
    servedWhileStopped: whileStopped.length,
    neverServed: followers.filter(f => f.servedMs === null).length,
    servedMedianMs: median(whileStopped.map(f => f.servedMs)),
    servedMaxMs: max(whileStopped.map(f => f.servedMs)),
    afterResumeMedianMs: median(after.map(f => f.afterResumeMs)),
    afterResumeMaxMs: max(after.map(f => f.afterResumeMs)),
    interimMedianMs: median(rounds.map(r => r.interimMs)),
    oneLeaderMedianMs: median(rounds.map(r => r.oneLeaderMs)),
    oneLeaderMaxMs: max(rounds.map(r => r.oneLeaderMs).filter(v => v !== null)),
    failedCallsByCode: codes,
  };
}

const ms = v => (v === null || v === undefined ? '-' : `${v.toFixed(0)} ms`);

/** What a follower saw, in words. */
function servedText(f) {
  if (f.servedMs === null) return `not served within ${DEADLINE / 1000} s of SIGCONT`;
  if (f.servedWhileStopped) return `served ${ms(f.servedMs)} after the stop`;
  return `not served while stopped (served ${ms(f.afterResumeMs)} after SIGCONT)`;
}

function servedSummaryText(s) {
  const parts = [];
  if (s.servedWhileStopped > 0) parts.push(`served while stopped: ${s.servedWhileStopped}/${s.followers} followers, median ${ms(s.servedMedianMs)} after the stop (max ${ms(s.servedMaxMs)})`);
  const notServed = s.followers - s.servedWhileStopped;
  if (notServed > 0) parts.push(`${notServed}/${s.followers} not served while stopped (served ${ms(s.afterResumeMedianMs)} after SIGCONT, median; max ${ms(s.afterResumeMaxMs)})`);
  return parts.join('; ');
}

// ------------------------------------------------------------------------------------ main
async function main() {
  const shareUrl = IMPLS.includes('cluster-share') ? snapshotClusterShare() : undefined;
  const started = Date.now();
  const m = machine();
  console.log(`takeover benchmark: 1 leader + ${FOLLOWERS} followers under paced load (one call in flight, 10 ms apart); the leader SIGSTOPped for ${STOP_MS / 1000} s, then SIGCONT; ${ROUNDS} round(s) per configuration`);
  console.log(`node ${m.node}, ${m.cpuModel ?? 'unknown cpu'} × ${m.cpuCount}, ${m.platform}`);
  const results = {};
  for (const config of CONFIGS) {
    const rounds = [];
    console.log(`\n${config.label}`);
    for (let round = 1; round <= ROUNDS; round++) {
      const r = await stopRound(config, round, shareUrl);
      rounds.push(r);
      const interim = r.interimPid ? `; interim leader ${r.interimPid} after ${ms(r.interimMs)}` : '; no interim leader';
      const back = r.interimPid ? ` (stepped down after ${ms(r.takenOverMs)}, interim leader on the port after ${ms(r.portMs)})` : '';
      console.log(`  round ${round}: leader ${r.leaderPid} stopped ${ms(r.stoppedMs)}${interim}; one leader on the port ${ms(r.oneLeaderMs)} after SIGCONT${back} (pid ${r.oneLeaderPid ?? '-'})`);
      for (const f of r.followers) {
        const failed = f.failed ? `, ${f.failed} failed call(s): ${Object.entries(f.codes).map(([c, n]) => `${c} ×${n}`).join(', ')}` : '';
        console.log(`    follower ${f.pid}: ${servedText(f)}${failed}`);
      }
    }
    results[config.key] = { label: config.label, impl: config.impl, options: config.options, rounds, summary: summarize(rounds) };
  }

  const header = ['configuration', 'time to be served again while the leader hangs (median)', 'one leader on the port after SIGCONT (median)'];
  const rows = CONFIGS.map(c => {
    const s = results[c.key].summary;
    return [c.label, servedSummaryText(s), c.impl === 'cluster-client' ? `${ms(s.oneLeaderMedianMs)} (never left it)` : ms(s.oneLeaderMedianMs)];
  });
  printTable(`summary: leader stopped ${STOP_MS / 1000} s, ${ROUNDS} round(s) × ${FOLLOWERS} followers`, header, rows);

  const result = {
    benchmark: 'takeover',
    durationS: Math.round((Date.now() - started) / 1000),
    options: { followers: FOLLOWERS, rounds: ROUNDS, stopMs: STOP_MS, deadlineMs: DEADLINE, impl: args.impl },
    summary: Object.fromEntries(CONFIGS.map(c => [c.key, results[c.key].summary])),
    results,
  };
  const file = writeResult('takeover', result);
  console.log(`\nresults written to ${file.replace(`${join(here, '..')}/`, '')} (${result.durationS} s)`);
  const { results: _, ...brief } = result;
  console.log(`RESULT ${JSON.stringify({ machine: { node: m.node, cpuModel: m.cpuModel, cpuCount: m.cpuCount }, ...brief }, (key, value) => (typeof value === 'number' && !Number.isInteger(value) ? +value.toFixed(1) : value))}`);
}

runIfMain(import.meta.url, main);
