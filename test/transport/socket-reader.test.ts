/**
 * A follower's socket is read through net's `onread` (src/transport/socket-reader.ts): reads go
 * into slabs, never over the bytes of an earlier read. Real loopback sockets: a plain net server
 * writes packets; the reading side is a Connection on a socket from connectTo().
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { encodePacket, type Packet, packetData } from '../../src/protocol/packet.js';
import { Connection } from '../../src/transport/connection.js';
import { connectTo } from '../../src/transport/endpoint.js';

const limits = { maxFrameSize: 4 * 1024 * 1024, maxWriteBuffer: 4 * 1024 * 1024, frameTimeout: 10_000 };

/** A server that hands its one accepted socket to `serve`; a Connection on the client side collects the requests. */
async function pair(serve: (socket: net.Socket) => void): Promise<{ conn: Connection; got: Packet[]; closed: Promise<void>; close(): void }> {
  const server = net.createServer(socket => {
    socket.setNoDelay(true);
    serve(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = connectTo({ port: (server.address() as net.AddressInfo).port });
  await once(socket, 'connect');
  const got: Packet[] = [];
  let onClosed!: () => void;
  const closed = new Promise<void>(resolve => (onClosed = resolve));
  const conn = new Connection(socket, { onRequest: packet => got.push(packet), onClose: () => onClosed() }, limits);
  return { conn, got, closed, close: () => { conn.destroy(); server.close(); } };
}

/** Writes `packets`, one write per turn of the event loop, so they arrive in many reads. */
async function writeSlowly(socket: net.Socket, packets: Buffer[]): Promise<void> {
  for (const packet of packets) {
    if (!socket.write(packet)) await once(socket, 'drain');
    await new Promise(resolve => setImmediate(resolve));
  }
}

test('data views kept from earlier reads still hold their bytes after 4 MiB more were read (no slab is reused)', { timeout: 60_000 }, async () => {
  // 600 packets of 7 KiB, each filled with its own byte: 4 MiB in all, over a hundred slabs.
  const count = 600;
  const packets = Array.from({ length: count }, (_, i) => encodePacket(i + 1, false, 1000, { type: 'subscribe_result', key: 'k' }, Buffer.alloc(7 * 1024, i % 251)));
  let done!: () => void;
  const all = new Promise<void>(resolve => (done = resolve));
  const { conn, got, closed, close } = await pair(socket => void writeSlowly(socket, packets));
  const check = setInterval(() => {
    if (got.length === count) done();
  }, 5);
  // Bytes overwritten in the reader would garble the stream: the connection closes on a bad frame.
  await Promise.race([all, closed]);
  clearInterval(check);
  assert.equal(got.length, count, 'every packet arrived before anything closed the connection');
  assert.ok(conn.traffic.bytesIn >= count * 7 * 1024);
  for (let i = 0; i < count; i++) {
    const data = packetData(got[i]!)!;
    assert.equal(got[i]!.id, i + 1, 'in order');
    assert.equal(data.length, 7 * 1024);
    assert.ok(data.every(byte => byte === i % 251), `packet ${i + 1}: its bytes are its own (a later read did not overwrite them)`);
  }
  close();
});

test('a flood of small packets in one burst is handed out a fair share per turn, all of them, in order', { timeout: 60_000 }, async () => {
  const count = 20_000;
  const burst = Buffer.concat(Array.from({ length: count }, (_, i) => encodePacket(i + 1, false, 1000, { type: 'heartbeat' })));
  let done!: () => void;
  const all = new Promise<void>(resolve => (done = resolve));
  // Packets handed out between two turns of the event loop: the reader stops after 64 (a poll
  // phase) and goes on in an immediate (64 more), so never more than 128 from one turn to the next.
  let seen = 0;
  let most = 0;
  const { got, close } = await pair(socket => socket.write(burst));
  const tick = (): void => {
    most = Math.max(most, got.length - seen);
    seen = got.length;
    if (got.length === count) done();
    else setImmediate(tick);
  };
  setImmediate(tick);
  await all;
  assert.deepEqual(got.map(p => p.id), Array.from({ length: count }, (_, i) => i + 1));
  assert.ok(most <= 128, `at most 128 packets from one turn to the next, saw ${most}`);
  close();
});

test('the peer closing is seen as a close; a packet cut short by it is never delivered', { timeout: 30_000 }, async () => {
  const whole = encodePacket(1, false, 1000, { type: 'subscribe_result', key: 'k' }, Buffer.from('whole'));
  const cut = encodePacket(2, false, 1000, { type: 'subscribe_result', key: 'k' }, Buffer.from('cut short')).subarray(0, 30);
  const { got, closed, close } = await pair(socket => socket.end(Buffer.concat([whole, cut])));
  await closed;
  assert.deepEqual(got.map(p => [p.id, packetData(p)?.toString()]), [[1, 'whole']]);
  close();
});
