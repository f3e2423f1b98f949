// The demo: 4 worker processes use one ConfigClient each, yet the config server sees ONE
// TCP connection, and a change it pushes reaches all 4. Run with `npm run example`.
//
// 1. start the config server (in this process) and pick a free port for cluster-share
// 2. fork 4 workers; they compete for that port: one leads, three follow
// 3. check: exactly one leader, one upstream connection, the same getConfig() everywhere
// 4. change a value on the server; wait until every worker received the push
// 5. close the workers (followers first, then the leader) and exit 0; any failure exits 1
import { fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startConfigServer } from './config-server.mjs';

const WORKERS = 4;
const KEY = 'app.json';
const INITIAL = { feature: false };
const CHANGED = { feature: true };
const READY_TIMEOUT = 20_000;
const CHANGE_TIMEOUT = 10_000;
const EXIT_TIMEOUT = 10_000;

const show = value => JSON.stringify(value);
const workerFile = fileURLToPath(new URL('./worker.mjs', import.meta.url));

/** Forked workers: { child, pid, ready, received: [values], exit }. */
const workers = [];
const updates = new EventEmitter();
let shuttingDown = false;

function fail(message) {
  console.error(`✘ ${message}`);
  for (const w of workers) if (w.exit === undefined) w.child.kill('SIGKILL');
  process.exit(1);
}

/** Resolves once `done()` is true, re-checked on every worker message or exit. */
function waitUntil(done, timeout, onTimeout) {
  return new Promise(resolve => {
    const check = () => {
      if (!done()) return;
      clearTimeout(timer);
      updates.off('update', check);
      resolve();
    };
    const timer = setTimeout(() => fail(onTimeout()), timeout);
    updates.on('update', check);
    check();
  });
}

/** A free loopback port: listen on port 0, read the port, close. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function forkWorker(env) {
  const child = fork(workerFile, [], { env: { ...process.env, ...env } });
  const w = { child, pid: child.pid, ready: undefined, received: [], exit: undefined };
  child.on('message', msg => {
    if (msg.type === 'ready') w.ready = msg;
    else if (msg.type === 'change') {
      w.received.push(msg.value);
      if (isDeepStrictEqual(msg.value, CHANGED)) console.log(`  worker ${w.pid} received ${show(msg.value)}`);
    } else if (msg.type === 'error') fail(`worker ${w.pid} failed: ${msg.message}`);
    updates.emit('update');
  });
  child.on('exit', (code, signal) => {
    w.exit = { code, signal };
    if (!shuttingDown) fail(`worker ${w.pid} exited unexpectedly (code ${code}, signal ${signal})`);
    updates.emit('update');
  });
  workers.push(w);
  return w;
}

async function closeWorkers(group) {
  for (const w of group) w.child.send({ cmd: 'close' });
  await waitUntil(
    () => group.every(w => w.exit !== undefined),
    EXIT_TIMEOUT,
    () => `workers did not exit within ${EXIT_TIMEOUT / 1000} s after close: ${group.filter(w => w.exit === undefined).map(w => w.pid).join(', ')}`,
  );
  const bad = group.filter(w => w.exit.code !== 0);
  if (bad.length > 0) fail(`workers exited with an error: ${bad.map(w => `${w.pid} (code ${w.exit.code}, signal ${w.exit.signal})`).join(', ')}`);
}

// 1. the upstream service, and the port the workers will compete for
const server = await startConfigServer({ [KEY]: INITIAL });
console.log(`config server listening on ${server.host}:${server.port}`);
const clusterPort = await freePort();
console.log(`forking ${WORKERS} workers; they compete for 127.0.0.1:${clusterPort}`);

// 2. the workers
for (let i = 0; i < WORKERS; i++) {
  forkWorker({ CLUSTER_SHARE_PORT: String(clusterPort), CONFIG_HOST: server.host, CONFIG_PORT: String(server.port) });
}
await waitUntil(
  () => workers.every(w => w.ready),
  READY_TIMEOUT,
  () => `not every worker became ready within ${READY_TIMEOUT / 1000} s: ${workers.filter(w => !w.ready).map(w => w.pid).join(', ')}`,
);

// 3. one leader, one upstream connection, one value
const leaders = workers.filter(w => w.ready.leader);
const followers = workers.filter(w => !w.ready.leader);
if (leaders.length !== 1) fail(`expected exactly 1 leader, got ${leaders.length}`);
console.log(`worker ${leaders[0].pid} ready: LEADER (holds the only upstream connection)`);
for (const w of followers) console.log(`worker ${w.pid} ready: follower`);

const { accepted, open } = server.stats();
console.log(`upstream connections seen by the config server: ${accepted} (${WORKERS} processes)`);
if (accepted !== 1 || open !== 1) fail(`expected 1 upstream connection, the config server accepted ${accepted} (${open} open)`);

const differing = workers.filter(w => !isDeepStrictEqual(w.ready.value, INITIAL));
if (differing.length > 0) fail(`getConfig('${KEY}') returned ${show(differing[0].ready.value)} in worker ${differing[0].pid}, expected ${show(INITIAL)}`);
console.log(`getConfig('${KEY}') from every worker → ${show(INITIAL)}`);

// 4. a change on the server reaches every process through the one connection
const told = server.set(KEY, CHANGED);
console.log(`config server pushes ${KEY} = ${show(CHANGED)} (to ${told} connection)`);
await waitUntil(
  () => workers.every(w => w.received.some(v => isDeepStrictEqual(v, CHANGED))),
  CHANGE_TIMEOUT,
  () => `within ${CHANGE_TIMEOUT / 1000} s these workers did not receive the change: ${workers.filter(w => !w.received.some(v => isDeepStrictEqual(v, CHANGED))).map(w => w.pid).join(', ')}`,
);

// 5. graceful shutdown: followers first, so the leader's exit does not start an election
shuttingDown = true;
await closeWorkers(followers);
await closeWorkers(leaders);
console.log(`all ${WORKERS} workers closed and exited with code 0`);
await server.close();
console.log(`✔ ${WORKERS} processes shared 1 upstream connection; every process received the change`);
// Nothing is left open: the process exits by itself. Guard against a leaked handle anyway.
setTimeout(() => fail('the demo did not exit by itself (a handle was left open)'), 5_000).unref();
