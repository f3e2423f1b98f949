/**
 * The published shape: require() returns the callable cluster function (as cluster-client 3.x),
 * and ESM default and named imports work. Runs the built package (dist/) in fresh processes.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function run(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim();
}

test('require() returns the callable cluster function with .close and .APIClientBase', () => {
  const out = run(['-e', `
    const cluster = require('cluster-share');
    const { APIClientBase, close, cluster: named } = require('cluster-share');
    console.log(JSON.stringify({
      callable: typeof cluster,
      close: typeof cluster.close,
      base: typeof cluster.APIClientBase,
      destructured: typeof APIClientBase === 'function' && typeof close === 'function' && named === cluster,
      generator: typeof cluster(class A { async x() {} }).delegate,
    }));
  `]);
  assert.deepEqual(JSON.parse(out), { callable: 'function', close: 'function', base: 'function', destructured: true, generator: 'function' });
});

test('ESM default and named imports work and are the same functions', () => {
  const out = run(['--input-type=module', '-e', `
    import cluster, { APIClientBase, close, cluster as named, ResponseTimeoutError } from 'cluster-share';
    console.log(JSON.stringify({
      callable: typeof cluster,
      same: cluster === named && cluster.close === close && cluster.APIClientBase === APIClientBase,
      error: new ResponseTimeoutError('m', 1, 'x').code,
    }));
  `]);
  assert.deepEqual(JSON.parse(out), { callable: 'function', same: true, error: 'ERR_CLUSTER_RESPONSE_TIMEOUT' });
});

test('the npm package ships the cluster-share bin and both builds, and no tests', () => {
  // Under `npm test` npm_execpath is npm's own CLI; elsewhere use npm from the PATH.
  const npm = process.env.npm_execpath;
  const args = ['pack', '--dry-run', '--json', '--ignore-scripts'];
  const out = npm
    ? execFileSync(process.execPath, [npm, ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    : execFileSync('npm', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], shell: process.platform === 'win32' });
  const [pack] = JSON.parse(out) as Array<{ files: Array<{ path: string }> }>;
  const paths = new Set(pack!.files.map(f => f.path));
  const { bin } = JSON.parse(run(['-p', 'JSON.stringify(require("cluster-share/package.json"))'])) as { bin: Record<string, string> };
  const binPath = bin['cluster-share']!.replace(/^\.\//, '');
  for (const shipped of [binPath, 'dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/commonjs/cjs.cjs', 'dist/commonjs/cjs.d.cts', 'README.md', 'package.json']) {
    assert.ok(paths.has(shipped), `the package contains ${shipped}`);
  }
  const leaked = [...paths].filter(p => /^(test|\.test-build|benchmark|example)\//.test(p));
  assert.deepEqual(leaked, [], 'no tests, benchmarks or examples in the package');
  // The bin runs as it is shipped (it is what `npx cluster-share` executes).
  assert.match(run([binPath, '--help']), /^Usage: cluster-share status/);
});
