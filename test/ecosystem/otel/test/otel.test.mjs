// Runs the example (node example.mjs) and checks, from the spans both processes exported, that a
// follower's calls and the leader's work on them form one trace. Proves first that
// 'cluster-share' is the packed copy of this checkout.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(dir, 'package.json'));

test('cluster-share resolves to the packed package (not the checkout), which exports the tracing channel names', async () => {
  const pkgFile = require.resolve('cluster-share/package.json');
  assert.equal(JSON.parse(fs.readFileSync(pkgFile, 'utf8')).name, 'cluster-share');
  assert.ok(!fs.lstatSync(path.dirname(pkgFile)).isSymbolicLink(), 'a packed copy, as from the registry');
  const { TRACING_CHANNELS } = await import('cluster-share');
  assert.equal(TRACING_CHANNELS.invoke, 'cluster-share:invoke');
  assert.equal(TRACING_CHANNELS.serve, 'cluster-share:serve');
});

test('the example: one trace across the follower and the leader', { timeout: 120_000 }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eco-otel-'));
  const spansFile = path.join(tmp, 'spans.jsonl');
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['example.mjs', '--spans', spansFile], { cwd: dir, timeout: 90_000 });
    const result = JSON.parse(/^RESULT (.*)$/m.exec(stdout)?.[1] ?? 'null');
    assert.equal(result?.ok, true, stdout);
    const { leaderPid, followerPid } = result;
    assert.notEqual(leaderPid, followerPid);

    const spans = fs.readFileSync(spansFile, 'utf8').split('\n').filter(Boolean).map(line => JSON.parse(line));
    const byId = new Map(spans.map(s => [s.spanId, s]));
    assert.deepEqual([...new Set(spans.map(s => s.traceId))].length, 1, 'one trace id across the two processes');
    assert.deepEqual([...new Set(spans.map(s => s.pid))].sort(), [leaderPid, followerPid].sort(), 'spans from both processes');

    const checkout = spans.find(s => s.name === 'checkout');
    assert.equal(checkout.pid, followerPid);
    assert.equal(checkout.parentSpanId, undefined, 'the root of the trace');

    const clients = spans.filter(s => s.kind === 'CLIENT');
    const servers = spans.filter(s => s.kind === 'SERVER');
    assert.deepEqual(clients.map(s => s.attributes['rpc.method']).sort(), ['lookup', 'reserve', 'reserve']);
    for (const client of clients) {
      assert.equal(client.pid, followerPid, 'client spans in the follower');
      assert.equal(client.parentSpanId, checkout.spanId, 'children of the caller\'s active span');
      assert.equal(client.name, `Inventory/${client.attributes['rpc.method']}`, 'the span name says the method');
      assert.equal(client.attributes['rpc.service'], 'Inventory');
      assert.equal(client.attributes['cluster_share.role'], 'follower');
      assert.equal(client.attributes['cluster_share.leader_pid'], leaderPid);
    }
    assert.equal(servers.length, 3);
    for (const server of servers) {
      assert.equal(server.pid, leaderPid, 'server spans in the leader');
      const parent = byId.get(server.parentSpanId);
      assert.ok(parent, `the server span ${server.name} has its parent in the trace`);
      assert.equal(parent.kind, 'CLIENT');
      assert.equal(parent.pid, followerPid, 'its parent is the follower\'s client span');
      assert.equal(server.attributes['rpc.method'], parent.attributes['rpc.method'], 'for the same method');
      assert.equal(server.attributes['cluster_share.follower_pid'], followerPid);
    }
    // The failed reservation: an error on both sides.
    const failed = spans.filter(s => s.status.code === 2);
    assert.deepEqual(failed.map(s => s.kind).sort(), ['CLIENT', 'SERVER']);
    for (const s of failed) {
      assert.equal(s.attributes['rpc.method'], 'reserve');
      assert.equal(s.status.message, 'only 1 pear left');
      assert.equal(s.attributes['error.type'], 'E_OUT_OF_STOCK');
      assert.equal(s.events[0]?.name, 'exception');
    }
    assert.equal(byId.get(failed.find(s => s.kind === 'SERVER').parentSpanId), failed.find(s => s.kind === 'CLIENT'));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
