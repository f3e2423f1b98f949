// OpenTelemetry across the hop: a leader and a follower process, each with the OpenTelemetry SDK
// and instrumentation.mjs loaded. The follower's calls and the leader's work on them come out as
// ONE trace: every SERVER span of the leader is the child of a CLIENT span of the follower.
//
//   npm install && node example.mjs [--spans FILE]
//
// Prints the spans as a tree, then `RESULT {json}` (ok, pids, counts, the spans file). Exits 0,
// or prints `✘ what went wrong` and exits 1. Every wait is bounded.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const here = path.dirname(new URL(import.meta.url).pathname);
const { values } = parseArgs({ options: { spans: { type: 'string' } } });
const spansFile = values.spans ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-share-otel-')), 'spans.jsonl');
fs.writeFileSync(spansFile, '');

const children = [];
function fail(why) {
  console.log(`✘ ${why}`);
  console.log(`RESULT ${JSON.stringify({ ok: false, error: why, spansFile })}`);
  for (const child of children) child.kill('SIGKILL');
  process.exit(1);
}
const deadline = setTimeout(() => fail('not done within 60 s'), 60_000);

async function freePort() {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  return port;
}

/** Forks `script`; resolves with its first IPC message, rejects if it exits first. */
function start(script, args) {
  const child = fork(path.join(here, script), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  const exited = once(child, 'exit');
  const message = Promise.race([
    once(child, 'message').then(([m]) => m),
    exited.then(([code, signal]) => { throw new Error(`${script} exited (${signal ?? code}) before reporting`); }),
  ]);
  return { child, message, exited };
}

const port = await freePort();
const leader = start('leader.mjs', [String(port), spansFile]);
const led = await leader.message.catch(err => fail(err.message));
if (!led.isLeader) fail('the first process does not lead');
console.log(`leader   pid ${led.pid}: holds the Inventory, listening on 127.0.0.1:${port}`);

const follower = start('follower.mjs', [String(port), spansFile]);
const done = await follower.message.catch(err => fail(err.message));
console.log(`follower pid ${done.pid}: lookup(apple) → ${JSON.stringify(done.lookup)}; reserve(apple, 3) → ${JSON.stringify(done.reserved)}; reserve(pear, 5) → ${done.refused?.code}`);
const [followerCode] = await follower.exited;
leader.child.send('close');
const [leaderCode] = await leader.exited;
clearTimeout(deadline);

// The spans both processes exported.
const spans = fs.readFileSync(spansFile, 'utf8').split('\n').filter(Boolean).map(line => JSON.parse(line));
const byId = new Map(spans.map(s => [s.spanId, s]));
const children_ = new Map();
for (const s of spans) {
  const list = children_.get(s.parentSpanId) ?? [];
  list.push(s);
  children_.set(s.parentSpanId, list);
}
const roots = spans.filter(s => !byId.has(s.parentSpanId));
console.log(`\n${spans.length} spans exported to ${spansFile}:`);
function print(span, depth) {
  const who = span.pid === led.pid ? 'leader' : span.pid === done.pid ? 'follower' : `pid ${span.pid}`;
  const error = span.status.code === 2 ? `  ERROR ${span.status.message}` : '';
  console.log(`  ${'  '.repeat(depth)}${span.name.padEnd(28 - 2 * depth)} ${span.kind.padEnd(8)} ${who.padEnd(8)} trace ${span.traceId.slice(0, 8)}… span ${span.spanId.slice(0, 8)}…${error}`);
  for (const child of (children_.get(span.spanId) ?? []).sort((a, b) => a.startMs - b.startMs)) print(child, depth + 1);
}
for (const root of roots) print(root, 0);

const clientSpans = spans.filter(s => s.kind === 'CLIENT');
const serverSpans = spans.filter(s => s.kind === 'SERVER');
const traceIds = [...new Set(spans.map(s => s.traceId))];
const parented = serverSpans.filter(s => byId.get(s.parentSpanId)?.kind === 'CLIENT' && byId.get(s.parentSpanId).pid === done.pid && s.pid === led.pid);
const result = {
  ok: followerCode === 0 && leaderCode === 0 && traceIds.length === 1 && traceIds[0] === done.traceId
    && clientSpans.length === 3 && serverSpans.length === 3 && parented.length === 3,
  leaderPid: led.pid,
  followerPid: done.pid,
  port,
  spans: spans.length,
  clientSpans: clientSpans.length,
  serverSpans: serverSpans.length,
  traceIds: traceIds.length,
  serverSpansParentedByFollowerClientSpans: parented.length,
  exitCodes: [leaderCode, followerCode],
  spansFile,
};
if (result.ok) console.log(`\n✔ one trace across 2 processes: each of the leader's ${serverSpans.length} SERVER spans is a child of a CLIENT span of the follower`);
else console.log('\n✘ the spans do not form one trace across the two processes (see above)');
console.log(`RESULT ${JSON.stringify(result)}`);
process.exit(result.ok ? 0 : 1);
