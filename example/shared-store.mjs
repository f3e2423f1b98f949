// A key/value store shared by every worker of a node:cluster server: one Map (memory-store.mjs),
// held by the leader, read and written from every process. Run with `npm run example:shared-store`.
//
// The "shared memory Manager" idea: a node:cluster master keeps an object for its workers and
// answers their get/set messages over IPC. Here no IPC protocol is written: MemoryStore is an
// ordinary class, wrapped with cluster() in every worker; the leader constructs it, the others
// forward get / set / delete / incr / subscribe to it.
//
// The primary drives the workers with commands over IPC and checks:
// 1. one leader; every worker's store.where() names it; MemoryStore constructed in one process
// 2. a value set in one worker is read in another, and every worker's subscription is told
// 3. 4 workers × 250 concurrent incr('hits') add up to exactly 1000: the leader serializes
//    them, each call gets a distinct result (1 … 1000), and every watcher ends on 1000
// 4. a delete in one worker: every worker is told, another one reads undefined
//
// This one file is both: the primary (cluster.isPrimary) and each worker (cluster.isWorker).
import nodeCluster from 'node:cluster';
import cluster from 'cluster-share';
import { MemoryStore } from './memory-store.mjs';

if (nodeCluster.isWorker) {
  // ---- a worker: the same code in each one
  const send = message => {
    if (process.connected) process.send({ pid: process.pid, ...message });
  };
  const store = cluster(MemoryStore, { port: Number(process.env.CLUSTER_SHARE_PORT), name: 'store' }).create();

  /** The last value a 'hits' notification carried, and asks waiting for a value. */
  let lastHits;
  const hitsWaiters = [];

  const commands = {
    set: ({ key, value }) => store.set(key, value),
    get: ({ key }) => store.get(key),
    delete: ({ key }) => store.delete(key),
    // `times` calls at once, none awaited before the next is sent; resolves with their results.
    incr: ({ key, times }) => Promise.all(Array.from({ length: times }, () => store.incr(key, 1))),
    // Answers once this worker's 'hits' subscription has been told `value`.
    hitsSeen: ({ value }) => (lastHits === value ? value : new Promise(resolve => hitsWaiters.push({ value, resolve }))),
    close: async () => {
      await cluster.close(store);
      process.disconnect(); // nothing else keeps the process alive: it exits by itself
    },
  };
  process.on('message', async message => {
    try {
      const value = await commands[message.cmd](message);
      send({ type: 'reply', id: message.id, value });
    } catch (err) {
      send({ type: 'error', message: `${message.cmd}: ${err.code ?? err.name}: ${err.message}` });
    }
  });
  process.on('disconnect', () => cluster.close(store)); // the primary went away

  try {
    await store.ready();
    store.subscribe({ key: 'greeting' }, change => send({ type: 'change', change }));
    store.subscribe({ key: 'hits' }, change => {
      lastHits = change.value;
      for (const w of hitsWaiters.filter(w => w.value === lastHits)) w.resolve(lastHits);
    });
    send({ type: 'ready', leader: store.isClusterClientLeader, where: await store.where(), constructed: MemoryStore.constructed });
  } catch (err) {
    send({ type: 'error', message: `${err.code ?? err.name}: ${err.message}` });
  }
} else {
  // ---- the primary: starts the workers and drives them
  const { isDeepStrictEqual } = await import('node:util');
  const { deadline, fail, finish, freePort, Group } = await import('./supervisor.mjs');

  const WORKERS = 4;
  const INCRS_PER_WORKER = 250;
  const EXPECTED = WORKERS * INCRS_PER_WORKER;
  const show = value => (value === undefined ? 'undefined' : JSON.stringify(value));
  deadline(60_000);

  const clusterPort = await freePort();
  console.log(`primary ${process.pid}: cluster.fork() × ${WORKERS}; the workers compete for 127.0.0.1:${clusterPort}`);
  const group = new Group();
  for (let i = 0; i < WORKERS; i++) {
    const worker = nodeCluster.fork({ CLUSTER_SHARE_PORT: String(clusterPort) });
    group.add({ name: `worker ${worker.process.pid}`, pid: worker.process.pid, emitter: worker, send: m => worker.send(m), kill: () => worker.process.kill('SIGKILL') });
  }
  const workers = group.members;
  const changes = (m, op) => m.all('change').filter(c => c.change.op === op);

  // 1. who holds the Map
  await group.waitEach(workers, m => m.last('ready') !== undefined, 30_000, 'become ready');
  const leaders = workers.filter(m => m.last('ready').leader);
  if (leaders.length !== 1) fail(`expected exactly 1 leader, got ${leaders.length}`);
  const [leader] = leaders;
  const followers = workers.filter(m => m !== leader);
  console.log(`${leader.name} ready: LEADER (the Map lives here)`);
  for (const m of followers) console.log(`${m.name} ready: follower`);
  const holders = new Set(workers.map(m => m.last('ready').where.pid));
  const constructed = workers.reduce((sum, m) => sum + m.last('ready').constructed, 0);
  console.log(`store.where() in every worker → pid ${[...holders].join(', ')}; new MemoryStore() ran ${constructed} time(s) across the ${WORKERS} processes`);
  if (holders.size !== 1 || !holders.has(leader.pid)) fail(`expected every worker's store to live in ${leader.name}, got pids ${[...holders].join(', ')}`);
  if (constructed !== 1) fail(`expected MemoryStore to be constructed once, got ${constructed}`);

  // 2. set in one worker, read in another; every subscriber is told
  const [writer, reader, deleter] = followers;
  const greeting = { text: 'hello', from: writer.pid };
  console.log(`${writer.name}: set('greeting', ${show(greeting)}) → ${show(await group.ask(writer, { cmd: 'set', key: 'greeting', value: greeting }))}`);
  const read = await group.ask(reader, { cmd: 'get', key: 'greeting' });
  console.log(`${reader.name}: get('greeting') → ${show(read)}`);
  if (!isDeepStrictEqual(read, greeting)) fail(`${reader.name} read ${show(read)}, expected ${show(greeting)}`);
  await group.waitEach(workers, m => changes(m, 'set').length > 0, 10_000, "get the 'greeting' notification");
  const notifiedSet = workers.filter(m => changes(m, 'set').some(c => isDeepStrictEqual(c.change.value, greeting))).length;
  console.log(`  the 'greeting' subscription was told in ${notifiedSet} of ${WORKERS} workers`);

  // 3. concurrent incr from every worker at once
  console.log(`${WORKERS} workers × ${INCRS_PER_WORKER} concurrent incr('hits')…`);
  const results = await Promise.all(workers.map(m => group.ask(m, { cmd: 'incr', key: 'hits', times: INCRS_PER_WORKER }, 20_000)));
  const all = results.flat().sort((a, b) => a - b);
  const distinct = new Set(all).size;
  const exact = all.length === EXPECTED && all.every((v, i) => v === i + 1);
  console.log(`  the incr calls returned ${distinct} distinct values, ${all[0]} … ${all.at(-1)}${exact ? ', each exactly once' : ''}`);
  if (!exact) fail(`expected the incr results to be 1 … ${EXPECTED}, each once; got ${all.length} results, ${distinct} distinct`);
  const totals = await Promise.all(workers.map(m => group.ask(m, { cmd: 'get', key: 'hits' })));
  console.log(`  get('hits') in every worker → ${[...new Set(totals)].join(', ')} (expected ${EXPECTED})`);
  if (!totals.every(t => t === EXPECTED)) fail(`expected get('hits') = ${EXPECTED} everywhere, got ${totals.join(', ')}`);
  await Promise.all(workers.map(m => group.ask(m, { cmd: 'hitsSeen', value: EXPECTED })));
  console.log(`  every worker's 'hits' subscription ended on ${EXPECTED}`);

  // 4. delete in one worker: everyone is told, another one reads undefined
  console.log(`${deleter.name}: delete('greeting') → ${show(await group.ask(deleter, { cmd: 'delete', key: 'greeting' }))}`);
  await group.waitEach(workers, m => changes(m, 'delete').length > 0, 10_000, "get the 'greeting' delete notification");
  const afterDelete = await group.ask(writer, { cmd: 'get', key: 'greeting' });
  console.log(`${writer.name}: get('greeting') → ${show(afterDelete)}; every worker was told of the delete`);
  if (afterDelete !== undefined) fail(`expected 'greeting' to be gone, ${writer.name} read ${show(afterDelete)}`);

  // Followers first, so the leader's exit does not start an election.
  await group.close(followers);
  await group.close([leader]);
  console.log(`all ${WORKERS} workers closed and exited with code 0`);
  finish(`${WORKERS} processes shared 1 Map: a value set in one was read in another, ${EXPECTED} concurrent incr added up to ${EXPECTED}`, {
    example: 'shared-store',
    members: WORKERS,
    leaders: leaders.length,
    holders: holders.size,
    constructed,
    crossProcessRead: isDeepStrictEqual(read, greeting),
    notifiedSet,
    incr: { expected: EXPECTED, total: totals[0], results: all.length, distinct, exact, everyWorkerReadTotal: totals.every(t => t === EXPECTED) },
    deleted: afterDelete === undefined,
    notifiedDelete: workers.filter(m => changes(m, 'delete').length > 0).length,
    exitCodes: workers.map(m => m.exit?.code ?? null),
  });
}
