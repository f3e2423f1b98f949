// What the group scenarios invoke.mjs and oneway.mjs share: one group (1 leader + F followers)
// per implementation, started together and stopped together, measured for a warm-up plus a timed
// window, and the command line that runs them (--duration, --warmup, --followers, ...).
import { Group, parseOptions, printMachine, runIfMain, writeResult } from './harness.mjs';

/** The options both scripts take besides --quick and --impl (all numbers). */
export const WINDOW_OPTIONS = {
  duration: { type: 'string' },
  warmup: { type: 'string' },
  followers: { type: 'string', default: '3' },
};

/** The warm-up and the measured window in ms: as given, else 500 + 2500 (--quick: 200 + 700). */
export function windowMs({ quick = false, warmup, duration }) {
  return { warmupMs: warmup ?? (quick ? 200 : 500), durationMs: duration ?? (quick ? 700 : 2500) };
}

/**
 * Starts a group of 1 leader + `followers` per implementation, one after the other, and calls
 * `measure(groups)` ({ impl: Group }); every group started is stopped afterwards, whatever happens.
 * Resolves with what `measure` resolves with.
 */
export async function withGroups(impls, followers, measure) {
  const groups = {};
  try {
    for (const impl of impls) groups[impl] = await Group.start(impl, followers);
    return await measure(groups);
  } finally {
    await Promise.all(Object.values(groups).map(g => g.stop()));
  }
}

/**
 * The command line of a group scenario, when `metaUrl` is the entry script: parses --quick,
 * --impl, WINDOW_OPTIONS and `extra` (more numeric options), prints the machine, runs
 * `run({ quick, impls, duration, warmup, followers, ...extra })` (an option not given is
 * undefined) and writes the result to benchmark/results/<name>.json.
 */
export function runGroupScenario(metaUrl, name, usage, run, extra = {}) {
  runIfMain(metaUrl, async () => {
    const options = { ...WINDOW_OPTIONS, ...extra };
    const opts = parseOptions(usage, options);
    printMachine();
    const args = { quick: opts.quick, impls: opts.impls };
    for (const key of Object.keys(options)) args[key] = opts[key] === undefined ? undefined : Number(opts[key]);
    const result = await run(args);
    console.log(`\nresults written to ${writeResult(name, result)}`);
  });
}
