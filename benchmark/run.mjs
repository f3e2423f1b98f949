// The whole side-by-side suite: cluster-share vs cluster-client 3.7.0 vs a bare socket.
//
//   npm run bench                        (builds first; about 5 minutes)
//   node benchmark/run.mjs [--quick] [--only LIST] [--impl LIST] [--docs | --no-docs]
//
// Runs invoke, oneway, fanout, fanout-latency, startup, memory and upstream (each also runnable
// alone: see benchmark/README.md), prints their tables, how cluster-share stands against its
// targets, and writes benchmark/results/latest.json and benchmark/results/chart.svg. A full run (not --quick,
// not --only) also writes the committed copies docs/benchmark.json and docs/benchmark.svg.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { renderChart, fmt } from './lib/chart.mjs';
import {
  COMMON_USAGE, cleanup, cpuSnapshot, foreignCpuShare, fmtRatio, machine, parseOptions, printMachine, printTable, resultsDir, root, roundNumbers,
  snapshotClusterShare, waitIdle,
} from './lib/harness.mjs';
import * as invoke from './invoke.mjs';
import * as oneway from './oneway.mjs';
import * as fanout from './fanout.mjs';
import * as fanoutLatency from './fanout-latency.mjs';
import * as startup from './startup.mjs';
import * as memory from './memory.mjs';
import * as upstream from './upstream.mjs';

const SCENARIOS = { invoke, oneway, fanout, 'fanout-latency': fanoutLatency, startup, memory, upstream };
const USAGE = `usage: node benchmark/run.mjs [options]
  --only LIST      comma-separated subset of ${Object.keys(SCENARIOS).join(',')} (default: all)
  --docs           also write docs/benchmark.json and docs/benchmark.svg (default for a full run)
  --no-docs        never write the docs/ copies
  --wait-idle S    before each scenario, wait up to S seconds for the CPUs to be idle (default 0)
  --render FILE    measure nothing: draw benchmark/results/chart.svg from a latest.json-style FILE
${COMMON_USAGE}`;

const opts = parseOptions(USAGE, {
  only: { type: 'string', default: Object.keys(SCENARIOS).join(',') },
  docs: { type: 'boolean' },
  'no-docs': { type: 'boolean', default: false },
  'wait-idle': { type: 'string', default: '0' },
  render: { type: 'string' },
});
const waitIdleS = Number(opts['wait-idle']);
if (!(waitIdleS >= 0)) {
  console.error(`--wait-idle must be a number of seconds >= 0\n${USAGE}`);
  process.exit(2);
}

const only = opts.only.split(',').map(s => s.trim()).filter(Boolean);
for (const name of only) {
  if (!SCENARIOS[name]) {
    console.error(`--only: unknown scenario ${name}\n${USAGE}`);
    process.exit(2);
  }
}
const fullRun = !opts.quick && only.length === Object.keys(SCENARIOS).length && opts.impls.length === 3;
const writeDocs = !opts['no-docs'] && (opts.docs ?? fullRun);

// ------------------------------------------------------------------------------- targets
function targets(s) {
  const list = [];
  const cell = s.invoke?.cells.find(c => c.payloadBytes === 64 && c.inflight === 16);
  const add = (name, goal, value, ok) => list.push({ name, goal, value, met: value === null || value === undefined ? null : ok(value) });
  if (cell) {
    add('invoke calls/s vs cluster-client, 64 B × 16 in flight', '≥ 2.0×', cell.ratios.clusterShareVsClusterClient?.callsPerSecond, v => v >= 2);
    add('invoke calls/s vs bare socket, 64 B × 16 in flight', '≥ 1.0×', cell.ratios.clusterShareVsBare?.callsPerSecond, v => v >= 1);
    add('invoke p99 vs cluster-client, 64 B × 16 in flight', '≤ 0.5×', cell.ratios.clusterShareVsClusterClient?.p99, v => v <= 0.5);
    const worst = Math.max(...s.invoke.cells.map(c => c.ratios.clusterShareVsClusterClient?.p99 ?? -Infinity));
    if (Number.isFinite(worst)) add('invoke p99 vs cluster-client, worst of the 6 cells', '≤ 0.5×', worst, v => v <= 0.5);
  }
  for (const c of s.fanout?.cells ?? []) {
    add(`fan-out values/s vs cluster-client, ${c.followers} followers`, '≥ 3.0×', c.ratios.clusterShareVsClusterClient?.valuesPerSecond, v => v >= 3);
  }
  const latency = s['fanout-latency'];
  if (latency) {
    const fs = latency.cells.map(c => c.followers).join(', ');
    for (const [p, limit] of [['p50', 1.2], ['p99', 1]]) {
      const worst = Math.max(...latency.cells.map(c => c.ratios.clusterShareVsBare?.[p] ?? -Infinity));
      add(`fan-out to the LAST follower ${p} vs bare socket, worst of F = ${fs}`, `≤ ${limit.toFixed(1)}×`, Number.isFinite(worst) ? worst : null, v => v <= limit);
    }
  }
  if (s.memory) {
    add('follower RSS after warm-up + 10k calls vs cluster-client', '≤ 1.0×', s.memory.ratios.followerClusterShareVsClusterClient, v => v <= 1);
  }
  return list;
}

// --------------------------------------------------------------------------------- chart
function chart(s, impls, m = machine(), quick = opts.quick) {
  const panels = [];
  const bars = (results, pick) => impls.map(impl => ({ impl, value: results[impl] ? pick(results[impl]) : null }));
  if (s.invoke) {
    const label = c => `${c.payloadBytes >= 1024 ? `${c.payloadBytes / 1024} KiB` : `${c.payloadBytes} B`} × ${c.inflight}`;
    panels.push({
      title: 'invoke: calls/s', subtitle: `echo(string), 1 leader + ${s.invoke.config.followers} followers; payload × in flight per follower · higher is better`,
      format: fmt.rate, groups: s.invoke.cells.map(c => ({ label: label(c), bars: bars(c.results, r => r.perSecond) })),
    });
    panels.push({
      title: 'invoke: p99 latency', subtitle: 'over all calls of the followers · log scale · lower is better',
      format: fmt.us, scale: 'log', groups: s.invoke.cells.map(c => ({ label: label(c), bars: bars(c.results, r => r.p99Us) })),
    });
  }
  if (s.oneway) {
    panels.push({
      title: 'oneway: calls/s received by the leader', subtitle: `hit(64 B) as invokeOneway, ${s.oneway.config.followers} followers · higher is better`,
      format: fmt.rate, groups: [{ label: `${s.oneway.config.followers} followers`, bars: bars(s.oneway.results, r => r.receivedPerSecond) }],
    });
  }
  if (s.fanout) {
    panels.push({
      title: 'fan-out: values/s delivered', subtitle: `saturated, window ${s.fanout.config.window}, summed over followers · higher is better`,
      format: fmt.rate, groups: s.fanout.cells.map(c => ({ label: `${c.followers} followers`, bars: bars(c.results, r => r.saturated.valuesPerSecond) })),
    });
    panels.push({
      title: `fan-out: delivery latency at ${s.fanout.config.rate} values/s`, subtitle: 'p50 / p99 push → listener · log scale · lower is better',
      format: fmt.us, scale: 'log', groups: s.fanout.cells.flatMap(c => [
        { label: `${c.followers} f. p50`, bars: bars(c.results, r => r.paced.p50Us) },
        { label: `${c.followers} f. p99`, bars: bars(c.results, r => r.paced.p99Us) },
      ]),
    });
  }
  const latency = s['fanout-latency'];
  if (latency) {
    panels.push({
      title: 'fan-out: push → the LAST of F followers',
      // Interleaved, p50/p99 are over the values of all rounds; an older result (no order) took medians of rounds.
      subtitle: `p50 / p99 over ${latency.config.order === 'interleaved' ? `${latency.config.rounds * latency.config.values} paced values, the implementations interleaved`
        : `${latency.config.values} paced values`}; floor = bare socket, same run · log scale · lower is better`,
      format: fmt.us, scale: 'log', groups: latency.cells.flatMap(c => [
        { label: `F = ${c.followers} p50`, bars: bars(c.results, r => r.p50Us) },
        { label: `F = ${c.followers} p99`, bars: bars(c.results, r => r.p99Us) },
      ]),
    });
  }
  if (s.startup) {
    panels.push({
      title: 'startup: N processes until all ready', subtitle: `forked at once, ready + first call answered, median of ${s.startup.config.repeat} · lower is better`,
      format: fmt.ms, groups: s.startup.cells.map(c => ({ label: `N = ${c.n}`, bars: bars(c.results, r => r.allReadyMs) })),
    });
  }
  if (s.memory) {
    panels.push({
      title: 'memory: RSS', subtitle: 'follower after warm-up + 10k calls; leader with many followers · lower is better',
      format: fmt.mb, groups: [
        { label: 'follower', bars: bars(s.memory.followers, r => r.afterCallsRss) },
        { label: `leader + ${s.memory.config.many}`, bars: bars(s.memory.leader, r => r.withFollowersRss) },
      ],
    });
  }
  if (s.upstream) {
    const modes = s.upstream.config.modes;
    const ubars = (results, pick) => modes.map(impl => ({ impl, value: pick(results[impl]) }));
    panels.push({
      title: 'upstream: connections to the config server', subtitle: 'N processes; own client each vs one shared client · lower is better',
      format: fmt.int, groups: s.upstream.cells.map(c => ({ label: `N = ${c.n}`, bars: ubars(c.results, r => r.upstreamConnections) })),
    });
    panels.push({
      title: 'upstream: getConfig p50 latency', subtitle: 'the price of sharing: followers take one more loopback hop · lower is better',
      format: fmt.us, groups: s.upstream.cells.map(c => ({ label: `N = ${c.n}`, bars: ubars(c.results, r => r.p50Us) })),
    });
  }
  const chartImpls = [...impls, ...(s.upstream ? ['direct'] : [])];
  const disturbed = Object.entries(s).filter(([, r]) => r.foreignCpuShare > 0.1).map(([name]) => name);
  return renderChart({
    title: 'cluster-share vs cluster-client 3.7.0 vs a bare socket',
    subtitle: `${m.cpuModel} × ${m.cpuCount}, ${m.totalMemory}, node ${m.node}, ${m.date.slice(0, 10)}${quick ? ' (--quick run)' : ''} · npm run bench` +
      (disturbed.length ? ` · DISTURBED by other processes: ${disturbed.join(', ')}` : ''),
    warning: disturbed.length > 0,
    panels,
    impls: chartImpls,
  });
}

// ---------------------------------------------------------------------------------- main
/** Which sources were measured: the commit, and whether src/ had uncommitted changes (built too). */
function source() {
  const git = args => {
    const r = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : null;
  };
  const commit = git(['rev-parse', 'HEAD']);
  const changed = git(['status', '--porcelain', '--', 'src']);
  return { commit, srcUncommittedChanges: changed === null ? null : changed !== '' };
}

/** --render: the chart of an earlier run, nothing measured. */
function render(file) {
  const data = JSON.parse(readFileSync(file, 'utf8'));
  const svg = chart(data.scenarios, data.implementations, data.machine, data.quick);
  mkdirSync(resultsDir, { recursive: true });
  const files = [join(resultsDir, 'chart.svg')];
  if (opts.docs) files.push(join(root, 'docs', 'benchmark.svg'));
  for (const f of files) writeFileSync(f, svg);
  console.log(`written: ${files.map(f => relative(root, f)).join(', ')} (from ${file})`);
}

async function main() {
  if (opts.render) return render(opts.render);
  const started = Date.now();
  const measured = source();
  snapshotClusterShare();
  console.log(`benchmark suite: ${only.join(', ')}${opts.quick ? ' (--quick)' : ''}; implementations: ${opts.impls.join(', ')}`);
  printMachine();
  if (measured.commit) console.log(`sources: ${measured.commit.slice(0, 12)}${measured.srcUncommittedChanges ? ' + uncommitted changes in src/' : ''}`);
  const scenarios = {};
  const busyNotes = [];
  for (const name of only) {
    if (waitIdleS > 0) await waitIdle(waitIdleS);
    // Other processes using the CPUs (a test suite, a build) skew every number: say so.
    const before = cpuSnapshot();
    const t = Date.now();
    scenarios[name] = await SCENARIOS[name].run({ quick: opts.quick, impls: opts.impls });
    scenarios[name].durationS = Math.round((Date.now() - t) / 100) / 10;
    const foreign = foreignCpuShare(before, cpuSnapshot());
    scenarios[name].foreignCpuShare = foreign;
    if (foreign !== null && foreign > 0.1) {
      const note = `during ${name}: other processes used ${(foreign * 100).toFixed(0)} % of the CPU time; its numbers are disturbed`;
      busyNotes.push(note);
      console.log(`\n!! ${note}`);
    }
  }

  const list = targets(scenarios);
  if (list.length) {
    printTable('targets — cluster-share against cluster-client 3.7.0 and the bare socket',
      ['target', 'goal', 'measured', 'status'],
      list.map(t => [t.name, t.goal, fmtRatio(t.value), t.met === null ? 'n/a' : t.met ? 'met' : 'NOT met']),
      { leftColumns: 2 });
  }
  for (const note of busyNotes) console.log(`note: ${note}`);

  const durationS = Math.round((Date.now() - started) / 1000);
  const json = JSON.stringify({ machine: machine(), source: measured, quick: opts.quick, durationS, implementations: opts.impls, targets: list, busyNotes, scenarios }, roundNumbers, 2) + '\n';
  const svg = chart(scenarios, opts.impls);
  mkdirSync(resultsDir, { recursive: true });
  const files = [join(resultsDir, 'latest.json'), join(resultsDir, 'chart.svg')];
  writeFileSync(files[0], json);
  writeFileSync(files[1], svg);
  if (writeDocs) {
    mkdirSync(join(root, 'docs'), { recursive: true });
    files.push(join(root, 'docs', 'benchmark.json'), join(root, 'docs', 'benchmark.svg'));
    writeFileSync(files[2], json);
    writeFileSync(files[3], svg);
  }
  console.log(`\nwritten: ${files.map(f => relative(root, f)).join(', ')} (suite took ${durationS} s)`);
}

main().then(
  () => {
    cleanup();
    process.exit(0);
  },
  err => {
    console.error(`\nbenchmark suite failed: ${err.stack ?? err}`);
    cleanup();
    process.exit(1);
  },
);
