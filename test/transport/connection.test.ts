/**
 * Connection request timeouts: one sweep timer per connection serves requests with different
 * timeouts, each failing at its own deadline, on a real loopback socket whose peer never answers.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { encodePacket } from '../../src/protocol/packet.js';
import { Connection } from '../../src/transport/connection.js';

const limits = { maxFrameSize: 1024 * 1024, maxWriteBuffer: 1024 * 1024, frameTimeout: 10_000 };
const handler = { onRequest() {}, onClose() {} };

async function silentPeer(): Promise<{ conn: Connection; close(): void }> {
  const server = net.createServer(socket => socket.resume());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  const conn = new Connection(socket, handler, limits);
  return { conn, close: () => { conn.destroy(); server.close(); } };
}

test('requests with different timeouts each time out at their own deadline, in deadline order', { timeout: 30_000 }, async () => {
  const { conn, close } = await silentPeer();
  const started = Date.now();
  const order: string[] = [];
  const done = (label: string) => new Promise<number>(resolve => {
    const timeout = Number(label.split(':')[1]);
    const id = nextId++;
    conn.request(id, encodePacket(id, false, timeout, { type: 'heartbeat' }), timeout, label, err => {
      assert.match(String((err as Error).message), new RegExp(`${label}: no response in ${timeout}ms`));
      order.push(label);
      resolve(Date.now() - started);
    });
  });
  let nextId = 1;
  // The long one first: the timer must be re-armed earlier for the short ones.
  const long = done('long:600');
  const short = done('short:100');
  const mid = done('mid:300');
  const [l, s, m] = await Promise.all([long, short, mid]);
  assert.deepEqual(order, ['short:100', 'mid:300', 'long:600']);
  assert.ok(s >= 100 && m >= 300 && l >= 600, `none early: ${s} ${m} ${l}`);
  assert.equal(conn.pendingCount, 0);
  close();
});

test('an answered request never times out later, and a request after an idle period still times out', { timeout: 30_000 }, async () => {
  const server = net.createServer(socket => {
    // Answer the first request only (echo its id back as a response).
    socket.once('data', chunk => socket.write(encodePacket(chunk.readUInt32BE(8), true, 100, { type: 'heartbeat_res' })));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  const conn = new Connection(socket, handler, limits);
  const results: unknown[] = [];
  await new Promise<void>(resolve => conn.request(7, encodePacket(7, false, 100, { type: 'heartbeat' }), 100, 'first', (err, packet) => {
    results.push(err ?? packet!.connObj.type);
    resolve();
  }));
  assert.deepEqual(results, ['heartbeat_res']);
  // Past the first request's deadline: its answer settled it, the sweep finds nothing.
  const second = await new Promise<Error | null>(resolve => conn.request(8, encodePacket(8, false, 150, { type: 'heartbeat' }), 150, 'second', err => resolve(err)));
  assert.match(String(second?.message), /second: no response in 150ms/);
  assert.equal(results.length, 1, 'the first callback ran exactly once');
  conn.destroy();
  server.close();
});
