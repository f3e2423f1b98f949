// A consumer library of cluster-client 3.x shaped like zookeeper-cluster-client
// (registry-cluster-client/, installed as a package that depends on cluster-client ^3.0.1, which
// npm overrides resolve to cluster-share): an APIClientBase subclass that passes its options to
// super() with an initMethod, names its channel from this.options in the clusterOptions getter,
// subscribes in its constructor, and uses callback-style and oneway delegates.
//
// This project runs WITHOUT --test-force-exit: a handle cluster-share leaves open after close()
// keeps the process alive, and the runner reports the file as hung.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Upstream } from '../../shared/upstream.mjs';
import { alive, clusterClientResolution, freePort, steps, waitFor } from '../../shared/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const projectDir = path.resolve(here, '..');
const require = createRequire(import.meta.url);
const { createClient, constructedCount } = require('registry-cluster-client');
const cluster = require('cluster-client');

test('registry-cluster-client (cluster-client ^3.0.1) resolves cluster-client to cluster-share', () => {
  const { dependents, copies } = clusterClientResolution(projectDir);
  assert.deepEqual(dependents.map(d => [d.pkg, d.name]), [['registry-cluster-client', 'cluster-share']]);
  assert.deepEqual(copies.map(c => [c.dir, c.name]), [['node_modules/cluster-client', 'cluster-share']]);
  // and the APIClientBase the library extends is cluster-share's
  const libRequire = createRequire(require.resolve('registry-cluster-client'));
  assert.equal(libRequire('cluster-client').APIClientBase, cluster.APIClientBase);
  assert.equal(typeof cluster.closeAll, 'function', 'an export cluster-client 3.x does not have');
});

/** Three clients in this process: two for /a (same options), one for /b. */
function threeClients(upstream, extra) {
  const a1 = createClient(`${upstream.address}/a`, { ...extra });
  const b = createClient(`${upstream.address}/b`, { ...extra });
  const a2 = createClient(`${upstream.address}/a`, { ...extra });
  return { a1, b, a2 };
}

async function closeAll(clients) {
  for (const client of clients) await client.close();
}

describe('single mode (the library\'s default, as zookeeper-cluster-client\'s): one process', () => {
  const test = steps();
  let upstream;
  let clients;
  let before0;
  before(async () => {
    upstream = await new Upstream().start();
    before0 = constructedCount();
  });
  after(async () => {
    if (clients) await closeAll(Object.values(clients)).catch(() => {});
    await upstream.close();
  });

  test('the channel name comes from this.options; same options share a DataClient, other options get their own', { timeout: 30_000 }, async () => {
    clients = threeClients(upstream, {});
    const { a1, b, a2 } = clients;
    await Promise.all([a1.ready(), b.ready(), a2.ready()]);
    assert.equal(a1.options.connectionString, `${upstream.address}/a`, 'this.options is the options given');
    assert.equal(cluster.stats(a1._client).name, `RegistryClient@${upstream.address}/a`);
    assert.equal(cluster.stats(b._client).name, `RegistryClient@${upstream.address}/b`);
    assert.equal(cluster.stats(a1._client).role, 'local');
    assert.equal(constructedCount() - before0, 2, 'DataClients constructed: one for /a, one for /b');
    await waitFor('the upstream connections of /a and /b', () => upstream.open().map(c => c.hello?.scope).sort().join() === '/a,/b');
    assert.equal(upstream.connections.length, 2, upstream.describe());
    // ready() waited for the DataClient's "connected" event, delivered through a subscription
    assert.ok(a1.getSessionId() && a1.getSessionId() === a2.getSessionId(), `${a1.getSessionId()} / ${a2.getSessionId()}`);
    assert.notEqual(a1.getSessionId(), b.getSessionId());
  });

  test('calls through a1 and a2 reach the same DataClient; b another', async () => {
    const { a1, b, a2 } = clients;
    const [r1, r2, rb] = await Promise.all([a1.getData('/x'), a2.getData('/x'), b.getData('/x')]);
    assert.equal(r1.data, '/a/x');
    assert.equal(rb.data, '/b/x');
    assert.equal(r1.instance, r2.instance);
    assert.notEqual(r1.instance, rb.instance);
  });

  test('a value pushed for /a reaches both /a clients, not /b', async () => {
    const { a1, b, a2 } = clients;
    const got = { a1: [], a2: [], b: [] };
    a1.watch('/config', v => got.a1.push(v));
    a2.watch('/config', v => got.a2.push(v));
    b.watch('/config', v => got.b.push(v));
    await waitFor('the /a and /b subscriptions upstream', () =>
      upstream.open().every(c => c.subs.has(`${c.hello.scope}/config`)));
    assert.equal(upstream.push('/a/config', 'A1'), 1, 'one upstream connection for /a');
    await waitFor('A1 in a1 and a2', () => got.a1.includes('A1') && got.a2.includes('A1'));
    assert.deepEqual(got.b, []);
  });

  test('the DataClient is closed with the last client of its name', { timeout: 30_000 }, async () => {
    const { a1, b, a2 } = clients;
    await a1.close();
    assert.equal(upstream.open().length, 2, 'a2 still uses /a');
    await a2.close();
    await waitFor('/a closed upstream', () => upstream.open().map(c => c.hello.scope).join() === '/b');
    await b.close();
    await waitFor('every upstream connection closed', () => upstream.open().length === 0);
    clients = null;
  });
});

describe('port mode (singleMode: false): one process', () => {
  const test = steps();
  let upstream;
  let clients;
  let before0;
  let savedPort;
  before(async () => {
    upstream = await new Upstream().start();
    savedPort = process.env.NODE_CLUSTER_CLIENT_PORT;
    // the library reads its port as zookeeper-cluster-client does: NODE_CLUSTER_CLIENT_PORT
    process.env.NODE_CLUSTER_CLIENT_PORT = String(await freePort());
    before0 = constructedCount();
  });
  after(async () => {
    if (clients) await closeAll([clients.a2, clients.b, clients.a1]).catch(() => {});
    await upstream.close();
    if (savedPort === undefined) delete process.env.NODE_CLUSTER_CLIENT_PORT;
    else process.env.NODE_CLUSTER_CLIENT_PORT = savedPort;
  });

  test('a1 and b lead their channels; a2 (a1\'s options) follows a1 over loopback; two DataClients', { timeout: 30_000 }, async () => {
    clients = threeClients(upstream, { singleMode: false });
    const { a1, b, a2 } = clients;
    await Promise.all([a1.ready(), b.ready(), a2.ready()]);
    assert.equal(cluster.stats(a1._client).endpoint, `port ${process.env.NODE_CLUSTER_CLIENT_PORT}`);
    assert.equal(a1.isClusterClientLeader, true);
    assert.equal(b.isClusterClientLeader, true);
    assert.equal(a2.isClusterClientLeader, false);
    assert.equal(cluster.stats(a2._client).name, `RegistryClient@${upstream.address}/a`);
    assert.equal(constructedCount() - before0, 2);
    await waitFor('the upstream connections of /a and /b', () => upstream.open().map(c => c.hello?.scope).sort().join() === '/a,/b');
    assert.equal(upstream.connections.length, 2, upstream.describe());
    assert.equal(a1.getSessionId(), a2.getSessionId(), 'a2 heard the connected event of a1\'s DataClient');
  });

  test('calls and pushes go through the shared DataClient', async () => {
    const { a1, b, a2 } = clients;
    const [r1, r2, rb] = await Promise.all([a1.getData('/x'), a2.getData('/x'), b.getData('/x')]);
    assert.equal(r2.data, '/a/x');
    assert.equal(r1.instance, r2.instance);
    assert.notEqual(rb.instance, r1.instance);
    const got = [];
    a2.watch('/config', v => got.push(v));
    await waitFor('/a/config subscribed upstream', () => upstream.open().some(c => c.subs.has('/a/config')));
    assert.equal(upstream.push('/a/config', 'P1'), 1);
    await waitFor('P1 in a2', () => got.includes('P1'));
  });

  test('close (follower first) closes both DataClients and leaves no handle behind', { timeout: 30_000 }, async () => {
    await closeAll([clients.a2, clients.b, clients.a1]);
    clients = null;
    await waitFor('every upstream connection closed', () => upstream.open().length === 0);
    assert.equal(constructedCount() - before0, 2, 'no DataClient was constructed on the way out');
  });
});

/** A child process using the library (fixtures/member.cjs), driven over IPC. */
class Member {
  constructor(env) {
    this.child = fork(path.join(here, 'fixtures', 'member.cjs'), [], { cwd: projectDir, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.pid = this.child.pid;
    this.waiting = new Map();
    this.nextId = 1;
    this.exit = new Promise(resolve => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.child.on('message', msg => {
      const pending = this.waiting.get(msg.id);
      if (!pending) return;
      this.waiting.delete(msg.id);
      if (msg.ok) pending.resolve(msg.value);
      else pending.reject(new Error(`member ${this.pid}: ${msg.error}`));
    });
    this.ready = this.#wait('ready', 60_000);
  }
  #wait(id, timeout) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`member ${this.pid}: no answer to ${id} within ${timeout} ms`)), timeout);
      this.waiting.set(id, {
        resolve: v => (clearTimeout(timer), resolve(v)),
        reject: e => (clearTimeout(timer), reject(e)),
      });
    });
  }
  send(cmd, timeout = 30_000) {
    const id = this.nextId++;
    const answer = this.#wait(id, timeout);
    this.child.send({ id, cmd });
    return answer;
  }
}

describe('port mode: 3 processes; the leader is SIGKILLed', () => {
  const test = steps();
  let upstream;
  let members = [];
  before(async () => {
    upstream = await new Upstream().start();
    const env = { ...process.env, ECO_UPSTREAM: upstream.address, NODE_CLUSTER_CLIENT_PORT: String(await freePort()) };
    delete env.NODE_TEST_CONTEXT;
    members = [new Member(env), new Member(env), new Member(env)];
  });
  after(async () => {
    for (const m of members) if (alive(m.pid)) m.child.kill('SIGKILL');
    await upstream.close();
  });

  test('one DataClient per connection string on the host; every process invokes through it', { timeout: 90_000 }, async () => {
    const states = await Promise.all(members.map(m => m.ready));
    const total = states.reduce((n, s) => n + s.constructed, 0);
    assert.equal(total, 2, `DataClients constructed in the 3 processes: ${states.map(s => `${s.pid}:${s.constructed}`)}`);
    await waitFor('the upstream connections of /a and /b', () => upstream.open().map(c => c.hello?.scope).sort().join() === '/a,/b');
    assert.equal(upstream.connections.length, 2, upstream.describe());
    for (const name of ['a', 'b']) {
      const leaders = states.filter(s => s.roles[name].leader);
      assert.equal(leaders.length, 1, `${name}: ${JSON.stringify(states.map(s => s.roles[name]))}`);
      for (const s of states) assert.equal(s.roles[name].leaderPid, leaders[0].pid);
    }
    for (const m of members) {
      const r = await m.send('getData');
      assert.equal(r.a.data, '/a/x');
      assert.equal(r.b.data, '/b/x');
    }
  });

  test('pushes reach every process; every registration reaches the registry', { timeout: 30_000 }, async () => {
    assert.equal(upstream.push('/a/config', 'A1'), 1);
    assert.equal(upstream.push('/b/config', 'B1'), 1);
    await waitFor('A1 and B1 in every member', async () => {
      const states = await Promise.all(members.map(m => m.send('state')));
      return states.every(s => s.received.a.includes('A1') && s.received.b.includes('B1'));
    });
    for (const scope of ['/a', '/b']) {
      const pubs = upstream.byChannel('registry').find(c => c.hello.scope === scope).pubs.map(p => p.value).sort();
      assert.deepEqual(pubs, members.map(m => `member:${m.pid}`).sort(), scope);
    }
  });

  test('SIGKILL of the leader: the others elect a new one, which opens ONE new connection; watches and registrations are replayed', { timeout: 90_000 }, async () => {
    const states = await Promise.all(members.map(m => m.send('state')));
    const victimPid = states.find(s => s.roles.a.leader).pid;
    const victim = members.find(m => m.pid === victimPid);
    const survivors = members.filter(m => m !== victim);
    victim.child.kill('SIGKILL');
    await victim.exit;
    // every survivor calls through a live leader again
    await waitFor('the survivors invoke through a new leader', async () => {
      const answers = await Promise.all(survivors.map(m => m.send('getData')));
      return answers.every(r => r.a.leaderPid !== victimPid && r.a.data === '/a/x' && r.b.data === '/b/x');
    }, { timeout: 60_000 });
    const after = await Promise.all(survivors.map(m => m.send('state')));
    for (const name of ['a', 'b']) {
      const leaders = after.filter(s => s.roles[name].leader);
      assert.equal(leaders.length, 1, `${name}: ${JSON.stringify(after.map(s => s.roles[name]))}`);
      const open = upstream.byChannel('registry', { openOnly: true }).filter(c => c.hello.scope === `/${name}`);
      assert.equal(open.length, 1, upstream.describe());
      assert.equal(open[0].hello.pid, leaders[0].pid);
    }
    const total = after.reduce((n, s) => n + s.constructed, 0);
    assert.ok(total <= 2, `at most one new DataClient per connection string in the survivors: ${after.map(s => `${s.pid}:${s.constructed}`)}`);
    // registrations of both survivors replayed to the new connection
    for (const scope of ['/a', '/b']) {
      await waitFor(`registrations replayed on ${scope}`, () => {
        const conn = upstream.byChannel('registry', { openOnly: true }).find(c => c.hello.scope === scope);
        const pubs = new Set(conn?.pubs.map(p => p.value));
        return survivors.every(m => pubs.has(`member:${m.pid}`));
      }, { timeout: 15_000 });
    }
    // watches replayed: a new value reaches both survivors
    assert.equal(upstream.push('/a/config', 'A2'), 1, upstream.describe());
    await waitFor('A2 in both survivors', async () => {
      const s = await Promise.all(survivors.map(m => m.send('state')));
      return s.every(x => x.received.a.includes('A2'));
    });
    for (const s of after) assert.deepEqual(s.errors, [], `error events in ${s.pid}`);
    members = survivors.concat(victim);
  });

  test('the survivors close and exit 0', { timeout: 60_000 }, async () => {
    const survivors = members.filter(m => alive(m.pid));
    await Promise.all(survivors.map(m => m.send('close')));
    const exits = await Promise.all(survivors.map(m => m.exit));
    assert.deepEqual(exits, survivors.map(() => ({ code: 0, signal: null })), 'a member that closed all its clients exits by itself');
    await waitFor('every upstream connection closed', () => upstream.open().length === 0);
  });
});
