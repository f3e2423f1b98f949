// Scenario 1 — invoke: calls/s and latency of `echo(payload)` from 3 followers to the leader's
// DataClient, for cluster-share, cluster-client 3.7.0 and a bare socket, in one run.
//
//   npm run bench:invoke                 (builds first)
//   node benchmark/invoke.mjs [--quick] [--impl LIST] [--duration MS] [--warmup MS] [--followers F]
//
// Per implementation one group on its own port: 1 leader process (it does not call) + F follower
// processes. Payload: a string of 64 B, 1 KiB or 16 KiB (ASCII, the same value everywhere).
// Per cell (payload × calls in flight per follower: 1 or 16) the implementations run one after
// the other, in an order that rotates from cell to cell; each runs warm-up + duration, measured
// in the followers (process.hrtime around each call). See benchmark/README.md.
import { runGroupScenario, windowMs, withGroups } from './lib/group-scenario.mjs';
import { COMMON_USAGE, IMPL_LABEL, fmtBytes, fmtInt, fmtRatio, fmtUs, mergeRuns, nowUs, printTable, ratio, sleep } from './lib/harness.mjs';

export const USAGE = `usage: node benchmark/invoke.mjs [options]
  --duration MS    measured time per cell (default 2500; --quick 700)
  --warmup MS      warm-up before each measurement (default 500; --quick 200)
  --followers F    follower processes per group (default 3)
${COMMON_USAGE}`;

export const PAYLOADS = [64, 1024, 16 * 1024];
export const INFLIGHT = [1, 16];

/** One cell for every implementation in `order`: the followers of each group load its leader. */
export async function measureCell(groups, order, { method = 'echo', payloadSize, inflight, warmupMs, durationMs }) {
  const results = {};
  for (const impl of order) {
    const group = groups[impl];
    const startAt = nowUs() + 60_000; // time for the IPC message to reach every follower
    const runs = await Promise.all(group.followers.map(f =>
      f.request('load', { method, payloadSize, inflight, startAt, warmupUs: warmupMs * 1000, durationUs: durationMs * 1000 })));
    results[impl] = mergeRuns(runs);
    await sleep(100);
  }
  return results;
}

export async function run({ quick = false, impls, duration, warmup, followers = 3 }) {
  const { warmupMs, durationMs } = windowMs({ quick, warmup, duration });
  console.log(`\n== invoke: echo(string payload), 1 leader + ${followers} followers (only followers call); ` +
    `${warmupMs} ms warm-up + ${durationMs} ms per cell and implementation`);
  const cells = [];
  const warnings = await withGroups(impls, followers, async groups => {
    // A first, unmeasured pass per group (every payload size), so the first cell does not pay
    // for JIT compilation and buffer growth that the later cells would not.
    const primeMs = quick ? 200 : 400;
    for (const payloadSize of PAYLOADS) await measureCell(groups, impls, { payloadSize, inflight: 16, warmupMs: 0, durationMs: primeMs });
    let rotation = 0;
    for (const payloadSize of PAYLOADS) {
      for (const inflight of INFLIGHT) {
        const order = impls.map((_, i) => impls[(i + rotation) % impls.length]);
        rotation++;
        process.stdout.write(`  ${fmtBytes(payloadSize)} × ${inflight} in flight: ${order.join(', ')}\n`);
        const results = await measureCell(groups, order, { payloadSize, inflight, warmupMs, durationMs });
        cells.push({ payloadBytes: payloadSize, inflight, order, results });
      }
    }
    const logs = {};
    for (const impl of impls) logs[impl] = await groups[impl].logs();
    return logs;
  });

  for (const cell of cells) {
    const cs = cell.results['cluster-share'];
    cell.ratios = {
      clusterShareVsClusterClient: cs && cell.results['cluster-client'] ? {
        callsPerSecond: ratio(cs.perSecond, cell.results['cluster-client'].perSecond),
        p50: ratio(cs.p50Us, cell.results['cluster-client'].p50Us),
        p99: ratio(cs.p99Us, cell.results['cluster-client'].p99Us),
      } : null,
      clusterShareVsBare: cs && cell.results.bare ? {
        callsPerSecond: ratio(cs.perSecond, cell.results.bare.perSecond),
        p50: ratio(cs.p50Us, cell.results.bare.p50Us),
        p99: ratio(cs.p99Us, cell.results.bare.p99Us),
      } : null,
    };
  }
  print(cells, impls, { followers, warmupMs, durationMs });
  return { scenario: 'invoke', config: { followers, warmupMs, durationMs, payload: 'ASCII string of the given size', payloads: PAYLOADS, inflight: INFLIGHT }, cells, warnings };
}

export function print(cells, impls, { followers, warmupMs, durationMs }) {
  const rows = [];
  for (const cell of cells) {
    if (rows.length) rows.push('-');
    let first = true;
    for (const impl of impls) {
      const r = cell.results[impl];
      rows.push([first ? fmtBytes(cell.payloadBytes) : '', first ? String(cell.inflight) : '', IMPL_LABEL[impl],
        fmtInt(r.perSecond), fmtUs(r.p50Us), fmtUs(r.p99Us), r.errors ? String(r.errors) : '0']);
      first = false;
    }
    const { clusterShareVsClusterClient: cc, clusterShareVsBare: bare } = cell.ratios;
    if (cc) rows.push(['', '', '  cluster-share / cluster-client', fmtRatio(cc.callsPerSecond), fmtRatio(cc.p50), fmtRatio(cc.p99), '']);
    if (bare) rows.push(['', '', '  cluster-share / bare socket', fmtRatio(bare.callsPerSecond), fmtRatio(bare.p50), fmtRatio(bare.p99), '']);
  }
  printTable(`invoke echo — 1 leader + ${followers} followers, ${warmupMs} ms warm-up + ${durationMs} ms per cell; calls/s summed over the followers, p50/p99 over all calls`,
    ['payload', 'in flight', 'implementation', 'calls/s', 'p50', 'p99', 'errors'], rows,
    { leftColumns: 3, note: 'ratios: calls/s above 1 = cluster-share faster; p50/p99 below 1 = cluster-share lower latency' });
}

runGroupScenario(import.meta.url, 'invoke', USAGE, run);
