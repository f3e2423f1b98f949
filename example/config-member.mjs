// What one member (a process or a thread) of the config-watching examples does. It is the same
// code in every member, whatever the process model: wrap ConfigClient with cluster() and use it
// as if this member owned it. cluster-share decides which member really constructs ConfigClient
// (the leader) and which ones forward to it.
//
// Reports to its parent through `channel` (processChannel() or threadChannel() below):
//   { type: 'created', pid, threadId }                       the client exists, ready() pending
//   { type: 'ready', pid, threadId, leader, value }          value = getConfig('app.json')
//   { type: 'change', pid, threadId, key, value }            a value pushed to its subscription
//   { type: 'error', pid, threadId, message }
// and closes its client when the parent sends { cmd: 'close' } (or goes away), then exits.
import { parentPort, threadId } from 'node:worker_threads';
import cluster from 'cluster-share';
import { ConfigClient } from './config-client.mjs';

export const KEY = 'app.json';

/** The channel of a forked process (child_process.fork or node:cluster) to its parent. */
export function processChannel() {
  return {
    send: message => {
      if (process.connected) process.send(message);
    },
    onMessage: handler => process.on('message', handler),
    onParentGone: handler => process.on('disconnect', handler),
    // Once the IPC channel is closed nothing keeps the process alive: it exits by itself.
    end: () => {
      if (process.connected) process.disconnect();
    },
  };
}

/** The channel of a worker thread to the thread that started it. */
export function threadChannel() {
  let onMessage;
  return {
    send: message => parentPort.postMessage(message),
    onMessage: handler => parentPort.on('message', (onMessage = handler)),
    onParentGone: () => {}, // threads end with their process
    // Without a 'message' listener the port no longer keeps the thread alive: it ends by itself.
    end: () => parentPort.off('message', onMessage),
  };
}

/**
 * Runs one member. `clusterPort`: the port the members compete for; `config`: the config
 * server's `{ host, port }`; `options`: more cluster() options (isLeader, maxWaitTime, ...).
 */
export async function runConfigMember({ channel, clusterPort, config, options = {} }) {
  const send = message => channel.send({ pid: process.pid, threadId, ...message });

  const client = cluster(ConfigClient, { port: clusterPort, name: 'config', ...options })
    .create({ host: config.host, port: config.port }); // used only if this member leads
  send({ type: 'created' });

  let closing = false;
  async function shutdown() {
    if (closing) return;
    closing = true;
    try {
      await cluster.close(client); // a leader releases the port first, then closes ConfigClient
    } catch (err) {
      send({ type: 'error', message: `close failed: ${err.message}` });
      process.exitCode = 1;
    }
    channel.end();
  }
  channel.onMessage(message => {
    if (message?.cmd === 'close') shutdown();
  });
  channel.onParentGone(() => shutdown());

  try {
    await client.ready();
    // subscribe/getConfig look the same in every member; on followers they go to the leader.
    client.subscribe({ key: KEY }, value => send({ type: 'change', key: KEY, value }));
    const value = await client.getConfig(KEY); // auto-delegated: getConfig is async
    send({ type: 'ready', leader: client.isClusterClientLeader, value });
  } catch (err) {
    send({ type: 'error', message: `${err.code ?? err.name}: ${err.message}` });
    process.exitCode = 1;
    shutdown();
  }
}
