// The leader process: it takes the port first, so it constructs the Inventory and serves the
// follower's calls; its SERVER spans continue the follower's traces.
//
//   node leader.mjs PORT SPANS_FILE   (forked by example.mjs: sends { ready } once it leads,
//                                      closes and exits on any message)
import { close } from 'cluster-share';
import { setupTracing } from './otel-setup.mjs';
import { instrumentClusterShare } from './instrumentation.mjs';
import { createInventory } from './inventory.mjs';

const [port, spansFile] = process.argv.slice(2);
const provider = setupTracing(spansFile);
instrumentClusterShare();

const inventory = createInventory(Number(port), { isLeader: true });
// A follower's failed call is reported on the leader's client too (FollowerCallError).
inventory.on('error', err => console.log(`leader   pid ${process.pid}: 'error' event ${err.code}: ${err.message}`));
await inventory.ready();
process.send({ ready: true, pid: process.pid, isLeader: inventory.isClusterClientLeader });

process.once('message', async () => {
  await close(inventory);
  await provider.shutdown();
  process.disconnect();
});
