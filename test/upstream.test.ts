/**
 * The reason the library exists: N worker processes, ONE connection to the upstream server.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from './helpers/group.js';

const WORKER = fileURLToPath(new URL('./fixtures/upstream-member.js', import.meta.url));

type Message = { event: string; isLeader?: boolean; value?: unknown; upstreamLocalPort?: number };

test('4 worker processes sharing through cluster-share open exactly 1 upstream connection, and all see each push', { timeout: 60_000 }, async () => {
  const accepted: net.Socket[] = [];
  const watchers = new Set<net.Socket>();
  let watched!: () => void;
  const firstWatch = new Promise<void>(resolve => (watched = resolve));
  const upstream = net.createServer(socket => {
    accepted.push(socket);
    socket.on('data', () => {
      watchers.add(socket);
      watched();
    });
    socket.on('error', () => undefined);
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const upstreamPort = (upstream.address() as net.AddressInfo).port;
  const clusterPort = await freePort();

  const workers = Array.from({ length: 4 }, () => fork(WORKER, [String(clusterPort), String(upstreamPort)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  try {
    const inbox = workers.map(w => {
      const messages: Message[] = [];
      w.on('message', (m: Message) => messages.push(m));
      return messages;
    });
    const next = (i: number, event: string): Promise<Message> => new Promise(resolve => {
      const found = inbox[i]!.find(m => m.event === event);
      if (found) return resolve(found);
      const onMessage = (m: Message): void => {
        if (m.event !== event) return;
        workers[i]!.off('message', onMessage);
        resolve(m);
      };
      workers[i]!.on('message', onMessage);
    });
    const ready = await Promise.all(workers.map((_, i) => next(i, 'ready')));

    assert.equal(ready.filter(r => r.isLeader).length, 1, 'one leader');
    assert.equal(accepted.length, 1, 'the upstream server saw exactly 1 connection for 4 processes');
    assert.equal(new Set(ready.map(r => r.upstreamLocalPort)).size, 1, 'every worker\'s calls went over that same upstream connection');

    // The single upstream watch reaches every worker.
    await firstWatch;
    for (const socket of watchers) socket.write(JSON.stringify({ feature: true }) + '\n');
    const values = await Promise.all(workers.map((_, i) => next(i, 'value')));
    for (const v of values) assert.deepEqual(v.value, { feature: true });
    assert.equal(accepted.length, 1, 'still 1 upstream connection');
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    upstream.close();
  }
});
