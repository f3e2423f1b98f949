// The demo (child_process.fork): 4 worker processes use one ConfigClient each, yet the config
// server sees ONE TCP connection, and a change it pushes reaches all 4. Run with `npm run example`.
//
// 1. start the config server (in this process) and pick a free port for cluster-share
// 2. fork 4 workers (worker.mjs); they compete for that port: one leads, three follow
// 3. check: exactly one leader, one upstream connection, the same getConfig() everywhere
// 4. change a value on the server; wait until every worker received the push
// 5. close the workers (followers first, then the leader) and exit 0; any failure exits 1
// The last line is `RESULT {json}`, for the test (test/examples.test.ts).
import { execFile, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { INITIAL, KEY, runConfigScenario } from './config-checks.mjs';
import { startConfigServer } from './config-server.mjs';
import { deadline, fail, finish, freePort, Group } from './supervisor.mjs';

const WORKERS = 4;
const cli = fileURLToPath(new URL('../dist/esm/cli.js', import.meta.url));
const workerFile = fileURLToPath(new URL('./worker.mjs', import.meta.url));
deadline(60_000);

// 1. the upstream service, and the port the workers will compete for
const server = await startConfigServer({ [KEY]: INITIAL });
console.log(`config server listening on ${server.host}:${server.port}`);
const clusterPort = await freePort();
console.log(`forking ${WORKERS} workers; they compete for 127.0.0.1:${clusterPort}`);

// 2. the workers: plain child processes, all running the same worker.mjs
const group = new Group();
for (let i = 0; i < WORKERS; i++) {
  const child = fork(workerFile, [], {
    env: { ...process.env, CLUSTER_SHARE_PORT: String(clusterPort), CONFIG_HOST: server.host, CONFIG_PORT: String(server.port) },
  });
  group.add({ name: `worker ${child.pid}`, pid: child.pid, emitter: child, send: m => child.send(m), kill: () => child.kill('SIGKILL') });
}
const workers = group.members;

// 3-5. one leader, one upstream connection, one value (and what `cluster-share status` shows of
// it); a change on the server reaches every process through the one connection; graceful
// shutdown, followers first
const summary = await runConfigScenario(group, server, workers, { check: ({ leader }) => showStatus(clusterPort, leader.pid) });
finish(`${WORKERS} processes shared 1 upstream connection; every process received the change`, {
  example: 'child-process',
  ...summary,
});

/** Runs `cluster-share status --port <port>` (the package's command), prints what it shows, checks it names the leader. */
function showStatus(port, leaderPid) {
  return new Promise(resolve => {
    execFile(process.execPath, [cli, 'status', '--port', String(port)], { timeout: 10_000 }, (err, stdout, stderr) => {
      console.log(`$ npx cluster-share status --port ${port}`);
      if (err) fail(`cluster-share status failed (exit ${err.code ?? err.signal}): ${stderr.trim()}`);
      console.log(stdout.trimEnd().replace(/^(?=.)/gm, '  '));
      if (!new RegExp(`^\\s*pid\\s+${leaderPid}$`, 'm').test(stdout)) fail(`cluster-share status did not name the leader, pid ${leaderPid}`);
      resolve();
    });
  });
}
