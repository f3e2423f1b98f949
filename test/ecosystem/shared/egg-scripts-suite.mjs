// The production-mode suite of an egg application, shared by egg3/ (egg 3 + egg-scripts) and
// egg4/ (egg 4 + @eggjs/scripts): started the way users start it (`<scripts> start --daemon`),
// an agent and 4 app workers, every default plugin on, a real TCP upstream. The steps run in
// order and share one running application:
//
//   resolution -> start -> invoke from every worker -> one upstream connection per DataClient
//   -> cluster-share status -> push reaches everyone -> publications reach upstream -> clean logs
//   -> SIGKILL an app worker -> SIGKILL the agent -> <scripts> stop
import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Upstream } from './upstream.mjs';
import {
  alive,
  clusterClientResolution,
  errorEntries,
  freePort,
  getJson,
  listFiles,
  logEntries,
  logSizes,
  readFrom,
  readStates,
  run,
  steps,
  tempDir,
  waitFor,
} from './harness.mjs';

const WORKERS = 4;

/**
 * projectDir  the egg application (its package.json, node_modules)
 * label       'egg3' / 'egg4'
 * scriptsBin  path of the scripts' bin, relative to projectDir
 * scripts     what users call it ('egg-scripts', 'eggctl')
 * appName     the application's package name (egg's log directory is ~/logs/<appName>)
 * esm         whether the application is an ES module application
 */
export function eggScriptsSuite({ projectDir, label, scriptsBin, scripts: scriptsName, appName, esm = false }) {
  describe(`${label}: "${scriptsName} start --daemon", agent + ${WORKERS} app workers, default plugins on`, () => {
    const test = steps();
    const ctx = {};
    let started = false;
    let stopped = false;

    const env = () => {
      const e = { ...process.env };
      delete e.NODE_TEST_CONTEXT; // not a node:test child: egg's processes are ordinary processes
      delete e.NODE_OPTIONS;
      delete e.EGG_SERVER_ENV;
      delete e.NODE_ENV;
      return {
        ...e,
        // egg-scripts and egg put their logs under the home directory (node-homedir reads
        // MOCK_HOME_DIR first, then the user database, so HOME alone is not enough).
        HOME: ctx.home,
        MOCK_HOME_DIR: ctx.home,
        ECO_UPSTREAM: ctx.upstream.address,
        ECO_STATE_DIR: ctx.stateDir,
      };
    };
    const scripts = (...args) =>
      run(process.execPath, [path.join(projectDir, scriptsBin), ...args], { cwd: projectDir, env: env(), timeout: 180_000 });
    const states = () => readStates(ctx.stateDir);
    const live = type => states().filter(s => s.type === type && s.ready && alive(s.pid));
    const masterStderr = () => path.join(ctx.home, 'logs', 'master-stderr.log');
    const logDir = () => path.join(ctx.home, 'logs', appName);
    /** What to print when a step fails: egg's own account of what happened. */
    const evidence = () => {
      const errors = errorEntries(path.join(ctx.home, 'logs'));
      return [
        `master-stderr.log:\n${readFrom(masterStderr()).slice(-4000) || '(empty)'}`,
        `ERROR entries in egg's logs:\n${errors.map(e => `[${e.file}] ${e.lines.join('\n')}`).join('\n').slice(-6000) || '(none)'}`,
        `processes (state files):\n${states().map(s => `${s.type} ${s.pid} ready=${s.ready} alive=${alive(s.pid)} errors=${JSON.stringify(s.errors)}`).join('\n')}`,
        `upstream connections:\n${ctx.upstream.describe() || '(none)'}`,
      ].join('\n\n');
    };
    /** Calls /eco/invoke until every pid in `pids` has answered; returns the answers by pid. */
    const invokeEveryWorker = async (pids, what) => {
      const answers = new Map();
      await waitFor(`${what}: /eco/invoke answered by every app worker ${[...pids]}`, async () => {
        const res = await getJson(ctx.port, '/eco/invoke');
        answers.set(res.pid, res);
        return [...pids].every(pid => answers.has(pid));
      }, { timeout: 60_000, interval: 20 });
      return answers;
    };
    /** The ERROR entries written to egg's logs since `sizes` (from logSizes). */
    const errorsSince = sizes => errorEntries(path.join(ctx.home, 'logs'), sizes);
    /** Every entry written to egg's *.log files since `sizes`. */
    const logEntriesSince = sizes =>
      listFiles(path.join(ctx.home, 'logs'))
        .filter(file => file.endsWith('.log'))
        .flatMap(file => logEntries(file, sizes[file] ?? 0));

    before(async () => {
      ctx.upstream = await new Upstream().start();
      ctx.home = tempDir(label);
      ctx.stateDir = path.join(ctx.home, 'state');
      fs.mkdirSync(ctx.stateDir);
      ctx.port = await freePort();
      ctx.title = `cluster-share-eco-${label}-${process.pid}`;
    });

    after(async () => {
      if (started && !stopped) {
        // a step failed: stop it the way users do, then make sure nothing of ours is left
        await scripts('stop', `--title=${ctx.title}`).catch(() => {});
      }
      const pids = [ctx.masterPid, ...(ctx.stateDir ? states().map(s => s.pid) : [])].filter(Boolean);
      for (const pid of pids) {
        if (alive(pid)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {}
        }
      }
      await ctx.upstream?.close();
      if (process.env.ECO_KEEP_TMP) console.log(`# ${label}: kept ${ctx.home}`);
      else if (ctx.home) fs.rmSync(ctx.home, { recursive: true, force: true });
    });

    test('cluster-client resolves to cluster-share everywhere in node_modules (egg included)', () => {
      const { dependents, copies } = clusterClientResolution(projectDir);
      assert.ok(dependents.some(d => d.pkg === 'egg'), `egg depends on cluster-client: ${JSON.stringify(dependents)}`);
      for (const d of dependents) assert.equal(d.name, 'cluster-share', `${d.pkg} resolves cluster-client to ${d.resolved}`);
      assert.deepEqual(copies.map(c => [c.dir, c.name]), [['node_modules/cluster-client', 'cluster-share']]);
    });

    test(`starts: egg-ready with the agent and ${WORKERS} app workers`, { timeout: 240_000 }, async t => {
      const args = ['start', '--daemon', `--workers=${WORKERS}`, `--port=${ctx.port}`, `--title=${ctx.title}`, '--timeout=180000', projectDir];
      const res = await scripts(...args);
      started = true;
      t.diagnostic(`${scriptsName} start took ${res.ms} ms`);
      assert.equal(res.code, 0, `start exited ${res.code}\nstdout:\n${res.stdout.slice(-3000)}\nstderr:\n${res.stderr.slice(-3000)}\n\n${evidence()}`);
      await waitFor('the agent and every app worker ready (state files)', () =>
        live('agent').length === 1 && live('application').length === WORKERS, { timeout: 30_000 });
      const [agent] = live('agent');
      ctx.agentPid = agent.pid;
      ctx.masterPid = agent.ppid;
      ctx.appPids = new Set(live('application').map(s => s.pid));
      for (const s of [agent, ...live('application')]) {
        assert.equal(s.ppid, ctx.masterPid, `${s.type} ${s.pid} is a child of egg's master ${ctx.masterPid}`);
      }
    });

    test('the running agent and workers use cluster-share: as egg resolves it, as the app resolves it, as loaded', () => {
      for (const s of [...live('agent'), ...live('application')]) {
        const where = `${s.type} ${s.pid}`;
        assert.equal(s.resolution.fromEgg.name, 'cluster-share', `${where}: egg's require('cluster-client') -> ${s.resolution.fromEgg.file}`);
        assert.equal(s.resolution.fromApp.name, 'cluster-share', `${where}: the app's require('cluster-client') -> ${s.resolution.fromApp.file}`);
        if (esm) {
          assert.equal(s.resolution.fromAppEsm?.name, 'cluster-share', `${where}: the app's import 'cluster-client' -> ${s.resolution.fromAppEsm?.file}`);
        }
        for (const name of s.resolution.loadedPackages) assert.equal(name, 'cluster-share', `${where}: loaded ${s.resolution.loadedPackages}`);
        // The clients egg's app.cluster() made answer cluster-share's stats(): they are its clients.
        for (const label of ['data', 'api']) {
          const { stats } = s.clients[label];
          assert.equal(stats.error, undefined, `${where} ${label}: cluster-share stats() refused the client egg made: ${stats.error}`);
          assert.equal(stats.role, s.type === 'agent' ? 'leader' : 'follower', `${where} ${label}: ${JSON.stringify(stats)}`);
          assert.equal(stats.leaderPid, ctx.agentPid, `${where} ${label}: ${JSON.stringify(stats)}`);
        }
      }
      const [agent] = live('agent');
      ctx.clusterPort = Number(/port (\d+)/.exec(agent.clients.data.stats.endpoint)?.[1]);
      assert.ok(ctx.clusterPort > 0, `the agent's endpoint: ${agent.clients.data.stats.endpoint}`);
    });

    test('every app worker invokes through the agent\'s one DataClient per channel (promise and callback style)', async () => {
      const answers = await invokeEveryWorker(ctx.appPids, 'after start');
      const instances = { data: new Set(), api: new Set() };
      for (const [pid, res] of answers) {
        assert.equal(res.ok, true, `worker ${pid}: ${JSON.stringify(res)}`);
        assert.equal(res.data.leaderPid, ctx.agentPid, `worker ${pid}: data answered by ${res.data.leaderPid}`);
        assert.equal(res.dataCallback.leaderPid, ctx.agentPid);
        assert.equal(res.api.leaderPid, ctx.agentPid, `worker ${pid}: api answered by ${res.api.leaderPid}`);
        instances.data.add(res.data.instance);
        instances.api.add(res.api.instance);
      }
      assert.equal(instances.data.size, 1, `one data DataClient: ${[...instances.data]}`);
      assert.equal(instances.api.size, 1, `one api DataClient: ${[...instances.api]}`);
    });

    test('the upstream sees exactly one connection per DataClient, both from the agent', () => {
      const { upstream } = ctx;
      for (const channel of ['data', 'api']) {
        const conns = upstream.byChannel(channel);
        assert.equal(conns.length, 1, `${channel}:\n${upstream.describe()}`);
        assert.equal(conns[0].hello.pid, ctx.agentPid);
        assert.equal(conns[0].open, true);
      }
      assert.equal(upstream.connections.length, 2, upstream.describe());
    });

    test('`cluster-share status` on egg\'s cluster port lists every app worker as a follower', { gate: false }, async t => {
      const pkgDir = path.join(projectDir, 'node_modules', 'cluster-client');
      const bin = path.join(pkgDir, JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).bin['cluster-share']);
      const res = await run(process.execPath, [bin, 'status', '--port', String(ctx.clusterPort), '--json'], { env: env(), timeout: 30_000 });
      assert.equal(res.code, 0, `status exited ${res.code}: ${res.stderr}`);
      const status = JSON.parse(res.stdout);
      assert.equal(status.leader.pid, ctx.agentPid);
      const channels = new Map(status.channels.map(c => [c.name, c]));
      t.diagnostic(`channels on egg's port: ${[...channels.keys()].join(', ')}`);
      for (const name of ['EcoDataClient', `EcoApiClient@${ctx.upstream.address}`]) {
        const channel = channels.get(name);
        assert.ok(channel, `channel ${name} in ${[...channels.keys()]}`);
        assert.deepEqual(channel.followers.map(f => f.pid).sort(), [...ctx.appPids].sort(), `followers of ${name}`);
      }
      // egg's own plugins (egg-watcher) share the port through the same package.
      assert.ok(channels.size > 2, `egg's plugins' channels are there too: ${[...channels.keys()]}`);
    });

    test('a value pushed by the upstream reaches the agent and every worker, on both clients', async () => {
      ctx.v1 = `v1-${Date.now()}`;
      const told = ctx.upstream.push('eco-config', ctx.v1);
      assert.equal(told, 2, `the upstream pushed to ${told} connections:\n${ctx.upstream.describe()}`);
      await waitFor(`${ctx.v1} received by the agent and ${WORKERS} workers`, () => {
        const everyone = [...live('agent'), ...live('application')];
        return everyone.length === WORKERS + 1 && everyone.every(s => s.received.data.includes(ctx.v1) && s.received.api.includes(ctx.v1));
      }).catch(err => assert.fail(`${err.message}\n\n${evidence()}`));
    });

    test('every publication reaches the upstream', { gate: false }, async () => {
      const expected = [`agent:${ctx.agentPid}`, ...[...ctx.appPids].map(pid => `application:${pid}`)];
      for (const channel of ['data', 'api']) {
        await waitFor(`publications of ${channel} from ${expected}`, () => {
          const pubs = new Set(ctx.upstream.byChannel(channel)[0].pubs.map(p => p.value));
          return expected.every(v => pubs.has(v));
        }, { timeout: 10_000 }).catch(err => assert.fail(`${err.message}\n${ctx.upstream.describe()}`));
      }
    });

    test('the start logged no error (egg\'s log files, master-stderr.log) and no client error event', { gate: false }, async () => {
      // (not vacuous: egg did log there, and its error log is where it should be)
      assert.ok(fs.existsSync(path.join(logDir(), 'common-error.log')), `egg's error log in ${logDir()}`);
      await waitFor('the agent\'s INFO entries in egg\'s log files (written every second)', () =>
        logEntriesSince({}).some(e => e.level === 'INFO' && e.pid === ctx.agentPid), { timeout: 10_000 });
      assert.deepEqual(errorsSince({}).map(e => `[${e.file}] ${e.lines.join('\n')}`), []);
      assert.equal(readFrom(masterStderr()), '');
      for (const s of states()) assert.deepEqual(s.errors, [], `${s.type} ${s.pid}`);
    });

    test('SIGKILL an app worker: egg forks a new one, which follows, invokes, has the last value and publishes', { timeout: 120_000 }, async t => {
      const sizes = logSizes(path.join(ctx.home, 'logs'));
      const [victim] = ctx.appPids;
      ctx.killedWorker = victim;
      process.kill(victim, 'SIGKILL');
      await waitFor(`worker ${victim} gone`, () => !alive(victim));
      const fresh = await waitFor('a replacement app worker ready', () =>
        live('application').find(s => !ctx.appPids.has(s.pid)), { timeout: 60_000 });
      assert.equal(fresh.ppid, ctx.masterPid);
      ctx.appPids.delete(victim);
      ctx.appPids.add(fresh.pid);
      assert.equal(live('application').length, WORKERS);

      const answers = await invokeEveryWorker(ctx.appPids, 'after an app worker was replaced');
      const res = answers.get(fresh.pid);
      assert.equal(res.ok, true, JSON.stringify(res));
      assert.equal(res.data.leaderPid, ctx.agentPid);
      assert.equal(res.api.leaderPid, ctx.agentPid);
      // It subscribed after v1 was pushed: the leader gives a late subscriber the last value.
      await waitFor(`the new worker ${fresh.pid} has ${ctx.v1}`, () => {
        const s = live('application').find(x => x.pid === fresh.pid);
        return s && s.received.data.includes(ctx.v1) && s.received.api.includes(ctx.v1);
      }, { timeout: 10_000 });
      await waitFor(`the new worker's publication upstream`, () =>
        ['data', 'api'].every(c => ctx.upstream.byChannel(c)[0].pubs.some(p => p.value === `application:${fresh.pid}`)), { timeout: 10_000 });
      // Still the same two upstream connections: no DataClient was made in a worker.
      assert.equal(ctx.upstream.connections.length, 2, ctx.upstream.describe());
      assert.equal(ctx.upstream.open().length, 2, ctx.upstream.describe());

      const errors = errorsSince(sizes);
      t.diagnostic(`ERROR entries after the kill: ${errors.map(e => `[${e.file}] ${e.text}`).join(' | ') || 'none'}`);
      const unexpected = errors.filter(e => !e.lines.join('\n').includes(String(victim)));
      assert.deepEqual(unexpected.map(e => `[${e.file}] ${e.lines.join('\n')}`), [], 'only the death of the killed worker is logged as an error');
    });

    test('SIGKILL the agent: egg-cluster forks a new agent, which leads; subscriptions and publications are replayed to it', { timeout: 180_000 }, async t => {
      const sizes = logSizes(path.join(ctx.home, 'logs'));
      const oldAgent = ctx.agentPid;
      ctx.killedAgent = oldAgent;
      const killedAt = Date.now();
      process.kill(oldAgent, 'SIGKILL');
      await waitFor(`agent ${oldAgent} gone`, () => !alive(oldAgent));
      const agent = await waitFor('a new agent ready', () => live('agent').find(s => s.pid !== oldAgent), { timeout: 90_000 })
        .catch(err => assert.fail(`${err.message}\n\n${evidence()}`));
      t.diagnostic(`new agent ${agent.pid} ready ${Date.now() - killedAt} ms after the SIGKILL`);
      assert.equal(agent.ppid, ctx.masterPid, 'the new agent is forked by the same master');
      ctx.agentPid = agent.pid;
      assert.equal(agent.clients.data.stats.role, 'leader', JSON.stringify(agent.clients));
      assert.equal(agent.clients.api.stats.role, 'leader', JSON.stringify(agent.clients));

      // The app workers were not restarted, and they now reach the new agent's DataClients.
      assert.deepEqual(live('application').map(s => s.pid).sort(), [...ctx.appPids].sort(), 'the same app workers');
      const answers = await invokeEveryWorker(ctx.appPids, 'after the agent was replaced').catch(err => assert.fail(`${err.message}\n\n${evidence()}`));
      for (const [pid, res] of answers) {
        assert.equal(res.ok, true, `worker ${pid}: ${JSON.stringify(res)}`);
        // The old agent is dead: every answer comes from the new one.
        assert.equal(res.data.leaderPid, agent.pid, `worker ${pid} data answered by ${res.data.leaderPid}`);
        assert.equal(res.api.leaderPid, agent.pid, `worker ${pid} api answered by ${res.api.leaderPid}`);
      }

      // One new upstream connection per DataClient, from the new agent; the old ones are closed.
      for (const channel of ['data', 'api']) {
        const open = ctx.upstream.byChannel(channel, { openOnly: true });
        assert.equal(open.length, 1, `${channel}:\n${ctx.upstream.describe()}`);
        assert.equal(open[0].hello.pid, agent.pid);
      }
      assert.equal(ctx.upstream.connections.length, 4, ctx.upstream.describe());

      // Every worker's publication was replayed to the new leader, which published it upstream.
      const expected = [`agent:${agent.pid}`, ...[...ctx.appPids].map(pid => `application:${pid}`)];
      for (const channel of ['data', 'api']) {
        await waitFor(`publications replayed upstream on ${channel}: ${expected}`, () => {
          const pubs = new Set(ctx.upstream.byChannel(channel, { openOnly: true })[0].pubs.map(p => p.value));
          return expected.every(v => pubs.has(v));
        }, { timeout: 15_000 }).catch(err => assert.fail(`${err.message}\n${ctx.upstream.describe()}`));
      }

      // Every worker's subscription was replayed: a new value reaches them through the new agent.
      ctx.v2 = `v2-${Date.now()}`;
      const told = ctx.upstream.push('eco-config', ctx.v2);
      assert.equal(told, 2, ctx.upstream.describe());
      await waitFor(`${ctx.v2} received by the new agent and the ${WORKERS} workers`, () => {
        const everyone = [...live('agent'), ...live('application')];
        return everyone.length === WORKERS + 1 && everyone.every(s => s.received.data.includes(ctx.v2) && s.received.api.includes(ctx.v2));
      }, { timeout: 15_000 }).catch(err => assert.fail(`${err.message}\n\n${evidence()}`));

      const errors = errorsSince(sizes);
      t.diagnostic(`ERROR entries after the kill: ${errors.map(e => `[${e.file}] ${e.text}`).join(' | ') || 'none'}`);
      const unexpected = errors.filter(e => !/AgentWorkerDiedError|agent_worker#\d+:\d+ died/.test(e.lines.join('\n')) || !e.lines.join('\n').includes(String(oldAgent)));
      assert.deepEqual(unexpected.map(e => `[${e.file}] ${e.lines.join('\n')}`), [], 'only the death of the killed agent is logged as an error');
      for (const s of [...live('agent'), ...live('application')]) assert.deepEqual(s.errors, [], `client error events in ${s.type} ${s.pid}`);
      // cluster-share reported the loss through egg's logger (the logger option egg passes), not
      // on the console: the workers' console output lands in master-stderr.log.
      // (egg's file loggers write every second: poll)
      const warnings = await waitFor('cluster-share\'s warnings about the lost leader in egg\'s log files', () => {
        const found = logEntriesSince(sizes).filter(e => e.level === 'WARN' && e.text.includes('[cluster-share]'));
        return found.length > 0 && found;
      }, { timeout: 15_000 }).catch(err => assert.fail(err.message));
      t.diagnostic(`cluster-share WARN entries in egg's logs after the kill: ${warnings.length} (${[...new Set(warnings.map(e => e.text.replace(/^.*\[cluster-share\] /, '')))].slice(0, 3).join(' | ')})`);
      assert.doesNotMatch(readFrom(masterStderr(), sizes[masterStderr()] ?? 0), /cluster-share/, 'nothing of cluster-share on the console');
    });

    test(`"${scriptsName} stop" exits 0, every process exits, nothing is logged as an error`, { timeout: 120_000 }, async t => {
      const sizes = logSizes(path.join(ctx.home, 'logs'));
      const pids = [ctx.masterPid, ...live('agent').map(s => s.pid), ...live('application').map(s => s.pid)];
      const res = await scripts('stop', `--title=${ctx.title}`);
      stopped = true;
      t.diagnostic(`stop took ${res.ms} ms`);
      assert.equal(res.code, 0, `stop exited ${res.code}\n${res.stdout}\n${res.stderr}`);
      await waitFor(`every process gone: ${pids}`, () => pids.every(pid => !alive(pid)), { timeout: 30_000 });
      const errors = errorsSince(sizes);
      assert.deepEqual(errors.map(e => `[${e.file}] ${e.lines.join('\n')}`), [], 'ERROR entries logged during the stop');
      assert.equal(readFrom(masterStderr(), sizes[masterStderr()] ?? 0), '', 'master-stderr.log during the stop');
      await waitFor('every upstream connection closed', () => ctx.upstream.open().length === 0, { timeout: 10_000 });
    });

    test('over the whole run, every process having exited (its logs flushed), the only ERROR entries are egg-cluster\'s reports of the two processes the test killed', () => {
      const expected = e => {
        const text = e.lines.join('\n');
        return (text.includes('AppWorkerDiedError') && new RegExp(`app_worker#\\d+:${ctx.killedWorker} died`).test(text)) ||
          (text.includes('AgentWorkerDiedError') && new RegExp(`agent_worker#\\d+:${ctx.killedAgent} died`).test(text));
      };
      const errors = errorsSince({});
      assert.deepEqual(errors.filter(e => !expected(e)).map(e => `[${e.file}] ${e.lines.join('\n')}`), []);
      assert.equal(errors.filter(expected).length >= 2, true, `egg-cluster reported both deaths: ${errors.map(e => e.text)}`);
    });
  });
}
