// One member of a takeover benchmark group (see takeover.mjs, which forks it).
//
//   node benchmark/takeover-member.mjs <impl> <port> <cluster-share module URL> '<options json>'
//
// It creates one clustered client of EchoClient with cluster-share or cluster-client 3.7.0 (the
// options json is merged into { name, port, logger }: leaderTimeout for cluster-share), then calls
// `echo` in a paced loop: one call in flight, and PACE_MS after each call settles the next one
// starts. Each success is kept as { startedAt, endedAt }, each failure as { endedAt, code }. The
// parent asks over IPC:
//
//   { cmd: 'mark', id, t0 }  → { type: 'served', id, startedAt, endedAt, failed, codes }
//                              as soon as a call that STARTED at or after t0 has succeeded
//                              (at once if one already has); `failed` counts the calls that
//                              failed between t0 and that success, by code in `codes`.
//
// and it reports unasked: { type: 'ready' } or { type: 'ready-error' }; { type: 'state', at,
// state, role, leaderPid, interim, isLeader } each time what the client says about its role
// changes (checked every millisecond; cluster-share: from stats(); cluster-client 3.x: only
// isLeader); and for cluster-share { type: 'event', name, data, at } for each leaderUnresponsive,
// takeover and takenOver event.
//
// All times are performance.timeOrigin + performance.now(): wall-clock milliseconds with a
// fraction, comparable between the processes of one host.
import { createRequire } from 'node:module';
import { EchoClient, keptLogger, memberChannel, reportReady } from './lib/echo.mjs';

const [impl, portArg, shareUrl, optionsArg] = process.argv.slice(2);
const port = Number(portArg);
const extra = JSON.parse(optionsArg || '{}');
/** Pause between two calls: paced load, about 100 calls per second per member. */
const PACE_MS = 10;

const { now, send } = memberChannel('takeover-member.mjs', 'benchmark/takeover.mjs');

// Library warnings are kept (the last few) for the parent's reports, never printed.
const { logs, logger } = keptLogger(now);
const options = { name: 'TakeoverBench', port, logger, ...extra };

let client;
let stats;
if (impl === 'cluster-client') {
  const clusterClient = createRequire(import.meta.url)('cluster-client');
  client = clusterClient(EchoClient, options).create({});
} else if (impl === 'cluster-share') {
  const share = await import(shareUrl);
  client = share.default(EchoClient, options).create({});
  stats = share.stats;
  for (const name of ['leaderUnresponsive', 'takeover', 'takenOver']) client.on(name, data => send({ type: 'event', pid: process.pid, name, data, at: now() }));
} else {
  console.error(`unknown impl ${impl}`);
  process.exit(1);
}
client.on('error', err => logger.error('client error event:', err));

// ---- successes and failures ----
const okStarted = [];
const okEnded = [];
const failures = []; // { endedAt, code }
/** marks waiting for a success that started at or after their t0 */
const pendingMarks = new Map(); // id -> t0

function answerMark(id, t0, i) {
  pendingMarks.delete(id);
  const startedAt = okStarted[i];
  const endedAt = okEnded[i];
  const failed = failures.filter(f => f.endedAt >= t0 && f.endedAt <= endedAt);
  const codes = {};
  for (const f of failed) codes[f.code] = (codes[f.code] ?? 0) + 1;
  send({ type: 'served', id, pid: process.pid, t0, startedAt, endedAt, failed: failed.length, codes });
}

/** Index of the first success that started at or after t0, or -1. */
function firstSuccessSince(t0) {
  let found = -1;
  for (let i = okStarted.length - 1; i >= 0 && okStarted[i] >= t0; i--) found = i;
  return found;
}

// ---- what the client says about its role ----
let lastKey;
function checkRole() {
  if (!process.connected) process.exit(0);
  const isLeader = client.isClusterClientLeader === true;
  const s = stats ? stats(client) : undefined;
  const state = s ? { state: s.state, role: s.role ?? null, leaderPid: s.leaderPid ?? null, interim: s.interim } : { state: null, role: null, leaderPid: null, interim: false };
  const key = `${isLeader}|${state.state}|${state.role}|${state.leaderPid}|${state.interim}`;
  if (key === lastKey) return;
  lastKey = key;
  send({ type: 'state', pid: process.pid, at: now(), isLeader, ...state });
}
setInterval(checkRole, 1);

process.on('message', message => {
  if (message.cmd === 'mark') {
    const i = firstSuccessSince(message.t0);
    if (i >= 0) answerMark(message.id, message.t0, i);
    else pendingMarks.set(message.id, message.t0);
  } else if (message.cmd === 'logs') {
    send({ id: message.id, logs });
  }
});

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

function codeOf(err) {
  const code = (err && (err.code || err.name)) || 'UNKNOWN';
  const cause = err && err.cause && err.cause.code;
  return cause ? `${code} (cause ${cause})` : code;
}

async function loop() {
  let seq = 0;
  for (;;) {
    const startedAt = now();
    try {
      // cluster-share returns a promise; cluster-client 3.x one too for an async method.
      await client.echo(seq++);
      okStarted.push(startedAt);
      okEnded.push(now());
      if (pendingMarks.size > 0) {
        for (const [id, t0] of pendingMarks) if (startedAt >= t0) answerMark(id, t0, okStarted.length - 1);
      }
    } catch (err) {
      failures.push({ endedAt: now(), code: codeOf(err) });
    }
    checkRole();
    await sleep(PACE_MS);
  }
}

reportReady(client, impl, { send, now }, codeOf, { check: checkRole, start: loop });
