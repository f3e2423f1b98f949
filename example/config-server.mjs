// A tiny "config server": the upstream service whose connections cluster-share saves.
//
// Real TCP on 127.0.0.1, newline-delimited JSON, one message per line:
//   client → server  {"op":"watch","key":"app.json"}          be told about every change of key
//   client → server  {"op":"get","key":"app.json","id":1}     ask for the current value
//   server → client  {"op":"value","id":1,"key":"app.json","value":...}   answer to get
//   server → client  {"op":"change","key":"app.json","value":...}         push to watchers
//   server → client  {"op":"error","id":1,"message":"..."}               bad request
//
// It counts the TCP connections it has accepted and those still open, which is how the demo
// proves that N processes use ONE upstream connection. Reading and writing lines is
// config-protocol.mjs's (readLines, sendLine), shared with the client.
import net from 'node:net';
import { readLines, sendLine } from './config-protocol.mjs';

/**
 * Starts the server on an ephemeral port. `initial` is `{ key: value }`.
 * Resolves with `{ host, port, stats(), set(key, value), close() }`.
 */
export function startConfigServer(initial = {}) {
  const values = new Map(Object.entries(initial));
  /** key → sockets watching it */
  const watchers = new Map();
  const sockets = new Set();
  let accepted = 0;

  const handle = (socket, line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      sendLine(socket, { op: 'error', message: 'not JSON' });
      return;
    }
    switch (msg?.op) {
      case 'watch': {
        let set = watchers.get(msg.key);
        if (!set) watchers.set(msg.key, (set = new Set()));
        set.add(socket);
        break;
      }
      case 'get':
        sendLine(socket, { op: 'value', id: msg.id, key: msg.key, value: values.get(msg.key) ?? null });
        break;
      default:
        sendLine(socket, { op: 'error', id: msg?.id, message: `unknown op ${JSON.stringify(msg?.op)}` });
    }
  };

  const server = net.createServer(socket => {
    accepted++;
    sockets.add(socket);
    readLines(socket, line => handle(socket, line));
    socket.on('error', () => {}); // a client that goes away is not our problem
    socket.on('close', () => {
      sockets.delete(socket);
      for (const set of watchers.values()) set.delete(socket);
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { address: host, port } = server.address();
      resolve({
        host,
        port,
        /** `{ accepted, open }`: TCP connections accepted since start, and still open. */
        stats: () => ({ accepted, open: sockets.size }),
        /** Changes a value and pushes it to every watcher. Returns how many connections were told. */
        set(key, value) {
          values.set(key, value);
          const set = watchers.get(key) ?? new Set();
          for (const socket of set) sendLine(socket, { op: 'change', key, value });
          return set.size;
        },
        close: () =>
          new Promise(done => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
