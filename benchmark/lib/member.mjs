// One process of a benchmark group, forked by benchmark/lib/harness.mjs.
//
//   node benchmark/lib/member.mjs '<json config>'
//
// config: { impl, port, name, shareUrl, mode, upstreamPort }
//   impl  'cluster-share' | 'cluster-client' | 'bare' | 'direct' (no clustering: its own client)
//   mode  'bench'    the DataClient is BenchClient (echo, hit, subscribe), for the scenarios 1–5
//         'upstream' the DataClient is ConfigClient, connected to the config server at upstreamPort
//
// It creates ONE client, waits for ready(), makes a first call (echo('') or getConfig), then
// reports { type: 'ready', isLeader, startedAt, readyAt, firstCallAt, rss }. Everything else
// happens on command from the parent over IPC ({ cmd, id, ... } → { id, ... }); during a
// measurement there is no IPC traffic at all. Times are microseconds of process.hrtime
// (CLOCK_MONOTONIC: the same clock for every process of the host).
import { createRequire } from 'node:module';
import net from 'node:net';
import { BenchClient, ConfigClient } from './data-clients.mjs';
import { text } from './values.mjs';
import { Histogram } from './histogram.mjs';
import { serveCommands } from './commands.mjs';

const nowUs = () => Number(process.hrtime.bigint()) / 1000;
const startedAt = nowUs();
const rssAtStart = process.memoryUsage.rss();
const config = JSON.parse(process.argv[2]);
const { impl, port, name = 'Bench', shareUrl, mode = 'bench', upstreamPort } = config;

if (!process.send) {
  console.error('member.mjs is forked by the benchmark harness; it needs an IPC channel');
  process.exit(1);
}
process.on('disconnect', () => process.exit(0));
if (!process.connected) process.exit(0);
const send = message => {
  if (process.connected) process.send(message);
};

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
/** Waits until the monotonic clock reaches `at` (µs): a timer, then a short spin. */
async function until(at) {
  const ms = (at - nowUs()) / 1000;
  if (ms > 2) await sleep(ms - 1.5);
  while (nowUs() < at) await new Promise(resolve => setImmediate(resolve));
}

// Library warnings and errors are counted (and the first few kept) instead of printed.
const logs = { warn: 0, error: 0, samples: [] };
const log = level => (...args) => {
  logs[level]++;
  if (logs.samples.length < 5) logs.samples.push(`${level}: ${args.map(a => (a instanceof Error ? `${a.name}: ${a.message}` : String(a))).join(' ').slice(0, 200)}`);
};
const logger = { info() {}, debug() {}, warn: log('warn'), error: log('error') };

// ------------------------------------------------------------------------------ the client
const DataClient = mode === 'upstream' ? ConfigClient : BenchClient;
const createArgs = mode === 'upstream' ? [{ port: upstreamPort }] : [{}];
let client;
let realClient = null; // the DataClient instance when this process holds it

async function createClient() {
  if (impl === 'cluster-client' || impl === 'cluster-share') {
    const cluster = impl === 'cluster-client'
      ? createRequire(import.meta.url)('cluster-client')
      : (await import(shareUrl)).default;
    let generator = cluster(DataClient, { name, port, logger });
    generator = mode === 'upstream' ? generator.delegate('getConfig') : generator.delegate('echo').delegate('hit', 'invokeOneway');
    client = generator.create(...createArgs);
    client.on('error', err => log('error')('client error event:', err));
    await client.ready();
  } else if (impl === 'bare') {
    const { createBareClient } = await import('./bare.mjs');
    const methods = mode === 'upstream' ? ['getConfig'] : ['echo'];
    const onewayMethods = mode === 'upstream' ? [] : ['hit'];
    client = await createBareClient(DataClient, { port, methods, onewayMethods }, ...createArgs);
  } else if (impl === 'direct') {
    client = new DataClient(...createArgs);
    await new Promise((resolve, reject) => client.ready(err => (err ? reject(err) : resolve())));
  } else {
    throw new Error(`unknown impl ${impl}`);
  }
  realClient = DataClient === BenchClient ? BenchClient.instance : impl === 'direct' ? client : null;
}

const isLeader = () => impl === 'direct' || client.isClusterClientLeader === true || client.isLeader === true;
const codeOf = err => String((err && (err.code || err.name)) || 'UNKNOWN');

// --------------------------------------------------------------------- invoke measurement
/** The call a load loop makes, and a check of its answer. */
function callFor(method, payloadSize) {
  if (method === 'getConfig') return { call: () => client.getConfig('app.json'), check: r => r !== null && typeof r === 'object' };
  const payload = text(payloadSize);
  return { call: () => client.echo(payload), check: r => typeof r === 'string' && r.length === payload.length };
}

/**
 * `inflight` loops, each calling and awaiting one call at a time, from `startAt` until
 * `startAt + warmupUs + durationUs`. Calls that complete inside the measured window are counted
 * and their latencies (process.hrtime around the call) recorded.
 */
async function load({ method = 'echo', payloadSize = 64, inflight = 1, startAt, warmupUs, durationUs }) {
  const { call, check } = callFor(method, payloadSize);
  const from = startAt + warmupUs;
  const end = from + durationUs;
  const hist = new Histogram();
  const errors = {};
  let count = 0;
  let bad = 0;
  let warmupCalls = 0;
  await until(startAt);
  const loop = async () => {
    for (;;) {
      const t0 = process.hrtime.bigint();
      if (Number(t0) / 1000 >= end) return;
      try {
        const result = await call();
        const t1 = process.hrtime.bigint();
        const doneUs = Number(t1) / 1000;
        if (!check(result)) bad++;
        if (doneUs >= from && doneUs < end) {
          count++;
          hist.add(Number(t1 - t0) / 1000);
        } else if (doneUs < from) warmupCalls++;
      } catch (err) {
        const code = codeOf(err);
        errors[code] = (errors[code] ?? 0) + 1;
        await sleep(1);
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, loop));
  return { count, windowUs: durationUs, hist: hist.toJSON(), errors, bad, warmupCalls };
}

/** Exactly `calls` calls with `inflight` loops (for the memory scenario). */
async function calls({ calls: total, payloadSize = 64, inflight = 16 }) {
  const { call, check } = callFor('echo', payloadSize);
  let started = 0;
  let bad = 0;
  const errors = {};
  const t0 = nowUs();
  const loop = async () => {
    while (started < total) {
      started++;
      try {
        if (!check(await call())) bad++;
      } catch (err) {
        errors[codeOf(err)] = (errors[codeOf(err)] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, loop));
  return { ms: (nowUs() - t0) / 1000, bad, errors };
}

// ------------------------------------------------------------------------ oneway measurement
/**
 * Followers: from startAt to endAt, `batch` oneway hit(payload) calls, then one echo('') that
 * is awaited. The follower's connection is ordered, so when the echo is answered every earlier
 * hit has reached the leader: at most `batch` oneway calls per follower are ever unaccounted for
 * (no unbounded queue in the sender).
 */
async function oneway({ startAt, endAt, batch, payloadSize }) {
  const payload = text(payloadSize);
  let sent = 0;
  const errors = {};
  await until(startAt);
  while (nowUs() < endAt) {
    for (let i = 0; i < batch; i++) client.hit(payload);
    sent += batch;
    try {
      await client.echo('');
    } catch (err) {
      errors[codeOf(err)] = (errors[codeOf(err)] ?? 0) + 1;
      await sleep(1);
    }
  }
  return { sent, errors };
}

/** Leader: the DataClient's hit counter sampled at `from` and at `to` (µs). */
async function hitsWindow({ from, to }) {
  await until(from);
  const a = { hits: realClient.hits, at: nowUs() };
  await until(to);
  const b = { hits: realClient.hits, at: nowUs() };
  return { hits: b.hits - a.hits, us: b.at - a.at, total: realClient.hits };
}

// ------------------------------------------------------------------------ fan-out measurement
// Flow control: a side channel that is not part of any implementation. The leader's harness
// listens on an ephemeral port; every follower connects to it and writes, as a uint32, the
// highest seq it has received, every `ackEvery` values. The leader pushes only while
// (next seq - the lowest seq acknowledged by every follower) < window, so at most `window`
// values are ever undelivered per follower and no queue grows without bound.
const fanout = {
  server: null,
  acks: [], // per follower ack connection: { seq }
  onAck: null,
  // follower side
  key: 'bench-fanout',
  ackSocket: null,
  ackEvery: 8,
  lastAcked: -1,
  window: null, // { from, to }
  hist: null,
  count: 0,
  received: 0,
  lastSeq: -1,
  gaps: 0,
  reordered: 0,
};

async function fanoutPrepare() {
  fanout.acks = [];
  fanout.server = net.createServer(socket => {
    socket.setNoDelay(true);
    const entry = { seq: -1 };
    fanout.acks.push(entry);
    let pending = null;
    socket.on('data', chunk => {
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      let offset = 0;
      for (; offset + 4 <= buf.length; offset += 4) entry.seq = Math.max(entry.seq, buf.readUInt32BE(offset));
      pending = offset === buf.length ? null : buf.subarray(offset);
      fanout.onAck?.();
    });
    socket.on('error', () => {});
  });
  await new Promise(resolve => fanout.server.listen(0, '127.0.0.1', resolve));
  return { ackPort: fanout.server.address().port };
}

function fanoutListener(value) {
  const at = nowUs();
  fanout.received++;
  if (value.seq > fanout.lastSeq + 1 && fanout.lastSeq >= 0 && !value.prime) fanout.gaps += value.seq - fanout.lastSeq - 1;
  if (value.seq <= fanout.lastSeq) fanout.reordered++;
  else fanout.lastSeq = value.seq;
  const w = fanout.window;
  if (w && at >= w.from && at < w.to) {
    fanout.count++;
    fanout.hist.add(at - value.t);
  }
  if (value.prime || value.seq - fanout.lastAcked >= fanout.ackEvery) {
    fanout.lastAcked = value.seq;
    const buf = Buffer.allocUnsafe(4);
    buf.writeUInt32BE(value.seq, 0);
    fanout.ackSocket.write(buf);
  }
}

async function fanoutSubscribe({ ackPort, ackEvery }) {
  fanout.ackEvery = ackEvery;
  fanout.ackSocket = net.connect({ port: ackPort, host: '127.0.0.1' });
  fanout.ackSocket.setNoDelay(true);
  await new Promise((resolve, reject) => {
    fanout.ackSocket.once('connect', resolve);
    fanout.ackSocket.once('error', reject);
  });
  client.subscribe({ key: fanout.key }, fanoutListener);
  return {};
}

let seq = 0;
const pushPad = text(64);
function pushOne(extra) {
  realClient.push(fanout.key, { seq: seq++, t: nowUs(), data: pushPad, ...extra });
}

/** Leader: pushes a priming value every 5 ms until `followers` followers have acknowledged one. */
async function fanoutPrime({ followers, timeoutMs = 20000 }) {
  const firstSeq = seq;
  const deadline = nowUs() + timeoutMs * 1000;
  while (fanout.acks.filter(a => a.seq >= firstSeq).length < followers) {
    if (nowUs() > deadline) throw new Error(`only ${fanout.acks.filter(a => a.seq >= firstSeq).length} of ${followers} followers received the priming values`);
    pushOne({ prime: true });
    await sleep(5);
  }
  // Let the last priming values drain before measuring.
  await sleep(50);
  return { primedWith: seq - firstSeq };
}

/**
 * Leader: pushes values from startAt to endAt (µs). `rate` null: as fast as the window allows,
 * in bursts of at most 32 values per event-loop turn. `rate` R: R values per second, on a 1 ms
 * timer (catching up if a timer is late), still bounded by the window.
 */
function fanoutRun({ startAt, endAt, window, rate }) {
  return new Promise(resolve => {
    let blocked = 0;
    let waiting = false;
    const minAck = () => {
      let m = Infinity;
      for (const a of fanout.acks) if (a.seq < m) m = a.seq;
      return m;
    };
    const firstSeq = seq;
    let timer;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      fanout.onAck = null;
      clearInterval(timer);
      resolve({ pushed: seq - firstSeq, blocked });
    };
    const pump = () => {
      waiting = false;
      if (done) return;
      const t = nowUs();
      if (t >= endAt) return finish();
      const limit = minAck() + window;
      let budget = rate ? Math.min(32, Math.floor(((t - startAt) / 1e6) * rate) - (seq - firstSeq)) : 32;
      while (budget-- > 0 && seq <= limit) pushOne();
      if (seq > limit) {
        blocked++;
        waiting = true; // resumed by the next ack
      } else if (!rate) setImmediate(pump);
    };
    fanout.onAck = () => {
      if (waiting) {
        waiting = false;
        setImmediate(pump);
      }
    };
    until(startAt).then(() => {
      if (rate) {
        timer = setInterval(() => {
          if (!waiting) pump();
          if (nowUs() >= endAt) finish();
        }, 1);
      } else pump();
      // Safety: a follower that never acknowledges again must not hang the benchmark.
      setTimeout(() => {
        if (waiting) finish();
      }, (endAt - nowUs()) / 1000 + 2000).unref();
    });
  });
}

function fanoutWindow({ from, to }) {
  fanout.window = { from, to };
  fanout.hist = new Histogram();
  fanout.count = 0;
  fanout.gaps = 0;
  fanout.reordered = 0;
  return {};
}

function fanoutResults() {
  const w = fanout.window;
  return { count: fanout.count, windowUs: w.to - w.from, hist: fanout.hist.toJSON(), gaps: fanout.gaps, reordered: fanout.reordered, received: fanout.received };
}

// --------------------------------------------------------------------- upstream subscription
const upstream = { received: [] };
function upstreamSubscribe() {
  client.subscribe({ key: 'app.json' }, value => upstream.received.push(value));
  return {};
}

// ---------------------------------------------------------------------------- IPC commands
const commands = {
  load,
  calls,
  oneway,
  hitsWindow,
  fanoutPrepare,
  fanoutSubscribe,
  fanoutPrime,
  fanoutRun,
  fanoutWindow,
  fanoutResults,
  upstreamSubscribe,
  upstreamReceived: () => ({ received: upstream.received }),
  rss: () => {
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
  },
  status: () => ({ isLeader: isLeader(), logs }),
  close: async () => {
    if (impl === 'cluster-client') await createRequire(import.meta.url)('cluster-client').close(client);
    else if (impl === 'cluster-share') await (await import(shareUrl)).close(client);
    else await client.close();
    return {};
  },
};

serveCommands(commands, send);

// ---------------------------------------------------------------------------------- start
try {
  await createClient();
  const readyAt = nowUs();
  if (mode === 'upstream') await client.getConfig('app.json');
  else await client.echo('');
  const firstCallAt = nowUs();
  send({ type: 'ready', pid: process.pid, impl, isLeader: isLeader(), startedAt, readyAt, firstCallAt, rssAtStart, rss: process.memoryUsage.rss() });
} catch (err) {
  send({ type: 'ready-error', pid: process.pid, impl, code: codeOf(err), message: String(err?.message ?? err) });
}
