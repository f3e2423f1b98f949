// egg's test tooling against the same application: mm.app() (agent and application in THIS
// process, as egg's unit tests run) and mm.cluster() (a real master, agent and app workers),
// each with app.httpRequest(). Shared by egg3/ (egg-mock) and egg4/ (@eggjs/mock).
import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Upstream } from './upstream.mjs';
import { alive, errorEntries, freePort, readStates, steps, tempDir, waitFor } from './harness.mjs';

const require = createRequire(import.meta.url);
const { constructedCount } = require('./data-client.cjs');

/** Sets the variables the application reads; returns a function that restores them. */
function setEnv(vars) {
  const saved = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/**
 * projectDir  the egg application
 * label       'egg3' / 'egg4'
 * mm          egg-mock's / @eggjs/mock's mm
 */
export function eggMockSuite({ projectDir, label, mm }) {
  const logDir = path.join(projectDir, 'logs');

  describe(`${label}: mm.app(): agent and application in the test process`, () => {
    const test = steps();
    const ctx = {};
    let restoreEnv;
    before(async () => {
      ctx.upstream = await new Upstream().start();
      ctx.stateDir = tempDir(`${label}-mock-app`);
      restoreEnv = setEnv({ EGG_SERVER_ENV: 'unittest', ECO_UPSTREAM: ctx.upstream.address, ECO_STATE_DIR: ctx.stateDir });
      ctx.constructedBefore = constructedCount();
    });
    after(async () => {
      if (ctx.app && !ctx.closed) await ctx.app.close().catch(() => {});
      await mm.restore();
      restoreEnv?.();
      await ctx.upstream?.close();
      fs.rmSync(ctx.stateDir, { recursive: true, force: true });
    });

    test('mm.app() gets ready; the agent\'s clients lead, the application\'s follow it over loopback', { timeout: 120_000 }, async () => {
      ctx.app = mm.app({ baseDir: projectDir, cache: false });
      await ctx.app.ready();
      const { app } = ctx;
      assert.equal(app.agent.ecoData.isClusterClientLeader, true, 'the agent leads the data channel');
      assert.equal(app.agent.ecoApi.isClusterClientLeader, true, 'the agent leads the api channel');
      assert.equal(app.ecoData.isClusterClientLeader, false, 'the application follows');
      assert.equal(app.ecoApi.isClusterClientLeader, false, 'the application follows');
      const { resolution } = app.ecoState();
      assert.equal(resolution.fromEgg.name, 'cluster-share', resolution.fromEgg.file);
      assert.equal(resolution.fromApp.name, 'cluster-share', resolution.fromApp.file);
      for (const name of resolution.loadedPackages) assert.equal(name, 'cluster-share', `loaded: ${resolution.loadedPackages}`);
    });

    test('app.httpRequest() GET /eco/invoke: answered by the one DataClient per channel in this process', async () => {
      const res = await ctx.app.httpRequest().get('/eco/invoke').expect(200);
      assert.equal(res.body.ok, true, JSON.stringify(res.body));
      assert.equal(res.body.pid, process.pid);
      assert.equal(res.body.data.leaderPid, process.pid);
      assert.equal(res.body.api.leaderPid, process.pid);
      assert.equal(constructedCount() - ctx.constructedBefore, 2, 'DataClients constructed in this process: one per channel');
      assert.equal(ctx.upstream.byChannel('data').length, 1, ctx.upstream.describe());
      assert.equal(ctx.upstream.byChannel('api').length, 1, ctx.upstream.describe());
      assert.equal(ctx.upstream.connections.length, 2, ctx.upstream.describe());
    });

    test('a pushed value reaches the agent and the application; both publications reach the upstream', async () => {
      const value = `mock-app-${Date.now()}`;
      assert.equal(ctx.upstream.push('eco-config', value), 2);
      const { app } = ctx;
      await waitFor(`${value} in the agent and the application`, () =>
        [app.agent.ecoState(), app.ecoState()].every(s => s.received.data.includes(value) && s.received.api.includes(value)));
      for (const channel of ['data', 'api']) {
        const pubs = ctx.upstream.byChannel(channel)[0].pubs.map(p => p.value).sort();
        assert.deepEqual(pubs, [`agent:${process.pid}`, `application:${process.pid}`].sort(), channel);
      }
    });

    test('app.close() closes every client and the upstream connections; nothing logged as an error', { timeout: 60_000 }, async () => {
      const { app } = ctx;
      await app.close();
      ctx.closed = true;
      await waitFor('the upstream connections closed', () => ctx.upstream.open().length === 0, { timeout: 10_000 });
      for (const s of [app.agent.ecoState(), app.ecoState()]) {
        assert.deepEqual(s.errors, [], `${s.type}: client error events`);
        for (const label of ['data', 'api']) assert.equal(s.clients[label].stats.state, 'closed', `${s.type} ${label}: ${JSON.stringify(s.clients[label])}`);
      }
      assert.deepEqual(errorEntries(logDir).map(e => `[${e.file}] ${e.lines.join('\n')}`), []);
    });
  });

  describe(`${label}: mm.cluster(): master, agent and 2 app workers`, () => {
    const test = steps();
    const ctx = {};
    let restoreEnv;
    before(async () => {
      ctx.upstream = await new Upstream().start();
      ctx.stateDir = tempDir(`${label}-mock-cluster`);
      ctx.port = await freePort();
      restoreEnv = setEnv({ EGG_SERVER_ENV: 'unittest', ECO_UPSTREAM: ctx.upstream.address, ECO_STATE_DIR: ctx.stateDir });
    });
    after(async () => {
      if (ctx.app && !ctx.closed) await ctx.app.close().catch(() => {});
      for (const s of readStates(ctx.stateDir)) {
        if (alive(s.pid)) {
          try {
            process.kill(s.pid, 'SIGKILL');
          } catch {}
        }
      }
      await mm.restore();
      restoreEnv?.();
      await ctx.upstream?.close();
      fs.rmSync(ctx.stateDir, { recursive: true, force: true });
    });

    test('mm.cluster() gets ready with 2 app workers following the agent', { timeout: 180_000 }, async () => {
      const env = { ...process.env };
      delete env.NODE_TEST_CONTEXT;
      ctx.app = mm.cluster({ baseDir: projectDir, workers: 2, port: ctx.port, cache: false, coverage: false, opt: { env } });
      await ctx.app.ready();
      const states = await waitFor('the agent and 2 app workers ready', () => {
        const s = readStates(ctx.stateDir).filter(x => x.ready && alive(x.pid));
        return s.filter(x => x.type === 'agent').length === 1 && s.filter(x => x.type === 'application').length === 2 && s;
      });
      ctx.agent = states.find(s => s.type === 'agent');
      ctx.workers = states.filter(s => s.type === 'application');
      assert.notEqual(ctx.agent.pid, process.pid);
      for (const s of states) {
        assert.equal(s.resolution.fromEgg.name, 'cluster-share', `${s.type} ${s.pid}: ${s.resolution.fromEgg.file}`);
        for (const label of ['data', 'api']) {
          assert.equal(s.clients[label].stats.role, s.type === 'agent' ? 'leader' : 'follower', JSON.stringify(s.clients[label]));
          assert.equal(s.clients[label].stats.leaderPid, ctx.agent.pid);
        }
      }
    });

    test('app.httpRequest() reaches both workers; each invokes through the agent; one upstream connection per DataClient', { timeout: 60_000 }, async () => {
      const seen = new Map();
      await waitFor('both workers answered /eco/invoke', async () => {
        const res = await ctx.app.httpRequest().get('/eco/invoke').expect(200);
        seen.set(res.body.pid, res.body);
        return ctx.workers.every(w => seen.has(w.pid));
      });
      for (const [pid, body] of seen) {
        assert.equal(body.ok, true, JSON.stringify(body));
        assert.equal(body.data.leaderPid, ctx.agent.pid, `worker ${pid}`);
        assert.equal(body.api.leaderPid, ctx.agent.pid, `worker ${pid}`);
      }
      for (const channel of ['data', 'api']) {
        const conns = ctx.upstream.byChannel(channel);
        assert.equal(conns.length, 1, ctx.upstream.describe());
        assert.equal(conns[0].hello.pid, ctx.agent.pid);
      }
      assert.equal(ctx.upstream.connections.length, 2, ctx.upstream.describe());
    });

    test('a pushed value reaches the agent and both workers', async () => {
      const value = `mock-cluster-${Date.now()}`;
      assert.equal(ctx.upstream.push('eco-config', value), 2);
      await waitFor(`${value} everywhere`, () => {
        const s = readStates(ctx.stateDir).filter(x => alive(x.pid));
        return s.length === 3 && s.every(x => x.received.data.includes(value) && x.received.api.includes(value));
      });
    });

    test('app.close(): every process exits, the upstream connections close, nothing logged as an error', { timeout: 60_000 }, async () => {
      const pids = [ctx.agent.pid, ...ctx.workers.map(w => w.pid)];
      await ctx.app.close();
      ctx.closed = true;
      await waitFor(`agent and workers gone: ${pids}`, () => pids.every(pid => !alive(pid)), { timeout: 30_000 });
      await waitFor('the upstream connections closed', () => ctx.upstream.open().length === 0, { timeout: 10_000 });
      assert.deepEqual(errorEntries(logDir).map(e => `[${e.file}] ${e.lines.join('\n')}`), []);
      for (const s of readStates(ctx.stateDir)) assert.deepEqual(s.errors, [], `${s.type} ${s.pid}: client error events`);
    });
  });
}
