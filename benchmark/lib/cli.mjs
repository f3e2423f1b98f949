// The command line of a benchmark script: parseArgs with a usage text, exit 2 on bad usage.
import { parseArgs } from 'node:util';

/**
 * node:util parseArgs of `options` plus -h/--help: prints `usage` and exits 0 on --help, prints
 * the error and `usage` and exits 2 on a bad option; else returns the values.
 */
export function parseOrExit(options, usage) {
  let values;
  try {
    ({ values } = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h', default: false } } }));
  } catch (err) {
    console.error(`${err.message}\n${usage}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  return values;
}

/**
 * Parses the options (node:util parseArgs `options`, plus --help). Returns the values, an
 * integer reader (`int(name, min)`) and the implementations chosen by `--impl`
 * (both, cluster-share or cluster-client). Prints `usage` and exits on --help or bad input.
 */
export function benchArgs(options, usage) {
  const args = parseOrExit(options, usage);
  const int = (name, min) => {
    const value = Number(args[name]);
    if (!Number.isInteger(value) || value < min) {
      console.error(`--${name} must be an integer >= ${min}, got ${args[name]}\n${usage}`);
      process.exit(2);
    }
    return value;
  };
  const impls = () => {
    const chosen = { both: ['cluster-share', 'cluster-client'], 'cluster-share': ['cluster-share'], 'cluster-client': ['cluster-client'] }[args.impl];
    if (!chosen) {
      console.error(`--impl must be both, cluster-share or cluster-client, got ${args.impl}\n${usage}`);
      process.exit(2);
    }
    return chosen;
  };
  return { args, int, impls };
}
