#!/usr/bin/env node
// Runs the ecosystem tests: real consumers of cluster-client 3.x (egg 3, egg 4, a library shaped
// like zookeeper-cluster-client) with cluster-client resolved to this package by npm overrides.
//
//   node test/ecosystem/run.mjs [project...] [--no-build] [--no-install]
//
// For each sub-project (api-client, egg3, egg4, types, otel by default): `npm ci` from its committed
// package-lock.json (which packs THIS checkout as node_modules/cluster-client: install-links),
// then its node:test files (test/*.test.mjs) with `node --test`.
//   --no-build    do not run `npm run build` in the repository first (CI: `npm test` just built)
//   --no-install  reuse each sub-project's node_modules as installed (a quicker rerun of the
//                 tests; the copy of cluster-share in it is the dist/ of that install)
//   --update-locks `npm install cluster-client@file:../../..` instead of `npm ci`: rewrites each
//                 package-lock.json (needed when the repository's package.json changes its
//                 dependencies; commit the locks)
// Ends with "N passed, N failed" and exits 1 if a test failed, a file hung, or an install failed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

const PROJECTS = {
  // No --test-force-exit here: a handle cluster-share left open after close() would keep the
  // test process alive, and the watchdog below reports it.
  'api-client': { forceExit: false },
  // egg leaves ref'd timers behind after app.close() in the test process (egg-watcher's
  // development event source interval, egg-schedule's timers): egg-bin runs mocha with --exit for
  // that reason; --test-force-exit is node:test's equivalent. It only matters for mm.app().
  egg3: { forceExit: true },
  egg4: { forceExit: true },
  // The packed package's .d.ts files in a strict TypeScript consumer (today's toolchain).
  types: { forceExit: false },
  // OpenTelemetry over cluster-share's diagnostics_channel tracing: one trace across two processes.
  otel: { forceExit: false },
};
const FILE_TIMEOUT_MS = 300_000; // one test (a step of a suite)
const PROJECT_WATCHDOG_MS = 600_000; // a whole `node --test` run, hung or not
const INSTALL_TIMEOUT_MS = 600_000;

const argv = process.argv.slice(2);
const flags = new Set(argv.filter(a => a.startsWith('--')));
for (const flag of flags) {
  if (!['--no-build', '--no-install', '--update-locks'].includes(flag)) {
    console.error(`unknown option ${flag}`);
    process.exit(2);
  }
}
const selected = argv.filter(a => !a.startsWith('--'));
for (const name of selected) {
  if (!(name in PROJECTS)) {
    console.error(`unknown project ${name}; known: ${Object.keys(PROJECTS).join(', ')}`);
    process.exit(2);
  }
}
const projects = selected.length ? selected : Object.keys(PROJECTS);

/**
 * Runs a command, its output passed through; resolves { code, signal, ms, timedOut, stdout }
 * (stdout kept too when `capture`).
 */
function sh(command, args, { cwd, timeout, env = process.env, capture = false }) {
  const started = Date.now();
  return new Promise(resolve => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'] });
    let stdout = '';
    if (capture) {
      child.stdout.on('data', chunk => {
        process.stdout.write(chunk);
        stdout += chunk;
      });
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeout);
    child.once('error', err => {
      clearTimeout(timer);
      console.error(err);
      resolve({ code: 1, signal: null, ms: Date.now() - started, timedOut, stdout });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ms: Date.now() - started, timedOut, stdout });
    });
  });
}

const sortKeys = o => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const seconds = ms => `${(ms / 1000).toFixed(1)} s`;
const results = [];
const startedAll = Date.now();

if (!flags.has('--no-build')) {
  console.log('# ecosystem: npm run build (the repository)');
  const build = await sh(npm, ['run', 'build', '--silent'], { cwd: root, timeout: INSTALL_TIMEOUT_MS });
  console.log(`# ecosystem: build took ${seconds(build.ms)}`);
  if (build.code !== 0) {
    console.error('# ecosystem: the build failed');
    process.exit(1);
  }
}
for (const file of flags.has('--no-install') ? [] : ['dist/commonjs/cjs.cjs', 'dist/esm/index.js']) {
  if (!fs.existsSync(path.join(root, file))) {
    console.error(`# ecosystem: ${file} is missing: build the repository first (npm run build)`);
    process.exit(1);
  }
}

for (const name of projects) {
  const dir = path.join(here, name);
  const result = { name, installMs: 0, testMs: 0, pass: 0, fail: 0, skipped: 0, note: '' };
  results.push(result);

  if (!flags.has('--no-install') && !flags.has('--update-locks')) {
    // The lock records cluster-share's own dependencies as they were when it was written; npm ci
    // installs those, so a dependency added since would be missing at run time. Say so plainly.
    const lock = JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8'));
    // Installed as cluster-client (the consumers of 3.x) or under its own name (the types consumer).
    const entry = lock.packages?.['node_modules/cluster-client'] ?? lock.packages?.['node_modules/cluster-share'];
    const locked = entry?.dependencies ?? {};
    const wanted = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).dependencies ?? {};
    if (JSON.stringify(sortKeys(locked)) !== JSON.stringify(sortKeys(wanted))) {
      result.note = `package-lock.json records cluster-share's dependencies as ${JSON.stringify(locked)}, package.json has ${JSON.stringify(wanted)}: run \`node test/ecosystem/run.mjs --update-locks\` and commit the locks`;
      result.fail = 1;
      continue;
    }
  }
  if (!flags.has('--no-install')) {
    // (`npm install` alone keeps the lock's record of the checkout while its version is the same:
    // naming the spec makes npm pack it again and record its dependencies anew.)
    // Then `npm ci` in both cases: a fresh node_modules, with a fresh copy of dist/.
    const commands = flags.has('--update-locks') ? [['install', 'cluster-client@file:../../..'], ['ci']] : [['ci']];
    let installFailed = false;
    for (const command of commands) {
      console.log(`\n# ecosystem ${name}: npm ${command.join(' ')}`);
      const install = await sh(npm, [...command, '--no-audit', '--no-fund'], { cwd: dir, timeout: INSTALL_TIMEOUT_MS });
      result.installMs += install.ms;
      if (install.code !== 0) {
        result.note = install.timedOut ? `npm ${command[0]} timed out` : `npm ${command[0]} exited ${install.code}`;
        result.fail = 1;
        installFailed = true;
        break;
      }
    }
    if (installFailed) continue;
  } else if (!fs.existsSync(path.join(dir, 'node_modules'))) {
    result.note = 'no node_modules (run without --no-install)';
    result.fail = 1;
    continue;
  }

  const files = fs
    .readdirSync(path.join(dir, 'test'))
    .filter(f => f.endsWith('.test.mjs'))
    .sort()
    .map(f => path.join('test', f));
  const args = [
    '--test',
    '--test-concurrency=1', // the suites start real process groups: one at a time on 2 cores
    `--test-timeout=${FILE_TIMEOUT_MS}`,
    '--test-reporter=spec',
    ...(PROJECTS[name].forceExit ? ['--test-force-exit'] : []),
    ...files,
  ];
  console.log(`\n# ecosystem ${name}: node ${args.join(' ')}`);
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const tests = await sh(process.execPath, args, { cwd: dir, timeout: PROJECT_WATCHDOG_MS, env, capture: true });
  result.testMs = tests.ms;
  // the spec reporter's closing lines: "ℹ pass 12", "ℹ fail 0", ...
  const count = key => Number(new RegExp(`^\\S+ ${key} (\\d+)$`, 'm').exec(tests.stdout)?.[1] ?? 0);
  result.pass = count('pass');
  result.fail = count('fail') + count('cancelled');
  result.skipped = count('skipped');
  if (tests.timedOut) {
    result.note = `still running after ${seconds(PROJECT_WATCHDOG_MS)}: killed (a test hung, or the process did not exit after its tests)`;
    result.fail = Math.max(result.fail, 1);
  } else if (tests.code !== 0 && result.fail === 0) {
    result.note = `node --test exited ${tests.code ?? tests.signal}`;
    result.fail = 1;
  } else if (result.pass + result.fail === 0) {
    result.note = 'no test ran';
    result.fail = 1;
  }
}

console.log('\n# ecosystem summary');
for (const r of results) {
  console.log(`#   ${r.name.padEnd(11)} install ${seconds(r.installMs).padStart(7)}  tests ${seconds(r.testMs).padStart(7)}  pass ${String(r.pass).padStart(3)}  fail ${String(r.fail).padStart(3)}  skipped ${String(r.skipped).padStart(3)}${r.note ? `  (${r.note})` : ''}`);
}
console.log(`#   total ${seconds(Date.now() - startedAll)}`);
const passed = results.reduce((n, r) => n + r.pass, 0);
const failed = results.reduce((n, r) => n + r.fail, 0);
const skipped = results.reduce((n, r) => n + r.skipped, 0);
console.log(`ecosystem: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
