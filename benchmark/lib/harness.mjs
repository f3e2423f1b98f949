// The parent side of the benchmarks (invoke, oneway, fanout, startup, memory, upstream, run, and
// failover for its process bookkeeping): the cluster-share snapshot, forking and killing member
// processes, groups of 1 leader + F followers, statistics and aligned tables.
import { fork, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseOrExit } from './cli.mjs';
import { Histogram } from './histogram.mjs';

export { Histogram };
const here = dirname(fileURLToPath(import.meta.url));
export const benchDir = join(here, '..');
export const root = join(benchDir, '..');
export const resultsDir = join(benchDir, 'results');
const memberScript = join(here, 'member.mjs');
const configServerScript = join(here, 'config-server.mjs');

/** The three implementations measured side by side, in the order they are printed. */
export const IMPLS = ['cluster-share', 'cluster-client', 'bare'];
export const IMPL_LABEL = { 'cluster-share': 'cluster-share', 'cluster-client': 'cluster-client 3.7', bare: 'bare socket', direct: 'own client each' };

export const nowUs = () => Number(process.hrtime.bigint()) / 1000;
export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

// ------------------------------------------------------------------------------- options
/**
 * Parses the options every script shares (--quick, --impl) plus `extra` (parseArgs options).
 * Exits with the usage on a bad option or --help.
 */
export function parseOptions(usage, extra = {}) {
  const values = parseOrExit({ quick: { type: 'boolean', default: false }, impl: { type: 'string', default: IMPLS.join(',') }, ...extra }, usage);
  const impls = values.impl.split(',').map(s => s.trim()).filter(Boolean);
  for (const impl of impls) {
    if (!IMPLS.includes(impl)) {
      console.error(`--impl: unknown implementation ${impl} (known: ${IMPLS.join(', ')})\n${usage}`);
      process.exit(2);
    }
  }
  values.impls = IMPLS.filter(i => impls.includes(i));
  return values;
}

export const COMMON_USAGE = `  --quick          a short run (shorter windows, fewer repetitions)
  --impl LIST      comma-separated subset of ${IMPLS.join(',')} (default: all three)
  -h, --help       this text`;

// ------------------------------------------------------------------------ child bookkeeping
const children = new Set();
let snapshotDir;
let snapshotUrl;

export function cleanup() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
  children.clear();
  if (snapshotDir) {
    rmSync(snapshotDir, { recursive: true, force: true });
    snapshotDir = undefined;
    snapshotUrl = undefined;
  }
}
process.on('exit', cleanup);

/** Forks `script` with an IPC channel (JSON serialization); cleanup() kills it while it runs. */
export function forkChild(script, args = []) {
  const child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`\n${signal}: killing ${children.size} benchmark process(es)`);
    cleanup();
    process.exit(130);
  });
}

/**
 * cluster-share is loaded by the members from a private copy of dist/esm taken once per run:
 * `npm run build` deletes dist/ first, and a member forked during a rebuild would fail to import
 * it (or would measure a different build than its group). The copy resolves its dependencies
 * through a node_modules symlink. Copies left by a run that was SIGKILLed are removed.
 */
export function snapshotClusterShare() {
  if (snapshotUrl) return snapshotUrl;
  const dist = join(root, 'dist', 'esm');
  if (!existsSync(join(dist, 'index.js'))) {
    console.error('dist/esm/index.js is missing: run `npm run build` first (or use the npm run bench:* scripts)');
    process.exit(1);
  }
  // (cluster-share-failover-*: the copies failover.mjs took before it used this harness.)
  for (const name of readdirSync(os.tmpdir())) {
    const pid = Number(/^cluster-share-(?:bench|failover)-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if (err.code === 'ESRCH') rmSync(join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
  // A rebuild running at the same moment (someone else working in this checkout) can leave
  // dist/ half-written: the copy must load, else it is taken again a little later.
  const deadline = Date.now() + 120_000;
  for (let attempt = 1; ; attempt++) {
    snapshotDir = mkdtempSync(join(os.tmpdir(), `cluster-share-bench-${process.pid}-`));
    let problem = null;
    try {
      cpSync(dist, join(snapshotDir, 'dist', 'esm'), { recursive: true });
      symlinkSync(join(root, 'node_modules'), join(snapshotDir, 'node_modules'), 'dir');
      snapshotUrl = pathToFileURL(join(snapshotDir, 'dist', 'esm', 'index.js')).href;
      const check = spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(snapshotUrl)}); if (typeof m.default !== 'function' || typeof m.close !== 'function') process.exit(3);`], { encoding: 'utf8' });
      if (check.status !== 0) problem = (check.stderr || `exit ${check.status}`).trim().split('\n').slice(0, 3).join(' ');
    } catch (err) {
      problem = err.message;
    }
    if (!problem) return snapshotUrl;
    rmSync(snapshotDir, { recursive: true, force: true });
    snapshotDir = snapshotUrl = undefined;
    if (Date.now() > deadline) {
      console.error(`the copy of dist/esm does not load (a broken build?): ${problem}`);
      process.exit(1);
    }
    console.error(`dist/esm is not loadable right now (attempt ${attempt}: ${problem.slice(0, 200)}); retrying in 3 s`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
  }
}

export async function freePort() {
  const [port] = await freePorts(1);
  return port;
}

/**
 * `n` distinct free ports on 127.0.0.1. Every port is held until all are known: a port released
 * and asked for again at once may be handed out twice, and two implementations of one group on
 * the same port would meet (cluster-share then rightly reports the bare floor's server as a
 * program that does not speak its protocol).
 */
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map(server => server.address().port);
  } finally {
    await Promise.all(servers.map(server => new Promise(resolve => server.close(() => resolve()))));
  }
}

/** Settles like `promise`, unless `ms` pass first: then as `onTimeout(resolve, reject)` says. */
function race(promise, ms, onTimeout) {
  let timer;
  return Promise.race([
    promise,
    new Promise((resolve, reject) => { timer = setTimeout(onTimeout, ms, resolve, reject); }),
  ]).finally(() => clearTimeout(timer));
}

/** Resolves with the promise's value, or rejects with `message` after `ms`. */
export function within(promise, ms, message) {
  return race(promise, ms, (_, reject) => reject(new Error(message)));
}

/** Resolves with the promise's value, or with `value` after `ms`. */
export function withinOr(promise, ms, value) {
  return race(promise, ms, resolve => resolve(value));
}

// ------------------------------------------------------------------------------ a member
let nextRequestId = 1;

/**
 * A forked process (forkChild) that reports { type: 'ready', ... } or { type: 'ready-error', code,
 * message } once started, and answers a message { id, ... } with { id, ... } (carrying `error`
 * when it failed). `ready` settles with that report; it and every unanswered call reject when the
 * process exits. Other unasked messages are for the subclass's own 'message' listeners. `label`
 * names the process in errors ("<label> <pid> exited ...").
 */
export class IpcChild {
  constructor(script, args, label) {
    this.label = label;
    this.pending = new Map(); // request id -> { resolve, reject }
    this.exited = false;
    this.forkedAt = nowUs();
    this.child = forkChild(script, args);
    this.pid = this.child.pid;
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', message => {
        if (message.type === 'ready') {
          this.info = message;
          resolve(message);
        } else if (message.type === 'ready-error') {
          reject(new Error(`${label} ${this.pid} failed to start: ${message.code} ${message.message}`));
        } else if (message.id !== undefined) {
          const waiter = this.pending.get(message.id);
          this.pending.delete(message.id);
          if (message.error) waiter?.reject(new Error(`${label} ${this.pid}: ${message.error}`));
          else waiter?.resolve(message);
        }
      });
      this.child.on('exit', (code, signal) => {
        this.exited = true;
        const err = new Error(`${label} ${this.pid} exited (${signal ?? code})`);
        reject(err);
        for (const waiter of this.pending.values()) waiter.reject(err);
        this.pending.clear();
      });
    });
    this.ready.catch(() => {});
  }

  /** Sends `message` with a fresh id; resolves with the answer (no deadline). */
  call(message) {
    if (this.exited) return Promise.reject(new Error(`${this.label} ${this.pid} has exited`));
    const id = nextRequestId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ ...message, id });
    });
  }

  kill() {
    return new Promise(resolve => {
      if (this.exited) return resolve();
      this.child.once('exit', () => resolve());
      this.child.kill('SIGKILL');
    });
  }
}

/** One forked member.mjs process. */
export class Member extends IpcChild {
  /** config: { impl, port, name?, mode?, upstreamPort? } (shareUrl is added). */
  constructor(config) {
    super(memberScript, [JSON.stringify({ ...config, shareUrl: snapshotClusterShare() })], `${config.impl} member`);
    this.config = config;
  }

  request(cmd, args = {}, timeoutMs = 120_000) {
    return within(this.call({ cmd, args }), timeoutMs, `${this.label} ${this.pid}: no answer to ${cmd} within ${timeoutMs} ms`);
  }
}

// ------------------------------------------------------------------------------- a group
const START_DEADLINE = 60_000;

/** 1 leader + F followers of one implementation on a fresh port. Only the followers call. */
export class Group {
  constructor(impl, port, mode, extra) {
    Object.assign(this, { impl, port, mode, extra });
    this.leader = null;
    this.followers = [];
  }

  /** The leader is started first, alone, so it is the leader; then the followers, all at once. */
  static async start(impl, followers, { mode = 'bench', ...extra } = {}) {
    const group = new Group(impl, await freePort(), mode, extra);
    try {
      group.leader = new Member({ impl, port: group.port, mode, ...extra });
      const info = await within(group.leader.ready, START_DEADLINE, `${impl}: the leader was not ready within ${START_DEADLINE} ms`);
      if (!info.isLeader) throw new Error(`${impl}: the first member is not the leader`);
      await group.addFollowers(followers);
    } catch (err) {
      await group.stop();
      throw err;
    }
    return group;
  }

  async addFollowers(n) {
    const added = Array.from({ length: n }, () => new Member({ impl: this.impl, port: this.port, mode: this.mode, ...this.extra }));
    this.followers.push(...added);
    const infos = await within(Promise.all(added.map(m => m.ready)), START_DEADLINE, `${this.impl}: ${n} followers were not ready within ${START_DEADLINE} ms`);
    if (infos.some(i => i.isLeader)) throw new Error(`${this.impl}: a follower claims to lead`);
    return added;
  }

  get members() {
    return [this.leader, ...this.followers].filter(Boolean);
  }

  /** Library warnings/errors logged in the members so far: { warn, error, samples }. */
  async logs() {
    const total = { warn: 0, error: 0, samples: [] };
    for (const m of this.members) {
      const { logs } = await m.request('status', {}, 10_000).catch(() => ({ logs: { warn: 0, error: 0, samples: ['status request failed'] } }));
      total.warn += logs.warn;
      total.error += logs.error;
      for (const s of logs.samples) if (total.samples.length < 5) total.samples.push(s);
    }
    return total;
  }

  async stop() {
    await Promise.all(this.members.map(m => m.kill()));
  }
}

/** The config server fixture (lib/config-server.mjs) in its own process. */
export async function startConfigServer() {
  const child = forkChild(configServerScript);
  const pending = new Map();
  let port;
  await within(new Promise((resolve, reject) => {
    child.on('message', message => {
      if (message.type === 'listening') {
        port = message.port;
        resolve();
      } else {
        pending.get(message.id)?.(message);
        pending.delete(message.id);
      }
    });
    child.once('exit', code => reject(new Error(`config server exited (${code})`)));
  }), 10_000, 'the config server did not start');
  const request = (cmd, args = {}) => {
    const id = nextRequestId++;
    return within(new Promise(resolve => {
      pending.set(id, resolve);
      child.send({ cmd, id, ...args });
    }), 10_000, `config server: no answer to ${cmd}`);
  };
  return {
    port,
    stats: () => request('stats'),
    set: (key, value) => request('set', { key, value }),
    stop: () => new Promise(resolve => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}

// ------------------------------------------------------------------------------ statistics
export function median(values) {
  const sorted = values.filter(v => v !== null && v !== undefined).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return null;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/** Merges per-process results { count, windowUs, hist, errors } into one summary. */
export function mergeRuns(runs) {
  const hist = new Histogram();
  let perSecond = 0;
  const errors = {};
  let bad = 0;
  for (const r of runs) {
    hist.merge(r.hist);
    perSecond += r.count / (r.windowUs / 1e6);
    bad += r.bad ?? 0;
    for (const [code, n] of Object.entries(r.errors ?? {})) errors[code] = (errors[code] ?? 0) + n;
  }
  return {
    perSecond,
    count: hist.n,
    p50Us: hist.percentile(0.5),
    p99Us: hist.percentile(0.99),
    maxUs: hist.n ? hist.max : null,
    errors: Object.values(errors).reduce((a, b) => a + b, 0) + bad,
    errorCodes: bad ? { ...errors, WRONG_ANSWER: bad } : errors,
  };
}

/** a / b, or null when either is missing. */
export function ratio(a, b) {
  return a === null || a === undefined || b === null || b === undefined || !(b > 0) ? null : a / b;
}

// ------------------------------------------------------------------------------ formatting
export const fmtInt = v => (v === null || v === undefined ? '-' : Math.round(v).toLocaleString('en-US'));
export function fmtUs(v) {
  if (v === null || v === undefined) return '-';
  if (v >= 10_000) return `${(v / 1000).toFixed(1)} ms`;
  if (v >= 1000) return `${(v / 1000).toFixed(2)} ms`;
  return `${v.toFixed(0)} µs`;
}
export const fmtMs = v => (v === null || v === undefined ? '-' : `${v.toFixed(v >= 100 ? 0 : 1)} ms`);
export const fmtMB = v => (v === null || v === undefined ? '-' : `${(v / 1048576).toFixed(1)} MB`);
export const fmtRatio = v => (v === null || v === undefined ? '-' : `${v.toFixed(v < 0.1 ? 3 : 2)}×`);
export const fmtBytes = n => (n >= 1024 ? `${n / 1024} KiB` : `${n} B`);

/**
 * Prints an aligned table. `rows` are arrays of cells (strings) or the string '-' for a rule.
 * The first `leftColumns` columns are left-aligned, the others right-aligned.
 */
export function printTable(title, header, rows, { leftColumns = 1, note } = {}) {
  const all = [header, ...rows.filter(r => r !== '-')];
  const widths = header.map((_, i) => Math.max(...all.map(r => String(r[i] ?? '').length)));
  const line = cells => cells.map((c, i) => (i < leftColumns ? String(c ?? '').padEnd(widths[i]) : String(c ?? '').padStart(widths[i]))).join('  ').trimEnd();
  const rule = widths.map(w => '-'.repeat(w)).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(rule);
  for (const r of rows) console.log(r === '-' ? rule : line(r));
  if (note) console.log(note);
}

export function machine() {
  return {
    cpuModel: os.cpus()[0]?.model ?? null,
    cpuCount: os.cpus().length,
    totalMemoryBytes: os.totalmem(),
    totalMemory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    date: new Date().toISOString(),
  };
}

export function printMachine() {
  const m = machine();
  console.log(`node ${m.node}, ${m.cpuModel ?? 'unknown cpu'} × ${m.cpuCount}, ${m.totalMemory}, ${m.platform}`);
}

/**
 * The share of the machine's CPU time that was busy over `ms` (0..1), sampled while none of our
 * members runs: anything above a few % is someone else's load, which disturbs the measurement.
 */
export async function cpuBusy(ms = 500) {
  const total = () => os.cpus().reduce((acc, c) => {
    const t = c.times;
    acc.busy += t.user + t.nice + t.sys + t.irq;
    acc.all += t.user + t.nice + t.sys + t.irq + t.idle;
    return acc;
  }, { busy: 0, all: 0 });
  const a = total();
  await sleep(ms);
  const b = total();
  return b.all > a.all ? (b.busy - a.busy) / (b.all - a.all) : 0;
}

/**
 * Waits until the CPUs are less than 15 % busy over one second, at most `seconds`; says so when
 * it waits, and when it gives up. `indent` goes in front of what it prints.
 */
export async function waitIdle(seconds, indent = '') {
  const deadline = Date.now() + seconds * 1000;
  let said = false;
  for (;;) {
    const busy = await cpuBusy(1000);
    if (busy < 0.15) return;
    if (Date.now() > deadline) {
      console.log(`${indent}(still ${(busy * 100).toFixed(0)} % busy after ${seconds} s: going on)`);
      return;
    }
    if (!said) console.log(`${indent}(the CPUs are ${(busy * 100).toFixed(0)} % busy with other processes: waiting up to ${seconds} s)`);
    said = true;
  }
}

/**
 * CPU accounting on Linux (null elsewhere): busy clock ticks of the whole machine (/proc/stat)
 * and ticks used by this process and its children, live (/proc/<pid>/stat of each of
 * `processes`, by default the ones the harness forked) or already reaped (this process's cutime
 * + cstime). Two snapshots give the share of the machine's CPU time that OTHER processes used in
 * between: `foreignCpuShare(a, b)`.
 */
export function cpuSnapshot(processes = children) {
  try {
    const ticks = stat => {
      // fields after the ")" of the command: state is [0]; utime, stime, cutime, cstime are [11..14]
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return { own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
    };
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = cpu;
    const self = ticks(readFileSync('/proc/self/stat', 'utf8'));
    let ours = self.own + self.reaped;
    for (const child of processes) {
      try {
        ours += ticks(readFileSync(`/proc/${child.pid}/stat`, 'utf8')).own;
      } catch {} // exited meanwhile: counted in cutime once reaped
    }
    return { busy: user + nice + system + irq + softirq + steal, total: user + nice + system + idle + iowait + irq + softirq + steal, ours };
  } catch {
    return null;
  }
}

/** The share (0..1) of all CPU time between two cpuSnapshot()s used by other processes. */
export function foreignCpuShare(a, b) {
  if (!a || !b || b.total <= a.total) return null;
  return Math.max(0, (b.busy - a.busy - (b.ours - a.ours)) / (b.total - a.total));
}

/** Writes benchmark/results/<name>.json. */
export function writeResult(name, data) {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ machine: machine(), ...data }, roundNumbers, 2) + '\n');
  return file;
}

/** JSON replacer: floats to 2 decimals. */
export function roundNumbers(key, value) {
  return typeof value === 'number' && !Number.isInteger(value) ? +value.toFixed(2) : value;
}

/** Runs `main` when the module is the entry script; cleans up and exits either way. */
export function runIfMain(metaUrl, main) {
  if (!process.argv[1] || resolve(process.argv[1]) !== fileURLToPath(metaUrl)) return;
  main().then(
    () => {
      cleanup();
      process.exit(0);
    },
    err => {
      console.error(`\nbenchmark failed: ${err.stack ?? err}`);
      cleanup();
      process.exit(1);
    },
  );
}
