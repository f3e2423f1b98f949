/**
 * Every example in example/ runs as a person runs it: `node example/<file>` in a fresh process,
 * on the built package (dist/, as `import 'cluster-share'` resolves it). Each must exit 0 and end
 * with a `RESULT {json}` line saying what it proved; the assertions below check that line, and
 * that the human-readable lines name the same leader.
 *
 * The examples pick free ports themselves and bound every wait, so they can run beside the rest
 * of the suite; a run that hangs anyway is killed after RUN_TIMEOUT.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const RUN_TIMEOUT = 90_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The parsed RESULT line (the last one). */
  result: unknown;
}

/** Runs `node example/<file>`; resolves when it has exited (killed after RUN_TIMEOUT). */
async function runExample(file: string): Promise<Run> {
  const child = spawn(process.execPath, [`example/${file}`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  const line = stdout.split('\n').filter(l => l.startsWith('RESULT ')).at(-1);
  const result: unknown = line === undefined ? undefined : JSON.parse(line.slice('RESULT '.length));
  return { code, signal, stdout, stderr, result };
}

/** Asserts a clean run (exit code 0, `ok: true`) and returns its RESULT as `T`. */
function succeeded<T>(run: Run): T {
  const output = `\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;
  assert.equal(run.signal, null, `killed by ${run.signal} (no exit within ${RUN_TIMEOUT / 1000} s?)${output}`);
  assert.equal(run.code, 0, `exit code${output}`);
  assert.ok(run.result !== undefined, `no RESULT line${output}`);
  assert.equal((run.result as { ok: unknown }).ok, true, `RESULT not ok${output}`);
  assert.match(run.stdout, /^✔ /m, 'the human-readable verdict');
  assert.equal(run.stderr, '', 'nothing on stderr (no warnings, no errors)');
  return run.result as T;
}

/** The RESULT of the config-watching examples (example/config-checks.mjs summarize()). */
interface ConfigResult {
  example: string;
  members: number;
  leaders: number;
  leader: { name: string; pid: number; threadId: number };
  pids: number;
  upstreamConnections: number;
  pushedTo: number;
  readInitial: number;
  sawChange: number;
  exitCodes: Array<number | null>;
}

/** One leader, one upstream connection, every member read the value and received the change, all exited 0. */
function assertSharedOneConnection(run: Run, r: ConfigResult, example: string, members: number): void {
  assert.equal(r.example, example);
  assert.equal(r.members, members, 'members started');
  assert.equal(r.leaders, 1, 'exactly one leader');
  assert.equal(r.upstreamConnections, 1, 'the config server accepted exactly one connection');
  assert.equal(r.pushedTo, 1, 'the change was pushed on one connection');
  assert.equal(r.readInitial, members, 'every member read the initial value through the cluster');
  assert.equal(r.sawChange, members, 'every member received the change');
  assert.deepEqual(r.exitCodes, Array.from({ length: members }, () => 0), 'every member exited with code 0');
  assert.ok(run.stdout.includes(`${r.leader.name} ready: LEADER`), 'the printed leader is the one in RESULT');
  assert.equal(run.stdout.split('\n').filter(l => / ready: LEADER/.test(l)).length, 1, 'one LEADER line');
  assert.equal(run.stdout.split('\n').filter(l => / ready: follower$/.test(l)).length, members - 1, 'a follower line for each other member');
}

test('child_process (npm run example): 4 forked processes share one config-server connection', { timeout: 120_000 }, async () => {
  const run = await runExample('run.mjs');
  const r = succeeded<ConfigResult>(run);
  assertSharedOneConnection(run, r, 'child-process', 4);
  assert.equal(r.pids, 4, 'four processes');
});

test('node:cluster: 4 cluster workers share one config-server connection', { timeout: 120_000 }, async () => {
  const run = await runExample('node-cluster.mjs');
  const r = succeeded<ConfigResult>(run);
  assertSharedOneConnection(run, r, 'node-cluster', 4);
  assert.equal(r.pids, 4, 'four processes');
  assert.match(r.leader.name, /^worker #\d+ \(pid \d+\)$/, 'a cluster worker leads');
});

test('worker_threads: 4 threads of one process share one config-server connection', { timeout: 120_000 }, async () => {
  const run = await runExample('worker-threads.mjs');
  const r = succeeded<ConfigResult & { threadIds: number }>(run);
  assertSharedOneConnection(run, r, 'worker-threads', 4);
  assert.equal(r.pids, 1, 'every thread reported the same process.pid');
  assert.equal(r.threadIds, 4, 'four distinct threadIds');
  assert.ok(r.leader.threadId > 0, 'a worker thread (not the main thread) leads');
});

test('egg-style: the agent (isLeader: true) leads; 4 app workers (isLeader: false) started first follow it', { timeout: 120_000 }, async () => {
  const run = await runExample('egg-style.mjs');
  const r = succeeded<ConfigResult & { agentIsLeader: boolean; appWorkersFollowing: number; appWorkersReadyBeforeAgent: number }>(run);
  assertSharedOneConnection(run, r, 'egg-style', 5);
  assert.equal(r.agentIsLeader, true, 'the agent leads');
  assert.match(r.leader.name, /^agent \d+$/);
  assert.equal(r.appWorkersFollowing, 4, 'every app worker follows');
  assert.equal(r.appWorkersReadyBeforeAgent, 0, 'no app worker was ready before the agent was forked');
});

interface StoreResult {
  example: string;
  members: number;
  leaders: number;
  holders: number;
  constructed: number;
  crossProcessRead: boolean;
  notifiedSet: number;
  incr: { expected: number; total: number; results: number; distinct: number; exact: boolean; everyWorkerReadTotal: boolean };
  deleted: boolean;
  notifiedDelete: number;
  exitCodes: Array<number | null>;
}

test('shared store: one Map for 4 processes; a value set in one is read in another; 1000 concurrent incr add up to 1000', { timeout: 120_000 }, async () => {
  const run = await runExample('shared-store.mjs');
  const r = succeeded<StoreResult>(run);
  assert.equal(r.example, 'shared-store');
  assert.equal(r.members, 4);
  assert.equal(r.leaders, 1, 'exactly one leader');
  assert.equal(r.holders, 1, "every process's store.where() names the same process");
  assert.equal(r.constructed, 1, 'MemoryStore was constructed once, in all the processes together');
  assert.equal(r.crossProcessRead, true, 'a value set in one process was read in another');
  assert.equal(r.notifiedSet, 4, 'every subscriber was told of the set');
  assert.deepEqual(r.incr, { expected: 1000, total: 1000, results: 1000, distinct: 1000, exact: true, everyWorkerReadTotal: true }, 'no lost or repeated increment');
  assert.equal(r.deleted, true, 'a delete in one process is seen in another');
  assert.equal(r.notifiedDelete, 4, 'every subscriber was told of the delete');
  assert.deepEqual(r.exitCodes, [0, 0, 0, 0]);
});
