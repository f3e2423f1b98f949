// One process of benchmark/fanout-latency.mjs: the leader or one follower, hosting one client
// per implementation measured (each on its own port, so the implementations never meet).
//
//   node benchmark/fanout-latency-member.mjs '<json config>'     (forked by fanout-latency.mjs)
//
// config: { role: 'leader' | 'follower', impls, ports: { impl: port }, shareUrl, altShareUrl }
//   floor           a plain net server in the leader; every follower connects and sends one
//                   subscribe frame; a value is one length-prefixed JSON frame { key, value },
//                   stringified once and written with one socket.write per follower (Nagle off).
//   floor-ack       the same, and the follower answers every frame with a small ack frame
//                   { ack: seq }, which the leader reads and JSON.parses (the 3.x protocol's
//                   subscribe_result_res, reduced to its minimum).
//   cluster-share   cluster(BenchClient) from the snapshot of dist/esm (shareUrl).
//   cluster-share-alt  the same from another build (altShareUrl: --compare-dist), side by side.
//   cluster-client  cluster(BenchClient) from require('cluster-client') (3.7.0).
// In the leader, every implementation's DataClient is a BenchClient (lib/data-clients.mjs) and the
// harness pushes { seq, t, data: 64 B } through its push(key, value); t is the push instant.
//
// Clock: process.hrtime (CLOCK_MONOTONIC), the same clock in every process of the host, in µs.
// During a measurement there is no IPC at all: a follower keeps its receive times in memory and
// sends them when asked, after the rounds.
//
// Protocol with the parent (IPC, JSON): the member sends { type: 'ready', ... } once every client
// is ready and (followers) subscribed, { type: 'primed', impl } the first time a priming value of
// an implementation arrives, and answers { id, cmd, args } with { id, ... }.
import { createRequire } from 'node:module';
import net from 'node:net';
import { frame, readFrames } from './lib/bare.mjs';
import { serveCommands } from './lib/commands.mjs';
import { BenchClient } from './lib/data-clients.mjs';
import { text } from './lib/values.mjs';

const nowUs = () => Number(process.hrtime.bigint()) / 1000;
const config = JSON.parse(process.argv[2]);
const { role, impls, ports, shareUrl, altShareUrl } = config;
const KEY = 'fanout-latency';
const NAME = 'FanoutLatency';

if (!process.send) {
  console.error('fanout-latency-member.mjs is forked by benchmark/fanout-latency.mjs; it needs an IPC channel');
  process.exit(1);
}
process.on('disconnect', () => process.exit(0));
const send = message => {
  if (process.connected) process.send(message);
};

// Library warnings/errors are counted (the first few kept), not printed.
const logs = { warn: 0, error: 0, samples: [] };
const log = level => (...args) => {
  logs[level]++;
  if (logs.samples.length < 5) logs.samples.push(`${level}: ${args.map(a => (a instanceof Error ? `${a.name}: ${a.message}` : String(a))).join(' ').slice(0, 200)}`);
};
const logger = { info() {}, debug() {}, warn: log('warn'), error: log('error') };

/** The DataClient of the libraries: a BenchClient that remembers its instance per implementation. */
const dataClients = {}; // impl -> BenchClient (leader only)
class FanoutClient extends BenchClient {
  constructor(options = {}) {
    super(options);
    dataClients[options.impl] = this;
  }
}

// ------------------------------------------------------------------------------- the floor
// frame() and readFrames(): the bare floor's framing, shared with benchmark/lib/bare.mjs.

const floorStats = { acks: 0 };

/** Leader side of the floor: a net server on `port`; the DataClient's listener writes the frames. */
async function floorLeader(impl, port) {
  const subscribers = new Set();
  const server = net.createServer(socket => {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => subscribers.delete(socket));
    readFrames(socket, message => {
      if (message.subscribe !== undefined) subscribers.add(socket);
      else if (message.ack !== undefined) floorStats.acks++;
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, resolve);
  });
  const real = new BenchClient({ impl });
  dataClients[impl] = real;
  real.subscribe({ key: KEY }, value => {
    const buf = frame({ key: KEY, value }); // stringified once, the same bytes to every follower
    for (const socket of subscribers) socket.write(buf);
  });
  return { server, isLeader: true };
}

/** Follower side of the floor: connects, subscribes, calls listener(value) per frame (acking if asked). */
async function floorFollower(port, ack, listener) {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  await new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', resolve);
  });
  socket.on('error', () => {});
  readFrames(socket, message => {
    if (message.key !== KEY) return;
    listener(message.value);
    if (ack) socket.write(frame({ ack: message.value.seq }));
  });
  socket.write(frame({ subscribe: KEY }));
  return { socket, isLeader: false };
}

// ------------------------------------------------------------------------------ the libraries
async function libraryClient(impl, port) {
  const cluster = impl === 'cluster-client' ? createRequire(import.meta.url)('cluster-client')
    : (await import(impl === 'cluster-share-alt' ? altShareUrl : shareUrl)).default;
  const client = cluster(FanoutClient, { name: NAME, port, logger }).delegate('echo').create({ impl });
  client.on('error', err => log('error')('client error event:', err));
  await client.ready();
  await client.echo(''); // the first call answered: the client is really connected
  const isLeader = client.isClusterClientLeader === true || client.isLeader === true;
  return { client, isLeader };
}

// ---------------------------------------------------------------------------- follower side
/** impl -> { seqs: number[], times: number[] }: the values received (priming ones are not kept) */
const received = {};
const primed = new Set();

/** The follower's listener for `impl`: records (seq, receive instant), the first thing it does. */
function listenerFor(impl) {
  received[impl] = { seqs: [], times: [] };
  return value => {
    const at = nowUs();
    if (value.prime) {
      if (!primed.has(impl)) {
        primed.add(impl);
        send({ type: 'primed', impl });
      }
      return;
    }
    const rec = received[impl];
    rec.seqs.push(value.seq);
    rec.times.push(at);
  };
}

// ------------------------------------------------------------------------------ leader side
const pad = text(64);
let seq = 0;
let primeTimer = null;

function pushTo(impl, extra) {
  const value = { seq: seq++, t: 0, data: pad, ...extra };
  value.t = nowUs();
  dataClients[impl].push(KEY, value);
  return value;
}

/**
 * Pushes `count` values through the DataClient of every implementation in `order`, alternately
 * (the k-th push through order[k % order.length]; a batch of one implementation is an order of
 * one), one every `intervalMs` (from a timer), so one value is in flight at a time. The seq
 * numbers are unique over all implementations.
 */
function run({ order, count, intervalMs }) {
  return new Promise(resolve => {
    const pushes = []; // [seq, t, seq, t, ...], in push order
    const firstSeq = seq;
    const start = nowUs() + 5000;
    const total = count * order.length;
    let i = 0;
    const next = () => {
      if (i === total) {
        resolve({ firstSeq, pushes });
        return;
      }
      const due = start + i * intervalMs * 1000;
      const ms = (due - nowUs()) / 1000;
      if (ms > 0.5) {
        setTimeout(next, Math.max(1, Math.floor(ms)));
        return;
      }
      const v = pushTo(order[i % order.length]);
      pushes.push(v.seq, v.t);
      i++;
      setTimeout(next, Math.max(1, Math.floor(intervalMs - (nowUs() - v.t) / 1000)));
    };
    next();
  });
}

// ------------------------------------------------------------------------------ IPC commands
const commands = {
  /** Leader: start or stop pushing a priming value to every implementation every 10 ms. */
  prime({ on }) {
    clearInterval(primeTimer);
    primeTimer = null;
    if (on) primeTimer = setInterval(() => { for (const impl of impls) pushTo(impl, { prime: true }); }, 10);
    return {};
  },
  run,
  /** Follower: the receive times so far, then forgotten. */
  results() {
    const out = {};
    for (const [impl, rec] of Object.entries(received)) {
      out[impl] = rec;
      received[impl] = { seqs: [], times: [] };
    }
    return { received: out };
  },
  status() {
    return { logs, acks: floorStats.acks, rss: process.memoryUsage.rss() };
  },
  /** Exits cleanly (the --cpu-prof profile is written on exit). */
  exit() {
    setImmediate(() => process.exit(0));
    return {};
  },
};

serveCommands(commands, send);

// ---------------------------------------------------------------------------------- start
try {
  const roles = {};
  for (const impl of impls) {
    const port = ports[impl];
    if (impl === 'floor' || impl === 'floor-ack') {
      if (role === 'leader') roles[impl] = await floorLeader(impl, port);
      else {
        roles[impl] = await floorFollower(port, impl === 'floor-ack', listenerFor(impl));
      }
    } else {
      const r = await libraryClient(impl, port);
      roles[impl] = r;
      if (role === 'follower') {
        r.client.subscribe({ key: KEY }, listenerFor(impl));
      }
    }
    if (roles[impl].isLeader !== (role === 'leader')) throw new Error(`${impl}: expected to be ${role}, is ${roles[impl].isLeader ? 'leader' : 'follower'}`);
  }
  send({ type: 'ready', pid: process.pid, role });
} catch (err) {
  send({ type: 'ready-error', pid: process.pid, code: String(err?.code ?? err?.name ?? 'UNKNOWN'), message: String(err?.stack ?? err) });
}
