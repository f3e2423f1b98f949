// Leader fairness: the leader's own process runs a loop of local calls that resolve without I/O
// (a DataClient answering from memory) and never yields on purpose. Prints what the followers
// see meanwhile (their longest wait for an answer, a new follower's registration time) and the
// loop's throughput through cluster-share against the same loop calling the DataClient directly
// (the unfair baseline: nobody else gets the event loop).
//
//   npm run build && node benchmark/fairness.mjs [--ms=3000]
import { fork } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
const role = process.argv[2];
const { default: cluster } = await import('../dist/esm/index.js');

class MemoryStore extends EventEmitter {
  #data = new Map([['k', 'v']]);
  async get(key) {
    return this.#data.get(key);
  }
}

async function spinFor(ms, get) {
  let calls = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    await get('k');
    calls++;
  }
  return calls;
}

if (role === 'leader') {
  const client = cluster(MemoryStore, { port: Number(process.argv[3]), isLeader: true }).create();
  await client.ready();
  process.send({ ready: true });
  const direct = new MemoryStore();
  process.on('message', async ({ ms, fair }) => {
    process.send({ calls: await spinFor(ms, fair ? key => client.get(key) : key => direct.get(key)) });
  });
} else if (role === 'leader-3x') {
  // cluster-client 3.7.0 leading: its local calls never yield (the unfair loop of the peer).
  const { createRequire } = await import('node:module');
  const cc = createRequire(import.meta.url)('cluster-client');
  const client = cc(MemoryStore, { port: Number(process.argv[3]), isLeader: true }).create();
  await client.ready();
  const calls = await spinFor(Number(process.argv[4]), key => client.get(key));
  process.send({ calls });
  await cc.close(client);
  process.exit(0);
} else if (role === 'follower') {
  const t0 = performance.now();
  const client = cluster(MemoryStore, { port: Number(process.argv[3]), responseTimeout: 10_000 }).create();
  await client.ready();
  process.send({ readyAfterMs: performance.now() - t0 });
  let longest = 0;
  let calls = 0;
  let running = true;
  process.on('message', () => {
    running = false;
  });
  while (running) {
    const start = performance.now();
    await client.get('k');
    longest = Math.max(longest, performance.now() - start);
    calls++;
    await new Promise(resolve => setImmediate(resolve));
  }
  process.send({ longest, calls });
} else {
  const ms = Number(process.argv.find(a => a.startsWith('--ms='))?.slice(5) ?? 3000);
  // Imported here, in the parent only: the harness's exit and signal handlers are not the children's.
  const { freePort } = await import('./lib/harness.mjs');
  const port = await freePort();
  const leader = fork(here, ['leader', String(port)]);
  await once(leader, 'message');
  const busy = fork(here, ['follower', String(port)]);
  await once(busy, 'message');
  // Through cluster-share, with the followers calling and one joining meanwhile.
  leader.send({ ms, fair: true });
  await new Promise(resolve => setTimeout(resolve, ms / 4)); // join a quarter of the way in
  const late = fork(here, ['follower', String(port)]);
  const [joined] = await once(late, 'message');
  const [fair] = await once(leader, 'message');
  busy.send('stop');
  late.send('stop');
  const [seen] = await once(busy, 'message');
  await once(late, 'message');
  // The unfair baseline: the same loop on the DataClient itself (nobody else gets the loop).
  leader.send({ ms, fair: false });
  const [unfair] = await once(leader, 'message');
  const spin = { fair: fair.calls, unfair: unfair.calls };
  const port3x = await freePort();
  const peer = fork(here, ['leader-3x', String(port3x), String(ms)]);
  const [peerSpin] = await once(peer, 'message');
  for (const child of [leader, busy, late]) child.kill();
  const rate = calls => Math.round(calls / (ms / 1000));
  console.log(`leader loop, ${ms} ms each:`);
  console.log(`  calling the DataClient directly (unfair baseline): ${rate(spin.unfair).toLocaleString()} calls/s`);
  console.log(`  through cluster-share (fair):                     ${rate(spin.fair).toLocaleString()} calls/s  (${(100 * spin.fair / spin.unfair).toFixed(0)}% of the baseline)`);
  console.log(`  cluster-client 3.7.0 leading (its loop never yields): ${rate(peerSpin.calls).toLocaleString()} calls/s  (cluster-share: ${(spin.fair / peerSpin.calls).toFixed(2)}×)`);
  console.log(`followers during the fair loop:`);
  console.log(`  longest wait for an answer: ${seen.longest.toFixed(1)} ms (${seen.calls} calls in all)`);
  console.log(`  a follower that joined during it: ready after ${joined.readyAfterMs.toFixed(0)} ms`);
  console.log('RESULT ' + JSON.stringify({ ms, unfairPerS: rate(spin.unfair), fairPerS: rate(spin.fair), fairShare: spin.fair / spin.unfair, clusterClientPerS: rate(peerSpin.calls), followerLongestWaitMs: seen.longest, lateFollowerReadyMs: joined.readyAfterMs }));
}
