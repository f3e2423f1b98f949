// The cost of diagnostics_channel tracing (src/tracing.ts) on a follower's invoke: echo(64 B)
// from one follower to the leader, 1 leader + 1 follower process, in three setups:
//
//   none     no subscriber anywhere: the call path only checks hasSubscribers
//   trivial  the follower subscribes to tracing:cluster-share:invoke:start and :asyncEnd and does
//            trivial work there (a timestamp on the message, a counter)
//   carrier  what an OpenTelemetry instrumentation does on the wire: the follower puts a W3C
//            traceparent (a new one per call) in message.carrier at start, and the leader
//            subscribes to tracing:cluster-share:serve:start / :asyncEnd and reads it back
//            (so the carrier is validated, sent in every invoke packet, and validated again)
//
// Each setup with 1 call in flight (sequential) and with --concurrency calls in flight, --calls
// calls per cell after 10 % warm-up; --rounds rounds, the setups in a rotating order each round,
// the same two processes throughout (subscribers are switched by command). Per cell: the median
// over the rounds of calls/s, p50 and p99 (process.hrtime around each call, in the follower) and
// of the CPU time both processes used per call (the figure least disturbed by other load).
//
//   npm run build && node benchmark/tracing.mjs [--calls 20000] [--concurrency 16] [--rounds 3] [--quick]
//
// Uses the built dist/ (a private copy taken at start, see lib/harness.mjs); it never builds.
// Prints a table and a last line `RESULT {json}`; also writes benchmark/results/tracing.json.
import dc from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Histogram } from './lib/histogram.mjs';
import {
  IpcChild, cpuSnapshot, fmtInt, fmtRatio, fmtUs, foreignCpuShare, freePort, median, printMachine, printTable, ratio, roundNumbers, runIfMain, snapshotClusterShare, within, writeResult,
} from './lib/harness.mjs';

const here = fileURLToPath(import.meta.url);
const SETUPS = ['none', 'trivial', 'carrier'];
const PAYLOAD = 'x'.repeat(64);

// ------------------------------------------------------------------ child: leader or follower
const role = process.argv[2] === '--child' ? process.argv[3] : undefined;
if (role) {
  const [shareUrl, port] = process.argv.slice(4);
  const { default: cluster } = await import(shareUrl);
  class Echo extends EventEmitter {
    async echo(value) {
      return value;
    }
  }
  const quiet = { info() {}, warn() {}, error() {} };
  const client = cluster(Echo, { name: 'TracingBench', port: Number(port), isLeader: role === 'leader', logger: quiet }).create();
  await client.ready();
  process.on('disconnect', () => process.exit(0));

  // The subscribers of each setup, per role.
  const seen = { starts: 0, ends: 0, carriers: 0 };
  const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
  let spanSeq = 0;
  const subscribers = {
    follower: {
      none: {},
      trivial: {
        invoke: {
          start(message) {
            message.startedAt = performance.now();
            seen.starts++;
          },
          asyncEnd() {
            seen.ends++;
          },
        },
      },
      carrier: {
        invoke: {
          start(message) {
            message.carrier.traceparent = `00-${TRACE_ID}-${(++spanSeq).toString(16).padStart(16, '0')}-01`;
            seen.starts++;
          },
          asyncEnd() {
            seen.ends++;
          },
        },
      },
    },
    leader: {
      none: {},
      trivial: {},
      carrier: {
        serve: {
          start(message) {
            if (message.carrier.traceparent?.length === 55) seen.carriers++;
            seen.starts++;
          },
          asyncEnd() {
            seen.ends++;
          },
        },
      },
    },
  };
  const channels = { invoke: dc.tracingChannel('cluster-share:invoke'), serve: dc.tracingChannel('cluster-share:serve') };
  let current = {};
  const setSetup = setup => {
    for (const [name, handlers] of Object.entries(current)) channels[name].unsubscribe(handlers);
    current = subscribers[role][setup];
    for (const [name, handlers] of Object.entries(current)) channels[name].subscribe(handlers);
  };

  /** `calls` echo calls, `inflight` at a time; the first `warmup` are not measured. */
  async function run({ calls, warmup, inflight }) {
    const hist = new Histogram();
    let started = 0;
    let errors = 0;
    let measuredFrom = 0;
    const cpu0 = process.cpuUsage();
    const loop = async () => {
      while (started < calls + warmup) {
        const n = started++;
        if (n === warmup) measuredFrom = performance.now();
        const t0 = process.hrtime.bigint();
        try {
          await client.echo(PAYLOAD);
          if (n >= warmup) hist.add(Number(process.hrtime.bigint() - t0) / 1000);
        } catch {
          errors++;
        }
      }
    };
    await Promise.all(Array.from({ length: inflight }, loop));
    const ms = performance.now() - measuredFrom;
    const cpu = process.cpuUsage(cpu0);
    return { ms, cpuUs: cpu.user + cpu.system, hist: hist.toJSON(), errors };
  }

  process.on('message', async message => {
    const answer = body => process.send({ id: message.id, ...body });
    try {
      if (message.cmd === 'setup') {
        setSetup(message.setup);
        answer({});
      } else if (message.cmd === 'run') {
        answer(await run(message));
      } else if (message.cmd === 'cpu') {
        const cpu = process.cpuUsage();
        answer({ cpuUs: cpu.user + cpu.system });
      } else if (message.cmd === 'seen') {
        answer({ seen: { ...seen } });
        seen.starts = seen.ends = seen.carriers = 0;
      }
    } catch (err) {
      answer({ error: err.stack ?? String(err) });
    }
  });
  process.send({ type: 'ready', isLeader: client.isClusterClientLeader });
}

// -------------------------------------------------------------------------------- parent
async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        calls: { type: 'string' },
        concurrency: { type: 'string', default: '16' },
        rounds: { type: 'string', default: '3' },
        quick: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    console.error(`${err.message}\nusage: node benchmark/tracing.mjs [--calls 20000] [--concurrency 16] [--rounds 3] [--quick]`);
    process.exit(2);
  }
  const calls = Number(values.calls ?? (values.quick ? 5000 : 20_000));
  const concurrency = Number(values.concurrency);
  const rounds = Number(values.rounds);
  const warmup = Math.ceil(calls / 10);
  const workloads = [{ label: 'sequential', inflight: 1 }, { label: `${concurrency} in flight`, inflight: concurrency }];

  printMachine();
  console.log(`== tracing: echo(64 B), 1 leader + 1 follower; ${calls} calls per cell (+${warmup} warm-up), ${rounds} rounds, medians`);
  const shareUrl = snapshotClusterShare();
  const port = await freePort();
  const start = r => new IpcChild(here, ['--child', r, shareUrl, String(port)], `tracing ${r}`);
  const leader = start('leader');
  const leaderInfo = await within(leader.ready, 60_000, 'the leader did not start');
  if (!leaderInfo.isLeader) throw new Error('the leader process does not lead');
  const follower = start('follower');
  const followerInfo = await within(follower.ready, 60_000, 'the follower did not start');
  if (followerInfo.isLeader) throw new Error('the follower process leads');
  const ask = (child, message) => within(child.call(message), 300_000, `${child.label}: no answer to ${message.cmd}`);

  // samples[workload][setup] = [{ perSecond, p50Us, p99Us }, ...] (one per round)
  const samples = Object.fromEntries(workloads.map(w => [w.label, Object.fromEntries(SETUPS.map(s => [s, []]))]));
  const checks = [];
  /** Per cell: the share of the machine's CPU other processes used meanwhile. */
  const foreignShares = [];
  for (let round = 0; round < rounds; round++) {
    for (const [wi, workload] of workloads.entries()) {
      const order = SETUPS.map((_, i) => SETUPS[(i + round + wi) % SETUPS.length]);
      process.stdout.write(`  round ${round + 1}, ${workload.label}: ${order.join(', ')}\n`);
      for (const setup of order) {
        await Promise.all([ask(leader, { cmd: 'setup', setup }), ask(follower, { cmd: 'setup', setup })]);
        const cpuBefore = cpuSnapshot();
        const leaderCpu0 = (await ask(leader, { cmd: 'cpu' })).cpuUs;
        const r = await ask(follower, { cmd: 'run', calls, warmup, inflight: workload.inflight });
        const leaderCpu = (await ask(leader, { cmd: 'cpu' })).cpuUs - leaderCpu0;
        const foreign = foreignCpuShare(cpuBefore, cpuSnapshot());
        if (r.error) throw new Error(r.error);
        if (foreign !== null) foreignShares.push(foreign);
        const [{ seen: onLeader }, { seen: onFollower }] = await Promise.all([ask(leader, { cmd: 'seen' }), ask(follower, { cmd: 'seen' })]);
        checks.push({ round, workload: workload.label, setup, errors: r.errors, onFollower, onLeader });
        const hist = new Histogram().merge(r.hist);
        // CPU time of both processes per call (warm-up included): what tracing costs, whatever
        // else runs on the machine.
        const cpuPerCallUs = (r.cpuUs + leaderCpu) / (calls + warmup);
        samples[workload.label][setup].push({ perSecond: calls / (r.ms / 1000), p50Us: hist.percentile(0.5), p99Us: hist.percentile(0.99), cpuPerCallUs });
      }
    }
  }
  await Promise.all([leader.kill(), follower.kill()]);

  // Did each setup do what it says? (subscribers ran for every call; carriers arrived)
  const total = calls + warmup;
  const problems = [];
  for (const c of checks) {
    const expect = {
      none: { fs: 0, ls: 0, carriers: 0 },
      trivial: { fs: total, ls: 0, carriers: 0 },
      carrier: { fs: total, ls: total, carriers: total },
    }[c.setup];
    if (c.errors || c.onFollower.starts !== expect.fs || c.onFollower.ends !== expect.fs || c.onLeader.starts !== expect.ls || c.onLeader.carriers !== expect.carriers) {
      problems.push(c);
    }
  }

  const cells = [];
  for (const workload of workloads) {
    const med = setup => {
      const s = samples[workload.label][setup];
      return { perSecond: median(s.map(x => x.perSecond)), p50Us: median(s.map(x => x.p50Us)), p99Us: median(s.map(x => x.p99Us)), cpuPerCallUs: median(s.map(x => x.cpuPerCallUs)), rounds: s };
    };
    const none = med('none');
    for (const setup of SETUPS) {
      const m = setup === 'none' ? none : med(setup);
      cells.push({
        workload: workload.label, inflight: workload.inflight, setup, ...m,
        vsNone: { callsPerSecond: ratio(m.perSecond, none.perSecond), p50: ratio(m.p50Us, none.p50Us), p99: ratio(m.p99Us, none.p99Us), cpuPerCall: ratio(m.cpuPerCallUs, none.cpuPerCallUs) },
        extraCpuPerCallUs: m.cpuPerCallUs - none.cpuPerCallUs,
      });
    }
  }
  const rows = [];
  for (const workload of workloads) {
    if (rows.length) rows.push('-');
    for (const c of cells.filter(x => x.workload === workload.label)) {
      const vs = key => (c.setup === 'none' ? '' : fmtRatio(c.vsNone[key]));
      rows.push([c.setup === 'none' ? workload.label : '', c.setup, fmtInt(c.perSecond), fmtUs(c.p50Us), fmtUs(c.p99Us), `${c.cpuPerCallUs.toFixed(1)} µs`,
        vs('callsPerSecond'), vs('p50'), vs('p99'), c.setup === 'none' ? '' : `${fmtRatio(c.vsNone.cpuPerCall)} (${c.extraCpuPerCallUs >= 0 ? '+' : '−'}${Math.abs(c.extraCpuPerCallUs).toFixed(1)} µs)`]);
    }
  }
  printTable(`invoke echo(64 B) follower → leader, ${calls} calls per cell, median of ${rounds} rounds`,
    ['workload', 'subscribers', 'calls/s', 'p50', 'p99', 'CPU/call', 'calls/s vs none', 'p50 vs none', 'p99 vs none', 'CPU/call vs none'], rows,
    { leftColumns: 2, note: 'none: no subscriber; trivial: invoke start/asyncEnd in the follower; carrier: a traceparent per call, read by a serve subscriber in the leader.\nCPU/call: user + system CPU time of both processes per call (the least disturbed by other load on the machine).\nratios: calls/s below 1 = slower than with no subscriber; p50/p99/CPU above 1 = more' });
  const foreignMax = foreignShares.length ? Math.max(...foreignShares) : null;
  if (foreignMax !== null) {
    console.log(`\nother processes used ${(median(foreignShares) * 100).toFixed(0)} % of the machine's CPU during the median cell (${(foreignMax * 100).toFixed(0)} % at most)${foreignMax > 0.1 ? ': the numbers are disturbed, run it again on a quiet machine' : ''}`);
  }
  if (problems.length) console.log(`\n✘ ${problems.length} cell(s) did not trace as expected: ${JSON.stringify(problems.slice(0, 3))}`);
  else console.log('\n✔ every cell: the subscribers saw every call (and the leader every carrier) in its setup, none in the others; no call failed');

  const result = { scenario: 'tracing', config: { calls, warmup, concurrency, rounds, payloadBytes: 64 }, ok: problems.length === 0, foreignCpuShare: { median: median(foreignShares), max: foreignMax }, cells, problems };
  const file = writeResult('tracing', result);
  console.log(`results: ${file}`);
  console.log(`RESULT ${JSON.stringify(result, roundNumbers)}`);
  if (problems.length) throw new Error('some cells did not trace as expected (see above)');
}

if (!role) runIfMain(import.meta.url, main);
