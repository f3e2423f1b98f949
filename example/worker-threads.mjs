// worker_threads: 4 threads of ONE process each create their own config client. Each thread
// loads its own copy of cluster-share, so to cluster-share they are separate members: one
// thread wins the port and leads, the others follow it over loopback TCP, exactly as processes
// do. process.pid is the same in every thread; the threadId tells them apart.
// Run with `npm run example:worker-threads`.
//
// This one file is both: the main thread (isMainThread) and each worker thread.
import { isMainThread, Worker, workerData } from 'node:worker_threads';
import { runConfigMember, threadChannel } from './config-member.mjs';

if (!isMainThread) {
  // ---- a worker thread: the same code in each one (config-member.mjs)
  await runConfigMember({ channel: threadChannel(), clusterPort: workerData.clusterPort, config: workerData.config });
} else {
  // ---- the main thread: starts the config server and the threads, checks what they report
  const { INITIAL, KEY, runConfigScenario } = await import('./config-checks.mjs');
  const { startConfigServer } = await import('./config-server.mjs');
  const { deadline, fail, finish, freePort, Group } = await import('./supervisor.mjs');

  const THREADS = 4;
  deadline(60_000);

  const server = await startConfigServer({ [KEY]: INITIAL });
  console.log(`process ${process.pid}: config server listening on ${server.host}:${server.port} (main thread)`);
  const clusterPort = await freePort();
  console.log(`process ${process.pid}: starting ${THREADS} worker threads; they compete for 127.0.0.1:${clusterPort}`);

  const group = new Group();
  for (let i = 0; i < THREADS; i++) {
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { clusterPort, config: { host: server.host, port: server.port } },
    });
    group.add({
      name: `thread ${worker.threadId} (pid ${process.pid})`,
      pid: process.pid,
      threadId: worker.threadId,
      emitter: worker,
      send: m => worker.postMessage(m),
      kill: () => worker.terminate(),
    });
  }
  const threads = group.members;

  const summary = await runConfigScenario(group, server, threads, {
    what: 'threads closed their clients and ended',
    unit: 'thread',
    units: 'threads',
    check() {
      const foreign = threads.filter(t => t.last('ready').pid !== process.pid);
      if (foreign.length > 0) fail(`expected every thread in process ${process.pid}: ${foreign.map(t => t.name).join(', ')}`);
    },
  });
  finish(`${THREADS} threads of process ${process.pid} shared 1 upstream connection; every thread received the change`, {
    example: 'worker-threads',
    ...summary,
    threadIds: new Set(threads.map(t => t.last('ready').threadId)).size,
  });
}
