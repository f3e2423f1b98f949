// Scenario 4 — startup: time from forking N processes (all at once, competing for the port)
// until every one is ready: client.ready() resolved AND a first echo('') answered; for
// cluster-share, cluster-client 3.7.0 and a bare socket, in one run.
//
//   npm run bench:startup                (builds first)
//   node benchmark/startup.mjs [--quick] [--impl LIST] [--n 4,8] [--repeat R]
//
// Each trial uses a fresh port. t0 is taken in the parent just before the first fork; each
// process reports the process.hrtime (the host's monotonic clock) at which its first call was
// answered. "all ready" = the last of those - t0. It includes booting node itself, the same for
// every implementation; "node boot" is how long the slowest process took to start running the
// member script (before it loads any library). Trials of the implementations alternate.
import {
  COMMON_USAGE, IMPL_LABEL, Member, fmtMs, fmtRatio, freePort, median, nowUs, parseOptions, printMachine, printTable,
  ratio, runIfMain, sleep, within, writeResult,
} from './lib/harness.mjs';

export const USAGE = `usage: node benchmark/startup.mjs [options]
  --n LIST         group sizes, comma-separated (default 4,8)
  --repeat R       trials per implementation and size; the median is shown (default 5; --quick 1)
${COMMON_USAGE}`;

async function trial(impl, n) {
  const port = await freePort();
  const t0 = nowUs();
  const members = Array.from({ length: n }, () => new Member({ impl, port }));
  try {
    const infos = await within(Promise.all(members.map(m => m.ready)), 60_000, `${impl}: ${n} processes not ready within 60 s`);
    const leaders = infos.filter(i => i.isLeader).length;
    if (leaders !== 1) throw new Error(`${impl}: ${leaders} leaders among ${n} processes`);
    return {
      allReadyMs: (Math.max(...infos.map(i => i.firstCallAt)) - t0) / 1000,
      firstReadyMs: (Math.min(...infos.map(i => i.firstCallAt)) - t0) / 1000,
      bootMs: (Math.max(...infos.map(i => i.startedAt)) - t0) / 1000,
    };
  } finally {
    await Promise.all(members.map(m => m.kill()));
  }
}

export async function run({ quick = false, impls, sizes = [4, 8], repeat }) {
  const reps = repeat ?? (quick ? 1 : 5);
  console.log(`\n== startup: fork N processes at once on a fresh port until all are ready and answered a first call; ${reps} trial(s) each`);
  const trials = {}; // n → impl → [trial]
  for (const n of sizes) {
    trials[n] = Object.fromEntries(impls.map(i => [i, []]));
    for (let r = 0; r < reps; r++) {
      const order = impls.map((_, i) => impls[(i + r) % impls.length]);
      for (const impl of order) {
        trials[n][impl].push(await trial(impl, n));
        await sleep(100);
      }
    }
  }
  const cells = sizes.map(n => {
    const results = {};
    for (const impl of impls) {
      const t = trials[n][impl];
      results[impl] = {
        allReadyMs: median(t.map(x => x.allReadyMs)),
        allReadyMinMs: Math.min(...t.map(x => x.allReadyMs)),
        allReadyMaxMs: Math.max(...t.map(x => x.allReadyMs)),
        firstReadyMs: median(t.map(x => x.firstReadyMs)),
        bootMs: median(t.map(x => x.bootMs)),
        trials: t,
      };
    }
    const cs = results['cluster-share']?.allReadyMs;
    return {
      n,
      results,
      ratios: {
        clusterShareVsClusterClient: ratio(cs, results['cluster-client']?.allReadyMs),
        clusterShareVsBare: ratio(cs, results.bare?.allReadyMs),
      },
    };
  });
  const rows = [];
  for (const cell of cells) {
    if (rows.length) rows.push('-');
    impls.forEach((impl, i) => {
      const r = cell.results[impl];
      rows.push([i === 0 ? String(cell.n) : '', IMPL_LABEL[impl], fmtMs(r.allReadyMs), `${fmtMs(r.allReadyMinMs)} – ${fmtMs(r.allReadyMaxMs)}`, fmtMs(r.firstReadyMs), fmtMs(r.bootMs)]);
    });
    if (cell.ratios.clusterShareVsClusterClient !== null) rows.push(['', '  cluster-share / cluster-client', fmtRatio(cell.ratios.clusterShareVsClusterClient), '', '', '']);
    if (cell.ratios.clusterShareVsBare !== null) rows.push(['', '  cluster-share / bare socket', fmtRatio(cell.ratios.clusterShareVsBare), '', '', '']);
  }
  printTable(`startup — fork N processes at once until all are ready (median of ${reps})`,
    ['N', 'implementation', 'all ready', 'min – max', 'first ready', 'node boot'], rows,
    { leftColumns: 2, note: 'lower is better; ratios below 1 = cluster-share starts faster. node boot: fork → the slowest process runs the member script' });
  return { scenario: 'startup', config: { sizes, repeat: reps }, cells };
}

runIfMain(import.meta.url, async () => {
  const opts = parseOptions(USAGE, {
    n: { type: 'string', default: '4,8' },
    repeat: { type: 'string' },
  });
  printMachine();
  const result = await run({
    quick: opts.quick,
    impls: opts.impls,
    sizes: opts.n.split(',').map(Number),
    repeat: opts.repeat === undefined ? undefined : Number(opts.repeat),
  });
  console.log(`\nresults written to ${writeResult('startup', result)}`);
});
