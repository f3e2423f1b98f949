// egg-style master / agent / app workers: the leader is pinned to one dedicated process.
// Run with `npm run example:egg-style`.
//
// As in egg, the master forks one "agent" with child_process.fork() and the "app workers" with
// node:cluster. The agent creates the client with `isLeader: true` (it must lead); the app
// workers create it with `isLeader: false` (they never compete for the port, they wait up to
// `maxWaitTime` for a leader). To show that waiting, the master starts the app workers FIRST and
// forks the agent only once each of them has created its client: none of them can be ready
// before the agent is, and none takes the lead although they were there first.
//
// This one file is all three: the master, the agent (argv[2] === 'agent') and each app worker
// (a node:cluster worker).
import { fork } from 'node:child_process';
import nodeCluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { processChannel, runConfigMember } from './config-member.mjs';

const MAX_WAIT_TIME = 30_000;

if (nodeCluster.isWorker) {
  // ---- an app worker: never leads; follows the agent once it is there
  await runConfigMember({
    channel: processChannel(),
    clusterPort: Number(process.env.CLUSTER_SHARE_PORT),
    config: { host: process.env.CONFIG_HOST, port: Number(process.env.CONFIG_PORT) },
    options: { isLeader: false, maxWaitTime: MAX_WAIT_TIME },
  });
} else if (process.argv[2] === 'agent') {
  // ---- the agent: must lead (ready() would reject with ERR_CLUSTER_PORT_IN_USE if it could not)
  await runConfigMember({
    channel: processChannel(),
    clusterPort: Number(process.env.CLUSTER_SHARE_PORT),
    config: { host: process.env.CONFIG_HOST, port: Number(process.env.CONFIG_PORT) },
    options: { isLeader: true },
  });
} else {
  // ---- the master: starts the config server, the app workers, then the agent; checks what they report
  const { INITIAL, KEY, runConfigScenario } = await import('./config-checks.mjs');
  const { startConfigServer } = await import('./config-server.mjs');
  const { deadline, fail, finish, freePort, Group } = await import('./supervisor.mjs');

  const APP_WORKERS = 4;
  deadline(60_000);

  const server = await startConfigServer({ [KEY]: INITIAL });
  console.log(`master ${process.pid}: config server listening on ${server.host}:${server.port}`);
  const clusterPort = await freePort();
  const env = { CLUSTER_SHARE_PORT: String(clusterPort), CONFIG_HOST: server.host, CONFIG_PORT: String(server.port) };
  const group = new Group();

  // 1. the app workers first (node:cluster), with isLeader: false
  console.log(`master ${process.pid}: cluster.fork() × ${APP_WORKERS} app workers (isLeader: false) on 127.0.0.1:${clusterPort}`);
  const workers = [];
  for (let i = 0; i < APP_WORKERS; i++) {
    const worker = nodeCluster.fork(env);
    workers.push(group.add({
      name: `app worker ${worker.process.pid}`,
      pid: worker.process.pid,
      emitter: worker,
      send: m => worker.send(m),
      kill: () => worker.process.kill('SIGKILL'),
    }));
  }
  await group.waitEach(workers, m => m.last('created') !== undefined, 30_000, 'create their client');
  for (const m of workers) console.log(`  ${m.name}: client created, waiting for a leader (maxWaitTime ${MAX_WAIT_TIME / 1000} s)`);
  const readyBeforeAgent = workers.filter(m => m.last('ready') !== undefined).length;
  if (readyBeforeAgent > 0) fail(`${readyBeforeAgent} app workers were ready before the agent existed`);

  // 2. the agent (child_process.fork), with isLeader: true
  const child = fork(fileURLToPath(import.meta.url), ['agent'], { env: { ...process.env, ...env } });
  const agent = group.add({ name: `agent ${child.pid}`, pid: child.pid, emitter: child, send: m => child.send(m), kill: () => child.kill('SIGKILL') });
  console.log(`master ${process.pid}: forked the agent ${child.pid} (isLeader: true)`);

  // 3. the agent leads, every app worker follows it
  // 4. then the app workers close first (they follow), the agent last
  const everyone = [agent, ...workers];
  const summary = await runConfigScenario(group, server, everyone, {
    what: 'processes (the app workers, then the agent)',
    unit: 'process',
    check({ leader }) {
      if (leader !== agent) fail(`expected the agent to lead, but ${leader.name} does`);
    },
  });
  finish(`the agent led and held the 1 upstream connection; ${APP_WORKERS} app workers followed it and received the change`, {
    example: 'egg-style',
    ...summary,
    agentIsLeader: agent.last('ready').leader === true,
    appWorkersFollowing: workers.filter(m => m.last('ready').leader === false).length,
    appWorkersReadyBeforeAgent: readyBeforeAgent,
  });
}
