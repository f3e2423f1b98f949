// Scenario 3 — subscribe fan-out: values pushed by the leader's DataClient to a subscription
// held by 3 and by 15 follower processes; cluster-share, cluster-client 3.7.0 and a bare socket
// in one run.
//
//   npm run bench:fanout                 (builds first)
//   node benchmark/fanout.mjs [--quick] [--impl LIST] [--followers 3,15] [--duration MS]
//                             [--warmup MS] [--window W] [--rate R] [--rounds N]
//
// Every follower subscribes to one key. The leader's harness calls the listener the library
// gave its DataClient, with { seq, t, data: 64 B string } (t = the leader's process.hrtime, the
// same monotonic clock in every process of the host); each follower records now - t.
//
// Flow control, the same for all implementations and outside them: each follower reports the
// highest seq it has received every 8 values on a separate plain TCP connection to the leader's
// harness, which pushes only while (next seq - the lowest seq reported by every follower) < W.
// So at most W values are ever undelivered per follower, and no queue grows without bound.
//
//   saturated   the leader pushes as fast as the window allows (bursts of at most 32 values per
//               event-loop turn): the values/s delivered (summed over followers) is the throughput;
//               the latency then includes queueing within the window.
//   paced       the leader pushes R values/s (1 ms timer): the delivery latency of a value when
//               the pipeline is not saturated.
//
// See benchmark/README.md.
import {
  COMMON_USAGE, Group, IMPL_LABEL, fmtInt, fmtRatio, fmtUs, median, mergeRuns, nowUs, parseOptions, printMachine, printTable,
  ratio, runIfMain, sleep, writeResult,
} from './lib/harness.mjs';

export const USAGE = `usage: node benchmark/fanout.mjs [options]
  --followers LIST  follower counts, comma-separated (default 3,15)
  --duration MS     measured time of the saturated phase (default 2000; --quick 600)
  --warmup MS       warm-up before each phase (default 500; --quick 200)
  --window W        values a follower may be behind before the leader waits (default 256)
  --rate R          values per second of the paced phase (default 1000)
  --rounds N        measurements per implementation, interleaved; figures are medians (default 3; --quick 1)
${COMMON_USAGE}`;

const ACK_EVERY = 8;

async function phase(group, { warmupMs, durationMs, window, rate }) {
  const startAt = nowUs() + 60_000;
  const from = startAt + warmupMs * 1000;
  const to = from + durationMs * 1000;
  await Promise.all(group.followers.map(f => f.request('fanoutWindow', { from, to })));
  const leader = await group.leader.request('fanoutRun', { startAt, endAt: to, window, rate });
  await sleep(50); // the last values in flight
  const runs = await Promise.all(group.followers.map(f => f.request('fanoutResults')));
  const merged = mergeRuns(runs);
  return {
    valuesPerSecond: merged.perSecond,
    p50Us: merged.p50Us,
    p99Us: merged.p99Us,
    maxUs: merged.maxUs,
    pushed: leader.pushed,
    windowFullWaits: leader.blocked,
    lost: runs.reduce((n, r) => n + r.gaps, 0),
    reordered: runs.reduce((n, r) => n + r.reordered, 0),
  };
}

async function measureImpl(impl, followers, opts) {
  const group = await Group.start(impl, followers);
  try {
    const { ackPort } = await group.leader.request('fanoutPrepare');
    await Promise.all(group.followers.map(f => f.request('fanoutSubscribe', { ackPort, ackEvery: ACK_EVERY })));
    await group.leader.request('fanoutPrime', { followers });
    const saturated = await phase(group, { warmupMs: opts.warmupMs, durationMs: opts.durationMs, window: opts.window, rate: null });
    const paced = await phase(group, { warmupMs: opts.warmupMs, durationMs: opts.pacedMs, window: opts.window, rate: opts.rate });
    const warnings = await group.logs();
    return { saturated, paced, warnings };
  } finally {
    await group.stop();
  }
}

/** The median of every figure of a phase over the rounds; lost and reordered values are summed. */
function medianPhase(phases) {
  const out = {};
  for (const key of Object.keys(phases[0])) {
    const values = phases.map(p => p[key]);
    out[key] = key === 'lost' || key === 'reordered' ? values.reduce((a, b) => a + b, 0) : median(values);
  }
  return out;
}

export async function run({ quick = false, impls, followerCounts = [3, 15], duration, warmup, window = 256, rate = 1000, rounds }) {
  const opts = {
    durationMs: duration ?? (quick ? 600 : 2000),
    pacedMs: quick ? 500 : 1500,
    warmupMs: warmup ?? (quick ? 200 : 500),
    window,
    rate,
    rounds: rounds ?? (quick ? 1 : 3),
  };
  console.log(`\n== fanout: leader pushes { seq, t, 64 B string } to F subscribed followers; window ${window} values, ` +
    `acks every ${ACK_EVERY}; saturated ${opts.warmupMs} + ${opts.durationMs} ms, paced ${rate}/s ${opts.warmupMs} + ${opts.pacedMs} ms; ` +
    `${opts.rounds} round(s), implementations interleaved, medians`);
  const cells = [];
  for (const followers of followerCounts) {
    const perImpl = Object.fromEntries(impls.map(impl => [impl, []]));
    for (let round = 0; round < opts.rounds; round++) {
      const order = impls.map((_, i) => impls[(i + round) % impls.length]);
      for (const impl of order) {
        process.stdout.write(`  ${followers} followers, round ${round + 1}/${opts.rounds}: ${impl}\n`);
        perImpl[impl].push(await measureImpl(impl, followers, opts));
      }
    }
    const results = {};
    for (const impl of impls) {
      const runs = perImpl[impl];
      results[impl] = {
        saturated: medianPhase(runs.map(r => r.saturated)),
        paced: medianPhase(runs.map(r => r.paced)),
        rounds: runs.map(r => ({ valuesPerSecond: r.saturated.valuesPerSecond, pacedP50Us: r.paced.p50Us, pacedP99Us: r.paced.p99Us })),
        warnings: {
          warn: runs.reduce((n, r) => n + r.warnings.warn, 0),
          error: runs.reduce((n, r) => n + r.warnings.error, 0),
          samples: runs.flatMap(r => r.warnings.samples).slice(0, 5),
        },
      };
    }
    const cs = results['cluster-share'];
    const ratios = {
      clusterShareVsClusterClient: cs && results['cluster-client'] ? {
        valuesPerSecond: ratio(cs.saturated.valuesPerSecond, results['cluster-client'].saturated.valuesPerSecond),
        pacedP50: ratio(cs.paced.p50Us, results['cluster-client'].paced.p50Us),
        pacedP99: ratio(cs.paced.p99Us, results['cluster-client'].paced.p99Us),
      } : null,
      clusterShareVsBare: cs && results.bare ? {
        valuesPerSecond: ratio(cs.saturated.valuesPerSecond, results.bare.saturated.valuesPerSecond),
        pacedP50: ratio(cs.paced.p50Us, results.bare.paced.p50Us),
        pacedP99: ratio(cs.paced.p99Us, results.bare.paced.p99Us),
      } : null,
    };
    cells.push({ followers, results, ratios });
  }
  print(cells, impls, opts);
  return { scenario: 'fanout', config: { ...opts, ackEvery: ACK_EVERY, value: '{ seq, t, data: 64 B ASCII string }' }, cells };
}

function print(cells, impls, { window, rate }) {
  const rows = [];
  for (const cell of cells) {
    if (rows.length) rows.push('-');
    impls.forEach((impl, i) => {
      const { saturated: s, paced: p } = cell.results[impl];
      rows.push([i === 0 ? String(cell.followers) : '', IMPL_LABEL[impl], fmtInt(s.valuesPerSecond), fmtUs(s.p50Us), fmtUs(s.p99Us),
        fmtUs(p.p50Us), fmtUs(p.p99Us), String(s.lost + p.lost)]);
    });
    const { clusterShareVsClusterClient: cc, clusterShareVsBare: bare } = cell.ratios;
    if (cc) rows.push(['', '  cluster-share / cluster-client', fmtRatio(cc.valuesPerSecond), '', '', fmtRatio(cc.pacedP50), fmtRatio(cc.pacedP99), '']);
    if (bare) rows.push(['', '  cluster-share / bare socket', fmtRatio(bare.valuesPerSecond), '', '', fmtRatio(bare.pacedP50), fmtRatio(bare.pacedP99), '']);
  }
  printTable(`fanout — values delivered per second (summed over followers) when saturated (window ${window}), and delivery latency saturated and paced at ${rate} values/s`,
    ['followers', 'implementation', 'values/s', 'sat. p50', 'sat. p99', `${rate}/s p50`, `${rate}/s p99`, 'lost'], rows,
    { leftColumns: 2, note: 'lost: seq numbers a follower never received (should be 0)' });
}

runIfMain(import.meta.url, async () => {
  const opts = parseOptions(USAGE, {
    followers: { type: 'string', default: '3,15' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    window: { type: 'string', default: '256' },
    rate: { type: 'string', default: '1000' },
    rounds: { type: 'string' },
  });
  printMachine();
  const result = await run({
    quick: opts.quick,
    impls: opts.impls,
    followerCounts: opts.followers.split(',').map(Number),
    duration: opts.duration === undefined ? undefined : Number(opts.duration),
    warmup: opts.warmup === undefined ? undefined : Number(opts.warmup),
    window: Number(opts.window),
    rate: Number(opts.rate),
    rounds: opts.rounds === undefined ? undefined : Number(opts.rounds),
  });
  console.log(`\nresults written to ${writeResult('fanout', result)}`);
});
