// The upstream fixture of benchmark/upstream.mjs: a tiny config server in its own process.
//
//   fork('benchmark/lib/config-server.mjs')  → sends { type: 'listening', port }
//
// Real TCP on 127.0.0.1, newline-delimited JSON, one message per line (the protocol of the
// example's config server, example/config-server.mjs, read and written with its helpers; unlike
// the example, a watch is answered at once with the current value, and watches and gets are counted):
//   client → server  {"op":"watch","key":"app.json"}            counted; the connection is told every change
//   client → server  {"op":"get","key":"app.json","id":1}       answered at once
//   server → client  {"op":"value","id":1,"value":...}          the answer to get
//   server → client  {"op":"change","key":"app.json","value":...} a pushed change
//
// IPC from the parent:
//   { cmd: 'stats', id }              → { id, accepted, open, subscribeRequests: { key: n }, gets }
//   { cmd: 'set', id, key, value }    → { id, told }  (pushes the change to every subscribed connection)
import net from 'node:net';
import { readLines, sendLine } from '../../example/config-protocol.mjs';

const values = new Map([['app.json', { feature: false, version: 1 }]]);
const watchers = new Map(); // key → Set<socket>
const subscribeRequests = {}; // key → count
const sockets = new Set();
let accepted = 0;
let gets = 0;

function handle(socket, msg) {
  if (msg.op === 'watch') {
    subscribeRequests[msg.key] = (subscribeRequests[msg.key] ?? 0) + 1;
    let set = watchers.get(msg.key);
    if (!set) watchers.set(msg.key, (set = new Set()));
    set.add(socket);
    if (values.has(msg.key)) sendLine(socket, { op: 'change', key: msg.key, value: values.get(msg.key) });
  } else if (msg.op === 'get') {
    gets++;
    sendLine(socket, { op: 'value', id: msg.id, value: values.get(msg.key) ?? null });
  }
}

const server = net.createServer(socket => {
  accepted++;
  sockets.add(socket);
  socket.setNoDelay(true);
  readLines(socket, line => handle(socket, JSON.parse(line)));
  socket.on('error', () => {});
  socket.on('close', () => {
    sockets.delete(socket);
    for (const set of watchers.values()) set.delete(socket);
  });
});

process.on('disconnect', () => process.exit(0));
process.on('message', message => {
  if (message.cmd === 'stats') {
    process.send({ id: message.id, accepted, open: sockets.size, subscribeRequests, gets });
  } else if (message.cmd === 'set') {
    values.set(message.key, message.value);
    const set = watchers.get(message.key) ?? new Set();
    for (const socket of set) sendLine(socket, { op: 'change', key: message.key, value: message.value });
    process.send({ id: message.id, told: set.size });
  }
});

server.listen(0, '127.0.0.1', () => {
  process.send({ type: 'listening', port: server.address().port });
});
