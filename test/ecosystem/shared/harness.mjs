// Helpers of the ecosystem tests. Only node: built-ins (each sub-project imports this file from
// here, whatever it installed). No sleeps as synchronisation: waitFor() polls a condition with a
// deadline and says what it last saw when the deadline passes.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { ownerPackage } from './owner-package.cjs';

/**
 * Steps that share one running system (started by the first, used by the next): returns a
 * test() whose tests are skipped, naming the step that failed, once one of them has failed, so
 * that one failure is reported once and not as a cascade of confusing follow-up errors.
 * A step given { gate: false } only observes: its failure does not skip the steps after it.
 */
export function steps() {
  let failed = null;
  return (name, options, fn) => {
    if (typeof options === 'function') [options, fn] = [{}, options];
    const { gate = true, ...testOptions } = options;
    return test(name, testOptions, async t => {
      if (failed) {
        t.skip(`an earlier step failed: "${failed}"`);
        return;
      }
      try {
        await fn(t);
      } catch (err) {
        if (gate) failed = name;
        throw err;
      }
    });
  };
}

/**
 * Polls `check` (sync or async) until it returns a truthy value, and returns that value.
 * Throws, naming `what` and the last value or error seen, if `timeout` ms pass first.
 * (`interval` is the polling period, not a synchronisation sleep: the condition decides.)
 */
export async function waitFor(what, check, { timeout = 30_000, interval = 50 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const seen = last instanceof Error ? `${last.code ?? ''} ${last.stack}` : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last seen: ${seen}`);
    }
    await delay(interval);
  }
}

/** True while a process with this pid exists (and is not a zombie we could still signal). */
export function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return err.code === 'EPERM';
  }
  // A killed child of a process that has not reaped it yet is a zombie: dead for our purposes.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** A free TCP port on 127.0.0.1 (for egg's HTTP port: the scripts take a number, not 0). */
export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise(resolve => server.close(resolve));
  return port;
}

/** GET http://127.0.0.1:port/path, parsed as JSON. Rejects on a non-2xx status (with the body). */
export function getJson(port, urlPath, { timeout = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout }, res => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', chunk => (body += chunk));
      res.on('end', () => {
        if (res.statusCode < 200 || res.statusCode >= 300) {
          reject(new Error(`GET ${urlPath} answered ${res.statusCode}: ${body.slice(0, 2000)}`));
          return;
        }
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(new Error(`GET ${urlPath}: not JSON: ${body.slice(0, 500)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath}: no answer within ${timeout} ms`)));
    req.on('error', reject);
  });
}

/**
 * Runs a command to its end. Resolves { code, signal, stdout, stderr, ms }; never rejects for a
 * non-zero exit (the test asserts on it). Killed with SIGKILL after `timeout` ms.
 */
export function run(command, args, { cwd, env, timeout = 120_000 } = {}) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', chunk => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', chunk => (stderr += chunk));
    const timer = setTimeout(() => {
      stderr += `\n[harness] ${command} ${args.join(' ')} still running after ${timeout} ms: SIGKILL\n`;
      child.kill('SIGKILL');
    }, timeout);
    child.once('error', err => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Reads every <type>-<pid>.json state file the egg test apps write (shared/egg-app.cjs). */
export function readStates(dir) {
  const states = [];
  for (const name of fs.readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    try {
      states.push(JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')));
    } catch {
      // renamed into place atomically, so a parse error means a file being replaced: skip it
    }
  }
  return states;
}

/** A fresh temporary directory. */
export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cluster-share-eco-${prefix}-`));
}

/**
 * egg-logger entries of a log file: { time, level, pid, text } (the first line and the lines that
 * continue it: a stack, for an error). Lines before the first entry (the loader's timing chart) are
 * skipped. `from` is a byte offset, to read only what was written after it.
 */
export function logEntries(file, from = 0) {
  if (!fs.existsSync(file)) return [];
  const text = fs.readFileSync(file).subarray(from).toString('utf8');
  const entries = [];
  for (const line of text.split('\n')) {
    const m = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (ERROR|WARN|INFO|DEBUG) (\d+) (.*)$/.exec(line);
    if (m) entries.push({ time: m[1], level: m[2], pid: Number(m[3]), text: m[4], lines: [line] });
    else if (entries.length && line) entries.at(-1).lines.push(line);
  }
  return entries;
}

/** Byte size of every file under `dir` (to read only what a later step adds). */
export function logSizes(dir) {
  const sizes = {};
  for (const file of listFiles(dir)) sizes[file] = fs.statSync(file).size;
  return sizes;
}

export function listFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true })
    .map(name => path.join(dir, String(name)))
    .filter(file => fs.statSync(file).isFile());
}

/**
 * Every ERROR entry written to the *.log files under `dir` after the byte offsets in `since`
 * (from logSizes; files not in it are read whole). Each as { file, ...entry }.
 */
export function errorEntries(dir, since = {}) {
  const found = [];
  for (const file of listFiles(dir)) {
    if (!file.endsWith('.log')) continue;
    for (const entry of logEntries(file, since[file] ?? 0)) {
      if (entry.level === 'ERROR') found.push({ file: path.basename(file), ...entry });
    }
  }
  return found;
}

/** Bytes written to `file` after offset `from`, as text ('' if it does not exist). */
export function readFrom(file, from = 0) {
  if (!fs.existsSync(file)) return '';
  return fs.readFileSync(file).subarray(from).toString('utf8');
}

/**
 * Proves how `cluster-client` resolves in the installed sub-project at `projectDir`:
 *   - dependents: every package of package-lock.json that depends on cluster-client (egg, its
 *     plugins, a consumer library...), with what it resolves `cluster-client` to from its own
 *     directory, and that package's name;
 *   - copies: every directory named cluster-client anywhere in the node_modules tree, with the name
 *     in its package.json (a nested real cluster-client would show up here).
 */
export function clusterClientResolution(projectDir) {
  const lock = JSON.parse(fs.readFileSync(path.join(projectDir, 'package-lock.json'), 'utf8'));
  const dependents = [];
  for (const [location, entry] of Object.entries(lock.packages ?? {})) {
    const deps = { ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies };
    if (!location || !('cluster-client' in deps)) continue;
    const dir = path.join(projectDir, location);
    if (!fs.existsSync(dir)) continue; // an optional dependency not installed here
    const resolved = createRequire(path.join(dir, 'package.json')).resolve('cluster-client');
    dependents.push({ pkg: location.replace(/^.*node_modules\//, ''), resolved, name: ownerPackage(resolved).name });
  }
  const copies = [];
  const walk = modulesDir => {
    if (!fs.existsSync(modulesDir)) return;
    for (const entry of fs.readdirSync(modulesDir)) {
      if (entry.startsWith('.')) continue;
      const dirs = entry.startsWith('@')
        ? fs.readdirSync(path.join(modulesDir, entry)).map(sub => path.join(modulesDir, entry, sub))
        : [path.join(modulesDir, entry)];
      for (const dir of dirs) {
        if (path.basename(dir) === 'cluster-client') {
          const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
          copies.push({ dir: path.relative(projectDir, dir), name: pkg.name, symlink: fs.lstatSync(dir).isSymbolicLink() });
        }
        walk(path.join(dir, 'node_modules'));
      }
    }
  };
  walk(path.join(projectDir, 'node_modules'));
  return { dependents, copies };
}

/** The nearest package.json with a "name" above `file` (shared/owner-package.cjs, which the egg processes use too). */
export { ownerPackage };
