// One member of a failover benchmark group (see failover.mjs, which forks it).
//
//   node benchmark/failover-member.mjs <impl> <port> <cluster-share module URL>
//
// It creates one clustered client of EchoClient with cluster-share or cluster-client 3.7.0,
// then calls `echo` in a loop, one call in flight at a time, for as long as it lives. Each
// success is kept in a ring buffer as { startedAt, endedAt }; each failure as { endedAt, code }
// (then a 5 ms pause). The parent asks over IPC:
//
//   { cmd: 'mark', id, t0 }  → { type: 'served', id, startedAt, endedAt, failed, codes, ... }
//                              as soon as a call that STARTED at or after t0 has succeeded
//                              (at once if one already has). `failed` counts the calls that
//                              failed between t0 and that success.
//   { cmd: 'status', id }    → { type: 'status', id, isLeader, state, ok, failed, ... }
//
// and it reports unasked: { type: 'ready' }, { type: 'ready-error' }, and { type: 'leader', at }
// the moment isClusterClientLeader turns true (polled every millisecond and after every call).
//
// All times are performance.timeOrigin + performance.now(): wall-clock milliseconds with a
// fraction, comparable between the processes of one host.
import { createRequire } from 'node:module';
import { EchoClient, keptLogger, memberChannel, reportReady } from './lib/echo.mjs';

const [impl, portArg, shareUrl] = process.argv.slice(2);
const port = Number(portArg);

const { now, send } = memberChannel('failover-member.mjs', 'benchmark/failover.mjs');

// Library warnings are kept (the last few) for the parent's reports, never printed.
const { logs, logger } = keptLogger(now);
const options = { name: 'FailoverBench', port, logger };

let client;
if (impl === 'cluster-client') {
  const clusterClient = createRequire(import.meta.url)('cluster-client');
  client = clusterClient(EchoClient, options).create({});
} else if (impl === 'cluster-share') {
  const { default: cluster } = await import(shareUrl);
  client = cluster(EchoClient, options).create({});
} else {
  console.error(`unknown impl ${impl}`);
  process.exit(1);
}
client.on('error', err => logger.error('client error event:', err));

// ---- successes: a ring buffer of { startedAt, endedAt }, newest at (okCount - 1) % RING ----
const RING = 1 << 16;
const okStarted = new Float64Array(RING);
const okEnded = new Float64Array(RING);
let okCount = 0;
// ---- failures since the oldest mark still of interest ----
let failures = []; // { endedAt, code }
let failedTotal = 0;

/** marks waiting for a success that started at or after their t0 */
const pendingMarks = new Map(); // id -> t0

function codeOf(err) {
  return (err && (err.code || err.name)) || 'UNKNOWN';
}

/** The first success with startedAt >= t0 still in the ring, or undefined. */
function firstSuccessSince(t0) {
  let found;
  const oldest = Math.max(0, okCount - RING);
  for (let i = okCount - 1; i >= oldest; i--) {
    const slot = i % RING;
    if (okStarted[slot] < t0) break;
    found = { startedAt: okStarted[slot], endedAt: okEnded[slot], wrapped: i === oldest && okCount > RING };
  }
  return found;
}

function answerMark(id, t0, success) {
  pendingMarks.delete(id);
  const failed = failures.filter(f => f.endedAt >= t0 && f.endedAt <= success.endedAt);
  const codes = {};
  for (const f of failed) codes[f.code] = (codes[f.code] ?? 0) + 1;
  send({ type: 'served', id, pid: process.pid, t0, ...success, failed: failed.length, codes, isLeader: client.isClusterClientLeader === true });
  // Keep only the failures a later mark can still ask about.
  const keepFrom = Math.min(now(), ...pendingMarks.values());
  failures = failures.filter(f => f.endedAt >= keepFrom);
}

function onSuccess(startedAt, endedAt) {
  const slot = okCount % RING;
  okStarted[slot] = startedAt;
  okEnded[slot] = endedAt;
  okCount++;
  if (pendingMarks.size > 0) {
    for (const [id, t0] of pendingMarks) {
      if (startedAt >= t0) answerMark(id, t0, { startedAt, endedAt, wrapped: false });
    }
  }
}

// ---- leadership (and, for cluster-share, the client state) as seen from here ----
let wasLeader = false;
let lastState;
const stateChanges = []; // { at, state }
function checkRole() {
  if (!process.connected) process.exit(0);
  const isLeader = client.isClusterClientLeader === true;
  if (isLeader && !wasLeader) send({ type: 'leader', pid: process.pid, at: now() });
  wasLeader = isLeader;
  const state = client.state; // cluster-share only; undefined for cluster-client 3.x
  if (state !== lastState) {
    lastState = state;
    stateChanges.push({ at: now(), state });
    if (stateChanges.length > 50) stateChanges.shift();
  }
}
setInterval(checkRole, 1);

process.on('message', message => {
  if (message.cmd === 'mark') {
    const success = firstSuccessSince(message.t0);
    if (success) answerMark(message.id, message.t0, success);
    else pendingMarks.set(message.id, message.t0);
  } else if (message.cmd === 'status') {
    const t0 = message.t0 ?? 0;
    const failedSince = failures.filter(f => f.endedAt >= t0);
    const codes = {};
    for (const f of failedSince) codes[f.code] = (codes[f.code] ?? 0) + 1;
    send({
      type: 'status', id: message.id, pid: process.pid, isLeader: client.isClusterClientLeader === true,
      state: client.state, ok: okCount, failedTotal, failedSince: failedSince.length, codes,
      lastOkAt: okCount ? okEnded[(okCount - 1) % RING] : null, inFlightSince: inFlightSince,
      stateChanges: stateChanges.filter(s => s.at >= t0), logs: logs.filter(l => l.at >= t0),
    });
  }
});

let inFlightSince = null;
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
const yieldToEventLoop = () => new Promise(resolve => setImmediate(resolve));

async function loop() {
  let seq = 0;
  for (;;) {
    const startedAt = now();
    inFlightSince = startedAt;
    try {
      // cluster-share returns a promise; cluster-client 3.x one too for an async method.
      await client.echo(seq++);
      const endedAt = now();
      inFlightSince = null;
      onSuccess(startedAt, endedAt);
      checkRole();
      // On the leader the call never leaves the process: let timers and IPC run.
      await yieldToEventLoop();
    } catch (err) {
      inFlightSince = null;
      failures.push({ endedAt: now(), code: codeOf(err) });
      failedTotal++;
      if (failures.length > 100000) failures.splice(0, failures.length - 100000);
      checkRole();
      await sleep(5);
    }
  }
}

reportReady(client, impl, { send, now }, codeOf, { check: checkRole, start: loop });
