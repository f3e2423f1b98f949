// Scenario 2 — oneway invoke: how many fire-and-forget calls per second the leader's DataClient
// receives from 3 followers, for cluster-share, cluster-client 3.7.0 and a bare socket, in one run.
//
//   npm run bench:oneway                 (builds first)
//   node benchmark/oneway.mjs [--quick] [--impl LIST] [--duration MS] [--warmup MS] [--batch B]
//
// `hit(payload)` is delegated as invokeOneway (a 64 B string argument). Each follower sends B
// hits, then one awaited echo(''): its connection is ordered, so once the echo is answered every
// earlier hit has reached the leader. That bounds what a follower has sent but the leader has not
// yet received to B calls (no queue grows without bound in any implementation). The leader
// counts the hits its DataClient received between two instants; that count per second is the
// result. See benchmark/README.md.
import { runGroupScenario, windowMs, withGroups } from './lib/group-scenario.mjs';
import { COMMON_USAGE, IMPL_LABEL, fmtInt, fmtRatio, nowUs, printTable, ratio, sleep } from './lib/harness.mjs';

export const USAGE = `usage: node benchmark/oneway.mjs [options]
  --duration MS    measured time per implementation (default 2500; --quick 700)
  --warmup MS      warm-up before the measurement (default 500; --quick 200)
  --batch B        oneway calls between two awaited echo() barriers (default 256)
  --followers F    follower processes per group (default 3)
${COMMON_USAGE}`;

async function measure(group, { startAt, warmupMs, durationMs, batch }) {
  const from = startAt + warmupMs * 1000;
  const to = from + durationMs * 1000;
  const [leader, ...senders] = await Promise.all([
    group.leader.request('hitsWindow', { from, to }),
    ...group.followers.map(f => f.request('oneway', { startAt, endAt: to, batch, payloadSize: 64 })),
  ]);
  const errors = senders.reduce((n, s) => n + Object.values(s.errors).reduce((a, b) => a + b, 0), 0);
  return {
    receivedPerSecond: leader.hits / (leader.us / 1e6),
    sentPerSecond: senders.reduce((n, s) => n + s.sent, 0) / ((to - startAt) / 1e6),
    received: leader.hits,
    errors,
  };
}

export async function run({ quick = false, impls, duration, warmup, batch = 256, followers = 3 }) {
  const { warmupMs, durationMs } = windowMs({ quick, warmup, duration });
  console.log(`\n== oneway: hit(64 B string) as invokeOneway, 1 leader + ${followers} followers; batches of ${batch} + an awaited echo; ` +
    `${warmupMs} ms warm-up + ${durationMs} ms per implementation`);
  const results = {};
  await withGroups(impls, followers, async groups => {
    for (const impl of impls) {
      // An unmeasured pass first (JIT), then the measured one.
      await measure(groups[impl], { startAt: nowUs() + 60_000, warmupMs: 0, durationMs: quick ? 200 : 400, batch });
      results[impl] = await measure(groups[impl], { startAt: nowUs() + 60_000, warmupMs, durationMs, batch });
      await sleep(100);
    }
  });
  const cs = results['cluster-share']?.receivedPerSecond;
  const ratios = {
    clusterShareVsClusterClient: ratio(cs, results['cluster-client']?.receivedPerSecond),
    clusterShareVsBare: ratio(cs, results.bare?.receivedPerSecond),
  };
  const rows = impls.map(impl => [IMPL_LABEL[impl], fmtInt(results[impl].receivedPerSecond), fmtInt(results[impl].sentPerSecond), String(results[impl].errors)]);
  if (ratios.clusterShareVsClusterClient !== null) rows.push(['  cluster-share / cluster-client', fmtRatio(ratios.clusterShareVsClusterClient), '', '']);
  if (ratios.clusterShareVsBare !== null) rows.push(['  cluster-share / bare socket', fmtRatio(ratios.clusterShareVsBare), '', '']);
  printTable(`oneway — calls/s received by the leader's DataClient (counted in the leader), 1 leader + ${followers} followers`,
    ['implementation', 'received/s', 'sent/s', 'errors'], rows,
    { note: 'sent/s: hits issued by the followers over the warm-up and the measured window, for reference' });
  return { scenario: 'oneway', config: { followers, warmupMs, durationMs, batch, payload: 'ASCII string, 64 B' }, results, ratios };
}

runGroupScenario(import.meta.url, 'oneway', USAGE, run, { batch: { type: 'string', default: '256' } });
