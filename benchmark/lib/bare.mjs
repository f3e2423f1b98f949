// The "bare socket" floor: what sharing one DataClient over loopback costs with no library at
// all. Used by the benchmarks as the third implementation next to cluster-share and
// cluster-client 3.7.0; it is not part of cluster-share.
//
//   const client = await createBareClient(DataClient, { port, methods, onewayMethods }, ...args);
//
// Election: the same port race as the libraries, reduced to its minimum: listen on
// 127.0.0.1:port (exclusive); if that fails with EADDRINUSE, connect to it as a follower.
//
// Wire: every message is a frame [uint32 big-endian length][UTF-8 JSON]:
//   follower → leader  { id, method, args }      invoke; answered by { id, result } or { id, error }
//   follower → leader  { method, args }          oneway invoke (no id, no answer)
//   follower → leader  { method: 'subscribe', args: [reg] }
//   leader → follower  { key, value }            a value for a subscription
// Answers are matched to calls by id. One JSON.stringify and one socket.write per message, no
// write batching, Nagle off (setNoDelay): the straightforward implementation, with none of the
// protocol's features (no header, no codec negotiation, no timeouts, no heartbeats, no failover).
import net from 'node:net';

/** [uint32 length][JSON] */
export function frame(message) {
  const json = JSON.stringify(message);
  const length = Buffer.byteLength(json);
  const buf = Buffer.allocUnsafe(4 + length);
  buf.writeUInt32BE(length, 0);
  buf.write(json, 4);
  return buf;
}

/** Calls onMessage(parsed JSON) for every complete frame received on the socket. */
export function readFrames(socket, onMessage) {
  let pending = null;
  socket.on('data', chunk => {
    const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    let offset = 0;
    while (buf.length - offset >= 4) {
      const length = buf.readUInt32BE(offset);
      if (buf.length - offset - 4 < length) break;
      const message = JSON.parse(buf.toString('utf8', offset + 4, offset + 4 + length));
      offset += 4 + length;
      onMessage(message);
    }
    pending = offset === buf.length ? null : buf.subarray(offset);
  });
}

const keyOf = reg => JSON.stringify(reg);

function listen(port) {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.removeListener('error', reject);
      resolve(server);
    });
  });
}

function connect(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
  });
}

/** The leader: holds the real DataClient, serves the followers. */
function makeLeader(server, DataClient, args, methods, onewayMethods) {
  const real = new DataClient(...args);
  /** key → Set of follower sockets subscribed to it */
  const subscribers = new Map();
  const sockets = new Set();

  const subscribeUpstream = (reg, key) => {
    subscribers.set(key, new Set());
    real.subscribe(reg, value => {
      const set = subscribers.get(key);
      if (!set || set.size === 0) return;
      const buf = frame({ key, value }); // encoded once, written to every subscriber
      for (const socket of set) socket.write(buf);
    });
  };

  server.on('connection', socket => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      for (const set of subscribers.values()) set.delete(socket);
    });
    readFrames(socket, message => {
      const { id, method, args: callArgs } = message;
      if (method === 'subscribe') {
        const reg = callArgs[0];
        const key = keyOf(reg);
        if (!subscribers.has(key)) subscribeUpstream(reg, key);
        subscribers.get(key).add(socket);
        return;
      }
      if (id === undefined) {
        real[method](...callArgs); // oneway
        return;
      }
      Promise.resolve()
        .then(() => real[method](...callArgs))
        .then(
          result => socket.write(frame({ id, result })),
          err => socket.write(frame({ id, error: { name: err?.name, message: err?.message, code: err?.code } })),
        );
    });
  });

  /** Local listeners of the leader's own process, by key (the leader calls the DataClient directly). */
  const client = {
    isLeader: true,
    real,
    subscribe(reg, listener) {
      real.subscribe(reg, listener);
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise(resolve => server.close(() => resolve()));
    },
  };
  for (const method of methods) client[method] = (...callArgs) => Promise.resolve(real[method](...callArgs));
  for (const method of onewayMethods) client[method] = (...callArgs) => { real[method](...callArgs); };
  return client;
}

/** A follower: forwards calls to the leader over one socket. */
function makeFollower(socket, methods, onewayMethods) {
  socket.setNoDelay(true);
  let nextId = 1;
  const pending = new Map(); // id → { resolve, reject }
  const listeners = new Map(); // key → [listener]
  socket.on('error', () => {});
  socket.on('close', () => {
    for (const { reject } of pending.values()) reject(Object.assign(new Error('bare: leader connection closed'), { code: 'BARE_CLOSED' }));
    pending.clear();
  });
  readFrames(socket, message => {
    if (message.key !== undefined) {
      for (const listener of listeners.get(message.key) ?? []) listener(message.value);
      return;
    }
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(Object.assign(new Error(message.error.message), message.error));
    else waiter.resolve(message.result);
  });

  const client = {
    isLeader: false,
    subscribe(reg, listener) {
      const key = keyOf(reg);
      let list = listeners.get(key);
      if (!list) {
        listeners.set(key, (list = []));
        socket.write(frame({ method: 'subscribe', args: [reg] }));
      }
      list.push(listener);
    },
    close() {
      socket.end();
      return Promise.resolve();
    },
  };
  for (const method of methods) {
    client[method] = (...args) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        socket.write(frame({ id, method, args }));
      });
  }
  for (const method of onewayMethods) client[method] = (...args) => { socket.write(frame({ method, args })); };
  return client;
}

/**
 * Takes the leader or follower role on `port` and resolves with a client whose `methods` return
 * promises and whose `onewayMethods` return nothing. `args` go to `new DataClient(...args)`, on
 * the leader only. A failed connect (the leader went away between our listen and connect) is
 * retried.
 */
export async function createBareClient(DataClient, { port, methods = [], onewayMethods = [] }, ...args) {
  for (let attempt = 0; ; attempt++) {
    try {
      const server = await listen(port);
      return makeLeader(server, DataClient, args, methods, onewayMethods);
    } catch (err) {
      if (err.code !== 'EADDRINUSE') throw err;
    }
    try {
      const socket = await connect(port);
      return makeFollower(socket, methods, onewayMethods);
    } catch (err) {
      if (attempt > 100) throw err;
      await new Promise(resolve => setTimeout(resolve, 5));
    }
  }
}
