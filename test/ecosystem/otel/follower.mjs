// The follower process: a "checkout" span, and inside it three calls that run in the leader.
// Each call gets a CLIENT span here and a SERVER span in the leader, in the same trace.
//
//   node follower.mjs PORT SPANS_FILE   (forked by example.mjs: sends what it saw, then exits)
import { trace } from '@opentelemetry/api';
import { close } from 'cluster-share';
import { setupTracing } from './otel-setup.mjs';
import { instrumentClusterShare } from './instrumentation.mjs';
import { createInventory } from './inventory.mjs';

const [port, spansFile] = process.argv.slice(2);
const provider = setupTracing(spansFile);
instrumentClusterShare();
const tracer = trace.getTracer('eco-otel-example');

const inventory = createInventory(Number(port), { isLeader: false });
await inventory.ready();

const outcome = await tracer.startActiveSpan('checkout', async span => {
  const lookup = await inventory.lookup('apple');
  const reserved = await inventory.reserve('apple', 3);
  let refused;
  try {
    await inventory.reserve('pear', 5);
  } catch (err) {
    refused = { code: err.code, message: err.message };
  }
  span.end();
  return { traceId: span.spanContext().traceId, lookup, reserved, refused };
});

await close(inventory);
await provider.shutdown();
process.send({ pid: process.pid, isLeader: inventory.isClusterClientLeader, ...outcome }, () => process.disconnect());
