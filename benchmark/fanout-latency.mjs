// Fan-out delivery latency: how long from the DataClient pushing ONE value until the LAST of F
// subscribed follower processes has it (decoded, in its listener), for F = 3, 15, 50 and 100.
// Four implementations in one run, in the same processes:
//
//   floor            a plain net server in the leader: one JSON.stringify per value, one
//                    length-prefixed frame, one socket.write per follower, Nagle off; no library
//   floor + acks     the same, and every follower answers every frame with a small ack frame that
//                    the leader reads and parses (the per-value answer of the 3.x protocol)
//   cluster-share    ../dist/esm (a private copy taken at start)
//   cluster-client   3.7.0 from node_modules
//
//   node benchmark/fanout-latency.mjs [--f=3,15,50,100] [--rounds=3] [--values=100]
//                                     [--interval=MS] [--warmup=N] [--impl=LIST] [--wait-idle=S]
//                                     [--order=interleaved|batched] [--compare-dist=DIR]
//                                     [--leader-args=ARGS] [--follower-args=ARGS] [--raw=PREFIX]
//   node benchmark/fanout-latency.mjs --profile [--impl=LIST] [--rounds=N] [--profile-dir=DIR]
//
// It is also a scenario of benchmark/run.mjs (`npm run bench`): run({ quick, impls }) measures the
// floor (the suite's `bare`), cluster-share and cluster-client at F = 3, 15, 50, 100 with the
// default rounds (quick: F = 3, 15 and 2 rounds) and names them as the suite does in its result.
//
// Processes: 1 leader + F followers; each process holds one client of every implementation,
// each implementation on its own port (and its own DataClient, a BenchClient, in the leader).
// The followers are added as F grows (3, then 12 more, ...), all forked at once, and every one
// reports `ready` once all its clients are ready and subscribed; then the leader pushes priming
// values until every new follower has said it received one of every implementation (an explicit
// message, no sleep), so every subscription is in place before anything is measured.
//
// A round pushes `values` values { seq, t, data: 64 B string } through the DataClient of every
// implementation (BenchClient.push, which calls the listener the library gave it), interleaved:
// A's value i, B's value i, ..., then A's value i + 1, ..., one push every `interval` ms from a
// timer, so two values are never in flight together in the whole machine; t = the push instant.
// The implementation that goes first rotates from round to round. Why interleaved: the followers
// are forked at the same moment, so V8's memory reducer runs a mark-compact in many of them at
// about the same time (a ~1 s storm of 2–7 ms pauses). In batches of one implementation such a
// storm lands on whichever batch is running, and the p99 comparison becomes luck; interleaved,
// every implementation meets the same disturbances. --order=batched keeps the batches (a round is
// one batch of `values` values per implementation, in rotating order, each followed by a drain
// pause): they are what the CPU table below and --profile need.
// Each follower records (seq, receive instant) first thing in its listener, in memory; the
// parent collects them over IPC after the cell (no IPC during a measurement). The clock is
// process.hrtime (CLOCK_MONOTONIC), the same clock in every process of the host.
//
//   latency of a value = max over the F followers of (receive − push): the LAST follower
//   per round          p50 and p99 over the implementation's values of the round (p99 of 100
//                      values: the 99th); printed and kept in the result in both orders
//   per cell           interleaved: p50 and p99 over all its values of all rounds (pooled: a storm
//                      is shared by every implementation, and 3 × 100 values make a steadier p99);
//                      --order=batched: the median over the rounds of the per-round p50, and of
//                      the per-round p99 (a storm hits one batch: the median leaves it out)
//
// Each cell first pushes `warmup` unmeasured values through every implementation, in the order of
// its rounds (interleaved or batched), then runs the rounds.
//
// Also per cell and implementation, with --order=batched only: the main-thread CPU time and
// run-queue wait per value of the leader and of the followers (/proc/PID/schedstat, read before
// and after each batch), because on a machine with fewer cores than processes the latency is
// mostly waiting for a CPU (interleaved, every window holds every implementation: cpu is null).
// And the share of the machine's CPU that other processes used during the rounds (a `!!` line
// above 10 %).
// --compare-dist=DIR measures a second cluster-share build (e.g. an older commit built elsewhere)
// side by side, in the same processes.
// --leader-args / --follower-args pass Node and V8 options to the members, to find what a tail is
// made of: e.g. --leader-args=--no-opt (no TurboFan compile jobs in the leader: on 2 cores they
// are most of the p99 at F = 3) or --follower-args=--trace-opt. --raw=PREFIX writes every cell's
// values (each push's implementation, round, seq and instant; each follower's pid and receive
// instants) to PREFIX-<F>.json, to be lined up with e.g. `perf sched` or `perf record -k mono`.
//
// --profile: F = 50, 10 rounds, --order=batched, cluster-share only (or --impl LIST, e.g.
// floor,cluster-share); the leader and one follower (the last forked) run with --cpu-prof; after
// the rounds they exit cleanly and the top self-time functions of both profiles are printed per
// implementation, over that implementation's rounds (the samples taken while its batches ran,
// each batch from its 'run' request to the end of its drain pause), and over the whole profile
// (hitCount × sample interval, start-up included).
import { fork, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseOrExit } from './lib/cli.mjs';
import {
  IMPLS as SUITE_IMPLS, cleanup as harnessCleanup, cpuSnapshot, foreignCpuShare as foreignCpuShareOf, fmtRatio, fmtUs, freePorts, median, nowUs, printMachine, printTable, ratio, resultsDir,
  root, runIfMain, sleep, snapshotClusterShare, waitIdle, within, writeResult,
} from './lib/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const memberScript = join(here, 'fanout-latency-member.mjs');

const IMPLS = ['floor', 'floor-ack', 'cluster-share', 'cluster-share-alt', 'cluster-client'];
/** Follower counts, rounds per cell, values per implementation and round, warm-up values per implementation, order. */
const DEFAULTS = { f: [3, 15, 50, 100], rounds: 3, values: 100, warmup: 20, order: 'interleaved' };
const ORDERS = ['interleaved', 'batched'];
const LABEL = { floor: 'floor (bare socket)', 'floor-ack': 'floor + acks', 'cluster-share': 'cluster-share', 'cluster-share-alt': 'cluster-share (--compare-dist)', 'cluster-client': 'cluster-client 3.7' };

const USAGE = `usage: node benchmark/fanout-latency.mjs [options]
  --f=LIST          follower counts, comma-separated (default 3,15,50,100; --profile: 50)
  --rounds=N        rounds per cell (default 3; --profile: 10, for enough samples)
  --values=N        values pushed per implementation and round (default 100)
  --interval=MS     ms between two pushes, of any implementation (default: 20, and 25 from 100
                    followers on)
  --warmup=N        unmeasured values per implementation before a cell's rounds (default 20)
  --order=ORDER     interleaved (default): a round alternates the implementations value by value,
                    so all meet the same disturbances (GC storms); the cell's p50/p99 are over all
                    values of all rounds. batched: a round is one batch per implementation; the
                    cell's p50/p99 are the medians of the per-round ones, and the CPU per value
                    (schedstat) is measured per batch and printed. --profile is always batched
  --impl=LIST       subset of ${IMPLS.filter(i => i !== 'cluster-share-alt').join(',')} (default: all)
  --compare-dist=D  also measure the cluster-share build in directory D (its dist/esm, e.g. one built
                    from an older commit), as "cluster-share (--compare-dist)", in the same processes
  --wait-idle=S     before each cell, wait up to S s for the CPUs to be idle (default 0)
  --profile         F = 50, batched, cluster-share only (unless --impl), leader and one follower
                    with --cpu-prof
  --profile-dir=DIR where the .cpuprofile files go (default benchmark/results/fanout-latency-profiles/<time>)
  --leader-args=A   extra Node/V8 options for the leader process, space-separated (e.g. --no-opt)
  --follower-args=A extra Node/V8 options for every follower process (e.g. --trace-opt)
  --raw=PREFIX      also write each cell's per-value push and receive instants to PREFIX-<F>.json
  -h, --help        this text`;

function options() {
  const values = parseOrExit({
    f: { type: 'string' },
    rounds: { type: 'string' },
    values: { type: 'string', default: String(DEFAULTS.values) },
    interval: { type: 'string' },
    warmup: { type: 'string', default: String(DEFAULTS.warmup) },
    impl: { type: 'string', default: IMPLS.filter(i => i !== 'cluster-share-alt').join(',') },
    order: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'wait-idle': { type: 'string', default: '0' },
    'profile-dir': { type: 'string' },
    'compare-dist': { type: 'string' },
    'leader-args': { type: 'string', default: '' },
    'follower-args': { type: 'string', default: '' },
    raw: { type: 'string' },
  }, USAGE);
  const ints = (s, name) => {
    const list = s.split(',').map(x => Number(x.trim()));
    if (list.some(n => !Number.isInteger(n) || n < 1)) {
      console.error(`--${name}: positive integers expected, got ${s}\n${USAGE}`);
      process.exit(2);
    }
    return list;
  };
  const implGiven = process.argv.some(a => a === '--impl' || a.startsWith('--impl='));
  const impls = (values.profile && !implGiven ? 'cluster-share' : values.impl).split(',').map(s => s.trim()).filter(Boolean);
  for (const impl of impls) {
    if (!IMPLS.includes(impl) || impl === 'cluster-share-alt') {
      console.error(`--impl: unknown implementation ${impl} (known: ${IMPLS.join(', ')})\n${USAGE}`);
      process.exit(2);
    }
  }
  // --profile attributes samples to batch windows: it needs batches.
  const order = values.order ?? (values.profile ? 'batched' : DEFAULTS.order);
  if (!ORDERS.includes(order) || (values.profile && order !== 'batched')) {
    console.error(`--order: ${ORDERS.join(' or ')} expected${values.profile ? ' (--profile: batched)' : ''}, got ${order}\n${USAGE}`);
    process.exit(2);
  }
  let altShareUrl = null;
  if (values['compare-dist']) {
    const dir = resolve(values['compare-dist']);
    const index = [join(dir, 'index.js'), join(dir, 'esm', 'index.js'), join(dir, 'dist', 'esm', 'index.js')].find(f => existsSync(f));
    if (!index) {
      console.error(`--compare-dist: no index.js in ${dir}, ${dir}/esm or ${dir}/dist/esm\n${USAGE}`);
      process.exit(2);
    }
    altShareUrl = pathToFileURL(index).href;
    if (impls.includes('cluster-share')) impls.push('cluster-share-alt');
  }
  const fs = [...new Set(ints(values.f ?? (values.profile ? '50' : DEFAULTS.f.join(',')), 'f'))].sort((a, b) => a - b);
  return {
    followerCounts: fs,
    rounds: ints(values.rounds ?? (values.profile ? '10' : String(DEFAULTS.rounds)), 'rounds')[0],
    values: ints(values.values, 'values')[0],
    interval: values.interval === undefined ? null : ints(values.interval, 'interval')[0],
    warmup: Number(values.warmup),
    impls: IMPLS.filter(i => impls.includes(i)),
    order,
    profile: values.profile,
    profileDir: values['profile-dir'],
    waitIdleS: Number(values['wait-idle']) || 0,
    altShareUrl,
    leaderArgs: values['leader-args'].split(' ').filter(Boolean),
    followerArgs: values['follower-args'].split(' ').filter(Boolean),
    raw: values.raw,
  };
}

const intervalFor = (opts, f) => opts.interval ?? (f >= 100 ? 25 : 20);

// ------------------------------------------------------------------------ child processes
const children = new Set();
function killAll() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
  children.clear();
}
process.on('exit', killAll);
// Before the harness's own handler (which knows only its own children).
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.prependListener(signal, () => {
    console.error(`\n${signal}: killing ${children.size} benchmark process(es)`);
    killAll();
    harnessCleanup();
    process.exit(130);
  });
}

let nextId = 1;
/** A forked fanout-latency-member.mjs: `ready`, `request(cmd, args)`, `onPrimed`, `kill()`. */
class Member {
  constructor(config, execArgv = []) {
    this.role = config.role;
    this.exited = false;
    this.pending = new Map();
    this.primed = new Set();
    this.primedWaiters = [];
    this.child = fork(memberScript, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json', execArgv });
    this.pid = this.child.pid;
    children.add(this.child);
    this.exitedPromise = new Promise(resolve => this.child.once('exit', (code, signal) => {
      this.exited = true;
      children.delete(this.child);
      resolve({ code, signal });
    }));
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', m => {
        if (m.type === 'ready') resolve(m);
        else if (m.type === 'ready-error') reject(new Error(`${this.role} ${this.pid} failed to start: ${m.code} ${m.message}`));
        else if (m.type === 'primed') {
          this.primed.add(m.impl);
          for (const w of this.primedWaiters) w();
        } else if (m.id !== undefined) {
          const waiter = this.pending.get(m.id);
          this.pending.delete(m.id);
          if (m.error) waiter?.reject(new Error(`${this.role} ${this.pid}: ${m.error}`));
          else waiter?.resolve(m);
        }
      });
      this.exitedPromise.then(({ code, signal }) => {
        const err = new Error(`${this.role} ${this.pid} exited (${signal ?? code})`);
        reject(err);
        for (const w of this.pending.values()) w.reject(err);
        this.pending.clear();
      });
    });
    this.ready.catch(() => {});
  }

  request(cmd, args = {}, timeoutMs = 120_000) {
    if (this.exited) return Promise.reject(new Error(`${this.role} ${this.pid} has exited`));
    const id = nextId++;
    const answer = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, cmd, args });
    });
    return within(answer, timeoutMs, `${this.role} ${this.pid}: no answer to ${cmd} within ${timeoutMs} ms`);
  }

  /** Resolves once a priming value of every implementation in `impls` has arrived here. */
  whenPrimed(impls) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (impls.every(i => this.primed.has(i))) {
          resolve();
          return true;
        }
        return false;
      };
      if (check()) return;
      const waiter = () => {
        if (check()) this.primedWaiters = this.primedWaiters.filter(w => w !== waiter);
      };
      this.primedWaiters.push(waiter);
      this.exitedPromise.then(() => reject(new Error(`${this.role} ${this.pid} exited before it was primed`)));
    });
  }

  kill() {
    if (!this.exited) this.child.kill('SIGKILL');
    return this.exitedPromise;
  }
}

// ---------------------------------------------------------------------------------- a group
class Group {
  constructor(impls, ports, shareUrl, altShareUrl) {
    Object.assign(this, { impls, ports, shareUrl, altShareUrl, leader: null, followers: [] });
  }

  static async start(impls, shareUrl, altShareUrl, leaderExecArgv) {
    const list = await freePorts(impls.length);
    const ports = Object.fromEntries(impls.map((impl, i) => [impl, list[i]]));
    const group = new Group(impls, ports, shareUrl, altShareUrl);
    group.leader = new Member({ role: 'leader', impls, ports, shareUrl, altShareUrl }, leaderExecArgv);
    await within(group.leader.ready, 60_000, 'the leader was not ready within 60 s');
    return group;
  }

  /**
   * Forks `n` followers at once (`execArgvOf(i)` for the i-th of them), waits until every one
   * said ready (its clients are ready and subscribed), then has the leader push priming values
   * until every one of them received one of every implementation.
   */
  async addFollowers(n, execArgvOf = () => []) {
    const t0 = Date.now();
    const added = Array.from({ length: n }, (_, i) => new Member({ role: 'follower', impls: this.impls, ports: this.ports, shareUrl: this.shareUrl, altShareUrl: this.altShareUrl }, execArgvOf(i)));
    this.followers.push(...added);
    const deadline = 60_000 + n * 1000;
    await within(Promise.all(added.map(m => m.ready)), deadline, `${n} followers were not ready within ${deadline / 1000} s`);
    const readyMs = Date.now() - t0;
    await this.leader.request('prime', { on: true });
    try {
      await within(Promise.all(added.map(m => m.whenPrimed(this.impls))), 30_000, 'not every follower received a priming value within 30 s');
    } finally {
      await this.leader.request('prime', { on: false });
    }
    await sleep(100); // the last priming values and their answers drain
    return { readyMs, primedMs: Date.now() - t0 };
  }

  async stop() {
    await Promise.all([this.leader, ...this.followers].filter(Boolean).map(m => m.kill()));
  }
}

// ---------------------------------------------------------------------- other load (Linux)
/**
 * The main thread's time on a CPU and time waiting in the run queue, in ns (/proc/PID/schedstat,
 * Linux), summed over `members`; null where it cannot be read.
 */
function schedOf(members) {
  let cpuNs = 0;
  let waitNs = 0;
  for (const m of members) {
    try {
      const [run, wait] = readFileSync(`/proc/${m.pid}/schedstat`, 'utf8').split(' ').map(Number);
      cpuNs += run;
      waitNs += wait;
    } catch {
      return null;
    }
  }
  return { cpuNs, waitNs };
}
const schedDelta = (a, b) => (a && b ? { cpuNs: b.cpuNs - a.cpuNs, waitNs: b.waitNs - a.waitNs } : null);

// ------------------------------------------------------------------------------- statistics
/** The q-quantile of a sorted array: the value of rank ceil(q·n) (p99 of 100 values = the 99th). */
const quantile = (sorted, q) => (sorted.length ? sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] : null);

/**
 * One implementation's values of one round (`pushes`: { seq, t, nextT }, nextT = when the next
 * push of any implementation came): per value, the latency of the last follower (max of
 * receive − push over the followers); values some follower never received are counted as lost
 * and left out. Returns the round's statistics and its latencies, sorted (for pooling).
 */
function roundStats(pushes, receivedBy) {
  const last = [];
  const all = [];
  let lost = 0;
  let lastIsLastForked = 0;
  let overlapping = 0;
  for (const { seq, t, nextT } of pushes) {
    let max = -Infinity;
    let argmax = -1;
    let missing = false;
    receivedBy.forEach((map, f) => {
      const at = map.get(seq);
      if (at === undefined) {
        missing = true;
        return;
      }
      all.push(at - t);
      if (at - t > max) {
        max = at - t;
        argmax = f;
      }
    });
    if (missing) {
      lost++;
      continue;
    }
    last.push(max);
    if (t + max > nextT) overlapping++;
    if (argmax === receivedBy.length - 1) lastIsLastForked++;
  }
  last.sort((a, b) => a - b);
  all.sort((a, b) => a - b);
  return {
    last,
    stats: {
      values: pushes.length,
      lost,
      p50Us: quantile(last, 0.5),
      p99Us: quantile(last, 0.99),
      maxUs: last.length ? last[last.length - 1] : null,
      overlapping,
      anyFollowerP50Us: quantile(all, 0.5),
      lastIsLastForked,
    },
  };
}

// ------------------------------------------------------------------------------ measurement
/**
 * The leader's `run` requests of one round through the implementations in `order`: interleaved,
 * one that alternates between them value by value; batched, one batch per implementation.
 */
const runsOf = (order, opts) => (opts.order === 'batched' ? order.map(impl => [impl]) : [order]);

async function measureCell(group, f, opts, batchWindows) {
  const intervalMs = intervalFor(opts, f);
  const { impls } = group;
  const batched = opts.order === 'batched';
  const followers = group.followers.slice(0, f);
  const runs = []; // { round, order, pushes: [seq, t, ...], leaderSched, followersSched }
  const drainMs = Math.max(100, 4 * intervalMs);
  const push = (order, count) => group.leader.request('run', { order, count, intervalMs }, 60_000 + 2 * count * order.length * intervalMs);
  // Warm-up: unmeasured values through every implementation.
  if (opts.warmup > 0) {
    for (const order of runsOf(impls, opts)) {
      await push(order, opts.warmup);
      await sleep(drainMs);
    }
  }
  const cpuBefore = cpuSnapshot([group.leader, ...group.followers]);
  for (let round = 0; round < opts.rounds; round++) {
    const rotated = impls.map((_, i) => impls[(i + round) % impls.length]);
    for (const order of runsOf(rotated, opts)) {
      const leaderBefore = schedOf([group.leader]);
      const followersBefore = schedOf(followers);
      const from = nowUs();
      const { pushes } = await push(order, opts.values);
      await sleep(drainMs); // the last value reaches every follower before the next run starts
      const to = nowUs();
      const leaderSched = schedDelta(leaderBefore, schedOf([group.leader]));
      const followersSched = schedDelta(followersBefore, schedOf(followers));
      runs.push({ round, order, pushes, leaderSched, followersSched });
      // --profile runs batched: a window is one implementation's.
      batchWindows?.push({ impl: order[0], from, to, values: opts.values, followers: f });
    }
  }
  const foreignCpuShare = foreignCpuShareOf(cpuBefore, cpuSnapshot([group.leader, ...group.followers]));
  // Every push with its implementation and round, and when the next push (of any implementation)
  // came; after the last push of a run a drain pause follows: there, one interval after it.
  const pushed = runs.flatMap(({ round, order, pushes }) => Array.from({ length: pushes.length / 2 }, (_, k) => ({
    impl: order[k % order.length], round, seq: pushes[2 * k], t: pushes[2 * k + 1], nextT: pushes[2 * k + 3] ?? pushes[2 * k + 1] + intervalMs * 1000,
  })));
  // Collect the receive times (after the rounds: no IPC during a measurement).
  const answers = await Promise.all(followers.map(m => m.request('results')));
  if (opts.raw) {
    const file = `${opts.raw}-${f}.json`;
    writeFileSync(file, JSON.stringify({ followers: f, leaderPid: group.leader.pid, followerPids: followers.map(m => m.pid), pushed, received: answers.map(a => a.received) }));
    console.log(`  (per-value data: ${file})`);
  }
  const results = {};
  for (const impl of impls) {
    const receivedBy = answers.map(a => {
      const rec = a.received[impl] ?? { seqs: [], times: [] };
      const map = new Map();
      for (let i = 0; i < rec.seqs.length; i++) if (!map.has(rec.seqs[i])) map.set(rec.seqs[i], rec.times[i]);
      return map;
    });
    const perRound = Array.from({ length: opts.rounds }, (_, round) => roundStats(pushed.filter(p => p.impl === impl && p.round === round), receivedBy));
    const rounds = perRound.map(r => r.stats);
    const pooled = perRound.flatMap(r => r.last).sort((a, b) => a - b);
    const stats = {
      pooled: { p50Us: quantile(pooled, 0.5), p99Us: quantile(pooled, 0.99) },
      medianOfRounds: { p50Us: median(rounds.map(r => r.p50Us)), p99Us: median(rounds.map(r => r.p99Us)) },
    };
    // CPU per value from schedstat, over the whole batch (its pushes and the drain pause after it;
    // the idle clients of the other implementations cost nothing): summed over the rounds.
    // Interleaved, a window holds every implementation: nothing to attribute.
    const own = runs.filter(r => r.order.length === 1 && r.order[0] === impl);
    const perValue = pick => {
      if (own.some(b => !b[pick])) return null;
      const n = own.reduce((k, b) => k + b.pushes.length / 2, 0);
      return { cpuUs: own.reduce((k, b) => k + b[pick].cpuNs, 0) / 1000 / n, runQueueWaitUs: own.reduce((k, b) => k + b[pick].waitNs, 0) / 1000 / n };
    };
    results[impl] = {
      ...(batched ? stats.medianOfRounds : stats.pooled),
      ...stats,
      maxUs: Math.max(...rounds.map(r => r.maxUs ?? 0)),
      lost: rounds.reduce((n, r) => n + r.lost, 0),
      overlapping: rounds.reduce((n, r) => n + r.overlapping, 0),
      anyFollowerP50Us: median(rounds.map(r => r.anyFollowerP50Us)),
      cpu: batched ? { leader: perValue('leaderSched'), followers: perValue('followersSched') } : null,
      rounds,
    };
  }
  const cs = results['cluster-share'];
  const ratios = {
    clusterShareVsFloor: cs && results.floor ? { p50: ratio(cs.p50Us, results.floor.p50Us), p99: ratio(cs.p99Us, results.floor.p99Us) } : null,
    clusterShareVsFloorAck: cs && results['floor-ack'] ? { p50: ratio(cs.p50Us, results['floor-ack'].p50Us), p99: ratio(cs.p99Us, results['floor-ack'].p99Us) } : null,
    clusterShareVsClusterClient: cs && results['cluster-client'] ? { p50: ratio(cs.p50Us, results['cluster-client'].p50Us), p99: ratio(cs.p99Us, results['cluster-client'].p99Us) } : null,
    clusterShareVsCompareDist: cs && results['cluster-share-alt'] ? { p50: ratio(cs.p50Us, results['cluster-share-alt'].p50Us), p99: ratio(cs.p99Us, results['cluster-share-alt'].p99Us) } : null,
  };
  return { followers: f, intervalMs, foreignCpuShare, results, ratios };
}

function printCell(cell, opts, setup) {
  const cpuRows = Object.entries(cell.results).filter(([, r]) => r.cpu?.leader && r.cpu.followers).map(([impl, r]) => [LABEL[impl],
    `${r.cpu.leader.cpuUs.toFixed(0)} µs`, `${(r.cpu.leader.cpuUs / cell.followers).toFixed(1)} µs`, `${r.cpu.leader.runQueueWaitUs.toFixed(0)} µs`,
    `${(r.cpu.followers.cpuUs / cell.followers).toFixed(1)} µs`, `${(r.cpu.followers.runQueueWaitUs / cell.followers).toFixed(0)} µs`]);
  const rows = [];
  for (const impl of Object.keys(cell.results)) {
    const r = cell.results[impl];
    rows.push([LABEL[impl], fmtUs(r.p50Us), fmtUs(r.p99Us), fmtUs(r.maxUs), r.rounds.map(x => fmtUs(x.p50Us)).join(' / '),
      r.rounds.map(x => fmtUs(x.p99Us)).join(' / '), fmtUs(r.anyFollowerP50Us), String(r.lost), String(r.overlapping)]);
  }
  const { clusterShareVsFloor: a, clusterShareVsFloorAck: b, clusterShareVsClusterClient: c } = cell.ratios;
  if (a || b || c) rows.push('-');
  if (a) rows.push(['cluster-share ÷ floor', fmtRatio(a.p50), fmtRatio(a.p99), '', '', '', '', '', '']);
  if (b) rows.push(['cluster-share ÷ floor + acks', fmtRatio(b.p50), fmtRatio(b.p99), '', '', '', '', '', '']);
  if (c) rows.push(['cluster-share ÷ cluster-client', fmtRatio(c.p50), fmtRatio(c.p99), '', '', '', '', '', '']);
  const d = cell.ratios.clusterShareVsCompareDist;
  if (d) rows.push(['cluster-share ÷ --compare-dist build', fmtRatio(d.p50), fmtRatio(d.p99), '', '', '', '', '', '']);
  const batched = opts.order === 'batched';
  printTable(
    `F = ${cell.followers} followers: push → LAST follower's listener; ${opts.values} values per implementation and round, ` +
      (batched ? `in batches of one implementation, one every ${cell.intervalMs} ms; median of ${opts.rounds} rounds`
        : `interleaved, one push every ${cell.intervalMs} ms; p50/p99 over all ${opts.rounds * opts.values} values of the ${opts.rounds} rounds`) +
      (setup ? ` (followers forked and ready in ${(setup.readyMs / 1000).toFixed(1)} s, primed in ${(setup.primedMs / 1000).toFixed(1)} s)` : ''),
    ['implementation', 'p50', 'p99', 'max', 'p50 per round', 'p99 per round', 'any-f. p50', 'lost', '>interval'],
    rows,
    { note: (cell.foreignCpuShare > 0.1 ? `!! other processes used ${(cell.foreignCpuShare * 100).toFixed(0)} % of the machine's CPU time during these rounds: the numbers are disturbed (run again on a quiet machine, or with --wait-idle)\n` : '') +
      `p50/p99: of the per-value max over the followers, ${batched ? 'the median of the per-round p50s and p99s' : 'over all values of all rounds (pooled); the implementations alternate value by value, so they share every disturbance'}; ` +
      'any-f. p50: median over every (value, follower) delivery; lost: values a follower never got (must be 0); >interval: values whose last delivery came after the next push (of any implementation)' },
  );
  if (!batched) console.log('  (CPU per value per implementation: not measured when interleaved; it needs --order=batched)');
  if (cpuRows.length) {
    printTable(`F = ${cell.followers}: main-thread CPU per value pushed (/proc/PID/schedstat over the rounds, the ${cell.intervalMs} ms timer and pauses included)`,
      ['implementation', 'leader CPU', '÷ F', 'leader run-queue wait', 'CPU per follower', 'run-queue wait per follower'], cpuRows);
  }
}

// -------------------------------------------------------------------------------- profiles
const shortUrl = url => {
  if (!url) return '';
  const m = /\/dist\/esm\/(.*)$/.exec(url) ?? /node_modules\/(.*)$/.exec(url);
  if (m) return m[1];
  if (url.startsWith('node:')) return url;
  return basename(url);
};

/**
 * Self time per function of a .cpuprofile: over the whole profile, hitCount × the mean sample
 * interval; per implementation, over the samples taken inside its batch windows: samples × the
 * mean interval of those samples (the windows' wall time shared out by sample count, so a sample
 * followed by a long gap, when this process could not run, does not weigh more than another).
 * The profile's timestamps are V8's monotonic clock in µs, the clock of process.hrtime (checked:
 * every window must lie inside the profile). The sampler records where the main thread is, also
 * while the kernel has it waiting for a CPU: this is wall time, not CPU time.
 */
function summarizeProfile(file, windows, impls) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map(n => [n.id, n]));
  const keyOf = n => {
    const cf = n.callFrame;
    return `${cf.functionName || '(anonymous)'}\t${shortUrl(cf.url)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
  };
  const IDLE = '(idle)\t';
  const interval = (p.endTime - p.startTime) / Math.max(1, p.samples.length);
  const top = (map, busy) => [...map.entries()].filter(([k]) => k !== IDLE).sort((a, b) => b[1] - a[1]).slice(0, 15)
    .map(([k, us]) => {
      const [fn, where] = k.split('\t');
      return { function: fn, where, selfMs: us / 1000, pctOfBusy: busy > 0 ? (100 * us) / busy : null };
    });
  const whole = new Map();
  let wholeTotal = 0;
  for (const n of p.nodes) {
    const us = (n.hitCount ?? 0) * interval;
    if (!us) continue;
    whole.set(keyOf(n), (whole.get(keyOf(n)) ?? 0) + us);
    wholeTotal += us;
  }
  // Sample times, then per implementation the samples inside one of its windows.
  const times = new Float64Array(p.samples.length);
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) times[i] = t += p.timeDeltas[i];
  const perImpl = {};
  for (const impl of impls) {
    const ws = windows.filter(w => w.impl === impl);
    const counts = new Map();
    let n = 0;
    for (let i = 0; i < p.samples.length; i++) {
      if (!ws.some(w => times[i] >= w.from && times[i] < w.to)) continue;
      const k = keyOf(byId.get(p.samples[i]));
      counts.set(k, (counts.get(k) ?? 0) + 1);
      n++;
    }
    const total = ws.reduce((sum, w) => sum + Math.min(w.to, p.endTime) - Math.max(w.from, p.startTime), 0);
    const perSample = n ? total / n : 0;
    const map = new Map([...counts].map(([k, c]) => [k, c * perSample]));
    const idle = map.get(IDLE) ?? 0;
    const busySamples = n - (counts.get(IDLE) ?? 0);
    const busy = total - idle;
    const files = new Map();
    for (const [k, us] of map) {
      if (k === IDLE) continue;
      const [fn, where] = k.split('\t');
      const file = where.replace(/:\d+$/, '') || fn;
      files.set(file, (files.get(file) ?? 0) + us);
    }
    const values = ws.reduce((n, w) => n + w.values, 0);
    perImpl[impl] = {
      windows: ws.length,
      samples: n,
      busySamples,
      sampleIntervalUs: perSample,
      insideProfile: ws.every(w => w.from >= p.startTime && w.to <= p.endTime),
      wallMs: total / 1000,
      busyMs: busy / 1000,
      values,
      followers: ws[0]?.followers,
      busyUsPerValue: values ? busy / values : null,
      top: top(map, busy),
      byFile: [...files.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([where, us]) => ({ where, selfMs: us / 1000, pctOfBusy: busy > 0 ? (100 * us) / busy : null })),
    };
  }
  return {
    file,
    sampleIntervalUs: interval,
    profileMs: (p.endTime - p.startTime) / 1000,
    perImpl,
    whole: { totalMs: wholeTotal / 1000, busyMs: (wholeTotal - (whole.get(IDLE) ?? 0)) / 1000, top: top(whole, wholeTotal - (whole.get(IDLE) ?? 0)) },
  };
}

function printProfile(name, s, isLeader) {
  for (const [impl, w] of Object.entries(s.perImpl)) {
    const perValue = w.busyUsPerValue === null ? '' : `: ${w.busyUsPerValue.toFixed(0)} µs per value` +
      (isLeader && w.followers ? ` = ${(w.busyUsPerValue / w.followers).toFixed(1)} µs per value per follower` : '');
    printTable(`${name}, ${LABEL[impl]}: top 15 self time during its rounds (${w.values} values; ${w.samples} samples, ${w.sampleIntervalUs.toFixed(0)} µs apart on average, over ${w.wallMs.toFixed(0)} ms; ${w.busySamples} samples = ${w.busyMs.toFixed(1)} ms not idle${perValue}; % of not idle)` +
      (w.insideProfile ? '' : ' [!! a window is not inside the profile: clocks differ?]'),
    ['function', 'where', 'self', '% busy'], w.top.map(x => [x.function, x.where, `${x.selfMs.toFixed(1)} ms`, `${x.pctOfBusy.toFixed(1)} %`]), { leftColumns: 2 });
    printTable(`${name}, ${LABEL[impl]}: self time by file during its rounds`, ['file', 'self', '% busy'],
      w.byFile.map(x => [x.where, `${x.selfMs.toFixed(1)} ms`, `${x.pctOfBusy.toFixed(1)} %`]));
  }
  const wh = s.whole;
  printTable(`${name}: top 15 self time over the whole profile (hitCount × ${s.sampleIntervalUs.toFixed(0)} µs mean interval; ${wh.busyMs.toFixed(0)} ms not idle of ${s.profileMs.toFixed(0)} ms, start-up and priming included)`,
    ['function', 'where', 'self', '% busy'], wh.top.map(x => [x.function, x.where, `${x.selfMs.toFixed(1)} ms`, `${x.pctOfBusy.toFixed(1)} %`]), { leftColumns: 2 });
}

// ------------------------------------------------------------------------------------ main
/** What was measured: the git commit, whether src/ had uncommitted changes, when dist/esm was built. */
function source() {
  const git = args => {
    const r = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : null;
  };
  const changed = git(['status', '--porcelain', '--', 'src']);
  let distBuiltAt = null;
  try {
    distBuiltAt = statSync(join(root, 'dist', 'esm', 'index.js')).mtime.toISOString();
  } catch {}
  return { commit: git(['rev-parse', 'HEAD']), srcUncommittedChanges: changed === null ? null : changed !== '', distBuiltAt };
}

/**
 * Measures every F of `opts.followerCounts` (options() or run()) in one group whose followers are
 * added as F grows, printing each cell's tables as it ends. Resolves with { cells, warnings } (the
 * library's log lines in all members). For --profile, `profiling` gives the leader's execArgv,
 * the i-th of n added followers' (`followerArgv(i, n)`), an array that collects the batch windows,
 * and `beforeStop(group)`, awaited before the group is killed.
 */
async function measureCells(opts, { leaderArgv = [], followerArgv = () => [], batchWindows = null, beforeStop } = {}) {
  const shareUrl = opts.impls.includes('cluster-share') ? snapshotClusterShare() : null;
  console.log(`fanout latency: implementations ${opts.impls.join(', ')}; F = ${opts.followerCounts.join(', ')}; ${opts.rounds} rounds × ${opts.values} values per implementation, ` +
    `${opts.order === 'batched' ? 'in batches of one implementation' : 'interleaved value by value'}` +
    `${opts.warmup ? ` after ${opts.warmup} warm-up values` : ''}; value { seq, t, data: 64 B string }${opts.profile ? '; --profile' : ''}`);
  const cells = [];
  if (opts.altShareUrl) console.log(`also measured: the cluster-share build at ${fileURLToPath(opts.altShareUrl)}, as "${LABEL['cluster-share-alt']}"`);
  const group = await Group.start(opts.impls, shareUrl, opts.altShareUrl, [...leaderArgv, ...(opts.leaderArgs ?? [])]);
  try {
    for (const f of opts.followerCounts) {
      const n = f - group.followers.length;
      process.stdout.write(`\n  F = ${f}: forking ${n} followers ...`);
      const setup = await group.addFollowers(n, i => [...followerArgv(i, n), ...(opts.followerArgs ?? [])]);
      process.stdout.write(` ready in ${(setup.readyMs / 1000).toFixed(1)} s, primed in ${(setup.primedMs / 1000).toFixed(1)} s; measuring\n`);
      if (opts.waitIdleS > 0) await waitIdle(opts.waitIdleS, '  ');
      const cell = await measureCell(group, f, opts, batchWindows);
      cell.setup = setup;
      printCell(cell, opts, setup);
      cells.push(cell);
    }
    const status = await Promise.all([group.leader, ...group.followers].map(m => m.request('status', {}, 10_000).catch(() => ({ logs: { warn: 0, error: 1, samples: ['status failed'] } }))));
    const warn = status.reduce((n, s) => n + s.logs.warn, 0);
    const error = status.reduce((n, s) => n + s.logs.error, 0);
    const samples = status.flatMap(s => s.logs.samples);
    if (warn || error) console.log(`\n!! library log lines in the members: ${warn} warn, ${error} error; e.g. ${samples.slice(0, 3).join(' | ')}`);
    await beforeStop?.(group);
    return { cells, warnings: { warn, error, samples: samples.slice(0, 5) } };
  } finally {
    await group.stop();
  }
}

/** The options a result records. */
const configOf = opts => ({
  followerCounts: opts.followerCounts, rounds: opts.rounds, values: opts.values, warmup: opts.warmup, impls: opts.impls, order: opts.order,
  p50p99: opts.order === 'batched' ? 'median of the per-round values' : 'pooled over all values of all rounds',
  intervalMs: Object.fromEntries(opts.followerCounts.map(f => [f, intervalFor(opts, f)])),
  value: '{ seq, t, data: 64 B ASCII string }', profile: opts.profile,
  compareDist: opts.altShareUrl ? fileURLToPath(opts.altShareUrl) : null,
  leaderArgs: opts.leaderArgs ?? [], followerArgs: opts.followerArgs ?? [],
});

// ------------------------------------------------------------------ a scenario of run.mjs
/** The names of benchmark/run.mjs (lib/harness.mjs IMPLS) and this script's: its bare socket is the floor. */
const OWN_NAME = { 'cluster-share': 'cluster-share', 'cluster-client': 'cluster-client', bare: 'floor' };
const SUITE_NAME = Object.fromEntries(Object.entries(OWN_NAME).map(([suite, own]) => [own, suite]));

/**
 * The scenario of benchmark/run.mjs: `impls` (the suite's names: bare = the floor) at F = 3, 15,
 * 50, 100 with the default rounds, values, warm-up and order (quick: F = 3, 15 and 2 rounds):
 * interleaved, so p50Us/p99Us are pooled over the rounds and there is no CPU table. Prints the
 * same tables as the command line and resolves with { scenario, config, cells: [{ followers,
 * intervalMs, results: { <suite name>: { p50Us, p99Us, maxUs, lost, ... } }, ratios:
 * { clusterShareVsClusterClient, clusterShareVsBare }: { p50, p99 } }], warnings }.
 */
export async function run({ quick = false, impls = SUITE_IMPLS } = {}) {
  const opts = {
    followerCounts: quick ? [3, 15] : DEFAULTS.f, rounds: quick ? 2 : DEFAULTS.rounds, values: DEFAULTS.values, interval: null,
    warmup: DEFAULTS.warmup, impls: IMPLS.filter(i => impls.some(suite => OWN_NAME[suite] === i)), order: DEFAULTS.order, profile: false, waitIdleS: 0, altShareUrl: null,
  };
  console.log('\n== fanout-latency: push → the LAST of F subscribed followers, one value in flight, the implementations interleaved');
  const { cells, warnings } = await measureCells(opts);
  const suiteNames = results => Object.fromEntries(Object.entries(results).map(([impl, r]) => [SUITE_NAME[impl], r]));
  return {
    scenario: 'fanout-latency',
    config: { ...configOf(opts), impls: opts.impls.map(i => SUITE_NAME[i]) },
    cells: cells.map(({ results, ratios, ...cell }) => ({
      ...cell,
      results: suiteNames(results),
      ratios: { clusterShareVsClusterClient: ratios.clusterShareVsClusterClient, clusterShareVsBare: ratios.clusterShareVsFloor },
    })),
    warnings,
  };
}

// ------------------------------------------------------------------------ the command line
async function main() {
  const opts = options();
  const started = Date.now();
  printMachine();
  const measured = source();
  if (measured.commit) console.log(`sources: ${measured.commit.slice(0, 12)}${measured.srcUncommittedChanges ? ' + uncommitted changes in src/' : ''}; dist/esm built ${measured.distBuiltAt}`);

  let profileDir = null;
  let profiling = {};
  let profiled = [];
  if (opts.profile) {
    profileDir = opts.profileDir ?? join(resultsDir, 'fanout-latency-profiles', new Date().toISOString().replace(/[:.]/g, '-'));
    mkdirSync(profileDir, { recursive: true });
    const prof = ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-interval=100'];
    const f = opts.followerCounts[opts.followerCounts.length - 1];
    profiling = {
      leaderArgv: prof,
      followerArgv: (i, n) => (i === n - 1 && f ? prof : []),
      batchWindows: [],
      // The profiled leader and follower exit cleanly, so they write their profiles.
      beforeStop: async group => {
        const last = group.followers[group.followers.length - 1];
        profiled = [{ name: `leader (pid ${group.leader.pid})`, member: group.leader, isLeader: true }, { name: `follower (pid ${last.pid}, the last forked)`, member: last }];
        await Promise.all(profiled.map(p => p.member.request('exit', {}, 10_000)));
        await Promise.all(profiled.map(p => within(p.member.exitedPromise, 30_000, `${p.name} did not exit`)));
      },
    };
  }
  const { batchWindows } = profiling;
  const { cells } = await measureCells(opts, profiling);

  const result = {
    scenario: 'fanout-latency',
    source: measured,
    config: configOf(opts),
    cells: cells.map(c => ({ ...c, results: Object.fromEntries(Object.entries(c.results).map(([k, r]) => [k, { ...r, rounds: r.rounds }])) })),
    durationS: (Date.now() - started) / 1000,
  };

  if (opts.profile) {
    const files = readdirSync(profileDir).filter(n => n.endsWith('.cpuprofile'));
    result.profiles = {};
    console.log(`\nCPU profiles (--cpu-prof-interval=100 µs) in ${relative(root, profileDir) || profileDir}:`);
    for (const p of profiled) {
      const file = files.find(n => n.includes(`.${p.member.pid}.`));
      if (!file) {
        console.log(`  ${p.name}: no .cpuprofile found`);
        continue;
      }
      console.log(`  ${p.name}: ${join(profileDir, file)}`);
      result.profiles[p.name] = summarizeProfile(join(profileDir, file), batchWindows, opts.impls);
      result.profiles[p.name].isLeader = Boolean(p.isLeader);
    }
    for (const [name, s] of Object.entries(result.profiles)) printProfile(name, s, s.isLeader);
    console.log('\nSelf time is sampled wall time of the main thread (a thread waiting for a CPU inside a call counts for that call); ' +
      '"not idle" excludes (idle). CPU time is in the schedstat table above. Latencies in --profile mode are measured with two processes ' +
      'profiling at 100 µs: compare them with a run without it.');
    result.profileWindows = batchWindows;
  }

  console.log(`\nresults written to ${relative(root, writeResult(opts.profile ? 'fanout-latency-profile' : 'fanout-latency', result))} (${result.durationS.toFixed(0)} s)`);
  const compact = {
    scenario: 'fanout-latency', durationS: Math.round(result.durationS), rounds: opts.rounds, values: opts.values, order: opts.order,
    cells: cells.map(c => ({
      followers: c.followers, intervalMs: c.intervalMs, foreignCpuShare: c.foreignCpuShare === null ? null : +c.foreignCpuShare.toFixed(3),
      ...Object.fromEntries(Object.entries(c.results).map(([k, r]) => [k, { p50Us: +r.p50Us.toFixed(1), p99Us: +r.p99Us.toFixed(1), lost: r.lost }])),
      ratios: Object.fromEntries(Object.entries(c.ratios).filter(([, v]) => v).map(([k, v]) => [k, { p50: +v.p50.toFixed(3), p99: +v.p99.toFixed(3) }])),
    })),
  };
  if (result.profiles) {
    compact.profiles = Object.fromEntries(Object.entries(result.profiles).map(([name, s]) => [name, {
      file: s.file,
      ...Object.fromEntries(Object.entries(s.perImpl).map(([impl, w]) => [impl, {
        busyMs: +w.busyMs.toFixed(1), busyUsPerValue: w.busyUsPerValue === null ? null : +w.busyUsPerValue.toFixed(1),
        top: w.top.slice(0, 5).map(x => `${x.function} ${x.pctOfBusy.toFixed(1)}%`),
      }])),
    }]));
  }
  console.log(`RESULT ${JSON.stringify(compact)}`);
}

runIfMain(import.meta.url, main);
