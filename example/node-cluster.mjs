// node:cluster: the primary forks 4 workers with cluster.fork(), as a server started with
// node:cluster (or pm2 in cluster mode) does. Every worker creates the config client the same
// way; one of them leads and holds the only connection to the config server, the others follow.
// Run with `npm run example:node-cluster`.
//
// This one file is both: the primary (cluster.isPrimary) and each worker (cluster.isWorker).
//
// The leader port is bound with `exclusive: true`, so node:cluster does not share it between
// workers as it shares an HTTP port: one worker wins it, the others get EADDRINUSE and follow.
import nodeCluster from 'node:cluster';
import { processChannel, runConfigMember } from './config-member.mjs';

if (nodeCluster.isWorker) {
  // ---- a worker: the same code in each one (config-member.mjs)
  await runConfigMember({
    channel: processChannel(),
    clusterPort: Number(process.env.CLUSTER_SHARE_PORT),
    config: { host: process.env.CONFIG_HOST, port: Number(process.env.CONFIG_PORT) },
  });
} else {
  // ---- the primary: starts the config server and the workers, checks what they report
  const { INITIAL, KEY, runConfigScenario } = await import('./config-checks.mjs');
  const { startConfigServer } = await import('./config-server.mjs');
  const { deadline, finish, freePort, Group } = await import('./supervisor.mjs');

  const WORKERS = 4;
  deadline(60_000);

  const server = await startConfigServer({ [KEY]: INITIAL });
  console.log(`primary ${process.pid}: config server listening on ${server.host}:${server.port}`);
  const clusterPort = await freePort();
  console.log(`primary ${process.pid}: cluster.fork() × ${WORKERS}; the workers compete for 127.0.0.1:${clusterPort}`);

  const group = new Group();
  for (let i = 0; i < WORKERS; i++) {
    const worker = nodeCluster.fork({ CLUSTER_SHARE_PORT: String(clusterPort), CONFIG_HOST: server.host, CONFIG_PORT: String(server.port) });
    group.add({
      name: `worker #${worker.id} (pid ${worker.process.pid})`,
      pid: worker.process.pid,
      emitter: worker,
      send: m => worker.send(m),
      kill: () => worker.process.kill('SIGKILL'),
    });
  }
  const workers = group.members;

  const summary = await runConfigScenario(group, server, workers, { what: 'cluster workers' });
  finish(`${WORKERS} node:cluster workers shared 1 upstream connection; every worker received the change`, {
    example: 'node-cluster',
    ...summary,
  });
}
