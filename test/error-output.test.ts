/**
 * An 'error' the DataClient emits is the application's to handle: printed to stderr once when
 * the application does not listen for 'error' on its client, never when it does. Each case runs
 * in a fresh process (the built package) so its stderr is its own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function runWith(listen: boolean): { stdout: string; stderr: string } {
  const script = `
    const cluster = require('cluster-share');
    // An sdk-base DataClient: sdk-base prints an 'error' only its own default listener hears.
    const { Base } = require('sdk-base');
    class Upstream extends Base {
      constructor() { super(); this.ready(true); }
      async fail() { this.emit('error', new Error('upstream went away')); return 'emitted'; }
    }
    const client = cluster(Upstream, { singleMode: true }).create();
    ${listen ? "client.on('error', err => console.log('handled: ' + err.message));" : ''}
    client.ready().then(() => client.fail()).then(r => { console.log(r); return cluster.close(client); });
  `;
  const out = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  return { stdout: out.stdout, stderr: out.stderr };
}

test('a DataClient error the application listens for is not printed; one it does not listen for is printed once', { timeout: 30_000 }, () => {
  const handled = runWith(true);
  assert.match(handled.stdout, /handled: upstream went away/);
  assert.equal(handled.stderr, '', 'nothing on stderr when the application listens');
  const unhandled = runWith(false);
  assert.match(unhandled.stdout, /emitted/);
  assert.equal(unhandled.stderr.split('upstream went away').length - 1, 2, `printed once (message and stack): ${unhandled.stderr}`);
});
