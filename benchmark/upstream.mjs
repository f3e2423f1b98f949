// Scenario 6 — "N connections against 1": why the library exists. N worker processes use a
// config server (a real TCP server fixture in its own process, lib/config-server.mjs), first
// each with its OWN client (N upstream connections), then sharing one client through
// cluster-share (and, for comparison, through cluster-client 3.7.0).
//
//   npm run bench:upstream               (builds first)
//   node benchmark/upstream.mjs [--quick] [--n 4,8] [--duration MS] [--impl LIST]
//
// Per N and mode, with a fresh config server: fork the N processes at once (in the shared modes
// they compete for the port: one leads and holds the only upstream connection); each subscribes
// to the key app.json and waits for its value; then every process calls getConfig('app.json'),
// one call at a time, for the measured window (latency per call in the process); then the RSS of
// every process is read, the server's counters are read, and the server pushes a change of
// app.json, which every process must receive.
//
// --impl selects the shared modes (cluster-share, cluster-client; "bare" is not used here); the
// mode with its own client per process always runs.
import {
  COMMON_USAGE, IMPL_LABEL, Member, fmtInt, fmtMB, fmtUs, freePort, mergeRuns, nowUs, parseOptions, printMachine,
  printTable, runIfMain, sleep, startConfigServer, within, writeResult,
} from './lib/harness.mjs';

export const USAGE = `usage: node benchmark/upstream.mjs [options]
  --n LIST         process counts, comma-separated (default 4,8)
  --duration MS    measured getConfig window (default 1500; --quick 500)
${COMMON_USAGE}`;

async function waitFor(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

async function measure(mode, n, { warmupMs, durationMs }) {
  const server = await startConfigServer();
  const port = await freePort();
  const members = Array.from({ length: n }, () => new Member({ impl: mode, port, name: 'ConfigClient', mode: 'upstream', upstreamPort: server.port }));
  try {
    await within(Promise.all(members.map(m => m.ready)), 60_000, `${mode}: ${n} processes not ready`);
    await Promise.all(members.map(m => m.request('upstreamSubscribe')));
    const received = async version => (await Promise.all(members.map(m => m.request('upstreamReceived'))))
      .filter(r => r.received.some(v => v?.version === version)).length;
    await waitFor(async () => (await received(1)) === n, 10_000, 'the initial value in every process');
    const startAt = nowUs() + 60_000;
    const runs = await Promise.all(members.map(m => m.request('load', { method: 'getConfig', inflight: 1, startAt, warmupUs: warmupMs * 1000, durationUs: durationMs * 1000 })));
    const rss = (await Promise.all(members.map(m => m.request('rss')))).reduce((sum, r) => sum + r.rss, 0);
    const stats = await server.stats();
    await server.set('app.json', { feature: true, version: 2 });
    let delivered = 0;
    await waitFor(async () => (delivered = await received(2)) === n, 5000, 'the change in every process').catch(() => {});
    const merged = mergeRuns(runs);
    return {
      upstreamConnections: stats.accepted,
      upstreamConnectionsOpen: stats.open,
      subscribeRequests: stats.subscribeRequests['app.json'] ?? 0,
      upstreamGets: stats.gets,
      totalRss: rss,
      callsPerSecond: merged.perSecond,
      p50Us: merged.p50Us,
      p99Us: merged.p99Us,
      errors: merged.errors,
      changeDeliveredTo: delivered,
    };
  } finally {
    await Promise.all(members.map(m => m.kill()));
    await server.stop();
  }
}

export async function run({ quick = false, impls, sizes = [4, 8], duration }) {
  const durationMs = duration ?? (quick ? 500 : 1500);
  const warmupMs = quick ? 100 : 300;
  const modes = ['direct', ...impls.filter(i => i !== 'bare')];
  console.log(`\n== upstream: N processes and one config server; each process subscribes to app.json and calls getConfig (1 in flight, ${warmupMs} + ${durationMs} ms)`);
  const cells = [];
  for (const n of sizes) {
    const results = {};
    for (const mode of modes) {
      process.stdout.write(`  N=${n}: ${mode}\n`);
      results[mode] = await measure(mode, n, { warmupMs, durationMs });
    }
    cells.push({ n, results });
  }
  const rows = [];
  for (const cell of cells) {
    if (rows.length) rows.push('-');
    modes.forEach((mode, i) => {
      const r = cell.results[mode];
      rows.push([i === 0 ? String(cell.n) : '', IMPL_LABEL[mode], String(r.upstreamConnections), String(r.subscribeRequests),
        fmtMB(r.totalRss), fmtUs(r.p50Us), fmtUs(r.p99Us), fmtInt(r.callsPerSecond), `${r.changeDeliveredTo}/${cell.n}`]);
    });
  }
  printTable('upstream — N processes against one config server: own client each vs one shared client',
    ['N', 'mode', 'upstream conns', 'subscribe reqs', 'total RSS', 'get p50', 'get p99', 'gets/s', 'change seen'], rows,
    { leftColumns: 2, note: 'upstream conns / subscribe reqs: counted by the config server (subscription requests for the one key app.json);\n' +
      'total RSS: sum over the N processes; get p50/p99: getConfig latency over all calls of all N processes (in the shared modes\n' +
      'the leader\'s own calls go straight upstream, the followers\' take one more loopback hop); change seen: processes that received a pushed change' });
  return { scenario: 'upstream', config: { sizes, warmupMs, durationMs, inflight: 1, modes }, cells };
}

runIfMain(import.meta.url, async () => {
  const opts = parseOptions(USAGE, {
    n: { type: 'string', default: '4,8' },
    duration: { type: 'string' },
  });
  printMachine();
  const result = await run({
    quick: opts.quick,
    impls: opts.impls,
    sizes: opts.n.split(',').map(Number),
    duration: opts.duration === undefined ? undefined : Number(opts.duration),
  });
  console.log(`\nresults written to ${writeResult('upstream', result)}`);
});
