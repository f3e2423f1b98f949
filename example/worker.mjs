// One worker process (run.mjs forks several). Every worker runs the same code: it wraps
// ConfigClient with cluster() and uses it as if it owned it. cluster-share decides which
// process really constructs ConfigClient (the leader) and which ones forward to it.
//
// Environment: CLUSTER_SHARE_PORT (the port the processes compete for), CONFIG_HOST and
// CONFIG_PORT (the config server). Reports to the parent with process.send:
//   { type: 'ready', pid, leader, value }   value = getConfig('app.json') through the cluster
//   { type: 'change', pid, key, value }     a value pushed to this process's subscription
//   { type: 'error', pid, message }
// and closes when the parent sends { cmd: 'close' } (or goes away).
import cluster from 'cluster-share';
import { ConfigClient } from './config-client.mjs';

const KEY = 'app.json';
const send = message => {
  if (process.connected) process.send({ pid: process.pid, ...message });
};

const client = cluster(ConfigClient, { port: Number(process.env.CLUSTER_SHARE_PORT), name: 'config' })
  .create({ host: process.env.CONFIG_HOST, port: Number(process.env.CONFIG_PORT) });

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  try {
    await cluster.close(client); // a leader releases the port first, then closes ConfigClient
  } catch (err) {
    console.error(`worker ${process.pid}: close failed: ${err.message}`);
    process.exitCode = 1;
  }
  if (process.connected) process.disconnect(); // nothing else keeps the process alive: it exits by itself
}
process.on('message', message => {
  if (message?.cmd === 'close') shutdown();
});
process.on('disconnect', () => shutdown()); // the parent went away

try {
  await client.ready();
  // subscribe/getConfig look the same in every process; on followers they go to the leader.
  client.subscribe({ key: KEY }, value => send({ type: 'change', key: KEY, value }));
  const value = await client.getConfig(KEY); // auto-delegated: getConfig is async
  send({ type: 'ready', leader: client.isClusterClientLeader, value });
} catch (err) {
  send({ type: 'error', message: `${err.code ?? err.name}: ${err.message}` });
  process.exitCode = 1;
  shutdown();
}
